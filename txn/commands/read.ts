// Read commands: get, batchGet, scan at a ts, and scanLock. They write nothing and take no latches.

import { type Ts } from '../../common/pure.js';
import { lockInfo, type LockInfo, type TxnError } from '../errors.js';
import { SCAN_LOCK_LIMIT_MAX } from '../limits.js';
import { type BypassLocks, MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { batchGet, type KvPair, pointGet, scan, type ScanArgs } from '../actions/get.js';
import { checkKey, checkKeys, checkRange, checkScanLimit, checkTs, firstError } from './validate.js';

export async function getCommand(
  snapshot: Snapshot, key: Buffer, readTs: Ts, bypassLocks?: BypassLocks,
): Promise<{ readonly kind: 'value'; readonly value: Buffer | null } | TxnError> {
  const bad = firstError(checkKey(key), checkTs(readTs, 'read ts'));
  if (bad !== null) return bad;
  return pointGet(new MvccReader(snapshot), key, readTs, bypassLocks);
}

export async function batchGetCommand(
  snapshot: Snapshot, keys: readonly Buffer[], readTs: Ts, bypassLocks?: BypassLocks,
): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const bad = firstError(checkKeys(keys), checkTs(readTs, 'read ts'));
  if (bad !== null) return bad;
  return batchGet(new MvccReader(snapshot), keys, readTs, bypassLocks);
}

export async function scanCommand(snapshot: Snapshot, args: ScanArgs): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const bad = firstError(checkRange(args.startKey, args.endKey), checkTs(args.readTs, 'read ts'), checkScanLimit(args.limit));
  if (bad !== null) return bad;
  return scan(new MvccReader(snapshot), args);
}

export interface ScanLockArgs {
  /** Locks with start_ts ≤ maxTs. */
  readonly maxTs: Ts;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  readonly limit: number;
}

export async function scanLockCommand(
  snapshot: Snapshot, args: ScanLockArgs,
): Promise<{ readonly kind: 'locks'; readonly locks: LockInfo[] } | TxnError> {
  const bad = firstError(checkRange(args.startKey, args.endKey), checkTs(args.maxTs, 'max ts'), checkScanLimit(args.limit, SCAN_LOCK_LIMIT_MAX));
  if (bad !== null) return bad;
  const scanned = await new MvccReader(snapshot).scanLocks(args.startKey, args.endKey, args.limit, (l) => l.startTs <= args.maxTs);
  return { kind: 'locks', locks: scanned.locks.map(({ key, lock }) => lockInfo(key, lock)) };
}
