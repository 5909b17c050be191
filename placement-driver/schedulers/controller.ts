// The scheduler controller: on the serving PD leader only, every `intervalMs` it takes one
// ClusterView and runs each switched-on scheduler in a fixed order (repairs first), bounded by the
// schedule limit of the scheduler's kind minus the operators of that kind already in flight, and
// turns the plans into operators (operators.ts). Which schedulers are on is replicated state
// (PdStateMachine.schedulerSwitches), read afresh every round, so a switch made on one leader
// holds on the next.
//
// One round:
//   1. not the serving leader ─► forget leadership (a later one starts a new down-time clock); stop
//   2. top up the peer-id pool (the only await; leadership is checked again after it)
//   3. drop timed-out operators; build the view
//   4. per scheduler: budget = min(limit − in flight, PLANS_PER_ROUND_MAX); plans → operators,
//      each logged once and counted; the view is rebuilt so the next one sees them
//   5. an offline store that holds no replica any more is proposed for deletion again (→ tombstone)

import type { Logger } from 'pino';
import { Counter, Gauge, invariant, type Registry, type Rng } from '../../common/index.js';
import type { OperatorController, OperatorStep } from '../operators.js';
import type { RegionRuntime, StoreRuntime } from '../service.js';
import type { PdStateMachine } from '../state-machine.js';
import { BalanceLeader } from './balance-leader.js';
import { BalanceRegion } from './balance-region.js';
import { plannedPlacement, storeHealthAt, type ClusterView, type RegionView, type StoreView } from './cluster-view.js';
import { HotRegion } from './hot-region.js';
import { MergeChecker } from './merge-checker.js';
import { ReplicaChecker } from './replica-checker.js';
import { scheduleLimitOf, SCHEDULER_NAMES, type OperatorPlan, type Scheduler, type SchedulerName } from './scheduler.js';

/** How often schedulers run by default (`--schedule-interval-ms`). */
export const SCHEDULE_INTERVAL_MS_DEFAULT = 1_000;
/** Operators one scheduler creates per round at most, whatever its limit: bounds a round's CPU (balance is O(stores × regions) per plan). */
export const PLANS_PER_ROUND_MAX = 16;
/** Peer ids a round may need: every scheduler's plans, each adding up to 7 replicas (maxPeerCount ≤ 7, merge alignment). */
export const PEER_IDS_PER_ROUND_MAX = SCHEDULER_NAMES.length * PLANS_PER_ROUND_MAX * 7;
/** A region moved for balance or heat is left alone this long, so that its new placement settles first. */
export const REGION_COOLDOWN_MS_DEFAULT = 30_000;
/** Leader transfers that take longer than this have failed (a transfer is a round trip or two). */
export const LEADER_OPERATOR_TIMEOUT_MS = 60_000;

/** Every scheduler, in the order a round runs them: repairs before balance. */
export function allSchedulers(options: { readonly membershipSettleMs?: number } = {}): Scheduler[] {
  return [new ReplicaChecker(options.membershipSettleMs), new MergeChecker(), new BalanceLeader(), new BalanceRegion(), new HotRegion()];
}

export interface SchedulerControllerOptions {
  readonly sm: PdStateMachine;
  /** This member is the serving leader. */
  readonly canServe: () => boolean;
  readonly operators: OperatorController;
  /** Fresh ids from PD's allocator (through raft). */
  readonly allocIds: (count: number) => Promise<readonly bigint[]>;
  readonly storeRuntime: ReadonlyMap<number, StoreRuntime>;
  readonly regionRuntime: ReadonlyMap<number, RegionRuntime>;
  readonly nowMs: () => number;
  readonly logger: Logger;
  readonly registry?: Registry;
  readonly rng: Rng;
  /** Proposes deleting a store again (an offline store without replicas becomes a tombstone at apply). */
  readonly proposeDeleteStore?: (storeId: number) => void;
  readonly regionCooldownMs?: number;
  /** The replica checker's membership settle time (replica-checker.ts); default MEMBERSHIP_SETTLE_MS_DEFAULT. */
  readonly membershipSettleMs?: number;
  /** Default allSchedulers(); tests pass their own. */
  readonly schedulers?: readonly Scheduler[];
}

