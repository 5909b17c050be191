// How long a store of ~1 GiB takes to rebalance onto a new store (issue F7's performance figure).
//
//   npm run bench:rebalance -- [--gib 1] [--value-bytes 16384] [--keep]
//
// 1 PD + 3 stores with default settings (regions split at 96 MiB, schedulers every second, a moved
// region left alone 30 s) are loaded with --gib GiB of raw data (batch puts of 1 MiB, 8 in flight):
// with 3 replicas on 3 stores each store then holds about that much. Once the splits have settled,
// a 4th store starts, and PD's balance-region moves its share of replicas onto it (add a learner —
// a snapshot of the region — promote it, remove a replica elsewhere). The run ends when nothing
// has moved for QUIET_MS (longer than a region's cooldown) and no operator is pending. Printed:
// load time and MB/s, regions, when the new store got its first replica, when the last replica
// and the last leader moved, and the bytes the new store holds (its used size in PD's store
// heartbeats) over that time.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '../client/index.js';
import { allocateStorePorts, LocalCluster, type LocalProcess, type PdRegionPlacement, replicasAndLeaders, startStoreProcess, waitFor } from '../deploy/index.js';

const MiB = 1024 * 1024;
const BATCH_BYTES = MiB;
const LOADS_IN_FLIGHT = 8;
/** Longer than PD's default region cooldown (30 s) plus a scheduling round. */
const QUIET_MS = 40_000;
const REBALANCE_TIMEOUT_MS = 30 * 60_000;

interface PdStore {
  readonly id: number;
  readonly stats?: { readonly usedSize?: string };
}

function usage(): never {
  console.log('npm run bench:rebalance -- [--gib 1] [--value-bytes 16384] [--keep]');
  process.exit(0);
}

