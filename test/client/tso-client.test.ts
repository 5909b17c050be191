// The batching TSO client against a real PD process: concurrent callers share stream requests,
// every timestamp is unique, each caller's are increasing, and a closed client refuses politely.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectPdLeader, TsoClient } from '../../client/index.js';
import { ChannelCache, channelCredentials, INSECURE, isFlotillaError } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { PdTestCluster } from '../support/pd-cluster.js';

describe('TSO client (real PD)', () => {
  let cluster: PdTestCluster;
  let channels: ChannelCache;
  let tso: TsoClient;

  before(async () => {
    cluster = await PdTestCluster.start(1);
    channels = new ChannelCache(await channelCredentials(INSECURE));
    const conn = await waitFor('PD leader', async () => {
      const c = await connectPdLeader([`127.0.0.1:${cluster.spec('pd1').clientPort}`], channels);
      return c.clusterId === '0' ? undefined : c;
    });
    tso = new TsoClient({ client: conn.client, clusterId: conn.clusterId });
    await waitFor('TSO serving', () => tso.getTimestamp().then(() => true, () => undefined));
  });
  after(async () => {
    tso?.close();
    channels?.close();
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
    const c = new TsoClient({ client: (await connectPdLeader([`127.0.0.1:${cluster.spec('pd1').clientPort}`], channels)).client, clusterId: '1' });
    c.close();
    await assert.rejects(c.getTimestamp(), { code: 'Unavailable' });
  });

  it('reports a wrong cluster id as an error, not a timestamp', async () => {
    const c = new TsoClient({ client: (await connectPdLeader([`127.0.0.1:${cluster.spec('pd1').clientPort}`], channels)).client, clusterId: '12345' });
    try {
      await assert.rejects(c.getTimestamp(), (err: unknown) => isFlotillaError(err, 'ClusterIdMismatch') && /CLUSTER_ID_MISMATCH/.test(err.message));
    } finally {
      c.close();
    }
  });
});
