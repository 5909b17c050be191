// A seeded, deterministic simulator for raft/ (after TigerBeetle's VOPR). The seed picks the
// fault parameters (drop, delay, reorder, duplicate, partitions — symmetric, one-way and long
// one-way isolations of the leader —, crashes, paused processes that keep their clock, slow and
// asynchronous storage), then a safety phase runs client proposals, ReadIndex and lease reads at
// every node that believes it leads, membership changes (learners, joint configurations held for
// many ticks, removal of the leader) and leader transfers under those faults; a liveness phase on
// a healed network must converge and answer reads. After every step the checkers run: election
// safety, vote safety, log matching, the commit rule, leader completeness, state-machine safety
// and linearizable reads.
//
// Quiet mode (hibernation, issue 20): in a share of seeds (all with `quiet: 'always'`) the hosts
// quiesce a leader whenever the library allows, skip ticking quiet nodes, wake random quiet
// nodes, and — the policy the library's contract requires — wake a quiet follower once they learn
// its leader's process is down, restarted or cut off from it. The client goes idle for stretches
// so groups really sleep, and a sleeping leader is sometimes cut off on its own. Extra checks: a
// quiet leader never has a lease, tick() on a quiet node changes nothing, a leader exists within
// LEADER_AFTER_HEAL_TICKS_MAX of healing, and every proposal made after healing to the leader
// that then converges (directly or forwarded by a follower, quiet or not) commits.
//
// Persistence follows the servers' loop (placement-driver/raft-node.ts over raft-log.ts): ready()
// → send `messages` → start an atomic write → (ticks run and messages arrive meanwhile; no second
// Ready until this one is advanced) → the write lands in storage → send `persistedMessages` →
// apply → advance(). A crash loses an in-flight write or, the batch being atomic, lands it whole.
// Half the seeds (their own generator) write behind the Readys instead, like the store's poll
// loop (raft config asyncStorageWrites): a node takes Readys while earlier writes are in flight,
// queues their writes in order (each lands after the one before), applies the committed entries
// a Ready hands out at once (raft hands out only durable ones) and acknowledges each part apart;
// a crash lands a prefix of the queued writes, or none.
import { confStateMismatch, modelChange, modelConfigOf } from '../raft/confchange-model.js';
import {
  type ConfChange,
  type ConfChangeSingle,
  type ConfState,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
  MemoryStorage,
  NONE,
  RawNode,
  decodeConfChange,
  isQuiesceContext,
  readyNeedsWrite,
} from '../../raft/index.js';
import { type Rng, createRng } from '../../common/pure.js';

export interface SimOptions {
  readonly seed: number;
  /** Ticks of the faulty phase. */
  readonly safetyTicks?: number;
  /** Ticks the healed phase may take to converge. */
  readonly livenessTicks?: number;
  /** Collect a textual trace (for determinism checks and debugging). */
  readonly trace?: boolean;
  /** Quiet mode: in a share of seeds chosen by the seed ('seeded', the default), in all, or none. */
  readonly quiet?: 'seeded' | 'always' | 'off';
}

/**
 * How often each fault and feature happened in one seed. Summed over a sweep, a counter at zero
 * is a blind spot: the CI sweep fails on it (see REQUIRED_COVERAGE).
 */
export interface SimCoverage {
  ticks: number;
  committed: number;
  elections: number;
  messagesDelivered: number;
  /** Messages held back for more than an election timeout (then delivered, stale). */
  longDelays: number;
  partitions: number;
  /** One-way isolations of the leader lasting longer than two election timeouts. */
  longOneWayIsolations: number;
  crashes: number;
  leaderCrashes: number;
  restarts: number;
  /** Restarts in seeds with lease reads on. */
  restartsWithLeases: number;
  /** Restarts of a node that was leader when it crashed, lease reads on. */
  leaderRestartsWithLeases: number;
  /** Processes paused (frozen) for some ticks; on resume the owed ticks are replayed. */
  pauses: number;
  /** Reads issued to a node that believes it leads (ReadIndex, lease or safe). */
  readsAtLeaders: number;
  /** Reads issued to a node that believes it leads while a newer term has a leader. */
  readsAtDeposedLeaders: number;
  /** Reads issued to a leader whose leader transfer was aborted in its current term. */
  readsAtAbortedTransferLeaders: number;
  readsAnswered: number;
  /** Reads answered at once from a valid lease. */
  leaseReadsServed: number;
  /** Reads issued in a seed with lease reads on. */
  readsWithLeases: number;
  /** Ready writes that were asynchronous (completed in a later round). */
  asyncWrites: number;
  /** Async seeds: Readys taken while an earlier write of the node was still in flight. */
  readiesDuringWrite: number;
  /** Async seeds: crashes that landed some but not all of the queued writes. */
  crashesLandingPrefix: number;
  /** Messages stepped into a node while its write was in flight. */
  messagesDuringWrite: number;
  /** Ticks of a node while its write was in flight. */
  ticksDuringWrite: number;
  /** A write completed whose last entry had been replaced in the log while it was in flight. */
  entriesReplacedDuringWrite: number;
  crashesWithWriteInFlight: number;
  /** Of those: the atomic write landed before the process died. */
  writesLandedAtCrash: number;
  confChanges: number;
  /** Joint configurations entered (applied on the leader). */
  jointConfigs: number;
  /** Leader-ticks spent in a joint configuration. */
  ticksInJoint: number;
  /** Explicit joint configurations left by a proposal of the simulator. */
  explicitJointLeaves: number;
  learnersAdded: number;
  learnersPromoted: number;
  learnersRemoved: number;
  /** A leader applied its own removal (or demotion). */
  leaderRemovals: number;
  /** Of those, leaders that led on to commit a handoff entry (raft.ts beginLeaving). */
  leaversLeadingOn: number;
  /** Ticks at which a leaving leader still led. */
  ticksLeaving: number;
  /** A candidate learned its commit index from a refused vote (raft.ts learnCommitHint). */
  commitHintsLearned: number;
  /** Conf changes applied and judged against the membership rules (confchange-model.ts). */
  confChangesJudged: number;
  /** Nodes removed while cut off, told so on the healed network (tellRemovedNodes). */
  removedNodesTold: number;
  transfers: number;
  transfersDuringJoint: number;
  /** Transfers that timed out with the old leader still leading its term. */
  abortedTransfers: number;
  snapshotsInstalled: number;
  /** Seeds of the membership-churn profile (single-step changes back to back, lagging applies). */
  churnSeeds: number;
  /** A conf change accepted while the previous one was committed but not yet applied on some member. */
  confChangeWhilePrevUnapplied: number;
  /** Ticks at which two running members' applied configurations were two or more changes apart. */
  configsTwoApart: number;
  /** Partitions started right after the leader saw a conf change commit. */
  partitionsAfterConfCommit: number;
  /** Seeds with quiet mode on. */
  quietSeeds: number;
  /** Leaders that went quiet (quiesce() accepted). */
  quiesces: number;
  /** Followers that went quiet on a quiesce heartbeat. */
  followersQuiesced: number;
  /** Quiesce heartbeats a follower refused (it stayed awake and answered). */
  quiesceRefused: number;
  /** Node-ticks the hosts skipped because the node was quiet. */
  quietTicks: number;
  /** Quiet nodes woken by the host at random (a host's own reasons). */
  hostWakes: number;
  /** Quiet followers woken by the host because their leader was down, restarted or cut off. */
  wakesLeaderUnreachable: number;
  /** Proposals made at a quiet node. */
  proposalsAtQuiet: number;
  /** Reads issued at a quiet leader. */
  readsAtQuietLeaders: number;
  /** Reads issued at a quiet leader while a newer term has a leader. */
  readsAtQuietDeposedLeaders: number;
  /** Leaders elected while a leader of an older term slept. */
  electionsPastQuietLeader: number;
  /** A quiet leader cut off on its own. */
  quietLeaderIsolations: number;
  /** Crashes of a quiet node. */
  crashesWhileQuiet: number;
  /** Quiet-mode seeds whose group was quiet when healing began (liveness from sleep). */
  healsWhileQuiet: number;
  /** Proposals made after healing that the liveness check required to commit. */
  livenessProposalsRequired: number;
  /** Seeds of the shrink profile (groups shrunk to one and two voters, then grown back). */
  shrinkSeeds: number;
  /** Leader-ticks with a single voter (not joint). */
  ticksWithOneVoter: number;
  /** Leader-ticks with two voters (not joint). */
  ticksWithTwoVoters: number;
  /** Leaders elected as the only voter (on their own vote). */
  singleVoterElections: number;
  /** Commit index moves of a single-voter leader (on its own durable write). */
  singleVoterCommits: number;
  /** Of those, in seeds writing behind the Readys (asyncStorageWrites). */
  singleVoterCommitsAsync: number;
  /** Commit index moves of a two-voter leader (both must hold the entry). */
  twoVoterCommits: number;
  /** Joint configurations entered with a one-voter half ({1} ← {1,2,3}, {4} ← {1}, …). */
  jointConfigsWithOneVoterHalf: number;
  /** Joint configurations left into a single voter (the leave commits with the outgoing majority too). */
  jointLeavesToOneVoter: number;
  /** A leader removed (or demoted) itself leaving at most two voters. */
  leaderRemovalsToSmallConfig: number;
  /** Changes applied by a single-voter leader that added voters (growing back). */
  growsFromOneVoter: number;
  /** Crashes of a voter of a (non-joint) configuration of one or two voters. */
  crashesInSmallConfig: number;
}

/**
 * Known raft/ liveness hazard (not a counter: the sweep lists these seeds apart). A node removed
 * or demoted by a change that left its old configuration with no quorum without it ({1,2} → {2},
 * {2} ← {1} left) no longer campaigns, yet a survivor that never learned the change committed
 * still needs its vote and is refused it when the leaver's log is longer (etcd-io/etcd#10563).
 */
export const REMOVAL_DEADLOCK = 'removal deadlock';

function emptyCoverage(): SimCoverage {
  return {
    ticks: 0, committed: 0, elections: 0, messagesDelivered: 0, longDelays: 0, partitions: 0, longOneWayIsolations: 0,
    crashes: 0, leaderCrashes: 0, restarts: 0, restartsWithLeases: 0, leaderRestartsWithLeases: 0, pauses: 0,
    readsAtLeaders: 0, readsAtDeposedLeaders: 0, readsAtAbortedTransferLeaders: 0, readsAnswered: 0, leaseReadsServed: 0,
    readsWithLeases: 0, asyncWrites: 0, readiesDuringWrite: 0, crashesLandingPrefix: 0, messagesDuringWrite: 0, ticksDuringWrite: 0, entriesReplacedDuringWrite: 0,
    crashesWithWriteInFlight: 0, writesLandedAtCrash: 0, confChanges: 0, jointConfigs: 0, ticksInJoint: 0,
    explicitJointLeaves: 0, learnersAdded: 0, learnersPromoted: 0, learnersRemoved: 0, leaderRemovals: 0, leaversLeadingOn: 0, ticksLeaving: 0, commitHintsLearned: 0, confChangesJudged: 0, removedNodesTold: 0,
    transfers: 0, transfersDuringJoint: 0, abortedTransfers: 0, snapshotsInstalled: 0,
    churnSeeds: 0, confChangeWhilePrevUnapplied: 0, configsTwoApart: 0, partitionsAfterConfCommit: 0,
    quietSeeds: 0, quiesces: 0, followersQuiesced: 0, quiesceRefused: 0, quietTicks: 0, hostWakes: 0, wakesLeaderUnreachable: 0,
    proposalsAtQuiet: 0, readsAtQuietLeaders: 0, readsAtQuietDeposedLeaders: 0, electionsPastQuietLeader: 0,
    quietLeaderIsolations: 0, crashesWhileQuiet: 0, healsWhileQuiet: 0, livenessProposalsRequired: 0,
    shrinkSeeds: 0, ticksWithOneVoter: 0, ticksWithTwoVoters: 0, singleVoterElections: 0, singleVoterCommits: 0,
    singleVoterCommitsAsync: 0, twoVoterCommits: 0, jointConfigsWithOneVoterHalf: 0, jointLeavesToOneVoter: 0,
    leaderRemovalsToSmallConfig: 0, growsFromOneVoter: 0, crashesInSmallConfig: 0,
  };
}

/** Every counter must be non-zero over a CI sweep. */
export const REQUIRED_COVERAGE: readonly (keyof SimCoverage)[] = Object.keys(emptyCoverage()) as (keyof SimCoverage)[];

export function addCoverage(into: SimCoverage, c: SimCoverage): void {
  for (const k of REQUIRED_COVERAGE) into[k] += c[k];
}

export function newCoverage(): SimCoverage {
  return emptyCoverage();
}

export type SimStats = SimCoverage & { readonly nodes: number; readonly leaderAfterHealTicks: number };

export type SimResult =
  | { readonly ok: true; readonly seed: number; readonly stats: SimStats; readonly traceHash: number; readonly trace: readonly string[] }
  | { readonly ok: false; readonly seed: number; readonly error: string; readonly tick: number; readonly trace: readonly string[] };

/** The one-line command that replays a seed. */
export function replayCommand(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}

class SimViolation extends Error {
  override readonly name = 'SimViolation';
}

function violation(msg: string): never {
  throw new SimViolation(msg);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function bytesKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i] ?? 0);
  return s;
}

function entryKey(e: Entry): string {
  return `${e.type}|${e.term}|${bytesKey(e.data)}`;
}

/** FNV-1a over a string, continuing from `h`. */
function fnv(h: number, s: string): number {
  let x = h >>> 0;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
}

/** A directed link as a number (node ids stay below 64). */
function linkKey(from: NodeId, to: NodeId): number {
  return from * 64 + to;
}

/** FNV-1a step over one integer. */
function fnvInt(h: number, v: number): number {
  return Math.imul((h ^ v) >>> 0, 0x01000193) >>> 0;
}

/**
 * Whether `count` of a config half's `size` voters are a majority of it: more than half, so one of
 * one, both of two, two of three, three of four or five. The checkers' own arithmetic, apart from
 * raft/quorum.ts on purpose; an empty half is never asked (it agrees with everything).
 */
function isMajority(count: number, size: number): boolean {
  return size > 0 && count * 2 > size;
}

function sameMembers(a: ConfState, b: ConfState): boolean {
  const ids = (c: ConfState): string => [c.voters, c.votersOutgoing, c.learners, c.learnersNext].map((xs) => xs.join(',')).join('|');
  return ids(a) === ids(b);
}

/** The replicated state machine: a running hash of applied entries. */
interface StateMachine {
  applied: number;
  hash: number;
}

function encodeSm(sm: StateMachine): Uint8Array {
  return enc.encode(`${sm.applied}:${sm.hash}`);
}

