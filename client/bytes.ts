// Keys and values as the public API takes them (Uint8Array or a UTF-8 string) turned into Buffers,
// and the client-side checks of the limits every store enforces too (so a bad argument fails at
// once, without a round trip). The store's own limit is authoritative: a store configured lower
// answers InvalidArgument, which surfaces as the same InvalidArgumentError.

import { InvalidArgumentError } from './errors.js';

export type Bytes = Uint8Array | string;

/** The store's default `key-bytes-max`. */
export const KEY_BYTES_MAX = 8 * 1024;
/** The store's default `value-bytes-max`. */
export const VALUE_BYTES_MAX = 6 * 1024 * 1024;

/**
 * A copy of the caller's bytes: a buffered transaction write, or a request waiting for the next
 * stream flush, must not change when the caller reuses its buffer afterwards.
 */
export function toBuffer(b: Bytes, what: string): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (b instanceof Uint8Array) return Buffer.from(b);
  throw new InvalidArgumentError(`${what} must be a Uint8Array or a string, got ${typeof b}`);
}

/** A non-empty key within KEY_BYTES_MAX. */
export function toKey(b: Bytes, what = 'key'): Buffer {
  const key = toBuffer(b, what);
  if (key.length === 0) throw new InvalidArgumentError(`${what} is empty`);
  if (key.length > KEY_BYTES_MAX) throw new InvalidArgumentError(`${what} has ${key.length} bytes, limit ${KEY_BYTES_MAX}`);
  return key;
}

/** A value within VALUE_BYTES_MAX (empty values are allowed). */
export function toValue(b: Bytes, what = 'value'): Buffer {
  const value = toBuffer(b, what);
  if (value.length > VALUE_BYTES_MAX) throw new InvalidArgumentError(`${what} has ${value.length} bytes, limit ${VALUE_BYTES_MAX}`);
  return value;
}

/** A scan range's bounds: start may be empty (−∞), end null or empty means +∞; end > start. */
export function toRange(start: Bytes, end: Bytes | null): { readonly start: Buffer; readonly end: Buffer } {
  const s = toBuffer(start, 'scan start');
  const e = end === null ? Buffer.alloc(0) : toBuffer(end, 'scan end');
  if (s.length > KEY_BYTES_MAX || e.length > KEY_BYTES_MAX) throw new InvalidArgumentError(`scan bound longer than ${KEY_BYTES_MAX} bytes`);
  if (e.length > 0 && Buffer.compare(e, s) <= 0) throw new InvalidArgumentError('scan end must be after scan start');
  return { start: s, end: e };
}

/** A Map key for a Buffer (latin1: one char per byte, so distinct keys stay distinct); Buffers compare by identity in a Map. */
export function keyId(key: Buffer): string {
  return key.toString('latin1');
}
