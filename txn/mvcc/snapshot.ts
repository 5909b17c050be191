// What the transaction layer needs from a storage engine: a consistent, read-only, point-in-time
// view. Keys are full engine keys (CF prefix included, see common/keyspace.ts). store/engine
// implements it over RocksDB (an iterator pins a RocksDB snapshot) and in memory.
//
// Reads are necessarily async in Node. Every await is a gap in which other commands may write:
// the snapshot itself never changes, but the engine behind it does. A command that reads from a
// snapshot and then writes must hold the latches of every key it writes from before it takes the
// snapshot until its modifications are applied (txn/latches.ts, txn/scheduler.ts).

export interface KvEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface SnapshotScanOptions {
  /** Entries at most; ≥ 1. */
  readonly limit: number;
  /** Descending from just below `end` (needs a snapshot opened with reverse support). */
  readonly isReverse?: boolean;
}

export interface Snapshot {
  /** The value at `key`, or null. */
  get(key: Buffer): Promise<Buffer | null>;
  /** Values in the order of `keys` (null where absent). */
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]>;
  /** Up to `limit` entries with start ≤ key < end, ascending (or descending if isReverse). */
  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]>;
  /** Releases the pinned state; further reads fail. Idempotent. */
  release(): Promise<void>;
}

/** One change to apply. `key` is a full engine key; `cf` says which CF its prefix names. */
export type Modification =
  | { readonly kind: 'put'; readonly cf: string; readonly key: Buffer; readonly value: Buffer }
  | { readonly kind: 'delete'; readonly cf: string; readonly key: Buffer };

export interface WriteOptions {
  /** fsync the write-ahead log before resolving (durable across a machine crash). */
  readonly sync: boolean;
}

/** The engine surface the transaction scheduler drives (implemented by store/engine). */
export interface TxnEngine {
  snapshot(): Promise<Snapshot>;
  write(modifications: readonly Modification[], options: WriteOptions): Promise<void>;
}
