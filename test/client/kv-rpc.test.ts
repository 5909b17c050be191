// The client's request layer against fake stores (real gRPC, scripted answers): batching onto the
// stream, following NotLeader, regrouping after EpochNotMatch, backing off on busy/stale answers,
// moving past an unreachable store — and never sending a non-idempotent write twice when its
// outcome is unknown.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelCache, channelCredentials, decodeKey, encodeKey, FlotillaError, grpc, INSECURE, isFlotillaError, silentLogger, startGrpcServer, type PeerMeta, type RegionMeta } from '../../common/index.js';
import { loadProtos, type kvservicepb } from '../../proto/index.js';
import { KvRpc } from '../../client/kv-rpc.js';
import { StoreConnection } from '../../client/store-connection.js';
import { encodeContextField, encodeRequest } from '../../client/batch-encoder.js';
import { ClientMetrics } from '../../client/metrics.js';
import { RawClient } from '../../client/raw-client.js';
import { InvalidArgumentError, OutcomeUnknownError, RegionUnavailableError, TimeoutError } from '../../client/errors.js';
import { FAKE_CLUSTER_ID, FakeDirectory, FakeStore, type FakeScript, type Received } from '../support/fake-kv-store.js';

const peer = (id: number, storeId: number): PeerMeta => ({ id, storeId, role: 'voter' });
function region(id: number, start: string, end: string, version = 1): RegionMeta {
  return {
    id,
    startKey: start === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(start)),
    endKey: end === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(end)),
    epoch: { confVer: 1, version },
    peers: [peer(id * 10 + 1, 1), peer(id * 10 + 2, 2), peer(id * 10 + 3, 3)],
  };
}
const wirePeer = (p: PeerMeta): { id: string; storeId: string; role: 'Voter' } => ({ id: String(p.id), storeId: String(p.storeId), role: 'Voter' });
const wireRegion = (r: RegionMeta): object => ({ id: String(r.id), startKey: r.startKey, endKey: r.endKey, regionEpoch: { confVer: String(r.epoch.confVer), version: String(r.epoch.version) }, peers: r.peers.map(wirePeer) });

/** The answer a healthy leader gives to each command the tests send. */
function ok(request: kvservicepb.KvRequest, storeId: number): kvservicepb.KvResponse__Input {
  if (request.cmd === 'rawGet') return { rawGet: { value: Buffer.from(`v@${storeId}`) } };
  if (request.cmd === 'rawBatchGet') return { rawBatchGet: { pairs: request.rawBatchGet!.keys.map((key) => ({ key, value: Buffer.from(`${key.toString()}@${storeId}`) })) } };
  if (request.cmd === 'rawPut') return { rawPut: {} };
  throw new Error(`unexpected ${String(request.cmd)}`);
}
const regionIdOf = (r: kvservicepb.KvRequest): number => Number((r[r.cmd!] as { context: { regionId: string } }).context.regionId);

