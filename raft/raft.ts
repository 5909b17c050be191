// The Raft state machine proper: roles, elections, replication, commitment, snapshots,
// membership, leader transfer and ReadIndex. Pure and synchronous: inputs are ticks and
// messages; outputs accumulate in `msgs`, `readStates` and the log, drained by RawNode.ready().
// step() settles the term question once at the top, then hands the message to the role's step
// function (etcd-io/raft's structure).
import { invariant, InvariantError } from '../common/pure.js';
import { type Config } from './config.js';
import { changeFor, restoreFrom } from './confchange.js';
import { decodeConfChange, encodeConfChange } from './confchange-codec.js';
import { type RaftLogger } from './logger.js';
import { RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import { type Refusal, type StepResult, STEP_OK } from './results.js';
import { type QuiesceCheck, type WakeCause, QUIESCE_CONTEXT, QUIESCE_OK, isContext, isQuiesceContext } from './quiesce.js';
import { ProgressTracker, confStateOf, isJoint } from './tracker.js';
import { type Progress } from './progress.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  type NodeId,
  type ReadState,
  type Snapshot,
  type StateRole,
  EMPTY_BYTES,
  NONE,
  entryPayloadBytes,
  entrySizeBytes,
  isEmptyHardState,
  makeMessage,
} from './types.js';
import { type Rng } from '../common/pure.js';

/** `context` of a follower's answer to a snapshot it refused because it is not in its conf state. */
const SNAPSHOT_REFUSED_CONTEXT: Uint8Array = Uint8Array.from('\u0000snapshot-refused', (c) => c.charCodeAt(0));

/** Whether `id` is a member (voter, learner, or outgoing voter) of the snapshot's conf state. */
function isInConfState(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id) || cs.votersOutgoing.includes(id);
}

/** Marks a MsgVote sent because of a leader transfer: it may disrupt a leader lease. */
export const CAMPAIGN_TRANSFER_CONTEXT: Uint8Array = Uint8Array.from('CampaignTransfer', (c) => c.charCodeAt(0));

export type CampaignKind = 'pre-election' | 'election' | 'transfer';

function isTransferContext(ctx: Uint8Array): boolean {
  if (ctx.length !== CAMPAIGN_TRANSFER_CONTEXT.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== CAMPAIGN_TRANSFER_CONTEXT[i]) return false;
  return true;
}

function wakeCauseOf(m: Message): WakeCause {
  if (m.type === 'MsgProp') return 'proposal';
  if (m.type === 'MsgReadIndex') return 'readIndex';
  if (m.type === 'MsgTransferLeader') return 'transfer';
  return 'message';
}

