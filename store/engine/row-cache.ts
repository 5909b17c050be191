// The row cache: the lock and latest CFs' rows in memory, in front of RocksDB (issue F5, "the read
// path"). Every transactional read and every prewrite looks up each key's lock and latest record
// by key; on a busy leader those point reads were a getMany round trip through the libuv pool per
// turn, ~11 % of its main thread under transfers. A hit answers in the same turn.
//
// What a read sees (RocksEngine's get/multiGet, the engine's read view):
//   - Writes are cached when they are SUBMITTED: every row an engine write touches is set (a
//     delete as a known absence) and pinned until the write lands. A row some write in flight
//     touches is always cached, and pinned.
//   - A read is answered from the cache only when ALL its keys are cached and none is pinned: then
//     every row holds what the writes that landed left, which RocksDB holds too. Otherwise the read
//     goes to RocksDB whole (one getMany, one moment), which may or may not show a write in flight.
//     So a read never sees an older state than one that completed before it (a write in flight
//     shows in RocksDB, never first in the cache) — txn/'s reads (a key's lock, then its records)
//     rely on that — and every read is one moment of the engine.
//   - A RocksDB answer fills the rows it lacked, unless the cache evicted or invalidated anything
//     since that getMany took its snapshot (`stamp`): a write that landed and was evicted in between
//     could be missing from the snapshot, and the fill would bring back an older row. Rows already
//     cached are never replaced by a fill (they are at least as new).
//   - Two writes in flight never touch the same key (the store's log writer and applier write
//     disjoint keys; RocksDB itself would not order them either).
//   - A write may instead invalidate its rows (a follower's applies: nobody here reads them, and
//     setting them costs a copy of every value): they leave the cache as it is submitted, and no
//     read fills anything until it has landed — like a range delete, below.
// Bounded by bytes; past the bound the oldest unpinned rows go (insertion order; a written row
// moves to the back). A copied value has a buffer of its own: a copy from Node's shared 8 KiB pool
// would keep that whole slab alive for as long as the row lives, far beyond the bytes counted.

import { CF_PREFIX, type WriteOp } from '../../common/index.js';

/** Bytes counted per row beyond its key and value (Map slot, row object, strings' headers). */
const ROW_OVERHEAD_BYTES = 96;
/** Bytes counted for a value copied into a buffer of its own (ArrayBuffer and backing store headers, malloc). */
const OWN_BUFFER_OVERHEAD_BYTES = 160;
/** An eviction pass brings the cache down to this share of its bound (not one row per insert). */
const EVICT_TO = 0.9;
/** A cached value holding on to a buffer this many times its size is copied (a slice of a batch). */
const COPY_WHEN_BACKING_TIMES = 4;

interface Row {
  readonly key: string;
  value: Buffer | null;
  /** Writes in flight that touch this row: never evicted while > 0. */
  pins: number;
  size: number;
}

export interface RowCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly rows: number;
  readonly bytes: number;
  readonly evictions: number;
}

/** Whether the row cache holds keys like this one: the lock and latest CFs. */
export function isCachedKey(key: Buffer): boolean {
  const p = key[0];
  return p === CF_PREFIX.lock || p === CF_PREFIX.latest;
}

/** Every cached key lies in [CACHED_KEYS_START, CACHED_KEYS_END) (latin1 strings of their bytes). */
const CACHED_KEYS_START = String.fromCharCode(Math.min(CF_PREFIX.lock, CF_PREFIX.latest));
const CACHED_KEYS_END = String.fromCharCode(Math.max(CF_PREFIX.lock, CF_PREFIX.latest) + 1);

function mapKey(key: Buffer): string {
  return key.toString('latin1');
}

/** `value`, or a copy in a buffer of its own when it holds on to a much larger one (a slice of a batch or of the pool). */
function owned(value: Buffer): Buffer {
  if (value.buffer.byteLength <= COPY_WHEN_BACKING_TIMES * value.length + 64) return value;
  const copy = Buffer.allocUnsafeSlow(value.length);
  value.copy(copy);
  return copy;
}

export class RowCache {
  private readonly rows = new Map<string, Row>();
  private bytes = 0;
  /** Evictions and invalidations so far: a fill is allowed only if none happened since its snapshot. */
  private changes = 0;
  /** Range deletes and invalidating writes in flight: no fills meanwhile. */
  private fillBlockers = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(readonly maxBytes: number) {}

  get stats(): RowCacheStats {
    return { hits: this.hits, misses: this.misses, rows: this.rows.size, bytes: this.bytes, evictions: this.evictions };
  }

  /** The stamp a RocksDB read takes as it takes its snapshot (see `fill`). */
  get stamp(): number {
    return this.changes;
  }

