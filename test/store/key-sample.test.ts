// KeySampleSchedule (store/key-recount.ts): when a leader's region is due a sample walk of its key
// count (stores without --region-key-count). Generated histories of heartbeats — each with some
// keys written or none, a range change now and then, time moving by random steps — judged
// against a reference that keeps, per region, the last walk's range and time and whether the
// region was written since.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RegionMeta } from '../../common/index.js';
import { KeySampleSchedule } from '../../store/key-recount.js';

function region(id: number, start: string, end: string, version = 1): RegionMeta {
  return { id, startKey: Buffer.from(start), endKey: Buffer.from(end), epoch: { confVer: 1, version }, peers: [] };
}

describe('KeySampleSchedule', () => {
  it('a new region is due; then only once written and the interval has passed since the walk', () => {
    const s = new KeySampleSchedule(1_000);
    const r = region(1, 'a', 'm');
    assert.equal(s.isDue(r, 0, 0), true, 'never walked');
    s.taken(r, 0);
    assert.equal(s.isDue(r, 0, 5_000), false, 'idle: walked once, never again');
    assert.equal(s.isDue(r, 3, 500), false, 'written, but the walk is too young');
    assert.equal(s.isDue(r, 0, 999), false, 'the write is remembered, still too young');
    assert.equal(s.isDue(r, 0, 1_000), true, 'written since, interval passed (the write was at an earlier beat)');
    s.taken(r, 1_000);
    assert.equal(s.isDue(r, 0, 9_000), false, 'no write since the last walk');
  });

  it('a range change (split, merge) is due at once; a conf change (same range, new object) is not', () => {
    const s = new KeySampleSchedule(60_000);
    const r = region(1, 'a', 'm');
    s.taken(r, 0);
    assert.equal(s.isDue({ ...r, epoch: { confVer: 2, version: 1 } }, 0, 1), false);
    assert.equal(s.isDue(region(1, 'a', 'g', 2), 0, 1), true, 'split: the range shrank');
    s.taken(region(1, 'a', 'g', 2), 1);
    assert.equal(s.isDue(region(1, 'a', 'z', 3), 0, 2), true, 'merge: the range grew');
  });

  it('prune forgets regions no longer led here: they are due again', () => {
    const s = new KeySampleSchedule(60_000);
    const [a, b] = [region(1, '', 'm'), region(2, 'm', '')];
    s.taken(a, 0);
    s.taken(b, 0);
    s.prune((id) => id === 2);
    assert.equal(s.isDue(a, 0, 1), true);
    assert.equal(s.isDue(b, 0, 1), false);
  });

  it('matches a reference model over generated histories', () => {
    type Ev = { readonly region: number; readonly written: number; readonly dtMs: number; readonly split: boolean; readonly take: boolean } | { readonly prune: number };
    const ev: fc.Arbitrary<Ev> = fc.oneof(
      { weight: 12, arbitrary: fc.record({ region: fc.integer({ min: 1, max: 3 }), written: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })), dtMs: fc.integer({ min: 0, max: 700 }), split: fc.integer({ min: 0, max: 9 }).map((n) => n === 0), take: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ prune: fc.integer({ min: 1, max: 3 }) }) },
    );
    fc.assert(fc.property(fc.integer({ min: 1, max: 2_000 }), fc.array(ev, { maxLength: 80 }), (interval, evs) => {
      const s = new KeySampleSchedule(interval);
      const model = new Map<number, { end: string; atMs: number; written: boolean }>();
      const ranges = new Map<number, string>([[1, 'b'], [2, 'c'], [3, 'd']]);
      let now = 0;
      for (const e of evs) {
        if ('prune' in e) {
          s.prune((id) => id !== e.prune);
          model.delete(e.prune);
          continue;
        }
        now += e.dtMs;
        if (e.split) ranges.set(e.region, ranges.get(e.region)! + 'x');
        const r = region(e.region, String(e.region), ranges.get(e.region)!);
        const m = model.get(e.region);
        let expected: boolean;
        if (m === undefined || m.end !== ranges.get(e.region)) expected = true;
        else {
          if (e.written > 0) m.written = true;
          expected = m.written && now - m.atMs >= interval;
        }
        assert.equal(s.isDue(r, e.written, now), expected);
        if (expected && e.take) {
          s.taken(r, now);
          model.set(e.region, { end: ranges.get(e.region)!, atMs: now, written: false });
        }
      }
    }), { numRuns: 300, seed: 7 });
  });
});
