// checkTxnStatus, resolveLock, txnHeartBeat and scanLock: how readers get past a crashed or slow writer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, k, ts, withHarness, assertErr, assertOk } from '../helpers.js';
import { TS_MAX } from '../../../common/index.js';
import { findTxnLocksCommand, resolveLockCommand, scanLockCommand } from '../../../txn/index.js';

for (const kind of ENGINE_KINDS) {
  describe(`checkTxnStatus (${kind})`, () => {
    it('committed (with its ts), after the primary committed', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('p', 'v', 'p', ts(100));
      await h.mustCommit('p', ts(100), ts(101));
      const status = assertOk(await h.checkTxnStatus('p', ts(100), ts(102), ts(102)), 'status');
      assert.deepEqual(status, { kind: 'committed', commitTs: ts(101) });
    }));

    it('locked with the remaining TTL while alive; pushes min_commit_ts above the caller', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('p', 'v', 'p', ts(100), { lockTtlMs: 100 });
      const status = assertOk(await h.checkTxnStatus('p', ts(100), ts(130), ts(140)), 'status');
      assert.ok(status.kind === 'locked');
      assert.equal(status.ttlRemainingMs, 60);
      assert.equal(status.isMinCommitTsPushed, true);
      assert.equal(status.lock.minCommitTs, ts(130) + 1n);
      assert.equal((await h.mustLocked('p', ts(100))).minCommitTs, ts(130) + 1n);
      // The reader at ts(130) may now read past the lock; the writer must commit above it.
      await h.mustGetNone('p', ts(130));
      await h.mustGetErr('p', ts(131) + 1n);
      await h.mustCommitErr('p', ts(100), ts(120), 'CommitTsExpired');
      await h.mustCommit('p', ts(100), ts(130) + 1n);
      // A caller at TS_MAX (a resolver) never pushes.
      await h.mustPrewritePut('q', 'v', 'q', ts(200), { lockTtlMs: 100 });
      const noPush = assertOk(await h.checkTxnStatus('q', ts(200), TS_MAX, ts(210)), 'status');
      assert.ok(noPush.kind === 'locked' && !noPush.isMinCommitTsPushed && noPush.lock.minCommitTs === ts(200) + 1n);
    }));

    it('rolls back a primary lock whose TTL expired, with a protected rollback', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('p', 'v', 'p', ts(100), { lockTtlMs: 10 });
      await h.mustPrewritePut('s', 'v', 'p', ts(100), { lockTtlMs: 10 });
      assert.equal(assertOk(await h.checkTxnStatus('p', ts(100), ts(105), ts(110)), 'at ttl').kind, 'locked');
      assert.deepEqual(assertOk(await h.checkTxnStatus('p', ts(100), ts(120), ts(120)), 'expired'), { kind: 'rolledBack', reason: 'ttlExpired' });
      await h.mustUnlocked('p');
      assert.equal((await h.mustWritten('p', ts(100), ts(100), 'rollback')).isProtected, true);
      await h.mustCommitErr('p', ts(100), ts(121), 'TxnLockNotFound');
      assert.deepEqual(assertOk(await h.checkTxnStatus('p', ts(100), ts(120), ts(120)), 'again'), { kind: 'rolledBack', reason: 'alreadyRolledBack' });
      // The secondary follows via resolveLock(commit_ts 0).
      const resolved = assertOk(await h.resolveLock(ts(100), 0n, [k('s')]), 'resolve');
      assert.equal(resolved.resolvedCount, 1);
      await h.mustUnlocked('s');
      await h.mustGetRollback('s', ts(100));
    }));

    it('missing lock: rolls back (protected) or answers TxnNotFound, per MissingLockAction', () => withHarness(kind, async (h) => {
      assertErr(await h.checkTxnStatus('p', ts(100), ts(120), ts(120), 'error'), 'TxnNotFound', 'error action');
      assert.equal(await h.loadWrite('p', ts(100)), null);
      assert.deepEqual(assertOk(await h.checkTxnStatus('p', ts(100), ts(120), ts(120), 'rollback'), 'rollback action'), { kind: 'rolledBack', reason: 'lockNotExist' });
      await h.mustPrewritePutErr('p', 'v', 'p', ts(100), 'AlreadyRolledBack');
    }));
  });

  describe(`resolveLock, txnHeartBeat, scanLock (${kind})`, () => {
    it('commits every lock of a transaction over a range, leaves others alone', () => withHarness(kind, async (h) => {
      await h.mustPrewrite([
        { kind: 'put', key: k('a'), value: k('1') }, { kind: 'put', key: k('b'), value: k('2') }, { kind: 'delete', key: k('c') },
        { kind: 'put', key: k('e'), value: k('5') }, { kind: 'lock', key: k('f') },
      ], k('a'), 10n);
      await h.mustPrewritePut('d', '4', 'd', 11n);
      await h.mustCommit('a', 10n, 20n);
      for (let attempt = 0; attempt < 2; attempt++) {
        const r = assertOk(await h.resolveLockOverRange(10n, 20n, '', ''), 'resolve');
        assert.equal(r.resolvedCount, attempt === 0 ? 4 : 0, 'b c e f, in batches of 2 keys');
      }
      await h.mustGet('b', 20n, '2');
      await h.mustGetNone('c', 20n);
      await h.mustGet('e', 20n, '5');
      await h.mustWritten('f', 10n, 20n, 'lock');
      await h.mustLocked('d', 11n);
    }));

    it('a range resolve re-reads each lock under latches: a newer lock found there is left alone', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('k', 'v1', 'p', 10n);
      const found = assertOk(await h.read((s) => findTxnLocksCommand(s, { startTs: 10n, startKey: k(''), endKey: k(''), limit: 10 })), 'read phase');
      assert.deepEqual(found.keys.map((key) => key.toString()), ['k']);
      await h.mustRollback('k', 10n); // another resolver got there first
      await h.mustPrewritePut('k', 'v2', 'k', 20n); // and a new transaction locked the key
      const r = assertOk(await h.run(found.keys, (s) => resolveLockCommand(s, { startTs: 10n, commitTs: 0n, keys: found.keys })), 'write phase');
      assert.equal(r.resolvedCount, 0);
      await h.mustLocked('k', 20n);
    }));

    it('rejects commit_ts ≤ start_ts (0 means roll back)', () => withHarness(kind, async (h) => {
      assertErr(await h.resolveLock(10n, 10n, [k('a')]), 'InvalidArgument', 'resolve');
    }));

    it('heart beat raises the TTL, never lowers it; TxnNotFound without the lock', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('p', 'v', 'p', ts(100), { lockTtlMs: 100 });
      assert.equal(assertOk(await h.heartBeat('p', ts(100), 500), 'hb').lockTtlMs, 500);
      assert.equal(assertOk(await h.heartBeat('p', ts(100), 200), 'hb').lockTtlMs, 500);
      assert.equal((await h.mustLocked('p', ts(100))).ttlMs, 500);
      assert.equal(assertOk(await h.checkTxnStatus('p', ts(100), ts(300), ts(300)), 'alive').kind, 'locked');
      assertErr(await h.heartBeat('p', ts(99), 500), 'TxnNotFound', 'hb other');
    }));

    it('scanLock returns locks with start_ts ≤ max_ts in the range, up to the limit', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', '1', 'a', 10n);
      await h.mustPrewritePut('b', '1', 'b', 20n);
      await h.mustPrewritePut('c', '1', 'c', 30n);
      await h.mustPrewritePut('d', '1', 'd', 5n);
      const scan = (maxTs: bigint, start: string, end: string, limit: number) =>
        h.read((s) => scanLockCommand(s, { maxTs, startKey: k(start), endKey: k(end), limit }));
      const all = assertOk(await scan(25n, '', '', 10), 'scan');
      assert.deepEqual(all.locks.map((l) => l.key.toString()), ['a', 'b', 'd']);
      const limited = assertOk(await scan(100n, 'b', 'd', 10), 'scan');
      assert.deepEqual(limited.locks.map((l) => `${l.key.toString()}@${l.startTs}`), ['b@20', 'c@30']);
      assert.equal(assertOk(await scan(100n, '', '', 1), 'scan').locks.length, 1);
    }));
  });
}
