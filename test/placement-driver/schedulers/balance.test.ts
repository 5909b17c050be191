// Balance-leader and balance-region on generated settled clusters (every region with exactly
// maxPeerCount voters on distinct up hosts, often skewed onto the first stores; with and without
// host labels; sizes from 0 to 63 MiB), judged against the balance rule written out here
// independently of the schedulers: a move of `amount` from a store scoring `from` to one scoring
// `to` is due exactly when from − to > max(amount, 5% of the average). Run to quiescence, a
// scheduler must leave no due move, keep every region's quorum and host isolation at every step,
// converge in a bounded number of moves, and plan nothing on a state that is already balanced.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../../common/index.js';
import {
  BalanceLeader, BalanceRegion, isPlacementTarget, plannedPlacement, type OperatorPlan, type RegionView, type Scheduler,
} from '../../../placement-driver/schedulers/index.js';
import { generateCluster, seeds, withSeed, type ModelCluster, type ModelRegion } from './model.js';

const FILE = 'balance.test.js';
const TOLERANCE = 0.05;
const MiB = 1024 * 1024;

function isDue(from: number, to: number, amount: number, average: number): boolean {
  return from - to > Math.max(amount, TOLERANCE * average);
}

function upStores(model: ModelCluster): number[] {
  return [...model.stores.values()].filter((s) => s.health === 'up').map((s) => s.id);
}

function leaderCounts(model: ModelCluster): Map<number, number> {
  const counts = new Map(upStores(model).map((id) => [id, 0]));
  for (const r of model.regions) {
    const leader = r.region.peers.find((p) => p.id === r.leaderPeerId);
    if (leader !== undefined && counts.has(leader.storeId)) counts.set(leader.storeId, counts.get(leader.storeId)! + 1);
  }
  return counts;
}

const weight = (r: { approximateSizeBytes: number }): number => Math.max(r.approximateSizeBytes, MiB);

function regionScores(model: ModelCluster): Map<number, number> {
  const scores = new Map(upStores(model).map((id) => [id, 0]));
  for (const r of model.regions) for (const p of r.region.peers) if (scores.has(p.storeId)) scores.set(p.storeId, scores.get(p.storeId)! + weight(r));
  return scores;
}

/** Balance moves only regions with exactly maxPeerCount voters, all on up stores (the replica checker's job comes first). */
function isSettled(model: ModelCluster, r: ModelRegion): boolean {
  return r.region.peers.length === model.config.maxPeerCount && r.region.peers.every((p) => p.role === 'voter' && model.stores.get(p.storeId)?.health === 'up');
}

const average = (m: ReadonlyMap<number, number>): number => [...m.values()].reduce((a, b) => a + b, 0) / Math.max(1, m.size);

/** A leader transfer the rule says is due, if any. */
function dueLeaderMove(model: ModelCluster): string | undefined {
  const counts = leaderCounts(model);
  const avg = average(counts);
  for (const r of model.regions) {
    if (!isSettled(model, r)) continue;
    const leader = r.region.peers.find((p) => p.id === r.leaderPeerId)!;
    for (const p of r.region.peers) {
      if (p.id === leader.id || !counts.has(p.storeId)) continue;
      if (isDue(counts.get(leader.storeId)!, counts.get(p.storeId)!, 1, avg)) return `region ${r.region.id}: leader store ${leader.storeId} (${counts.get(leader.storeId)}) → ${p.storeId} (${counts.get(p.storeId)})`;
    }
  }
  return undefined;
}

/** A replica move the rule (and placement: up, heard, no replica there, another host) says is due, if any. */
function dueRegionMove(model: ModelCluster): string | undefined {
  const scores = regionScores(model);
  const avg = average(scores);
  for (const r of model.regions) {
    if (!isSettled(model, r)) continue;
    for (const from of r.region.peers) {
      const otherHosts = new Set(r.region.peers.filter((p) => p.id !== from.id).map((p) => model.host(p.storeId)));
      for (const s of model.stores.values()) {
        if (!isPlacementTarget(s) || r.region.peers.some((p) => p.storeId === s.id) || otherHosts.has(model.host(s.id))) continue;
        if (isDue(scores.get(from.storeId)!, scores.get(s.id)!, weight(r), avg)) return `region ${r.region.id}: store ${from.storeId} → ${s.id}`;
      }
    }
  }
  return undefined;
}

