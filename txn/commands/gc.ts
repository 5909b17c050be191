// The gc command: one batch of at most `keyLimit` user keys from startKey; the answer says where
// the next batch starts. Runs without latches: it only touches versions ≤ safe_point, which no
// live command writes (precondition of actions/gc.ts).

import { type Ts } from '../../common/pure.js';
import { invalidArgument } from '../errors.js';
import { GC_KEYS_PER_BATCH_MAX } from '../limits.js';
import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { gcKeyVersions } from '../actions/gc.js';
import { checkRange, checkTs, type CommandOutput, failed, firstError, output } from './validate.js';

export interface GcArgs {
  readonly safePoint: Ts;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  readonly keyLimit: number;
}

export interface GcResult {
  readonly kind: 'collected';
  readonly deletedVersions: number;
  readonly nextKey: Buffer | null;
}

export async function gcCommand(snapshot: Snapshot, args: GcArgs): Promise<CommandOutput<GcResult>> {
  const bad = firstError(checkRange(args.startKey, args.endKey), checkTs(args.safePoint, 'safe point'));
  if (bad !== null) return failed(bad);
  if (!Number.isSafeInteger(args.keyLimit) || args.keyLimit < 1 || args.keyLimit > GC_KEYS_PER_BATCH_MAX) {
    return failed(invalidArgument(`gc key limit ${args.keyLimit} outside [1, ${GC_KEYS_PER_BATCH_MAX}]`));
  }
  const buf = new MvccWriteBuffer();
  let keys = 0;
  let deletedVersions = 0;
  let nextKey: Buffer | null = null;
  await new MvccReader(snapshot).forEachKeyVersions(args.startKey, args.endKey, 'forward', (key, versions) => {
    if (keys >= args.keyLimit) {
      nextKey = key;
      return 'stop';
    }
    keys++;
    deletedVersions += gcKeyVersions(buf, key, versions, args.safePoint);
    return 'continue';
  });
  return output(buf, { kind: 'collected' as const, deletedVersions, nextKey });
}

