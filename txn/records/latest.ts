// The latest record (latest CF, at enc(key)): per key, its newest put/delete write and an upper
// bound of the commit_ts of ALL its write records, so that "newest version ≤ ts" (reads) and "any
// write at or after start_ts?" (prewrite, commit-record lookups) are point lookups in the common
// case. Layout (version 2), big-endian, checksummed because a wrong latest record is a wrong read
// or a missed write conflict:
//
//   0 version u8 = 2    1 has_data u8 (0|1)    2 max_write_ts u64
//   10 [commit_ts u64, write record (records/write.ts)] when has_data = 1    .. crc32 u32 of everything before
//
// Version 1 (no has_data, no max_write_ts: `[1][commit_ts][write record][crc32]`) still decodes,
// with maxWriteTs = TS_MAX — the one bound that is true without knowing — so a key holding one
// always falls back to the write-CF seek; writers keep the max, so it stays TS_MAX. NOTE: version-1
// stores also lack a latest record on keys with only lock/rollback records, which version 2 relies
// on (absent = no write record at all): a store written by the version-1 code must not be upgraded
// in place (txn/README.md; the latest CF itself is new in F5 and unreleased).
//
// The data part carries the write's data (kind put/delete, start_ts, short value) with the flags
// cleared: the overlapped-rollback and protected flags live in the write CF only. It is absent when
// the key has write records but no put/delete among them (only lock/rollback records, or GC
// collected its data). Invariants (kept by actions/commit.ts, actions/common.ts, actions/gc.ts):
//   (D) data = the key's newest put/delete write record (absent: it has none);
//   (M) every write record of the key, of any kind, has commit_ts ≤ maxWriteTs; a key with any
//       write record has a latest record. maxWriteTs is a running max (rollbacks land at older
//       timestamps and must not lower it), so after GC it may exceed every record left: an upper
//       bound, never less.
//   data.commit_ts ≤ maxWriteTs follows from both and is checked on decode.

import { FlotillaError, invariant, TS_MAX, type Ts } from '../../common/pure.js';
import { crc32, putU64BE } from '../../common/pure.js';
import { decodeWrite, encodeWrite, isDataWrite, type Write } from './write.js';

/** A committed put/delete and its commit_ts: the data part of a latest record. */
export interface LatestWrite {
  readonly commitTs: Ts;
  /** A put or delete, flags cleared. */
  readonly write: Write;
}

export interface LatestRecord {
  /** The key's newest put/delete (D), or null when it has none. */
  readonly data: LatestWrite | null;
  /** ≥ the commit_ts of every write record of the key, any kind (M). */
  readonly maxWriteTs: Ts;
}

const LATEST_RECORD_VERSION = 2;
const LATEST_RECORD_VERSION_1 = 1;
const HEADER_BYTES = 10;
const V1_HEADER_BYTES = 9;
const COMMIT_TS_BYTES = 8;
const CRC_BYTES = 4;

function corrupt(reason: string): FlotillaError {
  return new FlotillaError('Corruption', `latest record: ${reason}`);
}

/** The data part for a committed put/delete `write` at `commitTs` (flags dropped). */
export function latestOf(commitTs: Ts, write: Write): LatestWrite {
  invariant(isDataWrite(write), () => `latest record of a ${write.kind} write`);
  return { commitTs, write: { ...write, hasOverlappedRollback: false, isProtected: false } };
}

/**
 * The latest record after a write record of any kind lands at `commitTs` on a key whose latest
 * record is `previous`: maxWriteTs becomes max(previous, commitTs) — a max, not the new ts, since
 * a rollback record may land below newer records — and a put/delete becomes the data part (the
 * caller asserts it is the newest data write: actions/commit.ts). Null when nothing changes (a
 * rollback at or below maxWriteTs), so the caller writes nothing.
 */
export function latestAfterWrite(previous: LatestRecord | null, commitTs: Ts, write: Write): LatestRecord | null {
  const data = isDataWrite(write) ? latestOf(commitTs, write) : previous?.data ?? null;
  const maxWriteTs = previous === null || commitTs > previous.maxWriteTs ? commitTs : previous.maxWriteTs;
  if (previous !== null && data === previous.data && maxWriteTs === previous.maxWriteTs) return null;
  return { data, maxWriteTs };
}

/**
 * `encodedWrite`: encodeWrite(latest.data.write), when the caller has just made it (the write
 * record it puts beside this one, actions/common.ts) — the same bytes, not encoded twice.
 */
export function encodeLatest(latest: LatestRecord, encodedWrite?: Buffer): Buffer {
  const { data } = latest;
  invariant(data === null || isDataWrite(data.write), 'a latest record holds a put or a delete');
  invariant(data === null || (!data.write.hasOverlappedRollback && !data.write.isProtected), 'a latest record carries no flags');
  invariant(data === null || data.commitTs <= latest.maxWriteTs, () => `latest data at ${data?.commitTs} above max_write_ts ${latest.maxWriteTs}`);
  const write = data === null ? null : encodedWrite ?? encodeWrite(data.write);
  const bodyEnd = HEADER_BYTES + (write === null ? 0 : COMMIT_TS_BYTES + write.length);
  // A buffer of its own (not a slice of Node's pool): a store's row cache keeps it as it is, so
  // the decoded form remembered below is found again by the reads that follow.
  const out = Buffer.allocUnsafeSlow(bodyEnd + CRC_BYTES);
  out[0] = LATEST_RECORD_VERSION;
  out[1] = data === null ? 0 : 1;
  putU64BE(out, 2, latest.maxWriteTs);
  if (data !== null && write !== null) {
    putU64BE(out, HEADER_BYTES, data.commitTs);
    write.copy(out, HEADER_BYTES + COMMIT_TS_BYTES);
  }
  out.writeUInt32BE(crc32(out, 0, bodyEnd), bodyEnd);
  remember(out, decodedFormOf(latest, out, write));
  return out;
}

