// The transactional (Percolator) API on one store: every action of txn/ behind the KV service.
// Reads run at a ts after a linearizable read barrier; write commands run under the latches of
// the keys they write: latches → read barrier → read → action → propose the modifications →
// applied → answer (kv-writes.ts). Keys are user keys; txn/ builds the engine keys.

import { failpoint, FlotillaError, lockKey, type Ts, u64FromWire, u64ToWire } from '../common/index.js';
import type { kvrpcpb } from '../proto/index.js';
import {
  batchGetCommand, batchRollbackCommand, type BypassLocks, checkTxnStatusCommand, cleanupCommand, commitCommand, type CommandOutput,
  findTxnLocksCommand, gcCommand, gcLatestCommand, getCommand, isTxnError, type LockInfo, type Mutation,
  type PrewriteArgs, prewriteCommand, type PrewriteOutcome, type PrewriteResult, resolveLockCommand, scanCommand, scanLockCommand, type Snapshot, type TxnError, txnHeartBeatCommand, validatePrewrite,
} from '../txn/index.js';
import { ConcurrencyManager, type OnePcGuard } from './concurrency-manager.js';
import type { KvRouting } from './kv-routing.js';
import { type KvWrites, type WriteDecision } from './kv-writes.js';
import type { OnePcOutcome } from './metrics.js';
import type { Peer } from './peer.js';

/** Keys resolved per latched batch by a range ResolveLock, and keys per GC batch. */
export const RESOLVE_BATCH_KEYS = 256;
export const GC_BATCH_KEYS = 256;

/** Routing of a read: a follower or learner may serve it when the request asks for a replica read. */
const READ = { needsLeader: true, isRead: true } as const;

const OP_OF_LOCK: Readonly<Record<LockInfo['kind'], kvrpcpb.Op>> = { put: 'Put', delete: 'Del', lock: 'Lock' };

export function lockInfoToWire(l: LockInfo): kvrpcpb.LockInfo__Input {
  return {
    primaryLock: l.primary,
    lockVersion: u64ToWire(l.startTs),
    key: l.key,
    lockTtl: String(l.ttlMs),
    txnSize: String(l.txnSize),
    lockType: OP_OF_LOCK[l.kind],
    minCommitTs: u64ToWire(l.minCommitTs),
  };
}

/** A txn/ error as the wire's per-key error; InvalidArgument and LimitExceeded are thrown instead. */
export function keyErrorToWire(e: TxnError, message = e.code): kvrpcpb.KeyError__Input {
  switch (e.code) {
    case 'KeyIsLocked':
      return { message, locked: lockInfoToWire(e.lock) };
    case 'WriteConflict':
      return { message, conflict: { startTs: u64ToWire(e.startTs), conflictTs: u64ToWire(e.conflictStartTs), conflictCommitTs: u64ToWire(e.conflictCommitTs), key: e.key, primary: e.primary, reason: 'Optimistic' } };
    case 'TxnLockNotFound':
      return { message, txnLockNotFound: { startTs: u64ToWire(e.startTs), key: e.key } };
    case 'AlreadyCommitted':
      return { message, alreadyCommitted: { startTs: u64ToWire(e.startTs), commitTs: u64ToWire(e.commitTs), key: e.key } };
    case 'AlreadyRolledBack':
      return { message, alreadyRolledBack: { startTs: u64ToWire(e.startTs), key: e.key } };
    case 'CommitTsExpired':
      return { message, commitTsExpired: { startTs: u64ToWire(e.startTs), attemptedCommitTs: u64ToWire(e.commitTs), key: e.key, minCommitTs: u64ToWire(e.minCommitTs) } };
    case 'KeyAlreadyExists':
      return { message, alreadyExist: { key: e.key } };
    case 'TxnNotFound':
      return { message, txnNotFound: { startTs: u64ToWire(e.startTs), primaryKey: e.key } };
    case 'InvalidArgument':
    case 'LimitExceeded':
      throw new FlotillaError(e.code, e.message);
  }
}

function ts(value: string, field: string): Ts {
  const t = u64FromWire(value, field);
  if (t === 0n) throw new FlotillaError('InvalidArgument', `${field} is required`);
  return t;
}

