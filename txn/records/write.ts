// The write record (write CF, at enc(key) ‖ ~commit_ts): what a transaction did to one key, or
// that it was rolled back. Layout (version 1), big-endian, checksummed:
//
//   0 version u8 = 1    1 kind u8 (1 put, 2 delete, 3 lock, 4 rollback)
//   2 flags u8 (bit 0 short value present, bit 1 overlapped rollback, bit 2 protected rollback,
//               bit 3 inline value with a u16 length)
//   3 start_ts u64      11 [short_len u8, short bytes] (bit 0) | [len u16, bytes] (bit 3)
//   .. crc32 u32 of everything before
//
// An inline value of up to 255 bytes takes the one-byte length (bit 0), as every record written
// before longer inline values existed; a longer one (up to SHORT_VALUE_BYTES_MAX, txn/limits.ts)
// the two-byte length (bit 3). The two bits never come together.
//
// A rollback record sits at commit_ts = start_ts of the rolled-back transaction. If another
// transaction already committed at exactly that ts, the rollback cannot take the slot, so it is
// recorded as `overlappedRollback` on that commit record instead (TiKV's has_overlapped_rollback):
//   1. T1 commits key k at commit_ts 10 (record at k ‖ ~10, start_ts 5).
//   2. T2 (start_ts 10) is rolled back on k: the slot k ‖ ~10 is taken, so T1's record gains the flag.
//   3. A late prewrite of T2 on k finds the flag at commit_ts = its start_ts and is refused.

import { FlotillaError, invariant, type Ts } from '../../common/pure.js';
import { crc32, putU64BE } from '../../common/pure.js';
import { inlineFormOf, inlineValueBytes, readInlineValue, writeInlineValue } from './inline-value.js';

export type WriteKind = 'put' | 'delete' | 'lock' | 'rollback';

export interface Write {
  readonly kind: WriteKind;
  readonly startTs: Ts;
  readonly shortValue: Buffer | null;
  /** A rollback of the transaction whose start_ts equals this record's commit_ts happened here. */
  readonly hasOverlappedRollback: boolean;
  /** A rollback on a primary: GC may only drop it once below the safe point (kept for fidelity). */
  readonly isProtected: boolean;
}

const WRITE_RECORD_VERSION = 1;
const KIND_CODE: Readonly<Record<WriteKind, number>> = { put: 1, delete: 2, lock: 3, rollback: 4 };
const FLAG_SHORT = 1;
const FLAG_OVERLAPPED = 2;
const FLAG_PROTECTED = 4;
const FLAG_INLINE_U16 = 8;
const FIXED_BYTES = 11;
const CRC_BYTES = 4;

function kindOfCode(code: number): WriteKind | null {
  switch (code) {
    case 1: return 'put';
    case 2: return 'delete';
    case 3: return 'lock';
    case 4: return 'rollback';
    default: return null;
  }
}

/** Whether the record carries data (put/delete) as opposed to rollback/lock markers. */
export function isDataWrite(write: Write): boolean {
  return write.kind === 'put' || write.kind === 'delete';
}

export function encodeWrite(write: Write): Buffer {
  invariant(write.shortValue === null || write.kind === 'put', 'only a put write carries a value');
  const value = write.shortValue;
  const shortBytes = value === null ? 0 : inlineValueBytes(value);
  const out = Buffer.allocUnsafe(FIXED_BYTES + shortBytes + CRC_BYTES);
  out[0] = WRITE_RECORD_VERSION;
  out[1] = KIND_CODE[write.kind];
  out[2] = (value === null ? 0 : inlineFormOf(value) === 'wide' ? FLAG_INLINE_U16 : FLAG_SHORT) | (write.hasOverlappedRollback ? FLAG_OVERLAPPED : 0) |
    (write.isProtected ? FLAG_PROTECTED : 0);
  putU64BE(out, 3, write.startTs);
  const at = value === null ? FIXED_BYTES : writeInlineValue(out, FIXED_BYTES, value);
  out.writeUInt32BE(crc32(out, 0, at), at);
  return out;
}

function corrupt(reason: string): FlotillaError {
  return new FlotillaError('Corruption', `write record: ${reason}`);
}

export function decodeWrite(bytes: Buffer): Write {
  if (bytes.length < FIXED_BYTES + CRC_BYTES) throw corrupt(`${bytes.length} bytes is too short`);
  if (bytes[0] !== WRITE_RECORD_VERSION) throw corrupt(`unknown version ${bytes[0]}`);
  const bodyEnd = bytes.length - CRC_BYTES;
  if (crc32(bytes, 0, bodyEnd) !== bytes.readUInt32BE(bodyEnd)) throw corrupt('checksum mismatch');
  const kind = kindOfCode(bytes[1]!);
  if (kind === null) throw corrupt(`unknown kind ${bytes[1]}`);
  const flags = bytes[2]!;
  if ((flags & ~(FLAG_SHORT | FLAG_OVERLAPPED | FLAG_PROTECTED | FLAG_INLINE_U16)) !== 0) throw corrupt(`unknown flags ${flags}`);
  let shortValue: Buffer | null = null;
  if ((flags & FLAG_SHORT) !== 0 && (flags & FLAG_INLINE_U16) !== 0) throw corrupt('two inline value lengths');
  if ((flags & FLAG_SHORT) !== 0) {
    shortValue = readInlineValue(bytes, FIXED_BYTES, bodyEnd, 'short');
    if (shortValue === null) throw corrupt('bad short value length');
  } else if ((flags & FLAG_INLINE_U16) !== 0) {
    shortValue = readInlineValue(bytes, FIXED_BYTES, bodyEnd, 'wide');
    if (shortValue === null) throw corrupt('bad inline value length');
  } else if (bodyEnd !== FIXED_BYTES) {
    throw corrupt('trailing bytes');
  }
  return {
    kind,
    startTs: bytes.readBigUInt64BE(3),
    shortValue,
    hasOverlappedRollback: (flags & FLAG_OVERLAPPED) !== 0,
    isProtected: (flags & FLAG_PROTECTED) !== 0,
  };
}

export type RollbackProtection = 'protected' | 'unprotected';

export function rollbackWrite(startTs: Ts, protection: RollbackProtection): Write {
  return { kind: 'rollback', startTs, shortValue: null, hasOverlappedRollback: false, isProtected: protection === 'protected' };
}
