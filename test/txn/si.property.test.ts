// Snapshot isolation, as a property (fast-check): random interleavings of concurrent bank
// transactions run through the real actions against one engine (a model of one region) —
// clients crash at random steps, readers resolve the locks they meet, GC runs between steps — and
// the whole history is checked against a model built from the commit records:
//   1. every read equals the latest commit ≤ its start_ts (which also makes a transaction's writes
//      all visible or none to every reader);
//   2. no lost update: two committed transactions writing one key never overlap in [start, commit];
//   3. the bank invariant: every audit and the final state sum to the initial total;
//   4. atomicity: after recovery, each transaction's keys are all committed (at one commit_ts) or none;
//      an acknowledged commit is committed, an acknowledged abort is not;
//   5. GC never changes what a reader at ≥ the safe point sees;
//   6. recovery leaves no lock behind.
// Runs on real RocksDB (one DB, a key prefix per case) and on the in-memory engine.
// FLOTILLA_PROP_RUNS=N sets the cases per engine; FLOTILLA_PROP_SEED replays a reported seed.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { composeTs, TS_MAX, type Ts } from '../../common/index.js';
import { type Engine } from '../../store/index.js';
import {
  batchGetCommand, batchRollbackCommand, checkTxnStatusCommand, commitCommand, formatTxnError, gcRange, type KvPair,
  type LockInfo, MvccReader, prewriteCommand, resolveLockCommand, resolveLockOverRange, scanCommand, scanLockCommand, type Snapshot, type TxnError,
  SHORT_VALUE_BYTES_MAX, TxnScheduler, txnHeartBeatCommand,
} from '../../txn/index.js';
import { type EngineKind, openTestEngine, type TestEngine } from './helpers.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? '1200');
const SEED = process.env['FLOTILLA_PROP_SEED'] === undefined ? undefined : Number(process.env['FLOTILLA_PROP_SEED']);
const INITIAL_BALANCE = 100;

// ---- the generated case ------------------------------------------------------------------------

interface TxnSpec {
  readonly kind: 'transfer' | 'audit';
  readonly from: number;
  readonly to: number;
  readonly amount: number;
  readonly isLongValue: boolean;
  /** The client crashes when this transaction reaches this step (null: never). */
  readonly crashAtStep: number | null;
  readonly lockTtlMs: number;
  readonly isHeartBeat: boolean;
  readonly auditMode: 'batchGet' | 'scan' | 'reverseScan';
}

interface ScheduleEntry {
  /** Clients (indexes modulo the client count) advanced one step each, concurrently. */
  readonly clients: readonly number[];
  readonly clockAdvanceMs: number;
  readonly isGc: boolean;
}

interface CaseSpec {
  readonly accountCount: number;
  readonly clients: readonly (readonly TxnSpec[])[];
  readonly schedule: readonly ScheduleEntry[];
}

const txnSpecArb: fc.Arbitrary<TxnSpec> = fc.record({
  kind: fc.constantFrom<'transfer' | 'audit'>('transfer', 'transfer', 'transfer', 'audit'),
  from: fc.nat(7),
  to: fc.nat(7),
  amount: fc.integer({ min: 1, max: 30 }),
  isLongValue: fc.boolean(),
  crashAtStep: fc.oneof({ arbitrary: fc.constant(null), weight: 5 }, { arbitrary: fc.integer({ min: 1, max: 9 }), weight: 1 }),
  lockTtlMs: fc.integer({ min: 3, max: 20 }),
  isHeartBeat: fc.boolean(),
  auditMode: fc.constantFrom<'batchGet' | 'scan' | 'reverseScan'>('batchGet', 'scan', 'reverseScan'),
});

