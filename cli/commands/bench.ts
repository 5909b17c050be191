// `flotilla bench …`: the F9 bench harness (bench/harness/cli.ts) as a CLI command. cli/ may not
// import bench/ (DESIGN.md §2), so the command runs the harness's compiled entry point as a child
// process with the same arguments and terminal, forwards Ctrl-C and SIGTERM to it (the harness
// stops what it started), and exits with its code.

import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BareCommand } from '../base-command.js';
import { CliError } from '../errors.js';

/** dist/cli/commands/bench.js → dist/bench/harness/cli.js. */
export const BENCH_HARNESS_ENTRY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'harness', 'cli.js');

export class Bench extends BareCommand {
  static override summary = 'Run the bench harness: a workload (or `compare`) on a cluster it starts, etcd beside it, a summary and charts';
  static override description =
    'The same harness as `npm run bench -- …` (bench/README.md): every argument after `bench` is passed to it; ' +
    '`flotilla bench -- --help` prints its workloads and options. It starts its own cluster of real processes (fresh temp dir, ' +
    'free ports) unless --pd names one, and stops everything it started at the end or on Ctrl-C. Results go to ' +
    'bench/results/<time>-<workload>/ (result.json, summary.md, chart.svg) unless --out says where.';
  static override examples = [
    '<%= config.bin %> bench compare --duration 5',
    '<%= config.bin %> bench raw-put --duration 5 --concurrency 64',
    '<%= config.bin %> bench raw-get --concurrency 1,8,64,256 --target both',
    '<%= config.bin %> bench ycsb-a --stores 1,3,5 --cpu-prof',
    '<%= config.bin %> bench -- --help',
  ];
  /** Everything is the harness's: oclif parses nothing (its flag check would refuse the harness's flags). */
  static override strict = false;

  async run(): Promise<void> {
    const argv = this.argv[0] === '--' ? this.argv.slice(1) : this.argv;
    try {
      await access(BENCH_HARNESS_ENTRY);
    } catch {
      throw new CliError(`the bench harness is not built here (${BENCH_HARNESS_ENTRY} is missing): run npm run build in a checkout`, 1);
    }
    const code = await runHarness(argv);
    if (code !== 0) this.exit(code);
  }
}

/** Runs the harness with `argv` on this terminal; resolves with its exit code (128 + n for a signal n). */
export function runHarness(argv: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    // Its own process group (detached): a terminal's Ctrl-C reaches only this process, which
    // forwards it once — the harness treats a second signal as "still stopping", but one is the
    // contract. This process stays alive until the harness has cleaned up and exited.
    const child = spawn(process.execPath, [BENCH_HARNESS_ENTRY, ...argv], { stdio: 'inherit', detached: true });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal)));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : signal === 'SIGKILL' ? 9 : 1;
}
