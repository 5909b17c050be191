// PdAdmin, the CLI's side of PD's HTTP API, against real HTTP servers on 127.0.0.1 standing in for
// PD members (a follower answers 503 PdNotLeader, as placement-driver/http-api.ts does) and a
// stand-in PD client whose GetMembers names the leader the test chooses: requests reach the
// leader's /pd/api/v1 with their method and JSON body, a leader change is followed at most
// LEADER_FOLLOWS_MAX times, and every failure is one CliError with PD's code.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PdClient, PdMembers } from '../../client/index.js';
import { CliError } from '../../cli/errors.js';
import { LEADER_FOLLOWS_MAX, PdAdmin } from '../../cli/pd-admin.js';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

interface Member {
  readonly url: string;
  handler: Handler;
  readonly seen: { method: string; url: string; body: string; contentType: string | undefined }[];
  readonly server: Server;
}

async function startMember(): Promise<Member> {
  const seen: Member['seen'] = [];
  const ref: { member?: Member } = {};
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, contentType: req.headers['content-type'] });
      ref.member!.handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  ref.member = { server, seen, handler: echo, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
  return ref.member;
}

const json = (res: ServerResponse, status: number, value: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};
const notLeader: Handler = (_req, _body, res) => json(res, 503, { code: 'PdNotLeader', message: 'not the PD leader' });
const echo: Handler = (req, body, res) => json(res, 200, { method: req.method, url: req.url, body: body === '' ? null : JSON.parse(body) as unknown });

/** A PD client that answers GetMembers with each of `leaders` in turn (the last one again after). */
function fakePd(leaders: readonly (string | null)[]): { pd: PdClient; calls: () => number; closed: () => boolean } {
  let calls = 0;
  let closed = false;
  const fake = {
    getMembers(): Promise<PdMembers> {
      const url = leaders[Math.min(calls++, leaders.length - 1)]!;
      const leader = url === null ? null : { name: `pd-${calls}`, memberId: String(calls), peerUrls: [], clientUrls: [], statusUrl: url };
      return Promise.resolve({ clusterId: 1n, members: leader === null ? [] : [leader], leader });
    },
    close(): void {
      closed = true;
    },
  };
  return { pd: fake as unknown as PdClient, calls: () => calls, closed: () => closed };
}

async function failure(p: Promise<unknown>): Promise<CliError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CliError, `a CliError, got ${String(err)}`);
    return err;
  }
  assert.fail('no error');
}

