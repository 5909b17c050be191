// Hot-region scheduling under real write traffic (issue F7), real processes: 1 PD + 3 stores, six
// regions (PD's split operator) whose leaders are placed two per store (PD's transfer-leader
// operator), so balance-leader has nothing to do. Then the two regions led from one store take
// every write — raw puts of 4 KiB in closed loops, far above the 64 KiB/s at which a region is
// hot — and the other four none. Only hot-region can see the imbalance: checked that it moves a
// hot leader away (an operator of its own in PD's region events), that at rest (nothing pending
// for a while) the two hot regions are led from different stores, and that every acknowledged
// write reads back with its value.

process.env['FLOTILLA_PD_SCHEDULE_INTERVAL_MS'] = '200';
// A region just moved is left alone this long (30 s by default).
process.env['FLOTILLA_PD_REGION_COOLDOWN_MS'] = '1000';
const STORE_ARGS = ['--pd-heartbeat-ms', '300'];

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '../../client/index.js';
import { waitFor } from '../../deploy/index.js';
import { ClientTestEnv, CONDITION_TIMEOUT_MS } from '../support/client-cluster.js';
import { type PdRegionJson, regionHolding } from '../support/store-cluster.js';

const REGIONS = 6;
const VALUE_BYTES = 4096;
/** PD has had nothing to do for this long (past a region's cooldown): at rest. */
const QUIET_MS = 3_000;

const slice = (r: number): string => `hot/${r}/`;
const leaderStoreOf = (r: PdRegionJson): number | undefined => r.peers.find((p) => p.id === r.leaderPeerId)?.storeId;

describe('hot-region under real write traffic', { timeout: 180_000 }, () => {
  let env: ClientTestEnv;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 1, extraStoreArgs: STORE_ARGS });
  });
  after(async () => {
    await env?.stop();
  });

  const pdRegions = (): Promise<PdRegionJson[]> => env.cluster.pdRegionsInKeyOrder<PdRegionJson>();
  const operatorsPending = (): Promise<number> => env.cluster.operatorsPending();
  /** The region holding slice r (slices sort inside one region each once split). */
  const regionOfSlice = (regions: readonly PdRegionJson[], r: number): PdRegionJson => {
    const found = regionHolding(regions, Buffer.from(slice(r)));
    assert.ok(found !== undefined, `no region holds ${slice(r)}`);
    return found;
  };

  it('moves one of two hot leaders off the store that led both and comes to rest; every write reads back', async () => {
    const client = env.clients[0] as Client;
    // Region 0 starts at the empty key; regions 1..5 at their slices.
    await env.cluster.splitAtKeys(Array.from({ length: REGIONS - 1 }, (_, i) => Buffer.from(slice(i + 1))), CONDITION_TIMEOUT_MS);
    const stores = env.cluster.stores.map((s) => s.id);
    // Leaders: slices 0 and 1 on the first store, 2 and 3 on the second, 4 and 5 on the third.
    const wanted = (r: number): number => stores[Math.floor(r / 2)]!;
    await waitFor('leaders two per store', async () => {
      const regions = await pdRegions();
      let isPlaced = true;
      for (let r = 0; r < REGIONS; r++) {
        const region = regionOfSlice(regions, r);
        if (leaderStoreOf(region) === wanted(r)) continue;
        isPlaced = false;
        await env.cluster.pdPost('operators', { regionId: region.id, kind: 'transfer-leader', toStoreId: wanted(r) }); // 409 while one is pending
      }
      return isPlaced && (await operatorsPending()) === 0 ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 300 });
    const startedMs = Date.now();
    const hotIds = await pdRegions().then((regions) => [regionOfSlice(regions, 0).id, regionOfSlice(regions, 1).id]);

    // Writes to slices 0 and 1 only.
    const acked = new Map<string, Buffer>();
    let isDone = false;
    const writer = async (r: number): Promise<void> => {
      for (let i = 0; !isDone; i++) {
        const key = `${slice(r)}k/${String(i % 200).padStart(3, '0')}`;
        const value = Buffer.alloc(VALUE_BYTES, `${key}#${i}`);
        await client.raw.put(Buffer.from(key), value);
        acked.set(key, value);
      }
    };
    const writers = [writer(0), writer(1), writer(0), writer(1)].map((p) => p.catch((err: unknown) => {
      isDone = true;
      throw err;
    }));
    let quietSince: number | null = null;
    let last = '';
    try {
      await waitFor('hot-region to spread the two hot leaders, and PD to come to rest', async () => {
        if (isDone) return true; // a writer failed: its error is the one to report
        const regions = await pdRegions();
        const leaders = hotIds.map((id) => leaderStoreOf(regions.find((x) => x.id === id)!));
        const now = `${leaders.join(',')} ${regions.map((x) => leaderStoreOf(x)).join(',')}`;
        const isSpread = leaders[0] !== undefined && leaders[1] !== undefined && leaders[0] !== leaders[1];
        if (!isSpread || now !== last || (await operatorsPending()) > 0) {
          last = now;
          quietSince = null;
          return undefined;
        }
        quietSince ??= Date.now();
        return Date.now() - quietSince >= QUIET_MS ? true : undefined;
      }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    } finally {
      isDone = true;
      await Promise.allSettled(writers); // none left running past the test, whatever ended the wait
    }
    await Promise.all(writers); // a writer's own failure

    const events = (await env.cluster.pdApi(`region-events?since=${startedMs}&limit=1000`)).body as { events: { regionId: number; source?: string; kind: string }[] };
    const hotMoves = events.events.filter((e) => e.source === 'hot-region');
    assert.ok(hotMoves.length > 0, `no hot-region operator; events: ${JSON.stringify(events.events.map((e) => [e.kind, e.source, e.regionId]))}`);
    assert.ok(hotMoves.some((e) => hotIds.includes(e.regionId)), 'hot-region moved no hot region');
    assert.ok(acked.size > 0, 'no write was acknowledged');
    for (const [key, value] of acked) assert.ok((await client.raw.get(Buffer.from(key)))?.equals(value), `${key} reads back`);
  });
});
