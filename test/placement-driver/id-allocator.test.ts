// ID allocation: unique and ascending, one raft write per batch, never reused after failover.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { IdAllocator, ID_ALLOC_COUNT_MAX } from '../../placement-driver/id-allocator.js';

function harness() {
  const durable = { highWater: 0n, writes: 0 };
  const make = () =>
    new IdAllocator({
      batch: 100n,
      persistHighWater: async (h) => {
        assert.ok(h > durable.highWater);
        durable.highWater = h;
        durable.writes++;
      },
    });
  return { durable, make };
}

describe('ID allocator', () => {
  it('hands out unique ascending ids with one persisted write per batch', async () => {
    const { durable, make } = harness();
    const ids = make();
    ids.sync(0n);
    const got = (await Promise.all(Array.from({ length: 250 }, () => ids.alloc(1)))).flat();
    assert.deepEqual(got, Array.from({ length: 250 }, (_, i) => BigInt(i + 1)));
    assert.equal(durable.writes, 3);
    const big = await ids.alloc(500);
    assert.equal(big.length, 500);
    assert.equal(big[0], 251n);
  });

  it('never reuses ids across a failover', async () => {
    const { durable, make } = harness();
    const a = make();
    a.sync(0n);
    const fromA = await a.alloc(7);
    a.reset();
    const b = make();
    b.sync(durable.highWater);
    const fromB = await b.alloc(7);
    assert.ok(fromB[0]! > fromA[fromA.length - 1]!);
    assert.ok(fromB[0]! > durable.highWater - 100n);
  });

  it('refuses when not leader and rejects bad counts', async () => {
    const { make } = harness();
    const ids = make();
    await assert.rejects(ids.alloc(1), { code: 'PdNotLeader' });
    ids.sync(0n);
    await assert.rejects(ids.alloc(0), { code: 'InvalidArgument' });
    await assert.rejects(ids.alloc(ID_ALLOC_COUNT_MAX + 1), { code: 'InvalidArgument' });
    assert.equal((await ids.alloc(ID_ALLOC_COUNT_MAX)).length, ID_ALLOC_COUNT_MAX);
  });

  it('a reservation that lands after leadership was lost and regained hands out nothing (PdNotLeader, not an invariant failure)', async () => {
    let release = (): void => {};
    const durable = { highWater: 0n };
    const ids = new IdAllocator({
      batch: 10n,
      persistHighWater: (h) =>
        new Promise<void>((resolve) => {
          release = () => {
            if (h > durable.highWater) durable.highWater = h;
            resolve();
          };
        }),
    });
    ids.sync(0n);
    const inFlight = ids.alloc(1); // reserves 1..10 under the first leadership
    await new Promise((r) => setImmediate(r));
    ids.reset();
    durable.highWater = 50n; // another leader reserved (and handed out) up to 50
    ids.sync(durable.highWater); // leadership regained
    release();
    await assert.rejects(inFlight, { code: 'PdNotLeader' });
    const next = ids.alloc(1);
    await new Promise((r) => setImmediate(r));
    release();
    assert.deepEqual(await next, [51n]);
  });

  it('a new leadership without a step down in between (sync again) also voids a reservation in flight', async () => {
    // PD may learn of a new term of its own leadership without having seen itself deposed (the
    // term moved on during a partition): sync() alone must void what the older term reserved.
    let release = (): void => {};
    const ids = new IdAllocator({ batch: 10n, persistHighWater: () => new Promise<void>((resolve) => (release = resolve)) });
    ids.sync(0n);
    const inFlight = ids.alloc(1);
    await new Promise((r) => setImmediate(r));
    ids.sync(70n); // the state machine says ids up to 70 may have been issued
    release();
    await assert.rejects(inFlight, { code: 'PdNotLeader' });
    const next = ids.alloc(2);
    await new Promise((r) => setImmediate(r));
    release();
    assert.deepEqual(await next, [71n, 72n]);
  });
});
