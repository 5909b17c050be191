// The engine model shared by engine-model.test.ts (RocksEngine on real RocksDB) and
// memory-engine-model.test.ts (MemoryEngine, and the simulation's CrashableEngine): an engine
// judged against a plain sorted map after every operation of a random sequence — write batches
// (a key repeated, empty values, values larger than a scan's read-ahead, sync or not, every
// cacheRows mode, batches with an empty key that must be refused whole), bounded range deletes
// (and limits past what the engine takes), point reads alone and coalesced in one turn, reads of
// an empty key (a programmer error: InvariantError), scans in both directions on the read view and
// on snapshots taken earlier, releases (a released snapshot refuses reads), compactions and
// restarts. Keys come from a pool of boundary bytes (0x00 and 0xff in the first and last places,
// the row cache's CFs and others); range bounds are pool keys or the key right after one, so a
// bound is often a present key; scan limits are drawn relative to the answer's size (1, n − 1, n,
// n + 1) and past int32. Each run ends by closing the engine with reads in flight — on the engine,
// the read view and snapshots still open — and then every call must be refused with EngineError.
// What a target has not got (a row cache, a binding to spy on, persistence) is said by its
// ModelTarget; everything else is judged the same way for every engine.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CF_PREFIX, InvariantError, isFlotillaError, type Rng, type WriteOp } from '../../../common/index.js';
import { type Engine, type RowCacheStats, type Snapshot } from '../../../store/index.js';

// ---- keys, bounds, values ----------------------------------------------------------------------

/** First bytes: the very bottom, the row cache's two CFs (cached), an uncached CF, the very top. */
const FIRST_BYTES = [0x00, CF_PREFIX.lock, CF_PREFIX.latest, CF_PREFIX.raw, 0xff];
/** Rest of a key: none, the smallest, an ordinary byte and its successor, the largest twice. */
const TAILS: readonly number[][] = [[], [0x00], [0x61], [0x61, 0x00], [0xff], [0xff, 0xff]];
export const KEYS: readonly Buffer[] = FIRST_BYTES.flatMap((p) => TAILS.map((t) => Buffer.from([p, ...t])));
/** Above every key of the pool. */
export const TOP = Buffer.from([0xff, 0xff, 0xff, 0xff]);
/** Range bounds: every pool key, the key right after each (key ‖ 00), and TOP. */
const BOUNDS: readonly Buffer[] = [...KEYS, ...KEYS.map((k) => Buffer.concat([k, Buffer.from([0])])), TOP];
const isCachedKey = (key: Buffer): boolean => key[0] === CF_PREFIX.lock || key[0] === CF_PREFIX.latest;

/** A scan or range-delete limit, resolved against the size n of the expected answer. */
const LIMIT_KINDS = ['1', 'n-1', 'n', 'n+1', 'int32Max', 'int32Max+1', '2^32+1', 'maxSafe'] as const;
type LimitKind = (typeof LIMIT_KINDS)[number];

/** The largest range-delete limit an engine takes (RocksDB's clear takes an int32). */
const DELETE_RANGE_LIMIT_MAX = 0x7fffffff;

function resolveLimit(kind: LimitKind, n: number): number {
  switch (kind) {
    case '1': return 1;
    case 'n-1': return Math.max(1, n - 1);
    case 'n': return Math.max(1, n);
    case 'n+1': return n + 1;
    case 'int32Max': return 0x7fffffff;
    case 'int32Max+1': return 0x80000000;
    case '2^32+1': return 2 ** 32 + 1; // wraps to 1 as an int32
    case 'maxSafe': return Number.MAX_SAFE_INTEGER;
  }
}

const VALUE_KINDS = ['empty', 'edge', 'small', 'small', 'small', 'large'] as const;
type ValueKind = (typeof VALUE_KINDS)[number];
/** Larger than a scan's read-ahead batch (SCAN_READ_AHEAD_BYTES, 64 KiB): one entry per batch. */
const LARGE_VALUE_BYTES = 70_000;

/** A value unique to `serial` (but the empty one), so that a stale read shows. */
function valueOf(kind: ValueKind, serial: number): Buffer {
  switch (kind) {
    case 'empty': return Buffer.alloc(0);
    case 'edge': return Buffer.from([0x00, serial & 0xff, (serial >> 8) & 0xff, 0xff]);
    case 'small': return Buffer.from(`v${serial}`);
    case 'large': {
      const value = Buffer.alloc(LARGE_VALUE_BYTES, serial & 0xff);
      value.writeUInt32BE(serial, 0);
      return value;
    }
  }
}

// ---- the reference model -----------------------------------------------------------------------

/** The state: a sorted map in spirit (entries are sorted on every read; the pool is small). */
type State = Map<string, Buffer>;

