// A direct encoder from the plain objects proto-loader takes (`__Input` types: uint64 as decimal
// strings or numbers, enum names, Buffers) to protobuf bytes, for the messages on the hot path.
// proto-loader's own `serialize` is protobufjs `encode(fromObject(value)).finish()`: fromObject
// builds a Message instance with a Long object per 64-bit field, encode records every write as
// an operation in a list, and finish runs the list into a new buffer. A leader serving
// transfers spent ~4 % of its main thread there, on its answers alone (stop 56). Here each field
// is written once, straight into a reused scratch buffer, and the bytes are copied out.
//
// The bytes are the library's, byte for byte — test/proto/plain-encoder.test.ts judges them
// against proto-loader's serialize over generated objects of every type in PROTO_FILES. Values
// the fast path does not take as they are (a uint64 given as a Long, a negative JS number in a
// 64-bit field, base64 text for bytes, an enum name the type does not have, a string under 40
// characters that is not ASCII, a message given as a class instance, nesting past the limit…)
// send the whole message to the library's serializer instead, so every input, odd or wrong,
// still gets exactly the library's bytes or its error.

import { type MessageInput, type MessageName, messageCodec } from './load.js';
import { loaderProtobuf } from './loader-protobuf.js';
import { loadReflection, type PbField, type PbType, type Protobufjs } from './reflection.js';

/** Nesting beyond this goes to the library (which throws, as protobufjs and protoc do past 100). */
const RECURSION_LIMIT = 100;
/** The scratch buffer's size at rest; a larger message grows it, and it shrinks back after. */
const SCRATCH_BYTES = 64 * 1024;
/** protobufjs writes strings shorter than this with its own UTF-8 code (lone surrogates differ from Buffer's). */
const LIBRARY_UTF8_BELOW = 40;

/** Thrown inside an encode to hand the message to the library; never escapes this module. */
const BAIL: unique symbol = Symbol('plain-encoder: not on the fast path');

// ── the output buffer (one encode runs at a time: synchronous, not re-entrant) ──

let buf: Buffer = Buffer.allocUnsafe(SCRATCH_BYTES);
let pos = 0;

function ensure(extra: number): void {
  if (pos + extra <= buf.length) return;
  let size = buf.length * 2;
  while (size < pos + extra) size *= 2;
  const grown = Buffer.allocUnsafe(size);
  buf.copy(grown, 0, 0, pos);
  buf = grown;
}

function bail(): never {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- a private sentinel, caught by encoderOf
  throw BAIL;
}

