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
// seeds: FLOTILLA_STORE_SIM_MERGE_SEEDS=n (default 12).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { armFailpoint, createRng, disarmFailpoint, FlotillaError, rawKey, regionContains, type RegionMeta, type Rng } from '../../common/index.js';
import type { ApplyResult, Peer } from '../../store/peer.js';
import { decodeCommand } from '../../store/raft-cmd.js';
import { encodeRawValue, liveRawValue } from '../../store/raw-value.js';
import { type SimNode, StoreSim } from '../support/store-sim.js';
import { advanceUntil, CONF_CHANGE_STEPS_MAX, checkKeyCounts, checkNoOverlap, EpochLog, checkReplicas, checkTiling, getThroughLeader as get, isQuiet, putThroughLeader as put, codeOf, describeRegion, drive, track, type Tracked } from '../support/store-sim-checks.js';

const b = (s: string): Buffer => Buffer.from(s);
const replay = (seed: number): string => `(replay: FLOTILLA_STORE_SIM_SEED=${seed} node --test dist/test/store/store-sim-merge.test.js)`;

// ───────────────────────────── helpers ─────────────────────────────

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
  assert.deepEqual(sim.votesLost, [], `${what}: a restart lost a term or vote its answers vouched for`);
  assert.deepEqual(sim.twoLeaders, [], `${what}: two leaders in one region and term`);
  assert.deepEqual(sim.staleLeaseReads, [], `${what}: a lease read possible on a replica behind its region's commit index`);
  const regions = checkTiling(sim, what);
  await checkReplicas(sim, what);
  await checkKeyCounts(sim, what);
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

/** Once a leader exists: writes a00..a19 (noted in `expected`) and splits region 7 at a10. */
async function writeAndSplit(sim: StoreSim, expected: Map<string, string>): Promise<void> {
  assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
  for (let i = 0; i < 20; i++) {
    await put(sim, keyName('a', i), `v${i}`);
    expected.set(keyName('a', i), `v${i}`);
  }
  const out = await drive(sim, sim.split(7, [b('a10')]));
  assert.equal(out.kind, 'split');
}

/** A quiet cluster: keys a00..a19 written, split at a10, both regions led from store 1, b00..b19 written after. */
async function twoRegions(seed: number, options: { readonly gcCountLimit?: number } = {}): Promise<TwoRegions> {
  const limit = options.gcCountLimit;
  const sim = await StoreSim.start(3, {
    rng: createRng(seed), dropRate: 0, maxDelaySteps: 1, snapshots: limit !== undefined,
    ...(limit === undefined ? {} : { raftLogGc: { thresholdBytes: 1 << 30, countLimit: limit, hardCountLimit: limit * 3, checkTicks: 1 } }),
  });
  const expected = new Map<string, string>();
  await writeAndSplit(sim, expected);
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
        // The crash point is a window of a few steps; a seed whose run leaps over it (PrepareMerge
        // and CommitMerge applied in one step) proves nothing, so the first seed of the series
        // that reaches it runs the case — the series is fixed, so the case stays deterministic.
        const baseSeed = 30 + storeId + (phase === 'commit' ? 10 : 0);
        for (let attempt = 0; ; attempt++) {
        const seed = baseSeed + 100 * attempt;
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
          if (!await advanceUntil(sim, isDue, 400)) {
            assert.ok(attempt < 4, `${what}: none of 5 seeds reached the crash point`);
            continue;
          }
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
          return;
        } finally {
          sim.intercept = null;
          await sim.stop();
        }
        }
      });
    }
  }

  it('(f) a split and a merge back while every key recount is held: the merged region recounts its union, every replica exact', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(13), dropRate: 0, maxDelaySteps: 1, snapshots: false });
    const expected = new Map<string, string>();
    armFailpoint('store::key-recount-walk', 'pause');
    try {
      await writeAndSplit(sim, expected);
      const [left, right] = [...sim.newestRegions().values()].sort((x, y) => Buffer.compare(x.startKey, y.startKey)).map((r) => r.id);
      for (let i = 0; i < 6; i++) {
        await put(sim, keyName('c', i), `w${i}`);
        expected.set(keyName('c', i), `w${i}`);
      }
      await drive(sim, sim.merge(right!, left!));
      assert.ok(await advanceUntil(sim, () => isMerged(sim, right!), 1_000), 'the source was never retired');
      assert.ok(sim.nodes.every((n) => n.store!.peers.get(left!)!.isKeyCountPending), 'the merged region\'s count is unknown while the recounts are held');
      await put(sim, keyName('a', 3), 'after');
      expected.set(keyName('a', 3), 'after');
      disarmFailpoint('store::key-recount-walk');
      await checkSettled(sim, 'held recounts', expected);
    } finally {
      disarmFailpoint('store::key-recount-walk');
      await sim.stop();
    }
  });

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

  it('(g) a replica still \'merging\' that installs a snapshot of its region leaves the merge (the snapshot is of a normal region)', async () => {
    // Seen in the random run with raft's skipHeartbeatsWhileAppending on (seed 104): a source
    // replica that applied PrepareMerge, was cut off while the merge rolled back, and caught up by
    // snapshot, kept its merge in memory — refusing reads and writes, its driver acting on a merge
    // that no longer ran. The state is set directly here (a cut-off replica that applied
    // PrepareMerge, as there); the snapshot install that must clear it is the real one.
    const t = await twoRegions(73, { gcCountLimit: 4 });
    const { sim, expected } = t;
    try {
      const replica = sim.nodes[2]!.store!.peers.get(t.right)!;
      sim.isolate(3, true);
      replica.mergeState = { minIndex: replica.applied, target: sim.nodes[0]!.store!.peers.get(t.left)!.region, commit: replica.applied, commitTerm: replica.raw.term };
      // Enough writes that the source's log compacts past what store 3 holds: it needs a snapshot.
      for (let i = 0; i < 20; i++) {
        await put(sim, keyName('b', i), `s${i}`);
        expected.set(keyName('b', i), `s${i}`);
      }
      const installed = sim.counters.snapshotsInstalled;
      sim.isolate(3, false);
      assert.ok(await advanceUntil(sim, () => sim.counters.snapshotsInstalled > installed, 1_000), 'store 3 never installed a snapshot');
      await checkSettled(sim, 'snapshot over a merge', expected);
      const after = sim.nodes[2]!.store!.peers.get(t.right)!;
      assert.equal(after.mergeState, null, 'store 3\'s replica still thinks it is merging');
    } finally {
      await sim.stop();
    }
  });
});

