// One optimistic transaction: reads at start_ts through a Snapshot (seeing its own buffered
// writes first), writes buffered in memory until commit(), which runs the Committer. States:
//
//   active ──commit()──► committing ──► committed | failed
//     └──rollback()──► rolledBack
//
// Nothing reaches a store before commit(), so rollback() of an active transaction only drops the
// buffer. Any call on a finished transaction is an InvalidArgumentError.

import type { Ts } from '../common/index.js';
import { keyId, toKey, toRange, toValue, type Bytes } from './bytes.js';
import { Committer, type CommitterDeps, type Mutation } from './committer.js';
import { InvalidArgumentError } from './errors.js';
import type { ClientMetrics } from './metrics.js';
import type { KvPair } from './raw-client.js';
import { scanLimitOf } from './raw-client.js';
import type { ScanOptions, Snapshot } from './snapshot.js';

/** Buffered writes one transaction may hold (TiKV's default txn-total-size is similar in spirit). */
export const TXN_MUTATIONS_MAX = 1_000_000;

type State = 'active' | 'committing' | 'committed' | 'failed' | 'rolledBack';

/** The one buffer every empty value is held as (zero bytes: nothing in it can change). */
const EMPTY_VALUE = Buffer.alloc(0);

export class Transaction {
  /**
   * The buffered writes by key (keyId: latin1, so string order is byte order), each its value or
   * null for a delete. No key Buffer nor record per write: a transaction of TXN_MUTATIONS_MAX
   * small writes holds ~100 MB less than with them (key Buffers are made again at commit).
   */
  private readonly writes = new Map<string, Buffer | null>();
  private state: State = 'active';

  constructor(
    private readonly snapshot: Snapshot,
    private readonly committerDeps: CommitterDeps,
    private readonly metrics: ClientMetrics,
  ) {}

  get startTs(): Ts {
    return this.snapshot.ts;
  }

  private checkActive(what: string): void {
    if (this.state !== 'active') throw new InvalidArgumentError(`${what}: transaction ${this.startTs} is ${this.state}`);
  }

  async get(key: Bytes): Promise<Buffer | null> {
    this.checkActive('get');
    const k = toKey(key);
    const own = this.writes.get(keyId(k));
    if (own !== undefined) return own;
    return this.snapshot.getKey(k);
  }

  async batchGet(keys: readonly Bytes[]): Promise<(Buffer | null)[]> {
    this.checkActive('batchGet');
    const ks = keys.map((k, i) => toKey(k, `keys[${i}]`));
    const toRead = ks.filter((k) => !this.writes.has(keyId(k)));
    const found = toRead.length === 0 ? new Map<string, Buffer>() : await this.snapshot.batchGetKeys(toRead);
    return ks.map((k) => {
      const id = keyId(k);
      const own = this.writes.get(id);
      return own !== undefined ? own : (found.get(id) ?? null);
    });
  }

  /** The snapshot's pairs merged with this transaction's own writes (puts shown, deletes hidden). */
  scan(start: Bytes, end: Bytes | null, opts?: ScanOptions): AsyncIterable<KvPair> {
    this.checkActive('scan');
    const range = toRange(start, end);
    const limit = scanLimitOf(opts);
    const reverse = opts?.reverse === true;
    const keyOnly = opts?.keyOnly === true;
    const startId = keyId(range.start);
    const endId = range.end.length === 0 ? null : keyId(range.end);
    const ids = [...this.writes.keys()].filter((id) => id >= startId && (endId === null || id < endId)).sort();
    if (reverse) ids.reverse();
    const own = ids.map((id): Mutation => ({ key: Buffer.from(id, 'latin1'), value: this.writes.get(id)! }));
    // Ask the store for enough pairs that deleted own keys cannot starve the limit.
    const deletes = own.filter((m) => m.value === null).length;
    const stored = this.snapshot.scanRange(range, { ...opts, limit: limit === Number.POSITIVE_INFINITY ? undefined : limit + deletes });
    return mergeScan(stored, own, limit, reverse, keyOnly);
  }

  put(key: Bytes, value: Bytes): void {
    this.checkActive('put');
    this.buffer(toKey(key), toValue(value));
  }

  delete(key: Bytes): void {
    this.checkActive('delete');
    this.buffer(toKey(key), null);
  }

  private buffer(key: Buffer, value: Buffer | null): void {
    const id = keyId(key);
    if (!this.writes.has(id) && this.writes.size >= TXN_MUTATIONS_MAX) throw new InvalidArgumentError(`a transaction may write at most ${TXN_MUTATIONS_MAX} keys`);
    this.writes.set(id, value !== null && value.length === 0 ? EMPTY_VALUE : value);
  }

  /** Commits the buffered writes; resolves with the commit ts (start_ts when nothing was written). */
  async commit(): Promise<Ts> {
    this.checkActive('commit');
    this.state = 'committing';
    if (this.writes.size === 0) {
      this.state = 'committed';
      return this.startTs;
    }
    try {
      const commitTs = await new Committer(this.committerDeps, this.startTs, [...this.writes].map(([id, value]): Mutation => ({ key: Buffer.from(id, 'latin1'), value }))).commit();
      this.state = 'committed';
      this.metrics.txns.committed.inc();
      return commitTs;
    } catch (err) {
      this.state = 'failed';
      const code = err instanceof Error && 'code' in err ? String(err.code) : 'error';
      this.metrics.txns[code === 'WriteConflict' ? 'conflict' : code === 'TxnAborted' ? 'aborted' : code === 'CommitUnknown' ? 'unknown' : 'error'].inc();
      throw err;
    }
  }

  /** Drops the buffered writes (nothing was sent). A finished transaction: no-op if rolled back or failed. */
  async rollback(): Promise<void> {
    if (this.state === 'rolledBack' || this.state === 'failed') return;
    this.checkActive('rollback');
    this.state = 'rolledBack';
    this.writes.clear();
    this.metrics.txns.rolled_back.inc();
    return Promise.resolve();
  }

  /** Whether commit() or rollback() has run (withTransaction uses it). */
  get isFinished(): boolean {
    return this.state !== 'active';
  }
}

/**
 * Merges a store scan with the transaction's own writes (sorted in scan order), in scan order; own
 * writes win. `stored` must hold at least limit + (own deletes) pairs when it is cut short.
 * Exported for tests.
 */
export async function* mergeScan(stored: AsyncIterable<KvPair>, own: readonly Mutation[], limit: number, reverse: boolean, keyOnly: boolean): AsyncGenerator<KvPair> {
  let emitted = 0;
  let i = 0;
  const before = (a: Buffer, b: Buffer): boolean => (reverse ? Buffer.compare(a, b) > 0 : Buffer.compare(a, b) < 0);
  const emitOwn = function* (m: Mutation): Generator<KvPair> {
    if (m.value !== null) {
      emitted++;
      yield { key: m.key, value: keyOnly ? Buffer.alloc(0) : m.value };
    }
  };
  for await (const p of stored) {
    while (i < own.length && emitted < limit && before(own[i]!.key, p.key)) yield* emitOwn(own[i++]!);
    if (emitted >= limit) return;
    if (i < own.length && own[i]!.key.equals(p.key)) {
      yield* emitOwn(own[i++]!);
    } else {
      emitted++;
      yield p;
    }
    if (emitted >= limit) return;
  }
  while (i < own.length && emitted < limit) yield* emitOwn(own[i++]!);
}
