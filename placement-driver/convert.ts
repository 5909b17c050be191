// Conversions between proto metapb messages and PD's cluster config; the region, peer and store
// converters live in common/region.ts (shared with store and client) and are re-exported here.

import { FlotillaError, u64ToSafeNumber, u64ToWire } from '../common/index.js';
export {
  REGION_KEY_BYTES_MAX, REGION_PEERS_MAX, STORE_ADDRESS_BYTES_MAX, STORE_LABELS_MAX, peerFromWire, peerToWire, positiveId, regionFromWire, regionToWire,
  storeFromWire, storeToWire,
} from '../common/index.js';
import type { metapb } from '../proto/index.js';
import type { ClusterConfig } from './cluster-config.js';

function invalid(field: string, reason: string): FlotillaError {
  return new FlotillaError('InvalidArgument', `${field}: ${reason}`, { details: { field } });
}

export function clusterConfigToWire(clusterId: bigint, c: ClusterConfig): metapb.Cluster__Input {
  return {
    id: u64ToWire(clusterId),
    maxPeerCount: c.maxPeerCount,
    schedule: {
      regionSplitSizeBytes: String(c.regionSplitSizeBytes),
      regionSplitKeys: String(c.regionSplitKeys),
      regionMergeSizeBytesMax: String(c.regionMergeSizeBytesMax),
      regionMergeKeysMax: String(c.regionMergeKeysMax),
      splitMergeIntervalMs: String(c.splitMergeIntervalMs),
      leaderScheduleLimit: c.leaderScheduleLimit,
      regionScheduleLimit: c.regionScheduleLimit,
      mergeScheduleLimit: c.mergeScheduleLimit,
      hotRegionScheduleLimit: c.hotRegionScheduleLimit,
      maxStoreDownTimeMs: String(c.maxStoreDownTimeMs),
      disableMerge: c.disableMerge,
    },
  };
}

/** The whole config a PutClusterConfig carries, as a patch (validated by the state machine). */
export function clusterConfigPatchFromWire(c: metapb.Cluster | null | undefined): Record<string, number | boolean> {
  if (c === null || c === undefined) throw invalid('cluster', 'is required');
  const s = c.schedule;
  if (s === null) throw invalid('cluster.schedule', 'is required');
  const n = (v: string, f: string): number => u64ToSafeNumber(v, `cluster.schedule.${f}`);
  return {
    maxPeerCount: c.maxPeerCount,
    regionSplitSizeBytes: n(s.regionSplitSizeBytes, 'regionSplitSizeBytes'),
    regionSplitKeys: n(s.regionSplitKeys, 'regionSplitKeys'),
    regionMergeSizeBytesMax: n(s.regionMergeSizeBytesMax, 'regionMergeSizeBytesMax'),
    regionMergeKeysMax: n(s.regionMergeKeysMax, 'regionMergeKeysMax'),
    splitMergeIntervalMs: n(s.splitMergeIntervalMs, 'splitMergeIntervalMs'),
    leaderScheduleLimit: s.leaderScheduleLimit,
    regionScheduleLimit: s.regionScheduleLimit,
    mergeScheduleLimit: s.mergeScheduleLimit,
    hotRegionScheduleLimit: s.hotRegionScheduleLimit,
    maxStoreDownTimeMs: n(s.maxStoreDownTimeMs, 'maxStoreDownTimeMs'),
    disableMerge: s.disableMerge,
  };
}
