// The dashboard's HTTP routes (placement-driver/dashboard-http.ts) through PD's real HTTP API on a
// stub member, no browser: content types and cache headers, HEAD, ETag revalidation, 404 for
// unknown files, 400 for every traversal attempt (sent raw: fetch would normalize them away), and
// GET /pd/api/v1/keyvisual — its shape, its parameters at N and N+1, and a follower's 503 with
// the leader hint; GET /pd/api/v1/region-events the same way, judged against the events the test
// put in the log (since inclusive, the newest `limit`, the ring's wrap seen over HTTP).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { isTraversal } from '../../placement-driver/dashboard-http.js';
import { KEYVIS_ROWS_MAX } from '../../placement-driver/key-visualizer.js';
import { REGION_EVENTS_LIMIT_DEFAULT, REGION_EVENTS_LIMIT_MAX, REGION_EVENTS_MAX, type RegionEvent, type RegionEventInput } from '../../placement-driver/region-events.js';
import type { PdMember } from '../../placement-driver/state-machine.js';
import { rawRequest, startStubPd, type StubPd } from '../support/pd-dashboard-stub.js';

const LEADER: PdMember = { id: 1, name: 'pd1', peerUrls: ['127.0.0.1:11'], clientUrls: ['127.0.0.1:12'], statusAddress: '127.0.0.1:13' };

