// StoreTransport (store/transport.ts) against a model of its contract, over generated rounds with
// fake gRPC streams (no sockets): per poll round, the raft messages of every region for one
// destination store go out as ONE batch, in the order sent; a store whose address is unknown or
// whose stream is not draining gets nothing, and every message it would have carried is reported
// dropped and unreachable (sender peer, destination peer) — raft resends; a message to a peer its
// region does not list is dropped, never sent nor reported unreachable; nothing is sent twice
// (a round's queue is not carried into the next); and a stream that ends with an error makes the
// next round ask PD for the store's address again.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type ChannelCache, type PeerMeta, silentLogger } from '../../common/index.js';
import { type Message } from '../../raft/index.js';
import type { Peer } from '../../store/peer.js';
import { decodeRaftBatch } from '../../store/raft-codec.js';
import { StoreTransport } from '../../store/transport.js';

const SELF = 1;
const STORES = [2, 3, 4, 5];

class FakeCall {
  readonly batches: Buffer[] = [];
  writeReturns = true;
  /** Writes that returned false (the receiver's buffer is full). */
  fullWrites = 0;
  private drainListener: (() => void) | null = null;
  readonly errorListeners: (() => void)[] = [];
  constructor(readonly onEnd: (err: { code: number; message: string } | null) => void) {}
  write(bytes: Buffer): boolean {
    this.batches.push(bytes);
    if (!this.writeReturns) this.fullWrites++;
    return this.writeReturns;
  }
  once(event: string, fn: () => void): this {
    if (event === 'drain') this.drainListener = fn;
    return this;
  }
  on(event: string, fn: () => void): this {
    if (event === 'error') this.errorListeners.push(fn);
    return this;
  }
  end(): void {}
  drain(): void {
    const fn = this.drainListener;
    this.drainListener = null;
    fn?.();
  }
}

function fakePeer(regionId: number, peerId: number, members: readonly PeerMeta[]): Peer {
  return {
    region: { id: regionId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: members },
    peerId,
    peerById: (id: number) => members.find((p) => p.id === id),
    // As peer.ts: a leader that applied its own removal is no longer in its region's list.
    selfMeta: members.find((p) => p.id === peerId) ?? { id: peerId, storeId: SELF, role: 'voter' },
  } as unknown as Peer;
}

const heartbeat = (from: number, to: number, term: number): Message => ({
  type: 'MsgHeartbeat', to, from, term, logTerm: 0, index: 0, entries: [], commit: term, reject: false, rejectHint: 0, context: new Uint8Array(0),
});

