// Rebalance onto new stores (issue F7, tests section), real processes: 1 PD + 3 stores hold
// REGIONS regions with data (cut by PD's split operator at keys), then a 4th and a 5th store join.
// PD's balance-region and balance-leader spread the replicas and the leaders over the five stores
// (schedulers every 200 ms, store heartbeats every 300 ms) while bank transfers run through every
// move. Checked once PD has nothing left worth moving (no operator pending for a while):
//   - the bound of placement-driver/schedulers/balance.ts: every region weighs its 1 MiB floor
//     here, so at rest no store holds two replicas more than another (a move from the fullest
//     store is blocked only if each of its ~8 regions already has a replica on the emptiest);
//     leaders within 2 (a leader moves only to a store holding a replica of its region, so one
//     move may be blocked); each new store holds replicas and leads regions;
//   - PD's regions still tile the key space, each with 3 voters on 3 distinct stores and a leader;
//   - every raw key reads back with its exact value; every snapshot read during the moves summed to
//     the bank's total, and so does the final one.
// The time the moves took is logged (a figure for the note, not an assertion: no timings in tests).
//
// Replay: FLOTILLA_REBALANCE_SEED=<seed> node --test dist/test/store/rebalance.integration.test.js
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, CommitUnknownError, TxnAbortedError, WriteConflictError } from '../../client/index.js';
import { createRng, type Rng } from '../../common/index.js';
import { replicasAndLeaders, waitFor } from '../../deploy/index.js';
import { ClientTestEnv, CONDITION_TIMEOUT_MS, seedFrom } from '../support/client-cluster.js';
import { GC_ARGS } from '../support/store-regions.js';
import type { PdRegionJson } from '../support/store-cluster.js';

process.env['FLOTILLA_PD_SCHEDULE_INTERVAL_MS'] = '200';
process.env['FLOTILLA_PD_MEMBERSHIP_SETTLE_MS'] = '1000';
// A region just moved is left alone this long (30 s by default): the quiet time below must exceed it.
process.env['FLOTILLA_PD_REGION_COOLDOWN_MS'] = '1500';
const STORE_ARGS = [...GC_ARGS, '--pd-heartbeat-ms', '300'];

const SEED = seedFrom('FLOTILLA_REBALANCE_SEED');
const REPLAY = `seed ${SEED}; replay: FLOTILLA_REBALANCE_SEED=${SEED} node --test dist/test/store/rebalance.integration.test.js`;
const REGIONS = 12;
const RAW_KEYS_PER_REGION = 40;
const VALUE_BYTES = 1024;
const ACCOUNTS = 48;
const INITIAL_BALANCE = 1_000;
const TOTAL = ACCOUNTS * INITIAL_BALANCE;
const TRANSFER_WORKERS = 4;
/** PD has had nothing to do for this long (well past a region's cooldown): balanced as far as its rules go. */
const QUIET_MS = 4_000;

/** Region r's slice of the key space: raw keys and accounts both sort inside it. */
const slice = (r: number): string => `rb/${String(r).padStart(2, '0')}/`;
const rawKey = (r: number, i: number): Buffer => Buffer.from(`${slice(r)}raw/${String(i).padStart(4, '0')}`);
const account = (i: number): Buffer => Buffer.from(`${slice(i % REGIONS)}acct/${String(i).padStart(3, '0')}`);
const ACCOUNT_KEYS = Array.from({ length: ACCOUNTS }, (_, i) => account(i));
const valueOf = (key: Buffer): Buffer => {
  const v = Buffer.alloc(VALUE_BYTES, key.toString('hex'));
  v.write(key.toString(), 0);
  return v;
};

function balanceOf(v: Buffer | null | undefined, what: string): number {
  assert.ok(v !== null && v !== undefined, `${what}: an account is missing`);
  const n = Number(v.toString());
  assert.ok(Number.isSafeInteger(n) && n >= 0, `${what}: balance ${JSON.stringify(v.toString())}`);
  return n;
}

const range = (m: Map<number, number>): number => Math.max(...m.values()) - Math.min(...m.values());

