// The client library's PD client against real flotilla-pd processes (issue 17): connect through
// any member; GetMembers URLs well-formed; a follower's PdNotLeader carries the leader as
// structured details; timestamps strictly increasing and folded into few stream requests; region
// lookups and paged scans over a bootstrapped, split key space; the store cache and its
// invalidation; a member that only redirects is left by its leader hint, not by rediscovery; a
// wrong cluster id is a typed ClusterIdMismatch; kill -9 of the leader is ridden out; deadlines
// are honoured and close() fails waiting calls.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PdClient, type PdClientOptions } from '../../client/index.js';
import { createRng, encodeKey, errorFromWire, isFlotillaError, pdLeaderHintOf, type grpc } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import type { metapb, pdpb } from '../../proto/index.js';
import { FakePd, membersNaming } from '../support/fake-pd.js';
import { httpJson, PdTestCluster, type PdTestClient } from '../support/pd-cluster.js';

const SEED = 4242;
const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s)));

function connect(endpoints: readonly string[], extra: Partial<PdClientOptions> = {}): Promise<PdClient> {
  return PdClient.connect({ pdEndpoints: endpoints, rng: createRng(SEED), requestTimeoutMs: 20_000, ...extra });
}

function endpointOf(pd: PdTestCluster, name: string): string {
  return `127.0.0.1:${pd.spec(name).clientPort}`;
}

function wireRegion(id: string, start: string, end: string, version: number, peers: readonly [string, string][]): metapb.Region__Input {
  return { id, startKey: k(start), endKey: k(end), regionEpoch: { confVer: '1', version: String(version) }, peers: peers.map(([pid, sid]) => ({ id: pid, storeId: sid, role: 'Voter' })) };
}

function wireStore(id: string, address: string): metapb.Store__Input {
  return { id, address, statusAddress: '', state: 'Up', version: '0.1.0' };
}

function headerError(r: { header: pdpb.ResponseHeader | null }): string | undefined {
  return r.header?.error?.code;
}

/** A raw client of the serving leader, its cluster id learnt. */
async function leaderRaw(pd: PdTestCluster): Promise<{ name: string; raw: PdTestClient }> {
  const name = await pd.waitForLeader();
  const raw = pd.client(name);
  await raw.members();
  return { name, raw };
}