  /** Every key's value (null: known absent) when all are cached and no write in flight touches them; else undefined. */
  lookupAll(keys: readonly Buffer[]): (Buffer | null)[] | undefined {
    const out = new Array<Buffer | null>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const row = isCachedKey(key) ? this.rows.get(mapKey(key)) : undefined;
      if (row === undefined || row.pins > 0) {
        this.misses++;
        return undefined;
      }
      out[i] = row.value;
    }
    this.hits++;
    return out;
  }

  /**
   * A write is being submitted: its rows take their new values now, pinned until `endWrite`.
   * Returns the pinned rows (empty when the write touches no cached key).
   */
  beginWrite(ops: readonly WriteOp[]): readonly Row[] {
    let pinned: Row[] | null = null;
    for (const op of ops) {
      if (!isCachedKey(op.key)) continue;
      const k = mapKey(op.key);
      const old = this.rows.get(k);
      if (old !== undefined) {
        this.remove(old); // to the back: written rows are the ones read next
        old.pins++;
      }
      const row = this.add(k, op.kind === 'put' ? op.value : null, old?.pins ?? 1, old);
      (pinned ??= []).push(row);
    }
    if (pinned === null) return NO_ROWS;
    this.evictIfFull();
    return pinned;
  }

  /** The write landed (`isWritten`) or failed: its rows unpin; a failed write's rows are dropped. */
  endWrite(pinned: readonly Row[], isWritten: boolean): void {
    for (const row of pinned) {
      // The very rows this write pinned: one a range delete dropped meanwhile (and a fill may
      // have replaced) is no longer in the map and is left alone.
      row.pins--;
      if (!isWritten && row.pins === 0 && this.rows.get(row.key) === row) this.remove(row);
    }
    if (!isWritten && pinned.length > 0) this.changes++;
    this.evictIfFull();
  }

  /** A RocksDB answer read at `stamp`: caches the rows not cached yet, if nothing left the cache since. */
  fill(keys: readonly Buffer[], values: readonly (Buffer | null)[], stamp: number): void {
    if (stamp !== this.changes || this.fillBlockers > 0) return;
    let added = false;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (!isCachedKey(key)) continue;
      const k = mapKey(key);
      if (this.rows.has(k)) continue;
      this.add(k, values[i] ?? null, 0, undefined);
      added = true;
    }
    if (added) this.evictIfFull();
  }

  /**
   * A range delete of [start, end) is being submitted (outside `beginWrite`): its rows go, and no
   * read fills anything until it has landed (`endRangeDelete`) — a read may have taken its
   * snapshot before the delete and answer before it lands.
   */
  beginRangeDelete(start: Buffer, end: Buffer): void {
    this.changes++;
    this.fillBlockers++;
    // Row keys are latin1 strings: comparing them compares the bytes. Most range deletes (a
    // snapshot clears each CF's range) hold no cached CF and skip the walk.
    const from = start.toString('latin1');
    const to = end.toString('latin1');
    if (from >= CACHED_KEYS_END || to <= CACHED_KEYS_START) return;
    for (const [k, row] of this.rows) if (k >= from && k < to) this.remove(row);
  }

  /** The range delete landed (or failed): reads whose snapshot it may postdate must not fill. */
  endRangeDelete(): void {
    this.endFillBlock();
  }

  /**
   * A write is being submitted that invalidates its rows instead of setting them: they go now, and
   * no read fills anything until it has landed (`endInvalidate`), as for a range delete.
   */
  beginInvalidate(ops: readonly WriteOp[]): void {
    this.changes++;
    this.fillBlockers++;
    if (this.rows.size === 0) return;
    for (const op of ops) {
      if (!isCachedKey(op.key)) continue;
      const row = this.rows.get(mapKey(op.key));
      if (row !== undefined) this.remove(row);
    }
  }

  /** The invalidating write landed (or failed): reads whose snapshot it may postdate must not fill. */
  endInvalidate(): void {
    this.endFillBlock();
  }

  private endFillBlock(): void {
    this.fillBlockers--;
    this.changes++;
  }

  /** Sets a row at the back (reusing `reuse`, already removed, to keep its pins). */
  private add(key: string, v: Buffer | null, pins: number, reuse: Row | undefined): Row {
    const value = v === null ? null : owned(v);
    // A value with an ArrayBuffer of its own (copied here, or made so: txn's latest records) pays its headers.
    const size = key.length + (value?.length ?? 0) + ROW_OVERHEAD_BYTES + (value !== null && value.buffer.byteLength === value.length ? OWN_BUFFER_OVERHEAD_BYTES : 0);
    const row = reuse ?? { key, value, pins, size };
    row.value = value;
    row.size = size;
    this.rows.set(key, row);
    this.bytes += size;
    return row;
  }

  private remove(row: Row): void {
    this.rows.delete(row.key);
    this.bytes -= row.size;
  }

  private evictIfFull(): void {
    if (this.bytes <= this.maxBytes) return;
    const target = this.maxBytes * EVICT_TO;
    let evicted = false;
    for (const row of this.rows.values()) {
      if (this.bytes <= target) break;
      if (row.pins > 0) continue;
      this.remove(row);
      this.evictions++;
      evicted = true;
    }
    if (evicted) this.changes++;
  }
}

const NO_ROWS: readonly Row[] = Object.freeze([]);
