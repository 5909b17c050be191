// Drives PD's raft group: one RawNode, its durable log, and the metadata state machine. The loop
// follows raft/README.md: persist the Ready (one write batch, fsync when mustSync) → send →
// install snapshot → apply committed entries → advance. Every input (tick, inbound message,
// proposal) only schedules a round; rounds never overlap.
//
// Proposals are matched to applied entries by (index, term): the leader learns both when it
// appends; if a different term is applied at that index, or any entry of a later term applies
// (its index may never come round again), the proposal was lost to a leader change
// (StaleCommand). A proposal not applied by its deadline is DeadlineExceeded — its outcome is
// unknown and callers treat it so (PD's commands are idempotent or monotonic).
//
// Leadership is "ready" only once the leader has applied an entry of its own term: only then does
// its state machine include everything earlier leaders committed (the TSO bound above all), so
// only then are the TSO and ID allocators synced and reads served.

import type { Logger } from 'pino';
import { createRng, failpoint, FlotillaError, invariant, type Rng } from '../common/index.js';
import {
  decodeConfChange, RawNode, type ConfChange, type ConfState, type Entry, type Message, type Ready, type StateRole, type StepResult,
} from '../raft/index.js';
import { ProposalWaiters, raftLogger, refusalError, TickClock } from '../raft-host/index.js';
import type { PdRaftLog } from './raft-log.js';
import { decodePdCommand, encodePdCommand, type PdApplyResult, type PdCommand, type PdStateMachine } from './state-machine.js';

/** A proposal waits at most this long for its entry to apply. */
export const PD_PROPOSAL_TIMEOUT_MS = 10_000;
/** Proposals waiting at once; more are refused with ServerIsBusy (bounded memory). */
export const PD_PENDING_PROPOSALS_MAX = 10_000;
/** Take a snapshot and compact the log after this many applied entries. */
export const PD_SNAPSHOT_EVERY_ENTRIES = 5_000;
/** Entries kept behind a snapshot so a briefly lagging member catches up from the log. */
export const PD_LOG_KEEP_ENTRIES = 500;

export interface PdRaftNodeOptions {
  readonly id: number;
  readonly log: PdRaftLog;
  readonly sm: PdStateMachine;
  /** Applied index of the restored state machine (the snapshot index at start-up). */
  readonly applied: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /** Wall time of one tick; the lease is only trusted while ticks keep pace with it. */
  readonly tickMs: number;
  /** Monotonic clock in ms (injected for tests; default performance.now). */
  readonly monotonicMs?: () => number;
  readonly seed?: number;
  readonly logger: Logger;
  /** Sends messages; never throws (drops are fine for raft). */
  readonly send: (messages: readonly Message[]) => void;
  /** A conf change was applied (membership of the PD group changed). */
  readonly onConfChange?: (cc: ConfChange, confState: ConfState) => void;
  /** Leadership became ready (true) or was lost (false). */
  readonly onLeadershipChange?: (isLeaderReady: boolean) => void;
  /** Instruments (optional: tests run without). */
  readonly metrics?: PdRaftMetrics;
  /**
   * The raft loop failed (a persist or apply threw): raft's view and the disk may disagree, so
   * this member must not go on. The executable exits; a supervisor restarts it from disk.
   */
  readonly onFatal?: (err: unknown) => void;
  /**
   * Test seam: awaited before each round's durable write, per member (a slow or stalled disk on
   * one member; the failpoint below is process-wide). Messages keep arriving meanwhile.
   */
  readonly beforePersist?: () => Promise<void> | undefined;
}

/** What the raft loop reports; the server backs these with prom-client instruments. */
export interface PdRaftMetrics {
  /** One ready round's durable write, in seconds, and whether it was fsynced. */
  observePersist(seconds: number, isSynced: boolean): void;
  /** A proposal's fate: applied, stale (lost to a leader change), refused, timeout. */
  countProposal(outcome: 'applied' | 'stale' | 'refused' | 'timeout'): void;
  /** This member became leader (its leadership is ready). */
  countLeadership(): void;
}

export class PdRaftNode {
  readonly raw: RawNode;
  private readonly log: Logger;
  /** Proposals waiting for their entries to apply, by (index, term). */
  private readonly pending: ProposalWaiters<PdApplyResult>;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private leaderReady = false;
  private role: StateRole = 'Follower';
  private applied: number;
  private snapshotIndex: number;
  private confState: ConfState;
  private fatal: unknown = null;
  /** Ticks owed to raft by monotonic time (see catchUpTicks). */
  private readonly ticks: TickClock;

