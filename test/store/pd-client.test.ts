// The store's PD client against real flotilla-pd processes: connect and cluster id, ids,
// bootstrap (once, then already-bootstrapped), store registration and typed errors, a PD of
// another cluster refused with ClusterIdMismatch, store heartbeats, region heartbeats that reach
// PD's region view, operator steps delivered as orders, and the stream reopening after PD restarts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, encodeKey, isFlotillaError, silentLogger, type RegionMeta, type StoreMeta } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { REGION_HEARTBEATS_PENDING_MAX, StorePdClient, type RegionHeartbeat, type RegionOrder } from '../../store/pd-client.js';
import { httpJson, PdTestCluster } from '../support/pd-cluster.js';

const SEED = 1234;

function storeMeta(id: number, port: number): StoreMeta {
  return { id, address: `127.0.0.1:${port}`, statusAddress: `127.0.0.1:${port + 1}`, labels: { zone: 'z1' }, state: 'up', version: '0.1.0', startTimestampMs: Date.now() };
}

function heartbeat(region: RegionMeta, overrides: Partial<RegionHeartbeat> = {}): RegionHeartbeat {
  return {
    region,
    leader: region.peers[0]!,
    term: 2,
    approximateSizeBytes: 1_000,
    approximateKeys: 10,
    bytesWritten: 0,
    keysWritten: 0,
    bytesRead: 0,
    keysRead: 0,
    intervalMs: 10_000,
    pendingPeers: [],
    downPeers: [],
    ...overrides,
  };
}

interface RegionJson {
  id: number;
  approximateSizeBytes: number;
  approximateKeys: number;
  leaderPeerId: number;
}

async function pdRegion(pd: PdTestCluster, id: number): Promise<RegionJson | undefined> {
  const r = await httpJson(pd.httpUrl('pd1', `region/id/${id}`));
  return r.status === 200 ? (r.body as RegionJson) : undefined;
}

function connect(pd: PdTestCluster, extra: { requestTimeoutMs?: number; endpoints?: string[] } = {}): Promise<StorePdClient> {
  return StorePdClient.connect({
    connectTimeoutMs: 10_000,
    endpoints: extra.endpoints ?? [`127.0.0.1:${pd.spec('pd1').clientPort}`],
    logger: silentLogger(),
    rng: createRng(SEED),
    requestTimeoutMs: extra.requestTimeoutMs ?? 10_000,
  });
}

/**
 * Freezes PD member `leader` (SIGSTOP) until the others elect a new leader, then thaws it: alive,
 * deposed, and still the leader a client that knew it would call. Returns the new leader's name.
 */
async function depose(pd: PdTestCluster, leader: string): Promise<string> {
  const proc = pd.processes.get(leader)!;
  proc.pause();
  try {
    return await waitFor('a new PD leader', async () => {
      const names = pd.members.map((m) => m.name).filter((n) => n !== leader);
      const healths = await Promise.all(names.map((n) => pd.health(n)));
      return names.find((_, i) => healths[i]?.serving === true);
    }, { timeoutMs: 30_000, intervalMs: 100 });
  } finally {
    proc.resume();
  }
}

