// RawNode: the API a caller drives. Inputs (tick, step, propose, …) change the state machine;
// hasReady()/ready() hand out what to persist, send and apply; advance() acknowledges it.
// One Ready is outstanding at a time: ready() → persist → send → apply → advance().
// With `asyncStorageWrites` (README "Writes behind the Readys") the caller may take the next
// Ready while earlier ones are still being written and applied, and acknowledges each part
// apart: advanceAppend() once its writes are durable, advanceApply() once its entries are
// applied, each in the order the Readys were taken.
import { invariant, InvariantError } from '../common/pure.js';
import { type Config, type ConfigInput, makeConfig } from './config.js';
import { encodeConfChange } from './confchange-codec.js';
import { Raft, type CampaignKind } from './raft.js';
import { type QuiesceCheck } from './quiesce.js';
import { type ProposeResult, type StepResult, STEP_OK } from './results.js';
import { confStateOf } from './tracker.js';
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
  type SoftState,
  type StateRole,
  NONE,
  entryPayloadBytes,
  isLocalMessageType,
  isResponseMessageType,
  makeMessage,
} from './types.js';
import { type ProgressState } from './progress.js';

/** The empty lists of a Ready (frozen: shared by every Ready that has nothing there). */
const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
const NO_MESSAGES: readonly Message[] = Object.freeze([]);
const NO_READ_STATES: readonly ReadState[] = Object.freeze([]);

/** Everything the caller must do, in order (see README.md "The caller's loop"). */
export interface Ready {
  /** Set when leader or role changed since the last Ready. Not persisted. */
  readonly softState: SoftState | undefined;
  /** Set when term, vote or commit changed: persist it (atomically with `entries`). */
  readonly hardState: HardState | undefined;
  /** Entries to append to stable storage (replacing any conflicting suffix) before sending `persistedMessages`. */
  readonly entries: readonly Entry[];
  /** A snapshot to install in stable storage (and in the state machine) before anything else. */
  readonly snapshot: Snapshot | undefined;
  /** Committed entries to apply, in order, after `entries` and `snapshot` are persisted. */
  readonly committedEntries: readonly Entry[];
  /** Messages that may be sent at once, even before (or while) this Ready is persisted. */
  readonly messages: readonly Message[];
  /** Messages that vouch for durable state (votes, append acks): send only after persisting. */
  readonly persistedMessages: readonly Message[];
  /** Answers to ReadIndex requests: serve each once `applied ≥ index`. */
  readonly readStates: readonly ReadState[];
  /** Whether the write must be fsynced: entries, term or vote changed (not merely the commit index). */
  readonly mustSync: boolean;
}

/**
 * Whether a Ready has anything to write or to send only once written (async mode: such a Ready
 * goes through the caller's writes, in order, and is acknowledged with advanceAppend()).
 */
export function readyNeedsWrite(rd: Ready): boolean {
  return rd.entries.length > 0 || rd.hardState !== undefined || rd.snapshot !== undefined || rd.persistedMessages.length > 0;
}

export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflightMsgs: number;
}

export interface Status {
  readonly id: NodeId;
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly applied: number;
  readonly lastIndex: number;
  readonly leadTransferee: NodeId;
  /** Quiet mode: the host may stop ticking this group (README "Quiet mode"). */
  readonly isQuiet: boolean;
  readonly confState: ConfState;
  /** Followers' progress; only on a leader. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus> | undefined;
}

export type ApplyConfChangeResult = { readonly kind: 'ok'; readonly confState: ConfState } | { readonly kind: 'refused'; readonly reason: string };

/** Message types a leader sends that need nothing of its own disk (they may overlap its fsync). */
function isSendableBeforePersist(t: MessageType): boolean {
  return t === 'MsgApp' || t === 'MsgSnap' || t === 'MsgHeartbeat' || t === 'MsgTimeoutNow';
}

export class RawNode {
  readonly raft: Raft;
  readonly config: Config;
  private prevSoftState: SoftState;
  /** The hard state last handed out (what the caller's writes end with). */
  private prevHardState: HardState;
  /** The Ready the caller must advance() before the next one (sync mode; a snapshot's in async mode). */
  private outstanding: Ready | undefined = undefined;
  /** Async mode: Readys handed out whose writes (readyNeedsWrite) are not acknowledged yet. */
  private writesInFlight = 0;
  /** Async mode: Readys handed out whose committed entries are not acknowledged applied yet. */
  private appliesInFlight = 0;

