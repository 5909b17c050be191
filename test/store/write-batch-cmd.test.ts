// The write-batch entry codec (store/write-batch-cmd.ts), judged against generated input: every
// CF and kind, empty and large keys and values, lengths at every varint boundary, header numbers
// up to 2^53 - 1, many commands per entry. The reference is the commands themselves: decoding an
// entry must give back exactly the concatenation of its commands' operations, through the same
// decodeCommand the apply path uses. Malformed entries — every truncation, every single-byte
// change that breaks the structure, trailing bytes — are Corruption, never a crash or a silent
// misread.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CF_PREFIX, type DataCf, FlotillaError, type WriteOp } from '../../common/index.js';
import { createRng } from '../../common/rng.js';
import { decodeCommand } from '../../store/raft-cmd.js';
import { decodeWriteBatch, encodeWriteBatch, isWriteBatch, writeOpsBytes, WRITE_BATCH_OVERHEAD_MAX } from '../../store/write-batch-cmd.js';
import { encodeLatest, encodeWrite, type Write } from '../../txn/index.js';

const CFS: readonly DataCf[] = ['default', 'lock', 'write', 'latest', 'raw'];
const LENGTHS = [0, 1, 2, 126, 127, 128, 129, 255, 16_383, 16_384, 16_385, 70_000];

function randomOp(rng: () => number, lengthOf: () => number): WriteOp {
  const cf = CFS[Math.floor(rng() * CFS.length)]!;
  const key = Buffer.alloc(1 + lengthOf());
  for (let i = 1; i < key.length; i++) key[i] = Math.floor(rng() * 256);
  key[0] = CF_PREFIX[cf];
  if (rng() < 0.3) return { kind: 'delete', cf, key };
  const value = Buffer.alloc(lengthOf());
  for (let i = 0; i < value.length; i++) value[i] = Math.floor(rng() * 256);
  return { kind: 'put', cf, key, value };
}

/**
 * A commit's pair as txn writes it (actions/common.ts putWriteRecord): a write record, then the
 * key's latest record — mostly the one whose data is that write (the encoder's compact form), and
 * sometimes one it must carry whole: data of another write, no data, a bad checksum, or a latest
 * record with no write record before it.
 */
function commitPair(rng: () => number, lengthOf: () => number): WriteOp[] {
  const userKey = Buffer.alloc(1 + lengthOf());
  for (let i = 1; i < userKey.length; i++) userKey[i] = Math.floor(rng() * 256);
  const ts = (): bigint => BigInt(Math.floor(rng() * 2 ** 52)) << BigInt(Math.floor(rng() * 12));
  const shortValue = rng() < 0.2 ? null : Buffer.alloc(Math.min(lengthOf(), 1024), Math.floor(rng() * 256));
  const kind = rng() < 0.8 ? 'put' : 'delete';
  const write: Write = { kind, startTs: ts(), shortValue: kind === 'put' && rng() < 0.9 ? shortValue : null, hasOverlappedRollback: false, isProtected: false };
  const commitTs = ts();
  const writeKey = Buffer.concat([Buffer.from([CF_PREFIX.write]), userKey, Buffer.alloc(8, 1)]);
  const latestKey = Buffer.concat([Buffer.from([CF_PREFIX.latest]), userKey]);
  const writeOp: WriteOp = { kind: 'put', cf: 'write', key: writeKey, value: encodeWrite(write) };
  const shape = rng();
  const maxWriteTs = commitTs + BigInt(Math.floor(rng() * 3));
  let latest: Buffer;
  if (shape < 0.7) latest = encodeLatest({ data: { commitTs, write }, maxWriteTs });
  else if (shape < 0.8) latest = encodeLatest({ data: { commitTs, write: { ...write, startTs: write.startTs + 1n } }, maxWriteTs });
  else if (shape < 0.9) latest = encodeLatest({ data: null, maxWriteTs });
  else {
    latest = encodeLatest({ data: { commitTs, write }, maxWriteTs });
    latest[latest.length - 1]! ^= 1; // a bad checksum: carried as it is, never rebuilt into a good one
  }
  const latestOp: WriteOp = { kind: 'put', cf: 'latest', key: latestKey, value: latest };
  return rng() < 0.1 ? [latestOp, writeOp] : [writeOp, latestOp];
}

function plain(ops: readonly WriteOp[]): unknown[] {
  return ops.map((op) => (op.kind === 'put' ? { kind: op.kind, cf: op.cf, key: Buffer.from(op.key), value: Buffer.from(op.value) } : { kind: op.kind, cf: op.cf, key: Buffer.from(op.key) }));
}

