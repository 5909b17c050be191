// Safe-integer u64 codecs (raft terms, indexes, ids on the raft write path): the bytes equal the
// BigInt encoder's for every safe integer — the records they write are already on disk — the
// reader inverts them, and values that are not safe integers are refused both ways.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FlotillaError, readSafeU64BE, writeSafeU64BE } from '../../common/index.js';

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
