// PD's HTTP API as a new user meets it from outside (issue F8), against real flotilla-pd
// processes: exact path matching, 400 for malformed ids and escapes, HEAD, 405 with Allow,
// aborted uploads, 16 KiB keys, one config vocabulary shared with gRPC, the index
// (GET /pd/api/v1) against the router and the README's table, store delete and GC safe point
// writes, and a follower's 503 naming the leader's HTTP URL in a 3-member PD.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { waitFor } from '../../deploy/index.js';
import { CLUSTER_CONFIG_FIELDS } from '../../placement-driver/cluster-config.js';
import type { metapb, pdpb } from '../../proto/index.js';
import { httpJson, PdTestCluster, type PdTestClient } from '../support/pd-cluster.js';

const PREFIX = '/pd/api/v1';
const KEY_BYTES_MAX = 16 * 1024;

interface RouteInfo {
  path: string;
  methods: string[];
  description: string;
}
interface ErrorBody {
  code: string;
  message: string;
}
interface Raw {
  status: number;
  headers: Headers;
  text: string;
}

async function raw(url: string, init?: RequestInit): Promise<Raw> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function errorOf(r: Raw): ErrorBody {
  const body = JSON.parse(r.text) as ErrorBody;
  assert.equal(typeof body.code, 'string', r.text);
  assert.equal(typeof body.message, 'string', r.text);
  return body;
}

function store(id: string, port: number): metapb.Store__Input {
  return { id, address: `127.0.0.1:${port}`, statusAddress: '', labels: [], state: 'Up', version: '0.1.0', startTimestamp: String(Date.now()) };
}

function errCode(r: { header: pdpb.ResponseHeader | null }): string | undefined {
  return r.header?.error?.code;
}

/** Bootstraps with store `holder` holding the one region; returns the region id. */
async function bootstrap(pd: PdTestClient, holder: string): Promise<string> {
  await pd.members();
  const [regionId, peerId] = await Promise.all([pd.allocId(), pd.allocId()]).then((rs) => rs.map((r) => r.id));
  const boot = await pd.call('Bootstrap', {
    header: pd.header(),
    store: store(holder, 21000 + Number(holder)),
    region: { id: regionId!, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: '1', version: '1' }, peers: [{ id: peerId!, storeId: holder, role: 'Voter' }] },
  });
  assert.equal(errCode(boot), undefined);
  return regionId!;
}

/** Index paths with sample values for their `{…}` segments. */
function samplePath(path: string, values: Readonly<Record<string, string>>): string {
  return path.replace(/\{([a-zA-Z]+)\}/g, (_m, name: string) => values[name] ?? 'x');
}

