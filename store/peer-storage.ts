// One region's raft log as raft reads it: synchronous answers from memory over a log that lives
// in RocksDB. Terms of every held entry are kept in memory (8 bytes each); entry data is kept in a
// cache whose size the store bounds across all regions (EntryCacheBudget) by evicting applied
// entries from the front. A read below the cache answers 'unavailable', loads that range from
// RocksDB in the background and calls `onLoaded`; the owner then calls RawNode.onStorageReady().
//
// The poll loop writes the log (raft-host readyPersistOps under this region's keys) and, once the
// write is durable, mirrors it here with append()/setHardState(). Nothing here writes to disk.
//
// Raft log GC (raft-log-gc.ts): applying CompactLog calls compactTo() at once, before the apply
// batch that deletes those entries from disk is written. The view here is then never wider than
// the disk (a crash before the write reloads the longer log, which is fine); raft reads below the
// new first index answer 'compacted', and a background load that raced with the compaction is
// dropped rather than taken for a hole in the log.

import { FlotillaError, raftHardStateKey, raftLogIndexOf, raftLogKey, raftLogRange } from '../common/index.js';
import { decodeEntry, type RaftKeyScheme } from '../raft-host/index.js';
import {
  type ConfState, type Entry, entrySizeBytes, type HardState, type RaftInitialState, type RaftStorage, type Snapshot,
  type StorageEntries, type StorageTerm,
} from '../raft/index.js';
import type { Engine } from './engine/index.js';

/** The store-wide bound on cached entry bytes, shared by every region's storage. */
export class EntryCacheBudget {
  bytes = 0;
  constructor(readonly limitBytes: number) {}
  get isOver(): boolean {
    return this.bytes > this.limitBytes;
  }
}

/** Entries read from disk in one background load at most. */
const LOAD_ENTRIES_MAX = 1_024;

export function regionKeyScheme(regionId: number): RaftKeyScheme {
  return { hardStateKey: raftHardStateKey(regionId), entryKey: (index) => raftLogKey(regionId, index), snapshotKey: null };
}

export interface PeerStorageState {
  readonly hardState: HardState;
  readonly confState: ConfState;
  readonly truncatedIndex: number;
  readonly truncatedTerm: number;
  /** Every entry after the truncated index, as loaded at start-up (terms kept; data cached while within budget). */
  readonly entries: readonly Entry[];
}

export class PeerStorage implements RaftStorage {
  readonly scheme: RaftKeyScheme;
  private hardState: HardState;
  private confState: ConfState;
  #truncatedIndex: number;
  #truncatedTerm: number;
  /** terms[i] is the term of entry truncatedIndex + 1 + i. */
  private terms: number[] = [];
  /** Cached entries: cache[i] is entry cacheFirst + i; cacheFirst ≥ truncatedIndex + 1. */
  private cache: Entry[] = [];
  private cacheFirst: number;
  private cacheBytes = 0;
  /** A range loaded from disk for a lagging reader, kept until the cache covers it again. */
  private loaded: { first: number; entries: Entry[] } | null = null;
  private loading = false;

  constructor(
    readonly regionId: number,
    private readonly engine: Engine,
    private readonly budget: EntryCacheBudget,
    state: PeerStorageState,
    private readonly onLoaded: () => void,
    private readonly onLoadError: (err: unknown) => void,
  ) {
    this.scheme = regionKeyScheme(regionId);
    this.hardState = state.hardState;
    this.confState = state.confState;
    this.#truncatedIndex = state.truncatedIndex;
    this.#truncatedTerm = state.truncatedTerm;
    this.cacheFirst = state.truncatedIndex + 1;
    this.append(state.entries);
  }

  // ---- RaftStorage ---------------------------------------------------------------------------

  initialState(): RaftInitialState {
    return { hardState: this.hardState, confState: this.confState };
  }

  firstIndex(): number {
    return this.truncatedIndex + 1;
  }

  lastIndex(): number {
    return this.truncatedIndex + this.terms.length;
  }

