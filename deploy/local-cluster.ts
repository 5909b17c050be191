// One way to start a local cluster of real processes on 127.0.0.1 — PD members and stores — for
// `flotilla playground` and `npm start` (and the tests that drive them). Data persists under one
// directory across runs; fixed well-known ports by default so that every command and example
// works without flags; a port already taken is one clear line.
//
// Ports: PD member i (0-based) listens on pdClientPort + 3i (client gRPC), +1 (raft peers),
// +2 (HTTP API and dashboard); store i on storePortBase + i (gRPC) and statusPortBase + i (HTTP).
// portMode 'free' instead takes every port from the OS (the bench harness, tests).

import { createServer } from 'node:net';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '../common/pure.js';
import { BOOTSTRAP_WAIT_ALL_MS, freePort, type LocalProcess, type PdMemberSpec, startPdProcess, startStoreProcess, waitFor } from './local-process.js';

/** PD members a local cluster may have (an odd count: 1, 3, 5 or 7). */
export const LOCAL_CLUSTER_PD_MAX = 7;
/** Stores a local cluster may have. */
export const LOCAL_CLUSTER_STORES_MAX = 16;
/** How long start() waits for PD to elect a leader and for the first region to have one. */
export const LOCAL_CLUSTER_READY_TIMEOUT_MS = 60_000;

export interface LocalClusterOptions {
  readonly dataDir: string;
  /** PD members: 1, 3, 5 or 7. */
  readonly pds: number;
  readonly stores: number;
  /** First PD member's client gRPC port (see the file comment for the others). */
  readonly pdClientPort: number;
  /** First store's gRPC port (store i: +i); status ports start at statusPortBase. */
  readonly storePortBase: number;
  readonly statusPortBase: number;
  /** Remove the data dir first. */
  readonly clean: boolean;
  readonly logLevel?: string;
  /**
   * 'fixed' (the default: the playground's well-known ports from pdClientPort, storePortBase and
   * statusPortBase) or 'free': every port chosen by the OS (freePort), the port fields ignored —
   * for the bench harness and tests, which must not collide with a running playground.
   */
  readonly portMode?: 'fixed' | 'free';
}

export const LOCAL_CLUSTER_DEFAULTS: LocalClusterOptions = {
  dataDir: './data/playground',
  pds: 1,
  stores: 3,
  pdClientPort: 2379,
  storePortBase: 20160,
  statusPortBase: 20180,
  clean: false,
};

export interface LocalPdInfo {
  readonly name: string;
  /** Client gRPC, host:port. */
  readonly clientAddress: string;
  readonly peerAddress: string;
  /** HTTP API (/pd/api/v1) and dashboard. */
  readonly httpUrl: string;
  readonly dashboardUrl: string;
  readonly pid: number;
}

export interface LocalStoreInfo {
  readonly name: string;
  readonly address: string;
  readonly statusUrl: string;
  readonly pid: number;
  readonly dataDir: string;
}

/** What `<dataDir>/cluster.json` holds, for scripts. */
export interface LocalClusterInfo {
  /** The first member (the default endpoint); every member is in `pdMembers`. */
  readonly pd: LocalPdInfo;
  readonly pdMembers: readonly LocalPdInfo[];
  /** Client endpoints of every PD member, comma-separated: what `--pd` takes. */
  readonly pdEndpoints: string;
  readonly dashboardUrl: string;
  readonly stores: readonly LocalStoreInfo[];
  readonly dataDir: string;
}

/** The topology a data dir was created with: a later run must match it. */
interface Topology {
  readonly pds: number;
  readonly stores: number;
}
const TOPOLOGY_FILE = 'topology.json';

