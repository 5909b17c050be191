// What every KV command shares: the read barrier before reading a leader's applied state, and the
// write path — latches → (read barrier →) read → decide → propose through raft → applied → answer.
// A proposal goes out only if the peer still leads in the term it read in: a leader that lost and
// regained leadership between its read and its proposal may have missed another leader's writes.

import { FlotillaError, type WriteOp } from '../common/index.js';
import type { Engine } from './engine/index.js';
import type { KvLimits } from './kv-routing.js';
import type { LatchSet } from './latch-set.js';
import type { Peer } from './peer.js';
import type { PollLoop } from './poll-loop.js';

/** Commands waiting for a latch, store-wide; past it new writes answer ServerIsBusy (a hot key cannot queue without bound). */
export const LATCH_WAITERS_MAX = 10_000;

export interface KvWritesMetrics {
  countReads(kind: 'lease' | 'read-index'): void;
  countProposal(outcome: 'busy' | 'refused'): void;
  observeCommitLatency(seconds: number): void;
}

export interface WriteDecision<T> {
  readonly ops: readonly WriteOp[];
  readonly result: T;
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

  /** Resolves once reading `peer`'s applied state is linearizable (see Peer.readBarrier). */
  async readBarrier(peer: Peer): Promise<void> {
    this.loop.catchUpTicks();
    const kind = await peer.readBarrier();
    this.metrics?.countReads(kind);
  }

  /**
   * Runs `decide` with `latchKeys` latched after a read barrier, proposes its operations (if any)
   * and answers once they are applied. `needsRead: false` skips the barrier for blind writes.
   */
  async latched<T>(peer: Peer, latchKeys: readonly Buffer[], decide: () => Promise<WriteDecision<T>>, options: { readonly needsRead?: boolean } = {}): Promise<T> {
    if (this.pending >= this.limits.pendingProposalsMax) throw this.busy();
    if (this.latches.waitingCount >= LATCH_WAITERS_MAX) {
      this.metrics?.countProposal('busy');
      throw new FlotillaError('ServerIsBusy', `${this.latches.waitingCount} commands wait for latches (limit ${LATCH_WAITERS_MAX})`, {
        details: { reason: 'too many commands waiting for latches', backoffMs: 20 },
      });
    }
    const release = await this.latches.acquire(latchKeys);
    try {
      if (options.needsRead !== false) await this.readBarrier(peer);
      else if (!peer.isLeader) throw peer.notLeader();
      const term = peer.term;
      const decision = await decide();
      if (decision.ops.length > 0) await this.propose(peer, decision.ops, term);
      return decision.result;
    } finally {
      release();
    }
  }

  private async propose(peer: Peer, ops: readonly WriteOp[], term: number): Promise<void> {
    if (!peer.isLeader) throw peer.notLeader();
    if (peer.term !== term) throw new FlotillaError('StaleCommand', `region ${peer.regionId}: leadership changed while the command ran (term ${term} → ${peer.term})`);
    if (this.pending >= this.limits.pendingProposalsMax) throw this.busy();
    this.pending++;
    const start = performance.now();
    try {
      const result = await peer.proposeWrite(ops);
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