// ───────────────────────────── the random run ─────────────────────────────

const STEPS = 400;
// 20: since stop 28's fixes moved the runs' paths, seeds 101-112 alone apply no RollbackMerge (a
// run that proves nothing fails); 101-120 do. Seed 113 failed to converge now and then (1 run
// in 5): a source left 'merging into' a target that had merged away since — the driver waited
// for a target gone from its store; it rolls back now (merge.ts drive()).
// A sweep (a soak, not CI): FLOTILLA_STORE_SIM_MERGE_SEEDS=n seeds from FLOTILLA_STORE_SIM_MERGE_SEED_BASE.
const SEED_COUNT = Number(process.env['FLOTILLA_STORE_SIM_MERGE_SEEDS'] ?? '20');
const SEED_BASE = Number(process.env['FLOTILLA_STORE_SIM_MERGE_SEED_BASE'] ?? '101');
const SEEDS = process.env['FLOTILLA_STORE_SIM_SEED'] !== undefined ? [Number(process.env['FLOTILLA_STORE_SIM_SEED'])] : Array.from({ length: SEED_COUNT }, (_, i) => SEED_BASE + i);
const KEYS = 40;
const rk = (i: number): string => `key-${String(i).padStart(3, '0')}`;

/** One client write: per key one at a time (the next starts after the last answered). */
interface KeyOp { readonly value: string | null; outcome: 'pending' | 'ok' | 'notApplied' | 'unknown'; code: string }

/** Refused before proposing, or refused at apply for an epoch that moved on: never applied. Anything else is unknown. */
const NOT_APPLIED = new Set(['EpochNotMatch', 'KeyNotInRegion', 'StaleCommand', 'NotLeader']);

/** The values a key may hold: the last acknowledged write, or any later one of unknown outcome. */
function possibleValues(ops: readonly KeyOp[]): Set<string | null> {
  let values = new Set<string | null>([null]);
  for (const op of ops) {
    if (op.outcome === 'notApplied') continue;
    if (op.outcome === 'ok') values = new Set([op.value]);
    else values.add(op.value);
  }
  return values;
}

function isCaughtUp(sim: StoreSim, regionId: number): boolean {
  const peer = sim.leader(regionId)?.store?.peers.get(regionId);
  const progress = peer?.raw.status().progress;
  if (peer === undefined || progress === undefined) return false;
  const last = peer.storage.lastIndex();
  return peer.region.peers.every((p) => progress.get(p.id)?.state === 'Replicate' && progress.get(p.id)!.match >= last - 4);
}


interface Coverage {
  acked: number; notApplied: number; unknown: number; splitsOk: number; splitsRefused: number; transfers: number;
  mergesOrdered: number; mergesPrepared: number; mergesRefused: number; confChangesApplied: number; confChangesRefused: number;
  confChangesAbandoned: number; regionsAtEnd: number;
}

/** A conf change in progress: a follower's peer of a region removed, added back as learner, promoted. */
interface MembershipChange { regionId: number; storeId: number; phase: 'remove' | 'addLearner' | 'addVoter'; inFlight: Tracked<ApplyResult> | null; sinceStep: number }


