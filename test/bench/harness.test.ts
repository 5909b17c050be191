// The F9 bench harness's pure parts, no cluster: key choice against its formula, histogram merge,
// operation mixes, argument parsing, the per-second merge of worker reports, and the writers.
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loopsOfWorker, parseBenchArgs, UsageError } from '../../bench/harness/args.js';
import { parseBench } from '../support/bench-args.js';
import { decodeHistogram, encodeHistogram, latencySummaryMs, mergeHistograms, newLatencyHistogram, recordLatencyUs } from '../../bench/harness/histogram.js';
import { keyOf, Rng, UniformChooser, zeta, ZipfianChooser, zipfianProbability } from '../../bench/harness/key-chooser.js';
import { niceMax, renderComparison, renderMarkdown, renderSvg } from '../../bench/harness/report.js';
import type { RunResult, TimelinePoint } from '../../bench/harness/result.js';
import { IntervalMerger } from '../../bench/harness/run.js';
import { presplitKeys } from '../../bench/harness/presplit.js';
import { CLOCK_TICKS_PER_SECOND, processCpuMs } from '../../bench/harness/cpu.js';
import type { WorkerStart } from '../../bench/harness/protocol.js';
import type { BenchTarget } from '../../bench/harness/target.js';
import { Recorder, runLoop, type LoopContext } from '../../bench/harness/worker.js';
import { LOCAL_CLUSTER_DEFAULTS, validateLocalClusterOptions } from '../../deploy/index.js';
import { OpPicker, WORKLOADS, workloadNamed, type OpKind } from '../../bench/harness/workloads.js';

/** The operations a fake target of these tests never expects to be called. */
const UNUSED_TXN_OPS: Pick<BenchTarget, 'txnGet' | 'readModifyWrite' | 'snapshotScan' | 'timestamp'> = {
  txnGet: () => Promise.reject(new Error('txnGet not expected')),
  readModifyWrite: () => Promise.reject(new Error('readModifyWrite not expected')),
  snapshotScan: () => Promise.reject(new Error('snapshotScan not expected')),
  timestamp: () => Promise.reject(new Error('timestamp not expected')),
};

/** Pearson's χ² of observed counts against expected probabilities. */
function chiSquare(counts: readonly number[], probabilities: readonly number[], total: number): number {
  let chi = 0;
  for (const [i, observed] of counts.entries()) {
    const expected = probabilities[i]! * total;
    chi += (observed - expected) ** 2 / expected;
  }
  return chi;
}

describe('key choice', () => {
  it('zipfian ranks follow P(i) = (1/(i+1)^θ) / ζ(n, θ) (χ² well under its 99.99th percentile)', () => {
    const n = 50;
    const theta = 0.99;
    const samples = 200_000;
    const chooser = new ZipfianChooser(n, new Rng(42), theta);
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < samples; i++) counts[chooser.next()]!++;
    const z = zeta(n, theta);
    const probabilities = Array.from({ length: n }, (_, i) => zipfianProbability(i, n, theta, z));
    assert.ok(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    // χ²(49): the 99.99th percentile is about 95.
    const chi = chiSquare(counts, probabilities, samples);
    assert.ok(chi < 95, `χ² ${chi.toFixed(1)} over 49 degrees of freedom`);
    // The hottest rank's share is its formula's within 1 %.
    assert.ok(Math.abs(counts[0]! / samples - probabilities[0]!) < 0.01, `rank 0: ${counts[0]! / samples} vs ${probabilities[0]!}`);
  });

  it('zipfian over one key always answers 0; over many stays in range', () => {
    const one = new ZipfianChooser(1, new Rng(1));
    for (let i = 0; i < 100; i++) assert.equal(one.next(), 0);
    const many = new ZipfianChooser(10_000, new Rng(7));
    for (let i = 0; i < 10_000; i++) {
      const k = many.next();
      assert.ok(Number.isInteger(k) && k >= 0 && k < 10_000, String(k));
    }
  });

  it('uniform choice is uniform (χ²) and in range', () => {
    const n = 20;
    const samples = 100_000;
    const chooser = new UniformChooser(n, new Rng(3));
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < samples; i++) counts[chooser.next()]!++;
    // χ²(19): the 99.99th percentile is about 50.
    assert.ok(chiSquare(counts, new Array<number>(n).fill(1 / n), samples) < 50);
  });

  it('the same seed gives the same sequence; keys sort like their indexes', () => {
    const a = new Rng(9);
    const b = new Rng(9);
    for (let i = 0; i < 100; i++) assert.equal(a.next(), b.next());
    assert.ok(Buffer.compare(keyOf('k', 9), keyOf('k', 10)) < 0);
    assert.equal(keyOf('k', 12).toString(), 'k0000000012');
  });
});

