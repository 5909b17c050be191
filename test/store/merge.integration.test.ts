// Region merge end to end (issue F7; store/merge.ts), real processes: 1 PD + 3 stores. Regions
// split at given keys are merged back through PD's admin merge operator:
//   - a merge whose source and target are led from one store, and one whose leaders sit on
//     different stores (the source leader moves to the target leader's store first);
//   - after each: PD and every store list the same regions, and they tile the key space; every
//     key written before (raw and transactional) reads back; writes into the merged range work;
//     the key counts add up;
//   - a merge with a follower store killed -9 in the middle: once it is back, it retires its
//     source replica and serves the merged region;
//   - most keys deleted: PD's merge checker (on, with small limits) merges the emptied regions back.
//
// Replay: FLOTILLA_MERGE_IT_SEED=<seed> node --test dist/test/store/merge.integration.test.js
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '../../client/index.js';
import { createRng } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { b, ClientTestEnv, collect, CONDITION_TIMEOUT_MS, prefixEnd, seedFrom } from '../support/client-cluster.js';
import { httpJson } from '../support/pd-cluster.js';

const SEED = seedFrom('FLOTILLA_MERGE_IT_SEED');
const REPLAY = `seed ${SEED}; replay: FLOTILLA_MERGE_IT_SEED=${SEED} node --test dist/test/store/merge.integration.test.js`;
const STORE_ARGS = ['--region-key-count', 'true', '--pd-heartbeat-ms', '200'];

interface RegionJson {
  readonly id: number;
  readonly startKey: string;
  readonly endKey: string;
  readonly epoch: { readonly confVer: number; readonly version: number };
  readonly peers: readonly { readonly id: number; readonly storeId: number }[];
  readonly leaderPeerId: number;
  readonly approximateKeys?: number;
}

const hex = (k: string): string => b(k).toString('hex');

