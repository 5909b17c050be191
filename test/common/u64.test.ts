// Safe-integer u64 codecs (raft terms, indexes, ids on the raft write path): the bytes equal the
// BigInt encoder's for every safe integer — the records they write are already on disk — the
// reader inverts them, and values that are not safe integers are refused both ways.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlotillaError, putU64BE, readSafeU64BE, U64_MAX, writeSafeU64BE, writeU64DescBE } from '../../common/index.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 2000);

const EDGES = [0, 1, 0xff, 0x100, 0xffff_ffff, 0x1_0000_0000, 0x1_0000_0001, 2 ** 52, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER];

describe('safe u64 codecs', () => {
  it('write the BigInt encoder\'s bytes and read them back, at any offset', () => {
    const value = fc.oneof(fc.constantFrom(...EDGES), fc.integer({ min: 0, max: 0xffff_ffff }), fc.maxSafeNat());
    fc.assert(fc.property(value, fc.integer({ min: 0, max: 8 }), (n, offset) => {
      const ours = Buffer.alloc(offset + 8, 0xaa);
      const ref = Buffer.alloc(offset + 8, 0xaa);
      assert.equal(writeSafeU64BE(ours, offset, n), offset + 8);
      ref.writeBigUInt64BE(BigInt(n), offset);
      assert.deepEqual(ours, ref);
      assert.equal(readSafeU64BE(ours, offset), n);
    }), { numRuns: RUNS });
  });

  it('refuses to write what is not a safe non-negative integer', () => {
    for (const bad of [-1, 0.5, Number.MAX_SAFE_INTEGER + 1, 2 ** 64, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => writeSafeU64BE(Buffer.alloc(8), 0, bad), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument', String(bad));
    }
  });

  it('reads a stored u64 above 2^53-1 as Corruption naming the field', () => {
    const big = fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n, max: (1n << 64n) - 1n });
    fc.assert(fc.property(big, (v) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(v);
      assert.throws(() => readSafeU64BE(b, 0, 'region 7: applied index'), (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption' && e.message.includes('region 7: applied index') && e.message.includes(v.toString()));
    }), { numRuns: Math.min(RUNS, 500) });
  });
});

describe('putU64BE (timestamps in keys and records)', () => {
  const EDGES_64 = [0n, 1n, 0xffn, 0x100n, 0xffff_ffffn, 0x1_0000_0000n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, U64_MAX - 1n, U64_MAX];
  const value = fc.oneof(fc.constantFrom(...EDGES_64), fc.bigInt({ min: 0n, max: U64_MAX }), fc.constantFrom(-1n, U64_MAX + 1n, -(1n << 70n), 1n << 70n));
  const offset = fc.oneof(fc.integer({ min: 0, max: 16 }), fc.constantFrom(-1, 0.5, 9, 10, 17, 24, Number.NaN));

  type Outcome = { ok: true; bytes: string } | { ok: false; error: string };
  const outcome = (f: (b: Buffer) => void): Outcome => {
    const b = Buffer.alloc(24, 0xa5); // bytes around the eight must stay as they are
    try {
      f(b);
      return { ok: true, bytes: b.toString('hex') };
    } catch (e) {
      return { ok: false, error: `${(e as Error).name} ${(e as { code?: string }).code} ${(e as Error).message}` };
    }
  };

  it('writes what writeBigUInt64BE writes (or throws what it throws), plain and complemented, at any offset', () => {
    fc.assert(fc.property(value, offset, fc.boolean(), (v, at, isComplemented) => {
      const mine = outcome((b) => putU64BE(b, at, v, isComplemented));
      const theirs = outcome((b) => b.writeBigUInt64BE(isComplemented && v >= 0n && v <= U64_MAX ? U64_MAX ^ v : v, at));
      assert.deepEqual(mine, theirs, `${v} at ${at} complemented ${isComplemented}`);
    }), { numRuns: RUNS });
  });

  it('writeU64DescBE sorts newer (larger) values first and refuses what is not a u64', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), (a, b) => {
      const ea = Buffer.alloc(8);
      const eb = Buffer.alloc(8);
      writeU64DescBE(ea, 0, a);
      writeU64DescBE(eb, 0, b);
      assert.equal(Math.sign(Buffer.compare(ea, eb)), a === b ? 0 : a > b ? -1 : 1);
    }), { numRuns: Math.min(RUNS, 500) });
    assert.throws(() => writeU64DescBE(Buffer.alloc(8), 0, -1n), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument');
    assert.throws(() => writeU64DescBE(Buffer.alloc(8), 0, U64_MAX + 1n), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument');
  });
});
