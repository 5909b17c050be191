// What a scheduler sees: a frozen, plain-data picture of the cluster taken at the start of a
// scheduling round — stores with their health and location, regions with their leader, size,
// traffic and whether something is already changing them. Schedulers are pure functions of this
// view (plus a peer-id source and an Rng), so their decisions are unit-tested on generated
// clusters without a PD process (test/placement-driver/schedulers/).
//
// Store health, decided once here so every scheduler agrees:
//
//   unknown to PD, or tombstone ───────────────────────────► gone    (its replicas must be rebuilt)
//   no heartbeat for maxStoreDownTimeMs ───────────────────► down    (likewise)
//   state offline (an admin is removing it), heartbeating ─► offline (replicas move off, alive)
//   otherwise ──────────────────────────────────────────────► up      (may take new replicas once
//                                                                       this leader heard from it)
//
// A peer on a live store its region's leader reports not hearing from for maxStoreDownTimeMs is
// silent (isSilentPeer): lost there, it is replaced as one on a down store would be.

import type { PeerMeta, RegionEpoch, RegionMeta, StoreMeta } from '../../common/index.js';
import type { ClusterConfig } from '../cluster-config.js';
import type { OperatorStep } from '../operators.js';

export type StoreHealth = 'up' | 'offline' | 'down' | 'gone';

export interface StoreView {
  readonly id: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly health: StoreHealth;
  /** This PD leader has had a heartbeat from it: only such stores receive new replicas. */
  readonly isHeard: boolean;
}

export interface RegionView {
  readonly region: RegionMeta;
  /** The reporting leader's peer id; 0 when no leader has reported. */
  readonly leaderPeerId: number;
  readonly approximateSizeBytes: number;
  readonly approximateKeys: number;
  /** Traffic rates from the last region heartbeat (bytes/s; 0 when not reported). */
  readonly writeBytesPerSec: number;
  readonly readBytesPerSec: number;
  /** How long ago (ms) this leader first saw the region at its current epoch version. */
  readonly versionAgeMs: number;
  /** How long ago (ms) this leader first saw the region at its current conf version (membership). */
  readonly membershipAgeMs: number;
  /**
   * Members its leader reported not hearing from (store/peer-liveness.ts), with how long, ms: a
   * replica lost on a store that is itself up. Empty when none or no leader reported.
   */
  readonly downPeers: readonly { readonly peerId: number; readonly downMs: number }[];
  /** Members its leader reported behind its compacted log (a snapshot must catch them up). */
  readonly pendingPeerIds: readonly number[];
  /** An operator is queued for it, or it is the target of a queued merge. */
  readonly hasOperator: boolean;
  /** A balance or hot-region operator was created for it within the cool-down. */
  readonly isRecentlyScheduled: boolean;
  /**
   * Its replicas and leader once its queued operator has run (the operator's influence, as TiKV's
   * schedulers count it); absent when it has none. Balance counts these: a move in flight already
   * counts on its target and no longer on its source — else every round until the move lands
   * sees the target still empty and piles more moves onto it, which later rounds move away again.
   */
  readonly planned?: { readonly peers: readonly PeerMeta[]; readonly leaderPeerId: number };
}

export interface ClusterView {
  readonly config: ClusterConfig;
  readonly stores: ReadonlyMap<number, StoreView>;
  /** In key order. */
  readonly regions: readonly RegionView[];
}

/** Votes a raft group of `voters` needs to commit. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** The machine a store runs on: its `host` label, else the store alone is its own machine. */
export function hostOf(store: StoreView | undefined, storeId: number): string {
  const host = store?.labels['host'];
  return host === undefined || host === '' ? `store:${storeId}` : `host:${host}`;
}

/** The store's `zone` label, or undefined when it has none. */
export function zoneOf(store: StoreView | undefined): string | undefined {
  const zone = store?.labels['zone'];
  return zone === undefined || zone === '' ? undefined : zone;
}

export function healthOf(view: ClusterView, storeId: number): StoreHealth {
  return view.stores.get(storeId)?.health ?? 'gone';
}

/** A peer whose store still runs raft (up or offline): it votes. */
export function isLivePeer(view: ClusterView, peer: PeerMeta): boolean {
  const health = healthOf(view, peer.storeId);
  return health === 'up' || health === 'offline';
}

export function votersOf(region: RegionMeta): PeerMeta[] {
  return region.peers.filter((p) => p.role === 'voter');
}

/** Voters on live stores, and whether they still form a quorum of all voters. */
export function hasLiveQuorum(view: ClusterView, region: RegionMeta): boolean {
  const voters = votersOf(region);
  return voters.filter((p) => isLivePeer(view, p)).length >= quorumOf(voters.length);
}

/**
 * Its region's leader has not heard from it for maxStoreDownTimeMs though its store runs: a
 * replica lost on a live store (its data gone, a tombstone where it was) — it votes no more.
 */
