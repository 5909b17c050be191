// PollLoop's round bookkeeping that the store's destroy path relies on: roundEnd() resolves once
// the loop running now has ended, also when that loop ran no round at all.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../common/index.js';
import type { Engine } from '../../store/engine/index.js';
import type { Peer } from '../../store/peer.js';
import { EntryCacheBudget } from '../../store/peer-storage.js';
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
