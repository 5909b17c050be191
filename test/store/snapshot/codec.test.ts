// Region snapshot bytes (store/snapshot/codec.ts, files.ts) and the 'applying' region state: records
// round-trip through chunks and payload files; a key outside the region, a local key, a truncated
// record or a damaged file is Corruption, never written.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyStateKey, crc32, type DataCf, encodeKey, FlotillaError, type KeyRange, rawKey, type RegionMeta, writeKey } from '../../../common/index.js';
import { decodeRegionState, encodeRegionState } from '../../../store/local-state.js';
import {
  ChunkWriter, decodeChunk, decodeSnapshotData, encodeSnapshotData, readSnapshotFile, regionDataRanges, SnapshotFileWriter,
} from '../../../store/snapshot/index.js';

const region: RegionMeta = {
  id: 4, startKey: encodeKey(Buffer.from('b')), endKey: encodeKey(Buffer.from('m')), epoch: { confVer: 2, version: 1 },
  peers: [{ id: 5, storeId: 1, role: 'voter' }, { id: 6, storeId: 2, role: 'learner' }],
};
const ranges = new Map<DataCf, KeyRange>(regionDataRanges(region).map((r) => [r.cf, r.range]));
const isCorruption = (e: unknown): boolean => e instanceof FlotillaError && e.code === 'Corruption';

describe('snapshot records and payload files', () => {
  it('round-trips records of every data CF inside the region through a chunk', () => {
    const w = new ChunkWriter(8);
    const kvs = [[rawKey(Buffer.from('b')), Buffer.from('1')], [rawKey(Buffer.from('lzz')), Buffer.alloc(300, 7)], [writeKey(Buffer.from('c'), 5n), Buffer.alloc(0)]] as const;
    for (const [k, v] of kvs) w.add(k, v);
    const records = decodeChunk(w.take(), ranges, 'test');
    assert.deepEqual(records.map((r) => [r.cf, r.key, r.value]), [['raw', kvs[0][0], kvs[0][1]], ['raw', kvs[1][0], kvs[1][1]], ['write', kvs[2][0], kvs[2][1]]]);
    assert.equal(w.bytes, 0);
  });

  it('refuses a key outside the region (either side), a local key, and every truncation', () => {
    for (const key of [rawKey(Buffer.from('a')), rawKey(Buffer.from('m')), applyStateKey(4)]) {
      const w = new ChunkWriter(64);
      w.add(key, Buffer.from('x'));
      assert.throws(() => decodeChunk(w.take(), ranges, 'test'), isCorruption, key.toString('hex'));
    }
    const w = new ChunkWriter(64);
    w.add(rawKey(Buffer.from('c')), Buffer.from('value'));
    const chunk = w.take();
    for (let n = 1; n < chunk.length; n++) assert.throws(() => decodeChunk(chunk.subarray(0, n), ranges, 'test'), isCorruption, `truncated to ${n}`);
  });

  it('carries the region in SnapshotData and refuses an unknown format', () => {
    assert.deepEqual(decodeSnapshotData(encodeSnapshotData(region), 'test'), region);
    assert.throws(() => decodeSnapshotData(Buffer.from([0x10, 0x09]), 'test'), FlotillaError);
  });

  it('a payload file reads back chunk by chunk with its CRC-32 checked; a flipped byte or a wrong length is Corruption', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-snap-test-'));
    try {
      const writer = await SnapshotFileWriter.create(dir, 'x.snap');
      const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(10, 2), Buffer.alloc(0)];
      for (const c of chunks) await writer.append(c);
      const expected = { crc32: writer.received.crc32, bytes: writer.received.bytes };
      assert.equal(expected.crc32, crc32(Buffer.concat(chunks)));
      await writer.commit();
      const back: Buffer[] = [];
      await readSnapshotFile(writer.path, expected, async (c) => {
        back.push(c);
      });
      assert.deepEqual(back, chunks);
      await assert.rejects(readSnapshotFile(writer.path, { ...expected, bytes: expected.bytes + 1 }, async () => {}), isCorruption);
      const bytes = await readFile(writer.path);
      bytes[100] = bytes[100]! ^ 1;
      await writeFile(writer.path, bytes);
      await assert.rejects(readSnapshotFile(writer.path, expected, async () => {}), isCorruption);
      await writeFile(writer.path, bytes.subarray(0, 500));
      await assert.rejects(readSnapshotFile(writer.path, expected, async () => {}), isCorruption);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an applying region state names its snapshot and round-trips; normal and tombstone states name none', () => {
    const applying = { index: 90, term: 7, crc32: 12345, bytes: 678 };
    assert.deepEqual(decodeRegionState(encodeRegionState({ state: 'applying', region, applying }), 4), { state: 'applying', region, applying });
    assert.deepEqual(decodeRegionState(encodeRegionState({ state: 'tombstone', region }), 4), { state: 'tombstone', region });
    assert.throws(() => encodeRegionState({ state: 'applying', region }), FlotillaError);
    assert.throws(() => encodeRegionState({ state: 'normal', region, applying }), FlotillaError);
  });
});
