// Snapshot reads: get / batchGet / scan at start_ts, and which locks they may pass.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, k, withHarness, assertErr, assertOk, type TxnHarness } from '../helpers.js';
import { batchGetCommand, type Mutation, SCAN_BATCH_ENTRIES, scanCommand } from '../../../txn/index.js';
import { type Ts } from '../../../common/index.js';

async function doScan(h: TxnHarness, start: string, end: string, readTs: Ts, limit: number, isReverse: boolean, bypass?: Set<Ts>) {
  const snapshot = await h.engine.snapshot({ isReverseEnabled: isReverse });
  try {
    return await scanCommand(snapshot, { startKey: k(start), endKey: k(end), readTs, limit, isReverse, bypassLocks: bypass });
  } finally {
    await snapshot.release();
  }
}

function keysOf(result: Awaited<ReturnType<typeof doScan>>): string[] {
  return assertOk(result, 'scan').pairs.map((p) => `${p.key.toString()}=${p.value.toString()}`);
}

for (const kind of ENGINE_KINDS) {
  describe(`reads (${kind})`, () => {
    it('get returns the latest commit ≤ read ts, skipping rollbacks and lock records', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustRollback('a', 15n);
      await h.mustPrewriteLock('a', 'a', 16n);
      await h.mustCommit('a', 16n, 17n);
      await h.mustPrewritePut('a', 'v2', 'a', 20n);
      await h.mustCommit('a', 20n, 21n);
      await h.mustGetNone('a', 10n);
      await h.mustGet('a', 11n, 'v1');
      await h.mustGet('a', 18n, 'v1');
      await h.mustGet('a', 21n, 'v2');
    }));

    it('a lock with ts ≤ read ts blocks; newer locks, own locks, lock-kind locks and bypassed locks do not', () => withHarness(kind, async (h) => {
      await h.mustPrewritePut('a', 'v1', 'a', 10n);
      await h.mustCommit('a', 10n, 11n);
      await h.mustPrewritePut('a', 'v2', 'a', 20n);
      const error = await h.mustGetErr('a', 25n);
      assert.ok(error.code === 'KeyIsLocked' && error.lock.startTs === 20n && error.lock.key.toString() === 'a');
      await h.mustGetErr('a', 20n + 1n);
      await h.mustGet('a', 19n, 'v1'); // lock newer than the read
      await h.mustGet('a', 20n, 'v1'); // its own lock: reads the committed value
      assert.equal(assertOk(await h.get('a', 25n, new Set([20n])), 'bypass').value?.toString(), 'v1');
    }));

    it('batchGet reads many keys at once and reports a blocking lock', () => withHarness(kind, async (h) => {
      await h.mustPrewrite([{ kind: 'put', key: k('a'), value: k('1') }, { kind: 'put', key: k('b'), value: k('2') }], k('a'), 10n);
      await h.mustCommit(['a', 'b'], 10n, 11n);
      const pairs = assertOk(await h.read((s) => batchGetCommand(s, [k('a'), k('b'), k('c')], 12n)), 'batchGet');
      assert.deepEqual(pairs.pairs.map((p) => `${p.key.toString()}=${p.value.toString()}`), ['a=1', 'b=2']);
      await h.mustPrewritePut('c', '3', 'c', 12n);
      assertErr(await h.read((s) => batchGetCommand(s, [k('a'), k('c')], 13n)), 'KeyIsLocked', 'batchGet');
    }));

    it('scan forward and reverse with limits, at a ts, over many versions', () => withHarness(kind, async (h) => {
      for (let i = 0; i < 6; i++) {
        const key = `k${i}`;
        for (let v = 0; v < 3; v++) {
          const startTs = BigInt(10 + v * 10);
          await h.mustPrewritePut(key, `${key}v${v}`, key, startTs);
          await h.mustCommit(key, startTs, startTs + 1n);
        }
      }
      await h.mustPrewriteDelete('k2', 'k2', 40n);
      await h.mustCommit('k2', 40n, 41n);
      assert.deepEqual(keysOf(await doScan(h, '', '', 25n, 100, false)), ['k0=k0v1', 'k1=k1v1', 'k2=k2v1', 'k3=k3v1', 'k4=k4v1', 'k5=k5v1']);
      assert.deepEqual(keysOf(await doScan(h, 'k1', 'k4', 50n, 100, false)), ['k1=k1v2', 'k3=k3v2']);
      assert.deepEqual(keysOf(await doScan(h, '', '', 50n, 2, false)), ['k0=k0v2', 'k1=k1v2']);
      assert.deepEqual(keysOf(await doScan(h, '', '', 50n, 3, true)), ['k5=k5v2', 'k4=k4v2', 'k3=k3v2']);
      assert.deepEqual(keysOf(await doScan(h, 'k1', 'k4', 15n, 100, true)), ['k3=k3v0', 'k2=k2v0', 'k1=k1v0']);
      assert.deepEqual(keysOf(await doScan(h, '', '', 5n, 100, false)), []);
    }));

    it('scans past every internal page (SCAN_BATCH_ENTRIES) of versions and non-blocking locks, forward and reverse, limits at the page edges, judged against a model; a blocking lock beyond the first page still stops it', () => withHarness(kind, async (h) => {
      // Every key committed at 11; every third again at 21; every fifth deleted at 31; every
      // seventh rewritten at 151 (newer than the read: its visible version is found in the write
      // CF); every even one locked at 200 (newer than the read: it does not block). Read at 100.
      const B = SCAN_BATCH_ENTRIES;
      const n = 2 * B + 40;
      const key = (i: number): string => `s${String(i).padStart(4, '0')}`;
      const all = Array.from({ length: n }, (_, i) => i);
      const writeAll = async (which: readonly number[], startTs: Ts, mutation: (i: number) => Mutation, commit: boolean): Promise<void> => {
        if (which.length === 0) return;
        await h.mustPrewrite(which.map(mutation), k(key(which[0]!)), startTs);
        if (commit) await h.mustCommit(which.map(key), startTs, startTs + 1n);
      };
      const put = (tag: string) => (i: number): Mutation => ({ kind: 'put', key: k(key(i)), value: k(`${key(i)}${tag}`) });
      await writeAll(all, 10n, put('a'), true);
      await writeAll(all.filter((i) => i % 3 === 0), 20n, put('b'), true);
      await writeAll(all.filter((i) => i % 5 === 0), 30n, (i) => ({ kind: 'delete', key: k(key(i)) }), true);
      await writeAll(all.filter((i) => i % 7 === 0), 150n, put('c'), true);
      await writeAll(all.filter((i) => i % 2 === 0), 200n, put('d'), false);
      const visible = all.filter((i) => i % 5 !== 0).map((i) => `${key(i)}=${key(i)}${i % 3 === 0 ? 'b' : 'a'}`);
      const model = (from: number, to: number, limit: number, isReverse: boolean): string[] => {
        const inRange = visible.filter((p) => p >= key(from) && p < key(to));
        return (isReverse ? inRange.reverse() : inRange).slice(0, limit);
      };
      const limits = [1, B - 1, B, B + 1, 2 * B, n, n + 10];
      const ranges: [number, number][] = [[0, n], [3, n - 2], [B - 1, B + 2], [1, 2 * B + 1]];
      for (const isReverse of [false, true]) {
        for (const limit of limits) {
          for (const [from, to] of ranges) {
            const got = keysOf(await doScan(h, key(from), key(to), 100n, limit, isReverse));
            assert.deepEqual(got, model(from, to, limit, isReverse), `${isReverse ? 'reverse' : 'forward'} [${from}, ${to}) limit ${limit}`);
          }
        }
      }
      // A blocking lock (start_ts 50 ≤ the read) on a visible key past the first pages.
      const blocked = n - 5;
      assert.ok(blocked % 2 === 1 && blocked % 5 !== 0, 'the blocked key has no lock yet and is visible');
      await h.mustPrewritePut(key(blocked), 'x', key(blocked), 50n);
      const before = visible.filter((p) => p < key(blocked)).length;
      assertErr(await doScan(h, key(0), key(n), 100n, n, false), 'KeyIsLocked', 'a forward scan reaching it');
      assert.deepEqual(keysOf(await doScan(h, key(0), key(n), 100n, before, false)), model(0, n, before, false), 'a forward scan stopping just before it');
      assertErr(await doScan(h, key(0), key(n), 100n, before + 1, false), 'KeyIsLocked', 'a forward scan whose last key is it');
      assertErr(await doScan(h, key(0), key(n), 100n, n, true), 'KeyIsLocked', 'a reverse scan reaching it');
      assert.deepEqual(keysOf(await doScan(h, key(0), key(blocked), 100n, n, true)), model(0, blocked, n, true), 'a reverse scan below it');
    }));

    it('scan fails on a blocking lock inside the covered range only', () => withHarness(kind, async (h) => {
      for (const key of ['a', 'b', 'c']) {
        await h.mustPrewritePut(key, key, key, 10n);
        await h.mustCommit(key, 10n, 11n);
      }
      await h.mustPrewritePut('c', 'x', 'c', 20n);
      await h.mustPrewritePut('bb', 'x', 'bb', 20n); // a lock on a key without any write
      assertErr(await doScan(h, '', '', 30n, 10, false), 'KeyIsLocked', 'full scan');
      assert.deepEqual(keysOf(await doScan(h, '', '', 30n, 2, false)), ['a=a', 'b=b'], 'stops before the locks');
      assertErr(await doScan(h, '', '', 30n, 3, false), 'KeyIsLocked', 'covers bb');
      assert.deepEqual(keysOf(await doScan(h, '', '', 15n, 10, false)), ['a=a', 'b=b', 'c=c'], 'locks newer than the read');
      assert.deepEqual(keysOf(await doScan(h, '', '', 30n, 10, false, new Set([20n]))), ['a=a', 'b=b', 'c=c']);
      assertErr(await doScan(h, '', '', 30n, 1, true), 'KeyIsLocked', 'reverse covers c');
    }));
  });
}