function varint32(v: number): void {
  ensure(5);
  while (v > 127) {
    buf[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  buf[pos++] = v;
}

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

let hi = 0;
let lo = 0;
const TWO_32 = 4294967296;

/**
 * A 64-bit field's value into `hi`/`lo` (its two's-complement bits), for the inputs the library
 * turns into the same bits through Long.fromValue: decimal text below 2^64 (long-decimal.ts's
 * fast path; a signed field keeps the bits of text at or above 2^63) and non-negative safe
 * integers. Anything else goes to the library.
 */
function bits64(v: unknown): void {
  if (typeof v === 'string') {
    const n = v.length;
    if (n === 0 || n > 20) bail();
    if (n <= 15) {
      let x = 0;
      for (let i = 0; i < n; i++) {
        const d = v.charCodeAt(i) - 48;
        if (d < 0 || d > 9) bail();
        x = x * 10 + d;
      }
      lo = x % TWO_32;
      hi = (x - lo) / TWO_32;
      return;
    }
    // 16 to 20 digits: times ten and plus a digit on two 32-bit limbs (each step exact in a double).
    let l = 0;
    let h = 0;
    for (let i = 0; i < n; i++) {
      const d = v.charCodeAt(i) - 48;
      if (d < 0 || d > 9) bail();
      const low = l * 10 + d;
      l = low % TWO_32;
      h = h * 10 + (low - l) / TWO_32;
      if (h >= TWO_32) bail(); // 2^64 or more: the library wraps it
    }
    lo = l;
    hi = h;
    return;
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) {
    lo = v % TWO_32;
    hi = (v - lo) / TWO_32;
    return;
  }
  bail();
}

function varint64(): void {
  ensure(10);
  let h = hi;
  let l = lo;
  while (h !== 0) {
    buf[pos++] = (l & 127) | 128;
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
  }
  while (l > 127) {
    buf[pos++] = (l & 127) | 128;
    l >>>= 7;
  }
  buf[pos++] = l;
}

function fixed32(v: number): void {
  ensure(4);
  buf.writeUInt32LE(v >>> 0, pos);
  pos += 4;
}

/** Starts a length-delimited body: one byte kept for its length. */
function begin(): number {
  ensure(1);
  return pos++;
}

/** Ends the body begun at `at`: its length written there, the body moved up if it takes more than one byte. */
function end(at: number): void {
  const length = pos - at - 1;
  if (length < 128) {
    buf[at] = length;
    return;
  }
  const n = varintSize(length);
  ensure(n - 1);
  buf.copyWithin(at + n, at + 1, pos);
  pos += n - 1;
  const keep = pos;
  pos = at;
  varint32(length);
  pos = keep;
}

/** The helpers generated encoders call (W). */
const WRITE = {
  bail,
  /** A one-byte tag. */
  b: (v: number): void => {
    ensure(1);
    buf[pos++] = v;
  },
  v32: varint32,
  u32: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    varint32(v >>> 0);
  },
  i32: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    const x = v | 0;
    if (x >= 0) {
      varint32(x);
      return;
    }
    lo = x >>> 0;
    hi = 0xffffffff;
    varint64();
  },
  s32: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    const x = v | 0;
    varint32(((x << 1) ^ (x >> 31)) >>> 0);
  },
  f32u: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    fixed32(v >>> 0);
  },
  f32i: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    fixed32(v | 0);
  },
  bool: (v: unknown): void => {
    if (typeof v !== 'boolean') bail();
    ensure(1);
    buf[pos++] = v ? 1 : 0;
  },
  float: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    ensure(4);
    buf.writeFloatLE(v, pos);
    pos += 4;
  },
  double: (v: unknown): void => {
    if (typeof v !== 'number') bail();
    ensure(8);
    buf.writeDoubleLE(v, pos);
    pos += 8;
  },
  u64: (v: unknown): void => {
    bits64(v);
    varint64();
  },
  s64: (v: unknown): void => {
    bits64(v);
    const mask = hi >> 31;
    hi = (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0;
    lo = ((lo << 1) ^ mask) >>> 0;
    varint64();
  },
  f64: (v: unknown): void => {
    bits64(v);
    ensure(8);
    buf.writeUInt32LE(lo, pos);
    buf.writeUInt32LE(hi, pos + 4);
    pos += 8;
  },
  enumv: (v: unknown, values: ReadonlyMap<string, number>): void => {
    let n: number | undefined;
    if (typeof v === 'string') n = values.get(v);
    else if (typeof v === 'number') n = v; // the library writes any number as int32 does: v | 0
    if (n === undefined) bail();
    WRITE.i32(n);
  },
  str: (v: unknown): void => {
    if (typeof v !== 'string') bail();
    const n = v.length;
    const head = varintSize(n);
    ensure(5 + n); // the chars first, then the length before them (its write must not grow the buffer)
    let p = pos + head;
    for (let i = 0; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c > 127) {
        if (n < LIBRARY_UTF8_BELOW) bail();
        const length = Buffer.byteLength(v, 'utf8');
        varint32(length);
        ensure(length);
        pos += buf.write(v, pos, length, 'utf8');
        return;
      }
      buf[p++] = c;
    }
    varint32(n);
    pos = p;
  },
  bytes: (v: unknown): void => {
    if (!(v instanceof Uint8Array)) bail();
    const n = v.length;
    varint32(n);
    ensure(n);
    if (n < 64) {
      for (let i = 0; i < n; i++) buf[pos + i] = v[i]!;
    } else {
      buf.set(v, pos);
    }
    pos += n;
  },
  msg: (slot: Slot, v: unknown, depth: number): void => {
    if (typeof v !== 'object' || v === null) bail();
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) bail();
    const at = begin();
    slot.fn(v as Record<string, unknown>, depth + 1);
    end(at);
  },
  /** A repeated field's value: an array, else the library decides (it skips falsy values and refuses others). */
  list: (v: unknown): readonly unknown[] => {
    if (!Array.isArray(v)) bail();
    return v;
  },
  begin,
  end,
};

// ── plans ──

/** The writer of each scalar type, and whether a repeated field of it is packed (proto3). */
const SCALARS: Readonly<Record<string, { readonly write: string; readonly wireType: number }>> = {
  uint64: { write: 'W.u64', wireType: 0 }, int64: { write: 'W.u64', wireType: 0 }, sint64: { write: 'W.s64', wireType: 0 },
  fixed64: { write: 'W.f64', wireType: 1 }, sfixed64: { write: 'W.f64', wireType: 1 },
  uint32: { write: 'W.u32', wireType: 0 }, int32: { write: 'W.i32', wireType: 0 }, sint32: { write: 'W.s32', wireType: 0 },
  fixed32: { write: 'W.f32u', wireType: 5 }, sfixed32: { write: 'W.f32i', wireType: 5 },
  bool: { write: 'W.bool', wireType: 0 }, float: { write: 'W.float', wireType: 5 }, double: { write: 'W.double', wireType: 1 },
  string: { write: 'W.str', wireType: 2 }, bytes: { write: 'W.bytes', wireType: 2 },
};

/** One message type's encoder; `fn` is filled once compiled (types may refer to each other). */
interface Slot {
  fn: (m: Record<string, unknown>, depth: number) => void;
}

const slots = new Map<string, Slot>();

function tagText(id: number, wireType: number): string {
  const t = ((id << 3) | wireType) >>> 0;
  return t < 128 ? `W.b(${t})` : `W.v32(${t})`;
}

/**
 * The encoder of `type`, compiled into one function: the fields in field-number order (as
 * protobufjs writes them), each read once from the object and written if present.
 */
