// Racing lock resolvers (fast-check, fixed seed): several transactions on a small key space, each
// run by its owner — prewrite (all keys at once, primary first or secondaries first), heartbeats,
// commit (primary then secondaries, all at once, or the primary only), rollback, a one-phase
// commit, a crash, duplicate and stale requests — while resolvers meet their locks and run
// checkTxnStatus + resolveLock (on the key met, on all the transaction's keys, or over the range),
// readers with a fresh, an old, a 0 or a TS_MAX caller_start_ts, a current_ts that is fresh, stale
// or exactly at the TTL boundary, missing-lock action rollback or error, resolveLock sent twice.
//
// Every engine call of every command (snapshot, get, multiGet, scan, write) is a gate the case's
// schedule opens one at a time; so are an actor's start and its pauses between requests. Latches
// serialize commands on the same slots as in production (TxnScheduler), so each write command acts
// at once on what the earlier ones left, and its answer is judged against the reference model
// (test/txn/model/model.ts) applied in the order the commands finished — which, with one gate open
// at a time and every microtask drained in between, is the order their writes were applied. After
// every write the whole engine state must equal the model's. Unlatched reads are judged
// linearizably: their answer must be the model's at some state between invocation and answer.
// Then a liveness phase (TTLs expired) resolves every lock left, and the end checks: no lock left,
// snapshot reads (scans both ways, batchGet) at every interesting ts equal the model, and — apart
// from the model — commit and rollback of one transaction never both acknowledged, the primary's
// record decides every secondary's, no transaction has two commit records on a key, and an
// acknowledged commit is the primary's record. Coverage counters must all be non-zero.
//
// In-memory engine only: a gate's engine call must be finished, with every continuation it
// wakes, once the microtask queue drains (one setImmediate), which RocksDB's thread pool does not
// promise; the two engines' answers to the same commands are compared by the model property.
// FLOTILLA_PROPERTY_SEED / FLOTILLA_RACE_RUNS / FLOTILLA_RACE_PATH replay a reported failure.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { composeTs, extractPhysical, TS_MAX, type Ts } from '../../common/index.js';
import { type Engine, MemoryEngine } from '../../store/index.js';
import {
  batchGetCommand, batchRollbackCommand, checkTxnStatusCommand, type CommandOutput, commitCommand, getCommand, type KvEntry, type LockInfo,
  type MissingLockAction, type Modification, type Mutation, MvccReader, prewriteCommand, type PrewriteResult, resolveLockCommand,
  resolveLockOverRange, type SchedulerReadSource, scanCommand, scanLockCommand, type Snapshot, type SnapshotScanOptions, type TxnEngine,
  type TxnError, TxnScheduler, type TxnStatus, txnHeartBeatCommand, type WriteOptions,
} from '../../txn/index.js';
import { brief, canon, canonState, readEngineState, stateDiff } from './model/compare.js';
import { isError, isExpired, TxnModel } from './model/model.js';

const SEED = Number(process.env['FLOTILLA_PROPERTY_SEED'] ?? '20261213');
const RUNS = Number(process.env['FLOTILLA_RACE_RUNS'] ?? '400');
const PATH = process.env['FLOTILLA_RACE_PATH'];
const TEST_FILE = 'dist/test/txn/resolver-race.property.test.js';
const KEYS = ['k0', 'k1', 'k2', 'k3'];
const CLOCK_START_MS = 1000;
/** Gate openings per phase before the case counts as a livelock. */
const GATE_OPENINGS_MAX = 5000;
const LONG_VALUE_BYTES = 1100; // above SHORT_VALUE_BYTES_MAX: the value lives in the default CF

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const S = (b: Buffer): string => b.toString('latin1');
const same = (b: Buffer): Buffer => b;
/** A ts for traces: ms since the clock's start . logical. */
const T = (ts: Ts): string => (ts === TS_MAX ? 'MAX' : ts === 0n ? '0' : `${extractPhysical(ts) - BigInt(CLOCK_START_MS)}.${ts & 0x3ffffn}`);

// ---- the generated case --------------------------------------------------------------------------

type OwnerEnd = 'commit' | 'commitTogether' | 'commitPrimaryOnly' | 'rollback' | 'crash' | 'onePc';

interface TxnSpec {
  readonly keys: readonly number[];
  readonly kinds: readonly ('put' | 'delete' | 'lock')[];
  readonly isLong: readonly boolean[];
  readonly lockTtlMs: number;
  readonly prewriteOrder: 'together' | 'primaryFirst' | 'secondariesFirst';
  readonly end: OwnerEnd;
  /** 'crash': the owner stops after this many commands. */
  readonly crashAfter: number;
  readonly heartBeats: number;
  /** Pauses of a slow client before its heartbeats (others run meanwhile: TTLs run out, keys are relocked). */
  readonly stallPauses: number;
  /** commit_ts drawn before the heartbeats (a reader may push min_commit_ts past it meanwhile). */
  readonly isCommitTsEarly: boolean;
  /** Commit of the primary sent again after it succeeded, and a stale batchRollback after the commit. */
  readonly isRetrying: boolean;
  /** Starts once the previous owner finished this many commands. */
  readonly startAfter: number;
}

interface ResolverSpec {
  readonly txn: number;
  readonly key: number;
  /** Starts once its transaction's owner finished this many commands (0: started). */
  readonly startAfter: number;
  /** reader: a fresh start_ts that reads the key first; the others act on lock info they hold (from an earlier scanLock). */
  readonly caller: 'reader' | 'old' | 'zero' | 'max';
  readonly current: 'now' | 'stale' | 'ttlBoundary' | 'pastTtl';
  readonly missingLockAction: MissingLockAction;
  readonly scope: 'key' | 'txnKeys' | 'range';
  readonly isDuplicate: boolean;
  readonly attempts: number;
}

interface ScheduleEntry {
  /** Which pending gate opens next (modulo their count). */
  readonly pick: number;
  readonly advanceMs: number;
}

