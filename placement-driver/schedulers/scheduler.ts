// The contract every scheduler keeps: a pure function from a ClusterView to operator plans, at
// most `budget` of them, never two for one region, never one for a region that already has an
// operator. The controller (controller.ts) turns plans into operators; schedulers never touch
// PD's state, the clock or the network, so one seed replays a decision exactly.

import type { Rng } from '../../common/index.js';
import type { ClusterConfig } from '../cluster-config.js';
import type { OperatorKind, OperatorStep } from '../operators.js';
import type { ClusterView, RegionEpoch } from './cluster-view.js';

/** The kinds of operator schedulers create (admin operators are the HTTP API's). */
export type ScheduleKind = Exclude<OperatorKind, 'admin'>;

export const SCHEDULER_NAMES = ['replica-checker', 'balance-leader', 'balance-region', 'merge-checker', 'hot-region'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

export function isSchedulerName(name: unknown): name is SchedulerName {
  return typeof name === 'string' && (SCHEDULER_NAMES as readonly string[]).includes(name);
}

/** An operator a scheduler wants: the region at the epoch it saw, and the steps. */
export interface OperatorPlan {
  readonly regionId: number;
  readonly epoch: RegionEpoch;
  readonly kind: ScheduleKind;
  /** Why, for logs and GET /operators, e.g. "replace-down-peer store 4 → 6". */
  readonly description: string;
  readonly steps: readonly OperatorStep[];
}

export interface ScheduleInput {
  readonly view: ClusterView;
  /** Operators this scheduler may still create this round: its kind's limit minus those in flight. */
  readonly budget: number;
  /** A fresh peer id (unique cluster-wide) for each replica a plan adds. */
  readonly newPeerId: () => number;
  readonly rng: Rng;
}

export interface Scheduler {
  readonly name: SchedulerName;
  readonly kind: ScheduleKind;
  /** What it does, one line, for GET /schedulers and `flotilla scheduler list`. */
  readonly summary: string;
  /** Its effective settings under `config`, as GET /schedulers shows them. */
  settings(config: ClusterConfig): Readonly<Record<string, unknown>>;
  schedule(input: ScheduleInput): OperatorPlan[];
}

/** The schedule limit of a kind (cluster-config.ts). */
export function scheduleLimitOf(kind: ScheduleKind, config: ClusterConfig): number {
  switch (kind) {
    case 'leader':
      return config.leaderScheduleLimit;
    case 'region':
      return config.regionScheduleLimit;
    case 'merge':
      return config.mergeScheduleLimit;
    case 'hotRegion':
      return config.hotRegionScheduleLimit;
  }
}
