// One region's replica on this store: its raft node and log, the region's metadata as applied,
// the proposals and reads waiting on it, and the apply step. Peers do no I/O of their own: the
// poll loop (poll-loop.ts) persists their Readys in one batch, sends their messages, and calls
// applyCommitted() / finishRound() here.
//
// Leadership is "ready" only once the leader has applied an entry of its own term: only then does
// its applied state include everything earlier leaders committed, so only then may it serve
// reads or run write commands whose reads must see every acknowledged write.
//
// Raft log GC: every few ticks a ready leader asks raft-log-gc.ts whether to compact, and proposes
// CompactLog (one in flight per term). Every replica applies it the same way: the truncated index
// and term go into the apply state and the entries up to it are deleted, both in the apply write
// batch (so a crash keeps both or neither), and the in-memory log drops them at once.
//
// Key count (approximateKeys, reported to PD): the region's records in the one-per-user-key CFs,
// raw and latest. Applying a batch collects its puts and deletes there; the poll loop looks up, in
// one multiGet for every region of the batch, which of those keys existed before it; then a put
// of a new key adds one, a delete of a present key takes one away, and the count goes into the
// apply state in the same batch. Every replica applies the same operations to the same state, so
// every replica keeps the same count, and a crash keeps it in step with the applied index.
// A split or merge changes the range: the count of each piece is then unknown (the proposer's key
// walk is older than the apply). Each replica recounts the piece over a view pinned right after
// the batch that changed the range (raft-store.ts), while applies go on moving the working count;
// when the walk ends, the count is the walk plus what was applied since the pin. Until then the
// apply state says "unknown" (a restart counts at load) and the working count is an estimate.
// All of this only with the store's --region-key-count; without it (the default) nothing is
// counted at apply, and a leader now and then takes the count a background walk found
// (takeSampledKeyCount, key-recount.ts "Sampling").

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  applyStateKey, FlotillaError, invariant, type PeerMeta, raftLogKey, REGION_PEERS_MAX, type RegionMeta, regionStateKey, type Rng, type WriteOp,
} from '../common/index.js';
import {
  type ConfState, decodeConfChange, type Entry, RawNode, type ReadState, type StateRole,
} from '../raft/index.js';
import { allocEntryData, ProposalWaiters, raftLogger, refusalError, type Refused } from '../raft-host/index.js';
import { changePeerOf, type ChangePeerKind, confChangeOf, decideChangePeer } from './conf-change.js';
import { encodeApplyState, encodeRegionState, type MergeState } from './local-state.js';
import { type PeerStorage } from './peer-storage.js';
import { hasTtl } from './raw-value.js';
import { type DecodedCommand, decodeCommand, encodeCompactLogCommand } from './raft-cmd.js';
import { mergedRegion, mergeRefusal } from './merge.js';
import { readIdOf, ReplicaReadBatch, type ReplicaReadScope } from './replica-read.js';
import { prepareMergeTargetsIn } from './peer-lifecycle.js';
import { type DownPeer, PeerLiveness } from './peer-liveness.js';
import { type BatchSplitCommand, decideBatchSplit, opOutsideRegion, type RegionDataBounds, regionDataBounds } from './split.js';
import { decideRaftLogGc, type FollowerProgress, type LaggingFollowerPolicy, type RaftLogGcOptions } from './raft-log-gc.js';
import { encodeWriteBatch, WRITE_BATCH_OVERHEAD_MAX, writeOpsBytes } from './write-batch-cmd.js';

/** A proposal waits at most this long for its entry to apply; then its outcome is unknown. */
export const PROPOSAL_TIMEOUT_MS = 10_000;
/** A ReadIndex request waits at most this long for the leader's confirmation. */
export const READ_INDEX_TIMEOUT_MS = 5_000;
/** Election timeouts a follower's known leader may stay silent before the replica counts as hearing no leader. */
export const LEADER_SILENT_ELECTIONS = 2;

export type ApplyResult = { readonly kind: 'ok' } | { readonly kind: 'error'; readonly error: FlotillaError };
const APPLIED_OK: ApplyResult = Object.freeze({ kind: 'ok' });

export interface PeerRaftOptions {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  /**
   * A ready leader with no proposal or read for this many ticks puts its group to sleep (raft's
   * quiet mode: no ticks, no heartbeats) when raft allows; 0 or absent: never.
   */
  readonly quietAfterTicks?: number;
  /** A proposal not applied within this is answered DeadlineExceeded (outcome unknown); default PROPOSAL_TIMEOUT_MS. */
  readonly proposalTimeoutMs?: number;
}

/** What raft log GC reports (RaftStore counts it; the sim checks it happened). */
export interface RaftLogGcObserver {
  /** This leader proposed CompactLog up to an index. */
  onProposed(): void;
  /** A CompactLog applied here deleted `entries` entries. */
  onCompacted(entries: number): void;
  /** A check found the log past its hard limit, held back by a lagging follower. */
  onHardLimitHeldBack(): void;
}

export interface PeerInit {
  readonly storeId: number;
  readonly region: RegionMeta;
  readonly storage: PeerStorage;
  readonly applied: number;
  /** Keys in the region's raw and latest CFs as of `applied` (see the file comment). */
  readonly approximateKeys: number;
  /** approximateKeys is an estimate (a split's new region): a recount is to start (beginKeyRecount). */
  readonly isKeyCountUnknown?: boolean;
  readonly raft: PeerRaftOptions;
  readonly raftLogGc: RaftLogGcOptions;
  /** 'compactPast' once the store can send region snapshots; default 'holdBack' (raft-log-gc.ts). */
  readonly laggingFollowerPolicy?: LaggingFollowerPolicy;
  /** Keep the exact key count at apply (one presence lookup per applied raw/latest write). */
  readonly countKeys: boolean;
  readonly onRaftLogGc?: RaftLogGcObserver;
  readonly rng: Rng;
  readonly logger: Logger;
  /** The peer has work (a Ready, or reads to serve): the poll loop picks it up. */
  readonly markDirty: (peer: Peer) => void;
  /** Proposals settled with an outcome (write commands count one each, also when they share an entry). */
  readonly onProposalOutcome?: (outcome: 'applied' | 'stale' | 'timeout' | 'failed', proposals: number) => void;
  readonly onBecameLeader?: () => void;
  /** This replica applied its own removal (the batch with it is written): destroy it, leave a tombstone. */
  readonly onRemoved?: (peer: Peer, region: RegionMeta) => void;
  /**
   * This replica applied a split (split.ts): `ops` is the apply batch, where the store adds the
   * new regions' initial states; the callback it returns runs once that batch is written (it
   * creates their peers).
   */
  readonly onSplit?: (peer: Peer, split: AppliedSplit, ops: WriteOp[]) => () => void;
  /** Leadership became ready (the leader applied an entry of its term): tell PD at once. */
  readonly onLeaderReady?: (peer: Peer) => void;
  /** Tests: false sends every read through ReadIndex (default true: lease reads when valid). */
  readonly isLeaseReadEnabled?: boolean;
  /** The merge this replica is the source of, as its region state recorded it (store/merge.ts). */
  readonly merge?: MergeState;
  /** This replica applied PrepareMerge (the batch with it is written): drive the merge on. */
  readonly onPrepareMergeApplied?: (peer: Peer) => void;
  /** A merging source replica applied entries (the batch is written): a target may wait on it. */
  readonly onMergingApplied?: (peer: Peer) => void;
  /**
   * This (target) replica applies CommitMerge (store/merge.ts): the store checks its replica of
   * the source, and either adds the source's retirement to `ops` (and a callback for once the
   * batch is written), refuses, or says to wait until that replica has applied its PrepareMerge.
   */
  readonly onCommitMerge?: (peer: Peer, cmd: CommitMergeApply, ops: WriteOp[]) => CommitMergeDecision;
}

/** A CommitMerge as the target applies it. */
export interface CommitMergeApply {
  readonly source: RegionMeta;
  readonly commit: number;
  readonly commitTerm: number;
}

export type CommitMergeDecision =
  | {
    readonly kind: 'ok'; readonly sourceKeys: number; readonly isSourceKeyCountExact: boolean;
    /** The source's raw/latest writes applied in this same batch, not yet in sourceKeys (Peer.takeUnsettledKeyOps). */
    readonly unsettledKeyOps: readonly WriteOp[];
    readonly after: () => void;
  }
  | { readonly kind: 'wait' }
  | { readonly kind: 'error'; readonly error: FlotillaError };

/** applyEntry's answer when the entry cannot apply yet (a CommitMerge waiting for its source). */
const APPLY_WAIT = Symbol('apply-wait');

