// GC (TiKV gc.rs): drop what no reader at or after the safe point can see.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, k, withHarness } from '../helpers.js';
import { defaultKey } from '../../../common/pure.js';
import { SHORT_VALUE_BYTES_MAX } from '../../../txn/index.js';

for (const kind of ENGINE_KINDS) {
  describe(`gc (${kind})`, () => {
    it('keeps the newest visible version at the safe point, drops older ones and their long values', () => withHarness(kind, async (h) => {
      const long = (c: number): Buffer => Buffer.alloc(SHORT_VALUE_BYTES_MAX + 50, c);
      await h.mustPrewritePut('a', long(1), 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewritePut('a', long(2), 'a', 20n);
      await h.mustCommit('a', 20n, 21n);
      await h.mustRollback('a', 25n);
      await h.mustPrewritePut('a', 'v3', 'a', 30n);
      await h.mustCommit('a', 30n, 31n);
      const deleted = await h.gc(26n);
      assert.equal(deleted, 2, 'the put at 11 and the rollback at 25');
      assert.equal(await h.loadWrite('a', 11n), null);
      assert.equal(await h.engine.get(defaultKey(k('a'), 10n)), null);
      assert.equal(await h.loadWrite('a', 25n), null);
      await h.mustWritten('a', 20n, 21n, 'put');
      assert.deepEqual(await h.engine.get(defaultKey(k('a'), 20n)), long(2));
      await h.mustGet('a', 26n, long(2).toString());
      await h.mustGet('a', 31n, 'v3');
      assert.equal(await h.gc(26n), 0, 'gc is idempotent');
    }));

    it('drops a delete tombstone that is the newest version below the safe point, and all older', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewriteDelete('a', 'a', 20n);
      await h.mustCommit('a', 20n, 21n);
      await h.mustPrewriteLock('a', 'a', 22n);
      await h.mustCommit('a', 22n, 23n);
      assert.equal(await h.gc(30n), 3);
      await h.mustGetNone('a', 30n);
      assert.equal(await h.loadWrite('a', 21n), null);
    }));

    it('leaves versions above the safe point alone, and other keys in and out of range', () => withHarness(kind, async (h) => {
      for (const key of ['a', 'b', 'c']) {
        await h.mustPrewritePut(key, `${key}1`, key, 10n);
        await h.mustCommit(key, 10n, 11n);
        await h.mustPrewritePut(key, `${key}2`, key, 20n);
        await h.mustCommit(key, 20n, 21n);
      }
      assert.equal(await h.gc(15n, 'b', 'c'), 0, 'nothing older than the newest ≤ 15');
      assert.equal(await h.gc(25n, 'b', 'c'), 1);
      await h.mustWritten('a', 10n, 11n, 'put');
      await h.mustWritten('c', 10n, 11n, 'put');
      assert.equal(await h.loadWrite('b', 11n), null);
      await h.mustGet('b', 25n, 'b2');
      assert.equal(await h.gc(25n), 2, 'a and c, paging through keys 2 at a time');
    }));
  });
}
