// Quiet regions (hibernation, issue F7) end to end, real processes: 1 PD + 3 stores with
// --raft-quiet-after-ticks, the key space split into many regions.
//   - idle regions go quiet on every store, and then the stores exchange almost no raft messages
//     (keepalives only; awake, the same regions would send hundreds of heartbeats a second);
//   - a poll round's raft messages to a store leave in one batch (messages per batch > 1);
//   - idle regions' approximate sizes are reused at their heartbeats, not measured on disk each time;
//   - a write and a read of a quiet region wake it and succeed;
//   - the store leading quiet regions is killed -9: their followers, woken by store liveness
//     (no message from that store), elect new leaders, and every region serves writes and reads.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Client } from '../../client/index.js';
import { waitFor } from '../../deploy/index.js';
import { b, ClientTestEnv, CONDITION_TIMEOUT_MS } from '../support/client-cluster.js';
import { httpJson } from '../support/pd-cluster.js';
import { storeMetric } from '../support/store-regions.js';

const REGIONS = 16;
// Sizes measured again only after a write here (a refresh every 10,000 heartbeats never comes).
const STORE_ARGS = ['--raft-quiet-after-ticks', '10', '--pd-heartbeat-ms', '500', '--region-size-refresh-beats', '10000'];

interface StoreRegionJson {
  readonly id: number;
  readonly isLeader: boolean;
  readonly isQuiet: boolean;
}

const keyOf = (i: number): string => `q/${String(i).padStart(3, '0')}`;

