// The raw (non-transactional) API: per-key linearizable reads and writes in the raw key space,
// which never mixes with transactional keys. Multi-key calls split by region and run in parallel
// (kv-rpc.ts bounds it); they are atomic per region only, as in TiKV's RawKV. Writes are never
// re-sent after an unknown outcome (OutcomeUnknownError), reads are.

import { compareKeys, decodeKey, encodeKey } from '../common/index.js';
import { toBuffer, toKey, toRange, toValue, keyId, type Bytes } from './bytes.js';
import { InvalidArgumentError } from './errors.js';
import { RegionMovedError, type KvRpc } from './kv-rpc.js';
import type { CachedRegion } from './region-cache.js';

/** Keys per request of a multi-key call (the store's default limit is 10,000). */
export const RAW_BATCH_KEYS_MAX = 2_048;
/** Pairs per scan request; a scan streams page after page. */
export const SCAN_PAGE_MAX = 256;

export interface RawScanOptions {
  /** Pairs to return at most (default: all). */
  readonly limit?: number;
  /** Values are returned empty. */
  readonly keyOnly?: boolean;
  /** Largest key first (the range is still [start, end)). */
  readonly reverse?: boolean;
}

export interface KvPair {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface RawPutOptions {
  /** The key disappears this many seconds after the write (0 or absent: never). */
  readonly ttlSeconds?: number;
}

function ttlOf(opts: RawPutOptions | undefined): string {
  const ttl = opts?.ttlSeconds ?? 0;
  if (!Number.isSafeInteger(ttl) || ttl < 0) throw new InvalidArgumentError(`ttlSeconds must be a non-negative integer, got ${ttl}`);
  return String(ttl);
}

export function scanLimitOf(opts: { readonly limit?: number } | undefined): number {
  const limit = opts?.limit ?? Number.POSITIVE_INFINITY;
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(limit) || limit < 0)) throw new InvalidArgumentError(`scan limit must be a non-negative integer, got ${limit}`);
  return limit;
}

/** The user key a region boundary stands for (empty = unbounded). */
export function userBoundary(encoded: Buffer): Buffer {
  return encoded.length === 0 ? encoded : decodeKey(encoded).key;
}

/** Chunks of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (items.length <= size) return [items as T[]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export class RawClient {
  constructor(
    private readonly rpc: KvRpc,
    private readonly timeoutMs: number,
  ) {}

  private deadline(): number {
    return Date.now() + this.timeoutMs;
  }

  async get(key: Bytes): Promise<Buffer | null> {
    const k = toKey(key);
    const deadlineMs = this.deadline();
    const r = await this.rpc.withRegion(k, deadlineMs, (region) => this.rpc.send(region, 'rawGet', { key: k }, { deadlineMs, idempotent: true }));
    return r.notFound ? null : r.value;
  }

  async batchGet(keys: readonly Bytes[]): Promise<(Buffer | null)[]> {
    const ks = keys.map((k, i) => toKey(k, `keys[${i}]`));
    if (ks.length === 0) return [];
    const deadlineMs = this.deadline();
    const found = new Map<string, Buffer>();
    const unique = dedupe(ks);
    await this.rpc.forEachRegion(unique, deadlineMs, async (region, group) => {
      for (const part of chunks(group, RAW_BATCH_KEYS_MAX)) {
        const r = await this.rpc.send(region, 'rawBatchGet', { keys: part }, { deadlineMs, idempotent: true });
        for (const p of r.pairs) found.set(keyId(p.key), p.value);
      }
    });
    return ks.map((k) => found.get(keyId(k)) ?? null);
  }

  async put(key: Bytes, value: Bytes, opts?: RawPutOptions): Promise<void> {
    const k = toKey(key);
    const v = toValue(value);
    const ttlSeconds = ttlOf(opts);
    const deadlineMs = this.deadline();
    await this.rpc.withRegion(k, deadlineMs, (region) => this.rpc.send(region, 'rawPut', { key: k, value: v, ttlSeconds }, { deadlineMs, idempotent: false }));
  }

  /** Atomic per region; a duplicate key keeps its last value. */
  async batchPut(pairs: readonly (readonly [Bytes, Bytes])[], opts?: RawPutOptions): Promise<void> {
    const ttl = ttlOf(opts);
    const byKey = new Map<string, { key: Buffer; value: Buffer }>();
    pairs.forEach(([k, v], i) => {
      const key = toKey(k, `pairs[${i}] key`);
      byKey.set(keyId(key), { key, value: toValue(v, `pairs[${i}] value`) });
    });
    if (byKey.size === 0) return;
    const deadlineMs = this.deadline();
    await this.rpc.forEachRegion([...byKey.values()].map((p) => p.key), deadlineMs, async (region, group) => {
      for (const part of chunks(group, RAW_BATCH_KEYS_MAX)) {
        const kvs = part.map((key) => ({ key, value: byKey.get(keyId(key))!.value }));
        await this.rpc.send(region, 'rawBatchPut', { pairs: kvs, ttlsSeconds: ttl === '0' ? [] : [ttl] }, { deadlineMs, idempotent: false });
      }
    });
  }

  async delete(key: Bytes): Promise<void> {
    const k = toKey(key);
    const deadlineMs = this.deadline();
    await this.rpc.withRegion(k, deadlineMs, (region) => this.rpc.send(region, 'rawDelete', { key: k }, { deadlineMs, idempotent: false }));
  }

  /** Deletes every key in [start, end); region by region, each region's part atomically. */
  async deleteRange(start: Bytes, end: Bytes): Promise<void> {
    const range = toRange(start, end);
    if (range.end.length === 0) throw new InvalidArgumentError('deleteRange needs an end key');
    // The empty key is not a key: [“”, end) is [0x00, end).
    let cur = range.start.length === 0 ? Buffer.from([0]) : range.start;
    const deadlineMs = this.deadline();
    for (;;) {
      const from = cur;
      const regionEnd = await this.rpc.withRegion(from, deadlineMs, async (region) => {
        const rEnd = userBoundary(region.region.endKey);
        const to = rEnd.length > 0 && Buffer.compare(rEnd, range.end) < 0 ? rEnd : range.end;
        await this.rpc.send(region, 'rawDeleteRange', { startKey: from, endKey: to }, { deadlineMs, idempotent: false });
        return rEnd;
      });
      if (regionEnd.length === 0 || Buffer.compare(regionEnd, range.end) >= 0) return;
      cur = regionEnd;
    }
  }

  async compareAndSwap(key: Bytes, expected: Bytes | null, value: Bytes, opts?: RawPutOptions): Promise<{ swapped: boolean; previous: Buffer | null }> {
    const k = toKey(key);
    const v = toValue(value);
    const previous = expected === null ? null : toBuffer(expected, 'expected');
    const ttlSeconds = ttlOf(opts);
    const deadlineMs = this.deadline();
    const r = await this.rpc.withRegion(k, deadlineMs, (region) =>
      this.rpc.send(region, 'rawCompareAndSwap', { key: k, value: v, previousValue: previous ?? Buffer.alloc(0), previousNotExist: previous === null, ttlSeconds }, { deadlineMs, idempotent: false }),
    );
    return { swapped: r.succeeded, previous: r.previousNotExist ? null : r.previousValue };
  }

  /** Pairs in [start, end) (end null = +∞), region by region, page by page. */
  scan(start: Bytes, end: Bytes | null, opts?: RawScanOptions): AsyncIterable<KvPair> {
    const range = toRange(start, end);
    const limit = scanLimitOf(opts);
    const keyOnly = opts?.keyOnly ?? false;
    const scanPage = (region: CachedRegion, from: Buffer, to: Buffer, want: number, reverse: boolean, deadlineMs: number): Promise<KvPair[]> =>
      this.rpc
        .send(region, 'rawScan', { startKey: from, endKey: to, limit: want, keyOnly, reverse }, { deadlineMs, idempotent: true })
        .then((r) => r.kvs.map((p) => ({ key: p.key, value: p.value })));
    return opts?.reverse === true
      ? scanBackward(this.rpc, range, limit, this.timeoutMs, scanPage)
      : scanForward(this.rpc, range, limit, this.timeoutMs, scanPage);
  }
}

