// Hand-written protobuf codec of the store-to-store raft stream (RaftTransport.Raft): bytes of a
// raft_serverpb.RaftMessageBatch straight to and from raft/'s in-memory types, without protobufjs,
// Long, decimal strings or toObject/fromObject (~20–25 % of a store's CPU under write load). The
// wire format is exactly protobuf (raft_serverpb/eraftpb/metapb .proto), so either end may still
// use protobufjs; the semantics are those of raft-host/raft-wire.ts and common/region.ts (ids safe
// integers, enums known, peers Voter or Learner). Invariant: encode writes canonical proto3
// (fields in number order, defaults omitted, repeated uint64 packed) into one Buffer sized first,
// and decode(encode(x)) deep-equals x.
//
// Decoding is parse-at-the-gateway: every field of a message is checked, or the message is
// refused. A batch survives a bad message: each RaftMessage is length-delimited, so a message
// whose bytes or fields are invalid is dropped and counted (as the old receiver dropped one
// message at a time, and raft resends); only a batch whose own framing is broken, or which holds
// more than RAFT_BATCH_MESSAGES_MAX messages, is refused whole.

import assert from 'node:assert';
import {
  epochFromWire,
  epochToWire,
  FlotillaError,
  GRPC_MESSAGE_BYTES_MAX,
  invariant,
  InvariantError,
  type PeerMeta,
  peerFromWire,
  peerToWire,
  REGION_KEY_BYTES_MAX,
  REGION_PEERS_MAX,
  type RegionEpoch,
  u64ToSafeNumber,
} from '../common/index.js';
import type { raft_serverpb } from '../proto/index.js';
import {
  APPEND_BYTES_PER_MSG_MAX,
  type ConfState,
  ENTRY_OVERHEAD_BYTES,
  type Entry,
  type EntryType,
  type Message,
  type MessageType,
  NO_ENTRIES,
  type Snapshot,
} from '../raft/index.js';
import { ENTRY_RECORD_HEADER_BYTES, entryDataIn, messageFromWire, messageToWire } from '../raft-host/index.js';

// ───────────────────────────── Types and limits ─────────────────────────────

/** One raft message of one region, addressed peer to peer (raft_serverpb.RaftMessage). */
export interface StoreRaftMessage {
  readonly regionId: number;
  readonly fromPeer: PeerMeta;
  readonly toPeer: PeerMeta;
  readonly message: Message;
  /** The sender's region epoch. */
  readonly epoch: RegionEpoch;
  readonly isTombstone: boolean;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
}

/** The messages one store sends another in one stream write; `msgs` empty = keepalive. */
export interface StoreRaftBatch {
  readonly msgs: readonly StoreRaftMessage[];
  /** The sending store; 0 = not said (senders fill it on keepalives). */
  readonly fromStoreId: number;
}

/** A decoded batch: the valid messages, and how many were dropped as malformed. */
export interface DecodedRaftBatch extends StoreRaftBatch {
  /** Messages dropped because their bytes or fields were invalid; the rest of the batch stands. */
  readonly droppedMalformed: number;
  /** The first such message's InvalidArgument (for one debug line per batch); null when none. */
  readonly firstMalformed: FlotillaError | null;
}

/** A whole batch on the wire: gRPC refuses larger messages on both ends (common/grpc.ts). */
export const RAFT_BATCH_BYTES_MAX = GRPC_MESSAGE_BYTES_MAX;
/**
 * Messages per batch. A sender writes one batch per poll round and destination store: a few
 * messages per region (append, heartbeat, their responses), so 65,536 covers ~16k regions with
 * peers on both stores; a sender with more splits the round's messages over several batches. It
 * bounds the objects one batch makes: its smallest message is ~20 bytes, and 64 MiB of those
 * would be 3 M messages in one go.
 */
export const RAFT_BATCH_MESSAGES_MAX = 65_536;
/**
 * Entries per message. raft fills a MsgApp up to maxSizePerMsg counting ENTRY_OVERHEAD_BYTES of
 * framing per entry (raft/storage.ts limitSize), so at the default 1 MiB a MsgApp holds at most
 * 65,537 empty entries; twice that leaves room for a larger maxSizePerMsg. The store's raft
 * config must keep maxSizePerMsg / ENTRY_OVERHEAD_BYTES + 1 under this (else encode refuses).
 */
export const RAFT_MESSAGE_ENTRIES_MAX = (2 * APPEND_BYTES_PER_MSG_MAX) / ENTRY_OVERHEAD_BYTES;
/** Ids per ConfState list: each list is a subset of the region's peers. */
export const CONF_STATE_IDS_MAX = REGION_PEERS_MAX;

assert(RAFT_MESSAGE_ENTRIES_MAX >= APPEND_BYTES_PER_MSG_MAX / ENTRY_OVERHEAD_BYTES + 1, 'a default-sized MsgApp of empty entries must fit');
assert(RAFT_BATCH_BYTES_MAX < 2 ** 31, 'sizes are int32 (the scratch size stack, Buffer offsets)');

// ───────────────────────────── Enums ─────────────────────────────

/** eraftpb.MessageType numbers (eraftpb.proto), raft/'s names. */
const MESSAGE_TYPE_NUMBERS: Readonly<Record<MessageType, number>> = {
  MsgHup: 0,
  MsgBeat: 1,
  MsgProp: 2,
  MsgApp: 3,
  MsgAppResp: 4,
  MsgVote: 5,
  MsgVoteResp: 6,
  MsgSnap: 7,
  MsgHeartbeat: 8,
  MsgHeartbeatResp: 9,
  MsgUnreachable: 10,
  MsgSnapStatus: 11,
  MsgCheckQuorum: 12,
  MsgTransferLeader: 13,
  MsgTimeoutNow: 14,
  MsgReadIndex: 15,
  MsgReadIndexResp: 16,
  MsgPreVote: 17,
  MsgPreVoteResp: 18,
};
const MESSAGE_TYPES_BY_NUMBER: readonly MessageType[] = numberedNames(MESSAGE_TYPE_NUMBERS);