const caseArb: fc.Arbitrary<CaseSpec> = fc.record({
  accountCount: fc.integer({ min: 2, max: 5 }),
  clients: fc.array(fc.array(txnSpecArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 4 }),
  schedule: fc.array(fc.record({
    clients: fc.uniqueArray(fc.nat(3), { minLength: 1, maxLength: 3 }),
    clockAdvanceMs: fc.integer({ min: 0, max: 4 }),
    isGc: fc.nat(9).map((n) => n === 0),
  }), { minLength: 20, maxLength: 120 }),
});

// ---- history -----------------------------------------------------------------------------------

type TxnFate = 'running' | 'committed' | 'aborted' | 'crashed' | 'readOnly' | 'gaveUp';

interface TxnRecord {
  readonly id: number;
  readonly spec: TxnSpec;
  startTs: Ts;
  fate: TxnFate;
  /** Account index → balance read (null = absent). */
  reads: Map<number, number | null> | null;
  /** Account index → balance written. */
  writes: Map<number, number>;
  primary: number | null;
  /** Keys whose prewrite was sent (maybe applied). */
  prewriteSent: Set<number>;
  acknowledgedCommitTs: Ts | null;
  commitTs: Ts | null;
  /** Committed, but the client still has to commit its secondary (it still acts). */
  isSecondaryPending: boolean;
  /** commitTs is final (read from the commit records). */
  isFateDecided: boolean;
}

interface Stats {
  cases: number;
  committed: number;
  aborted: number;
  crashed: number;
  resolvedLocks: number;
  bypassedLocks: number;
  gcRuns: number;
  gcDeleted: number;
  commitTsExpired: number;
}

class CaseRun {
  private clockMs = 1000;
  private logical = 0;
  readonly txns: TxnRecord[] = [];
  readonly scheduler: TxnScheduler;
  private readonly keyBytes: Buffer[];
  readonly rangeStart: Buffer;
  readonly rangeEnd: Buffer;

  constructor(readonly engine: Engine, readonly spec: CaseSpec, prefix: string, readonly stats: Stats) {
    this.scheduler = new TxnScheduler(engine, { latchSlots: 64, isSyncWrite: false });
    this.keyBytes = Array.from({ length: spec.accountCount }, (_, i) => Buffer.from(`${prefix}/acct${i}`));
    this.rangeStart = Buffer.from(`${prefix}/`);
    this.rangeEnd = Buffer.from(`${prefix}0`); // '0' follows '/'
  }

  tso(): Ts {
    return composeTs(this.clockMs, this.logical++);
  }

  advanceClock(ms: number): void {
    if (ms > 0) {
      this.clockMs += ms;
      this.logical = 0;
    }
  }

  key(account: number): Buffer {
    return this.keyBytes[account]!;
  }

  encodeBalance(balance: number, isLong: boolean): Buffer {
    const text = String(balance);
    return Buffer.from(isLong ? text.padEnd(SHORT_VALUE_BYTES_MAX + 50, '.') : text);
  }

  decodeBalance(value: Buffer | null): number | null {
    if (value === null) return null;
    const n = Number.parseInt(value.toString(), 10);
    assert.ok(Number.isInteger(n), `bad balance ${value.toString().slice(0, 20)}`);
    return n;
  }

  async withSnapshot<T>(fn: (s: Snapshot) => Promise<T>, isReverseEnabled = false): Promise<T> {
    const snapshot = await this.engine.snapshot({ isReverseEnabled });
    try {
      return await fn(snapshot);
    } finally {
      await snapshot.release();
    }
  }

