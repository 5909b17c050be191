// The one place that says where bytes live in a store's RocksDB (DESIGN.md §3). Column families
// are emulated by a one-byte prefix; data keys are `prefix ‖ memcomparable(user key)`, versioned
// ones add a big-endian bit-complemented timestamp so that, for one user key, newer versions sort
// first. Pure: no I/O. Every key built here is a fresh Buffer of the exact size (no concat).
//
//   local  0x01 ‖ 0x01                              store ident
//          0x01 ‖ 0x02 ‖ region_id ‖ 0x01 ‖ index   raft log entry
//          0x01 ‖ 0x02 ‖ region_id ‖ 0x02           raft hard state
//          0x01 ‖ 0x02 ‖ region_id ‖ 0x03           apply state
//          0x01 ‖ 0x03 ‖ region_id ‖ 0x01           region state
//   default 0x64 ‖ enc(key) ‖ ~start_ts             long values of puts
//   lock    0x6c ‖ enc(key)                         lock record (a released lock is deleted)
//   write   0x77 ‖ enc(key) ‖ ~commit_ts            write record {kind, start_ts, short value}
//   latest  0x6e ‖ enc(key)                         the newest put/delete write of the key:
//                                                   [ver][commit_ts][write record][crc32]
//                                                   (txn/records/latest.ts; a point lookup answers
//                                                   "newest version ≤ ts" in the common case)
//   raw     0x72 ‖ enc(key)                         raw (non-transactional) API
//
// region_id and index are u64 big-endian (so a region's log entries sort by index).

import { FlotillaError } from './errors.js';
import { invariant, InvariantError } from './invariant.js';
import { encodedKeyLength, encodeKeyInto, tryDecodeKey } from './key-codec.js';
import { type Ts } from './timestamp.js';
import { putU64BE, readSafeU64BE, U64_MAX, writeSafeU64BE } from './u64.js';

/** A data column family (everything but local/meta). */
export type DataCf = 'default' | 'lock' | 'write' | 'latest' | 'raw';
export type Cf = DataCf | 'local';

export const CF_PREFIX: Readonly<Record<Cf, number>> = {
  local: 0x01,
  default: 0x64, // 'd'
  lock: 0x6c, // 'l'
  write: 0x77, // 'w'
  latest: 0x6e, // 'n' (newest)
  raw: 0x72, // 'r'
};

export const DATA_CFS: readonly DataCf[] = ['default', 'lock', 'write', 'latest', 'raw'];
/** Bytes of a version suffix. */
export const TS_SUFFIX_BYTES = 8;

const LOCAL_STORE_IDENT = 0x01;
const LOCAL_REGION_RAFT = 0x02;
const LOCAL_REGION_META = 0x03;
const RAFT_LOG_SUFFIX = 0x01;
const RAFT_HARD_STATE_SUFFIX = 0x02;
const APPLY_STATE_SUFFIX = 0x03;
const REGION_STATE_SUFFIX = 0x01;

function cfOfPrefix(byte: number): Cf | null {
  for (const cf of Object.keys(CF_PREFIX) as Cf[]) if (CF_PREFIX[cf] === byte) return cf;
  return null;
}

function writeTsDesc(buf: Buffer, offset: number, ts: Ts): void {
  if (ts < 0n || ts > U64_MAX) throw new InvariantError(`timestamp ${ts} is not a u64`); // inline: a lazy message is a closure per key
  putU64BE(buf, offset, ts, true);
}

/** `prefix ‖ enc(userKey)`: a lock-, latest- or raw-CF key, or the version-less start of a user key. */
export function dataKey(cf: DataCf, userKey: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + encodedKeyLength(userKey.length));
  out[0] = CF_PREFIX[cf];
  encodeKeyInto(userKey, out, 1);
  return out;
}

/** `prefix ‖ enc(userKey) ‖ ~ts`: a write-CF (ts = commit_ts) or default-CF (ts = start_ts) key. */
export function versionedKey(cf: 'write' | 'default', userKey: Uint8Array, ts: Ts): Buffer {
  const encodedLength = encodedKeyLength(userKey.length);
  const out = Buffer.allocUnsafe(1 + encodedLength + TS_SUFFIX_BYTES);
  out[0] = CF_PREFIX[cf];
  encodeKeyInto(userKey, out, 1);
  writeTsDesc(out, 1 + encodedLength, ts);
  return out;
}

