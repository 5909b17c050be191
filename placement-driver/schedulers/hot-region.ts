// Hot-region: spreads the regions with the highest traffic (from region heartbeats) so that no
// store serves most of it. A region is hot when its write or read rate is at least
// HOT_REGION_BYTES_PER_SEC_MIN; the HOT_REGIONS_MAX hottest count. Two scores, each balanced by
// balance.ts's rule (the amount being the region's rate), kept independent so neither undoes the
// other:
//
//   leader load of a store = Σ (write + read rate) of the hot regions it leads
//       ─► transfer a hot region's leadership to a follower on a store with less
//   peer load of a store   = Σ write rate of the hot regions it holds a replica of
//       ─► move a hot region's *follower* (never the leader's replica, which would change leader
//          loads) to a placement target with less (add-then-remove, placement.ts)

import type { ClusterConfig } from '../cluster-config.js';
import { storeLoads, type ClusterView, type RegionView } from './cluster-view.js';
import { averageOf, BALANCE_TOLERANCE_RATIO, isWorthMoving } from './balance.js';
import { moveTargets } from './balance-region.js';
import { isSettled, moveReplicaSteps } from './placement.js';
import type { OperatorPlan, ScheduleInput, Scheduler } from './scheduler.js';

/** Below this rate (write or read) a region is not hot: 64 KiB/s, a busy but ordinary region. */
export const HOT_REGION_BYTES_PER_SEC_MIN = 64 * 1024;
/** Hot regions considered per round, hottest first (bounds the work of a round). */
export const HOT_REGIONS_MAX = 256;

export function leaderHeat(r: RegionView): number {
  return r.writeBytesPerSec + r.readBytesPerSec;
}

export function isHot(r: RegionView, minBytesPerSec: number = HOT_REGION_BYTES_PER_SEC_MIN): boolean {
  return r.writeBytesPerSec >= minBytesPerSec || r.readBytesPerSec >= minBytesPerSec;
}

/** The hot regions, hottest first, at most HOT_REGIONS_MAX. */
export function hotRegions(view: ClusterView, minBytesPerSec: number = HOT_REGION_BYTES_PER_SEC_MIN): RegionView[] {
  return view.regions
    .filter((r) => isHot(r, minBytesPerSec))
    .sort((a, b) => leaderHeat(b) - leaderHeat(a) || a.region.id - b.region.id)
    .slice(0, HOT_REGIONS_MAX);
}

/** Leader load and peer load of every up store over `hot`. */
export function hotLoads(view: ClusterView, hot: readonly RegionView[]): { leader: Map<number, number>; peer: Map<number, number> } {
  const leader = new Map<number, number>();
  const peer = new Map<number, number>();
  for (const s of view.stores.values()) {
    if (s.health !== 'up') continue;
    leader.set(s.id, 0);
    peer.set(s.id, 0);
  }
  for (const r of hot) {
    for (const p of r.region.peers) {
      if (p.id === r.leaderPeerId && leader.has(p.storeId)) leader.set(p.storeId, leader.get(p.storeId)! + leaderHeat(r));
      if (peer.has(p.storeId)) peer.set(p.storeId, peer.get(p.storeId)! + r.writeBytesPerSec);
    }
  }
  return { leader, peer };
}

export class HotRegion implements Scheduler {
  readonly name = 'hot-region' as const;
  readonly kind = 'hotRegion' as const;
  readonly summary = 'spreads the leaders (by write+read rate) and replicas (by write rate) of the hottest regions over the stores';

  constructor(private readonly minBytesPerSec: number = HOT_REGION_BYTES_PER_SEC_MIN) {}

  settings(config: ClusterConfig): Readonly<Record<string, unknown>> {
    return { hotRegionBytesPerSecMin: this.minBytesPerSec, hotRegionsMax: HOT_REGIONS_MAX, toleranceRatio: BALANCE_TOLERANCE_RATIO, limit: 'hotRegionScheduleLimit', hotRegionScheduleLimit: config.hotRegionScheduleLimit };
  }

