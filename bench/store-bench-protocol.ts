// The messages between store-bench.ts (the harness: cluster, measurements, report) and its load
// generator, a child process (store-bench-generator.ts) so the generator's CPU is its own and
// can be reported apart from the stores'. Plain JSON over the fork IPC channel.

/** The directory bench/cpu-profile-preload.ts writes a store's profile into. */
export const CPU_PROF_DIR_ENV = 'FLOTILLA_BENCH_CPU_PROF_DIR';

export const WORKLOADS = ['raw-put', 'raw-get', 'txn-get', 'transfer'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** Where requests go: the region leader's store and the context every request carries. */
export interface RegionRoute {
  readonly leaderAddress: string;
  readonly regionId: number;
  readonly epoch: { readonly confVer: number; readonly version: number };
  readonly leaderPeerId: number;
  readonly leaderStoreId: number;
  /** The region's other replicas (for replica reads). */
  readonly followers: readonly { readonly address: string; readonly peerId: number; readonly storeId: number }[];
}

export interface GeneratorSettings {
  readonly pdEndpoint: string;
  readonly route: RegionRoute;
  /** BatchCommands streams to the leader; each tick's requests go out as one message on one of them. */
  readonly streams: number;
  readonly valueBytes: number;
  /** Raw keys loaded for raw-get (raw-put overwrites the same key space). */
  readonly rawKeys: number;
  /** Transactional keys (accounts) loaded for txn-get and transfer. */
  readonly accounts: number;
  /** Balance every account starts with. */
  readonly balanceInitial: number;
  /** Transfers ask for one-phase commit (both accounts lie in the one region). */
  readonly isOnePc: boolean;
  /** Transactional reads (transfers' and txn-get's) go to the followers in turn as replica reads. */
  readonly isReplicaRead: boolean;
}

export type GeneratorCommand =
  | { readonly kind: 'init'; readonly settings: GeneratorSettings }
  | { readonly kind: 'route'; readonly route: RegionRoute }
  | { readonly kind: 'load' }
  | { readonly kind: 'run'; readonly workload: Workload; readonly concurrency: number }
  | { readonly kind: 'measure-start' }
  | { readonly kind: 'measure-stop' }
  | { readonly kind: 'check-balances' };

export interface LatencySummaryUs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export interface GeneratorResult {
  readonly workload: Workload;
  readonly concurrency: number;
  /** The generator's own measuring window (between measure-start and measure-stop). */
  readonly elapsedMs: number;
  /** Operations that started in the window and succeeded. */
  readonly ops: number;
  /** Successful operations' latency, including retries and TSO waits. */
  readonly latencyUs: LatencySummaryUs;
  /** Failed operations by kind (region:notLeader, other:Internal, key:WriteConflict, NotFound, …). */
  readonly errors: Readonly<Record<string, number>>;
  /** Transfer attempts retried with a new start_ts, by the reason. */
  readonly retries: Readonly<Record<string, number>>;
  /**
   * Mean milliseconds of each step of an operation, over the steps that ended in the window
   * (transfer: tso, read, prewrite — one-phase commit included — commit-tso, commit; txn-get:
   * tso, get): where an operation's latency goes, as the client sees it.
   */
  readonly stepsMs: Readonly<Record<string, number>>;
  /** KV requests written on the streams in the window, and the stream messages that carried them. */
  readonly requests: number;
  readonly streamMessages: number;
  /** The generator process's CPU time in the window (user + system, all its threads). */
  readonly cpuMs: number;
  /** Operations still unfinished 10 s after measure-stop (should be 0). */
  readonly abandoned: number;
}

export interface BalanceCheck {
  readonly accounts: number;
  readonly total: string;
  readonly expected: string;
  readonly locked: number;
  readonly missing: number;
}

export type GeneratorReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'loaded'; readonly rawKeys: number; readonly accounts: number; readonly ms: number }
  | { readonly kind: 'running' }
  | { readonly kind: 'measuring' }
  | { readonly kind: 'result'; readonly result: GeneratorResult }
  | { readonly kind: 'balances'; readonly check: BalanceCheck }
  | { readonly kind: 'failed'; readonly message: string };
