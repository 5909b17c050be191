// RegionSizeCache (store/region-size-cache.ts): when a region heartbeat may reuse the last measured
// size instead of measuring the region on disk again. Every condition at its boundary.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RegionMeta } from '../../common/index.js';
import { RegionSizeCache } from '../../store/region-size-cache.js';

const region = (id: number, start: string, end: string, version = 1): RegionMeta => ({
  id, startKey: Buffer.from(start), endKey: Buffer.from(end), epoch: { confVer: 1, version }, peers: [{ id: id * 10, storeId: 1, role: 'voter' }],
});

describe('RegionSizeCache', () => {
  const REFRESH_MS = 1_000;

  it('nothing measured yet: no size to reuse', () => {
    const cache = new RegionSizeCache(REFRESH_MS);
    assert.equal(cache.reusable(region(1, 'a', 'b'), 0, 0), null);
  });

  it('reused with no write since, the same region object, and younger than the refresh interval (at refresh − 1, not at refresh)', () => {
    const cache = new RegionSizeCache(REFRESH_MS);
    const r = region(1, 'a', 'b');
    cache.set(r, 4_096, 10_000);
    assert.equal(cache.reusable(r, 0, 10_000), 4_096);
    assert.equal(cache.reusable(r, 0, 10_000 + REFRESH_MS - 1), 4_096);
    assert.equal(cache.reusable(r, 0, 10_000 + REFRESH_MS), null);
  });

  it('one key written since: measured again', () => {
    const cache = new RegionSizeCache(REFRESH_MS);
    const r = region(1, 'a', 'b');
    cache.set(r, 4_096, 0);
    assert.equal(cache.reusable(r, 1, 1), null);
    assert.equal(cache.reusable(r, 0, 1), 4_096);
  });

  it('a range change (split, merge, conf change: a new region object) is measured again, even with equal fields', () => {
    const cache = new RegionSizeCache(REFRESH_MS);
    const before = region(1, 'a', 'z');
    cache.set(before, 8_192, 0);
    assert.equal(cache.reusable(region(1, 'a', 'm', 2), 0, 1), null);
    assert.equal(cache.reusable(region(1, 'a', 'z'), 0, 1), null);
    assert.equal(cache.reusable(before, 0, 1), 8_192);
  });

  it('regions are kept apart by id; prune drops the ones no longer led', () => {
    const cache = new RegionSizeCache(REFRESH_MS);
    const [r1, r2] = [region(1, 'a', 'b'), region(2, 'b', 'c')];
    cache.set(r1, 1, 0);
    cache.set(r2, 2, 0);
    assert.deepEqual([cache.reusable(r1, 0, 1), cache.reusable(r2, 0, 1)], [1, 2]);
    cache.prune((id) => id === 2);
    assert.deepEqual([cache.size, cache.reusable(r1, 0, 1), cache.reusable(r2, 0, 1)], [1, null, 2]);
  });
});
