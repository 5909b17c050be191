// MvccReader: Percolator's view of one snapshot or read view. Point reads check the lock CF, then
// find the newest put/delete at or below a ts — by a point lookup of the latest record when it is
// at or below the ts, else by walking the write CF; scans (actions/get.ts) walk the latest CF, one
// record per key, with the same fallback; GC walks the write CF grouping versions per user key. All keys handed in and out are user keys; the keyspace module turns them into engine
// keys.
//
// Lock first: every read path here reads a key's lock before its latest/write/default records, and
// a range's locks before its write records. On a true snapshot the order does not matter; on a
// TxnEngine.readView (the live state) it is what makes the reads correct — the argument is at
// TxnEngine.readView in snapshot.ts.
//
// One engine call for several keys and CFs: loadLocksAndLatests and loadKeyRecords put a batch's
// locks first, then its other records, in one multiGet. The engine's getMany reads them at one
// point in time (RocksDB: the binding's GetManyWorker takes a DB snapshot and reads the keys in
// order; the in-memory engine reads its state synchronously), so lock-first holds within the call
// too, and the Snapshot.multiGet contract (snapshot.ts) says so.

import { FlotillaError, type Ts } from '../../common/pure.js';
import {
  cfRangeOf, decodeDataKey, defaultKey, latestKey, lockKey, sameUserKey, versionOf, versionsEndKey, writeKey,
} from '../../common/pure.js';
import { TS_MAX } from '../../common/pure.js';
import { keyIsLocked, type TxnError } from '../errors.js';
import { SCAN_BATCH_ENTRIES } from '../limits.js';
import { decodeLatestEntry, type LatestRecord } from '../records/latest.js';
import { decodeLockEntry, type Lock } from '../records/lock.js';
import { decodeWrite, type Write } from '../records/write.js';
import { type KvEntry, type Snapshot } from './snapshot.js';

export interface VersionedWrite {
  readonly commitTs: Ts;
  readonly write: Write;
}

/** What a transaction's commit record on one key says. */
export type TxnCommitRecord =
  | { readonly kind: 'committed'; readonly commitTs: Ts; readonly write: Write }
  | { readonly kind: 'rolledBack' }
  | { readonly kind: 'none' };

/** What a write command reads of one key before acting on it, fetched for all its keys in one engine call. */
export interface KeyRecords {
  readonly lock: Lock | null;
  /** The write record at the command's slot ts (commit: commit_ts; rollback: start_ts), or null. */
  readonly slot: Write | null;
  readonly latest: LatestRecord | null;
}

/** Locks a read may pass: TiKV's bypass set, filled from checkTxnStatus answers (min_commit_ts pushed). */
export type BypassLocks = ReadonlySet<Ts>;

/** No locks bypassed (the default of every read). */
export const NO_BYPASS: BypassLocks = new Set<Ts>();
const EMPTY = Buffer.alloc(0);

/**
 * Whether a lock blocks a read at `readTs`. It does not when it is newer than the read, is the
 * reader's own (start_ts = readTs), is a `lock`-kind lock (no data), its min_commit_ts is already
 * above the read (so its commit cannot land at or below readTs), or the caller bypasses it.
 */
export function lockBlocksRead(lock: Lock, readTs: Ts, bypassLocks: BypassLocks): boolean {
  if (lock.startTs > readTs) return false;
  if (lock.startTs === readTs) return false;
  if (lock.kind === 'lock') return false;
  if (lock.minCommitTs > readTs) return false;
  if (bypassLocks.has(lock.startTs)) return false;
  return true;
}

/**
 * What a key's latest record alone says of its newest put/delete with commit_ts ≤ ts (the rule of
 * MvccReader.writeAtOrBelow, synchronous for batch reads): that write, null (none), or 'walk'
 * (its newest data is newer than ts: only the write CF can say).
 */
export function writeAtOrBelowFromLatest(latest: LatestRecord | null, ts: Ts): VersionedWrite | null | 'walk' {
  const data = latest?.data ?? null;
  if (data === null) return null;
  return data.commitTs <= ts ? data : 'walk';
}

/** Whether the user key `key` is in [startKey, endKey) (empty endKey = +∞). */
export function keyInRange(key: Buffer, startKey: Buffer, endKey: Buffer): boolean {
  return Buffer.compare(key, startKey) >= 0 && (endKey.length === 0 || Buffer.compare(key, endKey) < 0);
}

export class MvccReader {
  constructor(readonly snapshot: Snapshot) {}

  async loadLock(key: Buffer): Promise<Lock | null> {
    const bytes = await this.snapshot.get(lockKey(key));
    return decodeLockEntry(bytes);
  }

