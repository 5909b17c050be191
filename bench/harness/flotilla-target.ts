// The BenchTarget for Flotilla, over client/: raw put/get/scan, and a transfer that is one
// Percolator transaction reading both balances at its start_ts and writing both. Accounts are
// transactional keys (a raw read does not see them), so this target also loads and sums them
// transactionally (AccountStore, accounts.ts).

import { Client, type ReplicaRead, TxnAbortedError, WriteConflictError } from '../../client/index.js';
import type { AccountStore } from './accounts.js';
import { decodeBalance, encodeBalance } from './balance.js';
import type { BenchTarget, TxnKeyLoader, TxnOutcome } from './target.js';

/** Accounts per preload transaction: one prewrite request per region stays well under limits. */
const ACCOUNTS_PER_LOAD_TXN = 1_000;
/** Account keys per snapshot batchGet when summing (the client's batch limit is 2,048). */
const ACCOUNTS_PER_READ = 1_000;

export class FlotillaTarget implements BenchTarget, AccountStore, TxnKeyLoader {
  readonly kind = 'flotilla' as const;

  private constructor(private readonly client: Client) {}

  static async open(pdEndpoints: readonly string[], options: { readonly replicaRead?: ReplicaRead } = {}): Promise<FlotillaTarget> {
    return new FlotillaTarget(await Client.connect({ pdEndpoints: [...pdEndpoints], replicaRead: options.replicaRead ?? 'leader' }));
  }

  async put(key: Buffer, value: Buffer): Promise<void> {
    await this.client.raw.put(key, value);
  }

  async get(key: Buffer): Promise<Buffer | null> {
    return this.client.raw.get(key);
  }

  async scan(start: Buffer, limit: number): Promise<number> {
    let count = 0;
    for await (const pair of this.client.raw.scan(start, null, { limit })) {
      void pair;
      count++;
    }
    return count;
  }

  /** A fresh start_ts from TSO, then one transactional get at it (a snapshot; nothing to commit). */
  async txnGet(key: Buffer): Promise<Buffer | null> {
    const snapshot = await this.client.snapshot();
    return snapshot.get(key);
  }

  async snapshotScan(start: Buffer, limit: number): Promise<number> {
    const snapshot = await this.client.snapshot();
    let count = 0;
    for await (const pair of snapshot.scan(start, null, { limit })) {
      void pair;
      count++;
    }
    return count;
  }

  async timestamp(): Promise<void> {
    await this.client.currentTimestamp();
  }

  async readModifyWrite(key: Buffer, modify: (old: Buffer | null) => Buffer): Promise<TxnOutcome> {
    const txn = await this.client.begin();
    try {
      txn.put(key, modify(await txn.get(key)));
      await txn.commit();
      return 'committed';
    } catch (err) {
      return abandoned(txn, err);
    }
  }

  async loadTxnKeys(keys: readonly Buffer[], value: Buffer): Promise<void> {
    for (let i = 0; i < keys.length; i += ACCOUNTS_PER_LOAD_TXN) {
      const chunk = keys.slice(i, i + ACCOUNTS_PER_LOAD_TXN);
      await this.client.withTransaction(async (txn) => {
        for (const key of chunk) txn.put(key, value);
      });
    }
  }

  async transfer(from: Buffer, to: Buffer, amount: number, valueBytes: number): Promise<TxnOutcome | 'insufficient'> {
    const txn = await this.client.begin();
    try {
      const [fromValue, toValue] = await txn.batchGet([from, to]);
      const fromBalance = balanceOf(fromValue, from);
      const toBalance = balanceOf(toValue, to);
      if (fromBalance < amount) {
        await txn.rollback();
        return 'insufficient';
      }
      txn.put(from, encodeBalance(fromBalance - amount, valueBytes));
      txn.put(to, encodeBalance(toBalance + amount, valueBytes));
      await txn.commit();
      return 'committed';
    } catch (err) {
      return abandoned(txn, err);
    }
  }

  async loadAccounts(keys: readonly Buffer[], balance: number, valueBytes: number): Promise<void> {
    await this.loadTxnKeys(keys, encodeBalance(balance, valueBytes));
  }


  /** The sum of every account's balance read at one snapshot (one start_ts). */
  async sumBalances(keys: readonly Buffer[]): Promise<number> {
    const snapshot = await this.client.snapshot();
    let total = 0;
    for (let i = 0; i < keys.length; i += ACCOUNTS_PER_READ) {
      const chunk = keys.slice(i, i + ACCOUNTS_PER_READ);
      const values = await snapshot.batchGet(chunk);
      for (const [j, value] of values.entries()) total += balanceOf(value, chunk[j]!);
    }
    return total;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * A transaction that did not commit because another won: a write conflict at prewrite, or its lock
 * rolled back by a reader that found it expired (TxnAborted). Both are safe to run again, as
 * Client.withTransaction does.
 */
function isConflict(err: unknown): boolean {
  return err instanceof WriteConflictError || err instanceof TxnAbortedError;
}

/** A balance is decimal digits padded with spaces (balance.ts); a missing account is an error (every account is preloaded). */
export function balanceOf(value: Buffer | null | undefined, key: Buffer): number {
  if (value === null || value === undefined) throw new Error(`account ${key.toString()} is missing`);
  const n = decodeBalance(value);
  if (n === null) throw new Error(`account ${key.toString()} holds ${value.toString().slice(0, 40)}, not an integer balance`);
  return n;
}

/** A failed attempt: rolled back if still open ('conflict' when it lost a write conflict); other errors rethrown. */
async function abandoned(txn: { readonly isFinished: boolean; rollback(): Promise<void> }, err: unknown): Promise<'conflict'> {
  if (!txn.isFinished) await txn.rollback().catch(() => undefined); // the original error is the one to report
  if (isConflict(err)) return 'conflict';
  throw err;
}