function bypassOf(ctx: kvrpcpb.Context | null): BypassLocks | undefined {
  if (ctx === null || ctx.resolvedLocks.length === 0) return undefined;
  return new Set(ctx.resolvedLocks.map((v) => u64FromWire(v, 'context.resolvedLocks')));
}

function mutationFromWire(m: kvrpcpb.Mutation): Mutation {
  switch (m.op) {
    case 'Put': return { kind: 'put', key: m.key, value: m.value };
    case 'Del': return { kind: 'delete', key: m.key };
    case 'Lock': return { kind: 'lock', key: m.key };
    case 'CheckNotExists': return { kind: 'checkNotExists', key: m.key };
    case 'Insert': return { kind: 'insert', key: m.key, value: m.value };
    default: throw new FlotillaError('InvalidArgument', `mutation op ${String(m.op)} is not supported (Put, Del, Lock, Insert, CheckNotExists)`);
  }
}

/** What a read covers, for the one-phase commits it must wait for (concurrency-manager.ts). */
type ReadSpan = { readonly keys: readonly Buffer[] } | { readonly start: Buffer; readonly end: Buffer };

/**
 * A one-phase commit's proposal failed (timed out, or leadership changed) — its entry may still
 * be in the log and apply later. Its memory locks stay until that cannot happen any more: the
 * peer applied everything it had appended (in the same term a leader never drops its own
 * entries), or it no longer leads in that term (reads here stop; a later leader applies every
 * earlier committed entry before it serves). Releasing at once would let a read at ts ≥
 * commit_ts miss a commit that applies after it.
 */
function releaseOnceSettled(peer: Peer, term: number, guard: OnePcGuard): void {
  peer.whenApplyEnds(term, () => guard.release());
}

/** The commit_ts when every outcome says this transaction already committed the key (else null). */
function committedByEarlierAttempt(outcomes: readonly PrewriteOutcome[]): Ts | null {
  let ts: Ts | null = null;
  for (const o of outcomes) {
    if (o.kind === 'checked') continue;
    if (o.kind !== 'alreadyCommitted') return null;
    ts = o.commitTs;
  }
  return ts;
}

export class TxnKv {
  constructor(
    private readonly routing: KvRouting,
    private readonly writes: KvWrites,
    /** One-phase commit's guard; the default never allows one (no PD timestamps). */
    readonly concurrency: ConcurrencyManager = new ConcurrencyManager(null),
    private readonly metrics?: { countOnePc(outcome: OnePcOutcome): void },
  ) {}

  /**
   * The view a command reads: the live engine (point lookups, no iterator per command). Correct
   * after a read barrier, and for write commands under their latches, because txn/ reads every
   * key's lock before its write records (txn/mvcc/snapshot.ts, TxnEngine.readView, says why).
   */
  private view(): Snapshot {
    return this.writes.engine.readView();
  }

  private async read<T>(peer: Peer, run: (view: Snapshot) => Promise<T>): Promise<T> {
    if (!this.writes.leaseReadNow(peer)) await this.writes.readBarrier(peer);
    return run(this.view());
  }

  /**
   * A transactional read at `readTs`: raises the store's max read ts first, then waits for
   * one-phase commits in flight on what it reads with commit_ts ≤ readTs, then passes the read
   * barrier, and only then reads (the order concurrency-manager.ts argues for; the barrier last,
   * because a memory lock also ends when the peer stops leading, its commit maybe not written here).
   */
  private async readAt<T>(peer: Peer, readTs: Ts, span: ReadSpan, run: (view: Snapshot) => Promise<T>): Promise<T> {
    const cm = this.concurrency;
    if (!peer.isLeader) {
      // A replica read (routed here only when the request asked for one): the leader raises its
      // max ts and waits for its one-phase commits before confirming the read index
      // (replica-read.ts). A ts far ahead of the clock is refused here as the leader would.
      cm.checkNotAhead(readTs, 'version');
      const { version, confVer } = peer.region.epoch;
      await this.writes.readBarrier(peer, { readTs, ...span });
      // Applying up to the read index may have split or merged the region away from the request.
      if (peer.region.epoch.version !== version || peer.region.epoch.confVer !== confVer) throw peer.epochNotMatch();
      return run(this.view());
    }
    cm.observeReadTs(readTs);
    if (cm.memoryLockCount > 0) {
      if ('keys' in span) await cm.waitForKeys(span.keys, readTs);
      else await cm.waitForRange(span.start, span.end, readTs);
    }
    // After the wait (Peer.whenApplyEnds): a memory lock also ends when this peer stops leading
    // or is destroyed, its commit maybe not written here; the barrier then refuses the read.
    if (!this.writes.leaseReadNow(peer)) await this.writes.readBarrier(peer);
    return run(this.view());
  }