const ENTRY_TYPE_NUMBERS: Readonly<Record<EntryType, number>> = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 };
const ENTRY_TYPES_BY_NUMBER: readonly EntryType[] = numberedNames(ENTRY_TYPE_NUMBERS);

/** metapb.PeerRole: Voter 0, Learner 1; IncomingVoter 2 and DemotingVoter 3 are refused, as peerFromWire does. */
const PEER_ROLE_LEARNER = 1;
const PEER_ROLE_NAMES = ['Voter', 'Learner', 'IncomingVoter', 'DemotingVoter'] as const;

function numberedNames<T extends string>(numbers: Readonly<Record<T, number>>): T[] {
  const names: T[] = [];
  for (const [name, n] of Object.entries(numbers) as [T, number][]) names[n] = name;
  assert(names.length === Object.keys(numbers).length && !names.includes(undefined as unknown as T), 'enum numbers are dense from 0');
  return names;
}

// ───────────────────────────── Wire primitives ─────────────────────────────

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const TWO_POW_28 = 2 ** 28;
const TWO_POW_31 = 2 ** 31;
const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

function tagOf(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of `v` as a varint; `v` a safe non-negative integer (8 bytes at most below 2^56). */
function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  if (v < 0x800000000) return 5;
  if (v < 0x40000000000) return 6;
  if (v < 0x2000000000000) return 7;
  return 8;
}

/**
 * Writes `v` as a varint at `pos`; returns the position after it. Bitwise ops only below 2^31
 * (they truncate to 32 bits); above, arithmetic (exact for safe integers).
 */
function writeVarint(buf: Buffer, pos: number, v: number): number {
  if (v < TWO_POW_31) {
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    return pos;
  }
  while (v > 0x7f) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/** A uint64 field of an in-memory value: must be a safe integer (raft/ and common/ promise it). */
function u64Size(v: number, field: string): number {
  // Inline, not invariant(): a lazy message would be a closure allocated per field encoded.
  if (!(Number.isSafeInteger(v) && v >= 0)) throw new InvariantError(`raft codec: ${field} ${v} is not a safe non-negative integer`);
  return varintSize(v);
}

/** Size of an optional uint64 field with a one-byte tag (omitted when 0, as proto3). */
function u64FieldSize(v: number, field: string): number {
  return v === 0 ? 0 : 1 + u64Size(v, field);
}

/** Size of a bytes field or embedded message of `len` bytes with a one-byte tag. */
function lenFieldSize(len: number): number {
  return 1 + varintSize(len) + len;
}

function writeU64Field(buf: Buffer, pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  buf[pos++] = tag;
  return writeVarint(buf, pos, v);
}

function writeBytesField(buf: Buffer, pos: number, tag: number, bytes: Uint8Array): number {
  if (bytes.byteLength === 0) return pos;
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, bytes.byteLength);
  buf.set(bytes, pos);
  return pos + bytes.byteLength;
}

// ───────────────────────────── Encode ─────────────────────────────
//
// Two passes over the batch in the same order: the first computes every embedded message's size
// and pushes it on a scratch stack (reused across calls: no arrays per encode); the second
// allocates the batch's one Buffer and writes it, shifting the sizes off in the order it needs
// them. Every field has a one-byte tag (field numbers ≤ 15).

let sizes = new Int32Array(1024);
let sizesPushed = 0;
let sizesShifted = 0;

function pushSize(size: number): void {
  if (sizesPushed === sizes.length) {
    const grown = new Int32Array(sizes.length * 2);
    grown.set(sizes);
    sizes = grown;
  }
  sizes[sizesPushed++] = size;
}

function shiftSize(): number {
  invariant(sizesShifted < sizesPushed, 'raft codec: size stack underflow (the passes disagree)');
  return sizes[sizesShifted++]!;
}

/**
 * Protobuf bytes of `batch` (raft_serverpb.RaftMessageBatch), one Buffer allocated once.
 * Byte fields are copied in. Throws LimitExceeded past RAFT_BATCH_MESSAGES_MAX messages,
 * RAFT_MESSAGE_ENTRIES_MAX entries, CONF_STATE_IDS_MAX ids or REGION_KEY_BYTES_MAX key bytes
 * (the receiver would refuse them), MessageTooLarge past RAFT_BATCH_BYTES_MAX (split the batch).
 * A number that is not a safe non-negative integer is a bug: InvariantError.
 */
export function encodeRaftBatch(batch: StoreRaftBatch): Buffer {
  const msgs = batch.msgs;
  if (msgs.length > RAFT_BATCH_MESSAGES_MAX) throw limitExceeded(`raft batch: ${msgs.length} messages exceed ${RAFT_BATCH_MESSAGES_MAX}`);
  sizesPushed = 0;
  sizesShifted = 0;
  let size = u64FieldSize(batch.fromStoreId, 'fromStoreId');
  for (let i = 0; i < msgs.length; i++) size += lenFieldSize(sizeRaftMessage(msgs[i]!));
  if (size > RAFT_BATCH_BYTES_MAX) {
    throw new FlotillaError('MessageTooLarge', `raft batch: ${size} bytes of ${msgs.length} messages exceed ${RAFT_BATCH_BYTES_MAX}`, { details: { bytes: size } });
  }
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let i = 0; i < msgs.length; i++) {
    buf[pos++] = tagOf(1, WIRE_BYTES);
    pos = writeVarint(buf, pos, shiftSize());
    pos = writeRaftMessage(buf, pos, msgs[i]!);
  }
  pos = writeU64Field(buf, pos, tagOf(2, WIRE_VARINT), batch.fromStoreId);
  invariant(pos === size && sizesShifted === sizesPushed, () => `raft codec: wrote ${pos} of ${size} bytes`);
  return buf;
}