function slotOf(type: PbType, pb: Protobufjs): Slot {
  const known = slots.get(type.fullName);
  if (known !== undefined) return known;
  const slot: Slot = { fn: () => { throw new Error(`plain-encoder: ${type.fullName} used before compiled`); } };
  slots.set(type.fullName, slot);
  const fields = type.fieldsArray.map((f) => f.resolve()).sort((a, b) => a.id - b.id);
  const subs: Slot[] = [];
  const enums: ReadonlyMap<string, number>[] = [];
  const lines: string[] = [];
  for (const f of fields) lines.push(fieldCode(type, f, pb, subs, enums));
  const body = `
    return function encode_${type.fullName.replace(/\W/g, '_')}(m, depth) {
      if (depth > ${RECURSION_LIMIT}) W.bail();
      let v;
      ${lines.join('\n')}
    };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the .proto reflection only, like protobufjs's own encoders
  const make = new Function('W', 'M', 'E', body) as (w: typeof WRITE, m: Slot[], e: ReadonlyMap<string, number>[]) => Slot['fn'];
  slot.fn = make(WRITE, subs, enums);
  return slot;
}

function fieldCode(type: PbType, f: PbField, pb: Protobufjs, subs: Slot[], enums: ReadonlyMap<string, number>[]): string {
  if (f.map) throw new Error(`plain-encoder: ${type.fullName}.${f.name} is a map field (not supported)`);
  if (f.delimited === true) throw new Error(`plain-encoder: ${type.fullName}.${f.name} is a group (not supported)`);
  if (f.required) throw new Error(`plain-encoder: ${type.fullName}.${f.name} is required (proto2; not supported)`);
  const resolved = f.resolvedType;
  let write: (x: string) => string;
  let wireType: number;
  let isPackable: boolean;
  if (resolved instanceof pb.Enum) {
    const index = enums.length;
    enums.push(new Map(Object.entries(resolved.values)));
    write = (x) => `W.enumv(${x}, E[${index}])`;
    wireType = 0;
    isPackable = true;
  } else if (resolved !== null) {
    const index = subs.length;
    subs.push(slotOf(resolved, pb));
    write = (x) => `W.msg(M[${index}], ${x}, depth)`;
    wireType = 2;
    isPackable = false;
  } else {
    const scalar = SCALARS[f.type];
    if (scalar === undefined) throw new Error(`plain-encoder: ${type.fullName}.${f.name} has unknown type ${f.type}`);
    write = (x) => `${scalar.write}(${x})`;
    wireType = scalar.wireType;
    isPackable = wireType !== 2;
  }
  const read = `v = m[${JSON.stringify(f.name)}];`;
  if (!f.repeated) return `${read} if (v != null) { ${tagText(f.id, wireType)}; ${write('v')}; }`;
  if (f.packed && isPackable) {
    return `${read} if (v != null) { const a = W.list(v); if (a.length !== 0) { ${tagText(f.id, 2)}; const at = W.begin(); for (let i = 0; i < a.length; i++) ${write('a[i]')}; W.end(at); } }`;
  }
  return `${read} if (v != null) { const a = W.list(v); for (let i = 0; i < a.length; i++) { ${tagText(f.id, wireType)}; ${write('a[i]')}; } }`;
}

// ── entry points ──

/**
 * An encoder of message `name` from proto-loader's input object, giving the bytes proto-loader's
 * serialize gives (and its errors). Compiled once per type; fetch it once.
 */
export function plainEncoder<N extends MessageName>(name: N): (value: MessageInput<N>) => Buffer {
  const codec = messageCodec(name);
  const encode = encoderOf<object>(slotOf(loadReflection().lookupType(name), loaderProtobuf<Protobufjs>()), (value) => codec.encode(value as MessageInput<N>));
  return encode as (value: MessageInput<N>) => Buffer;
}

/**
 * The encoder of a message type parsed elsewhere with the same protobufjs instance (its
 * `fullName` must not be one of ours), falling back to `slow`. For tests: every scalar kind,
 * including those our .proto files do not use yet.
 */
export function plainEncoderOfType(type: object, slow: (value: object) => Buffer): (value: object) => Buffer {
  return encoderOf(slotOf(type as PbType, loaderProtobuf<Protobufjs>()), slow);
}

/** How many messages went to the library's serializer (tests: the fast path must be the common one). */
export const plainEncoderStats = { fallbacks: 0 };

function encoderOf<T extends object>(slot: Slot, slow: (value: T) => Buffer): (value: T) => Buffer {
  return (value: T): Buffer => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return slow(value);
    pos = 0;
    try {
      slot.fn(value as Record<string, unknown>, 0);
      const out = Buffer.allocUnsafe(pos);
      buf.copy(out, 0, 0, pos);
      return out;
    } catch (err) {
      if (err !== BAIL) throw err;
      plainEncoderStats.fallbacks++;
      return slow(value);
    } finally {
      if (buf.length > SCRATCH_BYTES * 16) buf = Buffer.allocUnsafe(SCRATCH_BYTES);
    }
  };
}
