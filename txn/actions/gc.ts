// GC of one user key's versions below a safe point. A reader at ts ≥ safe_point sees, for this
// key, the newest data write with commit_ts ≤ ts; for every such ts that is either a write above
// the safe point (untouched) or the newest data write ≤ safe_point. So that one is kept if it is a
// put, and everything older than it — and rollback/lock records ≤ safe_point — can go. A delete
// as the newest data write ≤ safe_point reads as "absent" exactly like no version at all: it goes too.
//
// Precondition (the GC driver's job, as in TiKV): every lock with start_ts ≤ safe_point has been
// resolved and no transaction with start_ts ≤ safe_point is still running, so dropping rollback
// records below the safe point cannot let a late prewrite through.
//
// The latest record (records/latest.ts) holds the key's newest put/delete. GC drops that write
// only when it is a delete ≤ safe_point with no data write above it — then the key has no data
// version left and its latest record must go too ("absent" is what lets getWrite skip the write
// CF). That delete is NOT staged here, in the unlatched GC batch: a transaction with start_ts >
// safe_point may commit a put on the key meanwhile and write a new latest record, and a stale
// delete applied after it would erase it (then reads would answer "no version" over a live put):
//   1. GC reads k: newest data write delete@5 ≤ safe point 10 → would drop latest(k).
//   2. T (start 12) prewrites and commits k at 15: latest(k) = put@15.
//   3. GC's batch applies "delete latest(k)": k's put@15 is now invisible to getWrite.
// Instead gcKeyVersions reports (key, commit_ts of that delete) and the driver runs
// gcLatestCommand under the key's latch, which drops the record only if it still holds that
// delete. Between the two batches (or forever, after a crash between them) the latest record
// holds a delete whose write record is gone: reads are unchanged (a delete reads as absent, and
// reads below the safe point are not served), it only costs its bytes.

import { type Ts } from '../../common/pure.js';
import { versionOf } from '../../common/pure.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type KvEntry } from '../mvcc/snapshot.js';
import { type LatestWrite } from '../records/latest.js';
import { decodeWrite, isDataWrite } from '../records/write.js';

export interface GcKeyOutcome {
  /** Write records deleted. */
  readonly deleted: number;
  /** The commit_ts of the key's newest data write when GC deleted it (its latest record must go), else null. */
  readonly droppedLatestTs: Ts | null;
}

/** Stages deletions for one key's `versions` (newest first). */
export function gcKeyVersions(buf: MvccWriteBuffer, key: Buffer, versions: readonly KvEntry[], safePoint: Ts): GcKeyOutcome {
  let hasKeptNewest = false;
  let isNewestDataSeen = false;
  let droppedLatestTs: Ts | null = null;
  let deleted = 0;
  for (const entry of versions) {
    const commitTs = versionOf(entry.key);
    const write = decodeWrite(entry.value);
    const isNewestData = !isNewestDataSeen && isDataWrite(write);
    if (isNewestData) isNewestDataSeen = true;
    if (commitTs > safePoint) continue;
    if (!hasKeptNewest && write.kind === 'put') {
      hasKeptNewest = true; // the newest visible version at the safe point: keep
      continue;
    }
    if (write.kind === 'delete') hasKeptNewest = true; // tombstone: nothing older matters any more
    if (isNewestData) droppedLatestTs = commitTs; // only a delete gets here: a newest put is kept
    buf.deleteWrite(key, commitTs);
    if (write.kind === 'put' && write.shortValue === null) buf.deleteValue(key, write.startTs);
    deleted++;
  }
  return { deleted, droppedLatestTs };
}

/**
 * Drops the latest record of `key` if it still holds the data write GC dropped at `droppedTs`.
 * Run under the key's latch, after the batch that deleted that write is applied.
 */
export function gcLatest(buf: MvccWriteBuffer, key: Buffer, latest: LatestWrite | null, droppedTs: Ts): 'dropped' | 'kept' {
  if (latest === null || latest.commitTs !== droppedTs) return 'kept'; // a newer commit replaced it, or already dropped
  buf.deleteLatest(key);
  return 'dropped';
}