  /**
   * A latched write command: `keys` are the user keys it may write. `answerOnCommit` (a one-phase
   * commit's), asked once `run` has decided, says whether it is answered at commit (WriteDecision).
   */
  private write<T>(
    peer: Peer, keys: readonly Buffer[], run: (snap: Snapshot) => Promise<CommandOutput<T>>,
    answerOnCommit?: () => WriteDecision<T>['answerOnCommit'],
  ): Promise<T | TxnError> {
    return this.writes.latched(peer, keys.map((k) => lockKey(k)), async () => {
      const out = await run(this.view());
      return { ops: out.modifications, result: out.result, answerOnCommit: answerOnCommit?.() };
    });
  }

  async get(req: kvrpcpb.GetRequest): Promise<kvrpcpb.GetResponse__Input> {
    const peer = this.routing.route(req.context, READ);
    this.routing.checkKey(peer, req.key);
    const readTs = ts(req.version, 'version');
    const r = await this.readAt(peer, readTs, { keys: [req.key] }, (snap) => getCommand(snap, req.key, readTs, bypassOf(req.context)));
    if (r.kind === 'error') return { error: keyErrorToWire(r) };
    peer.countRead(1, r.value?.length ?? 0);
    return r.value === null ? { notFound: true } : { value: r.value };
  }

  async batchGet(req: kvrpcpb.BatchGetRequest): Promise<kvrpcpb.BatchGetResponse__Input> {
    const peer = this.routing.route(req.context, READ);
    this.routing.checkKeys(peer, req.keys);
    const readTs = ts(req.version, 'version');
    const r = await this.readAt(peer, readTs, { keys: req.keys }, (snap) => batchGetCommand(snap, req.keys, readTs, bypassOf(req.context)));
    if (r.kind === 'error') return { error: keyErrorToWire(r) };
    peer.countRead(req.keys.length, r.pairs.reduce((n, p) => n + p.value.length, 0));
    return { pairs: r.pairs.map((p) => ({ key: p.key, value: p.value })) };
  }

  async scan(req: kvrpcpb.ScanRequest): Promise<kvrpcpb.ScanResponse__Input> {
    const peer = this.routing.route(req.context, READ);
    this.routing.checkLimit(req.limit);
    const range = this.routing.clampRange(peer, req.startKey, req.endKey);
    const readTs = ts(req.version, 'version');
    const bypass = bypassOf(req.context);
    const r = await this.readAt(peer, readTs, { start: range.start, end: range.end }, (snap) => scanCommand(snap, {
      startKey: range.start, endKey: range.end, readTs, limit: req.limit, isReverse: req.reverse, ...(bypass === undefined ? {} : { bypassLocks: bypass }),
    }));
    if (r.kind === 'error') return { error: keyErrorToWire(r) };
    peer.countRead(r.pairs.length, r.pairs.reduce((n, p) => n + p.value.length, 0));
    return { pairs: r.pairs.map((p) => ({ key: p.key, value: req.keyOnly ? Buffer.alloc(0) : p.value })) };
  }

