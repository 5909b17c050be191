// Region index: lookups by key and id, stale reports refused, splits and merges replace what they
// cover, and the key space stays free of overlaps whatever order reports arrive in.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRng, encodeKey } from '../../common/index.js';
import { RegionIndex, regionContains, type RegionMeta } from '../../placement-driver/region-index.js';

const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s)));

function region(id: number, start: string, end: string, version: number, confVer = 1): RegionMeta {
  return { id, startKey: k(start), endKey: k(end), epoch: { confVer, version }, peers: [{ id: id * 10, storeId: 1, role: 'voter' }] };
}

describe('region index', () => {
  it('finds regions by key, id and previous, and scans ranges', () => {
    const idx = new RegionIndex();
    assert.equal(idx.upsert(region(1, '', 'g', 2)).kind, 'updated');
    assert.equal(idx.upsert(region(2, 'g', 'p', 2)).kind, 'updated');
    assert.equal(idx.upsert(region(3, 'p', '', 2)).kind, 'updated');
    assert.equal(idx.getByKey(k('a'))?.id, 1);
    assert.equal(idx.getByKey(k(''))?.id, 1);
    assert.equal(idx.getByKey(k('g'))?.id, 2);
    assert.equal(idx.getByKey(k('zzz'))?.id, 3);
    assert.equal(idx.getById(2)?.id, 2);
    assert.equal(idx.getPrev(k('h'))?.id, 1);
    assert.equal(idx.getPrev(k('a')), undefined);
    assert.deepEqual(idx.scan(k('b'), k('q'), 10).map((r) => r.id), [1, 2, 3]);
    assert.deepEqual(idx.scan(k('g'), k('p'), 10).map((r) => r.id), [2]);
    assert.deepEqual(idx.scan(k(''), k(''), 2).map((r) => r.id), [1, 2]);
  });

  it('a split replaces the parent; the parent reported late is refused as stale', () => {
    const idx = new RegionIndex();
    idx.upsert(region(1, '', '', 1));
    const parent = idx.getById(1);
    const left = region(1, '', 'm', 2);
    const right = region(2, 'm', '', 2);
    assert.deepEqual(idx.upsert(right), { kind: 'updated', removed: [parent] });
    assert.equal(idx.upsert(left).kind, 'updated');
    const stale = idx.upsert(region(1, '', '', 1));
    assert.equal(stale.kind, 'stale');
    assert.equal(idx.size, 2);
    assert.equal(idx.upsert(region(1, '', 'm', 2)).kind, 'unchanged');
  });

  it('a membership change with an older conf_ver is stale; a newer one replaces', () => {
    const idx = new RegionIndex();
    idx.upsert(region(1, '', '', 1, 5));
    assert.equal(idx.upsert(region(1, '', '', 1, 4)).kind, 'stale');
    assert.equal(idx.upsert(region(1, '', '', 1, 6)).kind, 'updated');
    assert.equal(idx.getById(1)?.epoch.confVer, 6);
  });

  it('a merge covers both sources', () => {
    const idx = new RegionIndex();
    idx.upsert(region(1, '', 'm', 3));
    idx.upsert(region(2, 'm', '', 3));
    const merged = idx.upsert(region(2, '', '', 4));
    assert.equal(merged.kind, 'updated');
    assert.equal(idx.size, 1);
    assert.equal(idx.getById(1), undefined);
  });

  it('stays consistent under random splits reported in random order (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (seed) => {
        const rng = createRng(seed);
        // Truth: a sequence of splits of one key space; each split bumps version of both halves.
        let truth: RegionMeta[] = [region(1, '', '', 1)];
        const reports: RegionMeta[] = [truth[0]!];
        let nextId = 2;
        for (let s = 0; s < 30; s++) {
          const i = rng.nextInt(truth.length);
          const r = truth[i]!;
          const splitKey = k(String.fromCharCode(97 + rng.nextInt(26)) + rng.nextInt(1000).toString().padStart(3, '0'));
          if (!regionContains(r, splitKey) || splitKey.equals(r.startKey)) continue;
          const version = r.epoch.version + 1;
          const left: RegionMeta = { ...r, endKey: splitKey, epoch: { ...r.epoch, version } };
          const right: RegionMeta = { ...r, id: nextId++, startKey: splitKey, epoch: { ...r.epoch, version } };
          truth = [...truth.slice(0, i), left, right, ...truth.slice(i + 1)];
          reports.push(left, right);
        }
        const idx = new RegionIndex();
        // Deliver every report in a random order, some twice.
        const order = reports.map((r, i) => ({ r, key: rng.nextU32() + i })).sort((a, b) => a.key - b.key).map((x) => x.r);
        for (const r of [...order, ...order.filter(() => rng.chance(0.3))]) idx.upsert(r);
        // Then every region of the final layout reports once more (as heartbeats would).
        for (const r of truth) idx.upsert(r);
        const all = idx.all();
        for (let i = 1; i < all.length; i++) assert.ok(Buffer.compare(all[i - 1]!.endKey, all[i]!.startKey) <= 0, `seed ${seed}: overlap`);
        assert.deepEqual(all.map((r) => r.id), truth.map((r) => r.id), `seed ${seed}`);
        for (const r of truth) assert.equal(idx.getByKey(r.startKey)?.id, r.id);
      }),
      { numRuns: 300 },
    );
  });
});
