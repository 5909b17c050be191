// The lock record (lock CF, at enc(key)): a prewritten, uncommitted mutation of one transaction.
// Layout (version 1), big-endian, checksummed because a wrong lock is a wrong commit:
//
//   0  version u8 = 1          1  kind u8 (1 put, 2 delete, 3 lock)
//   2  start_ts u64            10 ttl_ms u32          14 txn_size u32
//   18 min_commit_ts u64       26 primary_len u16     28 primary bytes
//   .. has_short u8: 0 none | 1 [short_len u8, short bytes] | 2 [len u16, bytes] (a value over 255
//      bytes, up to SHORT_VALUE_BYTES_MAX)                   .. crc32 u32 of everything before

import { FlotillaError, invariant, type Ts } from '../../common/pure.js';
import { crc32, putU64BE } from '../../common/pure.js';
import { inlineFormOf, inlineValueBytes, readInlineValue, writeInlineValue } from './inline-value.js';

export type LockKind = 'put' | 'delete' | 'lock';

export interface Lock {
  readonly kind: LockKind;
  /** The transaction's primary key (user key): its commit record decides the transaction. */
  readonly primary: Buffer;
  readonly startTs: Ts;
  /** Milliseconds after start_ts's physical time after which the lock may be rolled back. */
  readonly ttlMs: number;
  /** A put's value when short enough to live inline; null otherwise (then in the default CF). */
  readonly shortValue: Buffer | null;
  /** Keys the transaction writes (a hint for resolvers). */
  readonly txnSize: number;
  /** Commit must use commit_ts ≥ this; readers push it (checkTxnStatus) so they need not wait. */
  readonly minCommitTs: Ts;
}

const LOCK_RECORD_VERSION = 1;
const KIND_CODE: Readonly<Record<LockKind, number>> = { put: 1, delete: 2, lock: 3 };
const FIXED_BYTES = 28;
const CRC_BYTES = 4;

function kindOfCode(code: number): LockKind | null {
  switch (code) {
    case 1: return 'put';
    case 2: return 'delete';
    case 3: return 'lock';
    default: return null;
  }
}

export function encodeLock(lock: Lock): Buffer {
  invariant(lock.primary.length <= 0xffff, 'lock primary too long');
  const value = lock.shortValue;
  invariant(lock.kind === 'put' || value === null, 'only a put lock carries a value');
  const shortBytes = 1 + (value === null ? 0 : inlineValueBytes(value));
  const out = Buffer.allocUnsafe(FIXED_BYTES + lock.primary.length + shortBytes + CRC_BYTES);
  out[0] = LOCK_RECORD_VERSION;
  out[1] = KIND_CODE[lock.kind];
  putU64BE(out, 2, lock.startTs);
  out.writeUInt32BE(lock.ttlMs, 10);
  out.writeUInt32BE(lock.txnSize, 14);
  putU64BE(out, 18, lock.minCommitTs);
  out.writeUInt16BE(lock.primary.length, 26);
  lock.primary.copy(out, FIXED_BYTES);
  let at = FIXED_BYTES + lock.primary.length;
  if (value === null) {
    out[at++] = 0;
  } else {
    out[at++] = inlineFormOf(value) === 'wide' ? 2 : 1;
    at = writeInlineValue(out, at, value);
  }
  out.writeUInt32BE(crc32(out, 0, at), at);
  return out;
}

function corrupt(reason: string): FlotillaError {
  return new FlotillaError('Corruption', `lock record: ${reason}`);
}

/**
 * A lock-CF value (or its absence) as a lock: null when absent. A released lock is deleted, never
 * left as an empty "unlocked" marker (the marker of earlier versions is gone: no data of theirs
 * exists), so an empty value is Corruption like any other bad record.
 */
export function decodeLockEntry(bytes: Buffer | null | undefined): Lock | null {
  return bytes === null || bytes === undefined ? null : decodeLock(bytes);
}

/** Decodes a lock record; a bad version, length or checksum is Corruption (thrown: not an operating error). */
export function decodeLock(bytes: Buffer): Lock {
  if (bytes.length < FIXED_BYTES + 1 + CRC_BYTES) throw corrupt(`${bytes.length} bytes is too short`);
  if (bytes[0] !== LOCK_RECORD_VERSION) throw corrupt(`unknown version ${bytes[0]}`);
  const bodyEnd = bytes.length - CRC_BYTES;
  if (crc32(bytes, 0, bodyEnd) !== bytes.readUInt32BE(bodyEnd)) throw corrupt('checksum mismatch');
  const kind = kindOfCode(bytes[1]!);
  if (kind === null) throw corrupt(`unknown kind ${bytes[1]}`);
  const primaryLength = bytes.readUInt16BE(26);
  let at = FIXED_BYTES + primaryLength;
  if (at + 1 > bodyEnd) throw corrupt('truncated primary');
  const primary = Buffer.from(bytes.subarray(FIXED_BYTES, at));
  let shortValue: Buffer | null = null;
  const hasShort = bytes[at++];
  if (hasShort === 1 || hasShort === 2) {
    shortValue = readInlineValue(bytes, at, bodyEnd, hasShort === 2 ? 'wide' : 'short');
    if (shortValue === null) throw corrupt(hasShort === 2 ? 'bad inline value length' : 'bad short value length');
    at = bodyEnd;
  } else if (hasShort !== 0) {
    throw corrupt(`bad short value flag ${hasShort}`);
  }
  if (at !== bodyEnd) throw corrupt('trailing bytes');
  return {
    kind,
    primary,
    startTs: bytes.readBigUInt64BE(2),
    ttlMs: bytes.readUInt32BE(10),
    txnSize: bytes.readUInt32BE(14),
    minCommitTs: bytes.readBigUInt64BE(18),
    shortValue,
  };
}
