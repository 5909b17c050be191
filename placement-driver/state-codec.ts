// Byte encodings of PD's replicated commands and snapshots. Metadata is small and written rarely
// (a TSO window every ~2 s, an id batch per 1,000 ids, region epochs), so a versioned JSON body is
// the right trade: readable in a debugger, lossless (u64 as tagged decimal strings, bytes as
// base64), and a snapshot carries a CRC-32 so a corrupted one is refused, not half-applied.
//
//   command:  [version u8 = 1] [JSON]
//   snapshot: [version u8 = 1] [crc32 of JSON, u32 BE] [JSON]

import { crc32, FlotillaError } from '../common/index.js';

export const PD_CODEC_VERSION = 1;

const U64_MAX = (1n << 64n) - 1n;

interface TaggedU64 {
  readonly $u64: string;
}
interface TaggedBytes {
  readonly $bytes: string;
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { $u64: value.toString(10) } satisfies TaggedU64;
  // JSON.stringify calls Buffer#toJSON before the replacer sees the value; read the original.
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return { $bytes: Buffer.from(original.buffer, original.byteOffset, original.byteLength).toString('base64') } satisfies TaggedBytes;
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$u64') {
      const text = (value as TaggedU64).$u64;
      if (!/^(0|[1-9][0-9]{0,19})$/.test(text)) throw new FlotillaError('Corruption', `PD record: bad u64 ${JSON.stringify(text)}`);
      const n = BigInt(text);
      if (n > U64_MAX) throw new FlotillaError('Corruption', `PD record: u64 ${text} is past 2^64 − 1`);
      return n;
    }
    if (keys.length === 1 && keys[0] === '$bytes') return Buffer.from((value as TaggedBytes).$bytes, 'base64');
  }
  return value;
}

export function encodeJsonRecord(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value, replacer), 'utf8');
  const out = Buffer.allocUnsafe(1 + body.length);
  out[0] = PD_CODEC_VERSION;
  body.copy(out, 1);
  return out;
}

export function decodeJsonRecord(bytes: Uint8Array, what: string): unknown {
  if (bytes.length < 1 || bytes[0] !== PD_CODEC_VERSION) {
    throw new FlotillaError('Corruption', `${what}: unknown encoding version ${bytes[0] ?? 'none'}`);
  }
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.byteLength - 1).toString('utf8'), reviver);
  } catch (err) {
    if (err instanceof FlotillaError) throw err;
    throw new FlotillaError('Corruption', `${what}: undecodable: ${(err as Error).message}`, { cause: err });
  }
}

export function encodeChecksummedRecord(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value, replacer), 'utf8');
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = PD_CODEC_VERSION;
  out.writeUInt32BE(crc32(body), 1);
  body.copy(out, 5);
  return out;
}

export function decodeChecksummedRecord(bytes: Uint8Array, what: string): unknown {
  if (bytes.length < 5 || bytes[0] !== PD_CODEC_VERSION) {
    throw new FlotillaError('Corruption', `${what}: unknown encoding version ${bytes[0] ?? 'none'}`);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const expected = buf.readUInt32BE(1);
  const actual = crc32(buf, 5);
  if (expected !== actual) throw new FlotillaError('Corruption', `${what}: checksum mismatch (stored ${expected}, computed ${actual})`);
  try {
    return JSON.parse(buf.subarray(5).toString('utf8'), reviver);
  } catch (err) {
    if (err instanceof FlotillaError) throw err;
    throw new FlotillaError('Corruption', `${what}: undecodable: ${(err as Error).message}`, { cause: err });
  }
}
