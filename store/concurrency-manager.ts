// What makes one-phase commit safe on this store (TiKV's concurrency manager). A one-phase commit
// picks its commit_ts here, not at PD, so nothing orders it after the reads it must not change:
// a read at ts R that did not see the commit must never see it later, so the commit_ts must
// exceed every R already served on the keys (else a later read at R would see it) — and a read
// arriving while the commit is in flight must wait for it if R reaches its commit_ts.
//
//   maxTs      ≥ every read ts a transactional read on this store has used (observeReadTs, before
//              the read looks at anything). A one-phase commit_ts is above it.
//   memory     the keys of one-phase commits between choosing their commit_ts and being applied,
//   locks      with that ts. A read at R ≥ a memory lock's commit_ts on one of its keys waits for
//              it (waitForKeys/waitForRange, after observeReadTs and before the engine read). They
//              are what lets a one-phase commit be answered once committed, before it applies
//              (txn-kv.ts, Peer.onCommittedHanded): a read that comes after the answer waits.
//
// Why that suffices, in one event loop: a read updates maxTs, later checks the memory locks, later
// reads the engine; a commit inserts its memory locks and picks commit_ts = maxTs + 1 in the same
// synchronous step. If the read's update came first, commit_ts > R: invisible to the read, as it
// must be. Otherwise the memory lock was there before the read's check: the read waits until it
// is released, which happens once the commit is applied (or failed) — its engine read then sees
// the commit, before or after, consistently.
//
// maxTs lives in memory, so it knows only the reads THIS store served. Another store's replica
// served the region's reads before this one led it (or, after a merge, the source region's
// reads). So a region's leader may commit in one phase only once it holds a PD timestamp fetched
// after it became leader in its term at its epoch version (syncMaxTs): every read served elsewhere
// before then used a timestamp PD issued earlier — the old leader's lease ran out before this one
// was elected, and a merge's source stopped serving at PrepareMerge. Until then a one-phase
// request is prewritten as usual (TiKV's max_ts_sync_status). Reads at a ts far ahead of the
// clock are refused (a bogus ts would push every later commit_ts out of reach of real readers);
// TS_MAX ("the newest") waits for memory locks but does not raise maxTs.
//
// Two more guarantees, about real time — what two-phase commit gets from fetching commit_ts at PD:
//
//   before   a transaction that began before the commit did (its start_ts issued before the
//            request arrived) must conflict with it on a common key, as two overlapping
//            transactions do: the commit_ts must lie above that start_ts. So a one-phase
//            request first fetches a PD timestamp (issuedTs, one fetch for the requests of one
//            event-loop turn, before the latches) and the commit_ts is at least that.
//   after    a transaction that begins after the commit is acknowledged must get a start_ts above
//            the commit_ts (else its own writes would meet a record at commit_ts = start_ts). A
//            commit_ts ≤ the fetched ts is one PD has issued — every later start_ts is above it.
//            maxTs + 1 above it (a read at a newer ts came in meanwhile) may not be issued yet:
//            then, once the write is applied, the answer waits for a PD timestamp fetched after
//            commit_ts was chosen (fenceTso) — unless one of the store's fetches (other requests'
//            since) already got a ts ≥ commit_ts (isIssued): under load, nearly always.

import { FlotillaError, physicalMsOf, TS_MAX, type Ts } from '../common/index.js';

/** A read ts whose physical part lies this far ahead of the store's clock is refused. */
export const READ_TS_AHEAD_MS_MAX = 10 * 60_000;
/** After a failed PD timestamp fetch, the next one waits at least this long. */
export const MAX_TS_SYNC_RETRY_MS = 1_000;

interface MemoryLock {
  readonly key: Buffer;
  readonly commitTs: Ts;
  readonly released: Promise<void>;
}

/** What a leader must hold for one-phase commit: its term and epoch version when the sync began. */
export interface LeaderEra {
  readonly regionId: number;
  readonly term: number;
  readonly version: number;
}

