// Percolator two-phase commit of one transaction's buffered writes (DESIGN.md §1):
//
//   1. prewrite every mutation, region by region, in parallel (the primary — the smallest key —
//      among them); a lock of a live transaction is waited on, an expired one resolved
//   2. commit_ts from TSO
//   3. commit the primary: the commit point. Only its answer says committed or not
//   4. commit the secondaries in the background; a failure there is harmless (readers roll the
//      locks forward from the committed primary) and only logged
//
// One-phase commit: when every write lies in one region (one prewrite request holds the whole
// transaction), the prewrite asks the store to commit at once (try_one_pc). Its answer's
// one_pc_commit_ts says it did (steps 2–4 skipped); 0 means locks were written, and the commit
// goes on as above. A one-phase request whose answer never came (or came as an error) may have
// committed: later sends of it say so (is_retry_request: the store then looks for the commit),
// and before such a transaction reports failure, its keys are rolled back synchronously — a
// rollback that answers AlreadyCommitted turns the failure into the commit it was. A clear answer
// (a key error from the one-phase check) stands: nothing was written. The store picks a one-phase
// commit_ts at least a PD timestamp it fetched when the request arrived (store/concurrency-manager.ts,
// the "before" rule — TiDB's "guarantee linearizability", which fetches it in the client): every
// transaction that began before our commit did then lies below it, and conflicts with us as
// overlapping transactions do (the write-write conflict test found a commit_ts below one).
//
// Failure before the commit point rolls every key back that a prewrite may have locked (BatchRollback
// also leaves rollback records, so a late prewrite of ours cannot land) and throws WriteConflictError or
// TxnAbortedError: the transaction did not commit. A primary commit whose answer never came
// (deadline, connection lost) is retried while the deadline allows — commit is idempotent, keyed
// by start_ts — and otherwise ends in CommitUnknownError, never in a report of a failure that may
// not have happened. Long commits keep the primary lock alive with TxnHeartBeat.
//
// "May have locked": a key of a prewrite request that was answered without errors, or sent without
// a clear answer. A request answered with key errors wrote nothing (prewrite is all-or-nothing on a
// store), so a key only ever in such requests needs no rollback — and its rollback would cost the
// store a walk of the key's versions (no lock of ours there: it looks for a commit record). Under
// contention most failed transactions are such: a one-phase prewrite refused as a write conflict.

import { isFlotillaError, physicalMsOf, u64FromWire, u64ToWire, type Logger, type Ts } from '../common/index.js';
import type { kvrpcpb } from '../proto/index.js';
import { keyId } from './bytes.js';
import { CommitUnknownError, TimeoutError, TxnAbortedError, WriteConflictError } from './errors.js';
import { runBounded, type KvRpc } from './kv-rpc.js';
import type { LockResolver } from './lock-resolver.js';
import type { CachedRegion } from './region-cache.js';
import { keyErrorToError, lockOf, type LockInfo } from './txn-wire.js';

/** A lock lives at least this long past the transaction's start; heartbeats extend it. */
export const LOCK_TTL_MS_DEFAULT = 3_000;
/** Mutations per prewrite/commit request, and their key+value bytes (a raft entry is ≤ 8 MiB). */
export const MUTATIONS_PER_REQUEST_MAX = 2_048;
export const MUTATION_BYTES_PER_REQUEST_MAX = 2 * 1024 * 1024;
/** Requests of one transaction in flight at once. */
export const COMMIT_CONCURRENCY_MAX = 16;
/** Waits while a live lock blocks a prewrite: from this, doubling, to LOCK_WAIT_MAX_MS. */
const LOCK_WAIT_MIN_MS = 5;
const LOCK_WAIT_MAX_MS = 500;

export interface Mutation {
  readonly key: Buffer;
  /** null = delete. */
  readonly value: Buffer | null;
}

