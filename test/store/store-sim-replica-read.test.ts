// Replica reads (store/replica-read.ts) where leadership and the region move under them,
// deterministic: three in-process stores over the simulated network (test/support/store-sim.ts).
//   - a replica whose request to the leader is lost fails its read as soon as it sees another
//     leader (NotLeader, for the client to retry), not at its 5 s timeout;
//   - a deposed leader drops a replica's ReadIndex request instead of forwarding it under its own
//     name (the answer would come to it, not to the replica);
//   - a replica read that waited while its replica applied a split answers EpochNotMatch (raw and
//     transactional reads), and the new region's replica then serves it;
//   - a replica read on a sleeping (quiet) group wakes it and sees the last write.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { composeTs, createRng } from '../../common/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import { type SimNode, StoreSim } from '../support/store-sim.js';

const b = (s: string): Buffer => Buffer.from(s);

/** The error code `p` rejects with (null: it resolved), as a promise that never rejects. */
function codeOf(p: Promise<unknown>): Promise<string | null> {
  return p.then(() => null, (e: unknown) => String((e as { code?: string }).code ?? e));
}

/** Advances until `p` settles, at most `steps` steps (sim steps take far less than the 5 s read timeout). */
async function within<T>(sim: StoreSim, p: Promise<T>, steps = 200): Promise<T> {
  let isSettled = false;
  const watched = p.finally(() => {
    isSettled = true;
  });
  for (let i = 0; i < steps && !isSettled; i++) await sim.advance();
  assert.ok(isSettled, `not settled within ${steps} steps`);
  return watched;
}

async function until(sim: StoreSim, what: string, cond: () => boolean, steps = 300): Promise<void> {
  for (let i = 0; i < steps && !cond(); i++) await sim.advance();
  assert.ok(cond(), `${what}: not within ${steps} steps`);
}

async function withSim(body: (sim: StoreSim, leader: SimNode, followers: SimNode[]) => Promise<void>, options: { readonly quietAfterTicks?: number } = {}): Promise<void> {
  const sim = await StoreSim.start(3, { rng: createRng(23), dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled: true, ...options });
  try {
    let leader: SimNode | undefined;
    for (let i = 0; i < 300 && leader === undefined; i++) {
      await sim.advance();
      leader = sim.leader();
    }
    assert.ok(leader !== undefined, 'no leader');
    const put = await within(sim, leader.raw!.put({ context: sim.context(leader), key: b('a'), value: b('1'), ttlSeconds: '0' }).then(() => true));
    assert.equal(put, true);
    await body(sim, leader, sim.nodes.filter((n) => n !== leader));
  } finally {
    await sim.stop();
  }
}

const rawGet = (sim: StoreSim, node: SimNode, key: string): Promise<kvrpcpb.RawGetResponse__Input> => node.raw!.get({ context: sim.context(node, undefined, { replicaRead: true }), key: b(key) });

