// The latest record's maxWriteTs (issue F5, prewrite without iterators): the version-2 encoding
// (every bit flip refused, version 1 still read), the bound kept as a running max by every write
// record — rollbacks written below newer records do not lower it — and kept by GC, and the engine
// calls prewrite, commit and rollback make with it: point lookups only in the common case, the
// iterator only as the fallback. On both engines, through the live read view.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32, isFlotillaError, latestKey, TS_MAX, U64_MAX } from '../../../common/index.js';
import {
  batchRollbackCommand, commitCommand, type CommandOutput, decodeLatest, decodeLatestEntry, encodeLatest, encodeWrite, gcCommand,
  gcLatestCommand, type LatestRecord, latestAfterWrite, latestOf, type Mutation, prewriteCommand, rollbackWrite, type Snapshot, type Write,
} from '../../../txn/index.js';
import { ENGINE_KINDS, k, type TxnHarness, withHarness } from '../helpers.js';

const tsArb = fc.bigInt({ min: 0n, max: U64_MAX });
const dataWriteArb: fc.Arbitrary<Write> = fc.record({
  kind: fc.constantFrom<Write['kind']>('put', 'delete'),
  startTs: tsArb,
  shortValue: fc.option(fc.uint8Array({ maxLength: 255 }).map((a) => Buffer.from(a)), { nil: null }),
}).map((w) => ({ ...w, shortValue: w.kind === 'put' ? w.shortValue : null, hasOverlappedRollback: false, isProtected: false }));
/** A latest record: with data (commit_ts ≤ maxWriteTs) or without. */
const latestArb: fc.Arbitrary<LatestRecord> = fc.tuple(fc.option(fc.tuple(tsArb, dataWriteArb), { nil: null }), tsArb).map(([data, max]) => {
  if (data === null) return { data: null, maxWriteTs: max };
  const [commitTs, write] = data;
  return { data: { commitTs, write }, maxWriteTs: commitTs > max ? commitTs : max };
});
const isCorruption = (e: unknown): boolean => isFlotillaError(e, 'Corruption');

/** A version-1 record as the code before maxWriteTs wrote it: [1][commit_ts][write][crc32]. */
function encodeV1(commitTs: bigint, write: Write): Buffer {
  const w = encodeWrite(write);
  const out = Buffer.alloc(9 + w.length + 4);
  out[0] = 1;
  out.writeBigUInt64BE(commitTs, 1);
  w.copy(out, 9);
  out.writeUInt32BE(crc32(out, 0, 9 + w.length), 9 + w.length);
  return out;
}