describe('StorePdClient against a real PD', () => {
  let pd: PdTestCluster;
  let client: StorePdClient;
  let region: RegionMeta;
  let storeId: number;

  before(async () => {
    pd = await PdTestCluster.start(1);
    client = await connect(pd);
  });
  after(async () => {
    client?.close();
    await pd?.close();
  });

  it('learns a non-zero cluster id on connect', () => {
    assert.notEqual(client.clusterId, 0n);
  });

  it('allocates strictly increasing ids', async () => {
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push(await client.allocId());
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `ids ${ids.join(',')} must increase`);
  });

  it('bootstraps once: not bootstrapped → bootstrapped → a second bootstrap is already-bootstrapped', async () => {
    assert.equal(await client.isBootstrapped(), false);
    storeId = await client.allocId();
    const regionId = await client.allocId();
    const peerId = await client.allocId();
    region = { id: regionId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: [{ id: peerId, storeId, role: 'voter' }] };
    assert.equal(await client.bootstrap(storeMeta(storeId, 20160), region), 'bootstrapped');
    assert.equal(await client.isBootstrapped(), true);
    // Another store's bootstrap loses.
    const otherStore = await client.allocId();
    const otherRegion = { ...region, id: await client.allocId(), peers: [{ id: await client.allocId(), storeId: otherStore, role: 'voter' as const }] };
    assert.equal(await client.bootstrap(storeMeta(otherStore, 20170), otherRegion), 'already-bootstrapped');
    // Our own bootstrap retried (its first answer lost) is recognised as ours.
    assert.equal(await client.bootstrap(storeMeta(storeId, 20160), region), 'bootstrapped');
  });

  it('registers a store and reads it back', async () => {
    const id = await client.allocId();
    const meta: StoreMeta = { ...storeMeta(id, 20200), labels: { zone: 'z2', host: 'h9' }, version: '0.1.1' };
    await client.putStore(meta);
    const got = await client.getStore(id);
    assert.equal(got.id, id);
    assert.equal(got.address, meta.address);
    assert.equal(got.statusAddress, meta.statusAddress);
    assert.deepEqual(got.labels, meta.labels);
    assert.equal(got.version, '0.1.1');
    assert.equal(got.state, 'up');
  });

  it('answers an unknown store with a typed StoreNotFound', async () => {
    await assert.rejects(client.getStore(999_999_999), (err: unknown) => isFlotillaError(err, 'StoreNotFound') && !err.retryable);
    await assert.rejects(
      client.storeHeartbeat({ storeId: 999_999_998, capacityBytes: 1, availableBytes: 1, usedBytes: 0, regionCount: 0, leaderCount: 0, isBusy: false, startTimestampMs: Date.now(), bytesWritten: 0, keysWritten: 0, bytesRead: 0, keysRead: 0, intervalMs: 1_000 }),
      (err: unknown) => isFlotillaError(err, 'StoreNotFound'),
    );
  });

  it('sends store heartbeats that PD records', async () => {
    await client.storeHeartbeat({ storeId, capacityBytes: 1_000_000, availableBytes: 600_000, usedBytes: 400_000, regionCount: 1, leaderCount: 1, isBusy: false, startTimestampMs: Date.now() - 1_000, bytesWritten: 5, keysWritten: 1, bytesRead: 7, keysRead: 2, intervalMs: 10_000 });
    const r = await httpJson(pd.httpUrl('pd1', `store/${storeId}`));
    assert.equal(r.status, 200);
    const body = r.body as { lastHeartbeatMs: number; stats: { capacity: string; available: string; usedSize: string; regionCount: number } | null };
    assert.ok(body.lastHeartbeatMs > 0, JSON.stringify(body));
    assert.equal(body.stats?.capacity, '1000000');
    assert.equal(body.stats?.available, '600000');
    assert.equal(body.stats?.usedSize, '400000');
    assert.equal(body.stats?.regionCount, 1);
  });

  it('delivers region heartbeats on the stream to PD', async () => {
    client.regionHeartbeat(heartbeat(region, { approximateSizeBytes: 4_242, approximateKeys: 42 }));
    const seen = await waitFor('PD to show the heartbeat', async () => {
      const r = await pdRegion(pd, region.id);
      // PD keeps sizes at once and the leader after raft applies it: wait for both.
      return r?.approximateKeys === 42 && r.leaderPeerId !== 0 ? r : undefined;
    }, { timeoutMs: 10_000 });
    assert.equal(seen.approximateSizeBytes, 4_242);
    assert.equal(seen.leaderPeerId, region.peers[0]!.id);
    assert.equal(client.isRegionStreamOpen, true);
    const list = await httpJson(pd.httpUrl('pd1', 'regions'));
    assert.ok((list.body as { regions: RegionJson[] }).regions.some((r) => r.id === region.id && r.approximateKeys === 42));
  });

  it('hands PD operator steps to onRegionOrder as typed orders', async () => {
    const orders: RegionOrder[] = [];
    client.onRegionOrder((o) => orders.push(o));
    client.onRegionOrder(() => {
      throw new Error('a throwing handler must not stop the others or the stream');
    });
    // PD's HTTP API takes user keys in hex; the step carries them memcomparable-encoded.
    const splitKey = encodeKey(Buffer.from('m'));
    const added = await httpJson(pd.httpUrl('pd1', 'operators'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: region.id, kind: 'split', keys: [Buffer.from('m').toString('hex')] }) });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const order = await waitFor('a split order', () => {
      client.regionHeartbeat(heartbeat(region));
      return orders.find((o) => o.kind === 'split');
    }, { timeoutMs: 10_000, intervalMs: 100 });
    assert.equal(order.kind, 'split');
    assert.equal(order.regionId, region.id);
    assert.deepEqual(order.epoch, region.epoch);
    assert.ok(order.kind === 'split' && order.keys.length === 1 && order.keys[0]!.equals(splitKey), `keys ${order.kind === 'split' ? order.keys.map((k) => k.toString('hex')).join(',') : ''} want ${splitKey.toString('hex')}`);
    await httpJson(pd.httpUrl('pd1', `operators/${region.id}`), { method: 'DELETE' });
  });

  it('reopens the heartbeat stream after PD restarts, and unary calls follow', async () => {
    const proc = pd.processes.get('pd1')!;
    await proc.kill();
    // While PD is down, many heartbeats of one region collapse to the newest.
    for (let i = 1; i <= 50; i++) client.regionHeartbeat(heartbeat(region, { approximateKeys: 1_000 + i }));
    await waitFor('the stream to notice PD is gone', () => (client.isRegionStreamOpen ? undefined : true), { timeoutMs: 10_000 });
    assert.ok(client.pendingRegionHeartbeats <= 1, `pending ${client.pendingRegionHeartbeats}: only the newest heartbeat of a region waits`);
    await pd.startMember('pd1');
    await pd.waitForLeader();
    // The store beats periodically; a beat lost to the restart is replaced by the next one.
    const seen = await waitFor('PD to show a heartbeat sent after the restart', async () => {
      client.regionHeartbeat(heartbeat(region, { approximateKeys: 2_000 }));
      const r = await pdRegion(pd, region.id).catch(() => undefined);
      return r?.approximateKeys === 2_000 ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal(seen.id, region.id);
    assert.equal(client.isRegionStreamOpen, true);
    assert.ok((await client.allocId()) > 0);
  });
});