interface CaseSpec {
  readonly txns: readonly TxnSpec[];
  readonly resolvers: readonly ResolverSpec[];
  readonly schedule: readonly ScheduleEntry[];
  readonly latchSlots: number;
  readonly readSource: SchedulerReadSource;
}

const txnArb: fc.Arbitrary<TxnSpec> = fc.record({
  keys: fc.uniqueArray(fc.nat(KEYS.length - 1), { minLength: 1, maxLength: 3 }),
  kinds: fc.array(fc.constantFrom<'put' | 'delete' | 'lock'>('put', 'put', 'put', 'delete', 'lock'), { minLength: 3, maxLength: 3 }),
  isLong: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  lockTtlMs: fc.integer({ min: 0, max: 4 }),
  prewriteOrder: fc.constantFrom<TxnSpec['prewriteOrder']>('together', 'primaryFirst', 'secondariesFirst'),
  end: fc.constantFrom<OwnerEnd>('commit', 'commit', 'commitTogether', 'commitPrimaryOnly', 'rollback', 'crash', 'onePc'),
  crashAfter: fc.integer({ min: 0, max: 3 }),
  heartBeats: fc.integer({ min: 0, max: 2 }),
  stallPauses: fc.oneof({ arbitrary: fc.constant(0), weight: 2 }, { arbitrary: fc.integer({ min: 1, max: 8 }), weight: 1 }),
  isCommitTsEarly: fc.boolean(),
  isRetrying: fc.boolean(),
  startAfter: fc.integer({ min: 0, max: 3 }),
});

const resolverArb: fc.Arbitrary<ResolverSpec> = fc.record({
  txn: fc.nat(3),
  key: fc.nat(2),
  startAfter: fc.integer({ min: 0, max: 4 }),
  caller: fc.constantFrom<ResolverSpec['caller']>('reader', 'reader', 'old', 'zero', 'max'),
  current: fc.constantFrom<ResolverSpec['current']>('now', 'now', 'stale', 'ttlBoundary', 'pastTtl'),
  missingLockAction: fc.constantFrom<MissingLockAction>('rollback', 'rollback', 'error'),
  scope: fc.constantFrom<ResolverSpec['scope']>('key', 'key', 'txnKeys', 'range'),
  isDuplicate: fc.boolean(),
  attempts: fc.integer({ min: 1, max: 3 }),
});

const caseArb: fc.Arbitrary<CaseSpec> = fc.record({
  txns: fc.array(txnArb, { minLength: 2, maxLength: 3 }),
  resolvers: fc.array(resolverArb, { minLength: 2, maxLength: 4 }),
  schedule: fc.array(fc.record({
    pick: fc.nat(1000),
    advanceMs: fc.oneof({ arbitrary: fc.constant(0), weight: 8 }, { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 2 }),
  }), { minLength: 0, maxLength: 160 }),
  latchSlots: fc.constantFrom(1, 4, 64),
  readSource: fc.constantFrom<SchedulerReadSource>('snapshot', 'readView'),
});

// ---- coverage ------------------------------------------------------------------------------------

const REQUIRED_COUNTERS = [
  'cts.committed', 'cts.rolledBack.ttlExpired', 'cts.rolledBack.lockNotExist', 'cts.rolledBack.alreadyRolledBack', 'cts.locked.pushed',
  'cts.locked.notPushed', 'cts.TxnNotFound', 'cts.atTtlBoundary', 'cts.otherTxnOnPrimary',
  'commit.ok', 'commit.TxnLockNotFound', 'commit.CommitTsExpired', 'commit.secondaryResolvedBefore', 'commit.retried',
  'rollback.ok', 'rollback.AlreadyCommitted', 'rollback.longValue',
  'prewrite.AlreadyRolledBack', 'prewrite.WriteConflict', 'prewrite.locked',
  'onePc.committed', 'onePc.refused', 'onePc.fallback',
  'heartBeat.alive', 'heartBeat.TxnNotFound', 'heartBeat.otherTxnLock', 'cts.expiredAfterPush',
  'resolve.commit', 'resolve.rollback', 'resolve.nothing', 'resolve.otherTxnLock', 'resolve.duplicate', 'resolve.range',
  'read.blocked', 'read.bypass', 'read.value',
  'race.resolverVsOwner', 'race.resolverVsResolver', 'latch.waited', 'liveness.resolved',
] as const;

class Counters {
  readonly counts = new Map<string, number>();
  hit(name: string, n = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + n);
  }
  format(): string {
    return [...this.counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(' ');
  }
}

// ---- the gated engine: every engine call waits for the schedule ----------------------------------

type GateKind = 'start' | 'pause' | 'snapshot' | 'get' | 'multiGet' | 'scan' | 'write';

/** Whose gate it is, for traces: an actor's name and command number (the engine sees no caller). */
interface GateTag {
  readonly label: string;
}

const UNTAGGED: GateTag = { label: '(unlatched read or a command opening its snapshot)' };

interface Gate {
  readonly kind: GateKind;
  readonly tag: GateTag;
  readonly open: () => void;
  /** Set once opened: the engine call it let through, settled. */
  settled: Promise<void> | null;
}

class Gates {
  readonly pending: Gate[] = [];
  /** The command that produced each modification list (tagged before the scheduler writes it). */
  readonly writeTags = new WeakMap<readonly Modification[], GateTag>();

  /** Waits until the schedule opens this gate. */
  pass(kind: GateKind, tag: GateTag): Promise<Gate> {
    return new Promise((resolve) => {
      const gate: Gate = { kind, tag, open: () => resolve(gate), settled: null };
      this.pending.push(gate);
    });
  }

  async call<T>(kind: GateKind, tag: GateTag, op: () => Promise<T>): Promise<T> {
    const gate = await this.pass(kind, tag);
    const result = op();
    gate.settled = result.then(() => undefined, () => undefined);
    return result;
  }
}

