// POST actions on the store's status server (the admin /region/change-peer rides on them): the
// JSON body reaches the action up to ACTION_BODY_BYTES_MAX and not a byte past it; malformed JSON
// is 400, an action's InvalidArgument 400 and other failures 500; another method on an action path
// is 405 (Allow: POST); the server keeps serving after each.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry, FlotillaError, silentLogger } from '../../common/index.js';
import { ACTION_BODY_BYTES_MAX, startStatusServer, type StatusServer } from '../../store/status-http.js';

async function post(url: string, body: string): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text) as unknown };
}

describe('store status HTTP server: POST actions', () => {
  let server: StatusServer;
  let base: string;
  const seen: unknown[] = [];

  before(async () => {
    server = await startStatusServer({
      host: '127.0.0.1', port: 0, registry: createMetricsRegistry({ collectProcessMetrics: false }), status: () => ({ storeId: 1 }), logger: silentLogger(),
      actions: new Map([
        ['/echo', async (body: unknown) => {
          seen.push(body);
          return { status: 200, body: { got: body } };
        }],
        ['/bad', async () => {
          throw new FlotillaError('InvalidArgument', 'no such region');
        }],
        ['/broken', async () => {
          throw new Error('boom');
        }],
      ]),
    });
    base = `http://${server.address}`;
  });
  after(async () => server?.stop());

  it('hands the JSON body to the action and answers its status and body', async () => {
    assert.deepEqual(await post(`${base}/echo`, '{"regionId":7}'), { status: 200, json: { got: { regionId: 7 } } });
  });

  it('takes a body of exactly the limit and refuses one byte more (413), unread by the action', async () => {
    const pad = (n: number): string => JSON.stringify({ p: 'x'.repeat(n - 8) }); // {"p":"…"} is n bytes
    assert.equal(pad(ACTION_BODY_BYTES_MAX).length, ACTION_BODY_BYTES_MAX);
    const before = seen.length;
    assert.equal((await post(`${base}/echo`, pad(ACTION_BODY_BYTES_MAX))).status, 200);
    assert.equal((await post(`${base}/echo`, pad(ACTION_BODY_BYTES_MAX + 1))).status, 413);
    assert.equal(seen.length, before + 1);
  });

  it('answers malformed JSON with 400, an InvalidArgument with 400 and any other failure with 500', async () => {
    assert.equal((await post(`${base}/echo`, '{nope')).status, 400);
    assert.deepEqual(await post(`${base}/bad`, '{}'), { status: 400, json: { code: 'InvalidArgument', message: 'no such region' } });
    assert.equal((await post(`${base}/broken`, '{}')).status, 500);
    const get = await fetch(`${base}/echo`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(get.status, 405, 'GET on an action path');
    assert.equal(get.headers.get('allow'), 'POST');
    assert.equal(((await get.json()) as { code: string }).code, 'MethodNotAllowed');
    assert.equal((await fetch(`${base}/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(5_000) })).status, 405);
    assert.equal((await fetch(`${base}/health`, { signal: AbortSignal.timeout(5_000) })).status, 200);
  });
});
