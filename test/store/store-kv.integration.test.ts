// flotilla-store as users run it: 1 PD + 3 stores as real processes (real RocksDB, real gRPC on
// 127.0.0.1). The bootstrap region serves raw and transactional requests through its leader;
// every other addressing answers a typed region error; bad requests get typed errors and the
// store keeps serving (an oversized Insert value too; Insert itself is prewritten with TiKV's
// semantics); kill -9 of the leader's store under a write load loses no acknowledged
// write; restarted stores catch up and read their regions back. Region heartbeats (every 500 ms
// here) carry the region's key count to PD.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ChannelCache, channelCredentials, CLUSTER_ID_METADATA, errorFromGrpc, FlotillaError, grpc, INSECURE } from '../../common/index.js';
import { allocateStorePorts, STORE_BIN, storeArgs, waitFor } from '../../deploy/index.js';
import { StoreConnection, wasSent } from '../../client/store-connection.js';
import { encodeContextField, encodeRequest } from '../../client/batch-encoder.js';
import { PdTestCluster } from '../support/pd-cluster.js';
import { type kvrpcpb, loadProtos, messageCodec } from '../../proto/index.js';
import { type KvTestClient, StoreTestCluster } from '../support/store-cluster.js';

interface RegionStatus {
  id: number;
  peerId: number;
  epoch: { confVer: number; version: number };
  peers: { id: number; storeId: number }[];
  isLeader: boolean;
  leaderPeerId: number;
  term: number;
  appliedIndex: number;
  approximateKeys: number;
}

interface Leader {
  readonly index: number;
  readonly region: RegionStatus;
  readonly ctx: kvrpcpb.Context__Input;
  readonly kv: KvTestClient;
}

function ctxOf(region: RegionStatus, storeId: number): kvrpcpb.Context__Input {
  const peer = region.peers.find((p) => p.storeId === storeId)!;
  return { regionId: String(region.id), regionEpoch: { confVer: String(region.epoch.confVer), version: String(region.epoch.version) }, peer: { id: String(peer.id), storeId: String(storeId) } };
}

async function regionOf(cluster: StoreTestCluster, i: number): Promise<RegionStatus | undefined> {
  const status = await cluster.storeStatus(i);
  return (status['regions'] as RegionStatus[] | undefined)?.[0];
}

/** The store whose /status says it leads the region (skipping `down` stores). */
async function findLeader(cluster: StoreTestCluster, down: ReadonlySet<number> = new Set(), timeoutMs = 30_000): Promise<Leader> {
  return waitFor('a region leader', async () => {
    for (let i = 0; i < cluster.stores.length; i++) {
      if (down.has(i)) continue;
      const region = await regionOf(cluster, i).catch(() => undefined);
      if (region?.isLeader === true) return { index: i, region, ctx: ctxOf(region, cluster.stores[i]!.id), kv: cluster.kvClient(i) };
    }
    return undefined;
  }, { timeoutMs, intervalMs: 50 });
}

const b = (s: string): Buffer => Buffer.from(s);