  constructor(input: ConfigInput) {
    this.config = makeConfig(input);
    this.raft = new Raft(this.config);
    this.prevSoftState = this.softState();
    this.prevHardState = this.raft.hardState();
  }

  // ---- inputs --------------------------------------------------------------------------------

  /** Advances logical time by one tick. Allocates nothing on an idle follower; does nothing while quiet. */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Whether this leader may go quiet now (see quiesce()): `ok`, or the first blocker found.
   * Cheap when blocked early; O(members) otherwise.
   */
  quiesceCheck(): QuiesceCheck {
    if (this.outstanding !== undefined || this.writesInFlight > 0 || this.appliesInFlight > 0 || this.hasReady()) return { kind: 'readyPending' };
    return this.raft.quiesceCheck();
  }

  /**
   * Puts this leader's group to sleep if quiesceCheck() allows: the next Ready carries one quiesce
   * heartbeat per member, and from then tick() does nothing until the group wakes. Returns the
   * check's result (`ok`: now quiet). Followers go quiet only if their log matches (they do not
   * tell us), so a leader never assumes its followers sleep. Contract: while a group is quiet
   * nobody in it starts an election — the host must wake() a quiet follower when it suspects its
   * leader is gone (the leader's store down or unreachable).
   */
  quiesce(): QuiesceCheck {
    const check = this.quiesceCheck();
    if (check.kind !== 'ok') return check;
    return this.raft.quiesce();
  }

  /**
   * Wakes a quiet node (no-op when awake): a leader heartbeats at once; a follower re-arms its
   * election timer and asks its leader to wake. Every other input (a message other than a quiesce
   * heartbeat the node accepts or an acknowledgement that changes nothing, a proposal, a read,
   * a transfer, a campaign, applying a conf change) wakes the node by itself.
   */
  wake(): void {
    this.raft.wake('host');
  }

  /** Whether the group is quiet here: tick() does nothing and the host may skip ticking it. */
  get isQuiet(): boolean {
    return this.raft.quiet;
  }

  /** Starts an election now (pre-vote first if configured). */
  campaign(): void {
    this.raft.hup(this.config.preVote ? 'pre-election' : 'election');
  }

  /** Campaign of the given kind: tests, and a host starting a new region that never had a leader (a split: store/raft-store.ts). */
  campaignAs(kind: CampaignKind): void {
    this.raft.hup(kind);
  }

  /**
   * The host learnt from outside this group that everything up to `index` is committed — the
   * source of a region merge, whose group may have no leader left to say so (store/merge.ts): the
   * target group committed the merge, which names the source's PrepareMerge entry. Taken only
   * when this log holds `index` at `term`: by log matching every entry up to it is then the
   * committed one. Returns whether the commit index is at least `index` now.
   */
  commitTo(index: number, term: number): boolean {
    const log = this.raft.raftLog;
    if (index <= log.committed) return true;
    if (index > log.lastIndex() || log.term(index) !== term) return false;
    log.commitTo(index);
    return true;
  }

  /** Proposes `data` as one Normal entry. */
  propose(data: Uint8Array): ProposeResult {
    return this.stepLocal(makeMessage({ type: 'MsgProp', to: NONE, from: this.raft.id, entries: [{ type: 'Normal', term: 0, index: 0, data }] }));
  }

  /** Proposes several entries in one batch (one MsgProp, one append). */
  proposeBatch(datas: readonly Uint8Array[]): ProposeResult {
    invariant(datas.length > 0, 'proposeBatch: empty batch');
    const entries: Entry[] = datas.map((data) => ({ type: 'Normal', term: 0, index: 0, data }));
    return this.stepLocal(makeMessage({ type: 'MsgProp', to: NONE, from: this.raft.id, entries }));
  }

