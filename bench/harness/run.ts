// One workload on one system under test: preload through a target opened in this process, fork
// the workers, start them together, merge their once-a-second reports (a progress line each
// second), sample the servers' and the generator's CPU over the measured window, check the
// transfer invariant, and return the RunResult. The caller owns the system's lifecycle.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Histogram } from 'hdr-histogram-js';
import { SERVER_NODE_FLAGS } from '../../common/index.js';
import { ACCOUNT_BALANCE_INITIAL, forEachConcurrently, loadAccounts, sumBalances } from './accounts.js';
import { loopsOfWorker, type BenchSettings } from './args.js';
import { measureCpuSpeed } from '../cpu-speed.js';
import { passStartGate } from '../start-gate.js';
import { cpuFigure, sampleServers, type CpuFigure } from './cpu.js';
import { decodeHistogram, latencySummaryMs, mergeHistograms, newLatencyHistogram } from './histogram.js';
import { keyOf } from './key-chooser.js';
import { openTarget } from './open-target.js';
import { presplit, presplitKeys } from './presplit.js';
import { ACCOUNT_KEY_PREFIX, IDLE_KEY_PREFIX, RAW_KEY_PREFIX, TXN_KEY_PREFIX, type ParentMessage, type WorkerInterval, type WorkerMessage } from './protocol.js';
import type { RunResult, TimelinePoint } from './result.js';
import type { SystemUnderTest } from './systems.js';
import { isTxnKeyLoader } from './target.js';

/** Puts in flight while preloading keys. */
const PRELOAD_CONCURRENCY = 128;
/** How long after the window a worker may take to report 'done' (its last operations' deadline). */
const WORKER_DRAIN_MS = 30_000;
/** How long a profiled worker gets to exit (and write its profile) before it is killed. */
const WORKER_PROFILE_EXIT_MS = 10_000;
/** Delay between 'go' and the workers' common start, so that all start at one instant. */
const START_DELAY_MS = 200;

/** Processes a run started, for the CLI's Ctrl-C handler. */
export const liveWorkers = new Set<ChildProcess>();

