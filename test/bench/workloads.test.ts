// The F9 workloads added after the first increment — YCSB D, txn-get, txn-rmw, scan, tso — and the
// conflict retries of transfer and txn-rmw, each driven through the worker loop against a
// recording fake target; the plan flags (compare, --concurrency/--stores lists, --cpu-prof,
// --etcd-client); and the plan's report (table, ratios, curves, profiles).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadAccounts, sumBalances } from '../../bench/harness/accounts.js';
import { COMPARE_WORKLOADS, parseBenchArgs, pointSettings, UsageError, type BenchSettings } from '../../bench/harness/args.js';
import { parseBench } from '../support/bench-args.js';
import type { WorkerStart } from '../../bench/harness/protocol.js';
import { type ComparisonRow, curveAxis, isSinglePoint, renderCurvesSvg, renderMarkdown, renderProfiles, renderRatios, writeResults } from '../../bench/harness/report.js';
import type { RunResult } from '../../bench/harness/result.js';
import type { ServerProfile } from '../../bench/harness/systems.js';
import type { BenchTarget, TxnOutcome } from '../../bench/harness/target.js';
import { incremented, latestKeyIndex, Recorder, runLoop, TXN_ATTEMPTS_MAX, type InsertState, type LoopClock, type LoopContext } from '../../bench/harness/worker.js';
import { OpPicker, SNAPSHOT_SCAN_LENGTH, workloadNamed, type OpKind } from '../../bench/harness/workloads.js';
import { Rng } from '../../bench/harness/key-chooser.js';
import { decodeHistogram } from '../../bench/harness/histogram.js';

type Call = readonly [op: string, key: string, extra?: number | string];

interface FakeOptions {
  /** Outcomes of successive readModifyWrite / transfer attempts; after the list, 'committed'. */
  readonly outcomes?: readonly TxnOutcome[];
}

/** A target that records every call in order and answers at once (after a macrotask turn). */
function recordingTarget(options: FakeOptions = {}): { target: BenchTarget; calls: Call[]; values: Map<string, Buffer> } {
  const calls: Call[] = [];
  const values = new Map<string, Buffer>();
  let attempt = 0;
  const nextOutcome = (): TxnOutcome => options.outcomes?.[attempt++] ?? 'committed';
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const target: BenchTarget = {
    kind: 'flotilla',
    get: async (key) => {
      calls.push(['get', key.toString()]);
      await turn();
      return values.get(key.toString()) ?? null;
    },
    put: async (key, value) => {
      calls.push(['put', key.toString()]);
      values.set(key.toString(), value);
      await turn();
    },
    scan: async (start, limit) => {
      calls.push(['scan', start.toString(), limit]);
      await turn();
      return limit;
    },
    transfer: async (from, to, amount, valueBytes) => {
      calls.push(['transfer', `${from.toString()}>${to.toString()}`, `${amount} of ${valueBytes} bytes`]);
      await turn();
      return nextOutcome();
    },
    txnGet: async (key) => {
      calls.push(['txnGet', key.toString()]);
      await turn();
      return null;
    },
    readModifyWrite: async (key, modify) => {
      const old = values.get(key.toString()) ?? null;
      const outcome = nextOutcome();
      const written = modify(old);
      calls.push(['readModifyWrite', key.toString(), outcome]);
      if (outcome === 'committed') values.set(key.toString(), written);
      await turn();
      return outcome;
    },
    snapshotScan: async (start, limit) => {
      calls.push(['snapshotScan', start.toString(), limit]);
      await turn();
      return limit;
    },
    timestamp: async () => {
      calls.push(['timestamp', '']);
      await turn();
    },
    close: () => Promise.resolve(),
  };
  return { target, calls, values };
}

function startOf(workload: string, keys = 1_000, loopIntervalMs: number | null = null): WorkerStart {
  return {
    kind: 'start', index: 0, target: { kind: 'flotilla', pdEndpoints: [] }, loops: 1, mix: workloadNamed(workload)!.mix,
    keys, accounts: 20, distribution: 'zipfian', valueSize: 16, seed: 5, loopIntervalMs,
  };
}

/**
 * Runs one loop (all of it measured) until the fake target has seen `callsWanted` calls — a count,
 * not a time window: a loaded machine runs fewer operations in any window. Returns the recorder's interval.
 */