  /** Proposes a membership change (applied via applyConfChange() once committed). */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const data = encodeConfChange(cc);
    return this.stepLocal(makeMessage({ type: 'MsgProp', to: NONE, from: this.raft.id, entries: [{ type: 'ConfChangeV2', term: 0, index: 0, data }] }));
  }

  /**
   * Requests a linearizable read. The answer comes as a ReadState in a later Ready carrying
   * `context` (which must be unique among pending reads).
   */
  readIndex(context: Uint8Array): StepResult {
    return this.stepLocal(makeMessage({ type: 'MsgReadIndex', to: NONE, from: this.raft.id, entries: [], context }));
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: NodeId): StepResult {
    return this.stepLocal(makeMessage({ type: 'MsgTransferLeader', to: this.raft.id, from: transferee }));
  }

  /** Steps a message received from the network. Local message types are refused. */
  step(m: Message): StepResult {
    if (isLocalMessageType(m.type)) return { kind: 'invalid-message', reason: `${m.type} is local and cannot come from the network` };
    if (m.to !== this.raft.id) return { kind: 'invalid-message', reason: `message for ${m.to} delivered to ${this.raft.id}` };
    const forwarded = m.type === 'MsgProp' || m.type === 'MsgReadIndex' || m.type === 'MsgTransferLeader';
    if (!forwarded && !(Number.isSafeInteger(m.term) && m.term > 0)) return { kind: 'invalid-message', reason: `${m.type} from ${m.from} has term ${m.term}` };
    if (isResponseMessageType(m.type) && !this.raft.trk.progress.has(m.from) && m.type !== 'MsgReadIndexResp') {
      return STEP_OK; // a response from a peer no longer in the group
    }
    return this.stepLocal(m);
  }

  private stepLocal(m: Message): StepResult {
    const termBefore = this.raft.term;
    const commitBefore = this.raft.raftLog.committed;
    const r = this.raft.step(m);
    // Checked inline, not through invariant(): a lazy message is a closure allocated per step.
    if (this.raft.term < termBefore) throw new InvariantError(`node ${this.raft.id}: term decreased ${termBefore} -> ${this.raft.term}`);
    if (this.raft.raftLog.committed < commitBefore) throw new InvariantError(`node ${this.raft.id}: commit moved back ${commitBefore} -> ${this.raft.raftLog.committed}`);
    if (this.config.verify) this.raft.checkInvariants();
    return r;
  }

  /** The transport could not reach `id`: the leader stops pipelining to it. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(makeMessage({ type: 'MsgUnreachable', to: this.raft.id, from: id }));
  }

  /** Outcome of sending a snapshot to `id` (after a MsgSnap). */
  reportSnapshot(id: NodeId, outcome: 'finish' | 'failure'): void {
    this.raft.step(makeMessage({ type: 'MsgSnapStatus', to: this.raft.id, from: id, reject: outcome === 'failure' }));
  }

  /** The storage loaded what it answered 'unavailable' for (entries, terms or a snapshot). */
  onStorageReady(): void {
    this.raft.onStorageReady();
  }

  /**
   * Applies a committed ConfChange/ConfChangeV2 entry's change. Call it while applying that
   * entry; returns the membership to save with the applied state.
   */
  applyConfChange(cc: ConfChange): ApplyConfChangeResult {
    const r = this.raft.applyConfChange(cc);
    if ('kind' in r) return r;
    return { kind: 'ok', confState: r };
  }

  // ---- output --------------------------------------------------------------------------------

  private softState(): SoftState {
    return { leaderId: this.raft.lead, role: this.raft.role };
  }

