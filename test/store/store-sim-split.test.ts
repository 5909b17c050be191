// Region split under faults, deterministic (issue F7: "a deterministic test of split and merge
// racing with conf change and leader transfer" — the split half; merge does not exist yet). Three
// in-process stores (store-sim.ts: real RaftStores, RegionSplitters, snapshots through the
// simulated network) run a workload of raw puts, deletes and compare-and-swaps over a small key
// space while, at seeded moments, regions split (at random keys and in the middle), leadership
// moves, a peer is removed and added back, and the network drops, delays and partitions while
// stores crash (also between a round's durable log write and its apply). After healing, judged
// against a model:
//   (a) every key reads back, through the leader of the region now holding it, a value the
//       per-key register model allows (the last acknowledged write, or a later write whose
//       outcome is unknown); no key holds what nobody wrote;
//   (b) on every store the initialized regions tile the key space, and every store agrees on
//       every region's range, epoch and peers;
//   (c) every replica of a region holds the same data in that region's range;
//   (d) each region's key count is within its drift budget of the records it holds: a split
//       carries the counts of the leader's scan, so a write that applies between that scan and
//       the split entry leaves the counts off by one (complementary, in a new region and the
//       derived one). The budget of a region is the number of writes whose invocation-to-answer
//       interval overlapped a split of a range that overlaps it, from the split's start to the
//       first step any store showed the region's next version (writes never answered count as
//       overlapping everything). A region with no such write is exact (±0);
//   (e) a write that answered EpochNotMatch never applied (the model treats it as not written;
//       a write proposed under an old epoch that applied anyway shows in (a) or (d)).
// Targeted scenarios follow. Replay a seed: FLOTILLA_STORE_SIM_SEED=n; more seeds:
// FLOTILLA_STORE_SIM_SPLIT_SEEDS=n (default 8).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { armFailpoint, createRng, decodeKey, disarmFailpoint, encodeKey, raftHardStateKey, rawKey, regionContains, type RegionMeta, type Rng } from '../../common/index.js';
import { CAMPAIGN_TRANSFER_CONTEXT, type Message } from '../../raft/index.js';
import { decodeHardState } from '../../raft-host/index.js';
import { encodeRawValue, liveRawValue } from '../../store/raw-value.js';
import { encodeWriteBatch, writeOpsBytes } from '../../store/write-batch-cmd.js';
import type { ApplyResult, Peer } from '../../store/peer.js';
import { decodeCommand, encodeBatchSplitCommand } from '../../store/raft-cmd.js';
import { rawContents, type SimNode, type SimSnapshotStream, StoreSim } from '../support/store-sim.js';
import { advanceUntil, CONF_CHANGE_STEPS_MAX, checkKeyCounts, checkNoOverlap, EpochLog, checkReplicas, checkTiling, getThroughLeader as get, isQuiet, putThroughLeader as put, codeOf, describeRegion, drive, initializedRegions, track, type Tracked } from '../support/store-sim-checks.js';

const STEPS = 360;
/** A sweep (a soak, not CI): FLOTILLA_STORE_SIM_SPLIT_SEEDS=n seeds from FLOTILLA_STORE_SIM_SPLIT_SEED_BASE (defaults 8 from 1). */
const SEED_COUNT = Number(process.env['FLOTILLA_STORE_SIM_SPLIT_SEEDS'] ?? '8');
const SEED_BASE = Number(process.env['FLOTILLA_STORE_SIM_SPLIT_SEED_BASE'] ?? '1');
const SEEDS = process.env['FLOTILLA_STORE_SIM_SEED'] !== undefined ? [Number(process.env['FLOTILLA_STORE_SIM_SEED'])] : Array.from({ length: SEED_COUNT }, (_, i) => SEED_BASE + i);
const KEYS = 48;
const keyName = (i: number): string => `key-${String(i).padStart(3, '0')}`;
const b = (s: string): Buffer => Buffer.from(s);
const replay = (seed: number): string => `(replay: FLOTILLA_STORE_SIM_SEED=${seed} node --test dist/test/store/store-sim-split.test.js)`;

// ───────────────────────────── helpers ─────────────────────────────

function applyOk(r: ApplyResult): void {
  if (r.kind === 'error') throw r.error;
}

/** Every peer of the region matches its leader's last index (the leader's view). */
function isCaughtUp(sim: StoreSim, regionId: number): boolean {
  const peer = sim.leader(regionId)?.store?.peers.get(regionId);
  if (peer === undefined) return false;
  const last = peer.storage.lastIndex();
  const progress = peer.raw.status().progress;
  if (progress === undefined) return false;
  // Within a few entries (writes keep coming): what PD's "no pending peer" check amounts to.
  return peer.region.peers.every((p) => progress.get(p.id)?.state === 'Replicate' && progress.get(p.id)!.match >= last - 4);
}


// ───────────────────────────── the model ─────────────────────────────

/** One client operation on a key: per key, operations run one at a time (the next starts after the last answered). */
interface KeyOp {
  readonly kind: 'put' | 'delete' | 'cas';
  /** Written value (null for a delete). */
  readonly value: string | null;
  /** CAS: the value expected (null: absent). */
  readonly expected: string | null;
  readonly invokedStep: number;
  answeredStep: number;
  outcome: 'pending' | 'ok' | 'notApplied' | 'unknown';
  /** CAS that answered: whether it swapped, and what it saw. */
  swapped: boolean;
  seen: string | null;
  code: string;
}

/**
 * Errors that prove the write did not apply: refused before it was proposed (routing, NotLeader,
 * StaleCommand before proposing), superseded in the log (StaleCommand), or refused at apply for
 * an epoch that moved on (EpochNotMatch: rule (e)). Anything else — a timeout, a destroyed
 * replica, a crash — leaves the outcome unknown.
 */
const NOT_APPLIED = new Set(['EpochNotMatch', 'KeyNotInRegion', 'StaleCommand', 'NotLeader']);

/**
 * The values a key may hold after its operations (a register with unknown outcomes): a write
 * known applied sets it, one of unknown outcome may have; a CAS that answered read the value it
 * reports, which must be a possible one. Returns the possible values, or why the history is impossible.
 */
function possibleValues(ops: readonly KeyOp[]): { readonly values: Set<string | null> } | { readonly error: string } {
  let values = new Set<string | null>([null]);
  for (const op of ops) {
    const written = op.kind === 'delete' ? null : op.value;
    if (op.outcome === 'notApplied') continue;
    if (op.outcome === 'unknown' || op.outcome === 'pending') {
      if (op.kind !== 'cas' || values.has(op.expected)) values.add(written);
      continue;
    }
    if (op.kind === 'cas') {
      if (op.swapped) {
        if (!values.has(op.expected)) return { error: `CAS ${op.value} swapped from ${String(op.expected)}, which the key could not hold then (${[...values].map(String).join(', ')})` };
        values = new Set([written]);
      } else {
        if (!values.has(op.seen)) return { error: `CAS ${op.value} saw ${String(op.seen)}, which the key could not hold then (${[...values].map(String).join(', ')})` };
        values = new Set([op.seen]);
      }
      continue;
    }
    values = new Set([written]);
  }
  return { values };
}

interface SplitWindow {
  readonly regionId: number;
  readonly fromVersion: number;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  readonly startStep: number;
  endStep: number;
}

function overlaps(a: { startKey: Buffer; endKey: Buffer }, c: { startKey: Buffer; endKey: Buffer }): boolean {
  const aEndsFirst = a.endKey.length > 0 && Buffer.compare(a.endKey, c.startKey) <= 0;
  const cEndsFirst = c.endKey.length > 0 && Buffer.compare(c.endKey, a.startKey) <= 0;
  return !aEndsFirst && !cEndsFirst;
}

// ───────────────────────────── the random run ─────────────────────────────

interface Coverage {
  acked: number; notApplied: number; epochNotMatch: number; unknown: number; casSwapped: number; casFailed: number;
  splitsProposed: number; splitsOk: number; splitsRefused: number; transfers: number;
  removesApplied: number; addsApplied: number; promotesApplied: number; confChangesRefused: number; confChangesAbandoned: number;
  regionsAtEnd: number; countedReplicas: number;
}

/** The conf change in progress: a store's peer of a region removed, then added back as learner, then promoted. */
interface MembershipChange { regionId: number; storeId: number; phase: 'remove' | 'addLearner' | 'addVoter'; inFlight: Tracked<ApplyResult> | null; sinceStep: number }