function voteRespType(t: MessageType): MessageType {
  return t === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  role: StateRole = 'Follower';
  isLearner = false;
  lead: NodeId = NONE;
  leadTransferee: NodeId = NONE;
  /** Index of the last conf change proposed or the last index at election; a new one waits until applied ≥ this. */
  pendingConfIndex = 0;
  /** Payload bytes of uncommitted entries appended as leader. */
  uncommittedSize = 0;
  /**
   * A leader that applied its own removal (or demotion) leads on until this entry — an empty one
   * of its term, appended then — commits, taking no proposals or reads; 0 otherwise. See
   * beginLeaving().
   */
  leaveIndex = 0;
  readonly readOnly = new ReadOnly();
  /** Messages to send; RawNode.ready() partitions them by whether they vouch for durable state. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  /** A batch of ReadIndex requests needs a heartbeat round (sent once per Ready). */
  readIndexHeartbeatPending = false;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  /** Ticks since this node last heard from (or was) a leader; votes are refused below electionTick. */
  leaderContactElapsed = 0;
  /** Monotonic tick counter; a leader stamps heartbeats with it to measure its lease. */
  tickCount = 0;
  /** Acks for heartbeats stamped at or below this do not extend the lease (set on a transfer, and on waking). */
  leaseFloorTick = -1;
  /**
   * Quiet mode (quiesce.ts): tick() does nothing, so no heartbeat, election or check-quorum runs.
   * Only a leader (after quiesce()) or a follower (after a matching quiesce heartbeat) is quiet;
   * every role change, and every input but the few listed in step(), wakes the node.
   */
  quiet = false;
  randomizedElectionTimeout = 0;

  private readonly cfg: Config;
  private readonly rng: Rng;
  private readonly log: RaftLogger;
  /** Leader, skipHeartbeatsWhileAppending: the tick of each append batch of this term, by first index (ascending). */
  private appendTicks: { readonly firstIndex: number; readonly tick: number }[] = [];
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];
  /** A candidate that won on its own vote in this term: it leads once the term is durable. */
  private winOnDurableTerm = 0;

  constructor(cfg: Config) {
    this.cfg = cfg;
    this.id = cfg.id;
    this.rng = cfg.rng;
    this.log = cfg.logger;
    this.raftLog = new RaftLog(cfg.storage);
    this.trk = new ProgressTracker(cfg.maxInflightMsgs, cfg.maxInflightBytes);
    const { hardState, confState } = cfg.storage.initialState();
    const restored = restoreFrom(this.trk, this.raftLog.lastIndex(), confState);
    this.trk.config = restored.config;
    this.trk.progress = restored.progress;
    this.isLearner = this.trk.config.learners.has(this.id);
    if (!isEmptyHardState(hardState)) this.loadState(hardState);
    if (cfg.applied > 0) this.raftLog.appliedTo(cfg.applied);
    this.becomeFollower(this.term, NONE);
    this.log.info({ id: this.id, term: this.term, commit: this.raftLog.committed, applied: this.raftLog.applied, lastIndex: this.raftLog.lastIndex() }, 'raft node started');
  }

  private loadState(hs: HardState): void {
    invariant(hs.commit <= this.raftLog.lastIndex(), () => `node ${this.id}: hard state commit ${hs.commit} beyond last index ${this.raftLog.lastIndex()} (log lost?)`);
    // A commit below the snapshot index can happen when the commit index (never fsynced on its
    // own) lagged the snapshot: the snapshot index is committed by definition.
    this.raftLog.committed = Math.max(hs.commit, this.raftLog.committed);
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  // ---- sending -------------------------------------------------------------------------------

  private send(m: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    let term = m.term;
    if (term === undefined) {
      // Votes and pre-vote responses set their own term; everything else carries ours.
      // Inline, not invariant(): a lazy message would be a closure allocated per message sent.
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote' || m.type === 'MsgVoteResp' || m.type === 'MsgPreVoteResp') throw new InvariantError(`node ${this.id}: ${m.type} needs an explicit term`);
      term = m.type === 'MsgProp' || m.type === 'MsgReadIndex' ? 0 : this.term;
    }
    this.msgs.push(makeMessage(m, this.id, term));
  }

  /** Sends an append (or a snapshot) to `to` if its progress allows. Returns whether one was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    const ents = this.raftLog.entriesFrom(pr.next, this.cfg.maxSizePerMsg);
    if (prevTerm === 'compacted' || ents === 'compacted') return this.maybeSendSnapshot(to, pr);
    if (prevTerm === 'unavailable' || ents === 'unavailable') {
      // The storage is loading the range; we retry on onStorageReady() or the next heartbeat response.
      return false;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'MsgApp', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.raftLog.committed });
    pr.lastAppendTick = this.tickCount;
    let bytes = 0;
    for (const e of ents) bytes += entrySizeBytes(e);
    pr.sentEntries(ents.length, bytes);
    return true;
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snap = this.raftLog.snapshot(pr.snapshotMinIndex);
    if (snap === 'unavailable') return false; // being generated; onStorageReady() retries
    invariant(snap.metadata.index > 0, () => `node ${this.id}: need a snapshot for ${to} but storage has none`);
    pr.becomeSnapshot(snap.metadata.index);
    this.log.debug({ id: this.id, to, snapshotIndex: snap.metadata.index }, 'sending snapshot');
    this.send({ type: 'MsgSnap', to, snapshot: snap });
    return true;
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  bcastAppend(): void {
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  /**
   * The commit index advanced: tell the followers — in appends of their own, unless
   * cfg.skipBcastCommit leaves it to the next append or heartbeat (entries still unsent go out
   * now; a pending membership change is broadcast at once, so every member applies it soon, and
   * so is a leaving leader's: it is about to stop sending).
   */
  private bcastCommit(): void {
    if (!this.cfg.skipBcastCommit || this.pendingConfIndex > this.raftLog.applied || this.leaveIndex > 0) {
      this.bcastAppend();
      return;
    }
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
  }

  private sendHeartbeat(to: NodeId, ctx: Uint8Array): void {
    const pr = this.trk.progress.get(to);
    // Never tell a follower to commit beyond what it is known to hold.
    const commit = Math.min(pr?.match ?? 0, this.raftLog.committed);
    this.send({ type: 'MsgHeartbeat', to, commit, context: ctx, index: this.tickCount });
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingContext() ?? EMPTY_BYTES;
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  /** The heartbeat tick's broadcast: skips followers an append reached this interval (cfg.skipHeartbeatsWhileAppending). */
  private tickHeartbeatBroadcast(): void {
    const ctx = this.readOnly.lastPendingContext() ?? EMPTY_BYTES;
    const isSkipping = this.cfg.skipHeartbeatsWhileAppending && ctx.length === 0;
    const since = this.tickCount - this.cfg.heartbeatTick; // the previous broadcast's tick
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      // The follower's commit index may lag by what the last append did not carry: the next
      // append brings it, or, once appends stop, the next interval's heartbeat.
      if (isSkipping && pr.state === 'Replicate' && pr.lastAppendTick >= since) continue;
      this.sendHeartbeat(id, ctx);
    }
  }

  /** The tick at which this leader appended entry `index` in its term; undefined if older or unknown. */
  private appendTickOf(index: number): number | undefined {
    const marks = this.appendTicks;
    let lo = 0;
    let hi = marks.length - 1;
    let found: number | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid]!.firstIndex <= index) {
        found = marks[mid]!.tick;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** Notes the tick of an append batch starting at `firstIndex`; forgets marks too old to extend a lease. */
  private noteAppendTick(firstIndex: number): void {
    if (!this.cfg.skipHeartbeatsWhileAppending) return;
    const marks = this.appendTicks;
    const last = marks[marks.length - 1];
    if (last !== undefined && last.tick === this.tickCount) return; // same tick: the earlier mark covers it
    marks.push({ firstIndex, tick: this.tickCount });
    const oldest = this.tickCount - this.cfg.electionTick;
    let drop = 0;
    while (drop < marks.length - 1 && marks[drop + 1]!.tick < oldest) drop++;
    if (drop > 0) marks.splice(0, drop);
  }

  /** Sends the heartbeat round that confirms the pending batch of ReadIndex requests. */
  flushReadIndexHeartbeat(): void {
    if (!this.readIndexHeartbeatPending) return;
    this.readIndexHeartbeatPending = false;
    if (this.role === 'Leader') this.bcastHeartbeat();
  }

  // ---- role transitions ------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      invariant(term > this.term, () => `node ${this.id}: term may not decrease (${this.term} -> ${term})`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.quiet = false;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      pr.match = 0;
      pr.next = last + 1;
      pr.state = 'Probe';
      pr.pendingSnapshot = 0;
      pr.msgAppFlowPaused = false;
      pr.inflights.reset();
      pr.recentActive = false;
      pr.leaseAckTick = -1;
      pr.lastAppendTick = -1;
      if (id === this.id) pr.match = this.raftLog.stableLastIndex();
    }
    this.pendingConfIndex = 0;
    this.uncommittedSize = 0;
    this.leaveIndex = 0;
    this.winOnDurableTerm = 0;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
    this.readIndexHeartbeatPending = false;
    this.leaseFloorTick = -1;
    this.appendTicks = [];
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTick + this.rng.nextInt(this.cfg.electionTick);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'Follower';
    this.log.debug({ id: this.id, term, lead }, 'became follower');
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'Leader', () => `node ${this.id}: invalid transition leader -> pre-candidate`);
    // A pre-candidate changes neither term nor vote (Raft thesis §9.6).
    this.trk.resetVotes();
    this.lead = NONE;
    this.role = 'PreCandidate';
    this.log.debug({ id: this.id, term: this.term }, 'became pre-candidate');
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'Leader', () => `node ${this.id}: invalid transition leader -> candidate`);
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'Candidate';
    this.log.debug({ id: this.id, term: this.term }, 'became candidate');
  }

  private becomeLeader(): void {
    invariant(this.role !== 'Follower', () => `node ${this.id}: invalid transition follower -> leader`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'Leader';
    this.leaderContactElapsed = 0;
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    self?.maybeUpdate(this.raftLog.stableLastIndex());
    // An empty entry of our term commits everything before it (Raft §5.4.2, §8).
    this.appendEntries([{ type: 'Normal', term: 0, index: 0, data: EMPTY_BYTES }], { bypassLimit: true });
    // No conf change until that entry is applied: the leader must commit an entry of its own
    // term before changing membership — the fix for the one-at-a-time change bug (Ongaro,
    // raft-dev 2015) — and any change already in its log is applied first.
    this.pendingConfIndex = this.raftLog.lastIndex();
    this.log.info({ id: this.id, term: this.term }, 'became leader');
  }

  // ---- ticks ---------------------------------------------------------------------------------

  tick(): void {
    // Quiet: time stands still for this group. Its lease clock (tickCount) stops too, which is
    // why waking raises the lease floor: acks stamped before the sleep would look fresh.
    if (this.quiet) return;
    this.tickCount++;
    this.leaderContactElapsed++;
    if (this.role === 'Leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.pendingSnapshot();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.cfg.preVote ? 'pre-election' : 'election');
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    this.leaderContactElapsed = 0;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.checkQuorum();
      if (this.role === 'Leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.role !== 'Leader') return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.tickHeartbeatBroadcast();
    }
  }

  private checkQuorum(): void {
    if (!this.trk.quorumActive(this.id)) {
      this.log.warn({ id: this.id, term: this.term }, 'stepped down: no quorum heard within an election timeout');
      this.becomeFollower(this.term, NONE);
      return;
    }
    for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
  }

  // ---- elections -----------------------------------------------------------------------------

  hup(kind: CampaignKind): void {
    this.wake('campaign');
    if (this.role === 'Leader') return;
    if (kind !== 'transfer' && this.cfg.readOnlyOption === 'lease-based' && !this.trk.isSingleton() && this.isInLease()) {
      // This node may have acked the current leader's lease: its own vote plus one from a voter
      // cut off from that leader would elect a second leader while the first still serves lease
      // reads. Elections on timeout never get here (the lease ran out first); a campaign on
      // command waits, and a leader transfer (which fences the lease) goes through. A single
      // voter has no one else's lease to break.
      this.log.warn({ id: this.id, term: this.term }, 'cannot campaign: within a leader lease this node may have acked');
      return;
    }
    if (!this.promotable()) {
      this.log.warn({ id: this.id }, 'cannot campaign: not a voter');
      return;
    }
    const pendingConf = this.hasUnappliedConfChanges();
    if (pendingConf !== false) {
      this.log.warn({ id: this.id, pendingConf }, 'cannot campaign: committed conf changes not applied yet');
      return;
    }
    this.campaign(kind);
  }

  private hasUnappliedConfChanges(): boolean | 'unavailable' {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    const ents = this.raftLog.slice(this.raftLog.applied + 1, this.raftLog.committed + 1, Number.MAX_SAFE_INTEGER);
    if (ents === 'unavailable') return 'unavailable';
    if (ents === 'compacted') return false;
    return ents.some((e) => e.type !== 'Normal');
  }

  private campaign(kind: CampaignKind): void {
    let voteType: MessageType;
    let term: number;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      voteType = 'MsgPreVote';
      term = this.term + 1; // the term we would campaign in; ours does not change
    } else {
      this.becomeCandidate();
      voteType = 'MsgVote';
      term = this.term;
    }
    // Our own vote counts at once; the MsgVotes that ask for others' votes leave only after our
    // term and vote are durable (RawNode puts them in persistedMessages), so we cannot win before.
    this.poll(this.id, voteType, true);
    if (this.trk.tallyVotes() === 'won') {
      if (kind === 'pre-election') this.campaign('election');
      // A lone voter wins on its own vote, but leads only once that vote is durable
      // (onTermDurable): one that led before its term was written, crashed and restarted in the
      // term before would win the same term again with other entries (simulator seed 42671).
      else this.winOnDurableTerm = this.term;
      return;
    }
    const ctx = kind === 'transfer' ? CAMPAIGN_TRANSFER_CONTEXT : EMPTY_BYTES;
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      this.send({ type: voteType, to: id, term, index: lastIndex, logTerm: lastTerm, context: ctx });
    }
  }

  private poll(id: NodeId, t: MessageType, granted: boolean): void {
    this.trk.recordVote(id, granted);
    this.log.debug({ id: this.id, from: id, type: t, granted }, 'vote received');
  }

  // ---- step ----------------------------------------------------------------------------------

  step(m: Message): StepResult {
    if (m.type === 'MsgHeartbeat' && isQuiesceContext(m.context) && this.acceptsQuiesce(m)) {
      this.enterQuietAsFollower(m);
      return STEP_OK;
    }
    if (this.quiet) {
      // Dropped, not processed: a heartbeat answer from a follower in Probe would otherwise make
      // a quiet leader send an append (and wake everyone). Waking resets what they would update.
      if (this.absorbsWhileQuiet(m)) return STEP_OK;
      this.wake(wakeCauseOf(m));
    }
    if (m.reject && m.commit > 0 && (m.type === 'MsgVoteResp' || m.type === 'MsgPreVoteResp')) this.learnCommitHint(m);
    if (m.term === 0) {
      // local message (or a proposal / read forwarded without a term)
    } else if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = isTransferContext(m.context);
        // Within a lease (heard from a leader less than an election timeout ago) ignore
        // campaigns: this stops a partitioned node from deposing a healthy leader (§9.6) and
        // is what makes lease reads safe.
        // With lease reads a node that just started also waits out one election timeout: it
        // may have acked a leader's lease before it crashed, and forgot that.
        if (!force && this.isInLease()) {
          this.log.debug({ id: this.id, from: m.from, type: m.type, term: m.term }, 'ignored campaign within leader lease');
          return STEP_OK;
        }
      }
      if (m.type === 'MsgPreVote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // A granted pre-vote carries the future term; the real election raises the term.
      } else if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader (e.g. back from a partition) learns our term and steps down; with
        // check-quorum or pre-vote it would otherwise never hear a higher term.
        this.send({ type: 'MsgAppResp', to: m.from });
      } else if (m.type === 'MsgPreVote' || m.type === 'MsgVote') {
        // Refused with our term (Raft §5.1: a stale candidate learns the current term). Ignored,
        // a candidate could stay a term behind one that never hears it — a member still in an
        // old configuration that asks only voters who are gone, and refuses every lower-term
        // request (simulator seed 44924: no leader for ever).
        this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true });
      }
      return STEP_OK;
    }

    if (m.type === 'MsgHup') {
      this.hup(this.cfg.preVote ? 'pre-election' : 'election');
      return STEP_OK;
    }
    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      this.handleVoteRequest(m);
      return STEP_OK;
    }
    switch (this.role) {
      case 'Leader':
        return this.stepLeader(m);
      case 'Candidate':
      case 'PreCandidate':
        return this.stepCandidate(m);
      case 'Follower':
        return this.stepFollower(m);
    }
  }

  /**
   * Within a leader's lease: heard from a leader less than an election timeout ago. With lease
   * reads a node that just started counts as in lease too: it may have acked a leader's lease
   * before it crashed, and forgot that.
   */
  private isInLease(): boolean {
    const knowsLease = this.lead !== NONE || this.cfg.readOnlyOption === 'lease-based';
    return this.cfg.checkQuorum && knowsLease && this.leaderContactElapsed < this.cfg.electionTick;
  }

  private handleVoteRequest(m: Message): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === 'MsgPreVote' && m.term > this.term);
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      // Reply with the request's term: a pre-candidate ignores responses for other terms.
      this.send({ type: voteRespType(m.type), to: m.from, term: m.term });
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      if (m.type === 'MsgVote' && m.term === this.term && this.vote === this.id && this.role !== 'Leader' && this.raftLog.isMoreUpToDate(m.index, m.logTerm)) {
        // Refused only because we voted for ourselves in this term, to a candidate whose log is
        // longer: every voter that would grant us would grant it, and it may need our vote.
        // Without pre-vote two candidates can take turns for ever — each campaign of ours a term
        // ahead of the better one's, which we then refuse in the term we have voted in
        // (simulator seed 56107). Our next campaign waits one election timeout more than anyone
        // else's can, so the better candidate asks first, in a term where our vote is free.
        // Liveness only: who may win does not change.
        this.electionElapsed = 0;
        if (this.randomizedElectionTimeout < 2 * this.cfg.electionTick) this.randomizedElectionTimeout += this.cfg.electionTick;
      }
      // The refusal says what we know is committed, up to the candidate's last index: a voter
      // that never learned a membership change committed (its leader stepped down or crashed
      // first) may otherwise need for ever the vote of a member the change removed or demoted,
      // whose log is longer (etcd-io/etcd#10563; simulator seeds 3444, 25419).
      const k = Math.min(this.raftLog.committed, m.index);
      const t = k > 0 ? this.raftLog.term(k) : 0;
      if (typeof t === 'number' && t > 0) this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true, commit: k, logTerm: t });
      else this.send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true });
    }
  }

  /**
   * A refused vote's commit hint (handleVoteRequest): the voter knows entry `commit` of term
   * `logTerm` is committed; if ours at that index has that term, our log matches the committed
   * one up to there (log matching), so it is committed here too. A leader counts its own.
   */
  private learnCommitHint(m: Message): void {
    if (this.role === 'Leader' || m.commit <= this.raftLog.committed) return;
    if (!this.raftLog.maybeCommit(m.commit, m.logTerm)) return;
    this.log.info({ id: this.id, from: m.from, commit: m.commit }, 'learned the commit index from a refused vote');
    // A campaign never runs with committed membership changes unapplied (hup): one that just
    // learned of some stops, and runs again under the configuration they make.
    if (this.role !== 'Follower' && this.hasUnappliedConfChanges() !== false) this.becomeFollower(this.term, NONE);
  }

  private stepLeader(m: Message): StepResult {
    switch (m.type) {
      case 'MsgBeat':
        this.bcastHeartbeat();
        return STEP_OK;
      case 'MsgCheckQuorum':
        this.checkQuorum();
        return STEP_OK;
      case 'MsgProp':
        return this.leaderPropose(m);
      case 'MsgReadIndex':
        return this.leaderReadIndex(m);
      case 'MsgTransferLeader':
        return this.leaderTransfer(m.from);
      case 'MsgAppResp':
        this.withProgress(m, (pr) => this.handleAppendResponse(m, pr));
        return STEP_OK;
      case 'MsgHeartbeatResp':
        this.withProgress(m, (pr) => this.handleHeartbeatResponse(m, pr));
        return STEP_OK;
      case 'MsgSnapStatus':
        this.withProgress(m, (pr) => {
          if (pr.state !== 'Snapshot') return;
          if (m.reject) pr.pendingSnapshot = 0;
          // Probe again after the next heartbeat response, whatever the outcome.
          pr.becomeProbe();
          pr.msgAppFlowPaused = true;
        });
        return STEP_OK;
      case 'MsgUnreachable':
        this.withProgress(m, (pr) => {
          if (pr.state === 'Replicate') pr.becomeProbe();
        });
        return STEP_OK;
      case 'MsgHup':
      case 'MsgApp':
      case 'MsgVote':
      case 'MsgVoteResp':
      case 'MsgPreVote':
      case 'MsgPreVoteResp':
      case 'MsgSnap':
      case 'MsgHeartbeat':
      case 'MsgTimeoutNow':
      case 'MsgReadIndexResp':
        // Same-term messages a leader has no use for (stale responses, or from a confused peer).
        return STEP_OK;
    }
  }

  private withProgress(m: Message, f: (pr: Progress) => void): void {
    const pr = this.trk.progress.get(m.from);
    if (pr !== undefined) f(pr);
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'Replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    if (m.index < pr.lastSnapshotSentIndex && pr.match < pr.lastSnapshotSentIndex && isContext(m.context, SNAPSHOT_REFUSED_CONTEXT)) {
      // The follower did not install our snapshot (it predates the follower's joining, so the
      // follower is not in its conf state): the next one must be newer. Only its refusal says
      // so: an older ack arriving late is no refusal, and a leader that took it for one waited
      // for a newer snapshot it could not make while it needed that follower to commit (raft
      // sim seed 5903, writes behind the Readys).
      pr.snapshotMinIndex = Math.max(pr.snapshotMinIndex, pr.lastSnapshotSentIndex + 1);
    }
    if (this.cfg.skipHeartbeatsWhileAppending) {
      const tick = this.appendTickOf(m.index);
      if (tick !== undefined && tick > pr.leaseAckTick) pr.leaseAckTick = tick;
    }
    const wasPaused = pr.isPaused();
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === 'Probe'))) return;
    switch (pr.state) {
      case 'Probe':
        pr.becomeReplicate();
        break;
      case 'Snapshot':
        if (pr.match + 1 >= this.raftLog.firstIndex()) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case 'Replicate':
        pr.inflights.freeLE(m.index);
        break;
    }
    if (this.maybeCommit()) {
      if (!this.onCommitAdvanced()) return;
    } else if (m.from !== this.id && wasPaused) {
      this.sendAppend(m.from);
    }
    // Fill the in-flight window while there is something to send.
    if (m.from !== this.id) {
      let guard = this.cfg.maxInflightMsgs;
      while (guard-- > 0 && this.maybeSendAppend(m.from, false));
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // The follower is alive; if the window is full its acks were probably lost: let one more
    // append out, which either fills a gap or draws a rejection that resets to probing.
    if (pr.state === 'Replicate' && pr.inflights.isFull()) pr.inflights.freeFirstOne();
    if (m.index > pr.leaseAckTick) pr.leaseAckTick = m.index;
    if (pr.match < this.raftLog.lastIndex() || pr.state === 'Probe') this.sendAppend(m.from);
    // Lease-based mode queues here too, whenever the lease is not valid when a read arrives
    // (a new leader, a transfer, missed acks): those reads are confirmed by a heartbeat quorum.
    if (m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    acks.add(this.id);
    if (this.trk.voteResultOf(acks) !== 'won') return;
    for (const rs of this.readOnly.advance(m.context)) this.respondReadIndex(rs.request, rs.index);
  }

  private stepCandidate(m: Message): StepResult {
    const myResp: MessageType = this.role === 'PreCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgProp':
      case 'MsgReadIndex':
        return { kind: 'not-leader', leaderId: NONE };
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.heardFromLeader();
        this.handleAppendEntries(m);
        return STEP_OK;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.heardFromLeader();
        this.handleHeartbeat(m);
        return STEP_OK;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.heardFromLeader();
        this.handleSnapshot(m);
        return STEP_OK;
      case 'MsgPreVoteResp':
      case 'MsgVoteResp': {
        if (m.type !== myResp) return STEP_OK;
        this.poll(m.from, m.type, !m.reject);
        const result = this.trk.tallyVotes();
        if (result === 'won') {
          if (this.role === 'PreCandidate') this.campaign('election');
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          // A rejection at a higher term already made us a follower in step().
          this.becomeFollower(this.term, NONE);
        }
        return STEP_OK;
      }
      case 'MsgHup':
      case 'MsgBeat':
      case 'MsgAppResp':
      case 'MsgVote':
      case 'MsgPreVote':
      case 'MsgHeartbeatResp':
      case 'MsgUnreachable':
      case 'MsgSnapStatus':
      case 'MsgCheckQuorum':
      case 'MsgTransferLeader':
      case 'MsgTimeoutNow':
      case 'MsgReadIndexResp':
        return STEP_OK;
    }
  }

  private stepFollower(m: Message): StepResult {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === NONE) return { kind: 'not-leader', leaderId: NONE };
        if (this.cfg.disableProposalForwarding) return { kind: 'not-leader', leaderId: this.lead };
        this.send({ ...m, to: this.lead, term: 0 });
        return { kind: 'forwarded', leaderId: this.lead };
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.heardFromLeader();
        this.handleAppendEntries(m);
        return STEP_OK;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.heardFromLeader();
        this.handleHeartbeat(m);
        return STEP_OK;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.heardFromLeader();
        this.handleSnapshot(m);
        return STEP_OK;
      case 'MsgTransferLeader':
        if (this.lead === NONE) return { kind: 'not-leader', leaderId: NONE };
        // Forwarded as is: `from` names the transferee, not us.
        this.msgs.push(makeMessage({ ...m, to: this.lead, term: 0 }));
        return { kind: 'forwarded', leaderId: this.lead };
      case 'MsgTimeoutNow':
        this.log.info({ id: this.id, term: this.term, from: m.from }, 'campaigning at once: leader transfer');
        // Skips pre-vote: the leader asked for this, and the transfer context overrides leases.
        this.hup('transfer');
        return STEP_OK;
      case 'MsgReadIndex':
        if (this.lead === NONE) return { kind: 'not-leader', leaderId: NONE };
        this.send({ ...m, to: this.lead, term: 0 });
        return { kind: 'forwarded', leaderId: this.lead };
      case 'MsgReadIndexResp':
        this.readStates.push({ index: m.index, requestContext: m.context });
        return STEP_OK;
      case 'MsgHup':
      case 'MsgBeat':
      case 'MsgAppResp':
      case 'MsgVote':
      case 'MsgVoteResp':
      case 'MsgPreVote':
      case 'MsgPreVoteResp':
      case 'MsgHeartbeatResp':
      case 'MsgUnreachable':
      case 'MsgSnapStatus':
      case 'MsgCheckQuorum':
        return STEP_OK;
    }
  }

  private heardFromLeader(): void {
    this.leaderContactElapsed = 0;
  }

  // ---- follower handlers ---------------------------------------------------------------------

  private handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed });
      return;
    }
    const r = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (r === 'unavailable') {
      // We cannot check the match now; dropping is safe and the leader retries.
      return;
    }
    if (r !== 'reject') {
      this.send({ type: 'MsgAppResp', to: m.from, index: r });
      return;
    }
    // Fast back-off (etcd's findConflictByTerm): hint the largest index whose term ≤ m.logTerm.
    const hint = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    this.send({ type: 'MsgAppResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term });
  }

  private handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.send({ type: 'MsgHeartbeatResp', to: m.from, context: m.context, index: m.index });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    const isMember = isInConfState(s.metadata.confState, this.id);
    const isNewer = s.metadata.index > this.raftLog.committed;
    const wasFollower = this.role === 'Follower';
    if (this.restore(s)) {
      this.log.info({ id: this.id, index: s.metadata.index, term: s.metadata.term }, 'restored snapshot');
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.lastIndex() });
    } else if (isNewer && !isMember && wasFollower) {
      // Refused because it predates our joining: say so, or the leader resends the same one.
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed, context: SNAPSHOT_REFUSED_CONTEXT });
    } else {
      this.send({ type: 'MsgAppResp', to: m.from, index: this.raftLog.committed });
    }
  }

  /** Installs a snapshot if it is newer than our commit; returns whether it was installed. */
  restore(s: Snapshot): boolean {
    if (s.metadata.index <= this.raftLog.committed) return false;
    if (this.role !== 'Follower') {
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = s.metadata.confState;
    if (!isInConfState(cs, this.id)) {
      this.log.warn({ id: this.id, index: s.metadata.index }, 'refused snapshot: this node is not in its conf state');
      return false;
    }
    const holds = this.raftLog.matchTerm(s.metadata.index, s.metadata.term);
    if (holds === true) {
      // We already hold the snapshot's last entry: fast-forward the commit instead.
      this.raftLog.commitTo(s.metadata.index);
      return false;
    }
    if (holds === 'unavailable') {
      // The storage is loading that entry: we may hold it, and entries after it we acknowledged.
      // Installing would discard them (simulator seed 21080: a follower dropped entries 17–26 it
      // had acknowledged for a snapshot at 16, and its leader then sent it commit 26). Refused for
      // now; the leader sends another.
      this.log.info({ id: this.id, index: s.metadata.index }, 'refused snapshot for now: its last entry is being loaded here');
      return false;
    }
    this.raftLog.restore(s);
    const restored = restoreFrom(this.trk, this.raftLog.lastIndex(), cs);
    this.trk.config = restored.config;
    this.trk.progress = restored.progress;
    this.isLearner = this.trk.config.learners.has(this.id);
    return true;
  }

  // ---- leader handlers -----------------------------------------------------------------------

  private leaderPropose(m: Message): StepResult {
    if (m.entries.length === 0) throw new InvariantError(`node ${this.id}: empty proposal`);
    if (this.leaveIndex > 0 || !this.trk.progress.has(this.id)) return { kind: 'removed' };
    if (this.leadTransferee !== NONE) return { kind: 'leader-transferring', leaderId: this.id, transfereeId: this.leadTransferee };
    for (const e of m.entries) {
      if (e.data.byteLength > this.cfg.maxEntryBytes) return { kind: 'entry-too-large', bytes: e.data.byteLength, limitBytes: this.cfg.maxEntryBytes };
      if (e.type === 'Normal') continue;
      const refusal = this.checkConfChangeProposal(e);
      if (refusal !== undefined) return refusal;
    }
    const appended = this.appendEntries(m.entries, { bypassLimit: false });
    if (appended === undefined) {
      return { kind: 'uncommitted-limit', uncommittedBytes: this.uncommittedSize, limitBytes: this.cfg.maxUncommittedEntriesSize };
    }
    for (const e of appended) if (e.type !== 'Normal') this.pendingConfIndex = e.index;
    this.bcastAppend();
    const last = appended[appended.length - 1];
    invariant(last !== undefined, 'propose: nothing appended');
    return { kind: 'ok', index: last.index, term: last.term };
  }

  private checkConfChangeProposal(e: Entry): Refusal | undefined {
    const decoded = decodeConfChange(e.data);
    if (decoded.kind !== 'ok') return { kind: 'conf-change-refused', reason: decoded.reason };
    const joint = isJoint(this.trk.config);
    const leave = decoded.confChange.changes.length === 0;
    if (this.pendingConfIndex > this.raftLog.applied) {
      return { kind: 'conf-change-refused', reason: `a conf change at or below index ${this.pendingConfIndex} is not applied yet (applied ${this.raftLog.applied})` };
    }
    if (joint && !leave) return { kind: 'conf-change-refused', reason: 'must leave the joint config before another change' };
    if (!joint && leave) return { kind: 'conf-change-refused', reason: 'not in a joint config: nothing to leave' };
    return undefined;
  }

  /** Appends entries as leader; undefined when the uncommitted limit refuses them. */
  private appendEntries(es: readonly Entry[], opts: { bypassLimit: boolean }): Entry[] | undefined {
    let payload = 0;
    for (const e of es) payload += entryPayloadBytes(e);
    const max = this.cfg.maxUncommittedEntriesSize;
    // Always admit one batch on an empty budget so a large entry cannot wedge the group.
    if (!opts.bypassLimit && max > 0 && this.uncommittedSize > 0 && payload > 0 && this.uncommittedSize + payload > max) return undefined;
    this.uncommittedSize += payload;
    let li = this.raftLog.lastIndex();
    const out: Entry[] = [];
    for (const e of es) out.push({ type: e.type, term: this.term, index: ++li, data: e.data });
    this.raftLog.append(out);
    if (out.length > 0) this.noteAppendTick(out[0]!.index);
    return out;
  }

  /**
   * The leader's commit index advanced (acks, its own write, a storage load): the reads waiting
   * for it go, the followers hear it, and a leaver whose handoff entry committed steps down.
   * Returns whether this node still leads.
   */
  private onCommitAdvanced(): boolean {
    this.releasePendingReadIndexMessages();
    this.bcastCommit();
    this.maybeFinishLeaving();
    return this.role === 'Leader';
  }

  /** Advances the commit index from the quorum's match indexes (current-term entries only). */
  maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.raftLog.term(this.raftLog.committed) === this.term;
  }

  private leaderReadIndex(m: Message): StepResult {
    if (this.leaveIndex > 0) return { kind: 'removed' };
    if (this.readOnly.size() + this.pendingReadIndexMessages.length >= this.cfg.maxPendingReadIndex) {
      return { kind: 'too-many-pending-reads', limit: this.cfg.maxPendingReadIndex };
    }
    if (!this.committedEntryInCurrentTerm()) {
      // Our commit index may lag the true one until an entry of our term commits (§6.4 step 1) —
      // a lone voter's too: after a restart it can lag what it committed before (sim seed 7545).
      this.pendingReadIndexMessages.push(m);
      return STEP_OK;
    }
    this.serveReadIndex(m);
    return STEP_OK;
  }

  private serveReadIndex(m: Message): void {
    // Our term has committed. A lone voter needs no heartbeat round to confirm it still leads.
    if ((this.cfg.readOnlyOption === 'lease-based' && this.leaseValid()) || this.trk.isSingleton()) {
      this.respondReadIndex(m, this.raftLog.committed);
      return;
    }
    this.readOnly.addRequest(this.raftLog.committed, m);
    this.readIndexHeartbeatPending = true;
  }

  /**
   * Whether our lease holds: a quorum acknowledged a heartbeat we stamped less than
   * electionTick − 1 ticks ago (one tick of slack for delivery within a tick), after any leader
   * transfer began. Followers that acked it refuse votes for electionTick of their own ticks.
   */
  leaseValid(): boolean {
    if (this.role !== 'Leader' || this.leadTransferee !== NONE || this.quiet || this.leaveIndex > 0) return false;
    const acked = this.trk.quorumValue((id) => (id === this.id ? this.tickCount : this.trk.progress.get(id)?.leaseAckTick));
    return acked > this.leaseFloorTick && this.tickCount - acked < this.cfg.electionTick - 1;
  }

  private releasePendingReadIndexMessages(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of pending) this.serveReadIndex(m);
  }

  private respondReadIndex(req: Message, index: number): void {
    if (req.from === NONE || req.from === this.id) {
      this.readStates.push({ index, requestContext: req.context });
      return;
    }
    this.send({ type: 'MsgReadIndexResp', to: req.from, index, context: req.context });
  }

  private leaderTransfer(transferee: NodeId): StepResult {
    const pr = this.trk.progress.get(transferee);
    if (pr === undefined || pr.isLearner) return { kind: 'invalid-message', reason: `transferee ${transferee} is not a voter` };
    if (transferee === this.id) return STEP_OK;
    if (this.leadTransferee === transferee) return STEP_OK;
    this.abortLeaderTransfer();
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    // The transferee will campaign past leases: stop serving lease reads on acks from before now.
    this.leaseFloorTick = this.tickCount;
    this.log.info({ id: this.id, term: this.term, transferee }, 'leader transfer started');
    if (pr.match === this.raftLog.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
    return STEP_OK;
  }

  private sendTimeoutNow(to: NodeId): void {
    // The transferee's forced campaign ignores leases. Acks count toward our lease again only for
    // heartbeats stamped an election timeout after this, by when (messages being delayed less than
    // an election timeout) every forced vote request has arrived: a follower that granted one has
    // a higher term and no longer acks us.
    this.leaseFloorTick = Math.max(this.leaseFloorTick, this.tickCount + this.cfg.electionTick);
    this.send({ type: 'MsgTimeoutNow', to });
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---- quiet mode (quiesce.ts) ----------------------------------------------------------------

  /**
   * Whether this leader may go quiet: nothing in flight anywhere. Every entry is committed,
   * applied and durable on every member (voters and learners), every member was heard from
   * recently, and no read, conf change or leader transfer is pending. RawNode adds "no Ready
   * outstanding or waiting".
   */
  quiesceCheck(): QuiesceCheck {
    if (this.role !== 'Leader') return { kind: 'notLeader' };
    if (this.quiet) return { kind: 'alreadyQuiet' };
    if (this.leadTransferee !== NONE) return { kind: 'leaderTransferring', transfereeId: this.leadTransferee };
    const reads = this.readOnly.size() + this.pendingReadIndexMessages.length;
    if (reads > 0 || this.readIndexHeartbeatPending) return { kind: 'readsPending', count: reads };
    const log = this.raftLog;
    if (this.pendingConfIndex > log.applied) return { kind: 'confChangePending', pendingConfIndex: this.pendingConfIndex, applied: log.applied };
    const lastIndex = log.lastIndex();
    if (log.committed !== lastIndex) return { kind: 'entriesUncommitted', committed: log.committed, lastIndex };
    if (log.applied !== log.committed) return { kind: 'entriesUnapplied', applied: log.applied, committed: log.committed };
    for (const [id, pr] of this.trk.progress) {
      if (pr.match !== lastIndex) return { kind: 'peerBehind', peerId: id, match: pr.match, lastIndex };
      if (id !== this.id && !pr.recentActive) return { kind: 'peerInactive', peerId: id };
    }
    return QUIESCE_OK;
  }

  /**
   * Goes quiet if quiesceCheck() allows: one last heartbeat to every member, marked quiesce and
   * carrying our last entry (commit = last index, logTerm = last term) so that only a follower
   * whose log ends exactly there goes quiet. We do not learn who did: a follower that refuses
   * answers, and its answer wakes us (the host then tries again later).
   */
  quiesce(): QuiesceCheck {
    const check = this.quiesceCheck();
    if (check.kind !== 'ok') return check;
    const lastTerm = this.raftLog.lastTerm();
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      // commit = min(match, committed) as for any heartbeat; here both equal the last index.
      const commit = Math.min(pr.match, this.raftLog.committed);
      this.send({ type: 'MsgHeartbeat', to: id, commit, logTerm: lastTerm, context: QUIESCE_CONTEXT, index: this.tickCount });
    }
    this.quiet = true;
    this.log.debug({ id: this.id, term: this.term, lastIndex: this.raftLog.lastIndex() }, 'quiesced');
    return check;
  }

  /**
   * A follower goes quiet on a quiesce heartbeat only from the leader it already follows, in its
   * own term, when its log ends exactly at the leader's last entry. Anything else is an ordinary
   * heartbeat (answered, which wakes the leader): a stale or reordered quiesce heartbeat, one
   * from a leader we do not know yet, or one that reaches us while we lack entries.
   */
  private acceptsQuiesce(m: Message): boolean {
    if (this.role !== 'Follower' || m.term !== this.term || this.lead !== m.from) return false;
    const log = this.raftLog;
    if (log.pendingSnapshot() !== undefined) return false;
    return m.commit === log.lastIndex() && m.logTerm === log.lastTerm();
  }

  private enterQuietAsFollower(m: Message): void {
    this.electionElapsed = 0;
    this.heardFromLeader();
    this.raftLog.commitTo(m.commit);
    if (!this.quiet) this.log.debug({ id: this.id, term: this.term, lead: this.lead, lastIndex: m.commit }, 'quiesced as follower');
    this.quiet = true;
    // No answer: an answer would wake the leader.
  }

  /**
   * While quiet, a leader drops acknowledgements that change nothing — answers to heartbeats
   * and appends sent before it went quiet, still in flight — instead of waking for them (else
   * every leader would wake right after quiescing). Only when the follower already holds our
   * last entry; a heartbeat answer echoing the quiesce marker (a refusal, or a follower the host
   * woke) always wakes us.
   */
  private absorbsWhileQuiet(m: Message): boolean {
    if (this.role !== 'Leader' || m.term !== this.term || m.reject) return false;
    if (m.type !== 'MsgHeartbeatResp' && m.type !== 'MsgAppResp') return false;
    if (m.type === 'MsgHeartbeatResp' && isQuiesceContext(m.context)) return false;
    const pr = this.trk.progress.get(m.from);
    const lastIndex = this.raftLog.lastIndex();
    if (pr === undefined || pr.match !== lastIndex) return false;
    return m.type === 'MsgHeartbeatResp' || m.index <= lastIndex;
  }

  /**
   * Leaves quiet mode. A leader heartbeats at once (waking its followers), counts no follower as
   * active until it hears from it again, and serves no lease read until a quorum acks a heartbeat
   * stamped after now: its lease clock stood still while it slept. A follower restarts its
   * election timer with a fresh random timeout and asks its leader to wake, so that a leader
   * that is alive reasserts itself before anyone campaigns.
   */
  wake(cause: WakeCause): void {
    if (!this.quiet) return;
    this.quiet = false;
    this.electionElapsed = 0;
    this.log.debug({ id: this.id, term: this.term, role: this.role, cause }, 'woke');
    if (this.role === 'Leader') {
      this.heartbeatElapsed = 0;
      this.leaseFloorTick = Math.max(this.leaseFloorTick, this.tickCount);
      for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
      this.bcastHeartbeat();
      return;
    }
    this.resetRandomizedElectionTimeout();
    // Whatever woke us (the host, a client, a peer's campaign, a heartbeat delayed from before
    // the sleep), our leader may still be asleep: ask it to wake, so that a live leader reasserts
    // itself at once instead of after our election timeout.
    if (this.lead !== NONE) this.send({ type: 'MsgHeartbeatResp', to: this.lead, context: QUIESCE_CONTEXT });
  }

  // ---- persistence and application callbacks (from RawNode.advance) ---------------------------

  /** The caller made a hard state of `term` durable: a lone voter's win takes effect (campaign). */
  onTermDurable(term: number): void {
    if (this.role !== 'Candidate' || this.winOnDurableTerm !== term || this.term !== term) return;
    this.winOnDurableTerm = 0;
    if (this.trk.tallyVotes() !== 'won') return;
    this.becomeLeader();
    this.bcastAppend(); // its learners
  }

  /** The caller made entries up to (index, term) durable. */
  onPersisted(index: number, term: number): void {
    if (!this.raftLog.stableTo(index, term)) return;
    if (this.role !== 'Leader') return;
    // The leader counts its own copy only once it is durable (Raft thesis §10.2.1).
    const self = this.trk.progress.get(this.id);
    if (self === undefined || !self.maybeUpdate(index)) return;
    if (this.maybeCommit()) this.onCommitAdvanced();
  }

  onSnapshotPersisted(index: number): void {
    this.raftLog.stableSnapTo(index);
    this.raftLog.appliedTo(index);
  }

  /** The caller applied committed entries up to `index`; `payloadBytes` of them leave the uncommitted budget. */
  onApplied(index: number, payloadBytes: number): void {
    this.raftLog.appliedTo(index);
    this.uncommittedSize = Math.max(0, this.uncommittedSize - payloadBytes);
    if (this.role === 'Leader' && this.trk.config.autoLeave && index >= this.pendingConfIndex) {
      // The joint config we entered with autoLeave is applied: propose leaving it.
      const data = encodeConfChange({ transition: 'auto', changes: [], context: EMPTY_BYTES });
      const r = this.appendEntries([{ type: 'ConfChangeV2', term: 0, index: 0, data }], { bypassLimit: true });
      const e = r?.[0];
      if (e !== undefined) {
        this.pendingConfIndex = e.index;
        this.log.info({ id: this.id, index: e.index }, 'proposed leaving the joint config');
        this.bcastAppend();
      }
    }
  }

  /** Applies a committed membership change; returns the resulting membership. */
  applyConfChange(cc: ConfChange): ConfState | { kind: 'refused'; reason: string } {
    // Membership changed: a leader must reach its new members, a follower re-arm its timer.
    this.wake('confChange');
    const r = changeFor(this.trk, this.raftLog.lastIndex(), cc);
    if (r.kind === 'refused') {
      this.log.warn({ id: this.id, reason: r.reason }, 'conf change refused at apply');
      return r;
    }
    this.trk.config = r.config;
    this.trk.progress = r.progress;
    if (this.cfg.verify) this.trk.checkConsistent();
    const self = this.trk.progress.get(this.id);
    this.isLearner = self !== undefined && self.isLearner;
    const cs = confStateOf(this.trk.config);
    this.log.info({ id: this.id, confState: cs }, 'applied conf change');
    if (this.role !== 'Leader') return cs;
    if (self === undefined || self.isLearner) {
      this.beginLeaving();
      return cs;
    }
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.trk.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    if (this.leadTransferee !== NONE && !this.trk.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
    if (this.trk.isSingleton()) this.answerQueuedReadsAlone();
    return cs;
  }

  /**
   * This leader applied its own removal (or demotion). Stepping down at once can leave the group
   * with no leader for ever (etcd-io/etcd#10563): a voter that never learned the change committed
   * still counts the leaver's vote — in {1,2} → {2}, or {3} ← {1} — and the leaver, no voter in
   * its own configuration, never campaigns and refuses that voter if its own log is longer. So the
   * leaver leads on for the voters left: it appends an empty entry, takes no proposals or reads,
   * and steps down once that entry commits (maybeFinishLeaving). Every message carrying the entry
   * carries a commit index at or past the change, so the quorum that holds it knows the change
   * committed, and its logs are at least as long as the leaver's: it elects without the leaver.
   * Check-quorum still deposes a leaver cut off from that quorum (then the hazard remains).
   */
  private beginLeaving(): void {
    this.abortLeaderTransfer();
    // Reads waiting for confirmation are dropped, as on stepping down (their callers retry).
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
    this.readIndexHeartbeatPending = false;
    if (this.trk.voterIds().length === 0) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    const appended = this.appendEntries([{ type: 'Normal', term: 0, index: 0, data: EMPTY_BYTES }], { bypassLimit: true });
    invariant(appended !== undefined && appended.length === 1, 'leaving: nothing appended');
    this.leaveIndex = appended[0]!.index;
    this.log.info({ id: this.id, term: this.term, leaveIndex: this.leaveIndex }, 'removed from the group: leading on until the voters left hold the removal');
    this.bcastAppend();
  }

  /** A leaving leader whose handoff entry committed steps down (after telling everyone the commit). */
  private maybeFinishLeaving(): void {
    if (this.leaveIndex === 0 || this.raftLog.committed < this.leaveIndex) return;
    this.log.info({ id: this.id, term: this.term, leaveIndex: this.leaveIndex }, 'removed from the group: the voters left hold the removal; stepping down');
    this.becomeFollower(this.term, NONE);
  }

  /**
   * The only voter now: reads queued for heartbeat acks would wait for ever — it heartbeats no
   * one — so answer them (no other leader can exist: any other candidate needs our vote).
   * Simulator seed 3134: a joint config {1} ← {1,…,5} left with a read queued.
   */
  private answerQueuedReadsAlone(): void {
    const ctx = this.readOnly.lastPendingContext();
    if (ctx !== undefined) for (const rs of this.readOnly.advance(ctx)) this.respondReadIndex(rs.request, rs.index);
    this.readIndexHeartbeatPending = false;
  }

  /** The storage finished loading entries or generating a snapshot: retry waiting followers. */
  onStorageReady(): void {
    if (this.role !== 'Leader') return;
    if (this.maybeCommit() && !this.onCommitAdvanced()) return;
    for (const [id, pr] of this.trk.progress) {
      if (id === this.id) continue;
      if (pr.state === 'Probe' || pr.match < this.raftLog.lastIndex()) this.maybeSendAppend(id, true);
    }
  }

  /** O(n) self-checks (verify mode). */
  checkInvariants(): void {
    const log = this.raftLog;
    invariant(log.applied <= log.committed, () => `node ${this.id}: applied ${log.applied} > committed ${log.committed}`);
    invariant(log.committed <= log.lastIndex(), () => `node ${this.id}: committed ${log.committed} > last index ${log.lastIndex()}`);
    if (this.quiet) {
      invariant(this.role === 'Leader' || this.role === 'Follower', () => `node ${this.id}: quiet as ${this.role}`);
      invariant(this.role !== 'Leader' || log.committed === log.lastIndex(), () => `node ${this.id}: quiet leader with uncommitted entries (commit ${log.committed}, last ${log.lastIndex()})`);
      invariant(this.role !== 'Follower' || this.lead !== NONE, () => `node ${this.id}: quiet follower without a leader`);
    }
    if (this.role === 'Leader') {
      invariant(this.lead === this.id, () => `node ${this.id}: leader without lead = self`);
      this.trk.checkConsistent();
      for (const [id, pr] of this.trk.progress) invariant(pr.match < pr.next, () => `node ${this.id}: progress ${id} match ${pr.match} ≥ next ${pr.next}`);
    }
  }
}
