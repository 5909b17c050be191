// What a run leaves behind: result.json, summary.md (Markdown tables), chart.svg (throughput and
// p99 over time, one polyline per target), and the comparison table of a `--target both` run.
// Pure string builders, then one function that writes them.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CpuFigure } from './cpu.js';
import type { RunResult, TimelinePoint } from './result.js';
import type { ServerProfile } from './systems.js';

function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–';
}

function fmtMs(n: number): string {
  return Number.isFinite(n) ? n.toFixed(2) : '–';
}

function fmtCpu(f: CpuFigure): string {
  return Number.isFinite(f.cpuPercent) ? `${f.cpuPercent.toFixed(0)} % (${fmtInt(f.cpuUsPerOp)} µs/op)` : 'unknown';
}

function errorsText(errors: Readonly<Record<string, number>>): string {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? '0' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** Escapes a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** What --rate adds to a summary's first line. */
function openLoopText(rateOpsPerSec: number | null): string {
  return rateOpsPerSec === null ? '' : ` (open loop: ${fmtInt(rateOpsPerSec)} ops/s offered, latency from when each operation was due)`;
}

function retriesText(retries: Readonly<Record<string, number>>): string {
  const entries = Object.entries(retries).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? '0' : entries.map(([k, n]) => `${k} ${n}`).join(', ');
}

/** One run per target at one point (workload, concurrency, cluster size): the single-run layout with timelines. */
export function isSinglePoint(results: readonly RunResult[]): boolean {
  return new Set(results.map((r) => r.target)).size === results.length;
}

/** The summary: one run (or one per target) in detail, or a plan's table of points and ratios; then the profiles. */
export function renderMarkdown(results: readonly RunResult[], profiles: readonly ServerProfile[] = []): string {
  const body = isSinglePoint(results) ? renderSingle(results) : renderPlan(results);
  const profileText = renderProfiles(profiles);
  return profileText === null ? body : `${body}\n${profileText}`;
}

function renderSingle(results: readonly RunResult[]): string {
  const lines: string[] = [];
  const first = results[0];
  if (first === undefined) return '# Bench\n\nNo results.\n';
  const s = first.settings;
  lines.push(`# ${first.workload} — ${first.startedAt}`, '');
  const space = first.opsByKind.transfer !== undefined ? `${s.accounts} accounts of ${s.valueSize} bytes` : `${s.keys} keys, ${s.valueSize}-byte values`;
  lines.push(`${s.concurrency} operations in flight from ${s.workers} workers${openLoopText(s.rateOpsPerSec)}, ${s.warmupS} s warm-up, ${s.durationS} s measured; ${space}, ${s.distribution} key choice, seed ${s.seed}; cpu speed ${first.cpuSpeed} (bench/cpu-speed.ts: runs compare only at close speeds).`, '');
  lines.push('| target | cluster | ops/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | errors | retries |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |');
  for (const r of results) {
    const l = r.latencyMs;
    lines.push(`| ${r.target} | ${cell(r.settings.cluster)} | ${fmtInt(r.opsPerSec)} | ${fmtMs(l.p50)} | ${fmtMs(l.p95)} | ${fmtMs(l.p99)} | ${fmtMs(l.p999)} | ${fmtMs(l.max)} | ${cell(errorsText(r.errors))} | ${cell(retriesText(r.retries))} |`);
  }
  lines.push('', '## CPU over the measured window', '', '| target | process | CPU % of one core (µs per op) |', '| --- | --- | --- |');
  for (const r of results) {
    lines.push(`| ${r.target} | **load generator, total** | ${fmtCpu(r.cpu.generatorTotal)} |`);
    for (const g of r.cpu.generator) lines.push(`| ${r.target} | ${cell(g.name)} | ${fmtCpu(g)} |`);
    for (const sv of r.cpu.servers) lines.push(`| ${r.target} | ${cell(sv.name)} | ${fmtCpu(sv)} |`);
  }
  for (const r of results) {
    if (r.invariant === null) continue;
    lines.push('', `Balances on ${r.target}: ${r.invariant.isConserved ? 'conserved' : '**NOT CONSERVED**'} (expected ${r.invariant.expectedTotal}, read ${r.invariant.actualTotal}).`);
  }
  const comparison = renderComparison(results);
  if (comparison !== null) lines.push('', '## Flotilla / etcd', '', comparison);
  lines.push('', '![throughput and p99 over time](chart.svg)', '');
  return lines.join('\n');
}

/** Sum of the servers' CPU per operation (NaN when any is unknown). */
function serversUsPerOp(r: RunResult): number {
  return r.cpu.servers.reduce((a, s) => a + s.cpuUsPerOp, 0);
}

/** A plan (sweep or compare): a row per point, then Flotilla / etcd at each matching point. */
function renderPlan(results: readonly RunResult[]): string {
  const first = results[0]!;
  const s = first.settings;
  const lines: string[] = [];
  lines.push(`# ${[...new Set(results.map((r) => r.workload))].join(', ')} — ${first.startedAt}`, '');
  lines.push(`${s.warmupS} s warm-up, ${s.durationS} s measured per point${openLoopText(s.rateOpsPerSec)}; ${s.keys} keys of ${s.valueSize} bytes, ${s.accounts} accounts, seed ${s.seed}.`, '');
  lines.push(
    '| workload | target | cluster | in flight | workers | ops/s | p50 ms | p99 ms | p99.9 ms | errors | retries | generator µs/op | servers µs/op |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |',
  );
  for (const r of results) {
    const l = r.latencyMs;
    lines.push(`| ${r.workload} (${r.settings.distribution}) | ${r.target} | ${cell(r.settings.cluster)} | ${r.settings.concurrency} | ${r.settings.workers} | ${fmtInt(r.opsPerSec)} | ${fmtMs(l.p50)} | ${fmtMs(l.p99)} | ${fmtMs(l.p999)} | ${cell(errorsText(r.errors))} | ${cell(retriesText(r.retries))} | ${fmtInt(r.cpu.generatorTotal.cpuUsPerOp)} | ${fmtInt(serversUsPerOp(r))} |`);
  }
  for (const r of results) {
    if (r.invariant === null) continue;
    lines.push('', `Balances on ${r.target} (${r.workload}, ${r.settings.concurrency} in flight, ${r.settings.cluster}): ${r.invariant.isConserved ? 'conserved' : '**NOT CONSERVED**'} (expected ${r.invariant.expectedTotal}, read ${r.invariant.actualTotal}).`);
  }
  const ratios = renderRatios(results);
  if (ratios !== null) lines.push('', '## Flotilla / etcd', '', ratios);
  lines.push('', '![throughput and p99 by point](chart.svg)', '');
  return lines.join('\n');
}

/** Flotilla beside etcd at one point both ran: result.json's `comparison` rows and the ratio table's. */
export interface ComparisonRow {
  readonly workload: string;
  readonly concurrency: number;
  readonly flotillaCluster: string;
  readonly flotillaOpsPerSec: number;
  readonly etcdOpsPerSec: number;
  /** Flotilla / etcd; NaN when etcd did nothing. */
  readonly opsRatio: number;
  readonly flotillaP99Ms: number;
  readonly etcdP99Ms: number;
  readonly p99Ratio: number;
}

/** Every Flotilla point with the etcd run of the same workload and concurrency. */
export function comparisonRows(results: readonly RunResult[]): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : NaN);
  for (const f of results.filter((r) => r.target === 'flotilla')) {
    const e = results.find((r) => r.target === 'etcd' && r.workload === f.workload && r.settings.concurrency === f.settings.concurrency);
    if (e === undefined) continue;
    rows.push({
      workload: f.workload, concurrency: f.settings.concurrency, flotillaCluster: f.settings.cluster,
      flotillaOpsPerSec: f.opsPerSec, etcdOpsPerSec: e.opsPerSec, opsRatio: ratio(f.opsPerSec, e.opsPerSec),
      flotillaP99Ms: f.latencyMs.p99, etcdP99Ms: e.latencyMs.p99, p99Ratio: ratio(f.latencyMs.p99, e.latencyMs.p99),
    });
  }
  return rows;
}

