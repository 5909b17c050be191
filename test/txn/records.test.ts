// Lock and write records: versioned, checksummed encodings round-trip; damage is Corruption.
// The keyspace: versions of a key sort newest first, keys sort like raw keys, local keys by index.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isFlotillaError, TS_MAX, U64_MAX } from '../../common/index.js';
import { crc32 } from '../../common/index.js';
import { decodeLock, decodeWrite, encodeLock, encodeWrite, type Lock, SHORT_VALUE_BYTES_MAX, type Write } from '../../txn/index.js';
import {
  applyStateKey, cfRangeOf, decodeDataKey, defaultKey, lockKey, raftHardStateKey, raftLogIndexOf, raftLogKey, regionRaftRange,
  regionStateKey, sameUserKey, versionOf, versionsEndKey, writeKey,
} from '../../common/pure.js';

const tsArb = fc.bigInt({ min: 0n, max: U64_MAX });
const bytesArb = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
/** Inline values of every length class: none, one-byte length (≤ 255), two-byte length (256 … max). */
const inlineValueArb = fc.option(fc.oneof(bytesArb(255), fc.integer({ min: 250, max: SHORT_VALUE_BYTES_MAX }).map((n) => Buffer.alloc(n, n & 0xff))), { nil: null });

const lockArb: fc.Arbitrary<Lock> = fc.record({
  kind: fc.constantFrom<Lock['kind']>('put', 'delete', 'lock'),
  primary: bytesArb(64),
  startTs: tsArb,
  ttlMs: fc.nat(0xffffffff),
  shortValue: inlineValueArb,
  txnSize: fc.nat(0xffffffff),
  minCommitTs: tsArb,
}).map((l) => (l.kind === 'put' ? l : { ...l, shortValue: null }));

const writeArb: fc.Arbitrary<Write> = fc.record({
  kind: fc.constantFrom<Write['kind']>('put', 'delete', 'lock', 'rollback'),
  startTs: tsArb,
  shortValue: inlineValueArb,
  hasOverlappedRollback: fc.boolean(),
  isProtected: fc.boolean(),
}).map((w) => (w.kind === 'put' ? w : { ...w, shortValue: null }));

