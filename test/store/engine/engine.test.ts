// The storage engine: snapshots pin one point in time across ranges, write batches are atomic and
// honour sync, range deletes stay in bounds, sizes are estimated, errors are typed — and the
// in-memory engine behaves exactly like RocksDB (differential test on random operations).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createRng, isFlotillaError } from '../../../common/index.js';
import { type Engine, MemoryEngine, RocksEngine, type WriteOp } from '../../../store/index.js';
import { READ_COALESCE_KEYS_MAX } from '../../../store/engine/rocks-engine.js';
import { cfRange, dataKey, deleteOp, latestKey, lockKey, putOp, writeKey } from '../../../common/pure.js';
import { ENGINE_KINDS, openTestEngine, type EngineKind } from '../../txn/helpers.js';

const b = (s: string): Buffer => Buffer.from(s);
const put = (key: string, value: string): WriteOp => ({ kind: 'put', cf: 'raw', key: b(key), value: b(value) });
const del = (key: string): WriteOp => ({ kind: 'delete', cf: 'raw', key: b(key) });

async function withEngine(kind: EngineKind, body: (engine: Engine) => Promise<void>): Promise<void> {
  const { engine, cleanup } = await openTestEngine(kind);
  try {
    await body(engine);
  } finally {
    await cleanup();
  }
}

function entries(list: readonly { key: Buffer; value: Buffer }[]): string[] {
  return list.map((e) => `${e.key.toString()}=${e.value.toString()}`);
}

