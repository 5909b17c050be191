// An in-memory engine with the Engine interface, for fast unit tests and as the reference in the
// in-memory-vs-RocksDB differential test. State is a sorted array; a snapshot shares it, and the
// next write copies it first (copy-on-write), so a snapshot never changes; the read view reads
// whatever state is current at each call. Every call yields once (a microtask) so callers meet
// the same await gaps as on RocksDB. It refuses what RocksEngine refuses, the same way (a batch
// with an empty key, a reverse scan on a forward-only snapshot, empty-key reads, limits out of
// range), so a caller that would fail on RocksDB fails here too (test/store/engine/
// memory-engine-model.test.ts judges both against one model).

import { FlotillaError, invariant } from '../../common/index.js';
import { type KvEntry, type SnapshotScanOptions } from '../../txn/index.js';
import {
  type DeleteRangeOptions, type Engine, type EngineStats, type Snapshot, type SnapshotOptions, type WriteOp,
  type WriteOptions,
} from './types.js';

interface State {
  readonly keys: Buffer[];
  readonly values: Buffer[];
  isShared: boolean;
}

/** Index of the first key ≥ target. */
function lowerBound(keys: readonly Buffer[], target: Buffer): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Buffer.compare(keys[mid]!, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function getIn(state: State, key: Buffer): Buffer | null {
  const i = lowerBound(state.keys, key);
  const found = state.keys[i];
  return found !== undefined && found.equals(key) ? state.values[i]! : null;
}

/** As RocksEngine asserts: a key the binding would skip (reads) or refuse (writes). */
function assertKeys(keys: readonly Buffer[], what: string): void {
  for (const k of keys) invariant(k.length > 0, () => `${what}: empty key`);
}

function assertScanLimit(options: SnapshotScanOptions): void {
  invariant(Number.isSafeInteger(options.limit) && options.limit >= 1, 'scan limit must be a positive integer');
}

/** RocksDB's clear takes its limit as an int32. */
const DELETE_RANGE_LIMIT_MAX = 0x7fffffff;

function scanIn(state: State, start: Buffer, end: Buffer, options: SnapshotScanOptions): KvEntry[] {
  assertScanLimit(options);
  const out: KvEntry[] = [];
  const from = lowerBound(state.keys, start);
  const to = lowerBound(state.keys, end);
  if (options.isReverse === true) {
    for (let i = to - 1; i >= from && out.length < options.limit; i--) out.push({ key: state.keys[i]!, value: state.values[i]! });
  } else {
    for (let i = from; i < to && out.length < options.limit; i++) out.push({ key: state.keys[i]!, value: state.values[i]! });
  }
  return out;
}

function closedError(): FlotillaError {
  return new FlotillaError('EngineError', 'engine is closed');
}

/**
 * A point-in-time view. As on RocksDB, a read is refused if the snapshot is released or the engine
 * closed when it is called; one called before that is answered (close() ends a snapshot "after the
 * reads queued on it") — the state it reads never changes.
 */
class MemorySnapshot implements Snapshot {
  private isReleased = false;

  constructor(private readonly engine: MemoryEngine, private readonly state: State, private readonly isReverseEnabled: boolean) {}

  async get(key: Buffer): Promise<Buffer | null> {
    await this.check();
    assertKeys([key], 'snapshot get');
    return getIn(this.state, key);
  }

  async multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    await this.check();
    assertKeys(keys, 'snapshot multiGet');
    return keys.map((k) => getIn(this.state, k));
  }

  async scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    assertScanLimit(options);
    await this.check();
    if (options.isReverse === true && !this.isReverseEnabled) {
      throw new FlotillaError('InvalidArgument', 'reverse scan on a snapshot opened without isReverseEnabled');
    }
    return scanIn(this.state, start, end, options);
  }

  async release(): Promise<void> {
    if (this.isReleased) return;
    this.isReleased = true;
    this.engine.onSnapshotReleased(this);
  }

  /** Refuses a call made once released or closed, then yields. */
  private async check(): Promise<void> {
    if (this.isReleased) throw new FlotillaError('EngineError', 'snapshot is released');
    if (this.engine.isClosed) throw closedError();
    await Promise.resolve();
  }
}

/** The live state: each call reads the engine's state as it is after its microtask yield. */
class MemoryReadView implements Snapshot {
  constructor(private readonly engine: MemoryEngine) {}