describe('records', () => {
  it('crc32 matches the IEEE check value', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  });

  it('lock and write encodings round-trip', () => {
    fc.assert(fc.property(lockArb, (lock) => assert.deepEqual(decodeLock(encodeLock(lock)), { ...lock })), { numRuns: 500 });
    fc.assert(fc.property(writeArb, (write) => assert.deepEqual(decodeWrite(encodeWrite(write)), { ...write })), { numRuns: 500 });
  });

  it('any flipped bit, truncation or unknown version is Corruption, never a wrong record', () => {
    const isCorruption = (e: unknown): boolean => isFlotillaError(e, 'Corruption');
    fc.assert(fc.property(lockArb, writeArb, fc.nat(), fc.nat(7), (lock, write, at, bit) => {
      for (const [encoded, decode] of [[encodeLock(lock), decodeLock], [encodeWrite(write), decodeWrite]] as const) {
        const flipped = Buffer.from(encoded);
        flipped[at % flipped.length]! ^= 1 << bit;
        assert.throws(() => decode(flipped), isCorruption);
        assert.throws(() => decode(encoded.subarray(0, encoded.length - 1 - (at % 4))), isCorruption);
      }
    }), { numRuns: 300 });
    const wrongVersion = encodeWrite({ kind: 'put', startTs: 1n, shortValue: null, hasOverlappedRollback: false, isProtected: false });
    wrongVersion[0] = 2;
    assert.throws(() => decodeWrite(wrongVersion), /unknown version/);
  });

  it('an inline value up to 255 bytes keeps the one-byte length; a longer one takes the two-byte form, and only it', () => {
    const write = (n: number): Write => ({ kind: 'put', startTs: 7n, shortValue: Buffer.alloc(n, 0x61), hasOverlappedRollback: false, isProtected: false });
    const lock = (n: number): Lock => ({ kind: 'put', primary: Buffer.from('p'), startTs: 7n, ttlMs: 1, shortValue: Buffer.alloc(n, 0x61), txnSize: 1, minCommitTs: 8n });
    // Write record: flags byte 2 (bit 0 one-byte length, bit 3 two-byte), the value after byte 11.
    for (const [n, flag, lengthBytes] of [[0, 1, 1], [255, 1, 1], [256, 8, 2], [SHORT_VALUE_BYTES_MAX, 8, 2]] as const) {
      const encoded = encodeWrite(write(n));
      assert.equal(encoded[2], flag, `flags of a ${n}-byte value`);
      assert.equal(encoded.length, 11 + lengthBytes + n + 4, `size of a ${n}-byte value's write record`);
      const lockEncoded = encodeLock(lock(n));
      assert.equal(lockEncoded[28 + 1], lengthBytes, `has_short of a ${n}-byte value's lock`);
      assert.equal(lockEncoded.length, 28 + 1 + 1 + lengthBytes + n + 4);
    }
    // A two-byte length that a one-byte length could hold, or both flags: Corruption (re-checksummed, so only the layout is wrong).
    const reseal = (b: Buffer): Buffer => {
      b.writeUInt32BE(crc32(b, 0, b.length - 4), b.length - 4);
      return b;
    };
    const wide = Buffer.alloc(11 + 2 + 200 + 4);
    encodeWrite(write(0)).copy(wide, 0, 0, 11);
    wide[2] = 8;
    wide.writeUInt16BE(200, 11);
    assert.throws(() => decodeWrite(reseal(wide)), /bad inline value length/);
    const both = encodeWrite(write(300));
    both[2] = 8 | 1;
    assert.throws(() => decodeWrite(reseal(both)), /two inline value lengths/);
    const wideLock = encodeLock(lock(300));
    wideLock.writeUInt16BE(299, 30);
    assert.throws(() => decodeLock(reseal(wideLock)), /bad inline value length/);
    assert.throws(() => encodeWrite(write(0x10000)), /too long/);
  });

  it('an inline value whose length field disagrees with the bytes that follow is Corruption in both forms, at every length boundary (re-checksummed)', () => {
    // Each record at the lengths around both forms' limits, then: its length field one or two
    // off either way, a byte appended after the value, or its last byte dropped — every one
    // resealed with a correct checksum, so only the layout is wrong. A decoder that takes the
    // rest of the record as the value would hand back a value that was never written.
    const reseal = (b: Buffer): Buffer => {
      b.writeUInt32BE(crc32(b, 0, b.length - 4), b.length - 4);
      return b;
    };
    const write = (n: number): Write => ({ kind: 'put', startTs: 7n, shortValue: Buffer.alloc(n, 0x61), hasOverlappedRollback: false, isProtected: false });
    const lock = (n: number): Lock => ({ kind: 'put', primary: Buffer.from('p'), startTs: 7n, ttlMs: 1, shortValue: Buffer.alloc(n, 0x61), txnSize: 1, minCommitTs: 8n });
    const forms = [
      { name: 'write', encode: (n: number) => encodeWrite(write(n)), decode: decodeWrite, lengthAt: 11 },
      { name: 'lock', encode: (n: number) => encodeLock(lock(n)), decode: decodeLock, lengthAt: 28 + 1 + 1 },
    ];
    let cases = 0;
    for (const form of forms) {
      for (const n of [0, 1, 254, 255, 256, 257, SHORT_VALUE_BYTES_MAX - 1, SHORT_VALUE_BYTES_MAX]) {
        const good = form.encode(n);
        assert.equal(form.decode(good).shortValue?.length, n, `${form.name}: a ${n}-byte value round-trips`);
        const isWide = n > 255;
        const mutants: [string, Buffer][] = [];
        for (const delta of [-2, -1, 1, 2]) {
          const length = n + delta;
          if (length < 0 || length > (isWide ? 0xffff : 0xff)) continue;
          const b = Buffer.from(good);
          if (isWide) b.writeUInt16BE(length, form.lengthAt);
          else b[form.lengthAt] = length;
          mutants.push([`length field ${length}`, b]);
        }
        const body = good.subarray(0, good.length - 4);
        mutants.push(['a byte appended after the value', Buffer.concat([body, Buffer.from([0x61]), Buffer.alloc(4)])]);
        if (n > 0) mutants.push(['the last value byte dropped', Buffer.concat([body.subarray(0, body.length - 1), Buffer.alloc(4)])]);
        for (const [what, b] of mutants) {
          assert.throws(() => form.decode(reseal(b)), (e: unknown) => isFlotillaError(e) && e.code === 'Corruption', `${form.name}, ${n}-byte value, ${what}: decoded instead of Corruption`);
          cases++;
        }
      }
    }
    assert.ok(cases > 80, `only ${cases} malformed records`);
  });
});

