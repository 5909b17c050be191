// raft/confchange.ts, the pure membership changer, judged against a model written from the rules
// (Raft thesis §4.1 and §4.3, etcd's confchange.Changer) rather than from the code:
//   - a config is incoming voters, outgoing voters (joint only), learners and learnersNext;
//   - each single change decides its node's membership, the last one for a node winning: AddNode
//     makes a voter (a learner is promoted), AddLearnerNode a learner — a voter of the outgoing
//     half becomes one only when the joint config is left (learnersNext) — RemoveNode takes it
//     out of the incoming half and of the learners;
//   - entering a joint config copies the incoming voters to the outgoing half; leaving it drops
//     that half, and learnersNext become learners;
//   - a simple change moves at most one voter; no change leaves zero incoming voters;
//   - every member, and only a member, has a Progress; its learner flag is the config's; a member
//     already there keeps its Progress as it was; a new one starts probing at the last index and
//     counts as recently active (check-quorum does not count it against the leader at once);
//   - a refused change leaves the tracker untouched; restoreFrom(confState) rebuilds the config.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { changeFor, enterJoint, leaveJoint, restoreFrom, simpleChange, type ChangeResult, wantsJoint } from '../../raft/confchange.js';
import type { Progress } from '../../raft/progress.js';
import { confStateOf, isJoint, ProgressTracker, type TrackerConfig } from '../../raft/tracker.js';
import type { ConfChange, ConfChangeSingle, ConfChangeType } from '../../raft/index.js';
import { membersOf, type ModelConfig, modelChange, sortedOf } from './confchange-model.js';

function trackerOf(config: ModelConfig, lastIndex: number): ProgressTracker {
  const t = new ProgressTracker(256, 0);
  const restored = restoreFrom(t, lastIndex, {
    voters: sortedOf(config.incoming), votersOutgoing: sortedOf(config.outgoing), learners: sortedOf(config.learners),
    learnersNext: sortedOf(config.learnersNext), autoLeave: config.autoLeave,
  });
  t.config = restored.config;
  t.progress = restored.progress;
  return t;
}

function assertConfig(actual: TrackerConfig, expected: ModelConfig, what: string): void {
  assert.deepEqual(
    { incoming: sortedOf(actual.incoming), outgoing: sortedOf(actual.outgoing), learners: sortedOf(actual.learners), learnersNext: sortedOf(actual.learnersNext), autoLeave: actual.autoLeave },
    { incoming: sortedOf(expected.incoming), outgoing: sortedOf(expected.outgoing), learners: sortedOf(expected.learners), learnersNext: sortedOf(expected.learnersNext), autoLeave: expected.autoLeave },
    what,
  );
}

interface ProgressPrint {
  readonly match: number;
  readonly next: number;
  readonly state: string;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
}

const printOf = (p: Progress): ProgressPrint => ({ match: p.match, next: p.next, state: p.state, recentActive: p.recentActive, isLearner: p.isLearner });

/** Gives every member's Progress a distinct history, so a reset or a swap shows. */
function stampProgress(t: ProgressTracker, seed: number): void {
  for (const [id, pr] of t.progress) {
    pr.match = 10 + id + seed;
    pr.next = pr.match + 1;
    pr.recentActive = (id + seed) % 2 === 0;
    if ((id + seed) % 3 === 0) pr.state = 'Replicate';
  }
}

