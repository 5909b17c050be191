// The key visualizer (placement-driver/key-visualizer.ts) against a reference model: random region
// heartbeats over region layouts that change (splits, merges) with time. Judged: exact values at
// full resolution against a naive spread; merged rows are sums of fine rows; every bucket's column
// sums to what its heartbeats reported, also when ranges are coalesced, keys cut and buckets aged
// out; bounds on buckets, ranges and rows hold. FLOTILLA_KEYVIS_SEED=N replays a property run
// (with the path fast-check prints, or run FLOTILLA_KEYVIS_RUNS=N to search longer).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeKey } from '../../common/index.js';
import { KEYVIS_METRICS, KeyVisualizer, mergeRows, type KeyVisualMatrix, type KeyVisualMetric, type RegionTraffic } from '../../placement-driver/key-visualizer.js';

const SEED = process.env['FLOTILLA_KEYVIS_SEED'] === undefined ? undefined : Number(process.env['FLOTILLA_KEYVIS_SEED']);
/** Runs per property; FLOTILLA_KEYVIS_RUNS=5000 for a longer search. */
const RUNS = Number(process.env['FLOTILLA_KEYVIS_RUNS'] ?? 1_000);

const b = (hex: string): Buffer => Buffer.from(hex, 'hex');
const traffic = (writtenBytes: number, readBytes = 0, writtenKeys = 0, readKeys = 0): RegionTraffic => ({ writtenBytes, readBytes, writtenKeys, readKeys });
const metricValue = (t: RegionTraffic, metric: KeyVisualMetric): number =>
  metric === 'written_bytes' ? t.writtenBytes : metric === 'read_bytes' ? t.readBytes : metric === 'written_keys' ? t.writtenKeys : t.readKeys;

function near(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);
}

// ───────────────────────────── generated input ─────────────────────────────

interface Heartbeat {
  readonly nowMs: number;
  readonly start: Buffer;
  readonly end: Buffer;
  readonly traffic: RegionTraffic;
}

/** Keys from a tiny alphabet so prefixes, 0x00 and 0xff boundaries occur often. */
const keyArb = fc.array(fc.constantFrom(0x00, 0x01, 0x61, 0x62, 0xff), { minLength: 1, maxLength: 4 }).map((bytes) => Buffer.from(bytes));
/** A region layout: sorted distinct split keys; regions are ['', k0), [k0, k1) … [kn, ''). */
const layoutArb = fc.uniqueArray(keyArb, { maxLength: 8, comparator: (x, y) => x.equals(y) }).map((keys) => keys.sort((x, y) => Buffer.compare(x, y)));
const trafficArb = fc.record({
  writtenBytes: fc.integer({ min: 0, max: 10_000 }),
  readBytes: fc.integer({ min: 0, max: 10_000 }),
  writtenKeys: fc.integer({ min: 0, max: 100 }),
  readKeys: fc.integer({ min: 0, max: 100 }),
});

/** Heartbeats in time order (steps of 0 to 3 buckets' worth), each from a region of one of the layouts. */
function heartbeatsArb(bucketMs: number): fc.Arbitrary<Heartbeat[]> {
  return fc
    .record({
      layouts: fc.array(layoutArb, { minLength: 1, maxLength: 4 }),
      // Mostly several heartbeats per bucket (full buckets, coalescing), sometimes gaps of buckets.
      steps: fc.array(fc.record({ advanceMs: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 3 * bucketMs }), weight: 1 }), layout: fc.nat(), region: fc.nat(), traffic: trafficArb }), { minLength: 1, maxLength: 60 }),
      startMs: fc.integer({ min: 0, max: 1_000_000 }),
    })
    .map(({ layouts, steps, startMs }) => {
      let nowMs = startMs;
      return steps.map((s) => {
        nowMs += s.advanceMs;
        const splits = layouts[s.layout % layouts.length]!;
        const i = s.region % (splits.length + 1);
        return { nowMs, start: i === 0 ? Buffer.alloc(0) : splits[i - 1]!, end: i === splits.length ? Buffer.alloc(0) : splits[i]!, traffic: s.traffic };
      });
    });
}

// ───────────────────────────── reference model ─────────────────────────────

