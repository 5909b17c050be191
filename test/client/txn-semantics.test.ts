// Transactions of the client library (issue F6) against a real cluster (1 PD + 3 stores as
// processes): snapshot isolation as a user meets it. Lost updates are impossible under concurrent
// increments; a transaction reads its own buffered puts and deletes through get, batchGet and
// scan (limits count merged rows, not stored ones); snapshots are taken at the start ts, not at
// the first read, and stay repeatable; the second of two overlapping writers of a key fails with
// WriteConflictError and leaves no trace (no value, no lock); write skew is allowed; rollback
// leaves nothing; timestamps order commits; old snapshots see old values at exact boundaries;
// invalid arguments are refused. A seeded random workload from several clients is then judged
// by a serial-history checker (test/support/client-history.ts).
//
// Choices where the spec is silent (what a TiKV user expects): a transaction's snapshot is fixed
// at begin() (its start ts), not at its first read; `maxRetries: n` allows n retries after the
// first attempt; a reverse scan covers [start, end) newest key first.
//
// Replay the random workload: FLOTILLA_CLIENT_SEED=<seed> node --test dist/test/client/txn-semantics.test.js
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, CommitUnknownError, FlotillaError, InvalidArgumentError, TxnAbortedError, WriteConflictError } from '../../client/index.js';
import { BATCH_GET_KEYS_MAX } from '../../client/snapshot.js';
import { TXN_MUTATIONS_MAX } from '../../client/transaction.js';
import { createRng, type Rng } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { b, ClientTestEnv, collect, CONDITION_TIMEOUT_MS, keyOf, PercolatorProbe, prefixEnd, seedFrom, settleWithin, type Txn } from '../support/client-cluster.js';
import { checkSnapshotIsolation, type TxnOp, type TxnRecord } from '../support/client-history.js';

const SEED = seedFrom('FLOTILLA_CLIENT_SEED');
const REPLAY = `seed ${SEED}; replay: FLOTILLA_CLIENT_SEED=${SEED} node --test dist/test/client/txn-semantics.test.js`;
const VALUE_BYTES_MAX = 6 * 1024 * 1024;
const KEY_BYTES_MAX = 8 * 1024;
const TS_MAX = (1n << 64n) - 1n;

type Bytes = Uint8Array | string;

const str = (v: Buffer | null): string | null => (v === null ? null : v.toString('latin1'));

async function scanPairs(items: AsyncIterable<{ key: Buffer; value: Buffer }>): Promise<[string, string][]> {
  return (await collect(items)).map((e) => [e.key.toString('latin1'), e.value.toString('latin1')]);
}

async function commitPuts(client: Client, pairs: [Bytes, Bytes | null][]): Promise<bigint> {
  const txn = await client.begin();
  for (const [k, v] of pairs) {
    if (v === null) txn.delete(k);
    else txn.put(k, v);
  }
  return txn.commit();
}

async function rejectsWith(what: string, run: () => unknown, errorClass: new (...args: never[]) => FlotillaError, code: string): Promise<void> {
  await assert.rejects(settleWithin(Promise.resolve().then(run), 60_000, what), (err: unknown) => {
    assert.ok(err instanceof errorClass, `${what}: expected ${errorClass.name}, got ${String(err)}`);
    assert.ok(err instanceof FlotillaError);
    assert.equal(err.code, code, what);
    return true;
  }, what);
}

