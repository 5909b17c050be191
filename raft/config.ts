// Raft node configuration: one typed object, defaults in one place, and validate() that names
// the field and the allowed range or relation in words.
import { type Rng, FlotillaError } from '../common/pure.js';
import { type RaftLogger, NOOP_LOGGER } from './logger.js';
import { type RaftStorage } from './storage.js';
import { type NodeId, NONE } from './types.js';
import * as limits from './limits.js';

/** How linearizable reads are confirmed (etcd's ReadOnlyOption). */
export type ReadOnlyOption =
  /** Confirm leadership with a heartbeat round per batch of reads: safe without clock assumptions. */
  | 'safe'
  /**
   * Trust a leader lease: while the leader has heard from a quorum within the election timeout
   * (check-quorum must be on) no other leader can exist, so it answers from its commit index at
   * once. Assumes clock drift between nodes is bounded so that a follower's election timeout
   * (which starts a rival election) never elapses before the leader's lease — measured in the
   * leader's ticks — does. Keep the tick interval equal everywhere and the drift well under
   * electionTick × tick interval; if that cannot be guaranteed, use 'safe'.
   */
  | 'lease-based';

export interface Config {
  /** This node's id; never 0. */
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns; randomized in [e, 2e). */
  readonly electionTick: number;
  /** Ticks between leader heartbeats. */
  readonly heartbeatTick: number;
  readonly storage: RaftStorage;
  /** Last index the caller has applied (on restart). Entries ≤ it are not handed out again. */
  readonly applied: number;
  /** Bytes of entries per MsgApp (0 = one entry per message). See limits.APPEND_BYTES_PER_MSG_MAX. */
  readonly maxSizePerMsg: number;
  /** Bytes of committed entries per Ready. */
  readonly maxCommittedSizePerReady: number;
  /** MsgApps in flight per follower in replicate state. */
  readonly maxInflightMsgs: number;
  /** Bytes of appends in flight per follower (0 = unlimited). */
  readonly maxInflightBytes: number;
  /** Payload bytes uncommitted on a leader before proposals are refused (0 = unlimited). */
  readonly maxUncommittedEntriesSize: number;
  /** Largest single proposal payload. */
  readonly maxEntryBytes: number;
  /** Pending ReadIndex requests before new ones are refused. */
  readonly maxPendingReadIndex: number;
  /** Leader steps down when it has not heard from a quorum for an election timeout. */
  readonly checkQuorum: boolean;
  /** Run a pre-vote round (Raft thesis §9.6) so a partitioned node cannot disrupt a stable leader. */
  readonly preVote: boolean;
  readonly readOnlyOption: ReadOnlyOption;
  /** Refuse proposals on followers instead of forwarding them to the leader. */
  readonly disableProposalForwarding: boolean;
  /**
   * A commit index that advances is not broadcast to followers in appends of its own: they learn
   * it with the next append or heartbeat (and the quiesce heartbeat). Halves the messages per
   * write of a lightly loaded group — what a host of thousands of groups wants (TiKV's
   * skip_bcast_commit). A pending membership change is still broadcast at once.
   */
  readonly skipBcastCommit: boolean;
  /**
   * A leader's periodic heartbeat is not sent to a follower in Replicate that got an append this
   * heartbeat interval: the append already reset its election timer. The lease then rests on
   * append acks — each vouches for the tick at which the leader appended the entry it
   * acknowledges (any message carrying that entry left no earlier). A follower's commit index may
   * lag until the next append, or the next interval's heartbeat once appends stop. Under load,
   * thousands of groups send no heartbeats (this host's cost is CPU per message). Heartbeats that
   * confirm ReadIndex requests, wake a group or answer MsgBeat always go.
   */
  readonly skipHeartbeatsWhileAppending: boolean;
  /**
   * The caller writes behind its Readys (README "Writes behind the Readys"): it may take the next
   * Ready while earlier ones are being written, acknowledging each with advanceAppend() and
   * advanceApply(). Committed entries are then handed out only up to the durable end of the log.
   */
  readonly asyncStorageWrites: boolean;
  /** Randomness for election timeouts (inject a seeded Rng; never Math.random). */
  readonly rng: Rng;
  readonly logger: RaftLogger;
  /** Run O(n) self-checks (tests, simulation). */
  readonly verify: boolean;
}

export type ConfigInput = Partial<Config> & Pick<Config, 'id' | 'storage' | 'rng'>;

