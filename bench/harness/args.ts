// `npm run bench -- <workload> [options]`: the command line, parsed into one validated settings
// object. A bad flag is a UsageError (the CLI prints its one line and exits 2).

import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REPLICA_READS, type ReplicaRead } from '../../client/index.js';
import { DISTRIBUTIONS, type Distribution } from './key-chooser.js';
import type { EtcdTransportKind } from './target.js';
import { WORKLOADS, workloadNamed, type WorkloadSpec } from './workloads.js';

/** `compare`: the workloads of issue F9's comparison table, each on Flotilla and on etcd. */
export const COMPARE_WORKLOADS: readonly string[] = ['raw-put', 'raw-get', 'txn-transfer', 'ycsb-a'];
const ETCD_TRANSPORT_CHOICES: readonly EtcdTransportKind[] = ['http2', 'grpc-js'];
/** --rate's ceiling: far above what 2 cores serve; a typo of a zero too many is refused. */
export const RATE_MAX = 1_000_000;
/** Points of one sweep list: each point is a measured run; more is a soak, not a sweep. */
export const SWEEP_POINTS_MAX = 16;

export type TargetChoice = 'flotilla' | 'etcd' | 'both';
const TARGET_CHOICES: readonly TargetChoice[] = ['flotilla', 'etcd', 'both'];

/** Operations in flight, all workers together: past this the generator itself is the queue. */
export const CONCURRENCY_MAX = 4_096;
export const WORKERS_MAX = 64;
export const VALUE_SIZE_MAX = 1024 * 1024;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/**
 * One invocation. The plan is `workloads` × `storeCounts` × `concurrencies` on each target; the
 * fields `workload`, `stores`, `concurrency` and `workers` are those of the point being run (the
 * first point's after parsing; the CLI spreads each point over them).
 */
export interface BenchSettings {
  /** `compare` (several workloads, a ratio table) or one workload's name. */
  readonly command: string;
  readonly workloads: readonly WorkloadSpec[];
  readonly concurrencies: readonly number[];
  readonly storeCounts: readonly number[];
  readonly workload: WorkloadSpec;
  /** --workers as given; a point runs min(this, its concurrency). */
  readonly workersRequested: number;
  /** --distribution as given; null: each workload's default. */
  readonly distributionGiven: Distribution | null;
  readonly target: TargetChoice;
  /** Existing Flotilla cluster's PD endpoints; null: start one. */
  readonly pdEndpoints: readonly string[] | null;
  readonly pds: number;
  readonly stores: number;
  readonly workers: number;
  readonly concurrency: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly keys: number;
  readonly accounts: number;
  /** Flotilla: regions the workload's key range is split into before the run (1 = no pre-split). */
  readonly regions: number;
  /** Flotilla: empty regions split off beside the workload's keys (idle during the run; F7: idle regions cost nothing). */
  readonly idleRegions: number;
  readonly distribution: Distribution;
  readonly valueSize: number;
  readonly seed: number;
  /** Output directory; null: bench/results/<timestamp>-<workload>/. */
  readonly out: string | null;
  readonly serverLogLevel: string;
  readonly isKeep: boolean;
  /** --rate: offered ops/s over all loops (open loop, latency from when each operation was due); null: closed loops. */
  readonly rateOpsPerSec: number | null;
  /** Profile the started Flotilla servers and the workers (V8 sampling profiler); profiles kept under <out>/profiles/. */
  readonly isCpuProf: boolean;
  readonly etcdTransport: EtcdTransportKind;
  /** Flotilla: where the client's transactional reads run (client ClientOptions.replicaRead). */
  readonly replicaRead: ReplicaRead;
  /** Before run n's warm-up: write `${startGate}.${n}.ready`, then wait until `${startGate}.${n}` exists (bench/ab.ts). */
  readonly startGate: string | null;
}

