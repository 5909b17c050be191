// One real flotilla-pd process over gRPC and HTTP on 127.0.0.1: bootstrap, stores, heartbeats,
// region lookup, IDs, TSO, GC safe point, config, bad input with typed errors, and a restart
// from disk with state intact.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeKey } from '../../common/index.js';
import type { metapb, pdpb } from '../../proto/index.js';
import { waitFor } from '../../deploy/index.js';
import { SCAN_REGIONS_LIMIT_MAX } from '../../placement-driver/service.js';
import { httpJson, PdTestCluster, tsOf, type PdTestClient } from '../support/pd-cluster.js';

const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s)));

function region(id: string, start: string, end: string, version: number, peers: [string, string][]): metapb.Region__Input {
  return { id, startKey: k(start), endKey: k(end), regionEpoch: { confVer: '1', version: String(version) }, peers: peers.map(([pid, sid]) => ({ id: pid, storeId: sid, role: 'Voter' })) };
}

function store(id: string, port: number): metapb.Store__Input {
  return { id, address: `127.0.0.1:${port}`, statusAddress: '', labels: [{ key: 'zone', value: 'z1' }], state: 'Up', version: '0.1.0', startTimestamp: String(Date.now()) };
}

function errCode(r: { header: pdpb.ResponseHeader | null }): string | undefined {
  return r.header?.error?.code;
}

