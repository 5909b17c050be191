// Prewrite rules (TiKV actions/prewrite.rs), on the in-memory engine and on real RocksDB.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, k, withHarness, assertErr, assertOk } from '../helpers.js';
import { SHORT_VALUE_BYTES_MAX } from '../../../txn/index.js';
import { defaultKey } from '../../../common/pure.js';

for (const kind of ENGINE_KINDS) {
  describe(`prewrite (${kind})`, () => {
    it('locks the key; a retried prewrite of the same transaction is a no-op', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      const lock = await h.mustLocked('a', 10n);
      assert.equal(lock.kind, 'put');
      assert.equal(lock.shortValue?.toString(), 'v1');
      assert.equal(lock.minCommitTs, 11n, 'min_commit_ts defaults to start_ts + 1');
      const again = assertOk(await h.prewrite([{ kind: 'put', key: k('a'), value: k('v1') }], k('a'), 10n), 'retry');
      assert.deepEqual(again.kind === 'prewritten' ? again.outcomes.map((o) => o.kind) : [], ['alreadyLocked']);
    }));

    it("another transaction's lock → KeyIsLocked carrying the lock", () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'p', 10n);
      const error = await h.mustPrewritePutErr('a', 'v2', 'a', 20n, 'KeyIsLocked');
      assert.ok(error.code === 'KeyIsLocked' && error.lock.startTs === 10n && error.lock.primary.toString() === 'p');
      await h.mustPrewritePutErr('a', 'v2', 'a', 5n, 'KeyIsLocked');
      await h.mustLocked('a', 10n);
    }));

    it('a write with commit_ts ≥ start_ts → WriteConflict with the conflicting commit ts', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 20n);
      const error = await h.mustPrewritePutErr('a', 'v2', 'a', 15n, 'WriteConflict');
      assert.ok(error.code === 'WriteConflict' && error.conflictCommitTs === 20n && error.conflictStartTs === 10n);
      await h.mustPrewritePutErr('a', 'v2', 'a', 20n, 'WriteConflict'); // commit_ts = start_ts conflicts too
      await h.mustPrewritePut('a', 'v2', 'a', 21n);
      await h.mustUnlocked('b');
    }));

    it('a newer rollback record of another transaction also conflicts', () => withHarness(kind, async (h) => {
      await h.mustRollback('a', 30n);
      await h.mustPrewritePutErr('a', 'v', 'a', 25n, 'WriteConflict');
    }));

    it('refused once a rollback record exists for this start_ts', () => withHarness(kind, async (h) => {
      await h.mustRollback('a', 10n);
      await h.mustPrewritePutErr('a', 'v', 'a', 10n, 'AlreadyRolledBack');
      await h.mustUnlocked('a');
      // …also when the rollback is only an overlapped flag on another transaction's commit record.
      await h.mustPrewritePut('b', 'x', 'b', 5n);
      await h.mustCommit('b', 5n, 40n);
      await h.mustRollback('b', 40n);
      const write = await h.mustWritten('b', 5n, 40n, 'put');
      assert.equal(write.hasOverlappedRollback, true);
      await h.mustPrewritePutErr('b', 'y', 'b', 40n, 'AlreadyRolledBack');
      await h.mustGet('b', 50n, 'x');
    }));

    it('short values inline, long values in the default CF', () => withHarness(kind, async (h) => {
      const short = Buffer.alloc(SHORT_VALUE_BYTES_MAX, 1);
      const long = Buffer.alloc(SHORT_VALUE_BYTES_MAX + 1, 2);
      await h.mustPrewritePut('s', short, 's', 10n);
      await h.mustPrewritePut('l', long, 's', 10n);
      assert.equal((await h.mustLocked('s', 10n)).shortValue?.length, SHORT_VALUE_BYTES_MAX);
      assert.equal((await h.mustLocked('l', 10n)).shortValue, null);
      assert.deepEqual(await h.engine.get(defaultKey(k('l'), 10n)), long);
      assert.equal(await h.engine.get(defaultKey(k('s'), 10n)), null);
      await h.mustCommit(['s', 'l'], 10n, 11n);
      assert.deepEqual(assertOk(await h.get('l', 12n), 'get').value, long);
      assert.deepEqual(assertOk(await h.get('s', 12n), 'get').value, short);
    }));

    it('delete and lock mutations; readers pass lock-kind locks', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewriteDelete('a', 'a', 20n);
      await h.mustPrewriteLock('b', 'a', 20n);
      await h.mustGetErr('a', 25n);
      await h.mustGetNone('b', 25n); // lock-kind lock does not block
      await h.mustCommit(['a', 'b'], 20n, 21n);
      await h.mustGetNone('a', 30n);
      await h.mustGet('a', 15n, 'v');
      await h.mustWritten('b', 20n, 21n, 'lock');
    }));

    it('checkNotExists: KeyAlreadyExists for a live key, passes after a delete, writes no lock', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      assertErr(await h.prewrite([{ kind: 'checkNotExists', key: k('a') }], k('a'), 20n), 'KeyAlreadyExists', 'check a');
      const passed = assertOk(await h.prewrite([{ kind: 'checkNotExists', key: k('x') }], k('x'), 20n), 'check x');
      assert.equal(passed.kind, 'prewritten');
      await h.mustUnlocked('x');
      await h.mustPrewriteDelete('a', 'a', 30n);
      await h.mustCommit('a', 30n, 31n);
      await h.mustRollback('a', 35n); // a rollback record newest: check looks past it
      assertOk(await h.prewrite([{ kind: 'checkNotExists', key: k('a') }], k('a'), 40n), 'check after delete');
    }));

    it('insert: a put that needs the key absent — KeyAlreadyExists on a live key, a put lock on an absent or deleted one, idempotent', () => withHarness(kind, async (h) => {
      const insert = (key: string, value: string | Buffer, startTs: bigint) => h.prewrite([{ kind: 'insert', key: k(key), value: typeof value === 'string' ? k(value) : value }], k(key), startTs);
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      assertErr(await insert('a', 'n', 20n), 'KeyAlreadyExists', 'insert over a live key');
      await h.mustUnlocked('a');
      const fresh = assertOk(await insert('x', 'new', 20n), 'insert x');
      assert.deepEqual(fresh.kind === 'prewritten' ? fresh.outcomes.map((o) => o.kind) : [], ['prewritten']);
      const lock = await h.mustLocked('x', 20n);
      assert.equal(lock.kind, 'put', 'an insert locks as a put');
      assert.equal(lock.shortValue?.toString(), 'new');
      // A retry finds its own lock: no second check, nothing written again.
      const again = assertOk(await insert('x', 'new', 20n), 'retry');
      assert.deepEqual(again.kind === 'prewritten' ? again.outcomes.map((o) => o.kind) : [], ['alreadyLocked']);
      await h.mustCommit('x', 20n, 21n);
      await h.mustGet('x', 22n, 'new');
      await h.mustWritten('x', 20n, 21n, 'put');
      // Deleted (and a rollback newest on top): the key may be inserted again, with a long value.
      await h.mustPrewriteDelete('a', 'a', 30n);
      await h.mustCommit('a', 30n, 31n);
      await h.mustRollback('a', 35n);
      const long = Buffer.alloc(SHORT_VALUE_BYTES_MAX + 1, 7);
      assertOk(await insert('a', long, 40n), 'insert after a delete');
      assert.deepEqual(await h.engine.get(defaultKey(k('a'), 40n)), long);
      await h.mustCommit('a', 40n, 41n);
      assert.deepEqual(assertOk(await h.get('a', 42n), 'get').value, long);
      // A commit at or after start_ts is a conflict before it is an existing key.
      assertErr(await insert('a', 'late', 41n), 'WriteConflict', 'insert below a newer commit');
      assertErr(await insert('a', 'later', 50n), 'KeyAlreadyExists', 'insert over the inserted key');
    }));

    it('insert sees a live put under newer lock and rollback records (the newest put/delete decides, not the newest record)', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewriteLock('a', 'a', 20n);
      await h.mustCommit('a', 20n, 21n);
      await h.mustWritten('a', 20n, 21n, 'lock');
      assertErr(await h.prewrite([{ kind: 'insert', key: k('a'), value: k('n') }], k('a'), 30n), 'KeyAlreadyExists', 'insert under a lock record');
      await h.mustRollback('a', 40n);
      assertErr(await h.prewrite([{ kind: 'insert', key: k('a'), value: k('n') }], k('a'), 50n), 'KeyAlreadyExists', 'insert under a rollback record');
      await h.mustUnlocked('a');
    }));

    it('is all-or-nothing: one locked key → nothing is written; every locked key is reported', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('b', 'x', 'b', 5n);
      await h.mustPrewritePut('c', 'x', 'b', 5n);
      const result = assertOk(await h.prewrite([
        { kind: 'put', key: k('a'), value: k('1') }, { kind: 'put', key: k('b'), value: k('2') }, { kind: 'put', key: k('c'), value: k('3') },
      ], k('a'), 10n), 'prewrite');
      assert.equal(result.kind, 'locked');
      assert.equal(result.kind === 'locked' ? result.errors.length : 0, 2);
      await h.mustUnlocked('a');
    }));

    it('a prewrite retried after its commit answers alreadyCommitted', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 12n);
      const again = assertOk(await h.prewrite([{ kind: 'put', key: k('a'), value: k('v') }], k('a'), 10n), 'retry');
      assert.deepEqual(again.kind === 'prewritten' ? again.outcomes.map((o) => o.kind) : [], ['alreadyCommitted']);
      await h.mustUnlocked('a');
    }));

    it('min_commit_ts is kept when above start_ts', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n, { minCommitTs: 50n });
      assert.equal((await h.mustLocked('a', 10n)).minCommitTs, 50n);
    }));
  });
}