export interface CommitterDeps {
  readonly rpc: KvRpc;
  readonly resolver: LockResolver;
  readonly timestamp: () => Promise<Ts>;
  readonly logger: Logger;
  readonly timeoutMs: number;
  /** Tracks background work (secondary commits, rollbacks) so close() can wait for it. */
  readonly background: (work: Promise<void>) => void;
  /** Whether a single-region transaction may commit in one phase (default true). */
  readonly isOnePcAllowed?: boolean;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Splits one region's mutations into requests within the count and byte bounds. */
function requestChunks(mutations: readonly Mutation[]): Mutation[][] {
  const out: Mutation[][] = [];
  let cur: Mutation[] = [];
  let bytes = 0;
  for (const m of mutations) {
    const size = m.key.length + (m.value?.length ?? 0);
    if (cur.length > 0 && (cur.length >= MUTATIONS_PER_REQUEST_MAX || bytes + size > MUTATION_BYTES_PER_REQUEST_MAX)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(m);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export class Committer {
  private readonly primary: Buffer;
  private readonly byKey = new Map<string, Mutation>();
  private heartbeat: NodeJS.Timeout | null = null;
  private lockTtlMs: number;
  /**
   * A one-phase prewrite may have run without a clear answer (lost, or answered with an error):
   * a failure may then hide a commit (see the file header), and later sends say they may repeat it.
   */
  private isOnePcAmbiguous = false;
  /** Set when the store committed the transaction in one phase. */
  private onePcCommitTs: Ts | null = null;
  /** Keys a prewrite may have locked (file header): the ones a rollback must cover. */
  private readonly mayHaveLocked = new Set<string>();

  constructor(
    private readonly deps: CommitterDeps,
    readonly startTs: Ts,
    private readonly mutations: readonly Mutation[],
  ) {
    // Sorted, so the primary is the smallest key and every region's batch is in key order.
    const sorted = [...mutations].sort((a, b) => Buffer.compare(a.key, b.key));
    this.mutations = sorted;
    this.primary = sorted[0]!.key;
    for (const m of sorted) this.byKey.set(keyId(m.key), m);
    this.lockTtlMs = this.ttlFor(sorted.length);
  }

  /** TTL from start_ts's physical time: what has passed already plus room to finish. */
  private ttlFor(size: number): number {
    const elapsed = Math.max(0, Date.now() - physicalMsOf(this.startTs));
    const room = Math.min(20_000, LOCK_TTL_MS_DEFAULT + Math.floor(size / 1_000) * 100);
    return elapsed + room;
  }

  /** Runs the protocol; resolves with the commit ts. */
  async commit(): Promise<Ts> {
    const deadlineMs = Date.now() + this.deps.timeoutMs + Math.floor(this.mutations.length / 100);
    this.startHeartbeat();
    try {
      try {
        await this.prewrite(deadlineMs);
      } catch (err) {
        if (this.isOnePcAmbiguous) return await this.settleOnePc(err);
        this.rollbackInBackground();
        if (err instanceof WriteConflictError || err instanceof TxnAbortedError) throw err;
        if (isFlotillaError(err) && (err.code === 'KeyAlreadyExists' || err.code === 'InvalidArgument' || err.code === 'LimitExceeded')) throw err;
        // The prewrite may have partly landed; the rollback above makes sure it never commits.
        throw new TxnAbortedError(`transaction ${this.startTs} did not commit: prewrite failed (${err instanceof Error ? err.message : String(err)})`, { cause: err });
      }
      if (this.onePcCommitTs !== null) return this.onePcCommitTs;
      const commitTs = await this.commitPrimary(deadlineMs);
      this.commitSecondariesInBackground(commitTs);
      return commitTs;
    } finally {
      this.stopHeartbeat();
    }
  }

  private async prewrite(deadlineMs: number): Promise<void> {
    const { rpc } = this.deps;
    const txnSize = String(this.mutations.length);
    const keys = this.mutations.map((m) => m.key);
    await rpc.forEachRegion(keys, deadlineMs, async (region, regionKeys) => {
      const chunks = requestChunks(regionKeys.map((k) => this.byKey.get(keyId(k))!));
      await runBounded(chunks, COMMIT_CONCURRENCY_MAX, (chunk) => this.prewriteChunk(region, chunk, txnSize, deadlineMs));
    });
  }

  private async prewriteChunk(region: CachedRegion, chunk: readonly Mutation[], txnSize: string, deadlineMs: number): Promise<void> {
    const mutations: kvrpcpb.Mutation__Input[] = chunk.map((m) => (m.value === null ? { op: 'Del', key: m.key } : { op: 'Put', key: m.key, value: m.value }));
    // The whole transaction in one request (so in one region): the store may commit it at once.
    const tryOnePc = (this.deps.isOnePcAllowed ?? true) && chunk.length === this.mutations.length;
    const onAmbiguous = (): void => {
      this.noteMayHaveLocked(chunk);
      if (tryOnePc) this.isOnePcAmbiguous = true;
    };
    for (let attempt = 0; ; attempt++) {
      const r = await this.deps.rpc.send(region, 'prewrite', {
        mutations,
        primaryLock: this.primary,
        startVersion: u64ToWire(this.startTs),
        lockTtl: String(this.lockTtlMs),
        txnSize,
        tryOnePc,
      }, { deadlineMs, idempotent: true, onAmbiguous, isRetryRequest: tryOnePc && this.isOnePcAmbiguous });
      if (r.errors.length === 0) {
        const committedAt = tryOnePc ? u64FromWire(r.onePcCommitTs, 'one_pc_commit_ts') : 0n;
        if (committedAt !== 0n) this.onePcCommitTs = committedAt;
        else this.noteMayHaveLocked(chunk);
        return;
      }
      const locks: LockInfo[] = [];
      for (const e of r.errors) {
        const lock = lockOf(e);
        if (lock !== null) locks.push(lock);
        else throw keyErrorToError(e, this.startTs);
      }
      // Another transaction holds some keys: resolve what is resolvable, wait for live ones.
      const outcome = await this.deps.resolver.resolve(locks, 0n, deadlineMs);
      if (outcome.blocked > 0) {
        const wait = Math.min(LOCK_WAIT_MAX_MS, LOCK_WAIT_MIN_MS * 2 ** Math.min(attempt, 10), Math.max(1, outcome.msUntilExpiry + 1));
        if (Date.now() + wait >= deadlineMs) throw new TimeoutError(`prewrite of transaction ${this.startTs}: keys stayed locked by a live transaction until the deadline`);
        await sleep(wait);
      }
    }
  }

  private noteMayHaveLocked(chunk: readonly Mutation[]): void {
    for (const m of chunk) this.mayHaveLocked.add(keyId(m.key));
  }

  /**
   * The prewrite failed after a one-phase request was sent, which may have committed (its answer
   * lost, then a retry met the transaction's own writes as conflicts). Roll every key back now:
   * AlreadyCommitted from any key means it did commit (at that ts); a rollback that went through
   * means it never will (the rollback records stop a late request); no answer leaves it unknown.
   */
  private async settleOnePc(cause: unknown): Promise<Ts> {
    let committedAt: Ts | null = null;
    try {
      await this.rollbackAll(this.mutations, Date.now() + this.deps.timeoutMs, (e) => {
        if (e.kind !== 'alreadyCommitted') throw keyErrorToError(e, this.startTs);
        committedAt = u64FromWire(e.alreadyCommitted?.commitTs ?? '0', 'commitTs');
      });
    } catch (err) {
      if (committedAt !== null) return committedAt;
      throw new CommitUnknownError(`transaction ${this.startTs}: a one-phase commit may have happened and could not be ruled out (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    if (committedAt !== null) return committedAt;
    if (cause instanceof WriteConflictError || cause instanceof TxnAbortedError) throw cause;
    if (isFlotillaError(cause) && (cause.code === 'KeyAlreadyExists' || cause.code === 'InvalidArgument' || cause.code === 'LimitExceeded')) throw cause;
    throw new TxnAbortedError(`transaction ${this.startTs} did not commit: prewrite failed (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }

  /** The commit point. Resolves with the commit ts, or throws one of the file header's errors. */
  private async commitPrimary(deadlineMs: number): Promise<Ts> {
    const { rpc } = this.deps;
    let commitTs: Ts;
    try {
      commitTs = await this.deps.timestamp();
    } catch (err) {
      this.rollbackInBackground();
      throw new TxnAbortedError(`transaction ${this.startTs}: no commit timestamp (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    let sent = false;
    for (;;) {
      let r: Awaited<ReturnType<typeof rpc.send<'commit'>>>;
      try {
        r = await rpc.withRegion(this.primary, deadlineMs, (region) => {
          sent = true;
          return rpc.send(region, 'commit', { keys: [this.primary], startVersion: u64ToWire(this.startTs), commitVersion: u64ToWire(commitTs) }, { deadlineMs, idempotent: true });
        });
      } catch (err) {
        if (!sent && isFlotillaError(err) && err.code === 'RegionUnavailable') {
          // Nothing reached a store: not committed; make sure it never will be.
          this.rollbackInBackground();
          throw new TxnAbortedError(`transaction ${this.startTs}: the primary's region was unavailable before the commit (${err.message})`, { cause: err });
        }
        throw new CommitUnknownError(`transaction ${this.startTs}: the commit of its primary key has an unknown outcome (${err instanceof Error ? err.message : String(err)})`, { cause: err });
      }
      if (r.error === null) return commitTs;
      const e = r.error;
      if (e.kind === 'alreadyCommitted') return u64FromWire(e.alreadyCommitted?.commitTs ?? '0', 'commitTs') || commitTs;
      if (e.kind === 'commitTsExpired') {
        // A reader pushed our min_commit_ts: commit above it.
        commitTs = await this.deps.timestamp();
        continue;
      }
      const err = keyErrorToError(e, this.startTs);
      if (err instanceof TxnAbortedError) throw err; // rolled back by a reader after our TTL passed
      throw new CommitUnknownError(`transaction ${this.startTs}: unexpected answer to the primary's commit: ${err.message}`, { cause: err });
    }
  }

  private commitSecondariesInBackground(commitTs: Ts): void {
    const secondaries = this.mutations.slice(1).map((m) => m.key);
    if (secondaries.length === 0) return;
    const { rpc, logger } = this.deps;
    const deadlineMs = Date.now() + this.deps.timeoutMs;
    const work = rpc.forEachRegion(secondaries, deadlineMs, async (region, keys) => {
      for (let i = 0; i < keys.length; i += MUTATIONS_PER_REQUEST_MAX) {
        const part = keys.slice(i, i + MUTATIONS_PER_REQUEST_MAX);
        const r = await rpc.send(region, 'commit', { keys: part, startVersion: u64ToWire(this.startTs), commitVersion: u64ToWire(commitTs) }, { deadlineMs, idempotent: true });
        if (r.error !== null) logger.warn({ startTs: String(this.startTs), err: r.error.message }, 'secondary commit answered an error; readers will resolve the locks');
      }
    }).then(
      () => undefined,
      (err: unknown) => logger.warn({ startTs: String(this.startTs), err: err instanceof Error ? err.message : String(err) }, 'secondary commit failed; readers will resolve the locks'),
    );
    this.deps.background(work);
  }

  /**
   * Rolls back every key a prewrite may have locked (none: nothing to do): idempotent, and protects
   * against late prewrites.
   */
  private rollbackInBackground(): void {
    const { logger } = this.deps;
    const keys = this.mutations.filter((m) => this.mayHaveLocked.has(keyId(m.key)));
    if (keys.length === 0) return;
    const work = this.rollbackAll(keys, Date.now() + this.deps.timeoutMs, (e) => {
      logger.warn({ startTs: String(this.startTs), err: e.message }, 'rollback answered an error');
    }).then(
      () => undefined,
      (err: unknown) => logger.warn({ startTs: String(this.startTs), err: err instanceof Error ? err.message : String(err) }, 'rollback failed; readers will resolve the locks after their TTL'),
    );
    this.deps.background(work);
  }

  /** BatchRollback of `mutations`' keys, region by region; each error answer goes to `onError`. */
  private async rollbackAll(mutations: readonly Mutation[], deadlineMs: number, onError: (error: kvrpcpb.KeyError) => void): Promise<void> {
    const { rpc } = this.deps;
    await rpc.forEachRegion(mutations.map((m) => m.key), deadlineMs, async (region, keys) => {
      for (let i = 0; i < keys.length; i += MUTATIONS_PER_REQUEST_MAX) {
        const part = keys.slice(i, i + MUTATIONS_PER_REQUEST_MAX);
        const r = await rpc.send(region, 'batchRollback', { startVersion: u64ToWire(this.startTs), keys: part }, { deadlineMs, idempotent: true });
        if (r.error !== null) onError(r.error);
      }
    });
  }

  /** Extends the primary lock's TTL every third of it while the commit runs. */
  private startHeartbeat(): void {
    const period = Math.max(100, Math.floor(LOCK_TTL_MS_DEFAULT / 3));
    this.heartbeat = setInterval(() => {
      this.lockTtlMs = this.ttlFor(this.mutations.length);
      const deadlineMs = Date.now() + period;
      const advise = String(this.lockTtlMs);
      this.deps.rpc
        .withRegion(this.primary, deadlineMs, (region) => this.deps.rpc.send(region, 'txnHeartBeat', { primaryLock: this.primary, startVersion: u64ToWire(this.startTs), adviseLockTtl: advise }, { deadlineMs, idempotent: true }))
        .then(
          () => undefined,
          (err: unknown) => this.deps.logger.debug({ startTs: String(this.startTs), err: err instanceof Error ? err.message : String(err) }, 'txn heartbeat failed'),
        );
    }, period);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

