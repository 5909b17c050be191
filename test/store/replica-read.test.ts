// The replica-read request context (store/replica-read.ts): what a follower's batch encodes is what
// the leader decodes — the newest ts of its reads and every key and range of its transactional
// reads, or "every key" once they pass the byte budget; raw reads add nothing. Any other bytes
// are refused with InvalidArgument or not taken for a replica context, never a crash. And the
// leader's gate against a real ConcurrencyManager: max ts raised first, then a wait only for the
// one-phase commits in flight at or below that ts on those keys and ranges.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, FlotillaError, type Rng, type Ts } from '../../common/index.js';
import { ConcurrencyManager } from '../../store/concurrency-manager.js';
import {
  decodeReplicaReadContext, readIdOf, REPLICA_READ_SPAN_BYTES_MAX, ReplicaReadBatch, replicaReadGate, type ReplicaReadScope, type ReadSpan,
} from '../../store/replica-read.js';

const b = (s: string): Buffer => Buffer.from(s);

function randomKey(rng: Rng, max = 40): Buffer {
  const out = Buffer.alloc(rng.nextInt(max + 1));
  for (let i = 0; i < out.length; i++) out[i] = rng.nextInt(256);
  return out;
}

function randomScope(rng: Rng): ReplicaReadScope {
  const readTs: Ts | null = rng.chance(0.2) ? null : BigInt(rng.nextInt(1_000_000)) * 1000n + BigInt(rng.nextInt(1000));
  if (rng.chance(0.7)) return { readTs, keys: Array.from({ length: rng.nextInt(6) }, () => randomKey(rng, rng.chance(0.05) ? 4_000 : 40)) };
  return { readTs, start: randomKey(rng), end: rng.chance(0.3) ? Buffer.alloc(0) : randomKey(rng) };
}

/** What the leader must see for `scopes`: the reference model of the codec. */
function expected(scopes: readonly ReplicaReadScope[]): { maxTs: Ts; spans: ReadSpan[] | null } {
  let maxTs = 0n;
  const spans: ReadSpan[] = [];
  let bytes = 0;
  let isEvery = false;
  for (const s of scopes) {
    if (s.readTs !== null && s.readTs > maxTs) maxTs = s.readTs;
    if (s.readTs === null || isEvery) continue;
    const pieces: [ReadSpan, number][] = 'keys' in s ? s.keys.map((key) => [{ key }, 5 + key.length]) : [[{ start: s.start, end: s.end }, 9 + s.start.length + s.end.length]];
    for (const [span, n] of pieces) {
      if (isEvery) break;
      if (bytes + n > REPLICA_READ_SPAN_BYTES_MAX) {
        isEvery = true;
        break;
      }
      spans.push(span);
      bytes += n;
    }
  }
  return { maxTs, spans: isEvery ? null : spans };
}

const hex = (spans: readonly ReadSpan[] | null): unknown => spans?.map((s) => ('key' in s ? { key: s.key.toString('hex') } : { start: s.start.toString('hex'), end: s.end.toString('hex') })) ?? null;

