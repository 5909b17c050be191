// bench/ab.ts's pure parts: its flags (sides, environments, the flags passed on to bench:store),
// reading a bench:store JSON result, and the B/A summary over rounds (geometric means).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coordinateGates, harnessPointsOf, parseAbArgs, pointsOf, roundOf, summarize, type RoundResult } from '../../bench/ab.js';
import { passStartGate } from '../../bench/start-gate.js';

function point(workload: string, opsPerSec: number, gen: number, stores: readonly number[]): unknown {
  return { workload, concurrency: 256, opsPerSec, generator: { cpuUsPerOp: gen }, stores: stores.map((c) => ({ cpuUsPerOp: c })) };
}

describe('bench:ab', () => {
  it('parses both sides, their environments and the bench:store flags after --', () => {
    const s = parseAbArgs(['--b', '../other', '--b-env', 'UV_THREADPOOL_SIZE=2', '--b-env', 'X=a=b', '--b-arg=--replica-read', '--rounds', '4', '--', '--workloads', 'raw-put'], '/work/main');
    assert.notEqual(s, 'help');
    if (s === 'help') return;
    assert.deepEqual(s.a, { label: 'A', dir: '/work/main', env: {}, args: [] });
    assert.deepEqual(s.b, { label: 'B', dir: '/work/other', env: { UV_THREADPOOL_SIZE: '2', X: 'a=b' }, args: ['--replica-read'] });
    assert.equal(s.rounds, 4);
    assert.deepEqual(s.benchArgs, ['--workloads', 'raw-put']);
  });

  it('defaults to transfers at 256 in flight, 3 rounds, this checkout on both sides', () => {
    const s = parseAbArgs([], '/w');
    assert.notEqual(s, 'help');
    if (s === 'help') return;
    assert.equal(s.rounds, 3);
    assert.equal(s.a.dir, '/w');
    assert.equal(s.b.dir, '/w');
    assert.deepEqual(s.benchArgs, ['--workloads', 'transfer', '--concurrency', '256', '--duration', '15']);
    assert.equal(s.tool, 'store-bench');
    assert.equal(parseAbArgs(['--help'], '/w'), 'help');
  });

  it('--harness runs the harness: raw puts over 100 regions unless flags follow --', () => {
    const s = parseAbArgs(['--harness'], '/w');
    assert.ok(s !== 'help');
    assert.equal(s.tool, 'harness');
    assert.deepEqual(s.benchArgs, ['raw-put', '--concurrency', '256', '--duration', '10', '--regions', '100']);
    const t = parseAbArgs(['--harness', '--', 'txn-transfer', '--regions', '10'], '/w');
    assert.ok(t !== 'help');
    assert.deepEqual(t.benchArgs, ['txn-transfer', '--regions', '10']);
    // What bench:ab sets per side, or what would measure something else than the two builds.
    assert.throws(() => parseAbArgs(['--harness', '--', 'raw-put', '--out', 'd'], '/w'), /harness \(npm run bench\) flag --out is set per side/);
    assert.throws(() => parseAbArgs(['--harness', '--', 'raw-put', '--cpu-prof'], '/w'), /--cpu-prof/);
    assert.throws(() => parseAbArgs(['--harness', '--', 'raw-put', '--target=etcd'], '/w'), /--target/);
    assert.throws(() => parseAbArgs(['--harness', '--b-arg=--pd=127.0.0.1:1', '--', 'raw-put'], '/w'), /--pd/);
    assert.throws(() => parseAbArgs(['--', '--start-gate=g'], '/w'), /--start-gate is set per side/);
  });

  it('refuses bad flags with a message naming them', () => {
    assert.throws(() => parseAbArgs(['--rounds', '0'], '/w'), /--rounds/);
    assert.throws(() => parseAbArgs(['--rounds', '2.5'], '/w'), /--rounds/);
    assert.throws(() => parseAbArgs(['--a-env', 'NOEQUALS'], '/w'), /--a-env: expected K=V/);
    assert.throws(() => parseAbArgs(['--a-env', '=v'], '/w'), /--a-env/);
    assert.throws(() => parseAbArgs(['--', '--out', 'x.json'], '/w'), /--out is set per side/);
    assert.throws(() => parseAbArgs(['--', '--start-gate', 'g'], '/w'), /--start-gate is set per side/);
    assert.throws(() => parseAbArgs(['--a-arg=--out'], '/w'), /--out is set per side/);
    assert.throws(() => parseAbArgs(['--bogus'], '/w'), /bogus/);
  });

  it('reads points from a bench:store result, CPU summed over stores and generator', () => {
    const pts = pointsOf({ points: [point('transfer', 3000, 60, [250, 100, 90]), point('raw-put', 15000, 14, [39, 22, 22])] });
    assert.deepEqual(pts, [
      { key: 'transfer ×256', opsPerSec: 3000, cpuUsPerOp: 500 },
      { key: 'raw-put ×256', opsPerSec: 15000, cpuUsPerOp: 97 },
    ]);
    assert.throws(() => pointsOf({}), /no points/);
    assert.throws(() => pointsOf({ points: [{ workload: 'transfer' }] }), /malformed point/);
    // A missing CPU figure makes the sum unknown, not smaller.
    assert.ok(Number.isNaN(pointsOf({ points: [{ workload: 't', concurrency: 1, opsPerSec: 1, generator: {}, stores: [] }] })[0]!.cpuUsPerOp));
    assert.ok(Number.isNaN(pointsOf({ points: [{ workload: 't', concurrency: 1, opsPerSec: 1, generator: { cpuUsPerOp: 5 }, stores: [{ cpuUsPerOp: 1 }, {}] }] })[0]!.cpuUsPerOp));
  });

  it('reads points from a harness result, one run or several, CPU summed over servers and generator', () => {
    const run = (workload: string, concurrency: number, regions: number, ops: number, gen: number, servers: readonly number[]): unknown => ({
      workload, opsPerSec: ops, settings: { concurrency, cluster: `1 PD + 3 stores${regions > 1 ? `, ${regions} regions` : ''}` },
      cpu: { generatorTotal: { cpuUsPerOp: gen }, generator: [], servers: servers.map((c, i) => ({ name: `s${i}`, cpuUsPerOp: c })) },
    });
    assert.deepEqual(harnessPointsOf(run('raw-put', 256, 100, 7000, 40, [2, 60, 61, 62])), [{ key: 'raw-put ×256, 1 PD + 3 stores, 100 regions', opsPerSec: 7000, cpuUsPerOp: 225 }]);
    assert.deepEqual(harnessPointsOf({ results: [run('raw-put', 1, 1, 500, 1, [1]), run('raw-put', 64, 1, 9000, 2, [3])], comparison: [] }), [
      { key: 'raw-put ×1, 1 PD + 3 stores', opsPerSec: 500, cpuUsPerOp: 2 },
      { key: 'raw-put ×64, 1 PD + 3 stores', opsPerSec: 9000, cpuUsPerOp: 5 },
    ]);
    assert.throws(() => harnessPointsOf({ workload: 'raw-put' }), /malformed run/);
    assert.throws(() => harnessPointsOf({ results: 3 }), /no runs/);
    // A server without a CPU figure (not sampled) makes the sum unknown, not smaller.
    const missing = run('raw-put', 256, 1, 1, 1, [1]) as { cpu: { servers: unknown[] } };
    missing.cpu.servers.push({ name: 'store9' });
    assert.ok(Number.isNaN(harnessPointsOf(missing)[0]!.cpuUsPerOp));
  });

  it('files a round\'s results by side whichever side started first', () => {
    const x = [{ key: 'k', opsPerSec: 1, cpuUsPerOp: 1 }];
    const y = [{ key: 'k', opsPerSec: 2, cpuUsPerOp: 2 }];
    assert.deepEqual(roundOf('A', x, y), { a: x, b: y });
    assert.deepEqual(roundOf('B', x, y), { a: y, b: x });
  });

  it('summarizes B/A per point as geometric means over the rounds', () => {
    const round = (a: number, b: number, ca: number, cb: number): RoundResult => ({
      a: [{ key: 'transfer ×256', opsPerSec: a, cpuUsPerOp: ca }],
      b: [{ key: 'transfer ×256', opsPerSec: b, cpuUsPerOp: cb }],
    });
    const [s] = summarize([round(1000, 1100, 500, 400), round(2000, 1800, 500, 625)]);
    assert.equal(s!.key, 'transfer ×256');
    assert.deepEqual(s!.ratios.map((r) => Number(r.toFixed(6))), [1.1, 0.9]);
    assert.ok(Math.abs(s!.ratioGeoMean - Math.sqrt(1.1 * 0.9)) < 1e-12);
    assert.ok(Math.abs(s!.cpuRatioGeoMean - Math.sqrt(0.8 * 1.25)) < 1e-12);
    assert.ok(Math.abs(s!.ratioMedian - 1.0) < 1e-12, 'median of two rounds: their mean');
    const [t] = summarize([round(1000, 1010, 1, 1), round(1000, 1500, 1, 1), round(1000, 990, 1, 1)]);
    assert.ok(Math.abs(t!.ratioMedian - 1.01) < 1e-12, 'median of three: the middle one, not pulled by the outlier');
    assert.deepEqual(summarize([]), []);
    assert.throws(() => summarize([{ a: [{ key: 'x', opsPerSec: 1, cpuUsPerOp: 1 }], b: [] }]), /missing/);
  });

  it('opens a point\'s start gate on both sides only once both are ready, and on one alone once the other exited', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-ab-test-'));
    const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
    const until = async (cond: () => Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 5_000;
      while (!(await cond())) {
        if (Date.now() > deadline) throw new Error('condition not met within 5 s');
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const done = [false, false];
    try {
      const gates = [join(dir, 'a'), join(dir, 'b')] as const;
      const running = coordinateGates(gates, [() => done[0]!, () => done[1]!]);
      await writeFile(`${gates[0]}.0.ready`, '');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await exists(`${gates[0]}.0`), false, 'A alone is ready: its gate stays shut');
      await writeFile(`${gates[1]}.0.ready`, '');
      await until(async () => (await exists(`${gates[0]}.0`)) && (await exists(`${gates[1]}.0`)));
      // B gets ahead to point 1 and waits; A exits (say it failed): B's gate opens alone.
      await writeFile(`${gates[1]}.1.ready`, '');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(await exists(`${gates[1]}.1`), false, 'B waits for A at point 1');
      done[0] = true;
      await until(() => exists(`${gates[1]}.1`));
      assert.equal(await exists(`${gates[0]}.1`), false, 'an exited side gets no gate');
      done[1] = true;
      await running;
    } finally {
      // A failed check must not leave the coordinator polling (the test file would never exit).
      done[0] = true;
      done[1] = true;
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bench:store --start-gate: says a point is ready, starts it only once its gate exists, and fails past the wait', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-gate-test-'));
    const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
    try {
      const gate = join(dir, 'g');
      let passed = false;
      const passing = passStartGate(gate, 3, 5_000).then(() => {
        passed = true;
      });
      const deadline = Date.now() + 5_000;
      while (!(await exists(`${gate}.3.ready`))) {
        assert.ok(Date.now() < deadline, 'the ready file of point 3 never appeared');
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(passed, false, 'the point started before its gate existed');
      assert.equal(await exists(`${gate}.2.ready`), false, 'only point 3 says it is ready');
      await writeFile(`${gate}.3`, '');
      await passing;
      assert.equal(passed, true);
      // A gate that never opens: a clear error once the wait is over, naming the file.
      await assert.rejects(passStartGate(gate, 4, 150), (err: Error) => err.message.includes(`${gate}.4 did not appear within 150 ms`));
      assert.equal(await exists(`${gate}.4.ready`), true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
