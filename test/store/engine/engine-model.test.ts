// RocksEngine (store/engine/rocks-engine.ts) on real RocksDB, judged against a plain sorted map
// after every operation by the model in engine-model.ts (shared with memory-engine-model.test.ts,
// which judges MemoryEngine the same way): random sequences of write batches (a key repeated,
// empty values, values larger than a scan's read-ahead, sync or not, every cacheRows mode, batches
// the binding refuses), bounded range deletes, point reads alone and coalesced in one turn, scans
// in both directions on the read view and on snapshots taken earlier, releases, misuses refused
// with InvariantError, compactions and reopens; each run ends by closing the engine with reads in
// flight. What only RocksDB has is checked here too: the sync flag counted at the binding, the row
// cache's hits and misses per cacheRows mode, reopening from disk.
// Targeted cases below cover what a sequential model cannot: writes in flight when a reverse-enabled
// snapshot opens and writes issued while it waits, scans running at close, and whether a released
// snapshot still pins its RocksDB snapshot (compaction could not drop what it pinned).
// Replay: FLOTILLA_ENGINE_SEED=n (the seed is printed), FLOTILLA_ENGINE_RUNS=n.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRocksDb, isFlotillaError, type WriteOp } from '../../../common/index.js';
import { RocksEngine } from '../../../store/index.js';
import { type BindingWrites, judgeAgainstModel, type ModelTarget, show } from './engine-model.js';

const SEED = Number(process.env['FLOTILLA_ENGINE_SEED'] ?? '20261205');
const RUNS = Number(process.env['FLOTILLA_ENGINE_RUNS'] ?? '150');

/** Counts what reaches the binding's batch write, and with which sync flag (see `spyOnBatchWrites`). */
const bindingWrites: BindingWrites = { total: 0, synced: 0 };

const rocksTarget: ModelTarget<RocksEngine> = {
  label: 'RocksEngine',
  open: (location) => RocksEngine.open(location, { blockCacheBytes: 1 << 20, writeBufferBytes: 1 << 20 }),
  restart: { kind: 'reopen' },
  rowCacheStats: (engine) => engine.rowCacheStats,
  bindingWrites,
  isSizeLogical: false,
  isRefusedMutationDrawn: true,
  isEmptySyncedBatchDrawn: true,
  pinnedReadsAtClose: 'answered',
  unreachable: ['crashesLosingWrites'],
};

/**
 * Wraps the binding's chained-batch write (shared by every batch through its prototype) to count
 * the batches that reach RocksDB and their sync flag: a sync dropped on the way would otherwise
 * show only after a power loss. Returns the restore.
 */
async function spyOnBatchWrites(dir: string): Promise<() => void> {
  const db = createRocksDb(join(dir, 'spy'));
  await new Promise<void>((resolve, reject) => db.open({ createIfMissing: true }, (err) => (err ? reject(err) : resolve())));
  const proto = Object.getPrototypeOf(db.batch()) as { _write: (options: { sync?: boolean }, callback: unknown) => void };
  await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  const original = proto._write;
  assert.equal(typeof original, 'function', 'the binding batch writes through _write');
  proto._write = function (this: unknown, options, callback): void {
    bindingWrites.total++;
    if (options.sync === true) bindingWrites.synced++;
    original.call(this, options, callback);
  };
  return () => {
    proto._write = original;
  };
}

describe('RocksEngine against a sorted-map model (real RocksDB)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-engine-model-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it(`every read of ${RUNS} random operation sequences matches the model (seed ${SEED})`, { timeout: 180_000 }, async () => {
    const restore = await spyOnBatchWrites(dir);
    try {
      await judgeAgainstModel(rocksTarget, {
        seed: SEED, runs: RUNS, location: (runNo) => join(dir, `run${runNo}`), cleanup: (location) => rm(location, { recursive: true, force: true }),
      });
    } finally {
      restore();
    }
  });
});