interface Entry {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** The entries of [start, end), ascending. */
function rangeOf(state: State, start: Buffer, end: Buffer): Entry[] {
  if (Buffer.compare(start, end) >= 0) return [];
  return [...state.entries()]
    .map(([k, value]) => ({ key: Buffer.from(k, 'hex'), value }))
    .filter(({ key }) => Buffer.compare(key, start) >= 0 && Buffer.compare(key, end) < 0)
    .sort((a, b) => Buffer.compare(a.key, b.key));
}

/** A value as short hex (a large one by its head and length); null for an absent key. */
function showValue(v: Buffer | null | undefined): string {
  if (v === null || v === undefined) return 'null';
  return v.length > 16 ? `${v.subarray(0, 8).toString('hex')}…(${v.length})` : `'${v.toString('hex')}'`;
}

export const show = (list: readonly Entry[]): string[] => list.map((e) => `${e.key.toString('hex')}=${showValue(e.value)}`);

const isEngineError = (e: unknown): boolean => isFlotillaError(e, 'EngineError');
const isInvariantError = (e: unknown): boolean => e instanceof InvariantError;

// ---- generated operations ----------------------------------------------------------------------

/** A key: < KEYS.length picks from the pool, the rest one of the keys used lately (so ops meet). */
const keyArb = fc.integer({ min: 0, max: 2 * KEYS.length - 1 });
/**
 * A range bound: one of BOUNDS, or (boundaries first) a key present in the state read — the i-th
 * modulo their number — or the key right after one. Resolved against that state (`Run.range`).
 */
const boundArb = fc.record({ kind: fc.constantFrom('pool' as const, 'present' as const, 'present' as const, 'after' as const), i: fc.nat({ max: BOUNDS.length - 1 }) });
type BoundSpec = typeof boundArb extends fc.Arbitrary<infer T> ? T : never;
/** Two bounds, put in order but now and then (1 in 8) the other way round: an empty range. */
const rangeArb = fc.record({ start: boundArb, end: boundArb, isSwapped: fc.nat({ max: 7 }).map((n) => n === 0) });
/** The limits around the answer's size come first. */
const limitArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom<LimitKind>('1', 'n-1', 'n', 'n', 'n+1') },
  { weight: 2, arbitrary: fc.constantFrom<LimitKind>(...LIMIT_KINDS) },
);
const viaArb = fc.constantFrom('engine' as const, 'view' as const);
const readArb = fc.oneof(
  fc.record({ t: fc.constant('get' as const), key: keyArb, via: viaArb }),
  fc.record({ t: fc.constant('multiGet' as const), keys: fc.array(keyArb, { maxLength: 6 }), via: viaArb }),
);
const slotArb = fc.constantFrom(0, 1, 2);

export const opArb = fc.oneof(
  { weight: 10, arbitrary: fc.record({
    t: fc.constant('write' as const),
    ops: fc.array(fc.record({ isPut: fc.boolean(), key: keyArb, value: fc.constantFrom(...VALUE_KINDS) }), { maxLength: 6 }),
    isSync: fc.boolean(),
    cacheRows: fc.constantFrom(undefined, 'set' as const, 'invalidate' as const),
    /** An empty key at this position makes the engine refuse the whole batch (null: none). */
    refusedAt: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: 6 }) }),
  }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('deleteRange' as const), range: rangeArb, limit: limitArb }) },
  { weight: 4, arbitrary: readArb },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('burst' as const), reads: fc.array(readArb, { minLength: 2, maxLength: 8 }) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('scan' as const), range: rangeArb, limit: limitArb, isReverse: fc.boolean(), on: fc.constantFrom('view' as const, 0 as const, 1 as const, 2 as const) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('openSnapshot' as const), slot: slotArb, how: fc.constantFrom('pin' as const, 'forward' as const, 'reverse' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('release' as const), slot: slotArb }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('snapshotRead' as const), slot: slotArb, keys: fc.array(fc.record({ isPresent: fc.boolean(), i: fc.nat({ max: KEYS.length - 1 }) }), { minLength: 1, maxLength: 5 }), isMulti: fc.boolean() }) },
  /** A programmer's error at a limit or a key: refused (InvariantError), and nothing changes. */
  { weight: 1, arbitrary: fc.record({
    t: fc.constant('misuse' as const),
    what: fc.constantFrom('getEmptyKey' as const, 'multiGetEmptyKey' as const, 'scanLimit0' as const, 'deleteRangeLimit0' as const, 'deleteRangeLimitPastInt32' as const),
    on: fc.constantFrom('engine' as const, 'view' as const, 0 as const, 1 as const, 2 as const),
  }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('compact' as const) }) },
  /** `pick`: which of the prefixes a crash may keep it keeps (crash targets only). */
  { weight: 1, arbitrary: fc.record({ t: fc.constant('restart' as const), pick: fc.nat() }) },
);
export type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never;
type ReadOp = typeof readArb extends fc.Arbitrary<infer T> ? T : never;

/** How often each case the model is for was reached, over all runs; the ones that must happen are checked. */
export function newCoverage() {
  return {
    writes: 0, syncWrites: 0, refusedWrites: 0, invalidatingWrites: 0, setHitsChecked: 0, emptyValues: 0, largeValues: 0,
    repeatedKeyInBatch: 0, deleteRanges: 0, deleteRangeHasMore: 0, deleteRangeLimitExact: 0, emptyRanges: 0,
    scans: 0, reverseScansEndPresentLimitExact: 0, forwardScansLimitExact: 0, limitsPastInt32: 0, snapshotScans: 0,
    staleSnapshotReads: 0, reverseRefused: 0, releasedReadsRefused: 0, misuses: 0, bursts: 0, compactions: 0, restarts: 0,
    crashesLosingWrites: 0, readsRejectedByClose: 0, readsAnsweredAtClose: 0, snapshotReadsAnsweredAtClose: 0, closedCallsRefused: 0,
  };
}
export type Coverage = ReturnType<typeof newCoverage>;

