// `npm run bench -- <workload> [options]` (issue F9): starts the system(s) under test (or targets
// an existing Flotilla cluster with --pd), runs the workload from worker processes, prints a
// progress line a second and the summary, and writes result.json, summary.md and chart.svg.
// Everything it started is stopped at the end, on failure and on Ctrl-C. Exit: 0 ok, 1 a run
// failed or balances were not conserved, 2 bad flags.

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBenchArgs, USAGE, UsageError, type BenchSettings } from './args.js';
import { PeerMissingError } from './open-target.js';
import { renderMarkdown, writeResults } from './report.js';
import type { RunResult } from './result.js';
import { killWorkers, runWorkload } from './run.js';
import { checkSystemAvailable, startSystem, type SystemUnderTest } from './systems.js';
import type { TargetKind } from './target.js';

/** dist/bench/harness/cli.js → the repository root. */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

let current: SystemUnderTest | null = null;
/** Set by Ctrl-C: the failure the interrupted run then reports is not the news, the interrupt is. */
let isInterrupted = false;

function log(line: string): void {
  console.log(line);
}

function targetsOf(settings: BenchSettings): TargetKind[] {
  return settings.target === 'both' ? ['flotilla', 'etcd'] : [settings.target];
}

export function defaultOutDir(workload: string, now: Date): string {
  const stamp = now.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  return join(REPO_ROOT, 'bench', 'results', `${stamp}-${workload}`);
}

async function runOn(kind: TargetKind, settings: BenchSettings): Promise<RunResult> {
  if (!settings.workload.targets.includes(kind)) throw new UsageError(`workload ${settings.workload.name} does not run on ${kind}`);
  log(kind === 'flotilla' && settings.pdEndpoints !== null ? `flotilla: using the cluster at ${settings.pdEndpoints.join(',')}` : `${kind}: starting a cluster…`);
  const sut = await startSystem(kind, settings);
  current = sut;
  try {
    if (sut.dir !== null) log(`${kind}: serving (${sut.dir}${settings.isKeep ? ', kept' : ''})`);
    return await runWorkload(sut, settings, log);
  } finally {
    killWorkers();
    await sut.stop();
    current = null;
  }
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
  const results: RunResult[] = [];
  for (const kind of targetsOf(settings)) results.push(await runOn(kind, settings));
  const out = resolve(settings.out ?? defaultOutDir(settings.workload.name, new Date()));
  await writeResults(out, results);
  log('');
  log(renderMarkdown(results)); // the comparison table of --target both is part of it
  log(`results: ${out}`);
  return results.some((r) => r.invariant?.isConserved === false) ? 1 : 0;
}

async function interrupted(signal: NodeJS.Signals): Promise<void> {
  isInterrupted = true;
  console.error(`bench: ${signal}: stopping what was started`);
  killWorkers();
  await current?.stop().catch(() => undefined); // exiting anyway; stop() already tried every process
  process.exit(130);
}

process.once('SIGINT', (s) => void interrupted(s));
process.once('SIGTERM', (s) => void interrupted(s));

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
