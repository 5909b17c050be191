// Rollback of one key of a transaction (batchRollback, cleanup and resolveLock with commit_ts 0):
// remove our lock and leave a rollback record so that a late prewrite or commit of this start_ts
// on the key fails — Percolator's guarantee that an aborted transaction stays aborted.

import { type Ts } from '../../common/pure.js';
import { keyIsLocked, type TxnError } from '../errors.js';
import { type KeyRecords, type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { isLockExpired, rollbackLock, writeRollbackRecord } from './common.js';

export type RollbackOutcome =
  | { readonly kind: 'rolledBack' }
  /** The rollback record already exists: idempotent, nothing written. */
  | { readonly kind: 'alreadyRolledBack' };

/** What to check before rolling back our lock. */
export type RollbackCheck =
  /** Roll back regardless of TTL (the client itself aborts: batchRollback). */
  | { readonly kind: 'always' }
  /** Roll back only if the lock's TTL expired at currentTs, else KeyIsLocked (cleanup by others). */
  | { readonly kind: 'ifExpired'; readonly currentTs: Ts };

/**
 * Rolls back `key` for transaction `startTs`, given its records read with slot ts = startTs
 * (MvccReader.loadKeyRecords: one engine call for the command's keys). Errors: AlreadyCommitted
 * (its commit record exists — a rollback must never undo a commit), KeyIsLocked (ifExpired and the
 * TTL has not run out). With no lock and no record, a protected rollback record is written anyway:
 * the prewrite may still be in flight, and it must then fail.
 */
export async function rollback(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, startTs: Ts, check: RollbackCheck, records: KeyRecords,
): Promise<RollbackOutcome | TxnError> {
  const { lock } = records;
  if (lock !== null && lock.startTs === startTs) {
    if (check.kind === 'ifExpired' && !isLockExpired(lock, check.currentTs)) return keyIsLocked(key, lock);
    rollbackLock(buf, key, lock, records);
    return { kind: 'rolledBack' };
  }
  const record = await reader.findTxnCommitRecord(key, startTs, records.latest);
  switch (record.kind) {
    case 'committed': return { kind: 'error', code: 'AlreadyCommitted', key, startTs, commitTs: record.commitTs };
    case 'rolledBack': return { kind: 'alreadyRolledBack' };
    case 'none':
      writeRollbackRecord(buf, key, startTs, 'protected', records);
      return { kind: 'rolledBack' };
  }
}
