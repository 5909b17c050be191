// `npm run bench -- <workload|compare> [options]` (issue F9): starts the system(s) under test (or
// targets an existing Flotilla cluster with --pd), runs the plan — each workload at each
// concurrency, on a cluster per store count, on each target — from worker processes, prints a
// progress line a second and the summary, and writes result.json, summary.md and chart.svg.
// Everything it started is stopped at the end, on failure and on Ctrl-C — also while a cluster is
// still starting. Exit: 0 ok, 1 a run failed or balances were not conserved, 2 bad flags.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureCpuSpeed } from '../cpu-speed.js';
import { parseBenchArgs, pointSettings, USAGE, UsageError, type BenchSettings } from './args.js';
import { PeerMissingError } from './open-target.js';
import { renderMarkdown, writeResults } from './report.js';
import type { RunResult } from './result.js';
import { clusterLabel, killWorkers, runWorkload } from './run.js';
import { checkSystemAvailable, collectProfiles, startSystem, type ServerProfile, type SystemUnderTest } from './systems.js';
import type { TargetKind } from './target.js';

/** dist/bench/harness/cli.js → the repository root. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * The system being started or run on: a promise, so that Ctrl-C during a start waits for the
 * start to settle and then stops what it started (the launcher knows its processes only once
 * start() resolves; on a failed start it stops them itself).
 */
let current: Promise<SystemUnderTest | null> | null = null;
/** Set by Ctrl-C: the failure the interrupted run then reports is not the news, the interrupt is. */
let isInterrupted = false;
/** Runs started so far over every cluster of this invocation: run n passes start gate n (--start-gate). */
let runsStarted = 0;

export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

function log(line: string): void {
  console.log(line);
}

function targetsOf(settings: BenchSettings): TargetKind[] {
  return settings.target === 'both' ? ['flotilla', 'etcd'] : [settings.target];
}

export function defaultOutDir(name: string, now: Date): string {
  const stamp = now.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  return join(REPO_ROOT, 'bench', 'results', `${stamp}-${name}`);
}

/** Store counts a target is started with: each of --stores for a Flotilla cluster the harness starts, one cluster otherwise. */
function clusterSizes(kind: TargetKind, settings: BenchSettings): number[] {
  return kind === 'flotilla' && settings.pdEndpoints === null ? [...settings.storeCounts] : [settings.storeCounts[0]!];
}

/** Every workload at every concurrency on one cluster of `stores` stores (etcd: its 3 members). */
async function runCluster(kind: TargetKind, settings: BenchSettings, stores: number, out: string): Promise<{ results: RunResult[]; profiles: ServerProfile[] }> {
  const first = pointSettings(settings, settings.workloads[0]!, settings.concurrencies[0]!, stores);
  log(kind === 'flotilla' && settings.pdEndpoints !== null ? `flotilla: using the cluster at ${settings.pdEndpoints.join(',')}` : `${kind}: starting a cluster${kind === 'flotilla' ? ` of ${settings.pds} PD + ${stores} stores` : ''}…`);
  const profileDir = settings.isCpuProf ? join(out, 'profiles', `${kind}-${stores}-stores`) : null;
  // Before the cluster starts: a starting cluster takes CPU for seconds and would lower the score.
  const cpuSpeed = measureCpuSpeed();
  const starting = startSystem(kind, first, profileDir);
  current = starting.catch(() => null);
  const sut = await starting;
  const results: RunResult[] = [];
  try {
    if (isInterrupted) throw new InterruptedError('interrupted while the cluster started');
    if (sut.dir !== null) log(`${kind}: serving (${sut.dir}${settings.isKeep ? ', kept' : ''})`);
    for (const workload of settings.workloads) {
      for (const concurrency of settings.concurrencies) {
        const gate = settings.startGate === null ? null : { path: settings.startGate, n: runsStarted++ };
        results.push(await runWorkload(sut, pointSettings(settings, workload, concurrency, stores), log, cpuSpeed, profileDir === null ? null : join(profileDir, 'workers'), gate));
      }
    }
  } finally {
    killWorkers();
    await sut.stop();
    current = null;
  }
  const profiles = await collectProfiles(sut, clusterLabel(sut, first), profileDir === null ? null : join(profileDir, 'workers'));
  if (profileDir !== null) log(`${kind}: ${profiles.length} CPU profiles in ${profileDir}`);
  return { results, profiles };
}

async function main(): Promise<number> {
  let settings: BenchSettings | 'help';
  try {
    settings = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message} (see --help)`);
      return 2;
    }
    throw err;
  }
  if (settings === 'help') {
    console.log(USAGE);
    return 0;
  }
  for (const kind of targetsOf(settings)) await checkSystemAvailable(kind);
  const out = resolve(settings.out ?? defaultOutDir(settings.command, new Date()));
  const results: RunResult[] = [];
  const profiles: ServerProfile[] = [];
  for (const kind of targetsOf(settings)) {
    for (const stores of clusterSizes(kind, settings)) {
      const cluster = await runCluster(kind, settings, stores, out);
      results.push(...cluster.results);
      profiles.push(...cluster.profiles);
    }
  }
  await writeResults(out, results, profiles);
  log('');
  log(renderMarkdown(results, profiles)); // the comparison table of --target both / compare is part of it
  log(`results: ${out}`);
  return results.some((r) => r.invariant?.isConserved === false) ? 1 : 0;
}

async function interrupted(signal: NodeJS.Signals): Promise<void> {
  // A second Ctrl-C must not kill this process halfway through stopping the servers.
  if (isInterrupted) {
    console.error(`bench: ${signal}: still stopping what was started`);
    return;
  }
  isInterrupted = true;
  console.error(`bench: ${signal}: stopping what was started`);
  killWorkers();
  // A start in progress is waited for (its launcher has deadlines), then stopped.
  const sut = await current;
  await sut?.stop().catch(() => undefined); // exiting anyway; stop() already tried every process
  killWorkers();
  process.exit(130);
}

process.on('SIGINT', (s) => void interrupted(s));
process.on('SIGTERM', (s) => void interrupted(s));

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (isInterrupted) return; // interrupted() stops the system and exits 130
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}`);
      process.exitCode = 2;
    } else if (err instanceof PeerMissingError) {
      console.error(`bench: ${err.message}`);
      process.exitCode = 1;
    } else {
      console.error(`bench: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exitCode = 1;
    }
    killWorkers();
    process.exit();
  },
);