// ---- the engine under judgement -----------------------------------------------------------------

/** Batches that reached RocksDB's binding, and of those with sync (engine-model.test's spy). */
export interface BindingWrites {
  total: number;
  synced: number;
}

/**
 * What a restart keeps:
 * - 'reopen': the engine persists (RocksDB): a new engine opened at the same location holds every
 *   write, synced or not (the old one was closed cleanly);
 * - 'crash': `afterCrash` gives the engine a machine crash leaves: every batch up to the last one
 *   synced, plus a prefix of the rest — which one is `rng.nextInt`'s to pick;
 * - 'none': nothing persists (MemoryEngine): a new engine, loaded with the model's state in one
 *   batch, so the run goes on.
 */
export type Restart<E extends Engine> =
  | { readonly kind: 'reopen' }
  | { readonly kind: 'crash'; readonly afterCrash: (engine: E, rng: Rng) => Promise<E> }
  | { readonly kind: 'none' };

export interface ModelTarget<E extends Engine> {
  readonly label: string;
  /** An engine for one run at `location` (a directory that does not exist yet, for engines on disk). */
  open(location: string): Promise<E>;
  readonly restart: Restart<E>;
  /** The row cache's counters, checked against EngineWriteOptions.cacheRows; null: no row cache. */
  rowCacheStats(engine: E): RowCacheStats | null;
  /** Counted at the binding, reset by the run at each open; null: no binding. */
  readonly bindingWrites: BindingWrites | null;
  /**
   * Whether approximateSize is exactly the bytes of the range's keys and values (an in-memory
   * engine: nothing else occupies room); otherwise only its sign is checked (RocksDB: SST bytes).
   */
  readonly isSizeLogical: boolean;
  /**
   * Whether the run makes calls that must change nothing because the engine refuses them: batches
   * with an empty key, range deletes with a limit out of range, writes to a closed engine (see the
   * crash target for why not there).
   */
  readonly isRefusedMutationDrawn: boolean;
  /** Whether empty batches are written with sync (they write nothing, so they sync nothing). */
  readonly isEmptySyncedBatchDrawn: boolean;
  /**
   * What a read called on a pinSnapshot() view just before close() gets: 'answered', as types.ts
   * has it (close ends a snapshot "after the reads queued on it"), or 'answeredOrRefused' (see the
   * crash target). Snapshots from snapshot() must answer on every target.
   */
  readonly pinnedReadsAtClose: 'answered' | 'answeredOrRefused';
  /** Coverage counters that cannot be reached on this target. */
  readonly unreachable: readonly (keyof Coverage)[];
}

// ---- one run -----------------------------------------------------------------------------------

interface Slot {
  readonly snapshot: Snapshot;
  readonly isPinned: boolean;
  readonly state: State;
  readonly isReverseEnabled: boolean;
}

/** One write or range delete as the engine took it: the state after it, and whether it made everything before it durable. */
interface Landed {
  readonly state: State;
  /** A synced batch that wrote something: RocksDB fsyncs its WAL, so everything before it is durable. */
  readonly isSyncPoint: boolean;
  /** A write batch that counts in EngineStats.writeCount (non-empty). */
  readonly isCounted: boolean;
  readonly isSyncCounted: boolean;
}

/** A read (or scan) issued in the same turn as close(), what it may answer, and what it did. */
interface CloseRead {
  readonly what: string;
  readonly want: string;
  /** A read on a snapshot open at close: types.ts has close() end it "after the reads queued on it". */
  readonly isAnswerRequired: boolean;
  /** Settled once close() has resolved and one turn more (else: by the time `settled` resolves). */
  readonly isSettledByClose: boolean;
  got?: string;
  settled?: Promise<void>;
}

export class Run<E extends Engine> {
  private engine!: E;
  private state: State = new Map();
  private readonly slots: (Slot | null)[] = [null, null, null];
  private readonly recent: Buffer[] = [];
  /** What the current engine took, in order (crash targets: what a crash chooses a prefix of). */
  private landed: Landed[] = [];
  private serial = 0;
  private writeCount = 0;
  private syncWriteCount = 0;
  private step = 0;

  constructor(private readonly target: ModelTarget<E>, private readonly location: string, private readonly coverage: Coverage) {}

  async run(ops: readonly Op[]): Promise<void> {
    this.engine = await this.openEngine();
    try {
      for (const op of ops) {
        await this.apply(op);
        this.step++;
      }
      await this.checkWhole();
      await this.closeWithReadsInFlight({ withScans: false });
    } finally {
      for (const slot of this.slots) await slot?.snapshot.release().catch(() => undefined);
      await this.engine.close();
    }
  }

  private async openEngine(): Promise<E> {
    const engine = await this.target.open(this.location);
    // A new engine counts from zero.
    this.writeCount = 0;
    this.syncWriteCount = 0;
    if (this.target.bindingWrites !== null) {
      this.target.bindingWrites.total = 0;
      this.target.bindingWrites.synced = 0;
    }
    return engine;
  }

  private where(what: string): string {
    return `${this.target.label}, step ${this.step}: ${what}`;
  }