  get(key: Buffer): Promise<Buffer | null> {
    return this.engine.get(key);
  }

  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.engine.multiGet(keys);
  }

  async scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    assertScanLimit(options);
    return scanIn(await this.engine.currentState(), start, end, options);
  }

  async release(): Promise<void> {
    // Nothing pinned.
  }
}

export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  private state: State = { keys: [], values: [], isShared: false };
  private closed = false;
  private closing: Promise<void> | null = null;
  private writeCount = 0;
  private syncWriteCount = 0;
  private readonly snapshots = new Set<MemorySnapshot>();

  get isClosed(): boolean {
    return this.closed;
  }

  get stats(): EngineStats {
    return { writeCount: this.writeCount, syncWriteCount: this.syncWriteCount, openSnapshotCount: this.snapshots.size };
  }

  async get(key: Buffer): Promise<Buffer | null> {
    await this.check();
    assertKeys([key], 'get');
    return getIn(this.state, key);
  }

  async multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    await this.check();
    assertKeys(keys, 'multiGet');
    return keys.map((k) => getIn(this.state, k));
  }

  async snapshot(options: SnapshotOptions = {}): Promise<Snapshot> {
    await this.check();
    return this.register(options.isReverseEnabled === true);
  }

  pinSnapshot(): Snapshot {
    if (this.closed) throw closedError();
    return this.register(false);
  }

  readView(): Snapshot {
    return new MemoryReadView(this);
  }

  async write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    await this.check();
    if (ops.length === 0) return; // as on RocksDB: no batch, not counted
    // The binding refuses the whole batch when any key is empty: nothing lands, nothing counts.
    const empty = ops.findIndex((m) => m.key.length === 0);
    if (empty >= 0) throw new FlotillaError('EngineError', `write batch: op ${empty} of ${ops.length} has an empty key`);
    const state = this.mutableState();
    for (const m of ops) {
      const i = lowerBound(state.keys, m.key);
      const isPresent = state.keys[i]?.equals(m.key) === true;
      if (m.kind === 'put') {
        if (isPresent) state.values[i] = m.value;
        else {
          state.keys.splice(i, 0, m.key);
          state.values.splice(i, 0, m.value);
        }
      } else if (isPresent) {
        state.keys.splice(i, 1);
        state.values.splice(i, 1);
      }
    }
    this.writeCount++;
    if (options.sync) this.syncWriteCount++;
  }

  async deleteRange(start: Buffer, end: Buffer, options: DeleteRangeOptions): Promise<{ readonly hasMore: boolean }> {
    await this.check();
    invariant(Number.isSafeInteger(options.limit) && options.limit >= 1 && options.limit <= DELETE_RANGE_LIMIT_MAX, 'deleteRange limit must be a positive int32');
    const state = this.mutableState();
    const from = lowerBound(state.keys, start);
    const to = Math.max(from, lowerBound(state.keys, end));
    const count = Math.min(to - from, options.limit);
    state.keys.splice(from, count);
    state.values.splice(from, count);
    return { hasMore: to - from > count };
  }

  async approximateSize(start: Buffer, end: Buffer): Promise<number> {
    await this.check();
    let bytes = 0;
    for (const entry of scanIn(this.state, start, end, { limit: Number.MAX_SAFE_INTEGER })) bytes += entry.key.length + entry.value.length;
    return bytes;
  }

  async compactRange(_start: Buffer, _end: Buffer): Promise<void> {
    await this.check();
  }

  /**
   * Closed from the call on (later calls are refused); reads already called on open snapshots are
   * still answered. Every call resolves once closed (a second shares the first's closing).
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.closed = true;
    for (const s of [...this.snapshots]) await s.release();
  }

  /** @internal The state current after one yield (for the read view's scans). */
  async currentState(): Promise<State> {
    await this.check();
    return this.state;
  }

  /** @internal */
  onSnapshotReleased(snapshot: MemorySnapshot): void {
    this.snapshots.delete(snapshot);
  }

  private register(isReverseEnabled: boolean): Snapshot {
    this.state.isShared = true;
    const snapshot = new MemorySnapshot(this, this.state, isReverseEnabled);
    this.snapshots.add(snapshot);
    return snapshot;
  }

  private mutableState(): State {
    if (this.state.isShared) {
      this.state = { keys: this.state.keys.slice(), values: this.state.values.slice(), isShared: false };
    }
    return this.state;
  }

  private async check(): Promise<void> {
    await Promise.resolve();
    if (this.closed) throw closedError();
  }
}
