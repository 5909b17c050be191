// Memcomparable key encoding: order-preserving, round-tripping, prefix-free, and strict on decode.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareKeys, decodeKey, encodeKey, encodedKeyLength, tryDecodeKey, encodeKeyInto } from '../../common/index.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 2000);

/** Keys biased toward the hard cases: empty, runs of 0x00 and 0xff, lengths near multiples of 8. */
const edgeByte = fc.oneof(fc.constant(0x00), fc.constant(0xff), fc.constant(0x01), fc.constant(0xfe), fc.integer({ min: 0, max: 255 }));
const edgeLength = fc.oneof(fc.constantFrom(0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 63, 64, 65), fc.integer({ min: 0, max: 70 }));
const key = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  edgeLength.chain((n) => fc.array(edgeByte, { minLength: n, maxLength: n }).map((a) => Uint8Array.from(a))),
);

function sign(n: number): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

describe('memcomparable key codec', () => {
  it('round-trips every key', () => {
    fc.assert(
      fc.property(key, (k) => {
        const enc = encodeKey(k);
        assert.equal(enc.length, encodedKeyLength(k.length));
        const dec = decodeKey(enc);
        assert.deepEqual(new Uint8Array(dec.key), k);
        assert.equal(dec.bytesRead, enc.length);
      }),
      { numRuns: RUNS },
    );
  });

  it('compareKeys orders any two byte strings as Buffer.compare does, on both sides of its 64-byte switch', () => {
    // Pairs share a prefix of any length (0..140), then differ in a byte, in length, or not at all:
    // the cases a loop gets wrong (a first difference late, one key a prefix of the other, 0xff
    // against 0x00, equal keys).
    const tail = fc.uint8Array({ maxLength: 3 });
    const pair = fc
      .tuple(fc.integer({ min: 0, max: 140 }), edgeByte, tail, tail, fc.constantFrom('differ', 'prefix', 'equal'), edgeByte)
      .map(([n, fill, ta, tb, how, other]) => {
        const prefix = Buffer.alloc(n, fill);
        const a = Buffer.concat([prefix, ta]);
        if (how === 'equal') return [a, Buffer.from(a)] as const;
        if (how === 'prefix') return [a, Buffer.concat([a, tb.length > 0 ? tb : Uint8Array.of(other)])] as const;
        return [a, Buffer.concat([prefix, Uint8Array.of(other), tb])] as const;
      });
    fc.assert(
      fc.property(pair, fc.boolean(), ([a, b], isSwapped) => {
        const [x, y] = isSwapped ? [b, a] : [a, b];
        assert.equal(sign(compareKeys(x, y)), sign(Buffer.compare(x, y)));
        assert.equal(sign(compareKeys(x.subarray(1), y.subarray(1))), sign(Buffer.compare(x.subarray(1), y.subarray(1))));
      }),
      { numRuns: RUNS },
    );
  });

  it('preserves byte order of raw keys', () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        assert.equal(sign(compareKeys(encodeKey(a), encodeKey(b))), sign(Buffer.compare(a, b)));
      }),
      { numRuns: RUNS },
    );
  });

  it('keeps order when encoded keys are followed by arbitrary suffixes (versions)', () => {
    fc.assert(
      fc.property(key, key, fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }), (a, b, sa, sb) => {
        fc.pre(Buffer.compare(a, b) !== 0);
        const ea = Buffer.concat([encodeKey(a), sa]);
        const eb = Buffer.concat([encodeKey(b), sb]);
        assert.equal(sign(compareKeys(ea, eb)), sign(Buffer.compare(a, b)));
      }),
      { numRuns: RUNS },
    );
  });

  it('decodes a key followed by a suffix and reports the bytes it read', () => {
    fc.assert(
      fc.property(key, fc.uint8Array({ maxLength: 16 }), (k, suffix) => {
        const buf = Buffer.concat([encodeKey(k), suffix]);
        const dec = decodeKey(buf);
        assert.deepEqual(new Uint8Array(dec.key), k);
        assert.deepEqual(new Uint8Array(buf.subarray(dec.bytesRead)), suffix);
      }),
      { numRuns: RUNS },
    );
  });

  it('encodes into a reused buffer at an offset', () => {
    const out = Buffer.alloc(64, 0xaa);
    const end = encodeKeyInto(Buffer.from('hello'), out, 3);
    assert.equal(end, 3 + encodedKeyLength(5));
    assert.equal(out[0], 0xaa);
    assert.deepEqual(decodeKey(out, 3).key, Buffer.from('hello'));
  });

  it('encodes the documented examples exactly', () => {
    assert.deepEqual([...encodeKey(new Uint8Array())], [0, 0, 0, 0, 0, 0, 0, 0, 0xf7]);
    assert.deepEqual([...encodeKey(Buffer.from('abc'))], [0x61, 0x62, 0x63, 0, 0, 0, 0, 0, 0xfa]);
    assert.deepEqual([...encodeKey(new Uint8Array(8).fill(1))], [1, 1, 1, 1, 1, 1, 1, 1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xf7]);
  });

  it('rejects malformed encodings with a reason instead of crashing', () => {
    assert.equal(tryDecodeKey(new Uint8Array([1, 2, 3])).ok, false); // truncated
    assert.equal(tryDecodeKey(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0x10])).ok, false); // bad marker
    assert.equal(tryDecodeKey(new Uint8Array([0x61, 0, 0, 0, 0, 0, 0, 1, 0xf8])).ok, false); // non-zero padding
    assert.equal(tryDecodeKey(new Uint8Array([1, 1, 1, 1, 1, 1, 1, 1, 0xff])).ok, false); // full group, nothing after
    assert.throws(() => decodeKey(new Uint8Array([9])), { name: 'FlotillaError', code: 'Corruption' });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (junk) => {
        const r = tryDecodeKey(junk); // never throws, whatever the bytes
        if (r.ok) assert.deepEqual(encodeKey(r.key), Buffer.from(junk.subarray(0, r.bytesRead)));
      }),
      { numRuns: RUNS },
    );
  });
});
