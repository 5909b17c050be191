// The gc commands. gcCommand: one batch of at most `keyLimit` user keys from startKey; the answer
// says where the next batch starts and which keys' latest records to check. It runs without
// latches: it only touches versions ≤ safe_point, which no live command writes (precondition of
// actions/gc.ts). gcLatestCommand then clears or drops those latest records under the keys'
// latches (why not in the first batch: actions/gc.ts). gcRange drives both over a range.

import { type Ts, TS_MAX } from '../../common/pure.js';
import { invalidArgument } from '../errors.js';
import { GC_KEYS_PER_BATCH_MAX } from '../limits.js';
import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { gcKeyVersions, gcLatest } from '../actions/gc.js';
import { type TxnScheduler } from '../scheduler.js';
import { type TxnError } from '../errors.js';
import { checkRange, checkTs, type CommandOutput, failed, firstError, output } from './validate.js';

export interface GcArgs {
  readonly safePoint: Ts;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  readonly keyLimit: number;
}

/**
 * A latest record to check after GC (the name predates the data/maxWriteTs split; store/ uses it):
 * its data part goes if it still holds the data write GC deleted at `commitTs` (null: GC deleted
 * no data write, but every version of the key it saw); the whole record goes if then no data and
 * no write record is left (actions/gc.ts gcLatest).
 */
export interface DroppedLatest {
  readonly key: Buffer;
  readonly commitTs: Ts | null;
}

export interface GcResult {
  readonly kind: 'collected';
  readonly deletedVersions: number;
  readonly nextKey: Buffer | null;
  /** For gcLatestCommand, run after this batch is applied, under these keys' latches. */
  readonly droppedLatests: readonly DroppedLatest[];
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
  const droppedLatests: DroppedLatest[] = [];
  await new MvccReader(snapshot).forEachKeyVersions(args.startKey, args.endKey, (key, versions) => {
    if (keys >= args.keyLimit) {
      nextKey = key;
      return 'stop';
    }
    keys++;
    const outcome = gcKeyVersions(buf, key, versions, args.safePoint);
    deletedVersions += outcome.deleted;
    if (outcome.droppedLatestTs !== null || outcome.isEmptied) droppedLatests.push({ key, commitTs: outcome.droppedLatestTs });
    return 'continue';
  });
  return output(buf, { kind: 'collected' as const, deletedVersions, nextKey, droppedLatests });
}

/**
 * Clears or drops the latest records gcCommand named (actions/gc.ts gcLatest), each only if it
 * still holds what GC collected. Latched on their keys; a seek of the key's write CF (an iterator)
 * only where the record would be left without data.
 */
export async function gcLatestCommand(
  snapshot: Snapshot, droppedLatests: readonly DroppedLatest[],
): Promise<CommandOutput<{ readonly kind: 'collected'; readonly droppedCount: number; readonly clearedCount: number }>> {
  const buf = new MvccWriteBuffer();
  const reader = new MvccReader(snapshot);
  const latests = await reader.loadLatests(droppedLatests.map((d) => d.key));
  let droppedCount = 0;
  let clearedCount = 0;
  for (let i = 0; i < droppedLatests.length; i++) {
    const { key, commitTs: droppedTs } = droppedLatests[i]!;
    const latest = latests[i] ?? null;
    const isDataGone = latest !== null && (latest.data === null || latest.data.commitTs === droppedTs);
    const hasWriteRecords = !isDataGone || (await reader.seekWrite(key, TS_MAX)) !== null;
    const outcome = gcLatest(buf, key, latest, droppedTs, hasWriteRecords);
    if (outcome === 'dropped') droppedCount++;
    if (outcome === 'cleared') clearedCount++;
  }
  return output(buf, { kind: 'collected' as const, droppedCount, clearedCount });
}

/**
 * GC of [startKey, endKey) at `safePoint` in batches of `keyLimit` keys: each gcCommand batch
 * unlatched, then its gcLatestCommand under the latches of the keys it names. Returns the write
 * versions deleted.
 */
export async function gcRange(scheduler: TxnScheduler, args: GcArgs): Promise<{ readonly kind: 'collected'; readonly deletedVersions: number } | TxnError> {
  let startKey = args.startKey;
  let deletedVersions = 0;
  for (;;) {
    const from = startKey;
    const result = await scheduler.run([], (s) => gcCommand(s, { ...args, startKey: from }));
    if (result.kind === 'error') return result;
    deletedVersions += result.deletedVersions;
    const dropped = result.droppedLatests;
    if (dropped.length > 0) await scheduler.run(dropped.map((d) => d.key), (s) => gcLatestCommand(s, dropped));
    if (result.nextKey === null) return { kind: 'collected', deletedVersions };
    startKey = result.nextKey;
  }
}