/** Checks a change's outcome against the model, and that the tracker it was made from did not move. */
function checkChange(t: ProgressTracker, lastIndex: number, cc: ConfChange, r: ChangeResult): void {
  const before: ModelConfig = t.config;
  const expected = modelChange(before, cc);
  const what = `${JSON.stringify(confStateOf(t.config))} + ${JSON.stringify(cc.changes)} (${cc.transition})`;
  if (typeof expected === 'string') {
    assert.equal(r.kind, 'refused', `${what}: the rules refuse it (${expected})`);
    return;
  }
  assert.equal(r.kind, 'ok', `${what}: ${r.kind === 'refused' ? r.reason : ''}`);
  if (r.kind !== 'ok') return;
  assertConfig(r.config, expected, what);
  // Every member, and only members, have a Progress, flagged as the config says.
  assert.deepEqual(sortedOf(new Set(r.progress.keys())), sortedOf(membersOf(expected)), `${what}: progress of exactly the members`);
  for (const [id, pr] of r.progress) {
    assert.equal(pr.isLearner, expected.learners.has(id), `${what}: ${id}'s learner flag`);
    const old = t.progress.get(id);
    if (old !== undefined && !expected.fresh.has(id)) {
      // A member that stays keeps its replication state (only the learner flag may change).
      assert.deepEqual({ ...printOf(pr), isLearner: old.isLearner }, printOf(old), `${what}: ${id} keeps its progress`);
    } else {
      assert.equal(pr.match, 0, `${what}: new member ${id} has matched nothing`);
      assert.equal(pr.next, Math.max(lastIndex, 1), `${what}: new member ${id} probes from the last index`);
      assert.equal(pr.state, 'Probe');
      assert.equal(pr.recentActive, true, `${what}: new member ${id} counts as recently active`);
    }
  }
  // A restart from the new conf state rebuilds the same config and members.
  const restored = restoreFrom(new ProgressTracker(256, 0), lastIndex, confStateOf(r.config));
  assertConfig(restored.config, expected, `${what}: restored`);
  assert.deepEqual(sortedOf(new Set(restored.progress.keys())), sortedOf(membersOf(expected)), `${what}: restored members`);
  for (const [id, pr] of restored.progress) assert.equal(pr.isLearner, expected.learners.has(id), `${what}: restored ${id}'s learner flag`);
}

const NODE_IDS = [1, 2, 3, 4, 5, 6];
const TYPES: readonly ConfChangeType[] = ['AddNode', 'AddLearnerNode', 'RemoveNode'];

const arbSingle: fc.Arbitrary<ConfChangeSingle> = fc.record({ type: fc.constantFrom(...TYPES), nodeId: fc.constantFrom(...NODE_IDS) });
const arbChange: fc.Arbitrary<ConfChange> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ transition: fc.constantFrom<ConfChange['transition']>('auto', 'implicit', 'explicit'), changes: fc.array(arbSingle, { minLength: 1, maxLength: 4 }), context: fc.constant(new Uint8Array(0)) }) },
  { weight: 1, arbitrary: fc.constant<ConfChange>({ transition: 'auto', changes: [], context: new Uint8Array(0) }) },
);

/** Snapshot of a tracker (to see that a change did not touch it). */
function trackerPrint(t: ProgressTracker): unknown {
  return { config: confStateOf(t.config), progress: [...t.progress].map(([id, p]) => [id, printOf(p)]) };
}