async function runSeed(seed: number): Promise<{ coverage: Coverage; counters: StoreSim['counters'] }> {
  const rng: Rng = createRng(seed);
  // The seed picks the fault parameters: tiny raft log GC on most seeds (followers caught up by
  // snapshot), a store default on some (caught up by log); PD's answer delay; drop rate.
  const countLimit = [6, 24, 10_000][seed % 3]!;
  // Half the seeds also compact what every follower holds once the log holds 512 bytes, well before the count limit.
  const thresholdBytes = Math.floor(seed / 3) % 2 === 0 ? 1 << 30 : 512;
  const sim = await StoreSim.start(3, {
    rng: rng.fork(), dropRate: [0.02, 0.05, 0.1][seed % 3]!, maxDelaySteps: 1 + (seed % 3), isLeaseReadEnabled: seed % 2 === 1,
    raftLogGc: { thresholdBytes, countLimit, hardCountLimit: countLimit * 3, checkTicks: 1 + (seed % 3) }, snapshots: true, pdDelayStepsMax: seed % 4,
  });
  const cov: Coverage = {
    acked: 0, notApplied: 0, epochNotMatch: 0, unknown: 0, casSwapped: 0, casFailed: 0, splitsProposed: 0, splitsOk: 0, splitsRefused: 0, transfers: 0,
    removesApplied: 0, addsApplied: 0, promotesApplied: 0, confChangesRefused: 0, confChangesAbandoned: 0, regionsAtEnd: 0, countedReplicas: 0,
  };
  const history = new Map<string, KeyOp[]>(Array.from({ length: KEYS }, (_, i) => [keyName(i), []]));
  const busy = new Set<string>();
  const splits: SplitWindow[] = [];
  let change: MembershipChange | null = null;
  const epochs = new EpochLog();
  let written = 0;
  const opRng = rng.fork();
  const faultRng = rng.fork();

  const issue = (key: string): void => {
    const ops = history.get(key)!;
    const roll = opRng.nextFloat();
    const kind: KeyOp['kind'] = roll < 0.65 ? 'put' : roll < 0.8 ? 'delete' : 'cas';
    // A CAS expects the last value written (often what the key holds) or absence.
    const last = [...ops].reverse().find((o) => o.outcome === 'ok' && o.kind !== 'cas');
    const expected = kind !== 'cas' ? null : opRng.chance(0.2) ? null : last?.value ?? null;
    const op: KeyOp = { kind, value: kind === 'delete' ? null : `v${seed}-${written++}`, expected, invokedStep: sim.step, answeredStep: -1, outcome: 'pending', swapped: false, seen: null, code: '' };
    // Mostly to the leader of the key's region; sometimes to any store (NotLeader, a stale epoch…).
    const l = opRng.chance(0.9) ? sim.leaderFor(b(key)) : undefined;
    if (l === undefined && opRng.chance(0.7)) return; // no leader now: mostly wait for one
    const node = l?.node ?? sim.nodes[opRng.nextInt(sim.nodes.length)]!;
    const peer = l?.peer ?? sim.peerFor(node, b(key));
    if (node.raw === null || peer === undefined) return;
    ops.push(op);
    busy.add(key);
    const context = sim.context(node, peer);
    const request: Promise<unknown> = kind === 'put'
      ? node.raw.put({ context, key: b(key), value: b(op.value!), ttlSeconds: '0' })
      : kind === 'delete'
        ? node.raw.delete({ context, key: b(key) })
        : node.raw.compareAndSwap({
          context, key: b(key), value: b(op.value!), ttlSeconds: '0', previousNotExist: expected === null, previousValue: expected === null ? Buffer.alloc(0) : b(expected),
        }).then((r) => {
          op.swapped = r.succeeded === true;
          op.seen = r.previousNotExist === true ? null : String(r.previousValue);
        });
    request.then(() => {
      op.outcome = 'ok';
      op.answeredStep = sim.step;
      busy.delete(key);
    }, (err: unknown) => {
      op.code = codeOf(err);
      op.outcome = NOT_APPLIED.has(op.code) ? 'notApplied' : 'unknown';
      op.answeredStep = sim.step;
      busy.delete(key);
    });
  };

  const startSplit = (): void => {
    const regions = [...sim.newestRegions().values()].filter((r) => sim.leader(r.id) !== undefined);
    if (regions.length === 0) return;
    const region = regions[faultRng.nextInt(regions.length)]!;
    // Half at a random key of the key space (inside the region or not: KeyNotInRegion is fine), half in the middle of its keys.
    const at = faultRng.chance(0.5) ? [b(keyName(faultRng.nextInt(KEYS)))] : undefined;
    cov.splitsProposed++;
    splits.push({ regionId: region.id, fromVersion: region.epoch.version, startKey: region.startKey, endKey: region.endKey, startStep: sim.step, endStep: Number.MAX_SAFE_INTEGER });
    sim.split(region.id, at).then((outcome) => {
      if (outcome.kind === 'split') cov.splitsOk++;
    }, () => {
      cov.splitsRefused++;
    });
  };

  const stepMembership = (): void => {
    if (change === null) {
      // A region with three voters: remove a follower's peer.
      const regions = [...sim.newestRegions().values()].filter((r) => r.peers.length === 3 && r.peers.every((p) => p.role === 'voter') && sim.leader(r.id) !== undefined);
      if (regions.length === 0) return;
      const region = regions[faultRng.nextInt(regions.length)]!;
      const leaderStore = sim.leader(region.id)!.storeId;
      const victims = region.peers.filter((p) => p.storeId !== leaderStore);
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
        if (c.phase === 'remove') {
          cov.removesApplied++;
          c.phase = 'addLearner';
        } else if (c.phase === 'addLearner') {
          cov.addsApplied++;
          c.phase = 'addVoter';
        } else {
          cov.promotesApplied++;
          change = null;
          return;
        }
      } else {
        cov.confChangesRefused++;
      }
    }
    // The region may have split meanwhile: the change goes on in the region now holding its start.
    const region = sim.newestRegions().get(c.regionId);
    if (region === undefined || sim.leader(c.regionId) === undefined) return;
    const has = region.peers.find((p) => p.storeId === c.storeId);
    if (c.phase === 'remove' && has === undefined) c.phase = 'addLearner';
    if (c.phase === 'addLearner' && has !== undefined) c.phase = has.role === 'learner' ? 'addVoter' : 'remove';
    if (c.phase === 'addVoter' && has?.role === 'voter') {
      change = null;
      return;
    }
    if (c.phase === 'remove' && sim.leader(c.regionId)!.storeId === c.storeId) return; // it leads now: wait
    // As PD: remove or promote only while every peer is caught up — the store does not refuse a
    // removal that leaves no live quorum (TiKV's "unsafe to perform conf change" check; reported).
    if ((c.phase === 'remove' || c.phase === 'addVoter') && !isCaughtUp(sim, c.regionId)) return;
    c.inFlight = track(sim.changePeer(c.regionId, c.phase, c.storeId));
    c.sinceStep = sim.step;
  };

  const noteSplitEnds = (): void => {
    epochs.note(sim);
    checkNoOverlap(sim, `seed ${seed} ${replay(seed)}`);
    const regions = sim.newestRegions();
    for (const s of splits) {
      if (s.endStep !== Number.MAX_SAFE_INTEGER) continue;
      const r = regions.get(s.regionId);
      if (r !== undefined && r.epoch.version > s.fromVersion) s.endStep = sim.step;
    }
  };

  try {
    for (let step = 0; step < STEPS; step++) {
      const ops = 1 + opRng.nextInt(3);
      for (let i = 0; i < ops; i++) {
        const key = keyName(opRng.nextInt(KEYS));
        if (!busy.has(key)) issue(key);
      }
      if (step < STEPS * 0.75) {
        const roll = faultRng.nextFloat();
        const up = sim.nodes.filter((n) => n.store !== null);
        if (roll < 0.008 && up.length === 3) {
          await sim.crash(up[faultRng.nextInt(up.length)]!);
        } else if (roll < 0.016 && up.length === 3) {
          up[faultRng.nextInt(up.length)]!.crashBeforeApply = true;
        } else if (roll < 0.022 && up.length === 3) {
          up[faultRng.nextInt(up.length)]!.engine.failNextSyncWrite = true;
        } else if (roll < 0.04) {
          const a = 1 + faultRng.nextInt(3);
          const c = 1 + ((a + faultRng.nextInt(2)) % 3);
          sim.setCut(a, c, !sim.cut.has(`${Math.min(a, c)}-${Math.max(a, c)}`));
        } else if (roll < 0.085) {
          startSplit();
        } else if (roll < 0.11) {
          const regions = [...sim.newestRegions().values()];
          const region = regions[faultRng.nextInt(regions.length)];
          if (region !== undefined && sim.transferLeader(region.id, 1 + faultRng.nextInt(3))) cov.transfers++;
        } else if (roll < 0.17) {
          stepMembership();
        }
      } else {
        sim.cut.clear();
      }
      for (const node of sim.nodes) {
        if (node.store === null && node.crashedAtStep >= 0 && step - node.crashedAtStep >= 10 + faultRng.nextInt(30)) {
          await sim.settleCrashed(node);
          node.crashedAtStep = -1;
          await sim.restart(node);
        }
      }
      await sim.advance();
      noteSplitEnds();
      if (step % 20 === 0) await sim.checkStalePeers(); // by id, as server.ts does: see bug A below
    }
    // Liveness: heal, restart, finish membership changes, give every region three voters again.
    sim.cut.clear();
    const restartCrashed = async (): Promise<void> => {
      for (const node of sim.nodes) {
        node.crashBeforeApply = false;
        node.engine.failNextSyncWrite = false;
        if (node.store !== null) continue;
        await sim.settleCrashed(node);
        await sim.restart(node);
      }
    };
    await restartCrashed();
    const repairs = new Map<number, Tracked<ApplyResult>>();
    let quiet = 0;
    for (let i = 0; i < 4_000 && quiet < 20; i++) {
      await sim.advance();
      noteSplitEnds();
      await restartCrashed();
      if (i % 20 === 0) await sim.checkStalePeers();
      const pending = change as MembershipChange | null;
      if (pending?.phase === 'remove' && pending.inFlight === null) change = null; // healing: no new removal
      if (change !== null) {
        stepMembership();
      } else {
        for (const region of sim.newestRegions().values()) {
          const pending = repairs.get(region.id);
          if ((pending !== undefined && !pending.settled) || sim.leader(region.id) === undefined) continue;
          const missing = sim.nodes.find((n) => !region.peers.some((p) => p.storeId === n.storeId));
          const learner = region.peers.find((p) => p.role === 'learner');
          if (learner !== undefined && isCaughtUp(sim, region.id)) repairs.set(region.id, track(sim.changePeer(region.id, 'addVoter', learner.storeId)));
          else if (learner === undefined && missing !== undefined) repairs.set(region.id, track(sim.changePeer(region.id, 'addLearner', missing.storeId)));
        }
      }
      const regions = [...sim.newestRegions().values()];
      const isWhole = change === null && regions.every((r) => r.peers.length === 3 && r.peers.every((p) => p.role === 'voter'));
      quiet = isWhole && isQuiet(sim) ? quiet + 1 : 0; // an operation still unanswered counts as unknown in the model
    }
    const stuck = sim.nodes.map((n) => `store ${n.storeId}: ${[...(n.store?.peers.values() ?? [])].map((p: Peer) => `${describeRegion(p.region)} applied ${p.applied}/${p.storage.lastIndex()}${p.isLeaderReady ? ` leader ${JSON.stringify([...(p.raw.status().progress ?? [])].map(([id, pr]) => [id, pr.state, pr.match, pr.next]))}` : ''}`).join('; ')}`).join('\n');
    assert.deepEqual(sim.fatals, [], `seed ${seed}: a store stopped itself ${replay(seed)}`);
    assert.deepEqual(sim.votesLost, [], `seed ${seed}: a restart lost a term or vote its answers vouched for ${replay(seed)}`);
    assert.deepEqual(sim.twoLeaders, [], `seed ${seed}: two leaders in one region and term ${replay(seed)}`);
    assert.deepEqual(sim.staleLeaseReads, [], `seed ${seed}: a lease read possible on a replica behind its region's commit index ${replay(seed)}`);
    assert.ok(quiet >= 20, `seed ${seed}: the cluster did not converge ${replay(seed)}\n${stuck}\nbusy keys: ${busy.size}`);

    // (b) tiling and agreement; and every region shape any store held ordered by its epoch.
    const regions = checkTiling(sim, `seed ${seed}`);
    epochs.check(`seed ${seed} ${replay(seed)}`);
    cov.regionsAtEnd = regions.length;
    // (c) replicas identical per region.
    await checkReplicas(sim, `seed ${seed}`);
    // (a) every key against the model; nothing written that nobody wrote.
    for (const [key, ops] of history) {
      const possible = possibleValues(ops);
      assert.ok('values' in possible, `seed ${seed}: ${key}: ${'error' in possible ? possible.error : ''} ${replay(seed)}`);
      const got = await get(sim, key);
      assert.ok(possible.values.has(got), `seed ${seed}: ${key} reads ${String(got)}; the model allows ${[...possible.values].map(String).join(', ')}; ops ${JSON.stringify(ops.map((o) => [o.kind, o.value, o.outcome, o.code]))} ${replay(seed)}`);
      for (const op of ops) {
        if (op.outcome === 'ok') cov.acked++;
        else if (op.outcome === 'notApplied') cov.notApplied++;
        else cov.unknown++;
        if (op.code === 'EpochNotMatch') cov.epochNotMatch++;
        if (op.kind === 'cas' && op.outcome === 'ok') {
          if (op.swapped) cov.casSwapped++;
          else cov.casFailed++;
        }
      }
    }
    for (const node of sim.nodes) {
      for (const kv of await rawContents(node.engine)) {
        const userKey = decodeKey(Buffer.from(kv.split('=')[0]!, 'hex').subarray(1)).key.toString();
        assert.ok(history.has(userKey), `seed ${seed}: store ${node.storeId} holds raw key ${userKey}, which nobody wrote`);
      }
    }
    // (d) key counts exact on every replica once the recounts after splits (key-recount.ts) end.
    cov.countedReplicas += await checkKeyCounts(sim, `seed ${seed} ${replay(seed)}`);
    return { coverage: cov, counters: { ...sim.counters } };
  } finally {
    await sim.stop();
  }
}


