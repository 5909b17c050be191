// The store raft stream's hand-written codec (store/raft-codec.ts) judged against the reference
// model it replaces: protobufjs through proto/'s loader plus the old conversions (raft-host's
// messageToWire/messageFromWire, common/region's peer and epoch converters, which
// storeRaftMessageToProto/FromProto compose). Random batches cover every message type, entry
// type, role, snapshot shape, boundary value and the keepalive; coverage counters must all be
// hit. Malformed input (truncations, flips, garbage, hand-built edge cases) must give a value or
// InvalidArgument, and whatever our decoder accepts protobufjs + the old conversions accept too,
// with the same value.
//
// Replay: FLOTILLA_SEED=<seed> node scripts/run-tests.mjs store/raft-codec.test.js
//
// Planted bugs (stop 27; planted one at a time in the compiled dist/store/raft-codec.js, reverted):
//
// | plant | bug | caught by |
// | --- | --- | --- |
// | P1 | varints via 32-bit bitwise ops up to 2^53 | random round trip, protobufjs agreement, differential |
// | P2 | a packed uint64 list read as its first id only | round trip, packed/unpacked test, limits, differential |
// | P3 | unknown fixed64 skipped as 4 bytes | unknown-fields test, differential |
// | P4 | is_tombstone written when false (a default emitted) | byte identity vs canonical protobufjs, keepalive bytes |
// | P5 | reject_hint written as field 13 | round trip, protobufjs agreement |
// | P6 | entry data left aliasing the input | aliasing test |
// | P7 | uint64 above 2^53-1 accepted | 2^53 / 2^64-1 test, broken-framing test |
// (7 of 7 caught; details in test/store/planted-bugs.md, "Stop 27 — raft codec".)

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';

import { FlotillaError, InvariantError, REGION_KEY_BYTES_MAX, REGION_PEERS_MAX } from '../../common/index.js';
import { createRng, type Rng } from '../../common/rng.js';
import { messageCodec, type raft_serverpb } from '../../proto/index.js';
import { type Entry, type EntryType, type Message, type MessageType, type Snapshot } from '../../raft/index.js';
import {
  CONF_STATE_IDS_MAX,
  decodeRaftBatch,
  type DecodedRaftBatch,
  encodeRaftBatch,
  RAFT_BATCH_BYTES_MAX,
  RAFT_BATCH_MESSAGES_MAX,
  RAFT_MESSAGE_ENTRIES_MAX,
  type StoreRaftBatch,
  type StoreRaftMessage,
  storeRaftMessageFromProto,
  storeRaftMessageToProto,
} from '../../store/raft-codec.js';

const SEED = Number(process.env['FLOTILLA_SEED'] ?? 2_7_2026);
const REPLAY = `FLOTILLA_SEED=${SEED} node scripts/run-tests.mjs store/raft-codec.test.js`;
const BATCH_CODEC = messageCodec('flotilla.raft_serverpb.RaftMessageBatch');

const MESSAGE_TYPES: readonly MessageType[] = [
  'MsgHup', 'MsgBeat', 'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgPreVote', 'MsgPreVoteResp', 'MsgSnap',
  'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgUnreachable', 'MsgSnapStatus', 'MsgCheckQuorum', 'MsgTransferLeader', 'MsgTimeoutNow',
  'MsgReadIndex', 'MsgReadIndexResp',
];
const ENTRY_TYPES: readonly EntryType[] = ['Normal', 'ConfChange', 'ConfChangeV2'];
/** Boundaries of the varint byte count, of 32-bit ops, and of safe integers. */
const BOUNDARY_U64 = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 42 + 5, 2 ** 49 - 1, 2 ** 49, Number.MAX_SAFE_INTEGER];

// ───────────────────────────── Generators ─────────────────────────────

class Coverage {
  readonly counts = new Map<string, number>();
  hit(what: string): void {
    this.counts.set(what, (this.counts.get(what) ?? 0) + 1);
  }
  assertAll(expected: readonly string[]): void {
    const missing = expected.filter((w) => (this.counts.get(w) ?? 0) === 0);
    assert.deepEqual(missing, [], `coverage counters never hit (seed ${SEED}; ${REPLAY})`);
  }
}

function u64(rng: Rng, cov?: Coverage): number {
  const pick = rng.nextInt(4);
  if (pick === 0) {
    const v = BOUNDARY_U64[rng.nextInt(BOUNDARY_U64.length)]!;
    if (v === Number.MAX_SAFE_INTEGER) cov?.hit('u64 max safe');
    if (v >= 2 ** 31) cov?.hit('u64 >= 2^31');
    return v;
  }
  if (pick === 1) return rng.nextInt(200);
  // Uniform in bit length, then uniform below: every varint size.
  const bits = rng.nextRange(1, 53);
  return Math.floor(rng.nextFloat() * 2 ** bits);
}

function positive(rng: Rng, cov?: Coverage): number {
  return Math.max(1, u64(rng, cov));
}

function bytes(rng: Rng, maxLength: number): Buffer {
  const b = Buffer.allocUnsafe(rng.nextInt(maxLength + 1));
  for (let i = 0; i < b.length; i++) b[i] = rng.nextInt(256);
  return b;
}