/** The ratio table of comparisonRows; null when no point ran on both targets. */
export function renderRatios(results: readonly RunResult[]): string | null {
  const rows = comparisonRows(results);
  if (rows.length === 0) return null;
  const times = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
  return [
    '| workload | in flight | Flotilla cluster | Flotilla ops/s | etcd ops/s | ops/s Flotilla / etcd | Flotilla p99 ms | etcd p99 ms | p99 Flotilla / etcd |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.workload} | ${r.concurrency} | ${cell(r.flotillaCluster)} | ${fmtInt(r.flotillaOpsPerSec)} | ${fmtInt(r.etcdOpsPerSec)} | **${times(r.opsRatio)}** | ${fmtMs(r.flotillaP99Ms)} | ${fmtMs(r.etcdP99Ms)} | ${times(r.p99Ratio)} |`),
  ].join('\n');
}

/** The servers' top functions by self time (--cpu-prof); null without profiles. */
export function renderProfiles(profiles: readonly ServerProfile[]): string | null {
  if (profiles.length === 0) return null;
  const lines = ['## CPU profiles of the servers and the workers', '', 'Whole process lifetime (a server: start, preload, every run of the cluster; a worker: one run); self time, % of busy time.', ''];
  lines.push('| cluster | server | busy s | top functions (self time, % of busy) |', '| --- | --- | ---: | --- |');
  for (const p of profiles) {
    const top = p.top.map((e) => `\`${e.functionName || '(anonymous)'}\` ${e.location === '' ? '' : `(${e.location}) `}${e.percentOfBusy.toFixed(1)} %`).join('; ');
    lines.push(`| ${cell(p.cluster)} | ${cell(p.server)} | ${(p.busyMs / 1000).toFixed(1)} | ${cell(top)} |`);
  }
  lines.push('', `Profiles: ${[...new Set(profiles.map((p) => p.path.slice(0, p.path.lastIndexOf('/'))))].join(', ')} (\`node dist/bench/cpuprofile-top.js FILE\` for more).`, '');
  return lines.join('\n');
}

