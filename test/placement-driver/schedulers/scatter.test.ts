// The admin scatter on generated clusters (labelled and not, some stores down or not heard from):
// applied step by step, it keeps the live voters a quorum, ends with the same number of voters,
// all on up stores and on distinct hosts, and with a leader; it refuses a region with a learner or
// a replica on a store that is not up, or without a known leader; and over many seeds it really
// spreads (replicas land on more than the stores they started on). Planted bug F7 P6 (scatter
// ignoring host labels) went uncaught before this file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../common/index.js';
import { planScatter, votersOf } from '../../../placement-driver/schedulers/index.js';
import { generateCluster, seeds, withSeed } from './model.js';

const FILE = 'scatter.test.js';

describe('scatter on generated clusters', () => {
  it('moves replicas and leadership onto distinct up hosts, one quorum-safe step at a time', () => {
    const landed = new Set<number>();
    let scattered = 0;
    for (const seed of seeds(300)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0.15, storesMin: 3 });
        const rng = createRng(seed);
        for (const r of [...model.regions].slice(0, 5)) {
          const view = model.view();
          const rv = view.regions.find((x) => x.region.id === r.region.id)!;
          const plan = planScatter(view, rv, rng, model.newPeerId);
          const isScatterable = r.region.peers.every((p) => p.role === 'voter' && model.stores.get(p.storeId)?.health === 'up');
          if (!isScatterable) {
            assert.equal(plan.kind, 'refused', `region ${r.region.id} has a replica on a store that is not up`);
            continue;
          }
          if (plan.kind === 'refused') {
            assert.match(plan.reason, /distinct hosts/);
            continue;
          }
          const count = votersOf(r.region).length;
          model.applyPlan({ regionId: r.region.id, epoch: r.region.epoch, kind: 'region', description: 'scatter', steps: plan.steps }, (id) => assert.ok(model.hasLiveQuorum(id), `region ${id}: quorum lost`));
          const after = model.byId(r.region.id);
          const voters = votersOf(after.region);
          assert.equal(voters.length, count, 'scatter changed the replica count');
          assert.equal(after.region.peers.length, count, 'scatter left a learner');
          assert.equal(new Set(voters.map((p) => model.host(p.storeId))).size, voters.length, `region ${r.region.id}: two replicas on one host after scatter`);
          for (const p of voters) {
            assert.equal(model.stores.get(p.storeId)?.health, 'up', `a replica scattered onto store ${p.storeId}, not up`);
            landed.add(p.storeId);
          }
          assert.ok(voters.some((p) => p.id === after.leaderPeerId), 'no leader after scatter');
          scattered++;
        }
      });
    }
    assert.ok(scattered > 200, `only ${scattered} scatters`);
    assert.ok(landed.size >= 6, `replicas only ever landed on stores ${[...landed].join(', ')}`);
  });

  it('refuses a region without a known leader', () => {
    const model = generateCluster(5, { settled: true, unhealthy: 0, storesMin: 4 });
    const view = model.view();
    const rv = { ...view.regions[0]!, leaderPeerId: 0 };
    const plan = planScatter(view, rv, createRng(5), model.newPeerId);
    assert.equal(plan.kind, 'refused');
  });
});
