// What every KV command shares: the read barrier before reading a leader's applied state, and the
// write path — latches → (read barrier →) read → decide → propose through raft → applied → answer
// (a one-phase commit: committed → answer, applied → latches released).
// A proposal goes out only if the peer still leads in the term it read in: a leader that lost and
// regained leadership between its read and its proposal may have missed another leader's writes.
//
// Blind writes (raw put and delete) are answered once committed — durable on a quorum, their apply
// certain — not once applied (CockroachDB's early acknowledgement): a raw read or range delete on
// this store waits first for the blind writes still applying on its keys (blindWritesOn),
// so no read misses a write already answered. A replica read needs nothing more: its read index
// is at least the commit index the answer came after, and it waits for its own apply to reach it.

import { FlotillaError, invariant, type WriteOp } from '../common/index.js';
import type { Engine } from './engine/index.js';
import type { KvLimits } from './kv-routing.js';
import type { LatchSet } from './latch-set.js';
import type { Peer } from './peer.js';
import type { PollLoop } from './poll-loop.js';
import type { ReplicaReadScope } from './replica-read.js';

/** Commands waiting for a latch, store-wide; past it new writes answer ServerIsBusy (a hot key cannot queue without bound). */
export const LATCH_WAITERS_MAX = 10_000;

export interface KvWritesMetrics {
  countReads(kind: 'lease' | 'read-index' | 'replica'): void;
  countProposal(outcome: 'busy' | 'refused'): void;
  observeCommitLatency(seconds: number): void;
}

const noop = (): void => undefined;

/** A proposal failed with its outcome unknown (timed out, its log replaced): its entry may still apply. */
function isOutcomeUnknown(err: unknown): boolean {
  return err instanceof FlotillaError && err.code === 'DeadlineExceeded';
}

/**
 * Notes `settled` as in flight on each of `keys` in `inFlight`, chained: a key's latest entry settles
 * only after every earlier one did (an earlier one can outlive a later one refused at once).
 */
function track(inFlight: Map<string, Promise<unknown>>, keys: readonly Buffer[], settled: Promise<void>): void {
  for (const key of keys) {
    const id = key.toString('latin1');
    const before = inFlight.get(id);
    const last = before === undefined ? settled : Promise.all([before, settled]);
    inFlight.set(id, last);
    void last.then(() => {
      if (inFlight.get(id) === last) inFlight.delete(id);
    });
  }
}

/** What of `inFlight` touches `keys` (null: nothing). */
function writesOn(inFlight: ReadonlyMap<string, Promise<unknown>>, keys: readonly Buffer[]): Promise<unknown> | null {
  if (inFlight.size === 0) return null;
  let waits: Promise<unknown>[] | null = null;
  for (const key of keys) {
    const w = inFlight.get(key.toString('latin1'));
    if (w !== undefined) (waits ??= []).push(w);
  }
  return waits === null ? null : Promise.all(waits);
}

/** writesOn for every key in [start, end). */
function writesIn(inFlight: ReadonlyMap<string, Promise<unknown>>, start: Buffer, end: Buffer): Promise<unknown> | null {
  if (inFlight.size === 0) return null;
  const from = start.toString('latin1');
  const to = end.toString('latin1');
  let waits: Promise<unknown>[] | null = null;
  for (const [key, w] of inFlight) if (key >= from && key < to) (waits ??= []).push(w);
  return waits === null ? null : Promise.all(waits);
}

export interface WriteDecision<T> {
  readonly ops: readonly WriteOp[];
  readonly result: T;
  /**
   * Answer once the proposal is committed if its apply outcome is then certain (Peer.onCommittedHanded),
   * not once applied: only for writes whose effects reads cannot miss meanwhile (a one-phase commit,
   * under its memory locks). The latches stay until it has applied; `settled` is told how it ended
   * (applied, or failed: timed out, leadership lost) after it did.
   */
  readonly answerOnCommit?: { readonly settled: (isApplied: boolean) => void };
}

export class KvWrites {
  private pending = 0;

  constructor(
    readonly engine: Engine,
    private readonly loop: PollLoop,
    private readonly latches: LatchSet,
    private readonly limits: KvLimits,
    private readonly metrics?: KvWritesMetrics,
  ) {}

  /** Proposals in flight on this store. */
  get pendingProposals(): number {
    return this.pending;
  }

  get latchWaiters(): number {
    return this.latches.waitingCount;
  }

  /**
   * Resolves once reading `peer`'s applied state is linearizable (see Peer.readBarrier). With
   * `replica`, a peer that does not lead serves it as a replica read (replica-read.ts).
   */
  async readBarrier(peer: Peer, replica?: ReplicaReadScope): Promise<void> {
    this.loop.catchUpTicks();
    const kind = await peer.readBarrier(replica);
    this.metrics?.countReads(kind);
  }

  /**
   * readBarrier's lease path without a promise or a microtask turn (a leader read's usual case):
   * true when reading `peer`'s applied state is linearizable now (counted as a lease read); false
   * when the caller must await readBarrier.
   */
  leaseReadNow(peer: Peer): boolean {
    this.loop.catchUpTicks();
    if (!peer.leaseReadNow()) return false;
    this.metrics?.countReads('lease');
    return true;
  }

