// proto/plain-encoder.ts gives exactly the bytes proto-loader's serialize gives (the reference:
// protobufjs fromObject + encode), for every message type of every .proto file, over generated
// input objects — the values our servers build (decimal text and numbers for 64-bit fields,
// Buffers and views, enum names) and everything else the reference takes or refuses (Long
// objects, negative and unsafe numbers, base64 text, unknown enum names, short non-ASCII and
// lone-surrogate strings, class instances, falsy and wrong repeated values, nesting past the
// limit). Where the reference throws, the plain encoder throws the same error. The fast path must
// carry the common inputs: the generated "server" objects may not fall back to the library.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { loadPackageDefinition, type MessageName, messageCodec, protobufLongClass } from '../../proto/index.js';
import { plainEncoder, plainEncoderOfType, plainEncoderStats } from '../../proto/plain-encoder.js';
import { ALL_KINDS_PROTO, loadTypes, pb, Rand, type RField, type RType } from './reflection-support.js';

const U64 = 1n << 64n;
const EDGES_64 = [0n, 1n, 127n, 128n, 16383n, 16384n, (1n << 31n) - 1n, 1n << 31n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n,
  (1n << 53n) + 1n, 999_999_999_999_999n, 1_000_000_000_000_000n, (1n << 63n) - 1n, 1n << 63n, U64 - 1n];
const NUMBERS = [0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, 2 ** 32 - 1, 2 ** 32, -0, 1.5, -2.5, NaN, Infinity, -Infinity, 2 ** 53 + 2, 1e300];
const ASCII = 'abcdefghijklmnopqrstuvwxyz0123456789 \u0000\u007f';
const NON_ASCII = ['é', '日本', '😀', '\ud800' /* a lone surrogate */, '\udc00x'];

function asciiText(r: Rand): string {
  const n = r.chance(0.15) ? 100 + r.int(300) : r.int(30);
  let s = '';
  for (let i = 0; i < n; i++) s += ASCII[r.int(ASCII.length)]!;
  return s;
}

/** Non-ASCII text: long enough (≥ 40 UTF-16 units) for the fast path, or any length when `short` may be. */
function unicodeText(r: Rand, mayBeShort: boolean): string {
  let s = asciiText(r);
  for (let i = 1 + r.int(4); i > 0; i--) {
    const at = r.int(s.length + 1);
    s = s.slice(0, at) + r.pick(NON_ASCII) + s.slice(at);
  }
  if (!mayBeShort) while (s.length < 40) s += 'x';
  return s;
}

function bytesValue(r: Rand): Uint8Array {
  const n = r.chance(0.2) ? 0 : r.chance(0.2) ? 60 + r.int(300) : r.int(70);
  const b = Buffer.alloc(n + 8);
  for (let i = 0; i < b.length; i++) b[i] = r.int(256);
  switch (r.int(3)) {
    case 0: return b.subarray(0, n);
    case 1: return new Uint8Array(b.buffer, b.byteOffset + 3, n); // a view at an offset
    default: return Buffer.from(b.subarray(4, 4 + n));
  }
}

/**
 * A value for one field element. `odd` adds everything the reference takes or refuses beyond
 * what our servers build.
 */
function elementValue(r: Rand, f: RField, depth: number, odd: boolean): unknown {
  const rt = f.resolvedType;
  if (rt instanceof pb.Enum) {
    const names = Object.keys(rt.values);
    if (!odd || r.chance(0.6)) return r.chance(0.7) ? r.pick(names) : r.pick([0, 1, 2, 7, -3, 2 ** 31 - 1, -(2 ** 31)]);
    return r.pick(['NOT_A_NAME', '', 1.5, -1.5, NaN, 2 ** 40, -(2 ** 40), 2 ** 32 + 5, 2 ** 31 + 5, 3e9, null, true, 'red'.toUpperCase()]);
  }
  if (rt !== null) {
    if (odd && r.chance(0.1)) return r.pick<unknown>([[], 'x', 5, Object.create(null), new (class Box { a = 1; })(), { toString: 1 }]);
    return objectOf(r, rt, depth + 1, odd);
  }
  const wide = (): bigint => (r.chance(0.4) ? r.pick(EDGES_64) : r.bigint());
  switch (f.type) {
    case 'uint64': case 'int64': case 'sint64': case 'fixed64': case 'sfixed64': {
      if (!odd || r.chance(0.5)) return r.chance(0.7) ? wide().toString() : r.pick([0, 1, 127, 128, 2 ** 32, 2 ** 53 - 1, r.int(1e9)]);
      const Long = protobufLongClass();
      const v = wide();
      return r.pick<unknown>([
        Long.fromBits(Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0, r.chance(0.5)), -1, -(2 ** 40), 1.5, NaN, 2 ** 60, 2 ** 64,
        '', '-1', '+5', '0x1f', ' 7', '007', '18446744073709551616', '99999999999999999999', '123456789012345678901', '1e3', 'abc', `${v}0`,
        { low: 5, high: 1 }, true,
      ]);
    }
    case 'uint32': case 'int32': case 'sint32': case 'fixed32': case 'sfixed32': case 'float': case 'double':
      if (!odd || r.chance(0.6)) return r.chance(0.5) ? r.pick(NUMBERS) : (r.next() - 0.5) * 2 ** r.int(70);
      return r.pick<unknown>(['5', '', 'x', true, 10n, { valueOf: () => 3 }]);
    case 'bool':
      if (!odd || r.chance(0.6)) return r.chance(0.5);
      return r.pick<unknown>([0, 1, '', 'false', {}]);
    case 'string':
      if (!odd || r.chance(0.5)) return r.chance(0.8) ? asciiText(r) : unicodeText(r, false);
      return r.pick<unknown>([unicodeText(r, true), '\ud800', 'é', 5, true, {}]);
    case 'bytes':
      if (!odd || r.chance(0.6)) return bytesValue(r);
      return r.pick<unknown>(['AQID', '', 'not base64!', [1, 2, 300], { length: 2 }, 7]);
    default:
      throw new Error(`unexpected type ${f.type}`);
  }
}

