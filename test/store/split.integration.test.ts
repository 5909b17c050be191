// Region split end to end (issue F7), real processes: 1 PD + 3 stores with a tiny key limit
// (--region-split-keys) and exact key counts, written through the client library.
//   - a load grows the first region past its limit again and again → many regions; their ranges
//     tile the key space with no gap or overlap (PD's view, and every store's), every replica of
//     every region is on every store, and every acknowledged key reads back, also by a scan that
//     crosses every region;
//   - an admin split at given keys (the store's /region/split) cuts exactly there; PD's split
//     operator does the same;
//   - bank transfers across the splitting key range keep their total at every snapshot;
//   - a store killed -9 and restarted loads every region the splits created and serves them.
//
// Replay: FLOTILLA_SPLIT_IT_SEED=<seed> node --test dist/test/store/split.integration.test.js
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, CommitUnknownError, OutcomeUnknownError, TxnAbortedError, WriteConflictError } from '../../client/index.js';
import { createRng } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { b, ClientTestEnv, collect, CONDITION_TIMEOUT_MS, prefixEnd, seedFrom } from '../support/client-cluster.js';
import { httpJson } from '../support/pd-cluster.js';

const SEED = seedFrom('FLOTILLA_SPLIT_IT_SEED');
const REPLAY = `seed ${SEED}; replay: FLOTILLA_SPLIT_IT_SEED=${SEED} node --test dist/test/store/split.integration.test.js`;
const SPLIT_KEYS = 150;
const STORE_ARGS = ['--region-key-count', 'true', '--region-split-keys', String(SPLIT_KEYS), '--pd-heartbeat-ms', '200'];

interface RegionJson {
  readonly id: number;
  readonly startKey: string;
  readonly endKey: string;
  readonly epoch: { readonly confVer: number; readonly version: number };
  readonly peers: readonly { readonly id: number; readonly storeId: number }[];
  readonly leaderPeerId: number;
}