async function pdGet<T>(httpUrl: string, path: string): Promise<T> {
  const res = await fetch(`${httpUrl}/pd/api/v1/${path}`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`PD ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { gib: { type: 'string', default: '1' }, 'value-bytes': { type: 'string', default: '16384' }, keep: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
  });
  if (values.help) usage();
  const gib = Number(values.gib);
  const valueBytes = Number(values['value-bytes']);
  if (!(gib > 0 && gib <= 16) || !Number.isSafeInteger(valueBytes) || valueBytes < 64 || valueBytes > BATCH_BYTES) {
    throw new Error('--gib must be in (0, 16] and --value-bytes in [64, 1048576]');
  }
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-rebalance-'));
  let cluster: LocalCluster | null = null;
  let fourth: LocalProcess | null = null;
  let client: Client | null = null;
  try {
    cluster = await LocalCluster.start({ dataDir: dir, pds: 1, stores: 3, clean: false, portMode: 'free', pdClientPort: 0, storePortBase: 0, statusPortBase: 0, logLevel: 'warn' });
    const pdHttp = cluster.info.pd.httpUrl;
    client = await Client.connect({ pdEndpoints: cluster.info.pdEndpoints.split(','), requestTimeoutMs: 60_000 });

    // Load: keys in order of a counter, so that the regions split as the data grows.
    const totalBytes = Math.round(gib * 1024 * MiB);
    const perBatch = Math.max(1, Math.floor(BATCH_BYTES / valueBytes));
    const batches = Math.ceil(totalBytes / (perBatch * valueBytes));
    // Random bytes: RocksDB compresses its blocks, and a store of repeated bytes would be a few MiB.
    const value = randomBytes(valueBytes);
    let next = 0;
    const loadStarted = Date.now();
    await Promise.all(Array.from({ length: LOADS_IN_FLIGHT }, async () => {
      for (let b = next++; b < batches; b = next++) {
        const pairs = Array.from({ length: perBatch }, (_, i): [Buffer, Buffer] => [Buffer.from(`rebalance/${String(b * perBatch + i).padStart(10, '0')}`), value]);
        await client!.raw.batchPut(pairs);
        if (b % 128 === 0) process.stdout.write(`\rloaded ${((b * perBatch * valueBytes) / MiB).toFixed(0)} MiB`);
      }
    }));
    const loadMs = Date.now() - loadStarted;
    console.log(`\rloaded ${(totalBytes / MiB).toFixed(0)} MiB in ${seconds(loadMs)} (${((totalBytes / MiB) / (loadMs / 1000)).toFixed(1)} MiB/s)`);

    // The splits settle: the region count stays put for 10 s.
    let regions = 0;
    let stableSince = Date.now();
    await waitFor('the splits to settle', async () => {
      const n = (await pdGet<{ regions: PdRegionPlacement[] }>(pdHttp, 'regions?limit=1000')).regions.length;
      if (n !== regions) {
        regions = n;
        stableSince = Date.now();
      }
      return Date.now() - stableSince >= 10_000 ? true : undefined;
    }, { timeoutMs: 10 * 60_000, intervalMs: 500 });
    const before = (await pdGet<{ stores: PdStore[] }>(pdHttp, 'stores')).stores;
    const loadOps = (await pdGet<{ events: { kind: string; atMs: number; outcome?: string; source?: string }[] }>(pdHttp, `region-events?since=${loadStarted}&limit=1000`)).events
      .filter((e) => e.kind === 'operator' && e.outcome === 'created');
    if (loadOps.length > 0) {
      const last = Math.max(...loadOps.map((e) => e.atMs));
      console.log(`during the load PD created ${loadOps.length} operators (${[...new Set(loadOps.map((e) => e.source))].join(', ')}), the last ${seconds(Date.now() - last)} ago: their regions stay in their cooldown (--region-cooldown-ms) that long after`);
    }
    console.log(`${regions} regions; stores hold ${before.map((s) => `${(Number(s.stats?.usedSize ?? 0) / MiB).toFixed(0)} MiB`).join(', ')}`);

    // A 4th store joins.
    const started = Date.now();
    const fourthPorts = await allocateStorePorts();
    fourth = await startStoreProcess({
      name: 'store4', pd: cluster.info.pdEndpoints.split(','), ports: fourthPorts, dataDir: join(dir, 'store4'), logPath: join(dir, 'store4.log'),
      raftTickMs: 100, raftElectionTicks: 10, raftHeartbeatTicks: 2, logLevel: 'warn',
    });
    let firstReplicaMs: number | null = null;
    let lastReplicaMoveMs = started;
    let lastLeaderMoveMs = started;
    let last = '';
    let lastLeaders = '';
    let quietSince: number | null = null;
    let newId = 0;
    await waitFor('PD to finish rebalancing onto the new store', async () => {
      // Counted from PD's regions (region heartbeats come on every change), not from the stores'
      // own heartbeats (every 10 s).
      const stores = (await pdGet<{ stores: PdStore[] }>(pdHttp, 'stores')).stores;
      const operators = (await pdGet<{ operators: unknown[] }>(pdHttp, 'operators')).operators.length;
      newId = stores.find((s) => !before.some((b) => b.id === s.id))?.id ?? 0;
      const spread = replicasAndLeaders((await pdGet<{ regions: PdRegionPlacement[] }>(pdHttp, 'regions?limit=1000')).regions, stores.map((s) => s.id));
      const added = { regionCount: spread.replicas.get(newId) ?? 0 };
      const counts = [...spread.replicas].map(([id, n]) => `${id}:${n}`).join(' ');
      const leaders = [...spread.leaders].map(([id, n]) => `${id}:${n}`).join(' ');
      const now = Date.now();
      if (counts !== last) {
        last = counts;
        lastReplicaMoveMs = now;
        process.stdout.write(`\r${seconds(now - started)}: replicas per store ${counts}    `);
      }
      if (leaders !== lastLeaders) {
        lastLeaders = leaders;
        lastLeaderMoveMs = now;
      }
      if (firstReplicaMs === null && (added?.regionCount ?? 0) > 0) firstReplicaMs = now;
      if (operators > 0 || (added?.regionCount ?? 0) === 0) {
        quietSince = null;
        return undefined;
      }
      quietSince ??= now;
      return now - Math.max(quietSince, lastReplicaMoveMs, lastLeaderMoveMs) >= QUIET_MS ? true : undefined;
    }, { timeoutMs: REBALANCE_TIMEOUT_MS, intervalMs: 500 });
    const stores = (await pdGet<{ stores: PdStore[] }>(pdHttp, 'stores')).stores;
    const spread = replicasAndLeaders((await pdGet<{ regions: PdRegionPlacement[] }>(pdHttp, 'regions?limit=1000')).regions, stores.map((s) => s.id));
    const movedBytes = Number(stores.find((s) => s.id === newId)?.stats?.usedSize ?? 0);
    const moveMs = lastReplicaMoveMs - started;
    console.log('');
    console.log(`rebalance onto a 4th store: first replica after ${seconds((firstReplicaMs ?? started) - started)}, last replica move after ${seconds(moveMs)}, last leader move after ${seconds(lastLeaderMoveMs - started)}`);
    console.log(`the new store holds ${spread.replicas.get(newId) ?? 0} replicas (${spread.leaders.get(newId) ?? 0} leaders), ${(movedBytes / MiB).toFixed(0)} MiB: ${((movedBytes / MiB) / Math.max(0.001, moveMs / 1000)).toFixed(1)} MiB/s over the moves`);
    console.log(`replicas per store ${[...spread.replicas].map(([id, n]) => `${id}:${n}`).join(' ')}; leaders ${[...spread.leaders].map(([id, n]) => `${id}:${n}`).join(' ')}`);
    // Where a snapshot's time goes: the senders' streams, the new store's receives and installs.
    const metricsUrls = [...cluster.info.stores.map((x) => x.statusUrl.replace(/\/status$/, '/metrics')), `http://127.0.0.1:${fourthPorts.statusPort}/metrics`];
    const stage = new Map<string, { seconds: number; count: number }>();
    for (const url of metricsUrls) {
      const text = await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text();
      for (const m of text.matchAll(/^flotilla_store_snapshot_stage_duration_seconds_(sum|count)\{[^}]*stage="(\w+)"[^}]*\} ([0-9.e+-]+)$/gm)) {
        const e = stage.get(m[2]!) ?? { seconds: 0, count: 0 };
        if (m[1] === 'sum') e.seconds += Number(m[3]);
        else e.count += Number(m[3]);
        stage.set(m[2]!, e);
      }
    }
    // What PD did meanwhile: operators by scheduler and move.
    const events = (await pdGet<{ events: { kind: string; atMs: number; outcome?: string; source?: string; description?: string }[] }>(pdHttp, `region-events?since=${started}&limit=1000`)).events;
    const ops = new Map<string, number>();
    for (const e of events) {
      if (e.kind !== 'operator' || e.outcome !== 'created' || e.atMs < started) continue;
      const key = `${e.source ?? '?'}: ${e.description ?? '?'}`;
      ops.set(key, (ops.get(key) ?? 0) + 1);
    }
    console.log(`operators created during the rebalance (${[...ops.values()].reduce((a, b) => a + b, 0)}):`);
    for (const [k, n] of [...ops].sort((a, b) => b[1] - a[1])) console.log(`  ${n} × ${k}`);
    console.log(`snapshot stages (all stores): ${[...stage].map(([k, v]) => `${k} ${v.count} × ${(v.seconds / Math.max(1, v.count)).toFixed(2)} s`).join(', ')}`);
  } finally {
    await client?.close();
    await fourth?.stop().catch(() => undefined);
    await cluster?.stop();
    if (values.keep) console.log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:rebalance failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
