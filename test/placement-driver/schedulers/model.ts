// A model cluster for scheduler tests: generated stores (labels, health) and regions (peers,
// leaders, sizes, traffic) from a seed, a ClusterView of it, and the effect of operator steps
// applied one at a time — as the stores would execute them — so tests can check invariants after
// every step and run schedulers until they have nothing left to do.

import assert from 'node:assert/strict';
import { createRng, encodeKey, type Rng } from '../../../common/index.js';
import { DEFAULT_CLUSTER_CONFIG, type ClusterConfig } from '../../../placement-driver/cluster-config.js';
import type { OperatorStep } from '../../../placement-driver/operators.js';
import {
  isLivePeer, quorumOf, votersOf, type ClusterView, type OperatorPlan, type PeerMeta, type RegionMeta, type RegionView, type StoreHealth, type StoreView,
} from '../../../placement-driver/schedulers/index.js';

export interface ModelRegion {
  region: RegionMeta;
  leaderPeerId: number;
  approximateSizeBytes: number;
  approximateKeys: number;
  writeBytesPerSec: number;
  readBytesPerSec: number;
  versionAgeMs: number;
  membershipAgeMs: number;
  /** Members the leader reports not hearing from (a replica lost on a live store when long enough). */
  downPeers: { readonly peerId: number; readonly downMs: number }[];
  /** Members the leader reports behind its compacted log (waiting for a snapshot). */
  pendingPeerIds: number[];
  hasOperator: boolean;
}

export class ModelCluster {
  readonly stores = new Map<number, StoreView>();
  regions: ModelRegion[] = [];
  private nextPeerId = 100_000;

  constructor(public config: ClusterConfig) {}

  view(): ClusterView {
    const regions: RegionView[] = this.regions.map((r) => ({ ...r, isRecentlyScheduled: false }));
    return { config: this.config, stores: new Map(this.stores), regions };
  }

  newPeerId = (): number => this.nextPeerId++;

  byId(id: number): ModelRegion {
    const r = this.regions.find((x) => x.region.id === id);
    assert.ok(r !== undefined, `region ${id} exists in the model`);
    return r;
  }

  /** Applies one step the way a region leader would (the store skips nothing here: the model is ideal). */
  applyStep(regionId: number, step: OperatorStep): void {
    const r = this.byId(regionId);
    const region = r.region;
    const bumpConf = (peers: PeerMeta[]): void => {
      r.region = { ...region, peers, epoch: { ...region.epoch, confVer: region.epoch.confVer + 1 } };
    };
    switch (step.kind) {
      case 'addPeer':
        assert.ok(!region.peers.some((p) => p.storeId === step.peer.storeId), `region ${regionId}: a second peer on store ${step.peer.storeId}`);
        assert.ok(!region.peers.some((p) => p.id === step.peer.id), `region ${regionId}: peer id ${step.peer.id} reused`);
        assert.equal(step.peer.role, 'learner', 'schedulers add learners, then promote them');
        bumpConf([...region.peers, step.peer]);
        return;
      case 'promoteLearner': {
        const p = region.peers.find((x) => x.id === step.peer.id);
        assert.ok(p !== undefined && p.role === 'learner', `region ${regionId}: promote of ${step.peer.id}, which is not a learner`);
        bumpConf(region.peers.map((x) => (x.id === p.id ? { ...x, role: 'voter' } : x)));
        return;
      }
      case 'removePeer':
        assert.ok(region.peers.some((p) => p.id === step.peer.id), `region ${regionId}: remove of missing peer ${step.peer.id}`);
        assert.notEqual(step.peer.id, r.leaderPeerId, `region ${regionId}: the leader's own peer removed (stores refuse: transfer first)`);
        bumpConf(region.peers.filter((p) => p.id !== step.peer.id));
        r.downPeers = r.downPeers.filter((d) => d.peerId !== step.peer.id);
        r.pendingPeerIds = r.pendingPeerIds.filter((id) => id !== step.peer.id);
        return;
      case 'transferLeader': {
        const p = region.peers.find((x) => x.id === step.toPeer.id);
        assert.ok(p !== undefined && p.role === 'voter', `region ${regionId}: leadership to ${step.toPeer.id}, not a voter`);
        assert.ok(isLivePeer(this.view(), p), `region ${regionId}: leadership to a peer on a dead store`);
        assert.ok(!r.downPeers.some((d) => d.peerId === p.id), `region ${regionId}: leadership to a peer its leader does not hear`);
        assert.ok(!r.pendingPeerIds.includes(p.id), `region ${regionId}: leadership to a peer waiting for a snapshot`);
        r.leaderPeerId = p.id;
        return;
      }
      case 'merge': {
        const target = this.byId(step.targetRegionId);
        const start = Buffer.compare(Buffer.from(region.startKey), Buffer.from(target.region.startKey)) < 0 ? region.startKey : target.region.startKey;
        const end = region.endKey.length === 0 || target.region.endKey.length === 0 ? Buffer.alloc(0) : Buffer.compare(Buffer.from(region.endKey), Buffer.from(target.region.endKey)) > 0 ? region.endKey : target.region.endKey;
        target.region = { ...target.region, startKey: start, endKey: end, epoch: { ...target.region.epoch, version: Math.max(region.epoch.version, target.region.epoch.version) + 1 } };
        target.approximateSizeBytes += r.approximateSizeBytes;
        target.approximateKeys += r.approximateKeys;
        target.versionAgeMs = 0;
        this.regions = this.regions.filter((x) => x !== r);
        return;
      }
      case 'split':
        assert.fail('schedulers do not split');
    }
  }