/** The README's reference table: every `| \`/path\` | METHOD | …` row as "METHOD /path". */
async function readmeRoutes(): Promise<Set<string>> {
  const text = await readFile(new URL('../../../placement-driver/README.md', import.meta.url), 'utf8');
  const rows = new Set<string>();
  for (const m of text.matchAll(/^\| `(\/[^`]*)` \| (GET|POST|DELETE) \|/gm)) rows.add(`${m[2]} ${m[1]}`);
  return rows;
}

describe('PD HTTP API, one member (real process)', () => {
  let cluster: PdTestCluster;
  let pd: PdTestClient;
  let regionId: string;
  const url = (path: string): string => (path === '' ? `http://127.0.0.1:${cluster.spec('pd1').httpPort}${PREFIX}` : cluster.httpUrl('pd1', path));
  const errorLines = async (): Promise<unknown[]> => (await cluster.logRecords('pd1')).filter((r) => r.level >= 50);

  before(async () => {
    cluster = await PdTestCluster.start(1, { logLevel: 'debug' });
    pd = cluster.client('pd1');
    regionId = await bootstrap(pd, '1');
    assert.equal(errCode(await pd.call('PutStore', { header: pd.header(), store: store('2', 21002) })), undefined);
  });
  after(async () => cluster?.close());

  it('answers a malformed percent-escape with 400 InvalidArgument and logs no error', async () => {
    for (const [method, path] of [['DELETE', 'members/name/%ZZ'], ['GET', 'region/id/%ZZ'], ['GET', 'store/%E0%A4%A'], ['GET', 'no-such/%']]) {
      const r = await raw(url(path!), { method });
      assert.equal(r.status, 400, `${method} ${path}: ${r.text}`);
      assert.equal(errorOf(r).code, 'InvalidArgument');
    }
    // An absolute-form request target that is no URL (fetch cannot send one: a raw socket).
    for (const target of ['http://[', 'http://pd:99999/pd/api/v1/health']) {
      const answer = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = connect(cluster.spec('pd1').httpPort, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: pd\r\nConnection: close\r\n\r\n`));
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('error', reject);
        socket.on('close', () => resolve(text));
      });
      assert.match(answer, /^HTTP\/1\.1 400 /, `${target}: ${answer.slice(0, 100)}`);
      assert.match(answer, /"code":"InvalidArgument"/);
    }
    assert.deepEqual(await errorLines(), []);
  });

  it('logs an aborted upload below error level and keeps serving', async () => {
    const port = cluster.spec('pd1').httpPort;
    for (const path of ['config', 'gc/safepoint', 'members']) {
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(`POST ${PREFIX}/${path} HTTP/1.1\r\nHost: pd\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"maxPeerCount": `, () => {
            socket.destroy();
            resolve();
          });
        });
        socket.on('error', reject);
      });
    }
    // Proof the abort reached the handler (a run that proves nothing fails), then no error line.
    await waitFor('three aborts seen', async () => ((await cluster.logRecords('pd1')).filter((r) => r.msg === 'HTTP client went away mid-request').length === 3 ? true : undefined));
    assert.deepEqual(await errorLines(), []);
    const health = await httpJson(url('health'));
    assert.equal((health.body as { serving: boolean }).serving, true);
  });

  it('answers a body over 1 MiB with 413 MessageTooLarge, then closes the connection (not an aborted upload)', async () => {
    // Raw socket: the answer comes while the upload is still under way, which fetch may report as
    // a failed upload instead of the response.
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const socket = connect(cluster.spec('pd1').httpPort, '127.0.0.1', () => {
        socket.write(`POST ${PREFIX}/config HTTP/1.1\r\nHost: pd\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
        for (let i = 0; i < 18; i++) socket.write(Buffer.alloc(64 * 1024, 0x20));
      });
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('error', () => undefined); // the server closes while we still write: EPIPE/ECONNRESET are expected
      socket.on('close', () => resolve(text));
    });
    assert.match(answer, /^HTTP\/1\.1 413 /, answer.slice(0, 200));
    assert.match(answer, /"code":"MessageTooLarge"/);
    assert.match(answer, /connection: close/i);
    const health = await httpJson(url('health'));
    assert.equal((health.body as { serving: boolean }).serving, true);
  });

  it('matches every path exactly: extra or missing segments are 404 NotFound', async () => {
    const paths = [
      'health/extra', 'leader/x', 'members/name', 'members/name/a/b', 'members/x', 'stores/1', 'store', 'store/1/x', 'region', 'region/id', 'region/id/1/x', 'region/key',
      'region/key/61/x', 'region/x/1', 'regions/x', 'tso/x', 'config/x', 'gc', 'gc/safepoint/x', 'operators/1/x', 'schedulers/x/y', 'health/', 'nothing',
    ];
    for (const path of paths) {
      const r = await raw(url(path));
      assert.equal(r.status, 404, `${path}: ${r.text}`);
      assert.equal(errorOf(r).code, 'NotFound', path);
    }
    for (const path of ['/pd/api/v1/', '/pd/api/v1x', '/pd/api', '/metricsx', '/']) {
      const r = await raw(`http://127.0.0.1:${cluster.spec('pd1').httpPort}${path}`);
      assert.equal(r.status, 404, path);
    }
  });

  it('answers a malformed or out-of-range store or region id with 400, a missing one with 404', async () => {
    const bad = ['abc', '-1', '0', '01', '1.5', '1e3', '0x10', '%20', '9007199254740992', '18446744073709551615', '18446744073709551616'];
    for (const [path, notFound] of [['store', 'StoreNotFound'], ['region/id', 'RegionNotFound']] as const) {
      for (const id of bad) {
        const r = await raw(url(`${path}/${id}`));
        assert.equal(r.status, 400, `${path}/${id}: ${r.text}`);
        assert.equal(errorOf(r).code, 'InvalidArgument');
      }
      const missing = await raw(url(`${path}/424242`));
      assert.equal(missing.status, 404);
      assert.equal(errorOf(missing).code, notFound);
    }
    assert.equal((await raw(url(`region/id/${regionId}`))).status, 200);
    for (const id of ['abc', '0']) {
      const r = await raw(url(`store/${id}`), { method: 'DELETE' });
      assert.equal(r.status, 400, `DELETE store/${id}`);
      assert.equal((await raw(url(`operators/${id}`), { method: 'DELETE' })).status, 400, `DELETE operators/${id}`);
    }
    const noOperator = await raw(url(`operators/${regionId}`), { method: 'DELETE' });
    assert.equal(noOperator.status, 404);
    assert.equal(errorOf(noOperator).code, 'OperatorNotFound');
  });

  it('answers HEAD like GET, without a body, on every GET route', async () => {
    const index = (await httpJson(url(''))).body as { routes: RouteInfo[] };
    const getRoutes = index.routes.filter((r) => r.methods.includes('GET'));
    assert.ok(getRoutes.length >= 14);
    for (const route of getRoutes) {
      assert.ok(route.methods.includes('HEAD'), `${route.path} lists HEAD`);
      const path = samplePath(route.path, { id: '1', hexKey: '61' });
      const base = `http://127.0.0.1:${cluster.spec('pd1').httpPort}${path}`;
      const [get, head] = [await raw(base), await raw(base, { method: 'HEAD' })];
      assert.equal(head.status, get.status, route.path);
      assert.equal(head.text, '', `${route.path}: no body`);
      assert.equal(head.headers.get('content-type')?.split(';')[0], get.headers.get('content-type')?.split(';')[0], route.path);
    }
    // Stable answers: HEAD's length is the length GET's body has.
    for (const path of ['', 'config', 'schedulers', 'stores', `region/id/${regionId}`, 'region/id/424242', 'store/abc']) {
      const [get, head] = [await raw(url(path)), await raw(url(path), { method: 'HEAD' })];
      assert.equal(head.status, get.status, path);
      assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(get.text)), path);
    }
    const notGet = await raw(url('members/name/pd9'), { method: 'HEAD' });
    assert.equal(notGet.status, 405);
    assert.equal(notGet.headers.get('allow'), 'DELETE');
  });

  it('answers a method a path does not take with 405, the full path named the same way, and Allow', async () => {
    const index = (await httpJson(url(''))).body as { routes: RouteInfo[] };
    let checked = 0;
    for (const route of index.routes.filter((r) => r.path.startsWith(PREFIX))) {
      const path = samplePath(route.path, { id: '1', regionId: '1', name: 'pd9', hexKey: '61' });
      for (const method of ['GET', 'POST', 'DELETE', 'PUT', 'PATCH'].filter((m) => !route.methods.includes(m))) {
        const r = await raw(`http://127.0.0.1:${cluster.spec('pd1').httpPort}${path}`, { method, body: method === 'GET' ? undefined : '{}' });
        assert.equal(r.status, 405, `${method} ${path}`);
        const body = errorOf(r);
        assert.equal(body.code, 'MethodNotAllowed');
        assert.equal(body.message, `${method} is not allowed on ${path} (allowed: ${route.methods.join(', ')})`);
        assert.equal(r.headers.get('allow'), route.methods.join(', '), path);
        checked++;
      }
    }
    assert.ok(checked >= 40, `checked ${checked}`);
  });

  it('looks up regions by keys of up to 16 KiB, by path and by start_key, and refuses one byte more', async () => {
    const longest = 'ab'.repeat(KEY_BYTES_MAX);
    const byKey = await raw(url(`region/key/${longest}`));
    assert.equal(byKey.status, 200, byKey.text.slice(0, 200));
    assert.equal((JSON.parse(byKey.text) as { id: number }).id, Number(regionId));
    const scan = await raw(url(`regions?start_key=${longest}&end_key=${'ac'.repeat(KEY_BYTES_MAX)}`));
    assert.equal(scan.status, 200, scan.text.slice(0, 200));
    for (const path of [`region/key/${longest}ab`, `regions?start_key=${longest}ab`]) {
      const r = await raw(url(path));
      assert.equal(r.status, 400, path.slice(0, 30));
      assert.match(errorOf(r).message, /longer than 16384/);
    }
  });

  it('names config settings as gRPC does, shows and accepts exactly those, and refuses others naming them', async () => {
    const shown = (await httpJson(url('config'))).body as Record<string, number | boolean>;
    assert.deepEqual(Object.keys(shown).sort(), [...CLUSTER_CONFIG_FIELDS].sort());
    const grpc = await pd.call('GetClusterConfig', { header: pd.header() });
    assert.equal(grpc.cluster?.maxPeerCount, shown.maxPeerCount);
    const s = grpc.cluster!.schedule!;
    for (const field of CLUSTER_CONFIG_FIELDS.filter((f) => f !== 'maxPeerCount')) {
      assert.equal(String((s as unknown as Record<string, unknown>)[field]), String(shown[field]), `gRPC schedule.${field} is HTTP's ${field}`);
    }
    const set = await httpJson(url('config'), { method: 'POST', body: JSON.stringify({ maxPeerCount: 5, regionMergeKeysMax: 1_000 }) });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    const after = await pd.call('GetClusterConfig', { header: pd.header() });
    assert.equal(after.cluster?.maxPeerCount, 5);
    assert.equal(after.cluster?.schedule?.regionMergeKeysMax, '1000');
    for (const patch of [{ maxReplicas: 3 }, { 'max-replicas': 3 }, { max_peer_count: 3 }, { mergeMaxKeys: 10 }]) {
      const r = await httpJson(url('config'), { method: 'POST', body: JSON.stringify(patch) });
      assert.equal(r.status, 400, JSON.stringify(patch));
      const message = (r.body as ErrorBody).message;
      assert.ok(message.includes(Object.keys(patch)[0]!), message);
      for (const field of CLUSTER_CONFIG_FIELDS) assert.ok(message.includes(field), `${message} names ${field}`);
    }
    for (const body of ['[]', '"x"', '{"maxPeerCount": 4}', '{"maxPeerCount": "5"}']) {
      const r = await httpJson(url('config'), { method: 'POST', body });
      assert.equal(r.status, 400, body);
    }
    assert.equal(((await httpJson(url('config'))).body as { maxPeerCount: number }).maxPeerCount, 5, 'refusals changed nothing');
    const readme = await readFile(new URL('../../../placement-driver/README.md', import.meta.url), 'utf8');
    for (const field of CLUSTER_CONFIG_FIELDS) assert.ok(readme.includes(`\`${field}\``), `README documents ${field}`);
    for (const old of ['maxReplicas', 'mergeMaxSizeBytes', 'mergeMaxKeys', 'max-replicas']) assert.ok(!readme.includes(`| \`${old}\``), `README documents no second name (${old})`);
  });

  it('deletes stores: offline while holding peers, tombstone when not, again idempotent; lists show the state', async () => {
    const holder = await httpJson(url('store/1'), { method: 'DELETE' });
    assert.equal(holder.status, 200, JSON.stringify(holder.body));
    assert.equal((holder.body as { state: string }).state, 'offline');
    const empty = await httpJson(url('store/2'), { method: 'DELETE' });
    assert.equal((empty.body as { state: string }).state, 'tombstone');
    const again = await httpJson(url('store/2'), { method: 'DELETE' });
    assert.equal(again.status, 200);
    assert.equal((again.body as { state: string }).state, 'tombstone');
    const offlineAgain = await httpJson(url('store/1'), { method: 'DELETE' });
    assert.equal((offlineAgain.body as { state: string }).state, 'offline');
    assert.equal(((await httpJson(url('store/1'))).body as { state: string }).state, 'offline');
    const list = (await httpJson(url('stores'))).body as { stores: { id: number; state: string }[] };
    assert.deepEqual(list.stores.map((s) => [s.id, s.state]).sort(), [[1, 'offline'], [2, 'tombstone']]);
    const missing = await raw(url('store/424242'), { method: 'DELETE' });
    assert.equal(missing.status, 404);
    assert.equal(errorOf(missing).code, 'StoreNotFound');
    // The store reports itself again: it stays offline; a tombstone is refused.
    assert.equal(errCode(await pd.call('PutStore', { header: pd.header(), store: store('1', 21001) })), undefined);
    assert.equal(((await httpJson(url('store/1'))).body as { state: string }).state, 'offline');
    assert.equal(errCode(await pd.call('PutStore', { header: pd.header(), store: store('2', 21002) })), 'STORE_TOMBSTONE');
    const grpc = await pd.call('GetStore', { header: pd.header(), storeId: '1' });
    assert.equal(grpc.store?.state, 'Offline');
  });

  it('advances the GC safe point as gRPC UpdateGCSafePoint does: equal is fine, backwards is 409', async () => {
    const set = await httpJson(url('gc/safepoint'), { method: 'POST', body: JSON.stringify({ safePoint: '1000' }) });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body, { safePoint: '1000' });
    assert.equal((await pd.call('GetGCSafePoint', { header: pd.header() })).safePoint, '1000');
    const same = await httpJson(url('gc/safepoint'), { method: 'POST', body: JSON.stringify({ safePoint: '1000' }) });
    assert.equal(same.status, 200);
    assert.equal(errCode(await pd.call('UpdateGCSafePoint', { header: pd.header(), safePoint: '1000' })), undefined);
    const back = await httpJson(url('gc/safepoint'), { method: 'POST', body: JSON.stringify({ safePoint: '999' }) });
    assert.equal(back.status, 409);
    assert.equal((back.body as ErrorBody).code, 'GcSafePointBackwards');
    assert.equal(errCode(await pd.call('UpdateGCSafePoint', { header: pd.header(), safePoint: '999' })), 'GC_SAFE_POINT_BACKWARDS');
    for (const body of ['{"safePoint": 2000}', '{"safePoint": "-1"}', '{"safePoint": "0x10"}', '{"safePoint": "01"}', '{"safePoint": "18446744073709551616"}', '{}', '[]', 'null', '{"safepoint": "2000"}']) {
      const r = await httpJson(url('gc/safepoint'), { method: 'POST', body });
      assert.equal(r.status, 400, body);
      assert.equal((r.body as ErrorBody).code, 'InvalidArgument', body);
    }
    const beyond53 = await httpJson(url('gc/safepoint'), { method: 'POST', body: JSON.stringify({ safePoint: '9007199254740993' }) });
    assert.deepEqual(beyond53.body, { safePoint: '9007199254740993' }, 'u64 precision kept');
    const max = await httpJson(url('gc/safepoint'), { method: 'POST', body: JSON.stringify({ safePoint: '18446744073709551615' }) });
    assert.deepEqual(max.body, { safePoint: '18446744073709551615' });
    assert.deepEqual((await httpJson(url('gc/safepoint'))).body, { safePoint: '18446744073709551615' });
  });

  it('lists every route in GET /pd/api/v1, each one served, and the README documents exactly those', async () => {
    const index = (await httpJson(url(''))).body as { routes: RouteInfo[] };
    assert.ok(index.routes.length >= 17);
    for (const route of index.routes) {
      assert.ok(route.description.length > 0, route.path);
      for (const method of route.methods.filter((m) => m !== 'HEAD')) {
        const path = samplePath(route.path, { id: '424242', regionId: '424242', name: 'pd9', hexKey: '61' });
        const r = await raw(`http://127.0.0.1:${cluster.spec('pd1').httpPort}${path}`, { method, body: method === 'POST' ? '{}' : undefined });
        assert.notEqual(r.status, 405, `${method} ${path}`);
        if (r.status === 404) assert.notEqual(errorOf(r).code, 'NotFound', `${method} ${path} is served`);
      }
    }
    const documented = await readmeRoutes();
    const served = new Set(index.routes.flatMap((r) => r.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${r.path}`)));
    assert.deepEqual([...documented].sort(), [...served].sort(), 'README table ⇔ index');
  });
});

describe('PD HTTP API, three members (real processes)', () => {
  let cluster: PdTestCluster;

  before(async () => {
    cluster = await PdTestCluster.start(3);
  });
  after(async () => cluster?.close());

  /** Every member's record with its reported HTTP URL, as `name` answers /members. */
  async function membersWithUrls(name: string): Promise<{ members: { name: string; statusUrl: string; clientUrls: string[]; peerUrls: string[]; isLeader: boolean }[]; leaderId: number }> {
    return waitFor(`every member's statusUrl on ${name}`, async () => {
      const r = await httpJson(cluster.httpUrl(name, 'members'));
      const body = r.body as Awaited<ReturnType<typeof membersWithUrls>>;
      return r.status === 200 && body.members.length === 3 && body.members.every((m) => m.statusUrl !== '') ? body : undefined;
    });
  }

  it("a follower's 503 names the leader's HTTP URL; /leader and /members show every member's URLs", async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.map((m) => m.name).find((n) => n !== leader)!;
    const leaderHttp = `http://127.0.0.1:${cluster.spec(leader).httpPort}`;
    for (const name of [leader, follower]) {
      const view = await membersWithUrls(name);
      for (const m of view.members) {
        const spec = cluster.spec(m.name);
        assert.equal(m.statusUrl, `http://127.0.0.1:${spec.httpPort}`);
        assert.deepEqual(m.clientUrls, [`http://127.0.0.1:${spec.clientPort}`]);
        assert.deepEqual(m.peerUrls, [`http://127.0.0.1:${spec.peerPort}`]);
        assert.equal(m.isLeader, m.name === leader);
      }
    }
    const shown = await httpJson(cluster.httpUrl(follower, 'leader'));
    assert.equal((shown.body as { name: string; statusUrl: string }).statusUrl, leaderHttp);
    for (const path of ['stores', 'config', 'gc/safepoint', 'tso']) {
      const r = await httpJson(cluster.httpUrl(follower, path));
      assert.equal(r.status, 503, path);
      const body = r.body as ErrorBody & { leader: { name: string; statusUrl: string; clientUrls: string[] } };
      assert.equal(body.code, 'PdNotLeader');
      assert.equal(body.leader.name, leader);
      assert.equal(body.leader.statusUrl, leaderHttp);
      assert.ok(body.message.includes(`${leaderHttp}${PREFIX}`), body.message);
    }
    // Following the hint works.
    const there = await httpJson(`${leaderHttp}${PREFIX}/health`);
    assert.equal((there.body as { serving: boolean }).serving, true);
  });

  it('keeps store states, config and the GC safe point written over HTTP across a leader change', async () => {
    let leader = await cluster.waitForLeader();
    const pd = cluster.client(leader);
    await bootstrap(pd, '1');
    assert.equal(errCode(await pd.call('PutStore', { header: pd.header(), store: store('2', 21002) })), undefined);
    // Each write goes to the serving leader; one that meets a leader change (PdNotLeader, 503) is
    // sent again to the next one, as a client does (a loaded machine can move leadership here).
    const write = async (method: string, path: string, body?: unknown): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        const r = await httpJson(cluster.httpUrl(leader, path), { method, body: body === undefined ? undefined : JSON.stringify(body) });
        if (r.status === 503 && (r.body as ErrorBody).code === 'PdNotLeader' && attempt < 5) {
          leader = await cluster.waitForLeader();
          continue;
        }
        assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.body)}`);
        return;
      }
    };
    await write('DELETE', 'store/1');
    await write('DELETE', 'store/2');
    await write('POST', 'config', { maxPeerCount: 5 });
    await write('POST', 'gc/safepoint', { safePoint: '4242' });
    await cluster.processes.get(leader)!.stop();
    const next = await cluster.waitForLeader();
    assert.notEqual(next, leader);
    const get = async (path: string): Promise<unknown> => (await httpJson(cluster.httpUrl(next, path))).body;
    assert.equal((await get('store/1') as { state: string }).state, 'offline');
    assert.equal((await get('store/2') as { state: string }).state, 'tombstone');
    assert.equal((await get('config') as { maxPeerCount: number }).maxPeerCount, 5);
    assert.deepEqual(await get('gc/safepoint'), { safePoint: '4242' });
  });
});
