// Lock resolution in the client library (issue F6) against a real cluster (1 PD + 3 stores as
// processes). The half-finished transactions are written through the store's own KV API on the
// region leader (PercolatorProbe), as a client that died would leave them:
// - prewritten and abandoned with a short TTL: a reader (get, batchGet, scan) meeting the young
//   locks sees the old values (it waited, or pushed the lock's min_commit_ts and read around it);
//   once the TTL has passed by the TSO clock a reader rolls the primary back and resolves the
//   locks; a writer meeting the locks waits out the TTL and commits; either way the dead
//   transaction can no longer commit;
// - primary committed, secondaries not (long TTL, so only the primary's status can decide):
//   readers see the committed values of every key, a reader at a ts between start and commit
//   sees the old ones, and the boundary commit_ts - 1 / commit_ts holds;
// - a live lock (long TTL, never committed while read): a reader waits or fails with a typed
//   error within its deadline — it never hangs, never reads the uncommitted value, never rolls a
//   live transaction back, and if it read the old value the lock can no longer commit below it;
//   a writer, which cannot read around the lock, fails typed within its deadline and leaves
//   nothing behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, FlotillaError } from '../../client/index.js';
import { waitFor } from '../../deploy/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import { b, ClientTestEnv, collect, CONDITION_TIMEOUT_MS, PercolatorProbe, prefixEnd, settleWithin } from '../support/client-cluster.js';

/** Far above what resolving a lock needs on a healthy cluster: a bound to detect hangs, not a timing assertion. */
const SETTLE_MS = 90_000;
/** TTL of the abandoned transactions' locks, ms from their start ts. */
const SHORT_TTL_MS = 1_000;
/** TTL that outlives the test: only the primary's status can resolve these locks. */
const LONG_TTL_MS = 5 * 60_000;
const TS_MAX = (1n << 64n) - 1n;

const str = (v: Buffer | null | undefined): string | null => (v === null || v === undefined ? null : v.toString());
const LONG_VALUE = 'L'.repeat(1_000); // above the 255-byte short-value limit: lives in the default CF