  async setup(): Promise<void> {
    const startTs = this.tso();
    const mutations = this.keyBytes.map((key) => ({ kind: 'put' as const, key, value: this.encodeBalance(INITIAL_BALANCE, false) }));
    const primary = this.keyBytes[0]!;
    const pre = await this.scheduler.run(this.keyBytes, (s) => prewriteCommand(s, { mutations, primary, startTs, lockTtlMs: 1000, txnSize: mutations.length, minCommitTs: 0n }));
    assert.ok(pre.kind === 'prewritten', 'setup prewrite');
    const commitTs = this.tso();
    const com = await this.scheduler.run(this.keyBytes, (s) => commitCommand(s, { keys: this.keyBytes, startTs, commitTs }));
    assert.equal(com.kind, 'committed', 'setup commit');
    this.txns.push({
      id: -1, spec: { kind: 'transfer', from: 0, to: 0, amount: 0, isLongValue: false, crashAtStep: null, lockTtlMs: 0, isHeartBeat: false, auditMode: 'batchGet' },
      startTs, fate: 'committed', reads: null, writes: new Map(this.keyBytes.map((_, i) => [i, INITIAL_BALANCE])), primary: 0,
      prewriteSent: new Set(this.keyBytes.map((_, i) => i)), acknowledgedCommitTs: commitTs, commitTs, isSecondaryPending: false, isFateDecided: true,
    });
  }

  /** What a blocked reader (callerStartTs) or writer (TS_MAX) does with a lock in its way. */
  async resolve(lock: LockInfo, callerStartTs: Ts, bypass: Set<Ts>, scope: 'key' | 'range' = 'key'): Promise<void> {
    const status = await this.scheduler.run([lock.primary], (s) => checkTxnStatusCommand(s, {
      primary: lock.primary, startTs: lock.startTs, callerStartTs, currentTs: this.tso(), missingLockAction: 'rollback',
    }));
    if (status.kind === 'error') assert.fail(`checkTxnStatus: ${formatTxnError(status)}`);
    if (status.kind === 'locked') {
      if (callerStartTs !== TS_MAX && status.lock.minCommitTs > callerStartTs) {
        bypass.add(lock.startTs);
        this.stats.bypassedLocks++;
      }
      return;
    }
    const commitTs = status.kind === 'committed' ? status.commitTs : 0n;
    // Readers resolve the key in their way; the GC/recovery sweep resolves the whole transaction
    // in the range (read phase, then latched batches).
    const resolved = scope === 'key'
      ? await this.scheduler.run([lock.key], (s) => resolveLockCommand(s, { startTs: lock.startTs, commitTs, keys: [lock.key] }))
      : await resolveLockOverRange(this.engine, this.scheduler, { startTs: lock.startTs, commitTs, startKey: this.rangeStart, endKey: this.rangeEnd, batchKeys: 2 });
    if (resolved.kind === 'error') assert.fail(`resolveLock: ${formatTxnError(resolved)}`);
    this.stats.resolvedLocks += resolved.resolvedCount;
  }

  async read(txn: TxnRecord, accounts: readonly number[], bypass: Set<Ts>): Promise<KvPair[] | TxnError> {
    const keys = accounts.map((a) => this.key(a));
    const mode = txn.spec.kind === 'audit' ? txn.spec.auditMode : 'batchGet';
    if (mode === 'batchGet') {
      const r = await this.withSnapshot((s) => batchGetCommand(s, keys, txn.startTs, bypass));
      return r.kind === 'error' ? r : r.pairs;
    }
    const isReverse = mode === 'reverseScan';
    const r = await this.withSnapshot((s) => scanCommand(s, {
      startKey: this.rangeStart, endKey: this.rangeEnd, readTs: txn.startTs, limit: 100, isReverse, bypassLocks: bypass,
    }), isReverse);
    return r.kind === 'error' ? r : r.pairs;
  }

  async rollbackOwn(txn: TxnRecord): Promise<void> {
    const keys = [...txn.prewriteSent].map((a) => this.key(a));
    if (keys.length === 0) return;
    const r = await this.scheduler.run(keys, (s) => batchRollbackCommand(s, { keys, startTs: txn.startTs }));
    // AlreadyCommitted cannot happen: the client only aborts before its primary commit succeeded,
    // and a resolver commits secondaries only after the primary committed.
    if (r.kind === 'error') assert.fail(`rollback: ${formatTxnError(r)}`);
  }