describe('membership changer (raft/confchange.ts) against the rules', () => {
  it('random change sequences from random configs: config, progress and refusals as the model says; the input tracker never moves', () => {
    fc.assert(fc.property(
      fc.array(arbChange, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 5 }),
      (changes, lastIndex, seed) => {
        let t = trackerOf({ incoming: new Set([1, 2, 3]), outgoing: new Set(), learners: new Set([4]), learnersNext: new Set(), autoLeave: false }, lastIndex);
        stampProgress(t, seed);
        let accepted = 0;
        for (const cc of changes) {
          const before = trackerPrint(t);
          const r = changeFor(t, lastIndex + accepted, cc);
          assert.deepEqual(trackerPrint(t), before, 'the tracker a change is made from is untouched');
          checkChange(t, lastIndex + accepted, cc, r);
          if (r.kind === 'ok') {
            const next = new ProgressTracker(256, 0);
            next.config = r.config;
            next.progress = r.progress;
            t = next;
            accepted++;
          }
        }
      },
    ), { numRuns: 3000, seed: 20261204 });
  });

  it('joint consensus: which changes enter it, and what leaving it does', () => {
    const c = (changes: ConfChangeSingle[], transition: ConfChange['transition'] = 'auto'): ConfChange => ({ transition, changes, context: new Uint8Array(0) });
    assert.deepEqual(wantsJoint(c([{ type: 'AddNode', nodeId: 4 }])), { joint: false, autoLeave: true });
    assert.deepEqual(wantsJoint(c([{ type: 'AddNode', nodeId: 4 }, { type: 'RemoveNode', nodeId: 1 }])), { joint: true, autoLeave: true });
    assert.deepEqual(wantsJoint(c([{ type: 'AddNode', nodeId: 4 }], 'implicit')), { joint: true, autoLeave: true });
    assert.deepEqual(wantsJoint(c([{ type: 'AddNode', nodeId: 4 }], 'explicit')), { joint: true, autoLeave: false });
    // Demote voter 3 and replace it with 4: 3 votes in the outgoing half until the config is left.
    const t = trackerOf({ incoming: new Set([1, 2, 3]), outgoing: new Set(), learners: new Set(), learnersNext: new Set(), autoLeave: false }, 9);
    const r = enterJoint(t, 9, true, [{ type: 'AddLearnerNode', nodeId: 3 }, { type: 'AddNode', nodeId: 4 }]);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.deepEqual(confStateOf(r.config), { voters: [1, 2, 4], votersOutgoing: [1, 2, 3], learners: [], learnersNext: [3], autoLeave: true });
    assert.equal(r.progress.get(3)!.isLearner, false, 'an outgoing voter still votes');
    const joint = new ProgressTracker(256, 0);
    joint.config = r.config;
    joint.progress = r.progress;
    const left = leaveJoint(joint);
    assert.equal(left.kind, 'ok');
    if (left.kind !== 'ok') return;
    assert.deepEqual(confStateOf(left.config), { voters: [1, 2, 4], votersOutgoing: [], learners: [3], learnersNext: [], autoLeave: false });
    assert.equal(left.progress.get(3)!.isLearner, true);
    assert.equal(left.progress.get(3)!.match, r.progress.get(3)!.match, 'the demoted voter keeps its progress');
    // Demoted and promoted back in the same change: a voter, nothing pending.
    const back = enterJoint(t, 9, true, [{ type: 'AddLearnerNode', nodeId: 3 }, { type: 'AddNode', nodeId: 3 }]);
    assert.equal(back.kind, 'ok');
    if (back.kind === 'ok') assert.deepEqual(confStateOf(back.config).learnersNext, []);
    assert.equal(isJoint(t.config), false);
  });

  it('refusals: a simple change moving two voters, one leaving no voter, a bad id, joint within joint, leaving a simple config', () => {
    const t = trackerOf({ incoming: new Set([1]), outgoing: new Set(), learners: new Set([2]), learnersNext: new Set(), autoLeave: false }, 3);
    assert.equal(simpleChange(t, 3, [{ type: 'AddNode', nodeId: 2 }, { type: 'AddNode', nodeId: 3 }]).kind, 'refused');
    assert.equal(simpleChange(t, 3, [{ type: 'RemoveNode', nodeId: 1 }]).kind, 'refused');
    assert.equal(simpleChange(t, 3, [{ type: 'AddNode', nodeId: 0 }]).kind, 'refused');
    assert.equal(simpleChange(t, 3, [{ type: 'AddNode', nodeId: 2 }]).kind, 'ok', 'promoting one learner is one voter');
    assert.equal(leaveJoint(t).kind, 'refused');
    const j = enterJoint(t, 3, false, [{ type: 'AddNode', nodeId: 2 }]);
    assert.equal(j.kind, 'ok');
    if (j.kind !== 'ok') return;
    const joint = new ProgressTracker(256, 0);
    joint.config = j.config;
    joint.progress = j.progress;
    assert.equal(enterJoint(joint, 3, false, [{ type: 'AddNode', nodeId: 3 }]).kind, 'refused');
    assert.equal(simpleChange(joint, 3, [{ type: 'AddNode', nodeId: 3 }]).kind, 'refused');
  });
});