function sizePeer(p: PeerMeta): number {
  return u64FieldSize(p.id, 'peer.id') + u64FieldSize(p.storeId, 'peer.storeId') + (p.role === 'learner' ? 2 : 0);
}

function writePeer(buf: Buffer, pos: number, tag: number, p: PeerMeta): number {
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, sizePeer(p));
  pos = writeU64Field(buf, pos, tagOf(1, WIRE_VARINT), p.id);
  pos = writeU64Field(buf, pos, tagOf(2, WIRE_VARINT), p.storeId);
  if (p.role === 'learner') {
    buf[pos++] = tagOf(3, WIRE_VARINT);
    buf[pos++] = PEER_ROLE_LEARNER;
  }
  return pos;
}

function sizeEpoch(e: RegionEpoch): number {
  return u64FieldSize(e.confVer, 'epoch.confVer') + u64FieldSize(e.version, 'epoch.version');
}

/** Pushes the RaftMessage's size, then its Message's; returns the RaftMessage's. */
function sizeRaftMessage(m: StoreRaftMessage): number {
  if (m.startKey.length > REGION_KEY_BYTES_MAX || m.endKey.length > REGION_KEY_BYTES_MAX) {
    throw limitExceeded(`raft message of region ${m.regionId}: keys longer than ${REGION_KEY_BYTES_MAX} bytes`);
  }
  const slot = sizesPushed;
  pushSize(0);
  const messageSize = sizeMessage(m.message);
  const size =
    u64FieldSize(m.regionId, 'regionId') +
    lenFieldSize(sizePeer(m.fromPeer)) +
    lenFieldSize(sizePeer(m.toPeer)) +
    lenFieldSize(messageSize) +
    lenFieldSize(sizeEpoch(m.epoch)) +
    (m.isTombstone ? 2 : 0) +
    (m.startKey.length === 0 ? 0 : lenFieldSize(m.startKey.length)) +
    (m.endKey.length === 0 ? 0 : lenFieldSize(m.endKey.length));
  sizes[slot] = size;
  return size;
}

function writeRaftMessage(buf: Buffer, pos: number, m: StoreRaftMessage): number {
  pos = writeU64Field(buf, pos, tagOf(1, WIRE_VARINT), m.regionId);
  pos = writePeer(buf, pos, tagOf(2, WIRE_BYTES), m.fromPeer);
  pos = writePeer(buf, pos, tagOf(3, WIRE_BYTES), m.toPeer);
  buf[pos++] = tagOf(4, WIRE_BYTES);
  pos = writeVarint(buf, pos, shiftSize());
  pos = writeMessage(buf, pos, m.message);
  buf[pos++] = tagOf(5, WIRE_BYTES);
  pos = writeVarint(buf, pos, sizeEpoch(m.epoch));
  pos = writeU64Field(buf, pos, tagOf(1, WIRE_VARINT), m.epoch.confVer);
  pos = writeU64Field(buf, pos, tagOf(2, WIRE_VARINT), m.epoch.version);
  if (m.isTombstone) {
    buf[pos++] = tagOf(6, WIRE_VARINT);
    buf[pos++] = 1;
  }
  pos = writeBytesField(buf, pos, tagOf(7, WIRE_BYTES), m.startKey);
  return writeBytesField(buf, pos, tagOf(8, WIRE_BYTES), m.endKey);
}

function sizeEntry(e: Entry): number {
  const type = ENTRY_TYPE_NUMBERS[e.type];
  return (
    (type === 0 ? 0 : 2) +
    u64FieldSize(e.term, 'entry.term') +
    u64FieldSize(e.index, 'entry.index') +
    (e.data.byteLength === 0 ? 0 : lenFieldSize(e.data.byteLength))
  );
}

function writeEntry(buf: Buffer, pos: number, e: Entry): number {
  buf[pos++] = tagOf(7, WIRE_BYTES);
  pos = writeVarint(buf, pos, sizeEntry(e));
  const type = ENTRY_TYPE_NUMBERS[e.type];
  if (type !== 0) {
    buf[pos++] = tagOf(1, WIRE_VARINT);
    buf[pos++] = type;
  }
  pos = writeU64Field(buf, pos, tagOf(2, WIRE_VARINT), e.term);
  pos = writeU64Field(buf, pos, tagOf(3, WIRE_VARINT), e.index);
  return writeBytesField(buf, pos, tagOf(4, WIRE_BYTES), e.data);
}

/** Pushes the Message's size, then (when it has a snapshot) the snapshot's three sizes. */
function sizeMessage(m: Message): number {
  if (m.entries.length > RAFT_MESSAGE_ENTRIES_MAX) throw limitExceeded(`raft message: ${m.entries.length} entries exceed ${RAFT_MESSAGE_ENTRIES_MAX}`);
  const slot = sizesPushed;
  pushSize(0);
  let size =
    (m.type === 'MsgHup' ? 0 : 1 + varintSize(MESSAGE_TYPE_NUMBERS[m.type])) +
    u64FieldSize(m.to, 'message.to') +
    u64FieldSize(m.from, 'message.from') +
    u64FieldSize(m.term, 'message.term') +
    u64FieldSize(m.logTerm, 'message.logTerm') +
    u64FieldSize(m.index, 'message.index') +
    u64FieldSize(m.commit, 'message.commit') +
    (m.reject ? 2 : 0) +
    u64FieldSize(m.rejectHint, 'message.rejectHint') +
    (m.context.byteLength === 0 ? 0 : lenFieldSize(m.context.byteLength));
  const entries = m.entries;
  for (let i = 0; i < entries.length; i++) size += lenFieldSize(sizeEntry(entries[i]!));
  if (m.snapshot !== undefined) size += lenFieldSize(sizeSnapshot(m.snapshot));
  sizes[slot] = size;
  return size;
}