  /** One transaction as a sequence of steps; each yield is a point where other clients run (or this one crashes). */
  async *runTxn(spec: TxnSpec): AsyncGenerator<void, void, void> {
    const txn: TxnRecord = {
      id: this.txns.length, spec, startTs: this.tso(), fate: 'running', reads: null, writes: new Map(), primary: null,
      prewriteSent: new Set(), acknowledgedCommitTs: null, commitTs: null, isSecondaryPending: false, isFateDecided: false,
    };
    this.txns.push(txn);
    yield;
    const n = this.spec.accountCount;
    const from = spec.from % n;
    const to = (spec.from % n === spec.to % n) ? (from + 1) % n : spec.to % n;
    const accounts = spec.kind === 'audit' ? Array.from({ length: n }, (_, i) => i) : [from, to];
    const bypass = new Set<Ts>();
    let pairs: KvPair[] | null = null;
    for (let attempt = 0; attempt < 6 && pairs === null; attempt++) {
      const r = await this.read(txn, accounts, bypass);
      if (!Array.isArray(r)) {
        assert.equal(r.code, 'KeyIsLocked', `read: ${formatTxnError(r)}`);
        if (r.code === 'KeyIsLocked') await this.resolve(r.lock, txn.startTs, bypass);
        yield;
        continue;
      }
      pairs = r;
    }
    if (pairs === null) {
      txn.fate = 'gaveUp';
      return;
    }
    const reads = new Map<number, number | null>(accounts.map((a) => [a, null]));
    for (const p of pairs) {
      const account = this.keyBytes.findIndex((kb) => kb.equals(p.key));
      assert.ok(account >= 0, `read returned a foreign key ${p.key.toString()}`);
      reads.set(account, this.decodeBalance(p.value));
    }
    txn.reads = reads;
    if (spec.kind === 'audit') {
      txn.fate = 'readOnly';
      return;
    }
    yield;
    const fromBalance = reads.get(from) ?? 0;
    const toBalance = reads.get(to) ?? 0;
    txn.writes.set(from, fromBalance - spec.amount);
    txn.writes.set(to, toBalance + spec.amount);
    txn.primary = from;
    const primary = this.key(from);
    for (const account of [from, to]) {
      let isDone = false;
      for (let attempt = 0; attempt < 5 && !isDone; attempt++) {
        txn.prewriteSent.add(account);
        const mutation = { kind: 'put' as const, key: this.key(account), value: this.encodeBalance(txn.writes.get(account)!, spec.isLongValue) };
        const r = await this.scheduler.run([mutation.key], (s) => prewriteCommand(s, {
          mutations: [mutation], primary, startTs: txn.startTs, lockTtlMs: spec.lockTtlMs, txnSize: 2, minCommitTs: 0n,
        }));
        if (r.kind === 'prewritten') {
          isDone = true;
        } else if (r.kind === 'locked') {
          const first = r.errors[0];
          if (first?.code !== 'KeyIsLocked') assert.fail('prewrite answered locked without a lock');
          await this.resolve(first.lock, TS_MAX, new Set());
          yield;
        } else {
          assert.ok(r.code === 'WriteConflict' || r.code === 'AlreadyRolledBack', `prewrite: ${formatTxnError(r)}`);
          break;
        }
      }
      if (!isDone) {
        await this.rollbackOwn(txn);
        txn.fate = 'aborted';
        return;
      }
      yield;
    }
    if (spec.isHeartBeat) {
      const hb = await this.scheduler.run([primary], (s) => txnHeartBeatCommand(s, { primary, startTs: txn.startTs, adviseLockTtlMs: spec.lockTtlMs + 10 }));
      if (hb.kind === 'error') assert.equal(hb.code, 'TxnNotFound'); // rolled back meanwhile: commit will tell
      yield;
    }
    for (let attempt = 0; ; attempt++) {
      // The commit ts is fetched one step before the commit RPC lands: readers that start in
      // between may push min_commit_ts past it (then CommitTsExpired, and a fresh ts).
      const commitTs = this.tso();
      yield;
      const r = await this.scheduler.run([primary], (s) => commitCommand(s, { keys: [primary], startTs: txn.startTs, commitTs }));
      if (r.kind === 'committed') {
        txn.acknowledgedCommitTs = commitTs;
        txn.fate = 'committed';
        txn.isSecondaryPending = true;
        break;
      }
      if (r.code === 'CommitTsExpired' && attempt < 4) {
        this.stats.commitTsExpired++;
        continue;
      }
      assert.ok(r.code === 'TxnLockNotFound' || r.code === 'CommitTsExpired', `commit: ${formatTxnError(r)}`);
      await this.rollbackOwn(txn);
      txn.fate = 'aborted';
      return;
    }
    yield;
    const secondary = this.key(to);
    const r = await this.scheduler.run([secondary], (s) => commitCommand(s, { keys: [secondary], startTs: txn.startTs, commitTs: txn.acknowledgedCommitTs! }));
    if (r.kind === 'error') assert.fail(`secondary commit: ${formatTxnError(r)}`);
    txn.isSecondaryPending = false;
  }

