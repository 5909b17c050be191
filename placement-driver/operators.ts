// Operators: PD's requests to change a region, as a queue of steps per region, delivered to the
// region's leader in region-heartbeat responses. A step is re-sent on every heartbeat until the
// region the leader reports shows it done (a peer present, a leader moved, the epoch bumped), so a
// lost response costs one heartbeat interval, never the step. At most one operator per region.
//
//   created ──heartbeat──► step i sent ──region shows step i done──► step i+1 … ──► finished
//      └──── timeout, region gone, or cancelled ─────────────────────────────────► removed
//
// Operators come from the admin API (http-api.ts) and from the schedulers (schedulers/), each
// tagged with its kind so the scheduler controller can bound how many of a kind are in flight.

import type { PeerMeta, RegionEpoch, RegionMeta } from './region-index.js';

export type OperatorStep =
  | { readonly kind: 'addPeer'; readonly peer: PeerMeta }
  | { readonly kind: 'removePeer'; readonly peer: PeerMeta }
  | { readonly kind: 'promoteLearner'; readonly peer: PeerMeta }
  | { readonly kind: 'transferLeader'; readonly toPeer: PeerMeta }
  | { readonly kind: 'split'; /** memcomparable split keys; empty = the store picks the middle */ readonly keys: readonly Buffer[] }
  | { readonly kind: 'merge'; readonly targetRegionId: number };

/**
 * What an operator does, for the schedule limits (cluster-config.ts): `leader` moves leadership,
 * `region` moves or repairs replicas, `merge` merges (or moves peers to merge), `hotRegion`
 * spreads hot traffic; `admin` operators were asked for over HTTP and count against no limit.
 */
export type OperatorKind = 'admin' | 'leader' | 'region' | 'merge' | 'hotRegion';
export const OPERATOR_KINDS: readonly OperatorKind[] = ['admin', 'leader', 'region', 'merge', 'hotRegion'];

export interface Operator {
  readonly id: number;
  readonly regionId: number;
  readonly kind: OperatorKind;
  /** Who created it: a scheduler's name, or "admin". */
  readonly source: string;
  /** Who asked and why, e.g. "admin-transfer-leader". */
  readonly description: string;
  /** The region's epoch when the operator was created: split and merge are done when it moves. */
  readonly epoch: RegionEpoch;
  readonly steps: readonly OperatorStep[];
  readonly createdAtMs: number;
  readonly timeoutMs: number;
}

export interface OperatorView extends Operator {
  readonly currentStep: number;
}

/** An operator not finished in this long is dropped (a stuck step must not pin a region forever). */
export const OPERATOR_TIMEOUT_MS_DEFAULT = 10 * 60_000;
/** Operators queued at once across the cluster; more are refused. */
export const OPERATORS_MAX = 10_000;

/**
 * How an operator's life reached a point the region event log records (region-events.ts):
 * created; finished (every step done); cancelled (admin); timedOut (dropped past its timeout);
 * regionGone (its region left PD's index: merged away, or replaced by a newer report).
 */
export type OperatorOutcome = 'created' | 'finished' | 'cancelled' | 'timedOut' | 'regionGone';
export type OperatorListener = (op: Operator, outcome: OperatorOutcome) => void;

export type AddOperatorResult = { readonly kind: 'ok'; readonly operator: Operator } | { readonly kind: 'refused'; readonly reason: string };

function isStepDone(step: OperatorStep, op: Operator, region: RegionMeta, leaderPeerId: number): boolean {
  switch (step.kind) {
    case 'addPeer':
      return region.peers.some((p) => p.id === step.peer.id && p.storeId === step.peer.storeId);
    case 'removePeer':
      return !region.peers.some((p) => p.id === step.peer.id);
    case 'promoteLearner':
      return region.peers.some((p) => p.id === step.peer.id && p.role === 'voter');
    case 'transferLeader':
      return leaderPeerId === step.toPeer.id;
    case 'split':
    case 'merge':
      return region.epoch.version > op.epoch.version;
  }
}

