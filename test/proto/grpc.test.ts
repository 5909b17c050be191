// A real gRPC round trip on 127.0.0.1 with an OS-chosen port: one unary KV method and the
// BatchCommands stream (answered out of order and split across messages), with uint64 fields
// that a JS double would corrupt.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';

import { loadProtos, serviceDefinition, type kvrpcpb, type kvservicepb } from '../../proto/index.js';

const U64_MAX = (2n ** 64n - 1n).toString();
const ABOVE_DOUBLE = (2n ** 53n + 1n).toString();
/** Bounds every call so a broken server fails the test instead of hanging it (not a timing assert). */
const CALL_DEADLINE_MS = 10_000;

type KvImpl = Pick<kvservicepb.KvHandlers, 'KvGet' | 'BatchCommands'>;

/** KvGet answers `value = "v@<version>"`; BatchCommands answers every batch in reverse order. */
const kvImpl: KvImpl = {
  KvGet(call, callback) {
    callback(null, { value: Buffer.from(`v@${call.request.version}`), notFound: false });
  },
  BatchCommands(call) {
    call.on('data', (batch: kvservicepb.BatchCommandsRequest) => {
      const answers = batch.requests.map((request, i): [string, kvservicepb.KvResponse__Input] => {
        const id = batch.requestIds[i];
        assert.ok(id !== undefined, 'request_ids and requests have the same length');
        if (request.cmd === 'get' && request.get) {
          return [id, { get: { value: Buffer.from(`v@${request.get.version}`) } }];
        }
        return [id, { error: { code: 'INVALID_ARGUMENT', message: `unsupported ${request.cmd}` } }];
      });
      answers.reverse();
      const half = Math.ceil(answers.length / 2);
      for (const part of [answers.slice(0, half), answers.slice(half)]) {
        if (part.length === 0) continue;
        call.write({
          responses: part.map(([, r]) => r),
          requestIds: part.map(([id]) => id),
          transportLayerLoad: '42',
        });
      }
    });
    call.on('end', () => call.end());
  },
};

async function startServer(): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(serviceDefinition('flotilla.kvservicepb.Kv'), kvImpl);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  });
  return { server, address: `127.0.0.1:${port}` };
}

function deadline(): grpc.Deadline {
  return Date.now() + CALL_DEADLINE_MS;
}

describe('KV service over real gRPC', () => {
  it('KvGet and BatchCommands carry uint64 values exactly, answers out of order', async () => {
    const { server, address } = await startServer();
    const Kv = loadProtos().flotilla.kvservicepb.Kv;
    const client = new Kv(address, grpc.credentials.createInsecure());
    try {
      const context = { regionId: U64_MAX, regionEpoch: { confVer: '1', version: ABOVE_DOUBLE }, peer: { id: '2', storeId: '1' } };

      const got = await new Promise<kvrpcpb.GetResponse | undefined>((resolve, reject) => {
        client.KvGet({ context, key: Buffer.from('k'), version: U64_MAX }, { deadline: deadline() }, (err, resp) =>
          err ? reject(err) : resolve(resp),
        );
      });
      assert.equal(got?.value.toString(), `v@${U64_MAX}`);
      assert.equal(got?.notFound, false);
      assert.equal(got?.regionError, null);

      const call = client.BatchCommands({ deadline: deadline() });
      const versions = [U64_MAX, ABOVE_DOUBLE, '1', '0'];
      const ids = [U64_MAX, ABOVE_DOUBLE, '7', '0', '8'];
      const requests: kvservicepb.KvRequest__Input[] = [
        ...versions.map((version) => ({ get: { context, key: Buffer.from('k'), version } })),
        { rawGet: { context, key: Buffer.from('raw') } },
      ];
      const answered = new Map<string, kvservicepb.KvResponse>();
      const order: string[] = [];
      const loads: string[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (batch: kvservicepb.BatchCommandsResponse) => {
          assert.equal(batch.responses.length, batch.requestIds.length);
          loads.push(batch.transportLayerLoad);
          batch.requestIds.forEach((id, i) => {
            const response = batch.responses[i];
            assert.ok(response !== undefined);
            assert.ok(!answered.has(id), `request ${id} answered twice`);
            answered.set(id, response);
            order.push(id);
          });
          if (answered.size === ids.length) call.end();
        });
        call.on('error', reject);
        call.on('end', resolve);
      });
      call.write({ requests, requestIds: ids });
      await done;

      assert.deepEqual(order, [...ids].reverse(), 'the server answered in reverse order');
      assert.deepEqual(loads, ['42', '42'], 'split across two response messages');
      versions.forEach((version, i) => {
        const response = answered.get(ids[i] ?? '');
        assert.equal(response?.cmd, 'get');
        assert.equal(response?.get?.value.toString(), `v@${version}`);
      });
      const rawAnswer = answered.get('8');
      assert.equal(rawAnswer?.cmd, 'error');
      assert.equal(rawAnswer?.error?.code, 'INVALID_ARGUMENT');
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('a method the server does not implement answers UNIMPLEMENTED', async () => {
    const { server, address } = await startServer();
    const client = new (loadProtos().flotilla.kvservicepb.Kv)(address, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        client.RawGet({ key: Buffer.from('k') }, { deadline: deadline() }, (e) => resolve(e));
      });
      assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