function writeMessage(buf: Buffer, pos: number, m: Message): number {
  const type = MESSAGE_TYPE_NUMBERS[m.type];
  if (type !== 0) {
    buf[pos++] = tagOf(1, WIRE_VARINT);
    buf[pos++] = type;
  }
  pos = writeU64Field(buf, pos, tagOf(2, WIRE_VARINT), m.to);
  pos = writeU64Field(buf, pos, tagOf(3, WIRE_VARINT), m.from);
  pos = writeU64Field(buf, pos, tagOf(4, WIRE_VARINT), m.term);
  pos = writeU64Field(buf, pos, tagOf(5, WIRE_VARINT), m.logTerm);
  pos = writeU64Field(buf, pos, tagOf(6, WIRE_VARINT), m.index);
  const entries = m.entries;
  for (let i = 0; i < entries.length; i++) pos = writeEntry(buf, pos, entries[i]!);
  pos = writeU64Field(buf, pos, tagOf(8, WIRE_VARINT), m.commit);
  if (m.snapshot !== undefined) pos = writeSnapshot(buf, pos, m.snapshot);
  if (m.reject) {
    buf[pos++] = tagOf(10, WIRE_VARINT);
    buf[pos++] = 1;
  }
  pos = writeU64Field(buf, pos, tagOf(11, WIRE_VARINT), m.rejectHint);
  return writeBytesField(buf, pos, tagOf(12, WIRE_BYTES), m.context);
}

function sizeIds(ids: readonly number[], field: string): number {
  if (ids.length > CONF_STATE_IDS_MAX) throw limitExceeded(`raft message: confState.${field} has ${ids.length} ids, more than ${CONF_STATE_IDS_MAX}`);
  let size = 0;
  for (let i = 0; i < ids.length; i++) size += u64Size(ids[i]!, `confState.${field}`);
  return size;
}

/** Pushes the Snapshot's, its metadata's and its ConfState's sizes; returns the Snapshot's. */
function sizeSnapshot(s: Snapshot): number {
  const slot = sizesPushed;
  pushSize(0);
  pushSize(0);
  const cs = s.metadata.confState;
  const confStateSize =
    packedFieldSize(sizeIds(cs.voters, 'voters')) +
    packedFieldSize(sizeIds(cs.learners, 'learners')) +
    packedFieldSize(sizeIds(cs.votersOutgoing, 'votersOutgoing')) +
    packedFieldSize(sizeIds(cs.learnersNext, 'learnersNext')) +
    (cs.autoLeave ? 2 : 0);
  pushSize(confStateSize);
  const metadataSize = lenFieldSize(confStateSize) + u64FieldSize(s.metadata.index, 'snapshot.index') + u64FieldSize(s.metadata.term, 'snapshot.term');
  const size = (s.data.byteLength === 0 ? 0 : lenFieldSize(s.data.byteLength)) + lenFieldSize(metadataSize);
  sizes[slot] = size;
  sizes[slot + 1] = metadataSize;
  return size;
}

function packedFieldSize(payload: number): number {
  return payload === 0 ? 0 : lenFieldSize(payload);
}

function writeSnapshot(buf: Buffer, pos: number, s: Snapshot): number {
  buf[pos++] = tagOf(9, WIRE_BYTES);
  pos = writeVarint(buf, pos, shiftSize());
  const metadataSize = shiftSize();
  const confStateSize = shiftSize();
  pos = writeBytesField(buf, pos, tagOf(1, WIRE_BYTES), s.data);
  buf[pos++] = tagOf(2, WIRE_BYTES);
  pos = writeVarint(buf, pos, metadataSize);
  buf[pos++] = tagOf(1, WIRE_BYTES);
  pos = writeVarint(buf, pos, confStateSize);
  const cs = s.metadata.confState;
  pos = writePackedIds(buf, pos, tagOf(1, WIRE_BYTES), cs.voters);
  pos = writePackedIds(buf, pos, tagOf(2, WIRE_BYTES), cs.learners);
  pos = writePackedIds(buf, pos, tagOf(3, WIRE_BYTES), cs.votersOutgoing);
  pos = writePackedIds(buf, pos, tagOf(4, WIRE_BYTES), cs.learnersNext);
  if (cs.autoLeave) {
    buf[pos++] = tagOf(5, WIRE_VARINT);
    buf[pos++] = 1;
  }
  pos = writeU64Field(buf, pos, tagOf(2, WIRE_VARINT), s.metadata.index);
  return writeU64Field(buf, pos, tagOf(3, WIRE_VARINT), s.metadata.term);
}

function writePackedIds(buf: Buffer, pos: number, tag: number, ids: readonly number[]): number {
  if (ids.length === 0) return pos;
  let payload = 0;
  for (let i = 0; i < ids.length; i++) payload += varintSize(ids[i]!);
  buf[pos++] = tag;
  pos = writeVarint(buf, pos, payload);
  for (let i = 0; i < ids.length; i++) pos = writeVarint(buf, pos, ids[i]!);
  return pos;
}

function limitExceeded(message: string): FlotillaError {
  return new FlotillaError('LimitExceeded', message);
}

// ───────────────────────────── Decode ─────────────────────────────
//
// Each parse function reads fields until `end` (its message's last byte + 1); every read checks
// `end` first, so a nested parse stops exactly at its end or throws. Absent fields take proto3
// defaults; a field given twice: the last wins (embedded messages too: protobufjs replaces, does
// not merge); repeated fields append, uint64 lists packed or not. Unknown fields of wire types
// 0, 1, 2 and 5 are skipped; a known field with another wire type than declared, groups (3, 4),
// wire types 6 and 7, field number 0, truncation, varints over 10 bytes and lengths past `end`
// are InvalidArgument.
//
// Aliasing: startKey, endKey, message.context and snapshot.data are subarrays of the input (zero
// copy: keep them only as long as the batch, or copy). Entry data is COPIED, into one Buffer per
// message: the raft log keeps entries in memory (store/peer-storage.ts's cache, raft's unstable
// log) long after the batch, and a subarray would pin the whole gRPC message (up to 64 MiB,
// typically tens of KiB of other regions' messages per ~300-byte entry) while the entry cache's
// budget counts only the entry's own bytes. (protobufjs also hands out subarrays, so this is new.)

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
}

