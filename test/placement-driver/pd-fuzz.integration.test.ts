// Bad input against a real PD process: thousands of seeded random requests — nonsense ids, keys,
// counts and enums in well-formed messages, plus raw garbage bytes that are not protobuf at all —
// and random requests to every path of its HTTP API (random methods, path parameters, queries and
// bodies). Every answer must be a typed error or a success (HTTP: below 500, an error body naming
// its code); the process must keep serving.
// Replay: FLOTILLA_FUZZ_SEED=<seed>; more: FLOTILLA_FUZZ_REQUESTS=<n>.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, grpc, type Rng } from '../../common/index.js';
import { fuzzU64, pick } from '../support/fuzz.js';
import { PdTestCluster, type PdTestClient, type PdUnaryMethods } from '../support/pd-cluster.js';

const SEED = Number(process.env['FLOTILLA_FUZZ_SEED'] ?? Date.now() % 1_000_000);
const REQUESTS = Number(process.env['FLOTILLA_FUZZ_REQUESTS'] ?? 8_000);
const HTTP_REQUESTS = Math.ceil(REQUESTS / 4);

const u64 = fuzzU64;
function bytes(rng: Rng): Buffer {
  const n = rng.chance(0.1) ? rng.nextInt(20_000) : rng.nextInt(24);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.nextInt(256);
  return b;
}
function peer(rng: Rng) {
  return { id: u64(rng), storeId: u64(rng), role: pick(rng, ['Voter', 'Learner', 'IncomingVoter', 'DemotingVoter'] as const) };
}
function region(rng: Rng) {
  return { id: u64(rng), startKey: bytes(rng), endKey: bytes(rng), regionEpoch: rng.chance(0.9) ? { confVer: u64(rng), version: u64(rng) } : null, peers: Array.from({ length: rng.nextInt(20) }, () => peer(rng)) };
}
function store(rng: Rng) {
  return { id: u64(rng), address: rng.chance(0.8) ? `127.0.0.1:${rng.nextInt(65536)}` : 'x'.repeat(rng.nextInt(400)), statusAddress: '', labels: Array.from({ length: rng.nextInt(70) }, (_, i) => ({ key: `k${i}`, value: 'v' })), state: pick(rng, ['Up', 'Offline', 'Tombstone'] as const), version: '0', startTimestamp: u64(rng) };
}

/** A random request for a random unary method; the header is usually right, sometimes not. */
function randomCall(rng: Rng, clusterId: string): { [K in keyof PdUnaryMethods]: [K, PdUnaryMethods[K][0]] }[keyof PdUnaryMethods] {
  const header = { clusterId: rng.chance(0.9) ? clusterId : u64(rng), senderId: u64(rng) };
  switch (rng.nextInt(14)) {
    case 0: return ['AllocID', { header }];
    case 1: return ['Bootstrap', { header, store: store(rng), region: region(rng) }];
    case 2: return ['PutStore', { header, store: rng.chance(0.9) ? store(rng) : null }];
    case 3: return ['GetStore', { header, storeId: u64(rng) }];
    case 4: return ['StoreHeartbeat', { header, stats: rng.chance(0.9) ? { storeId: u64(rng), capacity: u64(rng), available: u64(rng), regionCount: rng.nextU32() } : null }];
    case 5: return ['GetRegion', { header, regionKey: bytes(rng) }];
    case 6: return ['GetPrevRegion', { header, regionKey: bytes(rng) }];
    case 7: return ['GetRegionByID', { header, regionId: u64(rng) }];
    case 8: return ['ScanRegions', { header, startKey: bytes(rng), endKey: bytes(rng), limit: rng.nextInt(3000) }];
    case 9: return ['AskBatchSplit', { header, region: region(rng), splitCount: rng.nextInt(100) }];
    case 10: return ['ReportBatchSplit', { header, regions: Array.from({ length: rng.nextInt(4) }, () => region(rng)) }];
    case 11: return ['UpdateGCSafePoint', { header, safePoint: u64(rng) }];
    case 12: return ['PutClusterConfig', { header, cluster: { id: u64(rng), maxPeerCount: rng.nextInt(10), schedule: rng.chance(0.8) ? { regionSplitSizeBytes: u64(rng), regionSplitKeys: u64(rng), leaderScheduleLimit: rng.nextInt(5000) } : null } }];
    default: return ['GetAllStores', { header, excludeTombstoneStores: rng.chance(0.5) }];
  }
}

