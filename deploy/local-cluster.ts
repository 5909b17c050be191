// One way to start a local cluster of real processes on 127.0.0.1 — PD members and stores — for
// `npm start` (and, from F8, the `flotilla playground` command, the bench and the tests). Data
// persists under one directory across runs; fixed well-known ports by default so that every
// command and example works without flags; a port already taken is one clear line.

import { createServer } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError } from '../common/index.js';
import { type LocalProcess, type PdMemberSpec, startPdProcess, startStoreProcess, waitFor } from './local-process.js';

export interface LocalClusterOptions {
  readonly dataDir: string;
  readonly stores: number;
  /** PD's client gRPC port (its raft peer port is +1, its HTTP port +2). */
  readonly pdClientPort: number;
  /** First store's gRPC port (store i: +i); status ports start at statusPortBase. */
  readonly storePortBase: number;
  readonly statusPortBase: number;
  /** Remove the data dir first. */
  readonly clean: boolean;
  readonly logLevel?: string;
}

export const LOCAL_CLUSTER_DEFAULTS: LocalClusterOptions = {
  dataDir: './data/playground',
  stores: 3,
  pdClientPort: 2379,
  storePortBase: 20160,
  statusPortBase: 20180,
  clean: false,
};

export interface LocalClusterInfo {
  readonly pd: { readonly clientAddress: string; readonly httpUrl: string; readonly pid: number };
  readonly stores: readonly { readonly name: string; readonly address: string; readonly statusUrl: string; readonly pid: number; readonly dataDir: string }[];
  readonly dataDir: string;
}

export class LocalCluster {
  private constructor(readonly info: LocalClusterInfo, private readonly processes: readonly LocalProcess[]) {}

  /** Starts PD, then the stores; resolves once every store registered. Cleans up on failure. */
  static async start(o: LocalClusterOptions): Promise<LocalCluster> {
    const ports = [o.pdClientPort, o.pdClientPort + 1, o.pdClientPort + 2];
    for (let i = 0; i < o.stores; i++) ports.push(o.storePortBase + i, o.statusPortBase + i);
    for (const port of ports) await assertPortFree(port);
    if (o.clean) await rm(o.dataDir, { recursive: true, force: true });
    await mkdir(o.dataDir, { recursive: true });
    const started: LocalProcess[] = [];
    try {
      const member: PdMemberSpec = { name: 'pd1', clientPort: o.pdClientPort, peerPort: o.pdClientPort + 1, httpPort: o.pdClientPort + 2 };
      const pd = await startPdProcess({ member, cluster: [member], dataDir: o.dataDir, tickMs: 100, logLevel: o.logLevel ?? 'info' });
      started.push(pd);
      const httpUrl = `http://127.0.0.1:${member.httpPort}`;
      await waitFor('PD to serve', async () => {
        if (!pd.isRunning) throw new FlotillaError('Unavailable', `PD exited (log: ${join(o.dataDir, 'pd1.log')})`);
        const res = await fetch(`${httpUrl}/pd/api/v1/health`, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
        return res?.status === 200 ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      const stores: LocalClusterInfo['stores'][number][] = [];
      for (let i = 0; i < o.stores; i++) {
        const name = `store${i + 1}`;
        const storePorts = { port: o.storePortBase + i, statusPort: o.statusPortBase + i };
        const dataDir = join(o.dataDir, name);
        const proc = await startStoreProcess({
          name, pd: [`127.0.0.1:${o.pdClientPort}`], ports: storePorts, dataDir, logPath: join(o.dataDir, `${name}.log`),
          raftTickMs: 100, raftElectionTicks: 10, raftHeartbeatTicks: 2, logLevel: o.logLevel ?? 'info',
        });
        started.push(proc);
        stores.push({ name, address: `127.0.0.1:${storePorts.port}`, statusUrl: `http://127.0.0.1:${storePorts.statusPort}/status`, pid: proc.pid, dataDir });
      }
      const info: LocalClusterInfo = { pd: { clientAddress: `127.0.0.1:${o.pdClientPort}`, httpUrl, pid: pd.pid }, stores, dataDir: o.dataDir };
      await writeFile(join(o.dataDir, 'cluster.json'), `${JSON.stringify(info, null, 2)}\n`);
      return new LocalCluster(info, started);
    } catch (err) {
      await Promise.all(started.map((p) => p.stop().catch(() => undefined)));
      throw err;
    }
  }

  /** Stops the stores, then PD (SIGTERM, then SIGKILL after a grace period). */
  async stop(): Promise<void> {
    for (const p of [...this.processes].reverse()) await p.stop().catch(() => undefined);
  }
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', () => reject(new FlotillaError('Unavailable', `port ${port} on 127.0.0.1 is already in use (another cluster running? stop it, or choose other ports)`)));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
  });
}
