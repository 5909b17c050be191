// txnHeartBeat: a long transaction keeps its primary lock alive by raising its TTL.

import { type Ts } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';

/** Raises the TTL of the primary lock of `startTs` to `adviseLockTtlMs` (never lowers it). TxnNotFound without the lock. */
export async function txnHeartBeat(
  buf: MvccWriteBuffer, reader: MvccReader, primary: Buffer, startTs: Ts, adviseLockTtlMs: number,
): Promise<{ readonly kind: 'alive'; readonly lockTtlMs: number } | TxnError> {
  const lock = await reader.loadLock(primary);
  if (lock === null || lock.startTs !== startTs) return { kind: 'error', code: 'TxnNotFound', key: primary, startTs };
  if (adviseLockTtlMs > lock.ttlMs) {
    buf.putLock(primary, { ...lock, ttlMs: adviseLockTtlMs });
    return { kind: 'alive', lockTtlMs: adviseLockTtlMs };
  }
  return { kind: 'alive', lockTtlMs: lock.ttlMs };
}