describe('region split under a simulated network, crashes, leader transfers and conf changes', () => {
  it(`keeps every acknowledged write, tiles the key space and agrees on every region over ${SEEDS.length} seeds`, async () => {
    const totals: Record<string, number> = {};
    const add = (o: object): void => {
      for (const [k, v] of Object.entries(o)) if (typeof v === 'number') totals[k] = (totals[k] ?? 0) + v;
    };
    for (const seed of SEEDS) {
      const out = await runSeed(seed);
      add(out.coverage);
      add(out.counters);
    }
    const t = (k: string): number => totals[k] ?? 0;
    const all = JSON.stringify(totals);
    console.log(`store sim split: ${all}`);
    // A run that proves nothing fails (TESTING.md): every fault and feature happened.
    const mustHappen = [
      'acked', 'notApplied', 'epochNotMatch', 'casSwapped', 'casFailed', 'splitsOk', 'splitsRefused', 'splitsApplied', 'transfers', 'removesApplied', 'addsApplied',
      'promotesApplied', 'crashes', 'crashesBeforeApply', 'snapshotsSent', 'snapshotsToNewRegions', 'snapshotsToUninitialized', 'snapshotsInstalled', 'gcCompactions',
    ];
    if (SEEDS.length >= 3) for (const k of mustHappen) assert.ok(t(k) > 0, `${k} never happened: ${all}`);
    assert.ok(t('acked') > 200 * SEEDS.length, `too few acknowledged writes: ${all}`);
    assert.ok(t('regionsAtEnd') >= 4 * SEEDS.length, `too few regions at the end: ${all}`);
  });
});

describe('random seeds that found bugs (beyond the default seeds)', () => {
  // 14: a snapshot taken before its region split installed over a region the split created
  // (bug E); 150 and 368: a committed entry of a tail being rewritten was applied before the
  // rewrite was durable, and a crash between left the replica's log refusing its leader for ever
  // (poll-loop.ts, durableEnd). The sims' timing (snapshot file I/O) can move a seed's path, so
  // these seeds guard the fixes without being the only test of them (bug E has its own).
  // Seed 1148 (found by a 2,500-seed sweep): a write answered NotLeader had applied — the peer
  // still thought it led when raft had stepped down, and raft forwarded the proposal to the new
  // leader (store peers now refuse instead: disableProposalForwarding). Seed 4234 (a 5,000-seed
  // sweep): a removed learner's initialized replica stayed for ever (a learner never campaigns,
  // so the stale check never saw it leaderless) and dropped every message to the newer peer
  // PD added on its store — a message to a newer peer now retires it, as an uninitialized one.
  // Seed 13249 (a 4,000-seed sweep): a store stopped between writing the apply batch in which its
  // replica applied its own removal and the destroy's tombstone; on restart the region state
  // named a membership without this store and the store could not start (it finishes the
  // destroy now).
  for (const seed of [14, 150, 368, 1148, 4234, 13249]) {
    it(`seed ${seed} keeps every safety property and converges`, async () => {
      await runSeed(seed);
    });
  }
});

describe('the split sim is deterministic', () => {
  it('a seed run twice gives the same outcome, every counter equal (snapshot file I/O included)', async () => {
    const seed = SEEDS[0]! + 1;
    const first = await runSeed(seed);
    const second = await runSeed(seed);
    assert.deepEqual(second, first, `seed ${seed} did not replay ${replay(seed)}`);
  });
});

// ───────────────────────────── targeted scenarios ─────────────────────────────

/** A quiet cluster with keys a00..a19 written; returns it started. */
async function loaded(seed: number, options: { readonly gcCountLimit?: number; readonly snapshots?: boolean } = {}): Promise<StoreSim> {
  const limit = options.gcCountLimit ?? 10_000;
  const sim = await StoreSim.start(3, {
    rng: createRng(seed), dropRate: 0, maxDelaySteps: 1, raftLogGc: { thresholdBytes: 1 << 30, countLimit: limit, hardCountLimit: limit * 3, checkTicks: 1 }, snapshots: options.snapshots ?? true,
  });
  assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
  for (let i = 0; i < 20; i++) await put(sim, `a${String(i).padStart(2, '0')}`, `v${i}`);
  return sim;
}

/** Waits until the cluster is quiet, then checks (b), (c), exact key counts and the given values. */
async function checkSettled(sim: StoreSim, what: string, expected: ReadonlyMap<string, string | null>, options: { readonly isCountExact: boolean }): Promise<RegionMeta[]> {
  assert.ok(await advanceUntil(sim, () => isQuiet(sim), 2_000), `${what}: the cluster did not settle`);
  assert.deepEqual(sim.fatals, [], `${what}: a store stopped itself`);
  assert.deepEqual(sim.votesLost, [], `${what}: a restart lost a term or vote its answers vouched for`);
  assert.deepEqual(sim.twoLeaders, [], `${what}: two leaders in one region and term`);
  assert.deepEqual(sim.staleLeaseReads, [], `${what}: a lease read possible on a replica behind its region's commit index`);
  const regions = checkTiling(sim, what);
  const epochs = new EpochLog(sim.region);
  epochs.note(sim);
  epochs.check(what);
  await checkReplicas(sim, what);
  for (const [key, value] of expected) assert.equal(await get(sim, key), value, `${what}: ${key}`);
  if (options.isCountExact) await checkKeyCounts(sim, what);
  return regions;
}

