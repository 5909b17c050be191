// Launch Flotilla servers as real local processes on 127.0.0.1: free ports, a data directory,
// output captured to a log file, readiness polled with a deadline (never a fixed sleep), and a
// handle that stops the process (SIGTERM, then SIGKILL) or kills it outright. Shared by the
// integration tests, the bench harness and (later) the playground.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaError, PARENT_PID_ENV, SERVER_NODE_FLAGS } from '../common/pure.js';
import { reservePort } from './port-reservations.js';

const DIST_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PD_BIN = join(DIST_ROOT, 'placement-driver', 'bin', 'flotilla-pd.js');

/**
 * Test and playground ports come from below the kernel's ephemeral range. A port from that range
 * (what `listen(0)` gives) can be taken, once its process is killed, as the local port of any
 * outgoing connection on the machine — a store restarted on its own port then failed with
 * EADDRINUSE. Each process walks its own stretch from a random start, skipping ports in use.
 */
const PORT_FLOOR = 10_000;
/** Ports tried before giving up on finding a free one. */
const FREE_PORT_ATTEMPTS_MAX = 1_000;
let nextPort: number | null = null;
let portCeiling = 32_768;

async function ephemeralFloor(): Promise<number> {
  const text = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const low = Number(text.trim().split(/\s+/)[0]);
  return Number.isSafeInteger(low) && low > PORT_FLOOR + 1_000 ? low : 32_768;
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral range, not handed out
 * before by this process (two members of one test cluster once got the same port), and held for
 * this process's life against other processes picking ports (port-reservations.ts).
 */
export async function freePort(): Promise<number> {
  if (nextPort === null) {
    portCeiling = await ephemeralFloor();
    nextPort = PORT_FLOOR + Math.floor(Math.random() * (portCeiling - PORT_FLOOR));
  }
  for (let i = 0; i < FREE_PORT_ATTEMPTS_MAX; i++) {
    const port = nextPort;
    nextPort = nextPort + 1 >= portCeiling ? PORT_FLOOR : nextPort + 1;
    if ((await portFree(port)) && (await reservePort(port))) return port;
  }
  throw new FlotillaError('Unavailable', `no free port on 127.0.0.1 in ${FREE_PORT_ATTEMPTS_MAX} tries between ${PORT_FLOOR} and ${portCeiling}`);
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or the deadline passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: { timeoutMs?: number; intervalMs?: number; /** An error that ends the wait at once (rethrown). */ isFatal?: (err: unknown) => boolean } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (options.isFatal?.(err) === true) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new FlotillaError('DeadlineExceeded', `timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

export class LocalProcess {
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly logPath: string,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal === null ? null : -1);
        resolve(this.exitCode);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get isRunning(): boolean {
    return this.exitCode === undefined;
  }

  /** Resolves with the exit code once the process has exited. */
  waitExit(): Promise<number | null> {
    return this.exited;
  }

  /** kill -9: no shutdown, no flush — the crash a fault test wants. */
  async kill(): Promise<void> {
    if (!this.isRunning) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGSTOP / SIGCONT: the process freezes, as under a long GC pause or a stalled VM. */
  pause(): void {
    if (this.isRunning) this.child.kill('SIGSTOP');
  }

  resume(): void {
    if (this.isRunning) this.child.kill('SIGCONT');
  }

  /** Graceful stop: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.isRunning) return;
    this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Spawns `node <SERVER_NODE_FLAGS> script args…` with output appended to `logPath`. */
export async function spawnNodeProcess(name: string, script: string, args: readonly string[], logPath: string, env: Readonly<Record<string, string>> = {}): Promise<LocalProcess> {
  await mkdir(dirname(logPath), { recursive: true });
  const out = createWriteStream(logPath, { flags: 'a' });
  // The server stops once this process is gone (common/process.ts): nothing outlives its launcher.
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, [PARENT_PID_ENV]: String(process.pid), ...env } });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err) => reject(new FlotillaError('Unavailable', `cannot start ${name}: ${err.message}`, { cause: err })));
  });
  return new LocalProcess(name, child, logPath);
}

export interface PdMemberSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly httpPort: number;
}

export interface PdLaunchOptions {
  readonly member: PdMemberSpec;
  /** Every initial member (itself included), for --initial-cluster. */
  readonly cluster: readonly PdMemberSpec[];
  readonly dataDir: string;
  readonly initialClusterState?: 'new' | 'existing';
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly logLevel?: string;
  readonly extraArgs?: readonly string[];
  /** Extra environment, e.g. FLOTILLA_FAILPOINTS for fault tests. */
  readonly env?: Readonly<Record<string, string>>;
}

export function pdArgs(o: PdLaunchOptions): string[] {
  const m = o.member;
  return [
    '--name', m.name,
    '--data-dir', join(o.dataDir, m.name),
    '--client-urls', `127.0.0.1:${m.clientPort}`,
    '--peer-urls', `127.0.0.1:${m.peerPort}`,
    '--http-url', `127.0.0.1:${m.httpPort}`,
    '--initial-cluster', o.cluster.map((c) => `${c.name}=127.0.0.1:${c.peerPort}`).join(','),
    '--initial-cluster-state', o.initialClusterState ?? 'new',
    '--tick-ms', String(o.tickMs ?? 50),
    '--election-ticks', String(o.electionTicks ?? 10),
    '--log-level', o.logLevel ?? 'info',
    ...(o.extraArgs ?? []),
  ];
}

/** Three free ports for a PD member named `name`. */
export async function allocatePdMember(name: string): Promise<PdMemberSpec> {
  return { name, clientPort: await freePort(), peerPort: await freePort(), httpPort: await freePort() };
}

/** Starts a PD member process (does not wait for it to serve). */
export function startPdProcess(o: PdLaunchOptions): Promise<LocalProcess> {
  return spawnNodeProcess(`pd ${o.member.name}`, PD_BIN, pdArgs(o), join(o.dataDir, `${o.member.name}.log`), o.env);
}

// ───────────────────────────── Stores ─────────────────────────────

export const STORE_BIN = join(DIST_ROOT, 'store', 'bin', 'flotilla-store.js');

/** How long a store may take to register with PD and answer /status, by default. */
export const STORE_READY_TIMEOUT_MS_DEFAULT = 30_000;

export interface StorePorts {
  /** KV and raft gRPC services. */
  readonly port: number;
  /** HTTP status server (/metrics, /status). */
  readonly statusPort: number;
}

/** A bootstrap wait long enough for a launcher to start max-replicas stores one after another. */
export const BOOTSTRAP_WAIT_ALL_MS = 120_000;

export interface StoreLaunchOptions {
  /** A name for logs and errors, e.g. "store1". */
  readonly name: string;
  /** PD client endpoints (host:port). */
  readonly pd: readonly string[];
  readonly ports: StorePorts;
  /** The store's own data directory (RocksDB and its identity). */
  readonly dataDir: string;
  /** Where output goes; default `<dataDir>.log` (beside the data dir, which the store owns). */
  readonly logPath?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly raftTickMs?: number;
  readonly raftElectionTicks?: number;
  readonly raftHeartbeatTicks?: number;
  readonly logLevel?: string;
  /**
   * How long a store of a new cluster waits for max-replicas stores to register before it
   * bootstraps the first region with fewer (--bootstrap-wait-ms; the store's default if absent).
   * A launcher that starts that many stores one after another sets it long enough for all.
   */
  readonly bootstrapWaitMs?: number;
  readonly extraArgs?: readonly string[];
  /** Extra environment, e.g. FLOTILLA_FAILPOINTS for fault tests. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long startStoreProcess waits for /status; default STORE_READY_TIMEOUT_MS_DEFAULT. */
  readonly readyTimeoutMs?: number;
}

/** The flags of store/config.ts for `o`; extraArgs last (a later flag wins). */
export function storeArgs(o: StoreLaunchOptions): string[] {
  const labels = Object.entries(o.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    '--pd', o.pd.join(','),
    '--addr', `127.0.0.1:${o.ports.port}`,
    '--advertise-addr', `127.0.0.1:${o.ports.port}`,
    '--status-addr', `127.0.0.1:${o.ports.statusPort}`,
    '--data-dir', o.dataDir,
    ...(labels.length > 0 ? ['--labels', labels.join(',')] : []),
    '--raft-tick-ms', String(o.raftTickMs ?? 50),
    '--raft-election-ticks', String(o.raftElectionTicks ?? 10),
    '--raft-heartbeat-ticks', String(o.raftHeartbeatTicks ?? 2),
    '--log-level', o.logLevel ?? 'info',
    ...(o.bootstrapWaitMs === undefined ? [] : ['--bootstrap-wait-ms', String(o.bootstrapWaitMs)]),
    ...(o.extraArgs ?? []),
  ];
}

/** Two free ports for a store (gRPC, status HTTP). */
export async function allocateStorePorts(): Promise<StorePorts> {
  return { port: await freePort(), statusPort: await freePort() };
}

/** The store id a /status body reports, once positive. */
function storeIdOfStatus(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const id = (body as { storeId?: unknown }).storeId;
  const n = typeof id === 'string' ? Number(id) : id;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Starts a store process and waits until GET http://127.0.0.1:<statusPort>/status answers 200
 * with a positive `storeId` (it registered with PD). Fails at once if the process exits first
 * (naming its exit code and log), or with DeadlineExceeded; in both cases the process is killed.
 */
export async function startStoreProcess(o: StoreLaunchOptions): Promise<LocalProcess> {
  const logPath = o.logPath ?? `${o.dataDir}.log`;
  const proc = await spawnNodeProcess(o.name, STORE_BIN, storeArgs(o), logPath, o.env);
  const statusUrl = `http://127.0.0.1:${o.ports.statusPort}/status`;
  try {
    await waitFor(
      `${o.name} to answer ${statusUrl} with a store id`,
      async () => {
        if (!proc.isRunning) {
          const code = String(await proc.waitExit());
          throw new ProcessExitedError(`${o.name} exited with code ${code} before it was ready: ${await lastFatalLine(logPath)} (log: ${logPath})`);
        }
        const res = await fetch(statusUrl, { signal: AbortSignal.timeout(2_000) });
        if (res.status !== 200) return undefined;
        return storeIdOfStatus(await res.json());
      },
      { timeoutMs: o.readyTimeoutMs ?? STORE_READY_TIMEOUT_MS_DEFAULT, intervalMs: 50, isFatal: (err) => err instanceof ProcessExitedError },
    );
  } catch (err) {
    await proc.kill();
    throw err instanceof FlotillaError ? err : new FlotillaError('Unavailable', err instanceof Error ? err.message : String(err), { cause: err });
  }
  return proc;
}

/** The message of the last fatal record in a pino log (what a server that failed to start said), or a placeholder. */
export async function lastFatalLine(logPath: string): Promise<string> {
  const text = await readFile(logPath, 'utf8').catch(() => '');
  const lines = text.slice(-256 * 1024).split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    if (!line.includes('"level":60')) continue;
    try {
      const record = JSON.parse(line) as { msg?: unknown };
      if (typeof record.msg === 'string') return record.msg;
    } catch {
      return line.slice(0, 500);
    }
  }
  return 'no fatal line in its log';
}

/** A launched process exited while we waited for it: waiting longer cannot help. */
class ProcessExitedError extends FlotillaError {
  override readonly name = 'ProcessExitedError';
  constructor(message: string) {
    super('Unavailable', message);
  }
}
