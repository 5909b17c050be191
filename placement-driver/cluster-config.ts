// The cluster's scheduling configuration, replicated in PD's state machine and editable through
// PutClusterConfig and HTTP /config. Defaults in one place; validate() names the field and range.
// One name per setting everywhere: the field names of metapb.Cluster (max_peer_count) and
// metapb.ClusterSchedule in their proto3 JSON form (maxPeerCount, regionMergeSizeBytesMax, …),
// flat, as HTTP GET/POST /config shows and accepts them.

export interface ClusterConfig {
  /** Replicas (voters) per region the replica checker maintains (metapb.Cluster.max_peer_count). Odd. */
  readonly maxPeerCount: number;
  /** A region past this approximate size is split (TiKV: 96 MiB). */
  readonly regionSplitSizeBytes: number;
  /** …or past this many keys (TiKV: 960,000). */
  readonly regionSplitKeys: number;
  /** Adjacent regions both below these are merge candidates (TiKV: 20 MiB / 200,000 keys). */
  readonly regionMergeSizeBytesMax: number;
  readonly regionMergeKeysMax: number;
  /** A region split or merged less than this long ago is not merged (avoids split/merge flapping). */
  readonly splitMergeIntervalMs: number;
  /** Concurrent operators of each kind; bounds the load scheduling adds. */
  readonly leaderScheduleLimit: number;
  readonly regionScheduleLimit: number;
  readonly mergeScheduleLimit: number;
  readonly hotRegionScheduleLimit: number;
  /** A store silent this long is considered down and its replicas re-created elsewhere. */
  readonly maxStoreDownTimeMs: number;
  /** Turns the merge checker off. */
  readonly disableMerge: boolean;
}

const MiB = 1024 * 1024;

export const DEFAULT_CLUSTER_CONFIG: ClusterConfig = {
  maxPeerCount: 3,
  regionSplitSizeBytes: 96 * MiB,
  regionSplitKeys: 960_000,
  regionMergeSizeBytesMax: 20 * MiB,
  regionMergeKeysMax: 200_000,
  splitMergeIntervalMs: 3_600_000,
  leaderScheduleLimit: 4,
  regionScheduleLimit: 2_048,
  mergeScheduleLimit: 8,
  hotRegionScheduleLimit: 4,
  maxStoreDownTimeMs: 30 * 60_000,
  // Stores execute merges (store/merge.ts); splitMergeIntervalMs keeps new regions from merging.
  disableMerge: false,
};

interface Range {
  readonly min: number;
  readonly max: number;
}

const RANGES: Readonly<Record<Exclude<keyof ClusterConfig, 'disableMerge'>, Range>> = {
  maxPeerCount: { min: 1, max: 7 },
  regionSplitSizeBytes: { min: 1 * MiB, max: 10 * 1024 * MiB },
  regionSplitKeys: { min: 1_000, max: 100_000_000 },
  regionMergeSizeBytesMax: { min: 0, max: 10 * 1024 * MiB },
  regionMergeKeysMax: { min: 0, max: 100_000_000 },
  splitMergeIntervalMs: { min: 0, max: 7 * 24 * 3_600_000 },
  leaderScheduleLimit: { min: 0, max: 1_024 },
  regionScheduleLimit: { min: 0, max: 65_536 },
  mergeScheduleLimit: { min: 0, max: 1_024 },
  hotRegionScheduleLimit: { min: 0, max: 1_024 },
  maxStoreDownTimeMs: { min: 1_000, max: 7 * 24 * 3_600_000 },
};

const BOOLEAN_FIELDS: ReadonlySet<string> = new Set(['disableMerge']);

export const CLUSTER_CONFIG_FIELDS = [...Object.keys(RANGES), ...BOOLEAN_FIELDS] as (keyof ClusterConfig)[];

/**
 * Names before F8 (maxReplicas, mergeMaxSizeBytes, mergeMaxKeys) → today's. Only the state
 * machine uses this, for snapshots and committed patchConfig entries written before the rename;
 * the HTTP API and gRPC accept today's names only.
 */
const RENAMED_FIELDS: Readonly<Record<string, keyof ClusterConfig>> = { maxReplicas: 'maxPeerCount', mergeMaxSizeBytes: 'regionMergeSizeBytesMax', mergeMaxKeys: 'regionMergeKeysMax' };

export function withCurrentConfigNames<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([field, value]) => [RENAMED_FIELDS[field] ?? field, value]));
}

export type ConfigCheck = { readonly ok: true; readonly config: ClusterConfig } | { readonly ok: false; readonly field: string; readonly reason: string };

/**
 * Applies `patch` (any subset of fields, e.g. parsed JSON from HTTP) to `base` and validates the
 * result: unknown fields, non-integers, out-of-range values and bad relations are refused.
 */
export function patchClusterConfig(base: ClusterConfig, patch: Readonly<Record<string, unknown>>): ConfigCheck {
  const next: Record<string, number | boolean> = { ...base };
  for (const [field, value] of Object.entries(patch)) {
    if (BOOLEAN_FIELDS.has(field)) {
      if (typeof value !== 'boolean') return { ok: false, field, reason: `${JSON.stringify(value)} is not a boolean` };
      next[field] = value;
      continue;
    }
    const range = (RANGES as Readonly<Record<string, Range>>)[field];
    if (range === undefined) return { ok: false, field, reason: `unknown field (known: ${CLUSTER_CONFIG_FIELDS.join(', ')})` };
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return { ok: false, field, reason: `${JSON.stringify(value)} is not an integer` };
    if (value < range.min || value > range.max) return { ok: false, field, reason: `${value} is outside [${range.min}, ${range.max}]` };
    next[field] = value;
  }
  const config = next as unknown as ClusterConfig;
  if (config.maxPeerCount % 2 === 0) return { ok: false, field: 'maxPeerCount', reason: `${config.maxPeerCount} is even: an odd count tolerates as many failures with one replica less` };
  if (config.regionMergeSizeBytesMax >= config.regionSplitSizeBytes) return { ok: false, field: 'regionMergeSizeBytesMax', reason: 'must be below regionSplitSizeBytes, or merges and splits would undo each other' };
  if (config.regionMergeKeysMax >= config.regionSplitKeys) return { ok: false, field: 'regionMergeKeysMax', reason: 'must be below regionSplitKeys' };
  return { ok: true, config };
}
