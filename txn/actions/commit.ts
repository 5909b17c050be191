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
//      changes the latest record only under the key's latch (actions/gc.ts), so never ours.
// Hence the previous latest record's data, if any, has commit_ts < S < C, asserted below.
//
// The latest record's maxWriteTs (invariant M of records/latest.ts) is NOT ordered like that: a
// rollback record of another transaction may land above C while our lock is held (step 3), so the
// new bound is max(previous, C) (actions/common.ts putWriteRecord) — for lock-kind commits too,
// which leave the data part alone but are write records a prewrite must see.

import { invariant, type Ts } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type KeyRecords, type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { isDataWrite, type Write } from '../records/write.js';
import { putWriteRecord } from './common.js';

export type CommitOutcome =
  | { readonly kind: 'committed' }
  /** The commit record already exists (a retry): idempotent, nothing written. */
  | { readonly kind: 'alreadyCommitted'; readonly commitTs: Ts };

/**
 * Commits `key` of transaction `startTs` at `commitTs` (precondition: commitTs > startTs, checked
 * by the command), given its records read with slot ts = commitTs (MvccReader.loadKeyRecords: one
 * engine call for the command's keys — the lock, the commit_ts slot, where a rollback of another
 * transaction may sit and become the overlapped-rollback flag of records/write.ts, and the latest
 * record). Errors: CommitTsExpired (commit_ts < the lock's min_commit_ts: a reader pushed it),
 * TxnLockNotFound (no lock of ours and no commit record: rolled back or never prewritten).
 */
export async function commit(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, startTs: Ts, commitTs: Ts, records: KeyRecords,
): Promise<CommitOutcome | TxnError> {
  const { lock, slot, latest } = records;
  if (lock === null || lock.startTs !== startTs) {
    // A retried commit finds its own record in the slot: no walk. It is the answer the walk would
    // give: a transaction has one commit record, and its rollback record (which cannot coexist
    // with it) would sit at start_ts < commit_ts, below it in the newest-first walk.
    if (slot !== null && slot.startTs === startTs && slot.kind !== 'rollback') return { kind: 'alreadyCommitted', commitTs };
    const record = await reader.findTxnCommitRecord(key, startTs, latest);
    if (record.kind === 'committed') return { kind: 'alreadyCommitted', commitTs: record.commitTs };
    return { kind: 'error', code: 'TxnLockNotFound', key, startTs, commitTs };
  }
  if (commitTs < lock.minCommitTs) {
    return { kind: 'error', code: 'CommitTsExpired', key, startTs, commitTs, minCommitTs: lock.minCommitTs };
  }
  const hasOverlappedRollback = slot !== null && (slot.kind === 'rollback' || slot.hasOverlappedRollback);
  const write: Write = { kind: lock.kind, startTs, shortValue: lock.shortValue, hasOverlappedRollback, isProtected: false };
  if (isDataWrite(write)) {
    const previous = latest?.data ?? null;
    invariant(previous === null || previous.commitTs < startTs, () => `commit of start_ts ${startTs} at ${commitTs} under a newer data write at ${previous?.commitTs}`);
  }
  putWriteRecord(buf, key, commitTs, write, latest);
  buf.unlock(key);
  return { kind: 'committed' };
}