describe('keyspace', () => {
  it('versions of one key sort newest first, and all before the next key', () => {
    fc.assert(fc.property(bytesArb(20), tsArb, tsArb, (key, a, b) => {
      const cmp = Buffer.compare(writeKey(key, a), writeKey(key, b));
      assert.equal(Math.sign(cmp), a === b ? 0 : a > b ? -1 : 1);
      assert.ok(Buffer.compare(writeKey(key, a), versionsEndKey('write', key)) < 0);
      const next = Buffer.concat([key, Buffer.from([0])]);
      assert.ok(Buffer.compare(versionsEndKey('write', key), writeKey(next, TS_MAX)) <= 0);
    }), { numRuns: 300 });
  });

  it('data keys sort like raw keys across CFs and decode back', () => {
    fc.assert(fc.property(bytesArb(20), bytesArb(20), tsArb, (a, b, t) => {
      assert.equal(Math.sign(Buffer.compare(lockKey(a), lockKey(b))), Math.sign(Buffer.compare(a, b)));
      const decoded = decodeDataKey(defaultKey(a, t));
      assert.deepEqual([decoded.cf, decoded.userKey, decoded.ts], ['default', a, t]);
      assert.deepEqual(decodeDataKey(lockKey(b)).userKey, b);
      const range = cfRangeOf('write', a, b);
      if (Buffer.compare(a, b) < 0) {
        assert.ok(Buffer.compare(range.start, writeKey(a, t)) <= 0 && Buffer.compare(writeKey(a, t), range.end) < 0);
        assert.ok(Buffer.compare(writeKey(b, t), range.end) >= 0);
      }
    }), { numRuns: 300 });
    assert.throws(() => decodeDataKey(Buffer.from([0x77, 1, 2])), (e) => isFlotillaError(e, 'Corruption'));
  });

  it('sameUserKey tells versions of one user key from every near neighbour; versionOf reads the ts', () => {
    // Neighbours that encode to keys of the same length are the ones that matter: a key and the
    // key with a zero byte appended differ only in the encoding's last group marker.
    const neighbourArb = fc.tuple(bytesArb(20), fc.constantFrom('same', 'append0', 'append1', 'dropLast', 'flipByte', 'other'), fc.nat(), bytesArb(20))
      .map(([a, how, at, other]): [Buffer, Buffer] => {
        switch (how) {
          case 'same': return [a, Buffer.from(a)];
          case 'append0': return [a, Buffer.concat([a, Buffer.from([0])])];
          case 'append1': return [a, Buffer.concat([a, Buffer.from([1])])];
          case 'dropLast': return [a, a.subarray(0, Math.max(0, a.length - 1))];
          case 'flipByte': {
            if (a.length === 0) return [a, Buffer.from([0])];
            const b = Buffer.from(a);
            const i = at % b.length;
            b[i] = b[i]! ^ (1 << (at % 8));
            return [a, b];
          }
          case 'other': return [a, other];
        }
      });
    fc.assert(fc.property(neighbourArb, tsArb, tsArb, fc.constantFrom(writeKey, defaultKey), ([a, b], ta, tb, keyOf) => {
      const ka = keyOf(a, ta);
      const kb = keyOf(b, tb);
      assert.equal(sameUserKey(ka, kb), a.equals(b), `${a.toString('hex')} vs ${b.toString('hex')}`);
      assert.equal(sameUserKey(kb, ka), a.equals(b));
      assert.equal(versionOf(ka), ta);
      assert.equal(versionOf(kb), tb);
    }), { numRuns: 1000 });
    for (const [a, b] of [['', '\0'], ['a', 'a\0'], ['abcdefgh', 'abcdefgh\0'], ['abcdefg', 'abcdefg\0']] as const) {
      assert.equal(sameUserKey(writeKey(Buffer.from(a), 5n), writeKey(Buffer.from(b), 5n)), false, JSON.stringify([a, b]));
    }
  });

  it('local keys: raft log by index within its region, state keys apart', () => {
    assert.ok(Buffer.compare(raftLogKey(7, 9), raftLogKey(7, 10)) < 0);
    assert.ok(Buffer.compare(raftLogKey(7, 2 ** 40), raftLogKey(8, 1)) < 0);
    assert.equal(raftLogIndexOf(raftLogKey(7, 123456)), 123456);
    const range = regionRaftRange(7);
    for (const key of [raftLogKey(7, 1), raftHardStateKey(7), applyStateKey(7)]) {
      assert.ok(Buffer.compare(range.start, key) <= 0 && Buffer.compare(key, range.end) < 0);
    }
    assert.ok(Buffer.compare(raftHardStateKey(8), range.end) >= 0);
    assert.notDeepEqual(regionStateKey(7), applyStateKey(7));
    assert.ok(Buffer.compare(regionStateKey(7), lockKey(Buffer.alloc(0))) < 0, 'local keys sort before data');
  });
});
