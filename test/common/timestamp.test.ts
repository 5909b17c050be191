// Timestamps and u64 encodings are lossless up to 2^64 − 1, and order-preserving (or reversing).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  composeTs, extractLogical, extractPhysical, TS_LOGICAL_MAX, TS_PHYSICAL_MAX, TS_MAX, U64_MAX,
  encodeU64, decodeU64, encodeU64Desc, decodeU64Desc, u64FromWire, u64ToWire, u64ToSafeNumber, formatTs,
} from '../../common/index.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 2000);
const u64 = fc.oneof(fc.bigInt({ min: 0n, max: U64_MAX }), fc.constantFrom(0n, 1n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, U64_MAX - 1n, U64_MAX));

describe('timestamps', () => {
  it('compose and extract round-trip over the whole range', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: TS_PHYSICAL_MAX }), fc.bigInt({ min: 0n, max: TS_LOGICAL_MAX }), (p, l) => {
        const ts = composeTs(p, l);
        assert.equal(extractPhysical(ts), p);
        assert.equal(extractLogical(ts), l);
        assert.ok(ts <= U64_MAX);
      }),
      { numRuns: RUNS },
    );
  });

  it('every u64 splits and recomposes exactly, 2^64 − 1 included', () => {
    fc.assert(fc.property(u64, (ts) => assert.equal(composeTs(extractPhysical(ts), extractLogical(ts)), ts)), { numRuns: RUNS });
    assert.equal(composeTs(TS_PHYSICAL_MAX, TS_LOGICAL_MAX), TS_MAX);
  });

  it('orders by physical then logical', () => {
    assert.ok(composeTs(1000, TS_LOGICAL_MAX) < composeTs(1001, 0));
    assert.equal(formatTs(composeTs(1700000000000, 5)), '1700000000000.5');
  });

  it('rejects out-of-range parts with InvalidArgument', () => {
    assert.throws(() => composeTs(-1, 0), { code: 'InvalidArgument' });
    assert.throws(() => composeTs(0, TS_LOGICAL_MAX + 1n), { code: 'InvalidArgument' });
    assert.throws(() => composeTs(TS_PHYSICAL_MAX + 1n, 0), { code: 'InvalidArgument' });
  });
});

describe('u64 encodings', () => {
  it('big-endian encoding round-trips and preserves order', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        assert.equal(decodeU64(encodeU64(a)), a);
        assert.equal(Math.sign(Buffer.compare(encodeU64(a), encodeU64(b))), a < b ? -1 : a > b ? 1 : 0);
      }),
      { numRuns: RUNS },
    );
  });

  it('complemented encoding round-trips and reverses order (newest version first)', () => {
    fc.assert(
      fc.property(u64, u64, (a, b) => {
        assert.equal(decodeU64Desc(encodeU64Desc(a)), a);
        assert.equal(Math.sign(Buffer.compare(encodeU64Desc(a), encodeU64Desc(b))), a < b ? 1 : a > b ? -1 : 0);
      }),
      { numRuns: RUNS },
    );
  });

  it('wire form is a lossless decimal string', () => {
    fc.assert(fc.property(u64, (v) => assert.equal(u64FromWire(u64ToWire(v)), v)), { numRuns: RUNS });
    assert.equal(u64ToWire(U64_MAX), '18446744073709551615');
  });

  it('rejects malformed, negative, oversized and lossy wire values', () => {
    for (const bad of ['', '-1', '01', '1e3', ' 1', '18446744073709551616', '0x10', 'abc']) {
      assert.throws(() => u64FromWire(bad, 'startTs'), { code: 'InvalidArgument' }, bad);
    }
    assert.throws(() => u64FromWire(2 ** 53), { code: 'InvalidArgument' });
    assert.throws(() => u64FromWire(-3), { code: 'InvalidArgument' });
    assert.throws(() => encodeU64(-1n), { code: 'InvalidArgument' });
    assert.throws(() => encodeU64(U64_MAX + 1n), { code: 'InvalidArgument' });
    assert.throws(() => decodeU64(Buffer.alloc(7)), { code: 'Corruption' });
    assert.equal(u64ToSafeNumber('9007199254740991'), Number.MAX_SAFE_INTEGER);
    assert.throws(() => u64ToSafeNumber('9007199254740992', 'term'), /term/);
  });
});
