// Membership changes as pure functions from (config, progress) to a new (config, progress) or a
// refusal in words. Three entry points, as in etcd's confchange.Changer:
//  - simple(): at most one voter changes, no joint state (Raft thesis §4.1, one-at-a-time);
//  - enterJoint(): C_old → C_old,new (any number of changes), §4.3;
//  - leaveJoint(): C_old,new → C_new.
// Safety of one-at-a-time also needs the leader to have committed an entry of its own term before
// a change (the bug in the original single-server algorithm); raft.ts enforces that through
// pendingConfIndex, set to the last index on election.
import { invariant } from '../common/pure.js';
import { type Progress } from './progress.js';
import { type ProgressMap, type ProgressTracker, type TrackerConfig, cloneTrackerConfig, isJoint } from './tracker.js';
import { type ConfChange, type ConfChangeSingle, type ConfState, type NodeId } from './types.js';

export type ChangeResult = { kind: 'ok'; config: TrackerConfig; progress: ProgressMap } | { kind: 'refused'; reason: string };

interface Work {
  config: TrackerConfig;
  progress: ProgressMap;
  /** Progress objects created or changed here (copies, so a refusal leaves the tracker intact). */
  readonly tracker: ProgressTracker;
  readonly lastIndex: number;
}

function begin(tracker: ProgressTracker, lastIndex: number): Work {
  return { config: cloneTrackerConfig(tracker.config), progress: new Map(tracker.progress), tracker, lastIndex };
}

function ensureProgress(w: Work, id: NodeId, isLearner: boolean): void {
  if (w.progress.has(id)) return;
  // A new member starts probing from our last index; recentActive so check-quorum does not
  // count it against us before it had a chance to answer.
  const pr: Progress = w.tracker.newProgress(Math.max(w.lastIndex, 1), isLearner);
  pr.recentActive = true;
  w.progress.set(id, pr);
}

function makeVoter(w: Work, id: NodeId): void {
  ensureProgress(w, id, false);
  w.config.learners.delete(id);
  w.config.learnersNext.delete(id);
  w.config.incoming.add(id);
}

function makeLearner(w: Work, id: NodeId): void {
  if (w.config.learners.has(id)) return;
  ensureProgress(w, id, true);
  w.config.incoming.delete(id);
  // An outgoing voter cannot be a learner yet: it becomes one when the joint config is left.
  if (w.config.outgoing.has(id)) w.config.learnersNext.add(id);
  else w.config.learners.add(id);
}

function remove(w: Work, id: NodeId): void {
  if (!w.progress.has(id)) return;
  w.config.incoming.delete(id);
  w.config.learners.delete(id);
  w.config.learnersNext.delete(id);
  if (!w.config.outgoing.has(id)) w.progress.delete(id);
}

function applyChanges(w: Work, changes: readonly ConfChangeSingle[]): string | undefined {
  for (const cc of changes) {
    if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) return `node id ${cc.nodeId} is not a positive safe integer`;
    switch (cc.type) {
      case 'AddNode':
        makeVoter(w, cc.nodeId);
        break;
      case 'AddLearnerNode':
        makeLearner(w, cc.nodeId);
        break;
      case 'RemoveNode':
        remove(w, cc.nodeId);
        break;
      default:
        return `unknown change type ${String((cc as { type: unknown }).type)}`;
    }
  }
  if (w.config.incoming.size === 0) return 'removed all voters';
  return undefined;
}

/** Rewrites progress learner flags from the config (on copies of changed entries). */
function finish(w: Work): ChangeResult {
  for (const [id, pr] of w.progress) {
    const learner = w.config.learners.has(id);
    if (pr.isLearner !== learner) {
      const copy = Object.assign(Object.create(Object.getPrototypeOf(pr) as object) as Progress, pr);
      copy.isLearner = learner;
      w.progress.set(id, copy);
    }
  }
  return { kind: 'ok', config: w.config, progress: w.progress };
}

