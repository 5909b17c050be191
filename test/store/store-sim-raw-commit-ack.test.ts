// Raw puts and deletes answered once committed, before they apply (store/kv-writes.ts), in the
// deterministic store simulation. The leader's apply batches are held back (the sim engine's
// applyWriteGate), so a write is answered while its effect is not yet in the leader's engine.
// What must hold: every raw read and write that comes after the answer and touches the key —
// get, batch get, scan (either direction), delete range, compare-and-swap — waits until the
// write has applied and then reflects it; reads of other keys and ranges do not wait; a write
// answered and then timed out (its apply held past the proposal timeout) still holds its keys'
// readers until it has applied; a command answered DeadlineExceeded (outcome unknown) keeps its
// latches, and a put its hold on readers and writers of its key, until its entry can no longer
// apply unseen.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import { type SimNode, type SimOptions, StoreSim } from '../support/store-sim.js';
import { advanceUntil, drive, track, type Tracked } from '../support/store-sim-checks.js';

type Leader = SimNode & { readonly raw: NonNullable<SimNode['raw']> };

const b = (s: string): Buffer => Buffer.from(s);

/** Runs `body` on a 3-store sim with a ready leader holding some applied keys; stops the sim afterwards. */
async function withLeader(body: (sim: StoreSim, leader: Leader, holdApplies: () => () => void) => Promise<void>, options: Partial<SimOptions> = {}): Promise<void> {
  const sim = await StoreSim.start(3, { rng: createRng(17), dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled: true, ...options });
  let release = (): void => undefined;
  try {
    let leader: SimNode | undefined;
    assert.ok(await advanceUntil(sim, () => (leader = sim.leader()) !== undefined && leader.store!.peers.get(sim.region.id)!.isLeaderReady, 300), 'no ready leader');
    const l = leader as Leader;
    for (const [k, v] of [['a', '1'], ['c', '3'], ['gone', 'g'], ['m', 'x']] as const) await drive(sim, l.raw.put({ context: sim.context(l), key: b(k), value: b(v), ttlSeconds: '0' }));
    const holdApplies = (): (() => void) => {
      let open!: () => void;
      l.engine.applyWriteGate = new Promise<void>((resolve) => {
        open = resolve;
      });
      release = () => {
        open();
        l.engine.applyWriteGate = null;
      };
      return release;
    };
    await body(sim, l, holdApplies);
  } finally {
    release();
    await sim.stop();
  }
}

/**
 * Advances the simulation until `t` settles (a timed-out write's hold ends by sim steps:
 * Peer.whenApplyEnds); then no peer keeps an apply-end waiter.
 */
async function untilSettled(sim: StoreSim, t: { readonly settled: boolean }, what: string): Promise<void> {
  assert.ok(await advanceUntil(sim, () => t.settled, 200), `${what}: not within 200 steps`);
  const waiting = (): number[] => sim.nodes.map((n) => n.store?.peers.get(sim.region.id)?.applyEndWaiterCount ?? 0);
  assert.ok(await advanceUntil(sim, () => waiting().every((w) => w === 0), 20), `apply-end waiters left: ${waiting().join(', ')}`);
}

function text(v: Buffer | Uint8Array | string | null | undefined): string | null {
  return v === null || v === undefined ? null : Buffer.from(v).toString();
}

function pairsText(pairs: readonly kvrpcpb.KvPair__Input[] | undefined): string {
  return (pairs ?? []).map((p) => `${text(p.key as Buffer)}=${text(p.value as Buffer)}`).join(',');
}

