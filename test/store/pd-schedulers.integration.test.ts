// PD's schedulers driving real stores end to end (issue F7; 1 PD + 3 stores, then more; real
// RocksDB and gRPC; schedulers every 200 ms, store heartbeats every 300 ms). (a) Adding a 4th and
// 5th store: the one region stays healthy — 3 voters, its leader where balance-leader's rule
// leaves it (one leader over five stores is within tolerance), no balance operator; raising
// maxPeerCount to 5 makes the replica checker spread replicas onto both new stores (learner,
// snapshot, promotion), lowering it to 3 removes two again, and every acknowledged write stays
// readable. (b) With maxStoreDownTimeMs at 3 s, a killed store's replica is rebuilt on a spare
// store by the replica checker, and the rebuilt replica holds every acknowledged write. (c) A
// replica lost on a store that stays up (its data destroyed and a tombstone written while the store
// was stopped, as a replica wrongly retired leaves it — merge sim seed 582) is reported down by its
// leader, and with no spare store PD removes it and adds a new replica on the same store, which
// then holds every acknowledged write.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../deploy/index.js';
import { join } from 'node:path';
import { regionStateKey } from '../../common/index.js';
import { RocksEngine } from '../../store/engine/index.js';
import { decodeRegionState } from '../../store/local-state.js';
import { destroyRegionData } from '../../store/peer-lifecycle.js';
import { httpJson } from '../support/pd-cluster.js';
import { StoreTestCluster } from '../support/store-cluster.js';
import { GC_ARGS, RegionProbe } from '../support/store-regions.js';

// PD members inherit the environment (deploy/local-process.ts): schedulers run every 200 ms, and
// the replica checker removes extra replicas once a region's membership was stable for 1 s.
process.env['FLOTILLA_PD_SCHEDULE_INTERVAL_MS'] = '200';
process.env['FLOTILLA_PD_MEMBERSHIP_SETTLE_MS'] = '1000';
const STORE_ARGS = [...GC_ARGS, '--pd-heartbeat-ms', '300'];

interface PdRegion {
  id: number;
  peers: { id: number; storeId: number; role: 'voter' | 'learner' }[];
  leaderPeerId: number;
}
interface SchedulerJson {
  name: string;
  runs: number;
  operatorsCreated: number;
}