  private key(spec: number): Buffer {
    const key = spec < KEYS.length || this.recent.length === 0 ? KEYS[spec % KEYS.length]! : this.recent[(spec - KEYS.length) % this.recent.length]!;
    this.recent.unshift(key);
    if (this.recent.length > 4) this.recent.pop();
    return key;
  }

  private bound(state: State, spec: BoundSpec): Buffer {
    const present = rangeOf(state, KEYS[0]!, TOP);
    if (spec.kind === 'pool' || present.length === 0) return BOUNDS[spec.i]!;
    const key = present[spec.i % present.length]!.key;
    return spec.kind === 'present' ? key : Buffer.concat([key, Buffer.from([0])]);
  }

  /** [start, end) from two bound specs over `state`: in order, unless swapped on purpose. */
  private range(state: State, spec: { readonly start: BoundSpec; readonly end: BoundSpec; readonly isSwapped: boolean }): [Buffer, Buffer] {
    const [a, b] = [this.bound(state, spec.start), this.bound(state, spec.end)];
    return (Buffer.compare(a, b) <= 0) !== spec.isSwapped ? [a, b] : [b, a];
  }

  private openSnapshotCount(): number {
    return this.slots.filter((s) => s !== null).length;
  }

  private async apply(op: Op): Promise<void> {
    switch (op.t) {
      case 'write': return this.write(op);
      case 'deleteRange': return this.deleteRange(...this.range(this.state, op.range), op.limit);
      case 'get':
      case 'multiGet': return this.read(op);
      case 'burst': {
        this.coverage.bursts++;
        await Promise.all(op.reads.map((r) => this.read(r))); // issued in one turn: one coalesced getMany on RocksDB
        return;
      }
      case 'scan': return this.scan(op.range, op.limit, op.isReverse, op.on);
      case 'openSnapshot': return this.openSnapshot(op.slot, op.how);
      case 'release': return this.release(op.slot);
      case 'snapshotRead': return this.snapshotRead(op.slot, op.keys, op.isMulti);
      case 'misuse': return this.misuse(op.what, op.on);
      case 'compact': {
        this.coverage.compactions++;
        await this.engine.compactRange(KEYS[0]!, TOP);
        return;
      }
      case 'restart': return this.restart(op.pick);
    }
  }

  /** Records what the engine took (after the model's state has moved). */
  private land(entry: Omit<Landed, 'state'>): void {
    if (this.target.restart.kind === 'crash') this.landed.push({ state: new Map(this.state), ...entry });
  }

  private async write(op: Extract<Op, { t: 'write' }>): Promise<void> {
    // The engine and the row cache go by the key's bytes only (its first byte is the CF); `cf` is
    // for those who build the keys.
    const ops: WriteOp[] = op.ops.map((o) => {
      const key = this.key(o.key);
      return o.isPut ? { kind: 'put', cf: 'raw', key, value: valueOf(o.value, ++this.serial) } : { kind: 'delete', cf: 'raw', key };
    });
    const isRefused = op.refusedAt !== null && this.target.isRefusedMutationDrawn;
    if (isRefused) ops.splice(Math.min(op.refusedAt!, ops.length), 0, { kind: 'put', cf: 'raw', key: Buffer.alloc(0), value: Buffer.from('x') });
    const isSync = op.isSync && (ops.length > 0 || this.target.isEmptySyncedBatchDrawn);
    const options = { sync: isSync, ...(op.cacheRows === undefined ? {} : { cacheRows: op.cacheRows }) };
    if (isRefused) {
      this.coverage.refusedWrites++;
      // Refused whole: the ops before the empty key must not land either (checked by later reads).
      await assert.rejects(this.engine.write(ops, options), isEngineError, this.where('a batch with an empty key is refused'));
    } else {
      await this.engine.write(ops, options);
      const isCounted = ops.length > 0;
      if (isCounted) {
        this.coverage.writes++;
        this.writeCount++;
        if (isSync) {
          this.coverage.syncWrites++;
          this.syncWriteCount++;
        }
        if (op.cacheRows === 'invalidate') this.coverage.invalidatingWrites++;
      }
      const seen = new Set<string>();
      for (const o of ops) {
        const k = o.key.toString('hex');
        if (seen.has(k)) this.coverage.repeatedKeyInBatch++;
        seen.add(k);
        if (o.kind === 'put') {
          this.state.set(k, o.value);
          if (o.value.length === 0) this.coverage.emptyValues++;
          if (o.value.length === LARGE_VALUE_BYTES) this.coverage.largeValues++;
        } else this.state.delete(k);
      }
      // An empty batch writes nothing, so it syncs nothing either (RocksEngine returns at once):
      // nothing lands.
      if (isCounted) this.land({ isSyncPoint: isSync, isCounted, isSyncCounted: isSync });
    }
    assert.equal(this.engine.stats.writeCount, this.writeCount, this.where('writeCount'));
    assert.equal(this.engine.stats.syncWriteCount, this.syncWriteCount, this.where('syncWriteCount'));
    if (this.target.bindingWrites !== null) {
      assert.deepEqual(this.target.bindingWrites, { total: this.writeCount, synced: this.syncWriteCount }, this.where('batches that reached the binding, and with sync'));
    }
    await this.checkRowCache(ops, op.cacheRows, isRefused);
  }