export interface OnePcGuard {
  readonly commitTs: Ts;
  /** Drops the memory locks (once the write is applied, or failed). Idempotent. */
  release(): void;
}

export interface ConcurrencyManagerOptions {
  readonly nowMs?: () => number;
  /** Told when a leader-sync fetch fails (at most once per MAX_TS_SYNC_RETRY_MS). */
  readonly onSyncFailure?: (err: unknown) => void;
  /** Whether this store still holds a region: synced leaderships of others are dropped at each sync (bounded). */
  readonly isRegionHeld?: (regionId: number) => boolean;
}

export class ConcurrencyManager {
  private maxTs: Ts = 0n;
  /** The newest ts any of this store's PD fetches got: PD has issued every ts up to it. */
  private maxIssued: Ts = 0n;
  private readonly memoryLocks = new Map<string, MemoryLock>();
  private readonly synced = new Map<number, { term: number; version: number }>();
  private pending = new Map<number, LeaderEra>();
  private isFetching = false;
  private lastFailureMs = -Infinity;

  private readonly nowMs: () => number;
  private readonly options: ConcurrencyManagerOptions;

  /** `fetchTs`: a fresh PD timestamp; null (simulations) = one-phase commit never allowed. */
  constructor(private readonly fetchTs: (() => Promise<Ts>) | null, options: ConcurrencyManagerOptions = {}) {
    this.nowMs = options.nowMs ?? Date.now;
    this.options = options;
  }

  get maxReadTs(): Ts {
    return this.maxTs;
  }

  get memoryLockCount(): number {
    return this.memoryLocks.size;
  }

  /** A transactional read at `ts` is about to run: throws InvalidArgument for a ts far ahead of the clock. */
  observeReadTs(ts: Ts, field = 'version'): void {
    if (ts === TS_MAX || ts <= this.maxTs) return;
    this.checkNotAhead(ts, field);
    this.maxTs = ts;
  }

  /**
   * Throws InvalidArgument for a ts more than READ_TS_AHEAD_MS_MAX ahead of this store's clock:
   * one that would raise max_ts there (a read's, a one-phase commit's floor) would push every
   * later one-phase commit_ts past what PD issues, or past u64 max.
   */
  checkNotAhead(ts: Ts, field: string): void {
    if (physicalMsOf(ts) > this.nowMs() + READ_TS_AHEAD_MS_MAX) {
      throw new FlotillaError('InvalidArgument', `${field} ${ts} lies more than ${READ_TS_AHEAD_MS_MAX / 60_000} minutes ahead of this store's clock (a timestamp not from PD?)`);
    }
  }

