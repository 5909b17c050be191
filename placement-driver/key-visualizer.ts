// The key visualizer: read/write traffic per key range over time, from region heartbeats, for the
// dashboard's heatmap. PD keeps a bounded ring of time buckets in memory (not replicated: a new
// leader starts empty); each heartbeat adds its traffic to the current bucket under the range the
// region had then, so splits and merges render as they happened. A query lays every bucket over
// one key axis (the union of the boundaries seen), at most `rowsMax` rows, merging the adjacent
// rows with the least traffic first. Invariant: a query conserves traffic — each bucket's column
// sums to what the heartbeats of that bucket reported (less the buckets aged out).
//
//   heartbeat (region [s, e), traffic) ──▶ bucket ⌊now / bucketMs⌋ ──▶ ranges: "s|e" → sums
//   query ──▶ boundaries = ∪ {s, e} ──▶ fine rows ──▶ merge to ≤ rowsMax ──▶ values[time][row]
//
// A range that covers several fine rows (a region that later split, or a neighbour that split) is
// spread evenly over them: PD knows nothing finer than a region, and an even spread keeps sums.

import { decodeKey, u64ToSafeNumber } from '../common/index.js';

/** Width of one time bucket by default: a store's region heartbeat comes every 10 s by default. */
export const KEYVIS_BUCKET_MS_DEFAULT = 10_000;
/** Buckets kept by default: 360 × 10 s = one hour of history. */
export const KEYVIS_BUCKETS_MAX_DEFAULT = 360;
/**
 * Distinct ranges one bucket holds by default. Past it the bucket's ranges are coalesced pairwise
 * (adjacent in key order, sums kept), so a cluster with more regions than this loses key resolution
 * in the heatmap, never traffic. Memory bound: bucketsMax × this × (2 boundaries of at most
 * 2 × KEYVIS_KEY_BYTES_MAX hex chars + ~100 B) ≈ 360 × 1,024 × 360 B ≈ 130 MB at worst with
 * 64-byte keys, far less with typical keys.
 */
export const KEYVIS_BUCKET_RANGES_MAX_DEFAULT = 1_024;
/**
 * Raw key bytes a boundary keeps: longer keys are cut (the heatmap needs no more to place a
 * range; the bound keeps memory independent of the 16 KiB key limit).
 */
export const KEYVIS_KEY_BYTES_MAX = 64;
/** Key-axis rows a query answers by default, and at most (a browser draws rows × buckets cells). */
export const KEYVIS_ROWS_DEFAULT = 256;
export const KEYVIS_ROWS_MAX = 1_024;

/** The traffic counters a region heartbeat carries, in the order values are kept. */
export const KEYVIS_METRICS = ['written_bytes', 'read_bytes', 'written_keys', 'read_keys'] as const;
export type KeyVisualMetric = (typeof KEYVIS_METRICS)[number];

export function isKeyVisualMetric(text: string): text is KeyVisualMetric {
  return (KEYVIS_METRICS as readonly string[]).includes(text);
}

/** Traffic of one region heartbeat (the interval the store reports since its previous beat). */
export interface RegionTraffic {
  readonly writtenBytes: number;
  readonly readBytes: number;
  readonly writtenKeys: number;
  readonly readKeys: number;
}

export interface KeyVisualizerOptions {
  readonly bucketMs?: number;
  readonly bucketsMax?: number;
  readonly bucketRangesMax?: number;
  readonly keyBytesMax?: number;
}

/** One query's answer. `keys` has rows + 1 entries: row i is [keys[i], keys[i+1]); '' first is −∞, '' last is +∞. */
export interface KeyVisualMatrix {
  readonly metric: KeyVisualMetric;
  readonly nowMs: number;
  readonly bucketMs: number;
  readonly bucketsMax: number;
  readonly rowsMax: number;
  /** Rows before merging (distinct ranges between the boundaries seen). */
  readonly fineRows: number;
  /** Start time (ms since the epoch) of each bucket that has data, ascending. */
  readonly times: number[];
  /** Hex of raw user keys (cut to keyBytesMax bytes), ascending. */
  readonly keys: string[];
  /** values[t][row]: the metric's sum in bucket t over row's key range. */
  readonly values: number[][];
  readonly valueMax: number;
}

/** +∞ as an internal boundary: sorts after every lowercase hex string ('~' > 'f'). */
const INF = '~';

interface RangeSums {
  readonly start: string;
  /** INF for an unbounded end. */
  readonly end: string;
  /** Indexed like KEYVIS_METRICS. */
  readonly sums: number[];
}

