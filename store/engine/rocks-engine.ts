// The RocksDB engine (through the `rocksdb` npm binding). Snapshots are iterators: creating one
// pins a RocksDB snapshot, and seek() moves it without losing that snapshot, so one iterator
// serves gets, multi-gets and scans over many ranges at one point in time. The binding allows one
// operation per iterator at a time (and a seek during a next would race the worker thread), so a
// snapshot runs its operations one after another on an internal queue.
//
// Binding facts this relies on (rocksdb 5.2.1 binding.cc): iterator_init takes the snapshot
// synchronously; the first next() after a seek returns exactly one entry; later ones a batch up to
// highWaterMark bytes; seek() itself runs on the main thread (a memtable/block-cache lookup — the
// binding offers nothing async); db.close() ends iterators still open, and an end() called on one
// of those afterwards never calls back (so close waits for scans first). A bloom filter (10 bits/key)
// is always on in this binding; the block cache, write buffer and block size are options.

import { FlotillaError, invariant } from '../../common/index.js';
import { type KvEntry, type SnapshotScanOptions } from '../../txn/index.js';
import { createRocksDb, type RocksDb, type RocksIterator, writeRocksBatch } from '../../common/index.js';
import { isCachedKey, RowCache, type RowCacheStats } from './row-cache.js';
import {
  type DeleteRangeOptions, type Engine, type EngineStats, type Snapshot, type SnapshotOptions, type WriteOp,
  type EngineWriteOptions,
} from './types.js';

export interface RocksEngineOptions {
  /** LRU block cache; hot index/filter/data blocks stay in memory. */
  readonly blockCacheBytes: number;
  /**
   * Memtable size before a flush; larger absorbs write bursts, costs memory and recovery time,
   * and makes every memtable insert and lookup slower (a deeper skip list over more memory: with
   * 64 MiB, skip-list search and splice recomputation were most of a store's RocksDB CPU under
   * raw puts and transfers; 16 MiB gave +6 % raw puts, +3 % transfers, bench/README.md).
   */
  readonly writeBufferBytes: number;
  readonly blockBytes: number;
  readonly maxOpenFiles: number;
  /** Target SST size. */
  readonly maxFileBytes: number;
  readonly isCompressed: boolean;
  /** The row cache of the lock and latest CFs (row-cache.ts); 0 turns it off. */
  readonly rowCacheBytes: number;
}

export const ROCKS_ENGINE_DEFAULTS: RocksEngineOptions = {
  blockCacheBytes: 256 * 1024 * 1024,
  writeBufferBytes: 16 * 1024 * 1024,
  blockBytes: 16 * 1024,
  maxOpenFiles: 4096,
  maxFileBytes: 64 * 1024 * 1024,
  isCompressed: true,
  rowCacheBytes: 64 * 1024 * 1024,
};

/** Keys per coalesced getMany call, at most (a read of more keys goes alone). */
export const READ_COALESCE_KEYS_MAX = 1024;

interface PendingRead {
  readonly keys: readonly Buffer[];
  readonly resolve: (values: (Buffer | null)[]) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * Point reads (get and multiGet) issued in one turn of the event loop go to RocksDB as one getMany
 * call, sent from setImmediate. Measured here, a binding call costs ~25-35 µs of main-thread time
 * whatever it carries (getMany of 16 keys costs what one get does): per call, not per key. Each
 * read still sees one moment after its call — the binding's getMany reads every key of the call
 * from one RocksDB snapshot taken when the call is made — so callers see what they saw before,
 * only in fewer, larger calls.
 */
class ReadCoalescer {
  private pending: PendingRead[] = [];
  private isScheduled = false;
  reads = 0;
  calls = 0;

  /** `cache`: filled with what each getMany read (row-cache.ts says when it may be). */
  constructor(private readonly db: RocksDb, private readonly cache: RowCache | null) {}

