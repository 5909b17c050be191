// How a raw API value is stored in the raw CF: a header byte, then an optional expiry, then the
// user's bytes. Expired keys read as absent at once; a leader's sweep deletes them later.
//
//   [0x00][value]                         no TTL
//   [0x01][expires at, Unix ms, u64][value]

import { FlotillaError } from '../common/index.js';

const NO_TTL = 0x00;
const WITH_TTL = 0x01;

export function encodeRawValue(value: Buffer, expiresAtMs: number): Buffer {
  if (expiresAtMs === 0) {
    const out = Buffer.allocUnsafe(1 + value.length);
    out[0] = NO_TTL;
    value.copy(out, 1);
    return out;
  }
  const out = Buffer.allocUnsafe(9 + value.length);
  out[0] = WITH_TTL;
  out.writeBigUInt64BE(BigInt(expiresAtMs), 1);
  value.copy(out, 9);
  return out;
}

/** Whether a stored raw value carries an expiry (its header; no decoding). */
export function hasTtl(stored: Buffer): boolean {
  return stored.length >= 9 && stored[0] === WITH_TTL;
}

export interface RawValue {
  readonly value: Buffer;
  /** 0 = never expires. */
  readonly expiresAtMs: number;
}

export function decodeRawValue(stored: Buffer): RawValue {
  if (stored.length >= 1 && stored[0] === NO_TTL) return { value: stored.subarray(1), expiresAtMs: 0 };
  if (stored.length >= 9 && stored[0] === WITH_TTL) return { value: stored.subarray(9), expiresAtMs: Number(stored.readBigUInt64BE(1)) };
  throw new FlotillaError('Corruption', `raw value with unknown header ${stored.length === 0 ? 'none' : stored[0]}`);
}

/** The live value, or null if absent or expired at `nowMs`. */
export function liveRawValue(stored: Buffer | null, nowMs: number): Buffer | null {
  if (stored === null) return null;
  const v = decodeRawValue(stored);
  return v.expiresAtMs !== 0 && v.expiresAtMs <= nowMs ? null : v.value;
}