  async *runClient(specs: readonly TxnSpec[]): AsyncGenerator<void, void, void> {
    for (const spec of specs) {
      let step = 0;
      for await (const _ of this.runTxn(spec)) {
        step++;
        if (spec.crashAtStep !== null && step >= spec.crashAtStep) {
          const txn = this.txns[this.txns.length - 1]!;
          if (txn.fate === 'running') txn.fate = 'crashed';
          txn.isSecondaryPending = false;
          this.stats.crashed++;
          return; // the client is gone; its locks stay for others to resolve
        }
        yield;
      }
    }
  }

  /** Resolves every lock with start_ts ≤ maxTs; returns the smallest start_ts of a lock still alive. */
  async resolveLocksUpTo(maxTs: Ts): Promise<Ts | null> {
    const scanned = await this.withSnapshot((s) => scanLockCommand(s, { maxTs, startKey: this.rangeStart, endKey: this.rangeEnd, limit: 1000 }));
    if (scanned.kind === 'error') assert.fail(formatTxnError(scanned));
    let alive: Ts | null = null;
    for (const lock of scanned.locks) {
      const before = this.stats.bypassedLocks;
      await this.resolve(lock, TS_MAX, new Set(), 'range');
      assert.equal(this.stats.bypassedLocks, before);
      const still = await this.engine.snapshot().then(async (s) => {
        try {
          return await new MvccReader(s).loadLock(lock.key);
        } finally {
          await s.release();
        }
      });
      if (still !== null && still.startTs === lock.startTs && (alive === null || lock.startTs < alive)) alive = lock.startTs;
    }
    return alive;
  }

  async readAllCommitted(readTs: Ts): Promise<(number | null)[]> {
    return this.withSnapshot(async (s) => {
      const reader = new MvccReader(s);
      const out: (number | null)[] = [];
      for (const key of this.keyBytes) out.push(this.decodeBalance(await reader.getCommitted(key, readTs)));
      return out;
    });
  }

  async gc(safePoint: Ts): Promise<void> {
    const r = await gcRange(this.scheduler, { safePoint, startKey: this.rangeStart, endKey: this.rangeEnd, keyLimit: 3 });
    if (r.kind === 'error') assert.fail(formatTxnError(r));
    this.stats.gcDeleted += r.deletedVersions;
    this.stats.gcRuns++;
  }