  constructor(private readonly options: PdRaftNodeOptions) {
    this.log = options.logger.child({ component: 'pd-raft', memberId: options.id });
    const rng: Rng = createRng(options.seed ?? options.id);
    this.raw = new RawNode({
      id: options.id,
      storage: options.log.raftStorage,
      applied: options.applied,
      electionTick: options.electionTicks,
      heartbeatTick: options.heartbeatTicks,
      checkQuorum: true,
      preVote: true,
      readOnlyOption: 'lease-based',
      rng,
      logger: raftLogger(this.log),
    });
    this.applied = options.applied;
    this.snapshotIndex = options.applied;
    // Bounded replay: past a few election timeouts more ticks change nothing but cost CPU.
    this.ticks = new TickClock({ tickMs: options.tickMs, maxReplayTicks: options.electionTicks * 4, monotonicMs: options.monotonicMs });
    this.pending = new ProposalWaiters<PdApplyResult>({
      what: 'PD',
      timeoutMs: PD_PROPOSAL_TIMEOUT_MS,
      // Proposals failed wholesale (stop, a fatal loop) are not a proposal outcome worth a count.
      onOutcome: (outcome) => {
        if (outcome !== 'failed') options.metrics?.countProposal(outcome);
      },
    });
    this.confState = options.log.raftStorage.initialState().confState;
  }

  get isLeader(): boolean {
    return this.role === 'Leader';
  }

  /**
   * Whether raft itself leads now. `role` follows the Readys, so right after raft stepped down
   * (a message of a newer term, stepped since the last Ready) it still says leader; a proposal
   * made then would be forwarded to the new leader and could apply there while its caller was
   * told PdNotLeader and retried — applied twice. Proposals whose outcome is reported check this.
   */
  private get isRaftLeader(): boolean {
    return this.role === 'Leader' && this.raw.raft.role === 'Leader';
  }

  /**
   * Leader, has applied an entry of its own term, and holds a valid lease: may serve reads and
   * timestamps. The lease is counted in raft ticks, and ticks come from a timer that a paused
   * process (GC stall, SIGSTOP, a frozen VM) does not run; so the ticks real time owes raft are
   * delivered first, and the lease is judged on real elapsed time.
   */
  get canServe(): boolean {
    this.catchUpTicks();
    return this.leaderReady && this.raw.isLeaseValid();
  }

  /**
   * Leader that has applied an entry of its own term — canServe without the lease check. Reads no
   * clock and ticks nothing, so it may be asked in the middle of an apply (the region event log
   * records only then: entries replayed after a restart, or applied as a follower, are history).
   */
  get isLeaderReady(): boolean {
    return this.leaderReady;
  }

  /** No round running and nothing ready (tests settle a simulated step on this). */
  get isIdle(): boolean {
    return this.running === null && (this.stopped || this.fatal !== null || !this.raw.hasReady());
  }

  get leaderId(): number {
    return this.raw.leaderId;
  }

  get appliedIndex(): number {
    return this.applied;
  }

  get members(): ConfState {
    return this.confState;
  }

  /** Called by the server's tick timer (every tickMs). */
  tick(): void {
    this.catchUpTicks();
  }

  /**
   * Delivers one raft tick per tickMs of monotonic time since the last delivered tick — several
   * after a pause (at most 4 election timeouts' worth), none if called early — keeping the
   * fraction for next time (raft-host/tick-clock.ts counts them). A timer that fires
   * late fires once; the ticks it missed must not be lost, or a leader waking from a pause would
   * trust a lease that expired while it slept.
   */
  private catchUpTicks(): void {
    if (this.stopped) return;
    const due = this.ticks.due();
    if (due === 0) return;
    for (let i = 0; i < due; i++) this.raw.tick();
    this.schedule();
  }

  /** An inbound message from another member. */
  step(m: Message): StepResult {
    if (this.stopped) return { kind: 'invalid-message', reason: 'stopped' };
    const r = this.raw.step(m);
    this.schedule();
    return r;
  }

  /** The transport could not deliver to `id`. */
  reportUnreachable(id: number): void {
    if (this.stopped) return;
    this.raw.reportUnreachable(id);
    this.schedule();
  }

  /** A snapshot message to `id` was sent (finish) or lost (failure). */
  reportSnapshot(id: number, outcome: 'finish' | 'failure'): void {
    if (this.stopped) return;
    this.raw.reportSnapshot(id, outcome);
    this.schedule();
  }

