// The cluster-id check every raft and snapshot stream passes before a store takes its messages
// (store/transport.ts streamClusterRefusal, used by server.ts's Raft handler and the snapshot
// receiver): only a stream naming this store's cluster gets through.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_ID_METADATA, grpc } from '../../common/index.js';
import { streamClusterRefusal } from '../../store/transport.js';

const CLUSTER = 18_446_744_073_709_551_615n; // u64 max: the id travels as a decimal string

function metadataWith(value: string | null): grpc.Metadata {
  const m = new grpc.Metadata();
  if (value !== null) m.set(CLUSTER_ID_METADATA, value);
  return m;
}

describe('raft and snapshot streams: the cluster-id check', () => {
  it('lets a stream of this cluster through', () => {
    assert.equal(streamClusterRefusal(metadataWith(String(CLUSTER)), CLUSTER, 'raft stream'), null);
  });

  it('refuses another cluster, a missing id and a malformed one with FAILED_PRECONDITION naming both clusters', () => {
    for (const value of [String(CLUSTER - 1n), '1', null, '', 'abc', '-1', '18446744073709551616', ' 1']) {
      const refusal = streamClusterRefusal(metadataWith(value), CLUSTER, 'snapshot stream');
      assert.ok(refusal !== null, `cluster id ${JSON.stringify(value)} got through`);
      assert.equal(refusal.code, grpc.status.FAILED_PRECONDITION);
      assert.match(refusal.details, new RegExp(`^snapshot stream from cluster .*; this store is in cluster ${CLUSTER}$`));
    }
  });
});
