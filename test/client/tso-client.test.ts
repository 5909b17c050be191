// The batching TSO client: against a real PD process, concurrent callers share stream requests,
// every timestamp is unique, each caller's are increasing, a closed client refuses politely and a
// wrong cluster id is a typed ClusterIdMismatch. Against a fake PD, every error keeps its code and
// details through the one mapping in common/ (issue 17: ServerIsBusy and friends were turned into
// Unavailable): header errors, stream statuses, and a count PD did not promise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TsoClient } from '../../client/index.js';
import { FlotillaError, grpc, grpcStatusOf, isFlotillaError, PdSession, pdLeaderHintOf, silentLogger, type PdLeader } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { loadProtos, type pdpb } from '../../proto/index.js';
import { FakePd } from '../support/fake-pd.js';
import { PdTestCluster } from '../support/pd-cluster.js';

describe('TSO client (real PD)', () => {
  let cluster: PdTestCluster;
  let session: PdSession;
  let leader: PdLeader;
  let tso: TsoClient;

  before(async () => {
    cluster = await PdTestCluster.start(1);
    session = await PdSession.connect({ endpoints: [`127.0.0.1:${cluster.spec('pd1').clientPort}`], logger: silentLogger(), connectTimeoutMs: 30_000 });
    leader = await session.leaderClient();
    tso = new TsoClient({ client: leader.client, clusterId: session.clusterId });
    await waitFor('TSO serving', () => tso.getTimestamp().then(() => true, () => undefined));
  });
  after(async () => {
    tso?.close();
    session?.close();
    await cluster?.close();
  });

  it('folds concurrent callers into few requests; timestamps unique and increasing per caller', async () => {
    const sentBefore = tso.requestsSent;
    const perCaller = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const mine: bigint[] = [];
        for (let i = 0; i < 20; i++) mine.push(await tso.getTimestamp());
        return mine;
      }),
    );
    const all = new Set<bigint>();
    for (const mine of perCaller) {
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i]! > mine[i - 1]!);
      for (const t of mine) all.add(t);
    }
    assert.equal(all.size, 4000);
    assert.ok(tso.requestsSent - sentBefore < 4000, 'callers were batched');
  });

  it('refuses after close', async () => {
    const c = new TsoClient({ client: leader.client, clusterId: session.clusterId });
    c.close();
    await assert.rejects(c.getTimestamp(), { code: 'Unavailable' });
  });

  it('reports a wrong cluster id as a typed, final ClusterIdMismatch, not a timestamp', async () => {
    const c = new TsoClient({ client: leader.client, clusterId: session.clusterId + 1n });
    try {
      await assert.rejects(c.getTimestamp(), (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch') && !err.retryable && /CLUSTER_ID_MISMATCH/.test(err.message));
    } finally {
      c.close();
    }
  });
});

describe('TSO client: every error keeps its code and details (fake PD)', () => {
  /** What the fake answers to each TSO request. */
  let answer: (req: pdpb.TsoRequest, call: grpc.ServerDuplexStream<pdpb.TsoRequest, pdpb.TsoResponse__Input>) => void = () => undefined;
  let fake: FakePd;
  let client: pdpb.PDClient;

  before(async () => {
    fake = await FakePd.start({
      Tso: (call: grpc.ServerDuplexStream<pdpb.TsoRequest, pdpb.TsoResponse__Input>) => {
        call.on('data', (req: pdpb.TsoRequest) => answer(req, call));
        call.on('error', () => undefined); // the client cancelled: nothing to answer
      },
    });
    client = new (loadProtos().flotilla.pdpb.PD)(fake.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await fake?.close();
  });

  it('a header ServerIsBusy stays ServerIsBusy with its back-off hint', async () => {
    answer = (_req, call) => call.write({ header: { clusterId: '7', error: { code: 'SERVER_IS_BUSY', message: 'TSO logical space exhausted; retry', backoffMs: '25' } }, count: 0 });
    const tso = new TsoClient({ client, clusterId: 7n });
    try {
      await assert.rejects(tso.getTimestamp(), (err: unknown) => isFlotillaError(err, 'ServerIsBusy') && err.retryable && err.details.backoffMs === 25);
    } finally {
      tso.close();
    }
  });

  it('a header PdNotLeader keeps the leader hint', async () => {
    const leader = { memberId: '9', name: 'pd-9', clientUrls: ['http://127.0.0.1:9'], statusUrl: 'http://127.0.0.1:10' };
    answer = (_req, call) => call.write({ header: { clusterId: '7', error: { code: 'PD_NOT_LEADER', message: 'not the leader', pdLeader: leader } }, count: 0 });
    const tso = new TsoClient({ client, clusterId: 7n });
    try {
      const err = await tso.getTimestamp().then(() => assert.fail('must fail'), (e: unknown) => e);
      assert.ok(isFlotillaError(err, 'PdNotLeader'), String(err));
      assert.deepEqual(pdLeaderHintOf(err), { memberId: 9, name: 'pd-9', clientUrls: ['http://127.0.0.1:9'], statusUrl: 'http://127.0.0.1:10' });
    } finally {
      tso.close();
    }
  });

  it('a stream failed with a Flotilla status keeps its code and details; a bare status maps by its gRPC code', async () => {
    answer = (_req, call) => call.emit('error', grpcStatusOf(new FlotillaError('ServerIsBusy', 'too many TSO streams', { details: { backoffMs: 40 } })));
    const tso = new TsoClient({ client, clusterId: 7n });
    try {
      await assert.rejects(tso.getTimestamp(), (err: unknown) => isFlotillaError(err, 'ServerIsBusy') && err.details.backoffMs === 40);
      answer = (_req, call) => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'going away' });
      await assert.rejects(tso.getTimestamp(), (err: unknown) => isFlotillaError(err, 'Unavailable'));
      answer = (_req, call) => call.emit('error', grpcStatusOf(new FlotillaError('ClusterIdMismatch', 'another cluster')));
      await assert.rejects(tso.getTimestamp(), (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch') && !err.retryable);
    } finally {
      tso.close();
    }
  });

  it('hands out exactly the answered range: last−count+1 … last, in caller order', async () => {
    answer = (req, call) => call.write({ header: { clusterId: '7' }, count: req.count, timestamp: { physical: '1000', logical: 500 } });
    const tso = new TsoClient({ client, clusterId: 7n });
    try {
      const got = await Promise.all([tso.getTimestamp(), tso.getTimestamp(), tso.getTimestamp()]);
      const last = (1000n << 18n) | 500n;
      assert.deepEqual(got, [last - 2n, last - 1n, last]);
      assert.equal(tso.requestsSent, 1, 'three callers of one turn share one request');
    } finally {
      tso.close();
    }
  });

  it('an answer for fewer timestamps than asked fails the batch as Internal, never hands out a duplicate', async () => {
    answer = (req, call) => call.write({ header: { clusterId: '7' }, count: Math.max(1, req.count - 1), timestamp: { physical: '1000', logical: 500 } });
    const tso = new TsoClient({ client, clusterId: 7n });
    try {
      const results = await Promise.allSettled([tso.getTimestamp(), tso.getTimestamp()]);
      for (const r of results) assert.ok(r.status === 'rejected' && isFlotillaError(r.reason, 'Internal'), JSON.stringify(r));
    } finally {
      tso.close();
    }
  });
});