export function lockKey(userKey: Uint8Array): Buffer {
  return dataKey('lock', userKey);
}

export function writeKey(userKey: Uint8Array, commitTs: Ts): Buffer {
  return versionedKey('write', userKey, commitTs);
}

export function defaultKey(userKey: Uint8Array, startTs: Ts): Buffer {
  return versionedKey('default', userKey, startTs);
}

/** Where the newest put/delete write of `userKey` is kept (txn/records/latest.ts). */
export function latestKey(userKey: Uint8Array): Buffer {
  return dataKey('latest', userKey);
}

export function rawKey(userKey: Uint8Array): Buffer {
  return dataKey('raw', userKey);
}

/**
 * The smallest key after every version of `userKey` in a versioned CF: `prefix ‖ enc(key) ‖ FF×8 ‖ 00`.
 * (~ts for ts = 0 is FF×8, the oldest possible version.) Used as an exclusive bound.
 */
export function versionsEndKey(cf: 'write' | 'default', userKey: Uint8Array): Buffer {
  const encodedLength = encodedKeyLength(userKey.length);
  const out = Buffer.allocUnsafe(1 + encodedLength + TS_SUFFIX_BYTES + 1);
  out[0] = CF_PREFIX[cf];
  encodeKeyInto(userKey, out, 1);
  out.fill(0xff, 1 + encodedLength, 1 + encodedLength + TS_SUFFIX_BYTES);
  out[out.length - 1] = 0x00;
  return out;
}

/** A half-open range [start, end) of full engine keys. */
export interface KeyRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/** Every key of a CF: [prefix, prefix + 1). */
export function cfRange(cf: Cf): KeyRange {
  const prefix = CF_PREFIX[cf];
  return { start: Buffer.from([prefix]), end: Buffer.from([prefix + 1]) };
}

/**
 * The engine range of a CF covering user keys in [startKey, endKey); an empty (or absent) endKey
 * means +∞ and an empty startKey −∞, as for regions. Memcomparable encoding keeps byte order, and
 * every version of a key sorts between enc(key) and the next user key's enc, so the same bounds
 * work for versioned CFs.
 */
export function cfRangeOf(cf: DataCf, startKey: Uint8Array, endKey: Uint8Array | null): KeyRange {
  const whole = cfRange(cf);
  const start = startKey.length === 0 ? whole.start : dataKey(cf, startKey);
  const end = endKey === null || endKey.length === 0 ? whole.end : dataKey(cf, endKey);
  return { start, end };
}

export interface DecodedDataKey {
  readonly cf: Cf;
  readonly userKey: Buffer;
  /** The version for write/default keys, null for lock/latest/raw. */
  readonly ts: Ts | null;
}

/** Splits a full data key back into CF, user key and version. Malformed → Corruption. */
export function decodeDataKey(key: Uint8Array): DecodedDataKey {
  const cf = key.length > 0 ? cfOfPrefix(key[0]!) : null;
  if (cf === null || cf === 'local') {
    throw new FlotillaError('Corruption', `keyspace: not a data key (prefix ${key.length > 0 ? key[0] : 'none'})`);
  }
  const decoded = tryDecodeKey(key, 1);
  if (!decoded.ok) throw new FlotillaError('Corruption', `keyspace: ${cf} key: ${decoded.reason}`);
  const after = 1 + decoded.bytesRead;
  const versioned = cf === 'write' || cf === 'default';
  const expected = after + (versioned ? TS_SUFFIX_BYTES : 0);
  if (key.length !== expected) {
    throw new FlotillaError('Corruption', `keyspace: ${cf} key has ${key.length} bytes, expected ${expected}`);
  }
  const ts = versioned ? U64_MAX ^ Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(after) : null;
  return { cf, userKey: decoded.key, ts };
}

/** The version of a write/default key, read from its last 8 bytes without decoding the user key. */
export function versionOf(key: Uint8Array): Ts {
  invariant(key.length >= 1 + TS_SUFFIX_BYTES, 'versionOf: key too short');
  return U64_MAX ^ Buffer.from(key.buffer, key.byteOffset, key.byteLength).readBigUInt64BE(key.length - TS_SUFFIX_BYTES);
}