describe('pre-split keys (--regions)', () => {
  it('n − 1 ascending keys cutting the key range into n pieces of about equal size; none for 1 region; at most count − 1', () => {
    for (const [n, count] of [[1, 100], [2, 100], [100, 10_000], [1_000, 10_000], [7, 3], [50, 50]] as const) {
      const keys = presplitKeys(n, count, (i) => keyOf('k', i));
      const pieces = Math.min(n, count);
      assert.equal(keys.length, n <= 1 ? 0 : pieces - 1, `${n} regions over ${count} keys`);
      const at = keys.map((k) => Number(k.toString().slice(1)));
      for (let i = 0; i < at.length; i++) {
        assert.ok(at[i]! > (i === 0 ? 0 : at[i - 1]!), `ascending and above key 0: ${at.join(',')}`);
        assert.ok(Math.abs(at[i]! - ((i + 1) * count) / pieces) < 1, `evenly spaced: ${at[i]} for piece ${i + 1}`);
      }
    }
  });
});

describe('latency histograms', () => {
  it('merging per-worker histograms equals one histogram of all samples, through the wire encoding', () => {
    const rng = new Rng(5);
    const parts = [newLatencyHistogram(), newLatencyHistogram(), newLatencyHistogram()];
    const all = newLatencyHistogram();
    for (let i = 0; i < 30_000; i++) {
      const us = 50 + Math.floor(rng.next() ** 3 * 2_000_000);
      recordLatencyUs(parts[i % 3]!, us);
      recordLatencyUs(all, us);
    }
    const merged = mergeHistograms(parts.map((p) => decodeHistogram(encodeHistogram(p))));
    assert.equal(merged.totalCount, all.totalCount);
    // maxValue itself is exact only where recorded; an added histogram knows buckets: compare p100.
    for (const p of [0, 1, 25, 50, 90, 95, 99, 99.9, 99.99, 100]) assert.equal(merged.getValueAtPercentile(p), all.getValueAtPercentile(p), `p${p}`);
    assert.deepEqual(latencySummaryMs(merged), latencySummaryMs(all));
  });

  it('an empty histogram summarizes to zeros; latencies are clamped to [1 µs, 60 s]', () => {
    assert.deepEqual(latencySummaryMs(newLatencyHistogram()), { p50: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 });
    const h = newLatencyHistogram();
    recordLatencyUs(h, 0.2);
    recordLatencyUs(h, 1e12);
    assert.equal(h.totalCount, 2);
    assert.ok(h.maxValue >= 60_000_000 && h.maxValue < 60_100_000);
  });
});

