// The cluster id in a gRPC call's metadata: how a store knows a stream comes from its own cluster.
// Raft and snapshot streams between stores must carry it; KV streams from clients carry it too, so
// that a client whose store address now belongs to another cluster's store (a port or host reused
// after the store went away) is refused before a single request is read — never served with the
// other cluster's data, and never left unsure whether a write ran there.

import { FlotillaError } from './errors.js';
import type { grpc } from './grpc.js';
import { u64FromWire, u64ToWire } from './u64.js';

/** Metadata key carrying the caller's cluster id (a decimal u64). */
export const CLUSTER_ID_METADATA = 'flotilla-cluster-id';

/** Sets the cluster id on outgoing call metadata. */
export function setClusterIdMetadata(metadata: grpc.Metadata, clusterId: bigint): grpc.Metadata {
  metadata.set(CLUSTER_ID_METADATA, u64ToWire(clusterId));
  return metadata;
}

/**
 * Why a call must be refused: ClusterIdMismatch when its metadata names another cluster or a
 * malformed id, or — when `isIdRequired` — none; null when it may be served.
 */
export function clusterIdRefusal(metadata: grpc.Metadata, clusterId: bigint, what: string, isIdRequired: boolean): FlotillaError | null {
  const theirs = metadata.get(CLUSTER_ID_METADATA)[0];
  if (theirs === undefined && !isIdRequired) return null;
  let theirId: bigint | null;
  try {
    theirId = typeof theirs === 'string' ? u64FromWire(theirs, CLUSTER_ID_METADATA) : null;
  } catch {
    theirId = null;
  }
  if (theirId === clusterId) return null;
  return new FlotillaError('ClusterIdMismatch', `${what} from cluster ${String(theirs)}; this store is in cluster ${clusterId}`, {
    details: { theirs: String(theirs), ours: String(clusterId) },
  });
}
