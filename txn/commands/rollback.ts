// batchRollback (the client aborts its own transaction) and cleanup (another party rolls back
// one key of a transaction whose lock has expired).

import { type Ts } from '../../common/pure.js';
import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { rollback } from '../actions/rollback.js';
import { checkKey, checkKeys, checkTs, type CommandOutput, failed, firstError, output } from './validate.js';

export interface BatchRollbackArgs {
  readonly keys: readonly Buffer[];
  readonly startTs: Ts;
}

export async function batchRollbackCommand(
  snapshot: Snapshot, args: BatchRollbackArgs,
): Promise<CommandOutput<{ readonly kind: 'rolledBack' }>> {
  const bad = firstError(checkKeys(args.keys), checkTs(args.startTs, 'start_ts'));
  if (bad !== null) return failed(bad);
  const reader = new MvccReader(snapshot);
  const buf = new MvccWriteBuffer();
  const records = await reader.loadKeyRecords(args.keys, args.startTs);
  for (let i = 0; i < args.keys.length; i++) {
    const outcome = await rollback(buf, reader, args.keys[i]!, args.startTs, { kind: 'always' }, records[i]!);
    if (outcome.kind === 'error') return failed(outcome);
  }
  return output(buf, { kind: 'rolledBack' as const });
}

export interface CleanupArgs {
  readonly key: Buffer;
  readonly startTs: Ts;
  /** Roll back only if the lock expired at this ts; 0 = regardless of TTL. */
  readonly currentTs: Ts;
}

export async function cleanupCommand(snapshot: Snapshot, args: CleanupArgs): Promise<CommandOutput<{ readonly kind: 'rolledBack' }>> {
  const bad = firstError(checkKey(args.key), checkTs(args.startTs, 'start_ts'));
  if (bad !== null) return failed(bad);
  const reader = new MvccReader(snapshot);
  const buf = new MvccWriteBuffer();
  const check = args.currentTs === 0n ? { kind: 'always' as const } : { kind: 'ifExpired' as const, currentTs: args.currentTs };
  const records = (await reader.loadKeyRecords([args.key], args.startTs))[0]!;
  const outcome = await rollback(buf, reader, args.key, args.startTs, check, records);
  if (outcome.kind === 'error') return failed(outcome);
  return output(buf, { kind: 'rolledBack' as const });
}