describe('PdAdmin (the CLI\'s PD HTTP API client)', () => {
  let a: Member;
  let b: Member;
  before(async () => {
    a = await startMember();
    b = await startMember();
  });
  after(async () => {
    await new Promise<void>((resolve) => a.server.close(() => resolve()));
    await new Promise<void>((resolve) => b.server.close(() => resolve()));
  });
  const reset = (ha: Handler, hb: Handler): void => {
    a.handler = ha;
    b.handler = hb;
    a.seen.length = 0;
    b.seen.length = 0;
  };

  it('sends each method to the leader\'s /pd/api/v1 with its JSON body (a trailing slash of the URL dropped)', async () => {
    reset(echo, echo);
    const admin = await PdAdmin.over(fakePd([`${a.url}//`]).pd);
    assert.equal(admin.httpUrl, a.url);
    assert.deepEqual(await admin.get('/stores?x=1'), { method: 'GET', url: '/pd/api/v1/stores?x=1', body: null });
    assert.deepEqual(await admin.post('/operators', { region: 7, kind: 'split', keys: ['é', ''] }), { method: 'POST', url: '/pd/api/v1/operators', body: { region: 7, kind: 'split', keys: ['é', ''] } });
    assert.deepEqual(await admin.delete('/schedulers/balance-leader'), { method: 'DELETE', url: '/pd/api/v1/schedulers/balance-leader', body: null });
    assert.equal(a.seen[1]!.contentType, 'application/json');
    assert.equal(a.seen[0]!.contentType, undefined, 'a GET carries no body');
    assert.equal(b.seen.length, 0);
  });

  it('follows a leader change: the follower\'s PdNotLeader sends the same request to the new leader, body and all', async () => {
    reset(notLeader, echo);
    const pd = fakePd([a.url, b.url]);
    const admin = await PdAdmin.over(pd.pd);
    assert.deepEqual(await admin.post('/config', { maxReplicas: 3 }), { method: 'POST', url: '/pd/api/v1/config', body: { maxReplicas: 3 } });
    assert.equal(a.seen.length, 1);
    assert.equal(b.seen.length, 1);
    assert.equal(pd.calls(), 2);
    assert.equal(admin.httpUrl, b.url, 'the new leader is kept for the next request');
    await admin.get('/stores');
    assert.equal(a.seen.length, 1, 'the next request goes to the new leader at once');
  });

  it(`gives up after ${LEADER_FOLLOWS_MAX} leader changes in one request: PdNotLeader`, async () => {
    reset(notLeader, notLeader);
    const admin = await PdAdmin.over(fakePd([a.url, b.url, a.url, b.url, a.url, b.url]).pd);
    const err = await failure(admin.get('/stores'));
    assert.equal(err.code, 'PdNotLeader');
    assert.match(err.message, /not the PD leader \[PdNotLeader\]/);
    assert.equal(a.seen.length + b.seen.length, LEADER_FOLLOWS_MAX + 1, 'the first try and one per follow');
  });

  it('a PD error is one CliError with PD\'s code and message; without a code, the HTTP status is the code', async () => {
    reset((_q, _b, res) => json(res, 400, { code: 'InvalidArgument', message: 'no such scheduler "x"' }), echo);
    let err = await failure((await PdAdmin.over(fakePd([a.url]).pd)).delete('/schedulers/x'));
    assert.deepEqual([err.message, err.code, err.exitCode], ['PD: no such scheduler "x" [InvalidArgument]', 'InvalidArgument', 1]);
    reset((_q, _b, res) => json(res, 404, { error: 'gone' }), echo);
    err = await failure((await PdAdmin.over(fakePd([a.url]).pd)).get('/nowhere'));
    assert.deepEqual([err.message, err.code], ['PD: HTTP 404 [HTTP404]', 'HTTP404']);
    reset((_q, _b, res) => json(res, 500, { code: 7, message: ['not', 'text'] }), echo);
    err = await failure((await PdAdmin.over(fakePd([a.url]).pd)).get('/x'));
    assert.deepEqual([err.message, err.code], ['PD: HTTP 500 [HTTP500]', 'HTTP500']);
  });

  it('an answer that is not JSON is an error naming the request; an empty success is null; 201 is success', async () => {
    reset((_q, _b, res) => { res.writeHead(200); res.end('<html>'); }, echo);
    const err = await failure((await PdAdmin.over(fakePd([a.url]).pd)).get('/stores'));
    assert.match(err.message, /GET \/stores with 200 and a body that is not JSON/);
    reset((_q, _b, res) => { res.writeHead(200); res.end(); }, echo);
    assert.equal(await (await PdAdmin.over(fakePd([a.url]).pd)).post('/x', {}), null);
    // Any 2xx is success: PD answers 201 to a member or operator it created.
    reset((_q, _b, res) => json(res, 201, { id: 9 }), echo);
    assert.deepEqual(await (await PdAdmin.over(fakePd([a.url]).pd)).post('/operators', {}), { id: 9 });
  });

  it('no leader, or a leader without an HTTP address, is Unavailable (and the PD client is closed); an unreachable API says so', async () => {
    for (const leaders of [[null], ['']]) {
      const pd = fakePd(leaders);
      const err = await failure(PdAdmin.over(pd.pd));
      assert.equal(err.code, 'Unavailable');
      assert.ok(pd.closed(), 'the PD client was left open');
    }
    const closed = await startMember();
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const err = await failure((await PdAdmin.over(fakePd([closed.url]).pd)).get('/stores'));
    assert.match(err.message, new RegExp(`PD's HTTP API at ${closed.url.replace(/\./g, '\\.')} is unreachable`));
  });
});
