// A reference model of the transaction layer: plain maps of locks and write records per user key,
// with each Percolator rule written the simplest way, from the contract (txn/README.md, DESIGN.md
// §6, TiKV's actions) rather than from txn/'s code. The property test runs every command against
// the real actions and against this model and compares the answers and the resulting state.
//
// Commands are all-or-nothing like the real ones: the model snapshots its maps before a write
// command and restores them when the command answers an error. Values are kept whole; where they
// live (inline in the record, or in the default CF) is derived in `expectedState()`.
//
// Transactions are identified by start_ts, as in Percolator; the generator never gives two
// transactions one start_ts (a TSO would not), so "own lock" / "own record" are unambiguous.

import { extractPhysical, TS_MAX, type Ts } from '../../../common/index.js';
import {
  type KvPair, type Lock, type LockInfo, type LockKind, type Mutation, type PrewriteOutcome, type PrewriteResult,
  type TxnError, type TxnStatus, type Write, type WriteKind,
} from '../../../txn/index.js';

/** Values of at most this many bytes live inline in lock/write records (the contract's limit). */
export const MODEL_SHORT_VALUE_BYTES_MAX = 1024;

export interface ModelLock {
  readonly kind: LockKind;
  readonly primary: Buffer;
  readonly startTs: Ts;
  readonly ttlMs: number;
  /** The put's whole value; null for delete/lock. */
  readonly value: Buffer | null;
  readonly txnSize: number;
  readonly minCommitTs: Ts;
}

export interface ModelWrite {
  readonly kind: WriteKind;
  readonly startTs: Ts;
  /** The put's whole value; null otherwise. */
  readonly value: Buffer | null;
  readonly hasOverlappedRollback: boolean;
  readonly isProtected: boolean;
}

type CommitRecord =
  | { readonly kind: 'committed'; readonly commitTs: Ts }
  | { readonly kind: 'rolledBack' }
  | { readonly kind: 'none' };

/** What the engine must hold, in engine-independent terms (user keys as latin1 strings). */
export interface ExpectedState {
  readonly locks: Map<string, Lock>;
  /** `key` → commit_ts → record. */
  readonly writes: Map<string, Map<Ts, Write>>;
  /** `key@start_ts` → long value. */
  readonly values: Map<string, Buffer>;
  /**
   * `key` → the latest record:
   *   - data: the key's newest put/delete write (by commit_ts) among its records, flags cleared;
   *     null when it has none (only lock/rollback records, or GC collected its data);
   *   - maxWriteTs: the highest commit_ts of any write record (put, delete, lock, rollback — a
   *     rollback written below newer records does not lower it) written on the key since its
   *     latest record appeared. GC never lowers it, so after GC it may exceed every record left.
   * An entry exists from the key's first write record on; GC removes it only when it collected
   * the key's newest data write or every version of the key, and the key then has no record left.
   */
  readonly latest: Map<string, { readonly data: { readonly commitTs: Ts; readonly write: Write } | null; readonly maxWriteTs: Ts }>;
}

export type ModelResult<T> = T | TxnError;

const id = (key: Buffer): string => key.toString('latin1');
const buf = (key: string): Buffer => Buffer.from(key, 'latin1');
const cmpKey = (a: string, b: string): number => Buffer.compare(buf(a), buf(b));

export function isLongValue(value: Buffer): boolean {
  return value.length > MODEL_SHORT_VALUE_BYTES_MAX;
}

function err(error: TxnError): TxnError {
  return error;
}

export class TxnModel {
  locks = new Map<string, ModelLock>();
  writes = new Map<string, Map<Ts, ModelWrite>>();
  /** `key` → the latest record's maxWriteTs (see ExpectedState.latest); no entry: no latest record. */
  maxWriteTs = new Map<string, Ts>();
  /** New rollback records written below the key's maxWriteTs (for coverage counters). */
  rollbacksBelowMaxWriteTs = 0;