  /**
   * The row cache, as EngineWriteOptions.cacheRows says: 'set' (the default) leaves the last
   * written row cached (the next read of it is a hit); 'invalidate' leaves it out (a miss).
   */
  private async checkRowCache(ops: readonly WriteOp[], cacheRows: 'set' | 'invalidate' | undefined, isRefused: boolean): Promise<void> {
    const last = ops[ops.length - 1];
    const before = this.target.rowCacheStats(this.engine);
    if (before === null || isRefused || last === undefined || !isCachedKey(last.key)) return;
    const value = await this.engine.get(last.key);
    assert.equal(showValue(value), showValue(this.state.get(last.key.toString('hex'))), this.where(`get ${last.key.toString('hex')} after the write`));
    const afterRead = this.target.rowCacheStats(this.engine)!;
    if (cacheRows === 'invalidate') assert.equal(afterRead.misses, before.misses + 1, this.where('an invalidated row is read from RocksDB'));
    else {
      assert.equal(afterRead.hits, before.hits + 1, this.where(`a row written with cacheRows ${String(cacheRows)} is cached`));
      this.coverage.setHitsChecked++;
    }
  }

  private async deleteRange(start: Buffer, end: Buffer, limitKind: LimitKind): Promise<void> {
    this.coverage.deleteRanges++;
    const inRange = rangeOf(this.state, start, end);
    if (inRange.length === 0) this.coverage.emptyRanges++;
    const limit = Math.min(resolveLimit(limitKind, inRange.length), DELETE_RANGE_LIMIT_MAX); // past it: `misuse`
    if (limit === inRange.length) this.coverage.deleteRangeLimitExact++;
    const result = await this.engine.deleteRange(start, end, { limit });
    for (const { key } of inRange.slice(0, limit)) this.state.delete(key.toString('hex'));
    const hasMore = inRange.length > limit;
    if (hasMore) this.coverage.deleteRangeHasMore++;
    assert.deepEqual(result, { hasMore }, this.where(`deleteRange [${start.toString('hex')}, ${end.toString('hex')}) limit ${limit} of ${inRange.length}`));
    // Never synced by itself: a crash may lose it unless a later synced batch lands.
    this.land({ isSyncPoint: false, isCounted: false, isSyncCounted: false });
    await this.checkSize(start, end);
  }

  /** approximateSize of [start, end) (after a range delete: the range just changed). */
  private async checkSize(start: Buffer, end: Buffer): Promise<void> {
    // Only in order: RocksDB's ApproximateSize asserts start ≤ end and aborts the process (the
    // binding is built with assertions on); Engine.approximateSize states no rule for an empty range.
    if (Buffer.compare(start, end) > 0) return;
    const size = await this.engine.approximateSize(start, end);
    assert.ok(Number.isSafeInteger(size) && size >= 0, this.where(`approximateSize is a count of bytes: ${size}`));
    if (!this.target.isSizeLogical) return;
    const bytes = rangeOf(this.state, start, end).reduce((sum, e) => sum + e.key.length + e.value.length, 0);
    assert.equal(size, bytes, this.where(`approximateSize [${start.toString('hex')}, ${end.toString('hex')})`));
  }

  private async read(op: ReadOp): Promise<void> {
    const source = op.via === 'engine' ? this.engine : this.engine.readView();
    if (op.t === 'get') {
      const key = this.key(op.key);
      const expected = this.state.get(key.toString('hex'));
      const got = await source.get(key);
      assert.equal(showValue(got), showValue(expected), this.where(`${op.via} get ${key.toString('hex')}`));
      return;
    }
    const keys = op.keys.map((k) => this.key(k));
    const expected = keys.map((k) => showValue(this.state.get(k.toString('hex'))));
    const got = await source.multiGet(keys);
    assert.deepEqual(got.map(showValue), expected, this.where(`${op.via} multiGet ${keys.map((k) => k.toString('hex')).join(',')}`));
  }

  private async scan(range: Extract<Op, { t: 'scan' }>['range'], limitKind: LimitKind, isReverse: boolean, on: 'view' | 0 | 1 | 2): Promise<void> {
    const slot = on === 'view' ? null : this.slots[on] ?? null; // no snapshot there: the view
    const state = slot?.state ?? this.state;
    const [start, end] = this.range(state, range);
    const all = rangeOf(state, start, end);
    if (isReverse) all.reverse();
    const limit = resolveLimit(limitKind, all.length);
    const what = this.where(`${slot === null ? 'view' : `snapshot ${on}`} scan [${start.toString('hex')}, ${end.toString('hex')}) limit ${limit}${isReverse ? ' reverse' : ''}`);
    if (slot !== null && isReverse && !slot.isReverseEnabled) {
      this.coverage.reverseRefused++;
      await assert.rejects(slot.snapshot.scan(start, end, { limit, isReverse }), (e) => isFlotillaError(e, 'InvalidArgument'), what);
      return; // the snapshot stays usable: later reads of it are checked as usual
    }
    this.coverage.scans++;
    if (slot !== null) this.coverage.snapshotScans++;
    if (all.length > 0 && limit === all.length) {
      if (isReverse && state.has(end.toString('hex'))) this.coverage.reverseScansEndPresentLimitExact++;
      if (!isReverse) this.coverage.forwardScansLimitExact++;
    }
    if (limit > 0x7fffffff && all.length > 0) this.coverage.limitsPastInt32++;
    const got = await (slot?.snapshot ?? this.engine.readView()).scan(start, end, { limit, isReverse });
    assert.deepEqual(show(got), show(all.slice(0, limit)), what);
  }