describe('replica read context', () => {
  it('round-trips every batch of reads (keys, ranges, raw reads, past the byte budget) and keeps the request id', () => {
    const rng = createRng(31);
    let everyKey = 0;
    for (let trial = 0; trial < 400; trial++) {
      const scopes = Array.from({ length: 1 + rng.nextInt(trial % 10 === 0 ? 60 : 8) }, () => randomScope(rng));
      const batch = new ReplicaReadBatch();
      for (const s of scopes) batch.add(s);
      const id = Buffer.alloc(8);
      id.writeDoubleBE(trial + 1, 0);
      const ctx = batch.encode(id);
      assert.equal(readIdOf(ctx), id.toString('latin1'));
      const got = decodeReplicaReadContext(ctx);
      const want = expected(scopes);
      assert.ok(got !== null);
      assert.equal(got.maxTs, want.maxTs, `trial ${trial}`);
      assert.deepEqual(hex(got.spans), hex(want.spans), `trial ${trial}`);
      if (want.spans === null) everyKey++;
      assert.ok(ctx.length <= 8 + 14 + REPLICA_READ_SPAN_BYTES_MAX, 'the context stays within its budget');
    }
    assert.ok(everyKey > 0, 'some batches passed the budget');
  });

  it('a leader\'s own 8-byte request id is not a replica context; any other bytes decode or are refused with InvalidArgument', () => {
    assert.equal(decodeReplicaReadContext(Buffer.alloc(8)), null);
    assert.equal(decodeReplicaReadContext(Buffer.alloc(0)), null);
    const rng = createRng(5);
    const batch = new ReplicaReadBatch();
    batch.add({ readTs: 42n, keys: [b('a'), b('bb')] });
    batch.add({ readTs: 7n, start: b('c'), end: b('d') });
    const good = batch.encode(Buffer.alloc(8));
    let refused = 0;
    for (let trial = 0; trial < 3_000; trial++) {
      const bad = Buffer.from(good);
      const mode = rng.nextInt(4);
      let input: Buffer;
      if (mode === 0) input = bad.subarray(0, 9 + rng.nextInt(bad.length - 9));
      else if (mode === 1) {
        for (let i = 0; i < 1 + rng.nextInt(4); i++) bad[8 + rng.nextInt(bad.length - 8)] = rng.nextInt(256);
        input = bad;
      } else if (mode === 2) input = Buffer.concat([bad, randomKey(rng, 8)]);
      else input = Buffer.concat([Buffer.alloc(8), randomKey(rng, 60)]);
      try {
        const r = decodeReplicaReadContext(input);
        if (r !== null && r.spans !== null) for (const s of r.spans) assert.ok('key' in s ? s.key.length <= input.length : s.start.length + s.end.length <= input.length);
      } catch (err) {
        assert.ok(err instanceof FlotillaError && err.code === 'InvalidArgument', String(err));
        refused++;
      }
    }
    assert.ok(refused > 1_000);
  });
});

describe('replica read gate (leader side)', () => {
  const nowTs = (): Ts => BigInt(Date.now()) << 18n;

  it('raises max ts to the request\'s, then waits only for one-phase commits in flight at or below it on its keys and ranges', async () => {
    const cm = new ConcurrencyManager(null);
    const gate = replicaReadGate(cm);
    const base = nowTs();
    assert.equal(gate({ maxTs: 0n, spans: [] }), null, 'raw reads: nothing to do');
    assert.equal(cm.maxReadTs, 0n);
    assert.equal(gate({ maxTs: base, spans: [{ key: b('k') }] }), null, 'no memory lock: nothing to wait for');
    assert.equal(cm.maxReadTs, base);
    // A one-phase commit now lands above the replica read's ts.
    const g1 = cm.lockForOnePc([b('m')], 1n);
    assert.ok(g1.commitTs > base);
    const g2 = cm.lockForOnePc([b('x')], base + 100n);
    const settled = (p: Promise<void> | null): Promise<boolean> => (p === null ? Promise.resolve(true) : Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]));
    // Below both commits, or on other keys: no wait.
    assert.equal(await settled(gate({ maxTs: base, spans: [{ key: b('m') }, { key: b('x') }] })), true);
    assert.equal(await settled(gate({ maxTs: base + 1_000n, spans: [{ key: b('a') }, { start: b('n'), end: b('w') }] })), true);
    // At or above one: it waits, by key, by range, by an unbounded range, and for "every key".
    const byKey = gate({ maxTs: g1.commitTs, spans: [{ key: b('m') }] });
    const byRange = gate({ maxTs: base + 100n, spans: [{ start: b('w'), end: b('y') }] });
    const unbounded = gate({ maxTs: base + 100n, spans: [{ start: b('w'), end: Buffer.alloc(0) }] });
    const every = gate({ maxTs: g1.commitTs, spans: null });
    assert.deepEqual(await Promise.all([byKey, byRange, unbounded, every].map(settled)), [false, false, false, false]);
    g1.release();
    assert.deepEqual(await Promise.all([byKey, every].map(settled)), [true, true]);
    assert.deepEqual(await Promise.all([byRange, unbounded].map(settled)), [false, false]);
    // One memory lock left: a new request on its key waits for it just the same.
    assert.equal(cm.memoryLockCount, 1);
    const single = gate({ maxTs: g2.commitTs, spans: [{ key: b('x') }] });
    assert.equal(await settled(single), false);
    g2.release();
    assert.deepEqual(await Promise.all([byRange, unbounded, single].map(settled)), [true, true, true]);
    // A ts far ahead of the clock is refused (the request is dropped), and max ts stays.
    const before = cm.maxReadTs;
    assert.throws(() => gate({ maxTs: BigInt(Date.now() + 3_600_000) << 18n, spans: [] }), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument');
    assert.equal(cm.maxReadTs, before);
  });
});