function checkRegion(model: ModelCluster, regionId: number): void {
  const r = model.byId(regionId).region;
  assert.ok(model.hasLiveQuorum(regionId), `region ${regionId}: live voters below a quorum`);
  const hosts = r.peers.filter((p) => p.role === 'voter').map((p) => model.host(p.storeId));
  assert.ok(r.peers.length > model.config.maxPeerCount || new Set(hosts).size === hosts.length, `region ${regionId}: two voters on one host after a step`);
}

/** Runs `scheduler` until it plans nothing; returns the operators applied. */
function runToQuiescence(model: ModelCluster, scheduler: Scheduler, seed: number, budget: number, movesMax: number): number {
  let applied = 0;
  const rng = createRng(seed);
  for (;;) {
    const plans: OperatorPlan[] = scheduler.schedule({ view: model.view(), budget, newPeerId: model.newPeerId, rng });
    if (plans.length === 0) return applied;
    assert.ok(plans.length <= budget, 'over budget');
    assert.equal(new Set(plans.map((p) => p.regionId)).size, plans.length, 'one plan per region per round');
    for (const plan of plans) {
      assert.equal(plan.kind, scheduler.kind);
      model.applyPlan(plan, (id) => checkRegion(model, id));
      // The settled state holds after every operator: exactly maxPeerCount voters, no learner.
      const r = model.byId(plan.regionId).region;
      assert.equal(r.peers.length, model.config.maxPeerCount);
      assert.ok(r.peers.every((p) => p.role === 'voter'));
      applied++;
    }
    assert.ok(applied <= movesMax, `${scheduler.name} did not converge within ${movesMax} operators (flapping?)`);
  }
}

/**
 * Runs `scheduler` as PD does, operators taking rounds: each plan lands 1–4 rounds after it was
 * made, its region meanwhile showing hasOperator and the placement the plan leaves (`planned`).
 * Returns the operators planned once nothing is pending and the scheduler plans nothing more.
 */
function runWithOperatorsInFlight(model: ModelCluster, scheduler: Scheduler, seed: number, budget: number): number {
  const rng = createRng(seed);
  const pending: { plan: OperatorPlan; landsAt: number }[] = [];
  let moves = 0;
  for (let round = 0; ; round++) {
    for (const p of pending.filter((x) => x.landsAt <= round)) model.applyPlan(p.plan);
    pending.splice(0, pending.length, ...pending.filter((x) => x.landsAt > round));
    const base = model.view();
    const regions: RegionView[] = base.regions.map((r) => {
      const p = pending.find((x) => x.plan.regionId === r.region.id);
      return p === undefined ? r : { ...r, hasOperator: true, planned: plannedPlacement(r.region, r.leaderPeerId, p.plan.steps) };
    });
    const plans = scheduler.schedule({ view: { ...base, regions }, budget, newPeerId: model.newPeerId, rng });
    for (const plan of plans) pending.push({ plan, landsAt: round + 1 + rng.nextInt(4) });
    moves += plans.length;
    if (plans.length === 0 && pending.length === 0) return moves;
    assert.ok(round < 10_000, 'never settles');
  }
}

