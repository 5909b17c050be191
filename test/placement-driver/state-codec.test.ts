// PD's record codecs (placement-driver/state-codec.ts), generated over their input space: any
// JSON-shaped value with u64s (bigints up to 2^64 − 1) and byte strings anywhere round-trips
// through both encodings, deep-equal; a checksummed record with any byte changed is refused as
// Corruption (never decoded into something else); an unknown version, a truncated record and a
// u64 that is not a canonical decimal below 2^64 are refused as Corruption.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, FlotillaError, type Rng } from '../../common/index.js';
import { decodeChecksummedRecord, decodeJsonRecord, encodeChecksummedRecord, encodeJsonRecord, PD_CODEC_VERSION } from '../../placement-driver/state-codec.js';

function randomValue(rng: Rng, depth: number): unknown {
  switch (rng.nextInt(depth > 3 ? 6 : 8)) {
    case 0: return rng.chance(0.3) ? (1n << 64n) - 1n - BigInt(rng.nextInt(3)) : BigInt(rng.nextU32()) * BigInt(rng.nextU32()) + BigInt(rng.nextInt(2));
    case 1: {
      const b = Buffer.alloc(rng.nextInt(40));
      for (let i = 0; i < b.length; i++) b[i] = rng.nextInt(256);
      return b;
    }
    case 2: return ['', '$u64', '$bytes', 'plain', 'ünï', '{"$u64":"1"}'][rng.nextInt(6)];
    case 3: return rng.nextInt(1_000_000) - 500_000;
    case 4: return rng.chance(0.5);
    case 5: return null;
    case 6: return Array.from({ length: rng.nextInt(5) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < rng.nextInt(5); i++) o[['id', 'epoch', 'peers', '$u64x', 'key', `f${i}`, '$bytes', '$u64'][rng.nextInt(8)]!] = randomValue(rng, depth + 1);
      // A tag key with a sibling is plain data (only a lone $u64 / $bytes key is a tag: PD's
      // records have no such user-named keys).
      if ('$bytes' in o || '$u64' in o) o['sibling'] = true;
      return o;
    }
  }
}

const isCorruption = (e: unknown): boolean => e instanceof FlotillaError && e.code === 'Corruption';

describe('PD record codecs', () => {
  it('round-trip any value with u64s and byte strings, in both encodings', () => {
    const rng = createRng(17);
    for (let i = 0; i < 2_000; i++) {
      const value = { v: randomValue(rng, 0) };
      assert.deepEqual(decodeJsonRecord(encodeJsonRecord(value), 'test'), value);
      assert.deepEqual(decodeChecksummedRecord(encodeChecksummedRecord(value), 'test'), value);
    }
  });

  it('a checksummed record with any byte changed is refused as Corruption; so are versions, truncations and bad u64s', () => {
    const rng = createRng(29);
    for (let i = 0; i < 500; i++) {
      const good = encodeChecksummedRecord({ v: randomValue(rng, 0) });
      const bad = Buffer.from(good);
      const at = rng.nextInt(bad.length);
      bad[at] = (bad[at]! + 1 + rng.nextInt(255)) % 256;
      assert.throws(() => decodeChecksummedRecord(bad, 'test'), isCorruption, `byte ${at} of ${bad.length} changed`);
      assert.throws(() => decodeChecksummedRecord(good.subarray(0, rng.nextInt(5)), 'test'), isCorruption);
    }
    for (const version of [0, PD_CODEC_VERSION + 1, 255]) {
      const json = encodeJsonRecord({ a: 1 });
      json[0] = version;
      assert.throws(() => decodeJsonRecord(json, 'test'), isCorruption);
      const sum = encodeChecksummedRecord({ a: 1 });
      sum[0] = version;
      assert.throws(() => decodeChecksummedRecord(sum, 'test'), isCorruption);
    }
    assert.throws(() => decodeJsonRecord(Buffer.alloc(0), 'test'), isCorruption);
    for (const text of ['007', '-1', '1e3', '', ' 1', '0x10', '1.0', String(1n << 64n), '9'.repeat(21)]) {
      const record = Buffer.concat([Buffer.from([PD_CODEC_VERSION]), Buffer.from(JSON.stringify({ n: { $u64: text } }))]);
      assert.throws(() => decodeJsonRecord(record, 'test'), isCorruption, `u64 ${JSON.stringify(text)}`);
    }
    assert.throws(() => decodeJsonRecord(Buffer.concat([Buffer.from([PD_CODEC_VERSION]), Buffer.from('{"a":')]), 'test'), isCorruption);
  });
});
