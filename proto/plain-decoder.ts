// A direct decoder from protobuf bytes to the plain objects proto-loader hands out
// (PROTO_LOADER_OPTIONS: uint64 as decimal strings, enum names, Buffers, defaults, oneof names),
// for the messages on the hot path (the BatchCommands stream, both ways). proto-loader's own
// `deserialize` is protobufjs `toObject(decode(bytes))`: decode builds a Message instance with a
// Long object per 64-bit field, and toObject then walks every field again, builds a Long and its
// decimal text for every ABSENT 64-bit field (a Context has seven) and an empty Buffer for every
// absent bytes field. A leader serving transfers spent ~7 % of its main thread there (stop 51).
// Here the bytes are read once, straight into the output object, with defaults made by a small
// function per type.
//
// The output is the library's, field for field — test/proto/plain-decoder.test.ts judges it
// against proto-loader over generated messages of every type in PROTO_FILES — with one
// difference on malformed input, where this decoder is stricter: a field whose wire type does not
// match its declared type, a 64-bit varint cut short by the end of its message, and a string
// running past its message are refused (the library reads a mismatched field as if its wire type
// were right, takes a cut 64-bit varint's bytes as if it ended there, and clamps a string at the
// end of the top-level message). Every malformed input throws a RangeError.

import type { MessageName, MessageOutput } from './load.js';
import { loaderProtobuf } from './loader-protobuf.js';
import { loadReflection, type PbField, type PbType, type Protobufjs } from './reflection.js';

// ── plans ──

const enum Kind {
  Uint64, Int64, Sint64, Fixed64, Sfixed64,
  Uint32, Int32, Sint32, Fixed32, Sfixed32,
  Bool, Enum, Float, Double,
  String, Bytes, Message,
}

type ScalarKind = Exclude<Kind, Kind.Enum | Kind.Message>;

const SCALAR_KINDS: Readonly<Record<string, ScalarKind>> = {
  uint64: Kind.Uint64, int64: Kind.Int64, sint64: Kind.Sint64, fixed64: Kind.Fixed64, sfixed64: Kind.Sfixed64,
  uint32: Kind.Uint32, int32: Kind.Int32, sint32: Kind.Sint32, fixed32: Kind.Fixed32, sfixed32: Kind.Sfixed32,
  bool: Kind.Bool, float: Kind.Float, double: Kind.Double, string: Kind.String, bytes: Kind.Bytes,
};

/** The wire type a kind is written with (a packed repeated field: 2 as well). */
function wireTypeOf(kind: Kind): number {
  switch (kind) {
    case Kind.Fixed64: case Kind.Sfixed64: case Kind.Double: return 1;
    case Kind.Fixed32: case Kind.Sfixed32: case Kind.Float: return 5;
    case Kind.String: case Kind.Bytes: case Kind.Message: return 2;
    case Kind.Uint64: case Kind.Int64: case Kind.Sint64: case Kind.Uint32: case Kind.Int32: case Kind.Sint32:
    case Kind.Bool: case Kind.Enum: return 0;
  }
}

/** One message type's decoder; `fn` is filled once compiled (types may refer to each other). */
interface Slot {
  fn: (depth: number) => Record<string, unknown>;
}

/** Nesting beyond this is refused (protobufjs and protoc use 100). */
const RECURSION_LIMIT = 100;


const slots = new Map<string, Slot>();

/**
 * The decoder of `type`, compiled into one function (like protobufjs's own generated decoders):
 * a switch on the whole tag, each field read into a local, and the output built as one object
 * literal at the end — one hidden class per type, no Message instance, no Long.
 */
