// The cluster `npm run bench:store` measures — 1 PD and N flotilla-store processes on 127.0.0.1
// with free ports and fresh data dirs under one temp dir — and the samples taken around each
// measured point: every process's CPU time and RSS from /proc, every store's /metrics.

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  allocatePdMember, allocateStorePorts, startPdProcess, startStoreProcess, waitFor, type LocalProcess, type StorePorts,
} from '../deploy/index.js';
import { processCpuMs } from './harness/cpu.js';
import type { RegionRoute } from './store-bench-protocol.js';

/**
 * flotilla-store's own defaults for the raft clock (its --help): the bench runs the store as
 * shipped. deploy/'s storeArgs always passes these flags, so they are spelled out here.
 */
export const STORE_RAFT_TICK_MS_DEFAULT = 100;
export const STORE_RAFT_ELECTION_TICKS_DEFAULT = 10;
export const STORE_RAFT_HEARTBEAT_TICKS_DEFAULT = 2;

export interface BenchStore {
  readonly name: string;
  readonly process: LocalProcess;
  readonly ports: StorePorts;
  readonly address: string;
  readonly statusUrl: string;
  storeId: number;
}

export interface BenchClusterOptions {
  readonly dir: string;
  readonly storeCount: number;
  readonly storeLogLevel: string;
  /** Environment of the store and PD processes (NODE_OPTIONS for --cpu-prof). */
  readonly storeEnv: Readonly<Record<string, string>>;
}

/** The processes of the bench cluster. Every process is registered in `processes` as soon as it is spawned. */
export class BenchCluster {
  pd: LocalProcess | null = null;
  pdEndpoint = '';
  pdHttpPort = 0;
  readonly stores: BenchStore[] = [];
  readonly processes: LocalProcess[] = [];
  /** Every process's log, including a store's that failed to start. */
  private readonly logPaths: { readonly name: string; readonly path: string }[] = [];

  constructor(readonly options: BenchClusterOptions) {}

