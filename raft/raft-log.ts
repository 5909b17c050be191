// The node's log: a durable prefix in RaftStorage followed by an unstable suffix (entries and
// maybe a snapshot) that the caller has not persisted yet. Keeps applied ≤ committed ≤ lastIndex.
import { invariant, InvariantError } from '../common/pure.js';
import { type RaftStorage, type StorageEntries, type StorageTerm, limitSize } from './storage.js';
import { type Entry, type Snapshot, entrySizeBytes } from './types.js';

const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

/**
 * The not-yet-persisted tail. `offset` is the index of entries[0]. Entries up to `inProgressTo`
 * were handed out to be persisted (a Ready) and are not handed out again; an append that
 * replaces some of them hands the replacements out afresh.
 */
class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  offset: number;
  inProgressTo: number;

  constructor(offset: number) {
    this.offset = offset;
    this.inProgressTo = offset - 1;
  }

  /** The entries not handed out yet. */
  notInProgress(): readonly Entry[] {
    const from = this.inProgressTo + 1 - this.offset;
    if (from <= 0) return this.entries;
    return from >= this.entries.length ? NO_ENTRIES : this.entries.slice(from);
  }

  acceptInProgress(): void {
    const last = this.maybeLastIndex();
    if (last !== undefined && last > this.inProgressTo) this.inProgressTo = last;
  }

  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index;
  }

  maybeTerm(i: number): number | undefined {
    if (i < this.offset) {
      const s = this.snapshot;
      return s !== undefined && s.metadata.index === i ? s.metadata.term : undefined;
    }
    const e = this.entries[i - this.offset];
    return e === undefined ? undefined : e.term;
  }

  /** The caller persisted entries up to (i, t): drop them if they are still ours. */
  stableTo(i: number, t: number): boolean {
    const term = this.maybeTerm(i);
    if (term === undefined || term !== t || i < this.offset) return false;
    this.entries = this.entries.slice(i + 1 - this.offset);
    this.offset = i + 1;
    if (this.inProgressTo < i) this.inProgressTo = i;
    return true;
  }

  stableSnapTo(i: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
    this.inProgressTo = s.metadata.index;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    const after = first.index;
    // Entries from `after` on are replaced: their replacements are handed out anew.
    if (this.inProgressTo >= after) this.inProgressTo = after - 1;
    if (after === this.offset + this.entries.length) {
      for (const e of ents) this.entries.push(e);
    } else if (after <= this.offset) {
      // Replaces the whole unstable tail (and shadows the storage from `after` on).
      this.offset = after;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset);
      for (const e of ents) this.entries.push(e);
    }
  }
}

export class RaftLog {
  readonly storage: RaftStorage;
  private readonly unstable: Unstable;
  /** Highest index known committed (durable on a quorum). */
  committed: number;
  /** Highest index the caller has applied (advanced with committed entries). */
  applied: number;
  /** Highest index handed out to be applied (≥ applied; a Ready's committed entries). */
  applying: number;

  constructor(storage: RaftStorage) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index the caller has persisted (what this node may count as its own match). */
  stableLastIndex(): number {
    if (this.unstable.snapshot !== undefined) return 0;
    return this.unstable.offset - 1;
  }