describe('client request layer (fake stores, real gRPC)', () => {
  const log: Received[] = [];
  let script: FakeScript = (s, r) => ({ answer: ok(r, s.id) });
  const stores: FakeStore[] = [];
  let dir: FakeDirectory;
  let channels: ChannelCache;
  let rpc: KvRpc;
  let raw: RawClient;

  before(async () => {
    for (const id of [1, 2, 3]) stores.push(await FakeStore.start(id, log, () => script));
  });
  after(async () => {
    for (const s of stores) await s.stop();
  });
  const setup = async (regions: { region: RegionMeta; leader: PeerMeta | null }[], timeoutMs = 3_000): Promise<void> => {
    log.length = 0;
    for (const s of stores) s.messages.length = 0;
    dir = new FakeDirectory();
    dir.regions = regions;
    for (const s of stores) dir.stores.set(s.id, s.address);
    channels = new ChannelCache(await channelCredentials(INSECURE));
    rpc = new KvRpc({ pd: dir, channels, logger: silentLogger(), metrics: new ClientMetrics() });
    raw = new RawClient(rpc, timeoutMs);
  };
  afterEach(() => {
    rpc?.close();
    channels?.close();
    script = (s, r) => ({ answer: ok(r, s.id) });
  });

  it('sends every request of one event-loop turn to a store in one stream message', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    await raw.get('warm-up'); // connects the channel
    stores[0]!.messages.length = 0;
    const values = await Promise.all(Array.from({ length: 200 }, (_, i) => raw.get(`k${i}`)));
    assert.equal(values.length, 200);
    assert.ok(values.every((v) => v?.toString() === 'v@1'));
    assert.deepEqual(stores[0]!.messages, [200], 'one message carried all 200 requests');
  });

  it('replica reads go to the other peers in turn, marked replica_read; one that cannot serve (no leader, a lagging epoch, no read index in time) is passed over, the leader serving last; the cached leader stays', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    const entry = await rpc.locate(Buffer.from('k'), Date.now() + 1_000);
    const get = (mode: 'follower' | 'mixed'): Promise<unknown> => rpc.send(entry, 'get', { key: Buffer.from('k'), version: '5' }, { deadlineMs: Date.now() + 2_000, idempotent: true, replicaRead: mode });
    const isReplicaRead = (x: Received): boolean => (x.request[x.cmd as 'get'] as { context: { replicaRead: boolean } }).context.replicaRead;
    script = (s) => ({ answer: { get: { value: Buffer.from(`v@${s.id}`) } } });
    for (let i = 0; i < 4; i++) await get('follower');
    assert.deepEqual(log.map((x) => x.storeId).sort(), [2, 2, 3, 3], 'the two followers in turn, never the leader');
    assert.ok(log.every(isReplicaRead));
    log.length = 0;
    for (let i = 0; i < 6; i++) await get('mixed');
    assert.deepEqual(log.map((x) => x.storeId).sort(), [1, 1, 2, 2, 3, 3], 'mixed: every peer in turn');
    // Store 2 knows no leader, store 3 has not applied our epoch: the leader serves, as a leader read.
    const older = { ...region(1, '', '', 0), epoch: { confVer: 1, version: 0 } };
    const thirds: [string, kvservicepb.KvResponse__Input['get']][] = [
      ['a lagging epoch', { regionError: { message: 'epoch', epochNotMatch: { currentRegions: [wireRegion(older)] } } }],
      ['no read index in time', { otherError: { code: 'DEADLINE_EXCEEDED', message: 'the leader did not confirm a replica read index' } }],
    ];
    for (const [what, third] of thirds) {
      log.length = 0;
      script = (s) => {
        if (s.id === 2) return { answer: { get: { regionError: { message: 'not leader', notLeader: { regionId: '1' } } } } };
        if (s.id === 3) return { answer: { get: third } };
        return { answer: { get: { value: Buffer.from(`v@${s.id}`) } } };
      };
      const got = await get('follower') as { value: Buffer };
      assert.equal(got.value.toString(), 'v@1', what);
      assert.deepEqual(log.map((x) => [x.storeId, isReplicaRead(x)]).sort(), [[1, false], [2, true], [3, true]], what);
    }
    assert.equal(rpc.cache.getById(1)?.leader?.id, r1.peers[0]!.id, 'the cached leader is still the leader');
    assert.equal(rpc.cache.getById(1)?.region.epoch.version, 1, 'a lagging replica\'s older epoch did not replace ours');
  });

  it('follows NotLeader to the named leader and remembers it', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    script = (s, r) => (s.id === 3 ? { answer: ok(r, 3) } : { answer: { rawGet: { regionError: { message: 'not leader', notLeader: { regionId: '1', leader: wirePeer(r1.peers[2]!) } } } } });
    assert.equal((await raw.get('a'))?.toString(), 'v@3');
    assert.equal((await raw.get('b'))?.toString(), 'v@3');
    assert.deepEqual(log.map((x) => x.storeId), [1, 3, 3], 'the second read went straight to the new leader');
  });

  it('after every answer that says the cached region is stale, the next send routes with what the store or PD says now', async () => {
    // The rule (kv-rpc.ts header): EpochNotMatch, RegionNotFound and KeyNotInRegion mean the
    // region's range moved — the cached shape is dropped, and the request is resent once at the
    // current epoch (from the answer's current regions, else from PD). Every such answer, with and
    // without current regions, for a read and a write; PD already knows the new epoch.
    const stale = region(1, '', '', 1);
    const fresh = { ...region(1, '', '', 2), epoch: { confVer: 2, version: 2 } };
    const answers: [string, kvservicepb.KvResponse__Input['rawGet']][] = [
      ['EpochNotMatch without current regions', { regionError: { message: 'epoch', epochNotMatch: { currentRegions: [] } } }],
      ['EpochNotMatch with the current region', { regionError: { message: 'epoch', epochNotMatch: { currentRegions: [wireRegion(fresh)] } } }],
      ['RegionNotFound', { regionError: { message: 'gone', regionNotFound: { regionId: '1' } } }],
      ['KeyNotInRegion', { regionError: { message: 'range', keyNotInRegion: { key: Buffer.from('k'), regionId: '1', startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) } } }],
    ];
    let cases = 0;
    for (const [what, staleAnswer] of answers) {
      for (const cmd of ['rawGet', 'rawPut'] as const) {
        await setup([{ region: stale, leader: stale.peers[0]! }], 1_500);
        await rpc.locate(Buffer.from('k'), Date.now() + 1_000); // cached at version 1
        dir.regions = [{ region: fresh, leader: fresh.peers[0]! }]; // PD has moved on
        script = (st, r) => {
          const epoch = (r[r.cmd!] as { context: { regionEpoch: { version: string; confVer: string } } }).context.regionEpoch;
          if (epoch.version === '1') return { answer: { [r.cmd!]: staleAnswer } };
          return { answer: ok(r, st.id) };
        };
        if (cmd === 'rawGet') await raw.get('k');
        else await raw.put('k', 'v');
        const sends = log.filter((x) => x.cmd === cmd).map((x) => (x.request[cmd] as { context: { regionEpoch: { version: string; confVer: string } } }).context.regionEpoch);
        assert.deepEqual(sends.map((e) => `${e.version}/${e.confVer}`), ['1/1', '2/2'], `${what}, ${cmd}: sent at the stale epoch once, then at the current one`);
        rpc.close();
        channels.close();
        cases++;
      }
    }
    assert.equal(cases, 8);
  });

  it('regroups a batch by the regions an EpochNotMatch returns (a split it had not seen)', async () => {
    const whole = region(1, '', '');
    const left = { ...region(1, '', 'm', 2), peers: whole.peers };
    const right = region(2, 'm', '', 1);
    await setup([{ region: whole, leader: whole.peers[0]! }]);
    script = (s, r) => {
      const rid = regionIdOf(r);
      const epoch = (r[r.cmd!] as { context: { regionEpoch: { version: string } } }).context.regionEpoch.version;
      if (rid === 1 && epoch === '1') return { answer: { rawBatchGet: { regionError: { message: 'epoch', epochNotMatch: { currentRegions: [wireRegion(left), wireRegion(right)] } } } } };
      return { answer: ok(r, s.id) };
    };
    const got = await raw.batchGet(['a', 'z', 'b', 'y']);
    assert.deepEqual(got.map((v) => v?.toString().split('@')[0]), ['a', 'z', 'b', 'y']);
    const after = log.slice(1).map((x) => `${regionIdOf(x.request)}:${x.request.rawBatchGet!.keys.map(String).join(',')}`).sort();
    assert.deepEqual(after, ['1:a,b', '2:z,y']);
  });

  it('never re-sends a raw put whose stream broke after the store received it (OutcomeUnknownError)', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    await raw.get('warm-up');
    log.length = 0;
    script = (s, r) => (r.cmd === 'rawPut' ? 'break' : { answer: ok(r, s.id) });
    await assert.rejects(raw.put('k', 'v'), (e: unknown) => e instanceof OutcomeUnknownError && e.code === 'OutcomeUnknown');
    // Give a wrongful resend every chance to show up.
    await raw.get('after');
    assert.equal(log.filter((x) => x.cmd === 'rawPut').length, 1);
  });

  it('re-sends an idempotent read whose stream broke, and it succeeds', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    await raw.get('warm-up');
    let broken = 0;
    script = (s, r) => (broken++ === 0 ? 'break' : { answer: ok(r, s.id) });
    assert.match((await raw.get('k'))?.toString() ?? '', /^v@/);
    assert.ok(broken >= 2, 'the read was sent again');
  });

  it('a put that never reached anyone (leader store unreachable) goes to another peer, once', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    dir.stores.set(1, '127.0.0.1:1'); // nothing listens there: the request is never sent
    script = (s, r) => ({ answer: ok(r, s.id) });
    await raw.put('k', 'v');
    const puts = log.filter((x) => x.cmd === 'rawPut');
    assert.equal(puts.length, 1);
    assert.notEqual(puts[0]!.storeId, 1);
  });

  /**
   * A peer's address reaches `wrong` (not our store): the put is refused there unread and goes to
   * another peer, once; with every address there, a non-idempotent write fails as unsent
   * (RegionUnavailable naming `lastFailure`), not OutcomeUnknown.
   */
  const putGoesElsewhereFrom = async (wrong: string, lastFailure: RegExp): Promise<void> => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    dir.stores.set(1, wrong);
    await raw.put('k', 'v');
    const puts = log.filter((x) => x.cmd === 'rawPut');
    assert.equal(puts.length, 1);
    assert.notEqual(puts[0]!.storeId, 1);
    await setup([{ region: r1, leader: r1.peers[0]! }], 600);
    for (const id of [1, 2, 3]) dir.stores.set(id, wrong);
    await assert.rejects(raw.put('k2', 'v'), (e: unknown) => e instanceof RegionUnavailableError && lastFailure.test(e.message));
  };

  it('a store of another cluster at a peer\'s address refuses the stream unread: the put goes to another peer, never counted as ambiguous', async () => {
    // It would serve anything (its script answers ok): only the cluster check stops it.
    const foreign = await FakeStore.start(1, log, () => (s, r) => ({ answer: ok(r, s.id) }), FAKE_CLUSTER_ID + 1n);
    try {
      await putGoesElsewhereFrom(foreign.address, /ClusterIdMismatch/);
      assert.equal(log.length, 0, 'no store of either cluster ran the refused put');
    } finally {
      await foreign.stop();
    }
  });

  it('an address that reaches a gRPC server without the KV service (a PD on a store\'s old port) is unsent: the put goes to another peer, once', async () => {
    const notAStore = await startGrpcServer(new grpc.Server(), '127.0.0.1', 0);
    try {
      await putGoesElsewhereFrom(notAStore.address, /not a store/);
    } finally {
      await notAStore.stop(100);
    }
  });

  it('a read nobody answers fails with TimeoutError at its deadline; a put with OutcomeUnknownError', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }], 400);
    script = () => 'drop';
    await assert.rejects(raw.get('k'), (e: unknown) => e instanceof TimeoutError);
    await assert.rejects(raw.put('k', 'v'), (e: unknown) => e instanceof OutcomeUnknownError);
    assert.equal(log.filter((x) => x.cmd === 'rawPut').length, 1);
  });

  it('backs off on ServerIsBusy and StaleCommand, then succeeds (a stale put did not apply: resent)', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    let n = 0;
    script = (s, r) => {
      n++;
      if (n === 1) return { answer: { rawPut: { regionError: { message: 'busy', serverIsBusy: { reason: 'queue full', backoffMs: '5' } } } } };
      if (n === 2) return { answer: { rawPut: { regionError: { message: 'stale', staleCommand: {} } } } };
      return { answer: ok(r, s.id) };
    };
    await raw.put('k', 'v');
    assert.equal(log.filter((x) => x.cmd === 'rawPut').length, 3);
  });

  it('NotLeader without a leader (an election) tries the other peers until one leads', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    script = (s, r) => (s.id === 2 ? { answer: ok(r, 2) } : { answer: { rawGet: { regionError: { message: 'no leader', notLeader: { regionId: '1' } } } } });
    assert.equal((await raw.get('k'))?.toString(), 'v@2');
  });

  it('StoreNotMatch (the address now reaches another store): the address is looked up again and the request goes to the right store', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    dir.stores.set(1, stores[1]!.address); // store 1's address reaches store 2
    script = (s, r) => {
      const asked = Number((r[r.cmd!] as { context: { peer: { storeId: string } } }).context.peer.storeId);
      if (asked === s.id) return { answer: ok(r, s.id) };
      dir.stores.set(1, stores[0]!.address); // PD learns store 1's new address
      return { answer: { rawGet: { regionError: { message: `store ${s.id}, not ${asked}`, storeNotMatch: { requestStoreId: String(asked), actualStoreId: String(s.id) } } } } };
    };
    assert.equal((await raw.get('k'))?.toString(), 'v@1');
    assert.deepEqual(log.map((x) => x.storeId), [2, 1]);
  });

  it('a peer whose store PD reports removed (StoreTombstone) is passed over for another peer', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    const getStore = dir.getStore.bind(dir);
    dir.getStore = (id: number) => (id === 1 ? Promise.reject(new FlotillaError('StoreTombstone', 'store 1 was removed')) : getStore(id));
    assert.equal((await raw.get('k'))?.toString(), 'v@2');
    assert.deepEqual(log.map((x) => x.storeId), [2]);
  });

  it('answers the store refuses are not retried: InvalidArgument as InvalidArgumentError, RaftEntryTooLarge as itself, each sent once', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    script = () => ({ answer: { rawPut: { otherError: { code: 'INVALID_ARGUMENT', message: 'value too large' } } } });
    await assert.rejects(raw.put('k', 'v'), (e: unknown) => e instanceof InvalidArgumentError);
    assert.equal(log.length, 1);
    log.length = 0;
    script = () => ({ answer: { rawPut: { regionError: { message: 'entry too large', raftEntryTooLarge: { regionId: '1', entrySize: '99999999' } } } } });
    await assert.rejects(raw.put('k', 'v'), (e: unknown) => isFlotillaError(e, 'RaftEntryTooLarge'));
    assert.equal(log.length, 1);
  });

  it('a whole-request ServerIsBusy answer (not a region error) backs off and retries the same store', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }]);
    let n = 0;
    script = (s, r) => (++n <= 2 ? { answer: { error: { code: 'SERVER_IS_BUSY', message: 'busy', backoffMs: '5' } } } : { answer: ok(r, s.id) });
    assert.equal((await raw.get('k'))?.toString(), 'v@1');
    assert.deepEqual(log.map((x) => x.storeId), [1, 1, 1]);
  });

  it('every store unreachable: RegionUnavailableError within the deadline, PD asked again', async () => {
    const r1 = region(1, '', '');
    await setup([{ region: r1, leader: r1.peers[0]! }], 600);
    for (const id of [1, 2, 3]) dir.stores.set(id, '127.0.0.1:1');
    const lookupsBefore = dir.lookups;
    await assert.rejects(raw.get('k'), (e: unknown) => e instanceof RegionUnavailableError);
    assert.ok(dir.lookups > lookupsBefore, 'the region was reloaded from PD after every peer failed');
  });
});

