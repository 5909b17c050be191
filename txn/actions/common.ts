// Small pieces several actions share: the rollback of one lock, the rollback record (with the
// overlapped-rollback rule of records/write.ts), the latest record's maxWriteTs kept with every new
// write record, and lock expiry.

import { extractPhysical, type Ts } from '../../common/pure.js';
import { type KeyRecords } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { latestAfterWrite, type LatestRecord } from '../records/latest.js';
import { type Lock } from '../records/lock.js';
import { isDataWrite, rollbackWrite, type RollbackProtection, type Write } from '../records/write.js';

/** Whether `lock` outlived its TTL by `currentTs` (physical ms of start_ts + ttl < physical ms now). */
export function isLockExpired(lock: Lock, currentTs: Ts): boolean {
  return extractPhysical(lock.startTs) + BigInt(lock.ttlMs) < extractPhysical(currentTs);
}

/** Milliseconds of TTL left at `currentTs` (0 when expired). */
export function lockTtlRemainingMs(lock: Lock, currentTs: Ts): number {
  const left = extractPhysical(lock.startTs) + BigInt(lock.ttlMs) - extractPhysical(currentTs);
  return left > 0n ? Number(left) : 0;
}

/**
 * Puts a NEW write record (`write` at `commitTs`) and keeps the key's latest record with it:
 * maxWriteTs = max(previous, commitTs), the data part replaced if `write` is a put/delete
 * (records/latest.ts, invariants D and M). `previous` is the latest record as read under the
 * key's latch, before this command wrote anything. Every new write-CF record goes through here;
 * nothing else puts one (GC only deletes).
 *
 * Why max and not commitTs: a rollback record lands at the rolled-back transaction's start_ts,
 * which may lie below records already there (a cleanup of an old transaction whose prewrite never
 * arrived; a rollback at another's commit ts); overwriting would lower the bound below a record
 * and let a prewrite skip a conflicting write.
 */
export function putWriteRecord(buf: MvccWriteBuffer, key: Buffer, commitTs: Ts, write: Write, previous: LatestRecord | null): void {
  const encoded = buf.putWrite(key, commitTs, write);
  const next = latestAfterWrite(previous, commitTs, write);
  // The latest record's data part is this very write when it carries no flags (latestOf clears
  // them): its bytes are the ones just encoded.
  const isSameWrite = next?.data?.commitTs === commitTs && isDataWrite(write) && !write.hasOverlappedRollback && !write.isProtected;
  if (next !== null) buf.putLatest(key, next, isSameWrite ? encoded : undefined);
}

/**
 * Writes the rollback record of `startTs` on `key`, given the key's records read with slot ts =
 * startTs. If another transaction's commit record already sits at commit_ts = startTs, it gains the
 * overlapped-rollback flag instead (never overwritten).
 */
export function writeRollbackRecord(
  buf: MvccWriteBuffer, key: Buffer, startTs: Ts, protection: RollbackProtection, records: KeyRecords,
): void {
  const existing = records.slot;
  if (existing !== null) {
    if (existing.kind === 'rollback' || existing.hasOverlappedRollback) return; // already recorded
    if (existing.startTs !== startTs) {
      // A flag on a record that exists: its commit_ts is already ≤ maxWriteTs (M), and it is not a
      // new data write, so the latest record stays as it is.
      buf.putWrite(key, startTs, { ...existing, hasOverlappedRollback: true });
      return;
    }
    return; // this transaction's own commit record: callers check for it before rolling back
  }
  putWriteRecord(buf, key, startTs, rollbackWrite(startTs, protection), records.latest);
}

/** Removes the transaction's own lock on `key`, its long value, and records the rollback (records read with slot ts = start_ts). */
export function rollbackLock(buf: MvccWriteBuffer, key: Buffer, lock: Lock, records: KeyRecords): void {
  if (lock.kind === 'put' && lock.shortValue === null) buf.deleteValue(key, lock.startTs);
  buf.unlock(key);
  // Protected on the primary: its rollback record is what stops a late prewrite or commit of the
  // primary, i.e. what makes "rolled back" final for the whole transaction (Percolator §2.2).
  const protection: RollbackProtection = key.equals(lock.primary) ? 'protected' : 'unprotected';
  writeRollbackRecord(buf, key, lock.startTs, protection, records);
}