function maybeBytes(rng: Rng, maxLength: number): Buffer {
  return rng.chance(0.4) ? Buffer.alloc(0) : bytes(rng, maxLength);
}

function ids(rng: Rng, cov: Coverage): number[] {
  const n = rng.chance(0.3) ? 0 : rng.chance(0.1) ? CONF_STATE_IDS_MAX : rng.nextRange(1, 5);
  if (n === CONF_STATE_IDS_MAX) cov.hit('conf state list at max');
  return Array.from({ length: n }, () => positive(rng));
}

function snapshot(rng: Rng, cov: Coverage): Snapshot {
  const joint = rng.chance(0.5);
  if (joint) cov.hit('joint conf state');
  const confState = {
    voters: ids(rng, cov),
    votersOutgoing: joint ? ids(rng, cov) : [],
    learners: ids(rng, cov),
    learnersNext: joint ? ids(rng, cov) : [],
    autoLeave: joint && rng.chance(0.5),
  };
  const data = maybeBytes(rng, 300);
  cov.hit(data.length === 0 ? 'snapshot empty data' : 'snapshot data');
  return { metadata: { index: u64(rng, cov), term: u64(rng, cov), confState }, data };
}

function entry(rng: Rng, cov: Coverage): Entry {
  const type = ENTRY_TYPES[rng.nextInt(ENTRY_TYPES.length)]!;
  const data = rng.chance(0.3) ? Buffer.alloc(0) : bytes(rng, rng.chance(0.1) ? 20_000 : 400);
  cov.hit(`entry ${type} ${data.length === 0 ? 'empty' : 'data'}`);
  return { type, term: u64(rng, cov), index: u64(rng, cov), data };
}

function message(rng: Rng, cov: Coverage): Message {
  const type = MESSAGE_TYPES[rng.nextInt(MESSAGE_TYPES.length)]!;
  cov.hit(type);
  const entryCount = rng.chance(0.5) ? 0 : rng.nextRange(1, rng.chance(0.1) ? 40 : 3);
  const entries = Array.from({ length: entryCount }, () => entry(rng, cov));
  const snap = rng.chance(0.25) ? snapshot(rng, cov) : undefined;
  cov.hit(snap === undefined ? 'no snapshot' : 'snapshot');
  const reject = rng.chance(0.5);
  cov.hit(`reject ${reject}`);
  const context = maybeBytes(rng, 40);
  cov.hit(context.length === 0 ? 'empty context' : 'context');
  return { type, to: u64(rng, cov), from: u64(rng, cov), term: u64(rng, cov), logTerm: u64(rng, cov), index: u64(rng, cov), entries, commit: u64(rng, cov), snapshot: snap, reject, rejectHint: u64(rng, cov), context };
}

function peer(rng: Rng, cov: Coverage): StoreRaftMessage['fromPeer'] {
  const role = rng.chance(0.3) ? 'learner' : 'voter';
  cov.hit(`role ${role}`);
  return { id: positive(rng, cov), storeId: positive(rng, cov), role };
}

function raftMessage(rng: Rng, cov: Coverage): StoreRaftMessage {
  const isTombstone = rng.chance(0.2);
  cov.hit(`tombstone ${isTombstone}`);
  const startKey = rng.chance(0.02) ? bytes(rng, REGION_KEY_BYTES_MAX) : maybeBytes(rng, 64);
  const endKey = maybeBytes(rng, 64);
  cov.hit(startKey.length === 0 ? 'empty start key' : 'start key');
  return { regionId: positive(rng, cov), fromPeer: peer(rng, cov), toPeer: peer(rng, cov), message: message(rng, cov), epoch: { confVer: u64(rng, cov), version: u64(rng, cov) }, isTombstone, startKey, endKey };
}

function batch(rng: Rng, cov: Coverage): StoreRaftBatch {
  if (rng.chance(0.1)) {
    cov.hit('keepalive');
    return { msgs: [], fromStoreId: rng.chance(0.2) ? 0 : positive(rng, cov) };
  }
  const n = rng.chance(0.05) ? rng.nextRange(41, 200) : rng.nextRange(1, 40);
  return { msgs: Array.from({ length: n }, () => raftMessage(rng, cov)), fromStoreId: rng.chance(0.5) ? 0 : positive(rng, cov) };
}

const COVERAGE_EXPECTED = [
  ...MESSAGE_TYPES,
  ...ENTRY_TYPES.flatMap((t) => [`entry ${t} empty`, `entry ${t} data`]),
  'snapshot', 'no snapshot', 'snapshot empty data', 'snapshot data', 'joint conf state', 'conf state list at max',
  'reject true', 'reject false', 'empty context', 'context', 'role voter', 'role learner', 'tombstone true', 'tombstone false',
  'empty start key', 'start key', 'keepalive', 'u64 max safe', 'u64 >= 2^31',
];

// ───────────────────────────── Reference model ─────────────────────────────