/** One page of a scan within one region: [from, to) clamped to it by the store, `want` pairs at most. */
export type ScanPage = (region: CachedRegion, from: Buffer, to: Buffer, want: number, reverse: boolean, deadlineMs: number) => Promise<KvPair[]>;

/**
 * Ascending over [range.start, range.end): asks the region holding the cursor for a page, moves
 * the cursor past the last key (or to the region's end when the page came back short), and
 * relocates whenever the region moved. Each page has its own deadline (a scan may run long).
 */
export async function* scanForward(rpc: KvRpc, range: { start: Buffer; end: Buffer }, limit: number, timeoutMs: number, page: ScanPage): AsyncGenerator<KvPair> {
  let remaining = limit;
  let cur = range.start;
  while (remaining > 0) {
    const deadlineMs = Date.now() + timeoutMs;
    const from = cur;
    const { pairs, regionEnd, want } = await rpc.withRegion(from, deadlineMs, async (region) => {
      const rEnd = userBoundary(region.region.endKey);
      const to = rEnd.length > 0 && (range.end.length === 0 || Buffer.compare(rEnd, range.end) < 0) ? rEnd : range.end;
      const want = Math.min(remaining, SCAN_PAGE_MAX);
      return { pairs: await page(region, from, to, want, false, deadlineMs), regionEnd: rEnd, want };
    });
    for (const p of pairs) {
      yield p;
      remaining--;
    }
    if (pairs.length === want) {
      cur = Buffer.concat([pairs[pairs.length - 1]!.key, Buffer.from([0])]);
      continue;
    }
    if (regionEnd.length === 0 || (range.end.length > 0 && Buffer.compare(regionEnd, range.end) >= 0)) return;
    cur = regionEnd;
  }
}

/** Descending over [range.start, range.end): the same walk from the end, regions found by locateBefore. */
export async function* scanBackward(rpc: KvRpc, range: { start: Buffer; end: Buffer }, limit: number, timeoutMs: number, page: ScanPage): AsyncGenerator<KvPair> {
  let remaining = limit;
  let hi = range.end; // exclusive; empty = +∞
  while (remaining > 0) {
    const deadlineMs = Date.now() + timeoutMs;
    const upper = hi;
    const region = await rpc.locateBefore(upper.length === 0 ? upper : encodeKey(upper), encodeKey(range.start), deadlineMs);
    const rStart = userBoundary(region.region.startKey);
    const from = rStart.length > 0 && Buffer.compare(rStart, range.start) > 0 ? rStart : range.start;
    const want = Math.min(remaining, SCAN_PAGE_MAX);
    let pairs: KvPair[];
    try {
      pairs = await page(region, from, upper, want, true, deadlineMs);
    } catch (err) {
      if (err instanceof RegionMovedError) continue;
      throw err;
    }
    for (const p of pairs) {
      yield p;
      remaining--;
    }
    if (pairs.length === want) {
      hi = pairs[pairs.length - 1]!.key;
      continue;
    }
    if (rStart.length === 0 || compareKeys(rStart, range.start) <= 0) return;
    hi = rStart;
  }
}

function dedupe(keys: readonly Buffer[]): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const k of keys) {
    const id = keyId(k);
    if (!seen.has(id)) {
      seen.add(id);
      out.push(k);
    }
  }
  return out;
}