describe('region split (1 PD + 3 stores, tiny key limit)', { timeout: 10 * 60_000 }, () => {
  let env: ClientTestEnv;
  let client: Client;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 2, extraStoreArgs: STORE_ARGS });
    client = env.client(0);
  });
  after(async () => {
    await env?.stop();
  });

  const pdRegions = async (): Promise<RegionJson[]> => {
    const r = await env.cluster.pdApi('regions?limit=1000');
    assert.equal(r.status, 200);
    return [...(r.body as { regions: RegionJson[] }).regions];
  };

  /** PD's regions tile the key space: the first starts at '', each ends where the next starts, the last ends at ''. */
  const assertTiling = (regions: readonly RegionJson[], what: string): void => {
    const sorted = [...regions].sort((x, y) => Buffer.compare(Buffer.from(x.startKey, 'hex'), Buffer.from(y.startKey, 'hex')));
    assert.equal(sorted[0]?.startKey, '', `${what}: the first region does not start at the start of the key space`);
    assert.equal(sorted.at(-1)?.endKey, '', `${what}: the last region does not end at the end of the key space`);
    for (let i = 0; i + 1 < sorted.length; i++) {
      assert.equal(sorted[i]!.endKey, sorted[i + 1]!.startKey, `${what}: gap or overlap between regions ${sorted[i]!.id} and ${sorted[i + 1]!.id}`);
    }
    assert.equal(new Set(sorted.map((r) => r.id)).size, sorted.length, `${what}: a region id twice`);
  };

  /** Every store hosts a replica of each of PD's regions, at the same epoch (a store's /status shows encoded keys). */
  const waitStoresAgree = async (what: string): Promise<RegionJson[]> => waitFor(what, async () => {
    const regions = await pdRegions();
    for (let i = 0; i < env.cluster.stores.length; i++) {
      const status = await env.cluster.storeStatus(i);
      const local = new Map((status['regions'] as RegionJson[]).map((r) => [r.id, r]));
      if (local.size !== regions.length) return undefined;
      for (const r of regions) {
        const mine = local.get(r.id);
        if (mine === undefined || mine.epoch.version !== r.epoch.version) return undefined;
      }
    }
    return regions;
  }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

  it('splits a growing region again and again: the regions tile the key space on PD and every store, and every key reads back', async () => {
    const rng = createRng(SEED);
    const written = new Map<string, string>();
    const KEYS = 1_500;
    // Random keys (not in order): every region grows, not just the last one.
    const keys = Array.from({ length: KEYS }, (_, i) => `load/${rng.nextInt(1 << 30).toString(16).padStart(8, '0')}/${i}`);
    for (let i = 0; i < keys.length; i += 50) {
      const chunk = keys.slice(i, i + 50).map((k) => [k, `v-${k}`] as const);
      await client.raw.batchPut(chunk);
      for (const [k, v] of chunk) written.set(k, v);
    }
    // PD learns a split from ReportBatchSplit and from region heartbeats, which may arrive in
    // either order: for a moment its view can miss a new region (a gap) or hold an old one beside
    // it. The regions must come to tile the key space, not tile at every instant.
    const settled = await waitFor('the regions to split down to the limit and PD\'s view to tile the key space', async () => {
      const regions = await pdRegions();
      if (regions.length < KEYS / SPLIT_KEYS) return undefined;
      assertTiling(regions, REPLAY);
      return regions;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 250 });
    for (const r of settled) assert.equal(r.peers.length, 3, `${REPLAY}: region ${r.id} has ${r.peers.length} peers`);
    const agreed = await waitStoresAgree('every store to host every region');
    assertTiling(agreed, REPLAY);

    // Every key reads back: by point reads (grouped by region by the client) and by one scan across all regions.
    const all = [...written.keys()];
    for (let i = 0; i < all.length; i += 200) {
      const chunk = all.slice(i, i + 200);
      const got = await client.raw.batchGet(chunk);
      chunk.forEach((k, j) => assert.equal(got[j]?.toString(), written.get(k), `${REPLAY}: ${k} lost`));
    }
    const scanned = await collect(client.raw.scan('load/', prefixEnd('load/')));
    assert.deepEqual(scanned.map((p) => p.key.toString()), [...all].sort(), `${REPLAY}: a scan across the regions`);
  });

  it('splits at given keys: through a store\'s admin action and through PD\'s split operator', async () => {
    const regions = await waitStoresAgree('the stores to settle');
    // The region holding 'manual/' (past every load/ key): split it at two keys through its leader's store.
    const target = regions.find((r) => Buffer.compare(Buffer.from(r.startKey, 'hex'), b('manual/')) <= 0 && (r.endKey === '' || Buffer.compare(b('manual/'), Buffer.from(r.endKey, 'hex')) < 0))!;
    const cut = ['manual/b', 'manual/d'];
    const answer = await waitFor('the admin split', async () => {
      const leader = await env.cluster.waitForRegionLeader(target.id);
      const r = await httpJson(`http://${env.cluster.stores[leader.storeIndex]!.statusAddress}/region/split`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: target.id, keys: cut.map((k) => b(k).toString('hex')) }),
      });
      return r.status === 200 ? r.body as { outcome: string } : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    assert.equal(answer.outcome, 'split');
    const after1 = await waitFor('PD to see the admin split', async () => {
      const now = await pdRegions();
      if (!cut.every((k) => now.some((r) => r.startKey === b(k).toString('hex')))) return undefined;
      assertTiling(now, REPLAY);
      return now;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

    // PD's operator: split the region starting at manual/d at manual/f.
    const right = after1.find((r) => r.startKey === b('manual/d').toString('hex'))!;
    const op = await httpJson(env.cluster.pd.httpUrl(await env.cluster.pd.waitForLeader(), 'operators'), {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: right.id, kind: 'split', keys: [b('manual/f').toString('hex')] }),
    });
    assert.equal(op.status, 201, JSON.stringify(op.body));
    await waitFor('PD\'s split operator to split the region', async () => {
      const now = await pdRegions();
      if (!now.some((r) => r.startKey === b('manual/f').toString('hex'))) return undefined;
      assertTiling(now, REPLAY);
      return now;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

    // A key outside the region is refused with a typed error; the store keeps serving.
    const leader = await env.cluster.waitForRegionLeader(right.id);
    const bad = await httpJson(`http://${env.cluster.stores[leader.storeIndex]!.statusAddress}/region/split`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: right.id, keys: [b('a').toString('hex')] }),
    });
    assert.equal((bad.body as { code?: string }).code, 'KeyNotInRegion', JSON.stringify(bad.body));
    await client.raw.put('manual/e', 'still serving');
    assert.equal((await client.raw.get('manual/e'))?.toString(), 'still serving');
  });

  it('bank transfers across a splitting key range keep their total at every snapshot', async () => {
    const rng = createRng(SEED + 1);
    const ACCOUNTS = 60;
    const acct = (i: number): string => `bank/${String(i).padStart(3, '0')}`;
    await client.withTransaction(async (txn) => {
      for (let i = 0; i < ACCOUNTS; i++) txn.put(acct(i), '100');
    });
    const TOTAL = ACCOUNTS * 100;
    let stop = false;
    let transfers = 0;
    const transfer = async (c: Client): Promise<void> => {
      while (!stop) {
        const from = rng.nextInt(ACCOUNTS);
        const to = (from + 1 + rng.nextInt(ACCOUNTS - 1)) % ACCOUNTS;
        try {
          await c.withTransaction(async (txn) => {
            const [a, z] = [Number((await txn.get(acct(from)))!.toString()), Number((await txn.get(acct(to)))!.toString())];
            const amount = Math.min(a, 1 + rng.nextInt(10));
            txn.put(acct(from), String(a - amount));
            txn.put(acct(to), String(z + amount));
          }, { maxRetries: 20 });
          transfers++;
        } catch (err) {
          if (!(err instanceof WriteConflictError || err instanceof TxnAbortedError || err instanceof CommitUnknownError)) throw err;
        }
      }
    };
    // Filler keys between the accounts make the bank range split while transfers run.
    const filler = async (): Promise<void> => {
      for (let i = 0; i < 900 && !stop; i += 30) {
        await client.raw.batchPut(Array.from({ length: 30 }, (_, j) => [`${acct(rng.nextInt(ACCOUNTS))}/f${i + j}`, 'x'] as const));
      }
    };
    const checkTotal = async (): Promise<void> => {
      const snap = await client.snapshot();
      const rows = await collect(snap.scan('bank/', prefixEnd('bank/')));
      const total = rows.filter((r) => !r.key.toString().includes('/f')).reduce((sum, r) => sum + Number(r.value.toString()), 0);
      assert.equal(total, TOTAL, `${REPLAY}: a snapshot saw ${total}`);
    };
    const regionsBefore = (await pdRegions()).length;
    const workers = [transfer(env.client(0)), transfer(env.client(1))];
    const fill = filler();
    try {
      await fill;
      await waitFor('the bank range to split', async () => ((await pdRegions()).length >= regionsBefore + 3 ? true : undefined), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 250 });
      for (let i = 0; i < 5; i++) await checkTotal();
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    await checkTotal();
    assert.ok(transfers > 10, `${REPLAY}: only ${transfers} transfers committed`);
    await waitFor('PD\'s view to tile the key space', async () => {
      assertTiling(await pdRegions(), REPLAY);
      return true;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
  });

  it('a store killed -9 and restarted loads every region the splits created and serves them', async () => {
    const before = await waitStoresAgree('the stores to settle');
    await env.cluster.killStore(1);
    // A put sent over a stream to the killed store before the client saw it die has an unknown
    // outcome and is not re-sent (client/errors.ts). This key has no other writer: putting it
    // again is safe, and it must succeed once the region has a live leader.
    for (let attempt = 1; ; attempt++) {
      try {
        await client.raw.put('restart/a', '1');
        break;
      } catch (err) {
        if (!(err instanceof OutcomeUnknownError) || attempt >= 3) throw err;
      }
    }
    await env.cluster.restartStore(1);
    const status = await env.cluster.storeStatus(1);
    const local = new Set((status['regions'] as RegionJson[]).map((r) => r.id));
    for (const r of before) assert.ok(local.has(r.id), `${REPLAY}: store 1 lost region ${r.id} across a restart`);
    await waitStoresAgree('the restarted store to catch up');
    const all = await collect(client.raw.scan('load/', prefixEnd('load/')));
    assert.ok(all.length >= 1_500, `${REPLAY}: ${all.length} load keys after the restart`);
    assert.equal((await client.raw.get('restart/a'))?.toString(), '1');
  });
});
