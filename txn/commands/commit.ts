// The commit command (TiKV commands/commit.rs): commit_ts > start_ts, then the commit rule per
// key. All-or-nothing per command: the first error aborts it with no modification applied.

import { invalidArgument } from '../errors.js';
import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { commit } from '../actions/commit.js';
import { type Ts } from '../../common/pure.js';
import { checkKeys, checkTs, type CommandOutput, failed, firstError, output } from './validate.js';

export interface CommitArgs {
  readonly keys: readonly Buffer[];
  readonly startTs: Ts;
  readonly commitTs: Ts;
}

export async function commitCommand(snapshot: Snapshot, args: CommitArgs): Promise<CommandOutput<{ readonly kind: 'committed' }>> {
  const bad = firstError(checkKeys(args.keys), checkTs(args.startTs, 'start_ts'), checkTs(args.commitTs, 'commit_ts'));
  if (bad !== null) return failed(bad);
  if (args.commitTs <= args.startTs) return failed(invalidArgument(`commit_ts ${args.commitTs} must exceed start_ts ${args.startTs}`));
  const reader = new MvccReader(snapshot);
  const buf = new MvccWriteBuffer();
  const records = await reader.loadKeyRecords(args.keys, args.commitTs);
  for (let i = 0; i < args.keys.length; i++) {
    const outcome = await commit(buf, reader, args.keys[i]!, args.startTs, args.commitTs, records[i]!);
    if (outcome.kind === 'error') return failed(outcome);
  }
  return output(buf, { kind: 'committed' as const });
}
