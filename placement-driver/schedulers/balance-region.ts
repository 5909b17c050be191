// Balance-region: spreads replicas over the up stores by weight — a store's score is the sum of
// its regions' approximate sizes, each counted as at least REGION_WEIGHT_FLOOR_BYTES so that
// empty regions still spread by count. A settled region's replica moves from the highest-scoring
// store to the lowest-scoring placement target (placement.ts: up, heard, no replica of the region,
// another machine) when balance.ts's rule says it is worth it, the amount being the region's
// weight. Moves are add-then-remove (placement.ts), so a quorum stays live throughout.

import type { ClusterConfig } from '../cluster-config.js';
import { countedPeers, hostOf, isPlacementTarget, type ClusterView, type PeerMeta, type RegionView } from './cluster-view.js';
import { averageOf, BALANCE_TOLERANCE_RATIO, isWorthMoving } from './balance.js';
import { isSettled, moveReplicaSteps } from './placement.js';
import type { OperatorPlan, ScheduleInput, Scheduler } from './scheduler.js';
import { storeLoads } from './cluster-view.js';

/** A region counts as at least this much, so that regions without data still spread by count. */
export const REGION_WEIGHT_FLOOR_BYTES = 1024 * 1024;

export function regionWeight(r: RegionView): number {
  return Math.max(r.approximateSizeBytes, REGION_WEIGHT_FLOOR_BYTES);
}

/** Each up store's score: the weight of the regions it holds a replica of, moves in flight counted as done (countedPeers). */
export function regionScores(view: ClusterView): Map<number, number> {
  const scores = new Map<number, number>();
  for (const s of view.stores.values()) if (s.health === 'up') scores.set(s.id, 0);
  for (const r of view.regions) {
    for (const p of countedPeers(r)) {
      const score = scores.get(p.storeId);
      if (score !== undefined) scores.set(p.storeId, score + regionWeight(r));
    }
  }
  return scores;
}

/** Stores a replica of `r` on `from` could move to: placement targets without a replica, on another machine than the others. */
export function moveTargets(view: ClusterView, r: RegionView, from: PeerMeta): number[] {
  const otherHosts = new Set(r.region.peers.filter((p) => p.id !== from.id).map((p) => hostOf(view.stores.get(p.storeId), p.storeId)));
  const out: number[] = [];
  for (const s of view.stores.values()) {
    if (!isPlacementTarget(s) || r.region.peers.some((p) => p.storeId === s.id) || otherHosts.has(hostOf(s, s.id))) continue;
    out.push(s.id);
  }
  return out;
}

export class BalanceRegion implements Scheduler {
  readonly name = 'balance-region' as const;
  readonly kind = 'region' as const;
  readonly summary = 'moves replicas from stores holding much to stores holding little (approximate size, at least 1 MiB a region)';

  settings(config: ClusterConfig): Readonly<Record<string, unknown>> {
    return { score: 'sum of region sizes', regionWeightFloorBytes: REGION_WEIGHT_FLOOR_BYTES, toleranceRatio: BALANCE_TOLERANCE_RATIO, limit: 'regionScheduleLimit', regionScheduleLimit: config.regionScheduleLimit };
  }

  schedule({ view, budget, newPeerId }: ScheduleInput): OperatorPlan[] {
    const scores = regionScores(view);
    const average = averageOf(scores.values());
    const loads = storeLoads(view);
    const plans: OperatorPlan[] = [];
    const moved = new Set<number>();
    const settled = view.regions.filter((r) => isSettled(view, r));
    while (plans.length < budget) {
      const move = bestMove(view, settled, scores, moved, average);
      if (move === undefined) break;
      const { r, from, toStoreId } = move;
      const steps = moveReplicaSteps(view, r, from, toStoreId, newPeerId(), loads);
      moved.add(r.region.id);
      if (steps === undefined) continue;
      plans.push({ regionId: r.region.id, epoch: r.region.epoch, kind: 'region', description: `balance-region store ${from.storeId} → ${toStoreId}`, steps });
      scores.set(from.storeId, scores.get(from.storeId)! - regionWeight(r));
      scores.set(toStoreId, scores.get(toStoreId)! + regionWeight(r));
    }
    return plans;
  }
}

function bestMove(
  view: ClusterView,
  settled: readonly RegionView[],
  scores: ReadonlyMap<number, number>,
  moved: ReadonlySet<number>,
  average: number,
): { r: RegionView; from: PeerMeta; toStoreId: number } | undefined {
  const sources = [...scores.keys()].sort((a, b) => scores.get(b)! - scores.get(a)! || a - b);
  for (const source of sources) {
    let best: { r: RegionView; from: PeerMeta; toStoreId: number } | undefined;
    for (const r of settled) {
      if (moved.has(r.region.id)) continue;
      const from = r.region.peers.find((p) => p.storeId === source);
      if (from === undefined) continue;
      for (const to of moveTargets(view, r, from)) {
        const toScore = scores.get(to);
        if (toScore === undefined || !isWorthMoving(scores.get(source)!, toScore, regionWeight(r), average)) continue;
        if (best === undefined || toScore < scores.get(best.toStoreId)! || (toScore === scores.get(best.toStoreId)! && to < best.toStoreId)) best = { r, from, toStoreId: to };
      }
    }
    if (best !== undefined) return best;
  }
  return undefined;
}