export interface SchedulerStatus {
  readonly name: SchedulerName;
  readonly isEnabled: boolean;
  readonly kind: string;
  readonly summary: string;
  readonly config: Readonly<Record<string, unknown>>;
  /** The schedule limit of its kind and the operators of that kind in flight now. */
  readonly limit: number;
  readonly inFlight: number;
  /** Rounds it ran and operators it created while this member led (since it started). */
  readonly runs: number;
  readonly operatorsCreated: number;
}

export type RoundOutcome = { readonly kind: 'notLeader' } | { readonly kind: 'notBootstrapped' } | { readonly kind: 'ran'; readonly created: readonly OperatorPlan[] };

export class SchedulerController {
  readonly schedulers: readonly Scheduler[];
  private leaderSinceMs: number | undefined;
  private readonly lastScheduledMs = new Map<number, number>();
  private readonly peerIds: number[] = [];
  private readonly runs = new Map<SchedulerName, number>();
  private readonly created = new Map<SchedulerName, number>();
  private readonly logs: ReadonlyMap<SchedulerName, Logger>;
  private readonly operatorsCreated: Counter<'scheduler' | 'kind'> | undefined;
  private readonly roundsRun: Counter<'scheduler'> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private isRunning = false;

  constructor(private readonly options: SchedulerControllerOptions) {
    this.schedulers = options.schedulers ?? allSchedulers({ ...(options.membershipSettleMs === undefined ? {} : { membershipSettleMs: options.membershipSettleMs }) });
    invariant(new Set(this.schedulers.map((s) => s.name)).size === this.schedulers.length, 'scheduler names are unique');
    this.logs = new Map(this.schedulers.map((s) => [s.name, options.logger.child({ component: 'scheduler', scheduler: s.name })]));
    const registers = options.registry === undefined ? undefined : [options.registry];
    if (registers !== undefined) {
      this.operatorsCreated = new Counter({ name: 'flotilla_pd_scheduler_operators_created_total', help: 'Operators created by schedulers, by scheduler and operator kind', labelNames: ['scheduler', 'kind'] as const, registers });
      this.roundsRun = new Counter({ name: 'flotilla_pd_scheduler_runs_total', help: 'Scheduling rounds each scheduler ran (on the leader, while switched on)', labelNames: ['scheduler'] as const, registers });
      const operators = options.operators;
      new Gauge({
        name: 'flotilla_pd_operators_in_flight', help: 'Operators queued, by kind', labelNames: ['kind'] as const, registers,
        collect() {
          this.reset();
          for (const [kind, n] of operators.countByKind()) this.set({ kind }, n);
        },
      });
    }
  }

