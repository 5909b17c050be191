// The result of one workload on one target: what result.json holds and the Markdown summary and
// SVG chart are drawn from.

import type { LatencySummaryMs } from './histogram.js';
import type { CpuFigure } from './cpu.js';
import type { TargetKind } from './target.js';

export interface TimelinePoint {
  /** Seconds since the measured window began (end of the interval). */
  readonly second: number;
  readonly opsPerSec: number;
  readonly p99Ms: number;
}

export interface RunResult {
  readonly target: TargetKind;
  readonly workload: string;
  readonly startedAt: string;
  readonly settings: {
    readonly workers: number;
    readonly concurrency: number;
    readonly durationS: number;
    readonly warmupS: number;
    readonly keys: number;
    readonly accounts: number;
    readonly distribution: string;
    readonly valueSize: number;
    readonly seed: number;
    /** --rate: the offered load of an open-loop run; null: closed loops. */
    readonly rateOpsPerSec: number | null;
    /** Servers started by the harness, e.g. "1 PD + 3 stores"; "existing" for --pd. */
    readonly cluster: string;
    /** Flotilla stores the harness started; null for etcd and an existing cluster. */
    readonly stores: number | null;
  };
  /** bench/cpu-speed.ts's score just before the run (higher is faster): runs compare only at close speeds. */
  readonly cpuSpeed: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly opsByKind: Readonly<Record<string, number>>;
  readonly latencyMs: LatencySummaryMs;
  readonly errors: Readonly<Record<string, number>>;
  /** Conflicts run again, by op kind (transfer, txnRmw): inside the operations' latencies. */
  readonly retries: Readonly<Record<string, number>>;
  readonly timeline: readonly TimelinePoint[];
  readonly cpu: {
    /** The parent and each worker process. */
    readonly generator: readonly CpuFigure[];
    readonly generatorTotal: CpuFigure;
    /** Server processes the harness started (empty otherwise). */
    readonly servers: readonly CpuFigure[];
  };
  /** txn-transfer: the total of balances before and after. */
  readonly invariant: { readonly expectedTotal: number; readonly actualTotal: number; readonly isConserved: boolean } | null;
}