  async prewrite(req: kvrpcpb.PrewriteRequest): Promise<kvrpcpb.PrewriteResponse__Input> {
    const peer = this.routing.route(req.context);
    const mutations = req.mutations.map(mutationFromWire);
    this.routing.checkKeys(peer, mutations.map((m) => m.key), 'mutations');
    for (const m of mutations) if (m.kind === 'put' || m.kind === 'insert') this.routing.checkValue(m.value);
    if (req.primaryLock.length === 0) throw new FlotillaError('InvalidArgument', 'primary_lock is required');
    const args = {
      mutations,
      primary: req.primaryLock,
      startTs: ts(req.startVersion, 'start_version'),
      lockTtlMs: Number(req.lockTtl),
      txnSize: Number(req.txnSize),
      minCommitTs: u64FromWire(req.minCommitTs, 'min_commit_ts'),
    };
    // Once for both paths: the one-phase floor is computed from start_ts and min_commit_ts.
    const bad = validatePrewrite(args);
    if (bad !== null) return { errors: [keyErrorToWire(bad)] };
    const keys = mutations.map((m) => m.key);
    if (!req.tryOnePc) {
      const r = await this.write(peer, keys, (snap) => prewriteCommand(snap, args));
      if (isTxnError(r)) return { errors: [keyErrorToWire(r)] };
      if (r.kind === 'locked') return { errors: r.errors.map((e) => keyErrorToWire(e)) };
      return {};
    }
    if (args.txnSize !== mutations.length || !keys.some((k) => k.equals(args.primary))) {
      throw new FlotillaError('InvalidArgument', `try_one_pc needs the whole transaction: ${mutations.length} mutations, txn_size ${args.txnSize}, primary ${keys.some((k) => k.equals(args.primary)) ? 'among them' : 'missing'}`);
    }
    // Not a retry: no earlier send can have committed, so a failed check needs no search.
    const r = await this.onePc(peer, keys, { ...args, searchesOwnCommit: req.context?.isRetryRequest === true });
    if (isTxnError(r)) return { errors: [keyErrorToWire(r)] };
    if (r.kind === 'locked') return { errors: r.errors.map((e) => keyErrorToWire(e)) };
    // A prewrite (not allowed to commit at once) that found every key committed by this
    // transaction: an earlier one-phase attempt did it.
    const done = r.committedAt ?? committedByEarlierAttempt(r.outcomes);
    return done === null ? {} : { onePcCommitTs: u64ToWire(done) };
  }

  /**
   * A prewrite that commits at once if this leader may (ConcurrencyManager.isSynced) and PD gave a
   * timestamp fetched as the request arrived (the commit_ts is at least that: the "before" rule of
   * concurrency-manager.ts): under the latches, after the read barrier, the keys are locked in
   * memory and commit_ts picked in one step; the memory locks go once the write is applied (or
   * failed). Otherwise a prewrite.
   */
  private async onePc(peer: Peer, keys: readonly Buffer[], args: PrewriteArgs): Promise<PrewriteResult | TxnError> {
    const cm = this.concurrency;
    // args passed validatePrewrite: start_ts + 1 is a u64. lockForOnePc refuses a floor far ahead.
    const issued = await cm.issuedTs();
    let floor = args.minCommitTs > args.startTs ? args.minCommitTs : args.startTs + 1n;
    if (issued !== null && issued > floor) floor = issued;
    let guard: OnePcGuard | null = null;
    let r: PrewriteResult | TxnError;
    let isSettled = false;
    let guardTerm = 0;
    // Committed in one phase: answered at commit (its memory locks keep reads at ts ≥ commit_ts
    // waiting until it applies), and the locks go once it has applied — or, if its proposal
    // failed, once it can no longer apply (releaseOnceSettled).
    let isGuardReleasedAtApply = false;
    let isOnePcWrite = false;
    const answerOnCommit = (): WriteDecision<PrewriteResult | TxnError>['answerOnCommit'] => {
      const g = guard;
      if (g === null || !isOnePcWrite) return undefined;
      isGuardReleasedAtApply = true;
      const term = guardTerm;
      return { settled: (isApplied) => (isApplied ? g.release() : releaseOnceSettled(peer, term, g)) };
    };
    try {
      r = await this.write(peer, keys, async (snap) => {
        const era = { regionId: peer.regionId, term: peer.term, version: peer.region.epoch.version };
        if (issued !== null && peer.isLeader && cm.isSynced(era)) {
          guard = cm.lockForOnePc(keys, floor);
          guardTerm = era.term;
          const site = failpoint('store::one-pc-locked'); // tests: pause holds the commit with its memory locks
          if (site instanceof Promise) await site;
        }
        const out = await prewriteCommand(snap, guard === null ? args : { ...args, onePcCommitTs: guard.commitTs });
        // No one-phase write comes of it (an error, a fallback, a retry): nothing to wait for.
        const result = out.result;
        if (isTxnError(result) || result.kind !== 'prewritten' || result.committedAt !== guard?.commitTs || out.modifications.length === 0) guard?.release();
        else isOnePcWrite = true;
        return out;
      }, answerOnCommit);
      isSettled = true;
    } finally {
      const g = guard as OnePcGuard | null;
      if (g !== null && !isGuardReleasedAtApply) {
        if (isSettled) g.release();
        else releaseOnceSettled(peer, guardTerm, g);
      }
    }
    if (!isTxnError(r) && r.kind === 'prewritten') {
      const g = guard as OnePcGuard | null;
      this.metrics?.countOnePc(r.committedAt === null ? 'prewritten' : g !== null && r.committedAt === g.commitTs ? 'committed' : 'alreadyCommitted');
    }
    if (!isTxnError(r) && r.kind === 'prewritten' && r.committedAt !== null && !cm.isIssued(r.committedAt)) {
      // Committed (now or by an earlier attempt) at a ts PD may not have issued (the "after" rule
      // of concurrency-manager.ts): acknowledged once it has issued one ≥ commit_ts. If PD cannot
      // say, the commit stands all the same.
      try {
        await cm.fenceTso();
      } catch {
        // No PD timestamp: a transaction starting right after may meet this commit as a conflict
        // (never miss it: its start_ts is ≥ commit_ts). Acknowledged anyway — it is durable.
      }
    }
    return r;
  }

