// Replica checker: every region keeps maxPeerCount voters on distinct stores and distinct machines
// (`host` labels; zones spread when labelled). One operator per region per round, the most urgent
// repair first:
//
//   region busy (operator), no live leader, or fewer working voters than a quorum ─► nothing (a
//       group without a quorum cannot commit a conf change; a stale leader cannot receive one)
//   1. a learner no operator is promoting ─► promote it if a voter is missing and its place is
//      good, else remove it (a silent one at once)
//   2. a voter on a down or gone store ─► replace it (add elsewhere, then remove it); with no
//      place for it and more voters than wanted ─► remove it
//   2b. a silent voter (its store is up, its leader has not heard it for maxStoreDownTimeMs: a
//      replica lost there) ─► replace it; with no place for it ─► remove it, and step 3 adds a
//      replica again — on its own store, if that is the only place (a new peer id, which the
//      store's tombstone of the lost one lets in)
//   3. fewer voters than maxPeerCount ─► add one
//   4. a voter on an offline store (an admin is removing the store) ─► replace it
//   5. more voters than maxPeerCount ─► remove one: down or silent, then offline, then sharing a
//      machine, then on the store with the most regions — only if the working voters left still
//      form a quorum
//   6. two voters on one machine ─► move one to a machine without a replica, when there is one
//
// 1 (removing a learner), 5 and 6 are not repairs of lost redundancy: they wait until the region's
// membership has not changed for `membershipSettleMs`, so that a change someone else is making
// (an admin adding a learner to promote it, a voter on its way in) is not undone half-way.
//
// Placement and the add-before-remove order are placement.ts's.

import type { ClusterConfig } from '../cluster-config.js';
import {
  hasLiveLeader, hasWorkingQuorum, healthOf, hostOf, isLivePeer, isPlacementTarget, isSilentPeer, isWorkingPeer, quorumOf, storeLoads, votersOf, type ClusterView, type PeerMeta, type RegionView,
  type StoreLoad,
} from './cluster-view.js';
import { addReplicaSteps, moveReplicaSteps, rankTargets, removeReplicaSteps, shiftLoad } from './placement.js';
import type { OperatorPlan, ScheduleInput, Scheduler } from './scheduler.js';

/** Default membership settle time: a minute, longer than a learner's snapshot and promotion take. */
export const MEMBERSHIP_SETTLE_MS_DEFAULT = 60_000;

export class ReplicaChecker implements Scheduler {
  constructor(private readonly membershipSettleMs: number = MEMBERSHIP_SETTLE_MS_DEFAULT) {}

  readonly name = 'replica-checker' as const;
  readonly kind = 'region' as const;
  readonly summary = 'keeps maxPeerCount voters per region on distinct stores and hosts; replaces replicas on down, removed and offline stores and ones their leader has not heard from; removes extra ones';

  settings(config: ClusterConfig): Readonly<Record<string, unknown>> {
    return { maxPeerCount: config.maxPeerCount, maxStoreDownTimeMs: config.maxStoreDownTimeMs, locationLabels: ['host', 'zone'], membershipSettleMs: this.membershipSettleMs, limit: 'regionScheduleLimit' };
  }

  schedule(input: ScheduleInput): OperatorPlan[] {
    const { view, budget } = input;
    const loads = storeLoads(view);
    const plans: OperatorPlan[] = [];
    for (const r of view.regions) {
      if (plans.length >= budget) break;
      if (r.hasOperator || !hasLiveLeader(view, r) || !hasWorkingQuorum(view, r)) continue;
      const plan = checkRegion(view, r, loads, input.newPeerId, { isSettled: r.membershipAgeMs >= this.membershipSettleMs });
      if (plan !== undefined) plans.push(plan);
    }
    return plans;
  }
}

type Repair = { readonly description: string; readonly steps: OperatorPlan['steps']; readonly from?: number; readonly to?: number };

function plan(r: RegionView, repair: Repair): OperatorPlan {
  return { regionId: r.region.id, epoch: r.region.epoch, kind: 'region', description: repair.description, steps: repair.steps };
}

