// Reads at a ts: point get, batch get, forward/reverse scan. A lock of another transaction with
// start_ts ≤ the read ts blocks the read (KeyIsLocked), except the locks lockBlocksRead lets
// pass; the caller resolves it (checkTxnStatus, resolveLock) and retries. Every read looks at a
// key's lock before its latest/write/default records (a scan reads its range's locks before its
// write records), so they are correct on a TxnEngine.readView after a read barrier, not only on
// a snapshot (the argument is in mvcc/snapshot.ts).

import { type Ts } from '../../common/pure.js';
import { cfRangeOf, decodeDataKey, versionOf } from '../../common/pure.js';
import { keyIsLocked, type TxnError } from '../errors.js';
import { SCAN_BATCH_ENTRIES } from '../limits.js';
import { type BypassLocks, keyAfter, keyInRange, lockBlocksRead, type MvccReader } from '../mvcc/reader.js';
import { decodeLockEntry, type Lock } from '../records/lock.js';
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

/**
 * Values of `keys` at readTs (absent keys omitted), or the first blocking lock. Engine calls: one
 * multiGet of the locks and latest records together (locks first: lock-first holds within the
 * call, see mvcc/reader.ts), one of long values if any; an iterator only for keys whose latest
 * data is newer than readTs.
 */
export async function batchGet(
  reader: MvccReader, keys: readonly Buffer[], readTs: Ts, bypassLocks: BypassLocks = new Set(),
): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const { locks, latests } = await reader.loadLocksAndLatests(keys);
  for (let i = 0; i < keys.length; i++) {
    const lock = locks[i];
    if (lock !== null && lock !== undefined && lockBlocksRead(lock, readTs, bypassLocks)) return keyIsLocked(keys[i]!, lock);
  }
  const writes = await Promise.all(keys.map((key, i) => reader.writeAtOrBelow(key, readTs, latests[i] ?? null)));
  const found: { key: Buffer; write: Write }[] = [];
  for (let i = 0; i < keys.length; i++) {
    const write = writes[i];
    if (write !== null && write !== undefined && write.write.kind === 'put') found.push({ key: keys[i]!, write: write.write });
  }
  const values = await reader.loadValues(found);
  return { kind: 'pairs', pairs: found.map(({ key }, i) => ({ key, value: values[i]! })) };
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
 * Fails with the first (lowest) blocking lock among the keys the scan covered. The lock range is
 * read first, then the write range (lock first, see the file header): a forward scan needs only
 * the lowest blocking lock of the whole range (it is in the covered range iff it is ≤ the last
 * key returned); a reverse scan keeps every blocking lock of the range, since its covered range
 * ends where it stops.
 */
export async function scan(reader: MvccReader, args: ScanArgs): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const bypass = args.bypassLocks ?? new Set<Ts>();
  const blocking = await blockingLocks(reader, args.startKey, args.endKey, args.readTs, bypass, args.isReverse ? 'all' : 'first');
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
  const firstCovered = blocking.find(({ key }) => keyInRange(key, coveredStart, coveredEnd));
  if (firstCovered !== undefined) return keyIsLocked(firstCovered.key, firstCovered.lock);
  const values = await reader.loadValues(found);
  return { kind: 'pairs', pairs: found.map(({ key }, i) => ({ key, value: values[i]! })) };
}

/** Blocking locks of [startKey, endKey) in key order: the first only, or all. */
async function blockingLocks(
  reader: MvccReader, startKey: Buffer, endKey: Buffer, readTs: Ts, bypassLocks: BypassLocks, which: 'first' | 'all',
): Promise<{ key: Buffer; lock: Lock }[]> {
  const range = cfRangeOf('lock', startKey, endKey);
  const out: { key: Buffer; lock: Lock }[] = [];
  let start = range.start;
  for (;;) {
    const entries = await reader.snapshot.scan(start, range.end, { limit: SCAN_BATCH_ENTRIES });
    for (const entry of entries) {
      const lock = decodeLockEntry(entry.value);
      if (lock === null || !lockBlocksRead(lock, readTs, bypassLocks)) continue;
      out.push({ key: decodeDataKey(entry.key).userKey, lock });
      if (which === 'first') return out;
    }
    const lastEntry = entries[entries.length - 1];
    if (entries.length < SCAN_BATCH_ENTRIES || lastEntry === undefined) return out;
    start = keyAfter(lastEntry.key);
  }
}
