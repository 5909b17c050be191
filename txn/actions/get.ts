// Reads at a ts: point get, batch get, forward/reverse scan. A lock of another transaction with
// start_ts ≤ the read ts blocks the read (KeyIsLocked), except the locks lockBlocksRead lets
// pass; the caller resolves it (checkTxnStatus, resolveLock) and retries. Every read looks at a
// key's lock before its latest/write/default records (a scan reads each window's locks before the
// records it answers from; its probe of the window only bounds it), so they are correct on a TxnEngine.readView after a read barrier, not only on
// a snapshot (the argument is in mvcc/snapshot.ts).

import { invariant, type Ts } from '../../common/pure.js';
import { cfRangeOf, decodeDataKey } from '../../common/pure.js';
import { keyIsLocked, type TxnError } from '../errors.js';
import { SCAN_BATCH_ENTRIES } from '../limits.js';
import { type BypassLocks, keyAfter, lockBlocksRead, type MvccReader, NO_BYPASS, type VersionedWrite, writeAtOrBelowFromLatest } from '../mvcc/reader.js';
import { decodeLatest } from '../records/latest.js';
import { decodeLockEntry, type Lock } from '../records/lock.js';
import { type Write } from '../records/write.js';

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
  reader: MvccReader, keys: readonly Buffer[], readTs: Ts, bypassLocks: BypassLocks = NO_BYPASS,
): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const { locks, latests } = await reader.loadLocksAndLatests(keys);
  for (let i = 0; i < keys.length; i++) {
    const lock = locks[i];
    if (lock !== null && lock !== undefined && lockBlocksRead(lock, readTs, bypassLocks)) return keyIsLocked(keys[i]!, lock);
  }
  // The common case answers from the latest records alone (writeAtOrBelow without its promise per
  // key); only keys whose newest data is newer than readTs walk the write CF.
  const writes = latests.map((latest) => writeAtOrBelowFromLatest(latest, readTs));
  if (writes.includes('walk')) {
    await Promise.all(writes.map(async (w, i) => {
      if (w === 'walk') writes[i] = await reader.scanWrite(keys[i]!, readTs);
    }));
  }
  const found: { key: Buffer; write: Write }[] = [];
  let isLongValue = false;
  for (let i = 0; i < keys.length; i++) {
    const write = writes[i];
    if (write === null || write === undefined || write === 'walk' || write.write.kind !== 'put') continue;
    found.push({ key: keys[i]!, write: write.write });
    if (write.write.shortValue === null) isLongValue = true;
  }
  if (!isLongValue) return { kind: 'pairs', pairs: found.map(({ key, write }) => ({ key, value: write.shortValue! })) };
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
 * Fails with the first (lowest) blocking lock among the keys the scan covered.
 *
 * Window by window, each read lock first (see the file header):
 *   1. probe: which keys the next pairs would be — the latest CF, one record per key (not every
 *      version of the write CF), falling back to the write CF only for a key whose newest data is
 *      newer than readTs. This read only bounds the window; nothing of it is answered;
 *   2. the window's locks: [start, just past the probe's last key) — or the whole rest when the
 *      probe ran out — so a page never walks the locks (and released-lock tombstones) of the rest
 *      of the range;
 *   3. the window's pairs, read again now that its locks are known: whatever committed between 1
 *      and 2 is seen here. If fewer pairs come back than the probe promised (keys deleted
 *      meanwhile), the next window continues past this one.
 */