  schedule({ view, budget, newPeerId }: ScheduleInput): OperatorPlan[] {
    const hot = hotRegions(view, this.minBytesPerSec).filter((r) => isSettled(view, r));
    const { leader, peer } = hotLoads(view, hotRegions(view, this.minBytesPerSec));
    const leaderAverage = averageOf(leader.values());
    const peerAverage = averageOf(peer.values());
    const loads = storeLoads(view);
    const plans: OperatorPlan[] = [];
    const moved = new Set<number>();
    while (plans.length < budget) {
      const transfer = bestLeaderTransfer(hot, leader, moved, leaderAverage);
      if (transfer !== undefined) {
        const { r, fromStoreId, toStoreId } = transfer;
        const toPeer = r.region.peers.find((p) => p.storeId === toStoreId)!;
        plans.push({ regionId: r.region.id, epoch: r.region.epoch, kind: 'hotRegion', description: `hot-leader store ${fromStoreId} → ${toStoreId}`, steps: [{ kind: 'transferLeader', toPeer }] });
        moved.add(r.region.id);
        leader.set(fromStoreId, leader.get(fromStoreId)! - leaderHeat(r));
        leader.set(toStoreId, leader.get(toStoreId)! + leaderHeat(r));
        continue;
      }
      const move = bestPeerMove(view, hot, peer, moved, peerAverage);
      if (move === undefined) break;
      const { r, fromStoreId, toStoreId } = move;
      moved.add(r.region.id);
      const from = r.region.peers.find((p) => p.storeId === fromStoreId)!;
      const steps = moveReplicaSteps(view, r, from, toStoreId, newPeerId(), loads);
      if (steps === undefined) continue;
      plans.push({ regionId: r.region.id, epoch: r.region.epoch, kind: 'hotRegion', description: `hot-peer store ${fromStoreId} → ${toStoreId}`, steps });
      peer.set(fromStoreId, peer.get(fromStoreId)! - r.writeBytesPerSec);
      peer.set(toStoreId, peer.get(toStoreId)! + r.writeBytesPerSec);
    }
    return plans;
  }
}

type Move = { r: RegionView; fromStoreId: number; toStoreId: number };

function bestLeaderTransfer(hot: readonly RegionView[], leader: ReadonlyMap<number, number>, moved: ReadonlySet<number>, average: number): Move | undefined {
  let best: Move | undefined;
  let bestGain = 0;
  for (const r of hot) {
    if (moved.has(r.region.id)) continue;
    const fromStoreId = r.region.peers.find((p) => p.id === r.leaderPeerId)!.storeId;
    const from = leader.get(fromStoreId);
    if (from === undefined) continue;
    for (const p of r.region.peers) {
      const to = leader.get(p.storeId);
      if (p.storeId === fromStoreId || to === undefined || !isWorthMoving(from, to, leaderHeat(r), average)) continue;
      const gain = from - to;
      if (gain > bestGain) {
        best = { r, fromStoreId, toStoreId: p.storeId };
        bestGain = gain;
      }
    }
  }
  return best;
}

function bestPeerMove(view: ClusterView, hot: readonly RegionView[], peer: ReadonlyMap<number, number>, moved: ReadonlySet<number>, average: number): Move | undefined {
  let best: Move | undefined;
  let bestGain = 0;
  for (const r of hot) {
    if (moved.has(r.region.id) || r.writeBytesPerSec === 0) continue;
    for (const from of r.region.peers) {
      if (from.id === r.leaderPeerId) continue;
      const fromLoad = peer.get(from.storeId);
      if (fromLoad === undefined) continue;
      for (const toStoreId of moveTargets(view, r, from)) {
        const to = peer.get(toStoreId);
        if (to === undefined || !isWorthMoving(fromLoad, to, r.writeBytesPerSec, average)) continue;
        if (fromLoad - to > bestGain) {
          best = { r, fromStoreId: from.storeId, toStoreId };
          bestGain = fromLoad - to;
        }
      }
    }
  }
  return best;
}