export class OperatorController {
  private readonly byRegion = new Map<number, { op: Operator; step: number }>();
  private nextId = 1;

  /** `onOutcome` observes every operator's creation and end (the region event log); it must not throw. */
  constructor(
    private readonly nowMs: () => number,
    private readonly onOutcome: OperatorListener = () => {},
  ) {}

  get size(): number {
    return this.byRegion.size;
  }

  add(
    regionId: number,
    epoch: RegionEpoch,
    description: string,
    steps: readonly OperatorStep[],
    options: { readonly kind?: OperatorKind; readonly source?: string; readonly timeoutMs?: number } = {},
  ): AddOperatorResult {
    if (steps.length === 0) return { kind: 'refused', reason: 'an operator needs at least one step' };
    const existing = this.byRegion.get(regionId);
    if (existing !== undefined) return { kind: 'refused', reason: `region ${regionId} already has operator ${existing.op.id} (${existing.op.description})` };
    if (this.byRegion.size >= OPERATORS_MAX) return { kind: 'refused', reason: `${OPERATORS_MAX} operators are queued` };
    const { kind = 'admin', source = 'admin', timeoutMs = OPERATOR_TIMEOUT_MS_DEFAULT } = options;
    const operator: Operator = { id: this.nextId++, regionId, kind, source, description, epoch, steps, createdAtMs: this.nowMs(), timeoutMs };
    this.byRegion.set(regionId, { op: operator, step: 0 });
    this.onOutcome(operator, 'created');
    return { kind: 'ok', operator };
  }

  cancel(regionId: number): boolean {
    return this.drop(regionId, 'cancelled');
  }

  /** Removes the region's operator, telling the listener why; false when it had none. */
  private drop(regionId: number, outcome: Exclude<OperatorOutcome, 'created'>): boolean {
    const entry = this.byRegion.get(regionId);
    if (entry === undefined) return false;
    this.byRegion.delete(regionId);
    this.onOutcome(entry.op, outcome);
    return true;
  }

  get(regionId: number): OperatorView | undefined {
    const entry = this.byRegion.get(regionId);
    return entry === undefined ? undefined : { ...entry.op, currentStep: entry.step };
  }

  list(): OperatorView[] {
    return [...this.byRegion.values()].map((e) => ({ ...e.op, currentStep: e.step }));
  }

  /**
   * Operators in flight of each kind. Timed-out ones still count until their region's next
   * heartbeat drops them; expireTimedOut() drops them without waiting for one.
   */
  countByKind(): Map<OperatorKind, number> {
    const counts = new Map<OperatorKind, number>();
    for (const { op } of this.byRegion.values()) counts.set(op.kind, (counts.get(op.kind) ?? 0) + 1);
    return counts;
  }

  /** Drops every operator past its timeout (a region whose leader went silent sends no heartbeat). */
  expireTimedOut(): number {
    const now = this.nowMs();
    let dropped = 0;
    for (const [regionId, { op }] of this.byRegion) {
      if (now - op.createdAtMs > op.timeoutMs) {
        this.drop(regionId, 'timedOut');
        dropped++;
      }
    }
    return dropped;
  }

  /**
   * The step to send with the response to this heartbeat, advancing past every step the
   * reported region shows done. Returns undefined when the region has no (live) operator.
   */
  onHeartbeat(region: RegionMeta, leaderPeerId: number): OperatorStep | undefined {
    const entry = this.byRegion.get(region.id);
    if (entry === undefined) return undefined;
    if (this.nowMs() - entry.op.createdAtMs > entry.op.timeoutMs) {
      this.drop(region.id, 'timedOut');
      return undefined;
    }
    while (entry.step < entry.op.steps.length && isStepDone(entry.op.steps[entry.step]!, entry.op, region, leaderPeerId)) entry.step++;
    if (entry.step >= entry.op.steps.length) {
      this.drop(region.id, 'finished');
      return undefined;
    }
    return entry.op.steps[entry.step];
  }

  /** Drops operators of regions that no longer exist (merged away). */
  removeRegion(regionId: number): void {
    this.drop(regionId, 'regionGone');
  }
}