  // ---- state helpers -------------------------------------------------------------------------

  private clone(): { locks: Map<string, ModelLock>; writes: Map<string, Map<Ts, ModelWrite>>; maxWriteTs: Map<string, Ts> } {
    const writes = new Map<string, Map<Ts, ModelWrite>>();
    for (const [key, versions] of this.writes) writes.set(key, new Map(versions));
    return { locks: new Map(this.locks), writes, maxWriteTs: new Map(this.maxWriteTs) };
  }

  private restore(saved: ReturnType<TxnModel['clone']>): void {
    this.locks = saved.locks;
    this.writes = saved.writes;
    this.maxWriteTs = saved.maxWriteTs;
  }

  /** A deep copy (the generator runs GC on one to count what it would do). */
  copy(): TxnModel {
    const out = new TxnModel();
    out.restore(this.clone());
    return out;
  }

  /** Runs a write command atomically: on an error answer the state is restored. */
  private atomic<T>(body: () => ModelResult<T>): ModelResult<T> {
    const saved = this.clone();
    const result = body();
    if (isError(result)) this.restore(saved);
    return result;
  }

  /** A write record at `commitTs` landed on `key` (any kind): the bound is a running max. */
  private noteWrite(key: string, commitTs: Ts): void {
    const max = this.maxWriteTs.get(key);
    if (max === undefined || commitTs > max) this.maxWriteTs.set(key, commitTs);
  }

  private versions(key: string): Map<Ts, ModelWrite> {
    let versions = this.writes.get(key);
    if (versions === undefined) {
      versions = new Map();
      this.writes.set(key, versions);
    }
    return versions;
  }

  /** Records of `key`, newest first. */
  versionsDesc(key: string): [Ts, ModelWrite][] {
    return [...(this.writes.get(key) ?? new Map<Ts, ModelWrite>())].sort((a, b) => (a[0] > b[0] ? -1 : a[0] < b[0] ? 1 : 0));
  }

  /** Every key that has a lock or a write record, ascending. */
  allKeys(): string[] {
    const keys = new Set<string>([...this.locks.keys()]);
    for (const [key, versions] of this.writes) if (versions.size > 0) keys.add(key);
    return [...keys].sort(cmpKey);
  }

  /** What `startTs`'s records on `key` say: committed (at which ts), rolled back, or nothing. */
  commitRecordOf(key: string, startTs: Ts): CommitRecord {
    for (const [commitTs, w] of this.writes.get(key) ?? []) {
      if (w.startTs === startTs && w.kind !== 'rollback') return { kind: 'committed', commitTs };
    }
    const slot = this.writes.get(key)?.get(startTs);
    if (slot !== undefined && ((slot.kind === 'rollback' && slot.startTs === startTs) || slot.hasOverlappedRollback)) return { kind: 'rolledBack' };
    return { kind: 'none' };
  }

  /** The rollback record of `startTs`; an occupied slot (another's commit) gains the overlapped flag. */
  private writeRollback(key: string, startTs: Ts, isProtected: boolean): void {
    const versions = this.versions(key);
    const slot = versions.get(startTs);
    if (slot === undefined) {
      versions.set(startTs, { kind: 'rollback', startTs, value: null, hasOverlappedRollback: false, isProtected });
      const max = this.maxWriteTs.get(key);
      if (max !== undefined && startTs < max) this.rollbacksBelowMaxWriteTs++;
      this.noteWrite(key, startTs);
      return;
    }
    if (slot.kind === 'rollback' || slot.hasOverlappedRollback) return;
    if (slot.startTs === startTs) throw new Error(`model: rollback of ${startTs} over its own commit record`);
    versions.set(startTs, { ...slot, hasOverlappedRollback: true });
  }

  private rollbackLock(key: string, lock: ModelLock): void {
    this.locks.delete(key);
    this.writeRollback(key, lock.startTs, key === id(lock.primary));
  }