  /**
   * Proposes without waiting for the outcome; a follower forwards it to the leader. For
   * idempotent self-reports (a member's own URLs) that are retried until they show up.
   */
  proposeAndForget(cmd: PdCommand): void {
    if (this.stopped) return;
    this.raw.propose(encodePdCommand(cmd));
    this.schedule();
  }

  /**
   * Starts an election on command (a single-member PD at start-up). Raft refuses it while this
   * member may have acked a leader's lease — its vote plus one from a member cut off from that
   * leader would elect a second leader while the first still serves (found by
   * test/placement-driver/pd-chaos.test.ts); such a campaign waits for the election timeout.
   */
  campaign(): void {
    this.raw.campaign();
    this.schedule();
  }

  /**
   * Proposes `cmd` and resolves with its apply result once applied here. Rejects with
   * PdNotLeader (with the leader id) if this member is not the leader, ServerIsBusy past the
   * pending bound, StaleCommand if a leader change dropped it, DeadlineExceeded on timeout.
   */
  propose(cmd: PdCommand): Promise<PdApplyResult> {
    if (this.stopped) return Promise.reject(new FlotillaError('Unavailable', 'PD is stopping'));
    if (!this.isRaftLeader) return Promise.reject(this.notLeader());
    if (this.pending.size >= PD_PENDING_PROPOSALS_MAX) {
      return Promise.reject(new FlotillaError('ServerIsBusy', `${this.pending.size} PD proposals pending`, { details: { backoffMs: 50 } }));
    }
    const result = this.raw.propose(encodePdCommand(cmd));
    if (result.kind !== 'ok') {
      this.options.metrics?.countProposal('refused');
      return Promise.reject(this.refusal(result));
    }
    return this.waitForApply(result.index, result.term);
  }

  /** Proposes a membership change of the PD group. Resolves when the change is applied. */
  proposeConfChange(cc: ConfChange): Promise<void> {
    if (!this.isRaftLeader) return Promise.reject(this.notLeader());
    const result = this.raw.proposeConfChange(cc);
    if (result.kind !== 'ok') return Promise.reject(this.refusal(result));
    return this.waitForApply(result.index, result.term).then((r) => {
      if (r.kind === 'refused') throw new FlotillaError(r.code, r.message);
    });
  }

  /** Resolves with the apply result of the entry at (index, term) — see the file comment. */
  private waitForApply(index: number, term: number): Promise<PdApplyResult> {
    this.schedule();
    return this.pending.wait(index, term);
  }

  notLeader(leaderId: number = this.raw.leaderId): FlotillaError {
    return new FlotillaError('PdNotLeader', `PD member ${this.options.id} is not the leader (leader ${leaderId || 'unknown'})`, {
      details: { leaderId },
    });
  }

  private refusal(r: Exclude<StepResult, { kind: 'ok' }>): FlotillaError {
    return refusalError(r, 'PD raft', (leaderId) => this.notLeader(leaderId));
  }

