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
// The latest record (records/latest.ts) holds the key's newest put/delete (D) and maxWriteTs, a
// bound on every write record's commit_ts (M). GC drops the newest data write only when it is a
// delete ≤ safe_point with no data write above it — then the key has no data version left and the
// record's data part must go ("no data" is what lets getWrite skip the write CF). That change is
// NOT staged here, in the unlatched GC batch: a transaction with start_ts > safe_point may commit a
// put on the key meanwhile and write a new latest record, and a stale change applied after it would
// erase it (then reads would answer "no version" over a live put):
//   1. GC reads k: newest data write delete@5 ≤ safe point 10 → would drop latest(k).
//   2. T (start 12) prewrites and commits k at 15: latest(k) = put@15.
//   3. GC's batch applies "delete latest(k)": k's put@15 is now invisible to getWrite.
// Instead gcKeyVersions reports the key — with the commit_ts of that delete, or because it deleted
// every version of the key it saw — and the driver runs gcLatestCommand under the key's latch:
// the data part goes only if it still holds that delete; the whole record goes only if, then, the
// key has no data part AND no write record left (a seek under the latch); otherwise the record
// stays with data cleared and maxWriteTs as it was.
//
// maxWriteTs is never lowered by GC, though GC deletes records up to the safe point, possibly the
// one at the bound: M asks only for an upper bound. A bound above every record left costs a
// prewrite at start_ts ≤ bound one point get that misses and the seek (MvccReader.newestWriteFrom)
// — never a missed record, since records are only ever added under latches by writers that raise
// the bound (actions/common.ts putWriteRecord). Such prewrites have start_ts ≤ safe point, which
// the precondition above already excludes, so the fallback does not happen in practice. Lowering
// it (to the newest record left) would need this unlatched batch to know what latched writers add
// meanwhile — the race above again — for no gain. Dropping the record is safe when the seek under
// the latch finds no write record: then M holds vacuously for the absent record, and the next
// writer (latched) starts a new one at its own ts.
//
// Between the two batches (or forever, after a crash between them) the latest record holds a delete
// whose write record is gone: reads are unchanged (a delete reads as absent, and reads below the
// safe point are not served), it only costs its bytes.

import { type Ts } from '../../common/pure.js';
import { versionOf } from '../../common/pure.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type KvEntry } from '../mvcc/snapshot.js';
import { type LatestRecord } from '../records/latest.js';
import { decodeWrite, isDataWrite } from '../records/write.js';

export interface GcKeyOutcome {
  /** Write records deleted. */
  readonly deleted: number;
  /** The commit_ts of the key's newest data write when GC deleted it (its latest record's data must go), else null. */
  readonly droppedLatestTs: Ts | null;
  /** Every version seen was deleted (the latest record may go once the key has no record left). */
  readonly isEmptied: boolean;
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
  return { deleted, droppedLatestTs, isEmptied: deleted === versions.length };
}

/**
 * The latest record of `key` after GC, run under the key's latch once the batch that deleted its
 * versions is applied: the data part goes if it still holds the data write GC dropped at
 * `droppedTs` (null: GC dropped no data write); then, with no data part left and no write record
 * left (`hasWriteRecords`, read under the same latch), the whole record goes. maxWriteTs is kept
 * as it is (an upper bound: see the file header).
 */
export function gcLatest(
  buf: MvccWriteBuffer, key: Buffer, latest: LatestRecord | null, droppedTs: Ts | null, hasWriteRecords: boolean,
): 'dropped' | 'cleared' | 'kept' {
  if (latest === null) return 'kept'; // already dropped
  const isDataCollected = latest.data !== null && droppedTs !== null && latest.data.commitTs === droppedTs;
  if (latest.data !== null && !isDataCollected) return 'kept'; // a newer commit replaced it, or GC kept it
  if (!hasWriteRecords) {
    buf.deleteLatest(key);
    return 'dropped';
  }
  if (!isDataCollected) return 'kept'; // no data already, records remain
  buf.putLatest(key, { data: null, maxWriteTs: latest.maxWriteTs });
  return 'cleared';
}
