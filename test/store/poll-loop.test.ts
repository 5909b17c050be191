// PollLoop's round bookkeeping that the store's destroy path relies on: roundEnd() resolves once
// the loop running now has ended, also when that loop ran no round at all.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type RegionMeta, silentLogger, type WriteOp } from '../../common/index.js';
import { type Engine, MemoryEngine, type WriteOptions } from '../../store/engine/index.js';
import { confStateOf, Peer } from '../../store/peer.js';
import { EntryCacheBudget, PeerStorage } from '../../store/peer-storage.js';
import { PollLoop, type RaftSender } from '../../store/poll-loop.js';

/** A manual-tick loop whose engine fails every use; `sender` defaults to one that fails every use too. */
function loopWith(sender: RaftSender = { send: () => assert.fail('no round may send'), sendTombstone: () => assert.fail('no round may send'), flush: () => assert.fail('no round may flush') }): PollLoop {
  return new PollLoop({
    engine: new Proxy({}, { get: () => { throw new Error('no round may touch the engine'); } }) as Engine,
    sender,
    budget: new EntryCacheBudget(1 << 20),
    tickMs: 50,
    electionTicks: 10,
    logger: silentLogger(),
    onFatal: (err) => assert.fail(`fatal: ${String(err)}`),
    isManualTick: true,
  });
}

function loopWithoutRounds(): PollLoop {
  // No round may run in these tests: every use of the engine or sender is a failure.
  const loop = loopWith();
  loop.start();
  return loop;
}

/** Resolves 'resolved' when p does, 'pending' if it has not after many event-loop turns. */
async function settlesSoon(p: Promise<void>): Promise<'resolved' | 'pending'> {
  let state: 'resolved' | 'pending' = 'pending';
  void p.then(() => { state = 'resolved'; });
  for (let i = 0; i < 50 && state === 'pending'; i++) await new Promise((r) => setImmediate(r));
  return state;
}

describe('PollLoop.roundEnd', () => {
  it('resolves at once when no loop runs', async () => {
    assert.equal(await settlesSoon(loopWithoutRounds().roundEnd()), 'resolved');
  });

  it('resolves when the loop ends without a round because its only dirty peer was removed meanwhile', async () => {
    const loop = loopWithoutRounds();
    const peer = { regionId: 7 } as unknown as Peer;
    loop.addPeer(peer); // marks it dirty: a loop is scheduled and yields before its first round
    loop.removePeer(7); // a destroy takes the peer out during that yield …
    const ended = loop.roundEnd(); // … and waits for the running loop: it must not wait for a round that never comes
    assert.equal(await settlesSoon(ended), 'resolved');
    assert.equal(loop.isIdle, true);
  });
});

describe('PollLoop.start', () => {
  it('runs no round before start() — events only mark peers dirty — and serves them once started', async () => {
    let rounds = 0;
    // A round with nothing to write touches no engine; it flushes the sender once per phase even
    // with nothing to send: that counts rounds here.
    const loop = loopWith({ send: () => assert.fail('nothing to send'), sendTombstone: () => assert.fail('nothing to send'), flush: () => { rounds++; } });
    let served = 0;
    const peer = {
      regionId: 7, hasHeldEntries: false, raw: { hasReady: () => false, isQuiet: false },
      flushProposals: () => undefined, flushReads: () => undefined, serveReads: () => { served++; }, tick: () => undefined,
    } as unknown as Peer;
    loop.addPeer(peer); // a store loading its regions while it opens
    loop.markDirty(peer);
    loop.tick(1);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(rounds, 0, 'a round ran before start()');
    assert.equal(loop.isIdle, false, 'the peer waits, dirty');
    loop.start();
    for (let i = 0; i < 20 && !loop.isIdle; i++) await new Promise((r) => setImmediate(r));
    assert.ok(rounds > 0 && served > 0, 'the dirty peer was not served after start()');
    assert.equal(loop.isIdle, true);
  });
});

