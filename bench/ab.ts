// `npm run bench:ab`: two builds (or two settings) of `bench:store` — or, with --harness, of the
// harness (`npm run bench`, e.g. raw puts over 100 regions) — measured AT THE SAME TIME, so
// that they share the machine's speed. On this VM the speed swings ±15–20 % from one minute to the
// next, so runs one after the other cannot show a 5 % change; two clusters running side by side
// get the same CPU share (5 processes each) and the same slow or fast minute. Each round starts
// both; rounds alternate which one starts first; each point's load starts on both sides at the
// same moment (bench:store's and the harness's --start-gate: a cluster that came up sooner waits
// for the other), so the two measured windows coincide. Read a B/A within the spread of an A/A run beside it as no
// change (bench/README.md, "A/B side by side"). Numbers, not a test.
//
//   npm run bench:ab -- --b ../other-checkout [--a .] [--a-env K=V]... [--b-env K=V]... [--a-arg F]... [--b-arg F]... [--rounds 3] [--harness] -- <bench flags>
//
// A and B are checkout directories with a built dist/ (npm run build); the bench flags after `--`
// go to both (for example `--workloads transfer --concurrency 256 --duration 15`; with --harness
// `raw-put --concurrency 256 --regions 100`).

import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { sleepMs } from '../common/index.js';

const USAGE = `npm run bench:ab -- --b <checkout> [flags] [-- <bench flags>]
  --a <dir>        checkout A (default: this one); its dist/ must be built
  --b <dir>        checkout B (default: this one, e.g. to compare settings with --b-env)
  --a-env <K=V>    environment for A's cluster and generator (repeatable)
  --b-env <K=V>    environment for B's (repeatable)
  --a-arg <flag>   a bench flag for A only, e.g. --b-arg=--replica-read (repeatable)
  --b-arg <flag>   one for B only (repeatable)
  --rounds <n>     side-by-side runs, alternating which starts first (default 3)
  --harness        run the harness (npm run bench: client library, pre-split regions) instead of bench:store
  bench flags after -- go to both (default: --workloads transfer --concurrency 256 --duration 15;
  with --harness: raw-put --concurrency 256 --duration 10 --regions 100)`;

const DEFAULT_STORE_BENCH_ARGS = ['--workloads', 'transfer', '--concurrency', '256', '--duration', '15'];
const DEFAULT_HARNESS_ARGS = ['raw-put', '--concurrency', '256', '--duration', '10', '--regions', '100'];

/** Which benchmark both sides run. */
export type AbTool = 'store-bench' | 'harness';

/** Flags bench:ab sets per side (output, gate) or that would spoil the comparison, by tool. */
const FLAGS_SET_PER_SIDE: Readonly<Record<AbTool, readonly string[]>> = {
  'store-bench': ['--out', '--keep', '--cpu-prof-dir', '--start-gate'],
  harness: ['--out', '--keep', '--cpu-prof', '--start-gate', '--pd', '--target'],
};

export interface Side {
  readonly label: 'A' | 'B';
  readonly dir: string;
  readonly env: Readonly<Record<string, string>>;
  /** Bench flags for this side only, after the shared ones. */
  readonly args: readonly string[];
}

export interface AbSettings {
  readonly a: Side;
  readonly b: Side;
  readonly rounds: number;
  readonly tool: AbTool;
  /** The flags both sides' runs get (bench:store's, or the harness's with its workload first). */
  readonly benchArgs: readonly string[];
}

/** One workload point of one side's run: throughput and CPU per operation. */
export interface SidePoint {
  readonly key: string;
  readonly opsPerSec: number;
  /** Stores' and generator's CPU µs per operation, summed. */
  readonly cpuUsPerOp: number;
}

export interface RoundResult {
  readonly a: readonly SidePoint[];
  readonly b: readonly SidePoint[];
}

export interface PointSummary {
  readonly key: string;
  readonly ratios: readonly number[];
  /** Geometric mean of B/A throughput over the rounds. */
  readonly ratioGeoMean: number;
  /** Median of B/A throughput over the rounds (one disturbed round moves it less). */
  readonly ratioMedian: number;
  readonly cpuRatioGeoMean: number;
}