  private async openSnapshot(index: number, how: 'pin' | 'forward' | 'reverse'): Promise<void> {
    await this.slots[index]?.snapshot.release();
    const snapshot = how === 'pin' ? this.engine.pinSnapshot() : await this.engine.snapshot({ isReverseEnabled: how === 'reverse' });
    this.slots[index] = { snapshot, isPinned: how === 'pin', state: new Map(this.state), isReverseEnabled: how === 'reverse' };
    assert.equal(this.engine.stats.openSnapshotCount, this.openSnapshotCount(), this.where('open snapshots'));
  }

  /** Releases the slot's snapshot (twice: a no-op); from then on every read of it is refused. */
  private async release(index: number): Promise<void> {
    const slot = this.slots[index];
    this.slots[index] = null;
    if (slot === null || slot === undefined) return;
    await slot.snapshot.release();
    await slot.snapshot.release();
    assert.equal(this.engine.stats.openSnapshotCount, this.openSnapshotCount(), this.where('open snapshots after a release'));
    const key = KEYS[index * 7 % KEYS.length]!;
    const what = this.where(`a read of snapshot ${index} after its release is refused`);
    await assert.rejects(slot.snapshot.get(key), isEngineError, what);
    await assert.rejects(slot.snapshot.multiGet([key]), isEngineError, what);
    await assert.rejects(slot.snapshot.scan(KEYS[0]!, TOP, { limit: 1 }), isEngineError, what);
    this.coverage.releasedReadsRefused++;
  }

  /** Keys of the pool, or (isPresent) keys the snapshot holds: later writes may have changed them since. */
  private async snapshotRead(index: number, specs: readonly { readonly isPresent: boolean; readonly i: number }[], isMulti: boolean): Promise<void> {
    const slot = this.slots[index];
    if (slot === null || slot === undefined) return;
    const held = rangeOf(slot.state, KEYS[0]!, TOP);
    const keys = specs.map((k) => (k.isPresent && held.length > 0 ? held[k.i % held.length]!.key : KEYS[k.i]!));
    const expected = keys.map((k) => showValue(slot.state.get(k.toString('hex'))));
    if (keys.some((k) => showValue(this.state.get(k.toString('hex'))) !== showValue(slot.state.get(k.toString('hex'))))) this.coverage.staleSnapshotReads++;
    const got = isMulti ? await slot.snapshot.multiGet(keys) : await Promise.all(keys.map((k) => slot.snapshot.get(k)));
    assert.deepEqual(got.map(showValue), expected, this.where(`snapshot ${index} ${isMulti ? 'multiGet' : 'gets'} ${keys.map((k) => k.toString('hex')).join(',')}`));
  }

  /**
   * A programmer's error — an empty key read, a scan limit of 0, a range-delete limit of 0 or past
   * int32 (RocksDB's clear takes an int32) — is refused with InvariantError on every engine, so a
   * caller that makes it fails in unit tests too; the state is unchanged (later reads check).
   */
  private async misuse(what: Extract<Op, { t: 'misuse' }>['what'], on: 'engine' | 'view' | 0 | 1 | 2): Promise<void> {
    this.coverage.misuses++;
    if (what.startsWith('deleteRange') && !this.target.isRefusedMutationDrawn) return;
    const view = typeof on === 'number' ? this.slots[on]?.snapshot ?? this.engine.readView() : this.engine.readView();
    const reader = on === 'engine' ? this.engine : view;
    const empty = Buffer.alloc(0);
    const call = (): Promise<unknown> => {
      switch (what) {
        case 'getEmptyKey': return reader.get(empty);
        case 'multiGetEmptyKey': return reader.multiGet([KEYS[1]!, empty]);
        case 'scanLimit0': return view.scan(KEYS[0]!, TOP, { limit: 0 });
        case 'deleteRangeLimit0': return this.engine.deleteRange(KEYS[0]!, TOP, { limit: 0 });
        case 'deleteRangeLimitPastInt32': return this.engine.deleteRange(KEYS[0]!, TOP, { limit: DELETE_RANGE_LIMIT_MAX + 1 });
      }
    };
    // Thrown at the call or as a rejection: either way the caller gets InvariantError.
    await assert.rejects(async () => call(), isInvariantError, this.where(`${what} on ${on} is refused`));
  }

  /** Everything, both ways, on the read view and on a fresh reverse-enabled snapshot. */
  private async checkWhole(): Promise<void> {
    const all = show(rangeOf(this.state, KEYS[0]!, TOP));
    const snapshot = await this.engine.snapshot({ isReverseEnabled: true });
    try {
      for (const source of [this.engine.readView(), snapshot]) {
        assert.deepEqual(show(await source.scan(KEYS[0]!, TOP, { limit: 1000 })), all, this.where('everything, forward'));
        assert.deepEqual(show(await source.scan(KEYS[0]!, TOP, { limit: 1000, isReverse: true })), [...all].reverse(), this.where('everything, reverse'));
      }
    } finally {
      await snapshot.release();
    }
    await this.checkSize(KEYS[0]!, TOP);
  }

