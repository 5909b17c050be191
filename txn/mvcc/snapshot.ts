// What the transaction layer needs from a storage engine: a read-only view — either a true
// point-in-time snapshot, or a read view of the live state (see TxnEngine.readView for when that
// is enough). Keys are full engine keys (CF prefix included, see common/keyspace.ts). store/engine
// implements both over RocksDB and in memory.
//
// Reads are necessarily async in Node. Every await is a gap in which other commands may write:
// the snapshot itself never changes, but the engine behind it does. A command that reads from a
// snapshot and then writes must hold the latches of every key it writes from before it takes the
// snapshot until its modifications are applied (txn/latches.ts, txn/scheduler.ts).

import { type WriteOp } from '../../common/pure.js';

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
  /**
   * Values in the order of `keys` (null where absent). Reads the keys in that order — each no
   * earlier than the one before — or all at one point in time (RocksDB's getMany takes a DB
   * snapshot and reads in order; the in-memory engine reads synchronously): so a lock key placed
   * before a key's other records keeps lock-first within one call (mvcc/reader.ts).
   */
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]>;
  /** Up to `limit` entries with start ≤ key < end, ascending (or descending if isReverse). */
  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]>;
  /** Releases the pinned state; further reads fail. Idempotent. */
  release(): Promise<void>;
}

/**
 * One change to apply: common's one write vocabulary (`key` a full engine key, `cf` the typed CF
 * its prefix names). The txn name stays because actions speak of "modifications".
 */
export type Modification = WriteOp;

export interface WriteOptions {
  /** fsync the write-ahead log before resolving (durable across a machine crash). */
  readonly sync: boolean;
}

/** The engine surface the transaction scheduler drives (implemented by store/engine). */
export interface TxnEngine {
  /** A true point-in-time snapshot (pins engine state until released). */
  snapshot(): Promise<Snapshot>;
  /**
   * A view of the LIVE state: every call reads the state as it is then (a scan is consistent
   * within itself only); `release()` is a no-op. Not a snapshot. It gives the same answers as one
   * for the two uses txn/ makes of it, provided every reader reads a key's lock before its
   * write/latest/default records (MvccReader and actions/get.ts do):
   *   - MVCC reads at ts after a linearizable read barrier. A commit deletes the lock and adds the
   *     write and latest records in one atomic batch. A commit with commit_ts ≤ ts was prewritten
   *     before commit_ts was drawn, hence before ts, hence before the read barrier: its lock (or,
   *     if already committed, its write) is applied when the read starts. The reader reads the
   *     lock first: either it sees the lock (and is blocked by it, or the lock cannot commit at or
   *     below ts: min_commit_ts > ts, a lock-kind lock, its own or a bypassed pushed one), or the
   *     commit had already applied and its records are visible to the later reads. A commit that
   *     lands during the read has commit_ts > ts and is invisible at ts whichever records it sees.
   *   - Write commands under latches: every writer of the latched keys waits, so their records do
   *     not change under the command (GC, unlatched, only drops versions no reader at or above
   *     the safe point needs, and the latest record only under latches: actions/gc.ts).
   */
  readView(): Snapshot;
  write(modifications: readonly Modification[], options: WriteOptions): Promise<void>;
}