describe('rebalance onto new stores, real processes', { timeout: 240_000 }, () => {
  let env: ClientTestEnv;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 3, extraStoreArgs: STORE_ARGS });
  });
  after(async () => {
    await env?.stop();
  });

  const pdRegions = (): Promise<PdRegionJson[]> => env.cluster.pdRegionsInKeyOrder<PdRegionJson>();
  const operatorsPending = (): Promise<number> => env.cluster.operatorsPending();

  it('a 4th and 5th store get their share of replicas and leaders; every key, and the bank total, survive the moves', async () => {
    const [loader, transferClient, reader] = env.clients as [Client, Client, Client];
    await env.cluster.splitAtKeys(Array.from({ length: REGIONS - 1 }, (_, i) => Buffer.from(slice(i + 1))), CONDITION_TIMEOUT_MS);
    for (let r = 0; r < REGIONS; r++) {
      const pairs = Array.from({ length: RAW_KEYS_PER_REGION }, (_, i): [Buffer, Buffer] => [rawKey(r, i), valueOf(rawKey(r, i))]);
      await loader.raw.batchPut(pairs);
    }
    await loader.withTransaction(async (txn) => {
      for (const key of ACCOUNT_KEYS) txn.put(key, String(INITIAL_BALANCE));
    });
    const before = await pdRegions();
    assert.equal(before.length, REGIONS, `${REPLAY}: ${before.length} regions after the splits`);

    // Bank transfers and snapshot sums through every move.
    let isDone = false;
    let transfers = 0;
    let snapshots = 0;
    const transfer = async (r: Rng): Promise<void> => {
      while (!isDone) {
        const from = r.nextInt(ACCOUNTS);
        const to = (from + 1 + r.nextInt(ACCOUNTS - 1)) % ACCOUNTS;
        try {
          await transferClient.withTransaction(async (txn) => {
            const [a, b] = await txn.batchGet([ACCOUNT_KEYS[from]!, ACCOUNT_KEYS[to]!]);
            const x = balanceOf(a, 'transfer');
            const y = balanceOf(b, 'transfer');
            const amount = Math.min(x, 1 + r.nextInt(20));
            txn.put(ACCOUNT_KEYS[from]!, String(x - amount));
            txn.put(ACCOUNT_KEYS[to]!, String(y + amount));
          });
          transfers++;
        } catch (err) {
          // Either way the total is conserved: a transfer that did not commit (or may have) moves nothing or all.
          if (!(err instanceof WriteConflictError || err instanceof TxnAbortedError || err instanceof CommitUnknownError)) throw err;
        }
      }
    };
    const sums = async (): Promise<void> => {
      while (!isDone) {
        const snap = await reader.snapshot();
        const values = await snap.batchGet(ACCOUNT_KEYS);
        const total = values.reduce((n, v, i) => n + balanceOf(v, `account ${i} at ${snap.ts}`), 0);
        assert.equal(total, TOTAL, `${REPLAY}: a snapshot at ${snap.ts} sums to ${total}`);
        snapshots++;
      }
    };
    const workers = [
      ...Array.from({ length: TRANSFER_WORKERS }, (_, i) => transfer(createRng(SEED + i + 1))),
      sums(),
    ].map((p) => p.catch((err: unknown) => {
      isDone = true;
      throw err;
    }));

    const startedMs = Date.now();
    await env.cluster.addStore();
    await env.cluster.addStore();
    const storeIds = env.cluster.stores.map((s) => s.id);
    const [fourth, fifth] = storeIds.slice(3) as [number, number];
    // A store joining a cluster that has moved on heartbeats at once: it used to wait 10 s for a
    // bootstrap region that would never list it, and PD placed nothing on it meanwhile.
    await waitFor('PD to hear from both new stores', async () => {
      const { stores } = (await env.cluster.pdApi('stores')).body as { stores: { id: number; lastHeartbeatMs: number }[] };
      return [fourth, fifth].every((id) => (stores.find((s) => s.id === id)?.lastHeartbeatMs ?? 0) > 0) ? true : undefined;
    }, { timeoutMs: 5_000 });
    // Balanced as far as PD's rules go: nothing pending for QUIET_MS, and both new stores used.
    let quietSince: number | null = null;
    let lastMoveMs = startedMs;
    let last = replicasAndLeaders(before, storeIds);
    await waitFor('PD to finish rebalancing onto the new stores', async () => {
      if (isDone) return true; // a worker failed: its error is the one to report
      const regions = await pdRegions();
      const now = replicasAndLeaders(regions, storeIds);
      if ([...now.replicas].some(([id, n]) => last.replicas.get(id) !== n) || [...now.leaders].some(([id, n]) => last.leaders.get(id) !== n)) lastMoveMs = Date.now();
      last = now;
      const isUsed = (now.replicas.get(fourth) ?? 0) > 0 && (now.replicas.get(fifth) ?? 0) > 0;
      if ((await operatorsPending()) > 0 || !isUsed) {
        quietSince = null;
        return undefined;
      }
      quietSince ??= Date.now();
      return Date.now() - quietSince >= QUIET_MS ? true : undefined;
    }, { timeoutMs: 150_000, intervalMs: 250 });
    isDone = true;
    await Promise.all(workers);
    const regions = await pdRegions();
    const { replicas, leaders } = replicasAndLeaders(regions, storeIds);
    console.log(`rebalance onto 2 new stores: ${REGIONS} regions, moves took ${((lastMoveMs - startedMs) / 1000).toFixed(1)} s; replicas per store ${[...replicas.values()].join(' ')}, leaders ${[...leaders.values()].join(' ')}; ${transfers} transfers and ${snapshots} snapshot sums ran through them`);
    const pdState = JSON.stringify({ stores: (await env.cluster.pdApi('stores')).body, schedulers: (await env.cluster.pdApi('schedulers')).body, events: (await env.cluster.pdApi('region-events')).body }).slice(0, 20_000);
    const show = `${REPLAY}: replicas ${JSON.stringify([...replicas])}, leaders ${JSON.stringify([...leaders])}; PD: ${pdState}`;
    assert.ok(range(replicas) <= 1, `replicas spread: ${show}`);
    assert.ok(range(leaders) <= 2, `leaders spread: ${show}`);
    for (const id of [fourth, fifth]) {
      assert.ok((replicas.get(id) ?? 0) >= Math.floor((REGIONS * 3) / storeIds.length) - 1, `new store ${id} holds too few replicas: ${show}`);
      assert.ok((leaders.get(id) ?? 0) >= 1, `new store ${id} leads no region: ${show}`);
    }
    // Still one tiling of the key space, each region with 3 voters on 3 stores and a leader.
    assert.equal(regions[0]!.startKey, '');
    assert.equal(regions.at(-1)!.endKey, '');
    for (let i = 0; i + 1 < regions.length; i++) assert.equal(regions[i]!.endKey, regions[i + 1]!.startKey, `${REPLAY}: gap or overlap after region ${regions[i]!.id}`);
    for (const r of regions) {
      const voters = r.peers.filter((p) => p.role === 'voter').map((p) => p.storeId);
      assert.equal(new Set(voters).size, 3, `${REPLAY}: region ${r.id} has voters on ${JSON.stringify(voters)}`);
      assert.ok(r.peers.some((p) => p.id === r.leaderPeerId), `${REPLAY}: region ${r.id} has no leader on PD`);
    }
    // Every raw key with its exact value, and the bank's total at a fresh snapshot.
    for (let r = 0; r < REGIONS; r++) {
      const keys = Array.from({ length: RAW_KEYS_PER_REGION }, (_, i) => rawKey(r, i));
      const values = await reader.raw.batchGet(keys);
      for (const [i, key] of keys.entries()) assert.ok(values[i]?.equals(valueOf(key)) === true, `${REPLAY}: raw key ${key.toString()} reads ${values[i] === null ? 'nothing' : 'another value'}`);
    }
    const final = await (await reader.snapshot()).batchGet(ACCOUNT_KEYS);
    assert.equal(final.reduce((n, v, i) => n + balanceOf(v, `final account ${i}`), 0), TOTAL, REPLAY);
    assert.ok(transfers > 0 && snapshots > 0, `${REPLAY}: ${transfers} transfers, ${snapshots} snapshots ran`);
  });
});