describe('PD under fuzzed bad input (real process)', () => {
  let cluster: PdTestCluster;
  let pd: PdTestClient;
  before(async () => {
    cluster = await PdTestCluster.start(1);
    pd = cluster.client('pd1');
    await pd.members();
  });
  after(async () => cluster?.close());

  it(`answers ${REQUESTS} random requests with typed outcomes and keeps serving (seed ${SEED})`, async () => {
    const rng = createRng(SEED);
    const codes = new Map<string, number>();
    const replay = `FLOTILLA_FUZZ_SEED=${SEED} node --test dist/test/placement-driver/pd-fuzz.integration.test.js`;
    for (let sent = 0; sent < REQUESTS; sent += 50) {
      const batch = Array.from({ length: 50 }, () => randomCall(rng, pd.clusterId));
      const results = await Promise.all(batch.map(([method, req]) => pd.call(method, req as never).then((r: { header: { error: { code: string } | null } | null }) => r.header?.error?.code ?? 'OK', (err: grpc.ServiceError) => `grpc:${err.code}`)));
      for (const code of results) {
        assert.ok(code === 'OK' || /^[A-Z_]+$/.test(code) && code !== 'INTERNAL', `untyped or internal outcome ${code}; replay: ${replay}`);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }
    assert.ok((codes.get('INVALID_ARGUMENT') ?? 0) > REQUESTS / 10, `the fuzzer mostly sent valid requests: ${JSON.stringify([...codes])}`);
    // Garbage that is not protobuf at all, straight onto the wire.
    const raw = new grpc.Client(`127.0.0.1:${cluster.spec('pd1').clientPort}`, grpc.credentials.createInsecure());
    try {
      for (let i = 0; i < 200; i++) {
        const junk = bytes(rng);
        const code = await new Promise<number>((resolve) => {
          raw.makeUnaryRequest('/flotilla.pdpb.PD/' + pick(rng, ['AllocID', 'PutStore', 'GetRegion', 'ScanRegions', 'Bootstrap']), (b: Buffer) => b, (b: Buffer) => b, junk, { deadline: new Date(Date.now() + 5_000) }, (err) => resolve(err === null ? 0 : err.code));
        });
        assert.notEqual(code, grpc.status.UNAVAILABLE, `PD went away after garbage; replay: ${replay}`);
      }
    } finally {
      raw.close();
    }
    const health = await cluster.health('pd1');
    assert.equal(health?.serving, true, 'still serving');
    assert.equal((await pd.allocId()).header?.error, null);
    assert.equal(cluster.processes.get('pd1')?.isRunning, true);
  });
  it(`answers ${HTTP_REQUESTS} random HTTP API requests below 500, errors typed, and keeps serving (seed ${SEED})`, async () => {
    const rng = createRng(SEED ^ 0x5eed);
    const replay = `FLOTILLA_FUZZ_SEED=${SEED} node --test dist/test/placement-driver/pd-fuzz.integration.test.js`;
    const base = `http://127.0.0.1:${cluster.spec('pd1').httpPort}`;
    const index = (await (await fetch(`${base}/pd/api/v1`)).json()) as { routes: { path: string; methods: string[] }[] };
    assert.ok(index.routes.length > 10, JSON.stringify(index));
    const param = (): string => encodeURIComponent(pick(rng, [fuzzU64(rng), 'pd9', 'balance-leader', 'x'.repeat(rng.nextInt(3_000)), '-1', '1e3', '%', '..', 'ff'.repeat(rng.nextInt(5_000)), '']));
    const json = (): string => {
      switch (rng.nextInt(6)) {
        case 0: return '{';
        case 1: return JSON.stringify(fuzzU64(rng));
        case 2: return JSON.stringify({ regionId: fuzzU64(rng), kind: pick(rng, ['transfer-leader', 'split', 'add-peer', 'remove-peer', 'scatter', 'merge', 'x']), toStoreId: fuzzU64(rng), storeId: fuzzU64(rng), targetRegionId: fuzzU64(rng), keys: rng.chance(0.5) ? ['zz', 'ab'] : 'ab' });
        case 3: return JSON.stringify({ [pick(rng, ['maxPeerCount', 'regionSplitSizeBytes', 'leaderScheduleLimit', 'nope'])]: pick(rng, [fuzzU64(rng), -1, 1.5, true, null, 'x', 3]) });
        case 4: return JSON.stringify({ name: pick(rng, ['balance-leader', 'balance-region', 'hot-region', 'replica-checker', 'merge-checker', 'nope', 7]), safePoint: fuzzU64(rng) });
        default: return 'x'.repeat(rng.nextInt(2_000_000));
      }
    };
    const codes = new Map<number, number>();
    for (let sent = 0; sent < HTTP_REQUESTS; sent += 20) {
      const requests = Array.from({ length: 20 }, () => {
        const route = pick(rng, index.routes);
        // Member changes are left out: adding an unreachable member takes the quorum away (as it
        // would from etcd), and removing pd1 removes the only member. Their bad input has its own tests.
        const isMembers = route.path.includes('/members');
        const path = rng.chance(0.03) ? `/pd/api/v1/${param()}` : route.path.replace(/\{[^}]*\}/g, () => (rng.chance(0.9) ? param() : '')) + (rng.chance(0.3) ? `?${pick(rng, ['limit', 'start_key', 'end_key', 'since', 'metric', 'rows'])}=${param()}` : '');
        const method = isMembers ? 'GET' : rng.chance(0.85) ? pick(rng, route.methods) : pick(rng, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);
        const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? json() : undefined;
        return { method, path, body };
      });
      const answers = await Promise.all(requests.map(async (r) => {
        const res = await fetch(`${base}${r.path}`, { method: r.method, ...(r.body === undefined ? {} : { body: r.body, headers: { 'content-type': 'application/json' } }), signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        return { ...r, status: res.status, text, type: res.headers.get('content-type') ?? '' };
      }));
      for (const a of answers) {
        codes.set(a.status, (codes.get(a.status) ?? 0) + 1);
        const what = `${a.method} ${a.path.slice(0, 120)} → ${a.status} ${a.text.slice(0, 200)}; replay: ${replay}`;
        assert.ok(a.status < 500, what);
        // The API answers its errors as JSON; the dashboard page and /metrics answer theirs as text.
        if (a.status >= 400 && a.method !== 'HEAD' && a.path.startsWith('/pd/api/v1')) {
          let body: { code?: unknown; message?: unknown } | null = null;
          try {
            body = JSON.parse(a.text) as { code?: unknown; message?: unknown };
          } catch {
            assert.fail(`not a JSON error: ${what}`);
          }
          assert.ok(typeof body?.code === 'string' && /^[A-Za-z]+$/.test(body.code) && typeof body.message === 'string', what);
        }
      }
    }
    assert.ok((codes.get(400) ?? 0) > HTTP_REQUESTS / 20, `the fuzzer mostly sent valid requests: ${JSON.stringify([...codes])}`);
    const health = await cluster.health('pd1');
    assert.equal(health?.serving, true, 'still serving');
    assert.equal((await pd.allocId()).header?.error, null);
    assert.equal(cluster.processes.get('pd1')?.isRunning, true);
  });
});