/** The one repair `r` needs most, if any; `loads` is updated as if it were done. */
export function checkRegion(view: ClusterView, r: RegionView, loads: Map<number, StoreLoad>, newPeerId: () => number, membership: { readonly isSettled: boolean }): OperatorPlan | undefined {
  const repair = learnerRepair(view, r, membership) ?? replaceRepair(view, r, loads, newPeerId, 'down', membership) ?? silentRepair(view, r, loads, newPeerId) ??
    addRepair(view, r, loads, newPeerId) ??
    replaceRepair(view, r, loads, newPeerId, 'offline', membership) ?? (membership.isSettled ? (removeRepair(view, r, loads) ?? hostRepair(view, r, loads, newPeerId)) : undefined);
  if (repair === undefined) return undefined;
  shiftLoad(loads, r, repair.from, repair.to);
  return plan(r, repair);
}

function learnerRepair(view: ClusterView, r: RegionView, membership: { readonly isSettled: boolean }): Repair | undefined {
  const learner = r.region.peers.find((p) => p.role === 'learner');
  if (learner === undefined) return undefined;
  const voters = votersOf(r.region);
  const voterHosts = new Set(voters.map((p) => hostOf(view.stores.get(p.storeId), p.storeId)));
  const store = view.stores.get(learner.storeId);
  const isGoodPlace = isPlacementTarget(store) && !voterHosts.has(hostOf(store, learner.storeId));
  const isSilent = isSilentPeer(view, r, learner);
  if (voters.length < view.config.maxPeerCount && isGoodPlace) {
    // Promoted once its leader hears it and it is caught up (as a voter it counts in the quorum);
    // one waiting for its snapshot is left to get it (removing it would only start another).
    if (isWorkingPeer(view, r, learner)) return { description: `promote-learner on store ${learner.storeId}`, steps: [{ kind: 'promoteLearner', peer: learner }] };
    if (r.pendingPeerIds.includes(learner.id) && !isSilent) return undefined;
  }
  if (!membership.isSettled && !isSilent) return undefined;
  return { description: `remove-${isSilent ? 'silent-' : ''}learner on store ${learner.storeId}`, steps: [{ kind: 'removePeer', peer: learner }], from: learner.storeId };
}

/** Replaces the first voter on a store in `state` ('down' covers down and gone). */
function replaceRepair(
  view: ClusterView,
  r: RegionView,
  loads: ReadonlyMap<number, StoreLoad>,
  newPeerId: () => number,
  state: 'down' | 'offline',
  membership: { readonly isSettled: boolean },
): Repair | undefined {
  const voters = votersOf(r.region);
  const victim = voters.find((p) => (state === 'down' ? !isLivePeer(view, p) : healthOf(view, p.storeId) === 'offline'));
  if (victim === undefined) return undefined;
  const label = state === 'down' ? `replace-${healthOf(view, victim.storeId)}-peer` : 'replace-offline-peer';
  const target = rankTargets(view, r.region, loads, victim)[0];
  if (target !== undefined) {
    const steps = moveReplicaSteps(view, r, victim, target, newPeerId(), loads);
    if (steps !== undefined) return { description: `${label} store ${victim.storeId} → ${target}`, steps, from: victim.storeId, to: target };
  }
  // Without a place to move it: only an extra replica goes — a dead one at once, a live (offline) one once the membership settled.
  if (voters.length > view.config.maxPeerCount && (state === 'down' || membership.isSettled) && canRemoveVoter(view, r, victim)) {
    const steps = removeReplicaSteps(view, r, victim, loads);
    if (steps !== undefined) return { description: `remove-${healthOf(view, victim.storeId)}-peer on store ${victim.storeId}`, steps, from: victim.storeId };
  }
  return undefined;
}

