// Helpers for region-lifecycle tests on a StoreTestCluster: a store's view of a region (from its
// /status), the leader, acknowledged raw writes remembered in a map, a store's metrics, and a check
// that a stopped store's RocksDB holds every acknowledged write.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { rawKey } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import { RocksEngine } from '../../store/engine/index.js';
import { decodeRawValue } from '../../store/raw-value.js';
import type { KvTestClient, StoreTestCluster } from './store-cluster.js';

export interface RegionStatus {
  id: number;
  peerId: number;
  epoch: { confVer: number; version: number };
  peers: { id: number; storeId: number; role: 'voter' | 'learner' }[];
  isLeader: boolean;
  appliedIndex: number;
  truncatedIndex: number;
  firstIndex: number;
  lastIndex: number;
}

export interface RegionLeader {
  readonly index: number;
  readonly region: RegionStatus;
  readonly ctx: kvrpcpb.Context__Input;
  readonly kv: KvTestClient;
}

const b = (s: string): Buffer => Buffer.from(s);

/**
 * A counter or gauge from the /metrics of the store whose status server is at `statusAddress`: the
 * first series of `name` whose labels contain `label` (0 when the series does not exist yet).
 */
export async function storeMetric(statusAddress: string, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`http://${statusAddress}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A tiny raft log GC limit for lifecycle tests: a few dozen writes compact the log. */
export const GC_COUNT_LIMIT = 40;
/** Store flags for GC_COUNT_LIMIT (hard limit 4×, checked every 2 ticks). */
export const GC_ARGS: readonly string[] = ['--raft-log-gc-count-limit', String(GC_COUNT_LIMIT), '--raft-log-gc-hard-count-limit', String(GC_COUNT_LIMIT * 4), '--raft-log-gc-check-ticks', '2'];

/** Resends of one probe write after a region error (the region changed under it). */
const WRITE_RETRIES_MAX = 20;

export class RegionProbe {
  /** Every acknowledged raw put: key → value. */
  readonly acked = new Map<string, string>();

  constructor(private readonly cluster: StoreTestCluster) {}

  /** Store i's replica of the first region; undefined when it hosts none (or is down). */
  async regionOf(i: number): Promise<RegionStatus | undefined> {
    const status = await this.cluster.storeStatus(i).catch(() => undefined);
    return (status?.['regions'] as RegionStatus[] | undefined)?.[0];
  }

  async mustRegionOf(i: number): Promise<RegionStatus> {
    const r = await this.regionOf(i);
    if (r === undefined) throw new Error(`store ${i} hosts no region`);
    return r;
  }

  leader(down: ReadonlySet<number> = new Set(), timeoutMs = 30_000): Promise<RegionLeader> {
    return waitFor('a region leader', async () => {
      for (let i = 0; i < this.cluster.stores.length; i++) {
        if (down.has(i)) continue;
        const region = await this.regionOf(i);
        if (region?.isLeader !== true) continue;
        const storeId = this.cluster.stores[i]!.id;
        const peer = region.peers.find((p) => p.storeId === storeId)!;
        const ctx = { regionId: String(region.id), regionEpoch: { confVer: String(region.epoch.confVer), version: String(region.epoch.version) }, peer: { id: String(peer.id), storeId: String(storeId) } };
        return { index: i, region, ctx, kv: this.cluster.kvClient(i) };
      }
      return undefined;
    }, { timeoutMs, intervalMs: 50 });
  }

  /**
   * `count` raw puts of `valueBytes`-byte values, one at a time so that each is its own raft entry
   * (puts in flight together share one write-batch entry, and these tests count entries against
   * the log GC limit); each acknowledged one is remembered.
   */
  async writeKeys(leader: RegionLeader, prefix: string, count: number, valueBytes = 16): Promise<void> {
    let current = leader;
    for (let n = 0; n < count; n++) {
      const key = `${prefix}/${String(n).padStart(5, '0')}`;
      const value = `v-${key}-`.padEnd(valueBytes, 'x');
      let r = await current.kv.call('RawPut', { context: current.ctx, key: b(key), value: b(value) });
      // PD's schedulers may change the region meanwhile (a replica re-added, a leader moved): a
      // region error means the put was not applied; find the leader again and resend, as a client does.
      for (let attempt = 0; attempt < WRITE_RETRIES_MAX && r.regionError !== null && (r.regionError.epochNotMatch !== null || r.regionError.notLeader !== null); attempt++) {
        current = await this.leader();
        r = await current.kv.call('RawPut', { context: current.ctx, key: b(key), value: b(value) });
      }
      assert.equal(r.regionError, null, `${key}: ${JSON.stringify(r.regionError)}`);
      assert.equal(r.otherError, null);
      this.acked.set(key, value);
    }
  }

  /** Every acknowledged write read back through the leader. */
  async readAll(leader: RegionLeader): Promise<void> {
    const keys = [...this.acked.keys()];
    for (let i = 0; i < keys.length; i += 200) {
      const chunk = keys.slice(i, i + 200);
      const r = await leader.kv.call('RawBatchGet', { context: leader.ctx, keys: chunk.map(b) });
      assert.equal(r.regionError, null, JSON.stringify(r.regionError));
      const got = new Map(r.pairs.map((p) => [p.key.toString(), p.value.toString()]));
      for (const k of chunk) assert.equal(got.get(k), this.acked.get(k), `acknowledged ${k} lost`);
    }
  }

  /** A counter or gauge of store i (0 when the series does not exist yet). */
  metric(i: number, name: string, label = ''): Promise<number> {
    return storeMetric(this.cluster.stores[i]!.statusAddress, name, label);
  }

  /** Waits until store i has applied at least `index`. */
  async waitApplied(i: number, index: number, timeoutMs = 60_000): Promise<RegionStatus> {
    return waitFor(`store ${i} to apply ${index}`, async () => {
      const r = await this.regionOf(i);
      return r !== undefined && r.appliedIndex >= index ? r : undefined;
    }, { timeoutMs, intervalMs: 100 });
  }

  /** Stops store i (SIGTERM) and checks its RocksDB holds every acknowledged write; it stays stopped. */
  async assertStoppedReplicaHolds(i: number): Promise<void> {
    await this.cluster.killStore(i, 'SIGTERM');
    const engine = await RocksEngine.open(join(this.cluster.stores[i]!.dataDir, 'db'));
    try {
      const keys = [...this.acked.keys()];
      for (let k = 0; k < keys.length; k += 500) {
        const chunk = keys.slice(k, k + 500);
        const values = await engine.multiGet(chunk.map((key) => rawKey(b(key))));
        for (let j = 0; j < chunk.length; j++) {
          const stored = values[j];
          assert.ok(stored !== null && stored !== undefined, `store ${i} lacks acknowledged ${chunk[j]}`);
          assert.equal(decodeRawValue(stored).value.toString(), this.acked.get(chunk[j]!), `store ${i} holds a wrong value of ${chunk[j]}`);
        }
      }
    } finally {
      await engine.close();
    }
  }
}
