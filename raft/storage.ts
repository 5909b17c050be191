// RaftStorage: the raft node's synchronous view of its durable log, and MemoryStorage, an
// in-memory implementation for tests and for callers that mirror the log in memory.
//
// The node only READS storage; the caller WRITES it from each Ready (entries, hard state,
// snapshot) and compacts it. A Node.js server cannot read RocksDB synchronously, so reads may
// answer 'unavailable' for data not held in memory: the storage then starts loading it on its
// own, and the caller calls RawNode.onStorageReady() once it is loaded; the node retries then
// (and on the next heartbeat response). 'unavailable' is never an error and never blocks safety.
import { invariant } from '../common/pure.js';
import {
  type ConfState,
  type Entry,
  type HardState,
  type Snapshot,
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  entrySizeBytes,
} from './types.js';

/** A term lookup: the term, or why there is none now. */
export type StorageTerm = number | 'compacted' | 'unavailable';
/** An entries lookup: the entries, or why there are none now. */
export type StorageEntries = readonly Entry[] | 'compacted' | 'unavailable';

export interface RaftInitialState {
  readonly hardState: HardState;
  /** Membership as of the last snapshot; later ConfChange entries are re-applied by the caller. */
  readonly confState: ConfState;
}

/**
 * What raft reads. Index ranges are half-open [lo, hi). "firstIndex" is the first entry held
 * (the snapshot index + 1); the snapshot's index and term stand in for the entry before it.
 */
export interface RaftStorage {
  /** Hard state and membership saved last; called once when a node is created. */
  initialState(): RaftInitialState;
  /**
   * Entries [lo, hi), at most `maxBytes` of them but always at least one if any is in range.
   * Precondition: firstIndex() ≤ lo < hi ≤ lastIndex() + 1 (lo below firstIndex answers 'compacted').
   * 'unavailable': not in memory now; the storage loads it and the caller calls onStorageReady().
   */
  entries(lo: number, hi: number, maxBytes: number): StorageEntries;
  /**
   * Term of entry i for firstIndex() − 1 ≤ i ≤ lastIndex(); 'compacted' below that range.
   * Must answer (never 'unavailable') for i = firstIndex() − 1 and i = lastIndex().
   */
  term(i: number): StorageTerm;
  firstIndex(): number;
  lastIndex(): number;
  /**
   * The latest snapshot, to send to a lagging follower; its index must be ≥ `minIndex` (raised
   * by the leader after a follower refused an older one, e.g. one that predates its joining).
   * 'unavailable' while one is being generated; the caller calls onStorageReady() when it is.
   */
  snapshot(minIndex: number): Snapshot | 'unavailable';
}

/**
 * An in-memory RaftStorage. `ents[0]` is a dummy standing for the snapshot (its index and term).
 * Test hooks emulate a storage that holds only a suffix of the log in memory (evictBelow /
 * loadEvicted) and a snapshot generated asynchronously (snapshotGenerator).
 */
export class MemoryStorage implements RaftStorage {
  private hardState: HardState = EMPTY_HARD_STATE;
  private snap: Snapshot = EMPTY_SNAPSHOT;
  private ents: Entry[] = [{ type: 'Normal', term: 0, index: 0, data: new Uint8Array(0) }];
  /** Entries with index < this answer 'unavailable' (emulates an entry cache over a disk log). */
  private evictedBelow = 0;
  /** Set whenever a read answered 'unavailable'; the owner clears it when it completes the load. */
  loadRequested = false;
  /**
   * If set, snapshot() answers 'unavailable' until the owner has produced a snapshot at least
   * as new as the one this returns the index of (emulates asynchronous snapshot generation).
   * A `minIndex` above the held snapshot has the same effect; snapshotRequested is then set.
   */
  snapshotWantedIndex: (() => number) | undefined;
  snapshotRequested = false;