  read(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    this.reads++;
    return new Promise((resolve, reject) => {
      this.pending.push({ keys, resolve, reject });
      if (!this.isScheduled) {
        this.isScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.isScheduled = false;
    let group: PendingRead[] = [];
    let groupKeys = 0;
    for (const r of batch) {
      if (group.length > 0 && groupKeys + r.keys.length > READ_COALESCE_KEYS_MAX) {
        this.send(group, groupKeys);
        group = [];
        groupKeys = 0;
      }
      group.push(r);
      groupKeys += r.keys.length;
    }
    if (group.length > 0) this.send(group, groupKeys);
  }

  private send(group: readonly PendingRead[], count: number): void {
    this.calls++;
    const keys: Buffer[] = new Array<Buffer>(count);
    let at = 0;
    for (const r of group) for (const k of r.keys) keys[at++] = k;
    // Taken as the call takes its RocksDB snapshot (synchronously, below).
    const stamp = this.cache?.stamp ?? 0;
    this.db.getMany(keys, { asBuffer: true }, (err, values) => {
      if (err || values === undefined) {
        const failure = engineError('getMany', err ?? new Error('no values'));
        for (const r of group) r.reject(failure);
        return;
      }
      let from = 0;
      for (const r of group) {
        const out = new Array<Buffer | null>(r.keys.length);
        for (let i = 0; i < r.keys.length; i++) out[i] = values[from + i] ?? null;
        from += r.keys.length;
        this.cache?.fill(r.keys, out, stamp);
        r.resolve(out);
      }
    });
  }
}

/** Bytes an iterator reads ahead per batch during scans (the binding's highWaterMark). */
const SCAN_READ_AHEAD_BYTES = 64 * 1024;

function engineError(op: string, err: unknown): FlotillaError {
  const message = err instanceof Error ? err.message : String(err);
  return new FlotillaError('EngineError', `rocksdb ${op}: ${message}`, { cause: err });
}

type Step = { readonly key: Buffer; readonly value: Buffer } | null;

function nextEntry(iterator: RocksIterator): Promise<Step> {
  return new Promise((resolve, reject) => {
    iterator.next((err, key, value) => {
      if (err) reject(engineError('iterator next', err));
      else if (key === undefined || value === undefined) resolve(null);
      else resolve({ key, value });
    });
  });
}

function endIterator(iterator: RocksIterator): Promise<void> {
  return new Promise((resolve, reject) => {
    iterator.end((err) => (err ? reject(engineError('iterator end', err)) : resolve()));
  });
}

class RocksSnapshot implements Snapshot {
  private queue: Promise<unknown> = Promise.resolve();
  private isReleased = false;

  constructor(
    private readonly engine: RocksEngine,
    private readonly forward: RocksIterator,
    private readonly reverse: RocksIterator | null,
  ) {}

  get(key: Buffer): Promise<Buffer | null> {
    return this.enqueue(() => this.getNow(key));
  }

  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.enqueue(async () => {
      const out: (Buffer | null)[] = [];
      for (const key of keys) out.push(await this.getNow(key));
      return out;
    });
  }

  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    invariant(Number.isSafeInteger(options.limit) && options.limit >= 1, 'scan limit must be a positive integer');
    return this.enqueue(() => (options.isReverse === true ? this.scanReverse(start, end, options.limit) : this.scanForward(start, end, options.limit)));
  }

  async release(): Promise<void> {
    if (this.isReleased) return;
    this.isReleased = true;
    // Let queued operations finish (or fail) first: end() while a next() is running is deferred
    // by the binding anyway, but our queue keeps the order explicit.
    await this.queue.then(() => undefined, () => undefined);
    this.engine.onSnapshotReleased(this);
    await endIterator(this.forward);
    if (this.reverse !== null) await endIterator(this.reverse);
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    if (this.isReleased) return Promise.reject(new FlotillaError('EngineError', 'snapshot is released'));
    if (this.engine.isClosed) return Promise.reject(new FlotillaError('EngineError', 'engine is closed'));
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private seek(iterator: RocksIterator, target: Buffer): void {
    invariant(target.length > 0, 'seek target must not be empty');
    try {
      iterator.seek(target);
    } catch (err) {
      throw engineError('iterator seek', err);
    }
  }

  private async getNow(key: Buffer): Promise<Buffer | null> {
    this.seek(this.forward, key);
    const step = await nextEntry(this.forward);
    return step !== null && step.key.equals(key) ? step.value : null;
  }

  private async scanForward(start: Buffer, end: Buffer, limit: number): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    if (Buffer.compare(start, end) >= 0) return out;
    this.seek(this.forward, start);
    while (out.length < limit) {
      const step = await nextEntry(this.forward);
      if (step === null || Buffer.compare(step.key, end) >= 0) break;
      out.push(step);
    }
    return out;
  }

  private async scanReverse(start: Buffer, end: Buffer, limit: number): Promise<KvEntry[]> {
    if (this.reverse === null) {
      throw new FlotillaError('InvalidArgument', 'reverse scan on a snapshot opened without isReverseEnabled');
    }
    const out: KvEntry[] = [];
    if (Buffer.compare(start, end) >= 0) return out;
    this.seek(this.reverse, end); // lands on the last key ≤ end
    while (out.length < limit) {
      const step = await nextEntry(this.reverse);
      if (step === null || Buffer.compare(step.key, start) < 0) break;
      if (Buffer.compare(step.key, end) >= 0) continue; // the key equal to `end` itself
      out.push(step);
    }
    return out;
  }
}

/**
 * The live database behind txn's Snapshot (Engine.readView): point gets and batched getMany, a
 * fresh bounded iterator per scan. Nothing is pinned, so release is a no-op.
 */
class RocksReadView implements Snapshot {
  constructor(private readonly engine: RocksEngine) {}

