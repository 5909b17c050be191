// The ChangePeer rules (store/conf-change.ts) and what a leader does with a membership order
// (store/region-orders.ts), over every kind and every relation of the named peer to the region.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FlotillaError, type PeerMeta, type RegionMeta } from '../../common/index.js';
import { changePeerOf, type ChangePeerKind, confChangeOf, decideChangePeer } from '../../store/conf-change.js';
import { type LeaderView, type MembershipOrder, type OrderPlan, planMembershipOrder } from '../../store/region-orders.js';

const region: RegionMeta = {
  id: 7, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 3, version: 2 },
  peers: [{ id: 10, storeId: 1, role: 'voter' }, { id: 11, storeId: 2, role: 'voter' }, { id: 12, storeId: 3, role: 'learner' }],
};
const cmd = (kind: ChangePeerKind, id: number, storeId: number, confVer = 3) => ({ regionId: 7, epoch: { confVer, version: 2 }, kind, peer: { id, storeId, role: kind === 'addLearner' ? 'learner' as const : 'voter' as const } });

describe('ChangePeer at apply', () => {
  it('adds a learner on a new store, bumping confVer by one and nothing else', () => {
    const d = decideChangePeer(region, cmd('addLearner', 13, 4));
    assert.equal(d.kind, 'ok');
    if (d.kind !== 'ok') return;
    assert.deepEqual(d.region.epoch, { confVer: 4, version: 2 });
    assert.deepEqual(d.region.peers.at(-1), { id: 13, storeId: 4, role: 'learner' });
    assert.equal(d.region.peers.length, 4);
  });

  it('promotes a learner with addVoter, keeping its id and store', () => {
    const d = decideChangePeer(region, cmd('addVoter', 12, 3));
    assert.equal(d.kind, 'ok');
    if (d.kind === 'ok') assert.deepEqual(d.region.peers.find((p) => p.id === 12), { id: 12, storeId: 3, role: 'voter' });
  });

  it('removes a peer', () => {
    const d = decideChangePeer(region, cmd('remove', 11, 2));
    assert.equal(d.kind, 'ok');
    if (d.kind === 'ok') assert.deepEqual(d.region.peers.map((p) => p.id), [10, 12]);
  });

  it('refuses a change proposed under another confVer (stale), older or newer', () => {
    for (const confVer of [2, 4]) {
      const d = decideChangePeer(region, cmd('addLearner', 13, 4, confVer));
      assert.equal(d.kind, 'error');
      if (d.kind === 'error') assert.equal(d.error.code, 'EpochNotMatch');
    }
  });

  it('refuses what would break the region: a second peer on a store, a voter "promoted", an absent peer removed, the last peer removed', () => {
    const bad = [cmd('addLearner', 13, 2), cmd('addLearner', 10, 9), cmd('addVoter', 10, 1), cmd('addVoter', 14, 1), cmd('remove', 99, 9)];
    for (const c of bad) assert.equal(decideChangePeer(region, c).kind, 'error', JSON.stringify(c));
    const single: RegionMeta = { ...region, peers: [{ id: 10, storeId: 1, role: 'voter' }] };
    assert.equal(decideChangePeer(single, cmd('remove', 10, 1)).kind, 'error');
  });

  it('decides every kind × peer id × store × confVer like a reference model (ids and stores in, out of and across the region)', () => {
    const regions: RegionMeta[] = [region, { ...region, peers: [{ id: 10, storeId: 1, role: 'voter' }] }, { ...region, peers: [{ id: 12, storeId: 3, role: 'learner' }, { id: 11, storeId: 2, role: 'voter' }] }];
    const model = (r: RegionMeta, c: ReturnType<typeof cmd>): RegionMeta['peers'] | 'EpochNotMatch' | 'InvalidArgument' => {
      if (c.epoch.confVer !== r.epoch.confVer) return 'EpochNotMatch';
      const sameId = r.peers.filter((p) => p.id === c.peer.id);
      const sameStore = r.peers.filter((p) => p.storeId === c.peer.storeId);
      if (c.kind === 'addLearner') return sameId.length > 0 || sameStore.length > 0 ? 'InvalidArgument' : [...r.peers, { id: c.peer.id, storeId: c.peer.storeId, role: 'learner' }];
      if (c.kind === 'addVoter') {
        if (sameId.length === 0) return sameStore.length > 0 ? 'InvalidArgument' : [...r.peers, { id: c.peer.id, storeId: c.peer.storeId, role: 'voter' }];
        // Only a promotion: the same peer (id AND store), a learner.
        return sameId[0]!.role === 'learner' && sameId[0]!.storeId === c.peer.storeId ? r.peers.map((p) => (p.id === c.peer.id ? { ...p, role: 'voter' } : p)) : 'InvalidArgument';
      }
      if (sameId.length === 0 || r.peers.length === 1) return 'InvalidArgument';
      return r.peers.filter((p) => p.id !== c.peer.id);
    };
    const seen = new Map<string, number>();
    for (const r of regions) {
      for (const kind of ['addLearner', 'addVoter', 'remove'] as const) {
        for (const id of [10, 11, 12, 13, 99]) {
          for (const storeId of [1, 2, 3, 4, 9]) {
            for (const confVer of [2, 3, 4]) {
              const c = cmd(kind, id, storeId, confVer);
              const want = model(r, c);
              const got = decideChangePeer(r, c);
              const what = `${kind} peer ${id} store ${storeId} confVer ${confVer} on ${JSON.stringify(r.peers)}`;
              const outcome = typeof want === 'string' ? want : 'ok';
              seen.set(`${kind}:${outcome}`, (seen.get(`${kind}:${outcome}`) ?? 0) + 1);
              if (typeof want === 'string') {
                assert.equal(got.kind, 'error', `${what}: allowed, the model refuses (${want}): ${JSON.stringify(got.kind === 'ok' ? got.region.peers : null)}`);
                if (got.kind === 'error') assert.equal(got.error.code, want, what);
              } else {
                assert.equal(got.kind, 'ok', `${what}: refused (${got.kind === 'error' ? got.error.message : ''})`);
                if (got.kind === 'ok') assert.deepEqual(got.region, { ...r, epoch: { confVer: r.epoch.confVer + 1, version: r.epoch.version }, peers: want }, what);
              }
            }
          }
        }
      }
    }
    for (const kind of ['addLearner', 'addVoter', 'remove']) for (const outcome of ['ok', 'InvalidArgument', 'EpochNotMatch']) assert.ok((seen.get(`${kind}:${outcome}`) ?? 0) > 0, `no ${kind} case ${outcome}`);
  });

  it('round-trips through the conf change context for every kind, and refuses a context that disagrees with raft\'s change', () => {
    for (const kind of ['addLearner', 'addVoter', 'remove'] as const) {
      const c = cmd(kind, 13, 4);
      const cc = confChangeOf(c, 10);
      assert.deepEqual(changePeerOf(cc, 'test'), c);
      assert.throws(() => changePeerOf({ ...cc, changes: [{ type: 'AddNode', nodeId: 99 }] }, 'test'), (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption');
    }
    assert.equal(changePeerOf({ transition: 'auto', changes: [{ type: 'AddNode', nodeId: 3 }], context: new Uint8Array(0) }, 'test'), null);
    assert.throws(() => changePeerOf({ transition: 'auto', changes: [], context: Buffer.from([0xff, 0xff]) }, 'test'), FlotillaError);
  });
});

describe('membership orders on a leader', () => {
  const view = { leaderPeerId: 10, match: new Map([[11, 50], [12, 40]]), truncatedIndex: 30 };

  it('adds a learner once; a repeat is done, a store with a peer is refused', () => {
    assert.deepEqual(planMembershipOrder(region, { kind: 'addPeer', peer: { id: 13, storeId: 4, role: 'learner' } }, view), { kind: 'propose', change: 'addLearner', peer: { id: 13, storeId: 4, role: 'learner' } });
    assert.deepEqual(planMembershipOrder(region, { kind: 'addPeer', peer: { id: 12, storeId: 3, role: 'learner' } }, view), { kind: 'skip', reason: 'done' });
    assert.deepEqual(planMembershipOrder(region, { kind: 'addPeer', peer: { id: 13, storeId: 3, role: 'learner' } }, view), { kind: 'skip', reason: 'storeHasPeer' });
  });

  it('promotes a learner only once it is caught up past the truncated log', () => {
    const order = { kind: 'addPeer' as const, peer: { id: 12, storeId: 3, role: 'voter' as const } };
    assert.equal(planMembershipOrder(region, order, view).kind, 'propose');
    assert.deepEqual(planMembershipOrder(region, order, { ...view, match: new Map([[12, 29]]) }), { kind: 'skip', reason: 'catchingUp' });
    assert.deepEqual(planMembershipOrder(region, order, { ...view, match: new Map() }), { kind: 'skip', reason: 'catchingUp' });
    assert.deepEqual(planMembershipOrder(region, { kind: 'addPeer', peer: { id: 11, storeId: 2, role: 'voter' } }, view), { kind: 'skip', reason: 'done' });
  });

  it('removes a follower, never the leader itself; an absent peer is done', () => {
    assert.equal(planMembershipOrder(region, { kind: 'removePeer', peer: { id: 11, storeId: 2, role: 'voter' } }, view).kind, 'propose');
    assert.deepEqual(planMembershipOrder(region, { kind: 'removePeer', peer: { id: 10, storeId: 1, role: 'voter' } }, view), { kind: 'skip', reason: 'isLeader' });
    assert.deepEqual(planMembershipOrder(region, { kind: 'removePeer', peer: { id: 99, storeId: 9, role: 'voter' } }, view), { kind: 'skip', reason: 'done' });
  });

  it('decides every order over a small universe as the rules say (a model; every rule reached)', () => {
    // The universe: regions of up to three peers (ids 1–3 on stores 1–3, the id's store or the next,
    // voter or learner), orders naming ids 1–4 on stores 1–4 in either role or a removal, leaders
    // 1–2, a peer's match absent / 0 / below / at / above the truncated index, truncated 0 or 5.
    // The reference follows region-orders.ts's header rules, read independently:
    const reference = (r: RegionMeta, o: MembershipOrder, v: LeaderView): OrderPlan => {
      const same = r.peers.find((p) => p.id === o.peer.id);
      const onStore = r.peers.find((p) => p.storeId === o.peer.storeId);
      if (o.kind === 'removePeer') {
        if (same === undefined) return { kind: 'skip', reason: 'done' };
        return same.id === v.leaderPeerId ? { kind: 'skip', reason: 'isLeader' } : { kind: 'propose', change: 'remove', peer: same };
      }
      if (o.peer.role === 'learner') {
        if (same !== undefined && same.storeId === o.peer.storeId) return { kind: 'skip', reason: 'done' };
        if (same !== undefined || onStore !== undefined) return { kind: 'skip', reason: 'storeHasPeer' }; // never two peers on a store
        return { kind: 'propose', change: 'addLearner', peer: o.peer };
      }
      if (same?.role === 'voter') return { kind: 'skip', reason: 'done' };
      if (same !== undefined) {
        // Caught up: it has matched something (a snapshot at least) and nothing it lacks was truncated.
        const m = v.match.get(same.id);
        const isCaughtUp = m !== undefined && m > 0 && m >= v.truncatedIndex;
        return isCaughtUp ? { kind: 'propose', change: 'addVoter', peer: { ...same, role: 'voter' } } : { kind: 'skip', reason: 'catchingUp' };
      }
      if (onStore !== undefined) return { kind: 'skip', reason: 'storeHasPeer' };
      return { kind: 'propose', change: 'addVoter', peer: o.peer };
    };
    const peerChoices: (PeerMeta | null)[][] = [1, 2, 3].map((id) => [null, ...[id, (id % 3) + 1].flatMap((storeId) => (['voter', 'learner'] as const).map((role) => ({ id, storeId, role })))]);
    const seen = new Set<string>();
    let cases = 0;
    for (const a of peerChoices[0]!) for (const bp of peerChoices[1]!) for (const c of peerChoices[2]!) {
      const peers = [a, bp, c].filter((p): p is PeerMeta => p !== null);
      if (new Set(peers.map((p) => p.storeId)).size !== peers.length) continue; // a region never has two peers on a store
      const r: RegionMeta = { ...region, peers };
      for (const kind of ['addPeer', 'removePeer'] as const) for (const id of [1, 2, 3, 4]) for (const storeId of [1, 2, 3, 4]) for (const role of ['voter', 'learner'] as const) {
        if (kind === 'removePeer' && role === 'learner') continue;
        const order: MembershipOrder = { kind, peer: { id, storeId, role } };
        for (const leaderPeerId of [1, 2]) for (const truncatedIndex of [0, 5]) for (const m of [undefined, 0, 4, 5, 6]) {
          const v: LeaderView = { leaderPeerId, truncatedIndex, match: new Map(m === undefined ? [] : [[id, m]]) };
          const want = reference(r, order, v);
          assert.deepEqual(planMembershipOrder(r, order, v), want, `${JSON.stringify(peers)} ${JSON.stringify(order)} leader ${leaderPeerId} truncated ${truncatedIndex} match ${String(m)}`);
          seen.add(want.kind === 'skip' ? want.reason : want.change);
          cases++;
        }
      }
    }
    assert.deepEqual([...seen].sort(), ['addLearner', 'addVoter', 'catchingUp', 'done', 'isLeader', 'remove', 'storeHasPeer']);
    assert.ok(cases > 10_000, `${cases} cases`);
  });
});
