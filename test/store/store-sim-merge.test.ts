// Region merge, deterministic (issue F7: "a deterministic test of split and merge racing with conf
// change and leader transfer"). Three in-process stores (store-sim.ts: real RaftStores, each with
// its real MergeDriver and RegionSplitter) merge regions while the simulated network drops, delays
// and holds messages and stores crash. The integration test never puts a source replica behind
// its target at CommitMerge, nor reads a merging source; these scenarios do it on purpose:
//   (a) a plain merge after a split: one region everywhere, every write before and after kept on
//       every replica;
//   (b) a target replica applies CommitMerge while its store's source replica has not applied
//       PrepareMerge (nor the writes before it): the target must wait for it (merge.ts step 3);
//   (c) a store crashed right after PrepareMerge applied, and right after CommitMerge is durable
//       in its log but not applied: the restarted store finishes the merge;
//   (d) a merging source refuses reads and writes (ServerIsBusy);
//   (e) the target's epoch moves (a split) after PrepareMerge: the source rolls back and serves again.
// Then a randomized run: writes, splits, merges, leader transfers, conf changes, drops, delays,
// cuts and crashes, judged against a model. Replay a seed: FLOTILLA_STORE_SIM_SEED=n; more
// seeds: FLOTILLA_STORE_SIM_MERGE_SEEDS=n (default 4).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, FlotillaError, rawKey, type RegionMeta } from '../../common/index.js';
import type { ApplyResult, Peer } from '../../store/peer.js';
import { decodeCommand } from '../../store/raft-cmd.js';
import { encodeRawValue, liveRawValue } from '../../store/raw-value.js';
import { rawContents, type SimNode, StoreSim } from '../support/store-sim.js';

const b = (s: string): Buffer => Buffer.from(s);
const replay = (seed: number): string => `(replay: FLOTILLA_STORE_SIM_SEED=${seed} node --test dist/test/store/store-sim-merge.test.js)`;

// ───────────────────────────── helpers ─────────────────────────────

async function advanceUntil(sim: StoreSim, done: () => boolean, steps = 500): Promise<boolean> {
  for (let i = 0; i < steps && !done(); i++) await sim.advance();
  return done();
}

interface Tracked<T> { settled: boolean; value: T | undefined; error: unknown }

function track<T>(p: Promise<T>): Tracked<T> {
  const state: Tracked<T> = { settled: false, value: undefined, error: null };
  p.then((v) => {
    state.settled = true;
    state.value = v;
  }, (err: unknown) => {
    state.settled = true;
    state.error = err;
  });
  return state;
}

function codeOf(err: unknown): string {
  return err instanceof FlotillaError ? err.code : err instanceof Error ? err.message : String(err);
}

async function drive<T>(sim: StoreSim, p: Promise<T>, steps = 600): Promise<T> {
  const t = track(p);
  assert.ok(await advanceUntil(sim, () => t.settled, steps), 'the operation never settled');
  if (t.error !== null) throw t.error instanceof Error ? t.error : new Error(codeOf(t.error));
  return t.value as T;
}

const RETRYABLE = ['NotLeader', 'EpochNotMatch', 'StaleCommand', 'KeyNotInRegion', 'RegionNotFound', 'ServerIsBusy'];

/** Puts through the leader of the key's region, retrying routing errors (setup, not the thing judged). */
async function put(sim: StoreSim, key: string, value: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    await advanceUntil(sim, () => sim.leaderFor(b(key)) !== undefined);
    const l = sim.leaderFor(b(key));
    assert.ok(l !== undefined, `no leader for ${key}`);
    try {
      await drive(sim, l.node.raw!.put({ context: sim.context(l.node, l.peer), key: b(key), value: b(value), ttlSeconds: '0' }));
      return;
    } catch (err) {
      if (!RETRYABLE.includes(codeOf(err))) throw err;
      await sim.advance();
    }
  }
  assert.fail(`put ${key} kept failing`);
}