/** Replaces a silent voter (lost on a live store), or removes it where no other store can take it. */
function silentRepair(view: ClusterView, r: RegionView, loads: ReadonlyMap<number, StoreLoad>, newPeerId: () => number): Repair | undefined {
  const victim = votersOf(r.region).find((p) => isLivePeer(view, p) && isSilentPeer(view, r, p));
  if (victim === undefined) return undefined;
  const target = rankTargets(view, r.region, loads, victim)[0];
  if (target !== undefined) {
    const steps = moveReplicaSteps(view, r, victim, target, newPeerId(), loads);
    if (steps !== undefined) return { description: `replace-silent-peer store ${victim.storeId} → ${target}`, steps, from: victim.storeId, to: target };
  }
  if (!canRemoveVoter(view, r, victim)) return undefined;
  const steps = removeReplicaSteps(view, r, victim, loads);
  return steps === undefined ? undefined : { description: `remove-silent-peer on store ${victim.storeId}`, steps, from: victim.storeId };
}

function addRepair(view: ClusterView, r: RegionView, loads: ReadonlyMap<number, StoreLoad>, newPeerId: () => number): Repair | undefined {
  if (votersOf(r.region).length >= view.config.maxPeerCount) return undefined;
  const target = rankTargets(view, r.region, loads)[0];
  if (target === undefined) return undefined;
  return { description: `add-replica on store ${target}`, steps: addReplicaSteps(target, newPeerId()), to: target };
}

/**
 * Whether removing `victim` leaves the working voters a quorum of the voters left. Defence in
 * depth: the removal order (dead and silent voters first) already keeps it true; this refuses
 * anything else.
 */
export function canRemoveVoter(view: ClusterView, r: RegionView, victim: PeerMeta): boolean {
  const left = votersOf(r.region).filter((p) => p.id !== victim.id);
  return left.length >= 1 && left.filter((p) => isWorkingPeer(view, r, p)).length >= quorumOf(left.length);
}

function removeRepair(view: ClusterView, r: RegionView, loads: ReadonlyMap<number, StoreLoad>): Repair | undefined {
  const voters = votersOf(r.region);
  if (voters.length <= view.config.maxPeerCount) return undefined;
  const hostCount = new Map<string, number>();
  for (const p of voters) {
    const h = hostOf(view.stores.get(p.storeId), p.storeId);
    hostCount.set(h, (hostCount.get(h) ?? 0) + 1);
  }
  const rank = (p: PeerMeta): number[] => [
    isWorkingPeer(view, r, p) ? 1 : 0,
    healthOf(view, p.storeId) === 'offline' ? 0 : 1,
    (hostCount.get(hostOf(view.stores.get(p.storeId), p.storeId)) ?? 0) > 1 ? 0 : 1,
    -(loads.get(p.storeId)?.regionCount ?? 0),
    p.id === r.leaderPeerId ? 1 : 0,
    -p.storeId,
  ];
  const ordered = [...voters].sort((a, b) => compareRanks(rank(a), rank(b)));
  for (const victim of ordered) {
    if (!canRemoveVoter(view, r, victim)) continue;
    const steps = removeReplicaSteps(view, r, victim, loads);
    if (steps !== undefined) return { description: `remove-extra-peer on store ${victim.storeId}`, steps, from: victim.storeId };
  }
  return undefined;
}

function compareRanks(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function hostRepair(view: ClusterView, r: RegionView, loads: ReadonlyMap<number, StoreLoad>, newPeerId: () => number): Repair | undefined {
  const seen = new Map<string, PeerMeta>();
  for (const p of votersOf(r.region)) {
    const h = hostOf(view.stores.get(p.storeId), p.storeId);
    const first = seen.get(h);
    if (first === undefined) {
      seen.set(h, p);
      continue;
    }
    // Two voters on one machine: move the one on the busier store.
    const victim = (loads.get(first.storeId)?.regionCount ?? 0) > (loads.get(p.storeId)?.regionCount ?? 0) ? first : p;
    const target = rankTargets(view, r.region, loads, victim)[0];
    if (target === undefined) continue;
    const steps = moveReplicaSteps(view, r, victim, target, newPeerId(), loads);
    if (steps !== undefined) return { description: `isolate-host store ${victim.storeId} → ${target}`, steps, from: victim.storeId, to: target };
  }
  return undefined;
}