  get(key: Buffer): Promise<Buffer | null> {
    return this.engine.get(key);
  }

  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.engine.multiGet(keys);
  }

  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    return this.engine.scanFresh(start, end, options);
  }

  async release(): Promise<void> {
    // Nothing pinned.
  }
}

export class RocksEngine implements Engine {
  readonly kind = 'rocksdb' as const;
  private closed = false;
  private closing: Promise<void> | null = null;
  private writeCount = 0;
  private syncWriteCount = 0;
  private writesInFlight = 0;
  /** Writes held back while a two-iterator snapshot is being opened. */
  private heldWrites: (() => void)[] = [];
  private isGateClosed = false;
  private drainWaiters: (() => void)[] = [];
  private readonly snapshots = new Set<RocksSnapshot>();
  /** Read-view scans in flight (scanFresh): close() waits for each to end its iterator. */
  private readonly freshScans = new Set<Promise<KvEntry[]>>();

  private readonly liveView: Snapshot = new RocksReadView(this);
  private readonly reads: ReadCoalescer;
  private readonly rowCache: RowCache | null;

  private constructor(private readonly db: RocksDb, readonly location: string, rowCacheBytes: number) {
    this.rowCache = rowCacheBytes > 0 ? new RowCache(rowCacheBytes) : null;
    this.reads = new ReadCoalescer(db, this.rowCache);
  }

