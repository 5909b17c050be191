// The client's connection to one store (client/store-connection.ts) against real gRPC servers on
// 127.0.0.1: fake stores, a store that answers malformed batches, and a listener that accepts TCP
// but never speaks HTTP/2 (a channel that stays connecting). Its invariants: every request
// settles exactly once; whether it may have run (`sent`) is told truthfully; answered requests
// leave the in-flight count; requests of one turn leave in messages of at most 1,024; after
// close() nothing waits.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { ChannelCache, channelCredentials, grpc, INSECURE, startGrpcServer } from '../../common/index.js';
import { loadProtos, serviceDefinition, type kvservicepb } from '../../proto/index.js';
import { STREAM_MESSAGE_REQUESTS_MAX, StoreConnection, wasSent } from '../../client/store-connection.js';
import { encodeContextField, encodeRequest } from '../../client/batch-encoder.js';
import { FAKE_CLUSTER_ID, FakeStore, type Received } from '../support/fake-kv-store.js';
import { waitFor } from '../../deploy/index.js';

const ctx = encodeContextField({ regionId: 1, regionEpoch: { confVer: 1, version: 1 }, peer: { id: 11, storeId: 1, role: 'Voter' } });
const rawGet = (key: string): ReturnType<typeof encodeRequest> => encodeRequest('rawGet', { key: Buffer.from(key) }, ctx);

const cleanups: (() => Promise<void> | void)[] = [];

async function connect(address: string, options: { readonly streamCount?: number; readonly requestsMax?: number } = {}): Promise<StoreConnection> {
  const channels = new ChannelCache(await channelCredentials(INSECURE));
  const conn = new StoreConnection(address, channels.get(loadProtos().flotilla.kvservicepb.Kv, address), { clusterId: FAKE_CLUSTER_ID, ...options });
  cleanups.push(() => {
    conn.close();
    channels.close();
  });
  return conn;
}

/** How a request settled: 'answered:<cmd>' or '<code> sent|unsent'. */
function outcome(p: Promise<kvservicepb.KvResponse>): Promise<string> {
  return p.then(
    (r) => `answered:${String(r?.cmd)}`,
    (e: unknown) => `${(e as { code: string }).code} ${wasSent(e as never) ? 'sent' : 'unsent'}`,
  );
}

/** A TCP listener that accepts and never answers: a gRPC channel to it stays connecting. */
async function blackhole(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  const a = server.address();
  assert.ok(a !== null && typeof a === 'object');
  return `127.0.0.1:${a.port}`;
}

