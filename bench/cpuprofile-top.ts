// The functions with the most self time in a V8 .cpuprofile (written by `node --cpu-prof`).
//
//   node dist/bench/cpuprofile-top.js FILE.cpuprofile… [--top 10] [--from S] [--to S]
//
// --from/--to keep the samples taken S seconds after the profile started: a bench's store profile
// covers start-up and loading too, which can outweigh the measured window.
//
// Self time of a function = the sampling intervals whose top frame was that function, summed
// over every call site (functions are keyed by name, script and line). "(idle)" is time the
// thread waited in epoll; shares are given of all samples and of the busy (non-idle) ones.

import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

export interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTimeEntry {
  readonly functionName: string;
  /** Script file name and 1-based line, e.g. `poll-loop.js:120`; empty for V8's own entries. */
  readonly location: string;
  readonly selfMs: number;
  /** Share of every sample, percent. */
  readonly percentOfTotal: number;
  /** Share of the samples that were not (idle), percent; NaN for (idle) itself. */
  readonly percentOfBusy: number;
}

export interface CpuProfileSummary {
  readonly totalMs: number;
  readonly idleMs: number;
  readonly top: readonly SelfTimeEntry[];
  /** Self time by where the code lives: an npm package, a file of ours, node's internals, or V8's entries. */
  readonly topModules: readonly { readonly module: string; readonly selfMs: number; readonly percentOfBusy: number }[];
}

/** `node_modules/@grpc/grpc-js/…` → `@grpc/grpc-js`; `…/dist/store/poll-loop.js` → `store/poll-loop.js`. */
function moduleOf(url: string, functionName: string): string {
  // protobufjs compiles a codec per message type at run time (RaftMessage$toObject, …): no script.
  if (url === '') return /^\w+\$\w+$/.test(functionName) ? 'protobufjs (generated codecs)' : functionName;
  if (url.startsWith('node:')) return 'node (built-in modules)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  const ours = /\/dist\/(.+)$/.exec(url);
  return ours !== null ? ours[1]! : basename(url);
}

const IDLE = '(idle)';

/** Seconds since the profile started: the samples kept (from inclusive, to exclusive). */
export interface ProfileWindow {
  readonly fromS?: number;
  readonly toS?: number;
}

export function summarizeCpuProfile(profile: CpuProfile, top: number, window: ProfileWindow = {}): CpuProfileSummary {
  const fromUs = (window.fromS ?? 0) * 1e6;
  const toUs = (window.toS ?? Infinity) * 1e6;
  let atUs = 0;
  const frameOf = new Map<number, CpuProfileNode['callFrame']>();
  for (const n of profile.nodes) frameOf.set(n.id, n.callFrame);
  const selfUs = new Map<string, { functionName: string; location: string; us: number }>();
  const moduleUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: attribute the interval that follows a
    // sample (the next delta) to that sample's frame; the last sample gets none.
    atUs += profile.timeDeltas[i] ?? 0;
    const us = profile.timeDeltas[i + 1] ?? 0;
    const frame = frameOf.get(profile.samples[i]!);
    if (frame === undefined || us <= 0 || atUs < fromUs || atUs >= toUs) continue;
    const functionName = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const location = frame.url === '' ? '' : `${basename(frame.url)}:${frame.lineNumber + 1}`;
    const key = `${functionName}\u0000${location}`;
    const entry = selfUs.get(key) ?? { functionName, location, us: 0 };
    entry.us += us;
    selfUs.set(key, entry);
    const module = moduleOf(frame.url, functionName);
    moduleUs.set(module, (moduleUs.get(module) ?? 0) + us);
    totalUs += us;
    if (functionName === IDLE) idleUs += us;
  }
  const busyUs = totalUs - idleUs;
  const entries = [...selfUs.values()].sort((a, b) => b.us - a.us).slice(0, top);
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    top: entries.map((e) => ({
      functionName: e.functionName,
      location: e.location,
      selfMs: e.us / 1000,
      percentOfTotal: totalUs === 0 ? NaN : (100 * e.us) / totalUs,
      percentOfBusy: e.functionName === IDLE || busyUs === 0 ? NaN : (100 * e.us) / busyUs,
    })),
    topModules: [...moduleUs]
      .filter(([module]) => module !== IDLE)
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, selfMs: us / 1000, percentOfBusy: busyUs === 0 ? NaN : (100 * us) / busyUs })),
  };
}

export async function summarizeCpuProfileFile(path: string, top: number, window: ProfileWindow = {}): Promise<CpuProfileSummary> {
  return summarizeCpuProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile, top, window);
}

/** The summary as a Markdown table. */
export function renderCpuProfileSummary(s: CpuProfileSummary): string {
  const lines = [
    `profiled ${(s.totalMs / 1000).toFixed(1)} s, idle ${(s.idleMs / 1000).toFixed(1)} s (busy ${(100 * (1 - s.idleMs / s.totalMs)).toFixed(0)}%)`,
    '',
    '| # | self ms | % of all | % of busy | function | where |',
    '| ---: | ---: | ---: | ---: | --- | --- |',
  ];
  s.top.forEach((e, i) => {
    const busy = Number.isNaN(e.percentOfBusy) ? '' : e.percentOfBusy.toFixed(1);
    lines.push(`| ${i + 1} | ${e.selfMs.toFixed(0)} | ${e.percentOfTotal.toFixed(1)} | ${busy} | \`${e.functionName}\` | ${e.location} |`);
  });
  lines.push('', 'Self time by module (busy time only):', '', '| # | self ms | % of busy | module |', '| ---: | ---: | ---: | --- |');
  s.topModules.forEach((m, i) => lines.push(`| ${i + 1} | ${m.selfMs.toFixed(0)} | ${m.percentOfBusy.toFixed(1)} | ${m.module} |`));
  return lines.join('\n');
}

const USAGE = `usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile… [flags]
  --top <n>    functions and modules listed (default 10)
  --from <s>   keep samples taken at least <s> seconds after the profile started (default 0)
  --to <s>     keep samples taken before <s> seconds (default: to the end)
  --help       this text
`;

/** A flag's value as a non-negative number, or a one-line error and exit 2. */
function numberFlag(name: string, raw: string | undefined, isInteger: boolean): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < 0 || (isInteger && !Number.isSafeInteger(n))) {
    process.stderr.write(`cpuprofile-top: --${name} ${raw}: expected a non-negative ${isInteger ? 'integer' : 'number'}\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ options: { top: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, help: { type: 'boolean' } }, allowPositionals: true });
  } catch (err) {
    process.stderr.write(`cpuprofile-top: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  if (positionals.length === 0) {
    process.stderr.write(USAGE);
    process.exit(2);
  }
  const top = numberFlag('top', values.top, true) ?? 10;
  const fromS = numberFlag('from', values.from, false);
  const toS = numberFlag('to', values.to, false);
  for (const path of positionals) {
    console.log(`## ${path}${fromS !== undefined || toS !== undefined ? ` (seconds ${fromS ?? 0} to ${toS ?? 'the end'})` : ''}\n`);
    let summary: CpuProfileSummary;
    try {
      summary = await summarizeCpuProfileFile(path, top, { ...(fromS === undefined ? {} : { fromS }), ...(toS === undefined ? {} : { toS }) });
    } catch (err) {
      process.stderr.write(`cpuprofile-top: ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    }
    console.log(renderCpuProfileSummary(summary));
    console.log('');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