  /**
   * Reads issued in the same turn as close(), all settled by the time close has resolved (one turn
   * later at most: the coalesced getMany fails at once on a closing DB, and close waits for scans):
   * - point reads (and, withScans, read-view scans) answer right or fail with EngineError;
   * - reads queued on the snapshots still open answer right: close() ends a snapshot "after the
   *   reads queued on it" (types.ts);
   * - a write issued after close() is refused (EngineError): the engine is closed from the call on.
   * Then every call on the closed engine is refused, and a second close() resolves.
   */
  private async closeWithReadsInFlight(options: { readonly withScans: boolean }): Promise<void> {
    const keys = KEYS.filter((_, i) => i % 4 === 1);
    const reads: CloseRead[] = [];
    const settle = (read: Omit<CloseRead, 'got' | 'settled' | 'isSettledByClose'> & { readonly isSettledByClose?: boolean }, p: Promise<string>): void => {
      const entry: CloseRead = { isSettledByClose: true, ...read };
      reads.push(entry);
      entry.settled = p.then((v) => {
        entry.got = v;
      }, (e: unknown) => {
        entry.got = isEngineError(e) ? 'EngineError' : `unexpected ${String(e)}`;
      });
    };
    const expected = keys.map((k) => showValue(this.state.get(k.toString('hex'))));
    keys.forEach((k, i) => settle({ what: `get ${k.toString('hex')}`, want: expected[i]!, isAnswerRequired: false }, this.engine.get(k).then(showValue)));
    settle({ what: 'multiGet', want: expected.join(','), isAnswerRequired: false }, this.engine.multiGet(keys).then((vs) => vs.map(showValue).join(',')));
    if (options.withScans) {
      // Read-view scans too (regression: one running at close never settled). close() waits for
      // them, so the point reads above usually get their answer: without scans they fail instead.
      const all = show(rangeOf(this.state, KEYS[0]!, TOP));
      settle({ what: 'view scan', want: all.join(' '), isAnswerRequired: false }, this.engine.readView().scan(KEYS[0]!, TOP, { limit: 1000 }).then((es) => show(es).join(' ')));
      settle({ what: 'view scan reverse', want: [...all].reverse().join(' '), isAnswerRequired: false }, this.engine.readView().scan(KEYS[0]!, TOP, { limit: 1000, isReverse: true }).then((es) => show(es).join(' ')));
    }
    this.slots.forEach((slot, i) => {
      if (slot === null) return;
      const held = rangeOf(slot.state, KEYS[0]!, TOP);
      const isAnswerRequired = !slot.isPinned || this.target.pinnedReadsAtClose === 'answered';
      const options = { isAnswerRequired, isSettledByClose: isAnswerRequired };
      settle({ what: `snapshot ${i} multiGet`, want: expected.map((_, j) => showValue(slot.state.get(keys[j]!.toString('hex')))).join(','), ...options }, slot.snapshot.multiGet(keys).then((vs) => vs.map(showValue).join(',')));
      settle({ what: `snapshot ${i} scan`, want: show(held).join(' '), ...options }, slot.snapshot.scan(KEYS[0]!, TOP, { limit: 1000 }).then((es) => show(es).join(' ')));
    });
    const closing = this.engine.close();
    const late = this.target.isRefusedMutationDrawn
      ? assert.rejects(this.engine.write([{ kind: 'put', cf: 'raw', key: KEYS[1]!, value: Buffer.from('after close') }], { sync: true }), isEngineError, this.where('a write issued after close() is refused'))
      : Promise.resolve();
    await closing;
    await late;
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (const read of reads) {
      if (!read.isSettledByClose) await read.settled;
      const isRight = read.got === read.want;
      if (read.isAnswerRequired) assert.ok(isRight, this.where(`${read.what} queued before close: ${String(read.got)}, expected ${read.want}`));
      else assert.ok(read.got === 'EngineError' || isRight, this.where(`${read.what} issued with close: ${String(read.got)}, expected ${read.want} or EngineError`));
      if (read.got === 'EngineError') this.coverage.readsRejectedByClose++;
      else if (read.isAnswerRequired) this.coverage.snapshotReadsAnsweredAtClose++;
      else this.coverage.readsAnsweredAtClose++;
    }
    assert.equal(this.engine.stats.openSnapshotCount, 0, this.where('close ends every snapshot'));
    await this.checkClosed();
  }