  /** Applies every step of `plan`, calling `check` after each. */
  applyPlan(plan: OperatorPlan, check: (regionId: number) => void = () => undefined): void {
    const r = this.byId(plan.regionId);
    assert.deepEqual(r.region.epoch, plan.epoch, `plan for region ${plan.regionId} at a stale epoch`);
    for (const step of plan.steps) {
      this.applyStep(plan.regionId, step);
      if (this.regions.some((x) => x.region.id === plan.regionId)) check(plan.regionId);
    }
  }

  /** Time passes: every snapshot in flight lands (no member is pending any more). */
  landSnapshots(): void {
    for (const r of this.regions) r.pendingPeerIds = [];
  }

  /** The machine a store runs on, by the reference rule (referenceHost), never the code under test. */
  host(storeId: number): string {
    return referenceHost(this.stores.get(storeId), storeId);
  }

  /** Its leader has not heard `peerId` for maxStoreDownTimeMs or longer (the threshold counts). */
  isSilent(r: ModelRegion | RegionView, peerId: number): boolean {
    return r.downPeers.some((d) => d.peerId === peerId && d.downMs >= this.config.maxStoreDownTimeMs);
  }

  /** Working voters (on live stores, heard by their leader, not waiting for a snapshot) ≥ quorum of voters. */
  hasLiveQuorum(regionId: number): boolean {
    const m = this.byId(regionId);
    const voters = votersOf(m.region);
    const view = this.view();
    return voters.filter((p) => isLivePeer(view, p) && !m.downPeers.some((d) => d.peerId === p.id) && !m.pendingPeerIds.includes(p.id)).length >= quorumOf(voters.length);
  }
}

// The location rules written out here, independently of cluster-view.ts, so that tests judge the
// schedulers by them rather than by the functions they use: a store's machine is its non-empty
// `host` label, else the store alone; its zone is its non-empty `zone` label, else none.

export function referenceHost(store: StoreView | undefined, storeId: number): string {
  const host = store?.labels['host'];
  return host !== undefined && host.length > 0 ? `host=${host}` : `alone=${storeId}`;
}

export function referenceZone(store: StoreView | undefined): string | undefined {
  const zone = store?.labels['zone'];
  return zone !== undefined && zone.length > 0 ? zone : undefined;
}

export interface GenOptions {
  readonly storesMin?: number;
  readonly storesMax?: number;
  readonly regionsMax?: number;
  /** Probability that a store is not up (down, gone or offline). */
  readonly unhealthy?: number;
  /** Regions start healthy: exactly maxPeerCount voters on distinct hosts of up stores. */
  readonly settled?: boolean;
  /** Use host/zone labels (some stores sharing a host). */
  readonly labels?: boolean;
  readonly maxPeerCount?: number;
  /** Probability that a region's leader reports a peer on a live store down (silent: lost there, or not yet long enough). */
  readonly silent?: number;
}

const HEALTHS: readonly StoreHealth[] = ['down', 'gone', 'offline'];

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function regionKey(i: number): Buffer {
  return encodeKey(Buffer.from(`k${String(i).padStart(5, '0')}`));
}