export function killWorkers(): void {
  for (const w of liveWorkers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  liveWorkers.clear();
}

class WorkerHandle {
  readonly child: ChildProcess;
  private readonly waiters = new Map<string, (m: WorkerMessage) => void>();
  private failure: Error | null = null;
  private onFailure: ((e: Error) => void) | null = null;

  /** `profileDir`: the worker profiles itself (V8 sampler) into it, written as it exits. */
  constructor(readonly index: number, onInterval: (m: WorkerInterval) => void, profileDir: string | null = null) {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');
    // A worker must not inherit the harness's inspector or profiler flags: only these. It runs
    // with the servers' V8 flags, whichever target it loads (the same for Flotilla and etcd).
    const execArgv = [...SERVER_NODE_FLAGS, ...(profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])];
    this.child = fork(script, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    liveWorkers.add(this.child);
    this.child.on('message', (m: WorkerMessage) => {
      if (m.kind === 'interval') onInterval(m);
      else if (m.kind === 'failed') this.fail(new Error(`worker ${index}: ${m.message}`));
      else this.waiters.get(m.kind)?.(m);
    });
    this.child.on('exit', (code, signal) => {
      liveWorkers.delete(this.child);
      if (code !== 0) this.fail(new Error(`worker ${index} exited (code ${code}, signal ${signal})`));
    });
  }

  private fail(err: Error): void {
    if (this.failure !== null) return;
    this.failure = err;
    this.onFailure?.(err);
  }

  send(message: ParentMessage): void {
    this.child.send(message);
  }

  /** Resolves once the process has exited, or after `timeoutMs`. */
  exited(timeoutMs: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Resolves with the worker's next message of `kind`; rejects when the worker fails first. */
  wait<K extends 'ready' | 'done'>(kind: K, timeoutMs: number): Promise<Extract<WorkerMessage, { kind: K }>> {
    return new Promise((resolve, reject) => {
      if (this.failure !== null) return reject(this.failure);
      const timer = setTimeout(() => reject(new Error(`worker ${this.index}: no '${kind}' within ${timeoutMs} ms`)), timeoutMs);
      this.onFailure = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.waiters.set(kind, (m) => {
        clearTimeout(timer);
        resolve(m as Extract<WorkerMessage, { kind: K }>);
      });
    });
  }
}

/** Merges the workers' intervals second by second; prints a line once every worker has reported a second. */
export class IntervalMerger {
  private readonly bySecond = new Map<number, { histograms: Histogram[]; ops: number; errors: number; reporters: Set<number> }>();
  readonly total = newLatencyHistogram();
  readonly opsByKind: Record<string, number> = {};
  readonly errors: Record<string, number> = {};
  readonly retries: Record<string, number> = {};

  constructor(private readonly workers: number, private readonly onSecond: (p: TimelinePoint, errors: number) => void) {}

  add(m: WorkerInterval): void {
    const h = decodeHistogram(m.histogram);
    this.total.add(h);
    let ops = 0;
    for (const [k, n] of Object.entries(m.ops)) {
      this.opsByKind[k] = (this.opsByKind[k] ?? 0) + n;
      ops += n;
    }
    let errors = 0;
    for (const [k, n] of Object.entries(m.errors)) {
      this.errors[k] = (this.errors[k] ?? 0) + n;
      errors += n;
    }
    for (const [k, n] of Object.entries(m.retries)) this.retries[k] = (this.retries[k] ?? 0) + n;
    const slot = this.bySecond.get(m.second) ?? { histograms: [], ops: 0, errors: 0, reporters: new Set<number>() };
    slot.histograms.push(h);
    slot.ops += ops;
    slot.errors += errors;
    const isFirstReport = !slot.reporters.has(m.index);
    slot.reporters.add(m.index);
    this.bySecond.set(m.second, slot);
    if (isFirstReport && slot.reporters.size === this.workers) this.onSecond(this.pointOf(m.second), slot.errors);
  }

  private pointOf(second: number): TimelinePoint {
    const slot = this.bySecond.get(second)!;
    return { second, opsPerSec: slot.ops, p99Ms: latencySummaryMs(mergeHistograms(slot.histograms)).p99 };
  }

  /** Every second reported, in order (late tails included). */
  timeline(): TimelinePoint[] {
    return [...this.bySecond.keys()].sort((a, b) => a - b).map((s) => this.pointOf(s));
  }
}

/**
 * --regions: the workload's key range split into that many regions; --idle-regions: that many
 * empty regions split off after it (keys `~idle/…` sort after every workload prefix), which no
 * operation reaches. Once per system.
 */
async function presplitFor(sut: SystemUnderTest, settings: BenchSettings, log: (line: string) => void): Promise<void> {
  if ((settings.regions <= 1 && settings.idleRegions === 0) || sut.spec.kind !== 'flotilla') return;
  const tag = `presplit:${settings.regions}:${settings.idleRegions}:${settings.workload.preload}:${settings.keys}:${settings.accounts}`;
  if (sut.preloaded.has(tag)) return;
  const [prefix, count] = settings.workload.preload === 'accounts' ? [ACCOUNT_KEY_PREFIX, settings.accounts]
    : settings.workload.preload === 'txnKeys' ? [TXN_KEY_PREFIX, settings.keys] : [RAW_KEY_PREFIX, settings.keys];
  const busy = presplitKeys(settings.regions, count, (i) => keyOf(prefix, i));
  const idle = Array.from({ length: settings.idleRegions }, (_, i) => keyOf(IDLE_KEY_PREFIX, i));
  log(`pre-splitting ${count} keys into ${settings.regions} regions${settings.idleRegions > 0 ? `, and ${settings.idleRegions} idle regions beside them` : ''}…`);
  await presplit(sut.spec.pdEndpoints, [...busy, ...idle], log);
  sut.preloaded.add(tag);
}

async function preload(sut: SystemUnderTest, settings: BenchSettings, log: (line: string) => void): Promise<number | null> {
  const target = await openTarget(sut.spec);
  try {
    switch (settings.workload.preload) {
      case 'keys': {
        if (sut.preloaded.has(preloadTag(settings))) return null;
        log(`preloading ${settings.keys} keys of ${settings.valueSize} bytes…`);
        const value = Buffer.alloc(settings.valueSize, 0x61);
        const indexes = Array.from({ length: settings.keys }, (_, i) => i);
        await forEachConcurrently(indexes, PRELOAD_CONCURRENCY, (i) => target.put(keyOf(RAW_KEY_PREFIX, i), value));
        sut.preloaded.add(preloadTag(settings));
        return null;
      }
      case 'txnKeys': {
        if (sut.preloaded.has(preloadTag(settings))) return null;
        log(`preloading ${settings.keys} transactional keys of ${settings.valueSize} bytes…`);
        const value = Buffer.alloc(settings.valueSize, 0x61);
        const keys = Array.from({ length: settings.keys }, (_, i) => keyOf(TXN_KEY_PREFIX, i));
        if (isTxnKeyLoader(target)) await target.loadTxnKeys(keys, value);
        else await forEachConcurrently(keys, PRELOAD_CONCURRENCY, (key) => target.put(key, value));
        sut.preloaded.add(preloadTag(settings));
        return null;
      }
      case 'accounts': {
        log(`preloading ${settings.accounts} accounts of balance ${ACCOUNT_BALANCE_INITIAL}…`);
        await loadAccounts(target, accountKeys(settings.accounts), ACCOUNT_BALANCE_INITIAL, settings.valueSize);
        return settings.accounts * ACCOUNT_BALANCE_INITIAL;
      }
      case 'none':
        return null;
    }
  } finally {
    await target.close();
  }
}

/**
 * What a key preload wrote: a run on the same system with the same tag (the next point of a sweep,
 * the next workload of `compare`) finds it there and skips loading. Accounts are always reloaded:
 * the transfer invariant needs their total known at the start.
 */
function preloadTag(settings: BenchSettings): string {
  return `${settings.workload.preload}:${settings.keys}:${settings.valueSize}`;
}

function accountKeys(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => keyOf(ACCOUNT_KEY_PREFIX, i));
}

/** Run n of this invocation starts its warm-up only once its gate file exists (bench/start-gate.ts). */
export interface StartGate {
  readonly path: string;
  readonly n: number;
}

/**
 * `cpuSpeed`: bench/cpu-speed.ts's score, measured before the cluster started (default: now).
 * `workerProfileDir`: the workers profile themselves into it (--cpu-prof: the client library's
 * share of the load generator). `gate`: the run waits at it once its workers are ready (bench:ab).
 */
export async function runWorkload(sut: SystemUnderTest, settings: BenchSettings, log: (line: string) => void, cpuSpeed = measureCpuSpeed(), workerProfileDir: string | null = null, gate: StartGate | null = null): Promise<RunResult> {
  const startedAt = new Date().toISOString();
  await presplitFor(sut, settings, log);
  const expectedTotal = await preload(sut, settings, log);
  const merger = new IntervalMerger(settings.workers, (p, errors) => {
    log(`[${sut.spec.kind} ${settings.workload.name}] ${String(p.second).padStart(3)} s  ${Math.round(p.opsPerSec).toLocaleString('en-US').padStart(8)} ops/s  p99 ${p.p99Ms.toFixed(2)} ms${errors > 0 ? `  errors ${errors}` : ''}`);
  });
  if (workerProfileDir !== null) await mkdir(workerProfileDir, { recursive: true });
  const workers = Array.from({ length: settings.workers }, (_, i) => new WorkerHandle(i, (m) => merger.add(m), workerProfileDir));
  try {
    for (const w of workers) {
      w.send({
        kind: 'start', index: w.index, target: sut.spec, loops: loopsOfWorker(settings.concurrency, settings.workers, w.index), mix: settings.workload.mix,
        keys: settings.keys, accounts: settings.accounts, distribution: settings.distribution, valueSize: settings.valueSize, seed: settings.seed,
        loopIntervalMs: settings.rateOpsPerSec === null ? null : (1000 * settings.concurrency) / settings.rateOpsPerSec,
      });
    }
    await Promise.all(workers.map((w) => w.wait('ready', 60_000)));
    if (gate !== null) {
      log(`waiting at the start gate ${gate.path}.${gate.n}`);
      await passStartGate(gate.path, gate.n);
    }
    const warmupMs = settings.warmupS * 1000;
    const durationMs = settings.durationS * 1000;
    const startAtEpochMs = Date.now() + START_DELAY_MS;
    const rate = settings.rateOpsPerSec === null ? '' : `, open loop at ${settings.rateOpsPerSec.toLocaleString('en-US')} ops/s`;
    log(`running ${settings.workload.name} on ${sut.spec.kind}: ${settings.concurrency} in flight from ${settings.workers} workers${rate}, ${settings.warmupS} s warm-up, ${settings.durationS} s measured`);
    const done = workers.map((w) => w.wait('done', START_DELAY_MS + warmupMs + durationMs + WORKER_DRAIN_MS));
    for (const w of workers) w.send({ kind: 'go', startAtEpochMs, warmupMs, durationMs });
    // The window's CPU samples: at its start and its end, on this process's clock.
    const windowStartMs = startAtEpochMs + warmupMs;
    const sampled = sampleWindow(sut, windowStartMs, windowStartMs + durationMs);
    const finals = await Promise.all(done);
    const window = await sampled;
    const ops = Object.values(merger.opsByKind).reduce((a, b) => a + b, 0);
    const generator: CpuFigure[] = [
      cpuFigure('harness', window.parentCpuMs, durationMs, ops),
      ...finals.map((f) => cpuFigure(`worker${f.index}`, (f.cpuUserUs + f.cpuSystemUs) / 1000, durationMs, ops)),
    ];
    const generatorCpuMs = window.parentCpuMs + finals.reduce((a, f) => a + (f.cpuUserUs + f.cpuSystemUs) / 1000, 0);
    let invariant: RunResult['invariant'] = null;
    if (expectedTotal !== null) {
      const target = await openTarget(sut.spec);
      try {
        const actualTotal = await sumBalances(target, accountKeys(settings.accounts));
        invariant = { expectedTotal, actualTotal, isConserved: actualTotal === expectedTotal };
      } finally {
        await target.close();
      }
    }
    return {
      target: sut.spec.kind,
      workload: settings.workload.name,
      startedAt,
      settings: {
        workers: settings.workers, concurrency: settings.concurrency, durationS: settings.durationS, warmupS: settings.warmupS, keys: settings.keys,
        accounts: settings.accounts, distribution: settings.distribution, valueSize: settings.valueSize, seed: settings.seed,
        rateOpsPerSec: settings.rateOpsPerSec,
        cluster: clusterLabel(sut, settings),
        stores: sut.spec.kind === 'flotilla' && sut.servers.length > 0 ? settings.stores : null,
      },
      cpuSpeed,
      ops,
      opsPerSec: ops / settings.durationS,
      opsByKind: merger.opsByKind,
      latencyMs: latencySummaryMs(merger.total),
      errors: merger.errors,
      retries: merger.retries,
      timeline: merger.timeline(),
      cpu: {
        generator,
        generatorTotal: cpuFigure('generator', generatorCpuMs, durationMs, ops),
        servers: sut.servers.map((s) => {
          const before = window.serversBefore.get(s.pid);
          const after = window.serversAfter.get(s.pid);
          return cpuFigure(s.name, before === undefined || before === null || after === undefined || after === null ? NaN : after - before, durationMs, ops);
        }),
      },
      invariant,
    };
  } finally {
    // A profiled worker writes its profile as it exits (it exits by itself once done).
    if (workerProfileDir !== null) await Promise.all(workers.map((w) => w.exited(WORKER_PROFILE_EXIT_MS)));
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }
}

export function clusterLabel(sut: SystemUnderTest, settings: BenchSettings): string {
  if (sut.spec.kind === 'etcd') return `etcd, ${sut.spec.endpoints.length} members`;
  if (sut.servers.length === 0) return `existing (${sut.spec.pdEndpoints.join(',')})`;
  const regions = settings.regions > 1 || settings.idleRegions > 0 ? `, ${settings.regions} region${settings.regions === 1 ? '' : 's'}${settings.idleRegions > 0 ? ` + ${settings.idleRegions} idle` : ''}` : '';
  return `${settings.pds} PD + ${settings.stores} stores${regions}`;
}

interface WindowSamples {
  readonly parentCpuMs: number;
  readonly serversBefore: Map<number, number | null>;
  readonly serversAfter: Map<number, number | null>;
}

async function sampleWindow(sut: SystemUnderTest, startEpochMs: number, endEpochMs: number): Promise<WindowSamples> {
  await sleepUntil(startEpochMs);
  const parentBefore = process.cpuUsage();
  const serversBefore = sampleServers(sut.servers);
  await sleepUntil(endEpochMs);
  const parent = process.cpuUsage(parentBefore);
  const serversAfter = sampleServers(sut.servers);
  return { parentCpuMs: (parent.user + parent.system) / 1000, serversBefore, serversAfter };
}

function sleepUntil(epochMs: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, epochMs - Date.now())));
}
