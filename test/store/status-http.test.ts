// The store's status HTTP server on a real socket: /metrics, /status (JSON, bigints as strings),
// /health; 404 for unknown paths, 405 for other methods, 500 JSON when status() throws — and the
// server keeps serving after each of them and after malformed HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createMetricsRegistry, FlotillaError, silentLogger } from '../../common/index.js';
import { StoreMetrics } from '../../store/metrics.js';
import { startStatusServer, type StatusServer } from '../../store/status-http.js';

async function get(url: string, method = 'GET'): Promise<{ status: number; type: string | null; text: string; allow: string | null }> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text(), allow: res.headers.get('allow') };
}

describe('store status HTTP server', () => {
  let server: StatusServer;
  let base: string;
  let statusBody: () => unknown = () => ({ storeId: 7, clusterId: 12345678901234567890n, regions: [{ id: 1, isLeader: true }] });

  before(async () => {
    const registry = createMetricsRegistry({ collectProcessMetrics: false });
    const metrics = new StoreMetrics(registry);
    metrics.countElection();
    server = await startStatusServer({ host: '127.0.0.1', port: 0, registry, status: () => statusBody(), logger: silentLogger() });
    base = `http://${server.address}`;
  });
  after(async () => server?.stop());

  it('binds the port the OS chose and reports it', () => {
    assert.ok(server.port > 0);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
  });

  it('serves Prometheus text on GET /metrics', async () => {
    const r = await get(`${base}/metrics`);
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /text\/plain/);
    assert.match(r.text, /^flotilla_store_elections_won_total 1$/m);
  });

  it('serves status() as JSON on GET /status, bigints as strings, query strings ignored', async () => {
    const r = await get(`${base}/status?verbose=1`);
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /application\/json/);
    assert.deepEqual(JSON.parse(r.text), { storeId: 7, clusterId: '12345678901234567890', regions: [{ id: 1, isLeader: true }] });
  });

  it('awaits a status() that returns a promise', async () => {
    statusBody = () => Promise.resolve({ storeId: 8 });
    try {
      const r = await get(`${base}/status`);
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.text), { storeId: 8 });
    } finally {
      statusBody = () => ({ storeId: 7 });
    }
  });

  it('answers GET /health with {"ok":true}', async () => {
    const r = await get(`${base}/health`);
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { ok: true });
  });

  it('answers an unknown path with 404 JSON', async () => {
    for (const path of ['/', '/nope', '/status/extra', '/metricsx']) {
      const r = await get(`${base}${path}`);
      assert.equal(r.status, 404, path);
      assert.equal((JSON.parse(r.text) as { code: string }).code, 'NotFound');
    }
  });

  it('answers any method but GET with 405 JSON and an Allow header', async () => {
    for (const [path, method] of [['/metrics', 'POST'], ['/status', 'PUT'], ['/health', 'DELETE'], ['/status', 'HEAD']] as const) {
      const r = await get(`${base}${path}`, method);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.allow, 'GET');
      if (method !== 'HEAD') assert.equal((JSON.parse(r.text) as { code: string }).code, 'MethodNotAllowed');
    }
  });

  it('answers 500 JSON with the message when status() throws, then keeps serving', async () => {
    statusBody = () => {
      throw new FlotillaError('Unavailable', 'store is starting: regions not loaded');
    };
    try {
      const r = await get(`${base}/status`);
      assert.equal(r.status, 500);
      const body = JSON.parse(r.text) as { code: string; message: string };
      assert.equal(body.code, 'Unavailable');
      assert.match(body.message, /regions not loaded/);
      statusBody = () => Promise.reject(new Error('async failure'));
      const r2 = await get(`${base}/status`);
      assert.equal(r2.status, 500);
      assert.match((JSON.parse(r2.text) as { message: string }).message, /async failure/);
    } finally {
      statusBody = () => ({ storeId: 7 });
    }
    assert.equal((await get(`${base}/health`)).status, 200);
  });

  it('answers malformed HTTP with 400 and keeps serving', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => (text += d.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400/);
    assert.equal((await get(`${base}/health`)).status, 200);
  });
});