describe('dashboard HTTP routes', () => {
  let pd: StubPd;
  const nowMs = 1_700_000_000_000;
  before(async () => {
    pd = await startStubPd({ isServing: true, nowMs: () => nowMs });
  });
  after(async () => {
    await pd.close();
  });

  for (const [path, type, file] of [
    ['/dashboard', 'text/html', 'placement-driver/dashboard/index.html'],
    ['/dashboard/', 'text/html', 'placement-driver/dashboard/index.html'],
    ['/dashboard/index.html', 'text/html', 'placement-driver/dashboard/index.html'],
    ['/dashboard/app.js', 'text/javascript', 'placement-driver/dashboard/app.js'],
    ['/dashboard/style.css', 'text/css', 'placement-driver/dashboard/style.css'],
    ['/dashboard/vendor/uPlot.iife.min.js', 'text/javascript', 'node_modules/uplot/dist/uPlot.iife.min.js'],
    ['/dashboard/vendor/uPlot.min.css', 'text/css', 'node_modules/uplot/dist/uPlot.min.css'],
  ] as const) {
    it(`GET ${path} answers ${file} as ${type}`, async () => {
      const r = await rawRequest(pd.url, path);
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), new RegExp(`^${type}`));
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.match(String(r.headers['cache-control']), path.includes('/vendor/') ? /max-age=3600/ : /no-cache/);
      assert.equal(r.body, await readFile(file, 'utf8'));
    });
  }

  it('the page loads its scripts and styles from the paths served', async () => {
    const html = (await rawRequest(pd.url, '/dashboard')).body;
    for (const src of html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)) {
      assert.equal((await rawRequest(pd.url, src[1]!)).status, 200, src[1]);
    }
  });

  it('HEAD answers the headers and length without a body', async () => {
    for (const path of ['/dashboard', '/dashboard/app.js', '/pd/api/v1/keyvisual']) {
      const get = await rawRequest(pd.url, path);
      const head = await rawRequest(pd.url, path, { method: 'HEAD' });
      assert.equal(head.status, 200, path);
      assert.equal(head.body, '', path);
      assert.equal(head.headers['content-type'], get.headers['content-type'], path);
      assert.equal(Number(head.headers['content-length']), Buffer.byteLength(get.body), path);
    }
  });

  it('an unchanged file revalidates with 304 (ETag)', async () => {
    const first = await rawRequest(pd.url, '/dashboard/app.js');
    const etag = String(first.headers['etag']);
    assert.match(etag, /^"[\w-]+"$/);
    const again = await rawRequest(pd.url, '/dashboard/app.js', { headers: { 'if-none-match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    assert.equal((await rawRequest(pd.url, '/dashboard/app.js', { headers: { 'if-none-match': '"other"' } })).status, 200);
  });

  it('the page is served with a content security policy that allows only its own origin', async () => {
    const csp = String((await rawRequest(pd.url, '/dashboard')).headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
  });

  for (const path of [
    '/dashboard/../../package.json',
    '/dashboard/../package.json',
    '/dashboard/./app.js',
    '/dashboard/%2e%2e/%2e%2e/package.json',
    '/dashboard/%2E%2E/%2E%2E/package.json',
    '/dashboard/..%2f..%2fpackage.json',
    '/dashboard/vendor/..%5c..%5cpackage.json',
    '/dashboard/vendor/..\\..\\package.json',
    '/dashboard/.%2e/.%2e/package.json',
    '/dashboard/app.js%00.css',
    '/dashboard/..',
  ]) {
    it(`traversal ${path} is refused with 400 and never reads a file`, async () => {
      const r = await rawRequest(pd.url, path);
      assert.equal(r.status, 400, `${path} → ${r.status} ${r.body.slice(0, 80)}`);
      assert.doesNotMatch(r.body, /"name": "flotilla"|dashboard\(\)/);
    });
  }

  for (const path of ['/dashboard/nope.js', '/dashboard/package.json', '/dashboard/vendor/uPlot.cjs.js', '/dashboard/vendor/', '/dashboard/app.js/', '/dashboardx', '/dashboard//app.js']) {
    it(`unknown file ${path} answers 404`, async () => {
      const r = await rawRequest(pd.url, path);
      assert.equal(r.status, 404, `${path} → ${r.status}`);
      assert.doesNotMatch(r.body, /"name": "flotilla"/);
    });
  }

  it('other methods answer 405 naming GET and HEAD', async () => {
    for (const path of ['/dashboard', '/dashboard/app.js', '/pd/api/v1/keyvisual']) {
      const r = await rawRequest(pd.url, path, { method: 'POST' });
      assert.equal(r.status, 405, path);
      assert.equal(r.headers['allow'], 'GET, HEAD');
    }
  });

  it('the rest of the API still answers (the dashboard only takes its own paths)', async () => {
    const r = await rawRequest(pd.url, '/pd/api/v1/health');
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body) as { name: string }).name, 'pd2');
    assert.equal((await rawRequest(pd.url, '/pd/api/v1/nope')).status, 404);
  });

  it('GET /pd/api/v1/keyvisual answers the heatmap: times, key boundaries (hex of raw keys) and values', async () => {
    pd.keyVisual.record(nowMs - 1_000, Buffer.alloc(0), Buffer.from('m'), { writtenBytes: 10, readBytes: 1, writtenKeys: 2, readKeys: 3 });
    pd.keyVisual.record(nowMs, Buffer.from('m'), Buffer.alloc(0), { writtenBytes: 30, readBytes: 0, writtenKeys: 4, readKeys: 0 });
    const r = await rawRequest(pd.url, '/pd/api/v1/keyvisual?metric=written_bytes');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.headers['cache-control'], 'no-store');
    const body = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(body, {
      metric: 'written_bytes', nowMs, bucketMs: 1_000, bucketsMax: 360, rowsMax: 256, fineRows: 2,
      times: [nowMs - 1_000, nowMs], keys: ['', '6d', ''], values: [[10, 0], [0, 30]], valueMax: 30,
    });
    const keys = JSON.parse((await rawRequest(pd.url, '/pd/api/v1/keyvisual?metric=read_keys&rows=1')).body) as { keys: string[]; values: number[][] };
    assert.deepEqual(keys.keys, ['', '']);
    assert.deepEqual(keys.values, [[3], [0]]);
    // Default metric: bytes written.
    assert.equal((JSON.parse((await rawRequest(pd.url, '/pd/api/v1/keyvisual')).body) as { metric: string }).metric, 'written_bytes');
  });

  it('keyvisual parameters are checked: metric from the list, rows within [1, KEYVIS_ROWS_MAX]', async () => {
    const status = async (query: string): Promise<number> => (await rawRequest(pd.url, `/pd/api/v1/keyvisual?${query}`)).status;
    assert.equal(await status(`rows=${KEYVIS_ROWS_MAX}`), 200);
    assert.equal(await status('rows=1'), 200);
    for (const bad of [`rows=${KEYVIS_ROWS_MAX + 1}`, 'rows=0', 'rows=-1', 'rows=1.5', 'rows=x', 'metric=bytes', 'metric=']) {
      const r = await rawRequest(pd.url, `/pd/api/v1/keyvisual?${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'InvalidArgument', bad);
    }
  });

  it('isTraversal: plain names pass, every dot-segment or encoded separator is caught', () => {
    for (const ok of ['/dashboard', '/dashboard/app.js', '/dashboard/vendor/uPlot.min.css', '/dashboard/a..b']) assert.equal(isTraversal(ok), false, ok);
    for (const bad of ['/dashboard/..', '/dashboard/../x', '/dashboard/./x', '/dashboard/%2e%2e/x', '/dashboard/x%2Fy', '/dashboard/x%5cy', '/dashboard/x\\y', '/dashboard/x%00']) assert.equal(isTraversal(bad), true, bad);
  });
});

describe('dashboard on a follower', () => {
  it('the page still loads; the heatmap and cluster state answer 503 PdNotLeader naming the leader and its HTTP URL', async () => {
    const pd = await startStubPd({ isServing: false, leader: LEADER });
    try {
      assert.equal((await rawRequest(pd.url, '/dashboard')).status, 200);
      for (const path of ['/pd/api/v1/keyvisual', '/pd/api/v1/stores']) {
        const r = await rawRequest(pd.url, path);
        assert.equal(r.status, 503, path);
        const body = JSON.parse(r.body) as { code: string; leader?: { name: string; statusUrl: string } };
        assert.equal(body.code, 'PdNotLeader');
        assert.equal(body.leader?.name, 'pd1');
        assert.equal(body.leader?.statusUrl, 'http://127.0.0.1:13');
      }
    } finally {
      await pd.close();
    }
  });

  it('with no leader known the refusal carries no hint', async () => {
    const pd = await startStubPd({ isServing: false });
    try {
      const r = await rawRequest(pd.url, '/pd/api/v1/keyvisual');
      assert.equal(r.status, 503);
      assert.equal((JSON.parse(r.body) as { leader?: unknown }).leader, undefined);
    } finally {
      await pd.close();
    }
  });

  it('a PD installed without its dashboard files answers 404 saying so, and keeps serving the API', async () => {
    const pd = await startStubPd({ isServing: true, dashboardDir: '/nonexistent-flotilla-dashboard/' });
    try {
      const r = await rawRequest(pd.url, '/dashboard/app.js');
      assert.equal(r.status, 404);
      assert.match(r.body, /missing/);
      assert.equal((await rawRequest(pd.url, '/pd/api/v1/health')).status, 200);
    } finally {
      await pd.close();
    }
  });
});

describe('GET /pd/api/v1/region-events', () => {
  const nowMs = 1_700_000_000_000;
  const split = (atMs: number, regionId: number): RegionEventInput => ({ kind: 'split', atMs, regionId, version: 2, startKey: '', endKey: '', splitKeys: ['6d'], newRegionIds: [regionId + 1] });
  const op = (atMs: number, regionId: number, outcome: 'created' | 'cancelled'): RegionEventInput => ({
    kind: 'operator', atMs, regionId, outcome, operatorId: 9, operatorKind: 'leader', source: 'balance-leader', description: 'balance-leader', fromStoreIds: [1], toStoreIds: [2],
  });
  interface Page { nowMs: number; eventsMax: number; recorded: number; since: number; limit: number; omitted: number; events: RegionEvent[] }
  const page = async (pd: StubPd, query: string): Promise<Page> => {
    const r = await rawRequest(pd.url, `/pd/api/v1/region-events${query}`);
    assert.equal(r.status, 200, `${query}: ${r.body}`);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    return JSON.parse(r.body) as Page;
  };

  it('answers the events recorded from `since` (inclusive), oldest first, exactly as recorded', async () => {
    const pd = await startStubPd({ isServing: true, nowMs: () => nowMs });
    try {
      const inputs = [split(nowMs - 3_000, 1), op(nowMs - 2_000, 2, 'created'), op(nowMs - 2_000, 2, 'cancelled'), { kind: 'merge', atMs: nowMs - 1_000, regionId: 4, version: 5, startKey: '61', endKey: '', mergedRegionIds: [3] } as const];
      for (const e of inputs) pd.regionEvents.append(e);
      const all = await page(pd, '');
      assert.deepEqual(all, { nowMs, eventsMax: REGION_EVENTS_MAX, recorded: 4, since: 0, limit: REGION_EVENTS_LIMIT_DEFAULT, omitted: 0, events: inputs.map((e, i) => ({ ...e, seq: i + 1 })) });
      const from = await page(pd, `?since=${nowMs - 2_000}`);
      assert.deepEqual(from.events.map((e) => e.seq), [2, 3, 4], 'an event at exactly since is answered');
      assert.deepEqual((await page(pd, `?since=${nowMs - 1_999}`)).events.map((e) => e.seq), [4]);
      assert.deepEqual((await page(pd, `?since=${nowMs}`)).events, []);
      const newest = await page(pd, `?since=${nowMs - 3_000}&limit=2`);
      assert.deepEqual([newest.events.map((e) => e.seq), newest.omitted, newest.limit], [[3, 4], 2, 2]);
    } finally {
      await pd.close();
    }
  });

  it('limit is enforced at REGION_EVENTS_LIMIT_MAX (N answers at most N events, N + 1 is refused)', async () => {
    const pd = await startStubPd({ isServing: true, nowMs: () => nowMs });
    try {
      const total = REGION_EVENTS_LIMIT_MAX + 10;
      for (let i = 0; i < total; i++) pd.regionEvents.append(split(nowMs - total + i, i + 1));
      const max = await page(pd, `?limit=${REGION_EVENTS_LIMIT_MAX}`);
      assert.equal(max.events.length, REGION_EVENTS_LIMIT_MAX);
      assert.equal(max.omitted, 10);
      assert.equal(max.events[0]!.seq, 11, 'the newest limit events');
      assert.equal(max.events[max.events.length - 1]!.seq, total);
      const byDefault = await page(pd, '');
      assert.equal(byDefault.events.length, REGION_EVENTS_LIMIT_DEFAULT);
      assert.equal(byDefault.omitted, total - REGION_EVENTS_LIMIT_DEFAULT);
      const over = await rawRequest(pd.url, `/pd/api/v1/region-events?limit=${REGION_EVENTS_LIMIT_MAX + 1}`);
      assert.equal(over.status, 400);
      assert.equal((JSON.parse(over.body) as { code: string }).code, 'InvalidArgument');
    } finally {
      await pd.close();
    }
  });

  it('the ring keeps the newest eventsMax: after a wrap the oldest are gone, seq keeps counting', async () => {
    const pd = await startStubPd({ isServing: true, nowMs: () => nowMs, regionEventsMax: 3 });
    try {
      for (let i = 1; i <= 5; i++) pd.regionEvents.append(split(nowMs + i, i));
      const body = await page(pd, '');
      assert.deepEqual([body.eventsMax, body.recorded, body.events.map((e) => [e.seq, e.regionId])], [3, 5, [[3, 3], [4, 4], [5, 5]]]);
    } finally {
      await pd.close();
    }
  });

  it('bad since or limit answers 400 InvalidArgument; HEAD and 405 as every API path', async () => {
    const pd = await startStubPd({ isServing: true, nowMs: () => nowMs });
    try {
      for (const good of ['since=0', `since=${Number.MAX_SAFE_INTEGER}`, 'limit=1', `since=${nowMs}&limit=${REGION_EVENTS_LIMIT_MAX}`]) {
        assert.equal((await rawRequest(pd.url, `/pd/api/v1/region-events?${good}`)).status, 200, good);
      }
      for (const bad of ['since=-1', 'since=1.5', 'since=abc', 'since=1e3', 'since=', 'since=01', `since=${Number.MAX_SAFE_INTEGER + 1}`, 'limit=0', 'limit=-1', 'limit=2.5', 'limit=x', 'limit=', `limit=${REGION_EVENTS_LIMIT_MAX + 1}`]) {
        const r = await rawRequest(pd.url, `/pd/api/v1/region-events?${bad}`);
        assert.equal(r.status, 400, bad);
        const body = JSON.parse(r.body) as { code: string; message: string };
        assert.equal(body.code, 'InvalidArgument', bad);
        assert.match(body.message, /^(since|limit): /, bad);
      }
      const get = await rawRequest(pd.url, '/pd/api/v1/region-events');
      const head = await rawRequest(pd.url, '/pd/api/v1/region-events', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      assert.equal(Number(head.headers['content-length']), Buffer.byteLength(get.body));
      const post = await rawRequest(pd.url, '/pd/api/v1/region-events', { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers['allow'], 'GET, HEAD');
      const index = JSON.parse((await rawRequest(pd.url, '/pd/api/v1')).body) as { routes: { path: string; methods: string[] }[] };
      assert.deepEqual(index.routes.find((r) => r.path === '/pd/api/v1/region-events')?.methods, ['GET', 'HEAD']);
    } finally {
      await pd.close();
    }
  });

  it('a follower answers 503 PdNotLeader naming the leader', async () => {
    const pd = await startStubPd({ isServing: false, leader: LEADER });
    try {
      pd.regionEvents.append(split(nowMs, 1));
      const r = await rawRequest(pd.url, '/pd/api/v1/region-events');
      assert.equal(r.status, 503);
      const body = JSON.parse(r.body) as { code: string; leader?: { name: string } };
      assert.equal(body.code, 'PdNotLeader');
      assert.equal(body.leader?.name, 'pd1');
    } finally {
      await pd.close();
    }
  });
});
