// Percolator commit of one key (the second phase of 2PC): turn our lock into a write record at
// commit_ts. Committing the primary is the transaction's commit point. A put or delete also
// becomes the key's latest record (records/latest.ts), in the same modification list, so one
// atomic batch removes the lock and adds both records (what readers relying on TxnEngine.readView
// need).
//
// Why the latest record may simply be overwritten: per key, put/delete commits apply in increasing
// commit_ts order, so the one being committed is always the newest data write. Walked through for
// a commit of transaction T (start_ts S) at C > S on key k, holding T's lock:
//   1. T's prewrite on k succeeded, so at that moment k had no lock and no write of any kind with
//      commit_ts ≥ S (prewrite answers WriteConflict / AlreadyRolledBack / alreadyCommitted
//      otherwise): every data write then on k is older than S < C.
//   2. From T's prewrite until this commit, T's lock is on k. Only the lock's owner writes put,
//      delete or lock records on k (commit of its own lock, here or via resolveLock of a
//      secondary — the same function); others' prewrites meet KeyIsLocked. So no data write
//      lands on k in between.
//   3. What others may write in between: rollback records (rollback / cleanup / checkTxnStatus of
//      another start_ts with no lock, possibly protected) and the overlapped-rollback flag on an
//      existing record — neither is a put/delete (a flagged record keeps its kind and commit_ts),
//      and a rollback record at C itself becomes our record's overlapped flag below. Lock-kind
//      commits are not data writes and leave the latest record alone.
//   4. GC deletes only records ≤ safe point < S of running transactions (its precondition), and
//      the latest record only under the key's latch (actions/gc.ts), so never ours.
// Hence the previous latest record, if any, has commit_ts < S < C, asserted below.

import { invariant, type Ts } from '../../common/pure.js';
import { latestKey, lockKey, writeKey } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { decodeLatestEntry, latestOf } from '../records/latest.js';
import { decodeLockEntry } from '../records/lock.js';
import { decodeWrite, isDataWrite, type Write } from '../records/write.js';

export type CommitOutcome =
  | { readonly kind: 'committed' }
  /** The commit record already exists (a retry): idempotent, nothing written. */
  | { readonly kind: 'alreadyCommitted'; readonly commitTs: Ts };

/**
 * Commits `key` of transaction `startTs` at `commitTs` (precondition: commitTs > startTs, checked
 * by the command). Errors: CommitTsExpired (commit_ts < the lock's min_commit_ts: a reader pushed
 * it), TxnLockNotFound (no lock of ours and no commit record: rolled back or never prewritten).
 */
export async function commit(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, startTs: Ts, commitTs: Ts,
): Promise<CommitOutcome | TxnError> {
  // One engine call for the lock, the commit_ts slot (a rollback of another transaction may sit
  // there: then the commit record carries the overlapped-rollback flag, see records/write.ts) and
  // the latest record (for the ordering assertion). The lock is the first key read.
  const [lockBytes, slotBytes, latestBytes] = await reader.snapshot.multiGet([lockKey(key), writeKey(key, commitTs), latestKey(key)]);
  const lock = decodeLockEntry(lockBytes);
  if (lock === null || lock.startTs !== startTs) {
    const record = await reader.getTxnCommitRecord(key, startTs);
    if (record.kind === 'committed') return { kind: 'alreadyCommitted', commitTs: record.commitTs };
    return { kind: 'error', code: 'TxnLockNotFound', key, startTs, commitTs };
  }
  if (commitTs < lock.minCommitTs) {
    return { kind: 'error', code: 'CommitTsExpired', key, startTs, commitTs, minCommitTs: lock.minCommitTs };
  }
  const slot = slotBytes === null || slotBytes === undefined ? null : decodeWrite(slotBytes);
  const hasOverlappedRollback = slot !== null && (slot.kind === 'rollback' || slot.hasOverlappedRollback);
  const write: Write = { kind: lock.kind, startTs, shortValue: lock.shortValue, hasOverlappedRollback, isProtected: false };
  buf.putWrite(key, commitTs, write);
  if (isDataWrite(write)) {
    const previous = decodeLatestEntry(latestBytes);
    invariant(previous === null || previous.commitTs < startTs, () => `commit of start_ts ${startTs} at ${commitTs} under a newer data write at ${previous?.commitTs}`);
    buf.putLatest(key, latestOf(commitTs, write));
  }
  buf.unlock(key);
  return { kind: 'committed' };
}