describe('store transport: per-store batching and drop reporting (fake streams)', () => {
  it('one batch per store per round with exactly its messages; unreachable reported per message; nothing sent twice; a failed stream re-resolves', async () => {
    let checkedRounds = 0;
    const coverage = { sent: 0, unreachable: 0, strangers: 0, blockedRounds: 0, reResolves: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const rng = createRng(seed);
      // Regions 1..6, each with a peer here (id r*10+1) and on two or three other stores.
      const regions = [1, 2, 3, 4, 5, 6].map((r) => {
        const others = STORES.filter(() => rng.chance(0.6)).slice(0, 3);
        if (others.length === 0) others.push(STORES[r % STORES.length]!);
        // Region 6's replica here applied its own removal and leads on (raft.ts beginLeaving).
        const self: PeerMeta[] = r === 6 ? [] : [{ id: r * 10 + 1, storeId: SELF, role: 'voter' }];
        const members: PeerMeta[] = [...self, ...others.map((s) => ({ id: r * 10 + s, storeId: s, role: 'voter' as const }))];
        return fakePeer(r, r * 10 + 1, members);
      });
      const resolves = new Map<number, number>();
      const unreachable: string[] = [];
      let dropped = 0;
      const channels = {
        get: () => ({
          Raft: (_md: unknown, cb: (err: { code: number; message: string } | null) => void) => {
            const call = new FakeCall(cb);
            pendingDial.push(call);
            return call;
          },
        }),
      } as unknown as ChannelCache;
      const pendingDial: FakeCall[] = [];
      const transport = new StoreTransport({
        storeId: SELF, clusterId: 7n, channels, logger: silentLogger(),
        resolveAddress: (storeId) => {
          resolves.set(storeId, (resolves.get(storeId) ?? 0) + 1);
          return Promise.resolve(`store:${storeId}`);
        },
        onUnreachable: (peer, to) => unreachable.push(`${peer.peerId}>${to}`),
        onDropped: (n) => {
          dropped += n;
        },
      });
      // A stream dialled in a flush is attributed to its store by its first batch (every message
      // names its destination peer and store).
      const streamOf = new Map<number, FakeCall>();
      const blocked = new Set<number>();
      for (let round = 0; round < 30; round++) {
        // What each store should get this round, in order: [fromPeer, toPeer, term].
        const expect = new Map<number, string[]>();
        const sentThisRound: string[] = [];
        for (const peer of regions) {
          if (!rng.chance(0.6)) continue;
          const msgs: Message[] = [];
          for (let k = rng.nextInt(4); k >= 0; k--) {
            const members = peer.region.peers.filter((p) => p.storeId !== SELF);
            const stranger = rng.chance(0.1);
            const to = stranger ? 999 : members[rng.nextInt(members.length)]!.id;
            msgs.push(heartbeat(peer.peerId, to, round * 100 + msgs.length));
            if (stranger) {
              coverage.strangers++;
              continue;
            }
            const storeId = peer.peerById(to)!.storeId;
            const line = `${peer.peerId}>${to}@${round * 100 + msgs.length - 1}`;
            expect.set(storeId, [...(expect.get(storeId) ?? []), line]);
            sentThisRound.push(line);
          }
          transport.send(peer, msgs);
        }
        const unreachableBefore = unreachable.length;
        const droppedBefore = dropped;
        const batchesBefore = new Map([...streamOf].map(([s, c]) => [s, c.batches.length]));
        const fullBefore = new Map([...streamOf].map(([s, c]) => [s, c.fullWrites]));
        const strangersBefore = coverage.strangers;
        transport.flush();
        // Attribute streams dialled in this flush to stores by the messages of their first batch.
        for (const call of pendingDial.splice(0)) {
          const first = call.batches[0];
          assert.ok(first !== undefined, `seed ${seed} round ${round}: a stream dialled without a batch`);
          const storeId = decodeRaftBatch(first).msgs[0]!.toPeer.storeId;
          streamOf.set(storeId, call);
          batchesBefore.set(storeId, 0);
        }
        let wantUnreachable = 0;
        for (const storeId of STORES) {
          const want = expect.get(storeId) ?? [];
          const call = streamOf.get(storeId);
          const newBatches = call === undefined ? [] : call.batches.slice(batchesBefore.get(storeId) ?? 0);
          const got = newBatches.map((b) => decodeRaftBatch(b).msgs.map((m) => `${m.fromPeer.id}>${m.toPeer.id}@${m.message.term}`));
          const where = `seed ${seed} round ${round} store ${storeId}`;
          if (want.length === 0) {
            assert.equal(got.length, 0, `${where}: a batch with nothing queued for it: ${JSON.stringify(got)}`);
            continue;
          }
          const reachable = call !== undefined && !blocked.has(storeId);
          if (reachable) {
            assert.equal(got.length, 1, `${where}: ${got.length} batches, want one`);
            assert.deepEqual(got[0], want, `${where}: the batch`);
            for (const m of decodeRaftBatch(newBatches[0]!).msgs) assert.equal(m.toPeer.storeId, storeId, `${where}: a message for store ${m.toPeer.storeId}`);
            coverage.sent += want.length;
          } else {
            assert.equal(got.length, 0, `${where}: sent while ${call === undefined ? 'unresolved' : 'not draining'}`);
            wantUnreachable += want.length;
            coverage.unreachable += want.length;
          }
        }
        const reported = unreachable.slice(unreachableBefore);
        assert.equal(reported.length, wantUnreachable, `seed ${seed} round ${round}: ${reported.length} unreachable reports, want ${wantUnreachable}: ${JSON.stringify(reported)}`);
        assert.equal(dropped - droppedBefore, wantUnreachable + (coverage.strangers - strangersBefore), `seed ${seed} round ${round}: dropped count`);
        checkedRounds++;
        // A write that returned false blocks its stream until it drains.
        for (const [storeId, call] of streamOf) {
          if (call.fullWrites > (fullBefore.get(storeId) ?? 0)) {
            blocked.add(storeId);
            coverage.blockedRounds++;
          }
        }
        // Let address lookups land (they are promises), then change the weather for the next round.
        await Promise.resolve();
        await Promise.resolve();
        for (const storeId of STORES) {
          const call = streamOf.get(storeId);
          if (call === undefined) continue;
          if (blocked.has(storeId)) {
            if (rng.chance(0.5)) {
              blocked.delete(storeId);
              call.writeReturns = true;
              call.drain();
            }
          } else {
            call.writeReturns = !rng.chance(0.15); // the next write may find the buffer full
          }
        }
        // Now and then a stream ends with an error: the next round must ask for the address again.
        if (rng.chance(0.05)) {
          const storeId = STORES[rng.nextInt(STORES.length)]!;
          const call = streamOf.get(storeId);
          if (call !== undefined) {
            const before = resolves.get(storeId) ?? 0;
            call.onEnd({ code: 14, message: 'unavailable' });
            streamOf.delete(storeId);
            blocked.delete(storeId);
            const sender = regions.find((p) => p.region.peers.some((m) => m.storeId === storeId))!;
            transport.send(sender, [heartbeat(sender.peerId, sender.region.peers.find((m) => m.storeId === storeId)!.id, 0)]);
            const droppedNow = dropped;
            transport.flush();
            assert.equal(resolves.get(storeId) ?? 0, before + 1, `seed ${seed} round ${round}: store ${storeId}'s stream failed but its address was not asked again`);
            assert.equal(dropped, droppedNow + 1, `seed ${seed} round ${round}: the message for the failed store is dropped`);
            coverage.reResolves++;
            await Promise.resolve();
            await Promise.resolve();
          }
        }
      }
      transport.close();
    }
    assert.ok(checkedRounds > 0);
    for (const [name, n] of Object.entries(coverage)) assert.ok(n > 0, `coverage: ${name} is 0 (${JSON.stringify(coverage)})`);
  });
});
