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
// Bounded by bytes; past the bound the oldest unpinned rows go (insertion order of their user
// keys; a written row's key moves to the back). A copied value has a buffer of its own: a copy
// from Node's shared 8 KiB pool would keep that whole slab alive for as long as the row lives,
// far beyond the bytes counted.
// A user key's lock and latest rows share one map entry (a Slot): every read and prewrite looks
// up both, and on a busy leader the probes, not the hashing, were the cost — ~8 % of its main
// thread in V8's map lookup, cold cache lines of a 20,000-entry map (perf, stop 52). The second
// probe of a key finds the entry the first one just brought into the cache.

import { CF_PREFIX, type WriteOp } from '../../common/index.js';

/** Bytes counted per row beyond its key and value (Map slot, row object, strings' headers). */
const ROW_OVERHEAD_BYTES = 96;
/** Bytes counted for a value copied into a buffer of its own (ArrayBuffer and backing store headers, malloc). */
const OWN_BUFFER_OVERHEAD_BYTES = 160;
/** An eviction pass brings the cache down to this share of its bound (not one row per insert). */
const EVICT_TO = 0.9;
/** A cached value holding on to a buffer this many times its size is copied (a slice of a batch). */
const COPY_WHEN_BACKING_TIMES = 4;

/** A cached row: one CF's value of one user key. */
interface Row {
  /** The slot it is in (rows.get(slot.key) === slot while it is cached). */
  readonly slot: Slot;
  readonly cf: CachedCf;
  value: Buffer | null;
  /** Writes in flight that touch this row: never evicted while > 0. */
  pins: number;
  size: number;
}

/** Which of a slot's two rows (the key's CF prefix): 0 lock, 1 latest. */
type CachedCf = 0 | 1;

/** One user key's rows, under the latin1 string of its key bytes after the CF prefix. */
interface Slot {
  readonly key: string;
  lock: Row | undefined;
  latest: Row | undefined;
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

/** The slot of a cached key: its bytes after the CF prefix (the user key's encoding), as latin1. */
function slotKey(key: Buffer): string {
  return key.toString('latin1', 1);
}

function cfOf(key: Buffer): CachedCf {
  return key[0] === CF_PREFIX.lock ? 0 : 1;
}

function rowOf(slot: Slot | undefined, cf: CachedCf): Row | undefined {
  return slot === undefined ? undefined : cf === 0 ? slot.lock : slot.latest;
}

function setRow(slot: Slot, cf: CachedCf, row: Row | undefined): void {
  if (cf === 0) slot.lock = row;
  else slot.latest = row;
}

function isInRange(k: string, from: string, to: string): boolean {
  return k >= from && k < to;
}

/** The full engine key of a slot's row, as a latin1 string (range deletes compare these). */
function fullKeyOf(slot: Slot, cf: CachedCf): string {
  return String.fromCharCode(cf === 0 ? CF_PREFIX.lock : CF_PREFIX.latest) + slot.key;
}

/** `value`, or a copy in a buffer of its own when it holds on to a much larger one (a slice of a batch or of the pool). */
function owned(value: Buffer): Buffer {
  if (value.buffer.byteLength <= COPY_WHEN_BACKING_TIMES * value.length + 64) return value;
  const copy = Buffer.allocUnsafeSlow(value.length);
  value.copy(copy);
  return copy;
}

export class RowCache {
  private readonly rows = new Map<string, Slot>();
  private rowCount = 0;
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
    return { hits: this.hits, misses: this.misses, rows: this.rowCount, bytes: this.bytes, evictions: this.evictions };
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
      const row = isCachedKey(key) ? rowOf(this.rows.get(slotKey(key)), cfOf(key)) : undefined;
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
      const k = slotKey(op.key);
      const cf = cfOf(op.key);
      let slot = this.rows.get(k);
      if (slot === undefined) {
        slot = { key: k, lock: undefined, latest: undefined };
      } else {
        this.rows.delete(k); // to the back: written rows are the ones read next
      }
      this.rows.set(k, slot);
      const old = rowOf(slot, cf);
      if (old !== undefined) {
        this.bytes -= old.size;
        this.rowCount--;
        old.pins++;
      }
      const row = this.put(slot, cf, op.kind === 'put' ? op.value : null, old, 1);
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
      if (!isWritten && row.pins === 0 && this.isCached(row)) this.remove(row);
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
      const k = slotKey(key);
      const cf = cfOf(key);
      let slot = this.rows.get(k);
      if (rowOf(slot, cf) !== undefined) continue;
      if (slot === undefined) {
        slot = { key: k, lock: undefined, latest: undefined };
        this.rows.set(k, slot);
      }
      this.put(slot, cf, values[i] ?? null, undefined, 0);
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
    for (const slot of this.rows.values()) {
      const { lock, latest } = slot;
      if (lock !== undefined && isInRange(fullKeyOf(slot, 0), from, to)) this.remove(lock);
      if (latest !== undefined && isInRange(fullKeyOf(slot, 1), from, to)) this.remove(latest);
    }
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
      const row = rowOf(this.rows.get(slotKey(op.key)), cfOf(op.key));
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

  /**
   * Sets the `cf` row of `slot` (already in the map) to `v`: `reuse` is the slot's row, already
   * taken off the counts, kept with its pins; otherwise a new row with `pins` (a write's: 1, a
   * fill's: 0).
   */
  private put(slot: Slot, cf: CachedCf, v: Buffer | null, reuse: Row | undefined, pins: number): Row {
    const value = v === null ? null : owned(v);
    // A value with an ArrayBuffer of its own (copied here, or made so: txn's latest records) pays its headers.
    const keyBytes = 1 + slot.key.length;
    const size = keyBytes + (value?.length ?? 0) + ROW_OVERHEAD_BYTES + (value !== null && value.buffer.byteLength === value.length ? OWN_BUFFER_OVERHEAD_BYTES : 0);
    const row = reuse ?? { slot, cf, value, pins, size };
    row.value = value;
    row.size = size;
    setRow(slot, cf, row);
    this.bytes += size;
    this.rowCount++;
    return row;
  }

  /** Whether `row` is the row its slot holds, and its slot the one in the map. */
  private isCached(row: Row): boolean {
    return this.rows.get(row.slot.key) === row.slot && rowOf(row.slot, row.cf) === row;
  }

  /** Takes a cached row out; its slot goes when it holds no row. */
  private remove(row: Row): void {
    const { slot } = row;
    setRow(slot, row.cf, undefined);
    if (slot.lock === undefined && slot.latest === undefined) this.rows.delete(slot.key);
    this.bytes -= row.size;
    this.rowCount--;
  }

  private evictIfFull(): void {
    if (this.bytes <= this.maxBytes) return;
    const target = this.maxBytes * EVICT_TO;
    let evicted = false;
    for (const slot of this.rows.values()) {
      if (this.bytes <= target) break;
      const { lock, latest } = slot;
      if (lock !== undefined && lock.pins === 0) {
        this.remove(lock);
        this.evictions++;
        evicted = true;
      }
      if (latest !== undefined && latest.pins === 0) {
        this.remove(latest);
        this.evictions++;
        evicted = true;
      }
    }
    if (evicted) this.changes++;
  }
}

const NO_ROWS: readonly Row[] = Object.freeze([]);
