// The latest record and MvccReader.getWrite's three cases (F5 "The read path must be designed"):
// absent → no data version without an iterator; latest ≤ ts → the latest record itself, without
// an iterator; latest > ts → the write-CF walk. Checked on both engines, through a snapshot and
// through the live read view, before and after GC; GC's latest-record drop under latches loses no
// concurrent commit; released locks leave nothing in the lock CF.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cfRange, latestKey, lockKey } from '../../../common/pure.js';
import {
  decodeLatest, decodeLatestEntry, encodeLatest, encodeWrite, gcCommand, gcLatestCommand, latestOf, MvccReader, type Snapshot, type VersionedWrite,
} from '../../../txn/index.js';
import { ENGINE_KINDS, k, type TxnHarness, withHarness } from '../helpers.js';

/** A snapshot wrapper counting scans (an iterator each on RocksDB). */
class CountingSnapshot implements Snapshot {
  scans = 0;
  constructor(private readonly inner: Snapshot) {}
  get(key: Buffer): Promise<Buffer | null> {
    return this.inner.get(key);
  }
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.inner.multiGet(keys);
  }
  scan(start: Buffer, end: Buffer, options: { limit: number; isReverse?: boolean }): Promise<{ key: Buffer; value: Buffer }[]> {
    this.scans++;
    return this.inner.scan(start, end, options);
  }
  release(): Promise<void> {
    return this.inner.release();
  }
}

type Source = 'snapshot' | 'readView';

async function getWrite(h: TxnHarness, source: Source, key: string, ts: bigint): Promise<{ found: VersionedWrite | null; scans: number }> {
  const inner = source === 'readView' ? h.engine.readView() : await h.engine.snapshot();
  const counting = new CountingSnapshot(inner);
  try {
    return { found: await new MvccReader(counting).getWrite(k(key), ts), scans: counting.scans };
  } finally {
    await counting.release();
  }
}

function describeWrite(found: VersionedWrite | null): string {
  return found === null ? 'none' : `${found.write.kind}@${found.commitTs} start ${found.write.startTs} ${found.write.shortValue?.toString() ?? ''}`;
}

describe('latest record codec', () => {
  it('round-trips, drops flags, and refuses non-data writes', () => {
    const write = { kind: 'put' as const, startTs: 5n, shortValue: k('v'), hasOverlappedRollback: true, isProtected: false };
    const data = latestOf(9n, write);
    assert.equal(data.write.hasOverlappedRollback, false);
    const record = { data, maxWriteTs: 12n };
    assert.deepEqual(decodeLatest(encodeLatest(record)), record);
    assert.throws(() => decodeLatest(encodeLatest(record).subarray(0, 20)));
    assert.throws(() => latestOf(9n, { ...write, kind: 'rollback', shortValue: null }));
    assert.throws(() => latestOf(9n, { ...write, kind: 'lock', shortValue: null }));
  });

  it('the record encodeLatest remembers for its buffer is exactly what decoding that buffer gives', () => {
    const U64_MAX = (1n << 64n) - 1n;
    const value = fc.option(fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.constantFrom(0, 1, 254, 255, 256, 257, 4096).map((n) => Buffer.alloc(n, n & 0xff)),
    ), { nil: null });
    const recordArb = fc.record({
      maxWriteTs: fc.bigInt({ min: 1n, max: U64_MAX }),
      kind: fc.constantFrom('put' as const, 'delete' as const, null),
      startTs: fc.bigInt({ min: 0n, max: U64_MAX }),
      value,
      flags: fc.boolean(),
    });
    fc.assert(fc.property(recordArb, (r) => {
      const data = r.kind === null ? null : latestOf(r.maxWriteTs, {
        kind: r.kind, startTs: r.startTs, shortValue: r.kind === 'put' ? r.value : null, hasOverlappedRollback: r.flags, isProtected: r.flags,
      });
      const bytes = encodeLatest({ data, maxWriteTs: r.maxWriteTs });
      const remembered = decodeLatestEntry(bytes);
      assert.deepStrictEqual(remembered, decodeLatest(Buffer.from(bytes)));
      assert.equal(decodeLatestEntry(bytes), remembered, 'one record per buffer');
      // A copy of the bytes is decoded, not looked up.
      assert.notEqual(decodeLatestEntry(Buffer.from(bytes)), remembered);
      // The buffer is its own: a row cache keeps it as it is.
      assert.equal(bytes.buffer.byteLength, bytes.length);
      // Given the write record's bytes (putWriteRecord reuses them), the same record.
      if (data !== null) assert.deepStrictEqual(encodeLatest({ data, maxWriteTs: r.maxWriteTs }, encodeWrite(data.write)), bytes);
    }), { numRuns: 500 });
  });
});