async function runSeed(seed: number): Promise<{ coverage: Coverage; counters: StoreSim['counters'] }> {
  const rng: Rng = createRng(seed);
  const countLimit = [8, 10_000][seed % 2]!;
  // Half the seeds also compact what every follower holds once the log holds 512 bytes, well before the count limit.
  const thresholdBytes = Math.floor(seed / 2) % 2 === 0 ? 1 << 30 : 512;
  const sim = await StoreSim.start(3, {
    rng: rng.fork(), dropRate: [0.02, 0.05, 0.08][seed % 3]!, maxDelaySteps: 1 + (seed % 3), isLeaseReadEnabled: seed % 2 === 0,
    raftLogGc: { thresholdBytes, countLimit, hardCountLimit: countLimit * 3, checkTicks: 2 }, snapshots: true, pdDelayStepsMax: seed % 3,
  });
  const cov: Coverage = {
    acked: 0, notApplied: 0, unknown: 0, splitsOk: 0, splitsRefused: 0, transfers: 0, mergesOrdered: 0, mergesPrepared: 0, mergesRefused: 0,
    confChangesApplied: 0, confChangesRefused: 0, confChangesAbandoned: 0, regionsAtEnd: 0,
  };
  const history = new Map<string, KeyOp[]>(Array.from({ length: KEYS }, (_, i) => [rk(i), []]));
  const busy = new Set<string>();
  let change: MembershipChange | null = null;
  let written = 0;
  const opRng = rng.fork();
  const faultRng = rng.fork();
  const what = `seed ${seed} ${replay(seed)}`;
  const epochs = new EpochLog(sim.region);

  const issue = (key: string): void => {
    const l = sim.leaderFor(b(key));
    if (l === undefined || l.node.raw === null) return;
    const op: KeyOp = { value: opRng.chance(0.8) ? `v${seed}-${written++}` : null, outcome: 'pending', code: '' };
    history.get(key)!.push(op);
    busy.add(key);
    const context = sim.context(l.node, l.peer);
    const request: Promise<unknown> = op.value === null ? l.node.raw.delete({ context, key: b(key) }) : l.node.raw.put({ context, key: b(key), value: b(op.value), ttlSeconds: '0' });
    request.then(() => {
      op.outcome = 'ok';
      busy.delete(key);
    }, (err: unknown) => {
      op.code = codeOf(err);
      op.outcome = NOT_APPLIED.has(op.code) ? 'notApplied' : 'unknown';
      busy.delete(key);
    });
  };

  const startSplit = (regionId?: number): void => {
    const regions = [...sim.newestRegions().values()].filter((r) => sim.leader(r.id) !== undefined && (regionId === undefined || r.id === regionId));
    if (regions.length === 0) return;
    const region = regions[faultRng.nextInt(regions.length)]!;
    sim.split(region.id, [b(rk(faultRng.nextInt(KEYS)))]).then((o) => {
      if (o.kind === 'split') cov.splitsOk++;
      else cov.splitsRefused++;
    }, () => {
      cov.splitsRefused++;
    });
  };

  const startMerge = (): void => {
    const regions = [...sim.newestRegions().values()].sort((x, y) => Buffer.compare(x.startKey, y.startKey));
    if (regions.length < 2) return;
    const i = faultRng.nextInt(regions.length - 1);
    const [source, target] = faultRng.chance(0.5) ? [regions[i]!, regions[i + 1]!] : [regions[i + 1]!, regions[i]!];
    // As PD (a settled region, no pending peer): the store does not refuse a merge whose source
    // has a replica needing a snapshot, and then hangs (the seed 102 test at the end of this file).
    if (!isCaughtUp(sim, source.id) || !isCaughtUp(sim, target.id)) return;
    cov.mergesOrdered++;
    const roll = faultRng.nextFloat();
    const sourceLeader = sim.leader(source.id)!;
    if (roll < 0.35) {
      // A follower of the source hears of no commit past now for a while (its log still fills):
      // its store's target replica may reach CommitMerge first (merge.ts step 3 must wait).
      const followers = source.peers.filter((p) => p.storeId !== sourceLeader.storeId);
      const cap = sourceLeader.store!.peers.get(source.id)!.applied;
      lag = { regionId: source.id, storeId: followers[faultRng.nextInt(followers.length)]!.storeId, untilStep: sim.step + 5 + faultRng.nextInt(20), commitAbove: cap };
    } else if (roll < 0.6) {
      startSplit(target.id); // races the merge: after PrepareMerge applied it forces a rollback
    }
    sim.merge(source.id, target.id).then(() => {
      cov.mergesPrepared++;
    }, () => {
      cov.mergesRefused++;
    });
  };

  const stepMembership = (): void => {
    if (change === null) {
      const regions = [...sim.newestRegions().values()].filter((r) => r.peers.length === 3 && r.peers.every((p) => p.role === 'voter') && sim.leader(r.id) !== undefined);
      if (regions.length === 0) return;
      const region = regions[faultRng.nextInt(regions.length)]!;
      const victims = region.peers.filter((p) => p.storeId !== sim.leader(region.id)!.storeId);
      change = { regionId: region.id, storeId: victims[faultRng.nextInt(victims.length)]!.storeId, phase: 'remove', inFlight: null, sinceStep: sim.step };
    }
    const c = change;
    if (c.inFlight !== null && !c.inFlight.settled) {
      if (sim.step - c.sinceStep < CONF_CHANGE_STEPS_MAX) return;
      cov.confChangesAbandoned++;
      change = null;
      return;
    }
    if (c.inFlight !== null) {
      const r = c.inFlight;
      c.inFlight = null;
      if (r.error === null && r.value?.kind === 'ok') {
        cov.confChangesApplied++;
        if (c.phase === 'addVoter') {
          change = null;
          return;
        }
        c.phase = c.phase === 'remove' ? 'addLearner' : 'addVoter';
      } else {
        cov.confChangesRefused++;
      }
    }
    const region = sim.newestRegions().get(c.regionId);
    if (region === undefined) {
      change = null; // merged away (or never known here): the change ends with it
      return;
    }
    if (sim.leader(c.regionId) === undefined) return;
    const has = region.peers.find((p) => p.storeId === c.storeId);
    if (c.phase === 'remove' && has === undefined) c.phase = 'addLearner';
    if (c.phase === 'addLearner' && has !== undefined) c.phase = has.role === 'learner' ? 'addVoter' : 'remove';
    if (c.phase === 'addVoter' && has?.role === 'voter') {
      change = null;
      return;
    }
    if (c.phase === 'remove' && sim.leader(c.regionId)!.storeId === c.storeId) return;
    if ((c.phase === 'remove' || c.phase === 'addVoter') && !isCaughtUp(sim, c.regionId)) return;
    c.inFlight = track(sim.changePeer(c.regionId, c.phase, c.storeId));
    c.sinceStep = sim.step;
  };

  const restartCrashed = async (always: boolean): Promise<void> => {
    for (const node of sim.nodes) {
      if (node.store !== null || node.crashedAtStep < 0 && !always) continue;
      if (!always && sim.step - node.crashedAtStep < 10 + faultRng.nextInt(30)) continue;
      await sim.settleCrashed(node);
      node.crashedAtStep = -1;
      await sim.restart(node);
    }
  };

  // A slow link for one region's messages to one store (a lagging replica, as a busy store's
  // connection gives): its held messages go on when the lag ends.
  // With `commitAbove`, only messages telling of a commit past it are held.
  let lag: { regionId: number; storeId: number; untilStep: number; commitAbove: number } | null = null;
  sim.intercept = (m) => (lag !== null && sim.step < lag.untilStep && m.regionId === lag.regionId && m.to === lag.storeId && m.message.commit > lag.commitAbove ? 'hold' : 'deliver');
  try {
    for (let step = 0; step < STEPS; step++) {
      const ops = 1 + opRng.nextInt(3);
      for (let i = 0; i < ops; i++) {
        const key = rk(opRng.nextInt(KEYS));
        if (!busy.has(key)) issue(key);
      }
      if (step < STEPS * 0.75) {
        const roll = faultRng.nextFloat();
        const up = sim.nodes.filter((n) => n.store !== null);
        if (roll < 0.008 && up.length === 3) await sim.crash(up[faultRng.nextInt(3)]!);
        else if (roll < 0.014 && up.length === 3) up[faultRng.nextInt(3)]!.crashBeforeApply = true;
        else if (roll < 0.03) {
          const a = 1 + faultRng.nextInt(3);
          const c = 1 + ((a + faultRng.nextInt(2)) % 3);
          sim.setCut(a, c, !sim.cut.has(`${Math.min(a, c)}-${Math.max(a, c)}`));
        } else if (roll < 0.08) startSplit();
        else if (roll < 0.2) startMerge();
        else if (roll < 0.22) {
          const regions = [...sim.newestRegions().values()];
          const region = regions[faultRng.nextInt(regions.length)];
          if (region !== undefined) lag = { regionId: region.id, storeId: 1 + faultRng.nextInt(3), untilStep: sim.step + 2 + faultRng.nextInt(12), commitAbove: -1 };
        } else if (roll < 0.25) {
          const regions = [...sim.newestRegions().values()];
          const region = regions[faultRng.nextInt(regions.length)];
          if (region !== undefined && sim.transferLeader(region.id, 1 + faultRng.nextInt(3))) cov.transfers++;
        } else if (roll < 0.31) stepMembership();
      } else {
        sim.cut.clear();
      }
      await restartCrashed(false);
      await sim.advance();
      checkNoOverlap(sim, what);
      epochs.note(sim);
      if (step % 20 === 0) await sim.checkStalePeers();
    }
    // Liveness: heal, restart, finish the membership change, give every region three voters again.
    sim.cut.clear();
    lag = null;
    for (const node of sim.nodes) {
      node.crashBeforeApply = false;
      node.engine.failNextSyncWrite = false;
    }
    await restartCrashed(true);
    const repairs = new Map<number, Tracked<ApplyResult>>();
    let quiet = 0;
    for (let i = 0; i < 4_000 && quiet < 20; i++) {
      await sim.advance();
      checkNoOverlap(sim, what);
      epochs.note(sim);
      await restartCrashed(true);
      if (i % 20 === 0) await sim.checkStalePeers();
      const pending = change as MembershipChange | null;
      if (pending?.phase === 'remove' && pending.inFlight === null) change = null;
      if (change !== null) {
        stepMembership();
      } else {
        for (const region of sim.newestRegions().values()) {
          const inFlight = repairs.get(region.id);
          if ((inFlight !== undefined && !inFlight.settled) || sim.leader(region.id) === undefined) continue;
          const missing = sim.nodes.find((n) => !region.peers.some((p) => p.storeId === n.storeId));
          const learner = region.peers.find((p) => p.role === 'learner');
          if (learner !== undefined && isCaughtUp(sim, region.id)) repairs.set(region.id, track(sim.changePeer(region.id, 'addVoter', learner.storeId)));
          else if (learner === undefined && missing !== undefined) repairs.set(region.id, track(sim.changePeer(region.id, 'addLearner', missing.storeId)));
        }
      }
      const isWhole = change === null && [...sim.newestRegions().values()].every((r) => r.peers.length === 3 && r.peers.every((p) => p.role === 'voter'));
      quiet = isWhole && isQuiet(sim) ? quiet + 1 : 0;
    }
    const stuck = sim.nodes.map((n) => `store ${n.storeId}: ${[...(n.store?.peers.values() ?? [])].map((p: Peer) => `${describeRegion(p.region)} applied ${p.applied}/${p.storage.lastIndex()}${p.mergeState !== null ? ` merging into ${p.mergeState.target.id}` : ''}${p.hasHeldEntries ? ' HELD' : ''}${p.isLeaderReady ? ` leader ${JSON.stringify([...(p.raw.status().progress ?? [])].map(([id, pr]) => [id, pr.state, pr.match, pr.next]))}` : ''}`).join('; ')}`).join('\n');
    assert.deepEqual(sim.fatals, [], `${what}: a store stopped itself`);
  assert.deepEqual(sim.votesLost, [], `${what}: a restart lost a term or vote its answers vouched for`);
  assert.deepEqual(sim.twoLeaders, [], `${what}: two leaders in one region and term`);
  assert.deepEqual(sim.staleLeaseReads, [], `${what}: a lease read possible on a replica behind its region's commit index`);
    assert.ok(quiet >= 20, `${what}: the cluster did not converge\n${stuck}`);
    const regions = checkTiling(sim, what);
    epochs.check(what);
    cov.regionsAtEnd = regions.length;
    await checkReplicas(sim, what);
    await checkKeyCounts(sim, what);
    for (const [key, ops] of history) {
      const possible = possibleValues(ops);
      const got = await get(sim, key);
      assert.ok(possible.has(got), `${what}: ${key} reads ${String(got)}; the model allows ${[...possible].map(String).join(', ')}; ops ${JSON.stringify(ops.map((o) => [o.value, o.outcome, o.code]))}`);
      for (const node of sim.nodes) assert.equal(await replicaValue(node, key), got, `${what}: ${key} on store ${node.storeId}`);
      for (const op of ops) {
        if (op.outcome === 'ok') cov.acked++;
        else if (op.outcome === 'notApplied') cov.notApplied++;
        else cov.unknown++;
      }
    }
    return { coverage: cov, counters: { ...sim.counters } };
  } finally {
    await sim.stop();
  }
}