  /** Runs ready rounds until there is nothing left to do; at most one round loop at a time. */
  private schedule(): void {
    if (this.stopped || this.fatal !== null) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
    });
    this.running.catch((err: unknown) => {
      // A failed persist leaves raft's view and the disk apart: this member must stop.
      this.fatal = err;
      this.log.fatal({ err }, 'PD raft loop failed; stopping this member');
      this.pending.failAll(new FlotillaError('Unavailable', 'PD raft loop failed', { cause: err }));
      this.options.onLeadershipChange?.(false);
      this.options.onFatal?.(err);
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      while (!this.stopped && this.raw.hasReady()) await this.round(this.raw.ready());
    } while (this.again && !this.stopped);
  }

  private async round(rd: Ready): Promise<void> {
    if (rd.softState !== undefined) this.onSoftState(rd.softState.role);
    this.options.send(rd.messages);
    // A disk that fails (panic) or stalls (sleep, pause); awaited only when armed, so an unarmed
    // round costs no extra microtask.
    const stall = failpoint('pd::before-persist-ready');
    if (stall instanceof Promise) await stall;
    const gate = this.options.beforePersist?.();
    if (gate !== undefined) await gate;
    const persistStart = performance.now();
    await this.options.log.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, mustSync: rd.mustSync });
    this.options.metrics?.observePersist((performance.now() - persistStart) / 1000, rd.mustSync);
    if (rd.snapshot !== undefined) {
      this.options.sm.restore(rd.snapshot.data);
      this.applied = rd.snapshot.metadata.index;
      this.snapshotIndex = this.applied;
      this.confState = rd.snapshot.metadata.confState;
      this.log.info({ index: this.applied }, 'installed PD snapshot');
    }
    this.options.send(rd.persistedMessages);
    let membershipChanged = false;
    for (const e of rd.committedEntries) membershipChanged = this.applyEntry(e) || membershipChanged;
    this.raw.advance(rd);
    // After a membership change the saved snapshot must be renewed: a member that joins catches
    // up from it, and raft refuses a snapshot whose conf state does not include the receiver.
    if (membershipChanged || this.applied - this.snapshotIndex >= PD_SNAPSHOT_EVERY_ENTRIES) await this.compact();
  }

  private onSoftState(role: StateRole): void {
    const wasLeader = this.role === 'Leader';
    this.role = role;
    if (wasLeader && role !== 'Leader') {
      this.log.info({ term: this.raw.term, leaderId: this.raw.leaderId }, 'lost PD leadership');
      if (this.leaderReady) {
        this.leaderReady = false;
        this.options.onLeadershipChange?.(false);
      }
    } else if (!wasLeader && role === 'Leader') {
      this.log.info({ term: this.raw.term }, 'became PD leader');
    }
  }

  /** Applies one committed entry; returns whether it changed the membership. */
  private applyEntry(e: Entry): boolean {
    if (e.index <= this.applied) return false;
    let membershipChanged = false;
    invariant(e.index === this.applied + 1, () => `PD apply gap: applied ${this.applied}, next ${e.index}`);
    let result: PdApplyResult | undefined;
    if (e.type === 'Normal') {
      if (e.data.length > 0) result = this.options.sm.apply(decodePdCommand(e.data));
    } else {
      const decoded = decodeConfChange(e.data);
      if (decoded.kind !== 'ok') throw new FlotillaError('Corruption', `PD entry ${e.index}: ${decoded.reason}`);
      const applied = this.raw.applyConfChange(decoded.confChange);
      if (applied.kind === 'ok') {
        this.confState = applied.confState;
        membershipChanged = true;
        // A removed member leaves the member list in the same entry, on every replica: a separate
        // proposal after it would be lost whenever the leader changed in between (or was the one
        // removed), leaving a member listed that is no longer in the raft group.
        const inConfig = new Set([...applied.confState.voters, ...applied.confState.learners]);
        for (const c of decoded.confChange.changes) {
          if (c.type === 'RemoveNode' && !inConfig.has(c.nodeId)) this.options.sm.apply({ kind: 'removeMember', memberId: c.nodeId });
        }
        this.log.info({ index: e.index, changes: decoded.confChange.changes, voters: applied.confState.voters }, 'applied PD membership change');
        this.options.onConfChange?.(decoded.confChange, applied.confState);
      } else {
        this.log.warn({ index: e.index, reason: applied.reason }, 'PD membership change refused at apply');
        result = { kind: 'refused', code: 'InvalidArgument', message: `membership change refused: ${applied.reason}` };
      }
    }
    this.applied = e.index;
    this.pending.applied(e.index, e.term, result ?? { kind: 'ok' });
    // An entry of this term applied: a proposal of an earlier term can never apply, whether or
    // not its index comes round again (an idle group after a leader change): StaleCommand now,
    // not DeadlineExceeded at its timeout (ProposalWaiters.settleOlderThan).
    this.pending.settleOlderThan(e.term);
    if (!this.leaderReady && this.role === 'Leader' && e.term === this.raw.term) {
      this.leaderReady = true;
      this.log.info({ term: e.term, index: e.index }, 'PD leadership ready');
      this.options.metrics?.countLeadership();
      this.options.onLeadershipChange?.(true);
    }
    return membershipChanged;
  }

  private async compact(): Promise<void> {
    if (this.applied <= this.snapshotIndex) return;
    const data = this.options.sm.snapshot();
    const compactIndex = Math.max(this.snapshotIndex, this.applied - PD_LOG_KEEP_ENTRIES);
    await this.options.log.compact(this.applied, this.confState, data, compactIndex);
    this.snapshotIndex = this.applied;
    this.log.info({ index: this.applied, compactIndex }, 'PD snapshot taken, log compacted');
  }

  /** Stops processing; pending proposals fail with Unavailable. Waits for a running round. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pending.failAll(new FlotillaError('Unavailable', 'PD member stopping'));
    await this.running?.catch(() => undefined);
  }
}
