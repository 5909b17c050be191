// Where a new replica may go and the steps that put it there, shared by every scheduler.
//
// A target store is up, heard from by this leader, holds no peer of the region, and is not on a
// machine (`host` label) that already holds one of the region's other replicas. Among those:
// a zone the region does not use yet first (when zones are labelled), then the fewest regions,
// then the least data, then the lowest id (deterministic).
//
// A replica moves by adding before removing, so the group never has fewer live voters than a
// quorum on the way (with L ≥ ⌊V/2⌋+1 live of V voters, L+1 of V+1 is still a quorum):
//
//   addPeer learner(to) → promoteLearner(to) → [transferLeader, when `from` leads] → removePeer(from)

import type { OperatorStep } from '../operators.js';
import {
  healthOf, hostOf, isPlacementTarget, isWorkingPeer, zoneOf, type ClusterView, type PeerMeta, type RegionMeta, type RegionView, type StoreLoad,
} from './cluster-view.js';

/** Stores that may take a replica of `region` in place of `replacing` (or in addition, if undefined), best first. */
export function rankTargets(view: ClusterView, region: RegionMeta, loads: ReadonlyMap<number, StoreLoad>, replacing?: PeerMeta): number[] {
  const others = region.peers.filter((p) => p.id !== replacing?.id);
  const hosts = new Set(others.map((p) => hostOf(view.stores.get(p.storeId), p.storeId)));
  const zones = new Set(others.map((p) => zoneOf(view.stores.get(p.storeId))).filter((z) => z !== undefined));
  const candidates: { id: number; isNewZone: boolean; load: StoreLoad }[] = [];
  for (const store of view.stores.values()) {
    if (!isPlacementTarget(store)) continue;
    if (region.peers.some((p) => p.storeId === store.id)) continue;
    if (hosts.has(hostOf(store, store.id))) continue;
    const zone = zoneOf(store);
    candidates.push({ id: store.id, isNewZone: zone !== undefined && !zones.has(zone), load: loads.get(store.id) ?? { regionCount: 0, leaderCount: 0, sizeBytes: 0 } });
  }
  candidates.sort(
    (a, b) =>
      Number(b.isNewZone) - Number(a.isNewZone) || a.load.regionCount - b.load.regionCount || a.load.sizeBytes - b.load.sizeBytes || a.id - b.id,
  );
  return candidates.map((c) => c.id);
}

/** A new learner on `storeId`, then its promotion (the store promotes it once it caught up). */
export function addReplicaSteps(storeId: number, peerId: number): OperatorStep[] {
  const peer: PeerMeta = { id: peerId, storeId, role: 'learner' };
  return [
    { kind: 'addPeer', peer },
    { kind: 'promoteLearner', peer },
  ];
}

/**
 * Removes `peer`; when it leads, leadership first goes to another working voter on an up store (the one
 * with the fewest leaders, then the lowest store id; `extraVoter` — a replica this same operator
 * adds — only when there is no other). Undefined when nobody could take the leadership over.
 */
export function removeReplicaSteps(view: ClusterView, r: RegionView, peer: PeerMeta, loads: ReadonlyMap<number, StoreLoad>, extraVoter?: PeerMeta): OperatorStep[] | undefined {
  if (peer.id !== r.leaderPeerId) return [{ kind: 'removePeer', peer }];
  const candidates = r.region.peers.filter((p) => p.role === 'voter' && p.id !== peer.id && healthOf(view, p.storeId) === 'up' && isWorkingPeer(view, r, p));
  candidates.sort((a, b) => (loads.get(a.storeId)?.leaderCount ?? 0) - (loads.get(b.storeId)?.leaderCount ?? 0) || a.storeId - b.storeId);
  const toPeer = candidates[0] ?? (extraVoter === undefined ? undefined : { ...extraVoter, role: 'voter' as const });
  if (toPeer === undefined) return undefined;
  return [
    { kind: 'transferLeader', toPeer },
    { kind: 'removePeer', peer },
  ];
}

/** Moves the replica `from` to store `toStoreId`: add and promote there, then remove `from`. */
export function moveReplicaSteps(view: ClusterView, r: RegionView, from: PeerMeta, toStoreId: number, peerId: number, loads: ReadonlyMap<number, StoreLoad>): OperatorStep[] | undefined {
  const add = addReplicaSteps(toStoreId, peerId);
  const remove = removeReplicaSteps(view, r, from, loads, { id: peerId, storeId: toStoreId, role: 'voter' });
  return remove === undefined ? undefined : [...add, ...remove];
}

/** Adjusts `loads` as if `plan` moved a replica of `r` from one store to another (balance within a round). */
export function shiftLoad(loads: Map<number, StoreLoad>, r: RegionView, fromStoreId: number | undefined, toStoreId: number | undefined): void {
  const from = fromStoreId === undefined ? undefined : loads.get(fromStoreId);
  const to = toStoreId === undefined ? undefined : loads.get(toStoreId);
  if (from !== undefined) {
    from.regionCount--;
    from.sizeBytes -= r.approximateSizeBytes;
  }
  if (to !== undefined) {
    to.regionCount++;
    to.sizeBytes += r.approximateSizeBytes;
  }
}

/** A region that may be moved for balance: leader live, every voter live, heard and caught up, exactly the replica count, no learner, not busy. */
export function isSettled(view: ClusterView, r: RegionView): boolean {
  if (r.hasOperator || r.isRecentlyScheduled || r.downPeers.length > 0 || r.pendingPeerIds.length > 0) return false;
  const leader = r.region.peers.find((p) => p.id === r.leaderPeerId);
  if (leader === undefined || healthOf(view, leader.storeId) !== 'up') return false;
  if (r.region.peers.some((p) => p.role !== 'voter' || healthOf(view, p.storeId) !== 'up')) return false;
  return r.region.peers.length === view.config.maxPeerCount;
}