interface Bucket {
  readonly index: number;
  readonly ranges: Map<string, RangeSums>;
}

export type RecordOutcome = 'recorded' | 'ignored-empty-range';

export class KeyVisualizer {
  readonly bucketMs: number;
  readonly bucketsMax: number;
  readonly bucketRangesMax: number;
  readonly keyBytesMax: number;
  /** Ascending by index; at most bucketsMax, all within bucketsMax of the newest. */
  private readonly buckets: Bucket[] = [];
  /** Times a full bucket was coalesced (tests count it: a run that never coalesces proves nothing about it). */
  coalescings = 0;

  constructor(options: KeyVisualizerOptions = {}) {
    this.bucketMs = options.bucketMs ?? KEYVIS_BUCKET_MS_DEFAULT;
    this.bucketsMax = options.bucketsMax ?? KEYVIS_BUCKETS_MAX_DEFAULT;
    this.bucketRangesMax = options.bucketRangesMax ?? KEYVIS_BUCKET_RANGES_MAX_DEFAULT;
    this.keyBytesMax = options.keyBytesMax ?? KEYVIS_KEY_BYTES_MAX;
    for (const [name, value, min] of [['bucketMs', this.bucketMs, 1], ['bucketsMax', this.bucketsMax, 1], ['bucketRangesMax', this.bucketRangesMax, 2], ['keyBytesMax', this.keyBytesMax, 1]] as const) {
      if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`key visualizer: ${name} must be an integer ≥ ${min}, got ${value}`);
    }
  }

  /** Buckets held now (for tests and the memory bound). */
  get bucketCount(): number {
    return this.buckets.length;
  }

  /** Distinct ranges held across all buckets. */
  get rangeCount(): number {
    return this.buckets.reduce((n, b) => n + b.ranges.size, 0);
  }

  /**
   * Adds one heartbeat's traffic over the raw user-key range [startKey, endKey) (empty end: +∞)
   * to the bucket of `nowMs`. A heartbeat older than the newest bucket (a clock step back, a late
   * beat) counts in the newest: buckets never reopen. An empty range is ignored.
   */
  record(nowMs: number, startKey: Uint8Array, endKey: Uint8Array, traffic: RegionTraffic): RecordOutcome {
    if (endKey.length > 0 && Buffer.compare(startKey, endKey) >= 0) return 'ignored-empty-range';
    const start = this.boundary(startKey);
    let end = endKey.length === 0 ? INF : this.boundary(endKey);
    // Both cut to the same prefix p: the range becomes [p, p·00), the smallest range after p
    // (endKey is longer than p and starts with it, so it is ≥ p·00: order is kept).
    if (end === start) end = `${start}00`;
    const bucket = this.bucketFor(Math.floor(nowMs / this.bucketMs));
    const id = `${start}|${end}`;
    let sums = bucket.ranges.get(id);
    if (sums === undefined && bucket.ranges.size >= this.bucketRangesMax) {
      coalesce(bucket);
      this.coalescings++;
      // Coalescing may have produced this very range: add to it rather than replace it.
      sums = bucket.ranges.get(id);
    }
    if (sums === undefined) {
      sums = { start, end, sums: [0, 0, 0, 0] };
      bucket.ranges.set(id, sums);
    }
    sums.sums[0]! += traffic.writtenBytes;
    sums.sums[1]! += traffic.readBytes;
    sums.sums[2]! += traffic.writtenKeys;
    sums.sums[3]! += traffic.readKeys;
    return 'recorded';
  }

  /**
   * Records a region heartbeat as PD receives it: the region's keys memcomparable-encoded (as
   * PD keeps them), the counters as the wire's u64 strings (refused past 2^53 − 1, as the
   * service refuses the other counters).
   */
  recordHeartbeat(
    nowMs: number,
    region: { readonly startKey: Uint8Array; readonly endKey: Uint8Array },
    counters: { readonly bytesWritten: string; readonly bytesRead: string; readonly keysWritten: string; readonly keysRead: string },
  ): RecordOutcome {
    const raw = (encoded: Uint8Array): Uint8Array => (encoded.length === 0 ? encoded : decodeKey(encoded).key);
    return this.record(nowMs, raw(region.startKey), raw(region.endKey), {
      writtenBytes: u64ToSafeNumber(counters.bytesWritten, 'bytesWritten'),
      readBytes: u64ToSafeNumber(counters.bytesRead, 'bytesRead'),
      writtenKeys: u64ToSafeNumber(counters.keysWritten, 'keysWritten'),
      readKeys: u64ToSafeNumber(counters.keysRead, 'keysRead'),
    });
  }

  /** The heatmap of `metric` over the buckets still in the window at `nowMs`, at most `rowsMax` rows. */
  matrix(nowMs: number, metric: KeyVisualMetric, rowsMax: number = KEYVIS_ROWS_DEFAULT): KeyVisualMatrix {
    if (!Number.isSafeInteger(rowsMax) || rowsMax < 1) throw new RangeError(`rowsMax must be an integer ≥ 1, got ${rowsMax}`);
    const m = KEYVIS_METRICS.indexOf(metric);
    const oldest = Math.floor(nowMs / this.bucketMs) - this.bucketsMax + 1;
    const live = this.buckets.filter((b) => b.index >= oldest);
    const base = { metric, nowMs, bucketMs: this.bucketMs, bucketsMax: this.bucketsMax, rowsMax };
    const boundarySet = new Set<string>();
    for (const b of live) for (const r of b.ranges.values()) boundarySet.add(r.start).add(r.end);
    if (boundarySet.size === 0) return { ...base, fineRows: 0, times: [], keys: [], values: [], valueMax: 0 };
    const boundaries = [...boundarySet].sort(compareBoundaries);
    const indexOf = new Map(boundaries.map((k, i) => [k, i] as const));
    const fineRows = boundaries.length - 1;
    const spans = live.map((b) => [...b.ranges.values()].map((r) => ({ first: indexOf.get(r.start)!, last: indexOf.get(r.end)! - 1, value: r.sums[m]! })));
    const cuts = fineRows <= rowsMax ? boundaries.map((_, i) => i) : mergeRows(fineTotals(spans, fineRows), rowsMax);
    const values = spans.map((s) => bucketRow(s, cuts));
    const valueMax = values.reduce((max, row) => row.reduce((a, v) => Math.max(a, v), max), 0);
    return {
      ...base,
      fineRows,
      times: live.map((b) => b.index * this.bucketMs),
      keys: cuts.map((c) => (boundaries[c] === INF ? '' : boundaries[c]!)),
      values,
      valueMax,
    };
  }

  private boundary(key: Uint8Array): string {
    return Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, this.keyBytesMax)).toString('hex');
  }

  /** The bucket with `index`, opened (and the oldest aged out) if it is newer than the newest. */
  private bucketFor(index: number): Bucket {
    const newest = this.buckets[this.buckets.length - 1];
    if (newest !== undefined && index <= newest.index) return newest;
    const bucket: Bucket = { index, ranges: new Map() };
    this.buckets.push(bucket);
    while (this.buckets[0]!.index <= index - this.bucketsMax) this.buckets.shift();
    return bucket;
  }
}