describe('RocksEngine: what a sequential model cannot see', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-engine-targeted-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const put = (key: string, value: string): WriteOp => ({ kind: 'put', cf: 'raw', key: Buffer.from(key), value: Buffer.from(value) });

  it('a reverse-enabled snapshot waits for the writes in flight at its call (one or several), and holds back writes issued while it waits', { timeout: 60_000 }, async () => {
    const engine = await RocksEngine.open(join(dir, 'gate'), { blockCacheBytes: 1 << 20, writeBufferBytes: 1 << 20 });
    try {
      for (let round = 0; round < 30; round++) {
        // Writes in flight when the snapshot is asked for: types.ts has it wait for them to land.
        const inFlight = 1 + (round % 3);
        const landing: Promise<void>[] = [];
        for (let i = 0; i < inFlight; i++) landing.push(engine.write([put(`k${round}/${i}`, `v${round}`)], { sync: round % 2 === 0 }));
        const opening = engine.snapshot({ isReverseEnabled: true });
        // Issued while the snapshot waits: held back until both iterators are open.
        const held = engine.write([put(`k${round}/held`, 'later')], { sync: false });
        const snapshot = await opening;
        await Promise.all([...landing, held]);
        try {
          const keys = [...Array.from({ length: inFlight }, (_, i) => `k${round}/${i}`), `k${round}/held`].map((k) => Buffer.from(k));
          assert.deepEqual((await snapshot.multiGet(keys)).map((v) => v?.toString() ?? null), [...Array.from({ length: inFlight }, () => `v${round}`), null], `round ${round}: the snapshot saw the ${inFlight} writes in flight at its call, not the held one`);
          const forward = await snapshot.scan(Buffer.from('k'), Buffer.from('l'), { limit: 1000 });
          const reverse = await snapshot.scan(Buffer.from('k'), Buffer.from('l'), { limit: 1000, isReverse: true });
          assert.deepEqual(show(reverse).reverse(), show(forward), `round ${round}: both iterators pin one point in time`);
        } finally {
          await snapshot.release();
        }
        assert.equal((await engine.get(Buffer.from(`k${round}/held`)))?.toString(), 'later', `round ${round}: the held write landed`);
      }
    } finally {
      await engine.close();
    }
  });

  it('close with read-view scans in flight: each settles (whole, or EngineError) and close resolves', { timeout: 60_000 }, async () => {
    // Regression: db.close() ends the iterators still open, and the scan's own end() on one of
    // those never called back, so a scan running at close never settled. 2000 entries of 1 KiB
    // take many read-ahead batches (64 KiB), so close lands in the middle of a scan.
    const location = join(dir, 'close-while-scanning');
    const [start, end] = [Buffer.from('s'), Buffer.from('t')];
    for (let turns = 0; turns < 8; turns++) {
      const engine = await RocksEngine.open(location, { blockCacheBytes: 1 << 20, writeBufferBytes: 4 << 20 });
      if (turns === 0) await engine.write(Array.from({ length: 2000 }, (_, i) => put(`s${String(i).padStart(5, '0')}`, 'x'.repeat(1000))), { sync: false });
      const outcomes: string[] = [];
      const scans = [false, true].map((isReverse) => engine.readView().scan(start, end, { limit: 5000, isReverse }).then(
        (entries) => outcomes.push(`${entries.length} entries`),
        (e: unknown) => outcomes.push(isFlotillaError(e, 'EngineError') ? 'EngineError' : `unexpected ${String(e)}`),
      ));
      for (let t = 0; t < turns * turns; t++) await new Promise<void>((resolve) => setImmediate(resolve)); // close at a different point of the scans
      // A second close while the first waits for the scans resolves only once the db is closed
      // too: reopening the path right after it must find RocksDB's lock released.
      const first = engine.close();
      await engine.close();
      await (await RocksEngine.open(location, { blockCacheBytes: 1 << 20, writeBufferBytes: 4 << 20 })).close();
      await first;
      await Promise.all(scans); // before the fix: never settled (the test ended with a pending promise)
      assert.equal(outcomes.length, 2);
      for (const o of outcomes) assert.ok(o === '2000 entries' || o === 'EngineError', `turn ${turns}: ${o}`);
      await engine.close(); // twice: a no-op
      await assert.rejects(engine.readView().scan(start, end, { limit: 1 }), (e) => isFlotillaError(e, 'EngineError'));
    }
  });

  it('releasing a snapshot unpins its RocksDB snapshot (both iterators): data deleted under it is compacted away', { timeout: 60_000 }, async () => {
    for (const how of ['pin', 'forward', 'reverse'] as const) {
      const engine = await RocksEngine.open(join(dir, `pin-${how}`), { blockCacheBytes: 1 << 20, writeBufferBytes: 4 << 20 });
      try {
        const ops: WriteOp[] = [];
        for (let i = 0; i < 1000; i++) {
          const value = Buffer.alloc(1000);
          for (let j = 0; j < value.length; j += 4) value.writeUInt32BE((Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0, j); // incompressible
          ops.push({ kind: 'put', cf: 'raw', key: Buffer.from(`p${String(i).padStart(4, '0')}`), value });
        }
        const [start, end] = [Buffer.from('p'), Buffer.from('q')];
        await engine.write(ops, { sync: false });
        const snapshot = how === 'pin' ? engine.pinSnapshot() : await engine.snapshot({ isReverseEnabled: how === 'reverse' });
        assert.deepEqual(await engine.deleteRange(start, end, { limit: 100_000 }), { hasMore: false });
        assert.equal((await snapshot.scan(start, end, { limit: 2000 })).length, 1000, `${how}: the snapshot still reads what was deleted`);
        await snapshot.release();
        assert.equal(engine.stats.openSnapshotCount, 0);
        // Nothing pins the deleted data now: one compaction drops it with its tombstones.
        await engine.compactRange(start, end);
        const size = await engine.approximateSize(start, end);
        assert.ok(size < 200_000, `${how}: ${size} bytes left after compacting a range deleted under a released snapshot (1 MB pinned?)`);
      } finally {
        await engine.close();
      }
    }
  });
});
