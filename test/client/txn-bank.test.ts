// Bank transfers through the client library (issue F6) against a real cluster (1 PD + 3 stores as
// processes). Accounts are spread over many keys (an emptied account is deleted, a credited one
// created again); several Client instances transfer concurrently via withTransaction, with a hot
// set of accounts so that transfers conflict and retry. Meanwhile readers take snapshots (fresh,
// at a chosen ts, and read-only transactions) through batchGet and scan: every snapshot's total
// is the initial total, and a snapshot read again later at the same ts gives the same balances.
// At the end the total is exact and every account equals a reference model built from the
// transfers that reported success; those that failed (WriteConflict after the retries,
// TxnAborted) had no effect; those with an unknown outcome (CommitUnknown) may go either way,
// and some choice of them must explain the balances.
//
// Replay: FLOTILLA_CLIENT_SEED=<seed> node --test dist/test/client/txn-bank.test.js
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Client, CommitUnknownError, TxnAbortedError, WriteConflictError } from '../../client/index.js';
import { createRng, type Rng } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { b, ClientTestEnv, collect, CONDITION_TIMEOUT_MS, PercolatorProbe, prefixEnd, seedFrom } from '../support/client-cluster.js';

const SEED = seedFrom('FLOTILLA_CLIENT_SEED');
const REPLAY = `seed ${SEED}; replay: FLOTILLA_CLIENT_SEED=${SEED} node --test dist/test/client/txn-bank.test.js`;
const ACCOUNTS = 40;
const HOT_ACCOUNTS = 4;
const INITIAL_BALANCE = 100;
const TOTAL = ACCOUNTS * INITIAL_BALANCE;
const WORKERS_PER_CLIENT = 2;
const TRANSFERS_PER_WORKER = 20;
const PREFIX = 'bank/acct/';
/** Unknown outcomes whose subsets the final check searches at most (2^16 combinations). */
const UNKNOWN_MAX = 16;

const accountKey = (i: number): string => `${PREFIX}${String(i).padStart(3, '0')}`;
const KEYS = Array.from({ length: ACCOUNTS }, (_, i) => accountKey(i));

/** A stored balance: a missing key is an empty account. */
function balanceOf(v: Buffer | null | undefined, what: string): number {
  if (v === null || v === undefined) return 0;
  const n = Number(v.toString());
  assert.ok(Number.isSafeInteger(n) && n > 0, `${what}: balance ${JSON.stringify(v.toString())} is not a positive integer (empty accounts are deleted)`);
  return n;
}

interface Transfer {
  readonly from: number;
  readonly to: number;
  /** The amount the attempt that reached the commit moved (0 = a read-only no-op). */
  amount: number;
  outcome: 'ok' | 'failed' | 'unknown';
}

