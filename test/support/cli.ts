// Test support for the CLI (issue F8): `flotilla playground` as a child process on a free block of
// ports with its data in a temp dir, and `flotilla <command>` run as the user runs it (a child
// process), its stdout, stderr and exit code captured. stop() sends SIGINT as Ctrl-C does and
// checks that every process the playground started is gone; kill() is the fallback on failure.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalClusterInfo } from '../../deploy/index.js';
import { portFree, reservePort, waitFor } from '../../deploy/index.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FLOTILLA_BIN = join(DIST, 'cli', 'bin', 'flotilla.js');

/** Deadline of one CLI invocation (node start-up + oclif + the call). */
const CLI_TIMEOUT_MS = 60_000;
/** How long the playground may take to come up on a loaded 2-core machine. */
const PLAYGROUND_START_TIMEOUT_MS = 120_000;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `flotilla ...args` (optionally with stdin) and resolves with its outcome; never rejects on a non-zero exit. */
export function runCli(args: readonly string[], options: { stdin?: string; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [FLOTILLA_BIN, ...args], { timeout: CLI_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ...options.env } }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') return reject(new Error(`flotilla ${args.join(' ')}: ${err.message}\n${stderr}`));
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
    if (options.stdin !== undefined) child.stdin?.end(options.stdin);
    else child.stdin?.end();
  });
}

/** A base port such that base … base+count-1 are free now (below the OS's ephemeral range). */
export async function freePortBlock(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = (await portFree(p)) && (await reservePort(p));
    if (ok) return base;
  }
  throw new Error(`no block of ${count} free ports found`);
}

export interface PlaygroundPorts {
  readonly pdPort: number;
  readonly storePort: number;
  readonly statusPort: number;
}

export class Playground {
  private output = '';

  private constructor(
    readonly child: ChildProcess,
    readonly dataDir: string,
    readonly ports: PlaygroundPorts,
    private readonly ownsDataDir: boolean,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  /** Allocates ports for `pds` PD members and `stores` stores. */
  static async allocatePorts(pds: number, stores: number): Promise<PlaygroundPorts> {
    const base = await freePortBlock(3 * pds + 2 * stores);
    return { pdPort: base, storePort: base + 3 * pds, statusPort: base + 3 * pds + stores };
  }

  /** Starts `flotilla playground` and waits for its banner; `dataDir` defaults to a fresh temp dir. */
  static async start(options: { pds?: number; stores?: number; dataDir?: string; ports?: PlaygroundPorts; clean?: boolean } = {}): Promise<Playground> {
    const pds = options.pds ?? 1;
    const stores = options.stores ?? 3;
    const ports = options.ports ?? (await Playground.allocatePorts(pds, stores));
    const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'flotilla-cli-')));
    const args = [
      FLOTILLA_BIN, 'playground', '--pd', String(pds), '--stores', String(stores), '--data-dir', dataDir, '--log-level', 'warn',
      '--pd-port', String(ports.pdPort), '--store-port', String(ports.storePort), '--status-port', String(ports.statusPort),
      ...(options.clean === true ? ['--clean'] : []),
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const pg = new Playground(child, dataDir, ports, options.dataDir === undefined);
    try {
      await waitFor('the playground to print its banner', () => {
        if (child.exitCode !== null) throw new Error(`playground exited with ${child.exitCode}: ${pg.output}`);
        return pg.output.includes('Ctrl-C stops the cluster') ? true : undefined;
      }, { timeoutMs: PLAYGROUND_START_TIMEOUT_MS, intervalMs: 100, isFatal: () => true });
    } catch (err) {
      await pg.kill();
      throw err;
    }
    return pg;
  }

  get log(): string {
    return this.output;
  }

  async info(): Promise<LocalClusterInfo> {
    return JSON.parse(await readFile(join(this.dataDir, 'cluster.json'), 'utf8')) as LocalClusterInfo;
  }

  /** `--pd` for every command. */
  async pdFlag(): Promise<string[]> {
    return ['--pd', (await this.info()).pdEndpoints];
  }

  /** Ctrl-C: SIGINT, then waits for the playground to exit; resolves with its exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const exited = new Promise<number | null>((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.child.kill('SIGINT');
    return exited;
  }

  /** Kills the playground and every server it started (from cluster.json), then removes its temp dir. */
  async kill(): Promise<void> {
    const info = await this.info().catch(() => null);
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGKILL');
      await exited;
    }
    for (const pid of [...(info?.pdMembers ?? []).map((p) => p.pid), ...(info?.stores ?? []).map((s) => s.pid)]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Whether a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