export const USAGE = `npm run bench -- <workload> [options]
npm run bench -- compare [options]      ${COMPARE_WORKLOADS.join(', ')} on Flotilla and on etcd, one ratio table

Workloads:
${WORKLOADS.map((w) => `  ${w.name.padEnd(14)} ${w.description}`).join('\n')}

Options:
  --target <t>          flotilla | etcd | both (default flotilla, for compare both; both: the same run on each, then a comparison table)
  --pd <host:port,...>  an existing Flotilla cluster's PD endpoints (default: start one: fresh temp dir, free ports)
  --pds <n>             PD members of the cluster started (1, 3, 5, 7; default 1)
  --stores <n,...>      stores of the cluster started (default 3); a list sweeps: one cluster per count, e.g. 1,3,5
  --workers <n>         load generator processes (default 2; a sweep point below it uses as many as it has operations)
  --concurrency <n,...> operations in flight over all workers (default 64); a list sweeps, e.g. 1,8,64,256
  --rate <ops/s>        open loop: offer this many operations a second over all loops, latency counted from when each was due
                        (for p99 at equal throughput; default: closed loops, each issuing its next operation at once)
  --duration <s>        measured seconds (default 10)
  --warmup <s>          unmeasured seconds before (default 20: V8 compiles the servers' and workers' hot code for ~20 s; a just-split cluster ramps too)
  --keys <n>            key space of raw/YCSB workloads, preloaded for reads (default 10000)
  --accounts <n>        accounts of txn-transfer (default 1000)
  --regions <n>         Flotilla: split the workload's key range into n regions before the run (default 1: no pre-split)
  --idle-regions <n>    Flotilla: also split n empty regions off beside the workload's keys (no traffic reaches them; default 0)
  --replica-read <r>    Flotilla: where transactional reads run — leader (default) | follower | mixed (client replicaRead)
  --distribution <d>    zipfian (θ 0.99) | uniform key choice (default: zipfian for ycsb-*, uniform for the others)
  --value-size <bytes>  value size (default 256)
  --seed <n>            PRNG seed of key and operation choice (default 1)
  --out <dir>           where result.json, summary.md and chart.svg go (default bench/results/<timestamp>-<workload>/)
  --server-log-level <l> the started servers' log level (default warn)
  --keep                keep the started cluster's temp dir (data and logs)
  --cpu-prof            profile the started Flotilla servers and the load generator's workers (V8 sampler, 1 ms); profiles in <out>/profiles/, top functions in the summary
  --etcd-client <c>     http2 (default: gRPC over node:http2) | grpc-js (the same calls through @grpc/grpc-js)
  --start-gate <path>   before each run's warm-up, write <path>.<n>.ready and wait for <path>.<n> to exist
                        (npm run bench:ab -- --harness starts two runs' loads together)
  --help                this text`;

function integerIn(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`--${name} ${text}: expected an integer within [${min}, ${max}]`);
  return n;
}

function secondsIn(name: string, text: string, min: number): number {
  const n = Number(text.replace(/s$/, ''));
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > 86_400) throw new UsageError(`--${name} ${text}: expected seconds within [${min}, 86400]`);
  return n;
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`--${name} ${text}: expected one of ${allowed.join(', ')}`);
  return text as T;
}

function endpointList(text: string): string[] {
  const list = text.split(',').map((e) => e.trim()).filter((e) => e !== '');
  if (list.length === 0) throw new UsageError(`--pd ${text}: expected host:port[,host:port...]`);
  for (const e of list) if (!/^[^\s:]+:\d{1,5}$/.test(e)) throw new UsageError(`--pd: ${e} is not host:port`);
  return list;
}