describe('PdClient against three real PD members', () => {
  let pd: PdTestCluster;
  let client: PdClient;
  let leaderName: string;
  /** Region ids after the split, in key order: ['', b) [b, d) [d, f) [f, h) [h, +inf). */
  const regionIds: string[] = [];
  let storeId = '';
  let leaderPeerOfSecond = '';

  before(async () => {
    pd = await PdTestCluster.start(3);
    leaderName = await pd.waitForLeader();
    client = await connect(pd.members.map((m) => endpointOf(pd, m.name)));
    await waitFor('TSO serving', () => client.getTimestamp().then(() => true, () => undefined));
  });
  after(async () => {
    client?.close();
    await pd?.close();
  });

  it('connects through any single member, leader or follower, to the same cluster and leader', async () => {
    for (const m of pd.members) {
      const c = await connect([endpointOf(pd, m.name)]);
      try {
        assert.equal(c.clusterId, client.clusterId, m.name);
        assert.equal(c.leaderAddress, endpointOf(pd, leaderName), `through ${m.name}`);
        assert.ok((await c.getTimestamp()) > 0n);
      } finally {
        c.close();
      }
    }
  });

  it('GetMembers lists http:// peer and client URLs and the HTTP API as status_url, on every member', async () => {
    for (const asked of pd.members) {
      const raw = pd.client(asked.name);
      // Each member reports its own HTTP address through raft; wait until all have landed here.
      const resp = await waitFor(`${asked.name} to know every member's status URL`, async () => {
        const r = await raw.members();
        return r.members.length === 3 && r.members.every((m) => m.statusUrl !== '' && m.clientUrls.length > 0) ? r : undefined;
      });
      for (const m of resp.members) {
        const spec = pd.spec(m.name);
        assert.deepEqual(m.peerUrls, [`http://127.0.0.1:${spec.peerPort}`], m.name);
        assert.deepEqual(m.clientUrls, [`http://127.0.0.1:${spec.clientPort}`], m.name);
        assert.equal(m.statusUrl, `http://127.0.0.1:${spec.httpPort}`, m.name);
        const health = await httpJson(`${m.statusUrl}/pd/api/v1/health`);
        assert.equal((health.body as { name: string }).name, m.name, 'the status URL reaches that member');
      }
    }
  });

  it("a follower's PdNotLeader carries the leader as structured details (gRPC header and HTTP body)", async () => {
    const follower = pd.members.find((m) => m.name !== leaderName)!.name;
    const raw = pd.client(follower);
    await waitFor('the follower to know the leader and its URLs', async () => {
      const r = await raw.members();
      return r.leader?.name === leaderName && r.leader.clientUrls.length > 0 && r.leader.statusUrl !== '' ? true : undefined;
    });
    const refused = await raw.allocId();
    assert.equal(headerError(refused), 'PD_NOT_LEADER');
    const err = errorFromWire(refused.header!.error!);
    assert.ok(isFlotillaError(err, 'PdNotLeader'));
    const spec = pd.spec(leaderName);
    const leaderMember = (await raw.members()).leader!;
    assert.deepEqual(pdLeaderHintOf(err), {
      memberId: Number(leaderMember.memberId),
      name: leaderName,
      clientUrls: [`http://127.0.0.1:${spec.clientPort}`],
      statusUrl: `http://127.0.0.1:${spec.httpPort}`,
    });
    assert.match(err.message, new RegExp(`PD member ${follower} \\(id \\d+\\) is not the leader; the leader is ${leaderName}`));
    const http = await httpJson(pd.httpUrl(follower, 'stores'));
    assert.equal(http.status, 503);
    assert.deepEqual((http.body as { leader: unknown }).leader, pdLeaderHintOf(err));
  });

  it('timestamps: strictly increasing per caller, unique across 500 concurrent callers, folded into few requests', async () => {
    const sentBefore = client.tsoRequestsSent;
    const perCaller = await Promise.all(
      Array.from({ length: 500 }, async () => {
        const mine: bigint[] = [];
        for (let i = 0; i < 10; i++) mine.push(await client.getTimestamp());
        return mine;
      }),
    );
    const all = new Set<bigint>();
    for (const mine of perCaller) {
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! > mine[i - 1]!, `${mine[i]} > ${mine[i - 1]}`);
      for (const t of mine) all.add(t);
    }
    assert.equal(all.size, 5_000, 'no timestamp handed out twice');
    const requests = client.tsoRequestsSent - sentBefore;
    assert.ok(requests <= 100, `5,000 timestamps took ${requests} stream requests`);
    // Sequential calls after the burst are above everything handed out in it.
    const max = [...all].reduce((a, b) => (b > a ? b : a));
    assert.ok((await client.getTimestamp()) > max);
  });

  it('region lookups over a bootstrapped, split key space: by key, by id, scans in pages, the leader once PD heard one', async () => {
    const { raw } = await leaderRaw(pd);
    const [s, r, p] = await Promise.all([raw.allocId(), raw.allocId(), raw.allocId()]).then((rs) => rs.map((x) => x.id));
    storeId = s!;
    assert.equal(headerError(await raw.call('Bootstrap', { header: raw.header(), store: wireStore(storeId, '127.0.0.1:20160'), region: wireRegion(r!, '', '', 1, [[p!, storeId]]) })), undefined);
    const first = await raw.call('GetRegionByID', { header: raw.header(), regionId: r! });
    const split = await raw.call('AskBatchSplit', { header: raw.header(), region: first.region!, splitCount: 4 });
    assert.equal(split.ids.length, 4);
    const bounds = ['', 'b', 'd', 'f', 'h', ''];
    const ids = [r!, ...split.ids.map((x) => x.newRegionId)];
    const peers = [p!, ...split.ids.map((x) => x.newPeerIds[0]!)];
    const regions = ids.map((id, i) => wireRegion(id, bounds[i]!, bounds[i + 1]!, 2, [[peers[i]!, storeId]]));
    assert.equal(headerError(await raw.call('ReportBatchSplit', { header: raw.header(), regions })), undefined);
    regionIds.push(...ids);
    leaderPeerOfSecond = peers[1]!;

    const byKey = await client.getRegionByKey(k('c'));
    assert.equal(byKey?.region.id, Number(ids[1]));
    assert.deepEqual(byKey?.region.startKey, k('b'));
    assert.deepEqual(byKey?.region.endKey, k('d'));
    assert.equal(byKey?.leader, null, 'no leader reported yet');
    assert.equal((await client.getRegionByKey(k('')))?.region.id, Number(ids[0]), 'the empty key is in the first region');
    assert.equal((await client.getRegionByKey(k('zzz')))?.region.id, Number(ids[4]));
    assert.equal((await client.getRegionById(Number(ids[2])))?.region.id, Number(ids[2]));
    assert.equal(await client.getRegionById(999_999_999), null, 'an unknown region id is null, not an error');

    const everything = await client.scanRegions(k(''), k(''), 100);
    assert.deepEqual(everything.map((x) => String(x.region.id)), ids);
    const middle = await client.scanRegions(k('c'), k('g'), 100);
    assert.deepEqual(middle.map((x) => String(x.region.id)), ids.slice(1, 4));
    const limited = await client.scanRegions(k(''), k(''), 2);
    assert.deepEqual(limited.map((x) => String(x.region.id)), ids.slice(0, 2));
    assert.deepEqual(await client.scanRegions(k('g'), k('c'), 10), [], 'end ≤ start scans nothing');
    await assert.rejects(client.scanRegions(k(''), k(''), 0), (err: unknown) => isFlotillaError(err, 'InvalidArgument'));
    const paged = await connect([endpointOf(pd, leaderName)], { scanRegionsPageMax: 2 });
    try {
      assert.deepEqual((await paged.scanRegions(k(''), k(''), 100)).map((x) => String(x.region.id)), ids, 'pages of 2 cover all 5 regions in order');
      assert.deepEqual((await paged.scanRegions(k('a'), k('g'), 3)).map((x) => String(x.region.id)), ids.slice(0, 3), 'the limit holds across pages');
      assert.deepEqual((await paged.scanRegions(k('c'), k('e'), 100)).map((x) => String(x.region.id)), ids.slice(1, 3), 'the end bound holds across pages');
    } finally {
      paged.close();
    }

    // A region heartbeat names the leader; lookups then carry it.
    const stream = raw.raw.RegionHeartbeat();
    stream.on('error', () => undefined); // cancelled below, once PD has the leader
    try {
      stream.write({ header: raw.header(), region: regions[1], leader: { id: leaderPeerOfSecond, storeId, role: 'Voter' }, approximateSize: '1', approximateKeys: '1' });
      const route = await waitFor('PD to record the leader', async () => {
        const x = await client.getRegionByKey(k('c'));
        return x?.leader === null ? undefined : x;
      });
      assert.deepEqual(route?.leader, { id: Number(leaderPeerOfSecond), storeId: Number(storeId), role: 'voter' });
      assert.deepEqual((await client.scanRegions(k('b'), k('c'), 1))[0]?.leader, route?.leader);
    } finally {
      stream.cancel();
    }
  });

  it('getStore caches; invalidateStore makes the next lookup see a moved store; a lookup begun before the invalidation is not cached', async () => {
    const { raw } = await leaderRaw(pd);
    const id = (await raw.allocId()).id;
    const put = async (address: string): Promise<void> => assert.equal(headerError(await raw.call('PutStore', { header: raw.header(), store: wireStore(id, address) })), undefined);
    await put('127.0.0.1:30001');
    assert.equal((await client.getStore(Number(id))).address, '127.0.0.1:30001');
    await put('127.0.0.1:30002');
    assert.equal((await client.getStore(Number(id))).address, '127.0.0.1:30001', 'served from the cache');
    client.invalidateStore(Number(id));
    assert.equal((await client.getStore(Number(id))).address, '127.0.0.1:30002', 'asked PD again after the invalidation');

    // A lookup in flight when the store is invalidated may answer the old address to its caller,
    // but must not put it back in the cache.
    const racing = client.getStore(Number(id));
    client.invalidateStore(Number(id));
    await put('127.0.0.1:30003');
    await racing;
    assert.equal((await client.getStore(Number(id))).address, '127.0.0.1:30003');

    await assert.rejects(client.getStore(999_999_997), (err: unknown) => isFlotillaError(err, 'StoreNotFound') && !err.retryable);
  });

  it('the GC safe point: PD’s value, and the new one once advanced', async () => {
    const { raw } = await leaderRaw(pd);
    const before = await client.getGcSafePoint();
    const next = before + 1_000n;
    const resp = await raw.call('UpdateGCSafePoint', { header: raw.header(), safePoint: String(next) });
    assert.equal(headerError(resp), undefined);
    assert.equal(await client.getGcSafePoint(), next);
  });

  it('a member that only redirects is left by its leader hint, without asking GetMembers again', async () => {
    const { raw } = await leaderRaw(pd);
    const leaderUrl = `http://${endpointOf(pd, leaderName)}`;
    const notLeader: pdpb.ResponseHeader__Input = {
      clusterId: raw.clusterId,
      error: { code: 'PD_NOT_LEADER', message: 'fake member: not the leader', pdLeader: { memberId: '1', name: leaderName, clientUrls: [leaderUrl], statusUrl: '' } },
    };
    let getMembersCalls = 0;
    const fake: FakePd = await FakePd.start({
      GetMembers: (_call: grpc.ServerUnaryCall<pdpb.GetMembersRequest, pdpb.GetMembersResponse__Input>, cb: grpc.sendUnaryData<pdpb.GetMembersResponse__Input>) => {
        getMembersCalls++;
        cb(null, membersNaming(fake.address, raw.clusterId));
      },
      GetRegion: (_call: grpc.ServerUnaryCall<pdpb.GetRegionRequest, pdpb.GetRegionResponse__Input>, cb: grpc.sendUnaryData<pdpb.GetRegionResponse__Input>) => cb(null, { header: notLeader }),
      Tso: (call: grpc.ServerDuplexStream<pdpb.TsoRequest, pdpb.TsoResponse__Input>) => {
        call.on('data', () => call.write({ header: notLeader, count: 0 }));
        call.on('error', () => undefined); // the client cancelled: nothing to answer
      },
    });
    const viaFake: PdClient[] = [];
    try {
      const forTso = await connect([fake.address]);
      viaFake.push(forTso);
      assert.equal(forTso.leaderAddress, fake.address, 'the fake names itself leader');
      assert.ok((await forTso.getTimestamp()) > 0n);
      assert.equal(forTso.leaderAddress, endpointOf(pd, leaderName), 'the TSO stream moved to the hinted leader');

      const forRegions = await connect([fake.address]);
      viaFake.push(forRegions);
      assert.equal((await forRegions.getRegionByKey(k('c')))?.region.id, Number(regionIds[1]));
      assert.equal(forRegions.leaderAddress, endpointOf(pd, leaderName));
      assert.equal(getMembersCalls, 2, 'GetMembers only at the two connects: the hint was enough');
    } finally {
      for (const c of viaFake) c.close();
      await fake.close();
    }
  });

  it('a PD of another cluster is a typed, final ClusterIdMismatch at connect', async () => {
    await assert.rejects(
      connect([endpointOf(pd, leaderName)], { expectedClusterId: client.clusterId + 1n }),
      (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch') && !err.retryable && !err.message.includes('\n'),
    );
  });

  it('kill -9 of the PD leader: timestamps and region lookups keep working once a new leader serves', async () => {
    const before = await client.getTimestamp();
    const oldLeader = endpointOf(pd, leaderName);
    await pd.processes.get(leaderName)!.kill();
    // Callers that arrive while there is no leader wait for the election within their deadline.
    const during = await Promise.all(Array.from({ length: 50 }, () => client.getTimestamp()));
    assert.equal(new Set(during).size, 50);
    for (const ts of during) assert.ok(ts > before, `${ts} > ${before}: the new leader's timestamps are above the old one's`);
    const route = await client.getRegionByKey(k('c'), Date.now() + 20_000);
    assert.equal(route?.region.id, Number(regionIds[1]));
    assert.notEqual(client.leaderAddress, oldLeader);
    const newLeader = await pd.waitForLeader();
    assert.equal(client.leaderAddress, endpointOf(pd, newLeader));
  });
});

