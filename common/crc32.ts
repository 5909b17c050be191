// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) for checksums on persisted records and
// snapshots. Every raft entry a store writes is checksummed, so this is on the write path: Node's
// native zlib.crc32 (Node ≥ 20.15) does it; the table-driven loop is the fallback and the
// reference the tests hold the native one to.

import * as zlib from 'node:zlib';

const TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The table-driven CRC-32 of `bytes[start, end)`, continuing from `seed` (the reference). */
export function crc32Table(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  let c = (seed ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

type NativeCrc32 = (data: Uint8Array, value?: number) => number;
const native: NativeCrc32 | undefined = (zlib as { crc32?: NativeCrc32 }).crc32;

/**
 * Below this many bytes the table loop beats the native call (whose argument checks and subarray
 * cost more than the loop below ~30 bytes, measured): hard states (25) and entry headers (10).
 */
export const CRC32_NATIVE_MIN_BYTES = 32;

/** CRC-32 of `bytes[start, end)`, continuing from `seed` (0 for a fresh checksum). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  if (native === undefined || end - start < CRC32_NATIVE_MIN_BYTES) return crc32Table(bytes, start, end, seed);
  const view = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  return native(view, seed) >>> 0;
}