/** Parses argv (without node and the script); 'help' when --help is given. Throws UsageError. */
export function parseBenchArgs(argv: readonly string[]): BenchSettings | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        target: { type: 'string' },
        pd: { type: 'string' },
        pds: { type: 'string', default: '1' },
        stores: { type: 'string', default: '3' },
        workers: { type: 'string', default: '2' },
        concurrency: { type: 'string', default: '64' },
        duration: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '20' },
        keys: { type: 'string', default: '10000' },
        accounts: { type: 'string', default: '1000' },
        regions: { type: 'string', default: '1' },
        'idle-regions': { type: 'string', default: '0' },
        distribution: { type: 'string' },
        'value-size': { type: 'string', default: '256' },
        seed: { type: 'string', default: '1' },
        out: { type: 'string' },
        'server-log-level': { type: 'string', default: 'warn' },
        keep: { type: 'boolean', default: false },
        'cpu-prof': { type: 'boolean', default: false },
        rate: { type: 'string' },
        'etcd-client': { type: 'string', default: 'http2' },
        'replica-read': { type: 'string', default: 'leader' },
        'start-gate': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const names = WORKLOADS.map((w) => w.name).join(', ');
  if (positionals.length !== 1) throw new UsageError(`expected one workload (${names}) or compare, got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const command = positionals[0]!;
  const isCompare = command === 'compare';
  const workloads = (isCompare ? COMPARE_WORKLOADS : [command]).map((name) => {
    const w = workloadNamed(name);
    if (w === undefined) throw new UsageError(`unknown workload ${name} (${names}, or compare)`);
    return w;
  });
  const workload = workloads[0]!;
  const target = oneOf('target', values.target ?? (isCompare ? 'both' : 'flotilla'), TARGET_CHOICES);
  for (const w of workloads) {
    for (const t of target === 'both' ? (['flotilla', 'etcd'] as const) : [target]) {
      if (!w.targets.includes(t)) throw new UsageError(`workload ${w.name} does not run on ${t} (it runs on ${w.targets.join(', ')})`);
    }
  }
  const pdEndpoints = values.pd === undefined ? null : endpointList(values.pd);
  if (pdEndpoints !== null && target !== 'flotilla') throw new UsageError(`--pd targets an existing Flotilla cluster: it needs --target flotilla, not ${target}`);
  const pds = integerIn('pds', values.pds, 1, 7);
  if (pds % 2 === 0) throw new UsageError(`--pds ${pds}: expected an odd count (1, 3, 5, 7)`);
  const workers = integerIn('workers', values.workers, 1, WORKERS_MAX);
  const concurrencies = integerList('concurrency', values.concurrency, 1, CONCURRENCY_MAX);
  if (concurrencies.length === 1 && concurrencies[0]! < workers) throw new UsageError(`--concurrency ${concurrencies[0]!} is below --workers ${workers}: every worker needs at least one loop`);
  const storeCounts = integerList('stores', values.stores, 1, 16);
  if (pdEndpoints !== null && storeCounts.length > 1) throw new UsageError('--stores with several counts starts a cluster per count: not with --pd');
  if (target === 'etcd' && storeCounts.length > 1) throw new UsageError('--stores sweeps Flotilla clusters: etcd runs 3 members; use --target flotilla or both');
  return {
    command,
    workloads,
    concurrencies,
    storeCounts,
    workload,
    workersRequested: workers,
    distributionGiven: values.distribution === undefined ? null : oneOf('distribution', values.distribution, DISTRIBUTIONS),
    target,
    pdEndpoints,
    pds,
    stores: storeCounts[0]!,
    workers: Math.min(workers, concurrencies[0]!),
    concurrency: concurrencies[0]!,
    durationS: secondsIn('duration', values.duration, 1),
    warmupS: secondsIn('warmup', values.warmup, 0),
    keys: integerIn('keys', values.keys, 1, 10_000_000),
    accounts: integerIn('accounts', values.accounts, 2, 1_000_000),
    regions: integerIn('regions', values.regions, 1, 100_000),
    idleRegions: integerIn('idle-regions', values['idle-regions'], 0, 100_000),
    distribution: values.distribution === undefined ? workload.distributionDefault : oneOf('distribution', values.distribution, DISTRIBUTIONS),
    valueSize: integerIn('value-size', values['value-size'], 1, VALUE_SIZE_MAX),
    seed: integerIn('seed', values.seed, 0, 2 ** 32 - 1),
    out: values.out ?? null,
    serverLogLevel: values['server-log-level'],
    isKeep: values.keep,
    rateOpsPerSec: values.rate === undefined ? null : integerIn('rate', values.rate, 1, RATE_MAX),
    isCpuProf: values['cpu-prof'],
    etcdTransport: oneOf('etcd-client', values['etcd-client'], ETCD_TRANSPORT_CHOICES),
    replicaRead: oneOf('replica-read', values['replica-read'], REPLICA_READS),
    startGate: values['start-gate'] === undefined ? null : resolve(values['start-gate']),
  };
}

/** A comma-separated list of integers within [min, max], duplicates refused (a sweep measures each point once). */
function integerList(name: string, text: string, min: number, max: number): number[] {
  const list = text.split(',').map((t) => integerIn(name, t, min, max));
  if (list.length > SWEEP_POINTS_MAX) throw new UsageError(`--${name} ${text}: at most ${SWEEP_POINTS_MAX} points`);
  if (new Set(list).size !== list.length) throw new UsageError(`--${name} ${text}: a point is listed twice`);
  return list;
}

/**
 * The settings of one point of the plan: `workload` at `concurrency` on `stores` stores, with the
 * workers no more than the operations in flight, and the key distribution the workload's own
 * default unless --distribution was given (`compare` mixes uniform and zipfian workloads).
 */
export function pointSettings(settings: BenchSettings, workload: WorkloadSpec, concurrency: number, stores: number): BenchSettings {
  return {
    ...settings,
    workload,
    concurrency,
    stores,
    workers: Math.min(settings.workersRequested, concurrency),
    distribution: settings.distributionGiven ?? workload.distributionDefault,
  };
}

/** How many loops worker `index` of `workers` runs: C spread as evenly as possible. */
export function loopsOfWorker(concurrency: number, workers: number, index: number): number {
  return Math.floor(concurrency / workers) + (index < concurrency % workers ? 1 : 0);
}