describe('workloads', () => {
  it('every workload mix sums to 1 and the names are unique', () => {
    assert.equal(new Set(WORKLOADS.map((w) => w.name)).size, WORKLOADS.length);
    for (const w of WORKLOADS) assert.doesNotThrow(() => new OpPicker(w.mix, new Rng(1)), w.name);
  });

  for (const [name, expected] of [['ycsb-a', { read: 0.5, update: 0.5 }], ['ycsb-b', { read: 0.95, update: 0.05 }], ['ycsb-c', { read: 1 }], ['ycsb-e', { scan: 0.95, insert: 0.05 }], ['ycsb-f', { read: 0.5, rmw: 0.5 }], ['raw-put', { update: 1 }], ['txn-transfer', { transfer: 1 }]] as const) {
    it(`${name} issues its mix's proportions`, () => {
      const w = workloadNamed(name)!;
      const picker = new OpPicker(w.mix, new Rng(11));
      const picks = 100_000;
      const counts: Partial<Record<OpKind, number>> = {};
      for (let i = 0; i < picks; i++) {
        const op = picker.next();
        counts[op] = (counts[op] ?? 0) + 1;
      }
      const shares = expected as Partial<Record<OpKind, number>>;
      assert.deepEqual(Object.keys(counts).sort(), Object.keys(shares).sort());
      for (const [op, share] of Object.entries(shares)) {
        const observed = counts[op as OpKind]! / picks;
        assert.ok(Math.abs(observed - share) < 0.006, `${op}: ${observed} vs ${share}`);
      }
    });
  }

  it('a mix whose shares do not sum to 1 is refused', () => {
    assert.throws(() => new OpPicker([{ op: 'read', share: 0.5 }, { op: 'update', share: 0.4 }], new Rng(1)), /sum to 1/);
  });
});

describe('arguments', () => {
  const parse = parseBench;

  it('defaults', () => {
    const s = parse('raw-put');
    assert.equal(s.workload.name, 'raw-put');
    assert.equal(s.target, 'flotilla');
    assert.equal(s.pdEndpoints, null);
    assert.equal(s.workers, 2);
    assert.equal(s.concurrency, 64);
    assert.equal(s.valueSize, 256);
    assert.equal(s.distribution, 'uniform');
    assert.equal(s.durationS, 10);
    assert.equal(parse('ycsb-b').distribution, 'zipfian');
    assert.equal(parse('ycsb-b --distribution uniform').distribution, 'uniform');
  });

  it('flags', () => {
    const s = parse('ycsb-a --workers 3 --concurrency 10 --duration 5 --distribution uniform --value-size 1024 --pd 127.0.0.1:2379,h:1 --keys 50');
    assert.deepEqual([s.workers, s.concurrency, s.durationS, s.distribution, s.valueSize, s.keys], [3, 10, 5, 'uniform', 1024, 50]);
    assert.deepEqual(s.pdEndpoints, ['127.0.0.1:2379', 'h:1']);
    assert.equal(parse('raw-get --target both').target, 'both');
    assert.deepEqual([parse('raw-put').regions, parse('raw-put').idleRegions], [1, 0]);
    assert.deepEqual([parse('raw-put --regions 100 --idle-regions 900').regions, parse('raw-put --idle-regions 999').idleRegions], [100, 999]);
    assert.equal(parseBenchArgs(['--help']), 'help');
    assert.deepEqual([parse('txn-transfer').replicaRead, parse('txn-transfer --replica-read follower').replicaRead, parse('ycsb-c --replica-read mixed').replicaRead], ['leader', 'follower', 'mixed']);
    // bench:ab --harness gates each run's start; the path is made absolute (the runs' cwd may differ).
    assert.equal(parse('raw-put').startGate, null);
    assert.equal(parse('raw-put --start-gate /tmp/g').startGate, '/tmp/g');
    assert.ok(isAbsolute(parse('raw-put --start-gate rel/g').startGate ?? ''));
  });

  for (const [args, message] of [
    ['', /expected one workload/],
    ['nope', /unknown workload nope/],
    ['raw-put raw-get', /expected one workload/],
    ['raw-put --workers 0', /--workers 0/],
    ['raw-put --workers 4 --concurrency 3', /below --workers/],
    ['raw-put --concurrency 1.5', /--concurrency 1.5/],
    ['raw-put --distribution pareto', /--distribution pareto: expected one of zipfian, uniform/],
    ['raw-put --target mysql', /--target mysql/],
    ['raw-put --target etcd --pd 127.0.0.1:2379', /needs --target flotilla/],
    ['raw-put --pd nohost', /not host:port/],
    ['raw-put --pds 2', /odd count/],
    ['raw-put --duration 0', /--duration 0/],
    ['raw-put --idle-regions=-1', /--idle-regions -1/],
    ['raw-put --idle-regions 100001', /--idle-regions 100001/],
    ['raw-put --frobnicate', /frobnicate/],
    ['txn-transfer --replica-read nearest', /--replica-read nearest: expected one of leader, follower, mixed/],
  ] as const) {
    it(`refuses "${args}"`, () => {
      assert.throws(() => parseBenchArgs(args.split(' ').filter((a) => a !== '')), (err: unknown) => err instanceof UsageError && message.test(err.message));
    });
  }

  it('concurrency is spread over workers: the loops sum to C and differ by at most one', () => {
    for (const [c, w] of [[64, 2], [10, 3], [7, 7], [1, 1], [100, 8]] as const) {
      const loops = Array.from({ length: w }, (_, i) => loopsOfWorker(c, w, i));
      assert.equal(loops.reduce((a, b) => a + b, 0), c, `${c}/${w}`);
      assert.ok(Math.max(...loops) - Math.min(...loops) <= 1, `${c}/${w}: ${loops.join(',')}`);
    }
  });
});