/** Fills defaults and validates; throws FlotillaError('ConfigInvalid') naming the field. */
export function makeConfig(input: ConfigInput): Config {
  const c: Config = {
    electionTick: limits.ELECTION_TICKS_DEFAULT,
    heartbeatTick: limits.HEARTBEAT_TICKS_DEFAULT,
    applied: 0,
    maxSizePerMsg: limits.APPEND_BYTES_PER_MSG_MAX,
    maxCommittedSizePerReady: limits.COMMITTED_BYTES_PER_READY_MAX,
    maxInflightMsgs: limits.APPEND_INFLIGHT_MSGS_MAX,
    maxInflightBytes: limits.APPEND_INFLIGHT_BYTES_MAX,
    maxUncommittedEntriesSize: limits.UNCOMMITTED_BYTES_MAX,
    maxEntryBytes: limits.RAFT_ENTRY_BYTES_MAX,
    maxPendingReadIndex: limits.READ_INDEX_PENDING_MAX,
    checkQuorum: true,
    preVote: true,
    readOnlyOption: 'safe',
    disableProposalForwarding: false,
    skipBcastCommit: false,
    skipHeartbeatsWhileAppending: false,
    asyncStorageWrites: false,
    logger: NOOP_LOGGER,
    verify: false,
    ...input,
  };
  validateConfig(c);
  return c;
}

function bad(msg: string): never {
  throw new FlotillaError('ConfigInvalid', `raft config: ${msg}`);
}

function isNonNegInt(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

export function validateConfig(c: Config): void {
  if (!Number.isSafeInteger(c.id) || c.id === NONE || c.id < 0) bad(`id must be a positive safe integer, got ${c.id}`);
  if (!Number.isSafeInteger(c.heartbeatTick) || c.heartbeatTick <= 0) bad(`heartbeatTick must be a positive integer, got ${c.heartbeatTick}`);
  if (!Number.isSafeInteger(c.electionTick)) bad(`electionTick must be an integer, got ${c.electionTick}`);
  if (c.electionTick <= c.heartbeatTick) bad(`electionTick must be greater than heartbeatTick (${c.electionTick} <= ${c.heartbeatTick})`);
  if (!isNonNegInt(c.applied)) bad(`applied must be a non-negative integer, got ${c.applied}`);
  if (!isNonNegInt(c.maxSizePerMsg)) bad(`maxSizePerMsg must be a non-negative integer, got ${c.maxSizePerMsg}`);
  if (!Number.isSafeInteger(c.maxCommittedSizePerReady) || c.maxCommittedSizePerReady <= 0) bad(`maxCommittedSizePerReady must be positive, got ${c.maxCommittedSizePerReady}`);
  if (!Number.isSafeInteger(c.maxInflightMsgs) || c.maxInflightMsgs <= 0) bad(`maxInflightMsgs must be greater than 0, got ${c.maxInflightMsgs}`);
  if (!isNonNegInt(c.maxInflightBytes)) bad(`maxInflightBytes must be a non-negative integer, got ${c.maxInflightBytes}`);
  if (c.maxInflightBytes !== 0 && c.maxInflightBytes < c.maxSizePerMsg) bad(`maxInflightBytes must be 0 or at least maxSizePerMsg (${c.maxInflightBytes} < ${c.maxSizePerMsg})`);
  if (!isNonNegInt(c.maxUncommittedEntriesSize)) bad(`maxUncommittedEntriesSize must be a non-negative integer, got ${c.maxUncommittedEntriesSize}`);
  if (!Number.isSafeInteger(c.maxEntryBytes) || c.maxEntryBytes <= 0) bad(`maxEntryBytes must be positive, got ${c.maxEntryBytes}`);
  if (c.maxUncommittedEntriesSize !== 0 && c.maxUncommittedEntriesSize < c.maxEntryBytes) bad(`maxUncommittedEntriesSize must be 0 or at least maxEntryBytes (${c.maxUncommittedEntriesSize} < ${c.maxEntryBytes})`);
  if (!Number.isSafeInteger(c.maxPendingReadIndex) || c.maxPendingReadIndex <= 0) bad(`maxPendingReadIndex must be positive, got ${c.maxPendingReadIndex}`);
  if (c.readOnlyOption === 'lease-based' && !c.checkQuorum) bad('readOnlyOption lease-based requires checkQuorum (the lease is renewed by hearing a quorum)');
}
