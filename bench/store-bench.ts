// `npm run bench:store`: 1 PD + 3 flotilla-store processes on 127.0.0.1 (free ports, fresh data
// dirs, the store's default raft tick) and four workloads at each concurrency — raw put, raw get,
// txn point get, 2-key transfer transaction — driven by a load generator in a child process over
// BatchCommands streams to the region leader. Reports per point: ops/s, latency percentiles,
// errors and retries, fsyncs/s against write requests/s, CPU per operation and RSS of every store,
// and the generator's own CPU. Prints a Markdown table; writes JSON (default under the OS temp
// dir). Every process is killed and the temp dir removed at the end, on error and on Ctrl-C.
// See bench/README.md. Numbers, not a test.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { wire } from '../client/index.js';
import { SERVER_NODE_FLAGS } from '../common/index.js';
import { renderCpuProfileSummary, summarizeCpuProfileFile, type CpuProfileSummary } from './cpuprofile-top.js';
import { measureCpuSpeed } from './cpu-speed.js';
import { passStartGate } from './start-gate.js';
import {
  BenchCluster, CLOCK_TICKS_PER_SECOND, hasMetric, sampleProcess, scrapeMetrics, sumMetric, type BenchStore, type MetricSample, type ProcessSample,
} from './store-bench-cluster.js';
import {
  CPU_PROF_DIR_ENV, WORKLOADS, type BalanceCheck, type GeneratorCommand, type GeneratorReply, type GeneratorResult, type RegionRoute, type Workload,
} from './store-bench-protocol.js';

const USAGE = `npm run bench:store -- [flags]
  --duration <s>          measured seconds per point (default 10)
  --warmup <s>            unmeasured seconds before each point (default 20: V8 is still compiling the hot code for ~20 s)
  --concurrency <list>    operations in flight, comma-separated (default 1,256)
  --workloads <list>      of ${WORKLOADS.join(',')} (default all)
  --value-bytes <n>       value size (default 256)
  --keys <n>              raw keys loaded for raw-get (raw-put overwrites them) (default 10000)
  --accounts <n>          transactional keys loaded for txn-get and transfer (default 10000)
  --streams <n>           BatchCommands streams to each store (default ${wire.STREAMS_PER_STORE}, as the client library)
  --two-phase             transfers never ask for one-phase commit (default: they do)
  --replica-read          transactional reads (transfers', txn-get) go to the followers in turn as
                          replica reads (a read index from the leader; default: the leader reads)
  --stores <n>            store processes (default 3)
  --store-log-level <l>   the stores' --log-level (default warn)
  --cpu-prof-dir <dir>    profile the stores' and PD's main threads (V8 sampling profiler) into <dir>; summarize the leader's
  --out <file>            JSON results (default <tmpdir>/flotilla-bench/store-<date>.json)
  --keep                  keep the cluster's temp dir (data and logs)
  --start-gate <path>     before each point, write <path>.<n>.ready and wait for <path>.<n> to exist (bench:ab starts two runs' loads together)`;

/** KV request types that go through raft (what "writes/s" counts). */
const WRITE_REQUEST_TYPES: readonly string[] = [
  'RawPut', 'RawBatchPut', 'RawDelete', 'RawBatchDelete', 'RawDeleteRange', 'RawCompareAndSwap',
  'KvPrewrite', 'KvCommit', 'KvBatchRollback', 'KvCleanup', 'KvResolveLock', 'KvTxnHeartBeat', 'KvCheckTxnStatus', 'KvGC',
];
const BALANCE_INITIAL = 1_000_000;

interface Settings {
  readonly durationS: number;
  readonly warmupS: number;
  readonly concurrencies: readonly number[];
  readonly workloads: readonly Workload[];
  readonly valueBytes: number;
  readonly rawKeys: number;
  readonly accounts: number;
  readonly streams: number;
  readonly storeCount: number;
  readonly storeLogLevel: string;
  readonly cpuProfDir: string | null;
  readonly out: string;
  readonly isKeep: boolean;
  readonly isOnePc: boolean;
  readonly isReplicaRead: boolean;
  /** Before point n: write `${startGate}.${n}.ready`, then wait until `${startGate}.${n}` exists (bench/ab.ts). */
  readonly startGate: string | null;
}

function positive(name: string, text: string, options: { readonly isInteger: boolean } = { isInteger: true }): number {
  const n = Number(text.replace(/s$/, ''));
  if (!Number.isFinite(n) || n <= 0 || (options.isInteger && !Number.isSafeInteger(n))) {
    throw new Error(`--${name} ${text}: expected a positive ${options.isInteger ? 'integer' : 'number'}`);
  }
  return n;
}