describe('merging worker reports', () => {
  it('a second is reported once every worker has sent it, with the ops and p99 of all', () => {
    const lines: TimelinePoint[] = [];
    const merger = new IntervalMerger(2, (p) => lines.push(p));
    const interval = (index: number, second: number, us: number[], errors: Record<string, number> = {}) => {
      const h = newLatencyHistogram();
      for (const v of us) recordLatencyUs(h, v);
      merger.add({ kind: 'interval', index, second, ops: { read: us.length }, errors, retries: {}, histogram: encodeHistogram(h) });
    };
    interval(0, 1, [1000, 2000]);
    assert.equal(lines.length, 0);
    interval(1, 1, [3000], { conflict: 2 });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.opsPerSec, 3);
    assert.ok(Math.abs(lines[0]!.p99Ms - 3) < 0.01);
    interval(1, 2, [500]);
    interval(0, 2, [700]);
    interval(0, 2, [900]); // a worker's tail folded into its last second: not a second line
    assert.equal(lines.length, 2);
    assert.deepEqual(merger.timeline().map((p) => [p.second, p.opsPerSec]), [[1, 3], [2, 3]]);
    assert.equal(merger.total.totalCount, 6);
    assert.deepEqual(merger.errors, { conflict: 2 });
    assert.equal(merger.opsByKind.read, 6);
  });
});

function syntheticResult(target: 'flotilla' | 'etcd', opsPerSec: number, p99Ms: number): RunResult {
  const cpu = { name: 'x', cpuPercent: 50, cpuUsPerOp: 100 };
  return {
    target, workload: 'ycsb-a <&>', startedAt: '2026-11-30T00:00:00.000Z',
    settings: { workers: 2, concurrency: 64, durationS: 3, warmupS: 1, keys: 100, accounts: 10, distribution: 'zipfian', valueSize: 256, seed: 1, rateOpsPerSec: null, cluster: '1 PD | 3 stores', stores: target === 'flotilla' ? 3 : null },
    cpuSpeed: 3000, ops: opsPerSec * 3, opsPerSec, opsByKind: { read: opsPerSec * 3 },
    latencyMs: { p50: p99Ms / 4, p95: p99Ms / 2, p99: p99Ms, p999: p99Ms * 2, max: p99Ms * 3, mean: p99Ms / 3 },
    errors: { conflict: 3, DeadlineExceeded: 1 },
    retries: { transfer: 5 },
    timeline: [1, 2, 3].map((second) => ({ second, opsPerSec: opsPerSec + second, p99Ms })),
    cpu: { generator: [cpu], generatorTotal: cpu, servers: [cpu, { name: 'gone', cpuPercent: NaN, cpuUsPerOp: NaN }] },
    invariant: target === 'flotilla' ? { expectedTotal: 10, actualTotal: 10, isConserved: true } : null,
  };
}