  async start(): Promise<void> {
    const member = await allocatePdMember('pd1');
    this.pd = await startPdProcess({ member, cluster: [member], dataDir: join(this.options.dir, 'pd'), logLevel: 'warn', env: this.options.storeEnv });
    this.processes.push(this.pd);
    this.logPaths.push({ name: 'pd1', path: this.pd.logPath });
    this.pdEndpoint = `127.0.0.1:${member.clientPort}`;
    this.pdHttpPort = member.httpPort;
    await waitFor('a serving PD', async () => {
      const res = await fetch(`http://127.0.0.1:${member.httpPort}/pd/api/v1/health`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { serving?: boolean };
      return body.serving === true ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    // All stores at once: the first bootstraps region 1 once max-replicas stores registered.
    await Promise.all(Array.from({ length: this.options.storeCount }, (_, i) => this.startStore(`store${i + 1}`)));
  }

  private async startStore(name: string): Promise<void> {
    const ports = await allocateStorePorts();
    this.logPaths.push({ name, path: join(this.options.dir, `${name}.log`) });
    const process = await startStoreProcess({
      name,
      pd: [this.pdEndpoint],
      ports,
      dataDir: join(this.options.dir, name),
      logPath: join(this.options.dir, `${name}.log`),
      raftTickMs: STORE_RAFT_TICK_MS_DEFAULT,
      raftElectionTicks: STORE_RAFT_ELECTION_TICKS_DEFAULT,
      raftHeartbeatTicks: STORE_RAFT_HEARTBEAT_TICKS_DEFAULT,
      logLevel: this.options.storeLogLevel,
      env: this.options.storeEnv,
    });
    this.processes.push(process);
    const store: BenchStore = { name, process, ports, address: `127.0.0.1:${ports.port}`, statusUrl: `http://127.0.0.1:${ports.statusPort}`, storeId: 0 };
    this.stores.push(store);
    store.storeId = (await storeStatus(store)).storeId;
  }

  /** The first region's leader, once every store hosts the region and exactly one store leads it. */
  async waitForRoute(timeoutMs = 60_000): Promise<RegionRoute> {
    return waitFor('a leader of the first region on every store', () => this.currentRoute(), { timeoutMs, intervalMs: 200 });
  }

  async currentRoute(): Promise<RegionRoute | undefined> {
    const statuses = await Promise.all(this.stores.map((s) => storeStatus(s)));
    const leaders: Omit<RegionRoute, 'followers'>[] = [];
    const followers: RegionRoute['followers'][number][] = [];
    for (const [i, status] of statuses.entries()) {
      const region = status.regions[0];
      if (region === undefined) return undefined;
      if (region.peers.length < this.stores.length) return undefined;
      if (region.isLeader) {
        leaders.push({ leaderAddress: this.stores[i]!.address, regionId: region.id, epoch: region.epoch, leaderPeerId: region.peerId, leaderStoreId: status.storeId });
      } else {
        followers.push({ address: this.stores[i]!.address, peerId: region.peerId, storeId: status.storeId });
      }
    }
    return leaders.length === 1 ? { ...leaders[0]!, followers } : undefined;
  }

  storeByAddress(address: string): BenchStore | undefined {
    return this.stores.find((s) => s.address === address);
  }

  /** The last lines of every process's log, for a failure message. */
  async logTails(lines = 20): Promise<string> {
    const parts: string[] = [];
    for (const l of this.logPaths) {
      const text = await readFile(l.path, 'utf8').catch(() => '(no log)');
      parts.push(`--- ${l.name} (${l.path}) ---\n${text.split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /**
   * Ends every process: SIGTERM with a grace period when `isGraceful` (a store under --cpu-prof
   * writes its profile on a normal exit only), else kill -9. Idempotent.
   */
  async stop(options: { readonly isGraceful: boolean }): Promise<void> {
    await Promise.all(this.processes.map((p) => (options.isGraceful ? p.stop(10_000) : p.kill())));
  }
}

// ── /status ──

interface StatusRegion {
  readonly id: number;
  readonly peerId: number;
  readonly epoch: { readonly confVer: number; readonly version: number };
  readonly peers: readonly { readonly id: number; readonly storeId: number }[];
  readonly isLeader: boolean;
  readonly leaderPeerId: number;
}

interface StoreStatus {
  readonly storeId: number;
  readonly regions: readonly StatusRegion[];
}

async function storeStatus(store: BenchStore): Promise<StoreStatus> {
  const res = await fetch(`${store.statusUrl}/status`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`${store.name} /status answered ${res.status}`);
  const body = (await res.json()) as Partial<StoreStatus>;
  if (typeof body.storeId !== 'number' || !Array.isArray(body.regions)) throw new Error(`${store.name} /status: unexpected body`);
  return { storeId: body.storeId, regions: body.regions };
}

// ── /proc ──

export { CLOCK_TICKS_PER_SECOND } from './harness/cpu.js';

export interface ProcessSample {
  /** utime + stime, ms. */
  readonly cpuMs: number;
  readonly rssKiB: number;
}

/** CPU time (harness/cpu.ts's one /proc reader) and RSS of a live process (Linux only). */
export function sampleProcess(pid: number): ProcessSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return { cpuMs: processCpuMs(pid) ?? NaN, rssKiB: rss === null ? NaN : Number(rss[1]) };
}

// ── /metrics ──

/** One Prometheus sample: name, labels, value. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  const line = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const l of text.split('\n')) {
    if (l.startsWith('#')) continue;
    const m = line.exec(l);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const lm of (m[2] ?? '').matchAll(label)) labels[lm[1]!] = lm[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export async function scrapeMetrics(store: BenchStore): Promise<MetricSample[]> {
  const res = await fetch(`${store.statusUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`${store.name} /metrics answered ${res.status}`);
  return parsePrometheusText(await res.text());
}

/** Whether any sample is named `name` (a metric a process may not export, e.g. off Linux). */
export function hasMetric(samples: readonly MetricSample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

/** The sum of the samples named `name` whose labels include `where`. */
export function sumMetric(samples: readonly MetricSample[], name: string, where: Readonly<Record<string, string | readonly string[]>> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    const isMatch = Object.entries(where).every(([k, v]) => (typeof v === 'string' ? s.labels[k] === v : v.includes(s.labels[k] ?? '')));
    if (isMatch) sum += s.value;
  }
  return sum;
}