export function simpleChange(tracker: ProgressTracker, lastIndex: number, changes: readonly ConfChangeSingle[]): ChangeResult {
  if (isJoint(tracker.config)) return { kind: 'refused', reason: 'cannot apply a simple config change in a joint config' };
  const w = begin(tracker, lastIndex);
  const err = applyChanges(w, changes);
  if (err !== undefined) return { kind: 'refused', reason: err };
  let changed = 0;
  for (const id of tracker.config.incoming) if (!w.config.incoming.has(id)) changed++;
  for (const id of w.config.incoming) if (!tracker.config.incoming.has(id)) changed++;
  if (changed > 1) return { kind: 'refused', reason: 'more than one voter changed without entering a joint config' };
  return finish(w);
}

export function enterJoint(tracker: ProgressTracker, lastIndex: number, autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
  if (isJoint(tracker.config)) return { kind: 'refused', reason: 'config is already joint' };
  if (tracker.config.incoming.size === 0) return { kind: 'refused', reason: 'cannot make a zero-voter config joint' };
  const w = begin(tracker, lastIndex);
  for (const id of w.config.incoming) w.config.outgoing.add(id);
  const err = applyChanges(w, changes);
  if (err !== undefined) return { kind: 'refused', reason: err };
  w.config.autoLeave = autoLeave;
  return finish(w);
}

export function leaveJoint(tracker: ProgressTracker): ChangeResult {
  if (!isJoint(tracker.config)) return { kind: 'refused', reason: 'cannot leave a non-joint config' };
  const w = begin(tracker, 0);
  for (const id of w.config.learnersNext) w.config.learners.add(id);
  w.config.learnersNext.clear();
  for (const id of w.config.outgoing) {
    if (!w.config.incoming.has(id) && !w.config.learners.has(id)) w.progress.delete(id);
  }
  w.config.outgoing.clear();
  w.config.autoLeave = false;
  return finish(w);
}

/** Whether a change is the empty ConfChangeV2 that leaves a joint config. */
export function isLeaveJoint(cc: ConfChange): boolean {
  return cc.changes.length === 0;
}

/** Whether a change must use joint consensus (etcd's EnterJoint decision). */
export function wantsJoint(cc: ConfChange): { joint: boolean; autoLeave: boolean } {
  if (cc.transition === 'explicit') return { joint: true, autoLeave: false };
  if (cc.transition === 'implicit') return { joint: true, autoLeave: true };
  return { joint: cc.changes.length > 1, autoLeave: true };
}

/** Applies a committed change to the tracker's state (the pure part of Raft.applyConfChange). */
export function changeFor(tracker: ProgressTracker, lastIndex: number, cc: ConfChange): ChangeResult {
  if (isLeaveJoint(cc)) return leaveJoint(tracker);
  const j = wantsJoint(cc);
  return j.joint ? enterJoint(tracker, lastIndex, j.autoLeave, cc.changes) : simpleChange(tracker, lastIndex, cc.changes);
}

/** Rebuilds config and progress from a ConfState (snapshot restore or start-up). */
export function restoreFrom(tracker: ProgressTracker, lastIndex: number, cs: ConfState): { config: TrackerConfig; progress: ProgressMap } {
  const config: TrackerConfig = {
    incoming: new Set(cs.voters),
    outgoing: new Set(cs.votersOutgoing),
    learners: new Set(cs.learners),
    learnersNext: new Set(cs.learnersNext),
    autoLeave: cs.autoLeave,
  };
  const progress: ProgressMap = new Map();
  for (const id of [...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]) {
    if (progress.has(id)) continue;
    const pr = tracker.newProgress(Math.max(lastIndex, 1), config.learners.has(id));
    pr.recentActive = true;
    progress.set(id, pr);
  }
  for (const id of config.learners) invariant(!config.incoming.has(id) && !config.outgoing.has(id), () => `conf state: ${id} is both voter and learner`);
  return { config, progress };
}
