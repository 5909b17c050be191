// Installing a region snapshot (store/snapshot/apply.ts) over a replica that held another range
// before (a split or merge it missed): judged against a model over every pair of old and new
// ranges cut from a small key space. After the install, every data CF holds exactly the snapshot's
// records inside the new range, nothing of the old range (the keys there belong to other regions
// now, which bring their own data), and every key outside both ranges is untouched.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA_CFS, dataKey, encodeKey, type RegionMeta, silentLogger } from '../../../common/index.js';
import { MemoryEngine } from '../../../store/index.js';
import { ChunkWriter, SnapshotFileWriter, SnapshotInstaller, snapshotFileName } from '../../../store/snapshot/index.js';

const USER_KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const STARTS = ['', 'b', 'c', 'd', 'e'];
const ENDS = ['c', 'd', 'e', 'f', ''];

const bound = (k: string): Buffer => (k === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(k)));
const inRange = (start: string, end: string, k: string): boolean => k >= start && (end === '' || k < end);

function region(start: string, end: string, version: number): RegionMeta {
  return { id: 9, startKey: bound(start), endKey: bound(end), epoch: { confVer: 1, version }, peers: [{ id: 91, storeId: 1, role: 'voter' }] };
}

describe('region snapshot install over another range', () => {
  it('leaves exactly the snapshot in the new range, nothing of the old range, the rest untouched (every old × new range pair)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-snap-apply-'));
    try {
      let cases = 0;
      let rangeChanged = 0;
      let index = 10;
      for (const [oldStart, oldEnd] of STARTS.flatMap((s) => ENDS.filter((e) => e === '' || e > s).map((e) => [s, e] as const))) {
        for (const [newStart, newEnd] of STARTS.flatMap((s) => ENDS.filter((e) => e === '' || e > s).map((e) => [s, e] as const))) {
          // The same region before and after a split or merge: the two ranges overlap.
          const overlaps = (oldEnd === '' || newStart < oldEnd) && (newEnd === '' || oldStart < newEnd);
          if (!overlaps) continue;
          const what = `old [${oldStart}, ${oldEnd || '+inf'}) new [${newStart}, ${newEnd || '+inf'})`;
          const engine = new MemoryEngine();
          await engine.write(DATA_CFS.flatMap((cf) => USER_KEYS.map((k) => ({ kind: 'put' as const, cf, key: dataKey(cf, Buffer.from(k)), value: Buffer.from(`old ${cf} ${k}`) }))), { sync: true });
          index++;
          const writer = await SnapshotFileWriter.create(dir, snapshotFileName(9, index, 2));
          const chunk = new ChunkWriter(64);
          for (const k of USER_KEYS.filter((u) => inRange(newStart, newEnd, u))) chunk.add(dataKey('raw', Buffer.from(k)), Buffer.from(`new ${k}`));
          await writer.append(chunk.take());
          await writer.commit();
          const installer = new SnapshotInstaller({ engine, dir, logger: silentLogger() });
          await installer.install({
            region: region(newStart, newEnd, 5), index, term: 2, payload: { path: writer.path, ...writer.received },
            hardState: { term: 2, vote: 91, commit: index }, entries: [], previousRegion: region(oldStart, oldEnd, 3),
          });
          for (const cf of DATA_CFS) {
            for (const k of USER_KEYS) {
              const want = inRange(newStart, newEnd, k) ? (cf === 'raw' ? `new ${k}` : null) : inRange(oldStart, oldEnd, k) ? null : `old ${cf} ${k}`;
              const got = await engine.get(dataKey(cf, Buffer.from(k)));
              assert.equal(got?.toString() ?? null, want, `${what}: ${cf} ${k}`);
            }
          }
          await engine.close();
          cases++;
          if (oldStart !== newStart || oldEnd !== newEnd) rangeChanged++;
        }
      }
      assert.ok(cases > 100 && rangeChanged > 90, `${cases} cases, ${rangeChanged} with the range changed`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
