// `npm run bench -- <workload> [options]`: the command line, parsed into one validated settings
// object. A bad flag is a UsageError (the CLI prints its one line and exits 2).

import { parseArgs } from 'node:util';
import { DISTRIBUTIONS, type Distribution } from './key-chooser.js';
import { WORKLOADS, workloadNamed, type WorkloadSpec } from './workloads.js';

export type TargetChoice = 'flotilla' | 'etcd' | 'both';
const TARGET_CHOICES: readonly TargetChoice[] = ['flotilla', 'etcd', 'both'];

/** Operations in flight, all workers together: past this the generator itself is the queue. */
export const CONCURRENCY_MAX = 4_096;
export const WORKERS_MAX = 64;
export const VALUE_SIZE_MAX = 1024 * 1024;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface BenchSettings {
  readonly workload: WorkloadSpec;
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
  readonly distribution: Distribution;
  readonly valueSize: number;
  readonly seed: number;
  /** Output directory; null: bench/results/<timestamp>-<workload>/. */
  readonly out: string | null;
  readonly serverLogLevel: string;
  readonly isKeep: boolean;
}

export const USAGE = `npm run bench -- <workload> [options]

Workloads:
${WORKLOADS.map((w) => `  ${w.name.padEnd(14)} ${w.description}`).join('\n')}

Options:
  --target <t>          flotilla | etcd | both (default flotilla; both: the same run on each, then a comparison table)
  --pd <host:port,...>  an existing Flotilla cluster's PD endpoints (default: start one: fresh temp dir, free ports)
  --pds <n>             PD members of the cluster started (1, 3, 5, 7; default 1)
  --stores <n>          stores of the cluster started (default 3)
  --workers <n>         load generator processes (default 2)
  --concurrency <n>     operations in flight over all workers (default 64)
  --duration <s>        measured seconds (default 10)
  --warmup <s>          unmeasured seconds before (default 1)
  --keys <n>            key space of raw/YCSB workloads, preloaded for reads (default 10000)
  --accounts <n>        accounts of txn-transfer (default 1000)
  --distribution <d>    zipfian (θ 0.99) | uniform key choice (default: zipfian for ycsb-*, uniform for the others)
  --value-size <bytes>  value size (default 256)
  --seed <n>            PRNG seed of key and operation choice (default 1)
  --out <dir>           where result.json, summary.md and chart.svg go (default bench/results/<timestamp>-<workload>/)
  --server-log-level <l> the started servers' log level (default warn)
  --keep                keep the started cluster's temp dir (data and logs)
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
        target: { type: 'string', default: 'flotilla' },
        pd: { type: 'string' },
        pds: { type: 'string', default: '1' },
        stores: { type: 'string', default: '3' },
        workers: { type: 'string', default: '2' },
        concurrency: { type: 'string', default: '64' },
        duration: { type: 'string', default: '10' },
        warmup: { type: 'string', default: '1' },
        keys: { type: 'string', default: '10000' },
        accounts: { type: 'string', default: '1000' },
        distribution: { type: 'string' },
        'value-size': { type: 'string', default: '256' },
        seed: { type: 'string', default: '1' },
        out: { type: 'string' },
        'server-log-level': { type: 'string', default: 'warn' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(`expected one workload (${WORKLOADS.map((w) => w.name).join(', ')}), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const workload = workloadNamed(positionals[0]!);
  if (workload === undefined) throw new UsageError(`unknown workload ${positionals[0]!} (${WORKLOADS.map((w) => w.name).join(', ')})`);
  const target = oneOf('target', values.target, TARGET_CHOICES);
  const pdEndpoints = values.pd === undefined ? null : endpointList(values.pd);
  if (pdEndpoints !== null && target !== 'flotilla') throw new UsageError(`--pd targets an existing Flotilla cluster: it needs --target flotilla, not ${target}`);
  const pds = integerIn('pds', values.pds, 1, 7);
  if (pds % 2 === 0) throw new UsageError(`--pds ${pds}: expected an odd count (1, 3, 5, 7)`);
  const workers = integerIn('workers', values.workers, 1, WORKERS_MAX);
  const concurrency = integerIn('concurrency', values.concurrency, 1, CONCURRENCY_MAX);
  if (concurrency < workers) throw new UsageError(`--concurrency ${concurrency} is below --workers ${workers}: every worker needs at least one loop`);
  return {
    workload,
    target,
    pdEndpoints,
    pds,
    stores: integerIn('stores', values.stores, 1, 16),
    workers,
    concurrency,
    durationS: secondsIn('duration', values.duration, 1),
    warmupS: secondsIn('warmup', values.warmup, 0),
    keys: integerIn('keys', values.keys, 1, 10_000_000),
    accounts: integerIn('accounts', values.accounts, 2, 1_000_000),
    distribution: values.distribution === undefined ? workload.distributionDefault : oneOf('distribution', values.distribution, DISTRIBUTIONS),
    valueSize: integerIn('value-size', values['value-size'], 1, VALUE_SIZE_MAX),
    seed: integerIn('seed', values.seed, 0, 2 ** 32 - 1),
    out: values.out ?? null,
    serverLogLevel: values['server-log-level'],
    isKeep: values.keep,
  };
}

/** How many loops worker `index` of `workers` runs: C spread as evenly as possible. */
export function loopsOfWorker(concurrency: number, workers: number, index: number): number {
  return Math.floor(concurrency / workers) + (index < concurrency % workers ? 1 : 0);
}
