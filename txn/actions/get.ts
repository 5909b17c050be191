// Snapshot reads at a ts: point get, batch get, forward/reverse scan. A lock of another
// transaction with start_ts ≤ the read ts blocks the read (KeyIsLocked), except the locks
// lockBlocksRead lets pass; the caller resolves it (checkTxnStatus, resolveLock) and retries.

import { type Ts } from '../../common/pure.js';
import { cfRangeOf, decodeDataKey, versionOf } from '../../common/pure.js';
import { keyIsLocked, type TxnError } from '../errors.js';
import { SCAN_BATCH_ENTRIES } from '../limits.js';
import { type BypassLocks, keyAfter, lockBlocksRead, type MvccReader } from '../mvcc/reader.js';
import { decodeLockEntry } from '../records/lock.js';
import { decodeWrite, type Write } from '../records/write.js';

export interface KvPair {
  readonly key: Buffer;
  readonly value: Buffer;
}

export async function pointGet(
  reader: MvccReader, key: Buffer, readTs: Ts, bypassLocks?: BypassLocks,
): Promise<{ readonly kind: 'value'; readonly value: Buffer | null } | TxnError> {
  const result = await reader.get(key, readTs, bypassLocks);
  if (result !== null && !Buffer.isBuffer(result)) return result;
  return { kind: 'value', value: result };
}

/** Values of `keys` at readTs (absent keys omitted), or the first blocking lock. */
export async function batchGet(
  reader: MvccReader, keys: readonly Buffer[], readTs: Ts, bypassLocks: BypassLocks = new Set(),
): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const locks = await reader.loadLocks(keys);
  for (let i = 0; i < keys.length; i++) {
    const lock = locks[i];
    if (lock !== null && lock !== undefined && lockBlocksRead(lock, readTs, bypassLocks)) return keyIsLocked(keys[i]!, lock);
  }
  const values = await Promise.all(keys.map((key) => reader.getCommitted(key, readTs)));
  const pairs: KvPair[] = [];
  for (let i = 0; i < keys.length; i++) {
    const value = values[i];
    if (value !== null && value !== undefined) pairs.push({ key: keys[i]!, value });
  }
  return { kind: 'pairs', pairs };
}

export interface ScanArgs {
  readonly startKey: Buffer;
  /** Exclusive; empty = +∞. */
  readonly endKey: Buffer;
  readonly readTs: Ts;
  readonly limit: number;
  readonly isReverse: boolean;
  readonly bypassLocks?: BypassLocks;
}

/**
 * Up to `limit` pairs in [startKey, endKey) at readTs, ascending (or descending from endKey).
 * Fails with the first blocking lock among the keys the scan covered.
 */
export async function scan(reader: MvccReader, args: ScanArgs): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const found: { key: Buffer; write: Write }[] = [];
  await reader.forEachKeyVersions(args.startKey, args.endKey, args.isReverse ? 'reverse' : 'forward', (key, versions) => {
    for (const entry of versions) {
      if (versionOf(entry.key) > args.readTs) continue;
      const write = decodeWrite(entry.value);
      if (write.kind === 'rollback' || write.kind === 'lock') continue;
      if (write.kind === 'put') found.push({ key, write });
      break;
    }
    return found.length >= args.limit ? 'stop' : 'continue';
  });
  // The keys this scan vouches for: up to its last key if it stopped at the limit, else all.
  const last = found.length >= args.limit ? found[found.length - 1] : undefined;
  const coveredStart = args.isReverse && last !== undefined ? last.key : args.startKey;
  const coveredEnd = !args.isReverse && last !== undefined ? keyAfter(last.key) : args.endKey;
  const blocking = await firstBlockingLock(reader, coveredStart, coveredEnd, args.readTs, args.bypassLocks ?? new Set());
  if (blocking !== null) return blocking;
  const values = await Promise.all(found.map(({ key, write }) => reader.loadValue(key, write)));
  return { kind: 'pairs', pairs: found.map(({ key }, i) => ({ key, value: values[i]! })) };
}

async function firstBlockingLock(
  reader: MvccReader, startKey: Buffer, endKey: Buffer, readTs: Ts, bypassLocks: BypassLocks,
): Promise<TxnError | null> {
  const range = cfRangeOf('lock', startKey, endKey);
  let start = range.start;
  for (;;) {
    const entries = await reader.snapshot.scan(start, range.end, { limit: SCAN_BATCH_ENTRIES });
    for (const entry of entries) {
      const lock = decodeLockEntry(entry.value);
      if (lock !== null && lockBlocksRead(lock, readTs, bypassLocks)) return keyIsLocked(decodeDataKey(entry.key).userKey, lock);
    }
    const lastEntry = entries[entries.length - 1];
    if (entries.length < SCAN_BATCH_ENTRIES || lastEntry === undefined) return null;
    start = keyAfter(lastEntry.key);
  }
}