  /** Locks of several keys in one engine call, in the order of `keys`. */
  async loadLocks(keys: readonly Buffer[]): Promise<(Lock | null)[]> {
    const values = await this.snapshot.multiGet(keys.map((k) => lockKey(k)));
    return values.map((v) => decodeLockEntry(v));
  }

  /** Locks and latest records of several keys in one engine call (locks first), each in the order of `keys`. */
  async loadLocksAndLatests(keys: readonly Buffer[]): Promise<{ locks: (Lock | null)[]; latests: (LatestRecord | null)[] }> {
    // Plain loops: every transactional read and prewrite comes through here.
    const n = keys.length;
    const engineKeys = new Array<Buffer>(2 * n);
    for (let i = 0; i < n; i++) {
      engineKeys[i] = lockKey(keys[i]!);
      engineKeys[n + i] = latestKey(keys[i]!);
    }
    const values = await this.snapshot.multiGet(engineKeys);
    const locks = new Array<Lock | null>(n);
    const latests = new Array<LatestRecord | null>(n);
    for (let i = 0; i < n; i++) {
      locks[i] = decodeLockEntry(values[i]);
      latests[i] = decodeLatestEntry(values[n + i]);
    }
    return { locks, latests };
  }

  /**
   * Lock, write record at `slotTs` and latest record of each key in one engine call (all locks
   * first), in the order of `keys`.
   */
  async loadKeyRecords(keys: readonly Buffer[], slotTs: Ts): Promise<KeyRecords[]> {
    const n = keys.length;
    const values = await this.snapshot.multiGet([
      ...keys.map((k) => lockKey(k)), ...keys.map((k) => writeKey(k, slotTs)), ...keys.map((k) => latestKey(k)),
    ]);
    return keys.map((_, i) => {
      const slotBytes = values[n + i];
      return {
        lock: decodeLockEntry(values[i]),
        slot: slotBytes === null || slotBytes === undefined ? null : decodeWrite(slotBytes),
        latest: decodeLatestEntry(values[2 * n + i]),
      };
    });
  }

  /**
   * The newest write record of `key`, of any kind, if its commit_ts ≥ fromTs; else null. Prewrite's
   * conflict check, by the latest record's maxWriteTs (records/latest.ts, invariant M: every write
   * record of the key has commit_ts ≤ maxWriteTs, and a key with any write record has a latest
   * record):
   *   - no latest record: the key has no write record at all → null, no further read;
   *   - maxWriteTs < fromTs: every write record is older than fromTs → null, no further read;
   *   - else one point get at maxWriteTs: a record there is the newest (nothing lies above M's
   *     bound) → it;
   *   - none there (GC collected the record at the bound; the bound stays, see actions/gc.ts) →
   *     the iterator: seekWrite(key, TS_MAX).
   * A bound above the truth costs only the fallback, never a missed record: the answer is always
   * the one seekWrite(key, TS_MAX) gives, filtered by fromTs.
   */
  async newestWriteFrom(key: Buffer, fromTs: Ts, latest: LatestRecord | null): Promise<VersionedWrite | null> {
    if (latest === null || latest.maxWriteTs < fromTs) return null;
    const atBound = await this.snapshot.get(writeKey(key, latest.maxWriteTs));
    const newest = atBound !== null ? { commitTs: latest.maxWriteTs, write: decodeWrite(atBound) } : await this.seekWrite(key, TS_MAX);
    return newest !== null && newest.commitTs >= fromTs ? newest : null;
  }

  /** The newest write of `key` with commit_ts ≤ ts, of any kind. */
  async seekWrite(key: Buffer, ts: Ts): Promise<VersionedWrite | null> {
    const entries = await this.snapshot.scan(writeKey(key, ts), versionsEndKey('write', key), { limit: 1 });
    const entry = entries[0];
    return entry === undefined ? null : { commitTs: versionOf(entry.key), write: decodeWrite(entry.value) };
  }

  /** The latest record of `key`, or null when it has no write record (records/latest.ts). */
  async loadLatest(key: Buffer): Promise<LatestRecord | null> {
    return decodeLatestEntry(await this.snapshot.get(latestKey(key)));
  }

  /** Latest records of several keys in one engine call, in the order of `keys`. */
  async loadLatests(keys: readonly Buffer[]): Promise<(LatestRecord | null)[]> {
    const values = await this.snapshot.multiGet(keys.map((k) => latestKey(k)));
    return values.map((v) => decodeLatestEntry(v));
  }