class GatedSnapshot implements Snapshot {
  /** Set by the command that reads through it. */
  tag: GateTag = UNTAGGED;
  constructor(private readonly inner: Snapshot, private readonly gates: Gates) {}
  get(key: Buffer): Promise<Buffer | null> {
    return this.gates.call('get', this.tag, () => this.inner.get(key));
  }
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.gates.call('multiGet', this.tag, () => this.inner.multiGet(keys));
  }
  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    return this.gates.call('scan', this.tag, () => this.inner.scan(start, end, options));
  }
  /** Not a gate: a release changes nothing another command can see. */
  release(): Promise<void> {
    return this.inner.release();
  }
}

class GatedEngine implements TxnEngine {
  constructor(private readonly inner: Engine, private readonly gates: Gates) {}
  async snapshot(): Promise<GatedSnapshot> {
    return new GatedSnapshot(await this.gates.call('snapshot', UNTAGGED, () => this.inner.snapshot()), this.gates);
  }
  readView(): GatedSnapshot {
    return new GatedSnapshot(this.inner.readView(), this.gates);
  }
  write(modifications: readonly Modification[], options: WriteOptions): Promise<void> {
    return this.gates.call('write', this.gates.writeTags.get(modifications) ?? UNTAGGED, () => this.inner.write(modifications, options));
  }
}

function ownerOf(txn: TxnRecord): Actor {
  return { name: `owner${txn.index}`, role: 'owner' };
}

/** Lets every queued microtask and the callbacks they queue run (the in-memory engine has no other waits). */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---- one case ------------------------------------------------------------------------------------

interface TxnRecord {
  readonly index: number;
  readonly spec: TxnSpec;
  readonly keys: readonly Buffer[];
  readonly primary: Buffer;
  readonly mutations: readonly Mutation[];
  startTs: Ts | null;
  /** commit_ts of every acknowledgement that the transaction committed (commit, one-phase commit, checkTxnStatus). */
  readonly commitAcks: Ts[];
  /** Every acknowledgement that it rolled back (batchRollback of the owner, checkTxnStatus). */
  readonly rollbackAcks: string[];
  /** Keys where it left a lock or a one-phase commit record. */
  readonly writtenKeys: Set<string>;
  commandsDone: number;
  isFinished: boolean;
  readonly waiters: { readonly after: number; readonly resolve: () => void }[];
}

interface InFlight {
  readonly actor: string;
  readonly role: 'owner' | 'resolver' | 'cleanup';
  /** The transaction the command acts on (null: a reader's get). */
  readonly txnStartTs: Ts | null;
}

type Role = InFlight['role'];

/** Who sends a command: an actor of the case and the part it plays. */
interface Actor {
  readonly name: string;
  readonly role: Role;
}

class CaseRun {
  readonly model = new TxnModel();
  /** Model states after each write command, for judging unlatched reads (index 0: empty). */
  readonly versions: TxnModel[] = [new TxnModel()];
  readonly gates = new Gates();
  readonly engine: GatedEngine;
  readonly scheduler: TxnScheduler;
  readonly txns: TxnRecord[];
  readonly log: string[] = [];
  readonly inFlight = new Map<number, InFlight>();
  private nextCommandId = 1;
  private clockMs = CLOCK_START_MS;
  private logical = 0;
  private failure: Error | null = null;
  gateOpenings = 0;

  constructor(readonly raw: MemoryEngine, readonly spec: CaseSpec, readonly counters: Counters) {
    this.engine = new GatedEngine(raw, this.gates);
    this.scheduler = new TxnScheduler(this.engine, { latchSlots: spec.latchSlots, isSyncWrite: false, readSource: spec.readSource });
    this.txns = spec.txns.map((t, index) => {
      const keys = t.keys.map((i) => B(KEYS[i]!));
      const mutations = keys.map((key, i): Mutation => {
        const kind = i === 0 ? 'put' : t.kinds[i]!;
        if (kind !== 'put') return { kind, key };
        const tag = `t${index}-${S(key)}`;
        return { kind, key, value: B(t.isLong[i] === true ? tag.padEnd(LONG_VALUE_BYTES, '.') : tag) };
      });
      return {
        index, spec: t, keys, primary: keys[0]!, mutations, startTs: null, commitAcks: [], rollbackAcks: [], writtenKeys: new Set(),
        commandsDone: 0, isFinished: false, waiters: [],
      };
    });
  }

  // -- clock -------------------------------------------------------------------------------------

  tso(): Ts {
    return composeTs(this.clockMs, this.logical++);
  }

  advanceClock(ms: number): void {
    if (ms <= 0) return;
    this.clockMs += ms;
    this.logical = 0;
  }

  // -- commands ----------------------------------------------------------------------------------

  /**
   * Runs a write command under its latches and judges its answer against the model applied at
   * the moment it finished (no gate opened in between: see the file header). Then the whole state.
   */
  async write<T>(
    who: Actor, txnStartTs: Ts, describe: string, keys: readonly Buffer[],
    command: (s: Snapshot) => Promise<CommandOutput<T>>, model: () => unknown,
  ): Promise<T | TxnError> {
    const commandId = this.nextCommandId++;
    const tag: GateTag = { label: `${who.name}#${commandId}` };
    this.inFlight.set(commandId, { actor: who.name, role: who.role, txnStartTs });
    this.log.push(`${tag.label} → ${describe}`);
    const actual = await this.scheduler.run(keys, async (s) => {
      assert.ok(s instanceof GatedSnapshot);
      s.tag = tag;
      const output = await command(s);
      this.gates.writeTags.set(output.modifications, tag);
      return output;
    });
    this.inFlight.delete(commandId);
    const expected = model();
    this.versions.push(this.model.copy());
    const a = canon(actual, same);
    this.log.push(`${tag.label} ← ${brief(a)}`);
    if (a !== canon(expected, same)) throw new Error(`${tag.label}: "${describe}" answered differently\n  txn/ : ${brief(a)}\n  model: ${brief(canon(expected, same))}`);
    return actual;
  }

