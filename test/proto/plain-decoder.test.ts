// proto/plain-decoder.ts gives exactly what proto-loader's deserialize gives (the reference), for
// every message type of every .proto file, over generated wire bytes — not only what an encoder
// writes: fields in any order, repeated non-repeated fields (the last wins), several members of a
// oneof, packed and unpacked repeated scalars, over-long and 10-byte varints, values wider than
// their field, unknown fields of every wire type (groups included), nesting. Malformed bytes
// (truncated, corrupted) must throw wherever the reference throws, and never decode to anything
// but the reference's result.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { loadPackageDefinition, type MessageName, messageCodec, PROTO_LOADER_OPTIONS } from '../../proto/index.js';
import { plainDecoder, plainDecoderOfType } from '../../proto/plain-decoder.js';
import { ALL_KINDS_PROTO, loadTypes, pb, Rand, type RType } from './reflection-support.js';

// ── wire writing ──

function varint(v: bigint, padTo = 0): number[] {
  const out: number[] = [];
  let x = BigInt.asUintN(64, v);
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n || out.length + 1 < padTo) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  while (out.length < padTo) out.push(out.length + 1 === padTo ? 0 : 0x80); // non-minimal: trailing zero groups
  return out;
}
const tag = (id: number, wt: number): number[] => varint(BigInt((id << 3) | wt));
const lengthDelimited = (id: number, body: number[]): number[] => [...tag(id, 2), ...varint(BigInt(body.length)), ...body];
function fixed(v: bigint, bytes: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes; i++) out.push(Number((v >> BigInt(8 * i)) & 0xffn));
  return out;
}

const U64 = 1n << 64n;
const edge64 = [0n, 1n, 127n, 128n, (1n << 31n) - 1n, 1n << 31n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, U64 - 1n];

/** A random value of a scalar kind, as the wire bytes of the field's payload (no tag). */
function scalarPayload(r: Rand, type: string, enumValues: number[] | null): { wt: number; bytes: number[] } {
  const wide = (): bigint => (r.chance(0.3) ? edge64[r.int(edge64.length)]! : r.bigint());
  // Over-long varints: any length up to 10 for a 64-bit field; for a 32-bit one up to 5 or exactly
  // 10 — the library reads 6 to 9 bytes there as 10 (and so does the plain decoder), which no
  // encoder writes.
  const padded64 = (v: bigint): number[] => varint(v, r.chance(0.1) ? 1 + r.int(10) : 0);
  const padded = (v: bigint): number[] => {
    const bytes = varint(v, r.chance(0.1) ? (r.chance(0.5) ? 10 : 1 + r.int(5)) : 0);
    return bytes.length > 5 && bytes.length < 10 ? varint(v & 0xffffffffn) : bytes;
  };
  switch (type) {
    case 'uint64': case 'int64': case 'sint64':
      return { wt: 0, bytes: padded64(r.chance(0.5) ? BigInt(r.int(1000)) : wide()) };
    case 'uint32': case 'int32': case 'sint32':
      return { wt: 0, bytes: padded(r.chance(0.5) ? BigInt(r.int(1000)) : wide()) };
    case 'bool': return { wt: 0, bytes: padded(r.chance(0.2) ? wide() : BigInt(r.int(2))) };
    case 'fixed64': case 'sfixed64': case 'double': return { wt: 1, bytes: fixed(wide(), 8) };
    case 'fixed32': case 'sfixed32': case 'float': return { wt: 5, bytes: fixed(wide(), 4) };
    case 'string': {
      const s = r.chance(0.1) ? [0xff, 0xc3, 0x28, 0xe2, 0x82] /* not UTF-8 */ : [...Buffer.from(r.text())];
      return { wt: 2, bytes: [...varint(BigInt(s.length)), ...s] };
    }
    case 'bytes': {
      const b = r.bytes();
      return { wt: 2, bytes: [...varint(BigInt(b.length)), ...b] };
    }
    default: { // an enum
      const v = enumValues !== null && r.chance(0.85) ? BigInt(enumValues[r.int(enumValues.length)]!) : BigInt(r.int(50)) - 5n;
      return { wt: 0, bytes: padded(v) };
    }
  }
}

const PACKABLE = new Set(['uint64', 'int64', 'sint64', 'uint32', 'int32', 'sint32', 'bool', 'fixed64', 'sfixed64', 'double', 'fixed32', 'sfixed32', 'float']);