function written(n = 20): Map<string, string | null> {
  return new Map(Array.from({ length: n }, (_, i) => [`a${String(i).padStart(2, '0')}`, `v${i}`]));
}

describe('a write decided before a split never applies outside its region after it', () => {
  // Seen at seed 4 of the random run (through the exact key counts): a put routed to region 7,
  // queued while a split applied, went into the next round's entry stamped with the new epoch —
  // and applied, by region 7, to a key of the new region (on every replica; the new region's log
  // never saw it). Now proposeWrite and apply both check the keys against the region.
  it('refused at proposal and, stamped with the new epoch, at apply; the key stays untouched', async () => {
    const sim = await loaded(47);
    try {
      const leader = sim.leader()!;
      const parent = leader.store!.peers.get(7)!;
      const out = await drive(sim, sim.split(7, [b('a10')]));
      assert.equal(out.kind, 'split');
      const region = parent.region; // the shape after the split (this peer kept one side)
      const outside = encodeKey(b('a05')).compare(region.startKey) < 0 || (region.endKey.length > 0 && encodeKey(b('a05')).compare(region.endKey) >= 0) ? 'a05' : 'a15';
      const op = { kind: 'put' as const, cf: 'raw' as const, key: rawKey(b(outside)), value: encodeRawValue(b('stray'), 0) };
      // (1) At proposal: the region no longer holds the key.
      await assert.rejects(parent.proposeWrite([op]), (err: unknown) => codeOf(err) === 'EpochNotMatch');
      // (2) At apply: an entry with the current epoch and the stray key (what a command queued
      //     across the split's apply became) is refused on every replica.
      const data = encodeWriteBatch({ regionId: 7, peerId: parent.peerId, epoch: region.epoch }, [[op]], writeOpsBytes([op]));
      const result = await drive(sim, parent.propose(data));
      assert.equal(result.kind, 'error');
      assert.equal(result.kind === 'error' ? result.error.code : '', 'EpochNotMatch');
      const expected = written();
      await checkSettled(sim, 'stray write', expected, { isCountExact: true });
      for (const node of sim.nodes) assert.notEqual(String(liveRawValue(await node.engine.get(rawKey(b(outside))), 0)), 'stray', `store ${node.storeId} applied the stray write`);
    } finally {
      await sim.stop();
    }
  });
});

describe('a follower partitioned during a split catches up afterwards', () => {
  it('by log: it applies the split from its log and creates the new regions\' peers (no snapshot)', async () => {
    const sim = await loaded(41, { snapshots: false });
    try {
      const follower = sim.nodes.find((n) => n !== sim.leader())!;
      sim.isolate(follower.storeId, true);
      const out = await drive(sim, sim.split(7, [b('a10')]));
      assert.equal(out.kind, 'split');
      await put(sim, 'a05', 'after');
      await put(sim, 'a15', 'after');
      assert.equal(initializedRegions(follower).length, 1, 'the cut-off follower split already');
      sim.isolate(follower.storeId, false);
      const expected = written();
      expected.set('a05', 'after');
      expected.set('a15', 'after');
      const regions = await checkSettled(sim, 'by log', expected, { isCountExact: true });
      assert.equal(regions.length, 2);
      assert.equal(sim.counters.snapshotsSent, 0, 'caught up by snapshot, not by log');
    } finally {
      await sim.stop();
    }
  });

  it('by snapshot: with the log compacted, the parent\'s snapshot narrows it and the new region\'s snapshot fills an uninitialized peer', async () => {
    const sim = await loaded(43, { gcCountLimit: 4 });
    try {
      const follower = sim.nodes.find((n) => n !== sim.leader())!;
      sim.isolate(follower.storeId, true);
      const out = await drive(sim, sim.split(7, [b('a10')]));
      assert.equal(out.kind, 'split');
      // Enough writes on both sides that both logs compact past what the follower has.
      const expected = written();
      for (let i = 0; i < 20; i++) {
        const key = `a${String(i).padStart(2, '0')}`;
        await put(sim, key, `w${i}`);
        expected.set(key, `w${i}`);
      }
      sim.isolate(follower.storeId, false);
      await checkSettled(sim, 'by snapshot', expected, { isCountExact: true });
      assert.ok(sim.counters.snapshotsToNewRegions > 0 && sim.counters.snapshotsToUninitialized > 0, `the new region's snapshot path was not taken: ${JSON.stringify(sim.counters)}`);
    } finally {
      await sim.stop();
    }
  });
});

describe('a crash right after a split entry is durable, before it applies', () => {
  for (const who of ['follower', 'leader'] as const) {
    it(`on the ${who}: the restarted store applies the split from its log (once) and the regions agree`, async () => {
      const sim = await loaded(who === 'leader' ? 47 : 53, { snapshots: false });
      try {
        const leader = sim.leader()!;
        const victim = who === 'leader' ? leader : sim.nodes.find((n) => n !== leader)!;
        const peer = victim.store!.peers.get(7)!;
        const before = peer.storage.lastIndex();
        const split = track(sim.split(7, [b('a07'), b('a14')]));
        // The victim's next round after the split entry reached its log crashes before applying.
        assert.ok(await advanceUntil(sim, () => victim.store === null || victim.store.peers.get(7)!.storage.lastIndex() > before, 200), 'the split entry never reached the victim');
        if (victim.store !== null) {
          assert.ok(victim.store.peers.get(7)!.region.epoch.version === 1, 'the victim applied the split already');
          victim.crashBeforeApply = true;
        }
        assert.ok(await advanceUntil(sim, () => victim.store === null, 200), 'the victim did not crash');
        assert.ok(sim.counters.crashesBeforeApply > 0);
        await sim.settleCrashed(victim);
        await sim.restart(victim);
        await advanceUntil(sim, () => split.settled, 600);
        const regions = await checkSettled(sim, `crash of the ${who}`, written(), { isCountExact: true });
        assert.ok(regions.length === 3 || (who === 'leader' && regions.length === 1), `${regions.length} regions`);
      } finally {
        await sim.stop();
      }
    });
  }
});

describe('a split racing a conf change on the same region', () => {
  // Both proposed under one epoch, in one round. A split checks confVer and version, a conf
  // change confVer only (TiKV's rules): conf change first → the split fails with EpochNotMatch;
  // split first → the change applies to the derived region only and the new regions keep the old
  // membership. Either way every store agrees.
  for (const first of ['split', 'confChange'] as const) {
    it(`${first} first: the other fails with EpochNotMatch or applies to the derived region only; every store agrees`, async () => {
      const sim = await loaded(first === 'split' ? 59 : 61);
      try {
        const leader = sim.leader()!;
        const peer = leader.store!.peers.get(7)!;
        const victim = peer.region.peers.find((p) => p.storeId !== leader.storeId)!;
        const cmd = {
          regionId: 7, peerId: peer.peerId, epoch: peer.region.epoch, rightDerive: true,
          splits: [{ splitKey: encodeKey(b('a10')), newRegionId: sim.allocId(), newPeerIds: peer.region.peers.map(() => sim.allocId()), approximateKeys: 10 }],
        };
        const proposeSplit = (): Tracked<ApplyResult> => track(peer.propose(encodeBatchSplitCommand(cmd)));
        const proposeChange = (): Tracked<ApplyResult> => track(peer.proposeChangePeer('remove', victim));
        // A conf change goes into raft's log at once, a split at the next round's flush: for the
        // split to go first, the change is proposed once the split entry is in the log (not applied).
        let s: Tracked<ApplyResult>;
        let c: Tracked<ApplyResult>;
        if (first === 'split') {
          const last = peer.storage.lastIndex();
          s = proposeSplit();
          assert.ok(await advanceUntil(sim, () => peer.raw.status().hardState !== undefined && peer.storage.lastIndex() > last, 50));
          assert.equal(peer.region.epoch.version, 1, 'the split applied before the change was proposed');
          c = proposeChange();
        } else {
          c = proposeChange();
          s = proposeSplit();
        }
        assert.ok(await advanceUntil(sim, () => s.settled && c.settled), 'a proposal never settled');
        assert.equal(s.error, null);
        assert.equal(c.error, null);
        const splitResult = s.value!;
        const changeResult = c.value!;
        if (first === 'confChange') {
          applyOk(changeResult);
          assert.equal(splitResult.kind, 'error');
          assert.equal(splitResult.kind === 'error' ? splitResult.error.code : '', 'EpochNotMatch');
        } else {
          applyOk(splitResult);
          applyOk(changeResult);
        }
        // Give the removed store its peer back where it is missing, then judge.
        for (const region of sim.newestRegions().values()) {
          if (region.peers.some((p) => p.storeId === victim.storeId)) continue;
          applyOk(await drive(sim, sim.changePeer(region.id, 'addLearner', victim.storeId)));
          assert.ok(await advanceUntil(sim, () => isCaughtUp(sim, region.id), 1_000), 'the learner did not catch up');
          applyOk(await drive(sim, sim.changePeer(region.id, 'addVoter', victim.storeId)));
        }
        const regions = await checkSettled(sim, `${first} first`, written(), { isCountExact: true });
        assert.equal(regions.length, first === 'split' ? 2 : 1);
      } finally {
        await sim.stop();
      }
    });
  }
});

