// Merge checker: a small region merges into an adjacent small one, so that a key space emptied by
// deletes does not keep thousands of idle regions. Off while config.disableMerge.
//
//   source: settled (placement.ts), approximate size < regionMergeSizeBytesMax AND keys <
//           regionMergeKeysMax, its epoch version seen ≥ splitMergeIntervalMs ago (no merge
//           right after a split, nor in a new PD leader's first interval — TiKV's rule)
//   target: the region just before or just after it (sharing a boundary key), meeting the same
//           conditions; one whose replicas are on the same stores first, else the smaller
//   same stores ─► operator on the source: merge into the target
//   else        ─► operator on the source: move its replicas onto the target's stores (pairs of
//                  add-then-remove); the merge follows in a later round once they match
//
// A region takes part in one merge per round; the store executes the merge (issue F7, store side).

import type { ClusterConfig } from '../cluster-config.js';
import { isPlacementTarget, storeLoads, type ClusterView, type RegionView } from './cluster-view.js';
import { isSettled, moveReplicaSteps } from './placement.js';
import type { OperatorPlan, ScheduleInput, Scheduler } from './scheduler.js';

/** Whether `r` is small enough to merge under `config` (both limits, strictly below). */
export function isMergeSmall(r: RegionView, config: ClusterConfig): boolean {
  return r.approximateSizeBytes < config.regionMergeSizeBytesMax && r.approximateKeys < config.regionMergeKeysMax;
}

/** `a` ends where `b` starts (neither edge of the key space). */
export function isJustBefore(a: RegionView, b: RegionView): boolean {
  return a.region.endKey.length > 0 && a.region.endKey.equals(b.region.startKey);
}

export function areAdjacent(a: RegionView, b: RegionView): boolean {
  return isJustBefore(a, b) || isJustBefore(b, a);
}

/** Both regions' replicas are on the same set of stores. */
export function haveSameStores(a: RegionView, b: RegionView): boolean {
  const stores = (r: RegionView): string => r.region.peers.map((p) => p.storeId).sort((x, y) => x - y).join(',');
  return stores(a) === stores(b);
}

function isMergeCandidate(view: ClusterView, r: RegionView, busy: ReadonlySet<number>): boolean {
  return !busy.has(r.region.id) && isSettled(view, { ...r, isRecentlyScheduled: false }) && isMergeSmall(r, view.config) && r.versionAgeMs >= view.config.splitMergeIntervalMs;
}

export class MergeChecker implements Scheduler {
  readonly name = 'merge-checker' as const;
  readonly kind = 'merge' as const;
  readonly summary = 'merges a small region into a small adjacent one (first moving its replicas onto the same stores); off while disableMerge';

  settings(config: ClusterConfig): Readonly<Record<string, unknown>> {
    return {
      disableMerge: config.disableMerge, regionMergeSizeBytesMax: config.regionMergeSizeBytesMax, regionMergeKeysMax: config.regionMergeKeysMax,
      splitMergeIntervalMs: config.splitMergeIntervalMs, limit: 'mergeScheduleLimit', mergeScheduleLimit: config.mergeScheduleLimit,
    };
  }

  schedule({ view, budget, newPeerId }: ScheduleInput): OperatorPlan[] {
    if (view.config.disableMerge) return [];
    const loads = storeLoads(view);
    const busy = new Set<number>();
    const plans: OperatorPlan[] = [];
    const regions = view.regions;
    for (let i = 0; i < regions.length && plans.length < budget; i++) {
      const source = regions[i]!;
      if (!isMergeCandidate(view, source, busy)) continue;
      const neighbours = [regions[i - 1], regions[i + 1]].filter((n): n is RegionView => n !== undefined && areAdjacent(source, n) && isMergeCandidate(view, n, busy));
      neighbours.sort((a, b) => Number(haveSameStores(source, b)) - Number(haveSameStores(source, a)) || a.approximateSizeBytes - b.approximateSizeBytes);
      const target = neighbours[0];
      if (target === undefined) continue;
      const steps = haveSameStores(source, target) ? [{ kind: 'merge' as const, targetRegionId: target.region.id }] : alignSteps(view, source, target, newPeerId, loads);
      if (steps === undefined) continue;
      const what = steps.length === 1 && steps[0]!.kind === 'merge' ? 'merge-region' : 'align-peers-for-merge';
      plans.push({ regionId: source.region.id, epoch: source.region.epoch, kind: 'merge', description: `${what} ${source.region.id} → ${target.region.id}`, steps });
      busy.add(source.region.id);
      busy.add(target.region.id);
    }
    return plans;
  }
}

