// TSO: strictly increasing, never beyond the durable bound, monotonic across leader changes and
// when the wall clock stalls or steps back. The clock is simulated: no sleeps, no real time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { extractPhysical, extractLogical, TS_LOGICAL_MAX, createRng } from '../../common/index.js';
import { TsoAllocator, TSO_COUNT_MAX } from '../../placement-driver/tso.js';

/** A replicated "saved bound" shared by successive leaders, as the PD state machine would hold it. */
function harness(startMs = 1_700_000_000_000) {
  const clock = { now: startMs };
  const durable = { bound: 0n, writes: 0 };
  const make = () =>
    new TsoAllocator({
      nowMs: () => clock.now,
      persistBound: async (b) => {
        assert.ok(b > durable.bound, 'a persisted bound only grows');
        durable.bound = b;
        durable.writes++;
      },
    });
  return { clock, durable, make };
}

function take(tso: TsoAllocator, count: number): bigint {
  const r = tso.allocate(count);
  assert.equal(r.kind, 'ok');
  return r.kind === 'ok' ? r.lastTs : -1n;
}

describe('TSO allocator', () => {
  it('serves nothing before sync and persists a window before the first timestamp', async () => {
    const { durable, make, clock } = harness();
    const tso = make();
    assert.deepEqual(tso.allocate(1), { kind: 'not-ready' });
    await tso.sync(0n);
    assert.equal(durable.bound, BigInt(clock.now + 3000));
    const ts = take(tso, 1);
    assert.equal(extractPhysical(ts), BigInt(clock.now));
    assert.equal(extractLogical(ts), 1n);
  });

  it('returns the last of N consecutive timestamps', async () => {
    const { make } = harness();
    const tso = make();
    await tso.sync(0n);
    const a = take(tso, 10);
    const b = take(tso, 5);
    assert.equal(b - a, 5n);
    assert.throws(() => tso.allocate(0), { code: 'InvalidArgument' });
    assert.throws(() => tso.allocate(TSO_COUNT_MAX + 1), { code: 'InvalidArgument' });
    assert.equal(tso.allocate(TSO_COUNT_MAX).kind, 'ok');
  });

  it('keeps increasing logically when the clock stalls or steps back, and never passes its bound', async () => {
    const { clock, durable, make } = harness();
    const tso = make();
    await tso.sync(0n);
    let last = 0n;
    clock.now -= 60_000; // the wall clock jumps a minute back
    for (let i = 0; i < 20_000; i++) {
      const r = tso.allocate(100);
      if (r.kind === 'exhausted') {
        await tso.update();
        continue;
      }
      assert.equal(r.kind, 'ok');
      if (r.kind !== 'ok') return;
      assert.ok(r.lastTs > last, 'strictly increasing');
      assert.ok(extractPhysical(r.lastTs) <= durable.bound, 'never beyond the durable bound');
      last = r.lastTs;
      if (i % 50 === 0) await tso.update();
    }
    assert.ok(extractPhysical(last) > BigInt(clock.now + 60_000), 'physical moved past the stalled clock by logical overflow');
  });

  it('reports exhaustion instead of overflowing logical', async () => {
    const { make } = harness();
    const tso = make();
    await tso.sync(0n);
    const n = Number(TS_LOGICAL_MAX);
    let served = 0;
    while (served + TSO_COUNT_MAX <= n) {
      take(tso, TSO_COUNT_MAX);
      served += TSO_COUNT_MAX;
    }
    take(tso, n - served);
    assert.deepEqual(tso.allocate(1), { kind: 'exhausted' });
    await tso.update(); // physical advances by 1 ms even though the clock did not move
    assert.equal(tso.allocate(1).kind, 'ok');
  });

  it('a new leader starts above everything the old one could have served', async () => {
    const { clock, durable, make } = harness();
    const old = make();
    await old.sync(0n);
    let oldMax = 0n;
    for (let i = 0; i < 100; i++) {
      clock.now += 29; // old leader runs on, renewing its window
      await old.update();
      oldMax = take(old, 1);
    }
    clock.now -= 10_000; // the new leader's clock is 10 s behind
    const fresh = make();
    await fresh.sync(durable.bound);
    assert.ok(take(fresh, 1) > oldMax);
  });

  it('stops serving when a window renewal fails (leadership lost) and ignores a superseded renewal', async () => {
    const clock = { now: 1_000_000 };
    let fail = false;
    const tso = new TsoAllocator({
      nowMs: () => clock.now,
      persistBound: async () => {
        if (fail) throw new Error('not leader');
      },
    });
    await tso.sync(0n);
    clock.now += 2_500;
    fail = true;
    await assert.rejects(tso.update(), /not leader/);
    assert.deepEqual(tso.allocate(1), { kind: 'not-ready' });
  });

  it('is strictly increasing under random clock behaviour and failovers (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 31 }), async (seed) => {
        const rng = createRng(seed);
        const { clock, durable, make } = harness(1_000_000 + rng.nextInt(1_000_000));
        let leader = make();
        await leader.sync(durable.bound);
        let last = 0n;
        for (let step = 0; step < 400; step++) {
          const action = rng.nextInt(10);
          if (action < 5) {
            const r = leader.allocate(1 + rng.nextInt(2000));
            if (r.kind === 'ok') {
              assert.ok(r.lastTs > last, `seed ${seed}: ${r.lastTs} after ${last}`);
              assert.ok(extractPhysical(r.lastTs) <= durable.bound);
              last = r.lastTs;
            }
          } else if (action < 8) {
            clock.now += rng.nextInt(3) === 0 ? -rng.nextInt(5_000) : rng.nextInt(400);
            await leader.update();
          } else if (action === 8) {
            leader.reset();
            leader = make(); // failover: the next leader reads the replicated bound
            await leader.sync(durable.bound);
          } else {
            await leader.update();
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