interface MutableEntry {
  type: EntryType;
  term: number;
  index: number;
  data: Uint8Array;
}

/** Scratch of one message's entry data spans (input start, length), reused: no arrays per decode. */
let entrySpans = new Int32Array(2 * 64);

function malformed(field: string, reason: string): FlotillaError {
  return new FlotillaError('InvalidArgument', `raft batch: ${field}: ${reason}`, { details: { field } });
}

function truncated(field: string): FlotillaError {
  return malformed(field, 'truncated');
}

/**
 * A uint64 that must be a safe integer (ids, terms, indexes, lengths): InvalidArgument above 2^53-1.
 * `sub` is appended to `field` in an error only: no string is built per read.
 */
function readU64(r: Reader, end: number, field: string, sub = ''): number {
  const buf = r.buf;
  let pos = r.pos;
  let v = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw truncated(field + sub);
    const b = buf[pos++]!;
    v |= (b & 0x7f) << shift;
    if (b < 0x80) {
      r.pos = pos;
      return v;
    }
  }
  // Bits 28 and up: arithmetic (a double holds every integer below 2^53 exactly; above, the sum
  // only grows, so the comparison below still sees it).
  let scale = TWO_POW_28;
  for (let i = 4; i < 10; i++) {
    if (pos >= end) throw truncated(field + sub);
    const b = buf[pos++]!;
    v += (b & 0x7f) * scale;
    if (b < 0x80) {
      r.pos = pos;
      if (v > Number.MAX_SAFE_INTEGER) throw malformed(field + sub, 'exceeds 2^53-1');
      return v;
    }
    scale *= 0x80;
  }
  throw malformed(field + sub, 'varint longer than 10 bytes');
}

/** The low 32 bits of a varint (enums are int32 on the wire; protobufjs reads them so too). */
function readLow32(r: Reader, end: number, field: string, sub = ''): number {
  const buf = r.buf;
  let v = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (r.pos >= end) throw truncated(field + sub);
    const b = buf[r.pos++]!;
    if (i < 5) v += (b & 0x7f) * scale;
    scale *= 0x80;
    if (b < 0x80) return v % 2 ** 32;
  }
  throw malformed(field + sub, 'varint longer than 10 bytes');
}

/**
 * A bool: the varint's low 32 bits are not 0. That is protobufjs's reading (the old receiver's);
 * the C++ and Go runtimes look at all 64 bits. They differ only on a varint no encoder writes for
 * a bool (≥ 5 bytes with the low 32 bits clear); here the old receiver's answer wins.
 */
function readBool(r: Reader, end: number, field: string): boolean {
  return readLow32(r, end, field) !== 0;
}

function skipVarint(r: Reader, end: number, field: string): void {
  const buf = r.buf;
  for (let i = 0; i < 10; i++) {
    if (r.pos >= end) throw truncated(field);
    if (buf[r.pos++]! < 0x80) return;
  }
  throw malformed(field, 'varint longer than 10 bytes');
}

function readTag(r: Reader, end: number, what: string): number {
  const b = r.buf[r.pos]!; // r.pos < end: the callers loop while it is
  if (b < 0x80) {
    r.pos++;
    return b;
  }
  const tag = readU64(r, end, `${what} tag`);
  if (tag > 0xffffffff) throw malformed(what, `tag ${tag} is out of range`);
  return tag;
}

/** Reads a length prefix; returns the end of the field's bytes. */
function readEnd(r: Reader, end: number, field: string): number {
  const len = readU64(r, end, field);
  if (len > end - r.pos) throw malformed(field, `length ${len} runs past the end (${end - r.pos} bytes left)`);
  return r.pos + len;
}

function readBytes(r: Reader, end: number, field: string): Buffer {
  const fieldEnd = readEnd(r, end, field);
  const start = r.pos;
  r.pos = fieldEnd;
  return fieldEnd === start ? EMPTY_BUFFER : r.buf.subarray(start, fieldEnd);
}

/**
 * Skips a field this codec does not read. Fields 1..`declaredMax` are declared (with their own
 * case in the caller's switch), so reaching here with one of them means a wire type mismatch.
 */
function skipField(r: Reader, end: number, tag: number, declaredMax: number, what: string): void {
  const field = tag >>> 3;
  const wireType = tag & 7;
  if (field === 0) throw malformed(what, 'field number 0');
  if (field <= declaredMax) throw malformed(`${what} field ${field}`, `wire type ${wireType} is not its declared type`);
  switch (wireType) {
    case WIRE_VARINT:
      skipVarint(r, end, `${what} field ${field}`);
      return;
    case WIRE_FIXED64:
      skipFixed(r, end, 8, `${what} field ${field}`);
      return;
    case WIRE_BYTES:
      r.pos = readEnd(r, end, `${what} field ${field}`);
      return;
    case WIRE_FIXED32:
      skipFixed(r, end, 4, `${what} field ${field}`);
      return;
    default:
      throw malformed(`${what} field ${field}`, `wire type ${wireType} is not supported (groups are not used by these messages)`);
  }
}

function skipFixed(r: Reader, end: number, bytes: number, field: string): void {
  if (end - r.pos < bytes) throw truncated(field);
  r.pos += bytes;
}