describe('latest record, version 2', () => {
  it('round-trips with and without data', () => {
    fc.assert(fc.property(latestArb, (latest) => assert.deepEqual(decodeLatest(encodeLatest(latest)), latest)), { numRuns: 500 });
  });

  it('every single bit flip and every truncation is Corruption, never another record', () => {
    fc.assert(fc.property(latestArb, (latest) => {
      const bytes = encodeLatest(latest);
      for (let bit = 0; bit < bytes.length * 8; bit++) {
        const flipped = Buffer.from(bytes);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(() => decodeLatest(flipped), isCorruption, `bit ${bit} of ${bytes.length} bytes`);
      }
      for (let n = 0; n < bytes.length; n++) assert.throws(() => decodeLatest(bytes.subarray(0, n)), isCorruption, `${n} of ${bytes.length} bytes`);
    }), { numRuns: 60 });
  });

  it('refuses a data part above maxWriteTs, a bad has_data byte and a non-data write, each with a valid checksum', () => {
    const reseal = (bytes: Buffer): Buffer => {
      bytes.writeUInt32BE(crc32(bytes, 0, bytes.length - 4), bytes.length - 4);
      return bytes;
    };
    const put: Write = { kind: 'put', startTs: 5n, shortValue: k('v'), hasOverlappedRollback: false, isProtected: false };
    const above = encodeLatest({ data: latestOf(9n, put), maxWriteTs: 9n });
    above.writeBigUInt64BE(8n, 2);
    assert.throws(() => decodeLatest(reseal(above)), /above max_write_ts/);
    const badFlag = encodeLatest({ data: null, maxWriteTs: 9n });
    badFlag[1] = 2;
    assert.throws(() => decodeLatest(reseal(badFlag)), /has_data/);
    const rollback = encodeLatest({ data: latestOf(9n, put), maxWriteTs: 9n });
    const w = encodeWrite(rollbackWrite(5n, 'protected'));
    const forged = Buffer.concat([rollback.subarray(0, 18), w, Buffer.alloc(4)]);
    assert.throws(() => decodeLatest(reseal(forged)), /holds a rollback/);
    assert.throws(() => encodeLatest({ data: latestOf(9n, put), maxWriteTs: 8n }), /above max_write_ts/);
  });

  it('version 1 still decodes, with maxWriteTs unknown: TS_MAX, the bound that is always true', () => {
    fc.assert(fc.property(tsArb, dataWriteArb, (commitTs, write) => {
      assert.deepEqual(decodeLatest(encodeV1(commitTs, write)), { data: { commitTs, write }, maxWriteTs: TS_MAX });
      const bytes = encodeV1(commitTs, write);
      for (let bit = 8; bit < bytes.length * 8; bit++) {
        const flipped = Buffer.from(bytes);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(() => decodeLatest(flipped), isCorruption, `v1 bit ${bit}`);
      }
    }), { numRuns: 40 });
    // A writer keeps the max: a key with a version-1 record stays on the fallback, correct.
    const v1 = decodeLatest(encodeV1(9n, { kind: 'put', startTs: 5n, shortValue: null, hasOverlappedRollback: false, isProtected: false }));
    assert.equal(latestAfterWrite(v1, 20n, rollbackWrite(20n, 'protected')), null);
  });

  it('latestAfterWrite: a running max; data only from put/delete; null when nothing changes', () => {
    const put: Write = { kind: 'put', startTs: 10n, shortValue: null, hasOverlappedRollback: false, isProtected: false };
    const first = latestAfterWrite(null, 7n, rollbackWrite(7n, 'protected'));
    assert.deepEqual(first, { data: null, maxWriteTs: 7n });
    const withPut = latestAfterWrite(first, 11n, put);
    assert.deepEqual(withPut, { data: latestOf(11n, put), maxWriteTs: 11n });
    assert.equal(latestAfterWrite(withPut, 9n, rollbackWrite(9n, 'unprotected')), null, 'a rollback below the bound changes nothing');
    assert.deepEqual(latestAfterWrite(withPut, 30n, { ...put, kind: 'lock', startTs: 25n }), { data: latestOf(11n, put), maxWriteTs: 30n });
  });
});