  /**
   * Locks `keys` in memory and picks the commit_ts: above every read ts seen, and ≥ `floor`.
   * Synchronous (see the file comment). The caller releases once the write is applied or failed.
   * Throws InvalidArgument (nothing locked) for a floor far ahead of the clock (checkNotAhead):
   * the commit_ts raises max_ts, which would push every later one-phase commit_ts with it.
   */
  lockForOnePc(keys: readonly Buffer[], floor: Ts): OnePcGuard {
    if (floor > this.maxTs) this.checkNotAhead(floor, 'one-phase commit_ts floor (start_ts + 1 or min_commit_ts)');
    const commitTs = this.maxTs + 1n > floor ? this.maxTs + 1n : floor;
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const ids = keys.map((k) => k.toString('latin1'));
    for (let i = 0; i < keys.length; i++) this.memoryLocks.set(ids[i]!, { key: keys[i]!, commitTs, released });
    // The commit_ts is a read of the state too: a later one-phase commit must not pick below it.
    if (commitTs > this.maxTs) this.maxTs = commitTs;
    let isReleased = false;
    return {
      commitTs,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        for (const id of ids) {
          if (this.memoryLocks.get(id)?.released === released) this.memoryLocks.delete(id);
        }
        release();
      },
    };
  }

  /** Resolves once no in-flight one-phase commit on `keys` has commit_ts ≤ readTs. */
  async waitForKeys(keys: readonly Buffer[], readTs: Ts): Promise<void> {
    if (this.memoryLocks.size === 0) return;
    for (;;) {
      let blocking: MemoryLock | undefined;
      for (const k of keys) {
        const l = this.memoryLocks.get(k.toString('latin1'));
        if (l !== undefined && l.commitTs <= readTs) {
          blocking = l;
          break;
        }
      }
      if (blocking === undefined) return;
      await blocking.released;
    }
  }

  /** waitForKeys over [start, end) (end empty = unbounded). */
  async waitForRange(start: Buffer, end: Buffer, readTs: Ts): Promise<void> {
    if (this.memoryLocks.size === 0) return;
    for (;;) {
      let blocking: MemoryLock | undefined;
      for (const l of this.memoryLocks.values()) {
        if (l.commitTs <= readTs && Buffer.compare(l.key, start) >= 0 && (end.length === 0 || Buffer.compare(l.key, end) < 0)) {
          blocking = l;
          break;
        }
      }
      if (blocking === undefined) return;
      await blocking.released;
    }
  }

  /**
   * Whether the region's leader in `era` may commit in one phase; if not, starts (or joins) a PD
   * timestamp fetch that will allow it. Never waits.
   */
  isSynced(era: LeaderEra): boolean {
    const s = this.synced.get(era.regionId);
    if (s !== undefined && s.term === era.term && s.version === era.version) return true;
    this.pending.set(era.regionId, era);
    this.startSync();
    return false;
  }

  /**
   * A PD timestamp fetched now: above every one PD issued before this call (the PD client folds the
   * calls of one event-loop turn into one request). Not a read: maxTs stays. null when PD cannot
   * answer (or there is none: simulations).
   */
  async issuedTs(): Promise<Ts | null> {
    if (this.fetchTs === null) return null;
    try {
      return this.noteIssued(await this.fetchTs());
    } catch {
      return null;
    }
  }

  private noteIssued(ts: Ts): Ts {
    if (ts > this.maxIssued) this.maxIssued = ts;
    return ts;
  }

  /** Whether PD has issued a ts ≥ `ts` (one of this store's fetches answered with one). */
  isIssued(ts: Ts): boolean {
    return ts <= this.maxIssued;
  }

  /**
   * Resolves once PD has issued a timestamp ≥ every commit_ts chosen before this call: a fetch
   * begun by this call (the PD client folds the calls of one event-loop turn into one request on
   * its stream, sent after them). Rejects if it fails (or no PD: simulations).
   */
  async fenceTso(): Promise<void> {
    if (this.fetchTs === null) throw new FlotillaError('Unavailable', 'no PD timestamps here');
    const ts = this.noteIssued(await this.fetchTs());
    if (ts > this.maxTs) this.maxTs = ts;
  }


  private startSync(): void {
    const fetchTs = this.fetchTs;
    if (fetchTs === null || this.isFetching || this.pending.size === 0) return;
    if (this.nowMs() - this.lastFailureMs < MAX_TS_SYNC_RETRY_MS) return;
    // The eras noted BEFORE the fetch is sent: the timestamp is issued after each of them began.
    const eras = this.pending;
    this.pending = new Map();
    this.isFetching = true;
    fetchTs().then(
      (ts) => {
        this.noteIssued(ts);
        this.isFetching = false;
        if (ts > this.maxTs) this.maxTs = ts;
        // Leaderships of regions gone from this store are dropped here: the map stays bounded.
        const isHeld = this.options.isRegionHeld;
        if (isHeld !== undefined) for (const id of [...this.synced.keys()]) if (!isHeld(id)) this.synced.delete(id);
        for (const era of eras.values()) this.synced.set(era.regionId, { term: era.term, version: era.version });
        this.startSync();
      },
      (err: unknown) => {
        this.isFetching = false;
        this.lastFailureMs = this.nowMs();
        this.options.onSyncFailure?.(err);
        for (const [id, era] of eras) if (!this.pending.has(id)) this.pending.set(id, era);
      },
    );
  }
}
