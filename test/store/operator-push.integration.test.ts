// PD pushes an operator's step to the region's leader store at once, on that store's region
// heartbeat stream (placement-driver/service.ts pushOperatorSteps), instead of waiting for the
// region's next heartbeat. Real processes: 1 PD + 3 stores whose periodic heartbeats come only
// every 10 minutes (--pd-heartbeat-ms), so a step that waited for one would not arrive within the
// test's deadline; a transfer-leader operator must still be carried out well within it, and so must
// an add-peer operator's promotion of its learner, which waits for the learner to catch up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../deploy/index.js';
import { httpJson } from '../support/pd-cluster.js';
import { StoreTestCluster } from '../support/store-cluster.js';
import { RegionProbe } from '../support/store-regions.js';

/** Far longer than the deadline below: without the push, no heartbeat would carry the step in time. */
const HEARTBEAT_MS = 600_000;
const DEADLINE_MS = 30_000;

interface PdRegion {
  readonly id: number;
  readonly peers: readonly { readonly id: number; readonly storeId: number; readonly role: string }[];
  readonly leaderPeerId: number;
}

describe('PD pushes operator steps to the leader store at once', () => {
  let cluster: StoreTestCluster;
  let probe: RegionProbe;

  before(async () => {
    cluster = await StoreTestCluster.start({
      stores: 3, pdCount: 1, extraStoreArgs: ['--pd-heartbeat-ms', String(HEARTBEAT_MS)],
      // A snapshot install takes 1.5 s more: a learner is still catching up when PD asks for its promotion.
      storeEnv: { FLOTILLA_FAILPOINTS: 'store::snapshot-after-applying-state=sleep(1500)' },
    });
    probe = new RegionProbe(cluster);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('a transfer-leader operator is carried out long before the region\'s next heartbeat', async () => {
    const region = await waitFor('a region with 3 voters and a leader', async () => {
      const regions = ((await cluster.pdApi('regions')).body as { regions: PdRegion[] }).regions;
      const r = regions[0];
      return r !== undefined && r.leaderPeerId !== 0 && r.peers.filter((p) => p.role === 'voter').length === 3 ? r : undefined;
    }, { timeoutMs: 120_000, intervalMs: 200 });
    const leaderStore = region.peers.find((p) => p.id === region.leaderPeerId)!.storeId;
    const to = region.peers.find((p) => p.storeId !== leaderStore)!;
    const pd = await cluster.pd.waitForLeader();
    const r = await httpJson(cluster.pd.httpUrl(pd, 'operators'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: region.id, kind: 'transfer-leader', toStoreId: to.storeId }) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    // The new leader reports itself at once (its first heartbeat as leader): PD then shows it.
    await waitFor(`the leadership on store ${to.storeId}`, async () => {
      const now = (await cluster.pdApi(`region/id/${region.id}`)).body as PdRegion;
      return now.leaderPeerId === to.id ? true : undefined;
    }, { timeoutMs: DEADLINE_MS, intervalMs: 200 });
  });

  it('an add-peer operator: the learner on a new store is promoted once it caught up, not at the next heartbeat', async () => {
    // The promotion is skipped while the learner catches up (its snapshot, 1.5 s slower here); the
    // leader beats at once when it has caught up (server.ts checkCatchUps) and PD answers with the
    // promotion. PD also resends a pending step every 3 s, so the promotion alone proves nothing
    // about the beat: the leader store's counter of such beats does.
    const added = await cluster.addStore();
    // The store answers /status once registered; PD's view of it comes with its first heartbeat.
    await waitFor(`PD to know store ${added.id}`, async () => ((await cluster.pdApi(`store/${added.id}`)).status === 200 ? true : undefined), { timeoutMs: DEADLINE_MS, intervalMs: 100 });
    const region = ((await cluster.pdApi('regions')).body as { regions: PdRegion[] }).regions[0]!;
    const pd = await cluster.pd.waitForLeader();
    const r = await httpJson(cluster.pd.httpUrl(pd, 'operators'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: region.id, kind: 'add-peer', storeId: added.id }) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    await waitFor(`a voter on store ${added.id}`, async () => {
      const now = (await cluster.pdApi(`region/id/${region.id}`)).body as PdRegion;
      return now.peers.some((p) => p.storeId === added.id && p.role === 'voter') ? true : undefined;
    }, { timeoutMs: DEADLINE_MS, intervalMs: 200 });
    let beats = 0;
    for (let i = 0; i < cluster.stores.length; i++) beats += await probe.metric(i, 'flotilla_store_catch_up_heartbeats_total');
    assert.ok(beats >= 1, 'the leader sent a heartbeat when the learner caught up');
  });
});
