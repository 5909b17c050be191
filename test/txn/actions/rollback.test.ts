// batchRollback and cleanup (TiKV actions/cleanup.rs, commands/rollback.rs).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, k, ts, withHarness, assertErr, assertOk } from '../helpers.js';
import { defaultKey } from '../../../common/pure.js';

for (const kind of ENGINE_KINDS) {
  describe(`rollback and cleanup (${kind})`, () => {
    it('removes the lock and its long value, writes a protected rollback on the primary', () => withHarness(kind, async (h) => {
      const long = Buffer.alloc(1000, 7);
      await h.mustPrewritePut('p', long, 'p', 10n);
      await h.mustPrewritePut('s', 'v', 'p', 10n);
      await h.mustRollback(['p', 's'], 10n);
      await h.mustUnlocked('p');
      await h.mustUnlocked('s');
      assert.equal(await h.engine.get(defaultKey(k('p'), 10n)), null);
      const primary = await h.mustWritten('p', 10n, 10n, 'rollback');
      assert.equal(primary.isProtected, true);
      assert.equal((await h.mustWritten('s', 10n, 10n, 'rollback')).isProtected, false);
    }));

    it('a late prewrite or commit after the rollback fails', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustRollback('a', 10n);
      await h.mustPrewritePutErr('a', 'v', 'a', 10n, 'AlreadyRolledBack');
      await h.mustCommitErr('a', 10n, 11n, 'TxnLockNotFound');
      // Rolling back a key never prewritten leaves a record too: the prewrite may be in flight.
      await h.mustRollback('b', 10n);
      await h.mustGetRollback('b', 10n);
      await h.mustPrewritePutErr('b', 'v', 'a', 10n, 'AlreadyRolledBack');
    }));

    it('refuses to roll back a committed transaction (AlreadyCommitted)', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustRollbackErr('a', 10n, 'AlreadyCommitted');
      await h.mustGet('a', 12n, 'v');
    }));

    it('does not touch another transaction\'s lock', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', 10n);
      await h.mustRollback('a', 5n);
      await h.mustLocked('a', 10n);
      await h.mustGetRollback('a', 5n);
    }));

    it('cleanup rolls back only an expired lock, else KeyIsLocked', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v', 'a', ts(100), { lockTtlMs: 50 });
      assertErr(await h.cleanup('a', ts(100), ts(120)), 'KeyIsLocked', 'cleanup alive');
      await h.mustLocked('a', ts(100));
      assertOk(await h.cleanup('a', ts(100), ts(151)), 'cleanup expired');
      await h.mustUnlocked('a');
      await h.mustGetRollback('a', ts(100));
      assertOk(await h.cleanup('a', ts(100), ts(151)), 'cleanup again');
      // current_ts 0: regardless of TTL.
      await h.mustPrewritePut('b', 'v', 'b', ts(200), { lockTtlMs: 50 });
      assertOk(await h.cleanup('b', ts(200), 0n), 'cleanup b');
      await h.mustUnlocked('b');
    }));
  });
}