  private commitLock(key: string, lock: ModelLock, commitTs: Ts): TxnError | null {
    if (commitTs < lock.minCommitTs) {
      return err({ kind: 'error', code: 'CommitTsExpired', key: buf(key), startTs: lock.startTs, commitTs, minCommitTs: lock.minCommitTs });
    }
    const versions = this.versions(key);
    const slot = versions.get(commitTs);
    if (slot !== undefined && slot.kind !== 'rollback' && !slot.hasOverlappedRollback) {
      throw new Error(`model: commit of ${lock.startTs} at ${commitTs} onto another commit record (unreachable)`);
    }
    versions.set(commitTs, {
      kind: lock.kind, startTs: lock.startTs, value: lock.value, hasOverlappedRollback: slot !== undefined, isProtected: false,
    });
    this.noteWrite(key, commitTs);
    this.locks.delete(key);
    return null;
  }

  // ---- write commands ------------------------------------------------------------------------

  prewrite(args: {
    readonly mutations: readonly Mutation[]; readonly primary: Buffer; readonly startTs: Ts; readonly lockTtlMs: number;
    readonly txnSize: number; readonly minCommitTs: Ts; readonly onePcCommitTs?: Ts;
  }): ModelResult<PrewriteResult> {
    const c = args.onePcCommitTs;
    if (c !== undefined) {
      if (c <= args.startTs || c < args.minCommitTs || args.txnSize !== args.mutations.length || !args.mutations.some((m) => m.key.equals(args.primary))) return invalid();
      // A lock of ours on any key: an earlier attempt prewrote; the command prewrites as usual.
      if (!args.mutations.some((m) => this.locks.get(id(m.key))?.startTs === args.startTs)) return this.onePc(args, c);
    }
    const saved = this.clone();
    const outcomes: PrewriteOutcome[] = [];
    const lockErrors: TxnError[] = [];
    let result: ModelResult<PrewriteResult> | null = null;
    for (const m of args.mutations) {
      const outcome = this.prewriteOne(args, m);
      if (isError(outcome)) {
        if (outcome.code !== 'KeyIsLocked') {
          result = outcome;
          break;
        }
        lockErrors.push(outcome);
        continue;
      }
      outcomes.push(outcome);
    }
    // All or nothing: an error, or any locked key, leaves no modification.
    if (result === null && lockErrors.length > 0) result = { kind: 'locked', errors: lockErrors };
    if (result !== null) {
      this.restore(saved);
      return result;
    }
    return { kind: 'prewritten', outcomes, committedAt: null };
  }

