// A value kept inline in a lock or write record: a length, then the bytes, ending the record's
// body. Up to 255 bytes the length takes one byte (the form every record had before longer inline
// values existed); longer values, up to SHORT_VALUE_BYTES_MAX (txn/limits.ts), take two. Each
// record says which form follows (write: a flag bit; lock: its has_short byte).

import { invariant } from '../../common/pure.js';

export type InlineForm = 'short' | 'wide';

const ONE_BYTE_LENGTH_MAX = 0xff;
const TWO_BYTE_LENGTH_MAX = 0xffff;

export function inlineFormOf(value: Buffer): InlineForm {
  invariant(value.length <= TWO_BYTE_LENGTH_MAX, 'inline value too long');
  return value.length > ONE_BYTE_LENGTH_MAX ? 'wide' : 'short';
}

/** Bytes the value takes in a record, its length field included. */
export function inlineValueBytes(value: Buffer): number {
  return (inlineFormOf(value) === 'wide' ? 2 : 1) + value.length;
}

/** Writes the length and the bytes at `at`; returns the offset after them. */
export function writeInlineValue(out: Buffer, at: number, value: Buffer): number {
  if (inlineFormOf(value) === 'wide') {
    out.writeUInt16BE(value.length, at);
    at += 2;
  } else {
    out[at++] = value.length;
  }
  value.copy(out, at);
  return at + value.length;
}

/**
 * The value of `form` at `at`, which must end exactly at `bodyEnd` (a copy); null when the length
 * disagrees with the bytes, or the wide form holds a value the short one could (never written).
 */
export function readInlineValue(bytes: Buffer, at: number, bodyEnd: number, form: InlineForm): Buffer | null {
  const lengthBytes = form === 'wide' ? 2 : 1;
  if (at + lengthBytes > bodyEnd) return null;
  const length = form === 'wide' ? bytes.readUInt16BE(at) : bytes[at]!;
  if (form === 'wide' && length <= ONE_BYTE_LENGTH_MAX) return null;
  if (at + lengthBytes + length !== bodyEnd) return null;
  return Buffer.from(bytes.subarray(at + lengthBytes, bodyEnd));
}
