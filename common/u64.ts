// 64-bit unsigned integers: big-endian and bit-complemented (descending) binary encodings, and the
// lossless wire form (decimal strings, as the proto loader is configured with `longs: String`).
// Timestamps and other u64s are `bigint` in code; a JS double would silently lose bits above 2^53.

import { FlotillaError } from './errors.js';

export const U64_MAX = (1n << 64n) - 1n;
export const U64_BYTES = 8;

function checkU64(value: bigint, what: string): void {
  if (value < 0n || value > U64_MAX) {
    throw new FlotillaError('InvalidArgument', `${what}: ${value} is not a u64`);
  }
}

// Node's writeBigUInt64BE splits its BigInt with `&`, `>>` and Number() — new BigInts on every
// call, ~120 ns each here; timestamps are written several times per transactional key (versioned
// keys, write, lock and latest records). Assigning to a BigUint64Array element converts without
// allocating (~12 ns); its bytes are then copied out in big-endian order.
const scratch64 = new BigUint64Array(1);
const scratch8 = new Uint8Array(scratch64.buffer);
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * `buf.writeBigUInt64BE(value, offset)` — the same bytes, and the same errors for a value outside
 * [0, 2^64) or an offset out of bounds (those calls are handed to it) — without its allocations.
 * With `isComplemented`, the bits of `value` are written inverted (U64_MAX ^ value).
 */
export function putU64BE(buf: Buffer, offset: number, value: bigint, isComplemented = false): void {
  if (value < 0n || value > U64_MAX || !Number.isInteger(offset) || offset < 0 || offset > buf.length - U64_BYTES) {
    buf.writeBigUInt64BE(isComplemented && value >= 0n && value <= U64_MAX ? U64_MAX ^ value : value, offset);
    return;
  }
  scratch64[0] = value;
  const mask = isComplemented ? 0xff : 0;
  if (HOST_IS_LITTLE_ENDIAN) {
    for (let i = 0; i < U64_BYTES; i++) buf[offset + i] = scratch8[7 - i]! ^ mask;
  } else {
    for (let i = 0; i < U64_BYTES; i++) buf[offset + i] = scratch8[i]! ^ mask;
  }
}

/** Writes `value` big-endian at `offset`; returns the offset after it. */
export function writeU64BE(buf: Buffer, offset: number, value: bigint): number {
  checkU64(value, 'writeU64BE');
  putU64BE(buf, offset, value);
  return offset + U64_BYTES;
}

export function readU64BE(buf: Uint8Array, offset: number): bigint {
  if (offset < 0 || offset + U64_BYTES > buf.length) {
    throw new FlotillaError('Corruption', `readU64BE: need 8 bytes at offset ${offset}, have ${buf.length}`);
  }
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).readBigUInt64BE(offset);
}

const TWO_32 = 0x1_0000_0000;

/**
 * Writes a safe non-negative integer (raft terms and indexes, ids) as a big-endian u64 — the same
 * bytes as writeBigUInt64BE(BigInt(value)), without a BigInt per call (they sit on the raft write
 * path: every entry, hard state and apply state). Returns the offset after it.
 */
export function writeSafeU64BE(buf: Buffer, offset: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new FlotillaError('InvalidArgument', `writeSafeU64BE: ${value} is not a safe non-negative integer`);
  const hi = Math.floor(value / TWO_32);
  buf.writeUInt32BE(hi, offset);
  buf.writeUInt32BE(value - hi * TWO_32, offset + 4);
  return offset + U64_BYTES;
}

/**
 * Reads a big-endian u64 that must be a safe integer (the inverse of writeSafeU64BE); a larger
 * value is Corruption — `what` names the field in the message.
 */
export function readSafeU64BE(buf: Buffer, offset: number, what = 'u64'): number {
  const hi = buf.readUInt32BE(offset);
  if (hi > 0x1f_ffff) throw new FlotillaError('Corruption', `${what}: ${buf.readBigUInt64BE(offset)} exceeds 2^53-1`);
  return hi * TWO_32 + buf.readUInt32BE(offset + 4);
}

/** Big-endian u64: byte order equals numeric order. */
export function encodeU64(value: bigint): Buffer {
  const buf = Buffer.allocUnsafe(U64_BYTES);
  writeU64BE(buf, 0, value);
  return buf;
}

export function decodeU64(buf: Uint8Array, offset = 0): bigint {
  return readU64BE(buf, offset);
}

/** Bit-complemented big-endian u64: byte order is the reverse of numeric order (newest version first). */
export function writeU64DescBE(buf: Buffer, offset: number, value: bigint): number {
  checkU64(value, 'writeU64DescBE');
  putU64BE(buf, offset, value, true);
  return offset + U64_BYTES;
}

export function encodeU64Desc(value: bigint): Buffer {
  const buf = Buffer.allocUnsafe(U64_BYTES);
  writeU64DescBE(buf, 0, value);
  return buf;
}

export function decodeU64Desc(buf: Uint8Array, offset = 0): bigint {
  return U64_MAX ^ readU64BE(buf, offset);
}

const DECIMAL_U64 = /^(0|[1-9][0-9]{0,19})$/;

/** The wire form of a u64 (decimal string). */
export function u64ToWire(value: bigint): string {
  checkU64(value, 'u64ToWire');
  return value.toString(10);
}

/**
 * Parses a wire u64. Accepts the loader's decimal string, or a JS number only when it is a safe
 * integer (so no precision was lost before it reached us). Malformed input → InvalidArgument.
 */
export function u64FromWire(value: string | number, field = 'u64'): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new FlotillaError('InvalidArgument', `${field}: ${value} is not a lossless u64`, { details: { field } });
    }
    return BigInt(value);
  }
  if (!DECIMAL_U64.test(value)) {
    throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(value.slice(0, 32))} is not a decimal u64`, { details: { field } });
  }
  const parsed = BigInt(value);
  if (parsed > U64_MAX) {
    throw new FlotillaError('InvalidArgument', `${field}: ${value} exceeds 2^64-1`, { details: { field } });
  }
  return parsed;
}

/**
 * A u64 that must also be a safe JS integer (raft terms and indexes, ids): the decoder asserts it,
 * as STYLE.md allows, so the rest of the code may use `number`.
 */
export function u64ToSafeNumber(value: bigint | string, field = 'u64'): number {
  const big = typeof value === 'bigint' ? value : u64FromWire(value, field);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FlotillaError('InvalidArgument', `${field}: ${big} exceeds 2^53-1`, { details: { field } });
  }
  return Number(big);
}