export function validateLocalClusterOptions(o: LocalClusterOptions): void {
  if (!Number.isInteger(o.pds) || o.pds < 1 || o.pds > LOCAL_CLUSTER_PD_MAX || o.pds % 2 === 0) {
    throw new FlotillaError('ConfigInvalid', `PD members must be 1, 3, 5 or 7 (got ${o.pds})`);
  }
  if (!Number.isInteger(o.stores) || o.stores < 1 || o.stores > LOCAL_CLUSTER_STORES_MAX) {
    throw new FlotillaError('ConfigInvalid', `stores must be within [1, ${LOCAL_CLUSTER_STORES_MAX}] (got ${o.stores})`);
  }
  if (o.portMode === 'free') return; // the port fields are ignored: the OS picks every port
  for (const [name, port] of [['PD port', o.pdClientPort], ['store port', o.storePortBase], ['status port', o.statusPortBase]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535 - 3 * LOCAL_CLUSTER_PD_MAX) throw new FlotillaError('ConfigInvalid', `${name} ${port} is not a usable port`);
  }
}

/** The PD members of a local cluster (names pd1…, ports as the file comment says). */
export function localPdMembers(o: Pick<LocalClusterOptions, 'pds' | 'pdClientPort'>): PdMemberSpec[] {
  return Array.from({ length: o.pds }, (_, i) => {
    const base = o.pdClientPort + 3 * i;
    return { name: `pd${i + 1}`, clientPort: base, peerPort: base + 1, httpPort: base + 2 };
  });
}

/** PD members pd1… with OS-chosen ports (portMode 'free'). */
async function freePdMembers(count: number): Promise<PdMemberSpec[]> {
  const members: PdMemberSpec[] = [];
  for (let i = 0; i < count; i++) members.push({ name: `pd${i + 1}`, clientPort: await freePort(), peerPort: await freePort(), httpPort: await freePort() });
  return members;
}

export class LocalCluster {
  private stopped = false;

  private constructor(
    readonly info: LocalClusterInfo,
    private readonly processes: readonly LocalProcess[],
  ) {}

