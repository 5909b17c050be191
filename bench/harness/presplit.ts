// --regions n: before a Flotilla run, the workload's key range is split into n regions at evenly
// spaced keys, so that throughput can be compared across region counts (issue F7's 1 / 100 / 1,000
// regions). Each split goes to the region's leader store (its status server's POST /region/split,
// at most SPLIT_KEYS_PER_CALL keys a call), found through PD; a call that meets a moved leader or
// region is retried after a fresh lookup.

import { PdClient } from '../../client/index.js';
import { encodeKey, FlotillaError } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';

/** Split keys one /region/split call carries (the store's limit is 64). */
const SPLIT_KEYS_PER_CALL = 60;
/** How long a pre-split may take in all. */
const PRESPLIT_TIMEOUT_MS = 10 * 60_000;

/** How long the wait for PD to spread the new regions' leaders over the stores may take. */
const SPREAD_TIMEOUT_MS = 5 * 60_000;
/** Leaders are spread when no store leads more than this times an even share (plus one). */
const LEADER_SPREAD_RATIO = 1.1;

/** n − 1 keys cutting `count` keys named keyOf(i) into n ranges of about equal size. */
export function presplitKeys(n: number, count: number, keyOf: (i: number) => Buffer): Buffer[] {
  if (n <= 1 || count <= 1) return [];
  const pieces = Math.min(n, count);
  return Array.from({ length: pieces - 1 }, (_, i) => keyOf(Math.floor(((i + 1) * count) / pieces)));
}

/** Splits the cluster's regions at `keys` (user keys, ascending); resolves once every split applied. */
export async function presplit(pdEndpoints: readonly string[], keys: readonly Buffer[], log: (line: string) => void): Promise<void> {
  if (keys.length === 0) return;
  const pd = await PdClient.connect({ pdEndpoints: [...pdEndpoints] });
  const started = Date.now();
  try {
    let pending = [...keys];
    while (pending.length > 0) {
      if (Date.now() - started > PRESPLIT_TIMEOUT_MS) throw new FlotillaError('DeadlineExceeded', `pre-split: ${pending.length} keys left after ${PRESPLIT_TIMEOUT_MS} ms`);
      // The region holding the first pending key, and the pending keys inside it.
      const route = await pd.getRegionByKey(encodeKey(pending[0]!));
      if (route === null || route.leader === null) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const { region, leader } = route;
      const inside = pending.filter((k) => {
        const enc = encodeKey(k);
        return Buffer.compare(enc, region.startKey) > 0 && (region.endKey.length === 0 || Buffer.compare(enc, region.endKey) < 0);
      });
      const boundary = pending.filter((k) => encodeKey(k).equals(region.startKey));
      const batch = inside.slice(0, SPLIT_KEYS_PER_CALL);
      if (batch.length > 0) {
        const store = await pd.getStore(leader.storeId);
        const res = await fetch(`http://${store.statusAddress}/region/split`, {
          method: 'POST', headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ regionId: region.id, keys: batch.map((k) => k.toString('hex')) }),
          signal: AbortSignal.timeout(30_000),
        }).catch(() => null);
        if (res === null || res.status !== 200) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        await res.body?.cancel();
      }
      const done = new Set([...batch, ...boundary].map((k) => k.toString('hex')));
      pending = pending.filter((k) => !done.has(k.toString('hex')));
      if (done.size === 0) throw new FlotillaError('Internal', `pre-split: no progress at key ${pending[0]!.toString('hex')}`);
    }
    // PD learns the new regions from their leaders' heartbeats; wait until it knows them all.
    const want = keys.length + 1;
    await waitFor(`PD to know the ${want} regions`, async () => {
      const regions = await pd.scanRegions(Buffer.alloc(0), Buffer.alloc(0), want + 10);
      return regions.length >= want && regions.every((r) => r.leader !== null) ? true : undefined;
    }, { timeoutMs: PRESPLIT_TIMEOUT_MS, intervalMs: 200 });
    log(`pre-split into ${want} regions in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await spreadLeaders(pd, want, log);
  } finally {
    pd.close();
  }
}

/**
 * A split's new regions are led from the store that led their parent, so a freshly pre-split
 * cluster has nearly every leader on one store, and a run measured then measures one store. PD's
 * balance-leader spreads them; this waits until no store leads more than LEADER_SPREAD_RATIO of
 * an even share (plus one), or SPREAD_TIMEOUT_MS passes (then the run goes on, and the line says
 * how the leaders sit).
 */
async function spreadLeaders(pd: PdClient, regions: number, log: (line: string) => void): Promise<void> {
  const started = Date.now();
  let counts = new Map<number, number>();
  while (Date.now() - started < SPREAD_TIMEOUT_MS) {
    const routes = await pd.scanRegions(Buffer.alloc(0), Buffer.alloc(0), regions + 10);
    const stores = new Set<number>();
    for (const r of routes) for (const p of r.region.peers) if (p.role === 'voter') stores.add(p.storeId);
    counts = new Map([...stores].map((id) => [id, 0]));
    for (const r of routes) if (r.leader !== null) counts.set(r.leader.storeId, (counts.get(r.leader.storeId) ?? 0) + 1);
    const most = (LEADER_SPREAD_RATIO * routes.length) / Math.max(1, stores.size) + 1;
    if ([...counts.values()].every((c) => c <= most)) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  log(`leaders per store: ${[...counts].map(([id, n]) => `${id}: ${n}`).join(', ')} (waited ${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
