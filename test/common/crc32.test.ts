// CRC-32: the native path (zlib.crc32) agrees with the table-driven reference over every shape of
// input the callers use — whole buffers, sub-ranges, empty ranges, and checksums continued across
// chunks (snapshot streams) — and both give the IEEE check value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc32, crc32Table } from '../../common/index.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 2000);

describe('crc32', () => {
  it('gives the IEEE check value, native and table alike', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32Table(Buffer.from('123456789')), 0xcbf43926);
    assert.equal(crc32(Buffer.alloc(0)), 0);
  });

  it('matches the table over sub-ranges and continued checksums', () => {
    const input = fc.uint8Array({ maxLength: 600 }).chain((bytes) => fc.tuple(
      fc.constant(bytes),
      fc.integer({ min: 0, max: bytes.length }),
      fc.integer({ min: 0, max: bytes.length }),
      fc.oneof(fc.constant(0), fc.constant(0xffffffff), fc.integer({ min: 0, max: 0xffffffff })),
    ));
    fc.assert(fc.property(input, ([bytes, a, b, seed]) => {
      const [start, end] = a <= b ? [a, b] : [b, a];
      assert.equal(crc32(bytes, start, end, seed), crc32Table(bytes, start, end, seed));
      assert.equal(crc32(bytes), crc32Table(bytes));
      // Chunked = whole: the continuation contract the snapshot trailer relies on.
      assert.equal(crc32(bytes, start, bytes.length, crc32(bytes, 0, start)), crc32(bytes));
    }), { numRuns: RUNS });
  });
});
