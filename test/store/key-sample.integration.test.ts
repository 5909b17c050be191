// Sampled key counts (store/key-recount.ts `sample`), as a default cluster runs them: real
// processes (1 PD + 3 stores) without --region-key-count. PD's regions must show the keys a client
// can see — raw and transactional, after overwrites and deletes — within a few sample intervals,
// and after a split each piece its own share. Before sampling, every region reported 0 (the count
// last kept) whatever it held. And the sampled counts drive splits by key count
// (--region-split-keys), which needed exact counts before.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '../../client/index.js';
import { waitFor } from '../../deploy/index.js';
import { ClientTestEnv, CONDITION_TIMEOUT_MS } from '../support/client-cluster.js';
import { regionHolding } from '../support/store-cluster.js';

const STORE_ARGS = ['--pd-heartbeat-ms', '200', '--region-key-sample-ms', '300'];
/** Many sample intervals (300 ms), each a few heartbeats (200 ms): a count that has not come by then will not. */
const SAMPLE_TIMEOUT_MS = 20_000;

interface PdRegionKeys {
  readonly id: number;
  readonly startKey: string;
  readonly endKey: string;
  readonly approximateKeys: number;
}

/** Waits until PD's regions satisfy `expected`; the error says what they showed last. */
async function untilPdRegions(env: ClientTestEnv, what: string, expected: (rs: readonly PdRegionKeys[]) => boolean, timeoutMs: number): Promise<PdRegionKeys[]> {
  let last: PdRegionKeys[] = [];
  try {
    return await waitFor(what, async () => {
      last = await env.cluster.pdRegionsInKeyOrder<PdRegionKeys>();
      return expected(last) ? last : undefined;
    }, { timeoutMs, intervalMs: 100 });
  } catch (err) {
    throw new Error(`${(err as Error).message}; PD showed ${JSON.stringify(last.map((r) => ({ id: r.id, keys: r.approximateKeys })))}`, { cause: err });
  }
}

describe('sampled region key counts (no --region-key-count)', { timeout: 120_000 }, () => {
  let env: ClientTestEnv;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 1, extraStoreArgs: STORE_ARGS });
  });
  after(async () => {
    await env?.stop();
  });

  const untilPdShows = (what: string, expected: (rs: readonly PdRegionKeys[]) => boolean): Promise<PdRegionKeys[]> => untilPdRegions(env, what, expected, SAMPLE_TIMEOUT_MS);
  const total = (rs: readonly PdRegionKeys[]): number => rs.reduce((n, r) => n + r.approximateKeys, 0);

  it('PD shows the keys a client sees: raw and transactional, overwrites counted once, deletes taken away; after a split each piece its share', async () => {
    const client = env.clients[0] as Client;
    // The probes ClientTestEnv reads are absent keys: the region holds nothing yet.
    const raw = Array.from({ length: 300 }, (_, i) => `sample/raw/${String(i).padStart(3, '0')}`);
    for (let i = 0; i < raw.length; i += 100) await client.raw.batchPut(raw.slice(i, i + 100).map((k) => [k, 'v'] as const));
    await client.raw.batchPut(raw.slice(0, 50).map((k) => [k, 'again'] as const));
    await client.withTransaction(async (txn) => {
      for (let i = 0; i < 40; i++) txn.put(`sample/txn/${String(i).padStart(2, '0')}`, 't');
    });
    for (const k of raw.slice(250)) await client.raw.delete(k);
    const expected = 250 + 40;
    await untilPdShows(`PD to show ${expected} keys`, (rs) => total(rs) === expected);
    const samples = await Promise.all([0, 1, 2].map(async (i) => Number((await env.cluster.storeStatus(i))['keyCountSamples'] ?? 0)));
    assert.ok(samples.some((n) => n > 0), `no store reports a sample walk on /status: ${JSON.stringify(samples)}`);

    // A split at sample/raw/100: the piece below holds raw 000–099, the piece above the rest.
    await env.cluster.splitAtKeys([Buffer.from('sample/raw/100')], CONDITION_TIMEOUT_MS);
    const shown = await untilPdShows('each piece its share', (rs) => {
      const low = regionHolding(rs, Buffer.from('sample/raw/000'));
      const high = regionHolding(rs, Buffer.from('sample/raw/100'));
      return low !== undefined && high !== undefined && low.id !== high.id && low.approximateKeys === 100 && high.approximateKeys === 150 + 40;
    });
    assert.equal(total(shown), expected);
  });
});

describe('splits by sampled key counts (no --region-key-count)', { timeout: 120_000 }, () => {
  const SPLIT_KEYS = 100;
  let env: ClientTestEnv;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 1, extraStoreArgs: [...STORE_ARGS, '--region-split-keys', String(SPLIT_KEYS)] });
  });
  after(async () => {
    await env?.stop();
  });

  it('a region past the key limit splits until every piece is within it; every key reads back', async () => {
    const client = env.clients[0] as Client;
    const keys = Array.from({ length: 450 }, (_, i) => `split/${String(i).padStart(3, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await client.raw.batchPut(keys.slice(i, i + 50).map((k) => [k, `v${k}`] as const));
    await untilPdRegions(env, 'every region within the key limit, all keys counted', (rs) =>
      rs.reduce((n, r) => n + r.approximateKeys, 0) === keys.length && rs.length >= 5 && rs.every((r) => r.approximateKeys <= SPLIT_KEYS), CONDITION_TIMEOUT_MS);
    const values = await client.raw.batchGet(keys);
    assert.deepEqual(values.map((v) => v?.toString()), keys.map((k) => `v${k}`));
  });
});