describe('region merge racing splits, leader transfers, conf changes, a lossy network and crashes', () => {
  it(`keeps every acknowledged write, tiles the key space and agrees on every region over ${SEEDS.length} seeds`, async () => {
    const totals: Record<string, number> = {};
    for (const seed of SEEDS) {
      const out = await runSeed(seed);
      for (const [k, v] of Object.entries({ ...out.coverage, ...out.counters })) totals[k] = (totals[k] ?? 0) + v;
    }
    const all = JSON.stringify(totals);
    console.log(`store sim merge: ${all}`);
    const t = (k: string): number => totals[k] ?? 0;
    // A run that proves nothing fails (TESTING.md).
    const mustHappen = ['acked', 'notApplied', 'splitsOk', 'transfers', 'mergesPrepared', 'mergesRefused', 'prepareMergesApplied', 'mergesApplied', 'mergeRollbacksApplied', 'mergeWaits', 'confChangesApplied', 'crashes', 'crashesBeforeApply', 'snapshotsInstalled'];
    if (SEEDS.length >= 3) for (const k of mustHappen) assert.ok(t(k) > 0, `${k} never happened: ${all}`);
    if (SEEDS.length >= 3) assert.ok(t('acked') > 150 * SEEDS.length, `too few acknowledged writes: ${all}`);
  });

  /** Seeds that found bugs (each failed on the code before its fix), with what each one shows. */
  const namedSeeds: readonly [number, string][] = [
    [151, 'a store restarted behind both halves of a merge applies PrepareMerge and CommitMerge in one round (the checker allows the source until the batch is written)'],
    [411, 'a source that applies its last writes in the batch where the target applies CommitMerge — the target counts them (key counts exact)'],
    [430, 'a source replica whose target here took a snapshot of its later shape (past the merge) is found merged away, not kept for ever'],
    [582, 'a merge target that fell behind here, merged and then split off its original range to a new region, is not retired by that region\'s snapshot — it lives on, and catches up'],
    [7495, 'a target that applied CommitMerge and split in the same apply batch — its source leaves once the batch is written (the per-step overlap check allows that window)'],
    [724, 'a CompactLog proposed while PrepareMerge was in flight lands after it and must not compact a merging source past a store that was down'],
    [21520, 'a CommitMerge proposed on a target replica that then installed a snapshot past it is answered at once (outcome unknown), not left waiting for ever: the merge rolls back'],
    [142, 'a get after the run, on a store whose leader had stepped down with six puts unanswered (their entries never came round again, and their proposals never time out in sim steps), is served: reads wait only for writes already answered'],
    [13241, 'a learner removed while cut off, whose region then merged away, keeps its last leader for ever (learners never campaign): it must still be found stale, else no snapshot of the merged region lands on its store'],
  ];
  for (const [seed, shows] of namedSeeds) {
    it(`seed ${seed}: ${shows}`, async () => {
      await runSeed(seed);
    });
  }

  it('a seed run twice gives the same outcome, every counter equal', async () => {
    const seed = SEEDS[0]!;
    const first = await runSeed(seed);
    const second = await runSeed(seed);
    assert.deepEqual(second, first, `seed ${seed} did not replay ${replay(seed)}`);
  });
});

