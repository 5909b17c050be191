// flotilla-store's configuration: flags (--pd, --addr, --data-dir, …), env (FLOTILLA_STORE_*), a
// JSON file (--config), validated at start with one clear line for a bad value.

import { ConfigError, field, loadConfigWithFile, parseHostPort, type ConfigOf } from '../common/index.js';
import { RAFT_LOG_GC_CHECK_TICKS_DEFAULT, RAFT_LOG_GC_COUNT_LIMIT_DEFAULT, RAFT_LOG_GC_HARD_COUNT_LIMIT_DEFAULT, RAFT_LOG_GC_THRESHOLD_BYTES_DEFAULT } from './raft-log-gc.js';
import { KEY_SAMPLE_INTERVAL_MS } from './key-recount.js';

export const STORE_ENV_PREFIX = 'FLOTILLA_STORE';

const MiB = 1024 * 1024;

export const STORE_CONFIG_SCHEMA = {
  pd: field.list({ doc: 'PD client endpoints (host:port), comma-separated', default: ['127.0.0.1:2379'], minItems: 1 }),
  addr: field.string({ doc: 'host:port to listen on for the KV and raft gRPC services; port 0 picks a free port', default: '127.0.0.1:20160' }),
  advertiseAddr: field.string({ doc: 'host:port other stores and clients dial (default: --addr with the bound port)', default: '' }),
  statusAddr: field.string({ doc: 'host:port of the HTTP status server (/metrics, /status); port 0 picks a free port', default: '127.0.0.1:20180' }),
  dataDir: field.string({ doc: 'data directory (RocksDB and the store identity)', default: './flotilla-store' }),
  labels: field.list({ doc: 'location labels as key=value, comma-separated (e.g. zone=z1,host=h1)', default: [] }),
  raftTickMs: field.durationMs({ doc: 'raft tick interval', default: 100, min: 1, max: 10_000 }),
  raftElectionTicks: field.int({ doc: 'ticks without a leader before a region elects', default: 10, min: 2, max: 1_000 }),
  raftQuietAfterTicks: field.int({ doc: 'a region whose leader saw no proposal or read for this many ticks goes quiet (hibernates: no ticks, no heartbeats) until traffic wakes it; 0: never', default: 20, min: 0, max: 1_000_000 }),
  raftHeartbeatTicks: field.int({ doc: 'ticks between a region leader\'s heartbeats', default: 2, min: 1, max: 1_000 }),
  regionSplitSize: field.bytes({ doc: 'a region leader splits its region past this approximate size on disk (flushed data), into pieces of about half of it', default: 96 * MiB, min: 1 }),
  regionSplitKeys: field.int({ doc: 'a region leader splits its region past this many keys (its exact count with --region-key-count, else its sampled count, checked by a fresh count before splitting), into pieces of about half of it', default: 960_000, min: 1 }),
  raftLogGcThresholdBytes: field.bytes({ doc: 'a region leader compacts the part of its raft log every follower holds once its log holds this many bytes (before the count limit)', default: RAFT_LOG_GC_THRESHOLD_BYTES_DEFAULT, min: 1 }),
  raftLogGcCountLimit: field.int({ doc: 'a region leader compacts its raft log past followers that are down (they catch up from a snapshot) once this many applied entries are held', default: RAFT_LOG_GC_COUNT_LIMIT_DEFAULT, min: 1, max: 100_000_000 }),
  raftLogGcHardCountLimit: field.int({ doc: 'raft log entries past which a lagging follower holding the log back is reported (compacted past once region snapshots exist, issue F7)', default: RAFT_LOG_GC_HARD_COUNT_LIMIT_DEFAULT, min: 1, max: 1_000_000_000 }),
  raftLogGcCheckTicks: field.int({ doc: 'ticks between a region leader\'s raft log GC checks', default: RAFT_LOG_GC_CHECK_TICKS_DEFAULT, min: 1, max: 1_000_000 }),
  regionKeyCount: field.bool({ doc: 'keep an exact key count per region at apply, reported to PD (costs one lookup per applied write on every replica, ~25% of raw-put throughput); off: each region leader walks its region now and then (once at a new range, then at most every --region-key-sample-ms while it takes writes, paced to ~2% of one walker) and reports the count that walk found', default: false }),
  regionKeySampleMs: field.durationMs({ doc: 'without --region-key-count: a region that took writes is walked again for its reported key count at most this often', default: KEY_SAMPLE_INTERVAL_MS, min: 10, max: 7 * 24 * 3_600_000 }),
  raftEntryCacheBytes: field.bytes({ doc: 'raft log entries kept in memory per store (older ones are read from RocksDB)', default: 64 * MiB, min: 0 }),
  blockCacheBytes: field.bytes({ doc: 'RocksDB block cache', default: 256 * MiB, min: 1 }),
  rowCacheBytes: field.bytes({ doc: 'locks and latest records kept in memory in front of RocksDB (transactional reads and prewrites look them up by key); 0: off', default: 64 * MiB, min: 0 }),
  writeBufferBytes: field.bytes({ doc: 'RocksDB memtable size before a flush (larger: fewer flushes, but slower inserts and lookups in a deeper skip list)', default: 16 * MiB, min: 1 * MiB, max: 1024 * MiB }),
  bootstrapWaitMs: field.durationMs({ doc: 'a new cluster\'s first region gets a replica on max-replicas stores: how long to wait for that many to register before bootstrapping with fewer', default: 5_000, min: 0, max: 3_600_000 }),
  uninitializedPeerGcMs: field.durationMs({ doc: 'a replica still waiting for its first snapshot that heard no raft message this long asks PD whether it is a member; if not (removed before a snapshot reached it), it is destroyed and tombstoned', default: 60_000, min: 100, max: 24 * 3_600_000 }),
  maxPeerDownMs: field.durationMs({ doc: 'a region leader that has not heard from a member this long reports it down to PD, which replaces it once it has been down for PD\'s max-store-down-time (a replica lost on a live store)', default: 600_000, min: 100, max: 7 * 24 * 3_600_000 }),
  pdHeartbeatMs: field.durationMs({ doc: 'interval of store heartbeats and periodic region heartbeats to PD', default: 10_000, min: 10, max: 600_000 }),
  regionSizeRefreshBeats: field.int({ doc: 'a region that took no write since its approximate size was last measured on disk is measured again after this many region heartbeats (a flush may have changed it); until then the last size is reported', default: 6, min: 1, max: 1_000_000 }),
  keyBytesMax: field.bytes({ doc: 'largest key a request may carry', default: 8 * 1024, min: 1, max: 64 * 1024 }),
  valueBytesMax: field.bytes({ doc: 'largest value a request may carry', default: 6 * MiB, min: 1, max: 32 * MiB }),
  batchKeysMax: field.int({ doc: 'keys (or pairs, or mutations) one request may carry', default: 10_000, min: 1, max: 1_000_000 }),
  scanLimitMax: field.int({ doc: 'largest scan limit a request may ask', default: 10_000, min: 1, max: 1_000_000 }),
  pendingProposalsMax: field.int({ doc: 'proposals waiting to apply, per store; past it requests answer ServerIsBusy', default: 20_000, min: 1 }),
  unsettledWritesMax: field.int({ doc: 'writes of one region whose outcome is unknown (timed out, or answered at commit and then failed) and that still hold their keys until their entry can no longer apply; past it new writes to the region answer ServerIsBusy', default: 10_000, min: 1 }),
  inboundMessagesMax: field.int({ doc: 'raft messages accepted between two poll rounds; past it new ones are dropped (raft resends)', default: 100_000, min: 1 }),
  helperThreadsBatch: field.bool({ doc: "run the store's helper threads (libuv's pool, which carries every RocksDB read and write; V8's and RocksDB's background threads) under Linux SCHED_BATCH, so that waking one never preempts the event loop; the event loop keeps the default policy (set with chrt from util-linux; a thread it cannot move is logged once). false: every thread keeps the default policy", default: true }),
  logLevel: field.enumOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, { doc: 'log level', default: 'info' }),
};