/**
 * The RaftMessageBatch in `bytes`. Messages that are malformed are dropped and counted (see the
 * file comment); byte fields alias `bytes` except entry data (see "Aliasing" above).
 * Throws InvalidArgument when the batch's own framing is broken, its from_store_id is not a safe
 * integer, it exceeds RAFT_BATCH_BYTES_MAX bytes or RAFT_BATCH_MESSAGES_MAX messages.
 */
export function decodeRaftBatch(bytes: Uint8Array): DecodedRaftBatch {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length > RAFT_BATCH_BYTES_MAX) throw malformed('batch', `${buf.length} bytes exceed ${RAFT_BATCH_BYTES_MAX}`);
  const r = new Reader(buf);
  const end = buf.length;
  const msgs: StoreRaftMessage[] = [];
  let fromStoreId = 0;
  let droppedMalformed = 0;
  let firstMalformed: FlotillaError | null = null;
  while (r.pos < end) {
    const tag = readTag(r, end, 'batch');
    switch (tag) {
      case tagOf(1, WIRE_BYTES): {
        const msgEnd = readEnd(r, end, 'msgs');
        const i = msgs.length + droppedMalformed;
        if (i >= RAFT_BATCH_MESSAGES_MAX) throw malformed('msgs', `more than ${RAFT_BATCH_MESSAGES_MAX} messages`);
        try {
          msgs.push(decodeRaftMessage(r, msgEnd));
        } catch (err) {
          // A message is length-delimited: dropping it leaves the batch's framing intact.
          if (!(err instanceof FlotillaError) || err.code !== 'InvalidArgument') throw err;
          droppedMalformed++;
          firstMalformed ??= new FlotillaError('InvalidArgument', `msgs[${i}] dropped: ${err.message}`, { cause: err, details: err.details });
        }
        r.pos = msgEnd;
        break;
      }
      case tagOf(2, WIRE_VARINT):
        fromStoreId = readU64(r, end, 'fromStoreId');
        break;
      default:
        skipField(r, end, tag, 2, 'batch');
    }
  }
  return { msgs, fromStoreId, droppedMalformed, firstMalformed };
}

function decodeRaftMessage(r: Reader, end: number): StoreRaftMessage {
  let regionId = 0;
  let fromPeer: PeerMeta | null = null;
  let toPeer: PeerMeta | null = null;
  let message: Message | null = null;
  let epoch: RegionEpoch | null = null;
  let isTombstone = false;
  let startKey = EMPTY_BUFFER;
  let endKey = EMPTY_BUFFER;
  while (r.pos < end) {
    const tag = readTag(r, end, 'raftMessage');
    switch (tag) {
      case tagOf(1, WIRE_VARINT):
        regionId = readU64(r, end, 'regionId');
        break;
      case tagOf(2, WIRE_BYTES):
        fromPeer = decodePeer(r, readEnd(r, end, 'fromPeer'), 'fromPeer');
        break;
      case tagOf(3, WIRE_BYTES):
        toPeer = decodePeer(r, readEnd(r, end, 'toPeer'), 'toPeer');
        break;
      case tagOf(4, WIRE_BYTES):
        message = decodeMessage(r, readEnd(r, end, 'message'));
        break;
      case tagOf(5, WIRE_BYTES):
        epoch = decodeEpoch(r, readEnd(r, end, 'regionEpoch'));
        break;
      case tagOf(6, WIRE_VARINT):
        isTombstone = readBool(r, end, 'isTombstone');
        break;
      case tagOf(7, WIRE_BYTES):
        startKey = readBytes(r, end, 'startKey');
        break;
      case tagOf(8, WIRE_BYTES):
        endKey = readBytes(r, end, 'endKey');
        break;
      default:
        skipField(r, end, tag, 8, 'raftMessage');
    }
  }
  if (regionId === 0) throw malformed('regionId', 'must not be 0');
  if (fromPeer === null) throw malformed('fromPeer', 'is required');
  if (toPeer === null) throw malformed('toPeer', 'is required');
  if (message === null) throw malformed('message', 'is required');
  if (epoch === null) throw malformed('regionEpoch', 'is required');
  if (startKey.length > REGION_KEY_BYTES_MAX || endKey.length > REGION_KEY_BYTES_MAX) throw malformed('startKey/endKey', `longer than ${REGION_KEY_BYTES_MAX} bytes`);
  return { regionId, fromPeer, toPeer, message, epoch, isTombstone, startKey, endKey };
}

function decodePeer(r: Reader, end: number, field: string): PeerMeta {
  let id = 0;
  let storeId = 0;
  let role = 0;
  while (r.pos < end) {
    const tag = readTag(r, end, field);
    switch (tag) {
      case tagOf(1, WIRE_VARINT):
        id = readU64(r, end, field, '.id');
        break;
      case tagOf(2, WIRE_VARINT):
        storeId = readU64(r, end, field, '.storeId');
        break;
      case tagOf(3, WIRE_VARINT):
        role = readLow32(r, end, field, '.role');
        break;
      default:
        skipField(r, end, tag, 3, field);
    }
  }
  if (id === 0) throw malformed(`${field}.id`, 'must not be 0');
  if (storeId === 0) throw malformed(`${field}.storeId`, 'must not be 0');
  if (role > PEER_ROLE_LEARNER) throw malformed(`${field}.role`, `role ${PEER_ROLE_NAMES[role] ?? role} is not supported (Voter or Learner)`);
  const roleName = role === PEER_ROLE_LEARNER ? 'learner' : 'voter';
  // Every raft message names two peers, and they are nearly always ones seen before: hand out
  // the same frozen object for the same (id, store, role) instead of two new ones per message.
  const known = decodedPeers.get(id);
  if (known !== undefined && known.storeId === storeId && known.role === roleName) return known;
  if (decodedPeers.size >= DECODED_PEERS_MAX) decodedPeers.clear();
  const peer: PeerMeta = Object.freeze({ id, storeId, role: roleName });
  decodedPeers.set(id, peer);
  return peer;
}

