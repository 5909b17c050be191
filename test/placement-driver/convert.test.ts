// PD's cluster config on the wire (placement-driver/convert.ts): every field survives the trip to
// metapb.Cluster and back as a patch, for configs whose fields all differ (a swapped or misread
// field shows), and a Cluster without its schedule, or none at all, is refused by name.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, FlotillaError } from '../../common/index.js';
import type { metapb } from '../../proto/index.js';
import { CLUSTER_CONFIG_FIELDS, type ClusterConfig, DEFAULT_CLUSTER_CONFIG } from '../../placement-driver/cluster-config.js';
import { clusterConfigPatchFromWire, clusterConfigToWire } from '../../placement-driver/convert.js';

describe('cluster config on the wire', () => {
  it('every field survives the round trip, each with a value of its own', () => {
    const rng = createRng(3);
    for (let trial = 0; trial < 200; trial++) {
      const used = new Set<number>();
      const distinct = (): number => {
        for (;;) {
          const v = 1 + rng.nextInt(1_000_000);
          if (!used.has(v)) {
            used.add(v);
            return v;
          }
        }
      };
      const config = Object.fromEntries(CLUSTER_CONFIG_FIELDS.map((f) => [f, f === 'disableMerge' ? rng.chance(0.5) : distinct()])) as unknown as ClusterConfig;
      const wire = clusterConfigToWire(7n, config);
      assert.equal(wire.id, '7');
      const back = clusterConfigPatchFromWire(wire as unknown as metapb.Cluster);
      assert.deepEqual(back, { ...config }, `trial ${trial}`);
    }
    assert.deepEqual(clusterConfigPatchFromWire(clusterConfigToWire(1n, DEFAULT_CLUSTER_CONFIG) as unknown as metapb.Cluster), { ...DEFAULT_CLUSTER_CONFIG });
  });

  it('refuses a missing cluster or schedule by name', () => {
    const isInvalid = (field: string) => (e: unknown): boolean => e instanceof FlotillaError && e.code === 'InvalidArgument' && e.message.startsWith(`${field}:`);
    assert.throws(() => clusterConfigPatchFromWire(null), isInvalid('cluster'));
    assert.throws(() => clusterConfigPatchFromWire({ ...clusterConfigToWire(1n, DEFAULT_CLUSTER_CONFIG), schedule: null } as unknown as metapb.Cluster), isInvalid('cluster.schedule'));
  });
});
