// Small pieces several actions share: the rollback of one lock, the rollback record (with the
// overlapped-rollback rule of records/write.ts), and lock expiry.

import { extractPhysical, type Ts } from '../../common/pure.js';
import { writeKey } from '../../common/pure.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type Lock } from '../records/lock.js';
import { decodeWrite, rollbackWrite, type RollbackProtection } from '../records/write.js';

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
 * Writes the rollback record of `startTs` on `key`. If another transaction's commit record already
 * sits at commit_ts = startTs, it gains the overlapped-rollback flag instead (never overwritten).
 */
export async function writeRollbackRecord(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, startTs: Ts, protection: RollbackProtection,
): Promise<void> {
  const existingBytes = await reader.snapshot.get(writeKey(key, startTs));
  if (existingBytes !== null) {
    const existing = decodeWrite(existingBytes);
    if (existing.kind === 'rollback' || existing.hasOverlappedRollback) return; // already recorded
    if (existing.startTs !== startTs) {
      buf.putWrite(key, startTs, { ...existing, hasOverlappedRollback: true });
      return;
    }
    return; // this transaction's own commit record: callers check for it before rolling back
  }
  buf.putWrite(key, startTs, rollbackWrite(startTs, protection));
}

/** Removes the transaction's own lock on `key`, its long value, and records the rollback. */
export async function rollbackLock(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, lock: Lock,
): Promise<void> {
  if (lock.kind === 'put' && lock.shortValue === null) buf.deleteValue(key, lock.startTs);
  buf.unlock(key);
  // Protected on the primary: its rollback record is what stops a late prewrite or commit of the
  // primary, i.e. what makes "rolled back" final for the whole transaction (Percolator §2.2).
  const protection: RollbackProtection = key.equals(lock.primary) ? 'protected' : 'unprotected';
  await writeRollbackRecord(buf, reader, key, lock.startTs, protection);
}
