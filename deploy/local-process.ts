// Launch Flotilla servers as real local processes on 127.0.0.1: free ports, a data directory,
// output captured to a log file, readiness polled with a deadline (never a fixed sleep), and a
// handle that stops the process (SIGTERM, then SIGKILL) or kills it outright. Shared by the
// integration tests, the bench harness and (later) the playground.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaError } from '../common/index.js';

const DIST_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PD_BIN = join(DIST_ROOT, 'placement-driver', 'bin', 'flotilla-pd.js');

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `check` every `intervalMs` until it returns a value other than undefined, or the deadline passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
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

/** Spawns `node script args…` with output appended to `logPath`. */
export async function spawnNodeProcess(name: string, script: string, args: readonly string[], logPath: string, env: Readonly<Record<string, string>> = {}): Promise<LocalProcess> {
  await mkdir(dirname(logPath), { recursive: true });
  const out = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
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