/** Peers decoded so far, by id (see decodePeer); cleared when it reaches its bound. */
const decodedPeers = new Map<number, PeerMeta>();
const DECODED_PEERS_MAX = 65_536;

function decodeEpoch(r: Reader, end: number): RegionEpoch {
  let confVer = 0;
  let version = 0;
  while (r.pos < end) {
    const tag = readTag(r, end, 'regionEpoch');
    switch (tag) {
      case tagOf(1, WIRE_VARINT):
        confVer = readU64(r, end, 'regionEpoch.confVer');
        break;
      case tagOf(2, WIRE_VARINT):
        version = readU64(r, end, 'regionEpoch.version');
        break;
      default:
        skipField(r, end, tag, 2, 'regionEpoch');
    }
  }
  return { confVer, version };
}

function decodeMessage(r: Reader, end: number): Message {
  let type = 0;
  let to = 0;
  let from = 0;
  let term = 0;
  let logTerm = 0;
  let index = 0;
  let entries: MutableEntry[] | null = null;
  let commit = 0;
  let snapshot: Snapshot | undefined = undefined;
  let reject = false;
  let rejectHint = 0;
  let context = EMPTY_BUFFER;
  while (r.pos < end) {
    const tag = readTag(r, end, 'message');
    switch (tag) {
      case tagOf(1, WIRE_VARINT):
        type = readLow32(r, end, 'message.msgType');
        break;
      case tagOf(2, WIRE_VARINT):
        to = readU64(r, end, 'message.to');
        break;
      case tagOf(3, WIRE_VARINT):
        from = readU64(r, end, 'message.from');
        break;
      case tagOf(4, WIRE_VARINT):
        term = readU64(r, end, 'message.term');
        break;
      case tagOf(5, WIRE_VARINT):
        logTerm = readU64(r, end, 'message.logTerm');
        break;
      case tagOf(6, WIRE_VARINT):
        index = readU64(r, end, 'message.index');
        break;
      case tagOf(7, WIRE_BYTES):
        entries ??= [];
        if (entries.length >= RAFT_MESSAGE_ENTRIES_MAX) throw malformed('message.entries', `more than ${RAFT_MESSAGE_ENTRIES_MAX} entries`);
        entries.push(decodeEntry(r, readEnd(r, end, 'message.entries'), entries.length));
        break;
      case tagOf(8, WIRE_VARINT):
        commit = readU64(r, end, 'message.commit');
        break;
      case tagOf(9, WIRE_BYTES):
        snapshot = decodeSnapshot(r, readEnd(r, end, 'message.snapshot'));
        break;
      case tagOf(10, WIRE_VARINT):
        reject = readBool(r, end, 'message.reject');
        break;
      case tagOf(11, WIRE_VARINT):
        rejectHint = readU64(r, end, 'message.rejectHint');
        break;
      case tagOf(12, WIRE_BYTES):
        context = readBytes(r, end, 'message.context');
        break;
      case tagOf(13, WIRE_VARINT): // request_snapshot: not carried (raft-wire.ts), any uint64 accepted
      case tagOf(14, WIRE_VARINT): // priority: likewise
        skipVarint(r, end, 'message.requestSnapshot/priority');
        break;
      default:
        skipField(r, end, tag, 14, 'message');
    }
  }
  const messageType = MESSAGE_TYPES_BY_NUMBER[type];
  if (messageType === undefined) throw malformed('message.msgType', `unknown type ${type}`);
  if (entries !== null) copyEntryData(r.buf, entries);
  return { type: messageType, to, from, term, logTerm, index, entries: entries ?? NO_ENTRIES, commit, snapshot, reject, rejectHint, context };
}

/** Decodes an entry with empty data and records its data's span in the input as span `k`. */
function decodeEntry(r: Reader, end: number, k: number): MutableEntry {
  let type = 0;
  let term = 0;
  let index = 0;
  let dataStart = 0;
  let dataLength = 0;
  while (r.pos < end) {
    const tag = readTag(r, end, 'entry');
    switch (tag) {
      case tagOf(1, WIRE_VARINT):
        type = readLow32(r, end, 'entry.entryType');
        break;
      case tagOf(2, WIRE_VARINT):
        term = readU64(r, end, 'entry.term');
        break;
      case tagOf(3, WIRE_VARINT):
        index = readU64(r, end, 'entry.index');
        break;
      case tagOf(4, WIRE_BYTES): {
        const dataEnd = readEnd(r, end, 'entry.data');
        dataStart = r.pos;
        dataLength = dataEnd - dataStart;
        r.pos = dataEnd;
        break;
      }
      case tagOf(5, WIRE_BYTES): // context: not carried (raft/ entries have none)
        r.pos = readEnd(r, end, 'entry.context');
        break;
      default:
        skipField(r, end, tag, 5, 'entry');
    }
  }
  const entryType = ENTRY_TYPES_BY_NUMBER[type];
  if (entryType === undefined) throw malformed('entry.entryType', `unknown type ${type}`);
  if (2 * k + 2 > entrySpans.length) {
    const grown = new Int32Array(2 * entrySpans.length);
    grown.set(entrySpans);
    entrySpans = grown;
  }
  entrySpans[2 * k] = dataStart;
  entrySpans[2 * k + 1] = dataLength;
  return { type: entryType, term, index, data: EMPTY_BUFFER };
}

/**
 * Copies the message's entry data out of the input into one new Buffer (see "Aliasing"), each
 * entry's data after room for its raft log record header: persisting it then writes the header
 * in place instead of copying the data again (raft-host entryDataIn).
 */
