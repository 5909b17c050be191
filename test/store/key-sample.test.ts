// Sampled key counts (store/key-recount.ts, stores without --region-key-count). KeySampleSchedule:
// when a leader's region is due a sample walk — generated histories of heartbeats (each with some
// keys written or none, a range change now and then, time moving by random steps) judged against
// a reference that keeps, per region, the last walk's range and time and whether the region was
// written since. KeyRecounter.sample: a walk over a MemoryEngine, held at its failpoint while the
// region splits or loses its leader — its count must then be dropped, not taken. RegionSplitter:
// a sampled count past the key limit triggers a split only if a fresh count agrees.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { armFailpoint, disarmFailpoint, encodeKey, latestKey, rawKey, type RegionMeta, silentLogger, type WriteOp } from '../../common/index.js';
import { MemoryEngine } from '../../store/engine/index.js';
import { KeyRecounter, KeySampleSchedule } from '../../store/key-recount.js';
import { RegionSplitter } from '../../store/region-splitter.js';
import type { Peer } from '../../store/peer.js';

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

/** The parts of a Peer a sample walk uses; `taken` records what it was handed. */
interface FakePeer {
  region: RegionMeta;
  isLeader: boolean;
  readonly taken: { readonly region: RegionMeta; readonly walked: number }[];
  takeSampledKeyCount(region: RegionMeta, walked: number): boolean;
}

function fakePeer(r: RegionMeta): FakePeer {
  const p: FakePeer = {
    region: r, isLeader: true, taken: [],
    takeSampledKeyCount: (region, walked) => (p.taken.push({ region, walked }), true),
  };
  return p;
}

/** Region 1 over encoded user keys [start, end) ('' = unbounded). */
function encodedRegion(start: string, end: string, version: number): RegionMeta {
  const enc = (k: string): Buffer => (k === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(k)));
  return { id: 1, startKey: enc(start), endKey: enc(end), epoch: { confVer: 1, version }, peers: [] };
}