/** Reads a key through the leader of the region holding it (null: absent). */
async function get(sim: StoreSim, key: string): Promise<string | null> {
  for (let attempt = 0; attempt < 30; attempt++) {
    await advanceUntil(sim, () => sim.leaderFor(b(key)) !== undefined);
    const l = sim.leaderFor(b(key));
    assert.ok(l !== undefined, `no leader for ${key}`);
    try {
      const r = await drive(sim, l.node.raw!.get({ context: sim.context(l.node, l.peer), key: b(key) }));
      return r.notFound === true ? null : String(r.value);
    } catch (err) {
      if (!RETRYABLE.includes(codeOf(err))) throw err;
      await sim.advance();
    }
  }
  return assert.fail(`get ${key} kept failing`);
}

function initializedRegions(node: SimNode): RegionMeta[] {
  return [...node.store!.peers.values()].filter((p) => p.storage.lastIndex() > 0).map((p) => p.region).sort((x, y) => Buffer.compare(x.startKey, y.startKey));
}

function describeRegion(r: RegionMeta): string {
  const peers = [...r.peers].sort((x, y) => x.id - y.id).map((p) => `${p.id}@${p.storeId}${p.role === 'learner' ? 'L' : ''}`).join(',');
  return `${r.id}[${r.startKey.toString('hex')},${r.endKey.toString('hex')}) v${r.epoch.version}c${r.epoch.confVer} {${peers}}`;
}

/** Every store's initialized regions tile the key space, and all stores agree on range, epoch and peers. */
function checkTiling(sim: StoreSim, what: string): RegionMeta[] {
  let first: string[] | null = null;
  for (const node of sim.nodes) {
    const regions = initializedRegions(node);
    assert.ok(regions.length > 0, `${what}: store ${node.storeId} holds no region`);
    assert.equal(regions[0]!.startKey.length, 0, `${what}: store ${node.storeId}: the first region starts at ${regions[0]!.startKey.toString('hex')}`);
    for (let i = 1; i < regions.length; i++) {
      assert.ok(regions[i - 1]!.endKey.equals(regions[i]!.startKey), `${what}: store ${node.storeId}: gap or overlap between ${describeRegion(regions[i - 1]!)} and ${describeRegion(regions[i]!)}`);
    }
    assert.equal(regions[regions.length - 1]!.endKey.length, 0, `${what}: store ${node.storeId}: the last region ends before +∞`);
    const described = regions.map(describeRegion);
    if (first === null) first = described;
    else assert.deepEqual(described, first, `${what}: stores ${sim.nodes[0]!.storeId} and ${node.storeId} disagree about the regions`);
  }
  return initializedRegions(sim.nodes[0]!);
}

/** Every replica of every region holds the same raw data in the region's range. */
async function checkReplicas(sim: StoreSim, what: string): Promise<void> {
  for (const region of initializedRegions(sim.nodes[0]!)) {
    const contents = await Promise.all(region.peers.map((p) => rawContents(sim.nodes[p.storeId - 1]!.engine, region)));
    for (let i = 1; i < contents.length; i++) assert.deepEqual(contents[i], contents[0], `${what}: replicas of region ${describeRegion(region)} differ (stores ${region.peers[0]!.storeId} and ${region.peers[i]!.storeId})`);
  }
}

/** Every replica applied its leader's last index, every region has a ready leader, nothing is merging or held. */
function isQuiet(sim: StoreSim): boolean {
  if (sim.nodes.some((n) => n.store === null || n.store.pendingDestroys > 0)) return false;
  const regions = sim.newestRegions();
  for (const node of sim.nodes) {
    for (const peer of node.store!.peers.values()) {
      if (peer.storage.lastIndex() === 0 || peer.mergeState !== null || peer.hasHeldEntries) return false;
      if (describeRegion(regions.get(peer.regionId)!) !== describeRegion(peer.region)) return false;
    }
  }
  for (const region of regions.values()) {
    const leader = sim.leader(region.id);
    if (leader === undefined) return false;
    const last = leader.store!.peers.get(region.id)!.storage.lastIndex();
    for (const p of region.peers) {
      const peer = sim.nodes[p.storeId - 1]!.store!.peers.get(region.id);
      if (peer === undefined || peer.peerId !== p.id || peer.applied !== last) return false;
    }
  }
  return true;
}