function copyEntryData(input: Buffer, entries: MutableEntry[]): void {
  let total = 0;
  for (let k = 0; k < entries.length; k++) {
    const length = entrySpans[2 * k + 1]!;
    if (length > 0) total += ENTRY_RECORD_HEADER_BYTES + length;
  }
  if (total === 0) return;
  const block = Buffer.allocUnsafe(total);
  let offset = 0;
  for (let k = 0; k < entries.length; k++) {
    const start = entrySpans[2 * k]!;
    const length = entrySpans[2 * k + 1]!;
    if (length === 0) continue;
    input.copy(block, offset + ENTRY_RECORD_HEADER_BYTES, start, start + length);
    entries[k]!.data = entryDataIn(block, offset, length);
    offset += ENTRY_RECORD_HEADER_BYTES + length;
  }
}

function decodeSnapshot(r: Reader, end: number): Snapshot {
  let data = EMPTY_BUFFER;
  let index = 0;
  let term = 0;
  let confState: ConfState | null = null;
  while (r.pos < end) {
    const tag = readTag(r, end, 'snapshot');
    switch (tag) {
      case tagOf(1, WIRE_BYTES):
        data = readBytes(r, end, 'snapshot.data');
        break;
      case tagOf(2, WIRE_BYTES): {
        // SnapshotMetadata, read inline: a second occurrence replaces the first.
        const metadataEnd = readEnd(r, end, 'snapshot.metadata');
        index = 0;
        term = 0;
        confState = null;
        while (r.pos < metadataEnd) {
          const metadataTag = readTag(r, metadataEnd, 'snapshot.metadata');
          switch (metadataTag) {
            case tagOf(1, WIRE_BYTES):
              confState = decodeConfState(r, readEnd(r, metadataEnd, 'snapshot.confState'));
              break;
            case tagOf(2, WIRE_VARINT):
              index = readU64(r, metadataEnd, 'snapshot.index');
              break;
            case tagOf(3, WIRE_VARINT):
              term = readU64(r, metadataEnd, 'snapshot.term');
              break;
            default:
              skipField(r, metadataEnd, metadataTag, 3, 'snapshot.metadata');
          }
        }
        break;
      }
      default:
        skipField(r, end, tag, 2, 'snapshot');
    }
  }
  return { data, metadata: { index, term, confState: confState ?? emptyConfState() } };
}

function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

function decodeConfState(r: Reader, end: number): ConfState {
  const voters: number[] = [];
  const learners: number[] = [];
  const votersOutgoing: number[] = [];
  const learnersNext: number[] = [];
  let autoLeave = false;
  while (r.pos < end) {
    const tag = readTag(r, end, 'confState');
    const field = tag >>> 3;
    const list = field === 1 ? voters : field === 2 ? learners : field === 3 ? votersOutgoing : field === 4 ? learnersNext : null;
    if (list !== null && (tag & 7) === WIRE_BYTES) {
      const listEnd = readEnd(r, end, 'confState ids');
      while (r.pos < listEnd) pushId(list, readU64(r, listEnd, 'confState id'));
    } else if (list !== null && (tag & 7) === WIRE_VARINT) {
      pushId(list, readU64(r, end, 'confState id'));
    } else if (tag === tagOf(5, WIRE_VARINT)) {
      autoLeave = readBool(r, end, 'confState.autoLeave');
    } else {
      skipField(r, end, tag, 5, 'confState');
    }
  }
  return { voters, learners, votersOutgoing, learnersNext, autoLeave };
}

function pushId(list: number[], id: number): void {
  if (list.length >= CONF_STATE_IDS_MAX) throw malformed('confState', `a list holds more than ${CONF_STATE_IDS_MAX} ids`);
  list.push(id);
}

// ───────────────────────────── Proto-loader objects (the snapshot stream) ─────────────────────────────

/**
 * The message of a snapshot stream's header (protobufjs decoded it), checked as decodeRaftBatch
 * checks a message: InvalidArgument when an id is 0 or not a safe integer, an enum unknown, a
 * peer's role not Voter/Learner, from_peer/to_peer/message/region_epoch absent, or a limit passed.
 */
export function storeRaftMessageFromProto(m: raft_serverpb.RaftMessage): StoreRaftMessage {
  const regionId = u64ToSafeNumber(m.regionId, 'regionId');
  if (regionId === 0) throw malformed('regionId', 'must not be 0');
  const fromPeer = peerFromWire(m.fromPeer, 'fromPeer');
  const toPeer = peerFromWire(m.toPeer, 'toPeer');
  if (m.message === null) throw malformed('message', 'is required');
  const message = messageFromWire(m.message);
  if (message.entries.length > RAFT_MESSAGE_ENTRIES_MAX) throw malformed('message.entries', `more than ${RAFT_MESSAGE_ENTRIES_MAX} entries`);
  const cs = message.snapshot?.metadata.confState;
  if (cs !== undefined && Math.max(cs.voters.length, cs.learners.length, cs.votersOutgoing.length, cs.learnersNext.length) > CONF_STATE_IDS_MAX) {
    throw malformed('confState', `a list holds more than ${CONF_STATE_IDS_MAX} ids`);
  }
  const epoch = epochFromWire(m.regionEpoch, 'regionEpoch');
  if (m.startKey.length > REGION_KEY_BYTES_MAX || m.endKey.length > REGION_KEY_BYTES_MAX) throw malformed('startKey/endKey', `longer than ${REGION_KEY_BYTES_MAX} bytes`);
  return { regionId, fromPeer, toPeer, message, epoch, isTombstone: m.isTombstone, startKey: m.startKey, endKey: m.endKey };
}

/** The proto-loader form of `m` (what store/transport.ts's raftMessage() built, plus isTombstone). */
export function storeRaftMessageToProto(m: StoreRaftMessage): raft_serverpb.RaftMessage__Input {
  return {
    regionId: String(m.regionId),
    fromPeer: peerToWire(m.fromPeer),
    toPeer: peerToWire(m.toPeer),
    message: messageToWire(m.message),
    regionEpoch: epochToWire(m.epoch),
    isTombstone: m.isTombstone,
    startKey: m.startKey,
    endKey: m.endKey,
  };
}