describe('balance-leader on generated clusters', () => {
  it('converges until no leader transfer is due, keeps quorums, and is quiet once balanced', () => {
    let moves = 0;
    for (const seed of seeds(300)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0.1, storesMin: 3, regionsMax: 60 });
        const n = runToQuiescence(model, new BalanceLeader(), seed, 1 + (seed % 4), model.regions.length * 10);
        moves += n;
        assert.equal(dueLeaderMove(model), undefined, 'a due leader move is left');
        assert.deepEqual(new BalanceLeader().schedule({ view: model.view(), budget: 100, newPeerId: model.newPeerId, rng: createRng(seed) }), [], 'flaps on a balanced state');
      });
    }
    assert.ok(moves > 100, `only ${moves} leader moves over every seed: the generator makes no imbalance`);
  });

  it('counts leader transfers in flight as done: transfers that land rounds later cost no more than ones that land at once', () => {
    let delayedTotal = 0;
    let instantTotal = 0;
    for (const seed of seeds(150)) {
      withSeed(FILE, seed, () => {
        const options = { settled: true, unhealthy: 0, storesMin: 3, storesMax: 6, labels: false, regionsMax: 60 } as const;
        const instantMoves = runToQuiescence(generateCluster(seed, options), new BalanceLeader(), seed, 4, 10_000);
        const model = generateCluster(seed, options);
        const moves = runWithOperatorsInFlight(model, new BalanceLeader(), seed, 4);
        assert.equal(dueLeaderMove(model), undefined, 'a due leader move is left');
        assert.ok(moves <= Math.ceil(instantMoves * 1.6) + 4, `${moves} transfers with operators in flight, ${instantMoves} when they land at once`);
        delayedTotal += moves;
        instantTotal += instantMoves;
      });
    }
    assert.ok(instantTotal > 100, `only ${instantTotal} transfers over every seed`);
    assert.ok(delayedTotal <= instantTotal * 1.1, `${delayedTotal} transfers with operators in flight against ${instantTotal} landing at once`);
  });

  it('plans each transfer of a round only when it is due on the leader counts the round\'s earlier transfers leave', () => {
    // As for balance-region: a round with a large budget must count its own transfers as done,
    // else it piles leaders onto the store with the fewest for the next round to move back.
    let laterInRound = 0;
    for (const seed of seeds(200)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0.1, storesMin: 3, regionsMax: 60 });
        const plans = new BalanceLeader().schedule({ view: model.view(), budget: 64, newPeerId: model.newPeerId, rng: createRng(seed) });
        const avg = average(leaderCounts(model));
        for (const [i, plan] of plans.entries()) {
          const r = model.byId(plan.regionId);
          const from = r.region.peers.find((p) => p.id === r.leaderPeerId)!.storeId;
          const step = plan.steps[0];
          assert.ok(plan.steps.length === 1 && step?.kind === 'transferLeader', `plan ${plan.description}: one leader transfer`);
          const counts = leaderCounts(model);
          assert.ok(
            isDue(counts.get(from)!, counts.get(step.toPeer.storeId)!, 1, avg),
            `transfer ${i + 1} of the round (${plan.description}) is not due: store ${from} leads ${counts.get(from)}, store ${step.toPeer.storeId} ${counts.get(step.toPeer.storeId)}, average ${avg}`,
          );
          model.applyPlan(plan);
          if (i > 0) laterInRound++;
        }
      });
    }
    assert.ok(laterInRound > 100, `only ${laterInRound} transfers after the first of their round: the generator makes no rounds worth checking`);
  });

  it('with a replica of every region on every store, ends with leader counts within max(1, 5% of the average)', () => {
    for (const seed of seeds(100)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0, storesMin: 3, storesMax: 3, labels: false, maxPeerCount: 3, regionsMax: 80 });
        runToQuiescence(model, new BalanceLeader(), seed, 4, model.regions.length * 10);
        const counts = [...leaderCounts(model).values()];
        const avg = counts.reduce((a, b) => a + b, 0) / counts.length;
        assert.ok(Math.max(...counts) - Math.min(...counts) <= Math.max(1, TOLERANCE * avg), `leader counts ${counts.join(", ")}`);
      });
    }
  });
});

