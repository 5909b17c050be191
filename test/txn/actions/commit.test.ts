// Commit rules (TiKV actions/commit.rs and commands/commit.rs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, withHarness, assertErr } from '../helpers.js';

for (const kind of ENGINE_KINDS) {
  describe(`commit (${kind})`, () => {
    it('commits its own lock into a write record; idempotent when already committed', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 15n); // runs twice
      await h.mustUnlocked('a');
      const write = await h.mustWritten('a', 10n, 15n, 'put');
      assert.equal(write.shortValue?.toString(), 'v');
      await h.mustGet('a', 15n, 'v');
      await h.mustGetNone('a', 14n);
      // A retry with another commit_ts still finds the record: ok, and nothing new is written.
      await h.mustCommit('a', 10n, 17n);
      assert.equal(await h.loadWrite('a', 17n), null);
    }));

    it('TxnLockNotFound when rolled back', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustRollback('a', 10n);
      await h.mustCommitErr('a', 10n, 15n, 'TxnLockNotFound');
      await h.mustGetNone('a', 20n);
    }));

    it('TxnLockNotFound when the lock is missing or belongs to another transaction', () => withHarness(kind, async (h) => {
      await h.mustCommitErr('a', 10n, 15n, 'TxnLockNotFound');
      await h.mustPrewritePut('a', 'v', 'a', 12n);
      await h.mustCommitErr('a', 10n, 15n, 'TxnLockNotFound');
      await h.mustLocked('a', 12n);
    }));

    it('requires commit_ts > start_ts', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommitErr('a', 10n, 10n, 'InvalidArgument');
      await h.mustCommitErr('a', 10n, 9n, 'InvalidArgument');
      await h.mustLocked('a', 10n);
    }));

    it("requires commit_ts ≥ the lock's min_commit_ts (CommitTsExpired)", () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n, { minCommitTs: 30n });
      const error = await h.mustCommitErr('a', 10n, 29n, 'CommitTsExpired');
      assert.ok(error.code === 'CommitTsExpired' && error.minCommitTs === 30n);
      await h.mustCommit('a', 10n, 30n);
    }));

    it('keeps a rollback that sits at its commit_ts as the overlapped flag', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustRollback('a', 20n); // another txn (start_ts 20) rolled back on a
      await h.mustCommit('a', 10n, 20n);
      const write = await h.mustWritten('a', 10n, 20n, 'put');
      assert.equal(write.hasOverlappedRollback, true);
      await h.mustPrewritePutErr('a', 'x', 'a', 20n, 'AlreadyRolledBack');
    }));

    it('commits several keys; one missing lock fails the whole command', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', '1', 'a', 10n);
      await h.mustPrewritePut('b', '2', 'a', 10n);
      assertErr(await h.commit(['a', 'b', 'c'], 10n, 11n), 'TxnLockNotFound', 'commit a,b,c');
      await h.mustLocked('a', 10n);
      await h.mustCommit(['a', 'b'], 10n, 11n);
      await h.mustGet('b', 12n, '2');
    }));
  });
}