/** Whether two versioned keys belong to the same user key (same bytes up to the suffix). */
export function sameUserKey(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.length - TS_SUFFIX_BYTES),
    Buffer.from(b.buffer, b.byteOffset, b.length - TS_SUFFIX_BYTES),
  ) === 0;
}

// ---- local / meta keys -------------------------------------------------------------------------

function checkId(value: number, what: string): void {
  invariant(Number.isSafeInteger(value) && value >= 0, () => `${what} ${value} is not a safe non-negative integer`);
}

function regionKey(kind: number, regionId: number, suffix: number, index: number | null): Buffer {
  checkId(regionId, 'region id');
  const out = Buffer.allocUnsafe(2 + 8 + 1 + (index === null ? 0 : 8));
  out[0] = CF_PREFIX.local;
  out[1] = kind;
  writeSafeU64BE(out, 2, regionId);
  out[10] = suffix;
  if (index !== null) {
    checkId(index, 'raft index');
    writeSafeU64BE(out, 11, index);
  }
  return out;
}

export function storeIdentKey(): Buffer {
  return Buffer.from([CF_PREFIX.local, LOCAL_STORE_IDENT]);
}

export function raftLogKey(regionId: number, index: number): Buffer {
  return regionKey(LOCAL_REGION_RAFT, regionId, RAFT_LOG_SUFFIX, index);
}

/** [first, last+1) log keys of a region, for scans and compaction (end exclusive). */
export function raftLogRange(regionId: number, firstIndex: number, endIndex: number): KeyRange {
  return { start: raftLogKey(regionId, firstIndex), end: raftLogKey(regionId, endIndex) };
}

export function raftHardStateKey(regionId: number): Buffer {
  return regionKey(LOCAL_REGION_RAFT, regionId, RAFT_HARD_STATE_SUFFIX, null);
}

export function applyStateKey(regionId: number): Buffer {
  return regionKey(LOCAL_REGION_RAFT, regionId, APPLY_STATE_SUFFIX, null);
}

export function regionStateKey(regionId: number): Buffer {
  return regionKey(LOCAL_REGION_META, regionId, REGION_STATE_SUFFIX, null);
}

/** Every region state key of a store (a store loads its regions from this range at start). */
export function regionStatesRange(): KeyRange {
  return { start: Buffer.from([CF_PREFIX.local, LOCAL_REGION_META]), end: Buffer.from([CF_PREFIX.local, LOCAL_REGION_META + 1]) };
}

/** The region id of a region state key (inverse of regionStateKey). */
export function regionIdOfStateKey(key: Uint8Array): number {
  if (key.length !== 11 || key[0] !== CF_PREFIX.local || key[1] !== LOCAL_REGION_META || key[10] !== REGION_STATE_SUFFIX) {
    throw new FlotillaError('Corruption', 'keyspace: not a region state key');
  }
  return readSafeU64BE(Buffer.from(key.buffer, key.byteOffset, key.byteLength), 2, 'keyspace: region id');
}

/** The index of a raft log key (inverse of raftLogKey). */
export function raftLogIndexOf(key: Uint8Array): number {
  if (key.length !== 19 || key[0] !== CF_PREFIX.local || key[1] !== LOCAL_REGION_RAFT || key[10] !== RAFT_LOG_SUFFIX) {
    throw new FlotillaError('Corruption', 'keyspace: not a raft log key');
  }
  return readSafeU64BE(Buffer.from(key.buffer, key.byteOffset, key.byteLength), 11, 'keyspace: raft index');
}

/** Every local key of one region (raft log, hard state, apply state; region state separately). */
export function regionRaftRange(regionId: number): KeyRange {
  checkId(regionId, 'region id');
  const start = Buffer.allocUnsafe(10);
  start[0] = CF_PREFIX.local;
  start[1] = LOCAL_REGION_RAFT;
  start.writeBigUInt64BE(BigInt(regionId), 2);
  const end = Buffer.from(start);
  end.writeBigUInt64BE(BigInt(regionId) + 1n, 2);
  return { start, end };
}