function slotOf(type: PbType, pb: Protobufjs): Slot {
  const known = slots.get(type.fullName);
  if (known !== undefined) return known;
  const slot: Slot = { fn: () => { throw new Error(`plain-decoder: ${type.fullName} used before compiled`); } };
  slots.set(type.fullName, slot);
  const fields = type.fieldsArray.map((f) => f.resolve()).sort((a, b) => a.id - b.id);
  const subs: Slot[] = [];
  const enums: ReadonlyMap<number, string>[] = [];
  const init: string[] = [];
  const cases: string[] = [];
  const literal: string[] = [];
  const oneofs: string[] = [];
  fields.forEach((f, i) => {
    if (f.map) throw new Error(`plain-decoder: ${type.fullName}.${f.name} is a map field (not supported)`);
    if (f.delimited === true) throw new Error(`plain-decoder: ${type.fullName}.${f.name} is a group (not supported)`);
    const v = `v${i}`;
    let kind: Kind;
    let read: string;
    const resolved = f.resolvedType;
    if (resolved instanceof pb.Enum) {
      kind = Kind.Enum;
      read = `R.enumOf(E[${enums.length}])`;
      enums.push(new Map(Object.entries(resolved.valuesById).map(([n, name]) => [Number(n), name])));
    } else if (resolved !== null) {
      kind = Kind.Message;
      read = `R.msg(M[${subs.length}], depth)`;
      subs.push(slotOf(resolved, pb));
    } else {
      const k = SCALAR_KINDS[f.type];
      if (k === undefined) throw new Error(`plain-decoder: ${type.fullName}.${f.name} has unknown type ${f.type}`);
      kind = k;
      read = SCALAR_READS[k];
    }
    const wireType = wireTypeOf(kind);
    const name = JSON.stringify(f.name);
    if (f.repeated) {
      init.push(`let ${v} = [];`);
      cases.push(`case ${(f.id << 3) | wireType}: ${v}.push(${read}); break;`);
      if (wireType !== 2) {
        cases.push(`case ${(f.id << 3) | 2}: { const end = R.lengthEnd(); const outer = S.limit; S.limit = end; while (S.pos < end) ${v}.push(${read}); S.limit = outer; break; }`);
      }
      literal.push(`${name}: ${v}`);
      return;
    }
    cases.push(`case ${(f.id << 3) | wireType}: ${v} = ${read}; break;`);
    if (f.partOf !== null) {
      // toObject gives a oneof member no default; the last one set (by field number) names the oneof.
      init.push(`let ${v};`);
      oneofs.push(`if (${v} !== undefined) { o[${name}] = ${v}; o[${JSON.stringify(f.partOf.name)}] = ${name}; }`);
      return;
    }
    init.push(`let ${v} = ${defaultText(kind, f, enums[enums.length - 1])};`);
    literal.push(`${name}: ${v}`);
  });
  const knownIds = new Set(fields.map((f) => f.id));
  const body = `
    return function decode_${type.fullName.replace(/\W/g, '_')}(depth) {
      if (depth > ${RECURSION_LIMIT}) throw R.malformed('nesting deeper than the recursion limit');
      ${init.join('\n')}
      while (S.pos < S.limit) {
        const t = R.varint32();
        switch (t) {
          ${cases.join('\n')}
          default: R.other(t, K, depth);
        }
      }
      const o = { ${literal.join(', ')} };
      ${oneofs.join('\n')}
      return o;
    };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the .proto reflection only, like protobufjs's own decoders
  const make = new Function('R', 'S', 'M', 'E', 'K', body) as (r: typeof READ, s: typeof S, m: Slot[], e: ReadonlyMap<number, string>[], k: ReadonlySet<number>) => Slot['fn'];
  slot.fn = make(READ, S, subs, enums, knownIds);
  return slot;
}

/** What toObject sets an absent singular field to, as source text. */
function defaultText(kind: Kind, f: PbField, enumNames: ReadonlyMap<number, string> | undefined): string {
  switch (kind) {
    case Kind.Message: return 'null';
    case Kind.Bytes: return 'R.EMPTY_BYTES';
    case Kind.Enum: return JSON.stringify(enumNames?.get(Number(f.typeDefault)) ?? Number(f.typeDefault));
    case Kind.Uint64: case Kind.Int64: case Kind.Sint64: case Kind.Fixed64: case Kind.Sfixed64:
      return JSON.stringify(String(f.typeDefault)); // a Long: its decimal text ("0" in proto3)
    case Kind.Uint32: case Kind.Int32: case Kind.Sint32: case Kind.Fixed32: case Kind.Sfixed32:
    case Kind.Bool: case Kind.Float: case Kind.Double: case Kind.String:
      return JSON.stringify(f.typeDefault);
  }
}

const SCALAR_READS: Readonly<Record<ScalarKind, string>> = {
  [Kind.Uint64]: 'R.u64()',
  [Kind.Int64]: 'R.i64()',
  [Kind.Sint64]: 'R.s64()',
  [Kind.Fixed64]: 'R.fixedU64()',
  [Kind.Sfixed64]: 'R.fixedI64()',
  [Kind.Uint32]: 'R.varint32()',
  [Kind.Int32]: '(R.varint32() | 0)',
  [Kind.Sint32]: 'R.s32()',
  [Kind.Fixed32]: 'R.fixedU32()',
  [Kind.Sfixed32]: 'R.fixedI32()',
  [Kind.Bool]: '(R.varint32() !== 0)',
  [Kind.Float]: 'R.f32()',
  [Kind.Double]: 'R.f64()',
  [Kind.String]: 'R.str()',
  [Kind.Bytes]: 'R.bytes()',
};

// ── reading ──

/**
 * Every empty bytes field, absent or sent empty, is this one zero-length Buffer (proto-loader
 * allocates one per field; nothing can be written into it, and it is frozen all the same).
 */
const EMPTY_BYTES: Buffer = Object.freeze(Buffer.alloc(0));
// One decode runs at a time (synchronous, not re-entrant), so the cursor is shared state.

const S = {
  buf: EMPTY_BYTES,
  pos: 0,
  /** The end of the message being read: nothing past it may be read. */
  limit: 0,
};

function malformed(what: string): RangeError {
  return new RangeError(`malformed protobuf: ${what} at offset ${S.pos}`);
}

/**
 * A varint's low 32 bits (unsigned), read as protobufjs reads every 32-bit varint (tags, lengths,
 * 32-bit fields): up to five bytes; if the fifth still continues, the next five are skipped
 * unread (a negative int32 is written in ten bytes). Matching it byte for byte keeps every
 * message decoding to what the library gives, odd encodings included.
 */
function varint32(): number {
  const buf = S.buf;
  let pos = S.pos;
  const limit = S.limit;
  let value = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= limit) throw malformed('truncated varint');
    const b = buf[pos++]!;
    value |= (b & 0x7f) << shift;
    if (b < 0x80) {
      S.pos = pos;
      return value >>> 0;
    }
  }
  if (limit - pos < 5) throw malformed('truncated varint');
  S.pos = pos + 5;
  return value >>> 0;
}

let hi = 0;
let lo = 0;

/** A varint's 64 bits into `hi`/`lo` (unsigned 32-bit halves). */
function varint64(): void {
  const buf = S.buf;
  let pos = S.pos;
  const limit = S.limit;
  let l = 0;
  let h: number;
  let i = 0;
  for (; i < 4; i++) {
    if (pos >= limit) throw malformed('truncated varint');
    const b = buf[pos++]!;
    l |= (b & 0x7f) << (i * 7);
    if (b < 0x80) {
      S.pos = pos;
      lo = l >>> 0;
      hi = 0;
      return;
    }
  }
  // Byte 5 carries bits 28–34: four into lo, three into hi.
  if (pos >= limit) throw malformed('truncated varint');
  let b = buf[pos++]!;
  l |= (b & 0x0f) << 28;
  h = (b & 0x7f) >> 4;
  if (b >= 0x80) {
    for (i = 0; ; i++) {
      if (i === 5) throw malformed('varint longer than 10 bytes');
      if (pos >= limit) throw malformed('truncated varint');
      b = buf[pos++]!;
      h |= (b & 0x7f) << (i * 7 + 3);
      if (b < 0x80) break;
    }
  }
  S.pos = pos;
  lo = l >>> 0;
  hi = h >>> 0;
}

function fixed64(): void {
  if (S.limit - S.pos < 8) throw malformed('truncated fixed64');
  lo = S.buf.readUInt32LE(S.pos);
  hi = S.buf.readUInt32LE(S.pos + 4);
  S.pos += 8;
}

function fixed32(): number {
  if (S.limit - S.pos < 4) throw malformed('truncated fixed32');
  const v = S.buf.readUInt32LE(S.pos);
  S.pos += 4;
  return v;
}

const TWO_32 = 4294967296;
/** High words below this keep the value below 2^53: exact as a JS number. */
const SAFE_HIGH = 0x200000;

function unsignedText(h: number, l: number): string {
  if (h === 0) return String(l);
  if (h < SAFE_HIGH) return String(h * TWO_32 + l);
  return ((BigInt(h) << 32n) | BigInt(l)).toString();
}

function signedText(h: number, l: number): string {
  if (h < 0x80000000) return unsignedText(h, l);
  return BigInt.asIntN(64, (BigInt(h) << 32n) | BigInt(l)).toString();
}

function zigzagText(h: number, l: number): string {
  // n = (v >>> 1) ^ -(v & 1), on 64 bits.
  let nl = ((l >>> 1) | (h << 31)) >>> 0;
  let nh = h >>> 1;
  if ((l & 1) !== 0) {
    nl = ~nl >>> 0;
    nh = ~nh >>> 0;
  }
  return signedText(nh, nl);
}

function lengthEnd(): number {
  const length = varint32();
  const end = S.pos + length;
  if (end > S.limit) throw malformed(`length ${length} past the message's end`);
  return end;
}

