// The hot-region scheduler on generated clusters with hot and cold regions (write and read rates
// from zero to 1 MiB/s), judged against the balance rule written out independently: leader load
// (Σ write+read of the hot regions a store leads) and peer load (Σ write of the hot regions it holds
// a replica of) must be left with no due move, only hot regions may be touched, a leader's own
// replica is never moved for peer load, quorums hold at every step, and it converges.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../common/index.js';
import { HOT_REGION_BYTES_PER_SEC_MIN, HotRegion, isPlacementTarget } from '../../../placement-driver/schedulers/index.js';
import { generateCluster, seeds, withSeed, type ModelCluster, type ModelRegion } from './model.js';

const FILE = 'hot-region.test.js';
const TOLERANCE = 0.05;

const isHot = (r: ModelRegion): boolean => r.writeBytesPerSec >= HOT_REGION_BYTES_PER_SEC_MIN || r.readBytesPerSec >= HOT_REGION_BYTES_PER_SEC_MIN;
const heat = (r: ModelRegion): number => r.writeBytesPerSec + r.readBytesPerSec;

function isSettled(model: ModelCluster, r: ModelRegion): boolean {
  return r.region.peers.length === model.config.maxPeerCount && r.region.peers.every((p) => p.role === 'voter' && model.stores.get(p.storeId)?.health === 'up');
}

function loads(model: ModelCluster): { leader: Map<number, number>; peer: Map<number, number> } {
  const up = [...model.stores.values()].filter((s) => s.health === 'up').map((s) => s.id);
  const leader = new Map(up.map((id) => [id, 0]));
  const peer = new Map(up.map((id) => [id, 0]));
  for (const r of model.regions.filter(isHot)) {
    for (const p of r.region.peers) {
      if (p.id === r.leaderPeerId && leader.has(p.storeId)) leader.set(p.storeId, leader.get(p.storeId)! + heat(r));
      if (peer.has(p.storeId)) peer.set(p.storeId, peer.get(p.storeId)! + r.writeBytesPerSec);
    }
  }
  return { leader, peer };
}

const avg = (m: ReadonlyMap<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0) / Math.max(1, m.size);
const isDue = (from: number, to: number, amount: number, average: number): boolean => from - to > Math.max(amount, TOLERANCE * average);

function dueMove(model: ModelCluster): string | undefined {
  const { leader, peer } = loads(model);
  for (const r of model.regions.filter((x) => isHot(x) && isSettled(model, x))) {
    const lead = r.region.peers.find((p) => p.id === r.leaderPeerId)!;
    for (const p of r.region.peers) {
      if (p !== lead && isDue(leader.get(lead.storeId)!, leader.get(p.storeId)!, heat(r), avg(leader))) return `leader of ${r.region.id}: ${lead.storeId} → ${p.storeId}`;
    }
    if (r.writeBytesPerSec === 0) continue;
    for (const from of r.region.peers.filter((p) => p !== lead)) {
      const otherHosts = new Set(r.region.peers.filter((p) => p !== from).map((p) => model.host(p.storeId)));
      for (const s of model.stores.values()) {
        if (!isPlacementTarget(s) || r.region.peers.some((p) => p.storeId === s.id) || otherHosts.has(model.host(s.id))) continue;
        if (isDue(peer.get(from.storeId)!, peer.get(s.id)!, r.writeBytesPerSec, avg(peer))) return `replica of ${r.region.id}: ${from.storeId} → ${s.id}`;
      }
    }
  }
  return undefined;
}

describe('hot-region scheduler on generated clusters', () => {
  it('spreads hot leaders and replicas until no move is due, touching only hot regions and keeping quorums', () => {
    let moves = 0;
    for (const seed of seeds(300)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0.1, storesMin: 3, regionsMax: 40 });
        const rng = createRng(seed);
        for (let n = 0; ; n++) {
          assert.ok(n <= model.regions.length * 20, 'did not converge (flapping?)');
          const plans = new HotRegion().schedule({ view: model.view(), budget: 1 + (seed % 4), newPeerId: model.newPeerId, rng });
          if (plans.length === 0) break;
          for (const plan of plans) {
            const r = model.byId(plan.regionId);
            assert.equal(plan.kind, 'hotRegion');
            assert.ok(isHot(r), `cold region ${plan.regionId} moved`);
            const leaderBefore = r.leaderPeerId;
            const isTransfer = plan.steps.length === 1 && plan.steps[0]!.kind === 'transferLeader';
            model.applyPlan(plan, (id) => assert.ok(model.hasLiveQuorum(id), `region ${id}: quorum lost`));
            if (!isTransfer) assert.ok(model.byId(plan.regionId).region.peers.some((p) => p.id === leaderBefore), `region ${plan.regionId}: the leader's replica moved for peer load`);
            moves++;
          }
        }
        assert.equal(dueMove(model), undefined);
      });
    }
    assert.ok(moves > 100, `only ${moves} moves over every seed`);
  });

  it('does nothing when no region reaches the hot threshold', () => {
    for (const seed of seeds(50)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0, storesMin: 3 });
        for (const r of model.regions) {
          r.writeBytesPerSec = HOT_REGION_BYTES_PER_SEC_MIN - 1;
          r.readBytesPerSec = HOT_REGION_BYTES_PER_SEC_MIN - 1;
        }
        assert.deepEqual(new HotRegion().schedule({ view: model.view(), budget: 10, newPeerId: model.newPeerId, rng: createRng(seed) }), []);
      });
    }
  });
});