describe('StoreConnection (real gRPC)', { timeout: 60_000 }, () => {
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('answered requests leave the in-flight count; a turn of 2,500 requests leaves in messages of at most 1,024 and every one is answered once', async () => {
    const log: Received[] = [];
    const store = await FakeStore.start(1, log, () => (_s, r) => ({ answer: { rawGet: { value: Buffer.from(String(r.cmd)) } } }));
    cleanups.push(() => store.stop());
    const conn = await connect(store.address, { streamCount: 1 });
    const n = 2_500;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => outcome(conn.send(rawGet(`k${i}`), Date.now() + 10_000))));
    assert.deepEqual(new Set(answers), new Set(['answered:rawGet']));
    assert.equal(log.length, n, 'each request reached the store once');
    assert.deepEqual(store.messages, [STREAM_MESSAGE_REQUESTS_MAX, STREAM_MESSAGE_REQUESTS_MAX, n - 2 * STREAM_MESSAGE_REQUESTS_MAX]);
    assert.equal(conn.unanswered, 0, 'nothing counts as in flight once answered');
    // And the bound counts only what is in flight: as many again pass it.
    const again = await Promise.all(Array.from({ length: 50 }, (_, i) => outcome(conn.send(rawGet(`again${i}`), Date.now() + 10_000))));
    assert.deepEqual(new Set(again), new Set(['answered:rawGet']));
    assert.deepEqual(store.messages.slice(3), [50], 'a turn\'s requests on a connected channel leave in one message');
    assert.equal(conn.unanswered, 0);
  });

  it('a lone request leaves at once, in a message of its own: requests sent one after another, each after the last answer', async () => {
    const log: Received[] = [];
    const store = await FakeStore.start(1, log, () => (_s, r) => ({ answer: { rawGet: { value: Buffer.from(String(r.cmd)) } } }));
    cleanups.push(() => store.stop());
    const conn = await connect(store.address, { streamCount: 1 });
    for (let i = 0; i < 5; i++) {
      // A deadline far shorter than the suite's: a request held back for company fails here, as never sent.
      assert.equal(await outcome(conn.send(rawGet(`lone${i}`), Date.now() + 5_000)), 'answered:rawGet', `lone request ${i}`);
    }
    assert.deepEqual(store.messages, [1, 1, 1, 1, 1], 'one stream message per lone request');
  });

  it('a store answering a batch whose ids and responses disagree: the stream\'s requests fail as sent (maybe run), none resolves with nothing', async () => {
    const server = new grpc.Server();
    server.addService(serviceDefinition('flotilla.kvservicepb.Kv'), {
      BatchCommands: (call: grpc.ServerDuplexStream<kvservicepb.BatchCommandsRequest, kvservicepb.BatchCommandsResponse__Input>) => {
        call.on('data', (batch: kvservicepb.BatchCommandsRequest) => {
          // One response for every id: one short.
          call.write({ responses: batch.requests.slice(1).map(() => ({ rawGet: { value: Buffer.from('v') } })), requestIds: batch.requestIds });
        });
        call.on('error', () => undefined);
        call.on('end', () => call.end());
      },
    });
    const started = await startGrpcServer(server, '127.0.0.1', 0);
    cleanups.push(() => started.stop(100));
    const conn = await connect(started.address, { streamCount: 1 });
    const outcomes = await Promise.all([outcome(conn.send(rawGet('a'), Date.now() + 5_000)), outcome(conn.send(rawGet('b'), Date.now() + 5_000))]);
    assert.deepEqual(outcomes, ['Unavailable sent', 'Unavailable sent']);
    assert.equal(conn.unanswered, 0);
  });

  it('a request queued while the channel connects fails at its deadline as never sent; close() settles the rest as never sent', async () => {
    const address = await blackhole();
    const conn = await connect(address);
    // The first request starts the wait for the channel (up to the connect timeout); the second,
    // queued behind it with a short deadline, is failed by the deadline sweep.
    const long = outcome(conn.send(rawGet('long'), Date.now() + 20_000));
    const short = await outcome(conn.send(rawGet('short'), Date.now() + 150));
    assert.equal(short, 'DeadlineExceeded unsent', 'it never left this process: any peer may take it');
    const later = outcome(conn.send(rawGet('later'), Date.now() + 20_000));
    await waitFor('the requests are queued', () => (conn.unanswered === 2 ? true : undefined), { timeoutMs: 5_000 });
    conn.close();
    assert.deepEqual(await Promise.all([long, later]), ['Unavailable unsent', 'Unavailable unsent']);
    assert.equal(await outcome(conn.send(rawGet('after'), Date.now() + 1_000)), 'Unavailable unsent', 'a closed connection refuses at once');
  });

  it('close() fails requests already written and unanswered as sent (the store may have run them)', async () => {
    const log: Received[] = [];
    const store = await FakeStore.start(1, log, () => () => 'drop');
    cleanups.push(() => store.stop());
    const conn = await connect(store.address);
    const pending = outcome(conn.send(rawGet('k'), Date.now() + 20_000));
    await waitFor('the request reached the store', () => (log.length === 1 ? true : undefined), { timeoutMs: 5_000 });
    conn.close();
    assert.equal(await pending, 'Unavailable sent');
  });
});