for (const kind of ENGINE_KINDS) {
  describe(`engine (${kind})`, () => {
    it('get, multiGet and atomic write batches (later modification of a key wins)', () => withEngine(kind, async (engine) => {
      await engine.write([put('a', '1'), put('b', '2'), put('c', '3'), del('b'), put('a', '4')], { sync: false });
      assert.equal((await engine.get(b('a')))?.toString(), '4');
      assert.equal(await engine.get(b('b')), null);
      assert.deepEqual((await engine.multiGet([b('c'), b('b'), b('a')])).map((v) => v?.toString() ?? null), ['3', null, '4']);
      assert.deepEqual(await engine.multiGet([]), []);
    }));

    it('a snapshot reads one point in time across gets and several ranges while writes land', () => withEngine(kind, async (engine) => {
      await engine.write([put('a1', 'old'), put('a2', 'old'), put('m1', 'old'), put('z1', 'old')], { sync: false });
      const snapshot = await engine.snapshot({ isReverseEnabled: true });
      try {
        await engine.write([put('a1', 'new'), del('a2'), put('a3', 'new'), put('m1', 'new'), put('z0', 'new')], { sync: false });
        assert.equal((await snapshot.get(b('a1')))?.toString(), 'old');
        assert.deepEqual(entries(await snapshot.scan(b('a'), b('b'), { limit: 10 })), ['a1=old', 'a2=old']);
        assert.deepEqual(entries(await snapshot.scan(b('m'), b('n'), { limit: 10 })), ['m1=old']);
        assert.deepEqual(entries(await snapshot.scan(b('a'), b('zz'), { limit: 10, isReverse: true })), ['z1=old', 'm1=old', 'a2=old', 'a1=old']);
        assert.deepEqual((await snapshot.multiGet([b('a2'), b('a3'), b('z0')])).map((v) => v?.toString() ?? null), ['old', null, null]);
        // Concurrent reads on one snapshot are serialized, never interleaved.
        const [x, y, z] = await Promise.all([snapshot.get(b('m1')), snapshot.scan(b('a'), b('zz'), { limit: 2 }), snapshot.get(b('a2'))]);
        assert.equal(x?.toString(), 'old');
        assert.deepEqual(entries(y), ['a1=old', 'a2=old']);
        assert.equal(z?.toString(), 'old');
        assert.equal(engine.stats.openSnapshotCount, 1);
      } finally {
        await snapshot.release();
      }
      assert.equal(engine.stats.openSnapshotCount, 0);
      assert.equal((await engine.get(b('a1')))?.toString(), 'new');
      await assert.rejects(snapshot.get(b('a1')), (e) => isFlotillaError(e, 'EngineError'));
    }));

    it('scan limits and bounds: end exclusive, start inclusive, both directions', () => withEngine(kind, async (engine) => {
      await engine.write(['a', 'b', 'c', 'd', 'e'].map((k) => put(k, k)), { sync: false });
      const s = await engine.snapshot({ isReverseEnabled: true });
      try {
        assert.deepEqual(entries(await s.scan(b('b'), b('d'), { limit: 10 })), ['b=b', 'c=c']);
        assert.deepEqual(entries(await s.scan(b('b'), b('d'), { limit: 10, isReverse: true })), ['c=c', 'b=b']);
        assert.deepEqual(entries(await s.scan(b('a'), b('z'), { limit: 2, isReverse: true })), ['e=e', 'd=d']);
        assert.deepEqual(entries(await s.scan(b('d'), b('b'), { limit: 10 })), []);
        assert.deepEqual(entries(await s.scan(b('bb'), b('bc'), { limit: 10 })), []);
      } finally {
        await s.release();
      }
    }));

    it('counts sync writes; synced and unsynced writes both survive a clean close and reopen', async () => {
      if (kind === 'memory') {
        const engine = new MemoryEngine();
        await engine.write([put('a', '1')], { sync: true });
        await engine.write([put('b', '1')], { sync: false });
        assert.deepEqual(engine.stats, { writeCount: 2, syncWriteCount: 1, openSnapshotCount: 0 });
        await engine.close();
        return;
      }
      const dir = await mkdtemp(join(tmpdir(), 'flotilla-engine-'));
      try {
        const engine = await RocksEngine.open(join(dir, 'db'));
        await engine.write([put('a', '1')], { sync: true });
        await engine.write([put('b', '2')], { sync: false });
        assert.equal(engine.stats.syncWriteCount, 1);
        assert.equal(engine.stats.writeCount, 2);
        await engine.close();
        const reopened = await RocksEngine.open(join(dir, 'db'));
        assert.deepEqual((await reopened.multiGet([b('a'), b('b')])).map((v) => v?.toString()), ['1', '2']);
        await reopened.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('deleteRange deletes only inside [start, end) and at most limit keys', () => withEngine(kind, async (engine) => {
      await engine.write(['a', 'b1', 'b2', 'b3', 'b4', 'c'].map((k) => put(k, k)), { sync: false });
      assert.deepEqual(await engine.deleteRange(b('b'), b('c'), { limit: 3 }), { hasMore: true });
      assert.deepEqual((await engine.multiGet(['a', 'b1', 'b2', 'b3', 'b4', 'c'].map(b))).map((v) => v?.toString() ?? null), ['a', null, null, null, 'b4', 'c']);
      assert.deepEqual(await engine.deleteRange(b('b'), b('c'), { limit: 3 }), { hasMore: false });
      assert.equal((await engine.get(b('c')))?.toString(), 'c');
      assert.equal((await engine.get(b('a')))?.toString(), 'a');
    }));

    it('approximateSize grows with the data in the range, and is 0 for an empty range', () => withEngine(kind, async (engine) => {
      const rng = createRng(7); // incompressible values: the estimate is of bytes on disk
      const mods: WriteOp[] = [];
      for (let i = 0; i < 2000; i++) {
        const value = Buffer.allocUnsafe(1000);
        for (let j = 0; j < value.length; j++) value[j] = rng.nextInt(256);
        mods.push({ kind: 'put', cf: 'raw', key: dataKey('raw', b(`key${String(i).padStart(5, '0')}`)), value });
      }
      await engine.write(mods, { sync: false });
      const range = cfRange('raw');
      await engine.compactRange(range.start, range.end); // RocksDB counts flushed (SST) data only
      const size = await engine.approximateSize(range.start, range.end);
      assert.ok(size > 500_000 && size < 10_000_000, `size ${size}`);
      const empty = cfRange('lock');
      assert.equal(await engine.approximateSize(empty.start, empty.end), 0);
      // A reversed or empty range is 0 (RocksDB itself aborts the process on a reversed one).
      assert.equal(await engine.approximateSize(range.end, range.start), 0);
      assert.equal(await engine.approximateSize(range.start, range.start), 0);
    }));

    it('WriteOps of every CF land atomically under their full engine keys; delete of a missing key is a no-op', () => withEngine(kind, async (engine) => {
      const ops: WriteOp[] = [
        putOp('lock', lockKey(b('k')), b('L')), putOp('write', writeKey(b('k'), 7n), b('W')), putOp('latest', latestKey(b('k')), b('N')),
        putOp('default', dataKey('default', b('k')), b('D')), putOp('raw', dataKey('raw', b('k')), b('R')), putOp('local', b('\x01zz'), b('M')),
        deleteOp('lock', lockKey(b('k'))), deleteOp('lock', lockKey(b('absent'))),
      ];
      await engine.write(ops, { sync: true });
      assert.equal(await engine.get(lockKey(b('k'))), null, 'the later delete of the same key wins');
      assert.deepEqual((await engine.multiGet([writeKey(b('k'), 7n), latestKey(b('k')), dataKey('raw', b('k')), b('\x01zz')])).map((v) => v?.toString() ?? null), ['W', 'N', 'R', 'M']);
      await engine.write([], { sync: true }); // nothing to write: no batch
      assert.equal(engine.stats.writeCount, 1);
      assert.equal(engine.stats.syncWriteCount, 1);
    }));

    it('readView reads the live state: every call sees the writes applied before it, pins nothing, release is a no-op', () => withEngine(kind, async (engine) => {
      await engine.write([put('a1', 'old'), put('a2', 'old'), put('m1', 'old'), put('z1', 'old')], { sync: false });
      const view = engine.readView();
      assert.equal((await view.get(b('a1')))?.toString(), 'old');
      await engine.write([put('a1', 'new'), del('a2'), put('a3', 'new'), put('m1', 'new'), put('z0', 'new')], { sync: false });
      assert.equal(engine.stats.openSnapshotCount, 0);
      assert.equal((await view.get(b('a1')))?.toString(), 'new');
      assert.equal(await view.get(b('a2')), null);
      assert.deepEqual((await view.multiGet([b('a2'), b('a3'), b('z0'), b('nope')])).map((v) => v?.toString() ?? null), [null, 'new', 'new', null]);
      assert.deepEqual(await view.multiGet([]), []);
      assert.deepEqual(entries(await view.scan(b('a'), b('b'), { limit: 10 })), ['a1=new', 'a3=new']);
      assert.deepEqual(entries(await view.scan(b('a'), b('zz'), { limit: 10, isReverse: true })), ['z1=old', 'z0=new', 'm1=new', 'a3=new', 'a1=new']);
      // Bounds: start inclusive, end exclusive (also in reverse: the key equal to end is left out), limit exact.
      assert.deepEqual(entries(await view.scan(b('a1'), b('m1'), { limit: 10, isReverse: true })), ['a3=new', 'a1=new']);
      assert.deepEqual(entries(await view.scan(b('a1'), b('m1'), { limit: 10 })), ['a1=new', 'a3=new']);
      assert.deepEqual(entries(await view.scan(b('a'), b('zz'), { limit: 2 })), ['a1=new', 'a3=new']);
      assert.deepEqual(entries(await view.scan(b('a'), b('zz'), { limit: 2, isReverse: true })), ['z1=old', 'z0=new']);
      assert.deepEqual(await view.scan(b('m'), b('m'), { limit: 5 }), []);
      assert.deepEqual(await view.scan(b('z'), b('a'), { limit: 5, isReverse: true }), []);
      await view.release();
      await view.release();
      assert.equal((await view.get(b('m1')))?.toString(), 'new', 'still reads after release');
      // Concurrent calls on one view are independent reads.
      const [x, y] = await Promise.all([view.scan(b('a'), b('zz'), { limit: 100 }), view.get(b('z1'))]);
      assert.equal(x.length, 5);
      assert.equal(y?.toString(), 'old');
    }));

    it('readView fails with EngineError once the engine is closed', () => withEngine(kind, async (engine) => {
      const view = engine.readView();
      await engine.close();
      const isEngineError = (e: unknown): boolean => isFlotillaError(e, 'EngineError');
      await assert.rejects(view.get(b('a')), isEngineError);
      await assert.rejects(view.multiGet([b('a')]), isEngineError);
      await assert.rejects(view.scan(b('a'), b('b'), { limit: 1 }), isEngineError);
    }));

    it('typed errors once closed; close is idempotent and ends open snapshots', () => withEngine(kind, async (engine) => {
      await engine.write([put('a', '1')], { sync: false });
      const snapshot = await engine.snapshot();
      await engine.close();
      await engine.close();
      assert.equal(engine.isClosed, true);
      assert.equal(engine.stats.openSnapshotCount, 0);
      const isEngineError = (e: unknown): boolean => isFlotillaError(e, 'EngineError');
      await assert.rejects(engine.get(b('a')), isEngineError);
      await assert.rejects(engine.write([put('a', '2')], { sync: false }), isEngineError);
      await assert.rejects(engine.snapshot(), isEngineError);
      await assert.rejects(snapshot.get(b('a')), isEngineError);
    }));
  });
}

describe('engine (rocksdb) specifics', () => {
  it('a reverse-enabled snapshot waits for in-flight writes so both iterators pin one point in time', () => withEngine('rocksdb', async (engine) => {
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) writes.push(engine.write([put(`k${String(i).padStart(3, '0')}`, 'v')], { sync: false }));
    const snapshot = await engine.snapshot({ isReverseEnabled: true });
    await Promise.all(writes);
    try {
      const forward = await snapshot.scan(b('k'), b('l'), { limit: 100 });
      const reverse = await snapshot.scan(b('k'), b('l'), { limit: 100, isReverse: true });
      assert.deepEqual(entries(reverse).reverse(), entries(forward));
    } finally {
      await snapshot.release();
    }
  }));

  it('a forward-only snapshot refuses reverse scans with a typed error', () => withEngine('rocksdb', async (engine) => {
    const snapshot = await engine.snapshot();
    try {
      await assert.rejects(snapshot.scan(b('a'), b('b'), { limit: 1, isReverse: true }), (e) => isFlotillaError(e, 'InvalidArgument'));
    } finally {
      await snapshot.release();
    }
  }));

  it('open failures are EngineError with the cause', async () => {
    await assert.rejects(RocksEngine.open('/proc/flotilla-cannot-create/db'), (e) => isFlotillaError(e, 'EngineError') && e.cause !== undefined);
  });

  it('keyspace keys round-trip through the engine in version order (newest first)', () => withEngine('rocksdb', async (engine) => {
    await engine.write([5n, 7n, 6n].map((t) => ({ kind: 'put' as const, cf: 'write', key: writeKey(b('k'), t), value: b(String(t)) })), { sync: false });
    const range = cfRange('write');
    const s = await engine.snapshot();
    try {
      assert.deepEqual((await s.scan(range.start, range.end, { limit: 10 })).map((e) => e.value.toString()), ['7', '6', '5']);
    } finally {
      await s.release();
    }
  }));
});

describe('RocksDB point reads are coalesced per turn of the event loop', () => {
  it('answer every get and multiGet of a turn exactly (model), in few getMany calls, split past the key limit', () => withEngine('rocksdb', async (engine) => {
    const rocks = engine as RocksEngine;
    const rng = createRng(99);
    const model = new Map<string, string>();
    const ops: WriteOp[] = [];
    for (let i = 0; i < 3000; i++) {
      const key = `c/${String(i).padStart(5, '0')}`;
      if (rng.chance(0.7)) {
        const value = `v${i}-${rng.nextU32()}`;
        model.set(key, value);
        ops.push(put(key, value));
      }
    }
    await engine.write(ops, { sync: false });
    const keyOf = (): string => `c/${String(rng.nextInt(3100)).padStart(5, '0')}`;
    for (let turn = 0; turn < 20; turn++) {
      const before = rocks.readStats;
      const view = engine.readView();
      const reads: Promise<void>[] = [];
      let keysAsked = 0;
      for (let r = 0; r < 1 + rng.nextInt(60); r++) {
        if (rng.chance(0.5)) {
          const key = keyOf();
          keysAsked++;
          reads.push((rng.chance(0.5) ? engine.get(b(key)) : view.get(b(key))).then((got) => assert.equal(got?.toString() ?? null, model.get(key) ?? null, key)));
        } else {
          // Now and then a read larger than a whole coalesced call.
          const n = turn % 7 === 3 && r === 0 ? READ_COALESCE_KEYS_MAX + 5 : 1 + rng.nextInt(40);
          const keys = Array.from({ length: n }, keyOf);
          keysAsked += n;
          reads.push(view.multiGet(keys.map(b)).then((got) => assert.deepEqual(got.map((v) => v?.toString() ?? null), keys.map((k) => model.get(k) ?? null))));
        }
      }
      await Promise.all(reads);
      const after = rocks.readStats;
      assert.equal(after.reads - before.reads, reads.length);
      assert.ok(after.calls - before.calls <= Math.ceil(keysAsked / READ_COALESCE_KEYS_MAX) + 1, `turn ${turn}: ${reads.length} reads took ${after.calls - before.calls} getMany calls`);
    }
    // A read issued after a write completed sees it; one issued in a later turn than another sees
    // what landed in between.
    await engine.write([put('c/late', 'x')], { sync: false });
    assert.equal((await engine.get(b('c/late')))?.toString(), 'x');
    await engine.write([del('c/late')], { sync: false });
    assert.equal(await engine.get(b('c/late')), null);
  }));
});

describe('in-memory engine vs RocksDB (differential)', () => {
  it('agree on every read after random writes, deletes and range deletes', async () => {
    const rocks = await openTestEngine('rocksdb');
    try {
      let round = 0;
      const keyArb = fc.stringMatching(/^[a-d]{1,3}$/);
      const opArb = fc.oneof(
        fc.record({ op: fc.constant('put' as const), key: keyArb, value: fc.string({ maxLength: 4 }) }),
        fc.record({ op: fc.constant('del' as const), key: keyArb }),
        fc.record({ op: fc.constant('range' as const), start: keyArb, end: keyArb, limit: fc.integer({ min: 1, max: 4 }) }),
      );
      await fc.assert(fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 }), async (batches) => {
        const prefix = `r${round++}/`;
        const memory = new MemoryEngine();
        const k = (s: string): Buffer => Buffer.from(prefix + s);
        for (const batch of batches) {
          const mods: WriteOp[] = [];
          for (const o of batch) {
            if (o.op === 'put') mods.push({ kind: 'put', cf: 'raw', key: k(o.key), value: Buffer.from(o.value) });
            else if (o.op === 'del') mods.push({ kind: 'delete', cf: 'raw', key: k(o.key) });
          }
          if (mods.length > 0) {
            await memory.write(mods, { sync: false });
            await rocks.engine.write(mods, { sync: false });
          }
          for (const o of batch) {
            if (o.op !== 'range') continue;
            const [m, r] = await Promise.all([memory.deleteRange(k(o.start), k(o.end), { limit: o.limit }), rocks.engine.deleteRange(k(o.start), k(o.end), { limit: o.limit })]);
            assert.deepEqual(m, r);
          }
        }
        const start = Buffer.from(prefix);
        const end = Buffer.from(prefix + '\xff');
        const [ms, rs] = [await memory.snapshot({ isReverseEnabled: true }), await rocks.engine.snapshot({ isReverseEnabled: true })];
        try {
          for (const isReverse of [false, true]) {
            for (const limit of [1, 3, 100]) {
              assert.deepEqual(entries(await rs.scan(start, end, { limit, isReverse })), entries(await ms.scan(start, end, { limit, isReverse })));
            }
          }
          const probe = ['a', 'b', 'ab', 'dd', 'abc'].map(k);
          assert.deepEqual(await rs.multiGet(probe), await ms.multiGet(probe));
          // The read views agree with each other and with the snapshots (no write since they were taken).
          const [mv, rv] = [memory.readView(), rocks.engine.readView()];
          for (const isReverse of [false, true]) {
            for (const limit of [1, 3, 100]) {
              const expected = entries(await ms.scan(start, end, { limit, isReverse }));
              assert.deepEqual(entries(await rv.scan(start, end, { limit, isReverse })), expected);
              assert.deepEqual(entries(await mv.scan(start, end, { limit, isReverse })), expected);
            }
          }
          assert.deepEqual(await rv.multiGet(probe), await ms.multiGet(probe));
          assert.deepEqual(await mv.multiGet(probe), await ms.multiGet(probe));
          for (const key of probe) assert.deepEqual(await rv.get(key), await ms.get(key));
        } finally {
          await ms.release();
          await rs.release();
          await memory.close();
        }
      }), { numRuns: 150 });
    } finally {
      await rocks.cleanup();
    }
  });
});