/** What every replica's engine holds for each key (null: absent), read directly (no raft). */
async function replicaValue(node: SimNode, key: string): Promise<string | null> {
  const v = liveRawValue(await node.engine.get(rawKey(b(key))), 0);
  return v === null ? null : v.toString();
}

/**
 * Settles, then checks tiling and agreement, identical replicas, and that every key of `expected`
 * reads back with its value through its region's leader and on every store's engine.
 */
async function checkSettled(sim: StoreSim, what: string, expected: ReadonlyMap<string, string>): Promise<RegionMeta[]> {
  assert.ok(await advanceUntil(sim, () => isQuiet(sim), 3_000), `${what}: the cluster did not settle`);
  assert.deepEqual(sim.fatals, [], `${what}: a store stopped itself`);
  const regions = checkTiling(sim, what);
  await checkReplicas(sim, what);
  for (const [key, value] of expected) {
    assert.equal(await get(sim, key), value, `${what}: ${key} through its leader`);
    for (const node of sim.nodes) assert.equal(await replicaValue(node, key), value, `${what}: ${key} on store ${node.storeId}`);
  }
  return regions;
}

function keyName(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(2, '0')}`;
}

/** Moves a region's leadership to `storeId` and waits for it to be ready there. */
async function leadFrom(sim: StoreSim, regionId: number, storeId: number): Promise<void> {
  for (let attempt = 0; attempt < 20 && sim.leader(regionId)?.storeId !== storeId; attempt++) {
    await advanceUntil(sim, () => sim.leader(regionId) !== undefined);
    sim.transferLeader(regionId, storeId);
    await advanceUntil(sim, () => sim.leader(regionId)?.storeId === storeId, 40);
  }
  assert.equal(sim.leader(regionId)?.storeId, storeId, `region ${regionId} is not led from store ${storeId}`);
}

interface TwoRegions {
  readonly sim: StoreSim;
  /** The region holding [start, a10) and the one holding [a10, end). */
  readonly left: number;
  readonly right: number;
  readonly expected: Map<string, string>;
}

/** A quiet cluster: keys a00..a19 written, split at a10, both regions led from store 1, b00..b19 written after. */
async function twoRegions(seed: number): Promise<TwoRegions> {
  const sim = await StoreSim.start(3, { rng: createRng(seed), dropRate: 0, maxDelaySteps: 1, snapshots: false });
  const expected = new Map<string, string>();
  assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
  for (let i = 0; i < 20; i++) {
    await put(sim, keyName('a', i), `v${i}`);
    expected.set(keyName('a', i), `v${i}`);
  }
  const out = await drive(sim, sim.split(7, [b('a10')]));
  assert.equal(out.kind, 'split');
  assert.ok(await advanceUntil(sim, () => isQuiet(sim), 1_000), 'the split did not settle');
  const regions = [...sim.newestRegions().values()].sort((x, y) => Buffer.compare(x.startKey, y.startKey));
  assert.equal(regions.length, 2);
  const [left, right] = [regions[0]!.id, regions[1]!.id];
  await leadFrom(sim, left, 1);
  await leadFrom(sim, right, 1);
  for (let i = 0; i < 20; i++) {
    await put(sim, keyName(i % 2 === 0 ? 'a' : 'b', i), `w${i}`);
    expected.set(keyName(i % 2 === 0 ? 'a' : 'b', i), `w${i}`);
  }
  assert.ok(await advanceUntil(sim, () => isQuiet(sim), 1_000), 'the writes did not settle');
  return { sim, left, right, expected };
}

/** Queues raw puts on a leader peer directly (no latches, no await): they join the next round's proposals. */
function proposePuts(peer: Peer, pairs: readonly (readonly [string, string])[]): Promise<ApplyResult>[] {
  return pairs.map(([k, v]) => peer.proposeWrite([{ kind: 'put', cf: 'raw', key: rawKey(b(k)), value: encodeRawValue(b(v), 0) }]));
}

function isMerged(sim: StoreSim, source: number): boolean {
  return sim.nodes.every((n) => n.store !== null && !n.store.peers.has(source));
}

/** The CommitMerge entries an intercepted message carries (their indexes). */
function commitMergeIndexes(entries: readonly { readonly index: number; readonly data: Uint8Array }[]): number[] {
  const out: number[] = [];
  for (const e of entries) {
    if (e.data.length === 0) continue;
    try {
      if (decodeCommand(e.data, 'sim').kind === 'commitMerge') out.push(e.index);
    } catch {
      // A conf change or another entry kind decodeCommand does not read: not a CommitMerge.
    }
  }
  return out;
}

// ───────────────────────────── focused scenarios ─────────────────────────────

describe('region merge in the store sim: focused scenarios', () => {
  it('(a) a plain merge after a split: one region on every store, every write before and after kept on every replica', async () => {
    for (const [source, into] of [['right', 'left'], ['left', 'right']] as const) {
      const t = await twoRegions(11);
      const { sim, expected } = t;
      try {
        const what = `seed 11 ${source} into ${into} ${replay(11)}`;
        await drive(sim, sim.merge(t[source], t[into]));
        assert.ok(await advanceUntil(sim, () => isMerged(sim, t[source]), 1_000), `${what}: the source was never retired`);
        for (let i = 0; i < 10; i++) {
          await put(sim, keyName(i % 2 === 0 ? 'a' : 'c', i), `x${i}`);
          expected.set(keyName(i % 2 === 0 ? 'a' : 'c', i), `x${i}`);
        }
        const regions = await checkSettled(sim, what, expected);
        assert.equal(regions.length, 1, `${what}: ${regions.map(describeRegion).join(' ')}`);
        assert.equal(regions[0]!.id, t[into]);
        assert.equal(sim.counters.mergesApplied, 3, what);
        assert.equal(sim.counters.mergeRollbacksApplied, 0, what);
      } finally {
        await sim.stop();
      }
    }
  });

  it('(b) a target replica whose source replica has not applied PrepareMerge (nor the writes before it) waits for it', async () => {
    for (const seed of [21, 22, 23]) {
      const t = await twoRegions(seed);
      const { sim, expected } = t;
      const what = `seed ${seed} ${replay(seed)}`;
      try {
        // Source: the right region. Its messages to store 3 that would tell it of any commit
        // past now are held: store 3's source replica gets the writes and PrepareMerge into its
        // log (so the leader sees it matched) but applies none of them. The target's messages
        // reach store 3, so its CommitMerge applies there while the source replica is behind.
        const sourcePeer = sim.nodes[0]!.store!.peers.get(t.right)!;
        const committedBefore = sourcePeer.applied;
        sim.intercept = (m) => (m.regionId === t.right && m.to === 3 && m.message.commit > committedBefore ? 'hold' : 'deliver');
        const pairs = Array.from({ length: 10 }, (_, i) => [keyName('a', 10 + i), `late${i}`] as const);
        const writes = proposePuts(sourcePeer, pairs).map((p) => track(p));
        const prepare = track(sim.merge(t.right, t.left));
        const waitsBefore = sim.counters.mergeWaits;
        const source3 = (): Peer | undefined => sim.nodes[2]!.store!.peers.get(t.right);
        const mergedOnStore3 = (): boolean => source3() === undefined;
        // The step in which store 3's target first waited began with store 3's source replica
        // having applied none of the writes; every message that could tell it of their commit was held.
        let appliedBeforeWait = -1;
        for (let i = 0; i < 400 && !mergedOnStore3(); i++) {
          const applied = source3()!.applied;
          await sim.advance();
          if (appliedBeforeWait < 0 && sim.counters.mergeWaits > waitsBefore) appliedBeforeWait = applied;
        }
        const sawWait = appliedBeforeWait >= 0 && appliedBeforeWait <= committedBefore;
        assert.ok(prepare.settled && prepare.error === null, `${what}: PrepareMerge failed: ${codeOf(prepare.error)}`);
        assert.ok(writes.every((w) => w.settled && w.error === null && w.value?.kind === 'ok'), `${what}: a write before PrepareMerge failed`);
        assert.ok(sawWait, `${what}: store 3's target never waited for its source replica (the scenario did not happen)`);
        assert.ok(mergedOnStore3(), `${what}: store 3 never retired its source replica`);
        // Still held: store 3 got the source's commit only through CommitMerge (raft commitTo).
        for (const [k, v] of pairs) expected.set(k, v);
        for (const [k, v] of pairs) assert.equal(await replicaValue(sim.nodes[2]!, k), v, `${what}: store 3's merged region lacks ${k}`);
        sim.intercept = null;
        const regions = await checkSettled(sim, what, expected);
        assert.equal(regions.length, 1, what);
        assert.ok(sim.counters.mergeWaits > 0, what);
      } finally {
        sim.intercept = null;
        await sim.stop();
      }
    }
  });

  for (const phase of ['prepare', 'commit'] as const) {
    for (const storeId of [1, 3]) {
      it(`(c) store ${storeId} crashed right after ${phase === 'prepare' ? 'PrepareMerge applied on it' : 'CommitMerge is durable in its log, before it applied'}: the merge completes, nothing is lost`, async () => {
        const seed = 30 + storeId + (phase === 'commit' ? 10 : 0);
        const what = `seed ${seed} ${replay(seed)}`;
        const t = await twoRegions(seed);
        const { sim, expected } = t;
        try {
          let commitMergeIndex = 0;
          sim.intercept = (m) => {
            if (m.regionId === t.left) for (const i of commitMergeIndexes(m.message.entries)) commitMergeIndex = i;
            return 'deliver';
          };
          const node = sim.nodes[storeId - 1]!;
          const sourcePeer = sim.nodes[0]!.store!.peers.get(t.right)!;
          const writes = proposePuts(sourcePeer, Array.from({ length: 5 }, (_, i) => [keyName('a', 10 + i), `pre${i}`] as const)).map((p) => track(p));
          void sim.merge(t.right, t.left).catch(() => undefined);
          const isDue = (): boolean => {
            if (node.store === null) return false;
            if (phase === 'prepare') return node.store.peers.get(t.right)?.mergeState !== null && node.store.peers.get(t.right)?.mergeState !== undefined;
            const target = node.store.peers.get(t.left);
            return commitMergeIndex > 0 && target !== undefined && target.storage.lastIndex() >= commitMergeIndex && target.applied < commitMergeIndex;
          };
          assert.ok(await advanceUntil(sim, isDue, 400), `${what}: the crash point was never reached`);
          await sim.crash(node);
          for (let i = 0; i < 15; i++) await sim.advance();
          await sim.restart(node);
          sim.intercept = null;
          assert.ok(await advanceUntil(sim, () => isMerged(sim, t.right), 2_000), `${what}: the source was never retired on every store`);
          for (let i = 0; i < 5; i++) if (writes[i]!.settled && writes[i]!.error === null && writes[i]!.value?.kind === 'ok') expected.set(keyName('a', 10 + i), `pre${i}`);
          else expected.delete(keyName('a', 10 + i)); // unknown outcome: not judged
          assert.ok(writes.every((w) => w.settled && w.error === null && w.value?.kind === 'ok') || storeId === 1, `${what}: a write before PrepareMerge failed with store ${storeId} crashing`);
          for (let i = 0; i < 6; i++) {
            await put(sim, keyName('d', i), `after${i}`);
            expected.set(keyName('d', i), `after${i}`);
          }
          const regions = await checkSettled(sim, what, expected);
          assert.equal(regions.length, 1, `${what}: ${regions.map(describeRegion).join(' ')}`);
        } finally {
          sim.intercept = null;
          await sim.stop();
        }
      });
    }
  }

  it('(d) a merging source refuses reads and writes on its leader with ServerIsBusy', async () => {
    const t = await twoRegions(51);
    const { sim, expected } = t;
    const what = `seed 51 ${replay(51)}`;
    try {
      // The target's group hears nothing: CommitMerge cannot commit, the source stays merging.
      sim.intercept = (m) => (m.regionId === t.left ? 'hold' : 'deliver');
      await drive(sim, sim.merge(t.right, t.left));
      for (let i = 0; i < 6; i++) {
        const node = sim.leader(t.right);
        const peer = node?.store?.peers.get(t.right);
        assert.ok(node !== undefined && peer !== undefined && peer.mergeState !== null, `${what}: the source is not merging`);
        const context = sim.context(node, peer);
        const read = track(node.raw!.get({ context, key: b('a12') }));
        const write = track(node.raw!.put({ context, key: b('a13'), value: b('refused'), ttlSeconds: '0' }));
        assert.ok(await advanceUntil(sim, () => read.settled && write.settled, 50), `${what}: a request on the merging source never answered`);
        assert.equal(codeOf(read.error), 'ServerIsBusy', `${what}: a read on the merging source got ${read.error === null ? `a value (${String(read.value?.value)})` : codeOf(read.error)}`);
        assert.equal(codeOf(write.error), 'ServerIsBusy', `${what}: a write on the merging source`);
      }
      sim.intercept = null;
      assert.ok(await advanceUntil(sim, () => isMerged(sim, t.right), 1_000), `${what}: the merge never completed`);
      const regions = await checkSettled(sim, what, expected);
      assert.equal(regions.length, 1, what);
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  it('(e) the target splits after PrepareMerge: the source rolls back, serves writes again, and the regions tile', async () => {
    for (const seed of [61, 62]) {
      const t = await twoRegions(seed);
      const { sim, expected } = t;
      const what = `seed ${seed} ${replay(seed)}`;
      try {
        // Store 3's source replica hears nothing: the leader's driver waits for its match, so no
        // CommitMerge is proposed while the target splits.
        sim.intercept = (m) => (m.regionId === t.right && m.to === 3 ? 'hold' : 'deliver');
        await drive(sim, sim.merge(t.right, t.left));
        const split = await drive(sim, sim.split(t.left, [b('a05')]));
        assert.equal(split.kind, 'split', what);
        const sourceLeader = (): Peer | undefined => sim.leader(t.right)?.store?.peers.get(t.right);
        assert.ok(await advanceUntil(sim, () => sourceLeader() !== undefined && sourceLeader()!.mergeState === null, 400), `${what}: the source never rolled back`);
        assert.ok(sim.counters.mergeRollbacksApplied > 0, what);
        sim.intercept = null;
        for (let i = 10; i < 20; i++) {
          await put(sim, keyName('a', i), `rolled${i}`);
          expected.set(keyName('a', i), `rolled${i}`);
        }
        const regions = await checkSettled(sim, what, expected);
        assert.equal(regions.length, 3, `${what}: ${regions.map(describeRegion).join(' ')}`);
        assert.ok(regions.some((r) => r.id === t.right), what);
        assert.equal(sim.counters.mergesApplied, 0, what);
      } finally {
        sim.intercept = null;
        await sim.stop();
      }
    }
  });
});