  /** Opens (creating if missing) the database at `location`. */
  static async open(location: string, options: Partial<RocksEngineOptions> = {}): Promise<RocksEngine> {
    const o = { ...ROCKS_ENGINE_DEFAULTS, ...options };
    for (const [field, value] of Object.entries(o)) {
      if (field === 'rowCacheBytes') invariant(Number.isSafeInteger(value) && (value as number) >= 0, () => `rocks option ${field}: ${value}`);
      else if (typeof value === 'number') invariant(Number.isSafeInteger(value) && value > 0 && value <= 0xffffffff, () => `rocks option ${field}: ${value}`);
    }
    const db = createRocksDb(location);
    await new Promise<void>((resolve, reject) => {
      db.open({
        createIfMissing: true,
        errorIfExists: false,
        compression: o.isCompressed,
        cacheSize: o.blockCacheBytes,
        writeBufferSize: o.writeBufferBytes,
        blockSize: o.blockBytes,
        maxOpenFiles: o.maxOpenFiles,
        maxFileSize: o.maxFileBytes,
      }, (err) => (err ? reject(engineError(`open ${location}`, err)) : resolve()));
    });
    return new RocksEngine(db, location, o.rowCacheBytes);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get stats(): EngineStats {
    return { writeCount: this.writeCount, syncWriteCount: this.syncWriteCount, openSnapshotCount: this.snapshots.size };
  }

  /**
   * A point read of the live database. Joins the turn's coalesced getMany (see ReadCoalescer): it
   * reads the state at one moment after the call, as every point read here does.
   */
  async get(key: Buffer): Promise<Buffer | null> {
    this.check();
    invariant(key.length > 0, 'get: empty key');
    const hit = this.rowCache !== null && isCachedKey(key) ? this.rowCache.lookupAll([key]) : undefined;
    if (hit !== undefined) return hit[0] ?? null;
    const [value] = await this.reads.read([key]);
    return value ?? null;
  }

  /** Point reads of several keys at one moment after the call (one getMany with the turn's other reads). */
  async multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    this.check();
    for (const k of keys) invariant(k.length > 0, 'multiGet: empty key'); // the binding skips empty keys
    if (keys.length === 0) return [];
    return (this.rowCache !== null && isCachedKey(keys[0]!) ? this.rowCache.lookupAll(keys) : undefined) ?? this.reads.read(keys);
  }

  /** The row cache's counters (null when it is off). */
  get rowCacheStats(): RowCacheStats | null {
    return this.rowCache?.stats ?? null;
  }

  /** Reads issued so far, and getMany calls that carried them (coalescing at work; tests). */
  get readStats(): { readonly reads: number; readonly calls: number } {
    return { reads: this.reads.reads, calls: this.reads.calls };
  }