function parseSettings(): Settings {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '1,256' },
      workloads: { type: 'string', default: WORKLOADS.join(',') },
      'value-bytes': { type: 'string', default: '256' },
      keys: { type: 'string', default: '10000' },
      accounts: { type: 'string', default: '10000' },
      streams: { type: 'string', default: String(wire.STREAMS_PER_STORE) },
      stores: { type: 'string', default: '3' },
      'store-log-level': { type: 'string', default: 'warn' },
      'cpu-prof-dir': { type: 'string' },
      out: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'two-phase': { type: 'boolean', default: false },
      'replica-read': { type: 'boolean', default: false },
      'start-gate': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const workloads = values.workloads.split(',').map((w) => {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`--workloads: unknown workload ${w} (${WORKLOADS.join(', ')})`);
    return w as Workload;
  });
  const date = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  return {
    durationS: positive('duration', values.duration, { isInteger: false }),
    warmupS: values.warmup === '0' ? 0 : positive('warmup', values.warmup, { isInteger: false }),
    concurrencies: values.concurrency.split(',').map((c) => positive('concurrency', c)),
    workloads,
    valueBytes: positive('value-bytes', values['value-bytes']),
    rawKeys: positive('keys', values.keys),
    accounts: Math.max(2, positive('accounts', values.accounts)),
    streams: positive('streams', values.streams),
    storeCount: positive('stores', values.stores),
    storeLogLevel: values['store-log-level'],
    cpuProfDir: values['cpu-prof-dir'] === undefined ? null : resolve(values['cpu-prof-dir']),
    out: resolve(values.out ?? join(tmpdir(), 'flotilla-bench', `store-${date}.json`)),
    isKeep: values.keep,
    isOnePc: !values['two-phase'],
    isReplicaRead: values['replica-read'],
    startGate: values['start-gate'] === undefined ? null : resolve(values['start-gate']),
  };
}

// ───────────────────────────── the generator process ─────────────────────────────

class GeneratorProcess {
  private readonly child: ChildProcess;
  private waiter: { resolve: (r: GeneratorReply) => void; reject: (e: unknown) => void } | null = null;
  private exitError: Error | null = null;