  /**
   * The newest put/delete of `key` with commit_ts ≤ ts (rollback and lock records are skipped),
   * or null. One point lookup of the latest record in the common case (see writeAtOrBelow).
   */
  async getWrite(key: Buffer, ts: Ts): Promise<VersionedWrite | null> {
    return this.writeAtOrBelow(key, ts, await this.loadLatest(key));
  }

  /**
   * getWrite given the key's latest record as read by the caller (batch reads fetch many at once):
   *   - no latest record, or one without data: the key has no put/delete at all → null, no iterator;
   *   - data.commit_ts ≤ ts: it is the newest data write, so the newest ≤ ts → it;
   *   - data.commit_ts > ts: an older version is wanted → the write-CF walk (scanWrite).
   * Correct because the latest record's data part is always the key's newest put/delete
   * (invariant D of records/latest.ts: commit writes it in increasing commit_ts order, argued in
   * actions/commit.ts; GC clears it exactly when it collects that write, actions/gc.ts).
   */
  async writeAtOrBelow(key: Buffer, ts: Ts, latest: LatestRecord | null): Promise<VersionedWrite | null> {
    const known = writeAtOrBelowFromLatest(latest, ts);
    return known === 'walk' ? this.scanWrite(key, ts) : known;
  }

  /**
   * The newest put/delete of `key` with commit_ts ≤ ts by walking the write CF (the fallback of
   * getWrite; also what getWrite was before the latest record). Reads in growing batches: most
   * keys have few versions.
   */
  async scanWrite(key: Buffer, ts: Ts): Promise<VersionedWrite | null> {
    const end = versionsEndKey('write', key);
    let start = writeKey(key, ts);
    let limit = 1;
    for (;;) {
      const entries = await this.snapshot.scan(start, end, { limit });
      for (const entry of entries) {
        const write = decodeWrite(entry.value);
        if (write.kind === 'put' || write.kind === 'delete') return { commitTs: versionOf(entry.key), write };
      }
      const last = entries[entries.length - 1];
      if (entries.length < limit || last === undefined) return null;
      const lastTs = versionOf(last.key);
      if (lastTs === 0n) return null;
      start = writeKey(key, lastTs - 1n);
      limit = Math.min(limit * 4, SCAN_BATCH_ENTRIES);
    }
  }

  /** The value a put write refers to: inline, or in the default CF at key ‖ start_ts. */
  async loadValue(key: Buffer, write: Write): Promise<Buffer> {
    if (write.shortValue !== null) return write.shortValue;
    const value = await this.snapshot.get(defaultKey(key, write.startTs));
    if (value === null) {
      throw new FlotillaError('Corruption', `default value missing for a put at start_ts ${write.startTs}`);
    }
    return value;
  }

  /**
   * Looks for the commit record of the transaction `startTs` on `key`: every write with
   * commit_ts ≥ start_ts is examined, newest first. Reads the latest record first (see
   * findTxnCommitRecord).
   */
  async getTxnCommitRecord(key: Buffer, startTs: Ts): Promise<TxnCommitRecord> {
    return this.findTxnCommitRecord(key, startTs, await this.loadLatest(key));
  }

  /**
   * getTxnCommitRecord given the key's latest record as read by the caller. Every record it looks
   * at has commit_ts ≥ start_ts (a commit record's commit_ts > its start_ts; a rollback record
   * and the overlapped flag sit at commit_ts = start_ts), so when the key has no latest record or
   * its maxWriteTs < start_ts there is none (invariant M of records/latest.ts) → 'none' without
   * an iterator. Else the write-CF walk.
   */
  async findTxnCommitRecord(key: Buffer, startTs: Ts, latest: LatestRecord | null): Promise<TxnCommitRecord> {
    if (latest === null || latest.maxWriteTs < startTs) return { kind: 'none' };
    const end = startTs === 0n ? versionsEndKey('write', key) : writeKey(key, startTs - 1n);
    let start = writeKey(key, TS_MAX);
    for (;;) {
      const entries = await this.snapshot.scan(start, end, { limit: SCAN_BATCH_ENTRIES });
      for (const entry of entries) {
        const commitTs = versionOf(entry.key);
        const write = decodeWrite(entry.value);
        if (write.startTs === startTs) {
          return write.kind === 'rollback' ? { kind: 'rolledBack' } : { kind: 'committed', commitTs, write };
        }
        if (commitTs === startTs && write.hasOverlappedRollback) return { kind: 'rolledBack' };
      }
      const last = entries[entries.length - 1];
      if (entries.length < SCAN_BATCH_ENTRIES || last === undefined) return { kind: 'none' };
      start = writeKey(key, versionOf(last.key) - 1n);
    }
  }