async function drive(fake: { target: BenchTarget; calls: readonly Call[] }, start: WorkerStart, callsWanted: number): Promise<ReturnType<Recorder['flush']>> {
  const recorder = new Recorder();
  const ctx: LoopContext = {
    target: fake.target, start, value: Buffer.alloc(start.valueSize, 0x61), recorder, measureFromMs: 0,
    get endAtMs() {
      return fake.calls.length < callsWanted ? Number.POSITIVE_INFINITY : 0;
    },
  };
  await runLoop(ctx, 0);
  return recorder.flush(0, 1);
}

/** A loop context whose window closes once the target was called: the loop runs exactly one operation (with its retries). */
function oneOperation(target: BenchTarget, start: WorkerStart, recorder: Recorder, calls: readonly Call[]): LoopContext {
  return {
    target, start, value: Buffer.alloc(start.valueSize, 0x61), recorder, measureFromMs: 0,
    get endAtMs() {
      return calls.length === 0 ? Number.POSITIVE_INFINITY : 0;
    },
  };
}

describe('YCSB D: read latest', () => {
  it('the mix is 95% readLatest, 5% insert', () => {
    const picker = new OpPicker(workloadNamed('ycsb-d')!.mix, new Rng(3));
    const counts: Partial<Record<OpKind, number>> = {};
    for (let i = 0; i < 100_000; i++) {
      const op = picker.next();
      counts[op] = (counts[op] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(counts).sort(), ['insert', 'readLatest']);
    assert.ok(Math.abs(counts.readLatest! / 100_000 - 0.95) < 0.006, String(counts.readLatest));
  });

  it('recency rank 0 is the newest insert; ranks count back through the inserts, then the preloaded keys', () => {
    const none: InsertState = { base: 5_000, count: 0 };
    assert.equal(latestKeyIndex(100, none, 0), 99, 'no inserts yet: the last preloaded key');
    assert.equal(latestKeyIndex(100, none, 99), 0);
    const three: InsertState = { base: 5_000, count: 3 };
    assert.deepEqual([0, 1, 2, 3, 4].map((r) => latestKeyIndex(100, three, r)), [5_002, 5_001, 5_000, 99, 98]);
    // Past the block's size the inserts wrap (insert keeps count % block): the newest is where the last one went.
    const wrapped: InsertState = { base: 5_000, count: 10_001 };
    assert.equal(latestKeyIndex(100, wrapped, 0), 5_000);
    assert.equal(latestKeyIndex(100, wrapped, 1), 5_000 + 9_999);
  });

  it('every read is of a preloaded key or one this loop already inserted, and the newest insert is read most', async () => {
    const fake = recordingTarget();
    const { calls } = fake;
    await drive(fake, startOf('ycsb-d', 200), 400);
    const inserted = new Set<string>();
    const readCounts = new Map<string, number>();
    let lastInsert = '';
    let readsOfNewest = 0;
    let reads = 0;
    for (const [op, key] of calls) {
      if (op === 'put') {
        inserted.add(key);
        lastInsert = key;
        continue;
      }
      assert.equal(op, 'get');
      reads++;
      if (key === lastInsert) readsOfNewest++;
      const index = Number(key.slice(1));
      assert.ok(index < 200 || inserted.has(key), `read of ${key}, neither preloaded nor inserted yet`);
      readCounts.set(key, (readCounts.get(key) ?? 0) + 1);
    }
    assert.ok(inserted.size > 3 && reads > 50, `inserts ${inserted.size}, reads ${reads}`);
    // Zipfian θ 0.99 over 200 ranks gives rank 0 ≈ 17% of reads; uniform would give 0.5%.
    assert.ok(readsOfNewest / reads > 0.08, `reads of the newest insert: ${readsOfNewest} of ${reads}`);
  });
});

describe('transactional workloads in the worker loop', () => {
  it('txn-get reads transactional keys (t…) of the preloaded range through txnGet', async () => {
    const fake = recordingTarget();
    const { calls } = fake;
    const interval = await drive(fake, startOf('txn-get', 50), 100);
    assert.ok(calls.length > 10);
    for (const [op, key] of calls) {
      assert.equal(op, 'txnGet');
      assert.match(key, /^t\d{10}$/);
      assert.ok(Number(key.slice(1)) < 50, key);
    }
    assert.equal(interval.kind === 'interval' ? interval.ops.txnGet : -1, calls.length);
  });

  it(`scan is a snapshot scan of ${SNAPSHOT_SCAN_LENGTH} pairs from a transactional key`, async () => {
    const fake = recordingTarget();
    const { calls } = fake;
    await drive(fake, startOf('scan', 50), 100);
    assert.ok(calls.length > 10);
    for (const c of calls) {
      assert.equal(c[0], 'snapshotScan');
      assert.match(c[1], /^t\d{10}$/);
      assert.equal(c[2], SNAPSHOT_SCAN_LENGTH);
    }
  });

  it('tso asks for timestamps and nothing else', async () => {
    const fake = recordingTarget();
    const { calls } = fake;
    const interval = await drive(fake, startOf('tso'), 60);
    assert.ok(calls.length > 5);
    assert.ok(calls.every((c) => c[0] === 'timestamp'));
    assert.equal(interval.kind === 'interval' ? interval.ops.tso : -1, calls.length);
  });

  it('txn-rmw writes the value read with its counter one higher, on transactional keys', async () => {
    const fake = recordingTarget();
    const { calls, values } = fake;
    await drive(fake, startOf('txn-rmw', 3), 100);
    const commits = calls.filter((c) => c[0] === 'readModifyWrite' && c[2] === 'committed');
    assert.ok(commits.length > 10);
    // Each key's counter counts its committed read-modify-writes.
    const perKey = new Map<string, number>();
    for (const c of commits) perKey.set(c[1], (perKey.get(c[1]) ?? 0) + 1);
    for (const [key, n] of perKey) {
      assert.match(key, /^t\d{10}$/);
      assert.equal(values.get(key)!.readUInt32BE(0), n, `${key}: ${n} commits`);
      assert.equal(values.get(key)!.length, 16, 'the value keeps its size');
    }
    assert.deepEqual(incremented(null, Buffer.alloc(6, 0x61)), Buffer.from([0, 0, 0, 1, 0x61, 0x61]));
    assert.deepEqual(incremented(Buffer.from([0, 0, 1, 0xff]), Buffer.alloc(4)), Buffer.from([0, 0, 2, 0]));
    assert.deepEqual(incremented(null, Buffer.from('ab')), Buffer.from('ab'), 'a value under 4 bytes has no room for a counter');
  });

  it('a conflicting txn-rmw is retried until it commits: one success, its retries counted', async () => {
    const { target, calls } = recordingTarget({ outcomes: ['conflict', 'conflict', 'committed'] });
    const recorder = new Recorder();
    await runLoop(oneOperation(target, startOf('txn-rmw', 1), recorder, calls), 0);
    const rmw = calls.filter((c) => c[0] === 'readModifyWrite');
    assert.deepEqual(rmw.map((c) => c[2]), ['conflict', 'conflict', 'committed']);
    assert.equal(new Set(rmw.map((c) => c[1])).size, 1, 'every attempt is on the same key');
    const interval = recorder.flush(0, 1);
    assert.ok(interval.kind === 'interval');
    assert.deepEqual(interval.ops, { txnRmw: 1 });
    assert.deepEqual(interval.retries, { txnRmw: 2 });
    assert.deepEqual(interval.errors, {});
  });

  it(`a transfer that always conflicts gives up after ${TXN_ATTEMPTS_MAX} attempts of the same transfer: one 'conflict' failure`, async () => {
    const { target, calls } = recordingTarget({ outcomes: Array.from({ length: 50 }, () => 'conflict' as const) });
    const recorder = new Recorder();
    await runLoop(oneOperation(target, startOf('txn-transfer'), recorder, calls), 0);
    assert.equal(calls.length, TXN_ATTEMPTS_MAX);
    assert.equal(new Set(calls.map((c) => `${c[1]} ${c[2]}`)).size, 1, 'each retry is the same transfer (accounts and amount)');
    assert.match(String(calls[0]![2]), / of 16 bytes$/, 'a transfer writes values of the run\'s --value-size');
    const interval = recorder.flush(0, 1);
    assert.ok(interval.kind === 'interval');
    assert.deepEqual(interval.errors, { conflict: 1 });
    assert.deepEqual(interval.retries, { transfer: TXN_ATTEMPTS_MAX - 1 });
    assert.deepEqual(interval.ops, {});
  });
});

describe('open loop (--rate)', () => {
  /** A fake clock the loop waits on, and a target whose get takes `opMs` of that clock. */
  function openLoop(opMs: number, intervalMs: number): { ctx: LoopContext; starts: number[] } {
    let now = 1_000;
    const starts: number[] = [];
    const clock: LoopClock = {
      now: () => now,
      sleep: (ms) => {
        now += ms;
        return Promise.resolve();
      },
    };
    const { target } = recordingTarget();
    const timed: BenchTarget = {
      ...target,
      get: (key) => {
        starts.push(now);
        now += opMs;
        return target.get(key);
      },
    };
    const ctx: LoopContext = { target: timed, start: startOf('ycsb-c', 10, intervalMs), value: Buffer.alloc(16), recorder: new Recorder(), measureFromMs: 1_000, endAtMs: 1_100, clock };
    return { ctx, starts };
  }

  it('an answer faster than the interval: operations start every interval, each with its own latency', async () => {
    const { ctx, starts } = openLoop(2, 10);
    await runLoop(ctx, 0);
    assert.equal(starts.length, 10, 'due every 10 ms over a 100 ms window');
    for (let i = 1; i < starts.length; i++) assert.equal(starts[i]! - starts[i - 1]!, 10);
    const interval = ctx.recorder.flush(0, 1);
    assert.ok(interval.kind === 'interval');
    const h = decodeHistogram(interval.histogram);
    assert.equal(h.totalCount, 10);
    assert.ok(Math.abs(h.minNonZeroValue - 2_000) <= 2 && Math.abs(h.maxValue - 2_000) <= 2, `latencies ${h.minNonZeroValue}…${h.maxValue} µs`);
  });

  it('an answer slower than the interval: the next operations start late, and their latency counts from when they were due', async () => {
    const { ctx, starts } = openLoop(25, 10);
    await runLoop(ctx, 0);
    // Operation k was due at φ + 10k and ends at φ + 25(k + 1): latency 25 + 15k ms, k = 0…9.
    assert.equal(starts.length, 10);
    for (let i = 1; i < starts.length; i++) assert.equal(starts[i]! - starts[i - 1]!, 25, 'back to back: the loop is behind');
    const interval = ctx.recorder.flush(0, 1);
    assert.ok(interval.kind === 'interval');
    const h = decodeHistogram(interval.histogram);
    assert.equal(h.totalCount, 10);
    assert.ok(Math.abs(h.minNonZeroValue - 25_000) <= 25, `min ${h.minNonZeroValue} µs`);
    assert.ok(Math.abs(h.maxValue - 160_000) <= 160, `max ${h.maxValue} µs: the last was due 135 ms before it ended`);
  });

  it('--rate is the offered load over all loops; a loop is due every concurrency / rate seconds', () => {
    const s = parseBenchArgs(['raw-get', '--rate', '2000', '--concurrency', '64']);
    assert.notEqual(s, 'help');
    assert.equal((s as BenchSettings).rateOpsPerSec, 2000);
    assert.equal((parseBenchArgs(['raw-get']) as BenchSettings).rateOpsPerSec, null);
    assert.throws(() => parseBenchArgs(['raw-get', '--rate', '0']), UsageError);
  });
});

describe('account totals', () => {
  it('a target without AccountStore is summed with concurrent gets, none lost (regression: `total += await` lost additions)', async () => {
    const { target, values } = recordingTarget();
    const keys = Array.from({ length: 300 }, (_, i) => Buffer.from(`acct${i}`));
    await loadAccounts(target, keys, 1_000, 32);
    assert.equal(values.size, 300);
    assert.ok([...values.values()].every((v) => v.length === 32 && v.toString().trimEnd() === '1000'), 'loaded as balances padded to the value size');
    values.set('acct7', Buffer.from('1500'));
    assert.equal(await sumBalances(target, keys), 300_500);
  });
});

describe('plan flags', () => {
  const parse = parseBench;

  it('compare runs the four comparison workloads on both targets', () => {
    const s = parse('compare --duration 3');
    assert.deepEqual(s.workloads.map((w) => w.name), [...COMPARE_WORKLOADS]);
    assert.deepEqual(COMPARE_WORKLOADS, ['raw-put', 'raw-get', 'txn-transfer', 'ycsb-a']);
    assert.equal(s.target, 'both');
    assert.equal(parse('compare --target flotilla').target, 'flotilla');
  });

  it('--concurrency and --stores take lists; a point keeps at most as many workers as operations; each workload its own distribution', () => {
    const s = parse('raw-get --concurrency 1,8,64,256 --stores 1,3,5 --workers 4 --cpu-prof --etcd-client grpc-js');
    assert.deepEqual(s.concurrencies, [1, 8, 64, 256]);
    assert.deepEqual(s.storeCounts, [1, 3, 5]);
    assert.equal(s.isCpuProf, true);
    assert.equal(s.etcdTransport, 'grpc-js');
    assert.equal(parse('raw-get').etcdTransport, 'http2');
    const one = pointSettings(s, workloadNamed('ycsb-a')!, 1, 5);
    assert.deepEqual([one.concurrency, one.workers, one.stores, one.workload.name, one.distribution], [1, 1, 5, 'ycsb-a', 'zipfian']);
    assert.equal(pointSettings(s, workloadNamed('raw-put')!, 256, 1).workers, 4);
    assert.equal(pointSettings(s, workloadNamed('raw-put')!, 256, 1).distribution, 'uniform');
    assert.equal(pointSettings(parse('compare --distribution uniform'), workloadNamed('ycsb-a')!, 8, 3).distribution, 'uniform', 'a given --distribution holds for every workload');
  });

  for (const [args, message] of [
    ['tso --target etcd', /tso does not run on etcd/],
    ['tso --target both', /tso does not run on etcd/],
    ['raw-get --concurrency 1,8,8', /listed twice/],
    ['raw-get --concurrency 1,,8', /--concurrency/],
    ['raw-get --stores 1,3 --pd 127.0.0.1:2379', /not with --pd/],
    ['raw-get --stores 1,3 --target etcd', /etcd runs 3 members/],
    ['raw-get --etcd-client etcd3', /--etcd-client etcd3/],
    ['compare raw-get', /expected one workload/],
  ] as const) {
    it(`refuses "${args}"`, () => {
      assert.throws(() => parseBenchArgs(args.split(' ')), (err: unknown) => err instanceof UsageError && message.test(err.message));
    });
  }
});

function result(target: 'flotilla' | 'etcd', workload: string, concurrency: number, stores: number | null, opsPerSec: number, p99Ms: number): RunResult {
  const cpu = { name: 'x', cpuPercent: 50, cpuUsPerOp: 100 };
  return {
    target, workload, startedAt: '2026-11-30T00:00:00.000Z',
    settings: { workers: 2, concurrency, durationS: 3, warmupS: 1, keys: 100, accounts: 10, distribution: 'uniform', valueSize: 256, seed: 1, rateOpsPerSec: null, cluster: stores === null ? 'etcd, 3 members' : `1 PD + ${stores} stores`, stores },
    cpuSpeed: 3000, ops: opsPerSec * 3, opsPerSec, opsByKind: { read: opsPerSec * 3 },
    latencyMs: { p50: p99Ms / 4, p95: p99Ms / 2, p99: p99Ms, p999: p99Ms * 2, max: p99Ms * 3, mean: p99Ms / 3 },
    errors: {}, retries: workload === 'txn-transfer' ? { transfer: 7 } : {},
    timeline: [{ second: 1, opsPerSec, p99Ms }],
    cpu: { generator: [cpu], generatorTotal: cpu, servers: [cpu, cpu] },
    invariant: null,
  };
}

/** Every Markdown table row has as many cells as its header. */
function assertTablesRectangular(md: string): void {
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
}

describe('the plan report', () => {
  const compare = [
    result('flotilla', 'raw-put', 64, 3, 4000, 40), result('flotilla', 'txn-transfer', 64, 3, 500, 300),
    result('etcd', 'raw-put', 64, null, 2000, 80), result('etcd', 'txn-transfer', 64, null, 1000, 100),
  ];

  it('a plan gets a row per point and a Flotilla / etcd row per workload both ran, ratios of like figures', () => {
    assert.equal(isSinglePoint(compare), false);
    assert.equal(isSinglePoint([compare[0]!, compare[2]!]), true);
    const md = renderMarkdown(compare);
    assertTablesRectangular(md);
    assert.match(md, /\| txn-transfer \(uniform\) \| flotilla \| 1 PD \+ 3 stores \| 64 \| 2 \| 500 \| 75\.00 \| 300\.00 \| 600\.00 \| 0 \| transfer 7 \| 100 \| 200 \|/);
    const ratios = renderRatios(compare)!;
    assert.match(ratios, /\| raw-put \| 64 \| 1 PD \+ 3 stores \| 4,000 \| 2,000 \| \*\*2\.00×\*\* \| 40\.00 \| 80\.00 \| 0\.50× \|/);
    assert.match(ratios, /\| txn-transfer \| 64 \| 1 PD \+ 3 stores \| 500 \| 1,000 \| \*\*0\.50×\*\* \| 300\.00 \| 100\.00 \| 3\.00× \|/);
    assert.equal(renderRatios(compare.filter((r) => r.target === 'flotilla')), null);
  });

  it('sweep curves: x along concurrency, or stores, or workloads; one polyline per series and panel', () => {
    const sweep = [1, 8, 64].flatMap((c) => [result('flotilla', 'raw-get', c, 3, c * 100, 5), result('etcd', 'raw-get', c, null, c * 50, 9)]);
    assert.equal(curveAxis(sweep), 'concurrency');
    const svg = renderCurvesSvg(sweep);
    assert.equal([...svg.matchAll(/<polyline /g)].length, 4);
    for (const label of ['>1<', '>8<', '>64<', '>operations in flight<']) assert.ok(svg.includes(label), label);
    const stores = [1, 3, 5].map((n) => result('flotilla', 'raw-put', 64, n, 1000 * n, 5));
    assert.equal(curveAxis(stores), 'stores');
    assert.ok(renderCurvesSvg(stores).includes('>5 stores<'));
    assert.equal(curveAxis(compare), 'workload');
    const ratiosOfSweep = renderRatios(sweep)!;
    assert.equal(ratiosOfSweep.split('\n').length, 2 + 3, 'a ratio row per concurrency');
    // Each row sets Flotilla beside etcd at the same concurrency (etcd ran c × 50 ops/s): always 2×.
    for (const c of [1, 8, 64]) {
      const row = ratiosOfSweep.split('\n').find((l) => l.startsWith(`| raw-get | ${c} |`));
      assert.ok(row?.includes(`| ${(c * 50).toLocaleString('en-US')} | **2.00×** |`), `row at ${c}: ${row}`);
    }
  });

  it('result.json of a plan holds the results and the comparison rows, with the same ratios as the table', async () => {
    const out = await mkdtemp(join(tmpdir(), 'flotilla-bench-report-'));
    try {
      await writeResults(out, compare);
      const json = JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as { results: RunResult[]; comparison: ComparisonRow[]; profiles: ServerProfile[] };
      assert.equal(json.results.length, 4);
      assert.deepEqual(json.comparison.map((r) => [r.workload, r.concurrency, r.opsRatio, r.p99Ratio]), [['raw-put', 64, 2, 0.5], ['txn-transfer', 64, 0.5, 3]]);
      assert.deepEqual(json.profiles, []);
      assert.match(await readFile(join(out, 'summary.md'), 'utf8'), /\*\*2\.00×\*\*/);
      assert.ok((await readFile(join(out, 'chart.svg'), 'utf8')).startsWith('<svg'));
      await writeResults(out, [compare[0]!]);
      assert.equal((JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as RunResult).workload, 'raw-put', 'one run: the result itself');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('profiles name each server\'s top functions with their share of busy time', () => {
    const profiles: ServerProfile[] = [{
      cluster: '1 PD + 3 stores', server: 'store1', path: '/x/profiles/flotilla-3-stores/CPU.1.cpuprofile', busyMs: 2500, totalMs: 5000,
      top: [{ functionName: 'LevelDOWN._get', location: 'leveldown.js:59', selfMs: 600, percentOfTotal: 12, percentOfBusy: 24 }, { functionName: '(program)', location: '', selfMs: 500, percentOfTotal: 10, percentOfBusy: 20 }],
    }];
    const text = renderProfiles(profiles)!;
    assertTablesRectangular(text);
    assert.match(text, /\| 1 PD \+ 3 stores \| store1 \| 2\.5 \| `LevelDOWN\._get` \(leveldown\.js:59\) 24\.0 %; `\(program\)` 20\.0 % \|/);
    assert.match(renderMarkdown(compare, profiles), /## CPU profiles of the servers and the workers/);
    assert.equal(renderProfiles([]), null);
  });
});