function decodeSm(data: Uint8Array): StateMachine {
  const [a, h] = dec.decode(data).split(':');
  return { applied: Number(a), hash: Number(h) };
}

/** A Ready whose write is in flight: it lands in storage at `doneAt` (a tick) after `round`. */
interface PendingWrite {
  readonly rd: Ready;
  readonly doneAt: number;
  /** Global round counter when issued: a write never lands in the round it was issued in. */
  readonly round: number;
}

interface SimNode {
  readonly id: NodeId;
  /** Durable state: survives crashes. */
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  /** Volatile applied state, rebuilt from the storage snapshot on restart. */
  sm: StateMachine;
  removed: boolean;
  /**
   * Shrink seeds: applied index at which this node applied its own removal (0: a member). Its
   * host keeps it running until every voter of the configuration without it knows durably that
   * the removal committed (see retireRemovedNodes).
   */
  retiringAt: number;
  /** Not shrink seeds: applied its own removal as leader and leads on; stopped once it steps down. */
  isLeaving: boolean;
  /** Crashed at this tick (undefined when up). */
  downSince: number | undefined;
  /** Was leader when it crashed. */
  crashedAsLeader: boolean;
  write: PendingWrite | undefined;
  /** Async seeds: writes queued behind the Readys, oldest first (each lands after the one before). */
  queue: PendingWrite[];
  /** Async seeds: Readys whose committed entries wait to be applied, oldest first. */
  applyQueue: PendingWrite[];
  /** Paused (frozen process) until this tick; its owed ticks are replayed on resume. */
  pausedUntil: number;
  pausedTicks: number;
  /** Times paused so far (a proposal forwarded to a leader that is paused later may be lost). */
  pauseCount: number;
  /** Term in which a transfer was requested of this leader, and whether it was seen aborted. */
  transferTerm: number;
  abortedTransferTerm: number;
  /** Commit index (and term) at which checkCommitDurable last looked at this node as leader. */
  leaderCommitChecked: number;
  leaderCommitCheckedTerm: number;
  /** ReadStates of the current raft batch already judged by checkReadConfirmed. */
  readStatesSeen: number;
  /** Tick at which this node, as leader of `ownCommitTerm`, was first seen committed in its term. */
  ownCommitAt: number;
  ownCommitTerm: number;
  /** Ticks this node's writes (hence its applies) may stay in flight; −1: synchronous. */
  writeDelayMax: number;
  /** As leader: the last conf change index seen committed (churn: partition right after). */
  confCommitSeen: number;
  /** maxCommittedSizePerReady (churn: some nodes apply a few entries per Ready). */
  applyBatchBytes: number;
  /** Per tick, chance that a load of evicted entries completes (churn: some disks are slow). */
  loadRate: number;
  /** Restarts so far: a host sees a peer's process restart (store liveness epochs). */
  incarnation: number;
  /** Quiet follower: its leader and that leader's incarnation when it went quiet. */
  quietLeader: NodeId;
  quietLeaderIncarnation: number;
}

interface InFlight {
  readonly at: number;
  /** Tick at which the message left its node (after ready(), or after the write for persisted ones). */
  readonly sentAt: number;
  readonly seq: number;
  readonly msg: Message;
}

interface PendingRead {
  readonly node: NodeId;
  readonly term: number;
  readonly issuedAt: number;
  /** Lowest acceptable read index: the highest commit index any node knew when it was issued. */
  readonly floor: number;
  readonly atLeader: boolean;
  readonly liveness: boolean;
  /** Answered within readIndex() itself (a lease, or a group of one): no heartbeat round owed. */
  readonly answeredAtOnce: boolean;
}

/** A proposal made after healing, and what it takes for it to be owed a commit. */
interface LivenessProposal {
  readonly leaderId: NodeId;
  readonly term: number;
  readonly at: number;
  /** The leader's pause count then: a pause since may lose a forwarded proposal. */
  readonly pauses: number;
  /** The follower that forwarded it (NONE: appended at the leader), and its incarnation then. */
  readonly forwarder: NodeId;
  readonly forwarderIncarnation: number;
}

interface FaultParams {
  readonly dropRate: number;
  readonly dupRate: number;
  readonly delayMax: number;
  /** Chance that a message is held back for several election timeouts (not in lease seeds). */
  readonly longDelayRate: number;
  readonly partitionRate: number;
  readonly longIsolationRate: number;
  readonly crashRate: number;
  readonly pauseRate: number;
  /** Per tick, crash the current leader (the "figure 8" nemesis: leaders die mid-replication). */
  readonly leaderCrashRate: number;
  readonly proposeRate: number;
  readonly readRate: number;
  readonly confChangeRate: number;
  readonly transferRate: number;
  readonly evictRate: number;
  readonly asyncSnapshots: boolean;
  /** Writes behind the Readys (raft config asyncStorageWrites; the store's poll loop). */
  readonly asyncStorageWrites: boolean;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** raft's skipBcastCommit (what the store runs): followers learn commits with the next append or heartbeat. */
  readonly skipBcastCommit: boolean;
  /** raft's skipHeartbeatsWhileAppending (what the store runs): leases rest on append acks under load. */
  readonly skipHeartbeatsWhileAppending: boolean;
  readonly leaseReads: boolean;
  readonly snapshotInterval: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  /** Ticks a write may stay in flight; −1: writes land synchronously inside the round. */
  readonly writeDelayMax: number;
  /** Chance that a crash lands the in-flight (atomic) write before the process dies. */
  readonly landOnCrashRate: number;
  /** Ticks an explicit joint configuration is held before the simulator leaves it. */
  readonly jointHoldTicks: number;
  /**
   * Membership churn: single-step voter changes proposed back to back (asked after every
   * delivery round, so right after each commit and apply), per-node write delays so some nodes
   * apply a committed change long after others, and partitions that start right after a conf
   * change commits, so nodes on the old and the new configuration campaign on both sides.
   */
  readonly churn: boolean;
  readonly churnRate: number;
  readonly partitionAfterConfCommitRate: number;
  /**
   * Shrink profile (not with churn): membership changes drive the group down to one or two
   * voters — single-step removals and demotions, joint changes straight to the target, the leader
   * removing itself —, hold it there for a while (swapping the last voters through joint configs
   * with one-voter halves, adding and removing learners) under the seed's usual faults, then grow
   * it back to three to five voters, and again while the safety phase lasts.
   */
  readonly shrink: boolean;
  /** Shrink seeds: per tick, chance that the leader is asked for the profile's next change. */
  readonly shrinkRate: number;
  /** Shrink seeds: ticks the group is held at one or two voters before it grows back. */
  readonly shrinkHoldTicks: number;
}

/** The shrink profile's next membership change. */
interface ShrinkPlan {
  readonly changes: ConfChangeSingle[];
  readonly transition: ConfChange['transition'];
}

/**
 * Quiet-mode parameters, drawn from a generator of their own so that seeds without quiet mode
 * replay exactly as before it existed.
 */
interface QuietParams {
  /** Per delivery round, chance that a leader's host tries quiesce() (it succeeds only when allowed). */
  readonly quiesceRate: number;
  /** Per tick, chance that the host wakes a random quiet node for reasons of its own. */
  readonly hostWakeRate: number;
  /** Per tick, chance that a host notices a quiet follower's leader is down, restarted or cut off. */
  readonly suspectRate: number;
  /** Per tick, chance that the client goes idle (no requests) for a stretch, so groups sleep. */
  readonly idleRate: number;
  readonly idleTicksMax: number;
  /** Per tick, chance that a quiet leader is cut off on its own for several election timeouts. */
  readonly isolateQuietLeaderRate: number;
}

const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 2;
const MAX_NODE_IDS = 9;
/** Churn and shrink seeds add and remove many voters (ids are never reused). */
const MAX_NODE_IDS_CHURN = 40;
/** PD replays at most this many owed ticks after a pause (placement-driver/raft-node.ts). */
const REPLAY_TICKS_MAX = ELECTION_TICK * 4;
/** A read at the converged leader, issued this long before convergence, must have been answered. */
const READ_ANSWER_TICKS_MAX = 3 * ELECTION_TICK;
/**
 * After healing, a leader no other running node's term exceeds must exist within this many
 * ticks. Budget: crashed nodes restart at once; a host notices an unreachable leader within a few
 * ticks (suspectRate ≥ 0.2 per tick); a woken follower waits out its frozen leader lease (one
 * election timeout) and its randomized timeout (< 2), then pre-vote and vote rounds; split votes
 * repeat that. Measured: see test/sim/raft-sim-quiet.test.ts.
 */
export const LEADER_AFTER_HEAL_TICKS_MAX = 20 * ELECTION_TICK;

export class Simulation {
  readonly seed: number;
  private readonly rng: Rng;
  private readonly p: FaultParams;
  private readonly nodes = new Map<NodeId, SimNode>();
  private nextNodeId: NodeId;
  private net: InFlight[] = [];
  private seq = 0;
  private now = 0;
  private round = 0;
  /** Directed links that drop everything: linkKey(from, to). */
  private blocked = new Set<number>();
  private partitionHealAt = 0;
  private readonly traceOn: boolean;
  readonly trace: string[] = [];
  private traceHash = 0x811c9dc5;
  private faulty = true;
  /** Liveness phase after convergence: no new client requests. */
  private clientsStopped = false;

  // ---- checker state ----
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private maxLeaderTerm = 0;
  /** "index|term" → entry key and previous term seen with it (log matching). */
  private readonly entryIdentity = new Map<string, { key: string; prevTerm: number | undefined }>();
  /** Committed (applied somewhere) entry key by index. */
  private readonly committedKey: string[] = [];
  /** State-machine hash after applying index i. */
  private readonly hashAt: number[] = [];
  private maxApplied = 0;
  /** Highest commit index any node has reached. */
  private maxCommit = 0;
  /** Term of the node that first reported index i committed. */
  private readonly commitSeenInTerm: number[] = [];
  private readonly pendingReads = new Map<string, PendingRead>();
  /** "leader|term|follower" → latest send tick of a heartbeat of that term the follower accepted. */
  private readonly heartbeatSentAt = new Map<string, number>();
  /** Like heartbeatSentAt, for any message of the leader a follower accepted (heartbeats and appends): the lease's evidence. */
  private readonly leaderContactSentAt = new Map<string, number>();
  private nextReadId = 0;
  private readonly voteOf = new Map<string, NodeId>();
  private readonly committedTerm: number[] = [];
  private readonly commitChecked = new Map<NodeId, number>();
  /** Commit index last seen per "leader@term". */
  private readonly leaderCommit = new Map<string, number>();
  private nextProposalId = 0;
  private liveMarker: string | undefined;
  private markerIndex = 0;
  private markerTerm = 0;
  /** Explicit joint config entered by the simulator: leave it at this tick. */
  private leaveJointAt = 0;
  /** Indexes of applied conf change entries, ascending (a node's config = how many it applied). */
  private readonly confIndexes: number[] = [];
  /** Shrink seeds: where the group is headed, and the voter count it is headed to. */
  private shrinkPhase: 'shrinking' | 'holding' | 'growing' = 'shrinking';
  private shrinkVotersTarget = 0;
  private shrinkHoldUntil = 0;

  private readonly cov: SimCoverage = emptyCoverage();

  // ---- quiet mode ----
  /** Quiet-mode parameters; undefined: the hosts never quiesce. */
  private readonly q: QuietParams | undefined;
  private readonly quietRng: Rng;
  /** Client requests pause until this tick (quiet seeds): the groups may sleep. */
  private idleUntil = 0;
  private healedAt = 0;
  /** First tick after healing at which a leader existed. */
  private leaderAfterHealAt = -1;
  /** Proposals made after healing: payload → where it went and what it got. */
  private readonly livenessProposals = new Map<string, LivenessProposal>();
  /** Payloads of applied entries made after healing. */
  private readonly appliedLivenessPayloads = new Set<string>();