export async function scan(reader: MvccReader, args: ScanArgs): Promise<{ readonly kind: 'pairs'; readonly pairs: KvPair[] } | TxnError> {
  const bypass = args.bypassLocks ?? NO_BYPASS;
  const fallbacks = new Map<string, { readonly latest: Buffer; readonly write: VersionedWrite | null }>();
  const found: Found[] = [];
  let lo = args.startKey;
  let hi = args.endKey;
  for (;;) {
    const want = args.limit - found.length;
    const probe = await visiblePuts(reader, lo, hi, args.readTs, want, args.isReverse, fallbacks);
    const isExhausted = probe.length < want;
    const last = probe[probe.length - 1];
    const windowLo = args.isReverse && !isExhausted && last !== undefined ? last.key : lo;
    const windowHi = !args.isReverse && !isExhausted && last !== undefined ? keyAfter(last.key) : hi;
    const blocking = await firstBlockingLock(reader, windowLo, windowHi, args.readTs, bypass);
    if (blocking !== null) return keyIsLocked(blocking.key, blocking.lock);
    const pairs = await visiblePuts(reader, windowLo, windowHi, args.readTs, want, args.isReverse, fallbacks);
    for (const p of pairs) found.push(p);
    if (found.length >= args.limit || isExhausted) break;
    // Each window that does not end the scan moves its bound strictly: a window that stood still
    // would repeat forever without yielding (an in-memory engine never leaves the microtask queue).
    // (An empty hi is the open end of the key space.)
    const advanced = args.isReverse ? hi.length === 0 || Buffer.compare(windowLo, hi) < 0 : Buffer.compare(windowHi, lo) > 0;
    invariant(advanced, () => `scan window [${windowLo.toString('hex')}, ${windowHi.toString('hex')}) did not advance`);
    if (args.isReverse) hi = windowLo;
    else lo = windowHi;
  }
  const values = await reader.loadValues(found);
  return { kind: 'pairs', pairs: found.map(({ key }, i) => ({ key, value: values[i]! })) };
}

interface Found {
  readonly key: Buffer;
  readonly write: Write;
}

/**
 * Up to `want` keys of [lo, hi) with a put visible at readTs, in scan order, from the latest CF;
 * a key whose newest data is newer than readTs is looked up in the write CF (remembered in
 * `fallbacks` against its latest record's bytes, so the second read of a window does not repeat it).
 */
async function visiblePuts(
  reader: MvccReader, lo: Buffer, hi: Buffer, readTs: Ts, want: number, isReverse: boolean,
  fallbacks: Map<string, { readonly latest: Buffer; readonly write: VersionedWrite | null }>,
): Promise<Found[]> {
  const out: Found[] = [];
  const range = cfRangeOf('latest', lo, hi);
  let start = range.start;
  let end = range.end;
  let batch = Math.min(Math.max(want, 1), SCAN_BATCH_ENTRIES);
  for (;;) {
    const entries = await reader.snapshot.scan(start, end, { limit: batch, isReverse });
    for (const entry of entries) {
      const latest = decodeLatest(entry.value);
      if (latest.data === null) continue;
      const key = decodeDataKey(entry.key).userKey;
      let write: VersionedWrite | null = latest.data;
      if (latest.data.commitTs > readTs) {
        const id = key.toString('latin1');
        const known = fallbacks.get(id);
        if (known !== undefined && known.latest.equals(entry.value)) {
          write = known.write;
        } else {
          write = await reader.scanWrite(key, readTs);
          fallbacks.set(id, { latest: entry.value, write });
        }
      }
      if (write === null || write.write.kind !== 'put') continue;
      out.push({ key, write: write.write });
      if (out.length >= want) return out;
    }
    const lastEntry = entries[entries.length - 1];
    if (entries.length < batch || lastEntry === undefined) return out;
    if (isReverse) end = lastEntry.key;
    else start = keyAfter(lastEntry.key);
    batch = Math.min(batch * 4, SCAN_BATCH_ENTRIES);
  }
}

/** The lowest blocking lock of [startKey, endKey), or null. */
async function firstBlockingLock(
  reader: MvccReader, startKey: Buffer, endKey: Buffer, readTs: Ts, bypassLocks: BypassLocks,
): Promise<{ key: Buffer; lock: Lock } | null> {
  const range = cfRangeOf('lock', startKey, endKey);
  let start = range.start;
  for (;;) {
    const entries = await reader.snapshot.scan(start, range.end, { limit: SCAN_BATCH_ENTRIES });
    for (const entry of entries) {
      const lock = decodeLockEntry(entry.value);
      if (lock === null || !lockBlocksRead(lock, readTs, bypassLocks)) continue;
      return { key: decodeDataKey(entry.key).userKey, lock };
    }
    const lastEntry = entries[entries.length - 1];
    if (entries.length < SCAN_BATCH_ENTRIES || lastEntry === undefined) return null;
    start = keyAfter(lastEntry.key);
  }
}
