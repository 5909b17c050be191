// GC of one user key's versions below a safe point. A reader at ts ≥ safe_point sees, for this
// key, the newest data write with commit_ts ≤ ts; for every such ts that is either a write above
// the safe point (untouched) or the newest data write ≤ safe_point. So that one is kept if it is a
// put, and everything older than it — and rollback/lock records ≤ safe_point — can go. A delete
// as the newest data write ≤ safe_point reads as "absent" exactly like no version at all: it goes too.
//
// Precondition (the GC driver's job, as in TiKV): every lock with start_ts ≤ safe_point has been
// resolved and no transaction with start_ts ≤ safe_point is still running, so dropping rollback
// records below the safe point cannot let a late prewrite through.

import { type Ts } from '../../common/pure.js';
import { versionOf } from '../../common/pure.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type KvEntry } from '../mvcc/snapshot.js';
import { decodeWrite } from '../records/write.js';

/** Stages deletions for one key's `versions` (newest first). Returns the versions deleted. */
export function gcKeyVersions(buf: MvccWriteBuffer, key: Buffer, versions: readonly KvEntry[], safePoint: Ts): number {
  let hasKeptNewest = false;
  let deleted = 0;
  for (const entry of versions) {
    const commitTs = versionOf(entry.key);
    if (commitTs > safePoint) continue;
    const write = decodeWrite(entry.value);
    if (!hasKeptNewest && write.kind === 'put') {
      hasKeptNewest = true; // the newest visible version at the safe point: keep
      continue;
    }
    if (write.kind === 'delete') hasKeptNewest = true; // tombstone: nothing older matters any more
    buf.deleteWrite(key, commitTs);
    if (write.kind === 'put' && write.shortValue === null) buf.deleteValue(key, write.startTs);
    deleted++;
  }
  return deleted;
}