/** The old sender: proto-loader objects, as store/transport.ts built them, encoded by protobufjs. */
function referenceInput(b: StoreRaftBatch): raft_serverpb.RaftMessageBatch__Input {
  return { msgs: b.msgs.map(storeRaftMessageToProto), fromStoreId: String(b.fromStoreId) };
}

/** The old receiver: protobufjs, then the old conversions per message (a refused message is dropped). */
function referenceDecode(bytes: Uint8Array): { msgs: StoreRaftMessage[]; fromStoreId: string; dropped: number } | null {
  let decoded: raft_serverpb.RaftMessageBatch;
  try {
    decoded = BATCH_CODEC.decode(bytes);
  } catch {
    return null; // protobufjs refused the bytes
  }
  const msgs: StoreRaftMessage[] = [];
  let dropped = 0;
  for (const m of decoded.msgs) {
    try {
      msgs.push(storeRaftMessageFromProto(m));
    } catch (err) {
      assert.ok(err instanceof FlotillaError && err.code === 'InvalidArgument', `the old conversion threw ${String(err)}`);
      dropped++;
    }
  }
  return { msgs, fromStoreId: decoded.fromStoreId, dropped };
}

const ENUM_DEFAULTS: Readonly<Record<string, string>> = { msgType: 'MsgHup', entryType: 'EntryNormal', role: 'Voter' };

/**
 * protobufjs writes every field it is given, defaults included ('0', false, empty bytes): not
 * canonical proto3. With the defaults stripped from its input it is, and then it must agree with
 * our encoder byte for byte. Embedded messages stay (presence is part of their meaning).
 */
function stripDefaults(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripDefaults);
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value) || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined || v === '0' || v === false || ENUM_DEFAULTS[k] === v) continue;
    if ((Buffer.isBuffer(v) || v instanceof Uint8Array || Array.isArray(v)) && v.length === 0) continue;
    out[k] = stripDefaults(v);
  }
  return out;
}

function decodedOf(b: StoreRaftBatch): DecodedRaftBatch {
  return { msgs: b.msgs, fromStoreId: b.fromStoreId, droppedMalformed: 0, firstMalformed: null };
}

/** Decode's contract: a value or InvalidArgument, never anything else. */
function decodeOrRefusal(bytes: Uint8Array): DecodedRaftBatch | FlotillaError {
  try {
    return decodeRaftBatch(bytes);
  } catch (err) {
    assert.ok(err instanceof FlotillaError, `decode threw a non-FlotillaError: ${String(err)} (seed ${SEED}; ${REPLAY})`);
    assert.equal(err.code, 'InvalidArgument', `decode threw ${err.code}: ${err.message}`);
    return err;
  }
}

interface Tally {
  bothAccept: number;
  /** Inputs where the two disagree in the allowed direction (we refuse or drop more). */
  onlyReferenceAccepts: number;
  /** protobufjs refuses or reads otherwise bytes we read cleanly (its 32-bit varint quirk, below). */
  protobufjsMisreads: number;
  bothRefuse: number;
}

/**
 * Differential check of one input: whatever our decoder accepts (batch and messages), protobufjs
 * plus the old conversions accept with the same value. The converse need not hold: we refuse
 * some bytes protobufjs misreads (a declared field with another wire type, field number 0,
 * uint64s that overflow 2^64, packed lists running past their length).
 */
function differential(bytes: Uint8Array, tally: Tally): void {
  const ours = decodeOrRefusal(bytes);
  const reference = referenceDecode(bytes);
  if (ours instanceof FlotillaError) {
    if (reference === null) tally.bothRefuse++;
    else tally.onlyReferenceAccepts++;
    return;
  }
  // protobufjs misreads a 6..9-byte varint in a 32-bit field (tag, length, enum, bool: its
  // uint32() skips 5 more bytes after a 5th byte with the continuation bit instead of reading
  // on) and loses the framing, refusing the batch or reading other values; we read the varint as
  // the spec says. Such inputs (5 bytes ≥ 0x80 in a row) are checked against the contract only.
  const hasLongVarint = Buffer.from(bytes).some((_, i, b) => i + 5 <= b.length && b.subarray(i, i + 5).every((x) => x >= 0x80));
  if (reference === null) {
    // protobufjs refuses a whole batch for one message's broken bytes; we drop that message only.
    assert.ok(ours.droppedMalformed > 0 || hasLongVarint, `we accept bytes protobufjs refuses: ${Buffer.from(bytes).toString('hex').slice(0, 200)} (${REPLAY})`);
    if (ours.droppedMalformed === 0) tally.protobufjsMisreads++;
    else tally.onlyReferenceAccepts++;
    return;
  }
  if (hasLongVarint && !isDeepStrictEqual(ours.msgs, reference.msgs)) {
    tally.protobufjsMisreads++;
    return;
  }
  if (ours.droppedMalformed === 0 && reference.dropped === 0) {
    tally.bothAccept++;
    assert.deepStrictEqual(ours.msgs, reference.msgs, `decoded values differ (${REPLAY})`);
    assert.equal(String(ours.fromStoreId), reference.fromStoreId);
  } else {
    assert.ok(ours.msgs.length <= reference.msgs.length, `we accept a message the old receiver drops (${REPLAY})`);
    if (ours.msgs.length === reference.msgs.length) assert.deepStrictEqual(ours.msgs, reference.msgs);
    tally.onlyReferenceAccepts++;
  }
}