  /**
   * Values of put writes, in order: inline ones as they are, long ones from the default CF in one
   * engine call. A missing long value is Corruption.
   */
  async loadValues(found: readonly { readonly key: Buffer; readonly write: Write }[]): Promise<Buffer[]> {
    const longAt: number[] = [];
    for (let i = 0; i < found.length; i++) if (found[i]!.write.shortValue === null) longAt.push(i);
    const longValues = longAt.length === 0 ? [] : await this.snapshot.multiGet(longAt.map((i) => defaultKey(found[i]!.key, found[i]!.write.startTs)));
    const out = found.map(({ write }) => write.shortValue ?? EMPTY);
    for (let j = 0; j < longAt.length; j++) {
      const value = longValues[j];
      const { write } = found[longAt[j]!]!;
      if (value === null || value === undefined) throw new FlotillaError('Corruption', `default value missing for a put at start_ts ${write.startTs}`);
      out[longAt[j]!] = value;
    }
    return out;
  }

  /**
   * A read of one key at `readTs`: KeyIsLocked if a lock blocks it, else value or null. Reads the
   * lock and the latest record in one multiGet, lock first (then, only if its data is newer than
   * readTs, the write CF), then a long value: lock first (see the file header).
   */
  async get(key: Buffer, readTs: Ts, bypassLocks: BypassLocks = NO_BYPASS): Promise<Buffer | null | TxnError> {
    const { locks, latests } = await this.loadLocksAndLatests([key]);
    const lock = locks[0] ?? null;
    if (lock !== null && lockBlocksRead(lock, readTs, bypassLocks)) return keyIsLocked(key, lock);
    const found = await this.writeAtOrBelow(key, readTs, latests[0] ?? null);
    if (found === null || found.write.kind === 'delete') return null;
    return this.loadValue(key, found.write);
  }

  /** The committed value at `readTs`, ignoring locks (callers that care read the lock first). */
  async getCommitted(key: Buffer, readTs: Ts): Promise<Buffer | null> {
    const found = await this.getWrite(key, readTs);
    if (found === null || found.write.kind === 'delete') return null;
    return this.loadValue(key, found.write);
  }

  /**
   * Locks with user keys in [startKey, endKey), at most `limit`, in key order, passing `filter`.
   * Returns the locks and whether the range was exhausted.
   */
  async scanLocks(
    startKey: Buffer, endKey: Buffer, limit: number, filter: (lock: Lock) => boolean,
  ): Promise<{ locks: { key: Buffer; lock: Lock }[]; isExhausted: boolean }> {
    const range = cfRangeOf('lock', startKey, endKey);
    let start = range.start;
    const locks: { key: Buffer; lock: Lock }[] = [];
    for (;;) {
      const entries = await this.snapshot.scan(start, range.end, { limit: SCAN_BATCH_ENTRIES });
      for (const entry of entries) {
        const lock = decodeLockEntry(entry.value);
        if (lock === null || !filter(lock)) continue;
        locks.push({ key: decodeDataKey(entry.key).userKey, lock });
        if (locks.length >= limit) return { locks, isExhausted: false };
      }
      const last = entries[entries.length - 1];
      if (entries.length < SCAN_BATCH_ENTRIES || last === undefined) return { locks, isExhausted: true };
      start = keyAfter(last.key);
    }
  }

  /**
   * Walks the write CF over user keys [startKey, endKey) in key order, handing each user key's
   * versions (newest first) to `visit` until it returns 'stop'.
   */
  async forEachKeyVersions(
    startKey: Buffer, endKey: Buffer,
    visit: (key: Buffer, versions: readonly KvEntry[]) => 'continue' | 'stop',
  ): Promise<void> {
    const range = cfRangeOf('write', startKey, endKey);
    let start = range.start;
    let group: KvEntry[] = [];
    const flush = (): 'continue' | 'stop' => {
      const first = group[0];
      if (first === undefined) return 'continue';
      const versions = group;
      group = [];
      return visit(decodeDataKey(first.key).userKey, versions);
    };
    for (;;) {
      const entries = await this.snapshot.scan(start, range.end, { limit: SCAN_BATCH_ENTRIES });
      for (const entry of entries) {
        const head = group[0];
        if (head !== undefined && !sameUserKey(head.key, entry.key)) {
          if (flush() === 'stop') return;
        }
        group.push(entry);
      }
      const last = entries[entries.length - 1];
      if (entries.length < SCAN_BATCH_ENTRIES || last === undefined) {
        flush();
        return;
      }
      start = keyAfter(last.key);
    }
  }
}

/** The smallest key greater than `key`: key ‖ 0x00. */
export function keyAfter(key: Buffer): Buffer {
  const out = Buffer.alloc(key.length + 1);
  key.copy(out, 0);
  return out;
}
