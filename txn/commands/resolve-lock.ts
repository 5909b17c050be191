// resolveLock: commit (commit_ts > 0) or roll back (0) every lock of one transaction on given
// keys. Over a range it runs in two phases, as TiKV's ResolveLockReadPhase → ResolveLock: find the
// transaction's locks in a snapshot without latches (findTxnLocksCommand), then resolve exactly
// those keys under their latches (resolveLockCommand re-reads each lock there). Writing from the
// unlatched scan alone would be wrong:
//   1. the range scan sees T's lock on k;  2. another resolver (latched) rolls k back;
//   3. T2 prewrites k;  4. the range resolve applies its unlock of k — and erases T2's lock.
// txnHeartBeat lives here too: both act on a transaction's locks.

import { type Ts } from '../../common/pure.js';
import { invalidArgument, type TxnError } from '../errors.js';
import { SCAN_LOCK_LIMIT_MAX } from '../limits.js';
import { keyAfter, MvccReader } from '../mvcc/reader.js';
import { type Snapshot, type TxnEngine } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { resolveLockOnKey, resolveSlotTs } from '../actions/resolve-lock.js';
import { txnHeartBeat } from '../actions/txn-heart-beat.js';
import { type TxnScheduler } from '../scheduler.js';
import { checkKey, checkKeys, checkRange, checkScanLimit, checkTs, checkTtl, type CommandOutput, failed, firstError, output } from './validate.js';

export interface ResolveLockArgs {
  readonly startTs: Ts;
  /** The primary's commit_ts, or 0 to roll back. */
  readonly commitTs: Ts;
  /** Run under the latches of exactly these keys. */
  readonly keys: readonly Buffer[];
}

export interface ResolveLockResult {
  readonly kind: 'resolved';
  readonly resolvedCount: number;
}

export async function resolveLockCommand(snapshot: Snapshot, args: ResolveLockArgs): Promise<CommandOutput<ResolveLockResult>> {
  const bad = firstError(checkTs(args.startTs, 'start_ts'), checkKeys(args.keys));
  if (bad !== null) return failed(bad);
  if (args.commitTs !== 0n && args.commitTs <= args.startTs) {
    return failed(invalidArgument(`commit_ts ${args.commitTs} must exceed start_ts ${args.startTs}`));
  }
  const reader = new MvccReader(snapshot);
  const buf = new MvccWriteBuffer();
  const records = await reader.loadKeyRecords(args.keys, resolveSlotTs(args.startTs, args.commitTs));
  let resolvedCount = 0;
  for (let i = 0; i < args.keys.length; i++) {
    const outcome = await resolveLockOnKey(buf, reader, args.keys[i]!, records[i]!, args.startTs, args.commitTs);
    if (outcome.kind === 'error') return failed(outcome);
    if (outcome.kind === 'resolved') resolvedCount++;
  }
  return output(buf, { kind: 'resolved' as const, resolvedCount });
}

export interface FindTxnLocksArgs {
  readonly startTs: Ts;
  readonly startKey: Buffer;
  /** Exclusive; empty = +∞. */
  readonly endKey: Buffer;
  readonly limit: number;
}

/** The read phase: keys in the range locked by `startTs` (at most `limit`), and where to continue (null: done). */
export async function findTxnLocksCommand(
  snapshot: Snapshot, args: FindTxnLocksArgs,
): Promise<{ readonly kind: 'keys'; readonly keys: Buffer[]; readonly nextKey: Buffer | null } | TxnError> {
  const bad = firstError(checkTs(args.startTs, 'start_ts'), checkRange(args.startKey, args.endKey), checkScanLimit(args.limit, SCAN_LOCK_LIMIT_MAX));
  if (bad !== null) return bad;
  const scanned = await new MvccReader(snapshot).scanLocks(args.startKey, args.endKey, args.limit, (l) => l.startTs === args.startTs);
  const last = scanned.locks[scanned.locks.length - 1];
  return { kind: 'keys', keys: scanned.locks.map((l) => l.key), nextKey: !scanned.isExhausted && last !== undefined ? keyAfter(last.key) : null };
}

/**
 * Resolves every lock of `startTs` in [startKey, endKey): read phase without latches, then one
 * latched resolveLock command per batch of at most `batchKeys` keys. Returns locks resolved.
 */
export async function resolveLockOverRange(
  engine: TxnEngine, scheduler: TxnScheduler,
  args: { readonly startTs: Ts; readonly commitTs: Ts; readonly startKey: Buffer; readonly endKey: Buffer; readonly batchKeys: number },
): Promise<{ readonly kind: 'resolved'; readonly resolvedCount: number } | TxnError> {
  let startKey = args.startKey;
  let resolvedCount = 0;
  for (;;) {
    const snapshot = await engine.snapshot();
    let found: Awaited<ReturnType<typeof findTxnLocksCommand>>;
    try {
      found = await findTxnLocksCommand(snapshot, { startTs: args.startTs, startKey, endKey: args.endKey, limit: args.batchKeys });
    } finally {
      await snapshot.release();
    }
    if (found.kind === 'error') return found;
    if (found.keys.length > 0) {
      const keys = found.keys;
      const result = await scheduler.run(keys, (s) => resolveLockCommand(s, { startTs: args.startTs, commitTs: args.commitTs, keys }));
      if (result.kind === 'error') return result;
      resolvedCount += result.resolvedCount;
    }
    if (found.nextKey === null) return { kind: 'resolved', resolvedCount };
    startKey = found.nextKey;
  }
}

export interface TxnHeartBeatArgs {
  readonly primary: Buffer;
  readonly startTs: Ts;
  readonly adviseLockTtlMs: number;
}

export async function txnHeartBeatCommand(
  snapshot: Snapshot, args: TxnHeartBeatArgs,
): Promise<CommandOutput<{ readonly kind: 'alive'; readonly lockTtlMs: number }>> {
  const bad = firstError(checkKey(args.primary, 'primary'), checkTs(args.startTs, 'start_ts'), checkTtl(args.adviseLockTtlMs));
  if (bad !== null) return failed(bad);
  const buf = new MvccWriteBuffer();
  return output(buf, await txnHeartBeat(buf, new MvccReader(snapshot), args.primary, args.startTs, args.adviseLockTtlMs));
}