describe('PD, one member (real process)', () => {
  let cluster: PdTestCluster;
  let pd: PdTestClient;

  before(async () => {
    cluster = await PdTestCluster.start(1);
    pd = cluster.client('pd1');
    await pd.members();
  });
  after(async () => cluster?.close());

  it('names itself leader and a cluster id in GetMembers', async () => {
    const m = await pd.members();
    assert.equal(m.members.length, 1);
    assert.equal(m.leader?.name, 'pd1');
    assert.notEqual(m.header?.clusterId, '0');
    // URLs with the scheme the proto describes; the status URL once the member has reported it.
    const spec = cluster.spec('pd1');
    const reported = await waitFor('pd1 to report its HTTP address', async () => {
      const r = await pd.members();
      return r.leader?.statusUrl === '' ? undefined : r;
    });
    assert.equal(reported.leader?.statusUrl, `http://127.0.0.1:${spec.httpPort}`);
    assert.deepEqual(reported.leader?.peerUrls, [`http://127.0.0.1:${spec.peerPort}`]);
    assert.deepEqual(reported.leader?.clientUrls, [`http://127.0.0.1:${spec.clientPort}`]);
    const health = await httpJson(`${reported.leader?.statusUrl ?? ''}/pd/api/v1/health`);
    assert.equal((health.body as { name: string }).name, 'pd1', 'the status URL reaches the member');
  });

  it('bootstraps once, registers stores, and serves region lookups', async () => {
    const before = await pd.call('IsBootstrapped', { header: pd.header() });
    assert.equal(before.bootstrapped, false);
    const [storeId, regionId, peerId] = await Promise.all([pd.allocId(), pd.allocId(), pd.allocId()]).then((rs) => rs.map((r) => r.id));
    const boot = await pd.call('Bootstrap', { header: pd.header(), store: store(storeId!, 20160), region: region(regionId!, '', '', 1, [[peerId!, storeId!]]) });
    assert.equal(errCode(boot), undefined);
    const again = await pd.call('Bootstrap', { header: pd.header(), store: store(storeId!, 20160), region: region(regionId!, '', '', 1, [[peerId!, storeId!]]) });
    assert.equal(errCode(again), 'ALREADY_BOOTSTRAPPED');
    const after = await pd.call('IsBootstrapped', { header: pd.header() });
    assert.equal(after.bootstrapped, true);

    const put2 = await pd.call('PutStore', { header: pd.header(), store: store('900', 20161) });
    assert.equal(errCode(put2), undefined);
    const got = await pd.call('GetStore', { header: pd.header(), storeId: '900' });
    assert.equal(got.store?.address, '127.0.0.1:20161');
    const all = await pd.call('GetAllStores', { header: pd.header(), excludeTombstoneStores: true });
    assert.equal(all.stores.length, 2);
    const hb = await pd.call('StoreHeartbeat', { header: pd.header(), stats: { storeId: '900', capacity: '1000', available: '900', regionCount: 0 } });
    assert.equal(errCode(hb), undefined);

    const byKey = await pd.call('GetRegion', { header: pd.header(), regionKey: k('anything') });
    assert.equal(byKey.region?.id, regionId);
    const byId = await pd.call('GetRegionByID', { header: pd.header(), regionId: regionId! });
    assert.equal(byId.region?.id, regionId);

    // A split reported by the store replaces the region; lookups follow it.
    const split = await pd.call('AskBatchSplit', { header: pd.header(), region: byKey.region!, splitCount: 1 });
    assert.equal(split.ids.length, 1);
    const newId = split.ids[0]!.newRegionId;
    const newPeer = split.ids[0]!.newPeerIds[0]!;
    const report = await pd.call('ReportBatchSplit', {
      header: pd.header(),
      regions: [region(regionId!, '', 'm', 2, [[peerId!, storeId!]]), region(newId, 'm', '', 2, [[newPeer, storeId!]])],
    });
    assert.equal(errCode(report), undefined);
    const right = await pd.call('GetRegion', { header: pd.header(), regionKey: k('zebra') });
    assert.equal(right.region?.id, newId);
    const prev = await pd.call('GetPrevRegion', { header: pd.header(), regionKey: k('zebra') });
    assert.equal(prev.region?.id, regionId);
    const scan = await pd.call('ScanRegions', { header: pd.header(), startKey: k(''), endKey: k(''), limit: 10 });
    assert.deepEqual(scan.regions.map((r) => r.region?.id), [regionId, newId]);

    // A region heartbeat with a leader records it; HTTP shows it.
    const stream = pd.raw.RegionHeartbeat();
    stream.write({
      header: pd.header(), region: region(newId, 'm', '', 2, [[newPeer, storeId!]]), leader: { id: newPeer, storeId: storeId!, role: 'Voter' }, approximateSize: '12345', approximateKeys: '10',
      downPeers: [{ peer: { id: '4242', storeId: storeId!, role: 'Voter' }, downSeconds: '42' }], pendingPeers: [{ id: '4243', storeId: storeId!, role: 'Learner' }],
    });
    const leader = await (async () => {
      for (let i = 0; i < 200; i++) {
        const r = await pd.call('GetRegionByID', { header: pd.header(), regionId: newId });
        if (r.leader !== null) return r.leader;
        await new Promise((res) => setTimeout(res, 25));
      }
      return null;
    })();
    stream.end();
    assert.equal(leader?.id, newPeer);
    const http = await httpJson(cluster.httpUrl('pd1', `region/id/${newId}`));
    assert.equal(http.status, 200);
    assert.equal((http.body as { approximateSizeBytes: number }).approximateSizeBytes, 12345);
    assert.deepEqual((http.body as { downPeers: unknown }).downPeers, [{ peerId: 4242, storeId: Number(storeId), downSeconds: 42 }], 'the leader\'s down peers, as reported');
    assert.deepEqual((http.body as { pendingPeerIds: unknown }).pendingPeerIds, [4243]);
    const byHexKey = await httpJson(cluster.httpUrl('pd1', `region/key/${Buffer.from('zebra').toString('hex')}`));
    assert.equal((byHexKey.body as { id: number }).id, Number(newId));
  });

  it('delivers an operator step in region heartbeat responses until the region shows it done', async () => {
    const current = await pd.call('GetRegion', { header: pd.header(), regionKey: k('zebra') });
    const r = current.region!;
    const leaderPeer = r.peers[0]!;
    const [newPeerId] = [(await pd.allocId()).id];
    // The region gains a second voter on store 900 (conf_ver bumped), reported by its leader.
    const grown: metapb.Region__Input = { ...r, regionEpoch: { confVer: String(Number(r.regionEpoch!.confVer) + 1), version: r.regionEpoch!.version }, peers: [...r.peers, { id: newPeerId, storeId: '900', role: 'Voter' }] };
    const stream = pd.raw.RegionHeartbeat();
    const responses: pdpb.RegionHeartbeatResponse[] = [];
    stream.on('data', (resp: pdpb.RegionHeartbeatResponse) => responses.push(resp));
    try {
      stream.write({ header: pd.header(), region: grown, leader: leaderPeer });
      await waitFor('region grown', async () => ((await pd.call('GetRegionByID', { header: pd.header(), regionId: r.id })).region?.peers.length === 2 ? true : undefined));
      const add = await httpJson(cluster.httpUrl('pd1', 'operators'), { method: 'POST', body: JSON.stringify({ regionId: Number(r.id), kind: 'transfer-leader', toStoreId: 900 }) });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      const dup = await httpJson(cluster.httpUrl('pd1', 'operators'), { method: 'POST', body: JSON.stringify({ regionId: Number(r.id), kind: 'transfer-leader', toStoreId: 900 }) });
      assert.equal(dup.status, 409, 'one operator per region');
      stream.write({ header: pd.header(), region: grown, leader: leaderPeer });
      const step = await waitFor('a transfer-leader step', () => responses.find((x) => x.transferLeader !== null && x.regionId === r.id));
      assert.equal(step.transferLeader?.peer?.storeId, '900');
      assert.equal(step.step, 'transferLeader');
      // The leader moved: the next heartbeat (from the new leader) completes the operator.
      stream.write({ header: pd.header(), region: grown, leader: { id: newPeerId, storeId: '900', role: 'Voter' } });
      await waitFor('operator finished', async () => {
        const list = await httpJson(cluster.httpUrl('pd1', 'operators'));
        return (list.body as { operators: unknown[] }).operators.length === 0 ? true : undefined;
      });
    } finally {
      stream.end();
    }
  });

  it('allocates unique ids, and keeps serving through a burst of 2,000 concurrent requests', async () => {
    // Regression: a lease guard that refused service whenever the event loop lagged two ticks
    // turned this burst into PD_NOT_LEADER errors.
    const responses = await Promise.all(Array.from({ length: 2_000 }, () => pd.allocId()));
    assert.deepEqual(responses.filter((r) => r.header?.error !== null).map((r) => r.header?.error?.message).slice(0, 3), []);
    assert.equal(new Set(responses.map((r) => r.id)).size, 2_000);
  });

  it('streams strictly increasing timestamps, N per request', async () => {
    const tso = pd.tsoStream();
    try {
      let last = 0n;
      for (let i = 0; i < 300; i++) {
        const count = 1 + (i % 50);
        const r = await tso.next(count);
        assert.equal(errCode(r), undefined);
        assert.equal(r.count, count);
        const ts = tsOf(r);
        assert.ok(ts - BigInt(count) + 1n > last, 'the first of the batch is above the previous last');
        last = ts;
      }
      const bad = await tso.next(0);
      assert.equal(errCode(bad), 'INVALID_ARGUMENT');
    } finally {
      tso.close();
    }
  });

  it('keeps the GC safe point monotonic and validates config', async () => {
    const up = await pd.call('UpdateGCSafePoint', { header: pd.header(), safePoint: '1000' });
    assert.equal(up.newSafePoint, '1000');
    const back = await pd.call('UpdateGCSafePoint', { header: pd.header(), safePoint: '10' });
    assert.equal(errCode(back), 'GC_SAFE_POINT_BACKWARDS');
    const get = await pd.call('GetGCSafePoint', { header: pd.header() });
    assert.equal(get.safePoint, '1000');
    const http = await httpJson(cluster.httpUrl('pd1', 'gc/safepoint'));
    assert.deepEqual(http.body, { safePoint: '1000' });
    const cfg = await pd.call('GetClusterConfig', { header: pd.header() });
    assert.equal(cfg.cluster?.maxPeerCount, 3);
    const badCfg = await pd.call('PutClusterConfig', { header: pd.header(), cluster: { ...cfg.cluster, maxPeerCount: 2 } });
    assert.equal(errCode(badCfg), 'INVALID_ARGUMENT');
    const goodCfg = await pd.call('PutClusterConfig', { header: pd.header(), cluster: { ...cfg.cluster, maxPeerCount: 5 } });
    assert.equal(errCode(goodCfg), undefined);
    const viaHttp = await httpJson(cluster.httpUrl('pd1', 'config'));
    assert.equal((viaHttp.body as { maxPeerCount: number }).maxPeerCount, 5);
    const badHttp = await httpJson(cluster.httpUrl('pd1', 'config'), { method: 'POST', body: JSON.stringify({ regionSplitKeys: 'many' }) });
    assert.equal(badHttp.status, 400);
    assert.match((badHttp.body as { message: string }).message, /regionSplitKeys/);
  });

  it('answers bad input with typed errors and keeps serving', async () => {
    const wrongCluster = await pd.call('AllocID', { header: pd.header('12345') });
    assert.equal(errCode(wrongCluster), 'CLUSTER_ID_MISMATCH');
    const noStore = await pd.call('GetStore', { header: pd.header(), storeId: '424242' });
    assert.equal(errCode(noStore), 'STORE_NOT_FOUND');
    const zeroId = await pd.call('GetStore', { header: pd.header(), storeId: '0' });
    assert.equal(errCode(zeroId), 'INVALID_ARGUMENT');
    const noRegion = await pd.call('GetRegionByID', { header: pd.header(), regionId: '987654' });
    assert.equal(errCode(noRegion), 'REGION_NOT_FOUND');
    const inverted = await pd.call('ReportBatchSplit', { header: pd.header(), regions: [region('77', 'z', 'a', 3, [['78', '1']])] });
    assert.equal(errCode(inverted), 'INVALID_ARGUMENT');
    const badStore = await pd.call('PutStore', { header: pd.header(), store: { ...store('901', 1), address: '' } });
    assert.equal(errCode(badStore), 'INVALID_ARGUMENT');
    const tooMany = await pd.call('ScanRegions', { header: pd.header(), limit: 1_000_000 });
    assert.equal(errCode(tooMany), 'LIMIT_EXCEEDED');
    // The limit at N and N + 1: the largest allowed scan is served, one more is refused.
    const atMax = await pd.call('ScanRegions', { header: pd.header(), limit: SCAN_REGIONS_LIMIT_MAX });
    assert.equal(errCode(atMax), undefined, `limit ${SCAN_REGIONS_LIMIT_MAX}: ${JSON.stringify(atMax.header?.error)}`);
    assert.ok((atMax.regions ?? []).length >= 1);
    assert.equal(errCode(await pd.call('ScanRegions', { header: pd.header(), limit: SCAN_REGIONS_LIMIT_MAX + 1 })), 'LIMIT_EXCEEDED');
    const longKey = await pd.call('GetRegion', { header: pd.header(), regionKey: k('a') });
    assert.equal(errCode(longKey), undefined);
    const hugeKey = await pd.call('ReportBatchSplit', { header: pd.header(), regions: [region('77', 'a', 'b', 3, [['78', '1']]), { ...region('79', '', '', 3, [['80', '1']]), startKey: Buffer.alloc(20_000, 1) }] });
    assert.equal(errCode(hugeKey), 'INVALID_ARGUMENT');
    // A message over the gRPC size limit is refused by gRPC itself (RESOURCE_EXHAUSTED) and PD goes on serving.
    await assert.rejects(pd.call('PutStore', { header: pd.header(), store: { ...store('902', 2), address: 'x'.repeat(65 * 1024 * 1024) } }), { code: 8 });
    for (const path of ['store/abc', 'region/id/-1', 'regions?limit=0', 'regions?start_key=zz']) {
      const r = await httpJson(cluster.httpUrl('pd1', path));
      assert.equal(r.status, 400, path);
      assert.equal(typeof (r.body as { code: string }).code, 'string');
    }
    const huge = await httpJson(cluster.httpUrl('pd1', 'config'), { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }).catch(() => ({ status: 413, body: null }));
    assert.equal(huge.status, 413);
    // A region heartbeat with a malformed down peer: an error header on the stream, which stays open.
    const beats = pd.raw.RegionHeartbeat();
    const answers: pdpb.RegionHeartbeatResponse[] = [];
    beats.on('data', (resp: pdpb.RegionHeartbeatResponse) => answers.push(resp));
    const someRegion = (await pd.call('GetRegion', { header: pd.header(), regionKey: k('a') })).region!;
    const leaderPeer = someRegion.peers[0]!;
    for (const downPeers of [[{ peer: { id: '5', storeId: '1', role: 'Voter' as const }, downSeconds: '18446744073709551615' }], [{ peer: null, downSeconds: '1' }]]) {
      beats.write({ header: pd.header(), region: someRegion, leader: leaderPeer, downPeers });
    }
    beats.write({ header: pd.header(), region: someRegion, leader: leaderPeer, pendingPeers: [{ id: '0', storeId: '1', role: 'Learner' }] });
    await waitFor('three answers on the heartbeat stream', async () => (answers.length >= 3 ? true : undefined), { timeoutMs: 10_000, intervalMs: 25 });
    beats.end();
    for (const a of answers) assert.equal(errCode(a), 'INVALID_ARGUMENT', JSON.stringify(a.header));

    // A heartbeat whose leader is not a peer of its region.
    const strangers = pd.raw.RegionHeartbeat();
    const strangerAnswers: pdpb.RegionHeartbeatResponse[] = [];
    strangers.on('data', (resp: pdpb.RegionHeartbeatResponse) => strangerAnswers.push(resp));
    strangers.write({ header: pd.header(), region: someRegion, leader: { id: '999999', storeId: leaderPeer.storeId, role: 'Voter' } });
    await waitFor('an answer to the stranger leader', async () => (strangerAnswers.length >= 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 25 });
    strangers.end();
    assert.equal(errCode(strangerAnswers[0]!), 'INVALID_ARGUMENT');
    // Split id requests: at least one region, at most the bound.
    for (const splitCount of [0, 1_000_000]) assert.equal(errCode(await pd.call('AskBatchSplit', { header: pd.header(), region: someRegion, splitCount })), 'INVALID_ARGUMENT', `splitCount ${splitCount}`);
    // A removed store: tombstone at once (it holds no replica), never registered again, no peer added there.
    assert.equal(errCode(await pd.call('PutStore', { header: pd.header(), store: store('903', 20163) })), undefined);
    const removed = await httpJson(cluster.httpUrl('pd1', 'store/903'), { method: 'DELETE' });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.equal(errCode(await pd.call('PutStore', { header: pd.header(), store: store('903', 20163) })), 'STORE_TOMBSTONE');
    // Operators PD refuses before queueing anything.
    const op = (body: object) => httpJson(cluster.httpUrl('pd1', 'operators'), { method: 'POST', body: JSON.stringify({ regionId: Number(someRegion.id), ...body }) });
    const refusals: [string, object][] = [
      ['an empty split key', { kind: 'split', keys: [''] }],
      ['a leader on a store without a peer', { kind: 'transfer-leader', toStoreId: 424242 }],
      ['a peer on a tombstone store', { kind: 'add-peer', storeId: 903 }],
      ['removing the only voter', { kind: 'remove-peer', storeId: Number(leaderPeer.storeId) }],
    ];
    for (const [what, body] of refusals) {
      const r = await op(body);
      assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal((r.body as { code: string }).code, 'InvalidArgument', what);
    }
    assert.deepEqual((await httpJson(cluster.httpUrl('pd1', 'operators'))).body, { operators: [] }, 'nothing was queued');
    const health = await httpJson(cluster.httpUrl('pd1', 'health'));
    assert.equal((health.body as { serving: boolean }).serving, true);
  });

  it('serves every dashboard endpoint as JSON, and /metrics', async () => {
    const get = async (path: string): Promise<Record<string, unknown>> => {
      const r = await httpJson(cluster.httpUrl('pd1', path));
      assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
      return r.body as Record<string, unknown>;
    };
    assert.equal((await get('health')).serving, true);
    assert.equal((await get('members')).leaderId, (await get('leader')).id);
    const stores = await get('stores');
    assert.ok((stores.count as number) >= 2);
    const store900 = await get('store/900');
    assert.equal(store900.address, '127.0.0.1:20161');
    assert.ok((store900.lastHeartbeatMs as number) > 0, 'the heartbeat was recorded');
    // Paging: one region per page, following nextStartKey to the end (never past it: a page that
    // ends at the last region has no next key).
    const count = (await get('regions')).count as number;
    assert.ok(count >= 2, `${count} regions`);
    const ids: number[] = [];
    let next: string | null = '';
    while (next !== null) {
      const page: Record<string, unknown> = await get(`regions?limit=1&start_key=${next}`);
      ids.push(...(page.regions as { id: number }[]).map((r) => r.id));
      next = page.nextStartKey as string | null;
      assert.ok(ids.length <= count, `paging went on past the last region: ${ids.join(', ')} (next ${JSON.stringify(next)})`);
    }
    assert.equal(ids.length, count);
    assert.equal(new Set(ids).size, count, `a region paged twice: ${ids.join(', ')}`);
    // A limit of exactly the regions left ends the paging; one less leaves a next key.
    assert.equal((await get(`regions?limit=${count}`)).nextStartKey, null);
    assert.equal(((await get(`regions?limit=${count}`)).regions as unknown[]).length, count);
    assert.notEqual((await get(`regions?limit=${count - 1}`)).nextStartKey, null);
    const filtered = await get(`regions?start_key=${Buffer.from('n').toString('hex')}`);
    assert.ok((filtered.regions as unknown[]).length >= 1);
    const t1 = BigInt((await get('tso')).ts as string);
    const t2 = BigInt((await get('tso')).ts as string);
    assert.ok(t2 > t1);
    const schedulers = (await get('schedulers')).schedulers as { name: string; isEnabled: boolean }[];
    assert.deepEqual(schedulers.map((x) => [x.name, x.isEnabled]).sort(), [['balance-leader', true], ['balance-region', true], ['hot-region', true], ['merge-checker', true], ['replica-checker', true]]);
    assert.ok(Array.isArray((await get('operators')).operators));
    assert.ok(typeof (await get('config')).maxPeerCount === 'number');
    const notAllowed = await httpJson(cluster.httpUrl('pd1', 'stores'), { method: 'DELETE' });
    assert.equal(notAllowed.status, 405);
    const res = await fetch(`http://127.0.0.1:${cluster.spec('pd1').httpPort}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200);
    for (const metric of ['flotilla_pd_requests_total{', 'flotilla_pd_tso_issued_total', 'flotilla_pd_is_leader', 'flotilla_pd_raft_term', 'flotilla_pd_raft_applied_index', 'flotilla_pd_regions', 'flotilla_pd_stores', 'flotilla_pd_raft_persist_duration_seconds_bucket', 'flotilla_pd_raft_proposals_total{', 'flotilla_pd_leader_changes_total', 'flotilla_process_cpu']) {
      assert.ok(text.includes(metric), `metrics include ${metric}`);
    }
    assert.match(text, /flotilla_pd_requests_total\{[^}]*type="AllocID"[^}]*outcome="ok"/);
  });

  it('restarts from disk with its state intact and timestamps still increasing', async () => {
    const tso = pd.tsoStream();
    const before = tsOf(await tso.next(1));
    tso.close();
    const idBefore = BigInt((await pd.allocId()).id);
    await cluster.processes.get('pd1')!.stop();
    await cluster.startMember('pd1');
    await cluster.waitForLeader();
    const again = cluster.client('pd1');
    const members = await again.members();
    assert.equal(members.header?.clusterId, pd.clusterId, 'same cluster id');
    const boot = await again.call('IsBootstrapped', { header: again.header() });
    assert.equal(boot.bootstrapped, true);
    const stores = await again.call('GetAllStores', { header: again.header() });
    assert.equal(stores.stores.length, 3);
    assert.equal(stores.stores.find((st) => st.id === '903')?.state, 'Tombstone', 'a removed store stays removed across a restart');
    assert.equal((await again.call('GetAllStores', { header: again.header(), excludeTombstoneStores: true })).stores.length, 2);
    const gc = await again.call('GetGCSafePoint', { header: again.header() });
    assert.equal(gc.safePoint, '1000');
    const tso2 = again.tsoStream();
    const after = await (async () => {
      for (;;) {
        const r = await tso2.next(1);
        if (errCode(r) === undefined) return tsOf(r);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    tso2.close();
    assert.ok(after > before, 'TSO keeps increasing across a restart');
    assert.ok(BigInt((await again.allocId()).id) > idBefore, 'ids are never reused after a restart');
  });
});
