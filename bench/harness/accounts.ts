// Accounts of the transfer workload: loaded before the run and summed after it (the total must not
// change). A target whose transfers write where put/get do not reach (Flotilla: transactional
// keys, not raw ones) implements AccountStore; otherwise put and get are used (etcd: every key
// is one key space, and after the run no writer is left, so one get per account is consistent).

import { encodeBalance } from './balance.js';
import { balanceOf } from './flotilla-target.js';
import type { BenchTarget } from './target.js';

/** Every account's balance at the start. */
export const ACCOUNT_BALANCE_INITIAL = 1_000_000;
/** Puts in flight while loading through BenchTarget.put. */
const LOAD_CONCURRENCY = 64;

export interface AccountStore {
  /** Every account holds `balance`, as a value of `valueBytes` bytes (balance.ts). */
  loadAccounts(keys: readonly Buffer[], balance: number, valueBytes: number): Promise<void>;
  /** The sum of the balances, read at one consistent point. */
  sumBalances(keys: readonly Buffer[]): Promise<number>;
}

function isAccountStore(t: BenchTarget): t is BenchTarget & AccountStore {
  return typeof (t as Partial<AccountStore>).loadAccounts === 'function' && typeof (t as Partial<AccountStore>).sumBalances === 'function';
}

export async function loadAccounts(target: BenchTarget, keys: readonly Buffer[], balance: number, valueBytes: number): Promise<void> {
  if (isAccountStore(target)) return target.loadAccounts(keys, balance, valueBytes);
  const value = encodeBalance(balance, valueBytes);
  await forEachConcurrently(keys, LOAD_CONCURRENCY, (key) => target.put(key, value));
}

export async function sumBalances(target: BenchTarget, keys: readonly Buffer[]): Promise<number> {
  if (isAccountStore(target)) return target.sumBalances(keys);
  let total = 0;
  await forEachConcurrently(keys, LOAD_CONCURRENCY, async (key) => {
    // Not `total += balanceOf(await …)`: that reads `total` before the await, and concurrent
    // reads then overwrite each other's additions (an etcd run reported NOT CONSERVED for it).
    const balance = balanceOf(await target.get(key), key);
    total += balance;
  });
  return total;
}

/** Runs `fn` over `items` with at most `concurrency` calls in flight; the first failure rejects. */
export async function forEachConcurrently<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const loop = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, () => loop()));
}