// ───────────────────────────── Hand-built protobuf (test side) ─────────────────────────────

function varint(v: bigint | number): Buffer {
  let n = BigInt(v);
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}
const key = (field: number, wireType: number): Buffer => varint((field << 3) | wireType);
const fv = (field: number, v: bigint | number): Buffer => Buffer.concat([key(field, 0), varint(v)]);
const fb = (field: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([key(field, 2), varint(body.length), body]);
};
const f64 = (field: number): Buffer => Buffer.concat([key(field, 1), Buffer.from('0102030405060708', 'hex')]);
const f32 = (field: number): Buffer => Buffer.concat([key(field, 5), Buffer.from('01020304', 'hex')]);
/** An unknown field of every wire type the decoder must skip. */
const unknowns = (): Buffer => Buffer.concat([fv(40, 2n ** 64n - 1n), f64(41), fb(42, Buffer.from('zz')), f32(43)]);

const PEER_A = (): Buffer => Buffer.concat([fv(1, 11), fv(2, 1)]);
const PEER_B = (): Buffer => Buffer.concat([fv(1, 12), fv(2, 2), fv(3, 1)]);
const EPOCH = (): Buffer => Buffer.concat([fv(1, 3), fv(2, 7)]);
function raftMessageBytes(message: Buffer, extra: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([fv(1, 5), fb(2, PEER_A()), fb(3, PEER_B()), fb(4, message), fb(5, EPOCH()), extra]);
}
function batchOf(...msgs: Buffer[]): Buffer {
  return Buffer.concat(msgs.map((m) => fb(1, m)));
}
const EXPECTED_HEADER = {
  regionId: 5,
  fromPeer: { id: 11, storeId: 1, role: 'voter' },
  toPeer: { id: 12, storeId: 2, role: 'learner' },
  epoch: { confVer: 3, version: 7 },
  isTombstone: false,
  startKey: Buffer.alloc(0),
  endKey: Buffer.alloc(0),
} as const;

function baseMessage(fields: Partial<Message>): Message {
  return { type: 'MsgHup', to: 0, from: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, snapshot: undefined, reject: false, rejectHint: 0, context: Buffer.alloc(0), ...fields };
}

function onlyMessage(bytes: Buffer): StoreRaftMessage {
  const decoded = decodeRaftBatch(bytes);
  assert.equal(decoded.droppedMalformed, 0, decoded.firstMalformed?.message);
  assert.equal(decoded.msgs.length, 1);
  return decoded.msgs[0]!;
}

function droppedReason(bytes: Buffer): string {
  const decoded = decodeRaftBatch(bytes);
  assert.equal(decoded.msgs.length, 0);
  assert.equal(decoded.droppedMalformed, 1);
  return decoded.firstMalformed!.message;
}

function assertRefused(bytes: Buffer, pattern: RegExp): void {
  assert.throws(() => decodeRaftBatch(bytes), (err: unknown) => err instanceof FlotillaError && err.code === 'InvalidArgument' && pattern.test(err.message));
}

// ───────────────────────────── Tests ─────────────────────────────