  /** An unlatched read, judged linearizably: the model must give its answer at some state between invocation and answer. */
  async read<T>(who: Actor, describe: string, command: (s: Snapshot) => Promise<T>, model: (m: TxnModel) => unknown): Promise<T> {
    const commandId = this.nextCommandId++;
    const tag: GateTag = { label: `${who.name}#${commandId}` };
    this.inFlight.set(commandId, { actor: who.name, role: who.role, txnStartTs: null });
    this.log.push(`${tag.label} → ${describe}`);
    const from = this.versions.length - 1;
    const snapshot = this.spec.readSource === 'snapshot' ? await this.engine.snapshot() : this.engine.readView();
    snapshot.tag = tag;
    let actual: T;
    try {
      actual = await command(snapshot);
    } finally {
      await snapshot.release();
    }
    this.inFlight.delete(commandId);
    const a = canon(actual, same);
    this.log.push(`${tag.label} ← ${brief(a)}`);
    const candidates = this.versions.slice(from).map((m) => canon(model(m), same));
    if (!candidates.includes(a)) {
      throw new Error(`${tag.label}: read "${describe}" answered what no state in its window gives\n  txn/ : ${brief(a)}\n  model: ${candidates.map(brief).join('\n         ')}`);
    }
    return actual;
  }

  async prewrite(txn: TxnRecord, who: Actor, mutations: readonly Mutation[], onePcCommitTs?: Ts): Promise<PrewriteResult | TxnError> {
    const startTs = txn.startTs!;
    const args = {
      mutations, primary: txn.primary, startTs, lockTtlMs: txn.spec.lockTtlMs, txnSize: txn.mutations.length, minCommitTs: 0n,
      ...(onePcCommitTs === undefined ? {} : { onePcCommitTs }),
    };
    const describe = `prewrite${onePcCommitTs === undefined ? '' : ` one-phase at ${T(onePcCommitTs)}`} t${txn.index} start ${T(startTs)} [${mutations.map((m) => `${m.kind} ${S(m.key)}`).join(', ')}]`;
    return this.write(who, startTs, describe, mutations.map((m) => m.key), (s) => prewriteCommand(s, args), () => {
      const result = this.model.prewrite(args);
      if (!isError(result) && result.kind === 'prewritten') {
        // Outcomes follow the mutations in order when nothing failed.
        result.outcomes.forEach((o, i) => {
          if (o.kind === 'prewritten') txn.writtenKeys.add(S(mutations[i]!.key));
        });
      }
      return result;
    });
  }

  async commit(txn: TxnRecord, keys: readonly Buffer[], commitTs: Ts): Promise<{ kind: 'committed' } | TxnError> {
    const startTs = txn.startTs!;
    return this.write(ownerOf(txn), startTs, `commit t${txn.index} start ${T(startTs)} at ${T(commitTs)} [${keys.map(S).join(', ')}]`, keys,
      (s) => commitCommand(s, { keys, startTs, commitTs }), () => {
        for (const key of keys.slice(1)) {
          const lock = this.model.locks.get(S(key));
          if ((lock === undefined || lock.startTs !== startTs) && this.model.commitRecordOf(S(key), startTs).kind === 'committed') this.counters.hit('commit.secondaryResolvedBefore');
        }
        return this.model.commit(keys, startTs, commitTs);
      });
  }

  async batchRollback(txn: TxnRecord, keys: readonly Buffer[]): Promise<{ kind: 'rolledBack' } | TxnError> {
    const startTs = txn.startTs!;
    return this.write(ownerOf(txn), startTs, `batchRollback t${txn.index} start ${T(startTs)} [${keys.map(S).join(', ')}]`, keys,
      (s) => batchRollbackCommand(s, { keys, startTs }), () => {
        if (keys.some((k) => { const l = this.model.locks.get(S(k)); return l?.startTs === startTs && l.value !== null && l.value.length > 1024; })) this.counters.hit('rollback.longValue');
        return this.model.rollback(keys, startTs, null);
      });
  }

  async checkTxnStatus(who: Actor, primary: Buffer, startTs: Ts, callerStartTs: Ts, currentTs: Ts, missingLockAction: MissingLockAction): Promise<TxnStatus | TxnError> {
    const args = { primary, startTs, callerStartTs, currentTs, missingLockAction };
    return this.write(who, startTs, `checkTxnStatus ${S(primary)} start ${T(startTs)} caller ${T(callerStartTs)} current ${T(currentTs)} missing→${missingLockAction}`, [primary],
      (s) => checkTxnStatusCommand(s, args), () => {
        const lock = this.model.locks.get(S(primary));
        if (lock !== undefined && lock.startTs !== startTs) this.counters.hit('cts.otherTxnOnPrimary');
        if (lock?.startTs === startTs && extractPhysical(lock.startTs) + BigInt(lock.ttlMs) === extractPhysical(currentTs)) this.counters.hit('cts.atTtlBoundary');
        // Expired, counted from start_ts, while a push moved min_commit_ts to a later millisecond.
        if (lock?.startTs === startTs && isExpired(lock, currentTs) && extractPhysical(lock.minCommitTs) > extractPhysical(lock.startTs)) this.counters.hit('cts.expiredAfterPush');
        return this.model.checkTxnStatus(args);
      });
  }

  async resolveLock(who: Actor, startTs: Ts, commitTs: Ts, keys: readonly Buffer[]): Promise<{ kind: 'resolved'; resolvedCount: number } | TxnError> {
    return this.write(who, startTs, `resolveLock start ${T(startTs)} ${commitTs === 0n ? 'rollback' : `commit at ${T(commitTs)}`} [${keys.map(S).join(', ')}]`, keys,
      (s) => resolveLockCommand(s, { startTs, commitTs, keys }), () => {
        for (const key of keys) {
          const lock = this.model.locks.get(S(key));
          if (lock !== undefined && lock.startTs !== startTs) this.counters.hit('resolve.otherTxnLock');
        }
        return this.model.resolveLock(startTs, commitTs, keys);
      });
  }