export function isSilentPeer(view: ClusterView, r: RegionView, peer: PeerMeta): boolean {
  return r.downPeers.some((d) => d.peerId === peer.id && d.downMs >= view.config.maxStoreDownTimeMs);
}

/**
 * A peer that helps commit: on a live store, not reported down by its leader at all (however
 * briefly: quorum checks are conservative; replacing it waits until it is silent), and not
 * pending (behind the compacted log, it acknowledges nothing until a snapshot catches it up).
 */
export function isWorkingPeer(view: ClusterView, r: RegionView, peer: PeerMeta): boolean {
  return isLivePeer(view, peer) && !r.downPeers.some((d) => d.peerId === peer.id) && !r.pendingPeerIds.includes(peer.id);
}

/** The working voters form a quorum of all voters: the group can commit a conf change. */
export function hasWorkingQuorum(view: ClusterView, r: RegionView): boolean {
  const voters = votersOf(r.region);
  return voters.filter((p) => isWorkingPeer(view, r, p)).length >= quorumOf(voters.length);
}

/** May take a new replica: up, heard from by this leader. */
export function isPlacementTarget(store: StoreView | undefined): store is StoreView {
  return store !== undefined && store.health === 'up' && store.isHeard;
}

/** The leader is known and on a live store, up or offline (a leader on a dead store is stale information). */
export function hasLiveLeader(view: ClusterView, r: RegionView): boolean {
  const leader = r.region.peers.find((p) => p.id === r.leaderPeerId);
  return leader !== undefined && isLivePeer(view, leader);
}

export interface StoreLoad {
  regionCount: number;
  leaderCount: number;
  sizeBytes: number;
}

/** The replicas a region counts with: as its queued operator leaves them, else as they are. */
export function countedPeers(r: RegionView): readonly PeerMeta[] {
  return r.planned?.peers ?? r.region.peers;
}

/** The leader a region counts with: as its queued operator leaves it, else as it is. */
export function countedLeaderPeerId(r: RegionView): number {
  return r.planned?.leaderPeerId ?? r.leaderPeerId;
}

/**
 * The replicas and leader of `region` once `steps` (an operator's steps not yet done) have run;
 * a split or merge step leaves them as they are (the regions change, not the placement).
 */
export function plannedPlacement(region: RegionMeta, leaderPeerId: number, steps: readonly OperatorStep[]): { peers: PeerMeta[]; leaderPeerId: number } {
  let peers = [...region.peers];
  let leader = leaderPeerId;
  for (const step of steps) {
    switch (step.kind) {
      case 'addPeer':
        if (!peers.some((p) => p.id === step.peer.id)) peers.push(step.peer);
        break;
      case 'promoteLearner':
        peers = peers.map((p) => (p.id === step.peer.id ? { ...p, role: 'voter' } : p));
        break;
      case 'removePeer':
        peers = peers.filter((p) => p.id !== step.peer.id);
        break;
      case 'transferLeader':
        leader = step.toPeer.id;
        break;
      case 'split':
      case 'merge':
        break;
    }
  }
  return { peers, leaderPeerId: leader };
}

/**
 * Region, leader and size totals per store (every store in the view, zero when it holds nothing),
 * counting each region as its queued operator leaves it (countedPeers).
 */
export function storeLoads(view: ClusterView): Map<number, StoreLoad> {
  const loads = new Map<number, StoreLoad>();
  for (const id of view.stores.keys()) loads.set(id, { regionCount: 0, leaderCount: 0, sizeBytes: 0 });
  for (const r of view.regions) {
    const leader = countedLeaderPeerId(r);
    for (const p of countedPeers(r)) {
      const load = loads.get(p.storeId);
      if (load === undefined) continue;
      load.regionCount++;
      load.sizeBytes += r.approximateSizeBytes;
      if (p.id === leader) load.leaderCount++;
    }
  }
  return loads;
}

/** Facts of the store each view was built from; what the StoreMeta records hold. */
export interface StoreFacts {
  readonly meta: StoreMeta;
  /** Last heartbeat this leader received, Unix ms; undefined when none yet. */
  readonly lastHeartbeatMs: number | undefined;
}

/**
 * A store's health at `nowMs`. Silence counts from the later of its last heartbeat and
 * `leaderSinceMs`: stores heartbeat to the leader only, so a new PD leader (or one leading again,
 * holding heartbeats from an earlier term) does not declare every store down at once.
 */
export function storeHealthAt(facts: StoreFacts, nowMs: number, leaderSinceMs: number, maxStoreDownTimeMs: number): StoreHealth {
  if (facts.meta.state === 'tombstone') return 'gone';
  const silentSinceMs = Math.max(facts.lastHeartbeatMs ?? 0, leaderSinceMs);
  if (nowMs - silentSinceMs > maxStoreDownTimeMs) return 'down';
  return facts.meta.state === 'offline' ? 'offline' : 'up';
}

export type { PeerMeta, RegionEpoch, RegionMeta };
