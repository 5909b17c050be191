// Memcomparable key encoding (the TiKV/TiDB "bytes" encoding): the raw key is cut into groups of
// 8 bytes; each group is written padded with 0x00 and followed by a marker 0xFF − padding. So an
// encoded key is never a prefix of another's encoding, byte order of encodings equals byte order of
// raw keys, and an encoded key followed by any suffix (e.g. a version) still sorts like the raw key.
//
//   raw "abc"      → 61 62 63 00 00 00 00 00 | FA           (5 bytes of padding)
//   raw 8 × 0x01   → 01 … 01 | FF   00 … 00 | F7            (a full group, then an empty one)

import { FlotillaError } from './errors.js';

export const KEY_GROUP_BYTES = 8;
const ENCODED_GROUP_BYTES = KEY_GROUP_BYTES + 1;
const MARKER_FULL = 0xff;
const PAD = 0x00;

/** Encoded length of a raw key of `rawLength` bytes. */
export function encodedKeyLength(rawLength: number): number {
  return (Math.floor(rawLength / KEY_GROUP_BYTES) + 1) * ENCODED_GROUP_BYTES;
}

/** Encodes `raw` into `out` at `offset` (which must have room); returns the offset after it. */
export function encodeKeyInto(raw: Uint8Array, out: Uint8Array, offset: number): number {
  let pos = offset;
  let index = 0;
  // Byte by byte: every key of every command is encoded here, and a subarray per group was an
  // object per 8 bytes of key.
  for (;;) {
    const remaining = raw.length - index;
    if (remaining >= KEY_GROUP_BYTES) {
      for (let i = 0; i < KEY_GROUP_BYTES; i++) out[pos + i] = raw[index + i]!;
      out[pos + KEY_GROUP_BYTES] = MARKER_FULL;
      pos += ENCODED_GROUP_BYTES;
      index += KEY_GROUP_BYTES;
      continue;
    }
    for (let i = 0; i < remaining; i++) out[pos + i] = raw[index + i]!;
    for (let i = remaining; i < KEY_GROUP_BYTES; i++) out[pos + i] = PAD;
    out[pos + KEY_GROUP_BYTES] = MARKER_FULL - (KEY_GROUP_BYTES - remaining);
    return pos + ENCODED_GROUP_BYTES;
  }
}

/** The memcomparable encoding of `raw`. */
export function encodeKey(raw: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(encodedKeyLength(raw.length));
  encodeKeyInto(raw, out, 0);
  return out;
}

export type KeyDecodeResult =
  | { readonly ok: true; readonly key: Buffer; readonly bytesRead: number }
  | { readonly ok: false; readonly reason: string };

/** Decodes one encoded key starting at `offset`; a malformed encoding is reported, never thrown. */
export function tryDecodeKey(encoded: Uint8Array, offset = 0): KeyDecodeResult {
  const chunks: Uint8Array[] = [];
  let pos = offset;
  let total = 0;
  for (;;) {
    if (pos + ENCODED_GROUP_BYTES > encoded.length) {
      return { ok: false, reason: `truncated key group at offset ${pos} (length ${encoded.length})` };
    }
    const marker = encoded[pos + KEY_GROUP_BYTES]!;
    const padding = MARKER_FULL - marker;
    if (padding > KEY_GROUP_BYTES) {
      return { ok: false, reason: `bad marker 0x${marker.toString(16)} at offset ${pos + KEY_GROUP_BYTES}` };
    }
    const used = KEY_GROUP_BYTES - padding;
    for (let i = pos + used; i < pos + KEY_GROUP_BYTES; i++) {
      if (encoded[i] !== PAD) return { ok: false, reason: `non-zero padding at offset ${i}` };
    }
    chunks.push(encoded.subarray(pos, pos + used));
    total += used;
    pos += ENCODED_GROUP_BYTES;
    if (padding !== 0) break;
  }
  const key = Buffer.allocUnsafe(total);
  let at = 0;
  for (const c of chunks) {
    key.set(c, at);
    at += c.length;
  }
  return { ok: true, key, bytesRead: pos - offset };
}

/** Decodes one encoded key at `offset`; throws Corruption on a malformed encoding. */
export function decodeKey(encoded: Uint8Array, offset = 0): { key: Buffer; bytesRead: number } {
  const result = tryDecodeKey(encoded, offset);
  if (!result.ok) throw new FlotillaError('Corruption', `memcomparable key: ${result.reason}`);
  return { key: result.key, bytesRead: result.bytesRead };
}

/** Keys up to this many bytes are compared in JavaScript; longer ones by Buffer.compare (memcmp). */
const JS_COMPARE_BYTES_MAX = 64;

/**
 * Byte-wise comparison of two keys (raw or encoded alike): negative, zero or positive.
 * Buffer.compare is a call into C++ (~40 ns here for a 20-byte key); a loop over a short key
 * costs a quarter of that, and every write checks each of its keys against its region's bounds
 * twice (at propose and at apply). Long keys go to memcmp.
 */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  if (n > JS_COMPARE_BYTES_MAX) return Buffer.compare(a, b);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Index of the last item whose key (by `keyOf`) is ≤ `key` in `items` sorted ascending by it, or
 * −1: the floor of a sorted key list in O(log n). PD's region index and the client's region cache
 * both find "the region whose start is at or before this key" with it.
 */
export function floorIndexByKey<T>(items: readonly T[], keyOf: (item: T) => Uint8Array, key: Uint8Array): number {
  let lo = 0;
  let hi = items.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keyOf(items[mid]!), key) <= 0) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