function corrupt(fn: () => unknown, why: string): void {
  assert.throws(fn, (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption', why);
}

describe('write-batch entries', () => {
  it('round-trip generated commands through the apply path\'s decoder, with the exact size', () => {
    const r = createRng(0x5eed);
    const rng = (): number => r.nextFloat();
    const small = (): number => Math.floor(rng() * 40);
    const edgy = (): number => LENGTHS[Math.floor(rng() * LENGTHS.length)]!;
    const headers = [
      { regionId: 1, peerId: 2, epoch: { confVer: 1, version: 1 } },
      { regionId: 127, peerId: 128, epoch: { confVer: 16_383, version: 16_384 } },
      { regionId: Number.MAX_SAFE_INTEGER, peerId: 2 ** 32, epoch: { confVer: 2 ** 31, version: Number.MAX_SAFE_INTEGER } },
    ];
    for (let round = 0; round < 300; round++) {
      const header = headers[round % headers.length]!;
      const parts: WriteOp[][] = [];
      const commands = 1 + Math.floor(rng() * (round % 10 === 0 ? 300 : 6));
      for (let c = 0; c < commands; c++) {
        const n = Math.floor(rng() * 4) + (rng() < 0.1 ? 0 : 1);
        const ops: WriteOp[] = [];
        for (let i = 0; i < n; i++) {
          if (round % 2 === 1 && rng() < 0.5) ops.push(...commitPair(rng, round % 7 === 0 ? edgy : small));
          else ops.push(randomOp(rng, round % 7 === 0 ? edgy : small));
        }
        parts.push(ops);
      }
      const bytes = parts.reduce((s, ops) => s + writeOpsBytes(ops), 0);
      const data = encodeWriteBatch(header, parts, bytes);
      assert.ok(data.length <= bytes + WRITE_BATCH_OVERHEAD_MAX, `round ${round}: ${data.length} bytes past the overhead bound`);
      assert.ok(isWriteBatch(data));
      const cmd = decodeCommand(data, `round ${round}`);
      assert.equal(cmd.kind, 'write');
      assert.equal(cmd.regionId, header.regionId);
      assert.deepEqual(cmd.epoch, header.epoch);
      if (cmd.kind !== 'write') continue;
      assert.deepEqual(plain(cmd.ops), plain(parts.flat()), `round ${round}: operations differ`);
      // A Uint8Array that is not a Buffer (as some decoders hand out) reads the same.
      const copy = new Uint8Array(data.length);
      copy.set(data);
      assert.deepEqual(plain(decodeWriteBatch(copy, 'copy').ops), plain(parts.flat()));
    }
  });

  it('carry a commit\'s latest record as its head only, and rebuild it byte for byte', () => {
    const r = createRng(11);
    const rng = (): number => r.nextFloat();
    const header = { regionId: 5, peerId: 6, epoch: { confVer: 1, version: 3 } };
    const value = Buffer.alloc(256, 9);
    const write: Write = { kind: 'put', startTs: 1000n, shortValue: value, hasOverlappedRollback: false, isProtected: false };
    const pair: WriteOp[] = [
      { kind: 'put', cf: 'write', key: Buffer.from([CF_PREFIX.write, 1, 2, 3]), value: encodeWrite(write) },
      { kind: 'put', cf: 'latest', key: Buffer.from([CF_PREFIX.latest, 1, 2]), value: encodeLatest({ data: { commitTs: 1010n, write }, maxWriteTs: 1010n }) },
    ];
    const full = writeOpsBytes(pair);
    const data = encodeWriteBatch(header, [pair], full);
    assert.equal(data[1], 2, 'format 2: it holds a compact latest record');
    assert.ok(data.length < full - 250, `${data.length} bytes for ${full} bytes of operations`);
    assert.deepEqual(plain(decodeWriteBatch(data, 'pair').ops), plain(pair));
    // Without the compact form the entry stays format 1.
    const plainOnly = [randomOp(rng, () => 4)];
    assert.equal(encodeWriteBatch(header, [plainOnly], writeOpsBytes(plainOnly))[1], 1);
    // Every truncation and every single changed byte of a format-2 entry: Corruption, or a decode
    // that differs from the input only where the byte changed (never a crash).
    for (let n = 0; n < data.length; n++) corrupt(() => decodeWriteBatch(data.subarray(0, n), 'cut'), `cut at ${n} accepted`);
    for (let at = 2; at < data.length; at++) {
      for (const flip of [1, 0x80, 0xff]) {
        const bad = Buffer.from(data);
        bad[at]! ^= flip;
        try {
          decodeWriteBatch(bad, 'flip');
        } catch (err) {
          assert.ok(err instanceof FlotillaError && err.code === 'Corruption', `byte ${at} ^ ${flip}: ${String(err)}`);
        }
      }
    }
    // A compact latest record first, or after a write-CF delete: refused.
    const tagAt = data.length - 18 - pair[1]!.key.length - 1 - 1; // the compact op: tag, key length, key, 18-byte head
    assert.equal(data[tagAt], 0x33);
    const first = encodeWriteBatch(header, [[pair[0]!]], writeOpsBytes([pair[0]!]));
    const alone = Buffer.concat([Buffer.from([0, 2]), first.subarray(2, first.length - writeOpsBytes([pair[0]!])), data.subarray(tagAt)]);
    corrupt(() => decodeWriteBatch(alone, 'alone'), 'a compact latest record with no write record before it accepted');
    const rawOp: WriteOp = { kind: 'put', cf: 'raw', key: Buffer.from([CF_PREFIX.raw, 1]), value: Buffer.from('x') };
    const afterRaw = encodeWriteBatch(header, [[rawOp]], writeOpsBytes([rawOp]));
    const rawThenCompact = Buffer.concat([Buffer.from([0, 2, 5, 6, 1, 3, 2]), afterRaw.subarray(7), data.subarray(tagAt)]);
    corrupt(() => decodeWriteBatch(rawThenCompact, 'raw'), 'a compact latest record after a raw put accepted');
    // A head that is not a version-2 latest record with data.
    for (const [at, byte] of [[1, 0], [0, 1], [0, 3]] as const) {
      const badHead = Buffer.from(data);
      badHead[tagAt + 1 + 1 + pair[1]!.key.length + at] = byte;
      corrupt(() => decodeWriteBatch(badHead, 'head'), `a head with byte ${at} = ${byte} accepted`);
    }
    // Format 1 knows no compact op.
    const v1 = Buffer.from(data);
    v1[1] = 1;
    corrupt(() => decodeWriteBatch(v1, 'v1'), 'a compact op in a format-1 entry accepted');
  });

  it('refuse every truncation, trailing bytes, unknown tags and versions, keys without their CF prefix', () => {
    const r = createRng(7);
    const rng = (): number => r.nextFloat();
    const ops = [randomOp(rng, () => 3), randomOp(rng, () => 130), { kind: 'delete', cf: 'lock', key: Buffer.from([CF_PREFIX.lock, 1]) } as WriteOp];
    const header = { regionId: 300, peerId: 4, epoch: { confVer: 2, version: 9 } };
    const data = encodeWriteBatch(header, [ops], writeOpsBytes(ops));
    for (let n = 0; n < data.length; n++) corrupt(() => decodeWriteBatch(data.subarray(0, n), 'cut'), `cut at ${n} accepted`);
    corrupt(() => decodeWriteBatch(Buffer.concat([data, Buffer.from([0])]), 'tail'), 'a trailing byte accepted');
    const version = Buffer.from(data);
    version[1] = 3;
    corrupt(() => decodeWriteBatch(version, 'v3'), 'an unknown format version accepted');
    // Every tag byte replaced by every value: known tags may re-read the rest differently (and then
    // fail or, for a matching CF swap, also change the key check), unknown ones must be refused.
    const tagAt = 2 + 2 + 1 + 1 + 1 + 1; // magic, version, regionId (2 bytes), peerId, confVer, version, count
    for (let b = 0; b < 256; b++) {
      const bad = Buffer.from(data);
      bad[tagAt] = b;
      const kind = b >> 4;
      const cfCode = b & 0x0f;
      if ((kind === 1 || kind === 2) && cfCode < 5) {
        try {
          decodeWriteBatch(bad, 'tag');
        } catch (err) {
          assert.ok(err instanceof FlotillaError && err.code === 'Corruption', `tag 0x${b.toString(16)}: ${String(err)}`);
        }
      } else {
        corrupt(() => decodeWriteBatch(bad, 'tag'), `tag 0x${b.toString(16)} accepted`);
      }
    }
    // A key whose prefix byte names another CF than its tag.
    const swapped = Buffer.from(data);
    swapped[tagAt] = (swapped[tagAt]! & 0xf0) | ((swapped[tagAt]! & 0x0f) === 4 ? 0 : 4);
    corrupt(() => decodeWriteBatch(swapped, 'swap'), 'a key of another CF accepted');
    // Counts and lengths past the end; a number longer than 8 bytes.
    corrupt(() => decodeWriteBatch(Buffer.from([0, 1, 1, 1, 1, 1, 0xff, 0xff, 0xff, 0x7f]), 'count'), 'a count past the end accepted');
    corrupt(() => decodeWriteBatch(Buffer.from([0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 'long'), 'a 9-byte number accepted');
    corrupt(() => decodeWriteBatch(Buffer.from([0, 1, 1, 1, 1, 1, 1, 0x14, 0x7f, CF_PREFIX.raw]), 'len'), 'a key length past the end accepted');
  });

  it('refuse to encode local writes or keys without their CF prefix', () => {
    const header = { regionId: 1, peerId: 1, epoch: { confVer: 1, version: 1 } };
    const local: WriteOp = { kind: 'put', cf: 'local', key: Buffer.from([CF_PREFIX.local, 1]), value: Buffer.alloc(1) };
    assert.throws(() => encodeWriteBatch(header, [[local]], writeOpsBytes([local])), (e: unknown) => e instanceof FlotillaError && e.code === 'Internal');
    const wrong: WriteOp = { kind: 'delete', cf: 'raw', key: Buffer.from([CF_PREFIX.write, 1]) };
    assert.throws(() => encodeWriteBatch(header, [[wrong]], writeOpsBytes([wrong])), (e: unknown) => e instanceof FlotillaError && e.code === 'Internal');
  });
});