describe('balance-region on generated clusters', () => {
  it('converges until no replica move is due, keeps quorums and host isolation at every step, and is quiet once balanced', () => {
    let moves = 0;
    for (const seed of seeds(200)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0.1, storesMin: 3, regionsMax: 40 });
        moves += runToQuiescence(model, new BalanceRegion(), seed, 1 + (seed % 8), model.regions.length * model.config.maxPeerCount * 20);
        assert.equal(dueRegionMove(model), undefined, 'a due replica move is left');
        assert.deepEqual(new BalanceRegion().schedule({ view: model.view(), budget: 100, newPeerId: model.newPeerId, rng: createRng(seed) }), [], 'flaps on a balanced state');
      });
    }
    assert.ok(moves > 100, `only ${moves} replica moves over every seed: the generator makes no imbalance`);
  });

  it('plans each move of a round only when it is due on the scores the round\'s earlier moves leave', () => {
    // One round with a large budget plans many moves at once; each must be worth it as the
    // earlier ones of the same round leave the scores (they will land), not as they were when the
    // round began — else a round piles moves onto the emptiest store for the next to undo.
    let checked = 0;
    let laterInRound = 0;
    for (const seed of seeds(200)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0.1, storesMin: 3, regionsMax: 40 });
        const plans = new BalanceRegion().schedule({ view: model.view(), budget: 64, newPeerId: model.newPeerId, rng: createRng(seed) });
        const avg = average(regionScores(model));
        for (const [i, plan] of plans.entries()) {
          const r = model.byId(plan.regionId);
          const added = plan.steps.find((st) => st.kind === 'addPeer');
          const removed = plan.steps.find((st) => st.kind === 'removePeer');
          assert.ok(added?.kind === 'addPeer' && removed?.kind === 'removePeer', `plan ${plan.description}: a move is an add and a remove`);
          const scores = regionScores(model);
          assert.ok(
            isDue(scores.get(removed.peer.storeId)!, scores.get(added.peer.storeId)!, weight(r), avg),
            `move ${i + 1} of the round (${plan.description}) is not due: store ${removed.peer.storeId} scores ${scores.get(removed.peer.storeId)! / MiB} MiB, store ${added.peer.storeId} ${scores.get(added.peer.storeId)! / MiB} MiB, amount ${weight(r) / MiB} MiB`,
          );
          model.applyPlan(plan);
          checked++;
          if (i > 0) laterInRound++;
        }
      });
    }
    assert.ok(laterInRound > 100, `only ${laterInRound} moves after the first of their round (of ${checked}): the generator makes no rounds worth checking`);
  });

  it('with empty regions and unlabelled stores, ends with region counts within max(1, 5% of the average)', () => {
    for (const seed of seeds(100)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0, storesMin: 4, storesMax: 8, labels: false, regionsMax: 50 });
        for (const s of model.stores.values()) model.stores.set(s.id, { ...s, isHeard: true });
        for (const r of model.regions) r.approximateSizeBytes = 0;
        runToQuiescence(model, new BalanceRegion(), seed, 8, 10_000);
        const counts = [...regionScores(model).values()].map((v) => v / MiB);
        const avg = counts.reduce((a, b) => a + b, 0) / counts.length;
        assert.ok(Math.max(...counts) - Math.min(...counts) <= Math.max(1, TOLERANCE * avg), `region counts ${counts.join(", ")}`);
      });
    }
  });

  it('counts moves in flight as done: operators that land rounds later cost no more moves than ones that land at once', () => {
    // In PD an operator takes many scheduling rounds (a learner's snapshot, its promotion, the
    // removal). Here each plan lands 1–4 rounds after it was made, its region showing hasOperator
    // and its planned placement meanwhile; the same cluster run with plans landing at once is the
    // yardstick. Without the influence, every round until the moves land sees their targets still
    // empty and piles more onto them, to be moved away again later (seen on a real rebalance:
    // 84 operators for ~20 due moves; here, 100,372 moves against 2,152 over 150 seeds).
    let delayedTotal = 0;
    let instantTotal = 0;
    for (const seed of seeds(150)) {
      withSeed(FILE, seed, () => {
        const options = { settled: true, unhealthy: 0, storesMin: 4, storesMax: 7, labels: false, regionsMax: 40 } as const;
        const instant = generateCluster(seed, options);
        for (const s of instant.stores.values()) instant.stores.set(s.id, { ...s, isHeard: true });
        const instantMoves = runToQuiescence(instant, new BalanceRegion(), seed, 16, 10_000);
        const model = generateCluster(seed, options);
        for (const s of model.stores.values()) model.stores.set(s.id, { ...s, isHeard: true });
        const moves = runWithOperatorsInFlight(model, new BalanceRegion(), seed, 16);
        assert.equal(dueRegionMove(model), undefined, 'a due replica move is left');
        // Per cluster a little more is fair (the regions in flight cannot be picked meanwhile, so
        // a round chooses among fewer; seen up to 1.48×); without the influence it was up to 450×.
        assert.ok(moves <= Math.ceil(instantMoves * 1.6) + 4, `${moves} moves with operators in flight, ${instantMoves} when they land at once`);
        delayedTotal += moves;
        instantTotal += instantMoves;
      });
    }
    assert.ok(instantTotal > 100, `only ${instantTotal} moves over every seed: the generator makes no imbalance`);
    assert.ok(delayedTotal <= instantTotal * 1.1, `${delayedTotal} moves with operators in flight against ${instantTotal} landing at once`);
  });

  it('does not touch a region with an operator, one moved recently, or one with a dead, offline, learner, reported-down or pending replica', () => {
    for (const seed of seeds(100)) {
      withSeed(FILE, seed, () => {
        const model = generateCluster(seed, { settled: true, unhealthy: 0, storesMin: 5, regionsMax: 30 });
        const view = model.view();
        const rng = createRng(seed);
        const regions: RegionView[] = view.regions.map((r, i) => (i % 3 === 0 ? { ...r, hasOperator: true } : i % 3 === 1 ? { ...r, isRecentlyScheduled: true } : r));
        for (const scheduler of [new BalanceRegion(), new BalanceLeader()]) {
          const plans = scheduler.schedule({ view: { ...view, regions }, budget: 100, newPeerId: model.newPeerId, rng });
          for (const p of plans) assert.equal(regions.findIndex((r) => r.region.id === p.regionId) % 3, 2, `${scheduler.name} moved busy region ${p.regionId}`);
        }
        // A member its leader reports not hearing from, however briefly: the region is not moved for balance.
        const follower = (r: RegionView): number | undefined => r.region.peers.find((p) => p.id !== r.leaderPeerId)?.id;
        // Or one waiting for a snapshot.
        const isReported = (r: RegionView, i: number): boolean => i % 2 === 0 && follower(r) !== undefined;
        const reported: RegionView[] = view.regions.map((r, i) => (!isReported(r, i) ? r : i % 4 === 0 ? { ...r, downPeers: [{ peerId: follower(r)!, downMs: i }] } : { ...r, pendingPeerIds: [follower(r)!] }));
        for (const scheduler of [new BalanceRegion(), new BalanceLeader()]) {
          const plans = scheduler.schedule({ view: { ...view, regions: reported }, budget: 100, newPeerId: model.newPeerId, rng });
          for (const p of plans) {
            const r = reported.find((x) => x.region.id === p.regionId)!;
            assert.ok(r.downPeers.length === 0 && r.pendingPeerIds.length === 0, `${scheduler.name} moved region ${p.regionId}, whose leader reports a member down or pending`);
          }
        }
        const dead = model.view();
        const first = dead.regions[0]!;
        const stores = new Map(dead.stores);
        stores.set(first.region.peers[0]!.storeId, { ...stores.get(first.region.peers[0]!.storeId)!, health: pickHealth(seed) });
        for (const scheduler of [new BalanceRegion(), new BalanceLeader()]) {
          const plans = scheduler.schedule({ view: { ...dead, stores }, budget: 100, newPeerId: model.newPeerId, rng });
          assert.ok(!plans.some((p) => p.regionId === first.region.id), `${scheduler.name} moved region ${first.region.id}, which has a replica on a store that is not up`);
        }
      });
    }
  });
});

function pickHealth(seed: number): 'down' | 'offline' | 'gone' {
  return (['down', 'offline', 'gone'] as const)[seed % 3]!;
}
