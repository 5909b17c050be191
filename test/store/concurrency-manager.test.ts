// ConcurrencyManager (store/concurrency-manager.ts) at every boundary: the commit_ts it picks
// against the read timestamps seen and the floor; which reads a memory lock holds back (ts equal
// to commit_ts waits, one below does not; range start inclusive, end exclusive, empty end
// unbounded); timestamps refused far ahead of the clock and TS_MAX taken without raising maxTs;
// the leader sync (needs a fetch begun after the era; a term or version change needs another;
// failures retried after a pause); the TSO fence (its own fetch; one already in flight does not count).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { composeTs, FlotillaError, TS_MAX, type Ts } from '../../common/index.js';
import { ConcurrencyManager, MAX_TS_SYNC_RETRY_MS, READ_TS_AHEAD_MS_MAX } from '../../store/concurrency-manager.js';

const NOW_MS = 1_800_000_000_000;
const base = composeTs(NOW_MS, 0);
const k = (s: string): Buffer => Buffer.from(s);

/** A TSO whose answers the test releases one at a time. */
class ManualTso {
  readonly calls: { resolve: (ts: Ts) => void; reject: (err: unknown) => void }[] = [];
  readonly fetch = (): Promise<Ts> => new Promise<Ts>((resolve, reject) => this.calls.push({ resolve, reject }));
  answer(i: number, ts: Ts): void {
    this.calls[i]!.resolve(ts);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Whether `p` has settled after a few turns of the event loop. */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true), () => (settled = true));
  for (let i = 0; i < 5; i++) await turn();
  return settled;
}