describe('client lock resolution (1 PD + 3 stores)', { timeout: 15 * 60_000 }, () => {
  let env: ClientTestEnv;
  let writer: Client;
  let reader: Client;
  let probe: PercolatorProbe;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 2 });
    writer = env.client(0);
    reader = env.client(1);
    probe = new PercolatorProbe(env.cluster);
  });
  after(async () => {
    await env?.stop();
  });

  /** p, s1, s2, s3 under prefix: p, s1, s3 hold old values, s2 is absent. */
  async function seedOldValues(prefix: string): Promise<void> {
    await writer.withTransaction(async (txn) => {
      txn.put(`${prefix}p`, 'old-p');
      txn.put(`${prefix}s1`, 'old-s1');
      txn.put(`${prefix}s3`, 'old-s3');
    });
  }

  /** Prewrites p (primary) = new-p, s1 = LONG_VALUE, s2 = new-s2, and deletes s3, at a fresh start ts; returns it. */
  async function prewriteAbandoned(prefix: string, lockTtlMs: number): Promise<bigint> {
    const startTs = await writer.currentTimestamp();
    const mutations: kvrpcpb.Mutation__Input[] = [
      { op: 'Put', key: b(`${prefix}p`), value: b('new-p') },
      { op: 'Put', key: b(`${prefix}s1`), value: b(LONG_VALUE) },
      { op: 'Put', key: b(`${prefix}s2`), value: b('new-s2') },
      { op: 'Del', key: b(`${prefix}s3`) },
    ];
    await probe.prewrite({ primaryLock: b(`${prefix}p`), startVersion: String(startTs), lockTtl: String(lockTtlMs), txnSize: String(mutations.length), mutations });
    const locks = await probe.scanLocks(b(prefix), prefixEnd(prefix), TS_MAX);
    assert.equal(locks.filter((l) => BigInt(l.lockVersion) === startTs).length, 4, 'the prewrite left four locks');
    return startTs;
  }

  async function waitNoLocksOf(prefix: string, startTs: bigint): Promise<void> {
    await waitFor(`the locks of txn ${startTs} under ${prefix} resolved`, async () => {
      const locks = await probe.scanLocks(b(prefix), prefixEnd(prefix), TS_MAX);
      return locks.some((l) => BigInt(l.lockVersion) === startTs) ? undefined : true;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
  }

  async function readAll(c: Client, prefix: string, ts?: bigint): Promise<(string | null)[]> {
    const snap = await c.snapshot(ts);
    return (await snap.batchGet(['p', 's1', 's2', 's3'].map((k) => `${prefix}${k}`))).map(str);
  }

  const OLD = ['old-p', 'old-s1', null, 'old-s3'];
  const NEW = ['new-p', LONG_VALUE, 'new-s2', null];

  /** Waits until the TSO clock is past a lock's TTL (polling the condition; the lock's TTL counts from its start ts's physical part). */
  async function waitTtlPassed(startTs: bigint, ttlMs: number): Promise<void> {
    await waitFor(`the TTL of txn ${startTs} to pass`, async () => ((await writer.currentTimestamp()) >> 18n > (startTs >> 18n) + BigInt(ttlMs) ? true : undefined), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 100 });
  }

  /** The variant's read of the dead transaction's keys, through a fresh snapshot; asserts the old values. */
  async function readDeadKeys(how: 'get' | 'batchGet' | 'scan', prefix: string, when: string): Promise<void> {
    const snap = await reader.snapshot();
    switch (how) {
      case 'get':
        // A secondary first: the reader must find the primary to learn the transaction's fate.
        assert.equal(str(await settleWithin(snap.get(`${prefix}s1`), SETTLE_MS, `get of a dead lock ${when}`)), 'old-s1', when);
        assert.equal(await snap.get(`${prefix}s2`), null, when);
        assert.equal(str(await snap.get(`${prefix}s3`)), 'old-s3', when);
        assert.equal(str(await snap.get(`${prefix}p`)), 'old-p', when);
        return;
      case 'batchGet': {
        const got = await settleWithin(snap.batchGet([`${prefix}s3`, `${prefix}s2`, `${prefix}s1`, `${prefix}p`]), SETTLE_MS, `batchGet of dead locks ${when}`);
        assert.deepEqual(got.map(str), ['old-s3', null, 'old-s1', 'old-p'], when);
        return;
      }
      case 'scan': {
        const rows = await settleWithin(collect(snap.scan(prefix, prefixEnd(prefix))), SETTLE_MS, `scan of dead locks ${when}`);
        assert.deepEqual(rows.map((r) => [r.key.toString(), r.value.toString()]), [[`${prefix}p`, 'old-p'], [`${prefix}s1`, 'old-s1'], [`${prefix}s3`, 'old-s3']], when);
        return;
      }
    }
  }

  for (const how of ['get', 'batchGet', 'scan'] as const) {
    it(`a client that died after prewrite: ${how} sees the old values before the TTL passed, and after it resolves the locks; the dead txn cannot commit later`, async () => {
      const prefix = `rc/dead/${how}/`;
      await seedOldValues(prefix);
      const startTs = await prewriteAbandoned(prefix, SHORT_TTL_MS);
      // While the lock is young the reader may wait for it, or push its min_commit_ts past itself
      // and read around it (TiKV does both): either way, the old values.
      await readDeadKeys(how, prefix, 'while the lock is young');
      // Once the TTL passed, a reader rolls the primary back and resolves the locks it meets.
      await waitTtlPassed(startTs, SHORT_TTL_MS);
      await readDeadKeys(how, prefix, 'after the TTL');
      assert.deepEqual(await readAll(reader, prefix), OLD);
      await waitNoLocksOf(prefix, startTs);
      // The dead client wakes up and commits its primary: too late, it was rolled back.
      const late = await probe.commit([b(`${prefix}p`)], startTs, await writer.currentTimestamp());
      assert.notEqual(late.error, null, `a late commit of a rolled-back primary succeeded: ${JSON.stringify(late)}`);
      assert.deepEqual(await readAll(writer, prefix), OLD);
    });
  }

  it('a client that died after prewrite: a writer meeting its locks waits out the TTL, rolls it back and commits; the dead txn cannot commit later', async () => {
    const prefix = 'rc/dead/writer/';
    await seedOldValues(prefix);
    const startTs = await prewriteAbandoned(prefix, SHORT_TTL_MS);
    await settleWithin(reader.withTransaction(async (txn) => {
      txn.put(`${prefix}s2`, 'writer');
      txn.put(`${prefix}s1`, 'writer');
    }), SETTLE_MS, 'a writer meeting dead locks');
    assert.deepEqual(await readAll(reader, prefix), ['old-p', 'writer', 'writer', 'old-s3']);
    await waitNoLocksOf(prefix, startTs);
    const late = await probe.commit([b(`${prefix}p`)], startTs, await writer.currentTimestamp());
    assert.notEqual(late.error, null, `a late commit of a rolled-back primary succeeded: ${JSON.stringify(late)}`);
    assert.deepEqual(await readAll(writer, prefix), ['old-p', 'writer', 'writer', 'old-s3']);
  });

  for (const how of ['get at a ts before the commit', 'get', 'batchGet', 'scan', 'a transaction'] as const) {
    it(`primary committed, secondaries not: ${how} first, then every reader sees the committed values of all keys`, async () => {
      const prefix = `rc/half/${how.replace(/ /g, '-')}/`;
      await seedOldValues(prefix);
      const startTs = await prewriteAbandoned(prefix, LONG_TTL_MS);
      const midTs = await writer.currentTimestamp();
      const commitTs = await writer.currentTimestamp();
      const committed = await probe.commit([b(`${prefix}p`)], startTs, commitTs);
      assert.equal(committed.error, null, JSON.stringify(committed));
      switch (how) {
        case 'get at a ts before the commit': {
          // Locks with start ts < the read ts, primary committed after it: the old values.
          const snap = await reader.snapshot(midTs);
          assert.equal(str(await settleWithin(snap.get(`${prefix}s1`), SETTLE_MS, 'an old read meeting committed-primary locks')), 'old-s1');
          assert.deepEqual(await readAll(reader, prefix, midTs), OLD);
          break;
        }
        case 'get': {
          const snap = await reader.snapshot();
          assert.equal(str(await settleWithin(snap.get(`${prefix}s1`), SETTLE_MS, 'get of a committed secondary')), LONG_VALUE);
          assert.equal(str(await snap.get(`${prefix}s2`)), 'new-s2');
          assert.equal(await snap.get(`${prefix}s3`), null);
          break;
        }
        case 'batchGet': {
          const snap = await reader.snapshot();
          const got = await settleWithin(snap.batchGet([`${prefix}s2`, `${prefix}s3`, `${prefix}s1`]), SETTLE_MS, 'batchGet of committed secondaries');
          assert.deepEqual(got.map(str), ['new-s2', null, LONG_VALUE]);
          break;
        }
        case 'scan': {
          const snap = await reader.snapshot();
          const rows = await settleWithin(collect(snap.scan(prefix, prefixEnd(prefix))), SETTLE_MS, 'scan of committed secondaries');
          assert.deepEqual(rows.map((r) => [r.key.toString(), r.value.toString()]), [[`${prefix}p`, 'new-p'], [`${prefix}s1`, LONG_VALUE], [`${prefix}s2`, 'new-s2']]);
          break;
        }
        case 'a transaction': {
          // Begun after the commit: it reads the committed values and overwrites a locked secondary without a conflict.
          await settleWithin(reader.withTransaction(async (txn) => {
            assert.ok(txn.startTs > commitTs);
            assert.equal(str(await txn.get(`${prefix}s2`)), 'new-s2');
            txn.put(`${prefix}s1`, 'overwritten');
          }, { maxRetries: 0 }), SETTLE_MS, 'a transaction meeting committed-primary locks');
          assert.equal(str(await (await writer.snapshot()).get(`${prefix}s1`)), 'overwritten');
          break;
        }
      }
      const s1Now = how === 'a transaction' ? 'overwritten' : LONG_VALUE;
      assert.deepEqual(await readAll(reader, prefix), ['new-p', s1Now, 'new-s2', null]);
      assert.deepEqual(await readAll(writer, prefix, commitTs), NEW, 'a snapshot at the commit ts sees the commit');
      assert.deepEqual(await readAll(writer, prefix, commitTs - 1n), OLD, 'a snapshot just below the commit ts does not');
      await waitNoLocksOf(prefix, startTs);
      // Resolution committed the secondaries, it did not roll them back: committing them again is idempotent.
      const again = await probe.commit([b(`${prefix}s2`)], startTs, commitTs);
      assert.equal(again.error, null, `re-committing a resolved secondary: ${JSON.stringify(again)}`);
    });
  }

  it('a live lock (long TTL): a reader with a short deadline fails with a typed error or reads the old value — never hangs, never reads the uncommitted value, never rolls the live transaction back', async (ctx) => {
    const prefix = 'rc/live/';
    await seedOldValues(prefix);
    const startTs = await prewriteAbandoned(prefix, LONG_TTL_MS);
    const impatient = await env.connect({ requestTimeoutMs: 2_000 });
    const tsBefore = await writer.currentTimestamp();
    const outcomes: string[] = [];
    let sawOld = false;
    const attempts: [string, () => Promise<(string | null)[]>][] = [
      ['snapshot get', async () => [str(await (await impatient.snapshot()).get(`${prefix}s1`))]],
      ['snapshot batchGet', async () => (await (await impatient.snapshot()).batchGet([`${prefix}s2`, `${prefix}p`])).map(str)],
      ['snapshot scan', async () => (await collect((await impatient.snapshot()).scan(prefix, prefixEnd(prefix)))).map((r) => r.value.toString())],
      ['txn get', async () => {
        const txn = await impatient.begin();
        try {
          return [str(await txn.get(`${prefix}s3`))];
        } finally {
          await txn.rollback().catch(() => undefined); // read-only; nothing to undo
        }
      }],
    ];
    for (const [what, read] of attempts) {
      const settled = await settleWithin(read().then((v) => ({ v }), (err: unknown) => ({ err })), SETTLE_MS, `${what} of a live lock with a 2 s deadline`);
      if ('err' in settled) {
        const err = settled.err;
        assert.ok(err instanceof FlotillaError, `${what}: an untyped error ${String(err)}`);
        // A timeout is what a TiKV user expects; KeyIsLocked names the cause as precisely.
        assert.ok(['DeadlineExceeded', 'KeyIsLocked'].includes(err.code), `${what}: ${err.code} (${err.message})`);
        outcomes.push(`${what}: ${err.code}`);
      } else {
        for (const v of settled.v) assert.ok(!['new-p', LONG_VALUE, 'new-s2'].includes(v ?? ''), `${what} read the uncommitted value ${v?.slice(0, 20)}`);
        sawOld = true;
        outcomes.push(`${what}: old value`);
      }
    }
    // A writer cannot read around a live lock: it waits, then fails typed within its deadline,
    // and what it wrote elsewhere does not land.
    const blockedWriter = await settleWithin(impatient.withTransaction(async (txn) => {
      txn.put(`${prefix}free`, 'blocked-writer');
      txn.put(`${prefix}s1`, 'blocked-writer');
    }, { maxRetries: 0 }).then(() => null, (err: unknown) => err), SETTLE_MS, 'a writer blocked by a live lock with a 2 s deadline');
    assert.ok(blockedWriter instanceof FlotillaError, `a writer blocked by a live lock: ${String(blockedWriter)}`);
    assert.ok(['DeadlineExceeded', 'KeyIsLocked', 'TxnAborted'].includes(blockedWriter.code), `a writer blocked by a live lock failed with ${blockedWriter.code} (${blockedWriter.message})`);
    outcomes.push(`writer: ${blockedWriter.code}`);
    assert.equal(await (await writer.snapshot()).get(`${prefix}free`), null, 'the blocked writer\'s other key was written');
    await waitFor('the blocked writer\'s locks rolled back', async () => {
      const locks = await probe.scanLocks(b(prefix), prefixEnd(prefix), TS_MAX);
      return locks.every((l) => BigInt(l.lockVersion) === startTs) ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    // The client is fine after it: unlocked keys read at once.
    assert.equal(await (await impatient.snapshot()).get(`${prefix}unlocked`), null);
    // If a reader at a ts above tsBefore saw the old value, the lock must not commit at tsBefore any more.
    const low = await probe.commit([b(`${prefix}p`)], startTs, tsBefore);
    if (sawOld) assert.notEqual(low.error, null, `committed below a reader that saw the old value (${outcomes.join('; ')})`);
    if (low.error !== null) {
      // Not rolled back: the live transaction still commits at a fresh ts.
      const fresh = await probe.commit([b(`${prefix}p`)], startTs, await writer.currentTimestamp());
      assert.equal(fresh.error, null, `the live transaction was rolled back by a reader before its TTL (${outcomes.join('; ')}): ${JSON.stringify(fresh)}`);
    }
    assert.deepEqual(await settleWithin(readAll(reader, prefix), SETTLE_MS, 'reading the committed transaction'), NEW);
    await waitNoLocksOf(prefix, startTs);
    ctx.diagnostic(outcomes.join('; '));
  });

  it('a live lock committed while a reader waits: the reader, whose ts is below the commit, reads the old value (or times out typed)', async () => {
    const prefix = 'rc/wait/';
    await seedOldValues(prefix);
    const startTs = await prewriteAbandoned(prefix, LONG_TTL_MS);
    const snap = await reader.snapshot();
    const waiting = snap.batchGet([`${prefix}s1`, `${prefix}s2`, `${prefix}s3`]).then((v) => ({ v }), (err: unknown) => ({ err }));
    const commitTs = await writer.currentTimestamp(); // above the reader's ts: taken after its snapshot
    assert.equal((await probe.commit([b(`${prefix}p`)], startTs, commitTs)).error, null);
    const settled = await settleWithin(waiting, SETTLE_MS, 'a reader waiting on a live lock');
    if ('err' in settled) assert.ok(settled.err instanceof FlotillaError && ['DeadlineExceeded', 'KeyIsLocked'].includes(settled.err.code), `the waiting read failed with ${String(settled.err)}`);
    else assert.deepEqual(settled.v.map(str), ['old-s1', null, 'old-s3'], 'a snapshot below the commit ts sees the old values');
    assert.deepEqual(await readAll(reader, prefix), NEW);
    await waitNoLocksOf(prefix, startTs);
  });
});