  /** Term of entry i; 0 above the last index (no entry has term 0 except the empty index 0). */
  term(i: number): StorageTerm {
    if (i > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    const dummy = this.firstIndex() - 1;
    if (i < dummy) return 'compacted';
    return this.storage.term(i);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    if (typeof t !== 'number') throw new InvariantError(`raft log: term of last index must be available, got ${String(t)}`);
    return t;
  }

  /** Whether entry i has term t; 'unavailable' when storage cannot say now. */
  matchTerm(i: number, t: number): boolean | 'unavailable' {
    if (i > this.lastIndex()) return false;
    const term = this.term(i);
    if (term === 'unavailable') return 'unavailable';
    return term === t;
  }

  /** A candidate's log (lastIndex, lastTerm) is at least as up-to-date as ours (Raft §5.4.1). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** A log ending at (lastIndex, lastTerm) is strictly more up to date than ours (§5.4.1). */
  isMoreUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex > this.lastIndex());
  }

  /**
   * Follower side of MsgApp: if our entry at `index` has `logTerm`, append `ents` (replacing a
   * conflicting suffix) and advance commit. Returns the last index now known to match.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | 'reject' | 'unavailable' {
    const matched = this.matchTerm(index, logTerm);
    if (matched === 'unavailable') return 'unavailable';
    if (!matched) return 'reject';
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict === 'unavailable') return 'unavailable';
    if (conflict !== 0) {
      invariant(conflict > this.committed, () => `raft log: entry ${conflict} conflicts with committed entry (committed ${this.committed})`);
      const first = ents[0];
      invariant(first !== undefined, 'maybeAppend: conflict without entries');
      this.append(ents.slice(conflict - first.index));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** First index in `ents` whose term differs from ours or that we lack; 0 if all match. */
  private findConflict(ents: readonly Entry[]): number | 'unavailable' {
    for (const e of ents) {
      const m = this.matchTerm(e.index, e.term);
      if (m === 'unavailable') return 'unavailable';
      if (!m) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index ≤ `index` whose term is ≤ `term`, with its term. Entries
   * above it cannot match a log whose entry at `index` has `term`.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = Math.min(index, this.lastIndex()); ; i--) {
      const t = this.term(i);
      if (typeof t !== 'number') return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
  }

  append(ents: readonly Entry[]): number {
    const first = ents[0];
    if (first === undefined) return this.lastIndex();
    if (first.index - 1 < this.committed) throw new InvariantError(`raft log: append after ${first.index - 1} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  /** Unstable entries not yet handed out to be persisted. */
  entriesToPersist(): readonly Entry[] {
    return this.unstable.notInProgress();
  }

  /** Every unstable entry is handed out now (a Ready took them). */
  acceptEntriesInProgress(): void {
    this.unstable.acceptInProgress();
  }

  pendingSnapshot(): Snapshot | undefined {
    return this.unstable.snapshot;
  }

  /** Entries [lo, hi) within maxBytes (at least one), from storage then the unstable tail. */
  slice(lo: number, hi: number, maxBytes: number): StorageEntries {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) return 'compacted';
    if (hi > this.lastIndex() + 1) throw new InvariantError(`raft log: slice [${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    const uOff = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < uOff) {
      const stored = this.storage.entries(lo, Math.min(hi, uOff), maxBytes);
      if (typeof stored === 'string') return stored;
      if (stored.length < Math.min(hi, uOff) - lo) return stored; // size-limited
      out = stored.slice();
    }
    if (hi > uOff) {
      const from = Math.max(lo, uOff);
      const part = this.unstable.entries.slice(from - uOff, hi - uOff);
      for (const e of part) out.push(e);
    }
    return limitSize(out, maxBytes);
  }

  /** Entries from i to the end, within maxBytes. */
  entriesFrom(i: number, maxBytes: number): StorageEntries {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  /**
   * The highest index whose entry may be handed out to apply: the commit index, or with
   * `isStableOnly` (a caller whose writes run behind its Readys) the durable end of the log if
   * lower — a replica never applies an entry its own log might still lose.
   */
  private applyLimit(isStableOnly: boolean): number {
    return isStableOnly ? Math.min(this.committed, this.stableLastIndex()) : this.committed;
  }

  hasNextCommittedEntries(isStableOnly = false): boolean {
    return this.unstable.snapshot === undefined && this.applying < this.applyLimit(isStableOnly);
  }

  nextCommittedEntries(maxBytes: number, isStableOnly = false): StorageEntries {
    if (!this.hasNextCommittedEntries(isStableOnly)) return [];
    return this.slice(this.applying + 1, this.applyLimit(isStableOnly) + 1, maxBytes);
  }

  /** Committed entries up to `i` are handed out to be applied. */
  applyingTo(i: number): void {
    if (i > this.applying) this.applying = i;
  }

  commitTo(toCommit: number): void {
    if (toCommit <= this.committed) return;
    if (toCommit > this.lastIndex()) throw new InvariantError(`raft log: commit ${toCommit} beyond last index ${this.lastIndex()} (log corrupted, truncated or lost?)`);
    this.committed = toCommit;
  }

  /** Commits `maxIndex` if its entry is from `term` (Raft §5.4.2: only current-term entries count). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex <= this.committed) return false;
    if (this.term(maxIndex) !== term) return false;
    this.commitTo(maxIndex);
    return true;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) throw new InvariantError(`raft log: applied ${i} out of range [${this.applied}, ${this.committed}]`);
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  stableTo(i: number, t: number): boolean {
    return this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  snapshot(minIndex: number): Snapshot | 'unavailable' {
    return this.unstable.snapshot ?? this.storage.snapshot(minIndex);
  }
}

export function sumEntryBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += entrySizeBytes(e);
  return n;
}