  /**
   * One-phase commit: the prewrite checks; a key that fails them but holds this transaction's
   * commit record answers alreadyCommitted (a retry after the commit). Every key committed by an
   * earlier attempt: committed at that ts, nothing written. Otherwise each key's commit record at
   * `commitTs` at once (a rollback in that slot becomes the overlapped flag, as in commit).
   */
  private onePc(args: { readonly mutations: readonly Mutation[]; readonly primary: Buffer; readonly startTs: Ts }, commitTs: Ts): ModelResult<PrewriteResult> {
    const outcomes: PrewriteOutcome[] = [];
    const lockErrors: TxnError[] = [];
    const fresh: Mutation[] = [];
    let committedBefore: Ts | null = null;
    for (const m of args.mutations) {
      const key = id(m.key);
      const lock = this.locks.get(key);
      let outcome: ModelResult<PrewriteOutcome>;
      if (lock !== undefined) outcome = keyIsLocked(key, lock);
      else outcome = this.conflictOf(args, m) ?? (m.kind === 'checkNotExists' ? { kind: 'checked' } : { kind: 'prewritten' });
      if (isError(outcome) && m.kind !== 'checkNotExists') {
        const record = this.commitRecordOf(key, args.startTs);
        if (record.kind === 'committed') outcome = { kind: 'alreadyCommitted', commitTs: record.commitTs };
      }
      if (isError(outcome)) {
        if (outcome.code !== 'KeyIsLocked') return outcome;
        lockErrors.push(outcome);
        continue;
      }
      if (outcome.kind === 'alreadyCommitted') committedBefore = outcome.commitTs;
      if (outcome.kind === 'prewritten') fresh.push(m);
      outcomes.push(outcome);
    }
    if (lockErrors.length > 0) return { kind: 'locked', errors: lockErrors };
    if (committedBefore !== null) return fresh.length > 0 ? invalid() : { kind: 'prewritten', outcomes, committedAt: committedBefore };
    for (const m of fresh) {
      const key = id(m.key);
      const versions = this.versions(key);
      // The checks found no record at or after start_ts, so none at commit_ts > start_ts.
      if (versions.has(commitTs)) throw new Error(`model: one-phase commit at ${commitTs} onto a record (unreachable)`);
      versions.set(commitTs, {
        kind: m.kind === 'insert' ? 'put' : m.kind === 'put' ? 'put' : m.kind === 'delete' ? 'delete' : 'lock',
        startTs: args.startTs, value: m.kind === 'put' || m.kind === 'insert' ? m.value : null, hasOverlappedRollback: false, isProtected: false,
      });
      this.noteWrite(key, commitTs);
    }
    return { kind: 'prewritten', outcomes, committedAt: commitTs };
  }

  /** A prewrite's checks on a key with no lock (two- and one-phase): the error or alreadyCommitted they give, else null. */
  private conflictOf(props: { readonly primary: Buffer; readonly startTs: Ts }, m: Mutation): ModelResult<PrewriteOutcome> | null {
    const key = id(m.key);
    const newest = this.versionsDesc(key)[0];
    if (newest !== undefined && newest[0] >= props.startTs) {
      const [commitTs, w] = newest;
      if (commitTs === props.startTs && (w.kind === 'rollback' || w.hasOverlappedRollback)) {
        return err({ kind: 'error', code: 'AlreadyRolledBack', key: m.key, startTs: props.startTs });
      }
      if (w.startTs === props.startTs) return { kind: 'alreadyCommitted', commitTs };
      return err({
        kind: 'error', code: 'WriteConflict', key: m.key, primary: props.primary, startTs: props.startTs,
        conflictStartTs: w.startTs, conflictCommitTs: commitTs,
      });
    }
    if (m.kind === 'checkNotExists' || m.kind === 'insert') {
      const data = this.versionsDesc(key).find(([, w]) => w.kind === 'put' || w.kind === 'delete');
      if (data !== undefined && data[1].kind === 'put') return err({ kind: 'error', code: 'KeyAlreadyExists', key: m.key });
    }
    return null;
  }

  private prewriteOne(
    props: { readonly primary: Buffer; readonly startTs: Ts; readonly lockTtlMs: number; readonly txnSize: number; readonly minCommitTs: Ts },
    m: Mutation,
  ): ModelResult<PrewriteOutcome> {
    const key = id(m.key);
    const lock = this.locks.get(key);
    if (lock !== undefined) {
      if (lock.startTs !== props.startTs) return keyIsLocked(key, lock);
      return { kind: 'alreadyLocked' };
    }
    const decided = this.conflictOf(props, m);
    if (decided !== null) return decided;
    if (m.kind === 'checkNotExists') return { kind: 'checked' };
    const minCommitTs = props.minCommitTs > props.startTs ? props.minCommitTs : props.startTs + 1n;
    this.locks.set(key, {
      kind: m.kind === 'insert' ? 'put' : m.kind, primary: props.primary, startTs: props.startTs, ttlMs: props.lockTtlMs,
      value: m.kind === 'put' || m.kind === 'insert' ? m.value : null, txnSize: props.txnSize, minCommitTs,
    });
    return { kind: 'prewritten' };
  }

