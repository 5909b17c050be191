// The latest record (latest CF, at enc(key)): the newest put/delete write of one key, so that
// "newest version ≤ ts" is a point lookup in the common case (MvccReader.getWrite). Layout
// (version 1), big-endian, checksummed because a wrong latest record is a wrong read:
//
//   0 version u8 = 1    1 commit_ts u64    9 write record (records/write.ts)    .. crc32 u32 of everything before
//
// It carries the write's data (kind put/delete, start_ts, short value) with the flags cleared: the
// overlapped-rollback and protected flags live in the write CF only (a later rollback may set the
// overlapped flag on the write record, and nothing that reads the latest record looks at flags).
// Who writes it: commit (actions/commit.ts), for put and delete writes only. Who deletes it: GC,
// under the key's latch, when it collects the write the record holds (actions/gc.ts).

import { FlotillaError, invariant, type Ts } from '../../common/pure.js';
import { crc32 } from '../../common/pure.js';
import { decodeWrite, encodeWrite, isDataWrite, type Write } from './write.js';

export interface LatestWrite {
  readonly commitTs: Ts;
  /** A put or delete, flags cleared. */
  readonly write: Write;
}

const LATEST_RECORD_VERSION = 1;
const HEADER_BYTES = 9;
const CRC_BYTES = 4;

function corrupt(reason: string): FlotillaError {
  return new FlotillaError('Corruption', `latest record: ${reason}`);
}

/** The latest record of a committed put/delete `write` at `commitTs` (flags dropped). */
export function latestOf(commitTs: Ts, write: Write): LatestWrite {
  invariant(isDataWrite(write), () => `latest record of a ${write.kind} write`);
  return { commitTs, write: { ...write, hasOverlappedRollback: false, isProtected: false } };
}

export function encodeLatest(latest: LatestWrite): Buffer {
  invariant(isDataWrite(latest.write), 'a latest record holds a put or a delete');
  invariant(!latest.write.hasOverlappedRollback && !latest.write.isProtected, 'a latest record carries no flags');
  const write = encodeWrite(latest.write);
  const out = Buffer.allocUnsafe(HEADER_BYTES + write.length + CRC_BYTES);
  out[0] = LATEST_RECORD_VERSION;
  out.writeBigUInt64BE(latest.commitTs, 1);
  write.copy(out, HEADER_BYTES);
  const bodyEnd = HEADER_BYTES + write.length;
  out.writeUInt32BE(crc32(out, 0, bodyEnd), bodyEnd);
  return out;
}

/** Decodes a latest record; a bad version, length, checksum or kind is Corruption (thrown). */
export function decodeLatest(bytes: Buffer): LatestWrite {
  if (bytes.length < HEADER_BYTES + CRC_BYTES + 1) throw corrupt(`${bytes.length} bytes is too short`);
  if (bytes[0] !== LATEST_RECORD_VERSION) throw corrupt(`unknown version ${bytes[0]}`);
  const bodyEnd = bytes.length - CRC_BYTES;
  if (crc32(bytes, 0, bodyEnd) !== bytes.readUInt32BE(bodyEnd)) throw corrupt('checksum mismatch');
  const write = decodeWrite(bytes.subarray(HEADER_BYTES, bodyEnd));
  if (!isDataWrite(write)) throw corrupt(`holds a ${write.kind} write`);
  return { commitTs: bytes.readBigUInt64BE(1), write };
}

/** A latest-CF value (or its absence): null when absent. */
export function decodeLatestEntry(bytes: Buffer | null | undefined): LatestWrite | null {
  return bytes === null || bytes === undefined ? null : decodeLatest(bytes);
}