describe('PdClient: connect failures, deadlines and close', () => {
  it('connect fails with one Unavailable line naming every endpoint', async () => {
    const endpoints = ['127.0.0.1:1', '127.0.0.1:2'];
    const err = await PdClient.connect({ pdEndpoints: endpoints, requestTimeoutMs: 500, rng: createRng(SEED) }).then(
      () => assert.fail('connect must fail'),
      (e: unknown) => e,
    );
    assert.ok(isFlotillaError(err, 'Unavailable'), String(err));
    for (const e of endpoints) assert.ok(err.message.includes(`${e}:`), `names ${e}: ${err.message}`);
    assert.ok(!err.message.includes('\n'), 'one line');
    await assert.rejects(PdClient.connect({ pdEndpoints: [] }), (e: unknown) => isFlotillaError(e, 'ConfigInvalid'));
  });

  it('honours each call’s deadline while PD is down, and close() fails the calls still waiting', { timeout: 60_000 }, async () => {
    const pd = await PdTestCluster.start(1);
    // A total far beyond the test's timeout: only the call's own deadline, or close(), ends a call.
    const client = await connect([endpointOf(pd, 'pd1')], { requestTimeoutMs: 600_000 });
    const other = await connect([endpointOf(pd, 'pd1')], { requestTimeoutMs: 600_000 });
    try {
      await waitFor('TSO serving', () => client.getTimestamp().then(() => true, () => undefined));
      // close() fails callers queued in this very turn, before any answer.
      const queued = [other.getTimestamp(), other.getTimestamp(), other.getRegionByKey(k('a'))];
      other.close();
      for (const q of await Promise.allSettled(queued)) assert.ok(q.status === 'rejected' && isFlotillaError(q.reason, 'Unavailable'), JSON.stringify(q));
      await assert.rejects(other.getTimestamp(), (e: unknown) => isFlotillaError(e, 'Unavailable'));

      await pd.processes.get('pd1')!.kill();
      const deadlineMs = Date.now() + 1_000;
      await assert.rejects(client.getRegionByKey(k('a'), deadlineMs), (e: unknown) => isFlotillaError(e) && ['DeadlineExceeded', 'Unavailable'].includes(e.code));
      await assert.rejects(client.getStore(42, Date.now() + 1_000), (e: unknown) => isFlotillaError(e) && ['DeadlineExceeded', 'Unavailable'].includes(e.code));

      // Calls with no deadline of their own wait (600 s) — until close().
      const waiting = [client.getTimestamp(), client.getRegionByKey(k('a')), client.getRegionById(7), client.getGcSafePoint()];
      client.close();
      for (const w of await Promise.allSettled(waiting)) assert.ok(w.status === 'rejected' && isFlotillaError(w.reason, 'Unavailable'), JSON.stringify(w));
    } finally {
      client.close();
      other.close();
      await pd.close();
    }
  });
});