  /** resolveLockOverRange, its latched batches judged one by one through a scheduler that reports them. */
  async resolveRange(who: Actor, startTs: Ts, commitTs: Ts, batchKeys: number): Promise<{ kind: 'resolved'; resolvedCount: number } | TxnError> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the scheduler subclass reports to this run
    const run = this;
    class JudgedScheduler extends TxnScheduler {
      override run<T>(keys: readonly Buffer[], command: (s: Snapshot) => Promise<{ readonly modifications: readonly Modification[]; readonly result: T }>): Promise<T> {
        return run.write(who, startTs, `  (range batch) resolveLock start ${T(startTs)} ${commitTs === 0n ? 'rollback' : `commit at ${T(commitTs)}`} [${keys.map(S).join(', ')}]`,
          keys, command, () => run.model.resolveLock(startTs, commitTs, keys)) as Promise<T>;
      }
    }
    const judged = new JudgedScheduler(this.engine, { latchSlots: 1, isSyncWrite: false });
    this.log.push(`${who.name} → resolveLockOverRange start ${T(startTs)} batch ${batchKeys}`);
    return resolveLockOverRange(this.engine, judged, { startTs, commitTs, startKey: B(''), endKey: B(''), batchKeys });
  }

  async get(who: Actor, key: Buffer, readTs: Ts, bypass: ReadonlySet<Ts>): Promise<{ kind: 'value'; value: Buffer | null } | TxnError> {
    const frozen = new Set(bypass);
    const result = await this.read(who, `get ${S(key)} at ${T(readTs)}${frozen.size > 0 ? ` bypassing ${[...frozen].map(T).join(',')}` : ''}`,
      (s) => getCommand(s, key, readTs, frozen), (m) => m.get(key, readTs, frozen));
    if (isError(result)) this.counters.hit('read.blocked');
    else if (result.value !== null) this.counters.hit(frozen.size > 0 ? 'read.bypass' : 'read.value');
    return result;
  }

  // -- actors ------------------------------------------------------------------------------------

  private actor(body: () => Promise<void>): Promise<void> {
    return body().catch((error: unknown) => {
      this.failure ??= error instanceof Error ? error : new Error(String(error));
    });
  }

  /** Resolves once `txn`'s owner has finished `after` commands (or stopped). */
  private whenOwnerDid(txn: TxnRecord, after: number): Promise<void> {
    if (txn.isFinished || txn.commandsDone >= after) return Promise.resolve();
    return new Promise((resolve) => txn.waiters.push({ after, resolve }));
  }

  private ownerProgress(txn: TxnRecord, isFinished = false): void {
    txn.commandsDone++;
    if (isFinished) txn.isFinished = true;
    for (let i = txn.waiters.length - 1; i >= 0; i--) {
      const w = txn.waiters[i]!;
      if (txn.isFinished || txn.commandsDone >= w.after) {
        txn.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  private async owner(txn: TxnRecord): Promise<void> {
    try {
      const previous = this.txns[txn.index - 1];
      if (previous !== undefined) await this.whenOwnerDid(previous, txn.spec.startAfter);
      await this.gates.pass('start', { label: ownerOf(txn).name });
      txn.startTs = this.tso();
      this.ownerProgress(txn); // started: resolvers may now know its start_ts
      await this.ownerBody(txn);
    } finally {
      this.ownerProgress(txn, true);
    }
  }

  /** Counts commands for a crashing owner; true when it must stop now. */
  private isCrashed(txn: TxnRecord): boolean {
    return txn.spec.end === 'crash' && txn.commandsDone > txn.spec.crashAfter;
  }

  private async ownerBody(txn: TxnRecord): Promise<void> {
    const c = this.counters;
    const { spec } = txn;
    const [primaryMutation, ...secondaryMutations] = txn.mutations;
    const groups = spec.end === 'onePc' && spec.prewriteOrder !== 'secondariesFirst' ? []
      : spec.prewriteOrder === 'together' || secondaryMutations.length === 0 ? [txn.mutations]
      : spec.prewriteOrder === 'primaryFirst' ? [[primaryMutation!], secondaryMutations] : [secondaryMutations, [primaryMutation!]];
    // A one-phase commit whose secondaries were prewritten first: the command prewrites as usual.
    if (spec.end === 'onePc' && groups.length > 0) groups.pop();
    for (const mutations of groups) {
      if (!(await this.ownerPrewrite(txn, mutations))) return;
      this.ownerProgress(txn);
      if (this.isCrashed(txn)) return;
    }
    if (spec.end === 'onePc') {
      const r = await this.prewrite(txn, ownerOf(txn), txn.mutations, this.tso());
      this.ownerProgress(txn);
      if (isError(r) || r.kind === 'locked') {
        c.hit(isError(r) ? 'onePc.refused' : 'prewrite.locked');
        if (isError(r)) c.hit(`prewrite.${r.code}`);
        if (!isError(r) || r.code !== 'AlreadyRolledBack') await this.ownerAbort(txn);
        return;
      }
      if (r.committedAt !== null) {
        c.hit('onePc.committed');
        txn.commitAcks.push(r.committedAt);
        return;
      }
      c.hit('onePc.fallback'); // a lock of ours was there: locks were written, commit as usual
    }
    let commitTs = this.tso();
    for (let i = 0; i < spec.stallPauses; i++) await this.gates.pass('pause', { label: ownerOf(txn).name });
    for (let i = 0; i < spec.heartBeats; i++) {
      const ttl = spec.lockTtlMs + 2 * (i + 1);
      const startTs = txn.startTs!;
      const r = await this.write(ownerOf(txn), startTs, `txnHeartBeat t${txn.index} ${S(txn.primary)} ttl ${ttl}`, [txn.primary],
        (s) => txnHeartBeatCommand(s, { primary: txn.primary, startTs, adviseLockTtlMs: ttl }), () => {
          const lock = this.model.locks.get(S(txn.primary));
          if (lock !== undefined && lock.startTs !== startTs) c.hit('heartBeat.otherTxnLock');
          return this.model.txnHeartBeat(txn.primary, startTs, ttl);
        });
      c.hit(isError(r) ? `heartBeat.${r.code}` : 'heartBeat.alive');
      this.ownerProgress(txn);
      if (this.isCrashed(txn)) return;
    }
    if (spec.end === 'rollback' || spec.end === 'crash') {
      if (spec.end === 'crash') return;
      const r = await this.batchRollback(txn, txn.keys);
      this.countRollback(txn, r);
      return;
    }
    const firstKeys = spec.end === 'commitTogether' ? txn.keys : [txn.primary];
    for (let attempt = 0; ; attempt++) {
      if (!spec.isCommitTsEarly || attempt > 0) commitTs = this.tso();
      await this.gates.pass('pause', { label: ownerOf(txn).name }); // the commit request in flight
      const r = await this.commit(txn, firstKeys, commitTs);
      this.ownerProgress(txn);
      if (!isError(r)) break;
      c.hit(`commit.${r.code}`);
      if (r.code === 'CommitTsExpired' && attempt < 3) continue;
      // Rolled back by a resolver (TxnLockNotFound), or given up: clean up its own locks.
      await this.ownerAbort(txn);
      return;
    }
    c.hit('commit.ok');
    txn.commitAcks.push(commitTs);
    if (spec.isRetrying) {
      await this.gates.pass('pause', { label: ownerOf(txn).name });
      const again = await this.commit(txn, [txn.primary], commitTs);
      if (!isError(again)) c.hit('commit.retried');
      const stale = await this.batchRollback(txn, [txn.primary]);
      if (isError(stale)) c.hit(`rollback.${stale.code}`);
      else assert.fail(`a stale rollback of committed t${txn.index} succeeded`);
    }
    if (spec.end === 'commitTogether' || spec.end === 'commitPrimaryOnly') return; // secondaries: done, or left to resolvers
    const secondaries = txn.keys.slice(1);
    if (secondaries.length === 0) return;
    const r = await this.commit(txn, secondaries, commitTs);
    this.ownerProgress(txn);
    assert.ok(!isError(r), `committing the secondaries of committed t${txn.index}: ${canon(r, same)}`);
  }

  /** A prewrite of `mutations`; a lock in the way is resolved (as a writer) and the prewrite retried once. False: aborted. */
  private async ownerPrewrite(txn: TxnRecord, mutations: readonly Mutation[]): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await this.prewrite(txn, ownerOf(txn), mutations);
      if (isError(r)) {
        this.counters.hit(`prewrite.${r.code}`);
        if (r.code !== 'AlreadyRolledBack') await this.ownerAbort(txn);
        return false;
      }
      if (r.kind === 'prewritten') return true;
      this.counters.hit('prewrite.locked');
      const first = r.errors[0];
      if (first?.code !== 'KeyIsLocked') assert.fail('prewrite answered locked without a lock');
      await this.resolveAs({ name: ownerOf(txn).name, role: 'resolver' }, first.lock, TS_MAX, this.tso(), 'rollback', 'key', new Set());
    }
    await this.ownerAbort(txn);
    return false;
  }

  private async ownerAbort(txn: TxnRecord): Promise<void> {
    const r = await this.batchRollback(txn, txn.keys);
    this.countRollback(txn, r);
  }

  private countRollback(txn: TxnRecord, r: { kind: 'rolledBack' } | TxnError): void {
    if (isError(r)) {
      this.counters.hit(`rollback.${r.code}`);
      return;
    }
    this.counters.hit('rollback.ok');
    txn.rollbackAcks.push('batchRollback');
  }

  private txnOf(startTs: Ts): TxnRecord | undefined {
    return this.txns.find((t) => t.startTs === startTs);
  }

  private noteStatus(startTs: Ts, status: TxnStatus | TxnError): void {
    const txn = this.txnOf(startTs);
    if (isError(status)) {
      this.counters.hit(`cts.${status.code}`);
      return;
    }
    switch (status.kind) {
      case 'committed':
        this.counters.hit('cts.committed');
        txn?.commitAcks.push(status.commitTs);
        return;
      case 'rolledBack':
        this.counters.hit(`cts.rolledBack.${status.reason}`);
        txn?.rollbackAcks.push(`checkTxnStatus ${status.reason}`);
        return;
      case 'locked':
        this.counters.hit(status.isMinCommitTsPushed ? 'cts.locked.pushed' : 'cts.locked.notPushed');
        return;
    }
  }

  /**
   * checkTxnStatus on the lock's primary, then resolveLock by its answer. Returns the status (a
   * reader that got 'locked' with min_commit_ts above it may read past the lock).
   */
  private async resolveAs(
    who: Actor, lock: Pick<LockInfo, 'key' | 'primary' | 'startTs'>, callerStartTs: Ts, currentTs: Ts, missingLockAction: MissingLockAction,
    scope: ResolverSpec['scope'], bypass: Set<Ts>, isDuplicate = false,
  ): Promise<TxnStatus | TxnError> {
    const status = await this.checkTxnStatus(who, lock.primary, lock.startTs, callerStartTs, currentTs, missingLockAction);
    this.noteStatus(lock.startTs, status);
    if (isError(status)) return status;
    if (status.kind === 'locked') {
      if (callerStartTs !== TS_MAX && callerStartTs !== 0n && status.lock.minCommitTs > callerStartTs) bypass.add(lock.startTs);
      return status;
    }
    const commitTs = status.kind === 'committed' ? status.commitTs : 0n;
    const txn = this.txnOf(lock.startTs);
    const keys = scope === 'txnKeys' && txn !== undefined ? txn.keys : [lock.key];
    for (let round = 0; round < (isDuplicate ? 2 : 1); round++) {
      if (round > 0) {
        await this.gates.pass('pause', { label: who.name }); // a retry of the same request, later
        this.counters.hit('resolve.duplicate');
      }
      const r = scope === 'range' ? await this.resolveRange(who, lock.startTs, commitTs, 1 + (round % 2)) : await this.resolveLock(who, lock.startTs, commitTs, keys);
      assert.ok(!isError(r), `resolveLock by ${who.name}: ${canon(r, same)}`);
      if (scope === 'range') this.counters.hit('resolve.range');
      this.counters.hit(r.resolvedCount === 0 ? 'resolve.nothing' : commitTs === 0n ? 'resolve.rollback' : 'resolve.commit');
    }
    return status;
  }

  private async resolver(spec: ResolverSpec, index: number): Promise<void> {
    const who: Actor = { name: `resolver${index}`, role: 'resolver' };
    const txn = this.txns[spec.txn % this.txns.length]!;
    await this.whenOwnerDid(txn, Math.max(1, spec.startAfter));
    await this.gates.pass('start', { label: who.name });
    if (txn.startTs === null) return; // the owner never started
    const key = txn.keys[spec.key % txn.keys.length]!;
    const callerStartTs = spec.caller === 'reader' ? this.tso() : spec.caller === 'old' ? txn.startTs - 1n : spec.caller === 'zero' ? 0n : TS_MAX;
    const staleCurrentTs = this.tso();
    const bypass = new Set<Ts>();
    for (let attempt = 0; attempt < spec.attempts; attempt++) {
      if (attempt > 0) await this.gates.pass('pause', { label: who.name });
      let lock: Pick<LockInfo, 'key' | 'primary' | 'startTs' | 'ttlMs'>;
      if (spec.caller === 'reader') {
        const r = await this.get(who, key, callerStartTs, bypass);
        if (!isError(r)) return; // nothing (more) in its way
        assert.equal(r.code, 'KeyIsLocked', `reader r${index}: ${canon(r, same)}`);
        if (r.code !== 'KeyIsLocked') return;
        lock = r.lock;
      } else {
        // Lock info from an earlier scanLock: maybe stale by now (resolved, or the key relocked).
        lock = { key, primary: txn.primary, startTs: txn.startTs, ttlMs: txn.spec.lockTtlMs };
      }
      const now = this.tso();
      const boundary = composeTs(extractPhysical(lock.startTs) + BigInt(lock.ttlMs) + (spec.current === 'pastTtl' ? 1n : 0n), 0);
      const currentTs = spec.current === 'stale' ? staleCurrentTs : spec.current === 'now' || boundary > now ? now : boundary;
      const status = await this.resolveAs(who, lock, callerStartTs, currentTs, spec.missingLockAction, spec.scope, bypass, spec.isDuplicate);
      if (spec.caller !== 'reader') {
        if (!isError(status) && status.kind !== 'locked') return;
        continue;
      }
    }
    if (spec.caller === 'reader') await this.get(who, key, callerStartTs, bypass);
  }

  /** After every actor: TTLs run out, and a cleaner resolves each lock left (a GC's lock sweep). */
  private async cleaner(): Promise<void> {
    const who: Actor = { name: 'cleaner', role: 'cleanup' };
    this.advanceClock(60_000);
    for (let round = 0; round < 3; round++) {
      const maxTs = this.tso();
      const scanned = await this.read(who, `scanLock ≤ ${T(maxTs)}`, (s) => scanLockCommand(s, { maxTs, startKey: B(''), endKey: B(''), limit: 100 }),
        (m) => m.scanLock(maxTs, B(''), B(''), 100));
      assert.ok(!isError(scanned));
      if (scanned.locks.length === 0) return;
      for (const lock of scanned.locks) {
        const status = await this.resolveAs(who, lock, TS_MAX, this.tso(), 'rollback', 'key', new Set());
        assert.ok(!isError(status) && status.kind !== 'locked', `cleanup of an expired lock: ${canon(status, same)}`);
        this.counters.hit('liveness.resolved');
      }
    }
    assert.fail('locks left after three cleanup rounds');
  }

  // -- the controller ----------------------------------------------------------------------------

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  /** Opens gates, one at a time, in the schedule's order, until every actor is done. */
  private async drive(actors: readonly Promise<void>[], schedule: readonly ScheduleEntry[]): Promise<void> {
    let isDone = false;
    const all = Promise.all(actors).then(() => {
      isDone = true;
    });
    for (let step = 0; ; step++) {
      await drain();
      this.throwIfFailed();
      if (isDone) break;
      assert.ok(step < GATE_OPENINGS_MAX, 'livelock: too many gate openings');
      const pending = this.gates.pending;
      if (pending.length === 0) {
        throw new Error(`stuck: actors wait but no gate is pending (a latch never granted?); in flight: ${[...this.inFlight.values()].map((f) => f.actor).join(', ')}`);
      }
      this.countRaces();
      const entry = schedule[step] ?? { pick: 0, advanceMs: 0 };
      this.advanceClock(entry.advanceMs);
      const [gate] = pending.splice(entry.pick % pending.length, 1);
      this.log.push(`  [open ${gate!.tag.label} ${gate!.kind} @${T(composeTs(this.clockMs, 0))}]`);
      gate!.open();
      this.gateOpenings++;
      await drain();
      if (gate!.settled !== null) await gate!.settled;
      if (gate!.kind === 'write') {
        await drain();
        this.throwIfFailed();
        await this.compareState(`${gate!.tag.label}'s write`);
      }
    }
    await all;
  }

  /** Races that happened: commands of different actors on one transaction in flight at once; commands parked on a latch. */
  private countRaces(): void {
    // Each command in flight waits at one engine gate or on a latch.
    const atGates = this.gates.pending.filter((g) => g.kind !== 'start' && g.kind !== 'pause').length;
    const flights = [...this.inFlight];
    if (flights.length > atGates) this.counters.hit('latch.waited');
    for (let i = 0; i < flights.length; i++) {
      for (let j = i + 1; j < flights.length; j++) {
        const a = flights[i]![1];
        const b = flights[j]![1];
        if (a.txnStartTs === null || a.txnStartTs !== b.txnStartTs || a.actor === b.actor) continue;
        if (a.role === 'resolver' && b.role === 'resolver') this.counters.hit('race.resolverVsResolver');
        else if (a.role !== b.role) this.counters.hit('race.resolverVsOwner');
      }
    }
  }

  async compareState(after: string): Promise<void> {
    const snapshot = await this.raw.snapshot();
    let actual;
    try {
      actual = await readEngineState(snapshot, B(''), B(''), same);
    } finally {
      await snapshot.release();
    }
    const expected = this.model.expectedState();
    if (canonState(actual, same) !== canonState(expected, same)) throw new Error(`state differs after ${after}:\n${stateDiff(actual, expected, same, T)}`);
  }

  async run(): Promise<void> {
    const actors = [
      ...this.txns.map((txn) => this.actor(() => this.owner(txn))),
      ...this.spec.resolvers.map((r, i) => this.actor(() => this.resolver(r, i))),
    ];
    await this.drive(actors, this.spec.schedule);
    await this.drive([this.actor(() => this.cleaner())], []);
    await this.compareState('the cleanup');
    assert.equal(this.model.locks.size, 0, 'every lock is gone');
    await this.checkReads();
    await this.checkFates();
  }

  // -- the end -----------------------------------------------------------------------------------

  /** Snapshot reads at every start/commit ts (and ±1, TS_MAX): scans both ways and batchGet equal the model. */
  private async checkReads(): Promise<void> {
    const tss = new Set<Ts>([TS_MAX]);
    for (const versions of this.model.writes.values()) for (const [commitTs, w] of versions) for (const ts of [commitTs, w.startTs]) for (const d of [-1n, 0n, 1n]) tss.add(ts + d);
    const snapshot = await this.raw.snapshot({ isReverseEnabled: true });
    try {
      for (const readTs of tss) {
        for (const isReverse of [false, true]) {
          const a = await scanCommand(snapshot, { startKey: B(''), endKey: B(''), readTs, limit: 100, isReverse });
          assert.equal(canon(a, same), canon(this.model.scan(B(''), B(''), readTs, 100, isReverse, new Set()), same), `scan at ${T(readTs)} reverse ${isReverse}`);
        }
        const keys = KEYS.map(B);
        const g = await batchGetCommand(snapshot, keys, readTs);
        assert.equal(canon(g, same), canon(this.model.batchGet(keys, readTs, new Set()), same), `batchGet at ${T(readTs)}`);
      }
    } finally {
      await snapshot.release();
    }
  }

  /** Atomicity and finality from the engine's records, apart from the model. */
  private async checkFates(): Promise<void> {
    const snapshot = await this.raw.snapshot();
    try {
      const reader = new MvccReader(snapshot);
      const state = await readEngineState(snapshot, B(''), B(''), same);
      for (const txn of this.txns) {
        if (txn.startTs === null) continue;
        const name = `t${txn.index} (start ${T(txn.startTs)})`;
        assert.ok(txn.commitAcks.length === 0 || txn.rollbackAcks.length === 0,
          `${name}: acknowledged both committed (${txn.commitAcks.map(T).join(', ')}) and rolled back (${txn.rollbackAcks.join(', ')})`);
        assert.ok(txn.commitAcks.every((ts) => ts === txn.commitAcks[0]), `${name}: committed at different ts ${txn.commitAcks.map(T).join(', ')}`);
        const primary = await reader.getTxnCommitRecord(txn.primary, txn.startTs);
        const commitTs = primary.kind === 'committed' ? primary.commitTs : null;
        if (txn.commitAcks.length > 0) assert.equal(commitTs, txn.commitAcks[0], `${name}: an acknowledged commit is lost`);
        if (txn.rollbackAcks.length > 0) assert.equal(commitTs, null, `${name}: rolled back (${txn.rollbackAcks.join(', ')}) yet committed`);
        for (const key of txn.keys) {
          const record = await reader.getTxnCommitRecord(key, txn.startTs);
          const keyCommitTs = record.kind === 'committed' ? record.commitTs : null;
          const expected = txn.writtenKeys.has(S(key)) ? commitTs : null;
          assert.equal(keyCommitTs, expected, `${name}: key ${S(key)} committed at ${keyCommitTs === null ? '-' : T(keyCommitTs)}, its primary decided ${commitTs === null ? 'rolled back' : T(commitTs)}`);
          const own = [...(state.writes.get(S(key))?.values() ?? [])].filter((w) => w.startTs === txn.startTs && w.kind !== 'rollback');
          assert.ok(own.length <= 1, `${name}: ${own.length} commit records on ${S(key)}`);
        }
      }
    } finally {
      await snapshot.release();
    }
  }
}