describe('region merge (1 PD + 3 stores)', { timeout: 10 * 60_000 }, () => {
  let env: ClientTestEnv;
  let client: Client;
  const written = new Map<string, string>();

  before(async () => {
    env = await ClientTestEnv.start({ clients: 1, extraStoreArgs: STORE_ARGS });
    client = env.client(0);
  });
  after(async () => {
    await env?.stop();
  });

  const pdRegions = async (): Promise<RegionJson[]> => {
    const r = await env.cluster.pdApi('regions?limit=1000');
    assert.equal(r.status, 200);
    return [...(r.body as { regions: RegionJson[] }).regions].sort((x, y) => Buffer.compare(Buffer.from(x.startKey, 'hex'), Buffer.from(y.startKey, 'hex')));
  };

  const assertTiling = (sorted: readonly RegionJson[], what: string): void => {
    assert.equal(sorted[0]?.startKey, '', `${what}: the first region does not start at the start of the key space`);
    assert.equal(sorted.at(-1)?.endKey, '', `${what}: the last region does not end at the end of the key space`);
    for (let i = 0; i + 1 < sorted.length; i++) assert.equal(sorted[i]!.endKey, sorted[i + 1]!.startKey, `${what}: gap or overlap after region ${sorted[i]!.id}`);
  };

  /** PD and every store list exactly `starts` as region start keys (user keys; '' = the start), at one epoch per region. */
  const waitLayout = async (starts: readonly string[], what: string): Promise<RegionJson[]> => waitFor(what, async () => {
    const regions = await pdRegions();
    if (regions.map((r) => r.startKey).join(',') !== starts.map((s) => (s === '' ? '' : hex(s))).join(',')) return undefined;
    if (!regions.every((r) => r.peers.some((p) => p.id === r.leaderPeerId))) return undefined;
    for (let i = 0; i < env.cluster.stores.length; i++) {
      const status = await env.cluster.storeStatus(i).catch(() => null);
      if (status === null) return undefined;
      const local = status['regions'] as (RegionJson & { startKey: string })[];
      if (local.length !== regions.length) return undefined;
      for (const r of regions) {
        const mine = local.find((l) => l.id === r.id);
        if (mine === undefined || mine.epoch.version !== r.epoch.version) return undefined;
      }
    }
    return regions;
  }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

  const regionAt = (regions: readonly RegionJson[], key: string): RegionJson => regions.find((r) => Buffer.compare(Buffer.from(r.startKey, 'hex'), b(key)) <= 0 && (r.endKey === '' || Buffer.compare(b(key), Buffer.from(r.endKey, 'hex')) < 0))!;

  const operator = async (body: Record<string, unknown>): Promise<void> => {
    await waitFor(`PD to take operator ${JSON.stringify(body)}`, async () => {
      const r = await httpJson(env.cluster.pd.httpUrl(await env.cluster.pd.waitForLeader(), 'operators'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return r.status === 201 ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 250 });
  };

  const split = async (key: string): Promise<void> => {
    const regions = await pdRegions();
    await operator({ regionId: regionAt(regions, key).id, kind: 'split', keys: [hex(key)] });
    await waitFor(`the split at ${key}`, async () => ((await pdRegions()).some((r) => r.startKey === hex(key)) ? true : undefined), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
  };

  const checkAllKeys = async (what: string): Promise<void> => {
    const keys = [...written.keys()];
    for (let i = 0; i < keys.length; i += 200) {
      const chunk = keys.slice(i, i + 200);
      const got = await client.raw.batchGet(chunk);
      chunk.forEach((k, j) => assert.equal(got[j]?.toString(), written.get(k), `${REPLAY}: ${what}: ${k}`));
    }
    const scanned = await collect(client.raw.scan('k/', prefixEnd('k/')));
    assert.deepEqual(scanned.map((p) => p.key.toString()), keys.filter((k) => k.startsWith('k/')).sort(), `${REPLAY}: ${what}: a scan across the regions`);
    const snap = await client.snapshot();
    const rows = await collect(snap.scan('t/', prefixEnd('t/')));
    assert.equal(rows.length, 30, `${REPLAY}: ${what}: transactional keys`);
  };

  it('merges regions back: led from one store, and led from two; everything reads back', async () => {
    const rng = createRng(SEED);
    for (let i = 0; i < 600; i += 50) {
      const chunk = Array.from({ length: 50 }, (_, j) => [`k/${String.fromCharCode(97 + rng.nextInt(26))}/${i + j}`, `v${rng.nextInt(1_000_000)}`] as const);
      await client.raw.batchPut(chunk);
      for (const [k, v] of chunk) written.set(k, v);
    }
    await client.withTransaction(async (txn) => {
      for (let i = 0; i < 30; i++) txn.put(`t/${String(i).padStart(2, '0')}`, String(i));
    });
    await split('k/h');
    await split('k/q');
    let regions = await waitLayout(['', 'k/h', 'k/q'], 'three regions on PD and every store');
    assertTiling(regions, REPLAY);
    await checkAllKeys('after the splits');

    // 1. [k/h, k/q) into [, k/h): make both led from one store first.
    const left = regionAt(regions, 'a');
    const middle = regionAt(regions, 'k/h');
    const leftLeaderStore = left.peers.find((p) => p.id === left.leaderPeerId)!.storeId;
    const middleLeader = middle.peers.find((p) => p.id === middle.leaderPeerId)!;
    if (middleLeader.storeId !== leftLeaderStore) {
      await operator({ regionId: middle.id, kind: 'transfer-leader', toStoreId: leftLeaderStore });
      await waitFor('the leaders on one store', async () => {
        const m = regionAt(await pdRegions(), 'k/h');
        return m.peers.find((p) => p.id === m.leaderPeerId)?.storeId === leftLeaderStore ? true : undefined;
      }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    }
    await operator({ regionId: middle.id, kind: 'merge', targetRegionId: left.id });
    regions = await waitLayout(['', 'k/q'], 'the middle region merged into the left one');
    assertTiling(regions, REPLAY);
    assert.equal(regionAt(regions, 'k/h').id, left.id, 'the target keeps its id');
    await checkAllKeys('after the first merge');
    await client.raw.put('k/j/new', 'after merge');
    written.set('k/j/new', 'after merge');
    assert.equal((await client.raw.get('k/j/new'))?.toString(), 'after merge');

    // 2. [k/q, ) into [, k/q): leaders on different stores.
    const right = regionAt(regions, 'k/q');
    const target = regionAt(regions, 'a');
    const targetLeaderStore = target.peers.find((p) => p.id === target.leaderPeerId)!.storeId;
    const otherStore = right.peers.map((p) => p.storeId).find((s) => s !== targetLeaderStore)!;
    await operator({ regionId: right.id, kind: 'transfer-leader', toStoreId: otherStore });
    await waitFor('the leaders on two stores', async () => {
      const r = regionAt(await pdRegions(), 'k/q');
      return r.peers.find((p) => p.id === r.leaderPeerId)?.storeId === otherStore ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    await operator({ regionId: right.id, kind: 'merge', targetRegionId: target.id });
    regions = await waitLayout([''], 'one region again');
    assertTiling(regions, REPLAY);
    await checkAllKeys('after the second merge');
    // Exact on every replica (a merge whose side was still being recounted recounts the union).
    for (let i = 0; i < env.cluster.stores.length; i++) {
      let seen = -1;
      await waitFor(`store ${i + 1}'s key count`, async () => {
        seen = ((await env.cluster.storeStatus(i))['regions'] as RegionJson[])[0]!.approximateKeys ?? -1;
        return seen === written.size + 30 ? true : undefined;
      }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 100 }).catch(() => undefined);
      assert.equal(seen, written.size + 30, `${REPLAY}: store ${i + 1}'s key count`);
    }
  });

  it('a follower store killed -9 during a merge retires its source replica once back', async () => {
    await split('k/m');
    const regions = await waitLayout(['', 'k/m'], 'two regions');
    const source = regionAt(regions, 'k/m');
    const target = regionAt(regions, 'a');
    const leaderStores = new Set([source, target].map((r) => r.peers.find((p) => p.id === r.leaderPeerId)!.storeId));
    const victim = env.cluster.stores.findIndex((s) => !leaderStores.has(s.id));
    assert.ok(victim >= 0, 'a store leads neither region');
    await operator({ regionId: source.id, kind: 'merge', targetRegionId: target.id });
    // Killed while the merge runs (it cannot finish without this store: every source replica
    // must hold the log up to PrepareMerge), then started again.
    await env.cluster.killStore(victim);
    await env.cluster.restartStore(victim);
    assertTiling(await waitLayout([''], 'every store, the restarted one too, with one region'), REPLAY);
    await checkAllKeys('after a merge with a store killed');
  });

  it('deleting most keys: PD\'s merge checker merges the emptied regions back', async () => {
    const cuts = ['k/c', 'k/f', 'k/i', 'k/l', 'k/o', 'k/r', 'k/u'];
    for (const k of cuts) await split(k);
    await waitLayout(['', ...cuts], 'the regions split');
    // Keep one key in twenty; delete the rest.
    const doomed = [...written.keys()].filter((k, i) => k.startsWith('k/') && i % 20 !== 0);
    for (let i = 0; i < doomed.length; i += 100) {
      const chunk = doomed.slice(i, i + 100);
      await Promise.all(chunk.map((k) => client.raw.delete(k)));
      for (const k of chunk) written.delete(k);
    }
    const before = (await pdRegions()).length;
    const cfg = await httpJson(env.cluster.pd.httpUrl(await env.cluster.pd.waitForLeader(), 'config'), {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ disableMerge: false, splitMergeIntervalMs: 0, regionMergeKeysMax: 1_000, regionMergeSizeBytesMax: 64 * 1024 * 1024 }),
    });
    assert.equal(cfg.status, 200, JSON.stringify(cfg.body));
    const merged = await waitFor('the merge checker to merge the regions back', async () => {
      const regions = await pdRegions();
      if (regions.length > 2) return undefined;
      assertTiling(regions, REPLAY); // PD's view may lag a report for a moment; it must come to tile
      return regions;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 250 });
    assert.ok(before >= 8, `${before} regions before`);
    assertTiling(await waitLayout(merged.map((r) => (r.startKey === '' ? '' : Buffer.from(r.startKey, 'hex').toString())), 'every store agrees'), REPLAY);
    await checkAllKeys('after the merge checker merged');
  });
});
