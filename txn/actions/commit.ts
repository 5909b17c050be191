// Percolator commit of one key (the second phase of 2PC): turn our lock into a write record at
// commit_ts. Committing the primary is the transaction's commit point.

import { type Ts } from '../../common/pure.js';
import { lockKey, writeKey } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { decodeLockEntry } from '../records/lock.js';
import { decodeWrite } from '../records/write.js';

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
  // One engine call for the lock and the commit_ts slot (a rollback of another transaction may sit
  // there: then the commit record carries the overlapped-rollback flag, see records/write.ts).
  const [lockBytes, slotBytes] = await reader.snapshot.multiGet([lockKey(key), writeKey(key, commitTs)]);
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
  buf.putWrite(key, commitTs, {
    kind: lock.kind, startTs, shortValue: lock.shortValue, hasOverlappedRollback, isProtected: false,
  });
  buf.unlock(key);
  return { kind: 'committed' };
}
