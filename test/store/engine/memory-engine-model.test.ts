// MemoryEngine (store/engine/memory-engine.ts) judged against the same sorted-map model as
// RocksEngine (engine-model.ts; engine-model.test.ts runs it on RocksDB) and on the same generated
// operation sequences: unit tests, the txn property tests and the store simulation run on it, so
// a bug in it can hide or fake a bug elsewhere. Everything the Engine interface promises is judged
// as on RocksDB — reads, scans and their limits, snapshots (never see later writes; refuse reads
// once released), range deletes, stats, typed refusals, close with reads in flight. Not here: the
// row cache and the binding's sync spy (MemoryEngine has neither) and a reopen from disk (it has no
// persistence: a restart loads a new engine from the model). approximateSize is judged exactly
// (the bytes of the range's keys and values).
// Second, the simulation's CrashableEngine (test/support/store-sim.ts, a MemoryEngine that keeps
// its batches): a restart there is a machine crash, which must keep every batch up to the last
// synced one and a prefix of the rest, never a hole.
// Replay: FLOTILLA_ENGINE_SEED=n (the seed is printed), FLOTILLA_ENGINE_RUNS=n.
import { describe, it } from 'node:test';
import { MemoryEngine } from '../../../store/index.js';
import { CrashableEngine } from '../../support/store-sim.js';
import { judgeAgainstModel, type ModelTarget } from './engine-model.js';

const SEED = Number(process.env['FLOTILLA_ENGINE_SEED'] ?? '20261205');
const RUNS = Number(process.env['FLOTILLA_ENGINE_RUNS'] ?? '300');

/**
 * Counters of what only RocksDB has: the row cache; reads answered though called in the same turn
 * as close() (a MemoryEngine read checks for close after its yield, so it is always refused then —
 * either is right).
 */
const ROCKS_ONLY = ['setHitsChecked', 'readsAnsweredAtClose'] as const;

const memoryTarget: ModelTarget<MemoryEngine> = {
  label: 'MemoryEngine',
  open: () => Promise.resolve(new MemoryEngine()),
  restart: { kind: 'none' },
  rowCacheStats: () => null,
  bindingWrites: null,
  isSizeLogical: true,
  isRefusedMutationDrawn: true,
  isEmptySyncedBatchDrawn: true,
  pinnedReadsAtClose: 'answered',
  unreachable: [...ROCKS_ONLY, 'crashesLosingWrites'],
};

const crashableTarget: ModelTarget<CrashableEngine> = {
  label: 'CrashableEngine',
  open: () => Promise.resolve(new CrashableEngine()),
  restart: { kind: 'crash', afterCrash: (engine, rng) => engine.afterCrash(rng) },
  rowCacheStats: () => null,
  bindingWrites: null,
  isSizeLogical: true,
  // A call the engine refuses leaves no trace in the crash history, and an empty batch is no sync
  // point (both once wrong: a refused batch was replayed by the crash, an empty synced one made
  // everything before it durable).
  isRefusedMutationDrawn: true,
  isEmptySyncedBatchDrawn: true,
  // Its pinSnapshot() view waits many turns before each read (a disk walk spanning rounds) and
  // only then asks MemoryEngine's snapshot, which by then is released by close(): a read called
  // before close() is refused (EngineError) instead of answered.
  pinnedReadsAtClose: 'answeredOrRefused',
  unreachable: [...ROCKS_ONLY],
};

const noDisk = { location: (runNo: number) => `run${runNo}`, cleanup: () => Promise.resolve() };

describe('MemoryEngine against the sorted-map model of engine-model.test', () => {
  it(`every read of ${RUNS} random operation sequences matches the model (seed ${SEED})`, { timeout: 120_000 }, async () => {
    await judgeAgainstModel(memoryTarget, { seed: SEED, runs: RUNS, ...noDisk });
  });

  it(`the simulation's CrashableEngine: the same, and a crash keeps every synced batch and a prefix of the rest (seed ${SEED})`, { timeout: 120_000 }, async () => {
    await judgeAgainstModel(crashableTarget, { seed: SEED, runs: RUNS, ...noDisk });
  });
});
