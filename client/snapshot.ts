// Reads at one timestamp (snapshot isolation's "snapshot"): get, batchGet and scan at `ts`, with
// locks met on the way resolved through the lock resolver. A transaction reads through one of
// these at its start_ts; `client.snapshot(ts)` hands one out directly. The set of transactions
// this snapshot may bypass grows as it meets them (their commit ts is known to be above `ts`).

import { u64ToWire, type Ts } from '../common/index.js';
import { toKey, toRange, keyId, type Bytes } from './bytes.js';
import { TimeoutError } from './errors.js';
import type { KvRpc, ReplicaRead } from './kv-rpc.js';
import type { LockResolver } from './lock-resolver.js';
import { scanBackward, scanForward, scanLimitOf, type KvPair, type RawScanOptions, type ScanPage } from './raw-client.js';
import { keyErrorToError, lockOf, type LockInfo } from './txn-wire.js';

export type ScanOptions = RawScanOptions;

/** Keys per BatchGet request. */
export const BATCH_GET_KEYS_MAX = 2_048;
/** Waits while a live lock blocks a read: from this, doubling, to LOCK_WAIT_MAX_MS. */
const LOCK_WAIT_MIN_MS = 5;
const LOCK_WAIT_MAX_MS = 500;

export class Snapshot {
  /** Live transactions known to commit above `ts`: their locks do not block this snapshot. */
  private readonly bypass = new Set<Ts>();

  constructor(
    private readonly rpc: KvRpc,
    private readonly resolver: LockResolver,
    readonly ts: Ts,
    private readonly timeoutMs: number,
    /** Where its reads run (kv-rpc.ts ReplicaRead). */
    readonly replicaRead: ReplicaRead = 'leader',
  ) {}

  async get(key: Bytes): Promise<Buffer | null> {
    return this.getKey(toKey(key));
  }

  async batchGet(keys: readonly Bytes[]): Promise<(Buffer | null)[]> {
    const ks = keys.map((k, i) => toKey(k, `keys[${i}]`));
    const found = await this.batchGetKeys(ks);
    return ks.map((k) => found.get(keyId(k)) ?? null);
  }

  scan(start: Bytes, end: Bytes | null, opts?: ScanOptions): AsyncIterable<KvPair> {
    const range = toRange(start, end);
    return this.scanRange(range, opts);
  }

  /** @internal Buffers already checked. */
  async getKey(key: Buffer): Promise<Buffer | null> {
    const deadlineMs = Date.now() + this.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const r = await this.rpc.withRegion(key, deadlineMs, (region) =>
        this.rpc.send(region, 'get', { key, version: u64ToWire(this.ts) }, { deadlineMs, idempotent: true, resolvedLocks: this.bypass, replicaRead: this.replicaRead }),
      );
      const lock = lockOf(r.error);
      if (lock !== null) {
        await this.onLocks([lock], attempt, deadlineMs);
        continue;
      }
      if (r.error !== null) throw keyErrorToError(r.error, this.ts);
      return r.notFound ? null : r.value;
    }
  }

  /** @internal The values found, by keyId; absent keys are not in the map. */
  async batchGetKeys(keys: readonly Buffer[]): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>();
    const deadlineMs = Date.now() + this.timeoutMs;
    let todo: Buffer[] = [...new Map(keys.map((k) => [keyId(k), k])).values()];
    for (let attempt = 0; todo.length > 0; attempt++) {
      const locks: LockInfo[] = [];
      const locked: Buffer[] = [];
      await this.rpc.forEachRegion(todo, deadlineMs, async (region, group) => {
        for (let i = 0; i < group.length; i += BATCH_GET_KEYS_MAX) {
          const part = group.slice(i, i + BATCH_GET_KEYS_MAX);
          const r = await this.rpc.send(region, 'batchGet', { keys: part, version: u64ToWire(this.ts) }, { deadlineMs, idempotent: true, resolvedLocks: this.bypass, replicaRead: this.replicaRead });
          if (r.error !== null) {
            // One error for the whole batch (the store stops at the first lock): retry all of it.
            const lock = lockOf(r.error);
            if (lock === null) throw keyErrorToError(r.error, this.ts);
            locks.push(lock);
            for (const k of part) locked.push(k);
            continue;
          }
          for (const p of r.pairs) {
            const lock = lockOf(p.error);
            if (lock !== null) {
              locks.push(lock);
              locked.push(p.key);
            } else if (p.error !== null) {
              throw keyErrorToError(p.error, this.ts);
            } else {
              found.set(keyId(p.key), p.value);
            }
          }
        }
      });
      if (locks.length > 0) await this.onLocks(locks, attempt, deadlineMs);
      todo = locked;
    }
    return found;
  }

  /** @internal */
  scanRange(range: { start: Buffer; end: Buffer }, opts: ScanOptions | undefined): AsyncIterable<KvPair> {
    const limit = scanLimitOf(opts);
    const keyOnly = opts?.keyOnly ?? false;
    const page: ScanPage = async (region, from, to, want, reverse, deadlineMs) => {
      for (let attempt = 0; ; attempt++) {
        const r = await this.rpc.send(region, 'scan', { startKey: from, endKey: to, limit: want, version: u64ToWire(this.ts), keyOnly, reverse }, { deadlineMs, idempotent: true, resolvedLocks: this.bypass, replicaRead: this.replicaRead });
        const locks: LockInfo[] = [];
        if (r.error !== null) {
          const lock = lockOf(r.error);
          if (lock === null) throw keyErrorToError(r.error, this.ts);
          locks.push(lock);
        }
        for (const p of r.pairs) {
          const lock = lockOf(p.error);
          if (lock !== null) locks.push(lock);
          else if (p.error !== null) throw keyErrorToError(p.error, this.ts);
        }
        if (locks.length === 0) return r.pairs.map((p) => ({ key: p.key, value: p.value }));
        await this.onLocks(locks, attempt, deadlineMs);
      }
    };
    return opts?.reverse === true ? scanBackward(this.rpc, range, limit, this.timeoutMs, page) : scanForward(this.rpc, range, limit, this.timeoutMs, page);
  }

  /** Resolves the locks met; waits when a live one still blocks (bounded by the deadline). */
  private async onLocks(locks: readonly LockInfo[], attempt: number, deadlineMs: number): Promise<void> {
    const outcome = await this.resolver.resolve(locks, this.ts, deadlineMs);
    for (const ts of outcome.bypass) this.bypass.add(ts);
    if (outcome.blocked === 0) return;
    const wait = Math.min(LOCK_WAIT_MAX_MS, LOCK_WAIT_MIN_MS * 2 ** Math.min(attempt, 10), Math.max(1, outcome.msUntilExpiry + 1));
    if (Date.now() + wait >= deadlineMs) {
      throw new TimeoutError(`read at ${this.ts}: ${outcome.blocked} key(s) stayed locked by a live transaction until the deadline`);
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

