// Membership changes driven by PD's operators, end to end on real processes (1 PD + 3 stores, then
// a 4th; real RocksDB and gRPC): POST /operators {kind: 'add-peer'} makes PD send the region's
// leader an add-learner step, then a promotion once the store shows the learner; the new store's
// replica comes to life on demand and is filled by a region snapshot, catches up, and counts as a
// voter. {kind: 'remove-peer'} of the leader's own store moves leadership first, then removes it;
// the removed store destroys its replica. Every acknowledged write stays readable throughout. Bad
// operator requests get typed errors. (The store's side of each step is unit-tested in
// conf-change.test.ts; conf-change.integration.test.ts drives the same code through the store.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../deploy/index.js';
import { StoreTestCluster } from '../support/store-cluster.js';
import { httpJson } from '../support/pd-cluster.js';
import { GC_ARGS, GC_COUNT_LIMIT, RegionProbe } from '../support/store-regions.js';

const COUNT_LIMIT = GC_COUNT_LIMIT;

interface PdRegion {
  id: number;
  peers: { id: number; storeId: number; role: 'voter' | 'learner' }[];
  leaderPeerId: number;
}

describe('PD membership operators: add-peer and remove-peer, executed by the stores', () => {
  let cluster: StoreTestCluster;
  let probe: RegionProbe;

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: GC_ARGS });
    probe = new RegionProbe(cluster);
  });
  after(async () => {
    await cluster?.stop();
  });

  const pdRegion = async (id: number): Promise<PdRegion> => {
    const r = await cluster.pdApi(`region/id/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as PdRegion;
  };

  const postOperator = async (body: unknown): Promise<{ status: number; body: unknown }> => {
    const leader = await cluster.pd.waitForLeader();
    return httpJson(cluster.pd.httpUrl(leader, 'operators'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  };

  const operatorsPending = (): Promise<number> => cluster.operatorsPending();

  it('adds a 4th store\'s peer: learner, snapshot, promotion — and the data is there', async () => {
    const leader = await probe.leader();
    await probe.writeKeys(leader, 'a', COUNT_LIMIT * 4);
    await waitFor('the log compacted', async () => ((await probe.mustRegionOf(leader.index)).truncatedIndex > 5 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    const added = await cluster.addStore();
    await waitFor('PD to know the 4th store', async () => ((await cluster.pdApi(`store/${added.id}`)).status === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    const regionId = leader.region.id;
    const r = await postOperator({ regionId, kind: 'add-peer', storeId: added.id });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const steps = (r.body as { steps: { kind: string }[] }).steps.map((s) => s.kind);
    assert.deepEqual(steps, ['addPeer', 'promoteLearner']);
    const region = await waitFor('PD to see the 4th store\'s peer as a voter', async () => {
      const reg = await pdRegion(regionId);
      return reg.peers.some((p) => p.storeId === added.id && p.role === 'voter') ? reg : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
    assert.equal(region.peers.length, 4);
    await waitFor('the operator to finish', async () => ((await operatorsPending()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    const now = await probe.leader();
    const target = (await probe.mustRegionOf(now.index)).appliedIndex;
    await probe.waitApplied(3, target);
    // Its data is the leader's: stop it and read its RocksDB, then bring it back.
    await probe.assertStoppedReplicaHolds(3);
    await cluster.restartStore(3);
    await probe.writeKeys(await probe.leader(), 'b', 20);
    await probe.readAll(await probe.leader());
  });

  it('removes the leader\'s own store: leadership moves first, then the peer goes and its store destroys it', async () => {
    const leader = await probe.leader();
    const regionId = leader.region.id;
    const leaderStoreId = cluster.stores[leader.index]!.id;
    const r = await postOperator({ regionId, kind: 'remove-peer', storeId: leaderStoreId });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual((r.body as { steps: { kind: string }[] }).steps.map((s) => s.kind), ['transferLeader', 'removePeer']);
    await waitFor('PD to see the peer removed', async () => {
      const reg = await pdRegion(regionId);
      return reg.peers.every((p) => p.storeId !== leaderStoreId) && reg.peers.length === 3 ? true : undefined;
    }, { timeoutMs: 90_000, intervalMs: 200 });
    await waitFor(`store ${leader.index} to destroy its replica`, async () => {
      const status = await cluster.storeStatus(leader.index);
      return (status['regions'] as unknown[]).length === 0 && status['pendingDestroys'] === 0 ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 100 });
    const after = await probe.leader(new Set([leader.index]));
    assert.notEqual(after.index, leader.index);
    await probe.writeKeys(after, 'c', 20);
    await probe.readAll(after);
  });

  it('refuses bad membership operators with typed errors', async () => {
    const leader = await probe.leader();
    const regionId = leader.region.id;
    const region = await pdRegion(regionId);
    const holder = region.peers[0]!.storeId;
    const cases: [unknown, number, string][] = [
      [{ regionId, kind: 'add-peer' }, 400, 'storeId'],
      [{ regionId, kind: 'add-peer', storeId: 'x' }, 400, 'storeId'],
      [{ regionId, kind: 'add-peer', storeId: 9_999 }, 404, 'store 9999'],
      [{ regionId, kind: 'add-peer', storeId: holder }, 400, 'already has a peer'],
      [{ regionId, kind: 'remove-peer', storeId: 9_999 }, 400, 'no peer on store 9999'],
      [{ regionId: 424_242, kind: 'remove-peer', storeId: holder }, 404, 'not found'],
      [{ regionId, kind: 'move-peer', storeId: holder }, 400, 'kind must be'],
    ];
    for (const [body, status, text] of cases) {
      const r = await postOperator(body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.ok(JSON.stringify(r.body).includes(text), `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
    }
    assert.equal(await operatorsPending(), 0, 'a refused operator was queued');
  });
});