describe('quiet regions (1 PD + 3 stores)', { timeout: 5 * 60_000 }, () => {
  let env: ClientTestEnv;
  let client: Client;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 1, extraStoreArgs: STORE_ARGS });
    client = env.client(0);
    // PD's balancers would move leaders of the new regions (each move wakes a region): off here.
    const pdLeader = await env.cluster.pd.waitForLeader();
    for (const name of ['balance-leader', 'balance-region', 'hot-region']) {
      const off = await httpJson(env.cluster.pd.httpUrl(pdLeader, `schedulers/${name}`), { method: 'DELETE' });
      assert.equal(off.status, 200, JSON.stringify(off.body));
    }
    // REGIONS regions: the first region split at q/001 … q/015 through its leader's store.
    const cut = Array.from({ length: REGIONS - 1 }, (_, i) => b(keyOf(i + 1)).toString('hex'));
    await waitFor('the split', async () => {
      const leader = await env.cluster.waitForRegionLeader();
      const r = await httpJson(`http://${env.cluster.stores[leader.storeIndex]!.statusAddress}/region/split`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: leader.regionId, keys: cut }),
      }).catch(() => ({ status: 0, body: null }));
      return r.status === 200 ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    for (let i = 0; i < REGIONS; i++) await client.raw.put(keyOf(i), `v${i}`);
  });
  after(async () => {
    await env?.stop();
  });

  const regionsOf = async (i: number): Promise<StoreRegionJson[]> => (await env.cluster.storeStatus(i))['regions'] as StoreRegionJson[];

  const metricOf = (i: number, name: string, label = ''): Promise<number> => storeMetric(env.cluster.stores[i]!.statusAddress, name, label);
  const messagesSent = (i: number): Promise<number> => metricOf(i, 'flotilla_store_raft_messages_total', 'direction="sent"');

  const waitAllQuiet = (stores: readonly number[], what: string): Promise<true> => waitFor(what, async () => {
    for (const i of stores) {
      const regions = await regionsOf(i);
      if (regions.length < REGIONS || !regions.every((r) => r.isQuiet)) return undefined;
    }
    return true;
  }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

  it('idle regions go quiet on every store, and then the stores send almost no raft messages', async () => {
    await waitAllQuiet([0, 1, 2], 'every region on every store to go quiet');
    const before = await Promise.all([0, 1, 2].map(messagesSent));
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 2_000)); // a measurement window, not a wait for a condition
    const seconds = (Date.now() - started) / 1000;
    const sent = (await Promise.all([0, 1, 2].map(messagesSent))).map((n, i) => n - before[i]!);
    // Awake, REGIONS regions heartbeat 2 followers every 2 ticks of 50 ms: ~REGIONS × 20 messages a
    // second from the leaders alone. Quiet, only a wake (e.g. a PD order) may send a few.
    for (const n of sent) assert.ok(n / seconds < REGIONS, `a store sent ${n} raft messages in ${seconds.toFixed(1)} s while every region was quiet`);
  });

  it("a poll round's raft messages to a store leave in one batch: many regions' messages per batch", async () => {
    let messages = 0;
    let batchesSent = 0;
    let batchesReceived = 0;
    for (const i of [0, 1, 2]) {
      messages += await messagesSent(i);
      batchesSent += await metricOf(i, 'flotilla_store_raft_batches_total', 'direction="sent"');
      batchesReceived += await metricOf(i, 'flotilla_store_raft_batches_total', 'direction="received"');
    }
    assert.ok(batchesSent > 0 && batchesReceived > 0, `batches sent ${batchesSent}, received ${batchesReceived}`);
    // Every batch sent arrives (a healthy loopback cluster); the receiver may not have read the last few yet.
    assert.ok(batchesReceived <= batchesSent && batchesReceived >= batchesSent * 0.8, `batches sent ${batchesSent}, received ${batchesReceived}`);
    // The regions' heartbeats and appends of one round share a batch per destination store.
    assert.ok(messages >= 2 * batchesSent, `${messages} raft messages sent in ${batchesSent} batches`);
  });

  const sizeChecks = (i: number, how: 'measured' | 'reused'): Promise<number> => metricOf(i, 'flotilla_store_region_size_checks_total', `how="${how}"`);
  const sumOver = async (how: 'measured' | 'reused'): Promise<number> => (await Promise.all([0, 1, 2].map((i) => sizeChecks(i, how)))).reduce((a, x) => a + x, 0);

  it('idle regions are not measured on disk at their heartbeats (their last size is reused); a write has its region measured again', async () => {
    await waitAllQuiet([0, 1, 2], 'every region on every store to go quiet');
    // The last writes (before) may still be measured at a first heartbeat: then none is.
    let measured0 = await sumOver('measured');
    await waitFor('the measures after the last writes to end', async () => {
      const now = await sumOver('measured');
      const isSteady = now === measured0 && (await sumOver('reused')) > 0;
      measured0 = now;
      return isSteady ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 1_500 });
    const reused0 = await sumOver('reused');
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3_000)); // a measurement window, not a wait for a condition
    const beats = (Date.now() - started) / 500; // --pd-heartbeat-ms 500
    const [measured, reused] = [(await sumOver('measured')) - measured0, (await sumOver('reused')) - reused0];
    assert.equal(measured, 0, `${measured} measures of ${REGIONS} idle regions in ${beats.toFixed(1)} heartbeats`);
    assert.ok(reused >= REGIONS * (beats - 2) * 0.5, `only ${reused} reused sizes of ${REGIONS} idle regions in ${beats.toFixed(1)} heartbeats`);
    // A write: that region's next heartbeat measures it (nothing else measures here).
    for (let i = 0; i < REGIONS; i++) await client.raw.put(keyOf(i), `w${i}`);
    await waitFor('every written region to be measured again', async () => ((await sumOver('measured')) - measured0 >= REGIONS ? true : undefined), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
  });

  it('a write and a read of a quiet region wake it and succeed', async () => {
    await waitAllQuiet([0, 1, 2], 'every region to be quiet');
    await client.raw.put(keyOf(7), 'woken');
    assert.equal((await client.raw.get(keyOf(7)))?.toString(), 'woken');
    const snap = await client.snapshot();
    assert.equal(await snap.get('q/none'), null);
  });

  it('the store leading quiet regions is killed -9: the others elect new leaders and every region serves', async () => {
    await waitAllQuiet([0, 1, 2], 'every region to be quiet again');
    const leaders = await Promise.all([0, 1, 2].map(async (i) => (await regionsOf(i)).filter((r) => r.isLeader).length));
    const victim = leaders.indexOf(Math.max(...leaders));
    assert.ok(leaders[victim]! > 0);
    await env.cluster.killStore(victim);
    // Every region, including those the victim led while quiet, takes a write and reads it back.
    for (let i = 0; i < REGIONS; i++) {
      await client.raw.put(keyOf(i), `after-${i}`);
      assert.equal((await client.raw.get(keyOf(i)))?.toString(), `after-${i}`);
    }
    const survivors = [0, 1, 2].filter((i) => i !== victim);
    const led = await Promise.all(survivors.map(async (i) => (await regionsOf(i)).filter((r) => r.isLeader).length));
    assert.equal(led.reduce((a, n) => a + n, 0), REGIONS, `leaders on the survivors: ${led.join(', ')}`);
    await env.cluster.restartStore(victim);
    await waitAllQuiet([0, 1, 2], 'the regions to go quiet again after the restart');
  });
});