/**
 * A sim with snapshots and a tiny raft log GC limit (4 entries, hard 12): region 7 split at a10,
 * both halves led from store 1 (left the target, right the source of the merges tried on it).
 */
async function pairLedFromStore1(seed: number): Promise<{ sim: StoreSim; left: number; right: number }> {
  const sim = await StoreSim.start(3, { rng: createRng(seed), dropRate: 0, maxDelaySteps: 1, snapshots: true, raftLogGc: { thresholdBytes: 1 << 30, countLimit: 4, hardCountLimit: 12, checkTicks: 1 } });
  try {
    assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
    await put(sim, 'a00', 'v0');
    const out = await drive(sim, sim.split(7, [b('a10')]));
    assert.equal(out.kind, 'split');
    assert.ok(await advanceUntil(sim, () => isQuiet(sim), 1_000), 'the split did not settle');
    const regions = [...sim.newestRegions().values()].sort((x, y) => Buffer.compare(x.startKey, y.startKey));
    const [left, right] = [regions[0]!.id, regions[1]!.id];
    await leadFrom(sim, left, 1);
    await leadFrom(sim, right, 1);
    return { sim, left, right };
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

// ───────────────────────────── product bugs found here ─────────────────────────────

describe('known bugs found by the merge sim', () => {
  // Found by the random run (seed 102): PrepareMerge was proposed while a source replica needed a
  // snapshot; a merging source generates none, so the merge hung for good. PrepareMerge now waits
  // until every source peer can catch up from the log (merge.ts prepare).
  it('a source replica that needs a snapshot: PrepareMerge is refused (ServerIsBusy) until it caught up, then the merge completes (first seen at seed 102)', async () => {
    const seed = 71;
    const what = `seed ${seed} ${replay(seed)}`;
    const { sim, left, right } = await pairLedFromStore1(seed);
    try {
      // Store 3 is cut off while the source's log moves past its hard GC limit: it needs a snapshot.
      sim.isolate(3, true);
      for (let i = 0; i < 30; i++) await put(sim, keyName('a', 10 + (i % 10)), `cut${i}`);
      assert.ok(await advanceUntil(sim, () => sim.nodes[0]!.store!.peers.get(right)!.storage.truncatedIndex > sim.nodes[2]!.store!.peers.get(right)!.storage.lastIndex(), 300), `${what}: the source's log was never compacted past store 3`);
      const refused = await drive(sim, sim.merge(right, left)).then(() => null, (err: unknown) => err);
      assert.ok(refused instanceof FlotillaError && refused.code === 'ServerIsBusy', `${what}: PrepareMerge with a peer needing a snapshot: ${String(refused)}`);
      assert.equal(sim.leader(right)?.store?.peers.get(right)?.mergeState, null, `${what}: the source is not merging`);
      sim.isolate(3, false);
      // Store 3 gets its snapshot (the source is not merging), then the merge goes through.
      assert.ok(await advanceUntil(sim, () => (sim.nodes[2]!.store!.peers.get(right)?.applied ?? 0) >= sim.nodes[0]!.store!.peers.get(right)!.storage.truncatedIndex, 2_000), `${what}: store 3 never caught up`);
      // PD resends its merge order until the source leader takes it (the leader's view of store
      // 3's progress catches up with its next append response).
      let isPrepared = false;
      for (let i = 0; i < 50 && !isPrepared; i++) {
        isPrepared = await drive(sim, sim.merge(right, left)).then(() => true, () => false);
        for (let j = 0; j < 10 && !isPrepared; j++) await sim.advance();
      }
      assert.ok(isPrepared, `${what}: PrepareMerge still refused after store 3 caught up`);
      assert.ok(await advanceUntil(sim, () => isMerged(sim, right), 2_000), `${what}: the merge did not complete after store 3 caught up`);
    } finally {
      await sim.stop();
    }
  });

  // A gap next to the one above: the leader's CompactLog was proposed (not applied) when the merge
  // was ordered, so the log still reached back to the cut-off store's match and PrepareMerge went
  // out — then the CompactLog applied first and compacted past it; the merging source generates
  // no snapshot, and the merge hung. PrepareMerge now waits for an in-flight CompactLog.
  it('a CompactLog in flight when the merge is ordered: PrepareMerge is refused (ServerIsBusy) until it applied, then the cut-off store gets its snapshot and the merge completes', async () => {
    const seed = 72;
    const what = `seed ${seed} ${replay(seed)}`;
    const { sim, left, right } = await pairLedFromStore1(seed);
    try {
      const leader = sim.nodes[0]!.store!.peers.get(right)!;
      // Store 3 is cut off; the source's CompactLog reaches nobody: it stays in flight.
      const isCompactLog = (data: Uint8Array): boolean => {
        try {
          return data.length > 0 && decodeCommand(data, 'sim').kind === 'compactLog';
        } catch {
          return false;
        }
      };
      sim.intercept = (m) => (m.regionId === right && m.message.entries.some((e) => isCompactLog(e.data)) ? 'hold' : 'deliver');
      sim.isolate(3, true);
      // Long enough for the leader to count store 3 as not recently active: it no longer holds the log back.
      for (let i = 0; i < 60; i++) await sim.advance();
      // Writes (not awaited: those behind the held CompactLog commit only once it is released).
      for (let i = 0; i < 30 && !leader.isCompactLogInFlight; i++) {
        void Promise.all(proposePuts(leader, [[keyName('a', 10 + (i % 10)), `cut${i}`]])).catch(() => undefined);
        for (let j = 0; j < 3; j++) await sim.advance();
      }
      assert.ok(await advanceUntil(sim, () => leader.isCompactLogInFlight, 300), `${what}: the source's leader never proposed CompactLog`);
      const truncatedBefore = leader.storage.truncatedIndex;
      const refused = await drive(sim, sim.merge(right, left)).then(() => null, (err: unknown) => err);
      assert.ok(refused instanceof FlotillaError && refused.code === 'ServerIsBusy', `${what}: PrepareMerge with a CompactLog in flight: ${String(refused)}`);
      assert.equal(leader.mergeState, null, `${what}: the source is not merging`);
      sim.intercept = null;
      assert.ok(await advanceUntil(sim, () => leader.storage.truncatedIndex > truncatedBefore, 300), `${what}: the CompactLog never applied`);
      assert.ok(leader.storage.truncatedIndex > sim.nodes[2]!.store!.peers.get(right)!.storage.lastIndex(), `${what}: the CompactLog did not compact past store 3 (the case did not happen)`);
      sim.isolate(3, false);
      // PD resends its merge order until the source leader takes it: store 3 gets its snapshot first.
      let isPrepared = false;
      for (let i = 0; i < 80 && !isPrepared; i++) {
        isPrepared = await drive(sim, sim.merge(right, left)).then(() => true, () => false);
        for (let j = 0; j < 10 && !isPrepared; j++) await sim.advance();
      }
      assert.ok(isPrepared, `${what}: PrepareMerge still refused`);
      assert.ok(await advanceUntil(sim, () => isMerged(sim, right), 2_000), `${what}: the merge did not complete`);
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  // Found while chasing seed 108 with heartbeat skipping on (raft's skipHeartbeatsWhileAppending):
  // there store 2's replica of region 7 held the entry removing it but never heard it committed,
  // and region 7 merged away before the stale check ran. This test needs no skipping: a replica
  // removed while cut off learns of it from PD (server.ts checkStalePeers, by id); once its region
  // merged away PD no longer knows the id, and the replica was kept for ever, holding its old
  // range. A snapshot of the region that absorbed it retires it (isSupersededBy) — but only one
  // covering its whole range: after that region splits, no piece does, and the store could host
  // none of them (their snapshots refused as overlapping). Now PD is asked by the replica's start
  // key when it does not know the id (peer-lifecycle.ts mergedAwayReplicaTombstone).
  it('a replica removed while cut off, whose region then merged away and the merged region split, is collected and the store gets the new regions', async () => {
    const { sim, left, right, expected } = await twoRegions(113, { gcCountLimit: 8 });
    try {
      const store3 = sim.nodes[2]!;
      sim.isolate(3, true);
      for (const id of [left, right]) {
        const r = await drive(sim, sim.changePeer(id, 'remove', 3));
        assert.equal(r.kind, 'ok', `removing store 3 from region ${id}`);
      }
      await drive(sim, sim.merge(right, left));
      assert.ok(await advanceUntil(sim, () => sim.nodes.slice(0, 2).every((n) => !n.store!.peers.has(right)), 1_000), 'the merge did not complete on stores 1 and 2');
      const out = await drive(sim, sim.split(left, [b('a15')]));
      assert.ok(out.kind === 'split');
      assert.ok(store3.store!.peers.has(right), 'store 3 lost its stale replica of the source before it could hear anything');
      sim.isolate(3, false);
      // PD's replica checker: every region gets store 3 back, as a learner first.
      const added = new Set<number>();
      let isDone = false;
      for (let i = 0; i < 100 && !isDone; i++) {
        for (let j = 0; j < 10; j++) await sim.advance();
        await sim.checkStalePeers();
        for (const region of sim.newestRegions().values()) {
          if (added.has(region.id) || region.peers.some((p) => p.storeId === 3) || sim.leader(region.id) === undefined) continue;
          added.add(region.id);
          void sim.changePeer(region.id, 'addLearner', 3).catch(() => added.delete(region.id));
        }
        const regions = [...sim.newestRegions().values()];
        isDone = !store3.store!.peers.has(right) && regions.every((r) => (store3.store!.peers.get(r.id)?.storage.lastIndex() ?? 0) > 0);
      }
      const held = [...store3.store!.peers.values()].map((p) => `${describeRegion(p.region)}${p.storage.lastIndex() === 0 ? ' (uninitialized)' : ''}`).join('; ');
      assert.ok(!store3.store!.peers.has(right), `store 3 still holds its removed replica of region ${right}, merged away: ${held}`);
      assert.ok(sim.counters.mergedAwayPeersDestroyed > 0, 'the by-key check did not destroy it');
      assert.ok(isDone, `store 3 never got the regions it was added to: ${held}`);
      for (const [key, value] of expected) assert.equal(await get(sim, key), value, key);
    } finally {
      await sim.stop();
    }
  });
  // The other side of that check: a source replica cut off between PrepareMerge and CommitMerge —
  // PrepareMerge in its log, unapplied, and its store's target replica behind CommitMerge. PD
  // knows neither the source's id nor (the merged region split at a key past the source's start)
  // the target at the source's start key. The source must be kept: once healed, the target here
  // applies CommitMerge, which needs it (raft-store.ts onCommitMerge) — destroyed, the target
  // replica would wait for ever.
  it('a source replica cut off with PrepareMerge in its log, whose target replica here lags behind CommitMerge, is kept though PD knows neither at its key, and retired by CommitMerge once healed', async () => {
    const seed = 114;
    const what = `seed ${seed} ${replay(seed)}`;
    const { sim, left, right, expected } = await twoRegions(seed);
    try {
      const store3 = sim.nodes[2]!;
      // Store 3 gets both logs (the source leader sees PrepareMerge matched there) but hears of no commit past now.
      const sourceCommitted = sim.nodes[0]!.store!.peers.get(right)!.applied;
      const targetCommitted = sim.nodes[0]!.store!.peers.get(left)!.applied;
      sim.intercept = (m) => (m.to === 3 && ((m.regionId === right && m.message.commit > sourceCommitted) || (m.regionId === left && m.message.commit > targetCommitted)) ? 'hold' : 'deliver');
      const prepare = track(sim.merge(right, left));
      assert.ok(await advanceUntil(sim, () => sim.nodes.slice(0, 2).every((n) => !n.store!.peers.has(right)), 1_000), `${what}: the merge did not complete on stores 1 and 2`);
      assert.ok(prepare.settled && prepare.error === null, `${what}: PrepareMerge failed: ${codeOf(prepare.error)}`);
      sim.isolate(3, true);
      sim.intercept = null;
      const source3 = store3.store!.peers.get(right)!;
      assert.ok(source3.mergeState === null && source3.storage.lastIndex() > source3.applied, `${what}: store 3's source replica applied PrepareMerge, or never got it`);
      // The merged region splits past the source's start key (a10): PD's region there is the new piece.
      const out = await drive(sim, sim.split(left, [b('a15')]));
      assert.ok(out.kind === 'split', what);
      const atKey = [...sim.newestRegions().values()].find((r) => regionContains(r, source3.region.startKey));
      assert.ok(!sim.newestRegions().has(right) && atKey !== undefined && atKey.id !== left && atKey.epoch.version > source3.region.epoch.version, `${what}: PD's view is not the one this test needs`);
      for (let i = 0; i < 20; i++) {
        for (let j = 0; j < 10; j++) await sim.advance();
        await sim.checkStalePeers();
      }
      assert.equal(source3.leaderId, 0, `${what}: store 3's source replica heard a leader: the check never looked at it`);
      assert.equal(store3.store!.peers.get(right), source3, `${what}: store 3's source replica was destroyed while its target replica there lags behind CommitMerge`);
      sim.isolate(3, false);
      assert.ok(await advanceUntil(sim, () => !store3.store!.peers.has(right) && (store3.store!.peers.get(atKey.id)?.storage.lastIndex() ?? 0) > 0, 2_000), `${what}: store 3's target never applied CommitMerge and the split`);
      const regions = await checkSettled(sim, what, expected);
      assert.equal(regions.length, 2, `${what}: ${regions.map(describeRegion).join(' ')}`);
      assert.equal(sim.counters.mergedAwayPeersDestroyed, 0, what);
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });
});