  commit(keys: readonly Buffer[], startTs: Ts, commitTs: Ts): ModelResult<{ kind: 'committed' }> {
    if (commitTs <= startTs) return invalid();
    return this.atomic(() => {
      for (const k of keys) {
        const key = id(k);
        const lock = this.locks.get(key);
        if (lock !== undefined && lock.startTs === startTs) {
          const bad = this.commitLock(key, lock, commitTs);
          if (bad !== null) return bad;
          continue;
        }
        const record = this.commitRecordOf(key, startTs);
        if (record.kind !== 'committed') return err({ kind: 'error', code: 'TxnLockNotFound', key: k, startTs, commitTs });
      }
      return { kind: 'committed' as const };
    });
  }

  /** batchRollback (currentTs null) or cleanup (roll back only an expired lock; 0 = always). */
  rollback(keys: readonly Buffer[], startTs: Ts, currentTs: Ts | null): ModelResult<{ kind: 'rolledBack' }> {
    return this.atomic(() => {
      for (const k of keys) {
        const key = id(k);
        const lock = this.locks.get(key);
        if (lock !== undefined && lock.startTs === startTs) {
          if (currentTs !== null && currentTs !== 0n && !isExpired(lock, currentTs)) return keyIsLocked(key, lock);
          this.rollbackLock(key, lock);
          continue;
        }
        const record = this.commitRecordOf(key, startTs);
        if (record.kind === 'committed') return err({ kind: 'error', code: 'AlreadyCommitted', key: k, startTs, commitTs: record.commitTs });
        if (record.kind === 'none') this.writeRollback(key, startTs, true);
      }
      return { kind: 'rolledBack' as const };
    });
  }

  checkTxnStatus(args: {
    readonly primary: Buffer; readonly startTs: Ts; readonly callerStartTs: Ts; readonly currentTs: Ts;
    readonly missingLockAction: 'rollback' | 'error';
  }): ModelResult<TxnStatus> {
    return this.atomic((): ModelResult<TxnStatus> => {
      const key = id(args.primary);
      const lock = this.locks.get(key);
      if (lock !== undefined && lock.startTs === args.startTs) {
        // Asked on a secondary: refused, the lock untouched (rolling a secondary back alone would
        // lose its write when the primary commits).
        if (!lock.primary.equals(args.primary)) return invalid();
        if (isExpired(lock, args.currentTs)) {
          this.rollbackLock(key, lock);
          return { kind: 'rolledBack', reason: 'ttlExpired' };
        }
        let current = lock;
        let isPushed = false;
        const isReader = args.callerStartTs !== 0n && args.callerStartTs !== TS_MAX;
        if (isReader && lock.minCommitTs <= args.callerStartTs) {
          current = { ...lock, minCommitTs: args.callerStartTs + 1n };
          this.locks.set(key, current);
          isPushed = true;
        }
        return { kind: 'locked', lock: toLock(current), ttlRemainingMs: ttlRemainingMs(current, args.currentTs), isMinCommitTsPushed: isPushed };
      }
      const record = this.commitRecordOf(key, args.startTs);
      if (record.kind === 'committed') return { kind: 'committed', commitTs: record.commitTs };
      if (record.kind === 'rolledBack') return { kind: 'rolledBack', reason: 'alreadyRolledBack' };
      if (args.missingLockAction === 'error') return err({ kind: 'error', code: 'TxnNotFound', key: args.primary, startTs: args.startTs });
      this.writeRollback(key, args.startTs, true);
      return { kind: 'rolledBack', reason: 'lockNotExist' };
    });
  }