describe('StorePdClient: bounded heartbeat queue while PD is away', () => {
  it('keeps at most one heartbeat per region and at most REGION_HEARTBEATS_PENDING_MAX in all', async () => {
    const pd = await PdTestCluster.start(1);
    const client = await connect(pd);
    try {
      await pd.processes.get('pd1')!.kill();
      const base: RegionMeta = { id: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: [{ id: 2, storeId: 3, role: 'voter' }] };
      for (let round = 0; round < 3; round++) {
        for (let id = 1; id <= 100; id++) client.regionHeartbeat(heartbeat({ ...base, id }, { approximateKeys: round }));
      }
      await waitFor('the stream to be down', () => (client.isRegionStreamOpen ? undefined : true), { timeoutMs: 10_000 });
      for (let id = 1; id <= 100; id++) client.regionHeartbeat(heartbeat({ ...base, id }));
      assert.ok(client.pendingRegionHeartbeats <= 100, `pending ${client.pendingRegionHeartbeats} > 100 regions`);
      assert.ok(client.pendingRegionHeartbeats >= 1);
      assert.ok(REGION_HEARTBEATS_PENDING_MAX >= 10_000);
      // Past the bound the OLDEST heartbeat goes: a region heartbeating again moves to the back.
      // Fill to the bound, heartbeat region 1 (the oldest) again, then one region more: region 2
      // is dropped, region 1's fresh heartbeat kept. (White box: the queue is read directly.)
      for (let id = 101; id <= REGION_HEARTBEATS_PENDING_MAX; id++) client.regionHeartbeat(heartbeat({ ...base, id }));
      assert.equal(client.pendingRegionHeartbeats, REGION_HEARTBEATS_PENDING_MAX);
      client.regionHeartbeat(heartbeat({ ...base, id: 1 }, { approximateKeys: 777 }));
      client.regionHeartbeat(heartbeat({ ...base, id: REGION_HEARTBEATS_PENDING_MAX + 1 }));
      assert.equal(client.pendingRegionHeartbeats, REGION_HEARTBEATS_PENDING_MAX);
      const pending = (client as unknown as { pending: ReadonlyMap<number, RegionHeartbeat> }).pending;
      assert.equal(pending.get(1)?.approximateKeys, 777, 'the freshest heartbeat (region 1, sent again) was dropped');
      assert.equal(pending.has(2), false, 'the oldest heartbeat (region 2) was kept past the bound');
      assert.equal(pending.has(REGION_HEARTBEATS_PENDING_MAX + 1), true);
    } finally {
      client.close();
      await pd.close();
    }
  });
});