  async commit(req: kvrpcpb.CommitRequest): Promise<kvrpcpb.CommitResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKeys(peer, req.keys);
    const args = { keys: req.keys, startTs: ts(req.startVersion, 'start_version'), commitTs: ts(req.commitVersion, 'commit_version') };
    const r = await this.write(peer, req.keys, (snap) => commitCommand(snap, args));
    if (isTxnError(r)) return { error: keyErrorToWire(r) };
    return { commitVersion: req.commitVersion };
  }

  async batchRollback(req: kvrpcpb.BatchRollbackRequest): Promise<kvrpcpb.BatchRollbackResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKeys(peer, req.keys);
    const args = { keys: req.keys, startTs: ts(req.startVersion, 'start_version') };
    const r = await this.write(peer, req.keys, (snap) => batchRollbackCommand(snap, args));
    return isTxnError(r) ? { error: keyErrorToWire(r) } : {};
  }

  async cleanup(req: kvrpcpb.CleanupRequest): Promise<kvrpcpb.CleanupResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKey(peer, req.key);
    const args = { key: req.key, startTs: ts(req.startVersion, 'start_version'), currentTs: u64FromWire(req.currentTs, 'current_ts') };
    const r = await this.write(peer, [req.key], (snap) => cleanupCommand(snap, args));
    if (!isTxnError(r)) return {};
    if (r.code === 'AlreadyCommitted') return { error: keyErrorToWire(r), commitVersion: u64ToWire(r.commitTs) };
    return { error: keyErrorToWire(r) };
  }

  async checkTxnStatus(req: kvrpcpb.CheckTxnStatusRequest): Promise<kvrpcpb.CheckTxnStatusResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKey(peer, req.primaryKey, 'primary_key');
    const args = {
      primary: req.primaryKey,
      startTs: ts(req.lockTs, 'lock_ts'),
      callerStartTs: u64FromWire(req.callerStartTs, 'caller_start_ts'),
      currentTs: ts(req.currentTs, 'current_ts'),
      missingLockAction: req.rollbackIfNotExist ? 'rollback' as const : 'error' as const,
    };
    const r = await this.write(peer, [req.primaryKey], (snap) => checkTxnStatusCommand(snap, args));
    if (isTxnError(r)) return { error: keyErrorToWire(r) };
    switch (r.kind) {
      case 'committed':
        return { commitVersion: u64ToWire(r.commitTs), action: 'NoAction' };
      case 'rolledBack':
        return { action: r.reason === 'ttlExpired' ? 'TTLExpireRollback' : r.reason === 'lockNotExist' ? 'LockNotExistRollback' : 'NoAction' };
      case 'locked':
        return {
          lockTtl: String(r.lock.ttlMs),
          action: r.isMinCommitTsPushed ? 'MinCommitTSPushed' : 'NoAction',
          lockInfo: lockInfoToWire({ key: req.primaryKey, primary: r.lock.primary, startTs: r.lock.startTs, ttlMs: r.lock.ttlMs, kind: r.lock.kind, txnSize: r.lock.txnSize, minCommitTs: r.lock.minCommitTs }),
        };
    }
  }

  async resolveLock(req: kvrpcpb.ResolveLockRequest): Promise<kvrpcpb.ResolveLockResponse__Input> {
    const peer = this.routing.route(req.context);
    if (req.txnInfos.length > 0) throw new FlotillaError('InvalidArgument', 'batched resolve (txn_infos) is not supported; resolve one transaction per request');
    const startTs = ts(req.startVersion, 'start_version');
    const commitTs = u64FromWire(req.commitVersion, 'commit_version');
    if (req.keys.length > 0) {
      this.routing.checkKeys(peer, req.keys);
      const r = await this.write(peer, req.keys, (snap) => resolveLockCommand(snap, { startTs, commitTs, keys: req.keys }));
      return isTxnError(r) ? { error: keyErrorToWire(r) } : {};
    }
    // The whole region: find the transaction's locks without latches, then resolve exactly those
    // keys under theirs (txn/commands/resolve-lock.ts says why both phases are needed).
    const range = this.routing.clampRange(peer, Buffer.alloc(0), Buffer.alloc(0));
    let from = range.start;
    for (;;) {
      const found = await this.read(peer, (snap) => findTxnLocksCommand(snap, { startTs, startKey: from, endKey: range.end, limit: RESOLVE_BATCH_KEYS }));
      if (found.kind === 'error') return { error: keyErrorToWire(found) };
      if (found.keys.length > 0) {
        const keys = found.keys;
        const r = await this.write(peer, keys, (snap) => resolveLockCommand(snap, { startTs, commitTs, keys }));
        if (isTxnError(r)) return { error: keyErrorToWire(r) };
      }
      if (found.nextKey === null) return {};
      from = found.nextKey;
    }
  }

  async txnHeartBeat(req: kvrpcpb.TxnHeartBeatRequest): Promise<kvrpcpb.TxnHeartBeatResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkKey(peer, req.primaryLock, 'primary_lock');
    const startTs = ts(req.startVersion, 'start_version');
    // Through the command, which checks the advised TTL against the lock TTL limit (a u64 past it
    // reached the lock encoder: INTERNAL, found by the KV fuzz test).
    const args = { primary: req.primaryLock, startTs, adviseLockTtlMs: Number(req.adviseLockTtl) };
    const r = await this.write(peer, [req.primaryLock], (snap) => txnHeartBeatCommand(snap, args));
    if (isTxnError(r)) return { error: keyErrorToWire(r) };
    return { lockTtl: String(r.lockTtlMs) };
  }

  async scanLock(req: kvrpcpb.ScanLockRequest): Promise<kvrpcpb.ScanLockResponse__Input> {
    const peer = this.routing.route(req.context);
    this.routing.checkLimit(req.limit);
    const range = this.routing.clampRange(peer, req.startKey, req.endKey);
    const maxTs = ts(req.maxVersion, 'max_version');
    const r = await this.read(peer, (snap) => scanLockCommand(snap, { maxTs, startKey: range.start, endKey: range.end, limit: req.limit }));
    if (r.kind === 'error') return { error: keyErrorToWire(r) };
    return { locks: r.locks.map(lockInfoToWire) };
  }

  /** Drops versions older than the safe point across the region, a batch of keys at a time. */
  async gc(req: kvrpcpb.GCRequest): Promise<kvrpcpb.GCResponse__Input> {
    const peer = this.routing.route(req.context);
    const safePoint = ts(req.safePoint, 'safe_point');
    const range = this.routing.clampRange(peer, Buffer.alloc(0), Buffer.alloc(0));
    let from = range.start;
    for (;;) {
      // GC touches only versions ≤ the safe point, which no live command writes: no latches. The
      // latest records it would drop are dropped in a second, latched step (txn/actions/gc.ts).
      const r = await this.writes.latched(peer, [], async () => {
        const out = await gcCommand(this.view(), { safePoint, startKey: from, endKey: range.end, keyLimit: GC_BATCH_KEYS });
        return { ops: out.modifications, result: out.result };
      });
      if (isTxnError(r)) return { error: keyErrorToWire(r) };
      const dropped = r.droppedLatests;
      if (dropped.length > 0) {
        const d = await this.write(peer, dropped.map((x) => x.key), (view) => gcLatestCommand(view, dropped));
        if (isTxnError(d)) return { error: keyErrorToWire(d) };
      }
      if (r.nextKey === null) return {};
      from = r.nextKey;
    }
  }
}