function unknownField(r: Rand, id: number, depth: number): number[] {
  switch (r.int(depth < 3 ? 5 : 4)) {
    case 0: return [...tag(id, 0), ...varint(r.bigint())];
    case 1: return [...tag(id, 1), ...fixed(r.bigint(), 8)];
    case 2: return lengthDelimited(id, r.bytes());
    case 3: return [...tag(id, 5), ...fixed(r.bigint(), 4)];
    default: { // a group holding unknown fields
      const body: number[] = [];
      for (let i = r.int(3); i > 0; i--) body.push(...unknownField(r, 1 + r.int(20), depth + 1));
      return [...tag(id, 3), ...body, ...tag(id, 4)];
    }
  }
}

/** Wire bytes of a random message of `type`. */
/**
 * Wire bytes of a random message of `type`. With `cutShort`, a sub-message now and then declares
 * one byte fewer than it holds: it ends inside its last field, and the byte that would complete
 * that field lies in the enclosing message.
 */
function messageBytes(r: Rand, type: RType, depth: number, cutShort = false): number[] {
  const out: number[] = [];
  const fields = type.fieldsArray.map((f) => f.resolve());
  const known = new Set(fields.map((f) => f.id));
  const count = fields.length === 0 ? r.int(3) : r.int(Math.min(2 * fields.length, 12) + 1);
  for (let i = 0; i < count; i++) {
    if (fields.length === 0 || r.chance(0.08)) {
      let id = 1 + r.int(60);
      while (known.has(id)) id++;
      out.push(...unknownField(r, id, depth));
      continue;
    }
    const f = fields[r.int(fields.length)]!;
    const rt = f.resolvedType;
    if (rt !== null && !(rt instanceof pb.Enum)) {
      // A sub-message (empty when deep enough).
      const body = depth >= 4 ? [] : messageBytes(r, rt, depth + 1, cutShort);
      if (cutShort && body.length > 0 && r.chance(0.3)) out.push(...tag(f.id, 2), ...varint(BigInt(body.length - 1)), ...body);
      else out.push(...lengthDelimited(f.id, body));
      continue;
    }
    const enumValues = rt instanceof pb.Enum ? Object.keys((rt).valuesById).map(Number) : null;
    const type = enumValues !== null ? 'enum' : f.type;
    if (f.repeated && (PACKABLE.has(type) || type === 'enum') && r.chance(0.5)) {
      const body: number[] = [];
      for (let n = r.int(4); n > 0; n--) body.push(...scalarPayload(r, type, enumValues).bytes);
      out.push(...lengthDelimited(f.id, body));
      continue;
    }
    const { wt, bytes } = scalarPayload(r, type, enumValues);
    out.push(...tag(f.id, wt), ...bytes);
  }
  return out;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
function attempt(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

describe('plain decoder', () => {
  loadPackageDefinition();
  const types = loadTypes();

  it('covers every message type of every proto file', () => {
    assert.ok(types.length > 100, `${types.length} types`);
    for (const t of types) plainDecoder(t.fullName.slice(1) as MessageName);
  });

  it('decodes generated wire bytes of every type exactly as proto-loader does', () => {
    for (const t of types) {
      const name = t.fullName.slice(1) as MessageName;
      const reference = messageCodec(name);
      const plain = plainDecoder(name);
      fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const bytes = Buffer.from(messageBytes(new Rand(seed), t, 0));
        assert.deepStrictEqual(plain(bytes), reference.decode(bytes), `${name} ${bytes.toString('hex')}`);
      }), { numRuns: 60, includeErrorInReport: true });
    }
  });

  it('decodes every scalar kind, repeated and packed, oneofs and recursive messages as protobufjs does (a test proto)', () => {
    // Our .proto files use uint64, uint32, bool, string, bytes, enums and messages; the decoder
    // also reads the kinds they do not use yet, judged here against protobufjs's decode + toObject
    // with proto-loader's options (which is what proto-loader's deserialize is).
    const { root } = pb.parse(ALL_KINDS_PROTO, { keepCase: false });
    root.resolveAll();
    const t = root.lookupType('flotilla_test.AllKinds');
    const plain = plainDecoderOfType(t);
    const reference = (bytes: Buffer): object => t.toObject(t.decode(bytes), PROTO_LOADER_OPTIONS);
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
      const bytes = Buffer.from(messageBytes(new Rand(seed), t, 0));
      assert.deepStrictEqual(plain(bytes), reference(bytes), bytes.toString('hex'));
    }), { numRuns: 1500, includeErrorInReport: true });
    // Messages nested past the recursion limit are refused by both.
    const inner = root.lookupType('flotilla_test.Inner');
    let deep: number[] = [];
    for (let i = 0; i < 120; i++) deep = [0x12, ...varint(BigInt(deep.length)), ...deep]; // children = 2
    assert.throws(() => plainDecoderOfType(inner)(Buffer.from(deep)), RangeError);
    assert.throws(() => inner.decode(Buffer.from(deep)));
  });

  it('decodes what the encoder writes for the batch stream, with every command', () => {
    const names = ['flotilla.kvservicepb.BatchCommandsRequest', 'flotilla.kvservicepb.BatchCommandsResponse', 'flotilla.kvrpcpb.PrewriteRequest', 'flotilla.raft_serverpb.RaftCmdRequest'] as const;
    for (const name of names) {
      const t = types.find((x) => x.fullName === `.${name}`)!;
      const reference = messageCodec(name);
      const plain = plainDecoder(name);
      fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        // Through the reference: decode our random bytes, encode that object, decode both ways.
        const r = new Rand(seed);
        const first = attempt(() => reference.decode(Buffer.from(messageBytes(r, t, 0))));
        if (!first.ok) return;
        const bytes = reference.encode(first.value as never);
        assert.deepStrictEqual(plain(bytes), reference.decode(bytes));
      }), { numRuns: 400, includeErrorInReport: true });
    }
  });

  it('throws on malformed bytes wherever the reference throws, and otherwise agrees', () => {
    let refused = 0;
    for (const t of types) {
      const name = t.fullName.slice(1) as MessageName;
      const reference = messageCodec(name);
      const plain = plainDecoder(name);
      fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const r = new Rand(seed);
        const mode = r.int(3);
        const bytes = messageBytes(r, t, 0, mode === 2);
        if (bytes.length === 0) return;
        const damaged = mode === 0
          ? bytes.slice(0, r.int(bytes.length)) // truncated
          : mode === 1 ? bytes.map((b) => (r.chance(0.1) ? r.int(256) : b)) // corrupted
          : bytes; // a sub-message cut short
        const buf = Buffer.from(damaged);
        const mine = attempt(() => plain(buf));
        const theirs = attempt(() => reference.decode(buf));
        if (!theirs.ok) assert.ok(!mine.ok, `${name}: the reference refuses ${buf.toString('hex')} but the plain decoder accepts it`);
        if (mine.ok) assert.deepStrictEqual(mine.value, (theirs as { value: unknown }).value, `${name} ${buf.toString('hex')}`);
        else {
          assert.ok(mine.error instanceof RangeError, `${name}: ${String(mine.error)}`);
          refused++;
        }
      }), { numRuns: 60, includeErrorInReport: true });
    }
    assert.ok(refused > 0);
  });

  it('refuses the malformed cases it is stricter about, with a RangeError', () => {
    const peer = plainDecoder('flotilla.metapb.Peer');
    // id (uint64, field 1) sent with wire type 2.
    assert.throws(() => peer(Buffer.from([0x0a, 0x01, 0x05])), RangeError);
    // A 64-bit varint cut by the end of the message (the library takes four such bytes as a value).
    assert.throws(() => peer(Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80])), RangeError);
    assert.deepEqual(messageCodec('flotilla.metapb.Peer').decode(Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80])).id, '0');
    // An 11-byte varint (refused by both).
    assert.throws(() => peer(Buffer.from([0x08, ...Array<number>(10).fill(0xff), 0x01])), RangeError);
    const store = plainDecoder('flotilla.metapb.Store');
    // address (string, field 2) running past the message.
    assert.throws(() => store(Buffer.from([0x12, 0x05, 0x61])), RangeError);
    // Nesting past the recursion limit, through a group of unknown fields.
    const deep = [...Array<number>(150).fill(0x7b) /* field 15, start group */, ...Array<number>(150).fill(0x7c)];
    assert.throws(() => peer(Buffer.from(deep)), RangeError);
  });

  it('holds no reference to the bytes it decoded from, and bytes fields are views or fresh', () => {
    const kvPair = plainDecoder('flotilla.kvrpcpb.KvPair');
    const bytes = messageCodec('flotilla.kvrpcpb.KvPair').encode({ key: Buffer.from('k'), value: Buffer.alloc(0) });
    const pair = kvPair(bytes);
    assert.deepEqual(pair.key, Buffer.from('k'));
    assert.equal(pair.value.length, 0);
    assert.ok(Buffer.isBuffer(pair.value));
  });
});