/** Tags balance: every opened element is closed in order (self-closing ones stand alone). */
function assertBalancedXml(xml: string): void {
  const stack: string[] = [];
  for (const m of xml.matchAll(/<(\/?)([a-zA-Z]+)([^>]*?)(\/?)>/g)) {
    const [, closing, name, attrs, selfClosing] = m;
    assert.equal((attrs!.match(/"/g) ?? []).length % 2, 0, `unbalanced quotes in <${name}${attrs}>`);
    if (selfClosing === '/') continue;
    if (closing === '/') assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.ok(!/&(?!amp;|lt;|gt;|quot;)/.test(xml), 'a bare & in the SVG');
}

describe('writers', () => {
  const results = [syntheticResult('flotilla', 2000, 8), syntheticResult('etcd', 1000, 4)];

  it('the SVG is well-formed: two panels, a polyline per series and panel, one point per second', () => {
    const svg = renderSvg(results);
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assertBalancedXml(svg);
    const polylines = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)];
    assert.equal(polylines.length, 4);
    for (const p of polylines) {
      const points = p[1]!.split(' ');
      assert.equal(points.length, 3);
      for (const pt of points) assert.match(pt, /^-?\d+(\.\d+)?,-?\d+(\.\d+)?$/);
    }
    assert.match(svg, /ycsb-a &lt;&amp;&gt;: throughput/);
    assert.match(svg, />ops\/s</);
    assert.match(svg, />p99 ms</);
    assert.match(svg, />seconds</);
    assertBalancedXml(renderSvg([{ ...results[0]!, timeline: [] }]));
  });

  it('the Markdown tables have as many cells as their header; the comparison has the ratios', () => {
    const md = renderMarkdown(results);
    let columns = 0;
    for (const line of md.split('\n')) {
      if (!line.startsWith('|')) {
        columns = 0;
        continue;
      }
      const cells = line.replace(/\\\|/g, '').split('|').length - 2;
      if (columns === 0) columns = cells;
      else assert.equal(cells, columns, line);
    }
    assert.match(md, /\| flotilla \| 1 PD \\\| 3 stores \| 2,000 \| 2\.00 \| 4\.00 \| 8\.00 \| 16\.00 \| 24\.00 \| conflict 3, DeadlineExceeded 1 \|/);
    assert.match(md, /Balances on flotilla: conserved/);
    assert.match(md, /\| gone \| unknown \|/);
    const comparison = renderComparison(results)!;
    assert.match(comparison, /\| ops\/s \| 2,000 \| 1,000 \| 2\.00× \|/);
    assert.match(comparison, /\| p99 ms \| 8\.00 \| 4\.00 \| 2\.00× \|/);
    assert.equal(renderComparison([results[0]!]), null);
  });

  it('axis maxima are 1, 2 or 5 times a power of ten at or above the data', () => {
    assert.deepEqual([niceMax(0), niceMax(0.3), niceMax(1), niceMax(1.01), niceMax(3), niceMax(7), niceMax(4321)], [1, 0.5, 1, 2, 5, 10, 5000]);
  });
});

describe('the cluster the harness starts', () => {
  it("LocalCluster's free-port mode ignores the port fields; the fixed mode (the playground's) still checks them", () => {
    const o = { ...LOCAL_CLUSTER_DEFAULTS, pdClientPort: 0, storePortBase: 0, statusPortBase: 0 };
    assert.doesNotThrow(() => validateLocalClusterOptions({ ...o, portMode: 'free' }));
    assert.throws(() => validateLocalClusterOptions(o), /PD port 0 is not a usable port/);
    assert.equal(LOCAL_CLUSTER_DEFAULTS.portMode, undefined);
    assert.throws(() => validateLocalClusterOptions({ ...o, portMode: 'free', pds: 2 }), /PD members must be 1, 3, 5 or 7/);
  });
});

describe('held-back checks (plants of the F9 checkpoint)', () => {
  it('the comparison table divides like by like: each row is Flotilla / etcd of the same figure', () => {
    const flotilla = syntheticResult('flotilla', 3000, 8); // p50 2, p99 8
    const etcd = syntheticResult('etcd', 1500, 40); // p50 10, p99 40
    const table = renderComparison([flotilla, etcd]) ?? '';
    const row = (name: string): string[] => (table.split('\n').find((l) => l.startsWith(`| ${name} `)) ?? '').split('|').map((c) => c.trim());
    assert.equal(row('ops/s')[4], '2.00×');
    assert.equal(row('p50 ms')[4], '0.20×', table);
    assert.equal(row('p99 ms')[4], '0.20×', table);
  });

  it("a process's CPU from /proc counts user and system time, as process.cpuUsage() does", () => {
    const before = process.cpuUsage();
    const procBefore = processCpuMs(process.pid)!;
    // Burn system time (syscalls) and user time until there is enough of it — measured, not
    // assumed from wall time: a loaded machine gives this process a fraction of a core.
    const deadline = performance.now() + 20_000;
    let n = 0;
    while (process.cpuUsage(before).system < 50_000 && performance.now() < deadline) {
      for (let i = 0; i < 100; i++) readFileSync('/proc/self/stat');
      n++;
    }
    const used = process.cpuUsage(before);
    const procMs = processCpuMs(process.pid)! - procBefore;
    assert.ok(n > 0);
    assert.ok(used.system / 1000 >= 40, `the loop spent ${used.system / 1000} ms of system time (needs ≥ 40 to tell user from user+system)`);
    const tickMs = 1000 / CLOCK_TICKS_PER_SECOND;
    const expectedMs = (used.user + used.system) / 1000;
    assert.ok(Math.abs(procMs - expectedMs) <= 4 * tickMs + 0.15 * expectedMs, `/proc says ${procMs} ms, cpuUsage ${expectedMs} ms`);
  });

  it('only operations that start inside the measured window are recorded (the warm-up is run and dropped)', async () => {
    const started: number[] = [];
    const target: BenchTarget = {
      kind: 'flotilla',
      get: async () => {
        started.push(performance.now());
        await new Promise((r) => setTimeout(r, 40));
        return null;
      },
      put: () => Promise.resolve(),
      scan: () => Promise.resolve(0),
      transfer: () => Promise.resolve('committed'),
      ...UNUSED_TXN_OPS,
      close: () => Promise.resolve(),
    };
    const start: WorkerStart = {
      kind: 'start', index: 0, target: { kind: 'flotilla', pdEndpoints: [] }, loops: 1, mix: workloadNamed('ycsb-c')!.mix,
      keys: 10, accounts: 10, distribution: 'uniform', valueSize: 8, seed: 1, loopIntervalMs: null,
    };
    const recorder = new Recorder();
    const t0 = performance.now();
    // The first operation ends after the window opened: it must not count. The window opens 20 ms
    // after the first operation started (it takes ≥ 40 ms) and closes once three have started, so
    // no stall of a loaded machine can move an operation across it.
    const ctx: LoopContext = {
      target, start, value: Buffer.alloc(8), recorder,
      get measureFromMs() {
        return started.length === 0 ? Number.POSITIVE_INFINITY : started[0]! + 20;
      },
      get endAtMs() {
        return started.length < 3 ? Number.POSITIVE_INFINITY : 0;
      },
    };
    await runLoop(ctx, 0);
    const inWindow = started.filter((s) => s >= ctx.measureFromMs).length;
    assert.ok(started.length === 3 && started[0]! < ctx.measureFromMs && inWindow === 2, `operations started at ${started.map((s) => (s - t0).toFixed(0)).join(', ')} ms`);
    const message = recorder.flush(0, 1);
    assert.equal(message.kind, 'interval');
    assert.equal(message.kind === 'interval' ? message.ops.read : -1, inWindow);
  });
});

describe('YCSB E and F operations in the worker loop', () => {
  /** Runs one loop of `workload` for `ms` against a recording fake target. */
  async function drive(workload: string, index: number, loopIndex: number, callsWanted: number): Promise<{ calls: [string, string, number?][] }> {
    const calls: [string, string, number?][] = [];
    const target: BenchTarget = {
      kind: 'flotilla',
      get: async (key) => {
        calls.push(['get', key.toString()]);
        await new Promise((r) => setImmediate(r));
        return null;
      },
      put: async (key) => {
        calls.push(['put', key.toString()]);
        await new Promise((r) => setImmediate(r));
      },
      scan: async (start, limit) => {
        calls.push(['scan', start.toString(), limit]);
        await new Promise((r) => setImmediate(r));
        return limit;
      },
      transfer: () => Promise.resolve('committed'),
      ...UNUSED_TXN_OPS,
      close: () => Promise.resolve(),
    };
    const start: WorkerStart = {
      kind: 'start', index, target: { kind: 'flotilla', pdEndpoints: [] }, loops: 1, mix: workloadNamed(workload)!.mix,
      keys: 1_000, accounts: 10, distribution: 'uniform', valueSize: 8, seed: 7, loopIntervalMs: null,
    };
    // The loop ends after `calls` target calls (a count, not a time: a loaded machine runs fewer in a window).
    const ctx: LoopContext = {
      target, start, value: Buffer.alloc(8), recorder: new Recorder(), measureFromMs: 0,
      get endAtMs() {
        return calls.length < callsWanted ? Number.POSITIVE_INFINITY : 0;
      },
    };
    await runLoop(ctx, loopIndex);
    return { calls };
  }

  it('ycsb-e scans 1…100 pairs from a preloaded key and inserts keys above the preloaded ones, never the same twice in a loop nor across loops', async () => {
    // Loops of two workers with the same loop index, and two loops of one worker.
    const a = await drive('ycsb-e', 0, 0, 200);
    const b = await drive('ycsb-e', 1, 0, 200);
    const c = await drive('ycsb-e', 0, 1, 200);
    const scans = a.calls.filter((c) => c[0] === 'scan');
    assert.ok(scans.length > 20);
    for (const [, key, limit] of scans) {
      assert.ok(limit! >= 1 && limit! <= 100, `scan limit ${limit}`);
      assert.ok(Number(key.slice(1)) < 1_000, `scan from a preloaded key, got ${key}`);
    }
    const inserted = (calls: [string, string, number?][]): string[] => calls.filter((c) => c[0] === 'put').map((c) => c[1]);
    const ia = inserted(a.calls);
    const ib = inserted(b.calls);
    const ic = inserted(c.calls);
    assert.ok(ia.length > 0 && ib.length > 0 && ic.length > 0);
    const all = [...ia, ...ib, ...ic];
    for (const k of all) assert.ok(Number(k.slice(1)) >= 1_000, `insert above the preloaded keys, got ${k}`);
    assert.equal(new Set(all).size, all.length, 'no key inserted twice');
  });

  it('ycsb-f reads a key, and a read-modify-write is a get then a put of the same key', async () => {
    const { calls } = await drive('ycsb-f', 0, 0, 200);
    let rmw = 0;
    for (let i = 0; i < calls.length; i++) {
      const [kind, key] = calls[i]!;
      assert.notEqual(kind, 'scan');
      if (kind === 'put') {
        assert.deepEqual(calls[i - 1], ['get', key], 'a put follows the get of its own key');
        rmw++;
      }
    }
    assert.ok(rmw > 5, `read-modify-writes: ${rmw}`);
  });
});
