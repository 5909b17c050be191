// The membership rules as a model (Raft thesis §4.1 and §4.3, etcd's confchange.Changer), written
// from the rules rather than from raft/confchange.ts: what a ConfChange makes of a configuration, or
// why it is refused. Judged against by confchange.test.ts (the changer itself) and by the raft
// simulator (every change a member applies).
import type { ConfChange, ConfState, NodeId } from '../../raft/index.js';

export interface ModelConfig {
  readonly incoming: ReadonlySet<NodeId>;
  readonly outgoing: ReadonlySet<NodeId>;
  readonly learners: ReadonlySet<NodeId>;
  readonly learnersNext: ReadonlySet<NodeId>;
  readonly autoLeave: boolean;
}

/** A model outcome: the config, and the members a change took out and put back (their progress starts afresh). */
export interface ModelOutcome extends ModelConfig {
  readonly fresh: ReadonlySet<NodeId>;
}

export const sortedOf = (s: ReadonlySet<NodeId>): NodeId[] => [...s].sort((a, b) => a - b);
export const membersOf = (c: ModelConfig): Set<NodeId> => new Set([...c.incoming, ...c.outgoing, ...c.learners, ...c.learnersNext]);

/** What the rules say a change does; a string: it is refused. */
export function modelChange(before: ModelConfig, cc: ConfChange): ModelOutcome | string {
  const isJointBefore = before.outgoing.size > 0;
  if (cc.changes.length === 0) {
    if (!isJointBefore) return 'not joint';
    return { incoming: before.incoming, outgoing: new Set(), learners: new Set([...before.learners, ...before.learnersNext]), learnersNext: new Set(), autoLeave: false, fresh: new Set() };
  }
  const joint = cc.transition !== 'auto' || cc.changes.length > 1;
  if (isJointBefore) return 'already joint';
  if (joint && before.incoming.size === 0) return 'zero voters';
  const outgoing = joint ? new Set(before.incoming) : new Set<NodeId>();
  const incoming = new Set(before.incoming);
  const learners = new Set(before.learners);
  const learnersNext = new Set<NodeId>();
  const fresh = new Set<NodeId>();
  const isMember = (id: NodeId): boolean => incoming.has(id) || outgoing.has(id) || learners.has(id) || learnersNext.has(id);
  // The last change of each node decides, applied in order.
  for (const c of cc.changes) {
    if (!Number.isSafeInteger(c.nodeId) || c.nodeId <= 0) return 'bad id';
    const id = c.nodeId;
    if (c.type === 'RemoveNode') {
      // A member taken out entirely (not voting in the outgoing half) loses its progress: if a
      // later change of this one puts it back, it starts afresh.
      if (isMember(id) && !outgoing.has(id)) fresh.add(id);
      incoming.delete(id);
      learners.delete(id);
      learnersNext.delete(id);
    } else if (c.type === 'AddNode') {
      incoming.add(id);
      learners.delete(id);
      learnersNext.delete(id);
    } else {
      incoming.delete(id);
      if (outgoing.has(id)) learnersNext.add(id);
      else learners.add(id);
    }
  }
  if (incoming.size === 0) return 'zero voters';
  if (!joint) {
    let moved = 0;
    for (const id of incoming) if (!before.incoming.has(id)) moved++;
    for (const id of before.incoming) if (!incoming.has(id)) moved++;
    if (moved > 1) return 'two voters moved';
  }
  return { incoming, outgoing, learners, learnersNext, autoLeave: joint && cc.transition !== 'explicit', fresh };
}

/** A conf state as a model config. */
export function modelConfigOf(cs: ConfState): ModelConfig {
  return { incoming: new Set(cs.voters), outgoing: new Set(cs.votersOutgoing), learners: new Set(cs.learners), learnersNext: new Set(cs.learnersNext), autoLeave: cs.autoLeave };
}

/** Where a conf state differs from a model config; null when they agree. */
export function confStateMismatch(cs: ConfState, want: ModelConfig): string | null {
  const got = { voters: cs.voters.join(','), out: cs.votersOutgoing.join(','), learners: cs.learners.join(','), learnersNext: cs.learnersNext.join(','), autoLeave: cs.autoLeave };
  const exp = { voters: sortedOf(want.incoming).join(','), out: sortedOf(want.outgoing).join(','), learners: sortedOf(want.learners).join(','), learnersNext: sortedOf(want.learnersNext).join(','), autoLeave: want.autoLeave };
  return JSON.stringify(got) === JSON.stringify(exp) ? null : `${JSON.stringify(got)}, the rules say ${JSON.stringify(exp)}`;
}
