// How a store joins a cluster: its identity (a store id from PD, saved with the cluster id — a
// data dir never serves another cluster), and the first region. PD starts unbootstrapped; once
// enough stores have registered (max-replicas, or whatever registered within the wait), one store
// bootstraps region 1 with a voter on each of them — every replica starting from the same log
// position and membership, so none needs a snapshot — and every listed store creates its replica
// when it learns the region from PD. Later replicas (F7) come to life by conf change + snapshot.

import type { Logger } from 'pino';
import {
  FlotillaError, type RegionMeta, sleepMs, type StoreMeta, storeIdentKey,
} from '../common/index.js';
import type { Engine } from './engine/index.js';
import { decodeStoreIdent, encodeStoreIdent } from './local-state.js';

/** The slice of the PD client bootstrap uses (a port, so tests can drive it). */
export interface BootstrapPd {
  readonly clusterId: bigint;
  allocId(): Promise<number>;
  isBootstrapped(): Promise<boolean>;
  bootstrap(store: StoreMeta, region: RegionMeta): Promise<'bootstrapped' | 'already-bootstrapped'>;
  getAllStores(): Promise<StoreMeta[]>;
  /** The region containing the (encoded) key, or null. */
  getRegionByKey(key: Buffer): Promise<RegionMeta | null>;
  maxReplicas(): Promise<number>;
}

/** Loads this data dir's store id, or registers a new one. Refuses another cluster's data. */
export async function loadOrCreateStoreId(engine: Engine, pd: BootstrapPd, dataDir: string, log: Logger): Promise<number> {
  const saved = await engine.get(storeIdentKey());
  if (saved !== null) {
    const ident = decodeStoreIdent(saved);
    if (ident.clusterId !== pd.clusterId) {
      throw new FlotillaError('ClusterIdMismatch', `data dir ${dataDir} belongs to cluster ${ident.clusterId}, but PD serves cluster ${pd.clusterId}; start this store with its own cluster's PD or a fresh --data-dir`, {
        details: { savedClusterId: String(ident.clusterId), pdClusterId: String(pd.clusterId) },
      });
    }
    return ident.storeId;
  }
  const storeId = await pd.allocId();
  await engine.write([{ kind: 'put', cf: 'local', key: storeIdentKey(), value: encodeStoreIdent({ clusterId: pd.clusterId, storeId }) }], { sync: true });
  log.info({ storeId, clusterId: String(pd.clusterId) }, 'registered a new store identity');
  return storeId;
}

export interface BootstrapOptions {
  readonly self: StoreMeta;
  /** How long to wait for max-replicas stores before bootstrapping with fewer. */
  readonly waitForStoresMs: number;
  readonly pollMs: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
}

/**
 * Bootstraps the cluster if no one has: waits for enough registered stores, then proposes region
 * 1 with a voter on each (lowest store ids first). Losing the race to another store is fine.
 */
export async function bootstrapClusterIfNeeded(pd: BootstrapPd, options: BootstrapOptions): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (await pd.isBootstrapped()) return;
    const want = await pd.maxReplicas();
    const stores = (await pd.getAllStores()).filter((s) => s.state === 'up').sort((a, b) => a.id - b.id);
    const waited = Date.now() - started;
    if (stores.length >= want || (waited >= options.waitForStoresMs && stores.some((s) => s.id === options.self.id))) {
      const chosen = stores.slice(0, want);
      if (!chosen.some((s) => s.id === options.self.id)) {
        // Another store of the chosen set will bootstrap; this one waits to learn the region.
        await sleepMs(options.pollMs, options.signal);
        continue;
      }
      const regionId = await pd.allocId();
      const peers = [];
      for (const s of chosen) peers.push({ id: await pd.allocId(), storeId: s.id, role: 'voter' as const });
      const region: RegionMeta = { id: regionId, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers };
      const outcome = await pd.bootstrap(options.self, region);
      options.log.info({ outcome, regionId, stores: chosen.map((s) => s.id) }, 'cluster bootstrap');
      return;
    }
    options.log.info({ registered: stores.length, want }, 'waiting for stores to register before bootstrapping');
    await sleepMs(options.pollMs, options.signal);
  }
}

/**
 * What PD says of the bootstrap region for `storeId`: `mine` — the region at the start of the key
 * space is still the bootstrap region (epoch 1/1) and lists a replica here, which this store must
 * create (another store bootstrapped the cluster with it); `none` — PD holds no region yet (a
 * bootstrap is under way: ask again); `other` — the cluster has moved on (the region split or
 * changed members) or never chose this store: its replicas, if any, reach it through raft.
 */
export type BootstrapRegionLookup =
  | { readonly kind: 'mine'; readonly region: RegionMeta }
  | { readonly kind: 'none' }
  | { readonly kind: 'other' };

export async function lookUpBootstrapRegion(pd: BootstrapPd, storeId: number): Promise<BootstrapRegionLookup> {
  const region = await pd.getRegionByKey(Buffer.alloc(0));
  if (region === null) return { kind: 'none' };
  if (region.epoch.confVer !== 1 || region.epoch.version !== 1) return { kind: 'other' };
  return region.peers.some((p) => p.storeId === storeId) ? { kind: 'mine', region } : { kind: 'other' };
}

/** The bootstrap region (epoch 1/1) if PD lists a replica of it on `storeId`. */
export async function findBootstrapRegion(pd: BootstrapPd, storeId: number): Promise<RegionMeta | null> {
  const found = await lookUpBootstrapRegion(pd, storeId);
  return found.kind === 'mine' ? found.region : null;
}