/** A snapshot counting its engine calls. */
class Counting implements Snapshot {
  gets = 0;
  multiGets = 0;
  scans = 0;
  constructor(private readonly inner: Snapshot) {}
  get(key: Buffer): Promise<Buffer | null> {
    this.gets++;
    return this.inner.get(key);
  }
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    this.multiGets++;
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

/** Runs a command on the live read view (no concurrency in these tests), applies it, and answers its result and engine calls. */
async function counted<T>(h: TxnHarness, command: (s: Snapshot) => Promise<CommandOutput<T>>): Promise<{ result: T | { kind: 'error' }; calls: string }> {
  const view = new Counting(h.engine.readView());
  const out = await command(view);
  await h.engine.write(out.modifications, { sync: false });
  return { result: out.result, calls: `${view.gets} get, ${view.multiGets} multiGet, ${view.scans} scan` };
}

async function latestOfKey(h: TxnHarness, key: string): Promise<LatestRecord | null> {
  return decodeLatestEntry(await h.engine.get(latestKey(k(key))));
}

const put = (key: string, value = 'v'): Mutation => ({ kind: 'put', key: k(key), value: k(value) });
const prewriteArgs = (mutations: Mutation[], startTs: bigint) => ({ mutations, primary: mutations[0]!.key, startTs, lockTtlMs: 3000, txnSize: mutations.length, minCommitTs: 0n });

for (const kind of ENGINE_KINDS) {
  describe(`maxWriteTs (${kind})`, () => {
    it('rollbacks written at older timestamps do not lower maxWriteTs; a prewrite between them still conflicts', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustRollback('a', 50n); // a protected rollback of a transaction that never prewrote a
      assert.deepEqual(await latestOfKey(h, 'a'), { data: latestOf(11n, { kind: 'put', startTs: 10n, shortValue: k('v1'), hasOverlappedRollback: false, isProtected: false }), maxWriteTs: 50n });
      await h.mustRollback('a', 30n); // older than the bound
      await h.mustRollback('a', 11n); // at a commit ts: the overlapped flag
      assert.equal((await latestOfKey(h, 'a'))?.maxWriteTs, 50n);
      // A transaction at 40 must see the rollback at 50 (TiKV: any newer write conflicts).
      const conflict = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 40n)));
      assert.equal((conflict.result as { code?: string }).code, 'WriteConflict');
      assert.equal(conflict.calls, '1 get, 1 multiGet, 0 scan', 'the newest record found by a point get at the bound');
      // Our own rollback at 30 found the same way.
      const ownRollback = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 30n)));
      assert.equal((ownRollback.result as { code?: string }).code, 'WriteConflict', 'the rollback at 50 is newer than ours at 30');
      const fresh = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 51n)));
      assert.deepEqual([fresh.result.kind, fresh.calls], ['prewritten', '0 get, 1 multiGet, 0 scan']);
    }));

    it('a commit below a newer rollback keeps the bound; lock-kind commits raise it without data', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustRollback('a', 40n); // cleanup of another transaction while ours holds the lock
      await h.mustCommit('a', 10n, 20n);
      const latest = await latestOfKey(h, 'a');
      assert.deepEqual([latest?.data?.commitTs, latest?.maxWriteTs], [20n, 40n]);
      await h.mustPrewriteLock('b', 'b', 10n);
      await h.mustCommit('b', 10n, 15n);
      assert.deepEqual(await latestOfKey(h, 'b'), { data: null, maxWriteTs: 15n });
      const conflict = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('b')], 12n)));
      assert.equal((conflict.result as { code?: string }).code, 'WriteConflict', 'a lock record is a write a prewrite must see');
    }));

    it('prewrite at exactly maxWriteTs is not decided by the bound: our own rollback there answers AlreadyRolledBack', () => withHarness(kind, async (h) => {
      await h.mustRollback('a', 20n);
      const r = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 20n)));
      assert.equal((r.result as { code?: string }).code, 'AlreadyRolledBack');
      assert.equal(r.calls, '1 get, 1 multiGet, 0 scan');
      const retried = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 21n)));
      assert.deepEqual([retried.result.kind, retried.calls], ['prewritten', '0 get, 1 multiGet, 0 scan']);
    }));

    it('a prewrite retried after its commit answers alreadyCommitted by one point get; a commit retry reads its slot', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      const again = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 10n)));
      assert.deepEqual([again.result, again.calls], [{ kind: 'prewritten', outcomes: [{ kind: 'alreadyCommitted', commitTs: 11n }], committedAt: null }, '1 get, 1 multiGet, 0 scan']);
      const commitAgain = await counted(h, (s) => commitCommand(s, { keys: [k('a')], startTs: 10n, commitTs: 11n }));
      assert.deepEqual([commitAgain.result.kind, commitAgain.calls], ['committed', '0 get, 1 multiGet, 0 scan']);
      // Never prewritten here and nothing at or after start_ts: TxnLockNotFound without a walk.
      const never = await counted(h, (s) => commitCommand(s, { keys: [k('a')], startTs: 30n, commitTs: 31n }));
      assert.deepEqual([(never.result as { code?: string }).code, never.calls], ['TxnLockNotFound', '0 get, 1 multiGet, 0 scan']);
    }));

    it('a 2-key transfer: prewrite and commit each one multiGet, no iterator; rollback of keys never written too', () => withHarness(kind, async (h) => {
      for (const key of ['a', 'b']) {
        await h.mustPrewritePut(key, '100', key, 10n);
        await h.mustCommit(key, 10n, 11n);
      }
      const pre = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a', '90'), put('b', '110')], 20n)));
      assert.deepEqual([pre.result.kind, pre.calls], ['prewritten', '0 get, 1 multiGet, 0 scan']);
      const com = await counted(h, (s) => commitCommand(s, { keys: [k('a'), k('b')], startTs: 20n, commitTs: 21n }));
      assert.deepEqual([com.result.kind, com.calls], ['committed', '0 get, 1 multiGet, 0 scan']);
      const rb = await counted(h, (s) => batchRollbackCommand(s, { keys: [k('c'), k('a')], startTs: 30n }));
      assert.deepEqual([rb.result.kind, rb.calls], ['rolledBack', '0 get, 1 multiGet, 0 scan']);
      assert.deepEqual(await latestOfKey(h, 'c'), { data: null, maxWriteTs: 30n });
      await h.mustGet('a', 40n, '90');
    }));

    it('GC keeps the bound (an upper bound), clears the data of a collected delete, drops the record of an emptied key', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustRollback('a', 20n);
      await h.mustPrewriteDelete('b', 'b', 10n);
      await h.mustCommit('b', 10n, 11n);
      await h.mustRollback('b', 50n); // above the safe point: stays
      await h.mustRollback('c', 20n); // c: only a rollback, collected
      await h.gc(30n);
      const a = await latestOfKey(h, 'a');
      assert.deepEqual([a?.data?.commitTs, a?.maxWriteTs], [11n, 20n], 'the rollback at 20 is gone, the bound stays');
      assert.equal(await h.loadWrite('a', 20n), null);
      assert.deepEqual(await latestOfKey(h, 'b'), { data: null, maxWriteTs: 50n }, 'b: delete collected, rollback at 50 left');
      assert.equal(await latestOfKey(h, 'c'), null, 'c: no record left');
      const fresh = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a'), put('b'), put('c')], 60n)));
      assert.deepEqual([fresh.result.kind, fresh.calls], ['prewritten', '0 get, 1 multiGet, 0 scan']);
      await h.mustRollback(['a', 'b', 'c'], 60n);
      // After GC at 100 the rollback at 60 is gone and a's bound (60) lies above every record
      // left. It only costs a fallback: a prewrite at 55 (≤ safe point, which the GC precondition
      // excludes) misses at the bound, seeks, and finds the newest record, put@11 < 55 — no
      // conflict, as the seek alone says.
      await h.gc(100n);
      assert.equal((await latestOfKey(h, 'a'))?.maxWriteTs, 60n);
      const stale = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('a')], 55n)));
      assert.deepEqual([stale.result.kind, stale.calls], ['prewritten', '1 get, 1 multiGet, 1 scan']);
    }));

    it('GC\'s latched step leaves a record alone when a write landed after the unlatched batch read the key', () => withHarness(kind, async (h) => {
      await h.mustRollback('c', 20n);
      const batch = await gcCommand(h.engine.readView(), { safePoint: 30n, startKey: k(''), endKey: k(''), keyLimit: 10 });
      assert.ok(batch.result.kind === 'collected');
      assert.deepEqual(batch.result.droppedLatests.map((d) => `${d.key.toString()}@${d.commitTs}`), ['c@null']);
      await h.mustRollback('c', 40n); // a rollback lands before the batch applies
      await h.engine.write(batch.modifications, { sync: false });
      const latched = await h.run([k('c')], (s) => gcLatestCommand(s, batch.result.kind === 'collected' ? batch.result.droppedLatests : []));
      assert.ok(latched.kind === 'collected');
      assert.equal(latched.droppedCount, 0);
      assert.deepEqual(await latestOfKey(h, 'c'), { data: null, maxWriteTs: 40n });
      const r = await counted(h, (s) => prewriteCommand(s, prewriteArgs([put('c')], 35n)));
      assert.equal((r.result as { code?: string }).code, 'WriteConflict');
    }));
  });
}