  /** Runs a round every `intervalMs` until stop(). */
  start(intervalMs: number): void {
    invariant(this.timer === undefined, 'scheduler controller started twice');
    this.timer = setInterval(() => {
      if (this.isRunning) return;
      this.isRunning = true;
      this.round()
        .catch((err: unknown) => this.options.logger.warn({ err }, 'scheduling round failed; the next one retries'))
        .finally(() => (this.isRunning = false));
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  isEnabled(name: SchedulerName): boolean {
    return this.options.sm.schedulerSwitches.get(name) ?? true;
  }

  /** A region dropped from PD (merged away): forget when it was scheduled. */
  removeRegion(regionId: number): void {
    this.lastScheduledMs.delete(regionId);
  }

  status(): SchedulerStatus[] {
    const config = this.options.sm.config;
    const inFlight = this.options.operators.countByKind();
    return this.schedulers.map((s) => ({
      name: s.name,
      isEnabled: this.isEnabled(s.name),
      kind: s.kind,
      summary: s.summary,
      config: s.settings(config),
      limit: scheduleLimitOf(s.kind, config),
      inFlight: inFlight.get(s.kind) ?? 0,
      runs: this.runs.get(s.name) ?? 0,
      operatorsCreated: this.created.get(s.name) ?? 0,
    }));
  }

  /** One scheduling round (exported for tests; start() calls it on a timer). */
  async round(): Promise<RoundOutcome> {
    const { sm, canServe, nowMs } = this.options;
    if (!canServe()) {
      this.leaderSinceMs = undefined;
      return { kind: 'notLeader' };
    }
    this.leaderSinceMs ??= nowMs();
    if (!sm.bootstrapped) return { kind: 'notBootstrapped' };
    if (this.peerIds.length < PEER_IDS_PER_ROUND_MAX) {
      const ids = await this.options.allocIds(PEER_IDS_PER_ROUND_MAX * 2);
      for (const id of ids) {
        invariant(id <= BigInt(Number.MAX_SAFE_INTEGER), () => `peer id ${id} is not a safe integer`);
        this.peerIds.push(Number(id));
      }
      // Leadership may have moved while the ids were written.
      if (!canServe()) {
        this.leaderSinceMs = undefined;
        return { kind: 'notLeader' };
      }
    }
    this.options.operators.expireTimedOut();
    const created: OperatorPlan[] = [];
    for (const scheduler of this.schedulers) {
      if (!this.isEnabled(scheduler.name)) continue;
      created.push(...this.runOne(scheduler));
    }
    this.retireEmptyOfflineStores();
    return { kind: 'ran', created };
  }

  private runOne(scheduler: Scheduler): OperatorPlan[] {
    const { sm, operators, nowMs, rng } = this.options;
    const inFlight = operators.countByKind().get(scheduler.kind) ?? 0;
    const budget = Math.min(scheduleLimitOf(scheduler.kind, sm.config) - inFlight, PLANS_PER_ROUND_MAX);
    this.runs.set(scheduler.name, (this.runs.get(scheduler.name) ?? 0) + 1);
    this.roundsRun?.inc({ scheduler: scheduler.name });
    if (budget <= 0) return [];
    const plans = scheduler.schedule({ view: this.view(), budget, newPeerId: () => this.takePeerId(), rng });
    invariant(plans.length <= budget, () => `${scheduler.name} planned ${plans.length} operators over its budget ${budget}`);
    const log = this.logs.get(scheduler.name)!;
    const done: OperatorPlan[] = [];
    for (const plan of plans) {
      invariant(plan.kind === scheduler.kind && plan.steps.length > 0, () => `${scheduler.name}: a plan for region ${plan.regionId} of kind ${plan.kind} with ${plan.steps.length} steps`);
      const region = sm.regions.getById(plan.regionId);
      invariant(region !== undefined && region.epoch.version === plan.epoch.version && region.epoch.confVer === plan.epoch.confVer, () => `${scheduler.name}: plan for region ${plan.regionId} at a stale epoch`);
      const timeoutMs = plan.steps.every((s) => s.kind === 'transferLeader') ? LEADER_OPERATOR_TIMEOUT_MS : undefined;
      const result = operators.add(plan.regionId, plan.epoch, plan.description, plan.steps, { kind: plan.kind, source: scheduler.name, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
      if (result.kind === 'refused') {
        log.debug({ regionId: plan.regionId, reason: result.reason }, 'operator refused');
        continue;
      }
      this.lastScheduledMs.set(plan.regionId, nowMs());
      this.created.set(scheduler.name, (this.created.get(scheduler.name) ?? 0) + 1);
      this.operatorsCreated?.inc({ scheduler: scheduler.name, kind: plan.kind });
      log.info({ regionId: plan.regionId, operatorId: result.operator.id, kind: plan.kind, description: plan.description, steps: plan.steps.map(stepText) }, 'operator created');
      done.push(plan);
    }
    return done;
  }

  private takePeerId(): number {
    const id = this.peerIds.shift();
    invariant(id !== undefined, 'the peer-id pool covers a whole round (PEER_IDS_PER_ROUND_MAX)');
    return id;
  }

  /** The cluster as the schedulers see it now. */
  view(): ClusterView {
    const { sm, storeRuntime, regionRuntime, operators, nowMs } = this.options;
    const now = nowMs();
    const leaderSinceMs = this.leaderSinceMs ?? now;
    const cooldownMs = this.options.regionCooldownMs ?? REGION_COOLDOWN_MS_DEFAULT;
    const stores = new Map<number, StoreView>();
    for (const meta of sm.stores.values()) {
      const lastHeartbeatMs = storeRuntime.get(meta.id)?.lastHeartbeatMs;
      const health = storeHealthAt({ meta, lastHeartbeatMs }, now, leaderSinceMs, sm.config.maxStoreDownTimeMs);
      stores.set(meta.id, { id: meta.id, labels: meta.labels, health, isHeard: lastHeartbeatMs !== undefined && lastHeartbeatMs >= leaderSinceMs });
    }
    const mergeTargets = new Set<number>();
    for (const op of operators.list()) for (const step of op.steps) if (step.kind === 'merge') mergeTargets.add(step.targetRegionId);
    const regions: RegionView[] = sm.regions.all().map((region) => {
      const rt = regionRuntime.get(region.id);
      const perSec = (bytes: number): number => (rt === undefined || rt.trafficIntervalMs <= 0 ? 0 : (bytes * 1000) / rt.trafficIntervalMs);
      const last = this.lastScheduledMs.get(region.id);
      const leaderPeerId = sm.leaders.get(region.id) ?? 0;
      const op = operators.get(region.id);
      return {
        region,
        leaderPeerId,
        ...(op === undefined ? {} : { planned: plannedPlacement(region, leaderPeerId, op.steps.slice(op.currentStep)) }),
        approximateSizeBytes: rt?.approximateSizeBytes ?? 0,
        approximateKeys: rt?.approximateKeys ?? 0,
        writeBytesPerSec: perSec(rt?.bytesWritten ?? 0),
        readBytesPerSec: perSec(rt?.bytesRead ?? 0),
        versionAgeMs: rt === undefined ? 0 : Math.max(0, now - rt.versionSeenAtMs),
        membershipAgeMs: rt === undefined ? 0 : Math.max(0, now - rt.confVerSeenAtMs),
        downPeers: (rt?.downPeers ?? []).map((s) => ({ peerId: Number(s.peer?.id ?? 0), downMs: Number(s.downSeconds) * 1000 })),
        pendingPeerIds: (rt?.pendingPeers ?? []).map((p) => Number(p.id)),
        hasOperator: operators.get(region.id) !== undefined || mergeTargets.has(region.id),
        isRecentlyScheduled: last !== undefined && now - last < cooldownMs,
      };
    });
    return { config: sm.config, stores, regions };
  }

  /** Offline stores whose replicas have all moved away become tombstones (decided at apply). */
  private retireEmptyOfflineStores(): void {
    const { sm, proposeDeleteStore } = this.options;
    if (proposeDeleteStore === undefined) return;
    for (const store of sm.stores.values()) {
      if (store.state !== 'offline') continue;
      if (sm.regions.all().some((r) => r.peers.some((p) => p.storeId === store.id))) continue;
      proposeDeleteStore(store.id);
    }
  }
}

function stepText(step: OperatorStep): string {
  switch (step.kind) {
    case 'addPeer':
      return `add ${step.peer.role} ${step.peer.id} on store ${step.peer.storeId}`;
    case 'promoteLearner':
      return `promote ${step.peer.id} on store ${step.peer.storeId}`;
    case 'removePeer':
      return `remove ${step.peer.id} on store ${step.peer.storeId}`;
    case 'transferLeader':
      return `transfer leader to ${step.toPeer.id} on store ${step.toPeer.storeId}`;
    case 'split':
      return `split at ${step.keys.length} keys`;
    case 'merge':
      return `merge into region ${step.targetRegionId}`;
  }
}