describe('PollLoop writes behind the Readys', () => {
  // While a follower's write is in flight, two Readys queue for the next batch: one appending
  // entries, one from a new leader replacing part of them. The batch must delete the old tail past
  // the replacement, measured against what the batch's earlier Ready leaves — not against the
  // durable mirror, which does not have it yet (a stale tail survives a restart: held-back plant
  // P2 of stop 39, which the store sims missed).
  it('a write that replaces entries still being written deletes their tail', async () => {
    const writes: { ops: readonly WriteOp[]; release: () => void }[] = [];
    class GatedEngine extends MemoryEngine {
      override async write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
        await new Promise<void>((release) => writes.push({ ops, release }));
        await super.write(ops, options);
      }
    }
    const engine = new GatedEngine();
    const region: RegionMeta = { id: 7, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 3, version: 1 }, peers: [1, 2, 3].map((id) => ({ id, storeId: id, role: 'voter' as const })) };
    const budget = new EntryCacheBudget(1 << 20);
    const storage = new PeerStorage(region.id, engine, budget, {
      hardState: { term: 5, vote: 0, commit: 5 }, confState: confStateOf(region), truncatedIndex: 5, truncatedTerm: 5, entries: [],
    }, () => undefined, (err) => assert.fail(String(err)));
    let loop: PollLoop | undefined;
    const peer = new Peer(storage, {
      storeId: 1, region, storage, applied: 5, approximateKeys: 0,
      raft: { electionTicks: 10, heartbeatTicks: 1, proposalTimeoutMs: 0 },
      raftLogGc: { countLimit: 1_000, hardCountLimit: 10_000, checkTicks: 1_000_000 },
      countKeys: false, rng: createRng(7), logger: silentLogger(), markDirty: (p) => loop?.markDirty(p),
    });
    loop = new PollLoop({
      engine, sender: { send: () => undefined, sendTombstone: () => undefined, flush: () => undefined }, budget,
      tickMs: 50, electionTicks: 10, logger: silentLogger(), onFatal: (err) => assert.fail(`fatal: ${String(err)}`), isManualTick: true,
    });
    loop.addPeer(peer);
    loop.start();
    const turns = async (): Promise<void> => {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
    };
    const append = (from: number, term: number, index: number, logTerm: number, terms: number[]): void => {
      const entries = terms.map((t, i) => ({ type: 'Normal' as const, term: t, index: index + 1 + i, data: new Uint8Array([i]) }));
      assert.equal(peer.raw.step({ type: 'MsgApp', from, to: 1, term, logTerm, index, entries, commit: 5, reject: false, rejectHint: 0, context: new Uint8Array(0) }).kind, 'ok');
      loop!.markDirty(peer);
    };
    append(2, 6, 5, 5, [6]); // entry 6 of term 6
    await turns();
    assert.equal(writes.length, 1, 'the first write is in flight');
    append(2, 6, 6, 6, [6, 6, 6]); // entries 7, 8, 9 of term 6: a Ready that waits for the write in flight
    await turns();
    append(3, 7, 7, 6, [7]); // a new leader: entry 8 of term 7 replaces 8 and 9, in a later Ready
    await turns();
    assert.equal(writes.length, 1, 'the later Readys wait for the first write');
    writes[0]!.release();
    await turns();
    assert.equal(writes.length, 2, 'both later Readys go into one write');
    const deleted = writes[1]!.ops.filter((op) => op.kind === 'delete').map((op) => op.key.toString('hex'));
    assert.deepEqual(deleted, [storage.scheme.entryKey(9).toString('hex')], 'entry 9 of the replaced tail is deleted in the same batch');
    writes[1]!.release();
    await turns();
    assert.equal(await engine.get(storage.scheme.entryKey(9)), null);
    assert.equal(storage.lastIndex(), 8);
    await loop.stop();
  });
});