function pdHelpers(cluster: () => StoreTestCluster) {
  const region = async (id: number): Promise<PdRegion> => {
    const r = await cluster().pdApi(`region/id/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as PdRegion;
  };
  const post = async (path: string, body: unknown): Promise<unknown> => {
    const leader = await cluster().pd.waitForLeader();
    const r = await httpJson(cluster().pd.httpUrl(leader, path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const schedulers = async (): Promise<Map<string, SchedulerJson>> => {
    const r = await cluster().pdApi('schedulers');
    return new Map((r.body as { schedulers: SchedulerJson[] }).schedulers.map((s) => [s.name, s]));
  };
  const operatorsPending = (): Promise<number> => cluster().operatorsPending();
  const voterStores = (r: PdRegion): number[] => r.peers.filter((p) => p.role === 'voter').map((p) => p.storeId).sort((a, b) => a - b);
  return { region, post, schedulers, operatorsPending, voterStores };
}


/** 1 PD + 3 stores for one describe block: started before its tests, stopped after (also on failure). */
function threeStores(extraStoreArgs: readonly string[] = []): { readonly cluster: StoreTestCluster; readonly probe: RegionProbe; readonly pd: ReturnType<typeof pdHelpers> } {
  let cluster: StoreTestCluster | undefined;
  let probe: RegionProbe | undefined;
  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: [...STORE_ARGS, ...extraStoreArgs] });
    probe = new RegionProbe(cluster);
  });
  after(async () => {
    await cluster?.stop();
  });
  const started = <T>(x: T | undefined): T => {
    assert.ok(x !== undefined, 'the cluster did not start');
    return x;
  };
  return { get cluster() { return started(cluster); }, get probe() { return started(probe); }, pd: pdHelpers(() => started(cluster)) };
}

/** Sets PD's maxStoreDownTimeMs, then writes 60 keys under `prefix` through the first region's leader. */
async function downTimeAndKeys(fx: ReturnType<typeof threeStores>, maxStoreDownTimeMs: number, prefix: string): Promise<{ readonly leader: Awaited<ReturnType<RegionProbe['leader']>>; readonly regionId: number }> {
  await fx.pd.post('config', { maxStoreDownTimeMs });
  const leader = await fx.probe.leader();
  await fx.probe.writeKeys(leader, prefix, 60);
  return { leader, regionId: leader.region.id };
}
describe('PD schedulers on real stores: new stores, replica count changes', () => {
  const fx = threeStores();

  it('adding a 4th and 5th store keeps the region healthy; maxPeerCount 5 spreads replicas onto them, 3 takes two away; data intact', { timeout: 120_000 }, async () => {
    const { cluster, probe, pd } = fx;
    const leader = await probe.leader();
    const regionId = leader.region.id;
    await probe.writeKeys(leader, 'a', 60);
    const before = await pd.region(regionId);
    const added = [await cluster.addStore(), await cluster.addStore()];
    const runsBefore = (await pd.schedulers()).get('replica-checker')!.runs;
    await waitFor('PD to hear from the new stores and run its schedulers a while', async () => {
      const stores = ((await cluster.pdApi('stores')).body as { stores: { id: number; lastHeartbeatMs: number }[] }).stores;
      const heard = added.every((s) => (stores.find((x) => x.id === s.id)?.lastHeartbeatMs ?? 0) > 0);
      return heard && (await pd.schedulers()).get('replica-checker')!.runs >= runsBefore + 10 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    // One region over five stores: every store's leader and replica count is within tolerance.
    const now = await pd.region(regionId);
    assert.deepEqual(pd.voterStores(now), pd.voterStores(before), 'the replicas moved though no move was due');
    assert.equal(now.leaderPeerId, before.leaderPeerId, 'the leader moved though balance-leader has no due move');
    const counts = await pd.schedulers();
    for (const name of ['balance-leader', 'balance-region', 'hot-region', 'merge-checker']) assert.equal(counts.get(name)!.operatorsCreated, 0, `${name} created an operator`);

    await pd.post('config', { maxPeerCount: 5 });
    const spread = await waitFor('the replica checker to put voters on both new stores', async () => {
      const r = await pd.region(regionId);
      return pd.voterStores(r).length === 5 && r.peers.length === 5 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    for (const s of added) assert.ok(pd.voterStores(spread).includes(s.id), `no voter on new store ${s.id}`);
    await waitFor('the operators to finish', async () => ((await pd.operatorsPending()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    await probe.writeKeys(await probe.leader(), 'b', 20);
    const target = (await probe.mustRegionOf((await probe.leader()).index)).appliedIndex;
    for (let i = 3; i < 5; i++) await probe.waitApplied(i, target);

    await pd.post('config', { maxPeerCount: 3 });
    await waitFor('the replica checker to remove two voters', async () => {
      const r = await pd.region(regionId);
      return r.peers.length === 3 && pd.voterStores(r).length === 3 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    await waitFor('the operators to finish', async () => ((await pd.operatorsPending()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    const last = await probe.leader();
    await probe.writeKeys(last, 'c', 20);
    await probe.readAll(last);
    assert.ok((await pd.schedulers()).get('replica-checker')!.operatorsCreated >= 4, 'the replica checker did not make the changes');
  });
});

describe('PD schedulers on real stores: a store down longer than maxStoreDownTimeMs', () => {
  const fx = threeStores();

  it('rebuilds a killed store\'s replica on the spare store, which then holds every acknowledged write', { timeout: 120_000 }, async () => {
    const { cluster, probe, pd } = fx;
    const { leader, regionId } = await downTimeAndKeys(fx, 3_000, 'd');
    const spare = await cluster.addStore();
    const spareIndex = cluster.stores.length - 1;
    const victimIndex = [0, 1, 2].find((i) => i !== leader.index)!;
    const victimId = cluster.stores[victimIndex]!.id;
    await cluster.killStore(victimIndex);
    const rebuilt = await waitFor('the replica on the killed store to be replaced on the spare', async () => {
      const r = await pd.region(regionId);
      return !r.peers.some((p) => p.storeId === victimId) && pd.voterStores(r).includes(spare.id) && r.peers.length === 3 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    assert.equal(pd.voterStores(rebuilt).length, 3);
    assert.ok((await pd.schedulers()).get('replica-checker')!.operatorsCreated >= 1);
    const now = await probe.leader(new Set([victimIndex]));
    await probe.writeKeys(now, 'e', 20);
    await probe.readAll(now);
    const target = (await probe.mustRegionOf(now.index)).appliedIndex;
    await probe.waitApplied(spareIndex, target);
    await probe.assertStoppedReplicaHolds(spareIndex);
  });
});

describe('PD schedulers on real stores: a replica lost on a store that stays up', () => {
  const fx = threeStores(['--max-peer-down-ms', '500']);

  it('its leader reports it down; PD removes it and adds a new replica on the same store, which holds every acknowledged write', { timeout: 120_000 }, async () => {
    const { cluster, probe, pd } = fx;
    const { leader, regionId } = await downTimeAndKeys(fx, 1_000, 'f');
    const victimIndex = [0, 1, 2].find((i) => i !== leader.index)!;
    const victimStore = cluster.stores[victimIndex]!;
    const lostPeerId = (await pd.region(regionId)).peers.find((p) => p.storeId === victimStore.id)!.id;
    // Lose the replica while its store is stopped: data and raft state gone, a tombstone at the
    // region's epoch, so the leader's messages (same membership) are refused as stale.
    await cluster.killStore(victimIndex, 'SIGTERM');
    const engine = await RocksEngine.open(join(victimStore.dataDir, 'db'));
    try {
      const stored = await engine.get(regionStateKey(regionId));
      assert.ok(stored !== null, `store ${victimStore.id} has no state for region ${regionId}`);
      await destroyRegionData(engine, decodeRegionState(stored, regionId).region, { hasData: true });
    } finally {
      await engine.close();
    }
    await cluster.restartStore(victimIndex);
    // The store is up and heartbeating: only the leader's report can tell PD the replica is gone.
    await probe.writeKeys(await probe.leader(new Set([victimIndex])), 'g', 20);
    const repaired = await waitFor('the lost replica to be removed and a new one added on the same store', async () => {
      const r = await pd.region(regionId);
      const there = r.peers.find((p) => p.storeId === victimStore.id);
      return there !== undefined && there.id !== lostPeerId && there.role === 'voter' && pd.voterStores(r).length === 3 ? r : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    assert.ok(!repaired.peers.some((p) => p.id === lostPeerId), 'the lost peer is still a member');
    await waitFor('the operators to finish', async () => ((await pd.operatorsPending()) === 0 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 });
    const now = await probe.leader();
    await probe.writeKeys(now, 'h', 20);
    await probe.readAll(now);
    const target = (await probe.mustRegionOf(now.index)).appliedIndex;
    await probe.waitApplied(victimIndex, target);
    // Repaired: its leader reports every member heard and none behind the compacted log.
    await waitFor('the leader to report no down or pending member', async () => {
      const r = (await cluster.pdApi(`region/id/${regionId}`)).body as { downPeers: unknown[]; pendingPeerIds: unknown[] };
      return r.downPeers.length === 0 && r.pendingPeerIds.length === 0 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await probe.assertStoppedReplicaHolds(victimIndex);
  });
});