describe('KeyRecounter.sample', () => {
  const load = async (): Promise<MemoryEngine> => {
    const engine = new MemoryEngine();
    const ops: WriteOp[] = [];
    // 30 raw keys a00..a29 and 20 transactional (latest) keys b00..b19; one user key per record.
    for (let i = 0; i < 30; i++) ops.push({ kind: 'put', cf: 'raw', key: rawKey(Buffer.from(`a${String(i).padStart(2, '0')}`)), value: Buffer.from('v') });
    for (let i = 0; i < 20; i++) ops.push({ kind: 'put', cf: 'latest', key: latestKey(encodeKey(Buffer.from(`b${String(i).padStart(2, '0')}`))), value: Buffer.from('l') });
    await engine.write(ops, { sync: false });
    return engine;
  };
  /** Polls (real time: pacing waits on a timer) until `peer` was handed `wanted` counts. */
  const until = async (peer: FakePeer, wanted: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (peer.taken.length < wanted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(peer.taken.length, wanted, `handed ${peer.taken.length} counts, expected ${wanted}`);
  };
  /** Walks run one at a time: once a later peer's count comes, every earlier walk has ended. */
  const drained = async (recounter: KeyRecounter): Promise<void> => {
    const marker = fakePeer(encodedRegion('', '', 1));
    recounter.sample(marker as unknown as Peer);
    await until(marker, 1);
  };

  it('hands the leader the keys of its range as of the walk', async () => {
    const engine = await load();
    const recounter = new KeyRecounter(engine, silentLogger(), () => undefined);
    const whole = fakePeer(encodedRegion('', '', 1));
    recounter.sample(whole as unknown as Peer);
    await until(whole, 1);
    assert.deepEqual(whole.taken.map((t) => t.walked), [50]);
    assert.equal(recounter.sampled, 1);
    await recounter.close();
  });

  it('drops a walk whose region split, or whose peer stopped leading, while it was held', async () => {
    const engine = await load();
    let settled = 0;
    const recounter = new KeyRecounter(engine, silentLogger(), () => settled++);
    const peer = fakePeer(encodedRegion('', '', 1));
    armFailpoint('store::key-recount-walk', 'pause');
    try {
      recounter.sample(peer as unknown as Peer);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      peer.region = encodedRegion('', 'a10', 2); // split: this peer keeps [.., a10)
    } finally {
      disarmFailpoint('store::key-recount-walk');
    }
    await drained(recounter);
    assert.deepEqual(peer.taken, [], 'a count of the old range was taken');
    assert.equal(settled, 1, 'only the marker\'s count settled');
    await recounter.close();

    // The same for a leadership lost during the walk.
    const other = new KeyRecounter(engine, silentLogger(), () => undefined);
    const led = fakePeer(encodedRegion('', '', 1));
    armFailpoint('store::key-recount-walk', 'pause');
    try {
      other.sample(led as unknown as Peer);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      led.isLeader = false;
    } finally {
      disarmFailpoint('store::key-recount-walk');
    }
    await drained(other);
    assert.deepEqual(led.taken, []);
    await other.close();
  });

  it('a sample of a peer already waiting is not queued twice; a closed walker takes none', async () => {
    const engine = await load();
    const recounter = new KeyRecounter(engine, silentLogger(), () => undefined);
    const peer = fakePeer(encodedRegion('', 'a10', 1));
    armFailpoint('store::key-recount-walk', 'pause');
    try {
      recounter.sample(peer as unknown as Peer); // running, held
      recounter.sample(peer as unknown as Peer); // waiting
      recounter.sample(peer as unknown as Peer); // already waiting: dropped
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    } finally {
      disarmFailpoint('store::key-recount-walk');
    }
    await until(peer, 2);
    await drained(recounter);
    assert.deepEqual(peer.taken.map((t) => t.walked), [10, 10], 'the third sample was queued too');
    await recounter.close();
    recounter.sample(peer as unknown as Peer);
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    assert.equal(peer.taken.length, 2, 'a closed walker took a count');
  });
});

describe('RegionSplitter.maybeSplit on a sampled count', () => {
  /** A splitter over `engine` whose PD records the splits asked for (and refuses them: the test ends there). */
  const splitterOver = (engine: MemoryEngine): { splitter: RegionSplitter; asked: number[]; outcomes: string[] } => {
    const asked: number[] = [];
    const outcomes: string[] = [];
    const splitter = new RegionSplitter({
      engine, logger: silentLogger(), limits: { sizeBytes: 1 << 30, keys: 100 },
      pd: { askBatchSplit: (_region, count) => (asked.push(count), Promise.reject(new Error('no ids in this test'))) },
      onSplit: (outcome) => outcomes.push(outcome),
    });
    return { splitter, asked, outcomes };
  };
  const peerWith = (approximateKeys: number): Peer => ({
    regionId: 1, peerId: 1, region: encodedRegion('', '', 1), isLeaderReady: true, approximateKeys,
  }) as unknown as Peer;
  const settled = async (outcomes: readonly string[]): Promise<void> => {
    for (let i = 0; i < 10_000 && outcomes.length === 0; i++) await new Promise((r) => setImmediate(r));
  };

  it('a stale sample past the limit, a region within it when counted afresh: no split', async () => {
    const engine = new MemoryEngine();
    await engine.write(Array.from({ length: 10 }, (_, i): WriteOp => ({ kind: 'put', cf: 'raw', key: rawKey(Buffer.from(`k${i}`)), value: Buffer.from('v') })), { sync: false });
    const { splitter, asked, outcomes } = splitterOver(engine);
    splitter.maybeSplit(peerWith(500), 1_000);
    await settled(outcomes);
    assert.deepEqual(outcomes, ['skipped']);
    assert.deepEqual(asked, []);
  });

  it('a sample past the limit that a fresh count confirms: the split goes ahead', async () => {
    const engine = new MemoryEngine();
    await engine.write(Array.from({ length: 250 }, (_, i): WriteOp => ({ kind: 'put', cf: 'raw', key: rawKey(Buffer.from(`k${String(i).padStart(3, '0')}`)), value: Buffer.from('v') })), { sync: false });
    const { splitter, asked, outcomes } = splitterOver(engine);
    splitter.maybeSplit(peerWith(250), 1_000);
    await settled(outcomes);
    assert.deepEqual(outcomes, ['failed'], 'PD was asked for ids, and refused them');
    assert.equal(asked.length, 1);
    assert.ok(asked[0]! >= 2, `${asked[0]} split keys`);
  });
});