describe('flotilla-store: 1 PD + 3 stores', () => {
  let cluster: StoreTestCluster;

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: ['--pd-heartbeat-ms', '500', '--region-key-count', 'true'] });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('bootstraps one region with a replica on every store and elects one leader', async () => {
    const leader = await findLeader(cluster);
    const ids = cluster.stores.map((s) => s.id).sort();
    assert.deepEqual(leader.region.peers.map((p) => p.storeId).sort(), ids);
    for (let i = 0; i < 3; i++) {
      const r = await regionOf(cluster, i);
      assert.equal(r?.id, leader.region.id);
      if (i !== leader.index) assert.equal(r?.isLeader, false);
    }
    // The leader tells PD at once (not at the next periodic heartbeat, 10 s by default).
    const known = await cluster.waitForRegionLeader(leader.region.id, 5_000);
    assert.equal(known.storeId, cluster.stores[leader.index]!.id);
  });

  it('serves the raw API through the leader: put, get, batch, scan both ways, CAS, delete, TTL', async () => {
    const { kv, ctx } = await findLeader(cluster);
    assert.equal((await kv.call('RawPut', { context: ctx, key: b('raw/a'), value: b('1') })).regionError, null);
    assert.equal((await kv.call('RawBatchPut', { context: ctx, pairs: [{ key: b('raw/b'), value: b('2') }, { key: b('raw/c'), value: b('3') }] })).otherError, null);
    assert.equal((await kv.call('RawGet', { context: ctx, key: b('raw/a') })).value.toString(), '1');
    assert.equal((await kv.call('RawGet', { context: ctx, key: b('raw/zz') })).notFound, true);
    const got = await kv.call('RawBatchGet', { context: ctx, keys: [b('raw/c'), b('raw/none'), b('raw/a')] });
    assert.deepEqual(got.pairs.map((p) => [p.key.toString(), p.value.toString()]), [['raw/c', '3'], ['raw/a', '1']]);
    const fwd = await kv.call('RawScan', { context: ctx, startKey: b('raw/'), endKey: b('raw0'), limit: 10 });
    assert.deepEqual(fwd.kvs.map((p) => p.key.toString()), ['raw/a', 'raw/b', 'raw/c']);
    const rev = await kv.call('RawScan', { context: ctx, startKey: b('raw/'), endKey: b('raw0'), limit: 2, reverse: true });
    assert.deepEqual(rev.kvs.map((p) => p.key.toString()), ['raw/c', 'raw/b']);
    const casMiss = await kv.call('RawCompareAndSwap', { context: ctx, key: b('raw/a'), value: b('9'), previousValue: b('0') });
    assert.deepEqual([casMiss.succeeded, casMiss.previousValue.toString()], [false, '1']);
    const casHit = await kv.call('RawCompareAndSwap', { context: ctx, key: b('raw/a'), value: b('9'), previousValue: b('1') });
    assert.equal(casHit.succeeded, true);
    const casAbsent = await kv.call('RawCompareAndSwap', { context: ctx, key: b('raw/new'), value: b('n'), previousValue: b('') });
    assert.deepEqual([casAbsent.succeeded, casAbsent.previousNotExist], [false, true]);
    const casNew = await kv.call('RawCompareAndSwap', { context: ctx, key: b('raw/new'), value: b('n'), previousNotExist: true });
    assert.deepEqual([casNew.succeeded, casNew.previousNotExist], [true, true]);
    await kv.call('RawDelete', { context: ctx, key: b('raw/b') });
    assert.equal((await kv.call('RawGet', { context: ctx, key: b('raw/b') })).notFound, true);
    await kv.call('RawDeleteRange', { context: ctx, startKey: b('raw/'), endKey: b('raw/c') });
    const left = await kv.call('RawScan', { context: ctx, startKey: b('raw/'), endKey: b('raw0'), limit: 10 });
    assert.deepEqual(left.kvs.map((p) => p.key.toString()), ['raw/c', 'raw/new']);
    await kv.call('RawPut', { context: ctx, key: b('raw/ttl'), value: b('t'), ttlSeconds: '1' });
    assert.equal((await kv.call('RawGet', { context: ctx, key: b('raw/ttl') })).value.toString(), 't');
    await waitFor('the TTL to pass', async () => ((await kv.call('RawGet', { context: ctx, key: b('raw/ttl') })).notFound ? true : undefined), { timeoutMs: 5_000, intervalMs: 100 });
    const expiredBatch = await kv.call('RawBatchGet', { context: ctx, keys: [b('raw/ttl'), b('raw/c')] });
    assert.deepEqual(expiredBatch.pairs.map((p) => p.key.toString()), ['raw/c']);
    const expiredScan = await kv.call('RawScan', { context: ctx, startKey: b('raw/'), endKey: b('raw0'), limit: 10 });
    assert.deepEqual(expiredScan.kvs.map((p) => p.key.toString()), ['raw/c', 'raw/new']);
  });

  it('runs a Percolator transaction: prewrite, reads blocked by the lock, commit, snapshot reads at both sides', async () => {
    const { kv, ctx } = await findLeader(cluster);
    const start = 1_000n << 18n;
    const prewrite = await kv.call('KvPrewrite', {
      context: ctx, primaryLock: b('t/a'), startVersion: String(start), lockTtl: '3000',
      mutations: [{ op: 'Put', key: b('t/a'), value: b('A') }, { op: 'Put', key: b('t/b'), value: b('B'.repeat(300)) }],
    });
    assert.deepEqual(prewrite.errors, []);
    const blocked = await kv.call('KvGet', { context: ctx, key: b('t/b'), version: String(start + 10n) });
    assert.equal(blocked.error?.locked?.primaryLock.toString(), 't/a');
    const commit = await kv.call('KvCommit', { context: ctx, keys: [b('t/a'), b('t/b')], startVersion: String(start), commitVersion: String(start + 5n) });
    assert.equal(commit.error, null);
    const after = await kv.call('KvBatchGet', { context: ctx, keys: [b('t/a'), b('t/b')], version: String(start + 10n) });
    assert.deepEqual(after.pairs.map((p) => p.value.toString()), ['A', 'B'.repeat(300)]);
    const before = await kv.call('KvGet', { context: ctx, key: b('t/a'), version: String(start + 4n) });
    assert.equal(before.notFound, true);
    const scan = await kv.call('KvScan', { context: ctx, startKey: b('t/'), endKey: b('t0'), limit: 10, version: String(start + 10n) });
    assert.deepEqual(scan.pairs.map((p) => p.key.toString()), ['t/a', 't/b']);
    // A second transaction that started before the commit conflicts.
    const late = await kv.call('KvPrewrite', { context: ctx, primaryLock: b('t/a'), startVersion: String(start + 3n), lockTtl: '3000', mutations: [{ op: 'Put', key: b('t/a'), value: b('X') }] });
    assert.ok(late.errors[0]?.conflict !== null && late.errors[0]?.conflict !== undefined, JSON.stringify(late.errors));
    const status = await kv.call('KvCheckTxnStatus', { context: ctx, primaryKey: b('t/a'), lockTs: String(start), currentTs: String(start + 20n) });
    assert.equal(status.commitVersion, String(start + 5n));
  });

  it('reports the region\'s key count to PD: new raw and transactional keys count, overwrites do not, deletes take away', async () => {
    const leader = await findLeader(cluster);
    const { kv, ctx } = leader;
    const before = (await regionOf(cluster, leader.index))!.approximateKeys;
    const keys = Array.from({ length: 100 }, (_, i) => b(`count/${String(i).padStart(3, '0')}`));
    assert.equal((await kv.call('RawBatchPut', { context: ctx, pairs: keys.map((key) => ({ key, value: b('v') })) })).otherError, null);
    assert.equal((await kv.call('RawBatchPut', { context: ctx, pairs: keys.slice(0, 10).map((key) => ({ key, value: b('again') })) })).otherError, null);
    assert.equal((await kv.call('RawBatchDelete', { context: ctx, keys: [...keys.slice(90, 95), b('count/absent')] })).otherError, null);
    const start = 5_000n << 18n;
    const txnKeys = [b('count-txn/a'), b('count-txn/b'), b('count-txn/c')];
    const pw = await kv.call('KvPrewrite', { context: ctx, primaryLock: txnKeys[0]!, startVersion: String(start), lockTtl: '3000', mutations: txnKeys.map((key) => ({ op: 'Put' as const, key, value: b('t') })) });
    assert.deepEqual(pw.errors, []);
    assert.equal((await kv.call('KvCommit', { context: ctx, keys: txnKeys, startVersion: String(start), commitVersion: String(start + 1n) })).error, null);
    // 100 new − 5 deleted + 3 transactional; a concurrent TTL sweep may remove one expired raw key.
    const expected = before + 98;
    const regionId = leader.region.id;
    const seen = await waitFor('PD to show the key count the leader keeps', async () => {
      const pd = await cluster.pdApi(`region/id/${regionId}`);
      const pdKeys = (pd.body as { approximateKeys?: number } | null)?.approximateKeys;
      const own = (await regionOf(cluster, leader.index))!.approximateKeys;
      return pdKeys === own && own >= expected - 1 && own <= expected ? pdKeys : undefined;
    }, { timeoutMs: 15_000, intervalMs: 100 });
    assert.ok(seen > 0);
    // Plausible against what a client sees: every visible key, and at most one expired raw key more.
    const visibleRaw = (await kv.call('RawScan', { context: ctx, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), limit: 10_000 })).kvs.length;
    const visibleTxn = (await kv.call('KvScan', { context: ctx, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), limit: 10_000, version: String(start + 10n) })).pairs.length;
    assert.ok(seen >= visibleRaw + visibleTxn && seen <= visibleRaw + visibleTxn + 1, `PD shows ${seen} keys; a client sees ${visibleRaw} raw and ${visibleTxn} transactional`);
    // Every replica keeps the same count.
    await waitFor('every replica to count the same', async () => {
      const counts = await Promise.all([0, 1, 2].map(async (i) => (await regionOf(cluster, i))!.approximateKeys));
      return counts.every((c) => c === counts[0]) ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
  });

  it('prewrites Insert: AlreadyExist for a key with a committed value, a put lock otherwise; the commit reads as a put', async () => {
    const { kv, ctx } = await findLeader(cluster);
    const start = 6_000n << 18n;
    const prewrite = (startTs: bigint, mutations: kvrpcpb.Mutation__Input[]) => kv.call('KvPrewrite', { context: ctx, primaryLock: mutations[0]!.key!, startVersion: String(startTs), lockTtl: '3000', mutations });
    const commit = async (startTs: bigint, keys: Buffer[]) => assert.equal((await kv.call('KvCommit', { context: ctx, keys, startVersion: String(startTs), commitVersion: String(startTs + 1n) })).error, null);
    // A fresh key: inserted, committed, read back.
    assert.deepEqual((await prewrite(start, [{ op: 'Insert', key: b('ins/a'), value: b('first') }])).errors, []);
    await commit(start, [b('ins/a')]);
    assert.equal((await kv.call('KvGet', { context: ctx, key: b('ins/a'), version: String(start + 5n) })).value.toString(), 'first');
    // Inserting it again (alone, or beside a fresh key) fails whole: AlreadyExist names the key, nothing is locked.
    const dup = await prewrite(start + 10n, [{ op: 'Insert', key: b('ins/b'), value: b('x') }, { op: 'Insert', key: b('ins/a'), value: b('second') }]);
    assert.equal(dup.errors.length, 1);
    assert.equal(dup.errors[0]?.alreadyExist?.key.toString(), 'ins/a');
    const locks = await kv.call('KvScanLock', { context: ctx, startKey: b('ins/'), endKey: b('ins0'), maxVersion: String(start + 100n), limit: 10 });
    assert.deepEqual(locks.locks, []);
    // A plain Put of the same key still works; once it is deleted, Insert works again.
    assert.deepEqual((await prewrite(start + 20n, [{ op: 'Del', key: b('ins/a') }])).errors, []);
    await commit(start + 20n, [b('ins/a')]);
    const again = await prewrite(start + 30n, [{ op: 'Insert', key: b('ins/a'), value: b('third') }, { op: 'Put', key: b('ins/c'), value: b('c') }]);
    assert.deepEqual(again.errors, []);
    const lock = await kv.call('KvScanLock', { context: ctx, startKey: b('ins/a'), endKey: b('ins/b'), maxVersion: String(start + 100n), limit: 10 });
    assert.equal(lock.locks[0]?.lockType, 'Put', 'an Insert locks as a Put');
    // A retried Insert prewrite (the client lost the answer) finds its own lock: no AlreadyExist.
    assert.deepEqual((await prewrite(start + 30n, [{ op: 'Insert', key: b('ins/a'), value: b('third') }])).errors, []);
    await commit(start + 30n, [b('ins/a'), b('ins/c')]);
    assert.equal((await kv.call('KvGet', { context: ctx, key: b('ins/a'), version: String(start + 40n) })).value.toString(), 'third');
    // An Insert that started before a later commit of the key conflicts (it does not see it as existing).
    const late = await prewrite(start + 25n, [{ op: 'Insert', key: b('ins/a'), value: b('late') }]);
    assert.ok(late.errors[0]?.conflict !== null && late.errors[0]?.conflict !== undefined, JSON.stringify(late.errors));
  });

  it('answers typed region errors for every other addressing', async () => {
    const leader = await findLeader(cluster);
    const follower = [0, 1, 2].find((i) => i !== leader.index)!;
    const fctx = ctxOf(leader.region, cluster.stores[follower]!.id);
    const notLeader = await cluster.kvClient(follower).call('RawGet', { context: fctx, key: b('x') });
    assert.equal(notLeader.regionError?.kind, 'notLeader');
    assert.equal(notLeader.regionError?.notLeader?.leader?.storeId, String(cluster.stores[leader.index]!.id));
    const stale = await leader.kv.call('RawPut', { context: { ...leader.ctx, regionEpoch: { confVer: '1', version: '0' } }, key: b('x'), value: b('y') });
    assert.equal(stale.regionError?.kind, 'epochNotMatch');
    assert.equal(stale.regionError?.epochNotMatch?.currentRegions[0]?.id, String(leader.region.id));
    const unknown = await leader.kv.call('RawGet', { context: { ...leader.ctx, regionId: '987654' }, key: b('x') });
    assert.equal(unknown.regionError?.kind, 'regionNotFound');
    const wrongStore = await leader.kv.call('RawGet', { context: { ...leader.ctx, peer: { id: '1', storeId: '987654' } }, key: b('x') });
    assert.equal(wrongStore.regionError?.kind, 'storeNotMatch');
  });

  it('gives bad requests typed errors and keeps serving', async () => {
    const { kv, ctx } = await findLeader(cluster);
    const empty = await kv.call('RawPut', { context: ctx, key: Buffer.alloc(0), value: b('v') });
    assert.equal(empty.otherError?.code, 'INVALID_ARGUMENT');
    const huge = await kv.call('RawPut', { context: ctx, key: b('big'), value: Buffer.alloc(7 * 1024 * 1024) });
    assert.equal(huge.otherError?.code, 'INVALID_ARGUMENT');
    const longKey = await kv.call('RawGet', { context: ctx, key: Buffer.alloc(9 * 1024, 1) });
    assert.equal(longKey.otherError?.code, 'INVALID_ARGUMENT');
    const noCtx = await kv.call('RawGet', { key: b('k') });
    assert.equal(noCtx.otherError?.code, 'INVALID_ARGUMENT');
    const badTs = await kv.call('KvGet', { context: ctx, key: b('k'), version: '0' });
    assert.equal(badTs.otherError?.code, 'INVALID_ARGUMENT');
    const tooMany = await kv.call('RawBatchGet', { context: ctx, keys: Array.from({ length: 10_001 }, (_, i) => b(`k${i}`)) });
    assert.equal(tooMany.otherError?.code, 'LIMIT_EXCEEDED');
    const badScan = await kv.call('RawScan', { context: ctx, startKey: b('b'), endKey: b('a'), limit: 10 });
    assert.equal(badScan.otherError?.code, 'INVALID_ARGUMENT');
    const bigInsert = await kv.call('KvPrewrite', { context: ctx, primaryLock: b('k'), startVersion: '5', mutations: [{ op: 'Insert', key: b('k'), value: Buffer.alloc(7 * 1024 * 1024) }] });
    assert.equal(bigInsert.otherError?.code, 'INVALID_ARGUMENT');
    // Bytes that are not a RawGetRequest at all: the call fails, the store does not.
    await assert.rejects(new Promise((resolve, reject) => {
      kv.raw.makeUnaryRequest('/flotilla.kvservicepb.Kv/RawGet', (x: Buffer) => x, (x: Buffer) => x, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), (err, r) => (err ? reject(err) : resolve(r)));
    }));
    // Unknown fields are ignored (a newer client): field 99 (varint 1) appended to a valid request.
    const reqCodec = messageCodec('flotilla.kvrpcpb.RawGetRequest');
    const respCodec = messageCodec('flotilla.kvrpcpb.RawGetResponse');
    const withUnknown = Buffer.concat([reqCodec.encode({ context: ctx, key: b('raw/c') }), Buffer.from([0x98, 0x06, 0x01])]);
    const answer = await new Promise<Buffer>((resolve, reject) => {
      kv.raw.makeUnaryRequest('/flotilla.kvservicepb.Kv/RawGet', (x: Buffer) => x, (x: Buffer) => x, withUnknown, (err, r) => (err || r === undefined ? reject(err ?? new Error('no answer')) : resolve(r)));
    });
    assert.equal(respCodec.decode(answer).value.toString(), '3');
    const batch = kv.batchCommands();
    const answers = await batch.send([{ rawGet: { context: ctx, key: b('raw/c') } }, {}, { rawGet: { context: ctx, key: Buffer.alloc(0) } }]);
    batch.close();
    assert.equal(answers[0]?.rawGet?.value.toString(), '3');
    assert.equal(answers[1]?.error?.code, 'INVALID_ARGUMENT');
    assert.equal(answers[2]?.rawGet?.otherError?.code, 'INVALID_ARGUMENT');
  });

  it('refuses KV calls of another cluster before reading a request — unary, batch stream, and the client\'s connection (unsent) — and keeps serving', async () => {
    const { kv, ctx } = await findLeader(cluster);
    const ours = BigInt(String((await cluster.storeStatus(0))['clusterId']));
    const withId = (id: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set(CLUSTER_ID_METADATA, id);
      return m;
    };
    const isRefusal = (e: unknown): boolean => {
      const fe = errorFromGrpc(e as grpc.ServiceError);
      return (e as grpc.ServiceError).code === grpc.status.FAILED_PRECONDITION && fe.code === 'ClusterIdMismatch' && fe.message.includes(`this store is in cluster ${ours}`);
    };
    for (const id of [String(ours + 1n), 'not-a-number', '']) {
      // A write the store would take from its own cluster: refused, and it did not run.
      await assert.rejects(kv.call('RawPut', { context: ctx, key: b('foreign/unary'), value: b('x') }, { metadata: withId(id) }), isRefusal);
      const stream = kv.batchCommands({ metadata: withId(id) });
      await assert.rejects(stream.send([{ rawPut: { context: ctx, key: b('foreign/stream'), value: b('x') } }]), isRefusal);
      stream.close();
    }
    // Flotilla's client connection names its cluster: another id is refused unsent (never ambiguous).
    const channels = new ChannelCache(await channelCredentials(INSECURE));
    try {
      const Kv = loadProtos().flotilla.kvservicepb.Kv;
      const foreign = new StoreConnection(kv.address, channels.get(Kv, kv.address), { clusterId: ours + 1n });
      const put = encodeRequest('rawPut', { key: b('foreign/client'), value: b('x') }, encodeContextField({ regionId: Number(ctx.regionId), regionEpoch: { confVer: Number(ctx.regionEpoch!.confVer), version: Number(ctx.regionEpoch!.version) }, peer: { id: Number(ctx.peer!.id), storeId: Number(ctx.peer!.storeId), role: 'Voter' } }));
      await assert.rejects(foreign.send(put, Date.now() + 10_000), (e: unknown) => e instanceof FlotillaError && e.code === 'ClusterIdMismatch' && !wasSent(e));
      foreign.close();
      const own = new StoreConnection(kv.address, channels.get(Kv, kv.address), { clusterId: ours });
      assert.equal((await own.send(put, Date.now() + 10_000)).rawPut?.regionError, null);
      own.close();
    } finally {
      channels.close();
    }
    // Our own id and no id at all (a tool) are served; nothing of the refused calls was written.
    assert.equal((await kv.call('RawGet', { context: ctx, key: b('foreign/client') }, { metadata: withId(String(ours)) })).value.toString(), 'x');
    for (const key of ['foreign/unary', 'foreign/stream']) assert.equal((await kv.call('RawGet', { context: ctx, key: b(key) })).notFound, true, `${key} was written by a refused call`);
  });

  it('loses no acknowledged write when the leader\'s store is killed -9 under load; restarted stores catch up and read their regions back', async () => {
    const acked = new Map<string, string>();
    let leader = await findLeader(cluster);
    let stop = false;
    const down = new Set<number>();
    const writer = async (w: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const key = `load/${w}/${n}`;
        const value = `v${n}`;
        const target = leader;
        try {
          const r = await target.kv.call('RawPut', { context: target.ctx, key: b(key), value: b(value) }, { timeoutMs: 3_000 });
          if (r.regionError === null && r.otherError === null) acked.set(key, value);
          else await new Promise((res) => setImmediate(res));
        } catch {
          // The store is gone or the deadline passed: the outcome is unknown, so not acked.
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    const victim = leader.index;
    try {
      await waitFor('some writes acknowledged', () => (acked.size >= 200 ? true : undefined), { timeoutMs: 20_000, intervalMs: 20 });
      await cluster.killStore(victim);
      down.add(victim);
      const beforeKill = acked.size;
      leader = await findLeader(cluster, down);
      assert.notEqual(leader.index, victim);
      await waitFor('writes acknowledged by the new leader', () => (acked.size >= beforeKill + 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 20 });
    } finally {
      // Also on failure: writers left running would keep the test process alive for ever.
      stop = true;
      await Promise.all(writers);
    }

    const readAll = async (l: Leader): Promise<void> => {
      const keys = [...acked.keys()];
      for (let i = 0; i < keys.length; i += 1_000) {
        const chunk = keys.slice(i, i + 1_000);
        const r = await l.kv.call('RawBatchGet', { context: l.ctx, keys: chunk.map(b) });
        assert.equal(r.regionError, null);
        const got = new Map(r.pairs.map((p) => [p.key.toString(), p.value.toString()]));
        for (const k of chunk) assert.equal(got.get(k), acked.get(k), `acknowledged ${k} lost`);
      }
    };
    await readAll(leader);

    // The killed store comes back and catches up with the leader's log.
    await cluster.restartStore(victim);
    down.delete(victim);
    const target = (await regionOf(cluster, leader.index))!.appliedIndex;
    await waitFor('the restarted store to catch up', async () => ((await regionOf(cluster, victim))!.appliedIndex >= target ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });

    // Every store restarted with its data dir reads its region back and serves every write.
    for (let i = 0; i < 3; i++) await cluster.killStore(i, 'SIGTERM');
    for (let i = 0; i < 3; i++) await cluster.restartStore(i);
    await readAll(await findLeader(cluster));
  });

  it('refuses, in one line, to start its data dir against another cluster\'s PD', async () => {
    const other = await PdTestCluster.start(1, { tickMs: 50 });
    try {
      const victim = cluster.stores[2]!;
      await cluster.killStore(2, 'SIGTERM');
      const args = storeArgs({ name: 'intruder', pd: [`127.0.0.1:${other.members[0]!.clientPort}`], ports: await allocateStorePorts(), dataDir: victim.dataDir, logLevel: 'fatal' });
      const run = spawnSync(process.execPath, [STORE_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 1, run.stderr);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, /^flotilla-store: cannot start: .*belongs to cluster \d+, but PD serves cluster \d+/);
      await cluster.restartStore(2);
      await findLeader(cluster);
    } finally {
      await other.close();
    }
  });
});