function compareBoundaries(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Halves a full bucket: ranges in key order, each pair becomes one range spanning both (sums added). */
function coalesce(bucket: Bucket): void {
  const sorted = [...bucket.ranges.values()].sort((a, b) => compareBoundaries(a.start, b.start) || compareBoundaries(a.end, b.end));
  bucket.ranges.clear();
  for (let i = 0; i < sorted.length; i += 2) {
    const a = sorted[i]!;
    const b = sorted[i + 1];
    const merged = b === undefined ? a : { start: a.start, end: compareBoundaries(a.end, b.end) >= 0 ? a.end : b.end, sums: a.sums.map((v, k) => v + b.sums[k]!) };
    const id = `${merged.start}|${merged.end}`;
    const existing = bucket.ranges.get(id);
    if (existing === undefined) bucket.ranges.set(id, merged);
    else for (let k = 0; k < existing.sums.length; k++) existing.sums[k]! += merged.sums[k]!;
  }
}

/** A range of one bucket over fine rows [first, last]. */
interface Span {
  readonly first: number;
  readonly last: number;
  readonly value: number;
}

/**
 * A running sum over difference arrays of densities. Floating-point additions and subtractions do
 * not cancel exactly, so where no range is open the sum is reset to 0: a row no range covers is
 * exactly 0 (never ±1e-17, which would draw a faint cell or a negative value).
 */
class RunningDensity {
  readonly densityDiff: Float64Array;
  readonly openDiff: Int32Array;
  private density = 0;
  private open = 0;

  constructor(size: number) {
    this.densityDiff = new Float64Array(size + 1);
    this.openDiff = new Int32Array(size + 1);
  }

  /** Adds `density` over positions [first, last]. */
  add(first: number, last: number, density: number): void {
    this.densityDiff[first]! += density;
    this.densityDiff[last + 1]! -= density;
    this.openDiff[first]!++;
    this.openDiff[last + 1]!--;
  }

  /** The density at position i; call for i = 0, 1, 2, … in order. */
  next(i: number): number {
    this.open += this.openDiff[i]!;
    this.density = this.open === 0 ? 0 : this.density + this.densityDiff[i]!;
    return Math.max(0, this.density);
  }
}

/** Each fine row's total over all buckets (a range spread evenly over its rows). */
function fineTotals(spans: readonly (readonly Span[])[], fineRows: number): Float64Array {
  const running = new RunningDensity(fineRows);
  for (const bucket of spans) for (const s of bucket) running.add(s.first, s.last, s.value / (s.last - s.first + 1));
  const totals = new Float64Array(fineRows);
  for (let i = 0; i < fineRows; i++) totals[i] = running.next(i);
  return totals;
}

/**
 * One bucket's values over the rows between `cuts` (fine boundary indexes, ascending, first 0,
 * last fineRows): each range spread evenly over its fine rows, summed per row. O(ranges + rows).
 */
function bucketRow(spans: readonly Span[], cuts: readonly number[]): number[] {
  const rows = cuts.length - 1;
  const rowOf = new Int32Array(cuts[rows]!);
  for (let r = 0; r < rows; r++) rowOf.fill(r, cuts[r], cuts[r + 1]);
  const values = new Array<number>(rows).fill(0);
  const running = new RunningDensity(rows);
  for (const s of spans) {
    const first = rowOf[s.first]!;
    const last = rowOf[s.last]!;
    if (first === last) {
      values[first]! += s.value;
      continue;
    }
    const density = s.value / (s.last - s.first + 1);
    values[first]! += density * (cuts[first + 1]! - s.first);
    values[last]! += density * (s.last - cuts[last]! + 1);
    if (last > first + 1) running.add(first + 1, last - 1, density);
  }
  for (let r = 0; r < rows; r++) values[r]! += running.next(r) * (cuts[r + 1]! - cuts[r]!);
  return values;
}

/**
 * Chooses ≤ rowsMax rows by merging adjacent fine rows, the pair with the least traffic first
 * (then the narrowest, then the leftmost), so hot ranges keep their resolution. Returns the kept
 * boundaries as fine indexes (first 0, last totals.length).
 */
export function mergeRows(totals: Float64Array, rowsMax: number): number[] {
  const n = totals.length;
  // Groups of fine rows as a doubly linked list over their first fine row.
  const next = new Int32Array(n).map((_, i) => i + 1);
  const prev = new Int32Array(n).map((_, i) => i - 1);
  const total = Float64Array.from(totals);
  const width = new Int32Array(n).fill(1);
  const isAlive = new Uint8Array(n).fill(1);
  const version = new Int32Array(n);
  const heap = new PairHeap();
  const push = (left: number): void => {
    const right = next[left]!;
    if (right < n) heap.push({ cost: total[left]! + total[right]!, width: width[left]! + width[right]!, left, right, leftVersion: version[left]!, rightVersion: version[right]! });
  };
  for (let i = 0; i + 1 < n; i++) push(i);
  let rows = n;
  while (rows > rowsMax) {
    const pair = heap.pop();
    if (pair === undefined) break;
    const { left, right } = pair;
    if (!isAlive[left] || !isAlive[right] || version[left] !== pair.leftVersion || version[right] !== pair.rightVersion || next[left] !== right) continue;
    total[left]! += total[right]!;
    width[left]! += width[right]!;
    isAlive[right] = 0;
    next[left] = next[right]!;
    if (next[left] < n) prev[next[left]] = left;
    version[left]++;
    rows--;
    if (prev[left]! >= 0) push(prev[left]!);
    push(left);
  }
  const cuts: number[] = [];
  for (let i = 0; i < n; i = next[i]!) cuts.push(i);
  cuts.push(n);
  return cuts;
}

interface Pair {
  readonly cost: number;
  readonly width: number;
  readonly left: number;
  readonly right: number;
  readonly leftVersion: number;
  readonly rightVersion: number;
}

function pairBefore(a: Pair, b: Pair): boolean {
  if (a.cost !== b.cost) return a.cost < b.cost;
  if (a.width !== b.width) return a.width < b.width;
  return a.left < b.left;
}

/** A binary min-heap of candidate merges (stale entries are skipped by the caller). */
class PairHeap {
  private readonly items: Pair[] = [];

  push(item: Pair): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!pairBefore(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): Pair | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < a.length && pairBefore(a[l]!, a[best]!)) best = l;
      if (r < a.length && pairBefore(a[r]!, a[best]!)) best = r;
      if (best === i) return top;
      [a[i], a[best]] = [a[best]!, a[i]!];
      i = best;
    }
  }
}