export type StoreConfig = ConfigOf<typeof STORE_CONFIG_SCHEMA>;

/** `127.0.0.1:20160` → host, port (common/config.ts). */
export { parseHostPort };

/** `zone=z1,host=h1` → { zone: 'z1', host: 'h1' }. */
export function parseLabels(items: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new ConfigError('--labels', `${JSON.stringify(item)} is not key=value`);
    const key = item.slice(0, eq);
    if (key in labels) throw new ConfigError('--labels', `label ${key} is given twice`);
    labels[key] = item.slice(eq + 1);
  }
  return labels;
}

export async function loadStoreConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<StoreConfig> {
  const config = await loadConfigWithFile(STORE_CONFIG_SCHEMA, {
    argv,
    env,
    envPrefix: STORE_ENV_PREFIX,
    validate: (c) => {
      if (Number(c['raftElectionTicks']) <= Number(c['raftHeartbeatTicks'])) return { field: '--raft-election-ticks', reason: 'must be greater than --raft-heartbeat-ticks' };
      if (Number(c['raftLogGcHardCountLimit']) <= Number(c['raftLogGcCountLimit'])) return { field: '--raft-log-gc-hard-count-limit', reason: 'must be greater than --raft-log-gc-count-limit' };
      return null;
    },
  });
  for (const p of config.pd) parseHostPort(p, '--pd');
  parseHostPort(config.addr, '--addr');
  if (config.advertiseAddr !== '') parseHostPort(config.advertiseAddr, '--advertise-addr');
  parseHostPort(config.statusAddr, '--status-addr');
  parseLabels(config.labels);
  return config;
}