/** Heartbeats per live bucket (time never goes back in generated input), as the visualizer should keep them. */
function modelBuckets(heartbeats: readonly Heartbeat[], bucketMs: number, bucketsMax: number, nowMs: number): Map<number, Heartbeat[]> {
  const oldest = Math.floor(nowMs / bucketMs) - bucketsMax + 1;
  const buckets = new Map<number, Heartbeat[]>();
  for (const hb of heartbeats) {
    const index = Math.floor(hb.nowMs / bucketMs);
    if (index < oldest) continue;
    buckets.set(index, [...(buckets.get(index) ?? []), hb]);
  }
  return buckets;
}

/** The naive matrix at full resolution: every heartbeat spread evenly over the fine rows it covers. */
function modelMatrix(heartbeats: readonly Heartbeat[], bucketMs: number, bucketsMax: number, nowMs: number, metric: KeyVisualMetric): { times: number[]; keys: string[]; values: number[][] } {
  const buckets = [...modelBuckets(heartbeats, bucketMs, bucketsMax, nowMs)].sort((x, y) => x[0] - y[0]);
  const INF = 'zz';
  const set = new Set<string>();
  for (const [, hbs] of buckets) for (const hb of hbs) set.add(hb.start.toString('hex')).add(hb.end.length === 0 ? INF : hb.end.toString('hex'));
  const bounds = [...set].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const values = buckets.map(([, hbs]) => {
    const row = new Array<number>(Math.max(0, bounds.length - 1)).fill(0);
    for (const hb of hbs) {
      const first = bounds.indexOf(hb.start.toString('hex'));
      const last = bounds.indexOf(hb.end.length === 0 ? INF : hb.end.toString('hex')) - 1;
      for (let r = first; r <= last; r++) row[r]! += metricValue(hb.traffic, metric) / (last - first + 1);
    }
    return row;
  });
  return { times: buckets.map(([i]) => i * bucketMs), keys: bounds.map((k) => (k === INF ? '' : k)), values };
}

function feed(kv: KeyVisualizer, heartbeats: readonly Heartbeat[]): void {
  for (const hb of heartbeats) assert.equal(kv.record(hb.nowMs, hb.start, hb.end, hb.traffic), 'recorded');
}

function assertShape(m: KeyVisualMatrix, what: string): void {
  assert.equal(m.values.length, m.times.length, `${what}: a column per time`);
  for (const row of m.values) assert.equal(row.length, Math.max(0, m.keys.length - 1), `${what}: a value per row`);
  assert.ok(m.keys.length - 1 <= m.rowsMax, `${what}: ${m.keys.length - 1} rows > rowsMax ${m.rowsMax}`);
  assert.ok(m.times.length <= m.bucketsMax, `${what}: ${m.times.length} times > bucketsMax`);
  for (let i = 1; i < m.times.length; i++) assert.ok(m.times[i - 1]! < m.times[i]!, `${what}: times ascending`);
  // Boundaries strictly ascending; '' only first (−∞) or last (+∞).
  for (let i = 1; i < m.keys.length; i++) {
    const isLastInf = i === m.keys.length - 1 && m.keys[i] === '';
    assert.ok(isLastInf || m.keys[i - 1]! < m.keys[i]!, `${what}: keys ascending at ${i}: ${JSON.stringify(m.keys)}`);
    assert.match(m.keys[i]!, /^([0-9a-f]{2})*$/);
  }
  for (const row of m.values) for (const v of row) assert.ok(Number.isFinite(v) && v >= 0, `${what}: value ${v}`);
}

// ───────────────────────────── properties ─────────────────────────────