  async snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    this.check();
    if (options.isReverseEnabled !== true) return this.pinSnapshot();
    // Two iterators must pin one point in time: no write may land between their creation.
    this.isGateClosed = true;
    try {
      while (this.writesInFlight > 0) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      this.check();
      return this.register(this.openIterator('forward'), this.openIterator('reverse'));
    } finally {
      this.isGateClosed = false;
      const held = this.heldWrites;
      this.heldWrites = [];
      for (const resume of held) resume();
    }
  }

  pinSnapshot(): Snapshot {
    this.check();
    return this.register(this.openIterator('forward'), null);
  }

  readView(): Snapshot {
    return this.liveView;
  }

  async write(ops: readonly WriteOp[], options: EngineWriteOptions): Promise<void> {
    this.check();
    if (ops.length === 0) return;
    if (this.isGateClosed) await new Promise<void>((resolve) => this.heldWrites.push(resolve));
    this.check();
    this.writesInFlight++;
    const cache = this.rowCache;
    const isInvalidating = cache !== null && options.cacheRows === 'invalidate';
    if (isInvalidating) cache.beginInvalidate(ops);
    const pinned = cache === null || isInvalidating ? undefined : cache.beginWrite(ops);
    let isWritten = false;
    try {
      await writeRocksBatch(this.db, ops, options);
      isWritten = true;
      this.writeCount++;
      if (options.sync) this.syncWriteCount++;
    } finally {
      if (isInvalidating) cache.endInvalidate();
      else if (pinned !== undefined) cache?.endWrite(pinned, isWritten);
      this.writesInFlight--;
      if (this.writesInFlight === 0) {
        const waiters = this.drainWaiters;
        this.drainWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  async deleteRange(start: Buffer, end: Buffer, options: DeleteRangeOptions): Promise<{ readonly hasMore: boolean }> {
    this.check();
    invariant(Number.isSafeInteger(options.limit) && options.limit >= 1 && options.limit <= 0x7fffffff, 'deleteRange limit must be a positive int32');
    if (Buffer.compare(start, end) >= 0) return { hasMore: false };
    this.rowCache?.beginRangeDelete(start, end);
    try {
      await new Promise<void>((resolve, reject) => {
        this.db.clear({ gte: start, lt: end, limit: options.limit }, (err) => (err ? reject(engineError('clear', err)) : resolve()));
      });
    } finally {
      this.rowCache?.endRangeDelete();
    }
    const snapshot = await this.snapshot();
    try {
      const rest = await snapshot.scan(start, end, { limit: 1 });
      return { hasMore: rest.length > 0 };
    } finally {
      await snapshot.release();
    }
  }

  async approximateSize(start: Buffer, end: Buffer): Promise<number> {
    this.check();
    // RocksDB asserts start <= end and aborts the whole process otherwise (this binding's build
    // keeps its assertions): an empty or reversed range holds nothing.
    if (Buffer.compare(start, end) >= 0) return 0;
    return new Promise((resolve, reject) => {
      this.db.approximateSize(start, end, (err, size) => (err ? reject(engineError('approximateSize', err)) : resolve(size ?? 0)));
    });
  }

  async compactRange(start: Buffer, end: Buffer): Promise<void> {
    this.check();
    await new Promise<void>((resolve, reject) => {
      this.db.compactRange(start, end, (err) => (err ? reject(engineError('compactRange', err)) : resolve()));
    });
  }

  /** Every call resolves once the db is closed (a second call shares the first's closing). */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.closed = true;
    for (const s of [...this.snapshots]) await s.release().catch(() => undefined); // closing anyway: the db close ends them too
    // Read-view scans in flight stop at their next entry (they check `closed`) and end their own
    // iterators before the db closes: db.close() ends the iterators still open itself, and an
    // end() called on one of those never calls back, so the scan would never settle.
    await Promise.allSettled([...this.freshScans]);
    await new Promise<void>((resolve, reject) => {
      this.db.close((err) => (err ? reject(engineError('close', err)) : resolve()));
    });
  }

  /**
   * @internal Up to `limit` entries of [start, end) from a fresh iterator (its own point in time),
   * ended before returning: the read view's scan.
   */
  async scanFresh(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    this.check();
    invariant(Number.isSafeInteger(options.limit) && options.limit >= 1, 'scan limit must be a positive integer');
    if (Buffer.compare(start, end) >= 0) return [];
    let iterator: RocksIterator;
    try {
      iterator = this.db.iterator({
        gte: start, lt: end, keys: true, values: true, keyAsBuffer: true, valueAsBuffer: true,
        reverse: options.isReverse === true, fillCache: true, highWaterMark: SCAN_READ_AHEAD_BYTES,
        limit: options.limit <= 0x7fffffff ? options.limit : -1,
      });
    } catch (err) {
      throw engineError('iterator', err);
    }
    const scan = this.readFresh(iterator, options.limit);
    this.freshScans.add(scan);
    try {
      return await scan;
    } finally {
      this.freshScans.delete(scan);
    }
  }

  /** Up to `limit` entries of `iterator`, then ends it; stops with EngineError once the engine closes. */
  private async readFresh(iterator: RocksIterator, limit: number): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    try {
      while (out.length < limit) {
        this.check(); // close() waits for this scan to end its iterator
        const step = await nextEntry(iterator);
        if (step === null) break;
        out.push(step);
      }
    } finally {
      await endIterator(iterator);
    }
    return out;
  }

  /** @internal */
  onSnapshotReleased(snapshot: RocksSnapshot): void {
    this.snapshots.delete(snapshot);
  }

  private register(forward: RocksIterator, reverse: RocksIterator | null): Snapshot {
    const snapshot = new RocksSnapshot(this, forward, reverse);
    this.snapshots.add(snapshot);
    return snapshot;
  }

  private openIterator(direction: 'forward' | 'reverse'): RocksIterator {
    try {
      return this.db.iterator({
        keys: true, values: true, keyAsBuffer: true, valueAsBuffer: true,
        reverse: direction === 'reverse', fillCache: true, highWaterMark: SCAN_READ_AHEAD_BYTES,
      });
    } catch (err) {
      throw engineError('iterator', err);
    }
  }

  private check(): void {
    if (this.closed) throw new FlotillaError('EngineError', 'engine is closed');
  }
}
