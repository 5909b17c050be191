// PD pushes an operator's step to the region's leader store at once, on that store's region
// heartbeat stream (placement-driver/service.ts pushOperatorSteps), instead of waiting for the
// region's next heartbeat. Real processes: 1 PD + 3 stores whose periodic heartbeats come only
// every 10 minutes (--pd-heartbeat-ms), so a step that waited for one would not arrive within the
// test's deadline; a transfer-leader operator must still be carried out well within it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../../deploy/index.js';
import { httpJson } from '../support/pd-cluster.js';
import { StoreTestCluster } from '../support/store-cluster.js';

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

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: ['--pd-heartbeat-ms', String(HEARTBEAT_MS)] });
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
});