/**
 * What decodeLatest(out) gives, built from the record just encoded into `out` (`write`: its
 * encoded write record) instead of read back: the same fields, the value a view of `out` (an
 * inline value ends the write record's body, inline-value.ts).
 */
function decodedFormOf(latest: LatestRecord, out: Buffer, write: Buffer | null): LatestRecord {
  const { data } = latest;
  if (data === null || write === null) return { data: null, maxWriteTs: latest.maxWriteTs };
  const value = data.write.shortValue;
  const valueEnd = HEADER_BYTES + COMMIT_TS_BYTES + write.length - CRC_BYTES;
  return {
    data: {
      commitTs: data.commitTs,
      write: {
        kind: data.write.kind,
        startTs: data.write.startTs,
        shortValue: value === null ? null : out.subarray(valueEnd - value.length, valueEnd),
        hasOverlappedRollback: false,
        isProtected: false,
      },
    },
    maxWriteTs: latest.maxWriteTs,
  };
}

/** Decodes a latest record (version 2, or 1); a bad version, length, checksum, flag or kind is Corruption (thrown). */
export function decodeLatest(bytes: Buffer): LatestRecord {
  if (bytes.length < 1 + CRC_BYTES) throw corrupt(`${bytes.length} bytes is too short`);
  const bodyEnd = bytes.length - CRC_BYTES;
  if (bytes[0] === LATEST_RECORD_VERSION_1) return decodeV1(bytes, bodyEnd);
  if (bytes[0] !== LATEST_RECORD_VERSION) throw corrupt(`unknown version ${bytes[0]}`);
  if (bodyEnd < HEADER_BYTES) throw corrupt(`${bytes.length} bytes is too short`);
  if (crc32(bytes, 0, bodyEnd) !== bytes.readUInt32BE(bodyEnd)) throw corrupt('checksum mismatch');
  const maxWriteTs = bytes.readBigUInt64BE(2);
  const hasData = bytes[1];
  if (hasData === 0) {
    if (bodyEnd !== HEADER_BYTES) throw corrupt('trailing bytes');
    return { data: null, maxWriteTs };
  }
  if (hasData !== 1) throw corrupt(`bad has_data ${hasData}`);
  if (bodyEnd < HEADER_BYTES + COMMIT_TS_BYTES + 1) throw corrupt('truncated data');
  const commitTs = bytes.readBigUInt64BE(HEADER_BYTES);
  const write = decodeWrite(bytes.subarray(HEADER_BYTES + COMMIT_TS_BYTES, bodyEnd));
  if (!isDataWrite(write)) throw corrupt(`holds a ${write.kind} write`);
  if (commitTs > maxWriteTs) throw corrupt(`data at ${commitTs} above max_write_ts ${maxWriteTs}`);
  return { data: { commitTs, write }, maxWriteTs };
}

/** Version 1: `[1][commit_ts][write record][crc32]`, always with data; maxWriteTs unknown → TS_MAX. */
function decodeV1(bytes: Buffer, bodyEnd: number): LatestRecord {
  if (bodyEnd < V1_HEADER_BYTES + 1) throw corrupt(`${bytes.length} bytes is too short`);
  if (crc32(bytes, 0, bodyEnd) !== bytes.readUInt32BE(bodyEnd)) throw corrupt('checksum mismatch');
  const write = decodeWrite(bytes.subarray(V1_HEADER_BYTES, bodyEnd));
  if (!isDataWrite(write)) throw corrupt(`holds a ${write.kind} write`);
  return { data: { commitTs: bytes.readBigUInt64BE(1), write }, maxWriteTs: TS_MAX };
}

/**
 * Records already decoded, kept on the buffer they came from (a property under a private symbol).
 * A store's row cache hands out the same buffer for a key until the key is written again, and
 * every transactional read and prewrite of a hot key decodes it: two checksums and a few objects
 * each time, ~6 % of a busy leader's main thread under transfers. Decoding a buffer again gives
 * an equal record, so sharing one is safe (records are immutable); the record goes when its
 * buffer does. encodeLatest puts in the record it encoded: a leader applies its own proposals
 * with the buffers it built (store/peer.ts), so a key's next read finds its record without
 * decoding it once. A property, not a WeakMap: the map's ephemeron lookups, write barriers and
 * scavenge clearing cost a busy leader ~3.6 % of its main thread (perf, stop 52). It is an
 * enumerable own property (a non-enumerable one reads ~6× slower): deep-equality checks of
 * buffers see it, so compare bytes (Buffer.equals), as the store's tests do.
 */
const DECODED_LATEST: unique symbol = Symbol('flotilla.decodedLatest');

interface RememberingBuffer extends Buffer {
  [DECODED_LATEST]?: LatestRecord;
}

function remember(bytes: Buffer, latest: LatestRecord): void {
  (bytes as RememberingBuffer)[DECODED_LATEST] = latest;
}

/** A latest-CF value (or its absence): null when absent. Decodes each buffer once (DECODED_LATEST). */
export function decodeLatestEntry(bytes: Buffer | null | undefined): LatestRecord | null {
  if (bytes === null || bytes === undefined) return null;
  let latest = (bytes as RememberingBuffer)[DECODED_LATEST];
  if (latest === undefined) {
    latest = decodeLatest(bytes);
    remember(bytes, latest);
  }
  return latest;
}