  /**
   * Reads the fate of every undecided write transaction with start_ts ≤ maxStartTs from its keys'
   * commit records (all agree: atomicity), before GC may remove old records. Precondition: those
   * transactions no longer act and their locks are resolved.
   */
  async decideFates(maxStartTs: Ts): Promise<void> {
    for (const t of this.txns) {
      if (t.writes.size === 0 || t.id < 0 || t.isFateDecided || t.startTs > maxStartTs) continue;
      const records = await this.withSnapshot(async (s) => {
        const reader = new MvccReader(s);
        return Promise.all([...t.writes.keys()].map((a) => reader.getTxnCommitRecord(this.key(a), t.startTs)));
      });
      const commitTss = records.map((r) => (r.kind === 'committed' ? r.commitTs : null));
      const first = commitTss[0] ?? null;
      assert.ok(commitTss.every((c) => c === first), `atomicity: txn ${t.id} keys disagree: ${commitTss.join(',')}`);
      if (t.fate === 'committed') assert.equal(first, t.acknowledgedCommitTs, `acknowledged commit of txn ${t.id} lost`);
      if (t.fate === 'aborted') assert.equal(first, null, `acknowledged abort of txn ${t.id} committed`);
      t.commitTs = first;
      t.isFateDecided = true;
      if (first !== null) this.stats.committed++;
      else this.stats.aborted++;
    }
  }

  /** GC at a safe point below every running transaction, checking reads at ≥ the safe point before and after. */
  async gcStep(): Promise<void> {
    let safePoint = this.tso();
    for (const t of this.txns) {
      const isActive = t.fate === 'running' || t.isSecondaryPending;
      if (isActive && t.startTs <= safePoint) safePoint = t.startTs - 1n;
    }
    const alive = await this.resolveLocksUpTo(safePoint);
    if (alive !== null && alive <= safePoint) safePoint = alive - 1n;
    if (safePoint <= 0n) return;
    await this.decideFates(safePoint);
    const readTss = [safePoint, TS_MAX, ...this.txns.flatMap((t) => (t.acknowledgedCommitTs !== null && t.acknowledgedCommitTs > safePoint ? [t.acknowledgedCommitTs] : []))];
    const before = await Promise.all(readTss.map((t) => this.readAllCommitted(t)));
    await this.gc(safePoint);
    const after = await Promise.all(readTss.map((t) => this.readAllCommitted(t)));
    assert.deepEqual(after, before, `GC at safe point ${safePoint} changed what readers at ≥ it see`);
  }

  async run(): Promise<void> {
    await this.setup();
    const clients = this.spec.clients.map((specs) => ({ gen: this.runClient(specs), isDone: false }));
    for (const entry of this.spec.schedule) {
      this.advanceClock(entry.clockAdvanceMs);
      if (entry.isGc) {
        await this.gcStep();
        continue;
      }
      const chosen = [...new Set(entry.clients.map((c) => c % clients.length))].map((c) => clients[c]!).filter((c) => !c.isDone);
      await Promise.all(chosen.map(async (c) => {
        const step = await c.gen.next();
        if (step.done === true) c.isDone = true;
      }));
    }
    // Every client still running is abandoned mid-way: a crash at the end of the schedule.
    for (const c of clients) if (!c.isDone) await c.gen.return(undefined);
    for (const t of this.txns) {
      if (t.fate === 'running') t.fate = 'crashed';
      t.isSecondaryPending = false;
    }
    await this.recoverAndCheck();
  }

