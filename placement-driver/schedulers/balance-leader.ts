// Balance-leader: spreads region leaders over the up stores by count. Each move transfers the
// leadership of a settled region (placement.ts isSettled) from the store with the most leaders to
// one of the region's followers on a store with fewer, when balance.ts's rule says it is worth it
// (amount 1). Stores with the most leaders are tried first, and for each the follower store with
// the fewest leaders; a round makes at most `budget` transfers, counting its own as done.

import type { ClusterConfig } from '../cluster-config.js';
import { storeLoads, type RegionView } from './cluster-view.js';
import { averageOf, BALANCE_TOLERANCE_RATIO, isWorthMoving } from './balance.js';
import { isSettled } from './placement.js';
import type { OperatorPlan, ScheduleInput, Scheduler } from './scheduler.js';

export class BalanceLeader implements Scheduler {
  readonly name = 'balance-leader' as const;
  readonly kind = 'leader' as const;
  readonly summary = 'moves region leaders from stores with many to stores with few (by count)';

  settings(config: ClusterConfig): Readonly<Record<string, unknown>> {
    return { score: 'leaderCount', toleranceRatio: BALANCE_TOLERANCE_RATIO, limit: 'leaderScheduleLimit', leaderScheduleLimit: config.leaderScheduleLimit };
  }

  schedule({ view, budget }: ScheduleInput): OperatorPlan[] {
    const up = [...view.stores.values()].filter((s) => s.health === 'up').map((s) => s.id);
    const loads = storeLoads(view);
    const leaders = new Map(up.map((id) => [id, loads.get(id)!.leaderCount]));
    const average = averageOf(leaders.values());
    const ledBy = new Map<number, RegionView[]>();
    for (const r of view.regions) {
      if (!isSettled(view, r)) continue;
      const storeId = r.region.peers.find((p) => p.id === r.leaderPeerId)!.storeId;
      ledBy.set(storeId, [...(ledBy.get(storeId) ?? []), r]);
    }
    const plans: OperatorPlan[] = [];
    const moved = new Set<number>();
    while (plans.length < budget) {
      const next = bestTransfer(up, leaders, ledBy, moved, average);
      if (next === undefined) break;
      const { r, fromStoreId, toStoreId } = next;
      const toPeer = r.region.peers.find((p) => p.storeId === toStoreId)!;
      plans.push({ regionId: r.region.id, epoch: r.region.epoch, kind: 'leader', description: `balance-leader store ${fromStoreId} → ${toStoreId}`, steps: [{ kind: 'transferLeader', toPeer }] });
      moved.add(r.region.id);
      leaders.set(fromStoreId, leaders.get(fromStoreId)! - 1);
      leaders.set(toStoreId, leaders.get(toStoreId)! + 1);
    }
    return plans;
  }
}

/** The worthwhile transfer from the most-loaded source possible, to the least-loaded follower store. */
function bestTransfer(
  up: readonly number[],
  leaders: ReadonlyMap<number, number>,
  ledBy: ReadonlyMap<number, readonly RegionView[]>,
  moved: ReadonlySet<number>,
  average: number,
): { r: RegionView; fromStoreId: number; toStoreId: number } | undefined {
  const sources = [...up].sort((a, b) => leaders.get(b)! - leaders.get(a)! || a - b);
  for (const fromStoreId of sources) {
    let best: { r: RegionView; fromStoreId: number; toStoreId: number } | undefined;
    for (const r of ledBy.get(fromStoreId) ?? []) {
      if (moved.has(r.region.id)) continue;
      for (const p of r.region.peers) {
        const to = leaders.get(p.storeId);
        if (p.storeId === fromStoreId || to === undefined) continue;
        if (!isWorthMoving(leaders.get(fromStoreId)!, to, 1, average)) continue;
        if (best === undefined || to < leaders.get(best.toStoreId)! || (to === leaders.get(best.toStoreId)! && p.storeId < best.toStoreId)) best = { r, fromStoreId, toStoreId: p.storeId };
      }
    }
    if (best !== undefined) return best;
  }
  return undefined;
}