describe('leadership transferred right after a split', () => {
  it('of the derived and the new region: writes through the new leaders are kept, reads see them', async () => {
    const sim = await loaded(67, { gcCountLimit: 8 });
    try {
      const out = await drive(sim, sim.split(7, [b('a10')]));
      assert.ok(out.kind === 'split');
      const regionIds = out.regions.map((r) => r.id);
      // At once, before the new region's first entries settle: to another store each.
      for (const id of regionIds) {
        const holder = sim.believedLeaders(id)[0] ?? sim.nodes[0]!;
        sim.transferLeader(id, 1 + (holder.storeId % 3));
      }
      const expected = written();
      for (let i = 0; i < 20; i += 3) {
        const key = `a${String(i).padStart(2, '0')}`;
        await put(sim, key, `t${i}`);
        expected.set(key, `t${i}`);
      }
      await checkSettled(sim, 'transfer after split', expected, { isCountExact: true });
    } finally {
      await sim.stop();
    }
  });
});

describe('a write proposed under the old epoch (rule (e))', () => {
  it('queued behind the split in the same round, it fails with EpochNotMatch and writes nothing', async () => {
    const sim = await loaded(71);
    try {
      const leader = sim.leader()!;
      const peer = leader.store!.peers.get(7)!;
      const cmd = {
        regionId: 7, peerId: peer.peerId, epoch: peer.region.epoch, rightDerive: true,
        splits: [{ splitKey: encodeKey(b('a10')), newRegionId: sim.allocId(), newPeerIds: peer.region.peers.map(() => sim.allocId()), approximateKeys: 10 }],
      };
      const split = track(peer.propose(encodeBatchSplitCommand(cmd)));
      // Both keys: one now in the new region (left), one still in the derived region (right).
      const left = track(leader.raw!.put({ context: sim.context(leader, peer), key: b('a03'), value: b('stale'), ttlSeconds: '0' }));
      const right = track(leader.raw!.put({ context: sim.context(leader, peer), key: b('a13'), value: b('stale'), ttlSeconds: '0' }));
      assert.ok(await advanceUntil(sim, () => split.settled && left.settled && right.settled), 'never settled');
      applyOk(split.value!);
      assert.equal(codeOf(left.error), 'EpochNotMatch');
      assert.equal(codeOf(right.error), 'EpochNotMatch');
      await checkSettled(sim, 'old-epoch write', written(), { isCountExact: true });
    } finally {
      await sim.stop();
    }
  });
});

describe('a store crashed at any point around a split it applied', () => {
  it('loads a consistent set of regions (never overlapping), whatever prefix of its unsynced writes the crash keeps', async () => {
    for (let trial = 0; trial < 8; trial++) {
      const sim = await loaded(200 + trial, { snapshots: false });
      try {
        const victim = sim.nodes[trial % 3]!;
        const split = track(sim.split(7, [b('a05'), b('a12')]));
        // Crash the victim in the step where it applied the split (its writes may still be in flight).
        assert.ok(await advanceUntil(sim, () => victim.store!.peers.get(7)!.region.epoch.version > 1, 300), 'the victim never applied the split');
        await sim.crash(victim);
        await sim.restart(victim);
        checkNoOverlap(sim, `trial ${trial}, right after the restart`);
        await advanceUntil(sim, () => split.settled, 600);
        for (let i = 0; i < 50; i++) {
          await sim.advance();
          checkNoOverlap(sim, `trial ${trial}`);
        }
        await checkSettled(sim, `trial ${trial}`, written(), { isCountExact: true });
      } finally {
        await sim.stop();
      }
    }
  });
});

// ───────────────────────────── known bugs (outside split code) ─────────────────────────────
// Found by the random run above; all five are fixed and their tests run.

/** Removes store `storeId`'s peer of region 7 while the store is cut off; returns the removed peer. */
async function removeWhileIsolated(sim: StoreSim, storeId: number): Promise<void> {
  sim.isolate(storeId, true);
  assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined && sim.leader()!.storeId !== storeId), 'no leader away from the isolated store');
  applyOk(await drive(sim, sim.changePeer(7, 'remove', storeId)));
}

/**
 * The merge-form cases' start: a 3-store sim with snapshots and a tiny log GC, `writes` put, the
 * key space split at a10 into `target` (left) and `source` (right), both led from store 1.
 */
async function mergePair(writes: readonly [string, string][]): Promise<{ sim: StoreSim; target: number; source: number; expected: Map<string, string | null> }> {
  const sim = await StoreSim.start(3, { rng: createRng(97), dropRate: 0, maxDelaySteps: 1, snapshots: true, raftLogGc: { thresholdBytes: 1 << 30, countLimit: 4, hardCountLimit: 12, checkTicks: 1 } });
  try {
    assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
    const expected = new Map<string, string | null>(writes);
    for (const [key, value] of writes) await put(sim, key, value);
    const out = await drive(sim, sim.split(7, [b('a10')]));
    assert.ok(out.kind === 'split');
    assert.ok(await advanceUntil(sim, () => isQuiet(sim), 1_000), 'the split did not settle');
    const [target, source] = [...sim.newestRegions().values()].sort((x, y) => Buffer.compare(x.startKey, y.startKey)).map((r) => r.id) as [number, number];
    for (const id of [target, source]) {
      for (let i = 0; i < 20 && sim.leader(id)?.storeId !== 1; i++) {
        sim.transferLeader(id, 1);
        await advanceUntil(sim, () => sim.leader(id)?.storeId === 1, 40);
      }
      assert.equal(sim.leader(id)?.storeId, 1, `region ${id} is not led from store 1`);
    }
    return { sim, target, source, expected };
  } catch (err) {
    await sim.stop();
    throw err;
  }
}

/**
 * Merges `source` into `target` while store 3 applies PrepareMerge and then hears nothing of the
 * target (store 2 gets no target entry until store 3 prepared: CommitMerge cannot commit before);
 * then splits the merged region at `splitAt` if given, writes 30 keys into `expected`, and waits
 * until the target's log is compacted past store 3's replica. Returns store 3 (still cut off).
 */
async function mergeMissedByStore3(sim: StoreSim, target: number, source: number, expected: Map<string, string | null>, splitAt?: Buffer): Promise<SimNode> {
  const store3 = sim.nodes[2]!;
  const isPrepared3 = (): boolean => (store3.store?.peers.get(source)?.mergeState ?? null) !== null;
  sim.intercept = (m) => (m.regionId === target && (m.to === 3 || (m.to === 2 && m.message.entries.length > 0 && !isPrepared3())) ? (m.to === 3 ? 'drop' : 'hold') : 'deliver');
  await drive(sim, sim.merge(source, target));
  assert.ok(await advanceUntil(sim, isPrepared3, 300), 'store 3 never applied PrepareMerge');
  assert.ok(await advanceUntil(sim, () => sim.nodes.slice(0, 2).every((n) => !n.store!.peers.has(source)), 1_000), 'the merge did not complete on stores 1 and 2');
  await splitWriteAndCompactPast(sim, target, store3, expected, splitAt);
  return store3;
}

/**
 * After a merge into `target` that `store3` missed: splits the merged region at `splitAt` if
 * given, writes 30 keys into `expected`, and waits until the target's log is compacted past
 * store 3's replica (only a snapshot can bring it on now).
 */
async function splitWriteAndCompactPast(sim: StoreSim, target: number, store3: SimNode, expected: Map<string, string | null>, splitAt?: Buffer): Promise<void> {
  if (splitAt !== undefined) {
    const again = await drive(sim, sim.split(target, [splitAt]));
    assert.ok(again.kind === 'split', `split of the merged region: ${again.kind}`);
  }
  for (let i = 0; i < 30; i++) {
    const key = `a${String(i % 20).padStart(2, '0')}`;
    await put(sim, key, `m${i}`);
    expected.set(key, `m${i}`);
  }
  const behind = (): boolean => sim.leader(target)!.store!.peers.get(target)!.storage.truncatedIndex > store3.store!.peers.get(target)!.storage.lastIndex();
  assert.ok(await advanceUntil(sim, behind, 300), 'the target\'s log was never compacted past store 3');
}

/**
 * Advances until store 3 no longer holds the merge source (checking that no two regions overlap
 * at every step; with `withStaleChecks`, PD's stale-replica answers every 20 steps, as a server
 * asks), then checks the cluster settles into two regions holding `expected`.
 */
async function sourceRetiredAndSettled(sim: StoreSim, store3: SimNode, source: number, expected: Map<string, string | null>, what: string, options: { readonly steps: number; readonly withStaleChecks: boolean }): Promise<void> {
  for (let i = 0; i < options.steps && store3.store!.peers.has(source); i++) {
    await sim.advance();
    if (options.withStaleChecks && i % 20 === 19) await sim.checkStalePeers();
    checkNoOverlap(sim, what);
  }
  assert.ok(!store3.store!.peers.has(source), 'store 3 still holds the source replica');
  const regions = await checkSettled(sim, what, expected, { isCountExact: true });
  assert.equal(regions.length, 2);
}