/** Steps moving `source`'s replicas onto `target`'s stores (add-then-remove, pair by pair); undefined if a target store cannot take one. */
function alignSteps(view: ClusterView, source: RegionView, target: RegionView, newPeerId: () => number, loads: ReturnType<typeof storeLoads>): OperatorPlan['steps'] | undefined {
  const targetStores = new Set(target.region.peers.map((p) => p.storeId));
  const sourceStores = new Set(source.region.peers.map((p) => p.storeId));
  const adds = [...targetStores].filter((s) => !sourceStores.has(s)).sort((a, b) => a - b);
  const removes = source.region.peers.filter((p) => !targetStores.has(p.storeId));
  if (adds.length !== removes.length || adds.some((s) => !isPlacementTarget(view.stores.get(s)))) return undefined;
  const steps: OperatorPlan['steps'][number][] = [];
  let region = source.region;
  let leaderPeerId = source.leaderPeerId;
  for (let k = 0; k < adds.length; k++) {
    const from = removes[k]!;
    const peerId = newPeerId();
    const pair = moveReplicaSteps(view, { ...source, region, leaderPeerId }, from, adds[k]!, peerId, loads);
    if (pair === undefined) return undefined;
    steps.push(...pair);
    // Later pairs see the region as this pair leaves it (the new voter in, `from` out, leadership moved).
    region = { ...region, peers: [...region.peers.filter((p) => p.id !== from.id), { id: peerId, storeId: adds[k]!, role: 'voter' }] };
    const transfer = pair.find((s) => s.kind === 'transferLeader');
    if (transfer !== undefined && transfer.kind === 'transferLeader') leaderPeerId = transfer.toPeer.id;
  }
  return steps;
}

export type MergeCheck =
  | { readonly kind: 'ok'; readonly steps: OperatorPlan['steps'] }
  | { readonly kind: 'refused'; readonly code: 'InvalidArgument' | 'Conflict'; readonly reason: string };

/**
 * An admin merge of `source` into `target` (HTTP POST /operators kind 'merge'): they must be
 * different, adjacent, have their replicas on the same stores, and have no operator. Size limits
 * do not apply — an admin may merge any two such regions.
 */
export function checkAdminMerge(source: RegionView, target: RegionView): MergeCheck {
  const s = source.region;
  const t = target.region;
  if (s.id === t.id) return { kind: 'refused', code: 'InvalidArgument', reason: `region ${s.id} cannot merge into itself` };
  if (!areAdjacent(source, target)) return { kind: 'refused', code: 'InvalidArgument', reason: `regions ${s.id} and ${t.id} are not adjacent (no shared boundary key)` };
  if (!haveSameStores(source, target)) {
    const stores = (r: RegionView): string => r.region.peers.map((p) => p.storeId).sort((a, b) => a - b).join(', ');
    return { kind: 'refused', code: 'InvalidArgument', reason: `regions ${s.id} (stores ${stores(source)}) and ${t.id} (stores ${stores(target)}) are not on the same stores; move the replicas first (add-peer, remove-peer)` };
  }
  if (target.hasOperator) return { kind: 'refused', code: 'Conflict', reason: `region ${t.id} has an operator` };
  return { kind: 'ok', steps: [{ kind: 'merge', targetRegionId: t.id }] };
}