describe('key visualizer against a reference model', () => {
  it('at full resolution every value is the naive even spread of the heartbeats of its bucket', () => {
    fc.assert(
      fc.property(heartbeatsArb(1_000), fc.constantFrom(...KEYVIS_METRICS), fc.integer({ min: 1, max: 8 }), (heartbeats, metric, bucketsMax) => {
        const kv = new KeyVisualizer({ bucketMs: 1_000, bucketsMax, bucketRangesMax: 10_000, keyBytesMax: 16 });
        feed(kv, heartbeats);
        const nowMs = heartbeats[heartbeats.length - 1]!.nowMs;
        const got = kv.matrix(nowMs, metric, 10_000);
        const want = modelMatrix(heartbeats, 1_000, bucketsMax, nowMs, metric);
        assertShape(got, 'full');
        assert.deepEqual(got.times, want.times);
        assert.deepEqual(got.keys, want.keys);
        got.values.forEach((row, t) => row.forEach((v, r) => near(v, want.values[t]![r]!, `values[${t}][${r}]`)));
        assert.equal(got.fineRows, Math.max(0, want.keys.length - 1));
        assert.ok(kv.bucketCount <= bucketsMax);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('merged rows are exact sums of the fine rows they span, boundaries a subset of the fine ones', () => {
    fc.assert(
      fc.property(heartbeatsArb(1_000), fc.constantFrom(...KEYVIS_METRICS), fc.integer({ min: 1, max: 6 }), (heartbeats, metric, rowsMax) => {
        const kv = new KeyVisualizer({ bucketMs: 1_000, bucketsMax: 20, bucketRangesMax: 10_000 });
        feed(kv, heartbeats);
        const nowMs = heartbeats[heartbeats.length - 1]!.nowMs;
        const fine = kv.matrix(nowMs, metric, 10_000);
        const coarse = kv.matrix(nowMs, metric, rowsMax);
        assertShape(coarse, 'coarse');
        assert.deepEqual(coarse.times, fine.times);
        assert.equal(coarse.keys.length - 1, Math.min(rowsMax, fine.keys.length - 1), 'merges only as far as needed');
        const at = coarse.keys.map((k, i) => (i === coarse.keys.length - 1 ? fine.keys.length - 1 : fine.keys.indexOf(k)));
        assert.equal(at[0], 0, 'the first boundary is kept');
        for (let i = 1; i < at.length; i++) assert.ok(at[i]! > at[i - 1]!, `boundary ${coarse.keys[i]} is a fine boundary, in order`);
        coarse.values.forEach((row, t) =>
          row.forEach((v, r) => {
            const fineSum = fine.values[t]!.slice(at[r], at[r + 1]).reduce((s, x) => s + x, 0);
            near(v, fineSum, `coarse[${t}][${r}]`);
          }),
        );
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('every bucket column sums to its heartbeats under small caps (coalesced ranges, cut keys, aged-out buckets)', () => {
    let coalescings = 0;
    let oddCoalescings = 0;
    fc.assert(
      fc.property(
        heartbeatsArb(500),
        fc.record({ bucketsMax: fc.integer({ min: 1, max: 5 }), bucketRangesMax: fc.integer({ min: 2, max: 5 }), keyBytesMax: fc.integer({ min: 1, max: 3 }), rowsMax: fc.integer({ min: 1, max: 5 }) }),
        fc.integer({ min: 0, max: 3_000 }),
        (list, caps, queryLaterMs) => {
          const kv = new KeyVisualizer({ bucketMs: 500, bucketsMax: caps.bucketsMax, bucketRangesMax: caps.bucketRangesMax, keyBytesMax: caps.keyBytesMax });
          feed(kv, list);
          coalescings += kv.coalescings;
          if (caps.bucketRangesMax % 2 === 1) oddCoalescings += kv.coalescings;
          assert.ok(kv.bucketCount <= caps.bucketsMax, `${kv.bucketCount} buckets > ${caps.bucketsMax}`);
          assert.ok(kv.rangeCount <= caps.bucketsMax * caps.bucketRangesMax, `${kv.rangeCount} ranges held`);
          const nowMs = list[list.length - 1]!.nowMs + queryLaterMs;
          const expected = modelBuckets(list, 500, caps.bucketsMax, nowMs);
          for (const metric of KEYVIS_METRICS) {
            const m = kv.matrix(nowMs, metric, caps.rowsMax);
            assertShape(m, metric);
            assert.deepEqual(m.times, [...expected.keys()].sort((x, y) => x - y).map((i) => i * 500));
            for (const l of m.keys) assert.ok(l.length <= 2 * caps.keyBytesMax + 2, `key ${l} longer than the cut (+ one 00 byte)`);
            m.times.forEach((time, t) => {
              const want = expected.get(time / 500)!.reduce((s, hb) => s + metricValue(hb.traffic, metric), 0);
              near(m.values[t]!.reduce((s, v) => s + v, 0), want, `${metric} column at ${time}`);
            });
            const max = Math.max(0, ...m.values.flat());
            near(m.valueMax, max, 'valueMax');
          }
        },
      ),
      { numRuns: RUNS, seed: SEED },
    );
    // A run that never filled a bucket proves nothing about coalescing (TESTING.md: count coverage).
    assert.ok(coalescings > 0 && oddCoalescings > 0, `coalescings: ${coalescings}, of an odd count: ${oddCoalescings}`);
  });
});

// ───────────────────────────── scenarios ─────────────────────────────

describe('key visualizer scenarios', () => {
  it('a region that splits renders its earlier traffic over both halves and later traffic per half', () => {
    const kv = new KeyVisualizer({ bucketMs: 10_000 });
    kv.record(1_000, b(''), b(''), traffic(100));
    kv.record(12_000, b(''), b('6d'), traffic(30));
    kv.record(13_000, b('6d'), b(''), traffic(70));
    const m = kv.matrix(15_000, 'written_bytes');
    assert.deepEqual(m.times, [0, 10_000]);
    assert.deepEqual(m.keys, ['', '6d', '']);
    assert.deepEqual(m.values, [[50, 50], [30, 70]]);
    assert.equal(m.valueMax, 70);
  });

  it('each metric reads its own counter', () => {
    const kv = new KeyVisualizer();
    kv.record(0, b('61'), b('62'), traffic(1, 2, 3, 4));
    assert.deepEqual(KEYVIS_METRICS.map((metric) => kv.matrix(0, metric).values), [[[1]], [[2]], [[3]], [[4]]]);
  });

  it('a bucket boundary: the last millisecond of a bucket and the first of the next land apart', () => {
    const kv = new KeyVisualizer({ bucketMs: 1_000, bucketsMax: 3 });
    kv.record(999, b(''), b(''), traffic(1));
    kv.record(1_000, b(''), b(''), traffic(2));
    assert.deepEqual(kv.matrix(1_000, 'written_bytes').values, [[1], [2]]);
    // The window is bucketsMax buckets ending with the current one: at 2,999 both stay, at 3,000 the first ages out.
    assert.deepEqual(kv.matrix(2_999, 'written_bytes').times, [0, 1_000]);
    assert.deepEqual(kv.matrix(3_000, 'written_bytes').times, [1_000]);
    assert.deepEqual(kv.matrix(4_000, 'written_bytes').times, []);
  });

  it('the ring holds at most bucketsMax buckets and ages them out as time moves', () => {
    const kv = new KeyVisualizer({ bucketMs: 10, bucketsMax: 4 });
    for (let t = 0; t < 100; t += 10) kv.record(t, b(''), b(''), traffic(t));
    assert.equal(kv.bucketCount, 4);
    const m = kv.matrix(90, 'written_bytes');
    assert.deepEqual(m.times, [60, 70, 80, 90]);
    assert.deepEqual(m.values, [[60], [70], [80], [90]]);
  });

  it('a late heartbeat (clock stepped back) counts in the newest bucket', () => {
    const kv = new KeyVisualizer({ bucketMs: 1_000 });
    kv.record(5_000, b(''), b(''), traffic(1));
    kv.record(1_000, b(''), b(''), traffic(2));
    const m = kv.matrix(5_000, 'written_bytes');
    assert.deepEqual(m.times, [5_000]);
    assert.deepEqual(m.values, [[3]]);
  });

  it('keys are cut to keyBytesMax; a range whose ends share the cut prefix keeps its own row', () => {
    const kv = new KeyVisualizer({ keyBytesMax: 2 });
    kv.record(0, b('616263'), b('616264'), traffic(5));
    kv.record(0, b('616264'), b('7a'), traffic(7));
    const m = kv.matrix(0, 'written_bytes');
    assert.deepEqual(m.keys, ['6162', '616200', '7a']);
    // The second range starts at 6162 once cut, so it spreads over both rows; sums are kept.
    assert.deepEqual(m.values, [[5 + 3.5, 3.5]]);
  });

  it('an empty or inverted range is ignored', () => {
    const kv = new KeyVisualizer();
    assert.equal(kv.record(0, b('62'), b('61'), traffic(1)), 'ignored-empty-range');
    assert.equal(kv.record(0, b('61'), b('61'), traffic(1)), 'ignored-empty-range');
    assert.equal(kv.matrix(0, 'written_bytes').times.length, 0);
  });

  it('a full bucket coalesces adjacent ranges pairwise and keeps every sum, of an even and an odd count', () => {
    for (const bucketRangesMax of [4, 3]) {
      const kv = new KeyVisualizer({ bucketRangesMax });
      const keys = ['', '10', '20', '30', '40', '50', ''];
      for (let i = 0; i + 1 < keys.length; i++) kv.record(0, b(keys[i]!), b(keys[i + 1]!), traffic(i + 1));
      assert.ok(kv.rangeCount <= bucketRangesMax);
      assert.ok(kv.coalescings > 0);
      const m = kv.matrix(0, 'written_bytes');
      near(m.values[0]!.reduce((s, v) => s + v, 0), 21, `sum with bucketRangesMax ${bucketRangesMax}`);
      assert.deepEqual(m.keys[0], '');
      assert.deepEqual(m.keys[m.keys.length - 1], '', 'the coalesced ranges still reach +∞');
    }
  });

  it('a range that coalescing itself produced is added to, not replaced', () => {
    // Found by the generator: a full bucket of ['', 00) and [00, +∞) coalesces into ['', +∞), the range being recorded.
    const kv = new KeyVisualizer({ bucketRangesMax: 2 });
    kv.record(0, b('00'), b(''), traffic(1));
    kv.record(0, b(''), b('00'), traffic(2));
    kv.record(0, b(''), b(''), traffic(4));
    assert.deepEqual(kv.matrix(0, 'written_bytes').values, [[7]]);
  });

  it('a row no range covers is exactly 0 (no floating-point residue between ranges)', () => {
    const kv = new KeyVisualizer();
    // Densities 24/3 and 1/5 open and close over the same rows; the gap after them must be 0, not ±1e-17.
    kv.record(0, b(''), b('61'), traffic(0, 24));
    kv.record(0, b(''), b('620161'), traffic(0, 1));
    kv.record(0, b('61'), b(''), traffic(0, 0));
    kv.record(0, b(''), b('00'), traffic(0, 0));
    kv.record(0, b('0162'), b('62'), traffic(0, 0));
    kv.record(0, b('7000'), b('7001'), traffic(0, 0));
    const m = kv.matrix(0, 'read_bytes', 10_000);
    const gap = m.keys.indexOf('620161');
    assert.equal(m.values[0]![gap], 0);
    for (const v of m.values[0]!) assert.ok(v >= 0);
  });

  it('merging keeps the hottest row apart and merges the cold ones', () => {
    assert.deepEqual(mergeRows(Float64Array.from([0, 0, 100, 0, 0]), 3), [0, 2, 3, 5]);
    assert.deepEqual(mergeRows(Float64Array.from([5, 1, 1, 5]), 3), [0, 1, 3, 4]);
    assert.deepEqual(mergeRows(Float64Array.from([1, 2]), 5), [0, 1, 2]);
    assert.deepEqual(mergeRows(Float64Array.from([1, 2, 3]), 1), [0, 3]);
  });

  it('a heartbeat as PD receives it: encoded keys decoded, counters past 2^53 refused', () => {
    const kv = new KeyVisualizer();
    kv.recordHeartbeat(0, { startKey: encodeKey(b('6162')), endKey: Buffer.alloc(0) }, { bytesWritten: '10', bytesRead: '20', keysWritten: '1', keysRead: '2' });
    const m = kv.matrix(0, 'read_bytes');
    assert.deepEqual(m.keys, ['6162', '']);
    assert.deepEqual(m.values, [[20]]);
    assert.deepEqual(KEYVIS_METRICS.map((metric) => kv.matrix(0, metric).values[0]), [[10], [20], [1], [2]], 'each counter to its metric');
    assert.throws(() => kv.recordHeartbeat(0, { startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) }, { bytesWritten: '9007199254740992', bytesRead: '0', keysWritten: '0', keysRead: '0' }), /exceeds/);
  });

  it('options are validated', () => {
    assert.throws(() => new KeyVisualizer({ bucketMs: 0 }), /bucketMs/);
    assert.throws(() => new KeyVisualizer({ bucketRangesMax: 1 }), /bucketRangesMax/);
    assert.throws(() => new KeyVisualizer().matrix(0, 'read_keys', 0), /rowsMax/);
  });
});
