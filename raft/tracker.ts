// The leader's membership view: the (possibly joint) voter configuration, learners, each
// member's Progress, and the votes of an ongoing election. Membership changes (confchange.ts)
// build a new TrackerConfig and progress map; switching to them is the node's job.
import { invariant } from '../common/pure.js';
import { Progress } from './progress.js';
import { type VoteResult, jointCommittedIndex, jointVoteResult } from './quorum.js';
import { type ConfState, type NodeId } from './types.js';

export interface TrackerConfig {
  /** Voters of the incoming (current) config. */
  readonly incoming: Set<NodeId>;
  /** Voters of the outgoing config; non-empty only while joint. */
  readonly outgoing: Set<NodeId>;
  readonly learners: Set<NodeId>;
  /** Outgoing voters that become learners when the joint config is left. */
  readonly learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

export function emptyTrackerConfig(): TrackerConfig {
  return { incoming: new Set(), outgoing: new Set(), learners: new Set(), learnersNext: new Set(), autoLeave: false };
}

export function cloneTrackerConfig(c: TrackerConfig): TrackerConfig {
  return {
    incoming: new Set(c.incoming),
    outgoing: new Set(c.outgoing),
    learners: new Set(c.learners),
    learnersNext: new Set(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export function isJoint(c: TrackerConfig): boolean {
  return c.outgoing.size > 0;
}

const sorted = (s: ReadonlySet<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);

export function confStateOf(c: TrackerConfig): ConfState {
  return {
    voters: sorted(c.incoming),
    votersOutgoing: sorted(c.outgoing),
    learners: sorted(c.learners),
    learnersNext: sorted(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

export type ProgressMap = Map<NodeId, Progress>;

export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress: ProgressMap = new Map();
  readonly votes = new Map<NodeId, boolean>();
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;

  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  newProgress(next: number, isLearner: boolean): Progress {
    return new Progress(next, this.maxInflightMsgs, this.maxInflightBytes, isLearner);
  }

  /** Whether `id` votes (in either half of a joint config). */
  isVoter(id: NodeId): boolean {
    return this.config.incoming.has(id) || this.config.outgoing.has(id);
  }

  /** Voters of both halves, deduplicated. */
  voterIds(): NodeId[] {
    const ids = new Set(this.config.incoming);
    for (const id of this.config.outgoing) ids.add(id);
    return sorted(ids);
  }

  /** True when this node is the only voter (a single-node group commits alone). */
  isSingleton(): boolean {
    return this.config.incoming.size === 1 && this.config.outgoing.size === 0;
  }

  /** The highest index replicated on a quorum (joint: on both quorums). */
  committed(): number {
    return jointCommittedIndex(this.config.incoming, this.config.outgoing, this.matchOf);
  }

  /** A member's match index (one function for the tracker's life, not one per committed() call). */
  private readonly matchOf = (id: NodeId): number | undefined => this.progress.get(id)?.match;

  /** Quorum-acknowledged value of any per-progress number (used for the lease clock). */
  quorumValue(value: (id: NodeId) => number | undefined): number {
    return jointCommittedIndex(this.config.incoming, this.config.outgoing, value);
  }

  /** Whether a quorum was recently active (check-quorum); `self` counts as active. */
  quorumActive(self: NodeId): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      votes.set(id, id === self || pr.recentActive);
    }
    return jointVoteResult(this.config.incoming, this.config.outgoing, votes) === 'won';
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): VoteResult {
    return jointVoteResult(this.config.incoming, this.config.outgoing, this.votes);
  }

  voteResultOf(acks: ReadonlySet<NodeId>): VoteResult {
    const votes = new Map<NodeId, boolean>();
    for (const id of acks) votes.set(id, true);
    return jointVoteResult(this.config.incoming, this.config.outgoing, votes);
  }

  /** O(n) consistency check of config against progress (verify mode). */
  checkConsistent(): void {
    const c = this.config;
    for (const id of [...c.incoming, ...c.outgoing, ...c.learners, ...c.learnersNext]) {
      invariant(this.progress.has(id), () => `tracker: member ${id} has no progress`);
    }
    for (const id of c.learners) invariant(!c.incoming.has(id) && !c.outgoing.has(id), () => `tracker: learner ${id} is also a voter`);
    for (const id of c.learnersNext) invariant(c.outgoing.has(id) && !c.incoming.has(id), () => `tracker: next learner ${id} must be an outgoing voter only`);
    for (const [id, pr] of this.progress) {
      invariant(pr.isLearner === c.learners.has(id), () => `tracker: progress ${id} learner flag disagrees with config`);
      invariant(c.incoming.has(id) || c.outgoing.has(id) || c.learners.has(id), () => `tracker: progress ${id} is not a member`);
    }
    if (!isJoint(c)) invariant(c.learnersNext.size === 0 && !c.autoLeave, 'tracker: learnersNext/autoLeave outside a joint config');
  }
}