  /** Cheap: no allocation; false while a Ready is outstanding. */
  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const r = this.raft;
    // A snapshot is handed out alone, once every earlier Ready is written and applied (async).
    if (r.raftLog.pendingSnapshot() !== undefined) return this.writesInFlight === 0 && this.appliesInFlight === 0;
    if (r.lead !== this.prevSoftState.leaderId || r.role !== this.prevSoftState.role) return true;
    if (r.term !== this.prevHardState.term || r.vote !== this.prevHardState.vote || r.raftLog.committed !== this.prevHardState.commit) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0 || r.readIndexHeartbeatPending) return true;
    if (r.raftLog.entriesToPersist().length > 0) return true;
    return r.raftLog.hasNextCommittedEntries(this.config.asyncStorageWrites) && this.committedEntriesAvailable();
  }

  private committedEntriesAvailable(): boolean {
    const log = this.raft.raftLog;
    const t = log.term(log.applying + 1);
    return typeof t === 'number';
  }

  /**
   * Takes what is ready. Synchronous mode: advance(ready) before the next ready(). Async mode
   * (asyncStorageWrites): the next ready() may come at once; acknowledge each Ready with
   * advanceAppend() and advanceApply(), in order (a snapshot's with advance(), before anything else).
   */
  ready(): Ready {
    if (this.outstanding !== undefined) throw new InvariantError('ready() called again before advance()');
    const isAsync = this.config.asyncStorageWrites;
    if (!isAsync && (this.writesInFlight > 0 || this.appliesInFlight > 0)) throw new InvariantError('ready() before the last Ready was advanced');
    const r = this.raft;
    r.flushReadIndexHeartbeat();
    // A Ready is taken per busy region per round: what did not change is not allocated (soft and
    // hard state are built only when they changed, empty lists are one shared frozen array).
    const prevSoft = this.prevSoftState;
    const prevHard = this.prevHardState;
    const softChanged = r.lead !== prevSoft.leaderId || r.role !== prevSoft.role;
    const hardChanged = r.term !== prevHard.term || r.vote !== prevHard.vote || r.raftLog.committed !== prevHard.commit;
    const ss = softChanged ? this.softState() : undefined;
    const hs = hardChanged ? r.hardState() : undefined;
    const log = r.raftLog;
    // Async: a snapshot only once nothing handed out before is in flight (hasReady waits for it).
    const snapshot = this.writesInFlight > 0 || this.appliesInFlight > 0 ? undefined : log.pendingSnapshot();
    const toPersist = log.entriesToPersist();
    const entries = toPersist.length === 0 ? NO_ENTRIES : toPersist.slice();
    log.acceptEntriesInProgress();
    const committed = log.nextCommittedEntries(this.config.maxCommittedSizePerReady, isAsync);
    const committedEntries = typeof committed === 'string' || committed.length === 0 ? NO_ENTRIES : committed;
    if (committedEntries.length > 0) log.applyingTo(committedEntries[committedEntries.length - 1]!.index);
    const mustSync = entries.length > 0 || snapshot !== undefined || r.term !== prevHard.term || r.vote !== prevHard.vote;
    let messages: readonly Message[] = NO_MESSAGES;
    let persistedMessages: readonly Message[] = NO_MESSAGES;
    const msgs = r.msgs;
    if (msgs.length > 0) {
      r.msgs = [];
      // An acknowledgement may vouch for entries an earlier Ready is still writing: while any
      // write is in flight it waits for this Ready's (written after it) like a vouching one.
      // A leader's appends go out before its own write: its term is durable by then (its voters
      // answered after it was written; a lone voter leads only once it is: onTermDurable).
      if (!mustSync && this.writesInFlight === 0) messages = msgs;
      else {
        const now: Message[] = [];
        const later: Message[] = [];
        for (const m of msgs) {
          if (isSendableBeforePersist(m.type)) now.push(m);
          else later.push(m);
        }
        if (now.length > 0) messages = now;
        if (later.length > 0) persistedMessages = later;
      }
    }
    let readStates: readonly ReadState[] = NO_READ_STATES;
    if (r.readStates.length > 0) {
      readStates = r.readStates;
      r.readStates = [];
    }
    const rd: Ready = {
      softState: ss,
      hardState: hs,
      entries,
      snapshot,
      committedEntries,
      messages,
      persistedMessages,
      readStates,
      mustSync,
    };
    if (ss !== undefined) this.prevSoftState = ss;
    if (hs !== undefined) this.prevHardState = hs;
    if (!isAsync || snapshot !== undefined) this.outstanding = rd;
    if (readyNeedsWrite(rd)) this.writesInFlight++;
    if (committedEntries.length > 0) this.appliesInFlight++;
    return rd;
  }

  /**
   * Acknowledges `rd`: its hard state, entries and snapshot are durable and its committed
   * entries applied (the caller applied conf changes through applyConfChange meanwhile).
   */
  advance(rd: Ready): void {
    if (this.config.asyncStorageWrites && rd.snapshot === undefined) {
      this.advanceAppend(rd);
      this.advanceApply(rd);
      return;
    }
    if (this.outstanding !== rd) throw new InvariantError('advance() must be given the Ready last returned by ready()');
    this.outstanding = undefined;
    this.acknowledgeWrite(rd);
    this.acknowledgeApply(rd);
  }

  /**
   * Async mode: `rd`'s writes are durable (call it for every Ready, in the order they were taken;
   * one with nothing to write may be acknowledged at once). The leader counts its own copy of
   * the entries from now on.
   */
  advanceAppend(rd: Ready): void {
    if (!this.config.asyncStorageWrites || rd.snapshot !== undefined) throw new InvariantError('advanceAppend() is for Readys taken in async mode without a snapshot (advance() those)');
    this.acknowledgeWrite(rd);
  }

  /** Async mode: `rd`'s committed entries are applied (every Ready, in the order they were taken). */
  advanceApply(rd: Ready): void {
    if (!this.config.asyncStorageWrites || rd.snapshot !== undefined) throw new InvariantError('advanceApply() is for Readys taken in async mode without a snapshot (advance() those)');
    this.acknowledgeApply(rd);
  }

  private acknowledgeWrite(rd: Ready): void {
    if (!readyNeedsWrite(rd)) return;
    if (this.writesInFlight === 0) throw new InvariantError('a Ready\'s writes acknowledged twice');
    this.writesInFlight--;
    const r = this.raft;
    if (rd.hardState !== undefined) r.onTermDurable(rd.hardState.term);
    if (rd.snapshot !== undefined) r.onSnapshotPersisted(rd.snapshot.metadata.index);
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) r.onPersisted(lastEntry.index, lastEntry.term);
    if (this.config.verify) r.checkInvariants();
  }

  private acknowledgeApply(rd: Ready): void {
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied === undefined) return;
    if (this.appliesInFlight === 0) throw new InvariantError('a Ready\'s committed entries acknowledged twice');
    this.appliesInFlight--;
    let bytes = 0;
    for (const e of rd.committedEntries) bytes += entryPayloadBytes(e);
    this.raft.onApplied(lastApplied.index, bytes);
    if (this.config.verify) this.raft.checkInvariants();
  }

  status(): Status {
    const r = this.raft;
    let progress: Map<NodeId, ProgressStatus> | undefined;
    if (r.role === 'Leader') {
      progress = new Map();
      for (const [id, pr] of r.trk.progress) {
        progress.set(id, { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive, inflightMsgs: pr.inflights.count });
      }
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: this.softState(),
      applied: r.raftLog.applied,
      lastIndex: r.raftLog.lastIndex(),
      leadTransferee: r.leadTransferee,
      isQuiet: r.quiet,
      confState: confStateOf(r.trk.config),
      progress,
    };
  }

  get role(): StateRole {
    return this.raft.role;
  }

  get leaderId(): NodeId {
    return this.raft.lead;
  }

  /**
   * Ticks since a follower last heard its leader (or reset its timer to campaign); a learner,
   * which never campaigns, counts on while its leader stays silent. On a leader: ticks into its
   * current check-quorum window. Not advanced while quiet (no ticks).
   */
  get electionElapsed(): number {
    return this.raft.electionElapsed;
  }

  get term(): number {
    return this.raft.term;
  }

  /** Whether a lease read would be answered at once now (lease-based mode). */
  isLeaseValid(): boolean {
    return this.raft.leaseValid();
  }
}