describe('raw writes answered at commit (deterministic simulation)', { timeout: 120_000 }, () => {
  it('a put and a delete are answered while their apply is held; every later read or write of their keys waits for the apply and then sees it, and nothing else waits', () => withLeader(async (sim, leader, holdApplies) => {
    const ctx = (): kvrpcpb.Context => sim.context(leader);
    const open = holdApplies();
    const put = track(leader.raw.put({ context: ctx(), key: b('a'), value: b('2'), ttlSeconds: '0' }));
    const del = track(leader.raw.delete({ context: ctx(), key: b('gone') }));
    assert.ok(await advanceUntil(sim, () => put.settled && del.settled, 100), 'the put and the delete are answered while their apply is held');
    assert.equal(put.error, null);
    assert.equal(del.error, null);
    assert.equal(leader.writes!.blindWriteKeys, 2, 'both keys count as still applying');

    // After the answers: reads and writes of the keys wait.
    const get = track(leader.raw.get({ context: ctx(), key: b('a') }));
    const getGone = track(leader.raw.get({ context: ctx(), key: b('gone') }));
    const batch = track(leader.raw.batchGet({ context: ctx(), keys: [b('c'), b('a')] }));
    const scan = track(leader.raw.scan({ context: ctx(), startKey: b('a'), endKey: b('d'), limit: 10, keyOnly: false, reverse: false }));
    const reverse = track(leader.raw.scan({ context: ctx(), startKey: b('b'), endKey: b('h'), limit: 10, keyOnly: false, reverse: true }));
    const cas = track(leader.raw.compareAndSwap({ context: ctx(), key: b('a'), value: b('3'), previousValue: b('2'), previousNotExist: false, ttlSeconds: '0' }));
    const wipe = track(leader.raw.deleteRange({ context: ctx(), startKey: b('f'), endKey: b('h') }));
    // Reads of other keys and ranges do not.
    const other = track(leader.raw.get({ context: ctx(), key: b('c') }));
    const otherBatch = track(leader.raw.batchGet({ context: ctx(), keys: [b('c'), b('m')] }));
    const otherScan = track(leader.raw.scan({ context: ctx(), startKey: b('b'), endKey: b('f'), limit: 10, keyOnly: false, reverse: false }));
    assert.ok(await advanceUntil(sim, () => other.settled && otherBatch.settled && otherScan.settled, 100), 'reads of keys no write is applying are served');
    assert.equal(text(other.value?.value), '3');
    assert.equal(pairsText(otherBatch.value?.pairs), 'c=3,m=x');
    assert.equal(pairsText(otherScan.value?.kvs), 'c=3');
    for (let i = 0; i < 30; i++) await sim.advance();
    const waiting = { get, getGone, batch, scan, reverse, cas, wipe };
    for (const [name, t] of Object.entries(waiting)) assert.equal(t.settled, false, `${name} waits for the answered writes to apply`);

    open();
    assert.ok(await advanceUntil(sim, () => Object.values(waiting).every((t) => t.settled), 200), 'every waiting request is served once the writes applied');
    for (const [name, t] of Object.entries(waiting)) assert.equal(t.error, null, `${name}: ${String(t.error)}`);
    assert.equal(text(get.value?.value), '2', 'the get sees the answered put');
    assert.equal(getGone.value?.notFound, true, 'the get sees the answered delete');
    assert.equal(pairsText(batch.value?.pairs), 'c=3,a=2');
    assert.equal(pairsText(scan.value?.kvs), 'a=2,c=3');
    assert.equal(pairsText(reverse.value?.kvs), 'c=3', 'the reverse scan over the deleted key no longer finds it');
    assert.equal(cas.value?.succeeded, true, 'the compare-and-swap compared against the answered put');
    // The range delete found the deleted key gone (nothing to delete); the put after it stands.
    const after = await drive(sim, leader.raw.scan({ context: ctx(), startKey: b(''), endKey: b(''), limit: 10, keyOnly: false, reverse: false }));
    assert.equal(pairsText(after.kvs), 'a=3,c=3,m=x');
    assert.ok(await advanceUntil(sim, () => leader.writes!.blindWriteKeys === 0, 100), 'no key counts as applying afterwards');
  }));

  it('a range delete issued after an answered put of a key in its range deletes that key', () => withLeader(async (sim, leader, holdApplies) => {
    const open = holdApplies();
    const put = track(leader.raw.put({ context: sim.context(leader), key: b('k'), value: b('new'), ttlSeconds: '0' }));
    assert.ok(await advanceUntil(sim, () => put.settled, 100) && put.error === null, 'the put is answered while its apply is held');
    const wipe = track(leader.raw.deleteRange({ context: sim.context(leader), startKey: b('j'), endKey: b('l') }));
    for (let i = 0; i < 30; i++) await sim.advance();
    assert.equal(wipe.settled, false, 'the range delete waits for the put to apply');
    open();
    assert.ok(await advanceUntil(sim, () => wipe.settled, 200) && wipe.error === null, 'the range delete ends');
    const got = await drive(sim, leader.raw.get({ context: sim.context(leader), key: b('k') }));
    assert.equal(got.notFound, true, 'the range delete deleted the put it came after');
  }));

  it('a put answered at commit whose proposal then times out (its apply held) keeps its readers waiting until it applies', () => withLeader(async (sim, leader, holdApplies) => {
    const open = holdApplies();
    const put = track(leader.raw.put({ context: sim.context(leader), key: b('late'), value: b('v'), ttlSeconds: '0' }));
    assert.ok(await advanceUntil(sim, () => put.settled, 100) && put.error === null, 'the put is answered at commit');
    // The proposal's waiter times out in real time while the apply stays held.
    const peer = leader.store!.peers.get(sim.region.id)!;
    const timedOut = Date.now() + 400;
    await waitFor('the proposal timeout to pass', async () => (Date.now() >= timedOut ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    for (let i = 0; i < 5; i++) await sim.advance();
    assert.equal(peer.isLeader, true, 'still leading');
    assert.equal(leader.writes!.blindWriteKeys, 1, 'the timed-out write still counts as applying');
    const read = track(leader.raw.get({ context: sim.context(leader), key: b('late') }));
    for (let i = 0; i < 30; i++) await sim.advance();
    assert.equal(read.settled, false, 'a read of its key waits');
    open();
    await untilSettled(sim, read, 'the read to be served once the put applied');
    assert.equal(read.error, null);
    assert.equal(text(read.value?.value), 'v', 'and sees the put');
  }, { proposalTimeoutMs: 200 }));

  it('a put answered at commit and then timed out (its apply held) stops holding its key once its leader steps down: the reads (get, batch get, scan) and the compare-and-swap that waited on it there are refused, and the new leader applies it before it serves', () => withLeader(async (sim, leader, holdApplies) => {
    const open = holdApplies();
    const put = track(leader.raw.put({ context: sim.context(leader), key: b('late'), value: b('v'), ttlSeconds: '0' }));
    assert.ok(await advanceUntil(sim, () => put.settled, 100) && put.error === null, 'the put is answered at commit');
    const timedOut = Date.now() + 400;
    await waitFor('the proposal timeout to pass', async () => (Date.now() >= timedOut ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    for (let i = 0; i < 5; i++) await sim.advance();
    const peer = leader.store!.peers.get(sim.region.id)!;
    assert.equal(peer.isLeader, true, 'still leading');
    assert.equal(leader.writes!.blindWriteKeys, 1, 'the timed-out write still counts as applying');
    // A read and a compare-and-swap of the key arrive while it leads, and wait for the put.
    const read = track(leader.raw.get({ context: sim.context(leader), key: b('late') }));
    const batch = track(leader.raw.batchGet({ context: sim.context(leader), keys: [b('a'), b('late')] }));
    const scan = track(leader.raw.scan({ context: sim.context(leader), startKey: b('l'), endKey: b('m'), limit: 10, keyOnly: false, reverse: false }));
    const cas = track(leader.raw.compareAndSwap({ context: sim.context(leader), key: b('late'), value: b('w'), previousValue: b(''), previousNotExist: true, ttlSeconds: '0' }));
    for (let i = 0; i < 5; i++) await sim.advance();
    assert.equal(read.settled || batch.settled || scan.settled || cas.settled, false, 'they wait for the put');
    const target = sim.nodes.find((n) => n !== leader && n.store !== undefined)!;
    assert.ok(sim.transferLeader(sim.region.id, target.storeId), 'the transfer starts');
    assert.ok(await advanceUntil(sim, () => !peer.isLeader, 200), 'the leader steps down');
    // Its apply is still held, and nothing it held waits for that apply any more: the waiting
    // read and compare-and-swap end, refused (this store no longer leads, and has not written
    // the put), never served from an engine without the put.
    assert.ok(await advanceUntil(sim, () => leader.writes!.blindWriteKeys === 0 && read.settled && batch.settled && scan.settled && cas.settled, 20), 'the step-down ends the hold and its waiters');
    assert.equal((batch.error as { code?: string } | null)?.code, 'NotLeader', `the batch get: ${pairsText(batch.value?.pairs)} / ${String(batch.error)}`);
    assert.equal((scan.error as { code?: string } | null)?.code, 'NotLeader', `the scan: ${pairsText(scan.value?.kvs)} / ${String(scan.error)}`);
    assert.equal(peer.applyEndWaiterCount, 0, 'no apply-end waiter left');
    assert.equal((read.error as { code?: string } | null)?.code, 'NotLeader', `the read: ${text(read.value?.value ?? null)} / ${String(read.error)}`);
    assert.equal((cas.error as { code?: string } | null)?.code, 'NotLeader', `the compare-and-swap: ${JSON.stringify(cas.value)} / ${String(cas.error)}`);
    let newLeader: SimNode | undefined;
    assert.ok(await advanceUntil(sim, () => (newLeader = sim.leader()) !== undefined && newLeader !== leader && newLeader.store!.peers.get(sim.region.id)!.isLeaderReady, 300), 'a new ready leader');
    const got = await drive(sim, newLeader!.raw!.get({ context: sim.context(newLeader!), key: b('late') }));
    assert.equal(text(got.value), 'v', 'the new leader serves the put');
    open();
  }, { proposalTimeoutMs: 200 }));

  it('a get or a scan does not wait for a put not answered yet (its leader cut off, it cannot commit): it is served at once, before the put; a compare-and-swap waits for it', () => withLeader(async (sim, leader) => {
    sim.isolate(leader.storeId, true);
    const put = track(leader.raw.put({ context: sim.context(leader), key: b('a'), value: b('2'), ttlSeconds: '0' }));
    for (let i = 0; i < 3; i++) await sim.advance();
    assert.equal(put.settled, false, 'the put is not answered');
    assert.equal(leader.writes!.blindWriteKeys, 1, 'it is in flight');
    assert.equal(leader.writes!.answeredWriteKeys, 0, 'and not answered');
    const read = track(leader.raw.get({ context: sim.context(leader), key: b('a') }));
    const scan = track(leader.raw.scan({ context: sim.context(leader), startKey: b('a'), endKey: b('b'), limit: 10, keyOnly: false, reverse: false }));
    const cas = track(leader.raw.compareAndSwap({ context: sim.context(leader), key: b('a'), value: b('3'), previousValue: b('1'), previousNotExist: false, ttlSeconds: '0' }));
    for (let i = 0; i < 20 && !(read.settled && scan.settled); i++) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(read.settled && read.error === null, `the read is served while the put is in flight: ${String(read.error)}`);
    assert.equal(text(read.value?.value), '1', 'before the put');
    assert.ok(scan.settled && scan.error === null, `the scan is served while the put is in flight: ${String(scan.error)}`);
    assert.equal(pairsText(scan.value?.kvs), 'a=1', 'before the put');
    assert.equal(cas.settled, false, 'the compare-and-swap waits: the put may still apply');
    sim.isolate(leader.storeId, false);
    assert.ok(await advanceUntil(sim, () => put.settled && cas.settled, 200), 'the put and the compare-and-swap end');
    assert.equal(put.error, null);
    assert.equal(cas.value?.succeeded, false, 'the put applied first');
    const got = await drive(sim, leader.raw.get({ context: sim.context(leader), key: b('a') }));
    assert.equal(text(got.value), '2');
  }));

  it('puts a cut-off leader proposed, lost to the next leader, are refused (StaleCommand) once it applies an entry of a later term — as a follower, not at their timeout; a compare-and-swap of their key then goes ahead', () => withLeader(async (sim, leader) => {
    const peer = leader.store!.peers.get(sim.region.id)!;
    sim.isolate(leader.storeId, true);
    // One entry each (a poll round apart), none can commit.
    const puts: Tracked<kvrpcpb.RawPutResponse__Input>[] = [];
    for (const k of ['p1', 'p2', 'p3']) {
      puts.push(track(leader.raw.put({ context: sim.context(leader), key: b(k), value: b('lost'), ttlSeconds: '0' })));
      await sim.advance();
    }
    let next: SimNode | undefined;
    assert.ok(await advanceUntil(sim, () => (next = sim.nodes.find((n) => n !== leader && n.store?.peers.get(sim.region.id)?.isLeaderReady === true)) !== undefined, 600), 'the others elect a leader');
    sim.isolate(leader.storeId, false);
    assert.ok(await advanceUntil(sim, () => !peer.isLeader && peer.applied === next!.store!.peers.get(sim.region.id)!.applied, 300), 'the old leader follows the new one\'s log');
    // Still a follower: it applied the new leader's entries, of a later term.
    assert.ok(await advanceUntil(sim, () => puts.every((p) => p.settled), 20), `every lost put is answered: ${puts.map((p) => p.settled).join(', ')}`);
    assert.deepEqual(puts.map((p) => (p.error as { code?: string } | null)?.code), ['StaleCommand', 'StaleCommand', 'StaleCommand']);
    assert.equal(leader.writes!.blindWriteKeys, 0, 'nothing is in flight');
    // It leads again: a compare-and-swap of the last key goes ahead (the key was never written).
    assert.ok(sim.transferLeader(sim.region.id, leader.storeId), 'the transfer back starts');
    assert.ok(await advanceUntil(sim, () => peer.isLeaderReady, 300), 'it leads again, ready');
    const cas = await drive(sim, leader.raw.compareAndSwap({ context: sim.context(leader), key: b('p3'), value: b('won'), previousValue: b(''), previousNotExist: true, ttlSeconds: '0' }), 100);
    assert.equal(cas.succeeded, true, 'the key was never written');
  }));

  it('a put answered DeadlineExceeded before it committed (its leader cut off) may still apply: a compare-and-swap of its key waits for it, then compares against it', () => withLeader(async (sim, leader) => {
    // Cut off for a few steps only (well inside an election timeout): the leader keeps leading,
    // appends the put, and cannot commit it; its proposal times out in real time.
    sim.isolate(leader.storeId, true);
    const put = track(leader.raw.put({ context: sim.context(leader), key: b('a'), value: b('2'), ttlSeconds: '0' }));
    for (let i = 0; i < 3; i++) await sim.advance();
    await waitFor('the put to time out', async () => (put.settled ? true : undefined), { timeoutMs: 10_000, intervalMs: 10 });
    assert.equal((put.error as { code?: string } | null)?.code, 'DeadlineExceeded', `the put is answered ${String(put.error)}`);
    assert.equal(leader.store!.peers.get(sim.region.id)!.isLeader, true, 'still leading');
    const cas = track(leader.raw.compareAndSwap({ context: sim.context(leader), key: b('a'), value: b('3'), previousValue: b('1'), previousNotExist: false, ttlSeconds: '0' }));
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(cas.settled, false, 'the compare-and-swap waits: the put may still apply');
    sim.isolate(leader.storeId, false);
    await untilSettled(sim, cas, 'the compare-and-swap to end once the put applied');
    assert.equal(cas.error, null);
    assert.equal(cas.value?.succeeded, false, 'the put applied first: the value is no longer the expected one');
    assert.equal(text(cas.value?.previousValue), '2');
    const got = await drive(sim, leader.raw.get({ context: sim.context(leader), key: b('a') }));
    assert.equal(text(got.value), '2');
  }, { proposalTimeoutMs: 200 }));

  it('a compare-and-swap that times out while its apply is held (outcome unknown) keeps its key latched until it applies: the next one compares against it', () => withLeader(async (sim, leader, holdApplies) => {
    const cas = (previous: string, value: string) => leader.raw.compareAndSwap({ context: sim.context(leader), key: b('a'), value: b(value), previousValue: b(previous), previousNotExist: false, ttlSeconds: '0' });
    const open = holdApplies();
    const first = track(cas('1', '2'));
    const timedOut = Date.now() + 400;
    await waitFor('the first compare-and-swap to time out', async () => {
      await sim.advance();
      return first.settled && Date.now() >= timedOut ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    assert.equal((first.error as { code?: string } | null)?.code, 'DeadlineExceeded', `the first is answered ${String(first.error)}`);
    const second = track(cas('1', '9'));
    for (let i = 0; i < 30; i++) await sim.advance();
    assert.equal(second.settled, false, 'the second waits for the key\'s latch');
    open();
    await untilSettled(sim, second, 'the second compare-and-swap to end');
    assert.equal(second.error, null);
    assert.equal(second.value?.succeeded, false, 'the first applied before the second read: its value is not the expected one');
    assert.equal(text(second.value?.previousValue), '2');
  }, { proposalTimeoutMs: 200 }));

  const UNSETTLED_MAX = 2;
  it('writes of unknown outcome are bounded per region (unsettledWritesMax): at the bound every write kind to the region answers ServerIsBusy and reads are served; once the held entries apply, writes are taken again', () => withLeader(async (sim, leader, holdApplies) => {
    const ctx = (): kvrpcpb.Context => sim.context(leader);
    const peer = leader.store!.peers.get(sim.region.id)!;
    const open = holdApplies();
    // Each put is answered at commit, then times out with its apply held: one waiter each.
    const puts = Array.from({ length: UNSETTLED_MAX }, (_, i) => `p${i + 1}`).map((k) => track(leader.raw.put({ context: ctx(), key: b(k), value: b('v'), ttlSeconds: '0' })));
    assert.ok(await advanceUntil(sim, () => puts.every((p) => p.settled), 100) && puts.every((p) => p.error === null), 'the puts are answered at commit');
    await waitFor('their proposals to time out and wait for the apply', async () => {
      await sim.advance();
      return peer.applyEndWaiterCount >= UNSETTLED_MAX ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 20 });
    assert.equal(peer.applyEndWaiterCount, UNSETTLED_MAX);
    const writes: Record<string, () => Promise<unknown>> = {
      put: () => leader.raw.put({ context: ctx(), key: b('q'), value: b('v'), ttlSeconds: '0' }),
      batchPut: () => leader.raw.batchPut({ context: ctx(), pairs: [{ key: b('q'), value: b('v'), error: null }], ttlsSeconds: [] }),
      delete: () => leader.raw.delete({ context: ctx(), key: b('q') }),
      compareAndSwap: () => leader.raw.compareAndSwap({ context: ctx(), key: b('q'), value: b('1'), previousValue: Buffer.alloc(0), previousNotExist: true, ttlSeconds: '0' }),
      deleteRange: () => leader.raw.deleteRange({ context: ctx(), startKey: b('a'), endKey: b('b') }),
    };
    for (const [kind, write] of Object.entries(writes)) {
      const t = track(write());
      assert.ok(await advanceUntil(sim, () => t.settled, 20), `${kind}: not answered at the bound`);
      assert.equal((t.error as { code?: string } | null)?.code, 'ServerIsBusy', `${kind} at the bound: ${String(t.error)}`);
    }
    const read = await drive(sim, leader.raw.get({ context: ctx(), key: b('a') }));
    assert.equal(text(read.value), '1', 'a read of another key is served');
    open();
    assert.ok(await advanceUntil(sim, () => peer.applyEndWaiterCount === 0, 200), 'the waiters end once the entries apply');
    for (const [kind, write] of Object.entries(writes)) await drive(sim, write()).catch((err: unknown) => assert.fail(`${kind} after the apply: ${String(err)}`));
    assert.equal(text((await drive(sim, leader.raw.get({ context: ctx(), key: b('p2') }))).value), 'v');
  }, { proposalTimeoutMs: 200, kvLimits: { unsettledWritesMax: UNSETTLED_MAX } }));
});
