// What a run leaves behind: result.json, summary.md (Markdown tables), chart.svg (throughput and
// p99 over time, one polyline per target), and the comparison table of a `--target both` run.
// Pure string builders, then one function that writes them.

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CpuFigure } from './cpu.js';
import type { RunResult, TimelinePoint } from './result.js';

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

export function renderMarkdown(results: readonly RunResult[]): string {
  const lines: string[] = [];
  const first = results[0];
  if (first === undefined) return '# Bench\n\nNo results.\n';
  const s = first.settings;
  lines.push(`# ${first.workload} — ${first.startedAt}`, '');
  const space = first.opsByKind.transfer !== undefined ? `${s.accounts} accounts` : `${s.keys} keys, ${s.valueSize}-byte values`;
  lines.push(`${s.concurrency} operations in flight from ${s.workers} workers, ${s.warmupS} s warm-up, ${s.durationS} s measured; ${space}, ${s.distribution} key choice, seed ${s.seed}.`, '');
  lines.push('| target | cluster | ops/s | p50 ms | p95 ms | p99 ms | p99.9 ms | max ms | errors |', '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    const l = r.latencyMs;
    lines.push(`| ${r.target} | ${cell(r.settings.cluster)} | ${fmtInt(r.opsPerSec)} | ${fmtMs(l.p50)} | ${fmtMs(l.p95)} | ${fmtMs(l.p99)} | ${fmtMs(l.p999)} | ${fmtMs(l.max)} | ${cell(errorsText(r.errors))} |`);
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

function panel(series: readonly Series[], value: (p: TimelinePoint) => number, title: string, yLabel: string, offsetY: number): string {
  const xMax = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p.second)));
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
  const xStep = Math.max(1, Math.ceil(xMax / 10));
  for (let t = 0; t <= xMax; t += xStep) parts.push(`<text x="${x(t)}" y="${y(0) + 16}" text-anchor="middle" font-size="11">${t}</text>`);
  parts.push(`<text x="${MARGIN.left + w / 2}" y="${y(0) + 32}" text-anchor="middle" font-size="12">seconds</text>`);
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

export async function writeResults(dir: string, results: readonly RunResult[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'result.json'), `${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n`);
  await writeFile(join(dir, 'summary.md'), renderMarkdown(results));
  await writeFile(join(dir, 'chart.svg'), renderSvg(results));
}