  private readonly safetyTicks: number;
  private readonly livenessTicks: number;

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.rng = createRng(opts.seed);
    this.traceOn = opts.trace === true;
    const r = this.rng;
    // One seed in four is a "figure 8" profile: five nodes, one entry per append, leaders that
    // keep dying mid-replication — the conditions under which counting replicas of an old-term
    // entry would commit something a later leader overwrites.
    const figure8 = r.chance(0.25);
    const churn = !figure8 && r.chance(0.15);
    const nodeCount = figure8 || r.chance(0.5) ? 5 : 3;
    // The shrink profile draws from its own generator: the other parameters of every seed stay
    // as they were, and seeds without it replay exactly as before it existed.
    const shrinkRng = createRng(opts.seed * 23 + 0x5471);
    const shrink = !churn && shrinkRng.chance(0.2);
    // Churn keeps check-quorum on: without it (and without pre-vote) a voter that missed its
    // group's changes campaigns for ever to members of its stale config that left, at a term
    // the leader never hears of (it ignores the leader's lower-term appends) — etcd's behaviour too.
    const checkQuorum = churn || r.chance(0.8);
    const leaseReads = checkQuorum && !churn && r.chance(0.7);
    // Lease reads assume no message travels longer than an election timeout from the moment
    // raft emits it; a write in flight holds a node's next messages back. Keep
    // 3·writeDelay + 2·netDelay (MsgTimeoutNow behind the leader's write, the transferee's
    // vote requests behind two of its writes) under the election timeout in lease seeds.
    const writeDelayMax = r.chance(0.2) ? -1 : leaseReads ? r.nextInt(2) : r.nextInt(4);
    this.p = {
      dropRate: r.chance(0.3) ? 0 : r.nextFloat() * 0.2,
      dupRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.1,
      delayMax: leaseReads ? r.nextInt(3) : r.nextInt(4),
      // Lease reads assume no message is older than an election timeout when it arrives.
      longDelayRate: leaseReads || r.chance(0.5) ? 0 : r.nextFloat() * 0.02,
      partitionRate: r.chance(0.3) ? 0 : r.nextFloat() * 0.03,
      longIsolationRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.01,
      crashRate: r.chance(0.3) ? 0 : r.nextFloat() * 0.01,
      pauseRate: r.chance(0.6) ? 0 : r.nextFloat() * 0.01,
      leaderCrashRate: figure8 ? 0.05 + r.nextFloat() * 0.25 : r.chance(0.7) ? 0 : r.nextFloat() * 0.15,
      proposeRate: 0.1 + r.nextFloat() * 0.5,
      readRate: 0.05 + r.nextFloat() * 0.3,
      confChangeRate: r.chance(0.4) ? 0 : r.nextFloat() * 0.05,
      transferRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.03,
      evictRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.05,
      asyncSnapshots: r.chance(0.5),
      // Shrink seeds always pre-vote: without it a joint config whose incoming half is one voter
      // livelocks when that voter holds the longest log — every other voter's campaign bumps the
      // term and splits its election (seed 1355: no leader 200 ticks after healing).
      preVote: r.chance(0.75) || shrink,
      checkQuorum,
      leaseReads,
      snapshotInterval: 5 + r.nextInt(30),
      maxSizePerMsg: figure8 || r.chance(0.5) ? 0 : 64 + r.nextInt(512),
      maxInflightMsgs: figure8 ? 1 : 1 + r.nextInt(8),
      writeDelayMax,
      landOnCrashRate: r.nextFloat(),
      jointHoldTicks: r.nextInt(6 * ELECTION_TICK),
      churn,
      churnRate: churn ? 0.2 + r.nextFloat() * 0.8 : 0,
      partitionAfterConfCommitRate: churn ? r.nextFloat() : 0,
      // Its own generator: the other parameters of every seed stay as they were.
      skipBcastCommit: createRng(opts.seed * 13 + 0xbca5).chance(0.5),
      skipHeartbeatsWhileAppending: createRng(opts.seed * 17 + 0x4b3a).chance(0.5),
      asyncStorageWrites: createRng(opts.seed * 19 + 0xa5e7).chance(0.5),
      shrink,
      shrinkRate: shrink ? 0.1 + shrinkRng.nextFloat() * 0.4 : 0,
      shrinkHoldTicks: shrink ? 2 * ELECTION_TICK + shrinkRng.nextInt(8 * ELECTION_TICK) : 0,
    };
    if (churn) this.cov.churnSeeds++;
    if (shrink) {
      this.cov.shrinkSeeds++;
      this.shrinkVotersTarget = shrinkRng.chance(0.5) ? 1 : 2;
    }
    // Quiet mode draws from its own generator: seeds without it replay exactly as before.
    this.quietRng = createRng(opts.seed * 7 + 0x5eed);
    const qr = this.quietRng;
    const quietOn = opts.quiet === 'always' || (opts.quiet !== 'off' && qr.chance(0.3));
    this.q = quietOn
      ? {
          quiesceRate: 0.2 + qr.nextFloat() * 0.8,
          hostWakeRate: qr.chance(0.3) ? 0 : qr.nextFloat() * 0.03,
          suspectRate: 0.2 + qr.nextFloat() * 0.6,
          idleRate: 0.02 + qr.nextFloat() * 0.1,
          idleTicksMax: ELECTION_TICK * (2 + qr.nextInt(8)),
          isolateQuietLeaderRate: qr.chance(0.3) ? 0 : qr.nextFloat() * 0.05,
        }
      : undefined;
    if (quietOn) this.cov.quietSeeds++;
    this.safetyTicks = opts.safetyTicks ?? 250;
    // Generous: a seed with one entry per append and one append in flight drains a long backlog
    // slowly once healed (converged seeds stop early, so this costs only the slow ones).
    this.livenessTicks = opts.livenessTicks ?? 600;
    const voters: NodeId[] = [];
    for (let i = 1; i <= nodeCount; i++) voters.push(i);
    this.nextNodeId = nodeCount + 1;
    for (const id of voters) {
      const storage = new MemoryStorage();
      // Bootstrap: a snapshot at index 1 term 1 carrying the initial membership.
      storage.applySnapshot({
        metadata: { index: 1, term: 1, confState: { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } },
        data: encodeSm({ applied: 1, hash: 0 }),
      });
      storage.setHardState({ term: 1, vote: 0, commit: 1 });
      this.addNode(id, storage);
    }
    this.hashAt[1] = 0;
    this.committedKey[1] = 'bootstrap';
    this.maxApplied = 1;
    this.maxCommit = 1;
    this.commitSeenInTerm[1] = 1;
    this.tr(`seed ${this.seed} nodes ${nodeCount} params ${JSON.stringify(this.p)}`);
    if (this.q !== undefined) this.tr(`quiet mode ${JSON.stringify(this.q)}`);
  }

  private tr(line: string): void {
    this.traceHash = fnv(this.traceHash, line);
    if (this.traceOn) this.trace.push(`[${this.now}] ${line}`);
  }

  private addNode(id: NodeId, storage: MemoryStorage): SimNode {
    const node: SimNode = {
      id, storage, raw: undefined, sm: { applied: 0, hash: 0 }, removed: false, retiringAt: 0, isLeaving: false, downSince: undefined, crashedAsLeader: false,
      write: undefined, queue: [], applyQueue: [], pausedUntil: 0, pausedTicks: 0, transferTerm: 0, abortedTransferTerm: 0, leaderCommitChecked: 0, leaderCommitCheckedTerm: 0, readStatesSeen: 0, ownCommitAt: 0, ownCommitTerm: 0,
      // Churn: each node its own write (and so apply) latency, some far slower than others.
      writeDelayMax: this.p.churn ? this.rng.nextInt(10) - 1 : this.p.writeDelayMax, confCommitSeen: 0,
      applyBatchBytes: this.p.churn && this.rng.chance(0.5) ? 1 + this.rng.nextInt(64) : 0,
      loadRate: this.p.churn && this.rng.chance(0.5) ? 0.02 + this.rng.nextFloat() * 0.2 : 0.5,
      incarnation: 0, quietLeader: NONE, quietLeaderIncarnation: 0, pauseCount: 0,
    };
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  private start(node: SimNode): void {
    const snap = node.storage.snapshot(0);
    const s: Snapshot | undefined = snap === 'unavailable' ? undefined : snap;
    node.sm = s !== undefined && s.metadata.index > 0 ? decodeSm(s.data) : { applied: 0, hash: 0 };
    // Async seeds apply (and snapshot) entries while the hard state carrying the commit index that
    // let them apply may still be queued; a crash in between leaves the saved commit behind. What
    // was applied was committed: raise it, as the store does when it loads a region.
    const hs = node.storage.initialState().hardState;
    if (hs.commit < node.sm.applied) node.storage.setHardState({ ...hs, commit: node.sm.applied });
    // Snapshots are generated on demand (asynchronously: storage answers 'unavailable' until the
    // simulator produces one) so a new member always gets one that includes its own addition.
    // With `asyncSnapshots` off a slightly stale snapshot is served first when one exists.
    if (this.p.asyncSnapshots) node.storage.snapshotWantedIndex = () => node.sm.applied;
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      rng: this.rng.fork(),
      applied: node.sm.applied,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      preVote: this.p.preVote,
      checkQuorum: this.p.checkQuorum,
      skipBcastCommit: this.p.skipBcastCommit,
      skipHeartbeatsWhileAppending: this.p.skipHeartbeatsWhileAppending,
      asyncStorageWrites: this.p.asyncStorageWrites,
      readOnlyOption: this.p.leaseReads ? 'lease-based' : 'safe',
      maxSizePerMsg: this.p.maxSizePerMsg,
      maxInflightMsgs: this.p.maxInflightMsgs,
      maxInflightBytes: 0,
      ...(node.applyBatchBytes > 0 ? { maxCommittedSizePerReady: node.applyBatchBytes } : {}),
      verify: true,
    });
    node.downSince = undefined;
    node.write = undefined;
    node.queue = [];
    node.applyQueue = [];
    node.pausedUntil = 0;
    node.pausedTicks = 0;
  }

  private crash(node: SimNode): void {
    const raw = node.raw;
    if (raw === undefined) return;
    this.tr(`crash ${node.id}`);
    node.crashedAsLeader = raw.role === 'Leader';
    if (raw.isQuiet) this.cov.crashesWhileQuiet++;
    if (node.crashedAsLeader) this.cov.leaderCrashes++;
    const cfg = raw.raft.trk.config;
    if (cfg.outgoing.size === 0 && cfg.incoming.size <= 2 && cfg.incoming.has(node.id)) this.cov.crashesInSmallConfig++;
    const w = node.write;
    if (w !== undefined) {
      this.cov.crashesWithWriteInFlight++;
      // The write batch is atomic (RocksDB): it is lost whole, or it landed whole and the process
      // died before sending what waited for it and before advance().
      if (this.rng.chance(this.p.landOnCrashRate)) {
        this.cov.writesLandedAtCrash++;
        this.persist(node, w.rd);
        this.tr(`${node.id}: in-flight write landed before the crash`);
      }
    }
    if (node.queue.length > 0) {
      this.cov.crashesWithWriteInFlight++;
      // Queued writes land in order: some prefix of them (maybe all, maybe none) is durable.
      if (this.rng.chance(this.p.landOnCrashRate)) {
        const landed = 1 + this.rng.nextInt(node.queue.length);
        this.cov.writesLandedAtCrash++;
        if (landed < node.queue.length) this.cov.crashesLandingPrefix++;
        for (let i = 0; i < landed; i++) this.persist(node, node.queue[i]!.rd);
        this.tr(`${node.id}: ${landed} of ${node.queue.length} queued writes landed before the crash`);
      }
    }
    node.raw = undefined;
    node.write = undefined;
    node.queue = [];
    node.applyQueue = [];
    node.downSince = this.now;
    this.cov.crashes++;
  }

  private isRunning(n: SimNode): boolean {
    return n.raw !== undefined && n.pausedUntil === 0;
  }

  private live(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (this.isRunning(n)) out.push(n);
    return out;
  }

  /** The running leader of the highest term. */
  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (!this.isRunning(n)) continue;
      if (n.raw?.role === 'Leader' && (best === undefined || (best.raw?.term ?? 0) < n.raw.term)) best = n;
    }
    return best;
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.nextInt(xs.length)];
  }

  // ---- network -------------------------------------------------------------------------------

  private sendAll(msgs: readonly Message[]): void {
    const faulty = this.faulty;
    for (const m of msgs) {
      if (m.type === 'MsgVoteResp' && !m.reject) this.checkVote(m.from, m.term, m.to);
      const copies = faulty && this.p.dupRate > 0 && this.rng.chance(this.p.dupRate) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        let delay = faulty ? this.rng.nextInt(this.p.delayMax + 1) : this.rng.nextInt(2);
        if (faulty && this.p.longDelayRate > 0 && this.rng.chance(this.p.longDelayRate)) {
          delay = ELECTION_TICK + this.rng.nextInt(4 * ELECTION_TICK);
          this.cov.longDelays++;
        }
        this.net.push({ at: this.now + delay, sentAt: this.now, seq: this.seq++, msg: m });
      }
    }
  }

  private deliverDue(): void {
    if (this.net.length === 0) return;
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.net) (f.at <= this.now ? due : rest).push(f);
    this.net = rest;
    // Random order among due messages: reordering.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.nextInt(i + 1);
      const t = due[i] as InFlight;
      due[i] = due[j] as InFlight;
      due[j] = t;
    }
    for (const f of due) this.deliver(f.msg, f.sentAt);
  }

  private deliver(m: Message, sentAt: number): void {
    const to = this.nodes.get(m.to);
    // A paused process's connections time out: what is sent to it meanwhile is lost (holding it
    // would deliver messages older than an election timeout, outside the lease assumption).
    const lost = to === undefined || !this.isRunning(to) || this.blocked.has(linkKey(m.from, m.to)) || (this.faulty && this.p.dropRate > 0 && this.rng.chance(this.p.dropRate));
    if (lost) {
      if (m.type === 'MsgSnap') this.nodes.get(m.from)?.raw?.reportSnapshot(m.to, 'failure');
      return;
    }
    const raw = to.raw;
    if (raw === undefined) return;
    this.cov.messagesDelivered++;
    if (to.write !== undefined || to.queue.length > 0) this.cov.messagesDuringWrite++;
    if (this.traceOn) this.tr(`${m.from}->${m.to} ${m.type} t${m.term} i${m.index}/${m.logTerm} c${m.commit} n${m.entries.length}${m.reject ? ' rej' : ''}`);
    else this.traceHash = fnvInt(fnvInt(fnvInt(this.traceHash, m.from * 16 + m.to), m.term), m.index);
    const wasQuiet = raw.isQuiet;
    const commitBefore = raw.raft.raftLog.committed;
    raw.step(m);
    if ((m.type === 'MsgVoteResp' || m.type === 'MsgPreVoteResp') && raw.raft.raftLog.committed > commitBefore) this.cov.commitHintsLearned++;
    if (m.type === 'MsgHeartbeat' && isQuiesceContext(m.context)) this.observeQuiesceHeartbeat(to, m, wasQuiet);
    if (m.type === 'MsgHeartbeat' && raw.term === m.term) {
      // A heartbeat of term T accepted in term T: the receiver vouches for the sender's leadership at sentAt.
      const key = `${m.from}|${m.term}|${m.to}`;
      if ((this.heartbeatSentAt.get(key) ?? -1) < sentAt) this.heartbeatSentAt.set(key, sentAt);
    }
    if ((m.type === 'MsgHeartbeat' || m.type === 'MsgApp') && raw.term === m.term && raw.raft.lead === m.from) {
      // Any message of its leader in term T resets a follower's election timer: it will not vote
      // for another candidate for an election timeout from here (the lease's premise).
      const key = `${m.from}|${m.term}|${m.to}`;
      if ((this.leaderContactSentAt.get(key) ?? -1) < sentAt) this.leaderContactSentAt.set(key, sentAt);
    }
    this.checkCommitDurable(to);
    if (!this.p.leaseReads && raw.role === 'Leader') this.checkNewReadStates(to);
    if (m.type === 'MsgSnap') this.nodes.get(m.from)?.raw?.reportSnapshot(m.to, 'finish');
  }

  // ---- ready processing ----------------------------------------------------------------------

  private processReadies(): void {
    this.round++;
    const ns = this.live();
    for (let i = ns.length - 1; i > 0; i--) {
      const j = this.rng.nextInt(i + 1);
      const t = ns[i] as SimNode;
      ns[i] = ns[j] as SimNode;
      ns[j] = t;
    }
    for (const n of ns) {
      const w = n.write;
      if (w !== undefined && w.doneAt <= this.now && w.round < this.round) this.completeWrite(n);
      if (this.p.asyncStorageWrites) {
        while (n.queue.length > 0 && n.queue[0]!.doneAt <= this.now && n.queue[0]!.round < this.round) this.completeQueuedWrite(n);
        while (n.raw !== undefined && n.applyQueue.length > 0 && n.applyQueue[0]!.doneAt <= this.now && n.applyQueue[0]!.round < this.round) this.completeApply(n);
        // Up to three Readys a round: later ones are taken while earlier writes are in flight.
        for (let k = 0; k < 3 && n.write === undefined && n.raw?.hasReady() === true; k++) this.takeReadyAsync(n);
        continue;
      }
      if (n.write === undefined && n.raw?.hasReady() === true) this.startWrite(n);
    }
  }

  /**
   * Async seeds: takes a Ready while earlier writes may be in flight — sends what needs nothing
   * durable, queues the write (it lands after every earlier one), applies the committed entries
   * at once (raft hands out only entries durable here) and acknowledges the apply.
   */
  private takeReadyAsync(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    if (n.queue.length > 0) this.cov.readiesDuringWrite++;
    const rd = raw.ready();
    n.readStatesSeen = 0;
    this.checkReady(n, rd);
    this.sendAll(rd.messages);
    if (rd.snapshot !== undefined) {
      // Handed out alone once nothing is in flight, and advance()d whole: the synchronous path.
      if (n.queue.length > 0) violation(`node ${n.id}: a snapshot Ready while ${n.queue.length} writes are in flight`);
      const delayMax = this.faulty ? n.writeDelayMax : Math.min(n.writeDelayMax, 0);
      if (delayMax < 0) {
        n.write = { rd, doneAt: this.now, round: this.round - 1 };
        this.completeWrite(n);
      } else {
        n.write = { rd, doneAt: this.now + this.rng.nextInt(delayMax + 1), round: this.round };
      }
      return;
    }
    for (const e of rd.committedEntries) {
      if (!this.holdsDurably(n.id, e.index, e.term)) violation(`node ${n.id}: committed entry ${e.index}/${e.term} handed out to apply before it is durable here`);
    }
    if (readyNeedsWrite(rd)) {
      const delayMax = this.faulty ? n.writeDelayMax : Math.min(n.writeDelayMax, 0);
      if (delayMax < 0 && n.queue.length === 0) {
        this.landWrite(n, rd);
      } else {
        this.cov.asyncWrites++;
        const prev = n.queue[n.queue.length - 1];
        const doneAt = Math.max(prev?.doneAt ?? 0, this.now + this.rng.nextInt(Math.max(0, delayMax) + 1));
        n.queue.push({ rd, doneAt, round: this.round });
      }
    } else {
      raw.advanceAppend(rd);
    }
    if (n.raw === undefined) return;
    if (rd.committedEntries.length === 0 && rd.readStates.length === 0) return;
    // Applies run behind too (the store's apply batches), in order, each after the one before.
    const delayMax = this.faulty ? n.writeDelayMax : Math.min(n.writeDelayMax, 0);
    if (delayMax < 0 && n.applyQueue.length === 0) {
      this.applyReady(n, rd);
      return;
    }
    const prev = n.applyQueue[n.applyQueue.length - 1];
    n.applyQueue.push({ rd, doneAt: Math.max(prev?.doneAt ?? 0, this.now + this.rng.nextInt(Math.max(0, delayMax) + 1)), round: this.round });
  }

  /** Async seeds: the oldest queued apply runs. */
  private completeApply(n: SimNode): void {
    const a = n.applyQueue.shift();
    if (a !== undefined) this.applyReady(n, a.rd);
  }

  /** Async seeds: applies a Ready's committed entries, judges its reads, acknowledges the apply. */
  private applyReady(n: SimNode, rd: Ready): void {
    const raw = n.raw;
    if (raw === undefined) return;
    let removedSelf = false;
    for (const e of rd.committedEntries) {
      if (this.apply(n, e)) removedSelf = true;
    }
    for (const rs of rd.readStates) this.checkRead(n, rs.index, rs.requestContext);
    if (rd.committedEntries.length > 0) raw.advanceApply(rd);
    this.checkCommitDurable(n);
    if (removedSelf && this.stopRemoved(n)) {
      n.queue = [];
      n.applyQueue = [];
      return;
    }
    this.maybeSnapshot(n);
  }

  /** Async seeds: the oldest queued write lands. */
  private completeQueuedWrite(n: SimNode): void {
    const w = n.queue.shift();
    if (w === undefined || n.raw === undefined) return;
    this.landWrite(n, w.rd);
  }

  /** Async seeds: a write landed — durable, then what vouched for it goes out, then raft learns it. */
  private landWrite(n: SimNode, rd: Ready): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined && raw.raft.raftLog.term(last.index) !== last.term) {
      this.cov.entriesReplacedDuringWrite++;
      this.tr(`${n.id}: entries up to ${last.index}/${last.term} replaced while their write was in flight`);
    }
    this.persist(n, rd);
    this.sendAll(rd.persistedMessages);
    raw.advanceAppend(rd);
    this.checkCommitDurable(n);
  }

  /** ready(): check it, send what needs nothing durable, and start the (atomic) write. */
  private startWrite(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const rd = raw.ready();
    n.readStatesSeen = 0;
    this.checkReady(n, rd);
    // A leader's appends may go out while it persists.
    this.sendAll(rd.messages);
    const delayMax = this.faulty ? n.writeDelayMax : Math.min(n.writeDelayMax, 0);
    if (delayMax < 0) {
      n.write = { rd, doneAt: this.now, round: this.round - 1 };
      this.completeWrite(n);
      return;
    }
    this.cov.asyncWrites++;
    n.write = { rd, doneAt: this.now + this.rng.nextInt(delayMax + 1), round: this.round };
  }

  /** Writes a Ready's snapshot, entries and hard state to durable storage (one atomic batch). */
  private persist(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
  }

  /** The write landed: install, send what waited for it, apply, advance. */
  private completeWrite(n: SimNode): void {
    const raw = n.raw;
    const w = n.write;
    if (raw === undefined || w === undefined) return;
    n.write = undefined;
    const rd = w.rd;
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined && raw.raft.raftLog.term(last.index) !== last.term) {
      this.cov.entriesReplacedDuringWrite++;
      this.tr(`${n.id}: entries up to ${last.index}/${last.term} replaced while their write was in flight`);
    }
    this.persist(n, rd);
    if (rd.snapshot !== undefined) {
      const sm = decodeSm(rd.snapshot.data);
      const want = this.hashAt[rd.snapshot.metadata.index];
      if (want !== undefined && want !== sm.hash) violation(`node ${n.id} installed snapshot at ${rd.snapshot.metadata.index} with state ${sm.hash}, expected ${want}`);
      n.sm = sm;
      this.cov.snapshotsInstalled++;
      this.tr(`${n.id} installed snapshot ${rd.snapshot.metadata.index}`);
    }
    this.sendAll(rd.persistedMessages);
    let removedSelf = false;
    for (const e of rd.committedEntries) {
      if (this.apply(n, e)) removedSelf = true;
    }
    for (const rs of rd.readStates) this.checkRead(n, rs.index, rs.requestContext);
    raw.advance(rd);
    this.checkCommitDurable(n);
    if (removedSelf && this.stopRemoved(n)) return;
    this.maybeSnapshot(n);
  }

  /**
   * This node applied its own removal. The host stops it at once — except in shrink seeds, whose
   * host keeps it running (answering votes and appends; it no longer campaigns) until the
   * remaining voters no longer need it: a survivor of a two-voter group, or the incoming voter
   * of {3} ← {1}, may not know yet that the change committed, and then cannot win an election
   * without the removed node's vote (the hazard of etcd-io/etcd#10563; PD keeps a removed member
   * running for this reason). Returns true when the node stopped.
   */
  private stopRemoved(n: SimNode): boolean {
    if (!this.p.shrink && n.raw?.role === 'Leader') {
      // A leader that removed itself leads on until its handoff entry commits (raft.ts
      // beginLeaving): as a store does (peer.ts leavingRegion), the host stops it once it steps
      // down (stopLeftLeaders). Stopped at once, it left voters that never learned the change
      // committed needing its vote (seed 44924).
      n.isLeaving = true;
      return false;
    }
    if (this.p.shrink) {
      if (n.retiringAt === 0) {
        n.retiringAt = n.sm.applied;
        this.tr(`${n.id} removed from the group at ${n.retiringAt}; its host keeps it running until the others know`);
      }
      return false;
    }
    this.tr(`${n.id} removed from the group; stopping`);
    n.removed = true;
    n.raw = undefined;
    return true;
  }

  /**
   * Shrink seeds: stops removed nodes once every voter of the leading configuration (which
   * excludes them) holds a durable commit index at or past their removal.
   */
  private retireRemovedNodes(): void {
    const raw = this.leader()?.raw;
    if (raw === undefined) return;
    const cfg = raw.raft.trk.config;
    for (const n of this.nodes.values()) {
      if (n.retiringAt === 0 || n.removed) continue;
      if (cfg.incoming.has(n.id) || cfg.outgoing.has(n.id) || cfg.learners.has(n.id) || cfg.learnersNext.has(n.id)) continue;
      let known = true;
      for (const id of raw.raft.trk.voterIds()) {
        const v = this.nodes.get(id);
        if (v === undefined || Math.max(v.storage.initialState().hardState.commit, v.storage.firstIndex() - 1) < n.retiringAt) known = false;
      }
      if (!known) continue;
      this.stopForGood(n, 'retired: the others know its removal committed');
    }
  }

  /** Applies one committed entry; returns true when it removed this node. */
  private apply(n: SimNode, e: Entry): boolean {
    if (e.index !== n.sm.applied + 1) violation(`node ${n.id} applies index ${e.index} after ${n.sm.applied}`);
    const key = entryKey(e);
    const known = this.committedKey[e.index];
    if (known !== undefined && known !== key) violation(`state machine safety: node ${n.id} applies ${key} at ${e.index}, others applied ${known}`);
    this.committedKey[e.index] = key;
    n.sm = { applied: e.index, hash: fnv(n.sm.hash, key) };
    const h = this.hashAt[e.index];
    if (h !== undefined && h !== n.sm.hash) violation(`state machine safety: node ${n.id} state after ${e.index} is ${n.sm.hash}, others ${h}`);
    if (h === undefined) {
      this.hashAt[e.index] = n.sm.hash;
      this.cov.committed++;
      if (e.type !== 'Normal') this.confIndexes.push(e.index);
    }
    if (e.index > this.maxApplied) this.maxApplied = e.index;
    if (e.type === 'Normal') {
      if (e.data.length > 0 && e.data[e.data.length - 1] === 0x4c /* 'L': made after healing */) this.appliedLivenessPayloads.add(bytesKey(e.data));
      return false;
    }
    const d = decodeConfChange(e.data);
    if (d.kind !== 'ok') violation(`node ${n.id}: undecodable conf change at ${e.index}: ${d.reason}`);
    const raw = n.raw;
    if (raw === undefined) return false;
    const wasLeader = raw.role === 'Leader';
    const before = raw.status().confState;
    const r = raw.applyConfChange(d.confChange);
    this.checkCommitDurable(n);
    // The membership the change makes is the one the rules say (held-back plant SH6, a demotion
    // turned into a removal, broke no other property the simulator checks).
    const want = modelChange(modelConfigOf(before), d.confChange);
    if (r.kind === 'refused') {
      if (typeof want !== 'string') violation(`node ${n.id}: conf change at ${e.index} refused at apply (${r.reason}) where the rules accept it`);
      return false;
    }
    const cs = r.confState;
    if (typeof want === 'string') violation(`node ${n.id}: conf change at ${e.index} applied where the rules refuse it (${want})`);
    const mismatch = confStateMismatch(cs, want);
    if (mismatch !== null) violation(`node ${n.id}: conf change at ${e.index} ${JSON.stringify(d.confChange.changes)} made ${mismatch}`);
    this.cov.confChangesJudged++;
    if (this.p.shrink) this.persistAppliedConfChange(n, e.index);
    this.tr(`${n.id} applied conf change at ${e.index}: voters ${cs.voters.join(',')} out ${cs.votersOutgoing.join(',')} learners ${cs.learners.join(',')}`);
    if (wasLeader) this.countConfChange(n, before, cs);
    // raft/README: a removed (or demoted) leader leads on only to commit its handoff entry, one
    // past what it had, and takes no proposals (held-back plant SH7 was caught only by a coverage
    // floor before this check); checkLeavers() sees that it steps down once that entry commits.
    if (raw.role === 'Leader' && !cs.voters.includes(n.id) && !cs.votersOutgoing.includes(n.id)) {
      const leaveIndex = raw.raft.leaveIndex;
      if (leaveIndex !== raw.raft.raftLog.lastIndex() || raw.raft.raftLog.committed >= leaveIndex) violation(`node ${n.id}: still leads term ${raw.term} after applying its own removal at ${e.index}, with no handoff entry pending (leaveIndex ${leaveIndex}, last ${raw.raft.raftLog.lastIndex()}, commit ${raw.raft.raftLog.committed})`);
      const refused = raw.propose(new Uint8Array([0x52]));
      if (refused.kind !== 'removed') violation(`node ${n.id}: a leaving leader accepted a proposal (${refused.kind})`);
      this.cov.leaversLeadingOn++;
      // Its reads waiting for confirmation are dropped (the client retries elsewhere), as when a
      // leader steps down: no answer is owed, but one given is still checked.
      for (const [key, rd] of this.pendingReads) if (rd.node === n.id && rd.term === raw.term && rd.liveness) this.pendingReads.set(key, { ...rd, liveness: false });
    }
    return ![...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext].includes(n.id);
  }

  /**
   * Shrink seeds: the store writes its apply state (the applied index) with what it applies, so a
   * member that applied a conf change never restarts in the configuration before it. The
   * simulator's state machine is volatile (rebuilt from the last snapshot), so raise the durable
   * commit index instead: applied entries are committed and durable here. Without this, a lone
   * survivor of {1,2} → {1} that crashed before its commit index landed (async seeds) restarted
   * needing the leaver's vote, which a longer log refused (seed 1387).
   */
  private persistAppliedConfChange(n: SimNode, index: number): void {
    const hs = n.storage.initialState().hardState;
    if (hs.commit < index && this.holdsDurably(n.id, index, n.storage.term(index) as number)) n.storage.setHardState({ ...hs, commit: index });
  }

  /** Coverage of membership features, counted once per change: on the leader that applies it. */
  private countConfChange(n: SimNode, before: ConfState, after: ConfState): void {
    if (before.votersOutgoing.length === 0 && after.votersOutgoing.length > 0) {
      this.cov.jointConfigs++;
      if (!after.autoLeave) this.leaveJointAt = this.now + this.p.jointHoldTicks;
    }
    for (const id of after.learners) if (!before.learners.includes(id) && !before.learnersNext.includes(id)) this.cov.learnersAdded++;
    for (const id of before.learners) {
      if (after.voters.includes(id)) this.cov.learnersPromoted++;
      else if (!after.learners.includes(id)) this.cov.learnersRemoved++;
    }
    if (!after.voters.includes(n.id) && !after.votersOutgoing.includes(n.id)) {
      this.cov.leaderRemovals++;
      if (after.voters.length <= 2) this.cov.leaderRemovalsToSmallConfig++;
      this.tr(`leader ${n.id} removed itself`);
    }
    const joint = after.votersOutgoing.length > 0;
    if (joint && before.votersOutgoing.length === 0 && (after.voters.length === 1 || after.votersOutgoing.length === 1)) this.cov.jointConfigsWithOneVoterHalf++;
    if (!joint && before.votersOutgoing.length > 0 && after.voters.length === 1) this.cov.jointLeavesToOneVoter++;
    if (before.votersOutgoing.length === 0 && before.voters.length === 1 && after.voters.length > 1) this.cov.growsFromOneVoter++;
  }

  private maybeSnapshot(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const applied = n.sm.applied;
    const storageSnap = n.storage.snapshot(0);
    const snapIndex = storageSnap === 'unavailable' ? 0 : storageSnap.metadata.index;
    const requested = n.storage.snapshotRequested;
    if (applied <= snapIndex || applied > n.storage.lastIndex()) return;
    const cs = raw.status().confState;
    // Shrink seeds: a snapshot taken before a member joined is refused by it, and a two-voter group
    // waiting for that member commits nothing, so its log never grows to the next snapshot
    // (seed 6964): the host snapshots again once membership changed (TiKV generates on demand).
    const membersChanged = this.p.shrink && storageSnap !== 'unavailable' && !sameMembers(storageSnap.metadata.confState, cs);
    if (!requested && !membersChanged && applied - n.storage.firstIndex() < this.p.snapshotInterval) return;
    const s = n.storage.createSnapshot(applied, cs, encodeSm(n.sm));
    if (s === 'out-of-date') return;
    n.storage.snapshotRequested = false;
    // Keep a few entries so followers just behind catch up from the log.
    const keep = this.rng.nextInt(5);
    if (applied - keep > n.storage.firstIndex()) n.storage.compact(applied - keep);
    this.tr(`${n.id} snapshot at ${applied}`);
    if (requested) {
      raw.onStorageReady();
      this.checkCommitDurable(n);
    }
  }

  // ---- checkers ------------------------------------------------------------------------------

  private checkReady(n: SimNode, rd: Ready): void {
    const raw = n.raw;
    if (raw === undefined) return;
    // Election safety: at most one leader per term.
    if (raw.role === 'Leader') {
      const term = raw.term;
      const other = this.leaderOfTerm.get(term);
      if (other !== undefined && other !== n.id) violation(`election safety: nodes ${other} and ${n.id} both lead term ${term}`);
      if (other === undefined) {
        this.leaderOfTerm.set(term, n.id);
        if (term > this.maxLeaderTerm) this.maxLeaderTerm = term;
        this.cov.elections++;
        if (raw.raft.trk.isSingleton()) this.cov.singleVoterElections++;
        this.tr(`${n.id} leads term ${term}`);
        for (const o of this.nodes.values()) {
          if (o.raw?.isQuiet === true && o.raw.role === 'Leader' && o.raw.term < term) {
            this.cov.electionsPastQuietLeader++;
            this.tr(`${n.id} leads term ${term} while ${o.id}, leader of term ${o.raw.term}, sleeps`);
            break;
          }
        }
        this.checkLeaderCompleteness(n);
      }
    }
    // Log matching: an (index, term) names one entry, always preceded by the same term.
    let prevTerm: number | undefined;
    const first = rd.entries[0];
    if (first !== undefined) {
      const t = raw.raft.raftLog.term(first.index - 1);
      prevTerm = typeof t === 'number' ? t : undefined;
    }
    for (const e of rd.entries) {
      const id = `${e.index}|${e.term}`;
      const key = entryKey(e);
      const seen = this.entryIdentity.get(id);
      if (seen === undefined) this.entryIdentity.set(id, { key, prevTerm });
      else {
        if (seen.key !== key) violation(`log matching: entry ${id} is ${key} on node ${n.id} but ${seen.key} elsewhere`);
        if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
          violation(`log matching: entry ${id} follows term ${prevTerm} on node ${n.id} but term ${seen.prevTerm} elsewhere`);
        }
        if (seen.prevTerm === undefined && prevTerm !== undefined) seen.prevTerm = prevTerm;
      }
      prevTerm = e.term;
    }
    // No committed entry changes: what the node now calls committed matches what was applied.
    const commit = raw.raft.raftLog.committed;
    if (commit > this.maxCommit) {
      // The term in which an index was first seen committed (an upper bound of the term that
      // committed it): leader completeness binds leaders of later terms only.
      for (let i = this.maxCommit + 1; i <= commit; i++) this.commitSeenInTerm[i] = raw.term;
      this.maxCommit = commit;
    }
    // Raft §5.4.2: a leader advances its commit index only onto an entry of its own term (the
    // entries before it commit with it). Counting replicas of an older entry is figure 8's bug.
    if (raw.role === 'Leader') {
      const key = `${n.id}@${raw.term}`;
      const before = this.leaderCommit.get(key);
      if (before !== undefined && commit > before) {
        const t = raw.raft.raftLog.term(commit);
        if (typeof t === 'number' && t !== raw.term) violation(`commit rule: leader ${n.id} of term ${raw.term} committed index ${commit} of term ${t}`);
      }
      this.leaderCommit.set(key, commit);
    }
    if (rd.hardState !== undefined) this.recordCommitted(n);
    for (const e of rd.committedEntries) {
      const k = this.committedKey[e.index];
      if (k !== undefined && k !== entryKey(e)) violation(`committed entry ${e.index} changed on node ${n.id}: ${entryKey(e)} vs ${k}`);
    }
  }

  /**
   * Whenever a leader's commit index moves, the entry there must be durable — in storage, not
   * merely in memory or in a write still in flight — on a majority of every half of the leader's
   * configuration (both halves when joint). Judged from the simulator's view of each node's
   * storage, independently of the leader's own progress bookkeeping.
   */
  private checkCommitDurable(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined || raw.role !== 'Leader') return;
    const commit = raw.raft.raftLog.committed;
    if (commit <= n.leaderCommitChecked && raw.term === n.leaderCommitCheckedTerm) return;
    const firstCheck = raw.term !== n.leaderCommitCheckedTerm;
    n.leaderCommitChecked = commit;
    n.leaderCommitCheckedTerm = raw.term;
    if (firstCheck) return; // a new leader inherits its commit index; it moved nothing yet
    const t = raw.raft.raftLog.term(commit);
    if (typeof t !== 'number') return;
    const cfg = raw.raft.trk.config;
    if (cfg.outgoing.size === 0 && cfg.incoming.size <= 2) {
      if (cfg.incoming.size === 1) {
        this.cov.singleVoterCommits++;
        if (this.p.asyncStorageWrites) this.cov.singleVoterCommitsAsync++;
      } else this.cov.twoVoterCommits++;
    }
    for (const half of [cfg.incoming, cfg.outgoing]) {
      if (half.size === 0) continue;
      let durable = 0;
      for (const id of half) if (this.holdsDurably(id, commit, t)) durable++;
      if (!isMajority(durable, half.size)) {
        violation(`commit durability: leader ${n.id} of term ${raw.term} committed ${commit}/${t} but only ${durable} of voters {${[...half].join(',')}} hold it durably (joint: ${cfg.outgoing.size > 0})`);
      }
    }
  }

  private holdsDurably(id: NodeId, index: number, term: number): boolean {
    const node = this.nodes.get(id);
    if (node === undefined) return false;
    const s = node.storage;
    if (index < s.firstIndex()) return true; // within the snapshot: applied there, so committed
    if (index > s.lastIndex()) return false;
    const wasRequested = s.loadRequested;
    const t = s.term(index);
    s.loadRequested = wasRequested; // a peek, not a read by raft
    if (t === 'unavailable') return true; // evicted: below that node's applied index
    return t === term;
  }

  /** A node grants at most one vote per term, across crashes (what persisting the vote is for). */
  private checkVote(voter: NodeId, term: number, candidate: NodeId): void {
    const key = `${voter}@${term}`;
    const prev = this.voteOf.get(key);
    if (prev !== undefined && prev !== candidate) violation(`vote safety: node ${voter} voted for ${prev} and ${candidate} in term ${term}`);
    this.voteOf.set(key, candidate);
  }

  /** Records the terms of entries a node now calls committed; all nodes must agree on them. */
  private recordCommitted(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const log = raw.raft.raftLog;
    const from = Math.max((this.commitChecked.get(n.id) ?? 0) + 1, log.firstIndex());
    for (let i = from; i <= log.committed; i++) {
      const t = log.term(i);
      if (typeof t !== 'number') continue;
      const known = this.committedTerm[i];
      if (known === undefined) this.committedTerm[i] = t;
      else if (known !== t) violation(`committed entry changed: node ${n.id} commits term ${t} at index ${i}, committed earlier with term ${known}`);
    }
    this.commitChecked.set(n.id, log.committed);
  }

  /**
   * A new leader's log holds every entry committed in earlier terms (Raft §5.4.1). A leader of an
   * old term may first be seen late (its Ready waited behind a write or a pause): entries
   * committed in its own term or later do not bind it.
   */
  private checkLeaderCompleteness(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const log = raw.raft.raftLog;
    for (let i = Math.max(log.firstIndex(), 2); i <= this.maxCommit; i++) {
      if ((this.commitSeenInTerm[i] ?? Infinity) >= raw.term) continue;
      if (i > log.lastIndex()) violation(`leader completeness: leader ${n.id} of term ${raw.term} last index ${log.lastIndex()} lacks index ${i}, committed in term ${this.commitSeenInTerm[i]}`);
      const wantTerm = this.committedTerm[i];
      if (wantTerm === undefined) continue;
      const t = log.term(i);
      if (typeof t !== 'number') continue;
      if (t !== wantTerm) violation(`leader completeness: leader ${n.id} has term ${t} at committed index ${i} (want ${wantTerm})`);
    }
  }

  private checkRead(n: SimNode, index: number, ctx: Uint8Array): void {
    const key = bytesKey(ctx);
    const read = this.pendingReads.get(key);
    if (read === undefined) return; // a duplicate answer
    this.pendingReads.delete(key);
    // Linearizability: the read is served from the state at `index` (once applied there); every
    // write committed anywhere before the read was issued must be in it.
    if (index < read.floor) violation(`linearizability: read ${key} on node ${n.id} got index ${index} below ${read.floor}, committed before the read began`);
    if (index > this.maxCommit) violation(`read ${key} on node ${n.id} got index ${index} beyond any commit (${this.maxCommit})`);
    this.cov.readsAnswered++;
    this.tr(`${n.id} read ${key} at ${index}`);
  }

  /**
   * ReadIndex ('safe' mode) at a leader: before answering, a quorum of every half of its
   * configuration must have accepted, in the leader's term, a heartbeat sent after the read was
   * issued (Raft thesis §6.4 step 3). Judged from deliveries, not from the leader's bookkeeping.
   */
  private checkNewReadStates(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const states = raw.raft.readStates;
    for (let i = n.readStatesSeen; i < states.length; i++) {
      const rs = states[i];
      if (rs === undefined) continue;
      const key = bytesKey(rs.requestContext);
      const read = this.pendingReads.get(key);
      if (read !== undefined && read.atLeader && !read.answeredAtOnce && read.node === n.id) this.checkReadConfirmed(n, key, read);
    }
    n.readStatesSeen = states.length;
  }

  private checkReadConfirmed(n: SimNode, key: string, read: PendingRead): void {
    const raw = n.raw;
    if (raw === undefined || raw.term !== read.term) return;
    const cfg = raw.raft.trk.config;
    for (const half of [cfg.incoming, cfg.outgoing]) {
      if (half.size === 0) continue;
      let confirmed = 0;
      for (const id of half) {
        if (id === n.id || (this.heartbeatSentAt.get(`${n.id}|${read.term}|${id}`) ?? -1) >= read.issuedAt) confirmed++;
      }
      if (!isMajority(confirmed, half.size)) {
        violation(`read confirmation: leader ${n.id} of term ${read.term} answered read ${key} (issued at tick ${read.issuedAt}) with only ${confirmed} of {${[...half].join(',')}} having accepted a heartbeat sent since`);
      }
    }
  }

  /**
   * A read answered at once from a lease: in real (simulated) time, a quorum of every half of the
   * leader's configuration accepted, in its term, a heartbeat or append it sent less than an
   * election timeout ago — the lease's premise, judged from deliveries rather than from the leader's own
   * tick stamps (which stop while a group sleeps; found by planting a lease floor off by one).
   */
  private checkLeaseRead(n: SimNode, key: string): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const cfg = raw.raft.trk.config;
    const since = this.now - ELECTION_TICK;
    for (const half of [cfg.incoming, cfg.outgoing]) {
      if (half.size === 0) continue;
      let confirmed = 0;
      for (const id of half) {
        if (id === n.id || (this.leaderContactSentAt.get(`${n.id}|${raw.term}|${id}`) ?? -1) > since) confirmed++;
      }
      if (!isMajority(confirmed, half.size)) {
        violation(`lease read: leader ${n.id} of term ${raw.term} answered read ${key} at once at tick ${this.now} with only ${confirmed} of {${[...half].join(',')}} having accepted a heartbeat or append sent after tick ${since}`);
      }
    }
  }

  // ---- client and nemesis actions ------------------------------------------------------------

  private propose(): void {
    const target = this.rng.chance(0.7) ? this.leader() : this.pick(this.live());
    const raw = target?.raw;
    if (raw === undefined) return;
    const batch = 1 + this.rng.nextInt(3);
    const datas: Uint8Array[] = [];
    for (let i = 0; i < batch; i++) datas.push(enc.encode(`p${this.nextProposalId++}${this.faulty ? '' : 'L'}`));
    if (raw.isQuiet) this.cov.proposalsAtQuiet++;
    const wasTransferring = raw.raft.leadTransferee !== NONE;
    const r = raw.proposeBatch(datas);
    if (this.faulty) return;
    this.tr(`propose ${datas.map(bytesKey).join(',')} at ${target?.id ?? NONE}: ${r.kind}${r.kind === 'forwarded' ? ` to ${r.leaderId}` : ''}`);
    // Liveness: a proposal the leader appended must commit unless that leader loses its term; one
    // a follower forwarded, too, unless the leader was transferring or is paused since, or the
    // follower crashed or left the group before sending it (the message is lost then, which raft
    // allows: clients retry).
    let leaderId: NodeId = NONE;
    let forwarder: SimNode | undefined;
    if (r.kind === 'ok') leaderId = target?.id ?? NONE;
    else if (r.kind === 'forwarded' && !wasTransferring) {
      const l = this.nodes.get(r.leaderId);
      if (l !== undefined && this.isRunning(l) && l.raw?.raft.leadTransferee === NONE) leaderId = r.leaderId;
      forwarder = target;
    }
    if (leaderId === NONE) return;
    const pauses = this.nodes.get(leaderId)?.pauseCount ?? 0;
    const p = { leaderId, term: raw.term, at: this.now, pauses, forwarder: forwarder?.id ?? NONE, forwarderIncarnation: forwarder?.incarnation ?? 0 };
    for (const d of datas) this.livenessProposals.set(bytesKey(d), p);
  }

  /** Reads at every node that believes it leads (deposed ones included), or at a random node. */
  private read(): void {
    if (this.rng.chance(0.3)) {
      const n = this.pick(this.live());
      if (n !== undefined) this.readAt(n);
      return;
    }
    for (const n of this.nodes.values()) if (this.isRunning(n) && n.raw?.role === 'Leader') this.readAt(n);
  }

  /** A deposed leader that has not heard of its successor yet is asked to read, often. */
  private readAtDeposedLeaders(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || raw.role !== 'Leader' || raw.term >= this.maxLeaderTerm || !this.isRunning(n)) continue;
      if (this.rng.chance(0.5)) this.readAt(n);
    }
  }

  private readAt(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const key = `r${this.nextReadId++}`;
    // Linearizability: everything committed anywhere before the read begins must be visible.
    let floor = this.maxCommit;
    for (const o of this.nodes.values()) if (o.raw !== undefined) floor = Math.max(floor, o.raw.raft.raftLog.committed);
    const atLeader = raw.role === 'Leader';
    if (atLeader && raw.isQuiet) {
      this.cov.readsAtQuietLeaders++;
      if (this.maxLeaderTerm > raw.term) this.cov.readsAtQuietDeposedLeaders++;
    }
    const leaseValid = atLeader && raw.isLeaseValid();
    const r = raw.readIndex(enc.encode(key));
    if (r.kind !== 'ok' && r.kind !== 'forwarded') return;
    const answeredAtOnce = atLeader && raw.raft.readStates.some((rs) => bytesKey(rs.requestContext) === key);
    this.pendingReads.set(key, { node: n.id, term: raw.term, issuedAt: this.now, floor, atLeader, liveness: !this.faulty, answeredAtOnce });
    if (this.p.leaseReads) this.cov.readsWithLeases++;
    if (!atLeader) return;
    if (answeredAtOnce && this.p.leaseReads) this.checkLeaseRead(n, key);
    this.cov.readsAtLeaders++;
    if (leaseValid && answeredAtOnce) this.cov.leaseReadsServed++;
    if (this.maxLeaderTerm > raw.term) {
      this.cov.readsAtDeposedLeaders++;
      this.tr(`read ${key} at deposed leader ${n.id} of term ${raw.term} (term ${this.maxLeaderTerm} has a leader)`);
    }
    if (n.abortedTransferTerm === raw.term) this.cov.readsAtAbortedTransferLeaders++;
  }

  /** In a joint configuration: leave an explicit one once it has been held long enough. */
  private leaveJointWhenDue(leaderId: NodeId, raw: RawNode, cs: ConfState): void {
    if (cs.autoLeave || this.now < this.leaveJointAt) return;
    const r = raw.proposeConfChange({ transition: 'auto', changes: [], context: new Uint8Array(0) });
    this.tr(`propose leaving the joint config at ${leaderId}: ${r.kind}`);
    if (r.kind === 'ok') this.cov.explicitJointLeaves++;
  }

  /**
   * The leader and its configuration when a new membership change may be proposed; undefined when
   * there is no leader, or when it is in a joint configuration (then it leaves it when due).
   */
  private leaderReadyForChange(): { readonly l: SimNode; readonly raw: RawNode; readonly cs: ConfState } | undefined {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined || l === undefined) return undefined;
    const cs = raw.status().confState;
    if (cs.votersOutgoing.length > 0) {
      this.leaveJointWhenDue(l.id, raw, cs);
      return undefined;
    }
    return { l, raw, cs };
  }

  private confChange(): void {
    const ready = this.leaderReadyForChange();
    if (ready === undefined) return;
    const { l, raw, cs } = ready;
    const voters = cs.voters;
    const learners = cs.learners;
    const choice = this.rng.nextInt(8);
    let changes: ConfChangeSingle[];
    let transition: ConfChange['transition'] = 'auto';
    const newId = (): NodeId | undefined => (this.nextNodeId <= MAX_NODE_IDS ? this.nextNodeId++ : undefined);
    if (choice === 0) {
      const id = newId();
      if (id === undefined) return;
      changes = [{ type: 'AddLearnerNode', nodeId: id }];
    } else if (choice === 1 && learners.length > 0) {
      const id = this.pick(learners);
      if (id === undefined) return;
      changes = [{ type: 'AddNode', nodeId: id }]; // promote
    } else if (choice === 2 && voters.length > 3) {
      const id = this.pick(voters);
      if (id === undefined) return;
      changes = [{ type: 'RemoveNode', nodeId: id }];
    } else if (choice === 3 && voters.length < 5) {
      const id = newId();
      if (id === undefined) return;
      changes = [{ type: 'AddNode', nodeId: id }];
    } else if (choice === 4 && voters.length >= 3) {
      // Replace a voter in one joint-consensus step; sometimes the leader itself, sometimes by a learner.
      const out = this.rng.chance(0.3) ? l.id : this.pick(voters);
      const id = learners.length > 0 && this.rng.chance(0.5) ? this.pick(learners) : newId();
      if (out === undefined || id === undefined) return;
      changes = [
        { type: 'RemoveNode', nodeId: out },
        { type: 'AddNode', nodeId: id },
      ];
      transition = this.pickTransition();
    } else if (choice === 5 && learners.length > 0) {
      const id = this.pick(learners);
      if (id === undefined) return;
      changes = [{ type: 'RemoveNode', nodeId: id }];
    } else if (choice === 6 && voters.length >= 3) {
      // The leader removes itself (one step with 4+ voters, else through a joint config).
      if (voters.length > 3) changes = [{ type: 'RemoveNode', nodeId: l.id }];
      else {
        const id = newId();
        if (id === undefined) return;
        changes = [{ type: 'RemoveNode', nodeId: l.id }, { type: 'AddNode', nodeId: id }];
        transition = this.pickTransition();
      }
    } else if (choice === 7 && voters.length >= 3) {
      // Demote a voter to learner and add a voter, jointly.
      const out = this.pick(voters);
      const id = newId();
      if (out === undefined || id === undefined) return;
      changes = [{ type: 'AddLearnerNode', nodeId: out }, { type: 'AddNode', nodeId: id }];
      transition = this.pickTransition();
    } else return;
    this.proposeChanges(l, raw, changes, transition);
  }

  private proposeChanges(l: SimNode, raw: RawNode, changes: ConfChangeSingle[], transition: ConfChange['transition']): boolean {
    const prev = raw.raft.pendingConfIndex;
    const r = raw.proposeConfChange({ transition, changes, context: new Uint8Array(0) });
    this.tr(`propose conf change ${JSON.stringify(changes)} ${transition} at ${l.id}: ${r.kind}`);
    if (r.kind !== 'ok') return false;
    this.cov.confChanges++;
    if (prev > 0 && prev <= raw.raft.raftLog.committed) {
      for (const n of this.nodes.values()) {
        if (!n.removed && n.sm.applied > 0 && n.sm.applied < prev) {
          this.cov.confChangeWhilePrevUnapplied++;
          break;
        }
      }
    }
    for (const c of changes) {
      if (c.type !== 'RemoveNode' && !this.nodes.has(c.nodeId)) this.addNode(c.nodeId, new MemoryStorage());
    }
    return true;
  }

  /**
   * Churn profile, asked after every delivery round: single-step voter changes (add a voter
   * until five, remove one — sometimes the leader — down to three; now and then a learner added
   * or promoted), proposed as soon as the leader accepts one; and, right after the leader sees a
   * conf change commit, a partition, so nodes that applied it and nodes that did not yet are
   * cut apart and campaign on both sides.
   */
  private churnHooks(): void {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined || l === undefined) return;
    const pending = raw.raft.pendingConfIndex;
    if (pending > l.confCommitSeen && raw.raft.raftLog.committed >= pending) {
      l.confCommitSeen = pending;
      if (this.blocked.size === 0 && this.rng.chance(this.p.partitionAfterConfCommitRate)) {
        const ids = [...this.nodes.keys()];
        const side = new Set(ids.filter(() => this.rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(linkKey(a, b));
        this.partitionHealAt = this.now + 3 + this.rng.nextInt(4 * ELECTION_TICK);
        this.cov.partitions++;
        this.cov.partitionsAfterConfCommit++;
        this.tr(`partition after conf commit ${pending}: ${[...side].join(',')} | rest, until ${this.partitionHealAt}`);
      }
    }
    if (!this.rng.chance(this.p.churnRate)) return;
    const cs = raw.status().confState;
    if (cs.votersOutgoing.length > 0) return;
    const voters = cs.voters;
    const k = this.rng.nextInt(10);
    // A new id is taken only if the proposal is accepted (ids are never reused).
    const newId = (): NodeId | undefined => (this.nextNodeId <= MAX_NODE_IDS_CHURN ? this.nextNodeId : undefined);
    let change: ConfChangeSingle | undefined;
    if (k < 4 && voters.length < 5) {
      const id = newId();
      if (id !== undefined) change = { type: 'AddNode', nodeId: id };
    } else if (k < 8 && voters.length > 3) {
      const id = this.rng.chance(0.15) ? l.id : this.pick(voters);
      if (id !== undefined) change = { type: 'RemoveNode', nodeId: id };
    } else if (k === 8) {
      const id = cs.learners.length > 0 ? undefined : newId();
      if (id !== undefined) change = { type: 'AddLearnerNode', nodeId: id };
    } else if (k === 9 && cs.learners.length > 0) {
      const id = this.pick(cs.learners);
      if (id !== undefined) change = { type: 'AddNode', nodeId: id };
    }
    if (change === undefined) return;
    const fresh = change.nodeId === this.nextNodeId;
    if (this.proposeChanges(l, raw, [change], 'auto') && fresh) this.nextNodeId++;
  }

  /**
   * Shrink profile, asked at the shrink rate: the next membership change on the way down to
   * `shrinkVotersTarget` voters (one or two), while held there, or on the way back up. Joint
   * configurations entered explicitly are left after the seed's hold, as in confChange().
   *
   *   shrinking ──(voters ≤ target)──▶ holding ──(hold over)──▶ growing ──(voters ≥ 3..5)──▶ shrinking
   */
  private shrinkConfChange(): void {
    const ready = this.leaderReadyForChange();
    if (ready === undefined) return;
    const { l, raw, cs } = ready;
    this.advanceShrinkPhase(cs.voters.length);
    const plan = this.shrinkPhase === 'shrinking' ? this.shrinkStep(l.id, cs) : this.shrinkPhase === 'holding' ? this.holdStep(l.id, cs) : this.growStep(l.id, cs);
    if (plan === undefined) return;
    if (!this.proposeChanges(l, raw, plan.changes, plan.transition)) return;
    // Fresh ids are taken only once a proposal that uses them is accepted (ids are never reused).
    for (const c of plan.changes) if (c.nodeId >= this.nextNodeId) this.nextNodeId = c.nodeId + 1;
  }

  private advanceShrinkPhase(voters: number): void {
    if (this.shrinkPhase === 'shrinking' && voters <= this.shrinkVotersTarget) {
      this.shrinkPhase = 'holding';
      this.shrinkHoldUntil = this.now + this.p.shrinkHoldTicks;
      this.tr(`shrink: ${voters} voters, holding until ${this.shrinkHoldUntil}`);
    } else if (this.shrinkPhase === 'holding' && this.now >= this.shrinkHoldUntil) {
      this.shrinkPhase = 'growing';
      this.shrinkVotersTarget = 3 + this.rng.nextInt(3);
      this.tr(`shrink: growing back to ${this.shrinkVotersTarget} voters`);
    } else if (this.shrinkPhase === 'growing' && voters >= this.shrinkVotersTarget) {
      this.shrinkPhase = 'shrinking';
      this.shrinkVotersTarget = this.rng.chance(0.5) ? 1 : 2;
      this.tr(`shrink: shrinking to ${this.shrinkVotersTarget} voters`);
    }
  }

  /** `count` ids for new members, not yet taken (undefined when the seed ran out of ids). */
  private freshIds(count: number): NodeId[] | undefined {
    if (this.nextNodeId + count - 1 > MAX_NODE_IDS_CHURN) return undefined;
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) ids.push(this.nextNodeId + i);
    return ids;
  }

  /**
   * `count` distinct voters at random; the leader among them with probability `leaderChance` —
   * only when the voters that stay are a majority of `voters`. A leader that removes or demotes
   * itself steps down as it applies the change; when the rest of its old configuration is no
   * quorum of it ({1,2} → {2}, {1,2,3} → {2}, a joint {2} ← {1} left), a survivor that has not
   * learned that the change committed can win no election: the leavers do not campaign (they are
   * no voters in their own configuration) and refuse their votes when their logs are longer —
   * a deadlock (found by this profile: seeds 594, 1278, 543 before this rule; the hazard of
   * etcd-io/etcd#10563). Not generated until raft/ lets a leaver campaign or hand off.
   */
  private pickVoters(voters: readonly NodeId[], count: number, leaderId: NodeId, leaderChance: number): NodeId[] {
    const others = voters.filter((id) => id !== leaderId);
    for (let i = others.length - 1; i > 0; i--) {
      const j = this.rng.nextInt(i + 1);
      const t = others[i] as NodeId;
      others[i] = others[j] as NodeId;
      others[j] = t;
    }
    const withLeader = isMajority(voters.length - count, voters.length) && voters.includes(leaderId) && this.rng.chance(leaderChance);
    const out = withLeader ? [leaderId, ...others] : others;
    return out.slice(0, count);
  }

  /** On the way down: remove or demote voters one at a time, or jump to the target through a joint config. */
  private shrinkStep(leaderId: NodeId, cs: ConfState): ShrinkPlan | undefined {
    const voters = cs.voters;
    const surplus = voters.length - this.shrinkVotersTarget;
    if (surplus <= 0) return undefined;
    switch (this.rng.nextInt(5)) {
      case 0: {
        // One voter out — the leader itself a third of the time (it steps down once applied).
        const [out] = this.pickVoters(voters, 1, leaderId, 0.3);
        return out === undefined ? undefined : { changes: [{ type: 'RemoveNode', nodeId: out }], transition: 'auto' };
      }
      case 1: {
        const [out] = this.pickVoters(voters, 1, leaderId, 0.3);
        return out === undefined ? undefined : { changes: [{ type: 'AddLearnerNode', nodeId: out }], transition: 'auto' };
      }
      case 2: {
        // Straight to the target: {1,2,3} → {1}, the leave committing with the outgoing majority.
        const outs = this.pickVoters(voters, surplus, leaderId, 0.3);
        const demote = this.rng.chance(0.3);
        return { changes: outs.map((nodeId) => ({ type: demote ? 'AddLearnerNode' : 'RemoveNode', nodeId })), transition: this.pickTransition() };
      }
      case 3: {
        // Replace and shrink: {1,2,3} → {4} (or {1,4}): the incoming half starts with an empty log.
        const outs = this.pickVoters(voters, surplus + 1, leaderId, 0.3);
        const inId = this.incomingVoter(cs);
        if (inId === undefined || outs.length < surplus + 1) return undefined;
        return { changes: [...outs.map((nodeId): ConfChangeSingle => ({ type: 'RemoveNode', nodeId })), { type: 'AddNode', nodeId: inId }], transition: this.pickTransition() };
      }
      default: {
        const ids = this.freshIds(1);
        if (ids === undefined || cs.learners.length > 1) return undefined;
        return { changes: [{ type: 'AddLearnerNode', nodeId: ids[0]! }], transition: 'auto' };
      }
    }
  }

  /** Held at one or two voters: swap voters through joint configs (the leader too), learners come and go. */
  private holdStep(leaderId: NodeId, cs: ConfState): ShrinkPlan | undefined {
    switch (this.rng.nextInt(4)) {
      case 0:
      case 1: {
        // {1} → {2}: a joint config whose halves are one voter each (the leader stays: pickVoters).
        const [out] = this.pickVoters(cs.voters, 1, leaderId, 0.5);
        const inId = this.incomingVoter(cs);
        if (out === undefined || inId === undefined) return undefined;
        return { changes: [{ type: 'RemoveNode', nodeId: out }, { type: 'AddNode', nodeId: inId }], transition: this.pickTransition() };
      }
      case 2: {
        const ids = this.freshIds(1);
        if (ids === undefined || cs.learners.length > 1) return undefined;
        return { changes: [{ type: 'AddLearnerNode', nodeId: ids[0]! }], transition: 'auto' };
      }
      default: {
        const id = this.pick(cs.learners);
        return id === undefined ? undefined : { changes: [{ type: 'RemoveNode', nodeId: id }], transition: 'auto' };
      }
    }
  }

  /** On the way up: add or promote one voter at a time, or jump to the target through a joint config. */
  private growStep(leaderId: NodeId, cs: ConfState): ShrinkPlan | undefined {
    const missing = this.shrinkVotersTarget - cs.voters.length;
    if (missing <= 0) return undefined;
    switch (this.rng.nextInt(3)) {
      case 0: {
        const inId = this.incomingVoter(cs);
        return inId === undefined ? undefined : { changes: [{ type: 'AddNode', nodeId: inId }], transition: 'auto' };
      }
      case 1: {
        // {1} → {1,2,3} in one joint step; with two voters now and then {1,2} → {1,3,4,5}, one leaving.
        const ids = this.freshIds(missing + 1);
        if (ids === undefined) return undefined;
        const changes: ConfChangeSingle[] = [];
        const [out] = cs.voters.length > 1 && this.rng.chance(0.25) ? this.pickVoters(cs.voters, 1, leaderId, 0) : [];
        if (out !== undefined) {
          changes.push({ type: 'RemoveNode', nodeId: out });
          changes.push({ type: 'AddNode', nodeId: ids[missing]! });
        }
        for (const nodeId of ids.slice(0, missing)) changes.push({ type: 'AddNode', nodeId });
        return { changes, transition: this.pickTransition() };
      }
      default: {
        const ids = this.freshIds(1);
        if (ids === undefined || cs.learners.length > 1) return undefined;
        return { changes: [{ type: 'AddLearnerNode', nodeId: ids[0]! }], transition: 'auto' };
      }
    }
  }

  /** A voter to add: a learner promoted half the time when there is one, else a fresh id. */
  private incomingVoter(cs: ConfState): NodeId | undefined {
    if (cs.learners.length > 0 && this.rng.chance(0.5)) return this.pick(cs.learners);
    return this.freshIds(1)?.[0];
  }

  /** Coverage: two running members whose applied configurations are two or more changes apart. */
  private observeConfigSpread(): void {
    const ci = this.confIndexes;
    if (ci.length < 2) return;
    let lo = Infinity;
    let hi = -Infinity;
    for (const n of this.nodes.values()) {
      if (n.removed || n.raw === undefined || n.sm.applied === 0) continue;
      // How many conf changes this node applied: binary search in the ascending indexes.
      let a = 0;
      let b = ci.length;
      while (a < b) {
        const m = (a + b) >> 1;
        if ((ci[m] ?? 0) <= n.sm.applied) a = m + 1;
        else b = m;
      }
      if (a < lo) lo = a;
      if (a > hi) hi = a;
    }
    if (hi - lo >= 2) this.cov.configsTwoApart++;
  }

  private pickTransition(): ConfChange['transition'] {
    const k = this.rng.nextInt(3);
    return k === 0 ? 'auto' : k === 1 ? 'implicit' : 'explicit';
  }

  private transfer(): void {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined || l === undefined) return;
    const cs = raw.status().confState;
    const voters = [...new Set([...cs.voters, ...cs.votersOutgoing])];
    const to = this.pick(voters.filter((id) => id !== l.id));
    if (to === undefined) return;
    const r = raw.transferLeader(to);
    this.tr(`transfer ${l.id} -> ${to}: ${r.kind}`);
    if (r.kind !== 'ok') return;
    this.cov.transfers++;
    if (cs.votersOutgoing.length > 0) this.cov.transfersDuringJoint++;
    l.transferTerm = raw.term;
  }

  /** Per-tick bookkeeping: aborted transfers and ticks in joint configurations. */
  private observe(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || raw.role !== 'Leader') continue;
      if (n.transferTerm === raw.term && raw.raft.leadTransferee === NONE) {
        n.transferTerm = 0;
        n.abortedTransferTerm = raw.term;
        this.cov.abortedTransfers++;
        this.tr(`leader ${n.id}: transfer aborted in term ${raw.term}`);
      }
      const cfg = raw.raft.trk.config;
      if (cfg.outgoing.size > 0) this.cov.ticksInJoint++;
      else if (cfg.incoming.size === 1) this.cov.ticksWithOneVoter++;
      else if (cfg.incoming.size === 2) this.cov.ticksWithTwoVoters++;
      if (n.ownCommitTerm !== raw.term && raw.raft.raftLog.term(raw.raft.raftLog.committed) === raw.term) {
        n.ownCommitTerm = raw.term;
        n.ownCommitAt = this.now;
      }
    }
  }

  private nemesis(): void {
    const p = this.p;
    if (this.blocked.size > 0 && this.now >= this.partitionHealAt) {
      this.blocked.clear();
      this.tr('partition healed');
    }
    if (this.blocked.size === 0 && p.longIsolationRate > 0 && this.rng.chance(p.longIsolationRate)) {
      // A leader that hears nothing (or is heard by no one) for several election timeouts,
      // while it keeps ticking: it must stop serving reads before a new leader commits.
      const l = this.leader();
      if (l !== undefined) {
        const outbound = this.rng.chance(0.5);
        for (const b of this.nodes.keys()) if (b !== l.id) this.blocked.add(outbound ? linkKey(l.id, b) : linkKey(b, l.id));
        this.partitionHealAt = this.now + 2 * ELECTION_TICK + this.rng.nextInt(8 * ELECTION_TICK);
        this.cov.longOneWayIsolations++;
        this.cov.partitions++;
        this.tr(`long isolation of leader ${l.id} (${outbound ? 'cannot send' : 'cannot hear'}) until ${this.partitionHealAt}`);
      }
    }
    if (this.blocked.size === 0 && p.partitionRate > 0 && this.rng.chance(p.partitionRate)) {
      const ids = [...this.nodes.keys()];
      const kind = this.rng.nextInt(3);
      if (kind === 0) {
        // Symmetric split into two sides.
        const side = new Set(ids.filter(() => this.rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(linkKey(a, b));
      } else if (kind === 1) {
        // Isolate the leader in one direction only (it can send but not hear, or the reverse).
        const l = this.leader()?.id ?? this.pick(ids);
        const outbound = this.rng.chance(0.5);
        for (const b of ids) if (b !== l) this.blocked.add(outbound ? linkKey(l ?? 0, b) : linkKey(b, l ?? 0));
      } else {
        // A few random one-way links.
        for (let i = 0; i < 3; i++) {
          const a = this.pick(ids);
          const b = this.pick(ids);
          if (a !== undefined && b !== undefined && a !== b) this.blocked.add(linkKey(a, b));
        }
      }
      this.partitionHealAt = this.now + 5 + this.rng.nextInt(40);
      this.cov.partitions++;
      this.tr(`partition ${[...this.blocked].map((k) => `${Math.floor(k / 64)}>${k % 64}`).join(' ')}`);
    }
    const l = this.leader();
    if (l !== undefined && p.leaderCrashRate > 0 && this.rng.chance(p.leaderCrashRate)) this.crash(l);
    for (const n of this.nodes.values()) {
      if (n.removed) continue;
      if (n.raw !== undefined) {
        if (p.crashRate > 0 && this.rng.chance(p.crashRate)) this.crash(n);
        else if (n.pausedUntil === 0 && p.pauseRate > 0 && this.rng.chance(p.pauseRate)) this.pause(n);
      } else if (n.downSince !== undefined && this.now - n.downSince > 0 && this.rng.chance(0.25)) this.restart(n);
    }
  }

  private pause(n: SimNode): void {
    n.pausedUntil = this.now + 1 + this.rng.nextInt(3 * ELECTION_TICK);
    n.pausedTicks = 0;
    n.pauseCount++;
    this.cov.pauses++;
    this.tr(`pause ${n.id} until ${n.pausedUntil}`);
  }

  private restart(n: SimNode): void {
    this.tr(`restart ${n.id}`);
    n.incarnation++;
    this.cov.restarts++;
    if (this.p.leaseReads) {
      this.cov.restartsWithLeases++;
      if (n.crashedAsLeader) this.cov.leaderRestartsWithLeases++;
    }
    this.start(n);
  }

  private storageChores(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || n.pausedUntil !== 0) continue;
      if (n.storage.loadRequested && this.rng.chance(n.loadRate)) {
        n.storage.loadEvicted();
        raw.onStorageReady();
        this.checkCommitDurable(n);
      }
      if (this.p.evictRate > 0 && this.rng.chance(this.p.evictRate)) {
        // Churn: also evict committed entries not applied yet (a cache that holds a short suffix),
        // so the node's apply — and the configuration it uses — waits for a load.
        const above = this.p.churn && this.rng.chance(0.5);
        const last = n.storage.lastIndex();
        n.storage.evictBelow(above && last > n.sm.applied ? n.sm.applied + 1 + this.rng.nextInt(last - n.sm.applied) : Math.min(n.sm.applied, last));
      }
      if (n.storage.snapshotRequested) this.maybeSnapshot(n);
    }
  }

  /** One tick for every node; a paused node owes its ticks and gets them on resume (PD's catch-up). */
  private tickAll(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined) continue;
      if (n.pausedUntil !== 0) {
        n.pausedTicks++;
        if (this.now < n.pausedUntil) continue;
        n.pausedUntil = 0;
        const owed = Math.min(n.pausedTicks, REPLAY_TICKS_MAX);
        this.tr(`resume ${n.id}: replaying ${owed} ticks`);
        for (let i = 0; i < owed; i++) raw.tick();
        if (n.write !== undefined || n.queue.length > 0) this.cov.ticksDuringWrite += owed;
        continue;
      }
      if (raw.isQuiet) {
        // The host skips quiet groups; now and then it ticks one anyway, which must change nothing.
        this.cov.quietTicks++;
        if (this.quietRng.chance(0.1)) this.checkQuietTick(n, raw);
        continue;
      }
      if (n.write !== undefined || n.queue.length > 0) this.cov.ticksDuringWrite++;
      raw.tick();
      this.checkCommitDurable(n);
    }
  }

  private step(): void {
    this.now++;
    this.cov.ticks++;
    if (this.faulty) {
      this.nemesis();
      if (this.q !== undefined) this.quietNemesis(this.q);
      if (!this.clientIdle()) {
        if (this.rng.chance(this.p.proposeRate)) this.propose();
        if (this.rng.chance(this.p.readRate)) this.read();
        this.readAtDeposedLeaders();
        if (this.p.shrink) {
          if (this.rng.chance(this.p.shrinkRate)) this.shrinkConfChange();
        } else if (this.p.confChangeRate > 0 && !this.p.churn && this.rng.chance(this.p.confChangeRate)) this.confChange();
        if (this.p.transferRate > 0 && this.rng.chance(this.p.transferRate)) this.transfer();
      }
    } else if (!this.clientsStopped) {
      if (this.rng.chance(0.1)) this.propose();
      if (this.rng.chance(0.2)) this.read();
      // Leave a joint configuration the simulator entered explicitly.
      if (this.rng.chance(0.1)) this.confChangeLeaveOnly();
    }
    this.tickAll();
    this.observe();
    this.storageChores();
    const churn = this.p.churn && this.faulty;
    for (let round = 0; round < 2; round++) {
      this.deliverDue();
      if (churn) this.churnHooks();
      this.processReadies();
      if (churn) this.churnHooks();
      if (this.q !== undefined) this.hostQuietPolicy(this.q);
    }
    if (this.q !== undefined) this.checkQuietInvariants();
    this.checkLeavers();
    if (this.p.churn) this.observeConfigSpread();
    if (this.p.shrink) this.retireRemovedNodes();
    else this.stopLeftLeaders();
  }

  /** A removed node's host stops it for good: nothing it had in flight lands. */
  private stopForGood(n: SimNode, why: string): void {
    this.tr(`${n.id} ${why}; stopping`);
    n.removed = true;
    n.raw = undefined;
    n.write = undefined;
    n.queue = [];
    n.applyQueue = [];
  }

  /** Not shrink seeds: a leader that applied its own removal stops once it no longer leads. */
  private stopLeftLeaders(): void {
    for (const n of this.nodes.values()) {
      if (!n.isLeaving || n.removed) continue;
      // Crashed meanwhile: it restarts as a member no longer (and is stopped as it applies again).
      if (n.raw === undefined) continue;
      if (n.raw.role === 'Leader') continue;
      this.stopForGood(n, 'stepped down after its removal');
    }
  }

  // ---- quiet mode: the hosts' policy and its checks -------------------------------------------

  /** Quiet seeds: the client goes idle for stretches so that groups get to sleep. */
  private clientIdle(): boolean {
    const q = this.q;
    if (q === undefined) return false;
    if (this.now < this.idleUntil) return true;
    if (!this.quietRng.chance(q.idleRate)) return false;
    this.idleUntil = this.now + 1 + this.quietRng.nextInt(q.idleTicksMax);
    this.tr(`client idle until ${this.idleUntil}`);
    return true;
  }

  /** Faults aimed at sleeping groups: a quiet leader cut off on its own. */
  private quietNemesis(q: QuietParams): void {
    if (this.blocked.size > 0 || q.isolateQuietLeaderRate === 0 || !this.quietRng.chance(q.isolateQuietLeaderRate)) return;
    const l = [...this.nodes.values()].find((n) => this.isRunning(n) && n.raw?.isQuiet === true && n.raw.role === 'Leader');
    if (l === undefined) return;
    for (const b of this.nodes.keys()) {
      if (b === l.id) continue;
      this.blocked.add(linkKey(l.id, b));
      this.blocked.add(linkKey(b, l.id));
    }
    this.partitionHealAt = this.now + 2 * ELECTION_TICK + this.quietRng.nextInt(6 * ELECTION_TICK);
    this.cov.quietLeaderIsolations++;
    this.cov.partitions++;
    this.tr(`quiet leader ${l.id} cut off until ${this.partitionHealAt}`);
  }

  /**
   * The hosts, after every delivery round: a leader's host quiesces it when the library allows;
   * a follower's host wakes it once it notices the leader it fell asleep under is down, paused,
   * restarted or cut off from it (the contract: nobody in a quiet group campaigns by itself);
   * and now and then a host wakes a quiet node for reasons of its own.
   */
  private hostQuietPolicy(q: QuietParams): void {
    const qr = this.quietRng;
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || !this.isRunning(n)) continue;
      if (raw.role === 'Leader' && !raw.isQuiet) {
        if (!qr.chance(q.quiesceRate)) continue;
        if (raw.quiesce().kind === 'ok') {
          this.cov.quiesces++;
          this.tr(`${n.id} quiesced in term ${raw.term} at ${raw.raft.raftLog.lastIndex()}`);
        }
        continue;
      }
      if (!raw.isQuiet || raw.role !== 'Follower') continue;
      if (this.leaderUnreachable(n) && qr.chance(q.suspectRate)) {
        raw.wake();
        this.cov.wakesLeaderUnreachable++;
        this.tr(`host wakes ${n.id}: its leader ${n.quietLeader} is unreachable`);
      }
    }
    if (q.hostWakeRate > 0 && qr.chance(q.hostWakeRate / 2)) {
      const sleepers = [...this.nodes.values()].filter((n) => this.isRunning(n) && n.raw?.isQuiet === true);
      const n = sleepers.length === 0 ? undefined : sleepers[qr.nextInt(sleepers.length)];
      if (n !== undefined) {
        n.raw?.wake();
        this.cov.hostWakes++;
        this.tr(`host wakes ${n.id}`);
      }
    }
  }

  /** What a store learns from store liveness and its transport: the leader's process is gone or cut off. */
  private leaderUnreachable(n: SimNode): boolean {
    const l = this.nodes.get(n.quietLeader);
    if (l === undefined || l.removed || l.raw === undefined || l.pausedUntil !== 0) return true;
    if (l.incarnation !== n.quietLeaderIncarnation) return true;
    return this.blocked.has(linkKey(l.id, n.id)) || this.blocked.has(linkKey(n.id, l.id));
  }

  private observeQuiesceHeartbeat(to: SimNode, m: Message, wasQuiet: boolean): void {
    const raw = to.raw;
    if (raw === undefined) return;
    if (!raw.isQuiet) {
      this.cov.quiesceRefused++;
      return;
    }
    if (!wasQuiet) {
      this.cov.followersQuiesced++;
      this.tr(`${to.id} quiet under leader ${m.from} of term ${m.term}`);
    }
    to.quietLeader = m.from;
    to.quietLeaderIncarnation = this.nodes.get(m.from)?.incarnation ?? 0;
  }

  /** A tick on a quiet node must change nothing (the host may skip it). */
  private checkQuietTick(n: SimNode, raw: RawNode): void {
    const r = raw.raft;
    const before = `${r.tickCount}/${r.electionElapsed}/${r.heartbeatElapsed}/${r.leaderContactElapsed}/${r.term}/${r.role}/${r.msgs.length}/${raw.isLeaseValid()}`;
    raw.tick();
    const after = `${r.tickCount}/${r.electionElapsed}/${r.heartbeatElapsed}/${r.leaderContactElapsed}/${r.term}/${r.role}/${r.msgs.length}/${raw.isLeaseValid()}`;
    if (before !== after || !raw.isQuiet) violation(`quiet mode: a tick changed quiet node ${n.id}: ${before} -> ${after}`);
  }

  /**
   * A leader that applied its own removal leads on only until its handoff entry commits; until
   * then it serves no reads (no lease, ReadIndex refused) and takes no proposals.
   */
  private checkLeavers(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || raw.role !== 'Leader') continue;
      const r = raw.raft;
      if (r.leaveIndex === 0) {
        if (!r.trk.isVoter(n.id)) violation(`node ${n.id}: leads term ${r.term} though no voter in its configuration, and is not leaving`);
        continue;
      }
      if (r.raftLog.committed >= r.leaveIndex) violation(`node ${n.id}: still leads term ${r.term} after its handoff entry ${r.leaveIndex} committed (${r.raftLog.committed})`);
      if (raw.isLeaseValid()) violation(`node ${n.id}: a leaving leader reports a valid lease`);
      this.cov.ticksLeaving++;
    }
  }

  /** Lease reads are off while quiet. */
  private checkQuietInvariants(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || !raw.isQuiet) continue;
      if (raw.role === 'Leader' && raw.isLeaseValid()) violation(`quiet mode: quiet leader ${n.id} of term ${raw.term} reports a valid lease`);
    }
  }

  /**
   * On the healed network a node removed while it could not hear it — still a voter in its own
   * configuration, none in the leader's, nor in any running member's — campaigns for ever at
   * rising terms that the members ignore (check-quorum). A store tells such a replica it was
   * removed (is_tombstone, store/peer-lifecycle.ts) and it destroys itself; the hosts here do the
   * same, once no member can still need its vote (seed 19026: node 3, removed at index 39, was at
   * term 19 while the group's leader served term 2).
   */
  private tellRemovedNodes(): void {
    const leader = this.leader();
    const lraw = leader?.raw;
    if (lraw === undefined || leader === undefined) return;
    const cfg = lraw.raft.trk.config;
    const members = [...new Set([...cfg.incoming, ...cfg.outgoing, ...cfg.learners, ...cfg.learnersNext])];
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined || n.removed || n === leader || members.includes(n.id) || !raw.raft.trk.isVoter(n.id)) continue;
      if (n.sm.applied >= leader.sm.applied) continue;
      const needed = members.some((id) => {
        const m = this.nodes.get(id);
        return m?.raw === undefined || m.raw.raft.trk.isVoter(n.id);
      });
      if (needed) continue;
      this.cov.removedNodesTold++;
      this.stopForGood(n, 'told it was removed (as a store\'s is_tombstone)');
    }
  }

  /** After healing, a leader that no running node's term exceeds exists within LEADER_AFTER_HEAL_TICKS_MAX. */
  private checkLeaderAfterHeal(): void {
    if (this.leaderAfterHealAt >= 0) return;
    const l = this.leader();
    if (l?.raw !== undefined && this.live().every((n) => (n.raw?.term ?? 0) <= (l.raw?.term ?? 0))) {
      this.leaderAfterHealAt = this.now;
      return;
    }
    if (this.now - this.healedAt > LEADER_AFTER_HEAL_TICKS_MAX) {
      const status = [...this.nodes.values()].map((n) => (n.raw === undefined ? `${n.id}:down` : `${n.id}:${n.raw.role}/t${n.raw.term}${n.raw.isQuiet ? '/quiet' : ''}`));
      violation(`liveness: no leader ${LEADER_AFTER_HEAL_TICKS_MAX} ticks after healing (${status.join(' ')})${this.removalDeadlock()}`);
    }
  }

  /**
   * Names the known hazard (REMOVAL_DEADLOCK) when it explains a liveness failure: a running node
   * that is no voter in its own configuration is one in a running node's, and its log is longer.
   */
  private removalDeadlock(): string {
    for (const leaver of this.nodes.values()) {
      const lr = leaver.raw;
      if (lr === undefined || lr.raft.trk.isVoter(leaver.id)) continue;
      for (const n of this.nodes.values()) {
        const r = n.raw;
        if (r === undefined || n === leaver || !r.raft.trk.isVoter(n.id) || !r.raft.trk.isVoter(leaver.id)) continue;
        const longer = lr.raft.raftLog.lastTerm() > r.raft.raftLog.lastTerm() || (lr.raft.raftLog.lastTerm() === r.raft.raftLog.lastTerm() && lr.raft.raftLog.lastIndex() > r.raft.raftLog.lastIndex());
        if (longer) return ` — ${REMOVAL_DEADLOCK}: ${n.id} still needs the vote of ${leaver.id}, which left and holds a longer log`;
      }
    }
    return '';
  }

  private confChangeLeaveOnly(): void {
    const raw = this.leader()?.raw;
    if (raw === undefined) return;
    const cs = raw.status().confState;
    if (cs.votersOutgoing.length === 0 || cs.autoLeave) return;
    const r = raw.proposeConfChange({ transition: 'auto', changes: [], context: new Uint8Array(0) });
    if (r.kind === 'ok') this.cov.explicitJointLeaves++;
  }

  private heal(): void {
    this.faulty = false;
    this.healedAt = this.now;
    if ([...this.nodes.values()].some((n) => n.raw?.isQuiet === true)) this.cov.healsWhileQuiet++;
    this.blocked.clear();
    for (const n of this.nodes.values()) {
      if (!n.removed && n.raw === undefined) this.restart(n);
    }
    this.tr('healed: liveness phase');
  }

  /**
   * Converged: one leader, not in a joint config, a marker proposed after healing applied on
   * every member, and every read issued at this leader in its term long enough ago answered.
   */
  private converged(): boolean {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined || l === undefined) return false;
    // (Re)propose the marker: a proposal may be lost to a leader change, and that is allowed.
    const markerKey = this.committedKey[this.markerIndex];
    const markerCommitted = markerKey !== undefined && this.liveMarker !== undefined && markerKey.endsWith(this.liveMarker);
    // Re-propose only when the term changed (the old proposal may be lost); a slow commit is fine.
    if (this.liveMarker === undefined || (!markerCommitted && raw.term !== this.markerTerm)) {
      const marker = `live-${this.seed}-${this.now}`;
      const r = raw.propose(enc.encode(marker));
      if (r.kind === 'ok') {
        this.liveMarker = marker;
        this.markerIndex = r.index;
        this.markerTerm = r.term;
      }
      return false;
    }
    if (!markerCommitted) return false;
    const cs = raw.status().confState;
    if (cs.votersOutgoing.length > 0) return false;
    const members = [...cs.voters, ...cs.learners];
    if (!members.every((id) => (this.nodes.get(id)?.sm.applied ?? 0) >= this.markerIndex)) return false;
    // Every proposal made after healing to this leader in this term (directly, or forwarded while
    // it could receive it) has committed.
    let required = 0;
    for (const [payload, p] of this.livenessProposals) {
      if (p.leaderId !== l.id || p.term !== raw.term || p.pauses !== l.pauseCount) continue;
      const f = p.forwarder === NONE ? undefined : this.nodes.get(p.forwarder);
      if (f !== undefined && (f.removed || f.raw === undefined || f.incarnation !== p.forwarderIncarnation)) continue;
      if (!this.appliedLivenessPayloads.has(payload)) return false;
      required++;
    }
    this.cov.livenessProposalsRequired += required;
    return true;
  }

  /**
   * Reads issued on the healed network at the converged leader, in its current term, must be
   * answered (ReadIndex or lease, whichever path they took): step on without new client requests
   * until they are, or fail once one is older than READ_ANSWER_TICKS_MAX.
   */
  private drainReads(): void {
    for (let steps = 0; ; steps++) {
      if (steps > this.livenessTicks) violation(`read liveness: reads at the leader still waiting ${steps} ticks after convergence`);
      const l = this.leader();
      const raw = l?.raw;
      if (raw === undefined || l === undefined) return;
      let waiting = false;
      for (const [key, rd] of this.pendingReads) {
        if (!rd.liveness || !rd.atLeader || rd.node !== l.id || rd.term !== raw.term) continue;
        // A leader defers reads until it has committed an entry of its term (§6.4 step 1); a
        // slow seed may take long to drain its backlog first (seed 41292). Count from then.
        const servableAt = l.ownCommitTerm === raw.term ? Math.max(rd.issuedAt, l.ownCommitAt) : this.now;
        if (this.now - servableAt > READ_ANSWER_TICKS_MAX) {
          violation(`read liveness: read ${key} issued at leader ${l.id} in term ${rd.term} at tick ${rd.issuedAt} still unanswered on a healed network at tick ${this.now}`);
        }
        waiting = true;
      }
      if (!waiting) return;
      this.clientsStopped = true;
      this.step();
    }
  }

  run(): SimResult {
    try {
      for (let i = 0; i < this.safetyTicks; i++) this.step();
      this.heal();
      let ok = false;
      for (let i = 0; i < this.livenessTicks; i++) {
        this.step();
        this.tellRemovedNodes();
        this.checkLeaderAfterHeal();
        if (this.converged()) {
          ok = true;
          this.drainReads();
          break;
        }
      }
      if (!ok) {
        const status = [...this.nodes.values()].map((n) => (n.raw === undefined ? `${n.id}:down${n.removed ? '(removed)' : ''}` : `${n.id}:${n.raw.role}/t${n.raw.term}/c${n.raw.raft.raftLog.committed}/a${n.sm.applied}`));
        const owed = [...this.livenessProposals.keys()].filter((k) => !this.appliedLivenessPayloads.has(k));
        violation(`liveness: no convergence within ${this.livenessTicks} ticks of healing (${status.join(' ')}; proposals not committed: ${owed.slice(0, 5).join(',')})${this.removalDeadlock()}`);
      }
      return { ok: true, seed: this.seed, stats: { nodes: this.nodes.size, leaderAfterHealTicks: this.leaderAfterHealAt - this.healedAt, ...this.cov }, traceHash: this.traceHash, trace: this.trace };
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      const stack = e instanceof Error && !(e instanceof SimViolation) ? `\n${e.stack ?? ''}` : '';
      return { ok: false, seed: this.seed, error: msg + stack, tick: this.now, trace: this.trace };
    }
  }
}

export function runSeed(seed: number, opts: Omit<SimOptions, 'seed'> = {}): SimResult {
  return new Simulation({ seed, ...opts }).run();
}
