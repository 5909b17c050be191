// Scatter (admin, POST /operators kind 'scatter'): moves a region's replicas and leadership to
// randomly chosen less-loaded stores — used after creating many regions in one place (a bulk load
// split in one store) so they do not all stay where they were born. Each replica slot is filled,
// in turn, by a random pick among the allowed stores (placement.ts rules: up, heard, another
// machine than the replicas already chosen) whose region count is at most the average of those
// stores; the region's leadership then goes to a random chosen replica on a store with no more
// leaders than the average. Replicas already on a chosen store stay.

import type { Rng } from '../../common/index.js';
import type { OperatorStep } from '../operators.js';
import { averageOf } from './balance.js';
import { healthOf, hostOf, isPlacementTarget, storeLoads, type ClusterView, type PeerMeta, type RegionView } from './cluster-view.js';
import { moveReplicaSteps } from './placement.js';

export type ScatterPlan = { readonly kind: 'ok'; readonly steps: readonly OperatorStep[] } | { readonly kind: 'refused'; readonly reason: string };

export function planScatter(view: ClusterView, r: RegionView, rng: Rng, newPeerId: () => number): ScatterPlan {
  if (r.region.peers.some((p) => p.role !== 'voter' || healthOf(view, p.storeId) !== 'up')) {
    return { kind: 'refused', reason: `region ${r.region.id} has a learner or a replica on a store that is not up; the replica checker repairs it first` };
  }
  const leader = r.region.peers.find((p) => p.id === r.leaderPeerId);
  if (leader === undefined) return { kind: 'refused', reason: `region ${r.region.id} has no known leader` };
  const loads = storeLoads(view);
  const candidates = [...view.stores.values()].filter((s) => r.region.peers.some((p) => p.storeId === s.id) || isPlacementTarget(s));
  const averageRegions = averageOf(candidates.map((s) => loads.get(s.id)!.regionCount));
  const chosen: number[] = [];
  const hosts = new Set<string>();
  for (let slot = 0; slot < r.region.peers.length; slot++) {
    const open = candidates.filter((s) => !chosen.includes(s.id) && !hosts.has(hostOf(s, s.id)));
    const light = open.filter((s) => loads.get(s.id)!.regionCount <= averageRegions);
    const pool = light.length > 0 ? light : open;
    if (pool.length === 0) return { kind: 'refused', reason: `not enough stores on distinct hosts to place ${r.region.peers.length} replicas of region ${r.region.id}` };
    const pick = pool[rng.nextInt(pool.length)]!;
    chosen.push(pick.id);
    hosts.add(hostOf(pick, pick.id));
  }
  const leaving = r.region.peers.filter((p) => !chosen.includes(p.storeId));
  const arriving = chosen.filter((s) => !r.region.peers.some((p) => p.storeId === s));
  const steps: OperatorStep[] = [];
  let region = r.region;
  let leaderPeerId = r.leaderPeerId;
  for (let k = 0; k < leaving.length; k++) {
    const peerId = newPeerId();
    const pair = moveReplicaSteps(view, { ...r, region, leaderPeerId }, leaving[k]!, arriving[k]!, peerId, loads);
    if (pair === undefined) return { kind: 'refused', reason: `region ${r.region.id}: no replica can take over its leadership` };
    steps.push(...pair);
    region = { ...region, peers: [...region.peers.filter((p) => p.id !== leaving[k]!.id), { id: peerId, storeId: arriving[k]!, role: 'voter' }] };
    const transfer = pair.find((s) => s.kind === 'transferLeader');
    if (transfer?.kind === 'transferLeader') leaderPeerId = transfer.toPeer.id;
  }
  const averageLeaders = averageOf(candidates.map((s) => loads.get(s.id)!.leaderCount));
  const voters = region.peers.filter((p: PeerMeta) => (loads.get(p.storeId)?.leaderCount ?? 0) <= averageLeaders);
  const leaderPool = voters.length > 0 ? voters : region.peers;
  const newLeader = leaderPool[rng.nextInt(leaderPool.length)]!;
  if (newLeader.id !== leaderPeerId) steps.push({ kind: 'transferLeader', toPeer: { ...newLeader, role: 'voter' } });
  return { kind: 'ok', steps };
}