  initialState(): RaftInitialState {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  getHardState(): HardState {
    return this.hardState;
  }

  private offset(): number {
    const first = this.ents[0];
    invariant(first !== undefined, 'MemoryStorage: dummy entry missing');
    return first.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.ents.length - 1;
  }

  term(i: number): StorageTerm {
    const offset = this.offset();
    if (i < offset) return 'compacted';
    invariant(i <= this.lastIndex(), () => `MemoryStorage.term: ${i} is beyond last index ${this.lastIndex()}`);
    if (i !== offset && i !== this.lastIndex() && i < this.evictedBelow) {
      this.loadRequested = true;
      return 'unavailable';
    }
    const e = this.ents[i - offset];
    invariant(e !== undefined, 'MemoryStorage.term: hole in log');
    return e.term;
  }

  entries(lo: number, hi: number, maxBytes: number): StorageEntries {
    const offset = this.offset();
    if (lo <= offset) return 'compacted';
    invariant(hi <= this.lastIndex() + 1, () => `MemoryStorage.entries: hi ${hi} beyond last index ${this.lastIndex()}`);
    invariant(lo < hi, () => `MemoryStorage.entries: empty range [${lo}, ${hi})`);
    if (lo < this.evictedBelow) {
      this.loadRequested = true;
      return 'unavailable';
    }
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(minIndex = 0): Snapshot | 'unavailable' {
    const wanted = Math.max(minIndex, this.snapshotWantedIndex?.() ?? 0);
    if (this.snap.metadata.index < wanted) {
      this.snapshotRequested = true;
      return 'unavailable';
    }
    return this.snap;
  }

  /** Installs a snapshot received from the leader (from a Ready), dropping the whole log. */
  applySnapshot(s: Snapshot): 'ok' | 'out-of-date' {
    if (s.metadata.index <= this.snap.metadata.index) return 'out-of-date';
    this.snap = s;
    this.ents = [{ type: 'Normal', term: s.metadata.term, index: s.metadata.index, data: new Uint8Array(0) }];
    this.evictedBelow = 0;
    return 'ok';
  }

  /**
   * Records a snapshot of the caller's applied state at index i (i ≤ last index). Entries are
   * kept; call compact() to drop them.
   */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot | 'out-of-date' {
    if (i <= this.snap.metadata.index) return 'out-of-date';
    invariant(i <= this.lastIndex(), () => `createSnapshot: ${i} beyond last index ${this.lastIndex()}`);
    const e = this.ents[i - this.offset()];
    invariant(e !== undefined, 'createSnapshot: missing entry');
    this.snap = { metadata: { index: i, term: e.term, confState }, data };
    return this.snap;
  }

  /** Drops entries before `compactIndex` (which becomes the dummy). Precondition: ≤ applied. */
  compact(compactIndex: number): 'ok' | 'out-of-date' {
    const offset = this.offset();
    if (compactIndex <= offset) return 'out-of-date';
    invariant(compactIndex <= this.lastIndex(), () => `compact: ${compactIndex} beyond last index ${this.lastIndex()}`);
    const e = this.ents[compactIndex - offset];
    invariant(e !== undefined, 'compact: missing entry');
    this.ents = [{ type: 'Normal', term: e.term, index: e.index, data: new Uint8Array(0) }, ...this.ents.slice(compactIndex - offset + 1)];
    return 'ok';
  }

  /** Appends entries from a Ready, replacing any conflicting suffix. Entries must be contiguous. */
  append(entries: readonly Entry[]): void {
    const head = entries[0];
    if (head === undefined) return;
    const first = this.firstIndex();
    const last = head.index + entries.length - 1;
    if (last < first) return;
    const tail = first > head.index ? entries.slice(first - head.index) : entries;
    const t0 = tail[0];
    invariant(t0 !== undefined, 'append: empty tail');
    const at = t0.index - this.offset();
    invariant(at >= 1 && at <= this.ents.length, () => `append: gap, last ${this.lastIndex()} next ${t0.index}`);
    this.ents.length = at;
    for (const e of tail) this.ents.push(e);
  }

  /** Test hook: entries below `index` (except the first and last) answer 'unavailable'. */
  evictBelow(index: number): void {
    this.evictedBelow = index;
  }

  /** Test hook: completes the load started by an 'unavailable' answer. */
  loadEvicted(): void {
    this.evictedBelow = 0;
    this.loadRequested = false;
  }

  /** All entries held (for checkers). */
  allEntries(): readonly Entry[] {
    return this.ents.slice(1);
  }
}

/** Longest prefix of `ents` within `maxBytes`, never empty if `ents` is not. */
export function limitSize<T extends Entry>(ents: T[], maxBytes: number): T[] {
  if (ents.length <= 1) return ents;
  let size = 0;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i] as T;
    size += entrySizeBytes(e);
    if (i > 0 && size > maxBytes) {
      ents.length = i;
      return ents;
    }
  }
  return ents;
}