describe('store raft codec', () => {
  it(`round-trips random batches and agrees with protobufjs + the old conversions both ways (seed ${SEED})`, () => {
    const rng = createRng(SEED);
    const cov = new Coverage();
    for (let run = 0; run < 600; run++) {
      const b = batch(rng, cov);
      const ours = encodeRaftBatch(b);
      const context = `run ${run} (seed ${SEED}; ${REPLAY})`;
      // 1. Round trip.
      assert.deepStrictEqual(decodeRaftBatch(ours), decodedOf(b), context);
      // 2. protobufjs reads our bytes as it reads the old sender's.
      const oldBytes = BATCH_CODEC.encode(referenceInput(b));
      assert.deepStrictEqual(BATCH_CODEC.decode(ours), BATCH_CODEC.decode(oldBytes), context);
      // 3. We read the old sender's bytes (defaults written explicitly) as the value sent.
      assert.deepStrictEqual(decodeRaftBatch(oldBytes), decodedOf(b), context);
      // 4. The old receiver reads our bytes as the value sent.
      const reference = referenceDecode(ours);
      assert.ok(reference !== null && reference.dropped === 0, context);
      assert.deepStrictEqual(reference.msgs, b.msgs, context);
      // 5. Byte-identical to protobufjs given canonical (defaults-stripped) input.
      const canonical = BATCH_CODEC.encode(stripDefaults(referenceInput(b)) as raft_serverpb.RaftMessageBatch__Input);
      assert.ok(canonical.equals(ours), `${context}: ours ${ours.toString('hex').slice(0, 120)} vs protobufjs ${canonical.toString('hex').slice(0, 120)}`);
    }
    cov.assertAll(COVERAGE_EXPECTED);
  });

  it('encodes the keepalive and the empty message canonically', () => {
    assert.equal(encodeRaftBatch({ msgs: [], fromStoreId: 0 }).length, 0);
    assert.equal(encodeRaftBatch({ msgs: [], fromStoreId: 300 }).toString('hex'), '10ac02');
    assert.deepStrictEqual(decodeRaftBatch(new Uint8Array(0)), decodedOf({ msgs: [], fromStoreId: 0 }));
    const m: StoreRaftMessage = { ...EXPECTED_HEADER, message: baseMessage({}), epoch: { confVer: 0, version: 0 } };
    // Embedded messages are always written, even empty (as the old sender's): 2a00 is the epoch.
    assert.equal(encodeRaftBatch({ msgs: [m], fromStoreId: 0 }).toString('hex'), '0a1408051204080b10011a06080c1002180122002a00');
  });

  it('reads packed and unpacked conf-state lists, and both mixed', () => {
    const confState = Buffer.concat([fb(1, varint(1), varint(2 ** 40)), fv(1, 3), fv(2, 4), fb(2, varint(5)), fv(3, 6), fv(4, 7), fv(5, 1)]);
    const snap = fb(9, fb(1, Buffer.from('sd')), fb(2, fb(1, confState), fv(2, 9), fv(3, 2)));
    const m = onlyMessage(batchOf(raftMessageBytes(Buffer.concat([fv(1, 7), snap]))));
    assert.deepStrictEqual(m.message.snapshot, {
      data: Buffer.from('sd'),
      metadata: { index: 9, term: 2, confState: { voters: [1, 2 ** 40, 3], learners: [4, 5], votersOutgoing: [6], learnersNext: [7], autoLeave: true } },
    });
  });

  it('skips unknown fields of wire types 0, 1, 2 and 5 at every level', () => {
    const u = unknowns;
    const entryBytes = fb(7, fv(1, 2), fv(2, 3), fv(3, 4), fb(4, Buffer.from('abc')), fb(5, Buffer.from('entry context, not carried')), u());
    const confState = Buffer.concat([fb(1, varint(1)), u()]);
    const snap = fb(9, fb(2, fb(1, confState), fv(2, 9), u()), u());
    const message = Buffer.concat([fv(1, 3), fv(2, 12), entryBytes, snap, fv(13, 2n ** 64n - 1n), fv(14, 2n ** 64n - 1n), u()]);
    const msg = Buffer.concat([fv(1, 5), fb(2, PEER_A(), u()), fb(3, PEER_B(), u()), fb(4, message), fb(5, EPOCH(), u()), u()]);
    const decoded = decodeRaftBatch(Buffer.concat([u(), fb(1, msg), u(), fv(2, 9)]));
    assert.equal(decoded.droppedMalformed, 0, decoded.firstMalformed?.message);
    assert.deepStrictEqual(decoded.msgs[0], {
      ...EXPECTED_HEADER,
      message: baseMessage({
        type: 'MsgApp', to: 12,
        entries: [{ type: 'ConfChangeV2', term: 3, index: 4, data: Buffer.from('abc') }],
        snapshot: { data: Buffer.alloc(0), metadata: { index: 9, term: 0, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } },
      }),
    });
    assert.equal(decoded.fromStoreId, 9);
    // protobufjs + the old conversion read the same bytes the same way.
    assert.deepStrictEqual(referenceDecode(Buffer.concat([u(), fb(1, msg), u(), fv(2, 9)]))?.msgs, decoded.msgs);
  });

  it('takes the last of a repeated scalar or embedded message, as protobufjs does', () => {
    const message = Buffer.concat([fv(2, 1), fv(2, 2), fv(1, 8), fv(1, 9)]);
    const msg = raftMessageBytes(message, Buffer.concat([fb(2, Buffer.concat([fv(1, 99), fv(2, 98)])), fv(1, 6)]));
    const m = onlyMessage(batchOf(msg));
    assert.equal(m.message.to, 2);
    assert.equal(m.message.type, 'MsgHeartbeatResp');
    assert.deepStrictEqual(m.fromPeer, { id: 99, storeId: 98, role: 'voter' });
    assert.equal(m.regionId, 6);
    assert.deepStrictEqual(referenceDecode(batchOf(msg))?.msgs, [m]);
  });

  it('refuses values above 2^53-1 but skips any uint64 in fields it does not carry', () => {
    for (const v of [2n ** 53n, 2n ** 64n - 1n]) {
      assert.match(droppedReason(batchOf(raftMessageBytes(fv(4, v)))), /message\.term: exceeds 2\^53-1/);
      assert.match(droppedReason(batchOf(raftMessageBytes(Buffer.alloc(0), fv(1, v)))), /regionId/);
      assertRefused(fv(2, v), /fromStoreId: exceeds/);
    }
    assert.equal(onlyMessage(batchOf(raftMessageBytes(fv(4, 2n ** 53n - 1n)))).message.term, Number.MAX_SAFE_INTEGER);
    assert.equal(onlyMessage(batchOf(raftMessageBytes(Buffer.concat([fv(13, 2n ** 64n - 1n), fv(14, 2n ** 63n)])))).message.type, 'MsgHup');
  });

  it('refuses unknown enums, the joint-only roles, zero ids and absent required messages, message by message', () => {
    const good = raftMessageBytes(fv(1, 8));
    const cases: [Buffer, RegExp][] = [
      [raftMessageBytes(fv(1, 19)), /unknown type 19/],
      [raftMessageBytes(fb(7, fv(1, 3))), /entry\.entryType: unknown type 3/],
      [Buffer.concat([fv(1, 5), fb(2, PEER_A(), fv(3, 2)), fb(3, PEER_B()), fb(4), fb(5)]), /role IncomingVoter is not supported/],
      [Buffer.concat([fv(1, 5), fb(2, PEER_A()), fb(3, PEER_B(), fv(3, 3)), fb(4), fb(5)]), /role DemotingVoter/],
      [Buffer.concat([fv(1, 5), fb(2, fv(2, 1)), fb(3, PEER_B()), fb(4), fb(5)]), /fromPeer\.id: must not be 0/],
      [Buffer.concat([fv(1, 5), fb(2, PEER_A()), fb(3, fv(1, 4)), fb(4), fb(5)]), /toPeer\.storeId: must not be 0/],
      [Buffer.concat([fb(2, PEER_A()), fb(3, PEER_B()), fb(4), fb(5)]), /regionId: must not be 0/],
      [Buffer.concat([fv(1, 5), fb(3, PEER_B()), fb(4), fb(5)]), /fromPeer: is required/],
      [Buffer.concat([fv(1, 5), fb(2, PEER_A()), fb(4), fb(5)]), /toPeer: is required/],
      [Buffer.concat([fv(1, 5), fb(2, PEER_A()), fb(3, PEER_B()), fb(5)]), /message: is required/],
      [Buffer.concat([fv(1, 5), fb(2, PEER_A()), fb(3, PEER_B()), fb(4)]), /regionEpoch: is required/],
    ];
    for (const [bad, pattern] of cases) {
      // The bad message is dropped; its neighbours stand.
      const decoded = decodeRaftBatch(batchOf(good, bad, good));
      assert.equal(decoded.msgs.length, 2);
      assert.equal(decoded.droppedMalformed, 1);
      assert.match(decoded.firstMalformed!.message, /msgs\[1\] dropped/);
      assert.match(decoded.firstMalformed!.message, pattern);
      // The old receiver drops the same message.
      const reference = referenceDecode(batchOf(good, bad, good));
      assert.equal(reference?.dropped, 1, `old conversion accepts ${pattern}`);
      assert.deepStrictEqual(reference.msgs, decoded.msgs);
    }
  });

  it('refuses broken framing: groups, wire types 6/7, field 0, declared fields with another wire type, overlong varints, lengths past the end', () => {
    const msg = raftMessageBytes(fv(1, 3));
    assertRefused(Buffer.concat([key(9, 3), key(9, 4)]), /wire type 3/);
    assertRefused(key(9, 4), /wire type 4/);
    assertRefused(Buffer.concat([key(9, 6), Buffer.alloc(8)]), /wire type 6/);
    assertRefused(Buffer.concat([key(9, 7), Buffer.alloc(8)]), /wire type 7/);
    assertRefused(fv(0, 1), /field number 0/);
    assertRefused(Buffer.concat([key(1, 0), varint(1)]), /field 1: wire type 0/);
    assertRefused(Buffer.concat([key(2, 2), varint(1), Buffer.from([1])]), /field 2: wire type 2/);
    assertRefused(Buffer.concat([key(2, 0), Buffer.from('8080808080808080808001', 'hex')]), /longer than 10 bytes/);
    assertRefused(Buffer.concat([key(1, 2), Buffer.from('ffffffff0f', 'hex')]), /runs past the end/);
    assertRefused(Buffer.concat([key(1, 2), Buffer.from('ffffffffffffff0f', 'hex')]), /runs past the end/);
    assertRefused(Buffer.concat([key(1, 2), Buffer.from('ffffffffffffffffff01', 'hex')]), /exceeds 2\^53-1/);
    assertRefused(Buffer.from('0a', 'hex'), /truncated/);
    assertRefused(Buffer.from('ff', 'hex'), /truncated/);
    // An overlong but terminated (non-canonical) varint is a valid encoding of its value.
    const padded = Buffer.concat([key(2, 0), Buffer.from('81808080808080808000', 'hex')]);
    assert.equal(decodeRaftBatch(padded).fromStoreId, 1);
    // Inside a message the same breakage drops only that message.
    for (const inner of [Buffer.concat([key(30, 3)]), fv(0, 1), Buffer.concat([key(2, 2), varint(0)]), Buffer.from('a0', 'hex')]) {
      assert.equal(decodeRaftBatch(batchOf(msg, Buffer.concat([msg, inner]), msg)).droppedMalformed, 1);
    }
  });

  it('copies entry data out of the input; keys, context and snapshot data alias it', () => {
    const b: StoreRaftBatch = {
      fromStoreId: 1,
      msgs: [{ ...EXPECTED_HEADER, startKey: Buffer.from('a'), endKey: Buffer.from('z'), message: baseMessage({ type: 'MsgApp', context: Buffer.from('ctx'), entries: [
        { type: 'Normal', term: 1, index: 1, data: Buffer.from('one') },
        { type: 'Normal', term: 1, index: 2, data: Buffer.alloc(0) },
        { type: 'Normal', term: 1, index: 3, data: Buffer.from('three') },
      ] }) }],
    };
    const bytes = encodeRaftBatch(b);
    const decoded = decodeRaftBatch(bytes);
    bytes.fill(0);
    const entries = decoded.msgs[0]!.message.entries;
    assert.deepStrictEqual(entries.map((e) => Buffer.from(e.data).toString()), ['one', '', 'three']);
    assert.equal(decoded.msgs[0]!.startKey[0], 0, 'keys alias the input (documented)');
    assert.equal(decoded.msgs[0]!.message.context[0], 0, 'context aliases the input (documented)');
  });

  it('takes every limit at N and refuses N+1', () => {
    const tiny = (i: number): StoreRaftMessage => ({ ...EXPECTED_HEADER, regionId: i + 1, message: baseMessage({ type: 'MsgHeartbeat' }) });
    // Messages per batch.
    const full: StoreRaftBatch = { msgs: Array.from({ length: RAFT_BATCH_MESSAGES_MAX }, (_, i) => tiny(i)), fromStoreId: 1 };
    const fullBytes = encodeRaftBatch(full);
    assert.equal(decodeRaftBatch(fullBytes).msgs.length, RAFT_BATCH_MESSAGES_MAX);
    assert.throws(() => encodeRaftBatch({ msgs: [...full.msgs, tiny(0)], fromStoreId: 1 }), (e: unknown) => e instanceof FlotillaError && e.code === 'LimitExceeded');
    const oneMore = encodeRaftBatch({ msgs: [tiny(0)], fromStoreId: 0 });
    assertRefused(Buffer.concat([fullBytes, oneMore]), /more than 65536 messages/);
    // Entries per message.
    const withEntries = (n: number): StoreRaftBatch => ({ fromStoreId: 0, msgs: [{ ...tiny(0), message: baseMessage({ type: 'MsgApp', entries: Array.from({ length: n }, (_, i) => ({ type: 'Normal' as const, term: 1, index: i + 1, data: Buffer.alloc(0) })) }) }] });
    const atMax = encodeRaftBatch(withEntries(RAFT_MESSAGE_ENTRIES_MAX));
    assert.equal(decodeRaftBatch(atMax).msgs[0]!.message.entries.length, RAFT_MESSAGE_ENTRIES_MAX);
    assert.throws(() => encodeRaftBatch(withEntries(RAFT_MESSAGE_ENTRIES_MAX + 1)), (e: unknown) => e instanceof FlotillaError && e.code === 'LimitExceeded');
    const entry = fb(7, fv(2, 1));
    const overMax = batchOf(raftMessageBytes(Buffer.concat([fv(1, 3), ...Array.from({ length: RAFT_MESSAGE_ENTRIES_MAX + 1 }, () => entry)])));
    assert.match(droppedReason(overMax), /more than 131072 entries/);
    // Conf-state ids per list.
    const snapWith = (n: number): Buffer => batchOf(raftMessageBytes(fb(9, fb(2, fb(1, fb(3, ...Array.from({ length: n }, (_, i) => varint(i + 1))))))));
    assert.equal(onlyMessage(snapWith(CONF_STATE_IDS_MAX)).message.snapshot?.metadata.confState.votersOutgoing.length, REGION_PEERS_MAX);
    assert.match(droppedReason(snapWith(CONF_STATE_IDS_MAX + 1)), /more than 16 ids/);
    const confStateOf = (n: number) => ({ voters: Array.from({ length: n }, (_, i) => i + 1), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });
    const withSnap = (n: number): StoreRaftBatch => ({ fromStoreId: 0, msgs: [{ ...tiny(0), message: baseMessage({ type: 'MsgSnap', snapshot: { data: Buffer.alloc(0), metadata: { index: 1, term: 1, confState: confStateOf(n) } } }) }] });
    assert.equal(decodeRaftBatch(encodeRaftBatch(withSnap(CONF_STATE_IDS_MAX))).msgs.length, 1);
    assert.throws(() => encodeRaftBatch(withSnap(CONF_STATE_IDS_MAX + 1)), (e: unknown) => e instanceof FlotillaError && e.code === 'LimitExceeded');
    // Region key bytes.
    const withKey = (n: number): StoreRaftBatch => ({ fromStoreId: 0, msgs: [{ ...tiny(0), endKey: Buffer.alloc(n, 7) }] });
    assert.equal(decodeRaftBatch(encodeRaftBatch(withKey(REGION_KEY_BYTES_MAX))).msgs[0]!.endKey.length, REGION_KEY_BYTES_MAX);
    assert.throws(() => encodeRaftBatch(withKey(REGION_KEY_BYTES_MAX + 1)), (e: unknown) => e instanceof FlotillaError && e.code === 'LimitExceeded');
    assert.match(droppedReason(batchOf(raftMessageBytes(Buffer.alloc(0), fb(8, Buffer.alloc(REGION_KEY_BYTES_MAX + 1))))), /longer than 16384 bytes/);
    // Batch bytes: the encoder refuses before allocating; the decoder refuses what gRPC would.
    const huge: StoreRaftBatch = { fromStoreId: 0, msgs: [{ ...tiny(0), message: baseMessage({ type: 'MsgApp', entries: [{ type: 'Normal', term: 1, index: 1, data: Buffer.alloc(RAFT_BATCH_BYTES_MAX) }] }) }] };
    assert.throws(() => encodeRaftBatch(huge), (e: unknown) => e instanceof FlotillaError && e.code === 'MessageTooLarge');
    assertRefused(Buffer.alloc(RAFT_BATCH_BYTES_MAX + 1), /exceed/);
  });

  it('refuses in-memory numbers that are not safe non-negative integers (a bug upstream)', () => {
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN]) {
      const m: StoreRaftMessage = { ...EXPECTED_HEADER, message: baseMessage({ commit: bad }) };
      assert.throws(() => encodeRaftBatch({ msgs: [m], fromStoreId: 0 }), InvariantError);
    }
  });

  it('the proto-object converters keep the old semantics (snapshot stream)', () => {
    const rng = createRng(SEED + 1);
    const cov = new Coverage();
    for (let i = 0; i < 200; i++) {
      const m = raftMessage(rng, cov);
      const viaProto = messageCodec('flotilla.raft_serverpb.RaftMessage');
      assert.deepStrictEqual(storeRaftMessageFromProto(viaProto.decode(viaProto.encode(storeRaftMessageToProto(m)))), m);
    }
    const decoded = messageCodec('flotilla.raft_serverpb.RaftMessage').decode(raftMessageBytes(fv(1, 3)));
    assert.throws(() => storeRaftMessageFromProto({ ...decoded, message: null }), /message: is required/);
    assert.throws(() => storeRaftMessageFromProto({ ...decoded, regionEpoch: null }), /regionEpoch/);
    assert.throws(() => storeRaftMessageFromProto({ ...decoded, regionId: '0' }), /regionId/);
    assert.throws(() => storeRaftMessageFromProto({ ...decoded, regionId: String(2n ** 53n) }), /exceeds 2\^53-1/);
  });

  it(`malformed input gives a value or InvalidArgument, and what we accept the old receiver accepts alike (seed ${SEED})`, () => {
    const rng = createRng(SEED + 2);
    const cov = new Coverage();
    const tally: Tally = { bothAccept: 0, onlyReferenceAccepts: 0, protobufjsMisreads: 0, bothRefuse: 0 };
    const samples: Buffer[] = [];
    for (let i = 0; i < 12; i++) {
      const b = batch(rng, cov);
      samples.push(encodeRaftBatch({ msgs: b.msgs.slice(0, 3), fromStoreId: b.fromStoreId }));
    }
    // Every truncation of a few valid encodings.
    for (const s of samples.slice(0, 4)) for (let cut = 0; cut < Math.min(s.length, 3000); cut++) differential(s.subarray(0, cut), tally);
    // Random byte flips, insertions of varint-ish bytes, and garbage.
    for (let i = 0; i < 4000; i++) {
      const s = Buffer.from(samples[rng.nextInt(samples.length)]!);
      if (s.length === 0) continue;
      const flips = rng.nextRange(1, 4);
      for (let f = 0; f < flips; f++) {
        const at = rng.nextInt(s.length);
        s[at] = rng.chance(0.5) ? s[at]! ^ (1 << rng.nextInt(8)) : rng.nextInt(256);
      }
      differential(s, tally);
    }
    for (let i = 0; i < 2000; i++) differential(bytes(rng, 120), tally);
    // Adversarial lengths and varints at every position of one message.
    const base = samples.find((s) => s.length > 40) ?? samples[0]!;
    const nasty = [Buffer.from('ffffffff0f', 'hex'), Buffer.from('ffffffffffffffff7f', 'hex'), Buffer.from('ffffffffffffffffffff01', 'hex'), varint(2n ** 53n), varint(2n ** 64n - 1n), Buffer.from('80', 'hex')];
    for (let at = 0; at < Math.min(base.length, 400); at++) {
      for (const n of nasty) differential(Buffer.concat([base.subarray(0, at), n, base.subarray(at)]), tally);
    }
    assert.ok(tally.bothAccept > 100 && tally.bothRefuse > 100 && tally.onlyReferenceAccepts > 0, `a fuzz run that proves nothing: ${JSON.stringify(tally)}`);
    assert.ok(tally.protobufjsMisreads * 8 < tally.bothAccept, // the adversarial phase inserts long varints on purpose
      `protobufjs quirks explain too much: ${JSON.stringify(tally)}`);
    console.log(`raft codec fuzz (seed ${SEED}): ${JSON.stringify(tally)}`);
  });
});
