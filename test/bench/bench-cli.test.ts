// `flotilla bench` (cli/commands/bench.ts) runs the F9 harness as a child process: arguments and
// exit codes pass through, a short real run writes its results, and a SIGTERM while the cluster is
// still starting leaves no process behind (the harness waits for the start, then stops it).
// Real processes: the CLI, the harness, PD and stores through deploy's LocalCluster.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { RunResult } from '../../bench/harness/result.js';
import { processAlive } from '../support/cli.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FLOTILLA = join(ROOT, 'dist', 'cli', 'bin', 'flotilla.js');
/** A cluster start (≈5–15 s on a loaded 2-core machine), a 1 s run, the stop; with room to spare. */
const TEST_TIMEOUT_MS = 120_000;

interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function start(args: readonly string[]): { child: ChildProcess; finished: Promise<Finished> } {
  const child = spawn(process.execPath, [FLOTILLA, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const finished = new Promise<Finished>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  return { child, finished };
}

/** Every live process under `pid` (by /proc/<pid>/stat's parent field), the process itself excluded. */
async function descendants(pid: number): Promise<Map<number, string>> {
  const parentOf = new Map<number, number>();
  const cmdOf = new Map<number, string>();
  for (const entry of await readdir('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      cmdOf.set(Number(entry), (await readFile(`/proc/${entry}/cmdline`, 'latin1')).replace(/\0/g, ' ').trim());
    } catch {
      // exited between readdir and readFile: not a descendant any more
    }
  }
  const found = new Map<number, string>();
  let frontier = [pid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const [child, parent] of parentOf) if (frontier.includes(parent) && !found.has(child)) {
      found.set(child, cmdOf.get(child) ?? '');
      next.push(child);
    }
    frontier = next;
  }
  return found;
}


async function pollUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('flotilla bench', { timeout: TEST_TIMEOUT_MS * 3 }, () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-cli-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes its arguments to the harness and its exit code back: a bad workload is exit 2 with the harness\'s line', async () => {
    const bad = await start(['nope']).finished;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bench: unknown workload nope .*compare/);
    const help = await start(['--', '--help']).finished;
    assert.equal(help.code, 0);
    for (const w of ['raw-put', 'ycsb-d', 'txn-get', 'txn-rmw', 'scan', 'tso', 'compare', '--cpu-prof', '--etcd-client']) assert.ok(help.stdout.includes(w), w);
  });

  it('a short tso run on a cluster it starts writes result.json with operations, profiles servers and workers, and leaves no process', { timeout: TEST_TIMEOUT_MS }, async () => {
    const out = join(dir, 'tso');
    const run = start(['tso', '--duration', '1', '--warmup', '0', '--concurrency', '4', '--workers', '1', '--cpu-prof', '--out', out]);
    const seen = new Map<number, string>();
    const watch = setInterval(() => {
      void descendants(run.child.pid!).then((d) => d.forEach((cmd, pid) => seen.set(pid, cmd)));
    }, 200);
    let finished: Finished;
    try {
      finished = await run.finished;
    } finally {
      clearInterval(watch);
    }
    assert.equal(finished.code, 0, finished.stderr);
    // With profiles, result.json holds { results, comparison, profiles } (report.ts writeResults).
    const json = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as { results: RunResult[]; profiles: { server: string }[] };
    const result = json.results[0]!;
    assert.equal(json.results.length, 1);
    assert.equal(result.workload, 'tso');
    assert.ok(result.ops > 0 && result.opsByKind['tso'] === result.ops, `ops ${result.ops}`);
    assert.deepEqual(result.errors, {});
    assert.ok([...seen.values()].some((cmd) => cmd.includes('flotilla-store')), 'a store process ran under the command');
    // --cpu-prof: every server and the one worker wrote a profile, and the summary names them.
    const profiles = join(out, 'profiles', 'flotilla-3-stores');
    assert.equal((await readdir(profiles)).filter((f) => f.endsWith('.cpuprofile')).length, 4, 'PD and 3 stores');
    assert.equal((await readdir(join(profiles, 'workers'))).filter((f) => f.endsWith('.cpuprofile')).length, 1, 'the worker');
    assert.deepEqual(json.profiles.map((p) => p.server.replace(/\d+/g, 'N')).sort(), ['pdN', 'storeN', 'storeN', 'storeN', 'worker (pid N)']);
    assert.match(await readFile(join(out, 'summary.md'), 'utf8'), /\| worker \(pid \d+\) \|/);
    for (const [pid, cmd] of seen) assert.equal(processAlive(pid), false, `${pid} (${cmd}) outlived the run`);
  });

  it('SIGTERM while the cluster is still starting: the harness waits for the start, stops it, exits 130, and nothing is left', { timeout: TEST_TIMEOUT_MS }, async () => {
    const run = start(['raw-get', '--stores', '3', '--duration', '30', '--out', join(dir, 'interrupted')]);
    // The first PD process exists: the start is under way (stores not yet, or not yet serving).
    const started = await pollUntil('a PD process under the command', async () => {
      const d = await descendants(run.child.pid!);
      return [...d.values()].some((cmd) => cmd.includes('flotilla-pd')) ? d : undefined;
    }, 60_000);
    run.child.kill('SIGTERM');
    const finished = await run.finished;
    const seen = new Map(started);
    assert.equal(finished.code, 130, `${finished.stdout}\n${finished.stderr}`);
    assert.match(finished.stderr, /SIGTERM: stopping what was started/);
    assert.doesNotMatch(finished.stdout, /running raw-get/, 'no run started after the interrupt');
    for (const [pid, cmd] of seen) assert.equal(processAlive(pid), false, `${pid} (${cmd}) outlived the interrupt`);
  });
});
