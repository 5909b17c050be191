// The storage engine surface the store uses: point and batch reads of the latest state,
// consistent snapshots and a read view of the live state (both txn's Snapshot), atomic write
// batches of common's WriteOps with an explicit sync flag, bounded range deletes, size estimates,
// and a clean close. Keys are full engine keys (common/keyspace.ts). Errors are
// FlotillaError('EngineError', …) with the binding's error as `cause`.

import { type WriteOp } from '../../common/index.js';
import { type Modification, type Snapshot, type TxnEngine, type WriteOptions } from '../../txn/index.js';

export type { Modification, Snapshot, WriteOp, WriteOptions };

export interface EngineWriteOptions extends WriteOptions {
  /**
   * What the row cache (row-cache.ts) does with the rows the write touches: 'set' (the default)
   * caches their new values — for rows that are read next, as a leader's are; 'invalidate' drops
   * them — cheaper, and holds no memory for rows nobody here reads (a follower's applies). Either
   * way every read stays exact; only what later reads find cached differs.
   */
  readonly cacheRows?: 'set' | 'invalidate';
}

export interface SnapshotOptions {
  /**
   * Whether `scan(…, { isReverse: true })` is needed. On RocksDB that takes a second iterator,
   * and both must pin the same point in time, so the snapshot waits for in-flight writes to land
   * and holds new ones back while it opens both. Forward-only snapshots never wait.
   */
  readonly isReverseEnabled?: boolean;
}

export interface EngineStats {
  /** Write batches applied. */
  readonly writeCount: number;
  /** Of which with sync (fsync of the WAL). */
  readonly syncWriteCount: number;
  /** Snapshots currently pinned. */
  readonly openSnapshotCount: number;
}

export interface DeleteRangeOptions {
  /** Delete at most this many keys (a bound on one call's work). */
  readonly limit: number;
}

export interface Engine extends TxnEngine {
  readonly kind: 'memory' | 'rocksdb';
  get(key: Buffer): Promise<Buffer | null>;
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]>;
  /** A true point-in-time view: pins engine state (on RocksDB an iterator) until released. */
  snapshot(options?: SnapshotOptions): Promise<Snapshot>;
  /**
   * A forward-only point-in-time view of the state as of this very call: no write can land
   * between the call and the view (the key-count recount after a split pins the state its apply
   * batch left, before the next batch). Throws EngineError once the engine is closed.
   */
  pinSnapshot(): Snapshot;
  /**
   * The LIVE state behind txn's Snapshot interface, for reads that need no snapshot (see
   * TxnEngine.readView for exactly when): get → a point get, multiGet → one batched get, scan → a
   * fresh iterator per call (consistent within that call, reverse allowed); release is a no-op and
   * nothing is pinned. Fails like the engine once it is closed.
   */
  readView(): Snapshot;
  /** Applies `ops` atomically, in order (a later one of the same key wins). */
  write(ops: readonly WriteOp[], options: EngineWriteOptions): Promise<void>;
  /**
   * Deletes keys in [start, end), at most `options.limit` of them. Returns how many it deleted on
   * the in-memory engine; RocksDB does not report a count, so it answers whether keys remain.
   */
  deleteRange(start: Buffer, end: Buffer, options: DeleteRangeOptions): Promise<{ readonly hasMore: boolean }>;
  /** Bytes the range occupies on disk (RocksDB: SST files only — flushed data); 0 when `end` <= `start`. */
  approximateSize(start: Buffer, end: Buffer): Promise<number>;
  /** Flushes and compacts the range (tests, and after large deletes). */
  compactRange(start: Buffer, end: Buffer): Promise<void>;
  readonly stats: EngineStats;
  readonly isClosed: boolean;
  /**
   * Ends every open snapshot (after the reads queued on it), stops read-view scans still running
   * (they fail with EngineError), then closes. Idempotent.
   */
  close(): Promise<void>;
}
