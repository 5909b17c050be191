// The operator controller's step tracking (placement-driver/operators.ts) against a reference
// model: on each region heartbeat it advances past exactly the steps the reported region shows
// done, in order, and answers the first one not done (or finishes the operator). Generated
// operators use every step kind — a replica move (add a learner, promote it, move leadership,
// remove the old peer), split and merge — and generated heartbeats report every partial state:
// the new peer absent, a learner, a voter, on another store; leadership anywhere; the old peer
// gone or not; the epoch moved or not. A step must not count as done from a look-alike (a
// learner is not a promoted voter).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type Rng } from '../../common/index.js';
import { OperatorController, type OperatorStep } from '../../placement-driver/operators.js';
import type { PeerMeta, RegionMeta } from '../../placement-driver/region-index.js';

const SEEDS = 300;
const REGION_ID = 7;
const EPOCH = { confVer: 5, version: 3 };

/** The reference: whether `step` shows done in `region` with `leaderPeerId` leading, written out from the operator's contract. */
function isDoneInModel(step: OperatorStep, region: RegionMeta, leaderPeerId: number): boolean {
  const peer = (id: number): PeerMeta | undefined => region.peers.find((p) => p.id === id);
  switch (step.kind) {
    case 'addPeer': return peer(step.peer.id)?.storeId === step.peer.storeId;
    case 'promoteLearner': return peer(step.peer.id)?.role === 'voter';
    case 'transferLeader': return leaderPeerId === step.toPeer.id;
    case 'removePeer': return peer(step.peer.id) === undefined;
    case 'split':
    case 'merge': return region.epoch.version > EPOCH.version;
  }
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

function runSeed(seed: number, seen: Map<string, number>): void {
  const rng = createRng(seed);
  const oldPeers: PeerMeta[] = [{ id: 11, storeId: 1, role: 'voter' }, { id: 12, storeId: 2, role: 'voter' }, { id: 13, storeId: 3, role: 'voter' }];
  const from = pick(rng, oldPeers);
  const added: PeerMeta = { id: 14, storeId: 4, role: 'learner' };
  const moveSteps: OperatorStep[] = [
    { kind: 'addPeer', peer: added },
    { kind: 'promoteLearner', peer: { ...added, role: 'voter' } },
    { kind: 'transferLeader', toPeer: { ...pick(rng, oldPeers.filter((p) => p.id !== from.id)) } },
    { kind: 'removePeer', peer: from },
  ];
  const shape = rng.nextInt(4);
  const steps: OperatorStep[] = shape === 0 ? moveSteps : shape === 1 ? moveSteps.slice(rng.nextInt(3)) : shape === 2 ? [{ kind: 'split', keys: [] }] : [{ kind: 'merge', targetRegionId: 9 }];
  const controller = new OperatorController(() => 1_000);
  assert.equal(controller.add(REGION_ID, EPOCH, 'generated', steps).kind, 'ok');
  let modelStep = 0;
  for (let beat = 0; beat < 12; beat++) {
    // A reported state: each fact drawn on its own (partial and out-of-order progress included).
    const newPeer = pick(rng, ['absent', 'learner', 'voter', 'otherStore'] as const);
    const peers: PeerMeta[] = oldPeers.filter((p) => p.id !== from.id || rng.nextInt(2) === 0);
    if (newPeer === 'learner') peers.push(added);
    if (newPeer === 'voter') peers.push({ ...added, role: 'voter' });
    if (newPeer === 'otherStore') peers.push({ ...added, storeId: 5 });
    const region: RegionMeta = { id: REGION_ID, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { ...EPOCH, version: EPOCH.version + rng.nextInt(2) }, peers };
    const leaderPeerId = pick(rng, peers).id;
    while (modelStep < steps.length && isDoneInModel(steps[modelStep]!, region, leaderPeerId)) modelStep++;
    const expected = modelStep < steps.length ? steps[modelStep] : undefined;
    const got = controller.onHeartbeat(region, leaderPeerId);
    const what = `seed ${seed}, heartbeat ${beat}: new peer ${newPeer}, peers [${peers.map((p) => `${p.id}@${p.storeId}:${p.role}`).join(' ')}], leader ${leaderPeerId}, version ${region.epoch.version}`;
    assert.deepEqual(got, expected, `${what}: the controller answers ${JSON.stringify(got)}, the model ${JSON.stringify(expected)}`);
    if (expected !== undefined) seen.set(`${expected.kind}/${newPeer}`, (seen.get(`${expected.kind}/${newPeer}`) ?? 0) + 1);
    if (expected === undefined) {
      assert.equal(controller.get(REGION_ID), undefined, `${what}: a finished operator is dropped`);
      return;
    }
  }
}

describe('operator controller step tracking', () => {
  it(`advances past exactly the steps each heartbeat shows done, in order, for every step kind (${SEEDS} seeds)`, () => {
    const seen = new Map<string, number>();
    for (let seed = 1; seed <= SEEDS; seed++) runSeed(seed, seen);
    // The look-alikes that matter were reported while their step was current.
    for (const key of ['promoteLearner/learner', 'addPeer/otherStore', 'removePeer/voter', 'transferLeader/voter', 'split/absent', 'merge/absent']) {
      assert.ok((seen.get(key) ?? 0) > 0, `never reported ${key} while that step was current`);
    }
  });
});
