// Conf change on real processes (1 PD + 3 stores, then a 4th; real RocksDB and gRPC; a tiny raft
// log GC limit): a 4th store's peer added as a learner comes to life on demand (an uninitialized
// peer created by the leader's message) and gets all data by a region snapshot, then is promoted
// to voter; a removed peer's data is gone, a tombstone is left, and it does not rejoin after a
// restart; a peer removed while its store was down learns it from PD when it returns and destroys
// itself; a learner removed before any snapshot reached it (its store refuses every snapshot) is
// retired at once by a newer peer of the region on its store, or else, silent, collected through
// PD — and a peer added there later comes to life. Changes go through the store's admin action
// (POST /region/change-peer), which runs the same code as PD's operator steps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { applyStateKey, cfRange, regionStateKey } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { RocksEngine } from '../../store/engine/index.js';
import { decodeRegionState } from '../../store/local-state.js';
import { StoreTestCluster } from '../support/store-cluster.js';
import { httpJson } from '../support/pd-cluster.js';
import { GC_ARGS, GC_COUNT_LIMIT, RegionProbe, type RegionStatus } from '../support/store-regions.js';

const COUNT_LIMIT = GC_COUNT_LIMIT;

describe('conf change: learner → voter by snapshot, removal, tombstones', () => {
  let cluster: StoreTestCluster;
  let probe: RegionProbe;

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: GC_ARGS });
    probe = new RegionProbe(cluster);
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Asks the leader to change the membership; retries while leadership moves. Returns the outcome. */
  const changePeer = async (kind: 'addLearner' | 'addVoter' | 'removePeer', storeIndex: number): Promise<string> => {
    return waitFor(`${kind} of store ${storeIndex}`, async () => {
      const leader = await probe.leader();
      const r = await httpJson(`http://${cluster.stores[leader.index]!.statusAddress}/region/change-peer`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: leader.region.id, kind, storeId: cluster.stores[storeIndex]!.id }),
      }).catch(() => ({ status: 0, body: null }));
      if (r.status !== 200) return undefined;
      const outcome = (r.body as { outcome: string }).outcome;
      return outcome.startsWith('applied') || outcome === 'skipped: done' ? outcome : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
  };

  /** Store i's RocksDB (stopped): its raw keys, and its region state. */
  const inspect = async (i: number, regionId: number): Promise<{ rawKeys: number; state: string | null; hasApplyState: boolean }> => {
    const engine = await RocksEngine.open(join(cluster.stores[i]!.dataDir, 'db'));
    try {
      const snap = await engine.snapshot();
      try {
        const raw = cfRange('raw');
        const rawKeys = (await snap.scan(raw.start, raw.end, { limit: 100_000 })).length;
        const stateBytes = await snap.get(regionStateKey(regionId));
        return { rawKeys, state: stateBytes === null ? null : decodeRegionState(stateBytes, regionId).state, hasApplyState: (await snap.get(applyStateKey(regionId))) !== null };
      } finally {
        await snap.release();
      }
    } finally {
      await engine.close();
    }
  };

  /** Waits until store i hosts no region and no destroy is still clearing data. */
  const waitDestroyed = (i: number): Promise<true> => waitFor(`store ${i} to destroy its replica`, async () => {
    const status = await cluster.storeStatus(i);
    return (status['regions'] as unknown[]).length === 0 && status['pendingDestroys'] === 0 ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 100 });

  it('adds a 4th store\'s peer as a learner, which gets all data by snapshot, then promotes it to voter', async () => {
    const leader = await probe.leader();
    await probe.writeKeys(leader, 'a', COUNT_LIMIT * 5);
    await waitFor('the log compacted', async () => ((await probe.mustRegionOf(leader.index)).truncatedIndex > 5 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    await cluster.addStore();
    assert.match(await changePeer('addLearner', 3), /applied: addLearner/);
    const target = (await probe.mustRegionOf((await probe.leader()).index)).appliedIndex;
    const learner = await probe.waitApplied(3, target);
    assert.equal(learner.peers.find((p) => p.storeId === cluster.stores[3]!.id)?.role, 'learner');
    assert.ok((await probe.metric(3, 'flotilla_store_snapshots_total', 'event="applied"')) >= 1, 'the learner was filled by a snapshot');
    assert.match(await changePeer('addVoter', 3), /applied: addVoter/);
    const now = await probe.leader();
    assert.equal(now.region.peers.length, 4);
    assert.ok(now.region.peers.every((p) => p.role === 'voter'), JSON.stringify(now.region.peers));
    assert.ok(now.region.epoch.confVer >= 3, `confVer ${now.region.epoch.confVer}`);
    await probe.writeKeys(now, 'b', COUNT_LIMIT * 2);
    await probe.waitApplied(3, (await probe.mustRegionOf(now.index)).appliedIndex);
    await probe.assertStoppedReplicaHolds(3);
    await cluster.restartStore(3);
    await probe.readAll(await probe.leader());
  });

  it('a removed peer destroys its data, leaves a tombstone and does not rejoin after a restart', async () => {
    const leader = await probe.leader();
    const victim = [0, 1, 2, 3].find((i) => i !== leader.index)!;
    const regionId = leader.region.id;
    assert.match(await changePeer('removePeer', victim), /applied: remove/);
    await waitDestroyed(victim);
    // The rest keep serving; the removed store hears nothing of it.
    await probe.writeKeys(await probe.leader(), 'c', COUNT_LIMIT);
    await cluster.killStore(victim, 'SIGTERM');
    const seen = await inspect(victim, regionId);
    assert.deepEqual(seen, { rawKeys: 0, state: 'tombstone', hasApplyState: false });
    await cluster.restartStore(victim);
    await probe.writeKeys(await probe.leader(), 'd', COUNT_LIMIT);
    const status = await cluster.storeStatus(victim);
    assert.deepEqual(status['regions'], [], 'the removed store loaded no region');
    await probe.readAll(await probe.leader());
  });

  it('a peer removed while its store was down learns it from PD when it returns, and destroys itself', async () => {
    const leader = await probe.leader();
    const hosts: number[] = [];
    for (let i = 0; i < cluster.stores.length; i++) if ((await probe.regionOf(i)) !== undefined) hosts.push(i);
    const victim = hosts.find((i) => i !== leader.index)!;
    const regionId = leader.region.id;
    await cluster.killStore(victim);
    assert.match(await changePeer('removePeer', victim), /applied: remove/);
    await probe.writeKeys(await probe.leader(), 'e', COUNT_LIMIT);
    await cluster.restartStore(victim);
    await waitDestroyed(victim);
    await cluster.killStore(victim, 'SIGTERM');
    assert.deepEqual(await inspect(victim, regionId), { rawKeys: 0, state: 'tombstone', hasApplyState: false });
    await cluster.restartStore(victim);
    assert.deepEqual((await cluster.storeStatus(victim))['regions'], []);
    await probe.readAll(await probe.leader());
  });

  it('a learner removed before a snapshot reached it is retired by a newer peer, or collected when silent; a later peer comes to life', async () => {
    const regionId = (await probe.leader()).region.id;
    let target = -1;
    for (let i = 0; i < cluster.stores.length && target < 0; i++) if ((await probe.regionOf(i)) === undefined) target = i;
    assert.ok(target >= 0, 'a store without the region');
    const refuseSnapshots = { FLOTILLA_FAILPOINTS: 'store::snapshot-receive-chunk=panic' };
    /** Store `target`'s replica once it exists uninitialized as a peer other than `not`. */
    const waitUninitialized = (not: number): Promise<RegionStatus> => waitFor(`an uninitialized replica on store ${target}`, async () => {
      const r = await probe.regionOf(target);
      return r !== undefined && r.lastIndex === 0 && r.peerId !== not ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 });

    // A newer peer retires the old one at once (the collection's grace, 60 s, is far off).
    await cluster.restartStore(target, { env: refuseSnapshots });
    assert.match(await changePeer('addLearner', target), /applied: addLearner/);
    const first = await waitUninitialized(0);
    assert.match(await changePeer('removePeer', target), /applied: remove/);
    assert.match(await changePeer('addLearner', target), /applied: addLearner/);
    const second = await waitUninitialized(first.peerId);
    assert.ok(second.peerId > first.peerId, `peer ${second.peerId} after ${first.peerId}`);
    assert.equal(await probe.metric(target, 'flotilla_store_uninitialized_peer_gc_total'), 0, 'retired by the newer peer, not collected');

    // Removed for good: silent, it is collected through PD and leaves a tombstone.
    await cluster.restartStore(target, { env: { ...refuseSnapshots, FLOTILLA_STORE_UNINITIALIZED_PEER_GC_MS: '1000' } });
    await waitUninitialized(0);
    assert.match(await changePeer('removePeer', target), /applied: remove/);
    await waitDestroyed(target);
    assert.equal(await probe.metric(target, 'flotilla_store_uninitialized_peer_gc_total'), 1);
    await cluster.killStore(target, 'SIGTERM');
    assert.equal((await inspect(target, regionId)).state, 'tombstone');

    // Snapshots taken again: a peer added later is created over the tombstone and filled.
    await cluster.restartStore(target);
    assert.match(await changePeer('addLearner', target), /applied: addLearner/);
    await probe.waitApplied(target, (await probe.mustRegionOf((await probe.leader()).index)).appliedIndex);
    assert.match(await changePeer('removePeer', target), /applied: remove/);
    await waitDestroyed(target);
    await probe.readAll(await probe.leader());
  });
});
