// TiKV-style scenario helpers (must_prewrite_put → mustPrewritePut, …) over one engine, in-memory
// or real RocksDB. Every mutating helper runs its command twice to prove it idempotent.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TS_MAX, type Ts } from '../../common/index.js';
import { type Engine, MemoryEngine, RocksEngine } from '../../store/index.js';
import {
  batchRollbackCommand, checkTxnStatusCommand, cleanupCommand, commitCommand, decodeLockEntry, decodeWrite, formatTxnError,
  gcRange, getCommand, type Lock, type MissingLockAction, type Mutation, MvccReader, prewriteCommand,
  type PrewriteResult, resolveLockCommand, resolveLockOverRange, type TxnError, type TxnStatus, TxnScheduler,
  txnHeartBeatCommand, type Write, type WriteKind, type CommandOutput, type Snapshot,
} from '../../txn/index.js';
import { lockKey, writeKey } from '../../common/pure.js';

export type EngineKind = 'memory' | 'rocksdb';
export const ENGINE_KINDS: readonly EngineKind[] = ['memory', 'rocksdb'];

export interface TestEngine {
  readonly engine: Engine;
  readonly cleanup: () => Promise<void>;
}

/** A fresh engine; RocksDB in a temp dir removed by cleanup(). */
export async function openTestEngine(kind: EngineKind): Promise<TestEngine> {
  if (kind === 'memory') {
    const engine = new MemoryEngine();
    return { engine, cleanup: () => engine.close() };
  }
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-txn-'));
  const engine = await RocksEngine.open(join(dir, 'db'), { blockCacheBytes: 8 * 1024 * 1024, writeBufferBytes: 4 * 1024 * 1024 });
  return {
    engine,
    cleanup: async () => {
      try {
        await engine.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

export const k = (s: string): Buffer => Buffer.from(s);
export const TTL_MS = 3000;

function show(result: unknown): string {
  return typeof result === 'object' && result !== null && (result as { kind?: unknown }).kind === 'error'
    ? formatTxnError(result as TxnError)
    : JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? v.toString() : v));
}

export function assertOk<T>(result: T | TxnError, what: string): T {
  assert.ok(!(typeof result === 'object' && result !== null && (result as { kind?: unknown }).kind === 'error'), `${what}: ${show(result)}`);
  return result as T;
}

export function assertErr(result: unknown, code: TxnError['code'], what: string): TxnError {
  assert.ok(typeof result === 'object' && result !== null && (result as { kind?: unknown }).kind === 'error', `${what}: expected ${code}, got ${show(result)}`);
  const error = result as TxnError;
  assert.equal(error.code, code, `${what}: ${show(error)}`);
  return error;
}

export interface PrewriteOptions {
  readonly lockTtlMs?: number;
  readonly minCommitTs?: Ts;
  readonly txnSize?: number;
}

/** One engine plus the scheduler, with the must* helpers. */
export class TxnHarness {
  readonly scheduler: TxnScheduler;

  constructor(readonly engine: Engine) {
    this.scheduler = new TxnScheduler(engine, { latchSlots: 256, isSyncWrite: false });
  }

  run<T>(keys: readonly Buffer[], command: (snapshot: Snapshot) => Promise<CommandOutput<T>>): Promise<T | TxnError> {
    return this.scheduler.run(keys, command);
  }

  async read<T>(fn: (snapshot: Snapshot) => Promise<T>): Promise<T> {
    const snapshot = await this.engine.snapshot();
    try {
      return await fn(snapshot);
    } finally {
      await snapshot.release();
    }
  }

  prewrite(mutations: readonly Mutation[], primary: Buffer, startTs: Ts, options: PrewriteOptions = {}): Promise<PrewriteResult | TxnError> {
    return this.run(mutations.map((m) => m.key), (s) => prewriteCommand(s, {
      mutations, primary, startTs, lockTtlMs: options.lockTtlMs ?? TTL_MS, txnSize: options.txnSize ?? mutations.length,
      minCommitTs: options.minCommitTs ?? 0n,
    }));
  }

  async mustPrewrite(mutations: readonly Mutation[], primary: Buffer, startTs: Ts, options: PrewriteOptions = {}): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const result = assertOk(await this.prewrite(mutations, primary, startTs, options), `prewrite start_ts ${startTs} attempt ${attempt}`);
      assert.equal(result.kind, 'prewritten', `prewrite start_ts ${startTs}: ${show(result)}`);
    }
  }

  mustPrewritePut(key: string, value: string | Buffer, primary: string, startTs: Ts, options?: PrewriteOptions): Promise<void> {
    return this.mustPrewrite([{ kind: 'put', key: k(key), value: Buffer.isBuffer(value) ? value : k(value) }], k(primary), startTs, options);
  }

  mustPrewriteDelete(key: string, primary: string, startTs: Ts, options?: PrewriteOptions): Promise<void> {
    return this.mustPrewrite([{ kind: 'delete', key: k(key) }], k(primary), startTs, options);
  }

  mustPrewriteLock(key: string, primary: string, startTs: Ts, options?: PrewriteOptions): Promise<void> {
    return this.mustPrewrite([{ kind: 'lock', key: k(key) }], k(primary), startTs, options);
  }

  async mustPrewritePutErr(key: string, value: string, primary: string, startTs: Ts, code: TxnError['code']): Promise<TxnError> {
    const result = await this.prewrite([{ kind: 'put', key: k(key), value: k(value) }], k(primary), startTs);
    if (code === 'KeyIsLocked' && !(typeof result === 'object' && result.kind === 'error')) {
      assert.equal(result.kind, 'locked', `expected locked, got ${show(result)}`);
      const first = result.kind === 'locked' ? result.errors[0] : undefined;
      assert.ok(first !== undefined);
      return first;
    }
    return assertErr(result, code, `prewrite ${key} start_ts ${startTs}`);
  }

  commit(keys: readonly string[], startTs: Ts, commitTs: Ts): Promise<{ kind: 'committed' } | TxnError> {
    const buffers = keys.map(k);
    return this.run(buffers, (s) => commitCommand(s, { keys: buffers, startTs, commitTs }));
  }

  async mustCommit(key: string | readonly string[], startTs: Ts, commitTs: Ts): Promise<void> {
    const keys = typeof key === 'string' ? [key] : key;
    for (let attempt = 0; attempt < 2; attempt++) assertOk(await this.commit(keys, startTs, commitTs), `commit start_ts ${startTs} attempt ${attempt}`);
  }

  async mustCommitErr(key: string, startTs: Ts, commitTs: Ts, code: TxnError['code']): Promise<TxnError> {
    return assertErr(await this.commit([key], startTs, commitTs), code, `commit ${key} start_ts ${startTs}`);
  }

  rollback(keys: readonly string[], startTs: Ts): Promise<{ kind: 'rolledBack' } | TxnError> {
    const buffers = keys.map(k);
    return this.run(buffers, (s) => batchRollbackCommand(s, { keys: buffers, startTs }));
  }

  async mustRollback(key: string | readonly string[], startTs: Ts): Promise<void> {
    const keys = typeof key === 'string' ? [key] : key;
    for (let attempt = 0; attempt < 2; attempt++) assertOk(await this.rollback(keys, startTs), `rollback start_ts ${startTs} attempt ${attempt}`);
  }

  async mustRollbackErr(key: string, startTs: Ts, code: TxnError['code']): Promise<TxnError> {
    return assertErr(await this.rollback([key], startTs), code, `rollback ${key} start_ts ${startTs}`);
  }

  cleanup(key: string, startTs: Ts, currentTs: Ts): Promise<{ kind: 'rolledBack' } | TxnError> {
    return this.run([k(key)], (s) => cleanupCommand(s, { key: k(key), startTs, currentTs }));
  }

  checkTxnStatus(primary: string, startTs: Ts, callerStartTs: Ts, currentTs: Ts, missingLockAction: MissingLockAction = 'rollback'): Promise<TxnStatus | TxnError> {
    return this.run([k(primary)], (s) => checkTxnStatusCommand(s, { primary: k(primary), startTs, callerStartTs, currentTs, missingLockAction }));
  }

  resolveLock(startTs: Ts, commitTs: Ts, keys: readonly Buffer[]): Promise<{ kind: 'resolved'; resolvedCount: number } | TxnError> {
    return this.run(keys, (s) => resolveLockCommand(s, { startTs, commitTs, keys }));
  }

  resolveLockOverRange(startTs: Ts, commitTs: Ts, startKey: string, endKey: string): Promise<{ kind: 'resolved'; resolvedCount: number } | TxnError> {
    return resolveLockOverRange(this.engine, this.scheduler, { startTs, commitTs, startKey: k(startKey), endKey: k(endKey), batchKeys: 2 });
  }

  heartBeat(primary: string, startTs: Ts, adviseLockTtlMs: number): Promise<{ kind: 'alive'; lockTtlMs: number } | TxnError> {
    return this.run([k(primary)], (s) => txnHeartBeatCommand(s, { primary: k(primary), startTs, adviseLockTtlMs }));
  }

  async gc(safePoint: Ts, startKey = '', endKey = ''): Promise<number> {
    const result = assertOk(await gcRange(this.scheduler, { safePoint, startKey: k(startKey), endKey: k(endKey), keyLimit: 2 }), 'gc');
    return result.deletedVersions;
  }

  get(key: string, readTs: Ts, bypassLocks?: ReadonlySet<Ts>): Promise<{ kind: 'value'; value: Buffer | null } | TxnError> {
    return this.read((s) => getCommand(s, k(key), readTs, bypassLocks));
  }

  async mustGet(key: string, readTs: Ts, expected: string): Promise<void> {
    const result = assertOk(await this.get(key, readTs), `get ${key} at ${readTs}`);
    assert.equal(result.value?.toString() ?? null, expected, `get ${key} at ${readTs}`);
  }

  async mustGetNone(key: string, readTs: Ts): Promise<void> {
    const result = assertOk(await this.get(key, readTs), `get ${key} at ${readTs}`);
    assert.equal(result.value, null, `get ${key} at ${readTs}: expected none, got ${result.value?.toString()}`);
  }

  async mustGetErr(key: string, readTs: Ts, code: TxnError['code'] = 'KeyIsLocked'): Promise<TxnError> {
    return assertErr(await this.get(key, readTs), code, `get ${key} at ${readTs}`);
  }

  async loadLock(key: string): Promise<Lock | null> {
    return decodeLockEntry(await this.engine.get(lockKey(k(key))));
  }

  async mustLocked(key: string, startTs: Ts): Promise<Lock> {
    const lock = await this.loadLock(key);
    assert.ok(lock !== null, `${key} should be locked by ${startTs}`);
    assert.equal(lock.startTs, startTs, `${key} lock start_ts`);
    return lock;
  }

  async mustUnlocked(key: string): Promise<void> {
    assert.equal(await this.loadLock(key), null, `${key} should be unlocked`);
  }

  async loadWrite(key: string, commitTs: Ts): Promise<Write | null> {
    const bytes = await this.engine.get(writeKey(k(key), commitTs));
    return bytes === null ? null : decodeWrite(bytes);
  }

  async mustWritten(key: string, startTs: Ts, commitTs: Ts, kind: WriteKind): Promise<Write> {
    const write = await this.loadWrite(key, commitTs);
    assert.ok(write !== null, `${key} should have a write at ${commitTs}`);
    assert.equal(write.startTs, startTs, `${key} write start_ts`);
    assert.equal(write.kind, kind, `${key} write kind`);
    return write;
  }

  async mustGetRollback(key: string, startTs: Ts): Promise<void> {
    const write = await this.loadWrite(key, startTs);
    assert.ok(write !== null && (write.kind === 'rollback' || write.hasOverlappedRollback), `${key} should have a rollback at ${startTs}`);
  }

  async mustGetCommitTs(key: string, startTs: Ts): Promise<Ts> {
    const record = await this.read((s) => new MvccReader(s).getTxnCommitRecord(k(key), startTs));
    assert.equal(record.kind, 'committed', `${key} start_ts ${startTs} should be committed`);
    return record.kind === 'committed' ? record.commitTs : 0n;
  }

  async mustGetLatest(key: string, expected: string | null): Promise<void> {
    const result = assertOk(await this.read((s) => getCommand(s, k(key), TS_MAX)), `latest ${key}`);
    assert.equal(result.value?.toString() ?? null, expected);
  }
}

/** Runs `body` once per engine kind, each on a fresh engine cleaned up afterwards. */
export async function onEachEngine(body: (h: TxnHarness, kind: EngineKind) => Promise<void>): Promise<void> {
  for (const kind of ENGINE_KINDS) {
    const { engine, cleanup } = await openTestEngine(kind);
    try {
      await body(new TxnHarness(engine), kind);
    } finally {
      await cleanup();
    }
  }
}

/** A TSO-shaped timestamp: physical ms and logical part. */
export function ts(physicalMs: number, logical = 0): Ts {
  return (BigInt(physicalMs) << 18n) | BigInt(logical);
}

/** Runs `body` on a fresh engine of `kind` (removed afterwards). */
export async function withHarness(kind: EngineKind, body: (h: TxnHarness) => Promise<void>): Promise<void> {
  const { engine, cleanup } = await openTestEngine(kind);
  try {
    await body(new TxnHarness(engine));
  } finally {
    await cleanup();
  }
}