/** The side-by-side table of a run on both targets; null unless both are present. */
export function renderComparison(results: readonly RunResult[]): string | null {
  const flotilla = results.find((r) => r.target === 'flotilla');
  const etcd = results.find((r) => r.target === 'etcd');
  if (flotilla === undefined || etcd === undefined) return null;
  const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');
  return [
    '| | Flotilla | etcd | Flotilla / etcd |',
    '| --- | ---: | ---: | ---: |',
    `| ops/s | ${fmtInt(flotilla.opsPerSec)} | ${fmtInt(etcd.opsPerSec)} | ${ratio(flotilla.opsPerSec, etcd.opsPerSec)} |`,
    `| p50 ms | ${fmtMs(flotilla.latencyMs.p50)} | ${fmtMs(etcd.latencyMs.p50)} | ${ratio(flotilla.latencyMs.p50, etcd.latencyMs.p50)} |`,
    `| p99 ms | ${fmtMs(flotilla.latencyMs.p99)} | ${fmtMs(etcd.latencyMs.p99)} | ${ratio(flotilla.latencyMs.p99, etcd.latencyMs.p99)} |`,
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis maximum ≥ v: 1, 2 or 5 times a power of ten. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const SERIES_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
const PANEL_WIDTH = 640;
const PANEL_HEIGHT = 220;
const MARGIN = { left: 70, right: 20, top: 30, bottom: 40 };

interface Series {
  readonly label: string;
  readonly points: readonly TimelinePoint[];
}

/** A categorical x axis: point `second` = i + 1 sits at labels[i]. */
interface CategoryAxis {
  readonly title: string;
  readonly labels: readonly string[];
}

function panel(series: readonly Series[], value: (p: TimelinePoint) => number, title: string, yLabel: string, offsetY: number, categories?: CategoryAxis): string {
  const xMax = categories !== undefined ? categories.labels.length + 1 : Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.second)));
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map(value))));
  const w = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const h = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (t: number): number => MARGIN.left + (w * t) / xMax;
  const y = (v: number): number => offsetY + MARGIN.top + h - (h * v) / yMax;
  const parts: string[] = [];
  parts.push(`<text x="${PANEL_WIDTH / 2}" y="${offsetY + 18}" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`);
  parts.push(`<line x1="${MARGIN.left}" y1="${y(0)}" x2="${MARGIN.left + w}" y2="${y(0)}" stroke="#000"/>`);
  parts.push(`<line x1="${MARGIN.left}" y1="${y(0)}" x2="${MARGIN.left}" y2="${y(yMax)}" stroke="#000"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(`<text x="${MARGIN.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${escapeXml(Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2))}</text>`);
  }
  if (categories !== undefined) {
    categories.labels.forEach((label, i) => parts.push(`<text x="${x(i + 1)}" y="${y(0) + 16}" text-anchor="middle" font-size="11">${escapeXml(label)}</text>`));
  } else {
    const xStep = Math.max(1, Math.ceil(xMax / 10));
    for (let t = 0; t <= xMax; t += xStep) parts.push(`<text x="${x(t)}" y="${y(0) + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + w / 2}" y="${y(0) + 32}" text-anchor="middle" font-size="12">${escapeXml(categories?.title ?? 'seconds')}</text>`);
  parts.push(`<text x="16" y="${offsetY + MARGIN.top + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 16 ${offsetY + MARGIN.top + h / 2})">${escapeXml(yLabel)}</text>`);
  for (const [i, s] of series.entries()) {
    const color = SERIES_COLORS[i % SERIES_COLORS.length]!;
    const pts = s.points.map((p) => `${x(p.second).toFixed(1)},${y(value(p)).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
    parts.push(`<text x="${MARGIN.left + w - 4}" y="${offsetY + MARGIN.top + 14 * (i + 1)}" text-anchor="end" font-size="12" fill="${color}">${escapeXml(s.label)}</text>`);
  }
  return parts.join('\n');
}

/** Two panels, throughput then p99 latency, over the measured window's seconds. */
export function renderSvg(results: readonly RunResult[]): string {
  const series = results.map((r) => ({ label: r.target, points: r.timeline }));
  const workload = results[0]?.workload ?? '';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PANEL_WIDTH}" height="${2 * PANEL_HEIGHT}" viewBox="0 0 ${PANEL_WIDTH} ${2 * PANEL_HEIGHT}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    panel(series, (p) => p.opsPerSec, `${workload}: throughput`, 'ops/s', 0),
    panel(series, (p) => p.p99Ms, `${workload}: p99 latency`, 'p99 ms', PANEL_HEIGHT),
    '</svg>',
    '',
  ].join('\n');
}

/**
 * result.json: one run's RunResult; for several (a plan, or --target both), `{ results,
 * comparison, profiles }` — comparison the Flotilla / etcd rows, profiles those of --cpu-prof.
 * chart.svg: timelines for one point, curves over the points of a plan.
 */
export async function writeResults(dir: string, results: readonly RunResult[], profiles: readonly ServerProfile[] = []): Promise<void> {
  await mkdir(dir, { recursive: true });
  const json = results.length === 1 && profiles.length === 0 ? results[0] : { results, comparison: comparisonRows(results), profiles };
  await writeFile(join(dir, 'result.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(dir, 'summary.md'), renderMarkdown(results, profiles));
  await writeFile(join(dir, 'chart.svg'), isSinglePoint(results) ? renderSvg(results) : renderCurvesSvg(results));
}

/**
 * What a plan's points vary along: concurrency when several were run, else the store count, else
 * the workload (compare). The x axis is categorical (points evenly spaced, labelled).
 */
export function curveAxis(results: readonly RunResult[]): 'concurrency' | 'stores' | 'workload' {
  if (new Set(results.map((r) => r.settings.concurrency)).size > 1) return 'concurrency';
  if (new Set(results.filter((r) => r.settings.stores !== null).map((r) => r.settings.stores)).size > 1) return 'stores';
  return 'workload';
}

/** Throughput and p99 against the plan's axis: a polyline per (target, workload, cluster) series. */
export function renderCurvesSvg(results: readonly RunResult[]): string {
  const axis = curveAxis(results);
  const xOf = (r: RunResult): string => (axis === 'concurrency' ? String(r.settings.concurrency) : axis === 'stores' ? `${r.settings.stores ?? 'etcd'} stores` : r.workload);
  const labels = [...new Set(results.map(xOf))];
  if (axis !== 'workload') labels.sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const seriesKey = (r: RunResult): string => (axis === 'workload' ? r.target : axis === 'stores' ? `${r.target} ${r.workload}` : `${r.target} ${r.workload} (${r.settings.cluster})`);
  const seriesNames = [...new Set(results.map(seriesKey))];
  const toPoint = (r: RunResult): TimelinePoint => ({ second: labels.indexOf(xOf(r)) + 1, opsPerSec: r.opsPerSec, p99Ms: r.latencyMs.p99 });
  const series = seriesNames.map((label) => ({ label, points: results.filter((r) => seriesKey(r) === label).map(toPoint).sort((a, b) => a.second - b.second) }));
  const xAxis = { title: axis === 'concurrency' ? 'operations in flight' : axis === 'stores' ? 'stores' : 'workload', labels };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${PANEL_WIDTH}" height="${2 * PANEL_HEIGHT}" viewBox="0 0 ${PANEL_WIDTH} ${2 * PANEL_HEIGHT}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    panel(series, (p) => p.opsPerSec, `throughput by ${xAxis.title}`, 'ops/s', 0, xAxis),
    panel(series, (p) => p.p99Ms, `p99 latency by ${xAxis.title}`, 'p99 ms', PANEL_HEIGHT, xAxis),
    '</svg>',
    '',
  ].join('\n');
}