function envPair(flag: string, text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new Error(`--${flag}: expected K=V, got ${JSON.stringify(text)}`);
  return [text.slice(0, eq), text.slice(eq + 1)];
}

export function parseAbArgs(argv: readonly string[], cwd: string): AbSettings | 'help' {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const { values } = parseArgs({
    args: [...own],
    options: {
      a: { type: 'string' },
      b: { type: 'string' },
      'a-env': { type: 'string', multiple: true, default: [] },
      'b-env': { type: 'string', multiple: true, default: [] },
      'a-arg': { type: 'string', multiple: true, default: [] },
      'b-arg': { type: 'string', multiple: true, default: [] },
      rounds: { type: 'string', default: '3' },
      harness: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const rounds = Number(values.rounds);
  if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > 100) throw new Error(`--rounds: expected an integer 1…100, got ${values.rounds}`);
  const tool: AbTool = values.harness ? 'harness' : 'store-bench';
  const passed = dash >= 0 ? argv.slice(dash + 1) : tool === 'harness' ? DEFAULT_HARNESS_ARGS : DEFAULT_STORE_BENCH_ARGS;
  for (const f of FLAGS_SET_PER_SIDE[tool]) {
    const given = (a: string): boolean => a === f || a.startsWith(`${f}=`);
    if ([...passed, ...values['a-arg'], ...values['b-arg']].some(given)) throw new Error(`${toolName(tool)} flag ${f} is set per side by bench:ab (or would spoil the comparison); leave it out`);
  }
  const side = (label: 'A' | 'B', dir: string | undefined, env: readonly string[], args: readonly string[]): Side => ({
    label, dir: resolve(cwd, dir ?? '.'), env: Object.fromEntries(env.map((e) => envPair(`${label.toLowerCase()}-env`, e))), args,
  });
  return { a: side('A', values.a, values['a-env'], values['a-arg']), b: side('B', values.b, values['b-env'], values['b-arg']), rounds, tool, benchArgs: passed };
}

function toolName(tool: AbTool): string {
  return tool === 'harness' ? 'harness (npm run bench)' : 'bench:store';
}

/** The `cpuUsPerOp` figures of the generator and the servers, summed; NaN if any is missing (unknown, not smaller). */
function cpuUsPerOpSum(figures: readonly unknown[]): number {
  let sum = 0;
  for (const f of figures) {
    const c = (f as { cpuUsPerOp?: unknown } | undefined)?.cpuUsPerOp;
    sum += typeof c === 'number' ? c : NaN;
  }
  return sum;
}

/**
 * The points of a harness result.json (one run, or `{ results }` for several): throughput and the
 * CPU per operation of the servers and the load generator together — the same sum as bench:store's.
 */
export function harnessPointsOf(json: unknown): SidePoint[] {
  const runs = (json as { results?: unknown }).results ?? [json];
  if (!Array.isArray(runs)) throw new Error('harness result: no runs');
  return runs.map((r: unknown): SidePoint => {
    const q = r as { workload?: unknown; opsPerSec?: unknown; settings?: { concurrency?: unknown; cluster?: unknown }; cpu?: { generatorTotal?: { cpuUsPerOp?: unknown }; servers?: unknown } };
    if (typeof q.workload !== 'string' || typeof q.opsPerSec !== 'number' || typeof q.settings?.concurrency !== 'number' || !Array.isArray(q.cpu?.servers)) {
      throw new Error(`harness result: malformed run ${JSON.stringify(r).slice(0, 200)}`);
    }
    const cpu = cpuUsPerOpSum([q.cpu.generatorTotal, ...(q.cpu.servers as unknown[])]);
    const cluster = typeof q.settings.cluster === 'string' ? `, ${q.settings.cluster}` : '';
    return { key: `${q.workload} ×${q.settings.concurrency}${cluster}`, opsPerSec: q.opsPerSec, cpuUsPerOp: cpu };
  });
}

/** The points of a bench:store JSON result (validated as far as this reads it). */
export function pointsOf(json: unknown): SidePoint[] {
  const points = (json as { points?: unknown }).points;
  if (!Array.isArray(points)) throw new Error('bench:store result: no points');
  return points.map((p: unknown): SidePoint => {
    const q = p as { workload?: unknown; concurrency?: unknown; opsPerSec?: unknown; generator?: { cpuUsPerOp?: unknown }; stores?: unknown };
    if (typeof q.workload !== 'string' || typeof q.concurrency !== 'number' || typeof q.opsPerSec !== 'number' || !Array.isArray(q.stores)) {
      throw new Error(`bench:store result: malformed point ${JSON.stringify(p)}`);
    }
    const cpu = cpuUsPerOpSum([q.generator, ...(q.stores as unknown[])]);
    return { key: `${q.workload} ×${q.concurrency}`, opsPerSec: q.opsPerSec, cpuUsPerOp: cpu };
  });
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function geoMean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  return Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
}

/** A round's results by side, from the side that started first and its results. */
export function roundOf(firstLabel: Side['label'], first: readonly SidePoint[], second: readonly SidePoint[]): RoundResult {
  return firstLabel === 'A' ? { a: first, b: second } : { a: second, b: first };
}

/** B/A per point over the rounds (a point both sides measured in every round). */
export function summarize(rounds: readonly RoundResult[]): PointSummary[] {
  if (rounds.length === 0) return [];
  const keys = rounds[0]!.a.map((p) => p.key);
  return keys.map((key) => {
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (const r of rounds) {
      const a = r.a.find((p) => p.key === key);
      const b = r.b.find((p) => p.key === key);
      if (a === undefined || b === undefined) throw new Error(`point ${key} missing from a round`);
      ratios.push(b.opsPerSec / a.opsPerSec);
      cpuRatios.push(b.cpuUsPerOp / a.cpuUsPerOp);
    }
    return { key, ratios, ratioGeoMean: geoMean(ratios), ratioMedian: median(ratios), cpuRatioGeoMean: geoMean(cpuRatios) };
  });
}

/** The benchmark runs under way: a signal to bench:ab goes on to them (each stops its cluster). */
const running = new Set<ChildProcess>();
/** The signal that stopped bench:ab, once one came. */
let stoppedBy: NodeJS.Signals | null = null;

function runSide(tool: AbTool, side: Side, args: readonly string[], out: string, gate: string): Promise<SidePoint[]> {
  const script = join(side.dir, 'dist', 'bench', ...(tool === 'harness' ? ['harness', 'cli.js'] : ['store-bench.js']));
  return new Promise((resolvePoints, reject) => {
    if (stoppedBy !== null) {
      reject(new Error(`stopped by ${stoppedBy}`));
      return;
    }
    const child = spawn(process.execPath, [script, ...args, ...side.args, '--out', out, '--start-gate', gate], {
      cwd: side.dir, env: { ...process.env, ...side.env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    running.add(child);
    child.on('exit', () => running.delete(child));
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (stoppedBy !== null) {
        reject(new Error(`stopped by ${stoppedBy}`));
        return;
      }
      if (code !== 0) {
        reject(new Error(`side ${side.label} (${side.dir}): ${toolName(tool)} exited (code ${code}, signal ${signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      const file = tool === 'harness' ? join(out, 'result.json') : out;
      readFile(file, 'utf8').then((text) => {
        const json: unknown = JSON.parse(text);
        resolvePoints(tool === 'harness' ? harnessPointsOf(json) : pointsOf(json));
      }, reject);
    });
  });
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * Opens the start gates of the two runs (--start-gate): point n starts on both sides
 * once both are ready for it — or on one side alone once the other has exited (it failed, or it
 * has no more points), so that side never waits out its gate's deadline.
 */
export async function coordinateGates(gates: readonly [string, string], isDone: readonly [() => boolean, () => boolean]): Promise<void> {
  const next = [0, 0];
  while (!(isDone[0]() && isDone[1]()) && stoppedBy === null) {
    for (const [i, j] of [[0, 1], [1, 0]] as const) {
      const n = next[i]!;
      if (isDone[i]() || !(await exists(`${gates[i]}.${n}.ready`))) continue;
      if (!isDone[j]() && !(next[j]! > n || (await exists(`${gates[j]}.${n}.ready`)))) continue;
      await writeFile(`${gates[i]}.${n}`, '');
      next[i] = n + 1;
    }
    await sleepMs(20);
  }
}

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
const pct = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)} %`;

async function main(): Promise<void> {
  const settings = parseAbArgs(process.argv.slice(2), process.cwd());
  if (settings === 'help') {
    console.log(USAGE);
    return;
  }
  // Ctrl-C (or SIGTERM): each benchmark run stops its own cluster on the signal; bench:ab passes
  // it on (a terminal's Ctrl-C reaches them anyway; a `kill` of bench:ab alone would not), waits
  // for them to exit, removes its temp dir and exits 130. A second signal while they stop is ignored.
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stoppedBy !== null) return;
    stoppedBy = signal;
    console.error(`\n${signal}: stopping both runs`);
    for (const child of running) child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-ab-'));
  const rounds: RoundResult[] = [];
  try {
    const envText = (s: Side): string => (Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ') || '-') + (s.args.length > 0 ? `; flags ${s.args.join(' ')}` : '');
    console.log(`A: ${settings.a.dir} (env ${envText(settings.a)})\nB: ${settings.b.dir} (env ${envText(settings.b)})\n${toolName(settings.tool)} ${settings.benchArgs.join(' ')}\n`);
    console.log('| round | point | A ops/s | B ops/s | B/A | A CPU µs/op | B CPU µs/op |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |');
    for (let i = 0; i < settings.rounds; i++) {
      const [first, second] = i % 2 === 0 ? [settings.a, settings.b] : [settings.b, settings.a];
      const gates = [join(dir, `gate-${first.label}-${i}`), join(dir, `gate-${second.label}-${i}`)] as const;
      const settled = [false, false];
      const outOf = (s: Side): string => join(dir, settings.tool === 'harness' ? `${s.label}-${i}` : `${s.label}-${i}.json`);
      const pFirst = runSide(settings.tool, first, settings.benchArgs, outOf(first), gates[0]).finally(() => {
        settled[0] = true;
      });
      const pSecond = runSide(settings.tool, second, settings.benchArgs, outOf(second), gates[1]).finally(() => {
        settled[1] = true;
      });
      const coordinating = coordinateGates(gates, [() => settled[0]!, () => settled[1]!]);
      // Both sides run to their end (a failed one no longer holds the other at a gate), and every
      // failure — a side's or the coordinator's — is seen, none left unhandled.
      const [outFirst, outSecond, outGates] = await Promise.allSettled([pFirst, pSecond, coordinating]);
      for (const o of [outFirst, outSecond, outGates]) if (o.status === 'rejected') throw o.reason;
      const rFirst = (outFirst as PromiseFulfilledResult<SidePoint[]>).value;
      const rSecond = (outSecond as PromiseFulfilledResult<SidePoint[]>).value;
      const round = roundOf(first.label, rFirst, rSecond);
      rounds.push(round);
      for (const a of round.a) {
        const b = round.b.find((p) => p.key === a.key);
        console.log(`| ${i + 1} | ${a.key} | ${fmt(a.opsPerSec)} | ${fmt(b?.opsPerSec ?? NaN)} | ${b === undefined ? '—' : (b.opsPerSec / a.opsPerSec).toFixed(3)} | ${fmt(a.cpuUsPerOp)} | ${fmt(b?.cpuUsPerOp ?? NaN)} |`);
      }
    }
    console.log('\n| point | B/A throughput (geometric mean) | median | per round | B/A CPU per op |\n| --- | ---: | ---: | --- | ---: |');
    for (const s of summarize(rounds)) {
      console.log(`| ${s.key} | ${pct(s.ratioGeoMean)} | ${pct(s.ratioMedian)} | ${s.ratios.map((r) => r.toFixed(3)).join(' · ')} | ${pct(s.cpuRatioGeoMean)} |`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(stoppedBy === null ? 0 : 130),
    (err: unknown) => {
      console.error(`bench:ab: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(stoppedBy === null ? 1 : 130);
    },
  );
}