  resolveLock(startTs: Ts, commitTs: Ts, keys: readonly Buffer[]): ModelResult<{ kind: 'resolved'; resolvedCount: number }> {
    if (commitTs !== 0n && commitTs <= startTs) return invalid();
    return this.atomic(() => {
      let resolvedCount = 0;
      for (const k of keys) {
        const key = id(k);
        const lock = this.locks.get(key);
        if (lock === undefined || lock.startTs !== startTs) continue;
        if (commitTs === 0n) {
          this.rollbackLock(key, lock);
        } else {
          const bad = this.commitLock(key, lock, commitTs);
          if (bad !== null) return bad;
        }
        resolvedCount++;
      }
      return { kind: 'resolved' as const, resolvedCount };
    });
  }

  /** Every lock of `startTs` in [startKey, endKey), resolved in batches of `batchKeys` (each atomic). */
  resolveLockOverRange(startTs: Ts, commitTs: Ts, startKey: Buffer, endKey: Buffer, batchKeys: number): ModelResult<{ kind: 'resolved'; resolvedCount: number }> {
    const keys = [...this.locks].filter(([key, lock]) => lock.startTs === startTs && inRange(key, startKey, endKey)).map(([key]) => key).sort(cmpKey);
    let resolvedCount = 0;
    for (let i = 0; i < keys.length; i += batchKeys) {
      const result = this.resolveLock(startTs, commitTs, keys.slice(i, i + batchKeys).map(buf));
      if (isError(result)) return result;
      resolvedCount += result.resolvedCount;
    }
    return { kind: 'resolved', resolvedCount };
  }

  txnHeartBeat(primary: Buffer, startTs: Ts, adviseLockTtlMs: number): ModelResult<{ kind: 'alive'; lockTtlMs: number }> {
    const key = id(primary);
    const lock = this.locks.get(key);
    if (lock === undefined || lock.startTs !== startTs) return err({ kind: 'error', code: 'TxnNotFound', key: primary, startTs });
    if (adviseLockTtlMs > lock.ttlMs) this.locks.set(key, { ...lock, ttlMs: adviseLockTtlMs });
    return { kind: 'alive', lockTtlMs: Math.max(lock.ttlMs, adviseLockTtlMs) };
  }

  /**
   * GC of [startKey, endKey) at `safePoint`: per key, records above the safe point stay; of the
   * rest, the newest put/delete decides — a put stays, a delete goes — and everything older, and
   * every lock/rollback record at or below the safe point, goes. Answers records removed. The
   * latest record: its data follows the records; it goes only when GC collected the key's newest
   * data write or all its versions and no record is left; maxWriteTs is never lowered.
   */
  gc(safePoint: Ts, startKey: Buffer, endKey: Buffer): { deletedVersions: number; deleted: ModelWrite[] } {
    let deletedVersions = 0;
    const deleted: ModelWrite[] = [];
    for (const key of this.allKeys()) {
      if (!inRange(key, startKey, endKey)) continue;
      const before = this.versionsDesc(key);
      const newestData = before.find(([, w]) => w.kind === 'put' || w.kind === 'delete');
      this.gcKey(key, safePoint, deleted);
      const after = this.writes.get(key) ?? new Map<Ts, ModelWrite>();
      deletedVersions += before.length - after.size;
      const isNewestDataCollected = newestData !== undefined && !after.has(newestData[0]);
      const isEmptied = before.length > 0 && after.size === 0;
      if ((isNewestDataCollected || isEmptied) && after.size === 0) this.maxWriteTs.delete(key);
    }
    return { deletedVersions, deleted };
  }

  private gcKey(key: string, safePoint: Ts, deleted: ModelWrite[]): void {
    let isDataSeen = false;
    for (const [commitTs, w] of this.versionsDesc(key)) {
      if (commitTs > safePoint) continue;
      if (!isDataSeen && w.kind === 'put') {
        isDataSeen = true;
        continue;
      }
      if (w.kind === 'put' || w.kind === 'delete') isDataSeen = true;
      this.writes.get(key)!.delete(commitTs);
      deleted.push(w);
    }
  }

  // ---- reads ---------------------------------------------------------------------------------

