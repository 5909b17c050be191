// Checksummed, versioned records of a raft group's durable state, shared by every process that
// hosts raft groups (PD's one group, a store's many). Where a record lives is the caller's key
// scheme (ready-ops.ts); what it holds is decided here, once.
//
//   hard state  [ver][term u64][vote u64][commit u64][crc32 of the rest]
//   entry       [ver][type u8][term u64][crc32 of header+data][data]
//   snapshot    [ver][crc32][index u64][term u64][confState len u32][confState JSON][data]

import { crc32, FlotillaError, readSafeU64BE, writeSafeU64BE } from '../common/index.js';
import type { ConfState, Entry, EntryType, HardState, Snapshot } from '../raft/index.js';

const VERSION = 1;
const ENTRY_TYPES: readonly EntryType[] = ['Normal', 'ConfChange', 'ConfChangeV2'];
/** Bytes of an entry record before its data. */
export const ENTRY_RECORD_HEADER_BYTES = 14;

function corrupt(what: string, detail: string): FlotillaError {
  return new FlotillaError('Corruption', `${what}: ${detail}`);
}

export function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.allocUnsafe(1 + 24 + 4);
  b[0] = VERSION;
  writeSafeU64BE(b, 1, hs.term);
  writeSafeU64BE(b, 9, hs.vote);
  writeSafeU64BE(b, 17, hs.commit);
  b.writeUInt32BE(crc32(b, 0, 25), 25);
  return b;
}

/** `what` names the owner in errors ("PD raft log", "region 7 raft log"). */
export function decodeHardState(b: Buffer, what = 'raft log'): HardState {
  if (b.length !== 29 || b[0] !== VERSION) throw corrupt(what, 'hard state has a bad length or version');
  if (b.readUInt32BE(25) !== crc32(b, 0, 25)) throw corrupt(what, 'hard state checksum mismatch');
  return { term: readSafeU64BE(b, 1, `${what}: hard state term`), vote: readSafeU64BE(b, 9, `${what}: hard state vote`), commit: readSafeU64BE(b, 17, `${what}: hard state commit`) };
}

/**
 * Entry data allocated with room for its record's header right in front of it (allocEntryData,
 * entryDataIn). The first encodeEntry of such data writes the header there and hands out the
 * record around the data instead of copying it; it takes the room out of this set, so a second
 * entry carrying the same data (a proposal appended again) copies as usual. Members live only
 * from allocation to their first persist.
 */
const HEADROOM = new WeakSet<Uint8Array>();

/** `length` bytes for an entry's data, with room for its record header in front (no copy at persist). */
export function allocEntryData(length: number): Buffer {
  return entryDataIn(Buffer.allocUnsafe(ENTRY_RECORD_HEADER_BYTES + length), 0, length);
}

/**
 * The entry data `block[at + ENTRY_RECORD_HEADER_BYTES, … + length)`, whose header room
 * `block[at, at + ENTRY_RECORD_HEADER_BYTES)` the caller reserves for it and never uses otherwise.
 */
export function entryDataIn(block: Buffer, at: number, length: number): Buffer {
  const data = block.subarray(at + ENTRY_RECORD_HEADER_BYTES, at + ENTRY_RECORD_HEADER_BYTES + length);
  HEADROOM.add(data);
  return data;
}

export function encodeEntry(e: Entry): Buffer {
  const d = e.data;
  const isInPlace = HEADROOM.delete(d);
  const b = isInPlace
    ? Buffer.from(d.buffer, d.byteOffset - ENTRY_RECORD_HEADER_BYTES, ENTRY_RECORD_HEADER_BYTES + d.length)
    : Buffer.allocUnsafe(ENTRY_RECORD_HEADER_BYTES + d.length);
  b[0] = VERSION;
  b[1] = ENTRY_TYPES.indexOf(e.type);
  writeSafeU64BE(b, 2, e.term);
  if (!isInPlace) b.set(d, ENTRY_RECORD_HEADER_BYTES);
  // The payload's checksum over e.data itself (the same bytes): no view of `b` per entry.
  b.writeUInt32BE(crc32(e.data, 0, e.data.length, crc32(b, 0, 10)), 10);
  return b;
}

/**
 * The entry stored at `index`. Its data is a view into `b`, not a copy (the caller hands over a
 * buffer it will not reuse), and a plain Uint8Array like every Entry raft makes, so decoded and
 * proposed entries compare equal.
 */
export function decodeEntry(index: number, b: Buffer, what = 'raft log'): Entry {
  if (b.length < ENTRY_RECORD_HEADER_BYTES || b[0] !== VERSION) throw corrupt(what, `entry ${index} has a bad length or version`);
  const type = ENTRY_TYPES[b[1]!];
  if (type === undefined) throw corrupt(what, `entry ${index} has unknown type ${b[1]}`);
  const data = new Uint8Array(b.buffer, b.byteOffset + ENTRY_RECORD_HEADER_BYTES, b.length - ENTRY_RECORD_HEADER_BYTES);
  if (b.readUInt32BE(10) !== crc32(data, 0, data.length, crc32(b, 0, 10))) throw corrupt(what, `entry ${index} checksum mismatch`);
  return { type, term: readSafeU64BE(b, 2, `${what}: entry ${index} term`), index, data };
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const cs = Buffer.from(JSON.stringify(s.metadata.confState), 'utf8');
  const b = Buffer.allocUnsafe(1 + 4 + 16 + 4 + cs.length + s.data.length);
  b[0] = VERSION;
  writeSafeU64BE(b, 5, s.metadata.index);
  writeSafeU64BE(b, 13, s.metadata.term);
  b.writeUInt32BE(cs.length, 21);
  cs.copy(b, 25);
  b.set(s.data, 25 + cs.length);
  b.writeUInt32BE(crc32(b, 5), 1);
  return b;
}

export function decodeSnapshot(b: Buffer, what = 'raft log'): Snapshot {
  if (b.length < 25 || b[0] !== VERSION) throw corrupt(what, 'snapshot has a bad length or version');
  if (b.readUInt32BE(1) !== crc32(b, 5)) throw corrupt(what, 'snapshot checksum mismatch');
  const csLen = b.readUInt32BE(21);
  if (25 + csLen > b.length) throw corrupt(what, 'snapshot conf state overruns the record');
  const confState = JSON.parse(b.subarray(25, 25 + csLen).toString('utf8')) as ConfState;
  return {
    metadata: { index: Number(b.readBigUInt64BE(5)), term: Number(b.readBigUInt64BE(13)), confState },
    data: new Uint8Array(b.subarray(25 + csLen)),
  };
}