describe('known bugs found by the split sim', () => {
  // Bug A (fixed): server.ts asked PD by start key; after a right_derive split that found the new
  // region, skipped, and the stale replica blocked the range on its store for ever. Now by id.
  it('a replica removed while cut off, whose region then split (right_derive), is destroyed once healed (bug A, first seen at seed 6)', async () => {
    const sim = await loaded(73);
    try {
      await removeWhileIsolated(sim, 3);
      const out = await drive(sim, sim.split(7, [b('a10')]));
      assert.equal(out.kind, 'split');
      sim.isolate(3, false);
      let isGone = false;
      for (let i = 0; i < 60 && !isGone; i++) {
        for (let j = 0; j < 10; j++) await sim.advance();
        await sim.checkStalePeers();
        isGone = sim.nodes[2]!.store!.peers.get(7) === undefined;
      }
      assert.ok(isGone, 'store 3 still holds its removed replica of region 7 (and its old range)');
    } finally {
      await sim.stop();
    }
  });

  // Bug B (fixed): an uninitialized peer knew only [itself, the first sender] (placeholderRegion),
  // so the transport dropped its answers to any other leader and it never got a snapshot. It now
  // learns every sender (peer.ts learnSender).
  it('an uninitialized peer answers a leader other than the one whose message created it (bug B, first seen at seed 6)', async () => {
    const sim = await loaded(79);
    try {
      const leader = sim.leader()!;
      const [other, target] = sim.nodes.filter((n) => n !== leader) as [SimNode, SimNode];
      applyOk(await drive(sim, sim.changePeer(7, 'remove', target.storeId)));
      assert.ok(await advanceUntil(sim, () => target.store!.peers.get(7) === undefined && target.store!.pendingDestroys === 0), 'the removed replica was not destroyed');
      const added = track(sim.changePeer(7, 'addLearner', target.storeId));
      // As soon as the target created its uninitialized peer from the leader's message, cut the
      // leader off from it and move leadership: the new leader must be able to fill it.
      assert.ok(await advanceUntil(sim, () => target.store!.peers.get(7) !== undefined, 300), 'no uninitialized peer was created');
      sim.setCut(leader.storeId, target.storeId, true);
      assert.ok(await advanceUntil(sim, () => added.settled));
      sim.transferLeader(7, other.storeId);
      assert.ok(await advanceUntil(sim, () => sim.leader()?.storeId === other.storeId), 'the leadership did not move');
      assert.ok(await advanceUntil(sim, () => (target.store!.peers.get(7)?.storage.lastIndex() ?? 0) > 0, 1_000), 'the new learner never got its snapshot');
    } finally {
      await sim.stop();
    }
  });

  // Finding D (fixed): the old leader's new peers campaigned before any follower had applied the
  // split, and the (pre-)vote requests were dropped, so each new region waited an election timeout
  // and was led from whichever store timed out first. Stores now keep such requests for the split.
  it('a quiet split: each new region is led from the old leader\'s store within a few steps, as onSplit\'s campaign intends (finding D)', async () => {
    const sim = await loaded(300, { snapshots: false });
    try {
      const leader = sim.leader()!;
      const out = await drive(sim, sim.split(7, [b('a04'), b('a08'), b('a12'), b('a16')]));
      assert.ok(out.kind === 'split');
      const created = out.regions.filter((r) => r.id !== 7);
      assert.ok(await advanceUntil(sim, () => created.every((r) => sim.leader(r.id) !== undefined), 5), 'a new region has no leader 5 steps after the split applied on its leader');
      for (const r of created) assert.equal(sim.leader(r.id), leader, `region ${r.id} is led from store ${sim.leader(r.id)!.storeId}, not the old leader's store ${leader.storeId}`);
    } finally {
      await sim.stop();
    }
  });

  // Bug C (fixed): the stale replica's tombstone was PD's region, which already listed the learner
  // added back on this store, so its messages (same confVer) were refused for ever. The tombstone
  // now sits at the earliest confVer of the removal (staleReplicaTombstone).
  it('a replica removed while cut off, and added back before it heard, is created again after PD\'s stale check destroys the old one (bug C, first seen at seed 20)', async () => {
    const sim = await loaded(83);
    try {
      await removeWhileIsolated(sim, 3);
      applyOk(await drive(sim, sim.changePeer(7, 'addLearner', 3)));
      sim.isolate(3, false);
      let isCreated = false;
      for (let i = 0; i < 60 && !isCreated; i++) {
        for (let j = 0; j < 10; j++) await sim.advance();
        await sim.checkStalePeers();
        const peer = sim.nodes[2]!.store!.peers.get(7);
        isCreated = peer !== undefined && peer.peerId !== 102 && peer.storage.lastIndex() > 0;
      }
      assert.ok(isCreated, 'the learner added back on store 3 never came to life');
    } finally {
      await sim.stop();
    }
  });

  // Bug E (fixed): a snapshot of region 7 taken before 7 split reached store 3 after store 3 had
  // installed a snapshot of a region the split created — and was installed over it: store 3
  // then held two initialized regions over one range (first seen at seed 14: "store 3 holds
  // overlapping regions 7[…,) v2 and 1013[…) v3"), and the install had cleared the new region's
  // range and written the old snapshot's data there. A store now refuses a snapshot whose range
  // overlaps a region it holds data of (TiKV's check_snapshot), and a leader does not offer a
  // snapshot taken before its region's epoch moved.
  it('a snapshot taken before its region split is refused by a store holding a region the split created (bug E, first seen at seed 14)', async () => {
    const sim = await loaded(89);
    try {
      const leader = sim.leader()!;
      const target = sim.nodes.find((n) => n !== leader)!;
      applyOk(await drive(sim, sim.changePeer(7, 'remove', target.storeId)));
      assert.ok(await advanceUntil(sim, () => target.store!.peers.get(7) === undefined && target.store!.pendingDestroys === 0), 'the removed replica was not destroyed');
      // Region 7's snapshot for the learner added back is taken at the old epoch and held in the network.
      const held: SimSnapshotStream[] = [];
      sim.interceptSnapshot = (s) => {
        if (s.region.id !== 7 || s.to !== target.storeId) return 'deliver';
        if (held.length === 0) held.push(s);
        return 'hold';
      };
      applyOk(await drive(sim, sim.changePeer(7, 'addLearner', target.storeId)));
      assert.ok(await advanceUntil(sim, () => held.length > 0, 300), 'no snapshot of region 7 was sent to the learner');
      // Region 7 splits; the new region's own snapshot fills the learner's peer of it; a write lands there.
      const out = await drive(sim, sim.split(7, [b('a10')]));
      assert.ok(out.kind === 'split');
      const created = out.regions.find((r) => r.id !== 7)!;
      assert.ok(await advanceUntil(sim, () => (target.store!.peers.get(created.id)?.storage.lastIndex() ?? 0) > 0, 600), 'the new region never reached the learner');
      await put(sim, 'a03', 'after');
      assert.ok(held[0]!.region.epoch.version < created.epoch.version && overlaps(held[0]!.region, created), 'the held snapshot is not of the region before its split');
      // The old snapshot of 7 arrives now: refused; the leader then sends one of 7 as it is now
      // (not the held one again, for the minute a held snapshot lives).
      sim.interceptSnapshot = null;
      const learnerOf7 = (): Peer | undefined => target.store!.peers.get(7);
      for (let i = 0; i < 100 && (learnerOf7()?.storage.lastIndex() ?? 0) === 0; i++) {
        await sim.advance();
        checkNoOverlap(sim, 'bug E');
      }
      assert.ok((learnerOf7()?.storage.lastIndex() ?? 0) > 0, 'the learner of region 7 got no snapshot within 100 steps');
      assert.ok(learnerOf7()!.region.epoch.version >= created.epoch.version, `the learner of region 7 holds ${describeRegion(learnerOf7()!.region)}`);
      for (let i = 0; i < 50; i++) {
        await sim.advance();
        checkNoOverlap(sim, 'bug E');
      }
      for (const region of sim.newestRegions().values()) {
        const learner = region.peers.find((p) => p.role === 'learner');
        if (learner === undefined) continue;
        assert.ok(await advanceUntil(sim, () => isCaughtUp(sim, region.id), 1_000), `the learner of region ${region.id} did not catch up`);
        applyOk(await drive(sim, sim.changePeer(region.id, 'addVoter', learner.storeId)));
      }
      const expected = written();
      expected.set('a03', 'after');
      const regions = await checkSettled(sim, 'bug E', expected, { isCountExact: true });
      assert.equal(regions.length, 2);
    } finally {
      sim.interceptSnapshot = null;
      await sim.stop();
    }
  });

  // Bug E's merge form (fixed with it): a store whose replica of a merge target fell behind the
  // compacted log while its replica of the source had applied PrepareMerge got the target's
  // snapshot — covering the source's range — instead of the CommitMerge entry. The snapshot was
  // installed over the source replica, which stayed, overlapping, for ever (nothing retires it
  // but CommitMerge). A snapshot now retires the regions it supersedes (its range covers theirs
  // at a higher version: their groups are gone) before it is installed, as CommitMerge would.
  it('a merge target\'s snapshot reaching a store that missed the merge retires the source replica there, then installs (bug E, merge form)', async () => {
    const { sim, target, source, expected } = await mergePair([['a00', 'v0']]);
    try {
      // Store 3 hears the source (it applies PrepareMerge) but nothing of the target from now on.
      // Store 2 gets no target entry until then: CommitMerge cannot commit, so the source leader
      // is not retired before it tells store 3 PrepareMerge committed. With skipBcastCommit a
      // follower learns a commit with the next append or heartbeat; with heartbeat skipping
      // (skipHeartbeatsWhileAppending) the next heartbeat is a whole interval after the append
      // that brought PrepareMerge, and CommitMerge retired the leader first: store 3's source
      // replica never applied it (no product bug — its target replica's CommitMerge would tell it
      // (commitTo), a superseding snapshot retires it either way — but not this test's scenario).
      const store3 = await mergeMissedByStore3(sim, target, source, expected);
      const installedBefore = sim.counters.snapshotsInstalled;
      sim.intercept = null;
      for (let i = 0; i < 100 && store3.store!.peers.has(source); i++) {
        await sim.advance();
        checkNoOverlap(sim, 'bug E, merge form');
      }
      assert.ok(!store3.store!.peers.has(source), 'store 3 still holds the source replica');
      const regions = await checkSettled(sim, 'bug E, merge form', expected, { isCountExact: true });
      assert.equal(regions.length, 1);
      assert.ok(sim.counters.snapshotsInstalled > installedBefore, 'store 3 caught up without a snapshot (the scenario did not happen)');
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  it('a merge target\'s snapshot taken after the merged region split again retires the source replica it only partly covers (bug G)', async () => {
    const { sim, target, source, expected } = await mergePair([['a00', 'v0']]);
    try {
      // As in the merge form of bug E: store 3 applies PrepareMerge and then hears nothing of the target.
      // The merged region splits inside the source's old range: the target's snapshot will cover
      // only part of the source replica store 3 still holds.
      const store3 = await mergeMissedByStore3(sim, target, source, expected, b('a15'));
      sim.intercept = null;
      await sourceRetiredAndSettled(sim, store3, source, expected, 'bug G', { steps: 300, withStaleChecks: false });
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  it('a source replica holding PrepareMerge unapplied when its group retired: the target\'s snapshot retires it (the other half of bug G)', async () => {
    const { sim, target, source, expected } = await mergePair([['a00', 'v0']]);
    try {
      // Store 3 takes the source's PrepareMerge into its log but never hears that it committed
      // (every later source message to it carries the commit and is dropped), and hears nothing
      // of the target: the merge completes on stores 1 and 2, and the source's group is gone
      // there. The merged region splits inside the source's old range and compacts past store 3,
      // so only a snapshot that covers part of store 3's source replica can bring it on.
      const store3 = sim.nodes[2]!;
      let prepareIndex = 0;
      const isPrepareMerge = (m: Message): boolean => m.entries.some((e) => {
        try {
          return e.data.length > 0 && decodeCommand(e.data, 'sim').kind === 'prepareMerge';
        } catch {
          return false;
        }
      });
      sim.intercept = (m) => {
        if (m.regionId === target) return m.to === 3 ? 'drop' : 'deliver';
        if (m.regionId !== source || m.to !== 3) return 'deliver';
        if (prepareIndex === 0 && isPrepareMerge(m.message)) prepareIndex = m.message.entries.find((e) => isPrepareMerge({ ...m.message, entries: [e] }))!.index;
        return prepareIndex > 0 && m.message.commit >= prepareIndex ? 'drop' : 'deliver';
      };
      await drive(sim, sim.merge(source, target));
      const holdsUnapplied = (): boolean => {
        const p = store3.store?.peers.get(source);
        return p !== undefined && prepareIndex > 0 && p.storage.lastIndex() >= prepareIndex && p.applied < prepareIndex && p.mergeState === null;
      };
      assert.ok(await advanceUntil(sim, () => holdsUnapplied() && sim.nodes.slice(0, 2).every((n) => !n.store!.peers.has(source)), 1_000), 'the merge did not complete on stores 1 and 2 with PrepareMerge unapplied on store 3');
      await splitWriteAndCompactPast(sim, target, store3, expected, b('a15'));
      assert.ok(holdsUnapplied(), 'store 3 learned that PrepareMerge committed (the scenario did not happen)');
      sim.intercept = null;
      await sourceRetiredAndSettled(sim, store3, source, expected, 'bug G, unapplied PrepareMerge', { steps: 400, withStaleChecks: true });
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  it('a merge target that split before CommitMerge (the merge rolls back): its snapshot leaves the merging source replica of a store that missed both (bug G\'s guard)', async () => {
    const { sim, target, source, expected } = await mergePair([['a00', 'v0'], ['a12', 'v12']]);
    try {
      // Store 3 hears nothing of the target; store 2 none of its entries while they are held:
      // the target commits nothing until released, so its split (proposed first) lands before
      // the CommitMerge, which then fails its epoch check and the merge rolls back.
      const store3 = sim.nodes[2]!;
      const isPrepared3 = (): boolean => (store3.store?.peers.get(source)?.mergeState ?? null) !== null;
      let isTargetHeld = true;
      let isSourceCut = false;
      sim.intercept = (m) => {
        if (m.regionId === target && m.to === 3) return 'drop';
        if (m.regionId === target && m.to === 2 && isTargetHeld && m.message.entries.length > 0) return 'hold';
        if (m.regionId === source && m.to === 3 && isSourceCut) return 'drop';
        return 'deliver';
      };
      const splitting = sim.split(target, [b('a05')]);
      for (let i = 0; i < 20; i++) await sim.advance();
      const merging = sim.merge(source, target).catch(() => undefined);
      assert.ok(await advanceUntil(sim, isPrepared3, 300), 'store 3 never applied PrepareMerge');
      isSourceCut = true; // store 3's source replica stays in its merging state
      isTargetHeld = false;
      const again = await drive(sim, splitting);
      assert.ok(again.kind === 'split', `split of the target: ${again.kind}`);
      await drive(sim, merging);
      assert.ok(await advanceUntil(sim, () => sim.counters.mergeRollbacksApplied > 0, 1_000), 'the merge did not roll back');
      assert.ok(isPrepared3(), 'store 3 left its merging state (the scenario did not happen)');
      for (let i = 0; i < 30; i++) {
        const key = `a0${i % 10}`;
        await put(sim, key, `m${i}`);
        expected.set(key, `m${i}`);
      }
      const behind = (): boolean => sim.leader(target)!.store!.peers.get(target)!.storage.truncatedIndex > store3.store!.peers.get(target)!.storage.lastIndex();
      assert.ok(await advanceUntil(sim, behind, 300), 'the target\'s log was never compacted past store 3');
      // The target's snapshot reaches store 3 while its source replica still merges.
      const installedBefore = sim.counters.snapshotsInstalled;
      sim.intercept = (m) => (m.regionId === source && m.to === 3 ? 'drop' : 'deliver');
      assert.ok(await advanceUntil(sim, () => sim.counters.snapshotsInstalled > installedBefore, 300), 'store 3 got no snapshot');
      assert.ok(store3.store!.peers.has(source), 'the target\'s snapshot retired a source that was never merged into it');
      sim.intercept = null;
      const regions = await checkSettled(sim, 'bug G guard', expected, { isCountExact: true });
      assert.equal(regions.length, 3);
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  // Bug F (fixed): both followers of a region skipped its split — each had its replica of the
  // parent filled by a snapshot taken after the split — so the region the split created existed
  // only on the store that applied it. Its peer there campaigned for ever: a store dropped a vote
  // request for a region it lacked unless an older parent of it here would create it by the split.
  // First seen at seed 4 of the random run, on a loaded machine (about 2 runs in 5). A vote
  // request now creates an uninitialized peer (TiKV's maybe_create_peer), which may vote (its log
  // is empty); the leader it helps elect fills it with a snapshot.
  it('a new region held by one store only (both followers skipped its split by snapshot) gets a leader and serves a write (bug F, first seen at seed 4)', async () => {
    const sim = await loaded(101, { gcCountLimit: 4 });
    try {
      const leader = sim.leader()!;
      const [acker, late] = sim.nodes.filter((n) => n !== leader) as [SimNode, SimNode];
      const parentOn = (n: SimNode): Peer => n.store!.peers.get(7)!;
      const isNarrowed = (n: SimNode): boolean => parentOn(n).region.epoch.version > 1;
      const expected = written();
      // (1) `late` hears nothing from here on; the parent's log is compacted past it.
      sim.isolate(late.storeId, true);
      for (let i = 0; i < 20; i++) {
        const key = `a${String(i).padStart(2, '0')}`;
        await put(sim, key, `w${i}`);
        expected.set(key, `w${i}`);
      }
      for (let i = 0; i < 10; i++) await sim.advance();
      // (2) The split commits with `acker`'s append, but `acker` never learns it is committed:
      //     from the leader's store it gets only region 7's messages that commit nothing new,
      //     then nothing at all, until a snapshot narrowed its parent.
      const c0 = parentOn(leader).raw.raft.raftLog.committed;
      let isAckerCut = false;
      sim.intercept = (m) => {
        if (m.from !== leader.storeId || m.to !== acker.storeId || isNarrowed(acker)) return 'deliver';
        return !isAckerCut && m.regionId === 7 && m.message.commit <= c0 ? 'deliver' : 'drop';
      };
      const split = track(sim.split(7, [b('a10')]));
      assert.ok(await advanceUntil(sim, () => isNarrowed(leader), 100), 'the split never applied on the leader');
      isAckerCut = true;
      assert.ok(parentOn(acker).storage.lastIndex() > c0 && !isNarrowed(acker), 'acker does not hold the split entry unapplied');
      // (3) `late` is back: a snapshot of the parent taken after the split fills it.
      sim.isolate(late.storeId, false);
      assert.ok(await advanceUntil(sim, () => isNarrowed(late), 300), 'late never got the parent\'s snapshot');
      // (4) Writes to the parent until `late`'s log starts after everything `acker` holds; then the
      //     parent's leadership moves to `late`, which knows nothing of acker's log (its
      //     heartbeats commit nothing there, its probes are refused): acker gets a snapshot too.
      for (let i = 10; i < 20 && parentOn(late).storage.truncatedIndex <= parentOn(acker).storage.lastIndex(); i++) {
        const key = `a${String(i).padStart(2, '0')}`;
        await put(sim, key, `x${i}`);
        expected.set(key, `x${i}`);
      }
      assert.ok(await advanceUntil(sim, () => parentOn(late).storage.truncatedIndex > parentOn(acker).storage.lastIndex(), 100), 'late\'s log was never compacted past acker\'s');
      for (let i = 0; i < 20 && sim.leader(7) !== late; i++) {
        sim.transferLeader(7, late.storeId);
        await advanceUntil(sim, () => sim.leader(7) === late, 40);
      }
      assert.equal(sim.leader(7), late, 'the parent\'s leadership did not move to late');
      assert.ok(await advanceUntil(sim, () => isNarrowed(acker), 300), 'acker never got the parent\'s snapshot');
      assert.ok(await advanceUntil(sim, () => split.settled, 100) && split.value?.kind === 'split', 'the split did not complete');
      const created = split.value.regions.find((r) => r.id !== 7)!;
      for (const n of [acker, late]) {
        assert.equal(n.store!.splitsApplied, 0, `store ${n.storeId} applied the split (the scenario did not happen)`);
        assert.equal(initializedRegions(n).length, 1, `store ${n.storeId} holds region ${created.id} already`);
      }
      // The new region now exists on the leader's store only; it must still elect a leader.
      sim.intercept = null;
      assert.ok(await advanceUntil(sim, () => sim.leader(created.id) !== undefined, 300), `region ${created.id}, held by store ${leader.storeId} only, never got a leader`);
      await put(sim, 'a03', 'after');
      expected.set('a03', 'after');
      const regions = await checkSettled(sim, 'bug F', expected, { isCountExact: true });
      assert.equal(regions.length, 2);
    } finally {
      sim.intercept = null;
      await sim.stop();
    }
  });

  // Bug F's fix, case by case, through a store's real entry point (onRaftMessage): which vote
  // requests for a region the store lacks create an uninitialized peer, and that it votes.
  it('a vote request for a region this store lacks creates an uninitialized peer that votes — not over a range held here, nor past a tombstone (bug F)', async () => {
    const sim = await loaded(103);
    try {
      const leader = sim.leader()!;
      const [other, bare] = sim.nodes.filter((n) => n !== leader) as [SimNode, SimNode];
      const stale = leader.store!.peers.get(7)!.region;
      applyOk(await drive(sim, sim.changePeer(7, 'remove', bare.storeId)));
      assert.ok(await advanceUntil(sim, () => bare.store!.peers.get(7) === undefined && bare.store!.pendingDestroys === 0), 'the removed replica was not destroyed');
      const tombstone = bare.store!.tombstones.get(7)!;
      const vote = (to: SimNode, regionId: number, type: 'MsgVote' | 'MsgPreVote', epoch: RegionMeta['epoch'], options: { readonly fromPeer?: number; readonly toPeer?: number; readonly isTransfer?: boolean } = {}): void => {
        const fromPeer = { id: options.fromPeer ?? regionId * 10 + 1, storeId: (to === other ? leader : other).storeId, role: 'voter' as const };
        const toPeer = { id: options.toPeer ?? regionId * 10 + 3, storeId: to.storeId, role: 'voter' as const };
        const message: Message = {
          type, from: fromPeer.id, to: toPeer.id, term: 9, logTerm: 5, index: 5, entries: [], commit: 0, reject: false, rejectHint: 0,
          context: options.isTransfer === true ? CAMPAIGN_TRANSFER_CONTEXT : new Uint8Array(0),
        };
        to.store!.onRaftMessage({ regionId, fromPeer, toPeer, message, epoch, isTombstone: false, startKey: encodeKey(b('a00')), endKey: encodeKey(b('a05')) });
      };
      const settleSteps = async (n = 2): Promise<void> => {
        for (let i = 0; i < n; i++) await sim.advance();
      };
      // A region nothing here overlaps: a MsgVote creates the peer and is answered at once (a
      // leader transfer's vote, which no lease holds back); the vote is durable.
      vote(bare, 900, 'MsgVote', { confVer: 1, version: 2 }, { isTransfer: true });
      await settleSteps();
      const created = bare.store!.peers.get(900);
      assert.ok(created !== undefined && created.storage.lastIndex() === 0, 'a MsgVote created no uninitialized peer');
      assert.equal(created.raw.raft.vote, 9001, 'the new peer did not grant the vote');
      const saved = await bare.engine.get(raftHardStateKey(900));
      assert.ok(saved !== null && decodeHardState(saved, 'region 900').vote === 9001, 'the vote is not durable');
      // A MsgPreVote creates one too.
      vote(bare, 901, 'MsgPreVote', { confVer: 1, version: 2 });
      await settleSteps();
      assert.ok(bare.store!.peers.get(901) !== undefined, 'a MsgPreVote created no uninitialized peer');
      // A removed replica's region: a campaign from its membership at or before the removal recreates nothing.
      vote(bare, 7, 'MsgPreVote', stale.epoch, { fromPeer: stale.peers.find((p) => p.storeId === other.storeId)!.id, toPeer: stale.peers.find((p) => p.storeId === bare.storeId)!.id });
      vote(bare, 7, 'MsgVote', tombstone.epoch, { fromPeer: stale.peers.find((p) => p.storeId === other.storeId)!.id, toPeer: stale.peers.find((p) => p.storeId === bare.storeId)!.id, isTransfer: true });
      await settleSteps();
      assert.equal(bare.store!.peers.get(7), undefined, 'a stale campaign recreated the removed replica');
      // A range region 7 holds here, at the same version: nothing is created (a newer version
      // would be a region 7's split creates, kept for it).
      for (const type of ['MsgVote', 'MsgPreVote'] as const) vote(other, 902, type, { confVer: 1, version: 1 }, { isTransfer: type === 'MsgVote' });
      await settleSteps();
      assert.equal(other.store!.peers.get(902), undefined, 'a peer was created over a range region 7 holds');
      assert.deepEqual(sim.fatals, []);
    } finally {
      await sim.stop();
    }
  });
});

describe('the key counts a split hands to its regions', () => {
  // With every recount held (failpoint), what each replica reports is the count the split command
  // carried: the keys of its range at the leader's scan. Judged by counting the written keys in
  // each resulting range; cuts at uneven places, so that counts handed to the wrong range show.
  it('each resulting region starts from the keys of its own range, on every replica, before any recount', async () => {
    const sim = await loaded(61);
    armFailpoint('store::key-recount-walk', 'pause');
    try {
      const out = await drive(sim, sim.split(7, [b('a03'), b('a11'), b('a12')]));
      assert.equal(out.kind, 'split');
      const regions = out.kind === 'split' ? out.regions : [];
      assert.equal(regions.length, 4);
      assert.ok(await advanceUntil(sim, () => sim.nodes.every((n) => regions.every((r) => n.store?.peers.get(r.id)?.region.epoch.version === r.epoch.version)), 2_000), 'the split did not apply on every store');
      const keys = [...written().keys()].map((k) => encodeKey(b(k)));
      for (const r of regions) {
        const want = keys.filter((k) => regionContains(r, k)).length;
        for (const node of sim.nodes) {
          const peer = node.store!.peers.get(r.id)!;
          assert.equal(peer.approximateKeys, want, `store ${node.storeId}, region ${r.id} [${describeRegion(r)}]: ${peer.approximateKeys} keys, its range holds ${want}`);
        }
      }
      disarmFailpoint('store::key-recount-walk');
      await checkSettled(sim, 'split counts', written(), { isCountExact: true });
    } finally {
      disarmFailpoint('store::key-recount-walk');
      await sim.stop();
    }
  });

  it('a region of fewer than two keys is not split by size: the outcome says why, the region stays', async () => {
    for (const n of [0, 1, 2]) {
      const sim = await StoreSim.start(3, { rng: createRng(70 + n), dropRate: 0, maxDelaySteps: 1, snapshots: false });
      try {
        assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
        for (let i = 0; i < n; i++) await put(sim, `k${i}`, `v${i}`);
        const out = await drive(sim, sim.split(7));
        if (n < 2) {
          assert.deepEqual(out, { kind: 'skipped', reason: 'the region holds too few keys to split' }, `${n} key(s)`);
          assert.equal(sim.newestRegions().size, 1, `${n} key(s): a region was split off`);
        } else {
          assert.equal(out.kind, 'split', `${n} keys: ${JSON.stringify(out)}`);
        }
      } finally {
        await sim.stop();
      }
    }
  });
});