describe('replica reads under leader changes and splits (deterministic simulation)', { timeout: 60_000 }, () => {
  it('a replica read whose request was lost fails as soon as its replica sees another leader', () => withSim(async (sim, leader, [f, other]) => {
    sim.intercept = (m) => (m.message.type === 'MsgReadIndex' && m.from === f!.storeId ? 'drop' : 'deliver');
    const read = codeOf(rawGet(sim, f!, 'a'));
    for (let i = 0; i < 10; i++) await sim.advance();
    assert.ok(sim.transferLeader(sim.region.id, other!.storeId));
    assert.equal(await within(sim, read), 'NotLeader');
    sim.intercept = null;
    await until(sim, 'a new ready leader', () => sim.leader() !== undefined && sim.leader() !== leader);
    const newLeader = sim.leader()!;
    const fPeer = f!.store!.peers.get(sim.region.id)!;
    const newLeaderPeerId = newLeader.store!.peers.get(sim.region.id)!.peerId;
    await until(sim, 'the replica to know the new leader', () => fPeer.raw.leaderId === newLeaderPeerId);
    const again = await within(sim, rawGet(sim, f!, 'a'));
    assert.equal(String(again.value), '1');
  }));

  it('a deposed leader drops a replica\'s read index request, never forwarding it under its own name', () => withSim(async (sim, leader, [f, other]) => {
    let isHolding = true;
    let held = 0;
    const forwardedByOldLeader: string[] = [];
    sim.intercept = (m) => {
      if (m.message.type !== 'MsgReadIndex') return 'deliver';
      if (m.from === leader.storeId) forwardedByOldLeader.push(`to store ${m.to}`);
      if (isHolding && m.from === f!.storeId && m.to === leader.storeId) {
        held++;
        return 'hold';
      }
      return 'deliver';
    };
    const read = codeOf(rawGet(sim, f!, 'a'));
    await until(sim, 'the request to be held', () => held > 0);
    assert.ok(sim.transferLeader(sim.region.id, other!.storeId));
    const oldPeer = leader.store!.peers.get(sim.region.id)!;
    await until(sim, 'the old leader to step down', () => !oldPeer.isLeader && oldPeer.raw.leaderId !== 0);
    isHolding = false;
    const code = await within(sim, read);
    for (let i = 0; i < 20; i++) await sim.advance();
    assert.deepEqual(forwardedByOldLeader, [], 'the deposed leader forwarded the replica\'s request');
    assert.ok(code === 'NotLeader' || code === null, `answered ${String(code)}`);
    sim.intercept = null;
    assert.equal(String((await within(sim, rawGet(sim, f!, 'a'))).value), '1');
  }));

  it('every replica read served while its replica becomes leader has its ts registered with a leader\'s concurrency manager (the old one through the gate, or refused)', () => withSim(async (sim, leader, [f]) => {
    const fPeer = f!.store!.peers.get(sim.region.id)!;
    const base = composeTs(Date.now(), 0);
    const served: bigint[] = [];
    const refused: string[] = [];
    const pending: Promise<void>[] = [];
    let n = 0;
    const read = (): void => {
      const readTs = base + BigInt(1 + n++) * 16n;
      pending.push(f!.txn!.get({ context: sim.context(f!, fPeer, { replicaRead: true }), key: b('a'), version: String(readTs) })
        .then(() => { served.push(readTs); }, (e: unknown) => { refused.push(String((e as { code?: string }).code)); }));
    };
    // One more read arrives just before the vote that makes the replica leader is stepped: it is
    // queued as a replica read and flushed in the round after, by a leader.
    let isRaced = false;
    sim.intercept = (m) => {
      if (!isRaced && m.to === f!.storeId && m.message.type === 'MsgVoteResp' && !m.message.reject && !fPeer.isLeader) {
        isRaced = true;
        read();
      }
      return 'deliver';
    };
    assert.ok(sim.transferLeader(sim.region.id, f!.storeId));
    for (let step = 0; step < 300 && !fPeer.isLeader; step++) {
      read(); // and one every step while it is not leader yet
      await sim.advance();
    }
    sim.intercept = null;
    assert.ok(isRaced, 'a read raced the winning vote');
    assert.ok(fPeer.isLeader, 'the transfer happened');
    await within(sim, Promise.all(pending));
    assert.ok(served.length + refused.length === n && n > 1, `${served.length} served, ${refused.length} refused of ${n}`);
    for (const ts of served) {
      const registered = leader.txn!.concurrency.maxReadTs >= ts || f!.txn!.concurrency.maxReadTs >= ts;
      assert.ok(registered, `a replica read at ${ts} was served, and no leader's max ts covers it (old ${leader.txn!.concurrency.maxReadTs}, new ${f!.txn!.concurrency.maxReadTs})`);
    }
  }));

  it('a replica read on a sleeping (quiet) group wakes it and sees the last write; the group sleeps again', () => withSim(async (sim, leader, [f]) => {
    const peers = sim.nodes.map((n) => n.store!.peers.get(sim.region.id)!);
    await until(sim, 'the group to sleep', () => peers.every((p) => p.raw.isQuiet), 400);
    const got = await within(sim, rawGet(sim, f!, 'a'));
    assert.equal(String(got.value), '1');
    await until(sim, 'the group to sleep again', () => peers.every((p) => p.raw.isQuiet), 400);
    // A write wakes it, and a replica read right after the acknowledgement sees it.
    await within(sim, leader.raw!.put({ context: sim.context(leader), key: b('a'), value: b('2'), ttlSeconds: '0' }));
    assert.equal(String((await within(sim, rawGet(sim, f!, 'a'))).value), '2');
  }, { quietAfterTicks: 20 }));

  it('a replica read that waited while its replica applied a split answers EpochNotMatch (raw and txn); the new region serves it', () => withSim(async (sim, leader, [f]) => {
    const writeTs = composeTs(Date.now(), 1);
    // A transactional record of 'z' to read (two phases through the leader), and a raw one.
    const pre = await within(sim, leader.txn!.prewrite({
      context: sim.context(leader), mutations: [{ op: 'Put', key: b('z'), value: b('zz'), assertion: 'None' }], primaryLock: b('z'), startVersion: String(writeTs),
      lockTtl: '3000', skipConstraintCheck: false, txnSize: '1', minCommitTs: '0', maxCommitTs: '0', tryOnePc: false,
    } as unknown as kvrpcpb.PrewriteRequest));
    assert.deepEqual(pre.errors ?? [], []);
    const com = await within(sim, leader.txn!.commit({ context: sim.context(leader), keys: [b('z')], startVersion: String(writeTs), commitVersion: String(writeTs + 1n) }));
    assert.equal(com.error ?? null, null);
    await within(sim, leader.raw!.put({ context: sim.context(leader), key: b('y'), value: b('yy'), ttlSeconds: '0' }));
    const fPeer = f!.store!.peers.get(sim.region.id)!;
    await until(sim, 'the follower to catch up', () => fPeer.applied === leader.store!.peers.get(sim.region.id)!.applied);
    // The follower hears no append (so it applies no split) until the reads are out.
    let isHolding = true;
    sim.intercept = (m) => (isHolding && m.to === f!.storeId && (m.message.type === 'MsgApp' || m.message.type === 'MsgHeartbeat') ? 'hold' : 'deliver');
    const version = fPeer.region.epoch.version;
    const split = within(sim, sim.split(sim.region.id, [b('m')]));
    await until(sim, 'the split to apply on the leader', () => leader.store!.peers.get(sim.region.id)!.region.epoch.version > version);
    await split;
    const oldContext = sim.context(f!, fPeer, { replicaRead: true });
    const readTs = composeTs(Date.now(), 100);
    const txnRead = codeOf(f!.txn!.get({ context: oldContext, key: b('z'), version: String(readTs) }));
    const rawRead = codeOf(f!.raw!.get({ context: oldContext, key: b('y') }));
    for (let i = 0; i < 5; i++) await sim.advance();
    isHolding = false;
    assert.equal(await within(sim, txnRead), 'EpochNotMatch');
    assert.equal(await within(sim, rawRead), 'EpochNotMatch');
    sim.intercept = null;
    // Under the region's new epoch (and a new region's, for the half that left), a replica read there serves it.
    assert.ok(fPeer.region.epoch.version > version);
    await until(sim, 'the new region to have a leader', () => sim.leaderFor(b('z')) !== undefined);
    const fresh = sim.peerFor(f!, b('z'))!;
    const r = await within(sim, f!.txn!.get({ context: sim.context(f!, fresh, { replicaRead: true }), key: b('z'), version: String(readTs) }));
    assert.equal(String(r.value), 'zz');
  }));
});