describe('bank transfers through the client (1 PD + 3 stores)', { timeout: 20 * 60_000 }, () => {
  let env: ClientTestEnv;

  before(async () => {
    env = await ClientTestEnv.start({ clients: 3 });
  });
  after(async () => {
    await env?.stop();
  });

  it(`concurrent transfers keep every snapshot's total; final balances match the committed transfers (${REPLAY})`, async (ctx) => {
    const rng = createRng(SEED);
    const setup = await env.client(0).begin();
    for (const k of KEYS) setup.put(k, String(INITIAL_BALANCE));
    await setup.commit();

    const transfers: Transfer[] = [];
    let attempts = 0;
    let deletesCommitted = 0;
    let transfersDone = false;

    const pickAccount = (r: Rng): number => (r.chance(0.5) ? r.nextInt(HOT_ACCOUNTS) : r.nextInt(ACCOUNTS));
    const transferWorker = async (c: Client, r: Rng): Promise<void> => {
      for (let n = 0; n < TRANSFERS_PER_WORKER; n++) {
        const from = pickAccount(r);
        let to = pickAccount(r);
        if (to === from) to = (from + 1 + r.nextInt(ACCOUNTS - 1)) % ACCOUNTS;
        const wanted = r.chance(0.1) ? Number.MAX_SAFE_INTEGER : 1 + r.nextInt(30); // sometimes empty the account
        const useBatchGet = r.chance(0.5);
        const transfer: Transfer = { from, to, amount: 0, outcome: 'failed' };
        transfers.push(transfer);
        let deletes = false;
        try {
          transfer.amount = await c.withTransaction(async (txn) => {
            attempts++;
            const [fromValue, toValue] = useBatchGet ? await txn.batchGet([KEYS[from]!, KEYS[to]!]) : [await txn.get(KEYS[from]!), await txn.get(KEYS[to]!)];
            const fromBalance = balanceOf(fromValue, `transfer ${from}→${to} reading ${from}`);
            const toBalance = balanceOf(toValue, `transfer ${from}→${to} reading ${to}`);
            const amount = Math.min(wanted, fromBalance);
            transfer.amount = amount; // the last attempt's amount is the one that commits (or not)
            deletes = amount > 0 && amount === fromBalance;
            if (amount === 0) return 0;
            if (deletes) txn.delete(KEYS[from]!);
            else txn.put(KEYS[from]!, String(fromBalance - amount));
            txn.put(KEYS[to]!, String(toBalance + amount));
            return amount;
          }, { maxRetries: 30 });
          transfer.outcome = 'ok';
          if (deletes) deletesCommitted++;
        } catch (err) {
          if (err instanceof WriteConflictError || err instanceof TxnAbortedError) transfer.outcome = 'failed';
          else if (err instanceof CommitUnknownError) transfer.outcome = 'unknown';
          else throw err;
        }
      }
    };

    // Readers: every view must hold the whole total; a view read again at the same ts must not change.
    const readerChecks = { duringTransfers: 0, repeatedAtOldTs: 0 };
    const views: { ts: bigint; balances: number[] }[] = [];
    const readView = async (c: Client, ts: bigint, how: 'batchGet' | 'scan'): Promise<number[]> => {
      const snap = await c.snapshot(ts);
      if (how === 'batchGet') {
        const values = await snap.batchGet(KEYS);
        return values.map((v, i) => balanceOf(v, `snapshot at ${ts}, account ${i}`));
      }
      const rows = await collect(snap.scan(PREFIX, prefixEnd(PREFIX)));
      const balances = Array<number>(ACCOUNTS).fill(0);
      let previous = '';
      for (const row of rows) {
        const key = row.key.toString();
        assert.ok(key > previous, `scan at ${ts}: ${key} after ${previous}`);
        previous = key;
        const i = KEYS.indexOf(key);
        assert.ok(i >= 0, `scan at ${ts}: unknown key ${key}`);
        balances[i] = balanceOf(row.value, `scan at ${ts}, ${key}`);
      }
      return balances;
    };
    const sum = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0);
    const reader = async (c: Client, r: Rng): Promise<void> => {
      for (let n = 0; !transfersDone; n++) {
        const mode = n % 4;
        if (mode === 3) {
          // A read-only transaction sees one snapshot too.
          const txn = await c.begin();
          const balances = (await txn.batchGet(KEYS)).map((v, i) => balanceOf(v, `read-only txn at ${txn.startTs}, account ${i}`));
          assert.equal(sum(balances), TOTAL, `read-only txn at ${txn.startTs}: total ${sum(balances)} (${REPLAY})`);
          await txn.rollback();
        } else if (mode === 2 && views.length > 0) {
          // Again at an old ts, after more transfers committed (and their locks were met and resolved).
          const old = views[r.nextInt(views.length)]!;
          const again = await readView(c, old.ts, r.chance(0.5) ? 'batchGet' : 'scan');
          assert.deepEqual(again, old.balances, `a snapshot at ${old.ts} read again changed (${REPLAY})`);
          readerChecks.repeatedAtOldTs++;
        } else {
          const ts = await c.currentTimestamp();
          const balances = await readView(c, ts, mode === 0 ? 'batchGet' : 'scan');
          assert.equal(sum(balances), TOTAL, `snapshot at ${ts} (${mode === 0 ? 'batchGet' : 'scan'}): total ${sum(balances)}, balances ${balances.join(',')} (${REPLAY})`);
          views.push({ ts, balances });
        }
        if (!transfersDone) readerChecks.duringTransfers++;
      }
    };

    const workers = env.clients.flatMap((c) => Array.from({ length: WORKERS_PER_CLIENT }, () => transferWorker(c, rng.fork())));
    const readers = [reader(env.client(0), rng.fork()), reader(env.client(2), rng.fork())];
    try {
      await Promise.all(workers);
    } finally {
      transfersDone = true;
    }
    await Promise.all(readers);

    // Final balances, through both read paths.
    const finalBatch = await readView(env.client(1), await env.client(1).currentTimestamp(), 'batchGet');
    const finalScan = await readView(env.client(2), await env.client(2).currentTimestamp(), 'scan');
    assert.deepEqual(finalScan, finalBatch);
    assert.equal(sum(finalBatch), TOTAL, `final total (${REPLAY})`);

    // The reference model: initial balances plus the committed transfers, plus some subset of the unknown ones.
    const model = Array<number>(ACCOUNTS).fill(INITIAL_BALANCE);
    for (const t of transfers) {
      if (t.outcome !== 'ok') continue;
      model[t.from]! -= t.amount;
      model[t.to]! += t.amount;
    }
    const unknown = transfers.filter((t) => t.outcome === 'unknown' && t.amount > 0);
    assert.ok(unknown.length <= UNKNOWN_MAX, `${unknown.length} transfers with an unknown outcome on a healthy cluster: too many to check (${REPLAY})`);
    let explained = false;
    for (let mask = 0; mask < 1 << unknown.length && !explained; mask++) {
      const candidate = [...model];
      unknown.forEach((t, i) => {
        if ((mask & (1 << i)) === 0) return;
        candidate[t.from]! -= t.amount;
        candidate[t.to]! += t.amount;
      });
      explained = candidate.every((x, i) => x === finalBatch[i]);
    }
    const diff = model.map((x, i) => [i, x, finalBatch[i]] as const).filter(([, x, y]) => x !== y);
    assert.ok(explained, `final balances differ from the committed transfers (account, model, stored): ${JSON.stringify(diff)}; ${unknown.length} unknown (${REPLAY})`);

    // No transaction left a lock behind.
    const probe = new PercolatorProbe(env.cluster);
    await waitFor('no locks left in the bank', async () => ((await probe.scanLocks(b(PREFIX), prefixEnd(PREFIX), (1n << 64n) - 1n)).length === 0 ? true : undefined), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

    // A run that proves nothing fails.
    const ok = transfers.filter((t) => t.outcome === 'ok');
    const coverage = { transfers: transfers.length, ok: ok.length, moved: ok.filter((t) => t.amount > 0).length, failed: transfers.filter((t) => t.outcome === 'failed').length, unknown: unknown.length, attempts, deletesCommitted, ...readerChecks };
    ctx.diagnostic(`coverage ${JSON.stringify(coverage)}`);
    assert.ok(ok.length >= transfers.length / 2, `too few transfers committed: ${JSON.stringify(coverage)} (${REPLAY})`);
    assert.ok(attempts > transfers.length, `no transfer was retried, so none conflicted: ${JSON.stringify(coverage)} (${REPLAY})`);
    assert.ok(deletesCommitted >= 1, `no account was emptied: ${JSON.stringify(coverage)} (${REPLAY})`);
    assert.ok(readerChecks.duringTransfers >= 4 && readerChecks.repeatedAtOldTs >= 1, `too few reads during the transfers: ${JSON.stringify(coverage)} (${REPLAY})`);
  });
});
