// The raft wire and log vocabulary: entries, messages, hard state, snapshots and membership.
// Field names mirror etcd's raftpb / TiKV's eraftpb so the store's transport converts them
// mechanically. Terms, indexes and node ids are safe integers; entry payloads are bytes.

/** A node (peer) id. 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

export type EntryType = 'Normal' | 'ConfChange' | 'ConfChangeV2';

export interface Entry {
  readonly type: EntryType;
  readonly term: number;
  readonly index: number;
  readonly data: Uint8Array;
}

export type MessageType =
  | 'MsgHup'
  | 'MsgBeat'
  | 'MsgProp'
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp'
  | 'MsgSnap'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  | 'MsgUnreachable'
  | 'MsgSnapStatus'
  | 'MsgCheckQuorum'
  | 'MsgTransferLeader'
  | 'MsgTimeoutNow'
  | 'MsgReadIndex'
  | 'MsgReadIndexResp';

/** Types that never leave the node: the caller's inputs expressed as messages (etcd's local messages). */
export function isLocalMessageType(t: MessageType): boolean {
  return t === 'MsgHup' || t === 'MsgBeat' || t === 'MsgUnreachable' || t === 'MsgSnapStatus' || t === 'MsgCheckQuorum';
}

/** Responses: a node may receive these from anyone and they never start an election. */
export function isResponseMessageType(t: MessageType): boolean {
  return (
    t === 'MsgAppResp' ||
    t === 'MsgVoteResp' ||
    t === 'MsgPreVoteResp' ||
    t === 'MsgHeartbeatResp' ||
    t === 'MsgUnreachable' ||
    t === 'MsgReadIndexResp'
  );
}

/**
 * One raft message. A flat record like raftpb.Message: which fields matter depends on `type`
 * (see README.md, "Messages"). `term` 0 marks a local message.
 */
export interface Message {
  readonly type: MessageType;
  readonly to: NodeId;
  readonly from: NodeId;
  readonly term: number;
  /** MsgApp: term of the entry at `index` (the entry preceding `entries`). Votes: last log term. */
  readonly logTerm: number;
  /** MsgApp: index preceding `entries`. MsgAppResp: highest index matched, or rejected index. Votes: last log index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly snapshot?: Snapshot | undefined;
  readonly reject: boolean;
  /** MsgAppResp rejection: the follower's guess of the last index that may match (fast back-off). */
  readonly rejectHint: number;
  /** Opaque: ReadIndex request context, or the campaign kind marker on votes (transfer). */
  readonly context: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: NONE, commit: 0 });

export function isEmptyHardState(hs: HardState): boolean {
  return hs.term === 0 && hs.vote === NONE && hs.commit === 0;
}

export function hardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Membership as stored in snapshots and reported after applying a change (raftpb.ConfState). */
export interface ConfState {
  readonly voters: readonly NodeId[];
  /** Voters of the outgoing config while in a joint config; empty otherwise. */
  readonly votersOutgoing: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Outgoing voters that become learners when the joint config is left (they still vote until then). */
  readonly learnersNext: readonly NodeId[];
  /** Whether the joint config is left automatically by the leader. */
  readonly autoLeave: boolean;
}

export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: [],
  votersOutgoing: [],
  learners: [],
  learnersNext: [],
  autoLeave: false,
});

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  metadata: Object.freeze({ index: 0, term: 0, confState: EMPTY_CONF_STATE }),
  data: new Uint8Array(0),
});

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

export type ConfChangeType = 'AddNode' | 'RemoveNode' | 'AddLearnerNode';

/** One membership step (raftpb.ConfChangeSingle). AddNode on a learner promotes it. */
export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
}

/**
 * How a multi-step change uses joint consensus (raftpb.ConfChangeTransition).
 * - 'auto': joint consensus when the change has more than one step (as etcd), and the leader
 *   leaves it by itself; a single step is a simple change;
 * - 'implicit': always joint, left automatically;
 * - 'explicit': always joint, left only by proposing an empty ConfChangeV2.
 */
export type ConfChangeTransition = 'auto' | 'implicit' | 'explicit';

/** A membership change. One change with transition 'auto' is the one-at-a-time rule. */
export interface ConfChange {
  readonly transition: ConfChangeTransition;
  readonly changes: readonly ConfChangeSingle[];
  readonly context: Uint8Array;
}

export type StateRole = 'Follower' | 'Candidate' | 'PreCandidate' | 'Leader';

export interface SoftState {
  readonly leaderId: NodeId;
  readonly role: StateRole;
}

/** A ReadIndex answer: once the caller has applied up to `index`, a read tagged `requestContext` is linearizable. */
export interface ReadState {
  readonly index: number;
  readonly requestContext: Uint8Array;
}

const EMPTY_BYTES = new Uint8Array(0);

/**
 * Builds a message with defaults for the fields a type does not use. Every message has this one
 * fixed shape, which keeps property access monomorphic on the hot path. `from` and `term`, when
 * given, override the fields (the sender stamps its own id and term without a copy).
 */
export function makeMessage(
  fields: Partial<Message> & Pick<Message, 'type' | 'to'>,
  from: NodeId = fields.from ?? NONE,
  term: number = fields.term ?? 0,
): Message {
  return {
    type: fields.type,
    to: fields.to,
    from,
    term,
    logTerm: fields.logTerm ?? 0,
    index: fields.index ?? 0,
    entries: fields.entries ?? NO_ENTRIES,
    commit: fields.commit ?? 0,
    snapshot: fields.snapshot,
    reject: fields.reject ?? false,
    rejectHint: fields.rejectHint ?? 0,
    context: fields.context ?? EMPTY_BYTES,
  };
}

export const NO_ENTRIES: readonly Entry[] = Object.freeze([]);
export { EMPTY_BYTES };

/** Approximate encoded size of an entry: its payload plus fixed framing (the limits use this). */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + ENTRY_OVERHEAD_BYTES;
}
/** Framing estimate per entry (type, term, index varints and tags in eraftpb). */
export const ENTRY_OVERHEAD_BYTES = 16;

/** Bytes that count toward the uncommitted-size limit: the payload only (etcd's payloadSize). */
export function entryPayloadBytes(e: Entry): number {
  return e.data.byteLength;
}
