// `npm run coverage [-- <test paths…>]`: runs the tests (all, or the given ones, as
// scripts/run-tests.mjs takes them) with NODE_V8_COVERAGE set, so every process — the test
// runners and every PD and store process they start (test clusters stop them gracefully under
// coverage: test/support/teardown.ts) — writes V8 block coverage on exit. Then merges the dumps
// and reports, per source file of the product (not tests, not bench), the lines no process ran,
// mapped back to the TypeScript through the source maps.
//
// Output: a summary per folder and per file on stdout; the full list of uncovered lines to
// `--out <file>` (default <tmpdir>/flotilla-coverage.txt). A line counts as run if any
// non-blank character of it lies in a block some process executed. Processes killed with -9 by a
// test (the crash tests) write nothing: the code they ran counts only if another process ran it.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const distUrl = pathToFileURL(join(repo, 'dist')).href + '/';
const args = process.argv.slice(2);
let out = join(tmpdir(), 'flotilla-coverage.txt');
const outAt = args.indexOf('--out');
if (outAt >= 0) {
  out = resolve(args[outAt + 1] ?? out);
  args.splice(outAt, 2);
}

const dumps = mkdtempSync(join(tmpdir(), 'flotilla-v8-coverage-'));
try {
  const run = spawnSync(process.execPath, [join(repo, 'scripts/run-tests.mjs'), ...args], {
    stdio: 'inherit',
    env: { ...process.env, NODE_V8_COVERAGE: dumps },
  });
  const report = analyse(dumps);
  writeFileSync(out, report.text);
  process.stdout.write(`\n${report.summary}\nuncovered lines by file: ${out}\n`);
  if (run.status !== 0) process.stdout.write(`(the test run itself failed: exit ${run.status})\n`);
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(dumps, { recursive: true, force: true });
}

/** True for a script of the product (not a test, not a benchmark). */
function isProductScript(url) {
  return url.startsWith(distUrl) && !url.startsWith(`${distUrl}test/`) && !url.startsWith(`${distUrl}bench/`);
}

function analyse(dir) {
  const covered = new Map(); // url → Uint8Array: 1 where some process ran the character
  let processes = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    let dump;
    try {
      dump = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      continue; // a dump cut short by a crash
    }
    processes++;
    for (const script of dump.result) {
      if (!isProductScript(script.url)) continue;
      let cov = covered.get(script.url);
      if (cov === undefined) {
        let length;
        try {
          length = readFileSync(fileURLToPath(script.url), 'utf8').length;
        } catch {
          continue;
        }
        cov = new Uint8Array(length);
        covered.set(script.url, cov);
      }
      // Block ranges nest: paint outer ranges first, inner ones over them.
      const ranges = script.functions.flatMap((fn) => fn.ranges);
      ranges.sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
      const counts = new Int32Array(cov.length);
      for (const r of ranges) counts.fill(r.count, r.startOffset, Math.min(r.endOffset, cov.length));
      for (let i = 0; i < cov.length; i++) if (counts[i] > 0) cov[i] = 1;
    }
  }
  const files = [];
  for (const [url, cov] of covered) files.push(fileReport(url, cov));
  files.sort((a, b) => b.uncovered - a.uncovered || a.path.localeCompare(b.path));
  const byFolder = new Map();
  for (const f of files) {
    const folder = f.path.split('/')[0];
    const t = byFolder.get(folder) ?? { lines: 0, uncovered: 0 };
    t.lines += f.lines;
    t.uncovered += f.uncovered;
    byFolder.set(folder, t);
  }
  const pct = (t) => (t.lines === 0 ? '100.0' : ((100 * (t.lines - t.uncovered)) / t.lines).toFixed(1));
  const total = files.reduce((t, f) => ({ lines: t.lines + f.lines, uncovered: t.uncovered + f.uncovered }), { lines: 0, uncovered: 0 });
  let summary = `coverage from ${processes} processes: ${pct(total)} % of ${total.lines} code lines run\n`;
  for (const [folder, t] of [...byFolder].sort()) summary += `  ${folder.padEnd(18)} ${pct(t).padStart(5)} %  (${t.uncovered} of ${t.lines} lines never run)\n`;
  summary += 'files with the most lines never run:\n';
  for (const f of files.slice(0, 15)) summary += `  ${f.path.padEnd(44)} ${String(f.uncovered).padStart(4)} of ${f.lines}\n`;
  let text = summary;
  for (const f of files) {
    if (f.uncovered === 0) continue;
    text += `\n## ${f.path}: ${f.uncovered} of ${f.lines} code lines never run\n`;
    for (const g of f.groups) text += `  ${g.from === g.to ? g.from : `${g.from}-${g.to}`}: ${g.text}\n`;
  }
  return { summary, text };
}

/** A line that is code (not blank, a comment, a lone bracket or an import). */
function isCodeLine(t) {
  return t.length > 0 && !/^(\}|\/\/|\*|\/\*|\*\/|\);?|\]|\},?|\}\)[;,]?|import |export \{|"use strict")/.test(t);
}

function fileReport(url, cov) {
  const jsPath = fileURLToPath(url);
  const js = readFileSync(jsPath, 'utf8');
  let map = null;
  try {
    map = new SourceMap(JSON.parse(readFileSync(`${jsPath}.map`, 'utf8')));
  } catch {
    // no source map: JS line numbers
  }
  const tsPath = join(repo, relative(join(repo, 'dist'), jsPath)).replace(/\.js$/, '.ts');
  let ts = [];
  try {
    ts = readFileSync(tsPath, 'utf8').split('\n');
  } catch {
    // no TypeScript source
  }
  const uncovered = new Set();
  let lines = 0;
  let offset = 0;
  js.split('\n').forEach((line, i) => {
    if (isCodeLine(line.trim())) {
      lines++;
      let isRun = false;
      for (let k = offset; k < offset + line.length && !isRun; k++) isRun = cov[k] === 1 && !/\s/.test(js[k]);
      if (!isRun) {
        const entry = map?.findEntry(i, line.search(/\S/));
        uncovered.add(entry?.originalLine === undefined ? i + 1 : entry.originalLine + 1);
      }
    }
    offset += line.length + 1;
  });
  const groups = [];
  for (const l of [...uncovered].sort((a, b) => a - b)) {
    const g = groups[groups.length - 1];
    if (g !== undefined && l - g.to <= 2) g.to = l;
    else groups.push({ from: l, to: l });
  }
  for (const g of groups) g.text = (ts[g.from - 1] ?? '').trim().slice(0, 110);
  return { path: relative(repo, tsPath), lines, uncovered: uncovered.size, groups };
}