  /** Every call on a closed engine, its read view and the snapshots it had is refused with EngineError. */
  private async checkClosed(): Promise<void> {
    const engine = this.engine;
    const key = KEYS[1]!;
    const what = (call: string): string => this.where(`${call} on a closed engine`);
    assert.equal(engine.isClosed, true, what('isClosed'));
    await assert.rejects(engine.get(key), isEngineError, what('get'));
    await assert.rejects(engine.multiGet([key]), isEngineError, what('multiGet'));
    await assert.rejects(engine.readView().get(key), isEngineError, what('read view get'));
    await assert.rejects(engine.readView().multiGet([key]), isEngineError, what('read view multiGet'));
    await assert.rejects(engine.readView().scan(KEYS[0]!, TOP, { limit: 10 }), isEngineError, what('read view scan'));
    if (this.target.isRefusedMutationDrawn) {
      await assert.rejects(engine.write([{ kind: 'delete', cf: 'raw', key }], { sync: false }), isEngineError, what('write'));
      await assert.rejects(engine.deleteRange(KEYS[0]!, TOP, { limit: 10 }), isEngineError, what('deleteRange'));
    }
    await assert.rejects(engine.approximateSize(KEYS[0]!, TOP), isEngineError, what('approximateSize'));
    await assert.rejects(engine.compactRange(KEYS[0]!, TOP), isEngineError, what('compactRange'));
    await assert.rejects(engine.snapshot({ isReverseEnabled: true }), isEngineError, what('snapshot'));
    assert.throws(() => engine.pinSnapshot(), isEngineError, what('pinSnapshot'));
    for (const [i, slot] of this.slots.entries()) {
      if (slot === null) continue;
      await assert.rejects(slot.snapshot.get(key), isEngineError, what(`snapshot ${i} get`));
      await assert.rejects(slot.snapshot.scan(KEYS[0]!, TOP, { limit: 10 }), isEngineError, what(`snapshot ${i} scan`));
      await slot.snapshot.release(); // ended by close: a no-op
      this.slots[i] = null;
    }
    await engine.close(); // twice: a no-op
    this.coverage.closedCallsRefused++;
  }

  /**
   * Close (with reads in flight), then the engine a restart leaves, judged whole: everything on
   * a reopen; on a crash every batch up to the last synced one plus the prefix of the others that
   * `pick` chooses; nothing on an engine without persistence (loaded again from the model).
   */
  private async restart(pick: number): Promise<void> {
    this.coverage.restarts++;
    await this.closeWithReadsInFlight({ withScans: true });
    const restart = this.target.restart;
    switch (restart.kind) {
      case 'reopen':
        this.engine = await this.openEngine();
        break;
      case 'none': {
        this.engine = await this.openEngine();
        const all = rangeOf(this.state, KEYS[0]!, TOP);
        if (all.length > 0) {
          await this.engine.write(all.map((e) => ({ kind: 'put', cf: 'raw', key: e.key, value: e.value })), { sync: false });
          this.writeCount++;
        }
        break;
      }
      case 'crash': await this.crash(restart.afterCrash, pick); break;
    }
    assert.equal(this.engine.stats.writeCount, this.writeCount, this.where('writeCount after the restart'));
    assert.equal(this.engine.stats.syncWriteCount, this.syncWriteCount, this.where('syncWriteCount after the restart'));
    await this.checkWhole();
  }

  private async crash(afterCrash: (engine: E, rng: Rng) => Promise<E>, pick: number): Promise<void> {
    let durable = 0; // batches a crash must keep
    for (let i = 0; i < this.landed.length; i++) if (this.landed[i]!.isSyncPoint) durable = i + 1;
    const unsynced = this.landed.length - durable;
    // The crash draws how many of the unsynced batches it keeps, in [0, unsynced]: the generated
    // `pick` answers that draw, so the model knows which prefix it chose.
    let draws = 0;
    const rng: Rng = {
      nextInt: (n) => {
        draws++;
        assert.equal(n, unsynced + 1, this.where(`a crash chooses among ${unsynced + 1} prefixes (batches after the last synced one, ${unsynced}, and none)`));
        return pick % n;
      },
      nextU32: unexpectedDraw, nextRange: unexpectedDraw, nextFloat: unexpectedDraw, chance: unexpectedDraw, fork: unexpectedDraw,
    };
    const old = this.engine;
    this.engine = await afterCrash(old, rng);
    const keep = durable + (draws === 0 ? 0 : pick % (unsynced + 1));
    assert.ok(draws === 1 || unsynced === 0, this.where(`${unsynced} of ${this.landed.length} batches after the last synced one (${durable === 0 ? 'none' : `#${durable - 1}`}): one draw for the prefix kept, not ${draws}`));
    if (keep < this.landed.length) this.coverage.crashesLosingWrites++;
    this.landed = this.landed.slice(0, keep);
    this.state = new Map(keep === 0 ? [] : this.landed[keep - 1]!.state);
    // The new engine replays what it kept: its counts are those batches'.
    this.writeCount = this.landed.filter((l) => l.isCounted).length;
    this.syncWriteCount = this.landed.filter((l) => l.isSyncCounted).length;
  }
}

function unexpectedDraw(): never {
  throw new Error('a crash draws only nextInt');
}

/** Runs the model over `runs` generated sequences on `target`; checks coverage; returns it. */
export async function judgeAgainstModel<E extends Engine>(
  target: ModelTarget<E>, options: { readonly seed: number; readonly runs: number; readonly location: (runNo: number) => string; readonly cleanup: (location: string) => Promise<void> },
): Promise<Coverage> {
  const coverage = newCoverage();
  let runNo = 0;
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 60 }), async (ops) => {
    const location = options.location(runNo++);
    try {
      await new Run(target, location, coverage).run(ops);
    } finally {
      await options.cleanup(location);
    }
  }), { numRuns: options.runs, seed: options.seed, endOnFailure: true, includeErrorInReport: true });
  console.log(`${target.label} model (seed ${options.seed}, ${options.runs} runs): ${JSON.stringify(coverage)}`);
  // Every case the model is for happened (but those this target cannot reach).
  for (const [name, count] of Object.entries(coverage)) {
    if (!target.unreachable.includes(name as keyof Coverage)) assert.ok(count > 0, `${target.label} coverage: ${name} never happened`);
  }
  return coverage;
}