/** What a split applied here produced. */
export interface AppliedSplit {
  /** This region with its new range and epoch. */
  readonly derived: RegionMeta;
  /** The new regions in key order, and the key counts they start from. */
  readonly created: readonly RegionMeta[];
  readonly createdKeys: readonly number[];
  /** Whether this replica led the region when it applied the split (its new peers campaign at once). */
  readonly wasLeader: boolean;
}

/** Bytes of write commands joined into one entry, at most (a larger command goes alone). */
export const WRITE_BATCH_ENTRY_BYTES = 1024 * 1024;

type QueuedProposal =
  | {
    readonly kind: 'write'; readonly ops: readonly WriteOp[]; readonly bytes: number; readonly epoch: RegionMeta['epoch'];
    readonly resolve: (r: ApplyResult) => void; readonly reject: (e: unknown) => void;
    /** Called once the entry is committed, if its apply is then certain to succeed (onCommittedHanded); else never. */
    readonly onCommitted: (() => void) | undefined;
  }
  | { readonly kind: 'data'; readonly data: Uint8Array; readonly resolve: (r: ApplyResult) => void; readonly reject: (e: unknown) => void };

/** One entry of a round's proposal batch and the proposals it answers. */
interface EntryGroup {
  readonly data: Uint8Array;
  readonly members: readonly QueuedProposal[];
  /** A write batch: the command its data encodes, as the leader proposed it. */
  readonly cmd?: OwnWriteCommand;
}

type OwnWriteCommand = DecodedCommand & { readonly kind: 'write' };

/** A write batch this leader proposed, by index (ownEntries). */
interface OwnEntry {
  readonly data: Uint8Array;
  readonly cmd: OwnWriteCommand;
  /** Its proposals' onCommitted callbacks not yet called (null: none). */
  onCommitted: (() => void)[] | null;
}

interface PendingRead {
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
  readonly timer: NodeJS.Timeout;
  /** Set once the leader confirmed the read: served when applied ≥ index. */
  index: number;
}

/** The onCommitted callbacks of an entry's proposals; null when none asked for one. */
function committedCallbacksOf(members: readonly QueuedProposal[]): (() => void)[] | null {
  let out: (() => void)[] | null = null;
  for (const p of members) if (p.kind === 'write' && p.onCommitted !== undefined) (out ??= []).push(p.onCommitted);
  return out;
}