  /**
   * Starts the PD members, waits for a serving leader, starts the stores (each registered with
   * PD), and resolves once the first region has a leader: the cluster serves. Refuses (one line)
   * a port in use or a data dir made with another topology. Stops what it started on failure.
   */
  static async start(o: LocalClusterOptions): Promise<LocalCluster> {
    validateLocalClusterOptions(o);
    const isFreePorts = o.portMode === 'free';
    const members = isFreePorts ? await freePdMembers(o.pds) : localPdMembers(o);
    const storePortList: { port: number; statusPort: number }[] = [];
    for (let i = 0; i < o.stores; i++) {
      storePortList.push(isFreePorts ? { port: await freePort(), statusPort: await freePort() } : { port: o.storePortBase + i, statusPort: o.statusPortBase + i });
    }
    if (!isFreePorts) {
      const ports = members.flatMap((m) => [m.clientPort, m.peerPort, m.httpPort]);
      for (const p of storePortList) ports.push(p.port, p.statusPort);
      for (const port of ports) await assertPortFree(port);
    }
    if (o.clean) await rm(o.dataDir, { recursive: true, force: true });
    await mkdir(o.dataDir, { recursive: true });
    await checkTopology(o);
    const started: LocalProcess[] = [];
    try {
      const pdInfos: LocalPdInfo[] = [];
      for (const member of members) {
        const pd = await startPdProcess({ member, cluster: members, dataDir: o.dataDir, tickMs: 100, logLevel: o.logLevel ?? 'info' });
        started.push(pd);
        const httpUrl = `http://127.0.0.1:${member.httpPort}`;
        pdInfos.push({
          name: member.name, clientAddress: `127.0.0.1:${member.clientPort}`, peerAddress: `127.0.0.1:${member.peerPort}`,
          httpUrl, dashboardUrl: `${httpUrl}/dashboard`, pid: pd.pid,
        });
      }
      await waitFor('a PD leader to serve', async () => {
        const exited = started.find((p) => !p.isRunning);
        if (exited !== undefined) throw new FlotillaError('Unavailable', `${exited.name} exited (log: ${exited.logPath})`);
        for (const pd of pdInfos) if ((await healthOf(pd.httpUrl))?.serving === true) return true;
        return undefined;
      }, { timeoutMs: LOCAL_CLUSTER_READY_TIMEOUT_MS, intervalMs: 100, isFatal: (err) => err instanceof FlotillaError && err.code === 'Unavailable' });
      const endpoints = pdInfos.map((p) => p.clientAddress);
      const stores: LocalStoreInfo[] = [];
      for (let i = 0; i < o.stores; i++) {
        const name = `store${i + 1}`;
        const storePorts = storePortList[i]!;
        const dataDir = join(o.dataDir, name);
        const proc = await startStoreProcess({
          name, pd: endpoints, ports: storePorts, dataDir, logPath: join(o.dataDir, `${name}.log`),
          raftTickMs: 100, raftElectionTicks: 10, raftHeartbeatTicks: 2, logLevel: o.logLevel ?? 'info',
          // They start one after another: with max-replicas (3) of them, the first waits for the
          // others before it bootstraps; with fewer, the store's default wait applies.
          ...(o.stores >= 3 ? { bootstrapWaitMs: BOOTSTRAP_WAIT_ALL_MS } : {}),
        });
        started.push(proc);
        stores.push({ name, address: `127.0.0.1:${storePorts.port}`, statusUrl: `http://127.0.0.1:${storePorts.statusPort}/status`, pid: proc.pid, dataDir });
      }
      await waitFor('the first region to have a leader', async () => {
        for (const pd of pdInfos) {
          const res = await fetch(`${pd.httpUrl}/pd/api/v1/regions?limit=1`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
          if (res?.status !== 200) continue;
          const body = (await res.json()) as { regions?: { leaderPeerId?: number }[] };
          if ((body.regions?.[0]?.leaderPeerId ?? 0) !== 0) return true;
        }
        return undefined;
      }, { timeoutMs: LOCAL_CLUSTER_READY_TIMEOUT_MS, intervalMs: 100 });
      const first = pdInfos[0]!;
      const info: LocalClusterInfo = {
        pd: first, pdMembers: pdInfos, pdEndpoints: endpoints.join(','), dashboardUrl: first.dashboardUrl, stores, dataDir: o.dataDir,
      };
      await writeJsonAtomically(join(o.dataDir, 'cluster.json'), info);
      return new LocalCluster(info, started);
    } catch (err) {
      await Promise.all(started.map((p) => p.stop().catch(() => undefined)));
      throw err;
    }
  }

  /** The processes, PD members first (for tests that kill or pause one). */
  get allProcesses(): readonly LocalProcess[] {
    return this.processes;
  }

  /** Stops the stores, then PD (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of [...this.processes].reverse()) await p.stop().catch(() => undefined);
  }
}

async function healthOf(httpUrl: string): Promise<{ serving?: boolean } | null> {
  const res = await fetch(`${httpUrl}/pd/api/v1/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
  if (res?.status !== 200) return null;
  return (await res.json().catch(() => null)) as { serving?: boolean } | null;
}

/** A data dir keeps the topology it was made with; another one needs --clean (PD's raft group would not form). */
async function checkTopology(o: LocalClusterOptions): Promise<void> {
  const path = join(o.dataDir, TOPOLOGY_FILE);
  const text = await readFile(path, 'utf8').catch(() => null);
  if (text === null) {
    await writeJsonAtomically(path, { pds: o.pds, stores: o.stores } satisfies Topology);
    return;
  }
  let saved: Partial<Topology>;
  try {
    saved = JSON.parse(text) as Partial<Topology>;
  } catch {
    throw new FlotillaError('ConfigInvalid', `${path} is not valid JSON: remove it or start with --clean`);
  }
  if (saved.pds !== o.pds) {
    throw new FlotillaError('ConfigInvalid', `${o.dataDir} holds a cluster with ${String(saved.pds)} PD member(s), not ${o.pds}: use --pd ${String(saved.pds)}, another --data-dir, or --clean`);
  }
  if (saved.stores !== undefined && o.stores < saved.stores) {
    throw new FlotillaError('ConfigInvalid', `${o.dataDir} holds a cluster with ${saved.stores} stores; starting only ${o.stores} would leave regions without quorum: use --stores ${saved.stores} or --clean`);
  }
  if (saved.stores !== o.stores) await writeJsonAtomically(path, { pds: o.pds, stores: o.stores } satisfies Topology);
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', () => reject(new FlotillaError('Unavailable', `port ${port} on 127.0.0.1 is already in use (another cluster running? stop it, or choose other ports)`)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}