  /** The lock that stops a read of `key` at `readTs`, or null. */
  blockingLock(key: string, readTs: Ts, bypass: ReadonlySet<Ts>): ModelLock | null {
    const lock = this.locks.get(key);
    if (lock === undefined) return null;
    if (lock.startTs >= readTs) return null; // newer than the read, or the reader's own
    if (lock.kind === 'lock') return null;
    if (lock.minCommitTs > readTs) return null;
    if (bypass.has(lock.startTs)) return null;
    return lock;
  }

  /** The committed value of `key` visible at `readTs`: the newest put/delete at or below it. */
  valueAt(key: string, readTs: Ts): Buffer | null {
    for (const [commitTs, w] of this.versionsDesc(key)) {
      if (commitTs > readTs) continue;
      if (w.kind === 'put') return w.value;
      if (w.kind === 'delete') return null;
    }
    return null;
  }

  get(key: Buffer, readTs: Ts, bypass: ReadonlySet<Ts>): ModelResult<{ kind: 'value'; value: Buffer | null }> {
    const lock = this.blockingLock(id(key), readTs, bypass);
    if (lock !== null) return keyIsLocked(id(key), lock);
    return { kind: 'value', value: this.valueAt(id(key), readTs) };
  }

  batchGet(keys: readonly Buffer[], readTs: Ts, bypass: ReadonlySet<Ts>): ModelResult<{ kind: 'pairs'; pairs: KvPair[] }> {
    for (const key of keys) {
      const lock = this.blockingLock(id(key), readTs, bypass);
      if (lock !== null) return keyIsLocked(id(key), lock);
    }
    const pairs: KvPair[] = [];
    for (const key of keys) {
      const value = this.valueAt(id(key), readTs);
      if (value !== null) pairs.push({ key, value });
    }
    return { kind: 'pairs', pairs };
  }

  /**
   * Up to `limit` pairs of [startKey, endKey) at readTs in scan order. The scan answers for every
   * key it passed: from its start up to and including its last pair when the limit stopped it
   * (from the end down to the last pair when reverse), else the whole range. A blocking lock on a
   * covered key fails it — the lowest such key (the contract does not order them; txn/ reports
   * the lowest for both directions).
   */
  scan(startKey: Buffer, endKey: Buffer, readTs: Ts, limit: number, isReverse: boolean, bypass: ReadonlySet<Ts>): ModelResult<{ kind: 'pairs'; pairs: KvPair[] }> {
    const keys = this.allKeys().filter((key) => inRange(key, startKey, endKey));
    if (isReverse) keys.reverse();
    const pairs: KvPair[] = [];
    for (const key of keys) {
      if (pairs.length >= limit) break;
      const value = this.valueAt(key, readTs);
      if (value !== null) pairs.push({ key: buf(key), value });
    }
    const last = pairs.length >= limit ? pairs[pairs.length - 1] : undefined;
    const coveredStart = isReverse && last !== undefined ? last.key : startKey;
    const coveredEndInclusive = !isReverse && last !== undefined ? last.key : null;
    for (const key of [...keys].sort(cmpKey)) {
      if (cmpKey(key, id(coveredStart)) < 0) continue;
      if (coveredEndInclusive !== null && cmpKey(key, id(coveredEndInclusive)) > 0) continue;
      const lock = this.blockingLock(key, readTs, bypass);
      if (lock !== null) return keyIsLocked(key, lock);
    }
    return { kind: 'pairs', pairs };
  }

  scanLock(maxTs: Ts, startKey: Buffer, endKey: Buffer, limit: number): { kind: 'locks'; locks: LockInfo[] } {
    const locks = [...this.locks]
      .filter(([key, lock]) => lock.startTs <= maxTs && inRange(key, startKey, endKey))
      .sort((a, b) => cmpKey(a[0], b[0]))
      .slice(0, limit)
      .map(([key, lock]) => lockInfoOf(key, lock));
    return { kind: 'locks', locks };
  }