describe('StorePdClient: connect failures and other clusters', () => {
  it('fails with one Unavailable line naming every endpoint when no PD answers', async () => {
    const endpoints = ['127.0.0.1:1', '127.0.0.1:2'];
    const err = await StorePdClient.connect({ endpoints, logger: silentLogger(), rng: createRng(SEED), requestTimeoutMs: 500 }).then(
      () => assert.fail('connect must fail'),
      (e: unknown) => e,
    );
    assert.ok(isFlotillaError(err, 'Unavailable'), String(err));
    for (const e of endpoints) assert.ok(err.message.includes(e), `message names ${e}: ${(err as Error).message}`);
    assert.ok(!(err as Error).message.includes('\n'), 'one line');
  });

  it('refuses a PD of another cluster: at connect with expectedClusterId, and when the leader moves to it', async () => {
    const pdA = await PdTestCluster.start(1);
    const pdB = await PdTestCluster.start(1);
    let client: StorePdClient | undefined;
    try {
      const a = `127.0.0.1:${pdA.spec('pd1').clientPort}`;
      const b = `127.0.0.1:${pdB.spec('pd1').clientPort}`;
      client = await StorePdClient.connect({ endpoints: [a, b], logger: silentLogger(), rng: createRng(SEED), requestTimeoutMs: 5_000 });
      const clusterA = client.clusterId;
      assert.ok((await client.allocId()) > 0);
      // A store persisted cluster A's id; PD B serves another cluster.
      await assert.rejects(
        StorePdClient.connect({ endpoints: [b], logger: silentLogger(), rng: createRng(SEED), requestTimeoutMs: 2_000, expectedClusterId: clusterA }),
        (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch') && !err.message.includes('\n'),
      );
      // PD A goes away; the only other endpoint is B, of another cluster: refused, not served.
      await pdA.processes.get('pd1')!.kill();
      await assert.rejects(client.allocId(), (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch'));
      await assert.rejects(client.isBootstrapped(), (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch'));
    } finally {
      client?.close();
      await pdA.close();
      await pdB.close();
    }
  });

  it('fails a call with a typed error after requestTimeoutMs when PD stays down', async () => {
    const pd = await PdTestCluster.start(1);
    const client = await connect(pd, { requestTimeoutMs: 800 });
    try {
      await pd.processes.get('pd1')!.kill();
      await assert.rejects(client.allocId(), (err: unknown) => isFlotillaError(err) && (err.code === 'Unavailable' || err.code === 'DeadlineExceeded'));
      client.close();
      await assert.rejects(client.allocId(), (err: unknown) => isFlotillaError(err, 'Unavailable'));
      client.regionHeartbeat(heartbeat({ id: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: [{ id: 2, storeId: 3, role: 'voter' }] }));
      assert.equal(client.pendingRegionHeartbeats, 0, 'a closed client keeps nothing');
    } finally {
      client.close();
      await pd.close();
    }
  });
});

describe('StorePdClient: following the PD leader among 3 members', () => {
  it('retries on PdNotLeader / Unavailable and finds the new leader after the old one dies', async () => {
    const pd = await PdTestCluster.start(3);
    const endpoints = pd.members.map((m) => `127.0.0.1:${m.clientPort}`);
    let client: StorePdClient | undefined;
    try {
      const leaderName = await pd.waitForLeader();
      // Connect through a follower first: discovery must go to the leader.
      const follower = pd.members.find((m) => m.name !== leaderName)!;
      client = await StorePdClient.connect({ endpoints: [`127.0.0.1:${follower.clientPort}`, ...endpoints], logger: silentLogger(), rng: createRng(SEED), requestTimeoutMs: 20_000 });
      assert.equal(client.leaderAddress, `127.0.0.1:${pd.spec(leaderName).clientPort}`);
      const before = await client.allocId();
      await pd.processes.get(leaderName)!.kill();
      const afterId = await client.allocId();
      assert.ok(afterId > before, `${afterId} > ${before}`);
      assert.notEqual(client.leaderAddress, `127.0.0.1:${pd.spec(leaderName).clientPort}`);
    } finally {
      client?.close();
      await pd.close();
    }
  });

  it('moves its region heartbeat stream off a deposed (alive) leader that refuses heartbeats, to the new leader', async () => {
    const pd = await PdTestCluster.start(3);
    let client: StorePdClient | undefined;
    try {
      const oldLeader = await pd.waitForLeader();
      client = await StorePdClient.connect({ endpoints: [`127.0.0.1:${pd.spec(oldLeader).clientPort}`], logger: silentLogger(), rng: createRng(SEED), requestTimeoutMs: 20_000 });
      const storeId = await client.allocId();
      const region: RegionMeta = { id: await client.allocId(), startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: [{ id: await client.allocId(), storeId, role: 'voter' }] };
      assert.equal(await client.bootstrap(storeMeta(storeId, 20160), region), 'bootstrapped');
      const shows = (name: string, keys: number) => waitFor(`${name} to show ${keys} keys`, async () => {
        client!.regionHeartbeat(heartbeat(region, { approximateKeys: keys }));
        const r = await httpJson(pd.httpUrl(name, `region/id/${region.id}`)).catch(() => undefined);
        return r?.status === 200 && (r.body as RegionJson).approximateKeys === keys ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      await shows(oldLeader, 7);
      // The stream's leader is frozen while the others elect; thawed, it is a follower that
      // answers every heartbeat on the still-open stream with a not-leader header error.
      const newLeader = await depose(pd, oldLeader);
      await shows(newLeader, 8);
      assert.equal(client.isRegionStreamOpen, true);
    } finally {
      client?.close();
      await pd.close();
    }
  });

  it('retries a call that reaches a deposed (alive) leader answering PdNotLeader', async () => {
    const pd = await PdTestCluster.start(3);
    let client: StorePdClient | undefined;
    try {
      const oldLeader = await pd.waitForLeader();
      client = await StorePdClient.connect({ endpoints: [`127.0.0.1:${pd.spec(oldLeader).clientPort}`], logger: silentLogger(), rng: createRng(SEED), requestTimeoutMs: 20_000 });
      const before = await client.allocId();
      // Freeze the leader until the others elect a new one, then thaw it: it is alive, a follower,
      // and still the client's idea of the leader — its answer is PdNotLeader.
      const newLeader = await depose(pd, oldLeader);
      await waitFor('the old leader to serve as a follower', async () => {
        const h = await pd.health(oldLeader);
        return h !== undefined && !h.isLeader ? true : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
      const afterId = await client.allocId();
      assert.ok(afterId > before, `${afterId} > ${before}`);
      assert.equal(client.leaderAddress, `127.0.0.1:${pd.spec(newLeader).clientPort}`);
    } finally {
      client?.close();
      await pd.close();
    }
  });
});