describe('raw scans across regions that split under the scan (fake stores)', () => {
  const log: Received[] = [];
  const stores: FakeStore[] = [];
  /** The data, and the regions as the fake stores know them (the client learns them late). */
  const data = Array.from({ length: 60 }, (_, i) => `k${String(i).padStart(2, '0')}`);
  let truth: RegionMeta[] = [];
  const scanAnswer = (r: kvservicepb.KvRequest): kvservicepb.KvResponse__Input => {
    const req = r.rawScan!;
    const ctx = req.context!;
    const region = truth.find((x) => x.id === Number(ctx.regionId))!;
    if (Number(ctx.regionEpoch!.version) !== region.epoch.version) {
      return { rawScan: { regionError: { message: 'epoch', epochNotMatch: { currentRegions: truth.map(wireRegion) } } } };
    }
    if (req.endKey.length > 0 && Buffer.compare(req.startKey, req.endKey) >= 0) {
      // As the real store answers (kv-routing.ts clampRange).
      return { rawScan: { otherError: { code: 'INVALID_ARGUMENT', message: 'scan end key must be after its start key' } } };
    }
    const dec = (b: Buffer): string => (b.length === 0 ? '' : decodeKey(b).key.toString());
    const lo = [req.startKey.toString(), dec(region.startKey)].sort().at(-1)!;
    const regionEnd = dec(region.endKey);
    const ends = [req.endKey.toString(), regionEnd].filter((e) => e !== '').sort();
    const hi = ends[0] ?? '';
    let keys = data.filter((k) => k >= lo && (hi === '' || k < hi));
    if (req.reverse) keys = keys.reverse();
    keys = keys.slice(0, req.limit);
    return { rawScan: { kvs: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from(`v${k}`) })) } };
  };
  before(async () => {
    for (const id of [1, 2, 3]) stores.push(await FakeStore.start(id, log, () => (_s, r) => ({ answer: scanAnswer(r) })));
  });
  after(async () => {
    for (const s of stores) await s.stop();
  });

  for (const reverse of [false, true]) {
    it(`${reverse ? 'reverse' : 'forward'}: every key once, in order, while regions split between pages`, async () => {
      truth = [region(1, '', 'k20'), region(2, 'k20', 'k40'), region(3, 'k40', '')];
      const dir = new FakeDirectory();
      dir.regions = truth.map((r) => ({ region: r, leader: r.peers[0]! }));
      for (const s of stores) dir.stores.set(s.id, s.address);
      const channels = new ChannelCache(await channelCredentials(INSECURE));
      const rpc = new KvRpc({ pd: dir, channels, logger: silentLogger(), metrics: new ClientMetrics() });
      try {
        const raw = new RawClient(rpc, 3_000);
        const got: string[] = [];
        let pages = 0;
        for await (const p of raw.scan('k05', 'k55', { reverse })) {
          got.push(p.key.toString());
          assert.equal(p.value.toString(), `v${p.key.toString()}`);
          if (got.length % 7 === 0 && pages++ < 3) {
            // A split behind the client's back: the middle region halves, versions bump.
            const mid = truth.find((r) => r.id === 2)!;
            if (mid.epoch.version === 1) truth = [truth[0]!, region(2, 'k20', 'k30', 2), region(4, 'k30', 'k40', 1), truth[2]!];
          }
        }
        const want = data.filter((k) => k >= 'k05' && k < 'k55');
        assert.deepEqual(got, reverse ? [...want].reverse() : want);
        // And with a limit that ends inside a region.
        const limited: string[] = [];
        for await (const p of raw.scan('k05', null, { reverse, limit: 23 })) limited.push(p.key.toString());
        const all = data.filter((k) => k >= 'k05');
        assert.deepEqual(limited, (reverse ? [...all].reverse() : all).slice(0, 23));
        // Bounds exactly on region boundaries.
        const exact: string[] = [];
        for await (const p of raw.scan('k20', 'k40', { reverse })) exact.push(p.key.toString());
        const inner = data.filter((k) => k >= 'k20' && k < 'k40');
        assert.deepEqual(exact, reverse ? [...inner].reverse() : inner);
      } finally {
        rpc.close();
        channels.close();
      }
    });
  }
});