function fieldValue(r: Rand, f: RField, depth: number, odd: boolean): unknown {
  if (odd && r.chance(0.05)) return r.chance(0.5) ? null : undefined;
  if (!f.repeated) return elementValue(r, f, depth, odd);
  if (odd && r.chance(0.1)) return r.pick<unknown>([0, '', false, 'x', 5, {}]);
  const n = r.chance(0.2) ? 0 : 1 + r.int(4);
  return Array.from({ length: n }, () => elementValue(r, f, depth, odd));
}

/** A random input object of `type`: a few of its fields (members of a oneof may be several), sub-messages to a bounded depth. */
function objectOf(r: Rand, type: RType, depth: number, odd: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (depth >= 4) return out;
  const fields = type.fieldsArray.map((f) => f.resolve());
  for (const f of fields) {
    if (!r.chance(fields.length > 8 ? 0.3 : 0.6)) continue;
    if (f.resolvedType !== null && !(f.resolvedType instanceof pb.Enum) && depth >= 3) continue;
    out[f.name] = fieldValue(r, f, depth, odd);
  }
  if (odd && r.chance(0.1)) out.notAField = 'ignored';
  return out;
}

type Outcome = { ok: true; value: Buffer } | { ok: false; error: unknown };
function attempt(f: () => Uint8Array): Outcome {
  try {
    return { ok: true, value: Buffer.from(f()) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** The plain encoder's outcome is the reference's: the same bytes, or the same error. */
function assertSame(mine: Outcome, theirs: Outcome, what: string): void {
  if (theirs.ok) {
    assert.ok(mine.ok, `${what}: the reference encodes it, the plain encoder throws ${mine.ok ? '' : String(mine.error)}`);
    assert.equal(mine.value.toString('hex'), theirs.value.toString('hex'), what);
    return;
  }
  assert.ok(!mine.ok, `${what}: the reference throws ${String(theirs.error)}, the plain encoder does not`);
  assert.equal(String(mine.error), String(theirs.error), what);
}

function show(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString('hex')}` : v));
}

describe('plain encoder', () => {
  loadPackageDefinition();
  const types = loadTypes();

  it('covers every message type of every proto file', () => {
    assert.ok(types.length > 100, `${types.length} types`);
    for (const t of types) plainEncoder(t.fullName.slice(1) as MessageName);
  });

  for (const odd of [false, true]) {
    const what = odd
      ? 'gives the reference bytes or the reference error for odd and wrong inputs of every type'
      : 'encodes the objects servers build, of every type, to the reference bytes without falling back';
    it(what, () => {
      const before = plainEncoderStats.fallbacks;
      for (const t of types) {
        const name = t.fullName.slice(1) as MessageName;
        const reference = messageCodec(name);
        const plain = plainEncoder(name);
        fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
          const value = objectOf(new Rand(seed), t, 0, odd) as never;
          assertSame(attempt(() => plain(value)), attempt(() => reference.encode(value)), `${name} ${show(value)}`);
        }), { numRuns: 40, includeErrorInReport: true });
      }
      if (odd) assert.ok(plainEncoderStats.fallbacks > before, 'odd inputs never reached the library');
      else assert.equal(plainEncoderStats.fallbacks, before, 'an object of the kinds servers build went to the library');
    });
  }

  it('encodes every scalar kind, packed and unpacked, oneofs and far field numbers as protobufjs does (a test proto)', () => {
    const { root } = pb.parse(ALL_KINDS_PROTO, { keepCase: false });
    root.resolveAll();
    const t = root.lookupType('flotilla_test.AllKinds');
    const reference = (value: object): Uint8Array => t.encode(t.fromObject(value)).finish();
    const plain = plainEncoderOfType(t, (value) => Buffer.from(reference(value)));
    for (const odd of [false, true]) {
      const before = plainEncoderStats.fallbacks;
      fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 }), (seed) => {
        const value = objectOf(new Rand(seed), t, 0, odd);
        assertSame(attempt(() => plain(value)), attempt(() => reference(value)), show(value));
      }), { numRuns: 1500, includeErrorInReport: true });
      if (!odd) assert.equal(plainEncoderStats.fallbacks, before);
    }
    // Nested past the recursion limit: both refuse, with the reference's error.
    const inner = root.lookupType('flotilla_test.Inner');
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 120; i++) deep = { children: [deep] };
    const innerPlain = plainEncoderOfType(inner, (value) => Buffer.from(inner.encode(inner.fromObject(value)).finish()));
    assertSame(attempt(() => innerPlain(deep)), attempt(() => inner.encode(inner.fromObject(deep)).finish()), 'deep');
    assert.ok(!attempt(() => innerPlain(deep)).ok);
  });

  it('writes length prefixes of every width, grows past its scratch buffer and shrinks back', () => {
    const { root } = pb.parse(ALL_KINDS_PROTO, { keepCase: false });
    root.resolveAll();
    const inner = root.lookupType('flotilla_test.Inner');
    const reference = (value: object): Buffer => Buffer.from(inner.encode(inner.fromObject(value)).finish());
    const plain = plainEncoderOfType(inner, reference);
    // Bodies around every varint boundary of their length, nested three deep (each level's length
    // prefix widens while the body is already written).
    for (const size of [0, 1, 124, 125, 126, 127, 128, 129, 16_380, 16_383, 16_384, 16_390, 2_097_150, 2_097_152, 3_000_000]) {
      const blob = Buffer.alloc(size, 0x5a);
      const value = { children: [{ children: [{ blob, s: '1' }], s: '-5' }, { blob: blob.subarray(0, size >> 1) }] };
      assert.ok(plain(value).equals(reference(value)), `blob of ${size}`);
    }
    // Short strings, bytes and varints written across the end of the scratch buffer (64 KiB): a
    // write must never grow the buffer past bytes it has put down but not yet counted.
    const all = root.lookupType('flotilla_test.AllKinds');
    const allReference = (value: object): Buffer => Buffer.from(all.encode(all.fromObject(value)).finish());
    const allPlain = plainEncoderOfType(all, allReference);
    const huge = { blob: Buffer.alloc(2_000_000) };
    for (let k = 0; k < 24; k++) {
      plain(huge); // grows the scratch buffer past 1 MiB, which then shrinks back to 64 KiB
      const value = { by: Buffer.alloc(65_536 - 3 - k, 2), rstr: ['ab', 'c'], rby: [Buffer.from('xyz')], bigId: '18446744073709551615' };
      assert.ok(allPlain(value).equals(allReference(value)), `near the end, ${k}`);
    }
    // After a large message the next small one is right, and an earlier result is not overwritten.
    const first = plain({ blob: Buffer.from('first'), s: '7' });
    const big = plain({ blob: Buffer.alloc(5_000_000, 1) });
    assert.equal(big.length, reference({ blob: Buffer.alloc(5_000_000, 1) }).length);
    assert.ok(first.equals(reference({ blob: Buffer.from('first'), s: '7' })));
    const small = { children: [{ s: '3' }], blob: Buffer.from('small') };
    assert.ok(plain(small).equals(reference(small)));
    // A message that falls back midway leaves nothing behind for the next.
    const Long = protobufLongClass();
    const odd = { children: [{ s: '5' }, { s: Long.fromBits(1, 2, false) }], blob: Buffer.from('x') };
    assert.ok(plain(odd).equals(reference(odd)));
    assert.ok(plain(small).equals(reference(small)));
  });

  it('is what the store answers the batch stream with', async () => {
    const { kvServiceDefinition } = await import('../../store/kv-service.js');
    const definition = kvServiceDefinition();
    const value = {
      responses: [{ batchGet: { pairs: [{ key: Buffer.from('k'), value: Buffer.alloc(300, 1) }] } }, { prewrite: { errors: [], oneStepCommitTs: '451234567890123456' } }],
      requestIds: ['1', '18446744073709551615'],
      transportLayerLoad: '2',
    };
    const before = plainEncoderStats.fallbacks;
    const bytes = definition.BatchCommands.responseSerialize(value);
    assert.equal(plainEncoderStats.fallbacks, before);
    assert.ok(bytes.equals(messageCodec('flotilla.kvservicepb.BatchCommandsResponse').encode(value)));
  });
});
