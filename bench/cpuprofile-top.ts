// The functions with the most self time in a V8 .cpuprofile (written by `node --cpu-prof`).
//
//   node dist/bench/cpuprofile-top.js FILE.cpuprofile [--top 10]
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

export function summarizeCpuProfile(profile: CpuProfile, top: number): CpuProfileSummary {
  const frameOf = new Map<number, CpuProfileNode['callFrame']>();
  for (const n of profile.nodes) frameOf.set(n.id, n.callFrame);
  const selfUs = new Map<string, { functionName: string; location: string; us: number }>();
  const moduleUs = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample: attribute the interval that follows a
    // sample (the next delta) to that sample's frame; the last sample gets none.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const frame = frameOf.get(profile.samples[i]!);
    if (frame === undefined || us <= 0) continue;
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

export async function summarizeCpuProfileFile(path: string, top: number): Promise<CpuProfileSummary> {
  return summarizeCpuProfile(JSON.parse(await readFile(path, 'utf8')) as CpuProfile, top);
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

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '10' } }, allowPositionals: true });
  if (positionals.length === 0) {
    process.stderr.write('usage: node dist/bench/cpuprofile-top.js FILE.cpuprofile… [--top 10]\n');
    process.exit(2);
  }
  for (const path of positionals) {
    console.log(`## ${path}\n`);
    console.log(renderCpuProfileSummary(await summarizeCpuProfileFile(path, Number(values.top))));
    console.log('');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