  /**
   * Runs `decide` with `latchKeys` latched after a read barrier, proposes its operations (if any)
   * and answers once they are applied — or, when the decision says so (answerOnCommit), once they
   * are committed with a certain apply outcome, the latches staying until they have applied. A
   * proposal answered DeadlineExceeded (outcome unknown) keeps the latches until its entry can no
   * longer apply unseen (Peer.whenApplyEnds).
   *
   * `needsRead: false` is a blind write (raw put, delete): no read barrier, and its latches go as
   * soon as its proposal is queued — queue order is log order, so a later write to the same key
   * lands after it whatever happens, and one hot key is not held to one write per raft commit. A
   * command that reads (compare-and-swap, the TTL sweep) waits, under its latches, until every
   * blind write queued on its keys before it has settled, so its read sees them.
   */
  async latched<T>(peer: Peer, latchKeys: readonly Buffer[], decide: () => Promise<WriteDecision<T>>, options: { readonly needsRead?: boolean } = {}): Promise<T> {
    const refusal = this.admissionRefusal(peer);
    if (refusal !== null) throw refusal;
    const isBlind = options.needsRead === false;
    // Free latches, a valid lease and no blind write in flight on the keys are taken without a
    // promise or a microtask turn each.
    const release = this.latches.tryAcquire(latchKeys) ?? (await this.latches.acquire(latchKeys));
    let isReleaseDeferred = false;
    try {
      if (isBlind) {
        if (!peer.isLeader) throw peer.notLeader();
      } else {
        const blind = this.queuedBlindWritesOn(latchKeys);
        if (blind !== null) await blind;
        if (!this.leaseReadNow(peer)) await this.readBarrier(peer);
      }
      const term = peer.term;
      const decision = await decide();
      if (isBlind) {
        if (decision.ops.length > 0) {
          const answered = this.proposeBlind(peer, latchKeys, decision.ops, term);
          release();
          await answered;
        }
        return decision.result;
      }
      const early = decision.answerOnCommit;
      if (decision.ops.length > 0 && early !== undefined) {
        const { answered, applied } = this.proposeAnsweredAtCommit(peer, decision.ops, term);
        isReleaseDeferred = true;
        applied.then(() => {
          release();
          early.settled(true);
        }, () => {
          // It may still apply (answered at commit, or timed out): latches and what `settled`
          // releases stay until it can no longer apply unseen.
          peer.whenApplyEnds(term, () => {
            release();
            early.settled(false);
          });
        });
        await answered;
        return decision.result;
      }
      if (decision.ops.length > 0) {
        try {
          await this.propose(peer, decision.ops, term);
        } catch (err) {
          // Its entry may still apply: the latches stay until it can no longer apply unseen, or a
          // command decided on the state without it would land after it.
          if (isOutcomeUnknown(err)) {
            isReleaseDeferred = true;
            peer.whenApplyEnds(term, release);
          }
          throw err;
        }
      }
      return decision.result;
    } finally {
      if (!isReleaseDeferred) release();
    }
  }

  /**
   * A blind write of `ops` (raw put and delete), answered once committed (file comment): latched()
   * with `needsRead: false`. When every latch is free it runs the same steps — leadership check,
   * propose, latches released once the proposal is queued — without latched()'s awaits (no
   * promise, closure or microtask turn per step on the busiest write path); a contended write
   * waits in latched().
   */
  blindWrite(peer: Peer, latchKeys: readonly Buffer[], ops: readonly WriteOp[]): Promise<void> {
    const refusal = this.admissionRefusal(peer);
    if (refusal !== null) return Promise.reject(refusal);
    const release = this.latches.tryAcquire(latchKeys);
    if (release === null) return this.latched(peer, latchKeys, () => Promise.resolve({ ops, result: undefined }), { needsRead: false });
    try {
      if (!peer.isLeader) return Promise.reject(peer.notLeader());
      if (ops.length === 0) return Promise.resolve();
      return this.proposeBlind(peer, latchKeys, ops, peer.term);
    } finally {
      release();
    }
  }

  /** ServerIsBusy for a new command while proposals, latch waiters or the region's unsettled writes are at their bound; else null. */
  private admissionRefusal(peer: Peer): FlotillaError | null {
    if (this.pending >= this.limits.pendingProposalsMax) return this.busy();
    if (peer.applyEndWaiterCount >= this.limits.unsettledWritesMax) {
      this.metrics?.countProposal('busy');
      return new FlotillaError('ServerIsBusy', `region ${peer.regionId}: ${peer.applyEndWaiterCount} writes of unknown outcome wait for their entries to apply (limit ${this.limits.unsettledWritesMax})`, {
        details: { reason: 'too many writes of unknown outcome', backoffMs: 100, regionId: peer.regionId },
      });
    }
    if (this.latches.waitingCount >= LATCH_WAITERS_MAX) {
      this.metrics?.countProposal('busy');
      return new FlotillaError('ServerIsBusy', `${this.latches.waitingCount} commands wait for latches (limit ${LATCH_WAITERS_MAX})`, {
        details: { reason: 'too many commands waiting for latches', backoffMs: 20 },
      });
    }
    return null;
  }