for (const kind of ENGINE_KINDS) {
  for (const source of ['snapshot', 'readView'] as const) {
    describe(`MvccReader.getWrite by the latest record (${kind}, ${source})`, () => {
      it('absent: a key with no put/delete answers none without an iterator, even with lock and rollback records', () => withHarness(kind, async (h) => {
        const none = await getWrite(h, source, 'a', 100n);
        assert.deepEqual([describeWrite(none.found), none.scans], ['none', 0]);
        await h.mustPrewriteLock('a', 'a', 10n);
        await h.mustCommit('a', 10n, 11n);
        await h.mustRollback('a', 12n);
        assert.deepEqual(decodeLatestEntry(await h.engine.get(latestKey(k('a')))), { data: null, maxWriteTs: 12n }, 'lock and rollback records: a latest record without data');
        const after = await getWrite(h, source, 'a', 100n);
        assert.deepEqual([describeWrite(after.found), after.scans], ['none', 0]);
      }));

      it('latest ≤ ts: the newest put/delete at or below ts without an iterator; at exactly its commit_ts too', () => withHarness(kind, async (h) => {
        await h.mustPrewritePut('a', 'v1', 'a', 10n);
        await h.mustCommit('a', 10n, 11n);
        await h.mustPrewriteLock('a', 'a', 20n); // a lock record above the put: not data
        await h.mustCommit('a', 20n, 21n);
        await h.mustRollback('a', 30n); // and a rollback above it
        for (const ts of [11n, 21n, 30n, 1000n]) {
          const r = await getWrite(h, source, 'a', ts);
          assert.deepEqual([describeWrite(r.found), r.scans], ['put@11 start 10 v1', 0], `read at ${ts}`);
        }
        await h.mustPrewriteDelete('a', 'a', 40n);
        await h.mustCommit('a', 40n, 41n);
        const deleted = await getWrite(h, source, 'a', 41n);
        assert.deepEqual([describeWrite(deleted.found), deleted.scans], ['delete@41 start 40 ', 0]);
      }));

      it('latest > ts: falls back to the write-CF walk, which skips lock/rollback records; below every version: none', () => withHarness(kind, async (h) => {
        await h.mustPrewritePut('a', 'v1', 'a', 10n);
        await h.mustCommit('a', 10n, 11n);
        await h.mustPrewriteLock('a', 'a', 20n);
        await h.mustCommit('a', 20n, 21n);
        await h.mustPrewritePut('a', 'v2', 'a', 30n);
        await h.mustCommit('a', 30n, 31n);
        const older = await getWrite(h, source, 'a', 30n);
        assert.equal(describeWrite(older.found), 'put@11 start 10 v1');
        assert.ok(older.scans >= 1, 'the fallback walks the write CF');
        const atLatest = await getWrite(h, source, 'a', 31n);
        assert.deepEqual([describeWrite(atLatest.found), atLatest.scans], ['put@31 start 30 v2', 0], 'the boundary: latest commit_ts = ts is no fallback');
        const below = await getWrite(h, source, 'a', 10n);
        assert.equal(describeWrite(below.found), 'none');
      }));

      it('after GC: a kept put still answers by the latest record; a collected delete takes its latest record along', () => withHarness(kind, async (h) => {
        await h.mustPrewritePut('a', 'v1', 'a', 10n);
        await h.mustCommit('a', 10n, 11n);
        await h.mustPrewritePut('a', 'v2', 'a', 20n);
        await h.mustCommit('a', 20n, 21n);
        await h.mustPrewritePut('b', 'b1', 'b', 10n);
        await h.mustCommit('b', 10n, 11n);
        await h.mustPrewriteDelete('b', 'b', 20n);
        await h.mustCommit('b', 20n, 21n);
        await h.mustPrewritePut('c', 'c1', 'c', 10n);
        await h.mustCommit('c', 10n, 11n);
        await h.mustPrewriteDelete('c', 'c', 40n); // a delete above the safe point: kept, with its latest record
        await h.mustCommit('c', 40n, 41n);
        await h.gc(30n);
        const a = await getWrite(h, source, 'a', 30n);
        assert.deepEqual([describeWrite(a.found), a.scans], ['put@21 start 20 v2', 0]);
        assert.equal(await h.engine.get(latestKey(k('b'))), null, 'b has no data version left: no latest record');
        const b = await getWrite(h, source, 'b', 1000n);
        assert.deepEqual([describeWrite(b.found), b.scans], ['none', 0]);
        const c = await getWrite(h, source, 'c', 1000n);
        assert.deepEqual([describeWrite(c.found), c.scans], ['delete@41 start 40 ', 0]);
        const cBelow = await getWrite(h, source, 'c', 30n);
        assert.equal(describeWrite(cBelow.found), 'put@11 start 10 c1', 'the fallback finds the put GC kept under the delete');
      }));
    });
  }

  describe(`GC and the latest record under concurrency (${kind})`, () => {
    it('a put committed between the unlatched GC batch\'s read and its apply keeps its latest record', () => withHarness(kind, async (h) => {
      // 1. b's newest data write is delete@21 ≤ safe point 30: GC drops it and names b's latest record.
      await h.mustPrewritePut('b', 'b1', 'b', 10n);
      await h.mustCommit('b', 10n, 11n);
      await h.mustPrewriteDelete('b', 'b', 20n);
      await h.mustCommit('b', 20n, 21n);
      const batch = await gcCommand(h.engine.readView(), { safePoint: 30n, startKey: k(''), endKey: k(''), keyLimit: 10 });
      const collected = batch.result;
      assert.ok(collected.kind === 'collected');
      assert.deepEqual(collected.droppedLatests.map((d) => `${d.key.toString()}@${d.commitTs}`), ['b@21']);
      // 2. A transaction above the safe point commits a put on b before GC's batch applies.
      await h.mustPrewritePut('b', 'b2', 'b', 40n);
      await h.mustCommit('b', 40n, 41n);
      await h.engine.write(batch.modifications, { sync: false });
      await h.mustGet('b', 50n, 'b2');
      // 3. The latched step finds a newer latest record and keeps it.
      const latched = await h.run(collected.droppedLatests.map((d) => d.key), (s) => gcLatestCommand(s, collected.droppedLatests));
      assert.ok(latched.kind === 'collected');
      assert.equal(latched.droppedCount, 0);
      await h.mustGet('b', 50n, 'b2');
      const r = await getWrite(h, 'readView', 'b', 50n);
      assert.deepEqual([describeWrite(r.found), r.scans], ['put@41 start 40 b2', 0]);
    }));

    it('an overlapped rollback on an older commit record leaves the latest record (a newer put) alone', () => withHarness(kind, async (h) => {
      // The rollback of start_ts 11 lands on T1's commit record at 11 (overlapped flag) while a newer put exists.
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewritePut('a', 'v2', 'a', 20n);
      await h.mustCommit('a', 20n, 21n);
      await h.mustRollback('a', 11n);
      assert.equal((await h.loadWrite('a', 11n))?.hasOverlappedRollback, true);
      const r = await getWrite(h, 'readView', 'a', 100n);
      assert.deepEqual([describeWrite(r.found), r.scans], ['put@21 start 20 v2', 0]);
      await h.mustGet('a', 100n, 'v2');
      await h.mustGet('a', 15n, 'v1');
    }));

    it('released locks are deleted: the lock CF is empty after commits and rollbacks', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewritePut('b', 'v', 'b', 10n);
      await h.mustRollback('b', 10n);
      await h.mustPrewritePut('c', 'v', 'c', 10n);
      assert.ok(await h.engine.get(lockKey(k('c'))) !== null);
      await h.resolveLock(10n, 0n, [k('c')]);
      const range = cfRange('lock');
      const snapshot = await h.engine.snapshot();
      try {
        assert.deepEqual(await snapshot.scan(range.start, range.end, { limit: 10 }), []);
      } finally {
        await snapshot.release();
      }
    }));
  });
}
