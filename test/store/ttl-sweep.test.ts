// The TTL sweep planner (store/ttl-sweep.ts) against a model region: random interleavings of TTL
// puts, plain puts, deletes, sweep steps, quiet spells, clock jumps and peer replacement. Safety:
// whenever the region holds a key with a TTL, the planner must not have written the region off.
// Liveness: a region with no TTL key is written off within a bounded number of steps, and a quiet
// region starts a pass at most once per TTL_QUIET_SWEEP_INTERVAL_MS.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../common/index.js';
import { type SweepStep, type SweepTarget, TTL_QUIET_SWEEP_INTERVAL_MS, TtlSweepPlanner } from '../../store/ttl-sweep.js';

const KEY_SPACE = 40;

class ModelRegion {
  /** key (0..KEY_SPACE) → has a TTL. */
  readonly keys = new Map<number, boolean>();
  target: { regionId: number; isQuiet: boolean; mayHoldTtlKeys: boolean; ttlPutsApplied: number } = { regionId: 7, isQuiet: false, mayHoldTtlKeys: true, ttlPutsApplied: 0 };

  put(key: number, withTtl: boolean): void {
    this.keys.set(key, withTtl);
    if (withTtl) {
      this.target.mayHoldTtlKeys = true;
      this.target.ttlPutsApplied++;
    }
  }

  holdsTtl(): boolean {
    for (const ttl of this.keys.values()) if (ttl) return true;
    return false;
  }

  /** What raw-kv's sweepExpired would answer from `from`, `page` keys per step. */
  step(from: Buffer | null, page: number): SweepStep {
    const start = from === null ? 0 : from.readUInt32BE(0);
    const sorted = [...this.keys.keys()].filter((k) => k >= start).sort((a, b) => a - b).slice(0, page);
    const sawTtl = sorted.some((k) => this.keys.get(k) === true);
    if (sorted.length < page) return { next: null, sawTtl };
    const next = Buffer.alloc(4);
    next.writeUInt32BE(sorted[sorted.length - 1]! + 1);
    return { next, sawTtl };
  }

  /** A new peer object of the region (a restart or a split's replacement): it starts unsure. */
  replacePeer(): void {
    this.target = { regionId: 7, isQuiet: this.target.isQuiet, mayHoldTtlKeys: true, ttlPutsApplied: 0 };
  }
}

describe('TTL sweep planner', () => {
  for (let seed = 1; seed <= 300; seed++) {
    it(`seed ${seed}: never writes off a region holding a TTL key; writes off one without`, () => {
      const rng = createRng(seed);
      const planner = new TtlSweepPlanner();
      const region = new ModelRegion();
      const page = 1 + rng.nextInt(8);
      let now = 1_000_000;
      const quietPassStarts: number[] = [];
      for (let i = 0; i < 400; i++) {
        const r = rng.nextFloat();
        if (r < 0.1) region.put(rng.nextInt(KEY_SPACE), true);
        else if (r < 0.25) region.put(rng.nextInt(KEY_SPACE), false);
        else if (r < 0.35) region.keys.delete(rng.nextInt(KEY_SPACE));
        else if (r < 0.38) region.replacePeer();
        else if (r < 0.42) region.target.isQuiet = !region.target.isQuiet;
        else if (r < 0.45) now += rng.nextInt(2 * TTL_QUIET_SWEEP_INTERVAL_MS);
        else {
          now += 1_000;
          const target = region.target;
          const start = planner.begin(target, now);
          if (start !== undefined) {
            if (start.from === null && target.isQuiet) quietPassStarts.push(now);
            // A write may land while the step's scan is in flight (before or after what it read).
            const step = region.step(start.from, page);
            if (rng.chance(0.1)) region.put(rng.nextInt(KEY_SPACE), true);
            planner.end(target, step);
          }
        }
        if (region.holdsTtl()) assert.equal(region.target.mayHoldTtlKeys, true, `step ${i}: the region holds a TTL key but the planner wrote it off`);
      }
      for (let i = 1; i < quietPassStarts.length; i++) {
        assert.ok(quietPassStarts[i]! - quietPassStarts[i - 1]! >= TTL_QUIET_SWEEP_INTERVAL_MS, 'quiet passes start at most once per interval');
      }
      // Liveness: with every TTL key gone and the region active, a bounded number of steps writes it off.
      for (const [k, ttl] of region.keys) if (ttl) region.keys.delete(k);
      region.target.isQuiet = false;
      for (let i = 0; i < 2 * (KEY_SPACE / page + 2) && region.target.mayHoldTtlKeys; i++) {
        now += 1_000;
        const start = planner.begin(region.target, now);
        if (start !== undefined) planner.end(region.target, region.step(start.from, page));
      }
      assert.equal(region.target.mayHoldTtlKeys, false, 'a region without TTL keys is written off');
      assert.equal(planner.begin(region.target, now + 1_000), undefined, 'and skipped');
    });
  }

  it('a quiet region starts its next pass exactly once the interval has passed since the last one began (not earlier, not later)', () => {
    // The other half of "at most once per interval": a quiet region holding TTL keys must not
    // wait longer than the interval. Every offset around it, for a pass that ended and for one
    // still under way at the boundary (a pass under way continues regardless of quiet).
    let cases = 0;
    for (const offsetMs of [-1_000, -1, 0, 1, 1_000]) {
      for (const firstPassEnds of [true, false]) {
        const planner = new TtlSweepPlanner();
        const target: SweepTarget = { regionId: 5, isQuiet: true, mayHoldTtlKeys: true, ttlPutsApplied: 1 };
        const t0 = 7_000_000;
        assert.deepEqual(planner.begin(target, t0), { from: null }, 'the first quiet pass starts at once');
        planner.end(target, firstPassEnds ? { next: null, sawTtl: true } : { next: Buffer.from([9]), sawTtl: true });
        const got = planner.begin(target, t0 + TTL_QUIET_SWEEP_INTERVAL_MS + offsetMs);
        const want = !firstPassEnds ? { from: Buffer.from([9]) } : offsetMs >= 0 ? { from: null } : undefined;
        assert.deepEqual(got, want, `offset ${offsetMs} ms, first pass ${firstPassEnds ? 'ended' : 'under way'}`);
        cases++;
      }
    }
    assert.equal(cases, 10);
  });

  it('forgets regions no longer led here', () => {
    const planner = new TtlSweepPlanner();
    const target: SweepTarget = { regionId: 3, isQuiet: false, mayHoldTtlKeys: true, ttlPutsApplied: 0 };
    assert.deepEqual(planner.begin(target, 0), { from: null });
    planner.end(target, { next: Buffer.from([5]), sawTtl: true });
    assert.deepEqual(planner.begin(target, 1), { from: Buffer.from([5]) }, 'the pass resumes at its cursor');
    planner.retain(() => false);
    assert.deepEqual(planner.begin(target, 2), { from: null }, 'a forgotten pass starts again from the region start');
  });
});
