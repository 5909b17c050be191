// What a store starting without regions learns from PD about the bootstrap region: create a
// replica (mine), ask again (none: a bootstrap is under way), or stop looking (other: the cluster
// moved on, or never chose this store — its replicas come through raft).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RegionMeta } from '../../common/index.js';
import { type BootstrapPd, lookUpBootstrapRegion } from '../../store/bootstrap.js';

function pdWith(region: RegionMeta | null): BootstrapPd {
  const unused = (): never => {
    throw new Error('not used by the lookup');
  };
  return {
    clusterId: 1n, allocId: unused, isBootstrapped: unused, bootstrap: unused, getAllStores: unused, maxReplicas: unused,
    getRegionByKey: (key) => {
      assert.equal(key.length, 0, 'the bootstrap region is the one at the start of the key space');
      return Promise.resolve(region);
    },
  };
}

function region(epoch: { confVer: number; version: number }, storeIds: readonly number[]): RegionMeta {
  return {
    id: 2, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch,
    peers: storeIds.map((storeId, i) => ({ id: 10 + i, storeId, role: 'voter' as const })),
  };
}

describe('lookUpBootstrapRegion', () => {
  const cases: readonly { readonly name: string; readonly region: RegionMeta | null; readonly kind: 'mine' | 'none' | 'other' }[] = [
    { name: 'no region yet', region: null, kind: 'none' },
    { name: 'bootstrap region listing this store', region: region({ confVer: 1, version: 1 }, [1, 2, 3]), kind: 'mine' },
    { name: 'bootstrap region without this store (a store joining later)', region: region({ confVer: 1, version: 1 }, [1, 3, 4]), kind: 'other' },
    { name: 'split since (version moved)', region: region({ confVer: 1, version: 2 }, [1, 2, 3]), kind: 'other' },
    { name: 'members changed since (conf version moved)', region: region({ confVer: 2, version: 1 }, [1, 2, 3]), kind: 'other' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.kind}`, async () => {
      const found = await lookUpBootstrapRegion(pdWith(c.region), 2);
      assert.equal(found.kind, c.kind);
      if (found.kind === 'mine') assert.equal(found.region, c.region);
    });
  }
});