export function confStateOf(region: RegionMeta): ConfState {
  return {
    voters: region.peers.filter((p) => p.role === 'voter').map((p) => p.id),
    learners: region.peers.filter((p) => p.role === 'learner').map((p) => p.id),
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
}

export class Peer {
  readonly regionId: number;
  readonly peerId: number;
  readonly raw: RawNode;
  readonly log: Logger;
  region: RegionMeta;
  /** The last index applied: its writes are in the apply batch being built or written. */
  applied: number;
  /** The last index whose apply batch is written (reads wait for this one). */
  private appliedWritten: number;
  /** whenApplyEnds callbacks: each waits for `appliedWritten` to reach its index while this peer leads. */
  private applyEndWaiters: { readonly index: number; readonly then: () => void }[] = [];
  /**
   * Keys in the region's raw and latest CFs as of `applied` (see the file comment): exact unless
   * a recount is pending, then an estimate that applies move like the exact one (it may dip below 0).
   */
  private keyCount: number;
  /** dataBounds()'s cache and the region it was built for. */
  private cachedDataBounds: RegionDataBounds | null = null;
  private dataBoundsOf: RegionMeta | null = null;
  /** A split or merge changed the range and the recount has not ended: the count is an estimate. */
  private isKeyCountUnknown = false;
  /** The recount in flight (beginKeyRecount): its number and the working count when its view was pinned. */
  private keyRecount = { gen: 0, base: 0 };
  private role: StateRole = 'Follower';
  /** The leader as of the last soft state (onRoleChange). */
  private knownLeaderId = 0;
  private leaderReady = false;
  /** An entry of this term is being applied; leadership is ready once its batch is written. */
  private isReadyPending = false;
  readonly waiters: ProposalWaiters<ApplyResult>;
  private readonly reads = new Map<string, PendingRead>();
  private readonly confirmedReads: PendingRead[] = [];
  /**
   * ReadIndex request ids: a random prefix per incarnation of this peer, then a counter. A replica's
   * answer comes over the network and may arrive late, after a restart: a counter alone would hand
   * the new incarnation's read an index confirmed before that read began.
   */
  private readonly readIdPrefix = randomBytes(4).readUInt32BE(0);
  private nextReadId = 0;
  /** Reads waiting for the next round's shared ReadIndex request. */
  private readGroup: { readonly resolve: () => void; readonly reject: (e: unknown) => void }[] | null = null;
  /** Replica reads (this peer does not lead) waiting for the next round's ReadIndex request to the leader. */
  private replicaGroup: { readonly waiters: { readonly resolve: () => void; readonly reject: (e: unknown) => void }[]; readonly batch: ReplicaReadBatch } | null = null;
  private destroyed = false;
  /** Traffic since the last region heartbeat (reset by takeTraffic). */
  private traffic = { bytesWritten: 0, keysWritten: 0, bytesRead: 0, keysRead: 0 };
  /** Proposals waiting for the next round: write commands are joined into write-batch entries. */
  private queued: QueuedProposal[] = [];
  /** Ticks since the last raft log GC check. */
  private gcTicks = 0;
  /**
   * The write batches this leader proposed and has not applied, by index: at apply, an entry whose
   * data is the very buffer proposed takes its command from here (applyEntry). Each goes when its
   * index applies, whatever entry ends up there.
   */
  private readonly ownEntries = new Map<number, OwnEntry>();
  /**
   * The highest index handed to the applier whose entry is not known to be a plain write batch
   * (an admin command, a membership change, another leader's entry): until it has applied, no
   * later entry's apply outcome is known at commit (onCommittedHanded).
   */
  private lastNonPlainHanded = 0;
  /** The term in which this leader's CompactLog proposal is in flight; 0: none. */
  private compactLogTerm = 0;
  /** The hard-limit warning was logged for the current episode (reset once the log is compacted). */
  private isGcHeldBackWarned = false;
  /** Puts and deletes of raw/latest keys applied since the last finishApply(), in order. */
  private countedOps: WriteOp[] = [];
  /** countedOps' keys as strings (map keys), and the distinct ones to look up. */
  private countedKeys: string[] = [];
  /** Entries were applied since the last finishApply(): the apply state is to be written. */
  private isApplyStatePending = false;
  /** This replica applied a conf change that removed it (it is destroyed after the batch). */
  isRemoved = false;
  /**
   * This replica applied its own removal while leading (raft.ts beginLeaving): it leads on, taking
   * no requests, until raft steps it down — once the voters left hold the removal — and only then
   * is destroyed; destroyed at once, it would leave a survivor of {1,2} → {2} that never learned
   * the removal committed needing its vote for ever. The region to tombstone; null otherwise.
   */
  private leavingRegion: RegionMeta | null = null;
  /**
   * When a raft message was last stepped into this peer (ms since the epoch; its creation
   * before the first): an uninitialized replica silent for long is asked about (server.ts).
   */
  lastMessageMs = Date.now();
  /** When this peer, as leader, last heard each member: the down peers of its region heartbeats. */
  readonly liveness = new PeerLiveness();
  /** Work to run once the apply batch being built is written (a split's new peers). */
  private afterApplyWritten: (() => void)[] = [];
  /**
   * What the leader's TTL sweep (ttl-sweep.ts) knows of this replica: whether the region may hold
   * raw keys with a TTL — true until a whole sweep pass finds none, set again by every TTL put
   * applied and by a snapshot install (unknown data).
   */
  readonly ttlSweepTarget: { readonly regionId: number; readonly isQuiet: boolean; mayHoldTtlKeys: boolean; ttlPutsApplied: number };
  /** The merge this replica is the source of (state 'merging': it refuses reads and writes); null: none. */
  mergeState: MergeState | null;
  /** Committed entries handed out by raft and not applied yet: a CommitMerge waits for its source. */
  private held: Entry[] = [];
  /** Ticks since the last proposal or read here (quiet mode: see tick()). */
  private idleTicks = 0;
  /** Where the apply state goes (written with every apply batch; never mutated, so shared by them). */
  private readonly applyStateKeyBytes: Buffer;

  constructor(readonly storage: PeerStorage, private readonly init: PeerInit) {
    this.region = init.region;
    this.regionId = init.region.id;
    this.applyStateKeyBytes = applyStateKey(init.region.id);
    const me = init.region.peers.find((p) => p.storeId === init.storeId);
    if (me === undefined) throw new FlotillaError('Internal', `region ${init.region.id} has no peer on store ${init.storeId}`);
    this.peerId = me.id;
    this.log = init.logger.child({ regionId: this.regionId, peerId: this.peerId });
    this.applied = init.applied;
    this.appliedWritten = init.applied;
    this.keyCount = init.approximateKeys;
    this.isKeyCountUnknown = init.isKeyCountUnknown ?? false;
    this.mergeState = init.merge ?? null;
    const raw = (): RawNode => this.raw;
    this.ttlSweepTarget = { regionId: this.regionId, get isQuiet() { return raw().isQuiet; }, mayHoldTtlKeys: true, ttlPutsApplied: 0 };
    this.raw = new RawNode({
      id: this.peerId,
      storage,
      applied: init.applied,
      electionTick: init.raft.electionTicks,
      heartbeatTick: init.raft.heartbeatTicks,
      checkQuorum: true,
      preVote: true,
      // A proposal on a node that has just stepped down (the peer has not seen the role change
      // yet) is refused, not forwarded: forwarded, it could apply at the new leader while this
      // peer answered NotLeader — a write reported as not applied that applied (split sim seed 1148).
      disableProposalForwarding: true,
      // Followers learn a commit with the next append or heartbeat: a lightly loaded region sends
      // half the messages per write (thousands of regions; raft/config.ts).
      skipBcastCommit: true,
      // A follower that got an append since the last heartbeat round gets no heartbeat: under a
      // write load most heartbeats go (raft/config.ts; the lease rests on append acks). Turning
      // it on found two store bugs and a sim flaw (seed 104: a snapshot kept a rolled-back merge;
      // seed 108: the sims' PD view, then a removed replica whose region merged away never
      // collected — all fixed, stop 28–29).
      skipHeartbeatsWhileAppending: true,
      readOnlyOption: 'lease-based',
      // The poll loop writes behind the Readys (poll-loop.ts): acks are stepped and entries
      // applied while a log write is in flight.
      asyncStorageWrites: true,
      rng: init.rng,
      logger: raftLogger(this.log),
    });
    this.waiters = new ProposalWaiters<ApplyResult>({
      what: `region ${this.regionId}`,
      timeoutMs: init.raft.proposalTimeoutMs ?? PROPOSAL_TIMEOUT_MS,
      ...(init.onProposalOutcome === undefined ? {} : { onOutcome: init.onProposalOutcome }),
    });
  }

  get isLeader(): boolean {
    return this.role === 'Leader';
  }

  /** Leader that has applied an entry of its term (see the file comment). */
  get isLeaderReady(): boolean {
    return this.role === 'Leader' && this.leaderReady;
  }

  get leaderId(): number {
    return this.raw.leaderId;
  }

  /**
   * A replica that hears no leader (the stale check asks PD about it, server.ts): none known, or
   * the one it knows silent for LEADER_SILENT_ELECTIONS election timeouts while this group is
   * awake. A learner never campaigns, so it keeps the last leader it heard for ever — a learner
   * removed while cut off, whose region then merged away, would otherwise never be asked about
   * (merge sim seed 13241: it held its range, and no snapshot of the merged region could land).
   */
  get hearsNoLeader(): boolean {
    if (this.isLeader) return false;
    return this.raw.leaderId === 0 || this.raw.electionElapsed >= LEADER_SILENT_ELECTIONS * this.init.raft.electionTicks;
  }

  get term(): number {
    return this.raw.term;
  }

  peerById(id: number): PeerMeta | undefined {
    return this.region.peers.find((p) => p.id === id);
  }

  /**
   * This replica as its messages name it: as its region lists it, or — a leader that applied its
   * own removal and leads on (leavingRegion) — as the region no longer does.
   */
  get selfMeta(): PeerMeta {
    return this.peerById(this.peerId) ?? { id: this.peerId, storeId: this.init.storeId, role: 'voter' };
  }

  /**
   * An uninitialized peer (no data yet: its region is the placeholder raft-store.ts made from the
   * first message, [itself, that sender]) learns who else talks to it, so that it can answer
   * them: a leader elected after it was created must reach it to fill it with a snapshot. A
   * sender on a store already listed replaces that entry (a peer re-added there has a new id).
   * Initialized peers know their members from their region and ignore this.
   */
  learnSender(sender: PeerMeta): void {
    if (this.storage.lastIndex() > 0 || sender.id === this.peerId || this.peerById(sender.id) !== undefined) return;
    const others = this.region.peers.filter((p) => p.storeId !== sender.storeId);
    if (others.length >= REGION_PEERS_MAX) return;
    this.region = { ...this.region, peers: [...others, sender] };
  }

  /** NotLeader naming the leader this peer knows (if any). */
  notLeader(leaderId = this.raw.leaderId): FlotillaError {
    const leader = leaderId === 0 ? undefined : this.peerById(leaderId);
    return new FlotillaError('NotLeader', `region ${this.regionId}: peer ${this.peerId} is not the leader${leader === undefined ? '' : ` (leader: peer ${leader.id} on store ${leader.storeId})`}`, {
      details: leader === undefined ? { regionId: this.regionId } : { regionId: this.regionId, leader },
    });
  }

  refused(r: Refused): FlotillaError {
    return refusalError(r, `region ${this.regionId}`, (leaderId) => this.notLeader(leaderId));
  }

  /**
   * Proposes an encoded command (an admin command: it gets an entry of its own); resolves with its
   * apply result once applied here. Proposals are queued and handed to raft once per poll round as
   * one batch (one append, one message per follower carrying them all).
   */
  propose(data: Uint8Array, options: { readonly isMergeCommand?: boolean } = {}): Promise<ApplyResult> {
    const refusal = this.proposalRefusal(data.byteLength, options.isMergeCommand === true);
    if (refusal !== null) return Promise.reject(refusal);
    return new Promise<ApplyResult>((resolve, reject) => this.enqueue({ kind: 'data', data, resolve, reject }));
  }

  /**
   * Proposes a write command: data modifications decided under the region's current epoch. Every
   * write command queued in one round travels in one write-batch entry (write-batch-cmd.ts) and
   * shares its apply result.
   */
  proposeWrite(ops: readonly WriteOp[], onCommitted?: () => void): Promise<ApplyResult> {
    const bytes = writeOpsBytes(ops);
    const refusal = this.proposalRefusal(bytes + WRITE_BATCH_OVERHEAD_MAX);
    if (refusal !== null) return Promise.reject(refusal);
    // The command was routed under the region as it was then; a split or merge applied since
    // may have moved its keys elsewhere (apply checks again: the region may change in the queue).
    if (opOutsideRegion(ops, this.dataBounds()) !== null) return Promise.reject(this.epochNotMatch());
    const epoch = this.region.epoch;
    return new Promise<ApplyResult>((resolve, reject) => this.enqueue({ kind: 'write', ops, bytes, epoch, resolve, reject, onCommitted }));
  }

  private proposalRefusal(bytes: number, isMergeCommand = false): FlotillaError | null {
    if (this.destroyed || this.isRemoved) return this.removedError();
    if (!this.isLeader) return this.notLeader();
    if (this.mergeState !== null && !isMergeCommand) return this.mergingRefusal();
    const limit = this.raw.config.maxEntryBytes;
    if (bytes > limit) {
      return new FlotillaError('RaftEntryTooLarge', `region ${this.regionId}: a command of ${bytes} bytes exceeds ${limit}`, { details: { regionId: this.regionId, entrySize: bytes } });
    }
    return null;
  }

  private enqueue(p: QueuedProposal): void {
    this.idleTicks = 0;
    this.queued.push(p);
    if (this.queued.length === 1) this.init.markDirty(this);
  }

  /** Hands the queued proposals to raft as one batch (the poll loop calls this each round). */
  flushProposals(): void {
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    if (!this.isLeader) {
      const err = this.notLeader();
      for (const p of batch) p.reject(err);
      return;
    }
    const groups = this.groupEntries(batch);
    const r = this.raw.proposeBatch(groups.map((g) => g.data));
    if (r.kind !== 'ok') {
      const err = this.refused(r);
      for (const p of batch) p.reject(err);
      return;
    }
    const first = r.index - groups.length + 1;
    for (let i = 0; i < groups.length; i++) {
      const cmd = groups[i]!.cmd;
      const members = groups[i]!.members;
      if (cmd !== undefined) this.ownEntries.set(first + i, { data: groups[i]!.data, cmd, onCommitted: committedCallbacksOf(members) });
      if (members.length === 1) {
        this.waiters.wait(first + i, r.term).then(members[0]!.resolve, members[0]!.reject);
        continue;
      }
      this.waiters.wait(first + i, r.term, members.length).then(
        (result) => {
          for (const p of members) p.resolve(result);
        },
        (err: unknown) => {
          for (const p of members) p.reject(err);
        },
      );
    }
  }

  /**
   * The round's entries: runs of write commands of one epoch joined into write batches of at most
   * WRITE_BATCH_ENTRY_BYTES (a larger command alone), each admin command on its own, in queue order.
   */
  private groupEntries(batch: readonly QueuedProposal[]): EntryGroup[] {
    const groups: EntryGroup[] = [];
    let run: (QueuedProposal & { readonly kind: 'write' })[] = [];
    let runBytes = 0;
    const closeRun = (): void => {
      if (run.length === 0) return;
      const epoch = run[0]!.epoch;
      const data = encodeWriteBatch({ regionId: this.regionId, peerId: this.peerId, epoch }, run.map((p) => p.ops), runBytes, allocEntryData);
      const ops: WriteOp[] = [];
      for (const p of run) for (const op of p.ops) ops.push(op);
      groups.push({ data, members: run, cmd: { kind: 'write', regionId: this.regionId, epoch, ops } });
      run = [];
      runBytes = 0;
    };
    for (const p of batch) {
      if (p.kind === 'data') {
        closeRun();
        groups.push({ data: p.data, members: [p] });
        continue;
      }
      if (run.length > 0) {
        const e = run[0]!.epoch;
        if (e.version !== p.epoch.version || e.confVer !== p.epoch.confVer || runBytes + p.bytes > WRITE_BATCH_ENTRY_BYTES) closeRun();
      }
      run.push(p);
      runBytes += p.bytes;
    }
    closeRun();
    return groups;
  }

  /**
   * readBarrier's lease path, without a promise: true when a read on this peer's applied state is
   * linearizable now — a ready leader, not merging, with a valid lease (the caller has delivered
   * the ticks real time owes). False: the caller awaits readBarrier, which says why or waits.
   */
  leaseReadNow(): boolean {
    if (!this.isLeaseReadable) return false;
    this.idleTicks = 0; // a read keeps the region awake, as a write does
    return true;
  }

  /**
   * Whether a lease read would be served now, without noting a read: a ready leader (an entry of
   * its term committed, so its commit index is the region's), not merging, lease reads on, and a
   * lease a quorum renewed within the election timeout (no other leader can have been elected).
   */
  get isLeaseReadable(): boolean {
    if (this.isRemoved || this.destroyed || this.mergeState !== null || !this.isLeader) return false;
    return this.init.isLeaseReadEnabled !== false && this.leaderReady && this.raw.isLeaseValid();
  }

  /**
   * Resolves once a read on this peer's applied state is linearizable: at once on a ready leader
   * with a valid lease (the caller has delivered the ticks real time owes), else after a ReadIndex
   * round confirmed by a quorum and applied up to its index.
   */
  readBarrier(replica?: ReplicaReadScope): Promise<'lease' | 'read-index' | 'replica'> {
    if (this.leaseReadNow()) return Promise.resolve('lease');
    if (this.isRemoved || this.destroyed) return Promise.reject(this.removedError());
    // A merging source serves no reads: once the target took its range, writes land there.
    if (this.mergeState !== null && (this.isLeader || replica !== undefined)) return Promise.reject(this.mergingRefusal());
    if (!this.isLeader) return replica === undefined ? Promise.reject(this.notLeader()) : this.replicaBarrier(replica);
    this.idleTicks = 0;
    // Every read that arrives before the next poll round shares one ReadIndex request, issued in
    // that round — so each read's barrier is still issued after the read arrived.
    return new Promise<'lease' | 'read-index'>((resolve, reject) => {
      if (this.readGroup === null) {
        this.readGroup = [];
        this.init.markDirty(this);
      }
      this.readGroup.push({ resolve: () => resolve('read-index'), reject });
    });
  }

  /**
   * A replica read on this follower or learner (replica-read.ts): resolves once the leader has
   * confirmed a read index for it — after the checks `scope` asks of its concurrency manager — and
   * this peer has applied up to that index. The reads of one round share one request.
   */
  private replicaBarrier(scope: ReplicaReadScope): Promise<'replica'> {
    if (this.raw.leaderId === 0 || this.storage.lastIndex() === 0) return Promise.reject(this.notLeader());
    return new Promise<'replica'>((resolve, reject) => {
      if (this.replicaGroup === null) {
        this.replicaGroup = { waiters: [], batch: new ReplicaReadBatch() };
        this.init.markDirty(this);
      }
      this.replicaGroup.batch.add(scope);
      this.replicaGroup.waiters.push({ resolve: () => resolve('replica'), reject });
    });
  }

  /** One ReadIndex request for the reads gathered since the last round (the poll loop calls this). */
  flushReads(): void {
    this.flushReplicaReads();
    const group = this.readGroup;
    if (group === null) return;
    this.readGroup = null;
    const fail = (err: unknown): void => {
      for (const w of group) w.reject(err);
    };
    if (!this.isLeader) {
      fail(this.notLeader());
      return;
    }
    const ctx = this.newReadId();
    const r = this.raw.readIndex(ctx);
    if (r.kind !== 'ok') {
      fail(this.refused(r));
      return;
    }
    this.awaitReadIndex(ctx, group, fail, 'read index not confirmed');
  }

  /** Registers a ReadIndex request `id` in flight: its waiters resolve once it is confirmed and applied (serveReads), or fail at the timeout. */
  private awaitReadIndex(id: Buffer, waiters: readonly { readonly resolve: () => void }[], fail: (err: unknown) => void, what: string): void {
    const key = id.toString('latin1');
    const timer = setTimeout(() => {
      this.reads.delete(key);
      fail(new FlotillaError('DeadlineExceeded', `region ${this.regionId}: ${what} within ${READ_INDEX_TIMEOUT_MS} ms`));
    }, READ_INDEX_TIMEOUT_MS);
    timer.unref();
    this.reads.set(key, {
      resolve: () => {
        for (const w of waiters) w.resolve();
      },
      reject: fail,
      timer,
      index: 0,
    });
  }

  /** 8 bytes naming one ReadIndex request of this peer (readIdPrefix). */
  private newReadId(): Buffer {
    const id = Buffer.allocUnsafe(8);
    id.writeUInt32BE(this.readIdPrefix, 0);
    id.writeUInt32BE(this.nextReadId, 4);
    this.nextReadId = (this.nextReadId + 1) >>> 0;
    return id;
  }

  private flushReplicaReads(): void {
    const group = this.replicaGroup;
    if (group === null) return;
    this.replicaGroup = null;
    const fail = (err: unknown): void => {
      for (const w of group.waiters) w.reject(err);
    };
    // Led here since the reads came: their checks were meant for another store's concurrency
    // manager. The client retries them (on this leader, as its own reads).
    if (this.isLeader || this.raw.leaderId === 0) {
      fail(this.notLeader());
      return;
    }
    const id = this.newReadId();
    const r = this.raw.readIndex(group.batch.encode(id));
    if (r.kind !== 'ok' && r.kind !== 'forwarded') {
      fail(this.refused(r));
      return;
    }
    this.awaitReadIndex(id, group.waiters, fail, 'the leader did not confirm a replica read index');
  }

  // ---- called by the poll loop ----------------------------------------------------------------

  /**
   * Delivers `ticks` ticks to raft; a leader checks its log for GC every checkTicks of them, and
   * an idle ready leader tries to put its group to sleep (quiet mode). A quiet group is not ticked
   * (the poll loop skips it): any proposal, read or message wakes it (raft/README.md).
   */
  tick(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.raw.tick();
    this.idleTicks += ticks;
    const quietAfter = this.init.raft.quietAfterTicks ?? 0;
    if (quietAfter > 0 && this.idleTicks >= quietAfter) this.maybeQuiesce();
    this.gcTicks += ticks;
    if (this.gcTicks < this.init.raftLogGc.checkTicks) return;
    this.gcTicks = 0;
    this.maybeCompactLog();
  }

  /**
   * An idle ready leader with nothing of its own pending (proposals, reads) asks raft to go
   * quiet; raft refuses while anything is in flight (a follower behind, a Ready pending…), and the
   * next tick asks again. Once quiet, the next round sends the quiesce heartbeats.
   */
  private maybeQuiesce(): void {
    if (!this.isLeaderReady || this.destroyed || this.raw.isQuiet) return;
    if (this.mergeState !== null || this.held.length > 0) return; // a merge is moving: stay awake
    if (this.queued.length > 0 || this.readGroup !== null || this.replicaGroup !== null || this.reads.size > 0 || this.confirmedReads.length > 0 || this.waiters.size > 0) return;
    if (this.raw.quiesce().kind !== 'ok') return; // raft refuses while a Ready is pending, among others
    this.init.markDirty(this);
  }

  /** Proposals queued and not yet handed to raft (flushProposals). */
  get hasQueuedProposals(): boolean {
    return this.queued.length > 0;
  }

  /** A CompactLog this leader proposed is not applied yet (merge.ts: no PrepareMerge meanwhile). */
  get isCompactLogInFlight(): boolean {
    return this.compactLogTerm !== 0 && this.compactLogTerm === this.raw.term;
  }

  /** On a ready leader: proposes CompactLog if raft-log-gc.ts says so (one in flight per term). */
  private maybeCompactLog(): void {
    if (!this.isLeaderReady || this.destroyed || this.compactLogTerm === this.raw.term) return;
    if (this.mergeState !== null) return; // merge.ts: every source peer keeps its log up to PrepareMerge
    // Nor while a PrepareMerge is in flight: the CompactLog would land after it, and be skipped at apply.
    const gc = this.init.raftLogGc;
    const firstIndex = this.storage.firstIndex();
    const heldBytes = this.storage.cachedBytes;
    if (this.applied - (firstIndex - 1) < gc.countLimit && heldBytes < gc.thresholdBytes) return; // before status(): it allocates
    if (prepareMergeTargetsIn(this.regionId, this.storage.cachedEntriesFrom(this.applied + 1) ?? []).length > 0) return;
    const followers: FollowerProgress[] = [];
    for (const [id, pr] of this.raw.status().progress ?? []) {
      if (id !== this.peerId) followers.push({ match: pr.match, isRecentlyActive: pr.recentActive });
    }
    // 'compactPast' where region snapshots exist (store/snapshot/): a follower behind the
    // compacted log is caught up by one, so only recently active followers hold the log back.
    const decision = decideRaftLogGc({ applied: this.applied, firstIndex, heldBytes, followers, policy: this.init.laggingFollowerPolicy ?? 'holdBack' }, gc);
    if (decision.isHardLimitHeldBack) {
      this.init.onRaftLogGc?.onHardLimitHeldBack();
      if (!this.isGcHeldBackWarned) {
        this.isGcHeldBackWarned = true;
        const slowest = Math.min(...followers.map((f) => f.match));
        this.log.warn({ held: this.applied - (firstIndex - 1), hardCountLimit: gc.hardCountLimit, slowestMatch: slowest },
          'raft log past its hard limit; a lagging follower holds it back');
      }
    } else {
      this.isGcHeldBackWarned = false;
    }
    if (decision.kind === 'skip') return;
    const compactTerm = this.storage.term(decision.compactIndex);
    if (typeof compactTerm !== 'number') return; // at or below the applied index: held in memory
    const term = this.raw.term;
    this.compactLogTerm = term;
    const settled = (): void => {
      if (this.compactLogTerm === term) this.compactLogTerm = 0;
    };
    const data = encodeCompactLogCommand({ regionId: this.regionId, peerId: this.peerId, epoch: this.region.epoch, compactIndex: decision.compactIndex, compactTerm });
    this.propose(data).then(settled, settled); // its outcome needs no answer: the next check retries
    this.init.onRaftLogGc?.onProposed();
  }

  private onOwnRemovalWritten(region: RegionMeta): void {
    if (this.raw.role !== 'Leader') {
      this.init.onRemoved?.(this, region);
      return;
    }
    this.leavingRegion = region;
    this.leaderReady = false;
    this.failReads(this.removedError());
    this.log.info({ term: this.raw.term }, 'applied its own removal as leader: leading on until the voters left hold it');
  }

  private removedError(): FlotillaError {
    return new FlotillaError('RegionNotFound', `region ${this.regionId} is gone from this store`, { details: { regionId: this.regionId } });
  }

  onRoleChange(role: StateRole, leaderId?: number): void {
    const was = this.role;
    const leaderWas = this.knownLeaderId;
    if (leaderId !== undefined) this.knownLeaderId = leaderId;
    // A replica's reads in flight went to the leader it knew: another leader, or none, may never
    // answer them. They fail now (the client retries) rather than at their timeout.
    if (was !== 'Leader' && (role !== was || (leaderId !== undefined && leaderId !== leaderWas))) this.failReads(this.notLeader());
    this.role = role;
    const leaving = this.leavingRegion;
    if (leaving !== null && role !== 'Leader') {
      // Destroyed after this round (the poll loop is handing out this peer's Ready now).
      this.leavingRegion = null;
      queueMicrotask(() => this.init.onRemoved?.(this, leaving));
    }
    if (was === 'Leader' && role !== 'Leader') {
      this.leaderReady = false;
      this.wakeApplyEndWaiters(Infinity);
      this.log.info({ term: this.raw.term, leaderId: this.raw.leaderId }, 'lost region leadership');
      this.failReads(this.notLeader());
    } else if (was !== 'Leader' && role === 'Leader') {
      this.leaderReady = false;
      this.log.info({ term: this.raw.term }, 'became region leader');
      this.init.onBecameLeader?.();
    }
  }

  onReadStates(states: readonly ReadState[]): void {
    for (const rs of states) {
      const key = readIdOf(rs.requestContext);
      const read = this.reads.get(key);
      if (read === undefined) continue;
      this.reads.delete(key);
      read.index = rs.index;
      this.confirmedReads.push(read);
    }
  }

  /**
   * Raft handed `entries` over as committed (the poll loop calls this, in log order, as it queues
   * them for the applier). A proposal that asked (onCommitted: a one-phase commit, whose memory
   * locks keep reads from missing it until it applies; TiKV's "respond on committed") is answered
   * now when its apply outcome is already certain, instead of after the apply batch is written.
   * Committed means durable on a quorum, and every replica applies the log the same way; what
   * could still refuse this leader's write batch at apply is a region change (epoch, key range,
   * removal, merge) applied before it, so: every entry handed before it that has not applied yet
   * must be a plain write batch of this leader, and the batch must pass applyEntry's checks
   * against the region as it stands after everything applied so far. Otherwise its proposals are
   * answered at apply, as every other one is.
   */
  onCommittedHanded(entries: readonly Entry[]): void {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= this.applied) continue;
      const own = e.type === 'Normal' && e.data.length > 0 ? this.ownEntries.get(e.index) : undefined;
      const isOwnBatch = own !== undefined && own.data === e.data;
      if (!isOwnBatch) {
        if (e.type !== 'Normal' || e.data.length > 0) this.lastNonPlainHanded = e.index;
        continue;
      }
      const callbacks = own.onCommitted;
      if (callbacks === null) continue;
      own.onCommitted = null;
      if (this.isApplyOutcomeCertain(own.cmd)) for (const cb of callbacks) cb();
    }
  }

  /** Whether this leader's write batch, handed over now, will apply (onCommittedHanded). */
  private isApplyOutcomeCertain(cmd: OwnWriteCommand): boolean {
    return this.lastNonPlainHanded <= this.applied && this.held.length === 0 && !this.isRemoved && !this.destroyed
      && this.mergeState === null && this.isWriteBatchApplicable(cmd);
  }

  /**
   * Whether a write batch applies on the region as it stands (applyEntry refuses it otherwise, with
   * EpochNotMatch; onCommittedHanded asks before the entries ahead of it have applied).
   */
  private isWriteBatchApplicable(cmd: DecodedCommand & { readonly kind: 'write' }): boolean {
    // Proposed under a region shape that no longer holds (a split or merge applied first): its
    // keys may lie outside the region now, so it must not apply anywhere.
    if (cmd.regionId !== this.regionId || cmd.epoch.version !== this.region.epoch.version) return false;
    // Stamped with the epoch at the round it was proposed in, but decided earlier: its keys must
    // still be this region's, or they belong to a region whose log orders its writes.
    return opOutsideRegion(cmd.ops, this.dataBounds()) === null;
  }

  /**
   * Applies committed entries: their data modifications go into `ops` (one write batch for every
   * region of the round); `done` collects the answers to give once that batch is written. Returns
   * whether anything was applied: then the caller looks up keyCountProbes() and calls
   * finishApply(), which adds the apply state, before writing the batch.
   */
  applyCommitted(handed: readonly Entry[], ops: WriteOp[], done: (() => void)[]): boolean {
    let changed = false;
    const entries = this.held.length === 0 ? handed : [...this.held, ...handed];
    this.held = [];
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (this.isRemoved) break;
      if (e.index <= this.applied) continue;
      if (e.index !== this.applied + 1) throw new FlotillaError('Internal', `region ${this.regionId}: apply gap, applied ${this.applied}, next ${e.index}`);
      const result = this.applyEntry(e, ops);
      if (result === APPLY_WAIT) {
        // A CommitMerge whose source replica here has not applied its PrepareMerge yet: this entry
        // and the ones after it wait (raft counts them handed out; this.applied says where we are).
        this.held = entries.slice(i);
        break;
      }
      this.applied = e.index;
      changed = true;
      this.isApplyStatePending = true;
      const { index, term } = e;
      if (this.afterApplyWritten.length > 0) {
        done.push(...this.afterApplyWritten);
        this.afterApplyWritten = [];
      }
      if (this.waiters.size > 0) {
        done.push(() => {
          this.waiters.applied(index, term, result);
          // Proposals of earlier terms can no longer apply (proposal-waiters.ts).
          this.waiters.settleOlderThan(term);
        });
      }
      if (this.isRemoved) {
        // This replica applied its own removal: once the batch is written it is destroyed
        // (raft-store.ts) — a leader once raft steps it down; nothing after that entry is applied here.
        const region = this.region;
        done.push(() => this.onOwnRemovalWritten(region));
        break;
      }
      if (this.mergeState !== null && this.init.onMergingApplied !== undefined) done.push(() => this.init.onMergingApplied?.(this));
      if (!this.leaderReady && !this.isReadyPending && this.role === 'Leader' && e.term === this.raw.term) {
        // Ready only once this apply batch is written: a read served before would miss what
        // earlier leaders committed (and acknowledged) that this batch is applying now.
        this.isReadyPending = true;
        const term = e.term;
        done.push(() => {
          this.isReadyPending = false;
          if (this.role !== 'Leader' || this.raw.term !== term) return;
          this.leaderReady = true;
          this.log.info({ term, index }, 'region leadership ready');
          this.init.onLeaderReady?.(this);
        });
      }
    }
    return changed;
  }

  /**
   * Hands over the raw/latest writes this replica applied in the batch being built and has not
   * settled into its key count yet (finishApply does that once the batch's keys are looked up):
   * a merge source whose CommitMerge the target applies in the same batch. Its count would
   * otherwise reach the target without them (merge sim seed 411: two deletes the target never
   * counted).
   */
  takeUnsettledKeyOps(): WriteOp[] {
    const ops = this.countedOps;
    this.countedOps = [];
    return ops;
  }

  /** Appends the distinct raw/latest keys this batch put or deleted (their presence before it is looked up). */
  keyCountProbes(out: Buffer[]): void {
    const seen = new Set<string>();
    for (let i = 0; i < this.countedOps.length; i++) {
      const key = this.countedOps[i]!.key.toString('latin1');
      this.countedKeys.push(key);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(this.countedOps[i]!.key);
    }
  }

  /**
   * Settles the key count of what applyCommitted() applied since the last call, given the probed
   * keys that were present before (`present`, latin1 strings), and appends the apply state to `ops`.
   */
  finishApply(present: ReadonlySet<string>, ops: WriteOp[]): void {
    if (!this.isApplyStatePending) return;
    invariant(this.countedKeys.length === this.countedOps.length, () => `region ${this.regionId}: finishApply without keyCountProbes`);
    const isPresent = new Map<string, boolean>();
    let delta = 0;
    for (let i = 0; i < this.countedOps.length; i++) {
      const key = this.countedKeys[i]!;
      const was = isPresent.get(key) ?? present.has(key);
      const is = this.countedOps[i]!.kind === 'put';
      delta += Number(is) - Number(was);
      isPresent.set(key, is);
    }
    this.countedOps = [];
    this.countedKeys = [];
    this.isApplyStatePending = false;
    this.keyCount += delta;
    ops.push({
      kind: 'put', cf: 'local', key: this.applyStateKeyBytes,
      value: encodeApplyState({
        appliedIndex: this.applied, truncatedIndex: this.storage.truncatedIndex, truncatedTerm: this.storage.truncatedTerm,
        approximateKeys: this.isKeyCountUnknown ? null : this.approximateKeys,
      }),
    });
  }

  /** The region's data-key range per CF, rebuilt when the region changes. */
  private dataBounds(): RegionDataBounds {
    if (this.dataBoundsOf !== this.region) {
      this.cachedDataBounds = regionDataBounds(this.region);
      this.dataBoundsOf = this.region;
    }
    return this.cachedDataBounds!;
  }

  /** The key count reported to PD and on /status (file comment); an estimate while isKeyCountPending. */
  get approximateKeys(): number {
    return Math.max(0, this.keyCount);
  }

  /**
   * Counting off (the store's --region-key-count): the keys a sample walk found at `region`'s
   * range (KeyRecounter.sample). No apply moves the count then, so it stands as of the walk until
   * the next one, and is written with the next apply state. Refused (false) with counting on, on a
   * destroyed peer, or when the range changed since the walk began.
   */
  takeSampledKeyCount(region: RegionMeta, walked: number): boolean {
    if (this.init.countKeys || this.destroyed) return false;
    if (!region.startKey.equals(this.region.startKey) || !region.endKey.equals(this.region.endKey)) return false;
    this.keyCount = walked;
    return true;
  }

  /** The range changed (split, merge) and the recount has not ended. */
  get isKeyCountPending(): boolean {
    return this.isKeyCountUnknown;
  }

  /** The count is unknown from here on (an earlier recount's result no longer applies). */
  private forgetKeyCount(estimate: number): void {
    this.keyCount = estimate;
    this.keyRecount = { gen: this.keyRecount.gen + 1, base: 0 };
    this.isKeyCountUnknown = this.init.countKeys;
  }

  /**
   * A recount starts over a view pinned now (by the caller, synchronously, after the batch that
   * changed the range was written and before the next one): returns its number for endKeyRecount.
   */
  beginKeyRecount(): number {
    this.keyRecount = { gen: this.keyRecount.gen + 1, base: this.keyCount };
    this.isKeyCountUnknown = true;
    return this.keyRecount.gen;
  }

  /** Recount `gen` still matters: no newer range change superseded it and the peer lives. */
  isKeyRecountCurrent(gen: number): boolean {
    return gen === this.keyRecount.gen && this.isKeyCountUnknown && !this.destroyed;
  }

  /**
   * The recount `gen` found `walked` keys in the pinned view: the count is that plus what applies
   * moved since the pin. Returns false (and changes nothing) when a newer change superseded it.
   * The exact count is written with the next apply state; until then a restart counts at load.
   */
  endKeyRecount(gen: number, walked: number): boolean {
    if (!this.isKeyRecountCurrent(gen)) return false;
    this.keyCount = walked + (this.keyCount - this.keyRecount.base);
    this.isKeyCountUnknown = false;
    return true;
  }

  private applyEntry(e: Entry, ops: WriteOp[]): ApplyResult | typeof APPLY_WAIT {
    const own = this.ownEntries.get(e.index);
    // This index and any below it (skipped by a snapshot) go. Within one leadership the keys are
    // in increasing order; an entry left from an earlier leadership may sit out of order and go a
    // little later — never used meanwhile, since its data is not the entry's (checked below).
    for (const index of this.ownEntries.keys()) {
      if (index > e.index) break;
      this.ownEntries.delete(index);
    }
    if (e.type === 'Normal') {
      if (e.data.length === 0) return APPLIED_OK; // a new leader's empty entry
      // This leader's own write batch, still the very buffer it proposed: the command it encoded,
      // not decoded again — and its values are the buffers the leader built (a latest record's
      // decoded form is remembered by its buffer, txn/records/latest.ts, and the row cache keeps
      // that buffer). Any other entry at this index (a later leader's) is decoded.
      const cmd = own !== undefined && own.data === e.data ? own.cmd : decodeCommand(e.data, `region ${this.regionId} entry ${e.index}`);
      if (cmd.kind === 'compactLog') return this.applyCompactLog(cmd, e.index, ops);
      if (cmd.kind === 'batchSplit') return this.mergeState !== null ? { kind: 'error', error: this.mergingRefusal() } : this.applyBatchSplit({ ...cmd, peerId: 0 }, e.index, ops);
      if (cmd.kind === 'prepareMerge') return this.applyPrepareMerge(cmd, e, ops);
      if (cmd.kind === 'commitMerge') return this.applyCommitMerge(cmd, e.index, ops);
      if (cmd.kind === 'rollbackMerge') return this.applyRollbackMerge(cmd, e.index, ops);
      if (cmd.kind === 'unsupportedAdmin') {
        return { kind: 'error', error: new FlotillaError('InvalidArgument', `region ${this.regionId}: admin command ${cmd.what} is not supported`) };
      }
      if (!this.isWriteBatchApplicable(cmd)) return { kind: 'error', error: this.epochNotMatch() };
      for (const op of cmd.ops) {
        ops.push(op);
        if (this.init.countKeys && (op.cf === 'raw' || op.cf === 'latest')) this.countedOps.push(op);
        if (op.cf === 'raw' && op.kind === 'put' && hasTtl(op.value)) {
          this.ttlSweepTarget.mayHoldTtlKeys = true;
          this.ttlSweepTarget.ttlPutsApplied++;
        }
        if (op.cf === 'raw' || op.cf === 'write') {
          this.traffic.keysWritten++;
          this.traffic.bytesWritten += op.key.length + (op.kind === 'put' ? op.value.length : 0);
        }
      }
      return APPLIED_OK;
    }
    // Membership changes (conf-change.ts): raft's view and the region's peer list change at the
    // same entry, and the region state goes into this apply batch.
    const decoded = decodeConfChange(e.data);
    if (decoded.kind !== 'ok') throw new FlotillaError('Corruption', `region ${this.regionId} entry ${e.index}: ${decoded.reason}`);
    const cmd = changePeerOf(decoded.confChange, `region ${this.regionId} entry ${e.index}`);
    let next: RegionMeta | null = null;
    if (cmd !== null) {
      const decision = decideChangePeer(this.region, cmd);
      if (decision.kind === 'error') return decision; // stale or invalid: raft's view stays too
      next = decision.region;
    }
    const applied = this.raw.applyConfChange(decoded.confChange);
    if (applied.kind !== 'ok') return { kind: 'error', error: new FlotillaError('InvalidArgument', `region ${this.regionId}: membership change refused: ${applied.reason}`) };
    this.storage.setConfState(applied.confState);
    if (next !== null) {
      this.region = next;
      ops.push({ kind: 'put', cf: 'local', key: regionStateKey(this.regionId), value: encodeRegionState({ state: 'normal', region: next }) });
      this.log.info({ change: cmd!.kind, peer: cmd!.peer, confVer: next.epoch.confVer, index: e.index }, 'applied conf change');
      if (!next.peers.some((p) => p.id === this.peerId)) this.isRemoved = true;
    }
    return APPLIED_OK;
  }

  /**
   * Proposes one membership step (conf-change.ts) under the region's current epoch; resolves
   * once it applied here (an error result when it was stale or invalid at apply).
   */
  proposeChangePeer(kind: ChangePeerKind, peer: PeerMeta): Promise<ApplyResult> {
    if (this.destroyed || this.isRemoved) return Promise.reject(this.removedError());
    if (!this.isLeaderReady) return Promise.reject(this.notLeader());
    if (this.mergeState !== null) return Promise.reject(this.mergingRefusal());
    const r = this.raw.proposeConfChange(confChangeOf({ regionId: this.regionId, epoch: this.region.epoch, kind, peer }, this.peerId));
    if (r.kind !== 'ok') return Promise.reject(this.refused(r));
    this.init.markDirty(this);
    return this.waiters.wait(r.index, r.term);
  }

  /** ServerIsBusy: the region is merging into another (clients back off; then it is gone). */
  mergingRefusal(): FlotillaError {
    return new FlotillaError('ServerIsBusy', `region ${this.regionId} is merging into region ${this.mergeState?.target.id ?? 0}`, { details: { regionId: this.regionId } });
  }

  /** Whether committed entries wait here for a merge's source (the poll loop retries them). */
  get hasHeldEntries(): boolean {
    return this.held.length > 0;
  }

  /** Follower progress as this leader sees it (peer id → match index); empty on a follower. */
  progressMatch(): ReadonlyMap<number, number> {
    const out = new Map<number, number>();
    for (const [id, pr] of this.raw.status().progress ?? []) out.set(id, pr.match);
    return out;
  }

  /**
   * PrepareMerge (merge step 1, store/merge.ts): the region stops taking writes and reads, its
   * epoch moves (version and confVer: a split or membership change proposed before cannot apply
   * after it), and its state records the merge. Refused unless proposed under the current epoch,
   * with no merge running, into an adjacent target on the same stores.
   */
  private applyPrepareMerge(cmd: DecodedCommand & { readonly kind: 'prepareMerge' }, e: Entry, ops: WriteOp[]): ApplyResult {
    if (cmd.epoch.version !== this.region.epoch.version || cmd.epoch.confVer !== this.region.epoch.confVer) return { kind: 'error', error: this.epochNotMatch() };
    if (this.mergeState !== null) return { kind: 'error', error: this.mergingRefusal() };
    const refusal = mergeRefusal(this.region, cmd.target);
    if (refusal !== null) return { kind: 'error', error: refusal };
    this.region = { ...this.region, epoch: { confVer: this.region.epoch.confVer + 1, version: this.region.epoch.version + 1 } };
    this.mergeState = { minIndex: cmd.minIndex, target: cmd.target, commit: e.index, commitTerm: e.term };
    ops.push({ kind: 'put', cf: 'local', key: regionStateKey(this.regionId), value: encodeRegionState({ state: 'merging', region: this.region, merge: this.mergeState }) });
    this.log.info({ target: cmd.target.id, index: e.index, minIndex: cmd.minIndex }, 'applied PrepareMerge');
    if (this.init.onPrepareMergeApplied !== undefined) this.afterApplyWritten.push(() => this.init.onPrepareMergeApplied?.(this));
    return APPLIED_OK;
  }

  /** RollbackMerge: the source takes reads and writes again, at a new epoch version. */
  private applyRollbackMerge(cmd: DecodedCommand & { readonly kind: 'rollbackMerge' }, index: number, ops: WriteOp[]): ApplyResult {
    if (this.mergeState === null || this.mergeState.commit !== cmd.commit) {
      return { kind: 'error', error: new FlotillaError('InvalidArgument', `region ${this.regionId}: RollbackMerge of the merge at ${cmd.commit}, which is not running`) };
    }
    this.region = { ...this.region, epoch: { ...this.region.epoch, version: this.region.epoch.version + 1 } };
    this.mergeState = null;
    ops.push({ kind: 'put', cf: 'local', key: regionStateKey(this.regionId), value: encodeRegionState({ state: 'normal', region: this.region }) });
    this.log.info({ index }, 'applied RollbackMerge');
    return APPLIED_OK;
  }

  /**
   * CommitMerge (merge step 2) on the target: proposed under the target's epoch as of then; the
   * store (raft-store.ts) retires its replica of the source once that replica has applied the
   * PrepareMerge the command names — until then this entry waits. The region becomes the union
   * of both ranges at a version above both.
   */
  private applyCommitMerge(cmd: DecodedCommand & { readonly kind: 'commitMerge' }, index: number, ops: WriteOp[]): ApplyResult | typeof APPLY_WAIT {
    if (cmd.epoch.version !== this.region.epoch.version || cmd.epoch.confVer !== this.region.epoch.confVer) return { kind: 'error', error: this.epochNotMatch() };
    if (this.mergeState !== null) return { kind: 'error', error: this.mergingRefusal() };
    const merged = mergedRegion(cmd.source, this.region);
    if (merged === null) return { kind: 'error', error: new FlotillaError('InvalidArgument', `region ${this.regionId}: region ${cmd.source.id} is not adjacent`) };
    const decision = this.init.onCommitMerge?.(this, { source: cmd.source, commit: cmd.commit, commitTerm: cmd.commitTerm }, ops) ?? { kind: 'error', error: new FlotillaError('Internal', 'no merge support') };
    if (decision.kind === 'wait') return APPLY_WAIT;
    if (decision.kind === 'error') return decision;
    this.region = merged;
    if (decision.isSourceKeyCountExact && !this.isKeyCountUnknown) this.keyCount += decision.sourceKeys;
    else this.forgetKeyCount(this.keyCount + decision.sourceKeys);
    // The source's writes of this batch are settled here now (finishApply), as the keys are ours.
    for (const op of decision.unsettledKeyOps) this.countedOps.push(op);
    ops.push({ kind: 'put', cf: 'local', key: regionStateKey(this.regionId), value: encodeRegionState({ state: 'normal', region: merged }) });
    this.afterApplyWritten.push(decision.after);
    this.log.info({ source: cmd.source.id, index, version: merged.epoch.version }, 'applied CommitMerge');
    return APPLIED_OK;
  }

  /**
   * CompactLog at entry `index`: the log up to compactIndex goes, in this apply batch (its keys
   * deleted next to the apply state that records the new truncated index and term) and in memory
   * at once. No epoch check: compaction is about this replica's log, not the region's keys. An
   * index at or below the truncated one is stale (compacted already) and changes nothing.
   */
  private applyCompactLog(cmd: DecodedCommand & { readonly kind: 'compactLog' }, index: number, ops: WriteOp[]): ApplyResult {
    // A merging source keeps its log: a peer behind can catch up only from it (no snapshot is
    // generated while merging). A CompactLog proposed while PrepareMerge was in flight lands after
    // it (merge sim seed 724: it compacted past a store that was down, and the merge hung). Every
    // replica is merging at this index or none is: the skip is the same everywhere.
    if (this.mergeState !== null) return APPLIED_OK;
    const from = this.storage.truncatedIndex + 1;
    if (cmd.compactIndex < from) return APPLIED_OK;
    invariant(cmd.compactIndex < index, () => `region ${this.regionId}: CompactLog at ${index} compacts to ${cmd.compactIndex}, not below itself`);
    this.storage.compactTo(cmd.compactIndex, cmd.compactTerm);
    for (let i = from; i <= cmd.compactIndex; i++) ops.push({ kind: 'delete', cf: 'local', key: raftLogKey(this.regionId, i) });
    this.init.onRaftLogGc?.onCompacted(cmd.compactIndex - from + 1);
    return APPLIED_OK;
  }

  /**
   * BatchSplit at entry `index` (split.ts): this region keeps its part of the range under the new
   * epoch; the store writes the new regions' states into this batch and creates their peers once
   * it is written. Write commands proposed under the old epoch fail at apply from here on.
   */
  private applyBatchSplit(cmd: BatchSplitCommand, index: number, ops: WriteOp[]): ApplyResult {
    const d = decideBatchSplit(this.region, this.approximateKeys, cmd);
    if (d.kind === 'error') return d;
    this.region = d.derived;
    this.forgetKeyCount(d.derivedKeys);
    ops.push({ kind: 'put', cf: 'local', key: regionStateKey(this.regionId), value: encodeRegionState({ state: 'normal', region: d.derived }) });
    const split: AppliedSplit = { derived: d.derived, created: d.created, createdKeys: d.createdKeys, wasLeader: this.role === 'Leader' };
    const after = this.init.onSplit?.(this, split, ops);
    if (after !== undefined) this.afterApplyWritten.push(after);
    this.log.info({ index, version: d.derived.epoch.version, regions: [d.derived, ...d.created].map((r) => r.id) }, 'applied split');
    return APPLIED_OK;
  }

  /**
   * A region snapshot was installed durably (store/snapshot/apply.ts): the region, the applied
   * index and the key count are the snapshot's. The caller mirrored the log in `storage`.
   */
  onSnapshotInstalled(region: RegionMeta, index: number, approximateKeys: number): void {
    invariant(index >= this.applied, () => `region ${this.regionId}: snapshot at ${index} below applied ${this.applied}`);
    this.region = region;
    this.applied = index;
    this.appliedWritten = index;
    this.wakeApplyEndWaiters(index);
    // A snapshot is only made of a region in the 'normal' state (snapshot/generator.ts): a merge
    // this replica was preparing was rolled back before it (found by the merge sim, seed 104:
    // the replica stayed 'merging' — refusing reads and writes — beside the others).
    this.mergeState = null;
    this.held = this.held.filter((e) => e.index > index);
    // Proposals waiting on entries the snapshot covers are never applied one by one here: each
    // may be in it or may have been overwritten — outcome unknown, answered now (before, they
    // waited for their timeout; in the merge sim, seed 21520, the merge driver's CommitMerge
    // waited for ever and the merge neither committed nor rolled back).
    this.waiters.failUpTo(index, new FlotillaError('DeadlineExceeded', `region ${this.regionId}: a snapshot at index ${index} replaced this replica's log before its proposal applied (outcome unknown)`));
    this.keyCount = approximateKeys;
    this.keyRecount = { gen: this.keyRecount.gen + 1, base: 0 };
    this.isKeyCountUnknown = false;
    this.ttlSweepTarget.mayHoldTtlKeys = true;
    this.ttlSweepTarget.ttlPutsApplied++;
    this.countedOps = [];
    this.countedKeys = [];
    this.isApplyStatePending = false;
  }

  /** Counts keys and value bytes a read returned (for PD's hot-region view). */
  countRead(keys: number, bytes: number): void {
    this.traffic.keysRead += keys;
    this.traffic.bytesRead += bytes;
  }

  /** The traffic since the last call, and a fresh count. */
  takeTraffic(): { readonly bytesWritten: number; readonly keysWritten: number; readonly bytesRead: number; readonly keysRead: number } {
    const t = this.traffic;
    this.traffic = { bytesWritten: 0, keysWritten: 0, bytesRead: 0, keysRead: 0 };
    return t;
  }
  /**
   * What a region heartbeat reports of the members (a leader's view): the ones not heard for
   * `downAfterMs` (peer-liveness.ts), and the ones behind the log's start — a snapshot must
   * catch them up (TiKV's pending peers).
   */
  memberHealth(nowMs: number, downAfterMs: number): { readonly down: DownPeer[]; readonly pending: PeerMeta[] } {
    if (!this.isLeader) return { down: [], pending: [] };
    const down = this.liveness.downPeers(this.region.peers, this.peerId, this.raw.term, nowMs, downAfterMs, this.raw.isQuiet);
    const pending: PeerMeta[] = [];
    const compacted = this.storage.firstIndex() - 1;
    for (const [id, pr] of this.raw.status().progress ?? []) {
      if (id === this.peerId || pr.match >= compacted) continue;
      const peer = this.peerById(id);
      if (peer !== undefined) pending.push(peer);
    }
    return { down, pending };
  }


  epochNotMatch(): FlotillaError {
    return new FlotillaError('EpochNotMatch', `region ${this.regionId}: epoch is now ${this.region.epoch.confVer}/${this.region.epoch.version}`, {
      details: { currentRegions: [this.region] },
    });
  }

  /** The apply batch that applied up to `applied` is written: what it applied is readable. */
  onApplyWritten(): void {
    this.appliedWritten = this.applied;
    if (this.applyEndWaiters.length > 0) this.wakeApplyEndWaiters(this.appliedWritten);
  }

  /**
   * Calls `then` once this peer has applied, and written, everything its log holds now, or once it
   * no longer leads in `term` (a later leader applies all of it before it serves a read), or is
   * destroyed: a proposal of `term` that failed after it may have committed (timed out, its log
   * replaced by a snapshot) can then no longer apply unseen. `applied` alone would not do: it
   * moves as the apply batch is built, and a read before that batch lands may not see it. One list
   * per peer, woken by the apply writes and the role change, not a timer per caller: proposals
   * that time out behind a stalled apply write must not each hold a timer.
   */
  whenApplyEnds(term: number, then: () => void): void {
    if (this.destroyed || !this.isLeader || this.raw.term !== term) {
      then();
      return;
    }
    const index = this.storage.lastIndex();
    if (this.appliedWritten >= index) then();
    else this.applyEndWaiters.push({ index, then });
  }

  /** whenApplyEnds callbacks still waiting (the write admission bound, KvLimits.unsettledWritesMax; tests). */
  get applyEndWaiterCount(): number {
    return this.applyEndWaiters.length;
  }

  /** Calls, each in its own microtask (not inside the poll loop's pass), the waiters whose index `upTo` reaches. */
  private wakeApplyEndWaiters(upTo: number): void {
    let kept = 0;
    for (const w of this.applyEndWaiters) {
      if (w.index <= upTo) queueMicrotask(w.then);
      else this.applyEndWaiters[kept++] = w;
    }
    this.applyEndWaiters.length = kept;
  }

  /** Serves confirmed reads now covered by what is applied and written. */
  serveReads(): void {
    if (this.confirmedReads.length === 0) return;
    let kept = 0;
    for (const read of this.confirmedReads) {
      if (read.index <= this.appliedWritten) {
        clearTimeout(read.timer);
        read.resolve();
      } else {
        this.confirmedReads[kept++] = read;
      }
    }
    this.confirmedReads.length = kept;
  }

  private failReads(err: FlotillaError): void {
    if (this.readGroup !== null) {
      for (const w of this.readGroup) w.reject(err);
      this.readGroup = null;
    }
    if (this.replicaGroup !== null) {
      for (const w of this.replicaGroup.waiters) w.reject(err);
      this.replicaGroup = null;
    }
    for (const read of this.reads.values()) {
      clearTimeout(read.timer);
      read.reject(err);
    }
    this.reads.clear();
    for (const read of this.confirmedReads) {
      clearTimeout(read.timer);
      read.reject(err);
    }
    this.confirmedReads.length = 0;
  }

  /** Stops the peer: every waiter fails with `err`. */
  destroy(err: FlotillaError): void {
    this.destroyed = true;
    for (const p of this.queued) p.reject(err);
    this.queued = [];
    this.waiters.failAll(err);
    this.failReads(err);
    this.wakeApplyEndWaiters(Infinity);
    this.storage.dispose();
  }
}