  async recoverAndCheck(): Promise<void> {
    this.advanceClock(10_000); // every TTL has run out
    assert.equal(await this.resolveLocksUpTo(TS_MAX), null, 'a lock survived recovery');
    const left = await this.withSnapshot((s) => scanLockCommand(s, { maxTs: TS_MAX, startKey: this.rangeStart, endKey: this.rangeEnd, limit: 10 }));
    assert.ok(left.kind === 'locks' && left.locks.length === 0, 'no lock remains after recovery');
    await this.decideFates(TS_MAX);
    const committed = this.txns.filter((t) => t.commitTs !== null && t.writes.size > 0).sort((a, b) => (a.commitTs! < b.commitTs! ? -1 : 1));
    const modelAt = (account: number, readTs: Ts): number | null => {
      let value: number | null = null;
      for (const t of committed) {
        if (t.commitTs! > readTs) break;
        const w = t.writes.get(account);
        if (w !== undefined) value = w;
      }
      return value;
    };
    // 1 + 3: every read equals the model at its start_ts; audits see the invariant total.
    const total = INITIAL_BALANCE * this.spec.accountCount;
    for (const t of this.txns) {
      if (t.reads === null) continue;
      for (const [account, value] of t.reads) {
        assert.equal(value, modelAt(account, t.startTs), `txn ${t.id} (start ${t.startTs}) read account ${account}`);
      }
      if (t.spec.kind === 'audit') {
        assert.equal([...t.reads.values()].reduce<number>((sum, v) => sum + (v ?? 0), 0), total, `audit ${t.id} total`);
      }
    }
    // 2: no lost update (first committer wins).
    for (let i = 0; i < committed.length; i++) {
      for (let j = i + 1; j < committed.length; j++) {
        const a = committed[i]!;
        const b = committed[j]!;
        if (![...a.writes.keys()].some((key) => b.writes.has(key))) continue;
        assert.ok(a.commitTs! < b.startTs || b.commitTs! < a.startTs, `lost update: txns ${a.id} [${a.startTs}, ${a.commitTs}] and ${b.id} [${b.startTs}, ${b.commitTs}] overlap`);
      }
    }
    // 5 once more at the end, then the final state against the model and the bank total.
    await this.gcStep();
    const latest = await this.readAllCommitted(TS_MAX);
    assert.deepEqual(latest, latest.map((_, a) => modelAt(a, TS_MAX)), 'final state = model');
    assert.equal(latest.reduce<number>((s, v) => s + (v ?? 0), 0), total, 'bank total');
  }
}

function runProperty(kind: EngineKind, numRuns: number): void {
  const stats: Stats = { cases: 0, committed: 0, aborted: 0, crashed: 0, resolvedLocks: 0, bypassedLocks: 0, gcRuns: 0, gcDeleted: 0, commitTsExpired: 0 };
  let shared: TestEngine | null = null;
  before(async () => {
    shared = await openTestEngine(kind);
  });
  after(async () => {
    await shared?.cleanup();
  });
  it(`snapshot isolation holds over ${numRuns} random interleavings with crashes and GC (${kind})`, async () => {
    const started = Date.now();
    await fc.assert(fc.asyncProperty(caseArb, async (spec) => {
      const caseNo = stats.cases++;
      // RocksDB: one DB for all cases, a key prefix each (opening a DB per case costs more than the case).
      let engine = shared!.engine;
      let own: TestEngine | null = null;
      if (kind === 'memory') {
        own = await openTestEngine('memory');
        engine = own.engine;
      }
      try {
        await new CaseRun(engine, spec, `c${String(caseNo).padStart(6, '0')}`, stats).run();
      } finally {
        await own?.cleanup();
      }
    }), { numRuns, seed: SEED, endOnFailure: true, includeErrorInReport: true });
    const seconds = (Date.now() - started) / 1000;
    console.log(`si property (${kind}): ${stats.cases} cases in ${seconds.toFixed(1)} s: ${JSON.stringify(stats)}`);
    // A run that proves nothing fails.
    assert.ok(stats.committed > numRuns, 'transactions committed');
    assert.ok(stats.aborted > 0 && stats.crashed > 0 && stats.resolvedLocks > 0 && stats.gcDeleted > 0 && stats.bypassedLocks > 0, JSON.stringify(stats));
    assert.ok(numRuns < 100 || stats.commitTsExpired > 0, 'a pushed min_commit_ts was met at commit');
  });
}

describe('snapshot isolation property: real RocksDB', () => runProperty('rocksdb', RUNS));
describe('snapshot isolation property: in-memory engine', () => runProperty('memory', Math.max(1, Math.floor((RUNS * 2) / 3))));