  // ---- whole state ---------------------------------------------------------------------------

  expectedState(): ExpectedState {
    const locks = new Map<string, Lock>();
    const writes = new Map<string, Map<Ts, Write>>();
    const values = new Map<string, Buffer>();
    const latest = new Map<string, { data: { commitTs: Ts; write: Write } | null; maxWriteTs: Ts }>();
    for (const [key, lock] of this.locks) {
      locks.set(key, toLock(lock));
      if (lock.value !== null && isLongValue(lock.value)) values.set(`${key}@${lock.startTs}`, lock.value);
    }
    for (const [key, versions] of this.writes) {
      if (versions.size === 0) continue;
      const out = new Map<Ts, Write>();
      for (const [commitTs, w] of versions) {
        out.set(commitTs, {
          kind: w.kind, startTs: w.startTs, shortValue: w.value !== null && !isLongValue(w.value) ? w.value : null,
          hasOverlappedRollback: w.hasOverlappedRollback, isProtected: w.isProtected,
        });
        if (w.kind === 'put' && w.value !== null && isLongValue(w.value)) values.set(`${key}@${w.startTs}`, w.value);
      }
      writes.set(key, out);
      if (!this.maxWriteTs.has(key)) throw new Error(`model: key ${JSON.stringify(key)} has write records but no latest record`);
    }
    for (const [key, maxWriteTs] of this.maxWriteTs) {
      const newestData = this.versionsDesc(key).find(([, w]) => w.kind === 'put' || w.kind === 'delete');
      const data = newestData === undefined ? null : {
        commitTs: newestData[0],
        write: {
          kind: newestData[1].kind, startTs: newestData[1].startTs, shortValue: newestData[1].value !== null && !isLongValue(newestData[1].value) ? newestData[1].value : null,
          hasOverlappedRollback: false, isProtected: false,
        },
      };
      latest.set(key, { data, maxWriteTs });
    }
    return { locks, writes, values, latest };
  }
}

// ---- pure helpers ----------------------------------------------------------------------------

export function isError(value: unknown): value is TxnError {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'error';
}

function invalid(): TxnError {
  return { kind: 'error', code: 'InvalidArgument', message: '(model: any message)' };
}

/** Expired when the physical ms of start_ts plus the TTL lies strictly before current_ts's (TiKV). */
export function isExpired(lock: ModelLock, currentTs: Ts): boolean {
  return extractPhysical(lock.startTs) + BigInt(lock.ttlMs) < extractPhysical(currentTs);
}

export function ttlRemainingMs(lock: ModelLock, currentTs: Ts): number {
  const left = extractPhysical(lock.startTs) + BigInt(lock.ttlMs) - extractPhysical(currentTs);
  return left > 0n ? Number(left) : 0;
}

export function inRange(key: string, startKey: Buffer, endKey: Buffer): boolean {
  const k = buf(key);
  return Buffer.compare(k, startKey) >= 0 && (endKey.length === 0 || Buffer.compare(k, endKey) < 0);
}

export function toLock(lock: ModelLock): Lock {
  return {
    kind: lock.kind, primary: lock.primary, startTs: lock.startTs, ttlMs: lock.ttlMs,
    shortValue: lock.value !== null && !isLongValue(lock.value) ? lock.value : null, txnSize: lock.txnSize, minCommitTs: lock.minCommitTs,
  };
}

function lockInfoOf(key: string, lock: ModelLock): LockInfo {
  return {
    key: buf(key), primary: lock.primary, startTs: lock.startTs, ttlMs: lock.ttlMs, kind: lock.kind, txnSize: lock.txnSize,
    minCommitTs: lock.minCommitTs,
  };
}

function keyIsLocked(key: string, lock: ModelLock): TxnError {
  return { kind: 'error', code: 'KeyIsLocked', lock: lockInfoOf(key, lock) };
}
