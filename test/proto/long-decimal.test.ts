// The decimal fast paths of proto/long-decimal.ts give exactly what the `long` library gives, over
// the whole 64-bit range (judged against an untouched copy of the library and against BigInt),
// and the codecs carry every uint64 losslessly through them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { installLongDecimalFastPaths, type LongClass, messageCodec, protobufLongClass } from '../../proto/index.js';

/** A fresh, unpatched copy of the `long` library protobufjs loads (its own module instance). */
function pristineLong(): LongClass {
  const requireFromProtobuf = createRequire(createRequire(import.meta.resolve('@grpc/proto-loader')).resolve('protobufjs'));
  const path = requireFromProtobuf.resolve('long');
  const cached = requireFromProtobuf.cache[path];
  delete requireFromProtobuf.cache[path];
  try {
    return requireFromProtobuf('long') as LongClass;
  } finally {
    if (cached !== undefined) requireFromProtobuf.cache[path] = cached;
  }
}

const U64 = 1n << 64n;
const bits = (v: { low: number; high: number; unsigned: boolean }): [bigint, boolean] => [
  (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0), v.unsigned,
];
/** 64-bit values weighted to the edges: small ids, 2^32 and 2^53 boundaries, timestamps, the top. */
const u64Arb = fc.oneof(
  fc.bigInt({ min: 0n, max: U64 - 1n }),
  fc.bigInt({ min: 0n, max: 1000n }),
  fc.constantFrom(0n, 1n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, U64 - 1n),
  fc.bigInt({ min: (1n << 53n) - 1000n, max: (1n << 53n) + 1000n }),
  fc.bigInt({ min: 1n << 56n, max: 1n << 60n }),
);

describe('Long decimal fast paths', () => {
  const reference = pristineLong();
  const Long = protobufLongClass();
  installLongDecimalFastPaths(Long);
  installLongDecimalFastPaths(Long); // a second install changes nothing

  it('toString matches the library (signed and unsigned, any radix) and BigInt', () => {
    fc.assert(fc.property(u64Arb, fc.boolean(), fc.constantFrom(undefined, 10, 16, 2, 36), (v, unsigned, radix) => {
      const low = Number(v & 0xffffffffn) | 0;
      const high = Number(v >> 32n) | 0;
      const fast = Long.fromBits(low, high, unsigned);
      const slow = reference.fromBits(low, high, unsigned);
      const text = Long.prototype.toString.call(fast, radix);
      assert.equal(text, reference.prototype.toString.call(slow, radix));
      if (radix === undefined || radix === 10) assert.equal(text, (unsigned ? v : BigInt.asIntN(64, v)).toString());
    }), { numRuns: 3000 });
  });

  it('fromString and fromValue match the library on decimal text of any length, sign or junk', () => {
    const textArb = fc.oneof(
      u64Arb.map((v) => v.toString()),
      fc.bigInt({ min: 0n, max: 1n << 80n }).map((v) => v.toString()), // overflow: the library wraps
      u64Arb.map((v) => `00${v}`),
      u64Arb.map((v) => `-${v}`),
      fc.constantFrom('0', '1', '18446744073709551615', '18446744073709551616', '9007199254740993', '999999999999999', '1000000000000000', '-0', '+5', '12a', ' 7', 'NaN'),
    );
    fc.assert(fc.property(textArb, fc.constantFrom(true, false, undefined), (text, unsigned) => {
      const run = (L: LongClass, how: 'string' | 'value'): [bigint, boolean] | string => {
        try {
          return bits(how === 'string' ? L.fromString(text, unsigned) : L.fromValue(text, unsigned));
        } catch (err) {
          return `threw ${(err as Error).message}`;
        }
      };
      assert.deepEqual(run(Long, 'string'), run(reference, 'string'), `fromString(${text}, ${unsigned})`);
      assert.deepEqual(run(Long, 'value'), run(reference, 'value'), `fromValue(${text}, ${unsigned})`);
    }), { numRuns: 3000 });
    // Radix arguments other than 10 and the goog.math.long form (radix as second argument) keep the library's code.
    assert.deepEqual(bits(Long.fromString('ff', false, 16)), bits(reference.fromString('ff', false, 16)));
    assert.deepEqual(bits(Long.fromString('777', 8)), bits(reference.fromString('777', 8)));
  });

  it('every uint64 crosses a codec unchanged (encode from decimal text, decode to decimal text)', () => {
    const codec = messageCodec('flotilla.kvrpcpb.PrewriteRequest');
    fc.assert(fc.property(u64Arb, u64Arb, (startTs, ttl) => {
      const decoded = codec.decode(codec.encode({ startVersion: startTs.toString(), lockTtl: ttl.toString() }));
      assert.equal(decoded.startVersion, startTs.toString());
      assert.equal(decoded.lockTtl, ttl.toString());
    }), { numRuns: 1000 });
  });
});