// ---- the property --------------------------------------------------------------------------------

describe('racing lock resolvers against the reference model', () => {
  it(`two or more resolvers, the owner's commit/rollback/heartbeat/one-phase commit, every gate order (${RUNS} cases)`, async () => {
    const counters = new Counters();
    const started = Date.now();
    await fc.assert(fc.asyncProperty(caseArb, async (spec) => {
      const engine = new MemoryEngine();
      const run = new CaseRun(engine, spec, counters);
      try {
        await run.run();
      } catch (error) {
        const trace = run.log.slice(-80).map((line) => `    ${line}`).join('\n');
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${message}\n  last steps:\n${trace}`, { cause: error });
      } finally {
        await engine.close();
      }
      counters.hit('cases');
      counters.hit('gateOpenings', run.gateOpenings);
    }), {
      seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true, ...(PATH === undefined ? {} : { path: PATH }),
      reporter: (details) => {
        if (!details.failed) return;
        throw new Error(`${fc.defaultReportMessage(details)}\nreplay: FLOTILLA_PROPERTY_SEED=${SEED} FLOTILLA_RACE_PATH=${details.counterexamplePath ?? ''} node --test ${TEST_FILE}`);
      },
    });
    console.log(`resolver races: ${RUNS} cases in ${((Date.now() - started) / 1000).toFixed(1)} s; coverage: ${counters.format()}`);
    const zero = REQUIRED_COUNTERS.filter((name) => (counters.counts.get(name) ?? 0) === 0);
    if (RUNS >= 200) assert.deepEqual(zero, [], `coverage counters at zero (blind spots): ${zero.join(', ')}`);
  });
});