describe('client transactions: snapshot isolation (1 PD + 3 stores)', { timeout: 20 * 60_000 }, () => {
  let env: ClientTestEnv;
  let client: Client;
  let other: Client;
  let probe: PercolatorProbe;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 3 });
    client = env.client(0);
    other = env.client(1);
    probe = new PercolatorProbe(env.cluster);
  });
  after(async () => {
    await env?.stop();
  });

  /** Waits until no lock remains in [prefix, prefixEnd) (of any txn, or of the one start ts given). */
  async function waitNoLocks(prefix: string, startTs?: bigint): Promise<void> {
    await waitFor(`no locks left under ${prefix}`, async () => {
      const locks = await probe.scanLocks(b(prefix), prefixEnd(prefix), TS_MAX);
      const mine = locks.filter((l) => startTs === undefined || BigInt(l.lockVersion) === startTs);
      return mine.length === 0 ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
  }

  it('lost update: concurrent increments via withTransaction end at the number of committed increments', async () => {
    const key = 's/lu/counter';
    await client.withTransaction(async (txn) => txn.put(key, '0'));
    const workersPerClient = 2;
    const incrementsPerWorker = 8;
    let attempts = 0;
    let conflictsGivenUp = 0;
    let unknown = 0;
    const committedValues: number[] = [];
    const worker = async (c: Client): Promise<void> => {
      for (let i = 0; i < incrementsPerWorker; i++) {
        try {
          const written = await c.withTransaction(async (txn) => {
            attempts++;
            const current = await txn.get(key);
            assert.ok(current !== null, 'the counter vanished');
            const next = Number(current.toString()) + 1;
            txn.put(key, String(next));
            return next;
          }, { maxRetries: 100 });
          committedValues.push(written);
        } catch (err) {
          if (err instanceof WriteConflictError || err instanceof TxnAbortedError) conflictsGivenUp++;
          else if (err instanceof CommitUnknownError) unknown++;
          else throw err;
        }
      }
    };
    await Promise.all(env.clients.flatMap((c) => Array.from({ length: workersPerClient }, () => worker(c))));
    const final = Number((await (await client.snapshot()).get(key))?.toString());
    const committed = committedValues.length;
    const total = env.clients.length * workersPerClient * incrementsPerWorker;
    assert.equal(committed + conflictsGivenUp + unknown, total);
    assert.ok(final >= committed && final <= committed + unknown, `counter ${final}; ${committed} committed, ${unknown} unknown, ${conflictsGivenUp} gave up`);
    // Each committed increment wrote a value no other committed increment wrote (else one was lost).
    assert.equal(new Set(committedValues).size, committed, `committed increments wrote repeated values: ${[...committedValues].sort((x, y) => x - y).join(',')}`);
    for (const v of committedValues) assert.ok(v >= 1 && v <= final, `an increment committed ${v}, the counter ends at ${final}`);
    // A run that proves nothing fails: conflicts must have happened and most increments committed.
    assert.ok(attempts > committed + conflictsGivenUp + unknown, `no transaction was retried (${attempts} attempts): the increments never conflicted`);
    assert.ok(committed >= total / 2, `only ${committed} of ${total} increments committed`);
  });

  it('withTransaction returns the callback\'s result, retries a conflict with a fresh transaction, gives up after maxRetries, and does not commit when the callback throws', async () => {
    await commitPuts(client, [['s/wt/k', '0']]);
    // A conflict forced on the first attempt only: the second attempt commits.
    const startTss: bigint[] = [];
    const result = await client.withTransaction(async (txn) => {
      startTss.push(txn.startTs);
      const v = await txn.get('s/wt/k');
      if (startTss.length === 1) await commitPuts(other, [['s/wt/k', 'from-other']]);
      txn.put('s/wt/k', `${str(v)}+mine`);
      return `attempt ${startTss.length}`;
    }, { maxRetries: 3 });
    assert.equal(result, 'attempt 2');
    assert.equal(startTss.length, 2);
    assert.ok(startTss[1]! > startTss[0]!, 'a retry runs in a new transaction with a newer start ts');
    assert.equal(str(await (await client.snapshot()).get('s/wt/k')), 'from-other+mine');

    // Conflicts on every attempt: maxRetries 1 = two attempts, then WriteConflictError.
    let calls = 0;
    await rejectsWith('withTransaction conflicting on every attempt', () => client.withTransaction(async (txn) => {
      calls++;
      await txn.get('s/wt/k');
      await commitPuts(other, [['s/wt/k', `other-${calls}`]]);
      txn.put('s/wt/k', 'never');
    }, { maxRetries: 1 }), WriteConflictError, 'WriteConflict');
    assert.equal(calls, 2);
    assert.equal(str(await (await client.snapshot()).get('s/wt/k')), 'other-2');

    // A callback that throws: the error comes back as is, once, and nothing is written.
    const boom = new Error('boom');
    let thrownCalls = 0;
    await assert.rejects(client.withTransaction(async (txn) => {
      thrownCalls++;
      txn.put('s/wt/thrown', 'x');
      throw boom;
    }), (err: unknown) => err === boom);
    assert.equal(thrownCalls, 1);
    assert.equal(await (await client.snapshot()).get('s/wt/thrown'), null);
    await waitNoLocks('s/wt/');
  });

  it('reads its own writes: get, batchGet and scan merge buffered puts and deletes; limits count merged rows', async () => {
    const mKeys = Array.from({ length: 30 }, (_, i) => `s/ryw/m/${String(i).padStart(2, '0')}`);
    await commitPuts(client, [['s/ryw/a', '1'], ['s/ryw/b', '2'], ['s/ryw/c', '3'], ['s/ryw/d', '4'], ...mKeys.map((k): [string, string] => [k, 'm'])]);
    const txn = await client.begin();
    txn.put('s/ryw/a', 'A'); // overwrite a stored key
    txn.delete('s/ryw/b'); // delete a stored key
    txn.put('s/ryw/e', 'E'); // a new key
    txn.delete('s/ryw/x'); // delete an absent key
    txn.delete('s/ryw/c');
    txn.put('s/ryw/c', 'C2'); // delete a stored key, then put it again
    txn.put('s/ryw/d', 'D1');
    txn.delete('s/ryw/d'); // put, then delete
    txn.put('s/ryw/empty', ''); // an empty value is a value, not a delete
    const gets = await Promise.all(['a', 'b', 'c', 'd', 'e', 'x', 'empty'].map((k) => txn.get(`s/ryw/${k}`)));
    assert.deepEqual(gets.map(str), ['A', null, 'C2', null, 'E', null, '']);
    const batch = await txn.batchGet(['s/ryw/e', 's/ryw/b', 's/ryw/a', 's/ryw/x', 's/ryw/c', 's/ryw/d', 's/ryw/a', 's/ryw/empty']);
    assert.deepEqual(batch.map(str), ['E', null, 'A', null, 'C2', null, 'A', '']);
    const merged: [string, string][] = [['s/ryw/a', 'A'], ['s/ryw/c', 'C2'], ['s/ryw/e', 'E'], ['s/ryw/empty', '']];
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/', 's/ryw/m/')), merged);
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/', 's/ryw/m/', { reverse: true })), [...merged].reverse());
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/', 's/ryw/m/', { limit: 2 })), merged.slice(0, 2), 'a buffered delete does not use up the limit');
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/', 's/ryw/m/', { limit: 2, reverse: true })), [...merged].reverse().slice(0, 2));
    // 25 of 30 stored rows deleted in the buffer, one of them put back: a limit of 3 must reach past them.
    for (const k of mKeys.slice(0, 25)) txn.delete(k);
    txn.put('s/ryw/m/10', 'new');
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/m/', prefixEnd('s/ryw/m/'), { limit: 3 })), [['s/ryw/m/10', 'new'], ['s/ryw/m/25', 'm'], ['s/ryw/m/26', 'm']]);
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/m/', prefixEnd('s/ryw/m/'), { limit: 3, reverse: true })), [['s/ryw/m/29', 'm'], ['s/ryw/m/28', 'm'], ['s/ryw/m/27', 'm']]);
    assert.deepEqual(await scanPairs(txn.scan('s/ryw/m/', prefixEnd('s/ryw/m/'))), [['s/ryw/m/10', 'new'], ...mKeys.slice(25).map((k): [string, string] => [k, 'm'])]);
    // Nobody else sees the buffer before the commit.
    assert.equal(str(await (await other.snapshot()).get('s/ryw/a')), '1');
    assert.equal(await (await other.snapshot()).get('s/ryw/e'), null);
    const commitTs = await txn.commit();
    assert.ok(commitTs > txn.startTs);
    const after = await other.snapshot();
    assert.deepEqual(await scanPairs(after.scan('s/ryw/', 's/ryw/m/')), merged);
    assert.deepEqual(await scanPairs(after.scan('s/ryw/m/', prefixEnd('s/ryw/m/'))), [['s/ryw/m/10', 'new'], ...mKeys.slice(25).map((k): [string, string] => [k, 'm'])]);
    assert.deepEqual((await after.batchGet(['s/ryw/b', 's/ryw/d', 's/ryw/x'])).map(str), [null, null, null]);
  });

  it('a buffered write keeps the bytes given to put(), whatever the caller does to its buffers before the commit', async () => {
    // put() returns at once and the write waits in the buffer until commit(): the buffer must hold
    // the key and value as they were at the call, not the caller's (reusable) Buffer. TiKV's client
    // copies both into its membuffer; a Node user reuses Buffers and typed arrays.
    const key = Buffer.from('s/alias/k1');
    const value = Buffer.from('value-1');
    const typed = new Uint8Array(Buffer.from('value-2'));
    const txn = await client.begin();
    txn.put(key, value);
    txn.put('s/alias/k2', typed);
    key.write('s/alias/XX'); // same length, in place
    value.fill(0x21);
    typed.fill(0x21);
    assert.deepEqual([str(await txn.get('s/alias/k1')), str(await txn.get('s/alias/k2')), str(await txn.get('s/alias/XX'))], ['value-1', 'value-2', null], 'the transaction reads what was put');
    await txn.commit();
    const stored = await (await other.snapshot()).batchGet(['s/alias/k1', 's/alias/k2', 's/alias/XX']);
    assert.deepEqual(stored.map(str), ['value-1', 'value-2', null], 'the commit writes what was put');
  });

  it('repeatable snapshot reads: a transaction or snapshot sees the values of its start ts after later commits, even if its first read comes after them', async () => {
    await commitPuts(client, [['s/rep/k', 'v1'], ['s/rep/j', 'j1']]);
    const early = await client.begin();
    const lazy = await client.begin(); // reads nothing until after the other commit
    const snap = await client.snapshot();
    assert.equal(str(await early.get('s/rep/k')), 'v1');
    assert.equal(str(await snap.get('s/rep/k')), 'v1');
    const laterCommit = await commitPuts(other, [['s/rep/k', 'v2'], ['s/rep/j', null], ['s/rep/new', 'n']]);
    assert.ok(laterCommit > early.startTs && laterCommit > lazy.startTs);
    for (const [name, reader] of [['early txn', early], ['lazy txn', lazy], ['snapshot', snap]] as const) {
      assert.equal(str(await reader.get('s/rep/k')), 'v1', `${name} get`);
      assert.deepEqual((await reader.batchGet(['s/rep/new', 's/rep/j', 's/rep/k'])).map(str), [null, 'j1', 'v1'], `${name} batchGet`);
      assert.deepEqual(await scanPairs(reader.scan('s/rep/', prefixEnd('s/rep/'))), [['s/rep/j', 'j1'], ['s/rep/k', 'v1']], `${name} scan`);
      assert.deepEqual(await scanPairs(reader.scan('s/rep/', prefixEnd('s/rep/'), { reverse: true })), [['s/rep/k', 'v1'], ['s/rep/j', 'j1']], `${name} reverse scan`);
    }
    await early.commit(); // read-only: nothing to conflict with
    await lazy.rollback();
    const fresh = await client.snapshot();
    assert.deepEqual(await scanPairs(fresh.scan('s/rep/', prefixEnd('s/rep/'))), [['s/rep/k', 'v2'], ['s/rep/new', 'n']]);
  });

  it('write-write conflict: the second of two overlapping writers fails with WriteConflictError and has no effect', async () => {
    // First to commit wins, whichever began first.
    for (const order of ['older commits first', 'younger commits first'] as const) {
      const key = `s/ww/${order === 'older commits first' ? 'k1' : 'k2'}`;
      await commitPuts(client, [[key, 'base']]);
      const older = await client.begin();
      // A gap of more than one timestamp between them, as on any machine where the two begins
      // fall in different milliseconds: a one-phase commit at the older's start_ts + 1 then lies
      // below the younger's start_ts, and only a commit ts fetched after commit() began keeps
      // the two in conflict (found on CI, where they did fall in different milliseconds).
      let younger = await other.begin();
      while (younger.startTs <= older.startTs + 1n) {
        await younger.rollback();
        younger = await other.begin();
      }
      older.put(key, 'older');
      younger.put(key, 'younger');
      const [first, second, winner] = order === 'older commits first' ? [older, younger, 'older'] : [younger, older, 'younger'];
      await first.commit();
      await rejectsWith(`${order}: the second commit`, () => second.commit(), WriteConflictError, 'WriteConflict');
      assert.equal(str(await (await client.snapshot()).get(key)), winner, order);
    }
    // A delete conflicts with a put the same way.
    await commitPuts(client, [['s/ww/del', 'base']]);
    const deleter = await client.begin();
    const putter = await other.begin();
    deleter.delete('s/ww/del');
    putter.put('s/ww/del', 'put');
    await putter.commit();
    await rejectsWith('a delete after a concurrent put committed', () => deleter.commit(), WriteConflictError, 'WriteConflict');
    assert.equal(str(await (await client.snapshot()).get('s/ww/del')), 'put');

    // A loser with several keys, conflicting on one: none of its keys is written and no lock stays behind.
    const loser = await client.begin();
    const blocker = await other.begin();
    for (const k of ['a', 'b', 'c', 'd']) loser.put(`s/ww/multi/${k}`, `loser-${k}`);
    blocker.put('s/ww/multi/c', 'blocker');
    await blocker.commit();
    await rejectsWith('a multi-key loser', () => loser.commit(), WriteConflictError, 'WriteConflict');
    assert.deepEqual((await (await client.snapshot()).batchGet(['s/ww/multi/a', 's/ww/multi/b', 's/ww/multi/c', 's/ww/multi/d'])).map(str), [null, null, 'blocker', null]);
    await waitNoLocks('s/ww/multi/', loser.startTs);
    // A transaction that begins after a commit does not conflict with it.
    const after = await client.begin();
    after.put('s/ww/multi/c', 'after');
    after.put('s/ww/multi/a', 'after');
    await after.commit();
    assert.equal(str(await (await other.snapshot()).get('s/ww/multi/c')), 'after');

    // Disjoint writes both commit, in either order.
    const t1 = await client.begin();
    const t2 = await other.begin();
    t1.put('s/ww/disjoint/1', 'one');
    t2.put('s/ww/disjoint/2', 'two');
    await t2.commit();
    await t1.commit();
    assert.deepEqual((await (await client.snapshot()).batchGet(['s/ww/disjoint/1', 's/ww/disjoint/2'])).map(str), ['one', 'two']);

    // Snapshot isolation allows write skew: reads are not validated at commit.
    await commitPuts(client, [['s/ww/skew/x', '1'], ['s/ww/skew/y', '1']]);
    const s1 = await client.begin();
    const s2 = await other.begin();
    assert.deepEqual((await s1.batchGet(['s/ww/skew/x', 's/ww/skew/y'])).map(str), ['1', '1']);
    assert.deepEqual((await s2.batchGet(['s/ww/skew/x', 's/ww/skew/y'])).map(str), ['1', '1']);
    s1.put('s/ww/skew/x', '0');
    s2.put('s/ww/skew/y', '0');
    await s1.commit();
    await s2.commit();
    await waitNoLocks('s/ww/');
  });

  it('a large transaction (100,000 keys, past every per-request bound) commits and reads back; a large one that conflicts on its last key leaves no value and no lock', async () => {
    const n = 100_000;
    const keyAt = (i: number): string => `s/large/${String(i).padStart(6, '0')}`;
    const big = await client.begin();
    for (let i = 0; i < n; i++) big.put(keyAt(i), `v${i}`);
    const commitTs = await settleWithin(big.commit(), 10 * 60_000, `a ${n}-key commit`);
    assert.ok(commitTs > big.startTs);
    const snap = await other.snapshot();
    let count = 0;
    for await (const e of snap.scan('s/large/', prefixEnd('s/large/'), { keyOnly: true })) {
      if (e.key.toString() !== keyAt(count)) assert.fail(`row ${count} of the large transaction is ${e.key.toString()}`);
      count++;
    }
    assert.equal(count, n);
    const sample = [0, 1, 2047, 2048, 4095, 4096, 50_000, n - 1];
    assert.deepEqual((await snap.batchGet(sample.map(keyAt))).map(str), sample.map((i) => `v${i}`));

    // A large loser: 5,000 keys and, last in key order, one that a small transaction commits first.
    const loser = await client.begin();
    for (let i = 0; i < 5_000; i++) loser.put(`s/large2/${String(i).padStart(5, '0')}`, 'loser');
    loser.put('s/large2/zz', 'loser');
    await commitPuts(other, [['s/large2/zz', 'winner']]);
    await rejectsWith('a large transaction conflicting on its last key', () => loser.commit(), WriteConflictError, 'WriteConflict');
    await waitNoLocks('s/large2/', loser.startTs);
    assert.deepEqual(await scanPairs((await client.snapshot()).scan('s/large2/', prefixEnd('s/large2/'))), [['s/large2/zz', 'winner']]);
  });

  it('rollback leaves nothing: no value, no lock, and the keys are free for the next writer', async () => {
    await commitPuts(client, [['s/rb/a', '1']]);
    const txn = await client.begin();
    assert.equal(str(await txn.get('s/rb/a')), '1');
    txn.put('s/rb/a', '2');
    txn.put('s/rb/b', 'x');
    txn.delete('s/rb/a');
    txn.put('s/rb/c', 'y'.repeat(1000));
    await txn.rollback();
    const snap = await other.snapshot();
    assert.deepEqual((await snap.batchGet(['s/rb/a', 's/rb/b', 's/rb/c'])).map(str), ['1', null, null]);
    assert.deepEqual(await probe.scanLocks(b('s/rb/'), prefixEnd('s/rb/'), TS_MAX), []);
    const next = await other.begin();
    next.put('s/rb/b', 'next');
    await next.commit();
    assert.equal(str(await (await client.snapshot()).get('s/rb/b')), 'next');
    // A read-only transaction rolls back too.
    const readOnly = await client.begin();
    await readOnly.get('s/rb/a');
    await readOnly.rollback();
  });

  it('timestamps: commit ts > start ts; a transaction that begins after a commit, on any client, starts after it and sees it', async () => {
    let previousCommit = 0n;
    for (let i = 0; i < 12; i++) {
      const c = env.client(i % env.clients.length);
      const txn = await c.begin();
      assert.equal(typeof txn.startTs, 'bigint');
      assert.ok(txn.startTs > previousCommit, `txn ${i} on client ${i % env.clients.length} started at ${txn.startTs}, not after the previous commit ${previousCommit}`);
      assert.equal(str(await txn.get('s/ts/k')), i === 0 ? null : String(i - 1));
      txn.put('s/ts/k', String(i));
      const commitTs = await txn.commit();
      assert.equal(typeof commitTs, 'bigint');
      assert.ok(commitTs > txn.startTs, `commit ts ${commitTs} not above start ts ${txn.startTs}`);
      previousCommit = commitTs;
    }
    for (const c of env.clients) assert.ok((await c.currentTimestamp()) > previousCommit);
  });

  it('a snapshot at an older ts sees the values of that ts, at exact commit-ts boundaries', async () => {
    const c1 = await commitPuts(client, [['s/old/k', 'v1'], ['s/old/j', 'j1']]);
    const c2 = await commitPuts(other, [['s/old/k', 'v2']]);
    const c3 = await commitPuts(client, [['s/old/k', null], ['s/old/j', 'j3']]);
    assert.ok(c1 < c2 && c2 < c3);
    const cases: [bigint, string | null, string | null][] = [
      [c1 - 1n, null, null],
      [c1, 'v1', 'j1'],
      [c2 - 1n, 'v1', 'j1'],
      [c2, 'v2', 'j1'],
      [c3 - 1n, 'v2', 'j1'],
      [c3, null, 'j3'],
    ];
    for (const [ts, k, j] of cases) {
      const snap = await env.client(2).snapshot(ts);
      assert.equal(str(await snap.get('s/old/k')), k, `get k at ${ts}`);
      assert.deepEqual((await snap.batchGet(['s/old/j', 's/old/k'])).map(str), [j, k], `batchGet at ${ts}`);
      const want: [string, string][] = [];
      if (j !== null) want.push(['s/old/j', j]);
      if (k !== null) want.push(['s/old/k', k]);
      assert.deepEqual(await scanPairs(snap.scan('s/old/', prefixEnd('s/old/'))), want, `scan at ${ts}`);
    }
    // The default snapshot is fresh.
    assert.deepEqual((await (await client.snapshot()).batchGet(['s/old/j', 's/old/k'])).map(str), ['j3', null]);
  });

  it('refuses invalid arguments in transactions and snapshots with InvalidArgumentError (at N+1, not at N); nothing is committed', async () => {
    const txn = await client.begin();
    await rejectsWith('txn.get with an empty key', () => txn.get(''), InvalidArgumentError, 'InvalidArgument');
    await rejectsWith('txn.batchGet with an empty key', () => txn.batchGet(['s/inv/a', '']), InvalidArgumentError, 'InvalidArgument');
    await rejectsWith('txn.scan with end < start', () => collect(txn.scan('s/inv/b', 's/inv/a')), InvalidArgumentError, 'InvalidArgument');
    await rejectsWith('txn.scan with end = start', () => collect(txn.scan('s/inv/a', 's/inv/a')), InvalidArgumentError, 'InvalidArgument');
    await txn.rollback();
    const snap = await client.snapshot();
    await rejectsWith('snapshot.get with an empty key', () => snap.get(''), InvalidArgumentError, 'InvalidArgument');
    await rejectsWith(`snapshot.get with a ${KEY_BYTES_MAX + 1}-byte key`, () => snap.get(Buffer.alloc(KEY_BYTES_MAX + 1, 1)), InvalidArgumentError, 'InvalidArgument');
    // A bad put is refused at put() or at commit(); either way the transaction's other writes do not land.
    const bad: [string, (t: Txn) => void][] = [
      ['an empty key', (t) => t.put('', 'v')],
      ['an empty key (delete)', (t) => t.delete('')],
      [`a ${KEY_BYTES_MAX + 1}-byte key`, (t) => t.put(Buffer.alloc(KEY_BYTES_MAX + 1, 2), 'v')],
      [`a ${VALUE_BYTES_MAX + 1}-byte value`, (t) => t.put('s/inv/big', Buffer.alloc(VALUE_BYTES_MAX + 1, 3))],
    ];
    for (const [what, write] of bad) {
      const t = await client.begin();
      t.put('s/inv/companion', what);
      await rejectsWith(`txn with ${what}`, async () => {
        write(t);
        await t.commit();
      }, InvalidArgumentError, 'InvalidArgument');
      await t.rollback().catch(() => undefined); // it may already be finished; only its effect matters
    }
    assert.deepEqual((await (await client.snapshot()).batchGet(['s/inv/companion', 's/inv/big'])).map(str), [null, null]);
    // N: the largest key and value commit and read back.
    const maxKey = keyOf('s/inv/', ...Array<number>(KEY_BYTES_MAX - 's/inv/'.length).fill(0x6b));
    const maxValue = Buffer.alloc(VALUE_BYTES_MAX, 0x76);
    maxValue[0] = 0x00;
    await commitPuts(client, [[maxKey, 'at the key limit'], ['s/inv/max-value', maxValue]]);
    const got = await (await other.snapshot()).batchGet([maxKey, 's/inv/max-value']);
    assert.equal(str(got[0]!), 'at the key limit');
    assert.ok(got[1] !== null && got[1]!.equals(maxValue), `a ${VALUE_BYTES_MAX}-byte value read back as ${got[1]?.length ?? 'null'} bytes`);
    await commitPuts(client, [[maxKey, null], ['s/inv/max-value', null]]);
  });

  it(`a batchGet past one request's ${BATCH_GET_KEYS_MAX} keys reads every key; a transaction holds ${TXN_MUTATIONS_MAX} buffered writes and refuses one more`, async () => {
    const keys = Array.from({ length: BATCH_GET_KEYS_MAX + 60 }, (_, i) => `s/many/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 700) await commitPuts(client, keys.slice(i, i + 700).map((k): [string, string] => [k, `v${k.slice(7)}`]));
    const asked = [...keys, 's/many/absent-1', ...keys.slice(0, 5), 's/many/absent-2'];
    const got = await (await other.snapshot()).batchGet(asked);
    const missing = asked.filter((k, i) => (k.includes('absent') ? got[i] !== null : str(got[i]!) !== `v${k.slice(7)}`));
    assert.deepEqual(missing, [], `${missing.length} of ${asked.length} keys read wrong`);
    const txn = await client.begin();
    try {
      const txnGot = await txn.batchGet(keys);
      assert.equal(txnGot.filter((v) => v === null).length, 0);
      // The buffer's bound: N writes are taken (a key written again counts once), N + 1 are refused.
      for (let i = 0; i < TXN_MUTATIONS_MAX; i++) txn.put(`m${i}`, '');
      txn.put('m0', 'again');
      assert.throws(() => txn.put('s/many/one-more', 'x'), (e: unknown) => e instanceof InvalidArgumentError && /at most 1000000 keys/.test(e.message));
    } finally {
      await txn.rollback();
    }
  });

  it(`random small transactions from several clients match a serial history in commit-ts order (${REPLAY})`, async (ctx) => {
    const rng = createRng(SEED);
    const prefix = 's/rand/';
    // A small alphabet forces conflicts; binary keys, keys that prefix each other, an 8-byte group.
    const alphabet = [[0x61], [0x61, 0x61], [0x00], [0xff, 0xff], [0x62], Array<number>(8).fill(0x63)].map((t) => keyOf(prefix, ...t));
    const coverage = new Map<string, number>();
    const count = (what: string, n = 1): void => void coverage.set(what, (coverage.get(what) ?? 0) + n);
    /** A value of a drawn size class; as many of its first bytes as fit name who wrote it (`tag`). */
    const value = (r: Rng, tagText: string): Buffer => {
      const tag = Buffer.from(`#${tagText}#`);
      const kind = r.nextInt(6);
      const len = [0, 1 + r.nextInt(16), 255, 256, 1024 + r.nextInt(3 * 1024), tag.length + r.nextInt(8)][kind]!;
      count(['value:empty', 'value:binary', 'value:255', 'value:256', 'value:long', 'value:tagged'][kind]!);
      const v = Buffer.alloc(len);
      for (let i = 0; i < len; i++) v[i] = r.nextInt(256);
      if (kind === 1) v[0] = r.chance(0.5) ? 0x00 : 0xff;
      tag.copy(v, 0, 0, Math.min(tag.length, len));
      return v;
    };
    const pickKey = (r: Rng): Buffer => alphabet[r.nextInt(alphabet.length)]!;
    const range = (r: Rng): [Buffer, Buffer] => {
      const bounds = [b(prefix), ...alphabet, prefixEnd(prefix)].sort((x, y) => Buffer.compare(x, y));
      const i = r.nextInt(bounds.length - 1);
      const j = i + 1 + r.nextInt(bounds.length - 1 - i);
      return [bounds[i]!, bounds[j]!];
    };

    // The state before the workload, committed in one transaction.
    const initial = new Map<string, Buffer>();
    const setup = await client.begin();
    for (const k of alphabet) {
      if (rng.chance(0.3)) continue;
      const v = value(rng, `init.${k.toString('hex')}`);
      setup.put(k, v);
      initial.set(k.toString('hex'), v);
    }
    await setup.commit();

    const records: TxnRecord[] = [];
    const workersPerClient = 2;
    const txnsPerWorker = 25;
    const runTxn = async (c: Client, r: Rng, id: string): Promise<void> => {
      const txn = await c.begin();
      const ops: TxnOp[] = [];
      const record = (outcome: TxnRecord['outcome']): void => void records.push({ id, startTs: txn.startTs, ops, outcome });
      const nOps = 1 + r.nextInt(5);
      try {
        for (let i = 0; i < nOps; i++) {
          const roll = r.nextInt(100);
          if (roll < 25) {
            const key = pickKey(r);
            ops.push({ kind: 'get', key, result: await txn.get(key) });
            count('op:get');
          } else if (roll < 40) {
            const keys = Array.from({ length: 1 + r.nextInt(4) }, () => pickKey(r));
            ops.push({ kind: 'batchGet', keys, result: await txn.batchGet(keys) });
            count('op:batchGet');
            if (new Set(keys.map((k) => k.toString('hex'))).size < keys.length) count('batchGet:repeated key');
          } else if (roll < 55) {
            const [start, end] = range(r);
            const limit = r.chance(0.5) ? 1 + r.nextInt(4) : undefined;
            const reverse = r.chance(0.4);
            const result = await collect(txn.scan(start, end, limit === undefined ? { reverse } : { limit, reverse }));
            ops.push(limit === undefined ? { kind: 'scan', start, end, reverse, result } : { kind: 'scan', start, end, limit, reverse, result });
            count(reverse ? 'op:scan reverse' : 'op:scan');
            if (limit !== undefined && result.length === limit) count('scan:limit reached');
          } else if (roll < 82) {
            const key = pickKey(r);
            const v = value(r, `${id}.${i}`);
            txn.put(key, v);
            ops.push({ kind: 'put', key, value: v });
            count('op:put');
          } else {
            const key = pickKey(r);
            txn.delete(key);
            ops.push({ kind: 'delete', key });
            count('op:delete');
          }
        }
      } catch (err) {
        // A read that fails ends the transaction without a commit; its earlier reads are still judged.
        assert.ok(err instanceof FlotillaError, `txn ${id}: a read failed with an untyped error: ${String(err)}`);
        count(`read failed:${err.code}`);
        await txn.rollback().catch(() => undefined); // best effort; it never committed
        record({ kind: 'failed', code: err.code });
        return;
      }
      if (r.chance(0.12)) {
        await txn.rollback();
        count('outcome:rolled back');
        record({ kind: 'failed', code: 'RolledBack' });
        return;
      }
      try {
        const commitTs = await txn.commit();
        count('outcome:committed');
        record({ kind: 'committed', commitTs });
      } catch (err) {
        if (err instanceof CommitUnknownError) {
          count('outcome:unknown');
          record({ kind: 'unknown', tsAfter: await c.currentTimestamp() });
        } else if (err instanceof WriteConflictError || err instanceof TxnAbortedError) {
          count(`outcome:${err.code}`);
          record({ kind: 'failed', code: err.code });
        } else {
          throw new Error(`txn ${id}: commit failed with ${String(err)} (${REPLAY})`, { cause: err });
        }
      }
    };
    const workers = env.clients.flatMap((c, ci) => Array.from({ length: workersPerClient }, (_, wi) => {
      const r = rng.fork();
      return (async () => {
        for (let t = 0; t < txnsPerWorker; t++) await runTxn(c, r, `c${ci}w${wi}t${t}`);
      })();
    }));
    await Promise.all(workers);

    const finalValues = await (await client.snapshot()).batchGet(alphabet);
    const finalState = new Map<string, Buffer>();
    alphabet.forEach((k, i) => {
      const v = finalValues[i];
      if (v !== null && v !== undefined) finalState.set(k.toString('hex'), v);
    });
    const verdict = checkSnapshotIsolation(records, initial, finalState);
    const summary = `${REPLAY}; coverage ${JSON.stringify(Object.fromEntries([...coverage].sort()))}`;
    ctx.diagnostic(summary);
    assert.ok(verdict.ok, `not snapshot-isolated (${verdict.anomalies.length} anomalies; ${summary}):\n${verdict.anomalies.slice(0, 20).join('\n')}`);
    // A run that proves nothing fails.
    const committed = coverage.get('outcome:committed') ?? 0;
    const total = env.clients.length * workersPerClient * txnsPerWorker;
    assert.ok(committed >= total / 3, `only ${committed} of ${total} transactions committed (${summary})`);
    assert.ok((coverage.get('outcome:WriteConflict') ?? 0) >= 1, `no write conflict happened (${summary})`);
    for (const must of ['op:get', 'op:batchGet', 'op:scan', 'op:scan reverse', 'op:put', 'op:delete', 'value:empty', 'value:long', 'value:255', 'value:256', 'value:binary']) {
      assert.ok((coverage.get(must) ?? 0) >= 1, `coverage: ${must} never happened (${summary})`);
    }
    await waitNoLocks(prefix);
  });
});
