// What a bench workload drives: one system under test, Flotilla or a peer (etcd), behind the same
// operations, so that one load generator measures both in the same run (issue F9). Workers open
// their own target from a serializable spec (they run in separate processes).

export type TargetSpec =
  | { readonly kind: 'flotilla'; readonly pdEndpoints: readonly string[] }
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[] };

export type TargetKind = TargetSpec['kind'];

export interface BenchTarget {
  readonly kind: TargetKind;
  /** A durable, linearizable single-key write (Flotilla: raw put; etcd: Put). */
  put(key: Buffer, value: Buffer): Promise<void>;
  /** A linearizable single-key read (Flotilla: raw get; etcd: Range of one key). null: absent. */
  get(key: Buffer): Promise<Buffer | null>;
  /** Up to `limit` pairs from `start` on, in key order; resolves with how many were read. */
  scan(start: Buffer, limit: number): Promise<number>;
  /**
   * Moves `amount` from account `from` to account `to` atomically when `from` holds at least that
   * much (balances are decimal strings). Flotilla: a Percolator transaction; etcd: a Txn that
   * compares both keys' mod revisions and puts both. Resolves 'committed', 'insufficient', or
   * 'conflict' (another writer won: the caller counts it and may retry).
   */
  transfer(from: Buffer, to: Buffer, amount: number): Promise<'committed' | 'insufficient' | 'conflict'>;
  close(): Promise<void>;
}