  /** Blind writes whose latches were released before they applied, by latch key (latin1). */
  private readonly blindInFlight = new Map<string, Promise<unknown>>();
  /**
   * The blind writes among them already answered (at commit), by latch key: what a read must not
   * miss. A read need not wait for one not answered yet — it is concurrent with the read, which
   * may come first — and must not: a proposal whose leader stepped down before its entry's index
   * came round again stays unsettled until its proposal timeout (merge sim seed 142: a get waited
   * for ever on six such puts, which the sim's steps never time out).
   */
  private readonly answeredInFlight = new Map<string, Promise<unknown>>();

  /** Keys with a blind write still in flight (tests and metrics). */
  get blindWriteKeys(): number {
    return this.blindInFlight.size;
  }

  /** Keys with a blind write answered and not yet applied (tests and metrics). */
  get answeredWriteKeys(): number {
    return this.answeredInFlight.size;
  }

  /**
   * Proposes a blind write whose latches go once it is queued, and answers once it is committed
   * with a certain apply (or applied, or failed). Until it has applied — or, answered or with its
   * outcome unknown, until it can no longer apply unseen (Peer.whenApplyEnds) — its keys count as in
   * flight for the commands that read under latches; from its answer on, for reads too.
   */
  private proposeBlind(peer: Peer, latchKeys: readonly Buffer[], ops: readonly WriteOp[], term: number): Promise<void> {
    let settled: Promise<void> | null = null;
    // Tracked at the commit answer, before the caller hears of it. The entry commits in a later
    // poll round, so `settled` is set by then; an answer untracked would let a read miss it.
    const p = this.proposeAnsweredAtCommit(peer, ops, term, () => {
      invariant(settled !== null, 'a blind write answered at commit before its proposal returned');
      track(this.answeredInFlight, latchKeys, settled);
    });
    settled = p.applied.then(noop, (err: unknown) => (p.isCommitted || isOutcomeUnknown(err) ? new Promise<void>((resolve) => peer.whenApplyEnds(term, resolve)) : undefined));
    track(this.blindInFlight, latchKeys, settled);
    return p.answered;
  }

  /**
   * Proposes `ops` to be answered once committed with a certain apply outcome (Peer.onCommittedHanded):
   * `answered` settles then, or with the apply (applied, or failed) if that comes first; `applied`
   * with the apply; `isCommitted` says whether the commit answer came.
   */
  private proposeAnsweredAtCommit(peer: Peer, ops: readonly WriteOp[], term: number, atCommitFirst?: () => void): { readonly answered: Promise<void>; readonly applied: Promise<void>; readonly isCommitted: boolean } {
    let answer!: () => void;
    const atCommit = new Promise<void>((resolve) => {
      answer = resolve;
    });
    const out = { answered: atCommit, applied: atCommit, isCommitted: false };
    out.applied = this.propose(peer, ops, term, () => {
      out.isCommitted = true;
      atCommitFirst?.();
      answer();
    });
    out.answered = Promise.race([atCommit, out.applied]);
    return out;
  }

  /**
   * Settles once no blind write answered before the call, and not yet applied, touches `keys`
   * (engine keys, as latched); null when none does — the caller then reads in the same turn.
   */
  blindWritesOn(keys: readonly Buffer[]): Promise<unknown> | null {
    return writesOn(this.answeredInFlight, keys);
  }

  /** blindWritesOn for every key in [start, end) (engine keys). */
  blindWritesIn(start: Buffer, end: Buffer): Promise<unknown> | null {
    return writesIn(this.answeredInFlight, start, end);
  }

  /** Settles once no blind write queued before the call, answered or not, touches `keys` (a latched command's read). */
  private queuedBlindWritesOn(keys: readonly Buffer[]): Promise<unknown> | null {
    return writesOn(this.blindInFlight, keys);
  }

  private async propose(peer: Peer, ops: readonly WriteOp[], term: number, onCommitted?: () => void): Promise<void> {
    if (!peer.isLeader) throw peer.notLeader();
    if (peer.term !== term) throw new FlotillaError('StaleCommand', `region ${peer.regionId}: leadership changed while the command ran (term ${term} → ${peer.term})`);
    if (this.pending >= this.limits.pendingProposalsMax) throw this.busy();
    this.pending++;
    const start = performance.now();
    try {
      const result = await peer.proposeWrite(ops, onCommitted);
      this.metrics?.observeCommitLatency((performance.now() - start) / 1000);
      if (result.kind === 'error') throw result.error;
    } finally {
      this.pending--;
    }
  }

  private busy(): FlotillaError {
    this.metrics?.countProposal('busy');
    return new FlotillaError('ServerIsBusy', `${this.pending} proposals pending on this store (limit ${this.limits.pendingProposalsMax})`, {
      details: { reason: 'too many pending proposals', backoffMs: 20 },
    });
  }
}