describe('a store connection is bounded', () => {
  it('refuses requests past its bound, unsent, and serves again once answers come', async () => {
    const log: Received[] = [];
    let hold = true;
    const store = await FakeStore.start(1, log, () => (_s, r) => (hold ? 'drop' : { answer: { rawGet: { value: Buffer.from(String(r.cmd)) } } }));
    const channels = new ChannelCache(await channelCredentials(INSECURE));
    try {
      const conn = new StoreConnection(store.address, channels.get(loadProtos().flotilla.kvservicepb.Kv, store.address), { clusterId: FAKE_CLUSTER_ID, streamCount: 1, requestsMax: 10 });
      const ctx = encodeContextField({ regionId: 1, regionEpoch: { confVer: 1, version: 1 }, peer: { id: 11, storeId: 1, role: 'Voter' } });
      const deadline = Date.now() + 2_000;
      const inflight = Array.from({ length: 10 }, () => conn.send(encodeRequest('rawGet', { key: Buffer.from('k') }, ctx), deadline).then(() => 'answered', (e: unknown) => (e as { code: string }).code));
      await assert.rejects(conn.send(encodeRequest('rawGet', { key: Buffer.from('k') }, ctx), deadline), (e: unknown) => (e as { code: string; details: { sent: boolean } }).code === 'ServerIsBusy' && (e as { details: { sent: boolean } }).details.sent === false);
      // The ten held requests time out (sent, no answer); then the connection takes requests again.
      assert.deepEqual(await Promise.all(inflight), Array.from({ length: 10 }, () => 'DeadlineExceeded'));
      hold = false;
      assert.equal((await conn.send(encodeRequest('rawGet', { key: Buffer.from('k') }, ctx), Date.now() + 2_000)).cmd, 'rawGet');
      conn.close();
    } finally {
      channels.close();
      await store.stop();
    }
  });
});