describe('ConcurrencyManager', () => {
  it('picks commit_ts above every read ts seen and at least the floor, and later picks above it', () => {
    const cm = new ConcurrencyManager(null, { nowMs: () => NOW_MS });
    assert.equal(cm.lockForOnePc([k('a')], 5n).commitTs, 5n, 'nothing read: the floor');
    cm.observeReadTs(base + 10n);
    cm.observeReadTs(base + 3n); // lower: no effect
    const g = cm.lockForOnePc([k('b')], base);
    assert.equal(g.commitTs, base + 11n);
    assert.equal(cm.lockForOnePc([k('c')], base + 100n).commitTs, base + 100n, 'a floor above maxTs wins');
    assert.equal(cm.lockForOnePc([k('d')], 0n).commitTs, base + 101n, 'a chosen commit_ts counts as seen');
  });

  it('refuses a read ts far ahead of the clock; takes TS_MAX without raising maxTs', () => {
    const cm = new ConcurrencyManager(null, { nowMs: () => NOW_MS });
    const edge = composeTs(NOW_MS + READ_TS_AHEAD_MS_MAX, (1 << 18) - 1);
    cm.observeReadTs(edge);
    assert.equal(cm.maxReadTs, edge);
    assert.throws(() => cm.observeReadTs(composeTs(NOW_MS + READ_TS_AHEAD_MS_MAX + 1, 0)), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument');
    assert.equal(cm.maxReadTs, edge, 'a refused ts leaves maxTs alone');
    cm.observeReadTs(TS_MAX);
    assert.equal(cm.maxReadTs, edge);
  });

  it('refuses a one-phase floor far ahead of the clock, locking nothing and leaving maxTs alone', () => {
    const cm = new ConcurrencyManager(null, { nowMs: () => NOW_MS });
    const edge = composeTs(NOW_MS + READ_TS_AHEAD_MS_MAX, (1 << 18) - 1);
    const g = cm.lockForOnePc([k('e')], edge);
    assert.equal(g.commitTs, edge, 'the last ts inside the bound');
    g.release();
    for (const floor of [composeTs(NOW_MS + READ_TS_AHEAD_MS_MAX + 1, 0), 0xffffffffffffffffn]) {
      assert.throws(() => cm.lockForOnePc([k('f')], floor), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument');
    }
    assert.equal(cm.maxReadTs, edge, 'a refused floor leaves maxTs alone');
    assert.equal(cm.memoryLockCount, 0, 'nothing stays locked');
  });

  it('holds back exactly the reads at or above a memory lock’s commit_ts on its keys, until released', async () => {
    const cm = new ConcurrencyManager(null, { nowMs: () => NOW_MS });
    const g = cm.lockForOnePc([k('m'), k('p')], base + 50n);
    assert.equal(cm.memoryLockCount, 2);
    assert.ok(await isSettled(cm.waitForKeys([k('m')], base + 49n)), 'one below commit_ts');
    assert.ok(await isSettled(cm.waitForKeys([k('a'), k('z')], TS_MAX)), 'other keys');
    const atTs = cm.waitForKeys([k('x'), k('p')], base + 50n);
    const atMax = cm.waitForKeys([k('m')], TS_MAX);
    assert.equal(await isSettled(atTs), false, 'at commit_ts');
    assert.equal(await isSettled(atMax), false, 'TS_MAX');
    // Ranges: [start, end), end empty = unbounded.
    assert.ok(await isSettled(cm.waitForRange(k('a'), k('m'), base + 60n)), 'end = the key: excluded');
    assert.ok(await isSettled(cm.waitForRange(k('m\0'), k('p'), base + 60n)), 'between the keys');
    assert.ok(await isSettled(cm.waitForRange(k('p\0'), Buffer.alloc(0), base + 60n)), 'after the last key, unbounded');
    assert.ok(await isSettled(cm.waitForRange(k('a'), Buffer.alloc(0), base + 49n)), 'below commit_ts');
    const fromKey = cm.waitForRange(k('p'), k('q'), base + 50n);
    const unbounded = cm.waitForRange(k('n'), Buffer.alloc(0), base + 50n);
    assert.equal(await isSettled(fromKey), false, 'start = the key: included');
    assert.equal(await isSettled(unbounded), false, 'empty end: unbounded');
    g.release();
    g.release(); // idempotent
    assert.equal(cm.memoryLockCount, 0);
    for (const p of [atTs, atMax, fromKey, unbounded]) assert.ok(await isSettled(p));
  });

  it('a released lock does not drop a newer lock on the same key', async () => {
    const cm = new ConcurrencyManager(null, { nowMs: () => NOW_MS });
    const first = cm.lockForOnePc([k('m')], base);
    const second = cm.lockForOnePc([k('m')], base);
    first.release();
    assert.equal(cm.memoryLockCount, 1);
    assert.equal(await isSettled(cm.waitForKeys([k('m')], TS_MAX)), false);
    second.release();
    assert.equal(cm.memoryLockCount, 0);
  });

  it('a leader is synced only by a TSO fetch begun after its era; a new term or version needs another', async () => {
    const tso = new ManualTso();
    let now = NOW_MS;
    const failures: unknown[] = [];
    const held = new Set([7, 8]);
    const cm = new ConcurrencyManager(tso.fetch, { nowMs: () => now, onSyncFailure: (err) => failures.push(err), isRegionHeld: (id) => held.has(id) });
    const era = { regionId: 7, term: 3, version: 2 };
    assert.equal(cm.isSynced(era), false);
    assert.equal(tso.calls.length, 1);
    assert.equal(cm.isSynced({ regionId: 8, term: 1, version: 1 }), false, 'another region, while the fetch runs');
    assert.equal(tso.calls.length, 1, 'one fetch at a time');
    tso.answer(0, base + 500n);
    await turn();
    assert.equal(cm.isSynced(era), true);
    assert.equal(cm.maxReadTs, base + 500n, 'the fetched ts raises maxTs');
    assert.equal(tso.calls.length, 2, 'region 8 noted during the first fetch waits for a second');
    assert.equal(cm.isSynced({ regionId: 8, term: 1, version: 1 }), false);
    assert.equal(cm.isSynced({ ...era, term: 4 }), false, 'a new term');
    assert.equal(cm.isSynced({ ...era, version: 3 }), false, 'a new version (a merge)');
    tso.calls[1]!.reject(new FlotillaError('Unavailable', 'PD down'));
    await turn();
    assert.equal(failures.length, 1, 'a failed sync is reported');
    assert.equal(cm.isSynced({ regionId: 8, term: 1, version: 1 }), false);
    assert.equal(tso.calls.length, 2, 'no fetch right after a failure');
    now += MAX_TS_SYNC_RETRY_MS;
    assert.equal(cm.isSynced({ regionId: 8, term: 1, version: 1 }), false);
    assert.equal(tso.calls.length, 3, 'retried after the pause');
    tso.answer(2, base + 600n);
    await turn();
    assert.equal(cm.isSynced({ regionId: 8, term: 1, version: 1 }), true);
    // Region 7 leaves the store: the next sync drops its leadership, keeps region 8's.
    held.delete(7);
    assert.equal(cm.isSynced({ regionId: 9, term: 1, version: 1 }), false);
    tso.answer(3, base + 700n);
    await turn();
    assert.equal(cm.isSynced({ regionId: 8, term: 1, version: 1 }), true, 'a held region is kept');
    held.add(7);
    assert.equal(cm.isSynced(era), false, 'a region no longer held was forgotten');
  });

  it('without PD no leader is ever synced', () => {
    const cm = new ConcurrencyManager(null, { nowMs: () => NOW_MS });
    assert.equal(cm.isSynced({ regionId: 1, term: 1, version: 1 }), false);
  });

  it('the TSO fence waits for a fetch begun after it was asked for, and raises maxTs', async () => {
    const tso = new ManualTso();
    const cm = new ConcurrencyManager(tso.fetch, { nowMs: () => NOW_MS });
    tso.fetch().catch(() => undefined); // a fetch already in flight before the fence
    const a = cm.fenceTso();
    assert.equal(tso.calls.length, 2, 'the fence begins its own fetch');
    tso.answer(0, base + 1n);
    assert.equal(await isSettled(a), false, 'a fetch begun before the fence does not count');
    tso.answer(1, base + 2n);
    assert.ok(await isSettled(a));
    assert.equal(cm.maxReadTs, base + 2n);
    const c = cm.fenceTso();
    tso.calls[2]!.reject(new FlotillaError('Unavailable', 'PD down'));
    await assert.rejects(c);
    await assert.rejects(new ConcurrencyManager(null).fenceTso());
  });

  it('issuedTs: a fresh PD timestamp that does not raise maxTs; isIssued knows exactly the newest ts any fetch got; null without PD', async () => {
    const tso = new ManualTso();
    const cm = new ConcurrencyManager(tso.fetch, { nowMs: () => NOW_MS });
    assert.equal(cm.isIssued(base), false, 'nothing fetched yet');
    const a = cm.issuedTs();
    tso.answer(0, base + 10n);
    assert.equal(await a, base + 10n);
    assert.equal(cm.maxReadTs, 0n, 'a fetched ts is not a read');
    assert.equal(cm.isIssued(base + 10n), true);
    assert.equal(cm.isIssued(base + 11n), false, 'one past the newest fetched ts is not issued');
    const f = cm.fenceTso();
    tso.answer(1, base + 20n);
    await f;
    assert.equal(cm.isIssued(base + 20n), true, 'a fence fetch counts too');
    assert.equal(cm.isIssued(base + 21n), false);
    const failed = cm.issuedTs();
    tso.calls[2]!.reject(new FlotillaError('Unavailable', 'PD down'));
    assert.equal(await failed, null);
    assert.equal(await new ConcurrencyManager(null).issuedTs(), null);
  });
});