  term(i: number): StorageTerm {
    if (i < this.truncatedIndex) return 'compacted';
    if (i === this.truncatedIndex) return this.truncatedTerm;
    const t = this.terms[i - this.truncatedIndex - 1];
    if (t === undefined) throw new RangeError(`region ${this.regionId}: term(${i}) beyond last index ${this.lastIndex()}`);
    return t;
  }

  entries(lo: number, hi: number, maxBytes: number): StorageEntries {
    if (lo <= this.truncatedIndex) return 'compacted';
    if (hi > this.lastIndex() + 1) throw new RangeError(`region ${this.regionId}: entries hi ${hi} beyond last index ${this.lastIndex()}`);
    if (lo >= this.cacheFirst) return limit(this.cache, lo - this.cacheFirst, hi - this.cacheFirst, maxBytes);
    const l = this.loaded;
    if (l !== null && lo >= l.first && lo < l.first + l.entries.length) {
      return limit(l.entries, lo - l.first, Math.min(hi, l.first + l.entries.length) - l.first, maxBytes);
    }
    this.startLoad(lo, Math.min(hi, this.cacheFirst, lo + LOAD_ENTRIES_MAX));
    return 'unavailable';
  }

  snapshot(minIndex: number): Snapshot | 'unavailable' {
    // Region snapshots are generated in the background from a pinned RocksDB snapshot
    // (store/snapshot/generator.ts); raft is told through onStorageReady() when one is ready.
    // A snapshot older than the compacted prefix would leave the follower needing another at
    // once (its next entries are gone): ask for one at least at the truncated index.
    return this.snapshotSource?.(Math.max(minIndex, this.#truncatedIndex)) ?? 'unavailable';
  }

  /** Where snapshot() gets region snapshots (the store sets it; none: 'unavailable'). */
  snapshotSource: ((minIndex: number) => Snapshot | 'unavailable') | null = null;

  /**
   * Mirrors an installed region snapshot (store/snapshot/apply.ts wrote it durably): the log is
   * empty up to `index` (of `term`), membership is the snapshot's. Entries after it are appended
   * by the caller.
   */
  installSnapshot(index: number, term: number, confState: ConfState, hardState: HardState): void {
    this.dropCache();
    this.loaded = null;
    this.terms = [];
    this.#truncatedIndex = index;
    this.#truncatedTerm = term;
    this.cacheFirst = index + 1;
    this.confState = confState;
    this.hardState = hardState;
  }

  // ---- the log's compacted prefix --------------------------------------------------------------

  get truncatedIndex(): number {
    return this.#truncatedIndex;
  }

  get truncatedTerm(): number {
    return this.#truncatedTerm;
  }

  /**
   * Drops entries up to and including `index` (raft log GC), whose term must be `term`: their
   * terms, cached data and any loaded range. Precondition: index ≤ the applied index, which is
   * ≤ the last index. A no-op when `index` is at or below the truncated index already.
   */
  compactTo(index: number, term: number): void {
    if (index <= this.#truncatedIndex) return;
    if (index > this.lastIndex()) throw new RangeError(`region ${this.regionId}: compact to ${index} beyond the last index ${this.lastIndex()}`);
    const held = this.term(index);
    if (held !== term) throw new FlotillaError('Internal', `region ${this.regionId}: compact to ${index} of term ${term}, but the log has term ${String(held)} there`);
    this.terms.splice(0, index - this.#truncatedIndex);
    this.#truncatedIndex = index;
    this.#truncatedTerm = term;
    this.evictTo(index);
    if (this.cacheFirst <= index) this.cacheFirst = index + 1; // the cache was empty below
    if (this.loaded !== null && this.loaded.first <= index) this.loaded = null;
  }

  // ---- the owner's writes (after they are durable) --------------------------------------------

  /** The hard state as last written (the mirror of the disk's term and vote; its commit may be newer). */
  get savedHardState(): HardState {
    return this.hardState;
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  setConfState(cs: ConfState): void {
    this.confState = cs;
  }

  /** Mirrors durable entries, replacing any conflicting suffix. Entries must be contiguous. */
  append(entries: readonly Entry[]): void {
    const head = entries[0];
    if (head === undefined) return;
    const first = head.index;
    if (first <= this.truncatedIndex) throw new RangeError(`region ${this.regionId}: append at ${first} below the truncated index ${this.truncatedIndex}`);
    if (first > this.lastIndex() + 1) throw new RangeError(`region ${this.regionId}: append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.terms.length = first - this.truncatedIndex - 1;
    for (const e of entries) this.terms.push(e.term);
    if (this.loaded !== null && this.loaded.first + this.loaded.entries.length > first) this.loaded = null;
    if (first < this.cacheFirst) {
      // Replacing entries that were evicted: the cache restarts at the new ones.
      this.dropCache();
      this.cacheFirst = first;
    } else {
      const keep = first - this.cacheFirst;
      for (let i = keep; i < this.cache.length; i++) this.release(this.cache[i]!);
      this.cache.length = keep;
    }
    for (const e of entries) {
      this.cache.push(e);
      const size = entrySizeBytes(e);
      this.cacheBytes += size;
      this.budget.bytes += size;
    }
  }

  /**
   * The cached entries from `lo` to the last index, or null when the cache does not reach down to
   * `lo` — without loading anything (entries() would start a load that raft then waits for).
   * Entries above the applied index are always cached (evictTo takes only applied ones).
   */
  cachedEntriesFrom(lo: number): readonly Entry[] | null {
    if (lo < this.cacheFirst) return null;
    return this.cache.slice(lo - this.cacheFirst);
  }

  /** Evicts cached entries up to and including `index` (only applied ones should be evicted). */
  evictTo(index: number): void {
    let n = 0;
    while (n < this.cache.length && this.cacheFirst + n <= index) this.release(this.cache[n++]!);
    if (n === 0) return;
    this.cache.splice(0, n);
    this.cacheFirst += n;
  }

  get cachedBytes(): number {
    return this.cacheBytes;
  }

  /** Stops caching (the peer is destroyed); returns its bytes to the budget. */
  dispose(): void {
    this.dropCache();
    this.loaded = null;
  }

  private dropCache(): void {
    for (const e of this.cache) this.release(e);
    this.cache = [];
  }

  private release(e: Entry): void {
    const size = entrySizeBytes(e);
    this.cacheBytes -= size;
    this.budget.bytes -= size;
  }

  private startLoad(lo: number, hi: number): void {
    if (this.loading || hi <= lo) return;
    this.loading = true;
    void this.load(lo, hi)
      .then((entries) => {
        this.loading = false;
        // A compaction since the load began dropped [lo, …): raft no longer needs it.
        if (entries.length > 0 && entries[0]!.index === lo && lo > this.#truncatedIndex) this.loaded = { first: lo, entries };
        this.onLoaded();
      })
      .catch((err: unknown) => {
        this.loading = false;
        this.onLoadError(err);
      });
  }

  private async load(lo: number, hi: number): Promise<Entry[]> {
    const range = raftLogRange(this.regionId, lo, hi);
    const snap = await this.engine.snapshot();
    try {
      const kvs = await snap.scan(range.start, range.end, { limit: hi - lo });
      const out: Entry[] = [];
      for (const kv of kvs) {
        const index = raftLogIndexOf(kv.key);
        if (index !== lo + out.length) {
          // Raft log GC deleted the front of the range while it was read: not a hole.
          if (lo + out.length <= this.#truncatedIndex) return [];
          throw new FlotillaError('Corruption', `region ${this.regionId}: raft log entry ${lo + out.length} is missing (found ${index})`);
        }
        out.push(decodeEntry(index, kv.value, `region ${this.regionId} raft log`));
      }
      return out;
    } finally {
      await snap.release();
    }
  }
}

function limit(src: readonly Entry[], from: number, to: number, maxBytes: number): Entry[] {
  const out: Entry[] = [];
  let size = 0;
  for (let i = from; i < to; i++) {
    const e = src[i]!;
    size += entrySizeBytes(e);
    if (out.length > 0 && size > maxBytes) break;
    out.push(e);
  }
  return out;
}