  constructor() {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'store-bench-generator.js');
    // The generator must not inherit --cpu-prof or inspector flags of the harness; it runs with
    // the servers' V8 flags (common/launch-env.ts).
    this.child = fork(script, [], { execArgv: [...SERVER_NODE_FLAGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: GeneratorReply) => {
      const w = this.waiter;
      this.waiter = null;
      if (w === null) return;
      if (m.kind === 'failed') w.reject(new Error(`load generator: ${m.message}`));
      else w.resolve(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exitError = new Error(`load generator exited (code ${code}, signal ${signal})`);
      this.waiter?.reject(this.exitError);
      this.waiter = null;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Sends `command` and resolves with the generator's reply of kind `expect`. */
  async request<K extends GeneratorReply['kind']>(command: GeneratorCommand, expect: K): Promise<Extract<GeneratorReply, { kind: K }>> {
    if (this.exitError !== null) throw this.exitError;
    if (this.waiter !== null) throw new Error('load generator: one request at a time');
    const reply = await new Promise<GeneratorReply>((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.child.send(command);
    });
    if (reply.kind !== expect) throw new Error(`load generator answered ${reply.kind} to ${command.kind}, expected ${expect}`);
    return reply as Extract<GeneratorReply, { kind: K }>;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

// ───────────────────────────── one measured point ─────────────────────────────

interface ClusterSample {
  readonly atMs: number;
  readonly stores: readonly { readonly proc: ProcessSample; readonly metrics: readonly MetricSample[] }[];
  readonly pd: ProcessSample;
}

async function sampleCluster(cluster: BenchCluster): Promise<ClusterSample> {
  const atMs = performance.now();
  // /proc first (cheap, all at one instant), then the scrapes, whose own cost is then outside.
  const procs = cluster.stores.map((s) => sampleProcess(s.process.pid));
  const pd = sampleProcess(cluster.pd!.pid);
  const metrics = await Promise.all(cluster.stores.map((s) => scrapeMetrics(s)));
  return { atMs, stores: procs.map((proc, i) => ({ proc, metrics: metrics[i]! })), pd };
}

export interface StoreFigures {
  readonly name: string;
  readonly storeId: number;
  readonly isLeader: boolean;
  readonly cpuPercent: number;
  /** The main thread's busy share of one core (event-loop utilization), %: near 100, that thread is the bottleneck. */
  readonly mainThreadBusyPercent: number;
  /** The main thread's own CPU (Linux; NaN elsewhere): below the busy share, it waited for a CPU. */
  readonly mainThreadCpuPercent: number;
  readonly cpuUsPerOp: number;
  readonly rssMiB: number;
  readonly fsyncsPerSec: number;
  /** Group-commit write batches (with or without fsync) per second. */
  readonly raftWritesPerSec: number;
  /** Mean write operations per group-commit batch in the window. */
  readonly raftWriteBatchOpsMean: number;
  readonly kvRequestsPerSec: number;
  readonly kvWriteRequestsPerSec: number;
  /** Mean duration of a synced group-commit write (write batch + fsync), ms. */
  readonly fsyncMsMean: number;
  /** Mean time from proposing a command to its apply on this store (leaders only), ms. */
  readonly proposeToApplyMsMean: number;
  readonly raftMessagesSentPerSec: number;
  /** Raft messages the transport dropped (stream not draining or store unreachable); raft resends. */
  readonly raftMessagesDroppedPerSec: number;
  readonly leaseReadsPerSec: number;
  /** try_one_pc prewrites committed at once, and prewritten instead (leader not synced), per second. */
  readonly onePcCommittedPerSec: number;
  readonly onePcPrewrittenPerSec: number;
  readonly readIndexReadsPerSec: number;
  readonly electionsWon: number;
}

export interface PointFigures {
  readonly workload: Workload;
  readonly concurrency: number;
  readonly seconds: number;
  readonly ops: number;
  readonly opsPerSec: number;
  readonly latencyMs: Readonly<Record<'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'mean', number>>;
  readonly errors: Readonly<Record<string, number>>;
  readonly retries: Readonly<Record<string, number>>;
  /** Mean ms of each step of an operation as the load generator saw it (GeneratorResult.stepsMs). */
  readonly stepsMs: Readonly<Record<string, number>>;
  readonly requestsPerStreamMessage: number;
  readonly generator: { readonly cpuPercent: number; readonly cpuUsPerOp: number; readonly abandoned: number };
  readonly pd: { readonly cpuPercent: number };
  readonly stores: readonly StoreFigures[];
}

function delta(after: readonly MetricSample[], before: readonly MetricSample[], name: string, where: Readonly<Record<string, string | readonly string[]>> = {}): number {
  return sumMetric(after, name, where) - sumMetric(before, name, where);
}

function storeFigures(store: BenchStore, route: RegionRoute, before: ClusterSample['stores'][number], after: ClusterSample['stores'][number], seconds: number, ops: number): StoreFigures {
  const cpuMs = after.proc.cpuMs - before.proc.cpuMs;
  const m = (name: string, where: Readonly<Record<string, string | readonly string[]>> = {}): number => delta(after.metrics, before.metrics, name, where);
  const raftWrites = m('flotilla_store_raft_write_duration_seconds_count');
  return {
    name: store.name,
    storeId: store.storeId,
    isLeader: store.address === route.leaderAddress,
    cpuPercent: (100 * cpuMs) / 1000 / seconds,
    mainThreadBusyPercent: (100 * m('flotilla_event_loop_busy_seconds_total')) / seconds,
    mainThreadCpuPercent: hasMetric(after.metrics, 'flotilla_main_thread_cpu_seconds_total') ? (100 * m('flotilla_main_thread_cpu_seconds_total')) / seconds : NaN,
    cpuUsPerOp: ops === 0 ? NaN : (cpuMs * 1000) / ops,
    rssMiB: after.proc.rssKiB / 1024,
    fsyncsPerSec: m('flotilla_store_raft_write_duration_seconds_count', { sync: 'true' }) / seconds,
    raftWritesPerSec: raftWrites / seconds,
    raftWriteBatchOpsMean: raftWrites === 0 ? NaN : m('flotilla_store_raft_write_batch_ops_sum') / m('flotilla_store_raft_write_batch_ops_count'),
    kvRequestsPerSec: m('flotilla_store_kv_requests_total') / seconds,
    kvWriteRequestsPerSec: m('flotilla_store_kv_requests_total', { type: WRITE_REQUEST_TYPES }) / seconds,
    fsyncMsMean: (1000 * m('flotilla_store_raft_write_duration_seconds_sum', { sync: 'true' })) / m('flotilla_store_raft_write_duration_seconds_count', { sync: 'true' }),
    proposeToApplyMsMean: (1000 * m('flotilla_store_propose_to_apply_duration_seconds_sum')) / m('flotilla_store_propose_to_apply_duration_seconds_count'),
    raftMessagesSentPerSec: m('flotilla_store_raft_messages_total', { direction: 'sent' }) / seconds,
    raftMessagesDroppedPerSec: m('flotilla_store_raft_messages_total', { direction: 'dropped' }) / seconds,
    leaseReadsPerSec: m('flotilla_store_reads_total', { kind: 'lease' }) / seconds,
    onePcCommittedPerSec: m('flotilla_store_one_pc_total', { outcome: 'committed' }) / seconds,
    onePcPrewrittenPerSec: m('flotilla_store_one_pc_total', { outcome: 'prewritten' }) / seconds,
    readIndexReadsPerSec: m('flotilla_store_reads_total', { kind: 'read-index' }) / seconds,
    electionsWon: m('flotilla_store_elections_won_total'),
  };
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function measurePoint(cluster: BenchCluster, gen: GeneratorProcess, route: RegionRoute, workload: Workload, concurrency: number, settings: Settings): Promise<PointFigures> {
  await gen.request({ kind: 'run', workload, concurrency }, 'running');
  await sleepMs(settings.warmupS * 1000);
  const before = await sampleCluster(cluster);
  await gen.request({ kind: 'measure-start' }, 'measuring');
  await sleepMs(settings.durationS * 1000);
  const stopped = gen.request({ kind: 'measure-stop' }, 'result');
  const after = await sampleCluster(cluster);
  const r: GeneratorResult = (await stopped).result;
  const seconds = (after.atMs - before.atMs) / 1000;
  const genSeconds = r.elapsedMs / 1000;
  const us = (v: number): number => v / 1000;
  return {
    workload,
    concurrency,
    seconds: genSeconds,
    ops: r.ops,
    opsPerSec: r.ops / genSeconds,
    latencyMs: { p50: us(r.latencyUs.p50), p90: us(r.latencyUs.p90), p99: us(r.latencyUs.p99), p999: us(r.latencyUs.p999), max: us(r.latencyUs.max), mean: us(r.latencyUs.mean) },
    errors: r.errors,
    retries: r.retries,
    stepsMs: r.stepsMs,
    requestsPerStreamMessage: r.streamMessages === 0 ? NaN : r.requests / r.streamMessages,
    generator: {
      // process.cpuUsage() of the generator over its own window: all its threads (GC included).
      cpuPercent: (100 * r.cpuMs) / r.elapsedMs,
      cpuUsPerOp: r.ops === 0 ? NaN : (r.cpuMs * 1000) / r.ops,
      abandoned: r.abandoned,
    },
    pd: { cpuPercent: (100 * (after.pd.cpuMs - before.pd.cpuMs)) / 1000 / seconds },
    stores: cluster.stores.map((s, i) => storeFigures(s, route, before.stores[i]!, after.stores[i]!, seconds, r.ops)),
  };
}

// ───────────────────────────── report ─────────────────────────────

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

function countsText(counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? '0' : entries.map(([k, v]) => `${k} ${v}`).join(', ');
}

/** Leader first, then followers, joined by " / ". */
function perStore(p: PointFigures, f: (s: StoreFigures) => string): string {
  const ordered = [...p.stores.filter((s) => s.isLeader), ...p.stores.filter((s) => !s.isLeader)];
  return ordered.map(f).join(' / ');
}

export function renderTable(points: readonly PointFigures[]): string {
  const lines = [
    '| workload | in flight | ops/s | p50 ms | p99 ms | errors | retries | leader fsyncs/s | leader writes/s | writes/fsync | CPU µs/op L / F / F | CPU % L / F / F | main thread busy % L / F / F | main thread on CPU % L / F / F | RSS MiB L / F / F | generator CPU % (µs/op) | req/stream msg |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | ---: |',
  ];
  for (const p of points) {
    const leader = p.stores.find((s) => s.isLeader);
    const fsyncs = leader?.fsyncsPerSec ?? NaN;
    const writes = leader?.kvWriteRequestsPerSec ?? NaN;
    lines.push(
      `| ${p.workload} | ${p.concurrency} | ${fmt(p.opsPerSec)} | ${fmt(p.latencyMs.p50, 2)} | ${fmt(p.latencyMs.p99, 2)} | ${countsText(p.errors)} | ${countsText(p.retries)} ` +
        `| ${fmt(fsyncs)} | ${fmt(writes)} | ${writes > 0 ? fmt(writes / fsyncs, 1) : '–'} ` +
        `| ${perStore(p, (s) => fmt(s.cpuUsPerOp))} | ${perStore(p, (s) => fmt(s.cpuPercent))} | ${perStore(p, (s) => fmt(s.mainThreadBusyPercent))} | ${perStore(p, (s) => fmt(s.mainThreadCpuPercent))} | ${perStore(p, (s) => fmt(s.rssMiB))} ` +
        `| ${fmt(p.generator.cpuPercent)} (${fmt(p.generator.cpuUsPerOp)}) | ${fmt(p.requestsPerStreamMessage, 1)} |`,
    );
  }
  return lines.join('\n');
}

/** What the stores' own metrics say about each point: where the time of a write goes. */
export function renderInternalsTable(points: readonly PointFigures[]): string {
  const lines = [
    '| workload | in flight | steps, mean ms (client) | fsync ms (mean, L) | propose→apply ms (mean, L) | write ops per group commit L / F / F | raft msgs sent/s L / F / F | dropped/s L / F / F | lease / read-index reads/s (L) | one-phase committed / prewritten per s (L) | elections won | PD CPU % |',
    '| --- | ---: | --- | ---: | ---: | --- | --- | --- | --- | --- | ---: | ---: |',
  ];
  for (const p of points) {
    const leader = p.stores.find((s) => s.isLeader);
    const elections = p.stores.reduce((n, s) => n + s.electionsWon, 0);
    lines.push(
      `| ${p.workload} | ${p.concurrency} | ${Object.entries(p.stepsMs).map(([name, ms]) => `${name} ${fmt(ms, 1)}`).join(', ') || '–'} | ${fmt(leader?.fsyncMsMean ?? NaN, 2)} | ${fmt(leader?.proposeToApplyMsMean ?? NaN, 1)} ` +
        `| ${perStore(p, (s) => fmt(s.raftWriteBatchOpsMean, 1))} | ${perStore(p, (s) => fmt(s.raftMessagesSentPerSec))} | ${perStore(p, (s) => fmt(s.raftMessagesDroppedPerSec))} ` +
        `| ${fmt(leader?.leaseReadsPerSec ?? NaN)} / ${fmt(leader?.readIndexReadsPerSec ?? NaN)} | ${fmt(leader?.onePcCommittedPerSec ?? NaN)} / ${fmt(leader?.onePcPrewrittenPerSec ?? NaN)} | ${elections} | ${fmt(p.pd.cpuPercent)} |`,
    );
  }
  return lines.join('\n');
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null; // not a git checkout (an installed package): the report just lacks the commit
  }
}

// ───────────────────────────── main ─────────────────────────────

interface LeaderProfile {
  readonly file: string;
  readonly summary: CpuProfileSummary;
}

async function leaderProfile(dir: string, leaderPid: number): Promise<LeaderProfile | null> {
  // cpu-profile-preload.ts writes CPU.<pid>.cpuprofile (node --cpu-prof: CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile).
  const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile') && f.split('.').includes(String(leaderPid)));
  if (file === undefined) return null;
  return { file: join(dir, file), summary: await summarizeCpuProfileFile(join(dir, file), 10) };
}

async function main(): Promise<void> {
  const settings = parseSettings();
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-store-bench-'));
  if (settings.cpuProfDir !== null) await mkdir(settings.cpuProfDir, { recursive: true });
  // node 20 refuses --cpu-prof in NODE_OPTIONS: a preloaded module runs the profiler instead.
  const preload = join(dirname(fileURLToPath(import.meta.url)), 'cpu-profile-preload.js');
  const storeEnv: Record<string, string> =
    settings.cpuProfDir === null
      ? {}
      : { NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import ${preload}`.trim(), [CPU_PROF_DIR_ENV]: settings.cpuProfDir };
  const cluster = new BenchCluster({ dir, storeCount: settings.storeCount, storeLogLevel: settings.storeLogLevel, storeEnv });
  let gen: GeneratorProcess | null = null;
  let cleanup: Promise<void> | null = null;
  const cleanUp = (): Promise<void> =>
    (cleanup ??= (async () => {
      gen?.kill();
      await cluster.stop({ isGraceful: settings.cpuProfDir !== null });
      if (settings.isKeep) console.error(`kept ${dir}`);
      else await rm(dir, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping the bench cluster`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const points: PointFigures[] = [];
  const balanceChecks: BalanceCheck[] = [];
  let leaderPid = -1;
  try {
    const t0 = performance.now();
    await cluster.start();
    let route = await cluster.waitForRoute();
    leaderPid = cluster.storeByAddress(route.leaderAddress)?.process.pid ?? -1;
    console.error(`cluster up in ${((performance.now() - t0) / 1000).toFixed(1)} s: PD ${cluster.pdEndpoint}, region ${route.regionId} led by store ${route.leaderStoreId} (${route.leaderAddress}); data in ${dir}`);
    gen = new GeneratorProcess();
    await gen.request({
      kind: 'init',
      settings: { pdEndpoint: cluster.pdEndpoint, route, streams: settings.streams, valueBytes: settings.valueBytes, rawKeys: settings.rawKeys, accounts: settings.accounts, balanceInitial: BALANCE_INITIAL, isOnePc: settings.isOnePc, isReplicaRead: settings.isReplicaRead },
    }, 'ready');
    const loaded = await gen.request({ kind: 'load' }, 'loaded');
    console.error(`loaded ${loaded.rawKeys} raw keys and ${loaded.accounts} accounts in ${(loaded.ms / 1000).toFixed(1)} s`);
    for (const workload of settings.workloads) {
      for (const concurrency of settings.concurrencies) {
        const now = await cluster.waitForRoute();
        if (now.leaderAddress !== route.leaderAddress || now.epoch.version !== route.epoch.version || now.epoch.confVer !== route.epoch.confVer) {
          console.error(`region leader moved to store ${now.leaderStoreId} (${now.leaderAddress})`);
          route = now;
          await gen.request({ kind: 'route', route }, 'ready');
        }
        if (settings.startGate !== null) await passStartGate(settings.startGate, points.length);
        const p = await measurePoint(cluster, gen, route, workload, concurrency, settings);
        points.push(p);
        console.error(`${workload} ×${concurrency}: ${fmt(p.opsPerSec)} ops/s, p50 ${fmt(p.latencyMs.p50, 2)} ms, p99 ${fmt(p.latencyMs.p99, 2)} ms, errors ${countsText(p.errors)}`);
      }
      if (workload === 'transfer') {
        const check = (await gen.request({ kind: 'check-balances' }, 'balances')).check;
        balanceChecks.push(check);
        const isConserved = check.total === check.expected && check.locked === 0 && check.missing === 0;
        console.error(`balances after transfers: total ${check.total}, expected ${check.expected}, locked ${check.locked}, missing ${check.missing} → ${isConserved ? 'conserved' : 'NOT CONSERVED'}`);
      }
    }
  } catch (err) {
    console.error(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    console.error(await cluster.logTails());
    process.exitCode = 1;
  } finally {
    await cleanUp();
  }

  let profile: LeaderProfile | null = null;
  if (settings.cpuProfDir !== null && leaderPid > 0) profile = await leaderProfile(settings.cpuProfDir, leaderPid);
  if (points.length === 0) return;

  const machine = { cpuSpeed: measureCpuSpeed(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, platform: `${process.platform} ${process.arch}`, clockTicksPerSecond: CLOCK_TICKS_PER_SECOND };
  const table = renderTable(points);
  console.log(`\n## bench:store — ${new Date().toISOString()} — ${machine.cpus} cores, cpu speed ${machine.cpuSpeed} (bench/cpu-speed.ts), node ${machine.node}, commit ${gitCommit() ?? '?'}\n`);
  console.log(`${settings.durationS} s per point after ${settings.warmupS} s warm-up; ${settings.valueBytes}-byte values; ${settings.streams} BatchCommands streams; L = leader store, F = followers\n`);
  console.log(table);
  console.log('\nStore internals (from each store\'s /metrics over the same window):\n');
  console.log(renderInternalsTable(points));
  if (profile !== null) {
    console.log(`\n### Leader store CPU profile (${profile.file})\n`);
    console.log(renderCpuProfileSummary(profile.summary));
  }
  await mkdir(dirname(settings.out), { recursive: true });
  const json = { startedAt: new Date().toISOString(), commit: gitCommit(), argv: process.argv.slice(2), machine, settings, points, balanceChecks, leaderProfile: profile };
  await writeFile(settings.out, `${JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  console.log(`\nJSON: ${settings.out}`);
}

await main();