/** A generated cluster. Gone stores are left out of `stores` half the time (unknown to PD). */
export function generateCluster(seed: number, options: GenOptions = {}): ModelCluster {
  const rng = createRng(seed);
  const maxPeerCount = options.maxPeerCount ?? pick(rng, [1, 3, 3, 3, 5]);
  const model = new ModelCluster({ ...DEFAULT_CLUSTER_CONFIG, maxPeerCount });
  const storeCount = rng.nextRange(options.storesMin ?? 1, options.storesMax ?? 9);
  const hostCount = Math.max(1, storeCount - rng.nextInt(3));
  const unknownStores: number[] = [];
  for (let id = 1; id <= storeCount; id++) {
    const isUnhealthy = rng.chance(options.unhealthy ?? 0.25);
    const health = isUnhealthy ? pick(rng, HEALTHS) : 'up';
    const labels: Record<string, string> = {};
    if (options.labels ?? rng.chance(0.5)) {
      // An empty label is no label: such a store is a machine of its own (and has no zone).
      labels['host'] = rng.chance(0.1) ? '' : `h${rng.nextInt(hostCount)}`;
      if (rng.chance(0.7)) labels['zone'] = rng.chance(0.1) ? '' : `z${rng.nextInt(3)}`;
    }
    if (health === 'gone' && rng.chance(0.5)) {
      unknownStores.push(id);
      continue;
    }
    model.stores.set(id, { id, labels, health, isHeard: health === 'up' ? rng.chance(0.9) : rng.chance(0.5) });
  }
  const allStoreIds = [...[...model.stores.keys()], ...unknownStores];
  const upHosts = new Map<string, number>();
  for (const s of model.stores.values()) if (s.health === 'up' && !upHosts.has(referenceHost(s, s.id))) upHosts.set(referenceHost(s, s.id), s.id);
  const regionCount = rng.nextRange(1, options.regionsMax ?? 40);
  let peerId = 1;
  for (let i = 0; i < regionCount; i++) {
    let storeIds: number[];
    if (options.settled === true) {
      storeIds = shuffled(rng, [...upHosts.values()]).slice(0, maxPeerCount);
      // Skew: many regions start on the first stores.
      if (rng.chance(0.5)) storeIds = [...upHosts.values()].slice(0, maxPeerCount);
    } else {
      storeIds = shuffled(rng, allStoreIds).slice(0, rng.nextRange(1, Math.min(allStoreIds.length, maxPeerCount + 2)));
    }
    if (storeIds.length === 0) continue;
    const peers: PeerMeta[] = storeIds.map((storeId) => ({ id: peerId++, storeId, role: options.settled !== true && rng.chance(0.1) ? 'learner' : 'voter' }));
    const voters = peers.filter((p) => p.role === 'voter');
    const leader = voters.length === 0 ? undefined : pick(rng, voters);
    // A member on an up store its leader does not hear: silent long enough to count (mostly), or not yet.
    const downPeers: ModelRegion['downPeers'] = [];
    const quiet = peers.filter((p) => p.id !== leader?.id && model.stores.get(p.storeId)?.health === 'up');
    const silentChance = options.silent ?? (options.settled === true ? 0 : 0.15);
    if (silentChance > 0 && quiet.length > 0 && rng.chance(silentChance)) {
      const maxDown = DEFAULT_CLUSTER_CONFIG.maxStoreDownTimeMs;
      // Silent (at the threshold exactly, or past it) three times in four; else reported but not yet silent (just below it, or anywhere below).
      const downMs = rng.chance(0.75) ? maxDown + (rng.chance(0.3) ? 0 : rng.nextInt(maxDown)) : maxDown - 1 - (rng.chance(0.3) ? 0 : rng.nextInt(maxDown - 1));
      downPeers.push({ peerId: pick(rng, quiet).id, downMs });
    }
    // A member waiting for a snapshot (not one already reported down).
    const pendingPeerIds: number[] = [];
    const caughtUp = quiet.filter((p) => !downPeers.some((d) => d.peerId === p.id));
    if (silentChance > 0 && caughtUp.length > 0 && rng.chance(0.1)) pendingPeerIds.push(pick(rng, caughtUp).id);
    model.regions.push({
      downPeers,
      pendingPeerIds,
      region: { id: 10_000 + i, startKey: i === 0 ? Buffer.alloc(0) : regionKey(i), endKey: i === regionCount - 1 ? Buffer.alloc(0) : regionKey(i + 1), epoch: { confVer: 1, version: 1 }, peers },
      leaderPeerId: leader === undefined || (options.settled !== true && rng.chance(0.05)) ? 0 : leader.id,
      approximateSizeBytes: rng.chance(0.3) ? 0 : rng.nextInt(64) * 1024 * 1024,
      approximateKeys: rng.nextInt(300_000),
      writeBytesPerSec: rng.chance(0.3) ? rng.nextInt(1024) * 1024 : rng.nextInt(1024),
      readBytesPerSec: rng.chance(0.3) ? rng.nextInt(1024) * 1024 : 0,
      versionAgeMs: rng.chance(0.5) ? 0 : 2 * DEFAULT_CLUSTER_CONFIG.splitMergeIntervalMs,
      membershipAgeMs: 24 * 3_600_000,
      hasOperator: options.settled !== true && rng.chance(0.05),
    });
  }
  return model;
}

/** Seeds for a property: FLOTILLA_SEED=<n> replays one; FLOTILLA_SEEDS=<count> runs more. */
export function seeds(defaultCount: number): number[] {
  const one = process.env['FLOTILLA_SEED'];
  if (one !== undefined && one !== '') return [Number(one)];
  const count = Number(process.env['FLOTILLA_SEEDS'] ?? defaultCount);
  const base = Number(process.env['FLOTILLA_SEED_BASE'] ?? 1);
  return Array.from({ length: count }, (_, i) => base + i);
}

/** Runs `body` for a seed, adding the replay command to any failure. */
export function withSeed(file: string, seed: number, body: () => void): void {
  try {
    body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new Error(`seed ${seed} failed: ${message}\n  replay: FLOTILLA_SEED=${seed} node --test dist/test/placement-driver/schedulers/${file}`, { cause: err });
  }
}