function skipField(wireType: number, depth: number): void {
  switch (wireType) {
    case 0: varint64(); return;
    case 1:
      if (S.limit - S.pos < 8) throw malformed('truncated fixed64');
      S.pos += 8;
      return;
    case 2: S.pos = lengthEnd(); return;
    case 3: {
      if (depth > RECURSION_LIMIT) throw malformed('nesting deeper than the recursion limit');
      for (;;) {
        const wt = varint32() & 7;
        if (wt === 4) return;
        skipField(wt, depth + 1);
      }
    }
    case 5:
      if (S.limit - S.pos < 4) throw malformed('truncated fixed32');
      S.pos += 4;
      return;
    default: throw malformed(`invalid wire type ${wireType}`);
  }
}

/** The helpers generated decoders call (R). */
const READ = {
  EMPTY_BYTES,
  malformed,
  varint32,
  lengthEnd,
  u64: (): string => { varint64(); return unsignedText(hi, lo); },
  i64: (): string => { varint64(); return signedText(hi, lo); },
  s64: (): string => { varint64(); return zigzagText(hi, lo); },
  fixedU64: (): string => { fixed64(); return unsignedText(hi, lo); },
  fixedI64: (): string => { fixed64(); return signedText(hi, lo); },
  s32: (): number => { const v = varint32(); return ((v >>> 1) ^ -(v & 1)) | 0; },
  fixedU32: fixed32,
  fixedI32: (): number => fixed32() | 0,
  f32: (): number => {
    if (S.limit - S.pos < 4) throw malformed('truncated float');
    const v = S.buf.readFloatLE(S.pos);
    S.pos += 4;
    return v;
  },
  f64: (): number => {
    if (S.limit - S.pos < 8) throw malformed('truncated double');
    const v = S.buf.readDoubleLE(S.pos);
    S.pos += 8;
    return v;
  },
  enumOf: (names: ReadonlyMap<number, string>): string | number => {
    const n = varint32() | 0;
    return names.get(n) ?? n;
  },
  str: (): string => {
    const end = lengthEnd();
    const s = S.buf.toString('utf8', S.pos, end);
    S.pos = end;
    return s;
  },
  bytes: (): Buffer => {
    const end = lengthEnd();
    const b = end === S.pos ? EMPTY_BYTES : S.buf.subarray(S.pos, end);
    S.pos = end;
    return b;
  },
  msg: (sub: Slot, depth: number): Record<string, unknown> => {
    const end = lengthEnd();
    const outer = S.limit;
    S.limit = end;
    const m = sub.fn(depth + 1);
    S.limit = outer;
    return m;
  },
  /** A tag no case took: a known field with the wrong wire type is refused; an unknown one skipped. */
  other: (tag: number, known: ReadonlySet<number>, depth: number): void => {
    if (known.has(tag >>> 3)) throw malformed(`field ${tag >>> 3} with wire type ${tag & 7}`);
    skipField(tag & 7, depth);
  },
};

/** A decoder of message `name` into proto-loader's plain object. Compiled once per type; fetch it once. */
export function plainDecoder<N extends MessageName>(name: N): (bytes: Uint8Array) => MessageOutput<N> {
  return decoderOf(slotOf(loadReflection().lookupType(name), loaderProtobuf<Protobufjs>())) as (bytes: Uint8Array) => MessageOutput<N>;
}

/**
 * The decoder of a message type parsed elsewhere with the same protobufjs instance (its
 * `fullName` must not be one of ours). For tests: every scalar kind, including those our .proto
 * files do not use yet.
 */
export function plainDecoderOfType(type: object): (bytes: Uint8Array) => Record<string, unknown> {
  return decoderOf(slotOf(type as PbType, loaderProtobuf<Protobufjs>()));
}

function decoderOf(slot: Slot): (bytes: Uint8Array) => Record<string, unknown> {
  return (bytes: Uint8Array): Record<string, unknown> => {
    S.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    S.pos = 0;
    S.limit = S.buf.length;
    try {
      return slot.fn(0);
    } finally {
      S.buf = EMPTY_BYTES; // hold no reference to the caller's bytes
    }
  };
}

