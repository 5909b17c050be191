// The leader's membership arithmetic (raft/tracker.ts) and the in-flight window (raft/progress.ts
// Inflights) against references written from their contracts, over generated inputs (fast-check,
// fixed seed), boundaries first:
//   - configurations of every shape: one voter, joint with either half of size one, halves that
//     share voters or not, learners beside them; acks, match indexes and activity drawn per member.
//     Reference: a decision needs a majority of the incoming voters AND (while joint) of the
//     outgoing ones; learners never count; check-quorum counts the leader itself as active;
//     "singleton" (a leader answering reads and committing alone) only where its own ack alone is
//     such a double majority.
//   - the window: capacity 1–4, byte limits met exactly (sizes 0–12 against limits 1–24), frees
//     by index (below, at and above what is in flight), the oldest freed alone, resets.
//     Reference: a plain queue of (index, bytes); full at the message count or once the bytes in
//     flight reach the limit (0 = no byte limit).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type NodeId } from '../../raft/index.js';
import { Inflights } from '../../raft/progress.js';
import { ProgressTracker } from '../../raft/tracker.js';

const SEED = Number(process.env['FLOTILLA_PROPERTY_SEED'] ?? '20261205');
const IDS = [1, 2, 3, 4, 5, 6, 7];

interface Member {
  readonly id: NodeId;
  /** 'in', 'out', 'both' (a voter of both halves), 'learner'. */
  readonly role: 'in' | 'out' | 'both' | 'learner';
  readonly match: number;
  readonly isActive: boolean;
  readonly hasAcked: boolean;
}

/** Every member gets a role; at least one incoming voter. Shapes with halves of one voter are drawn often. */
const arbMembers: fc.Arbitrary<Member[]> = fc.integer({ min: 1, max: IDS.length }).chain((n) =>
  fc.tuple(...IDS.slice(0, n).map((id) => fc.record({
    id: fc.constant(id),
    role: fc.constantFrom('in' as const, 'out' as const, 'both' as const, 'learner' as const),
    match: fc.nat(6),
    isActive: fc.boolean(),
    hasAcked: fc.boolean(),
  })))).filter((ms) => ms.some((m) => m.role === 'in' || m.role === 'both'));

const isIncoming = (m: Member): boolean => m.role === 'in' || m.role === 'both';
const isOutgoing = (m: Member): boolean => m.role === 'out' || m.role === 'both';

/** Whether `yes` holds for a majority of `voters` (an empty half agrees with everything). */
function majority(voters: readonly Member[], yes: (m: Member) => boolean): boolean {
  return voters.length === 0 || voters.filter(yes).length * 2 > voters.length;
}
function doubleMajority(members: readonly Member[], yes: (m: Member) => boolean): boolean {
  return majority(members.filter(isIncoming), yes) && majority(members.filter(isOutgoing), yes);
}
/** The highest index both halves have a majority at or above (brute force over the candidates). */
function quorumIndex(members: readonly Member[], value: (m: Member) => number): number {
  let best = 0;
  for (const candidate of [0, ...members.map(value)]) {
    if (doubleMajority(members, (m) => value(m) >= candidate)) best = Math.max(best, candidate);
  }
  return best;
}

function trackerOf(members: readonly Member[]): ProgressTracker {
  const t = new ProgressTracker(4, 0);
  for (const m of members) {
    if (isIncoming(m)) t.config.incoming.add(m.id);
    if (isOutgoing(m)) t.config.outgoing.add(m.id);
    if (m.role === 'learner') t.config.learners.add(m.id);
    const pr = t.newProgress(m.match + 1, m.role === 'learner');
    pr.match = m.match;
    pr.recentActive = m.isActive;
    t.progress.set(m.id, pr);
  }
  t.checkConsistent();
  return t;
}

describe('ProgressTracker against double-majority arithmetic', () => {
  it('read acks, check-quorum, commit index, the lease clock and "singleton" over every config shape', () => {
    const counts = { joint: 0, jointHalfOfOne: 0, ackWinsIncomingOnly: 0, selfMakesQuorum: 0, learnerAcked: 0, singleton: 0, notSingletonJoint: 0 };
    fc.assert(fc.property(arbMembers, fc.nat(IDS.length - 1), (members, selfPick) => {
      const t = trackerOf(members);
      const voters = members.filter((m) => m.role !== 'learner');
      const self = (voters[selfPick % voters.length] ?? members[0]!).id;
      const incoming = members.filter(isIncoming);
      const outgoing = members.filter(isOutgoing);
      if (outgoing.length > 0) counts.joint++;
      if (outgoing.length > 0 && (incoming.length === 1 || outgoing.length === 1)) counts.jointHalfOfOne++;
      const what = `members ${JSON.stringify(members)} self ${self}`;

      // ReadIndex: the acks a round collected (the leader's own included, as raft.ts adds it).
      const acks = new Set(members.filter((m) => m.hasAcked).map((m) => m.id));
      acks.add(self);
      const acked = (m: Member): boolean => acks.has(m.id);
      if (majority(incoming, acked) && !majority(outgoing, acked)) counts.ackWinsIncomingOnly++;
      if (members.some((m) => m.role === 'learner' && m.hasAcked)) counts.learnerAcked++;
      assert.equal(t.voteResultOf(acks) === 'won', doubleMajority(members, acked), `read acks: ${what}`);

      // Check-quorum: the leader counts as active whatever its own flag says.
      const active = (m: Member): boolean => m.id === self || m.isActive;
      if (doubleMajority(members, active) && !doubleMajority(members, (m) => m.isActive)) counts.selfMakesQuorum++;
      assert.equal(t.quorumActive(self), doubleMajority(members, active), `check-quorum: ${what}`);

      assert.equal(t.committed(), quorumIndex(members, (m) => m.match), `commit index: ${what}`);
      assert.equal(t.quorumValue((id) => (id * 3) % 5), quorumIndex(members, (m) => (m.id * 3) % 5), `lease clock: ${what}`);

      // Singleton: only where its own ack alone decides (then reads skip the heartbeat round).
      const aloneWins = doubleMajority(members, (m) => m.id === self);
      if (t.isSingleton()) {
        counts.singleton++;
        assert.ok(t.isVoter(self) && aloneWins, `singleton, yet its own ack is no double majority: ${what}`);
      } else if (outgoing.length > 0 && incoming.length === 1) counts.notSingletonJoint++;
      assert.deepEqual(t.voterIds(), [...new Set([...incoming, ...outgoing].map((m) => m.id))].sort((a, b) => a - b), `voters: ${what}`);
    }), { seed: SEED, numRuns: 3000 });
    for (const [name, count] of Object.entries(counts)) assert.ok(count > 0, `coverage: ${name} never happened`);
  });
});

type WindowStep =
  | { readonly op: 'add'; readonly gap: number; readonly bytes: number }
  | { readonly op: 'freeLE'; readonly at: number }
  | { readonly op: 'freeFirstOne' }
  | { readonly op: 'reset' };

const arbWindowStep: fc.Arbitrary<WindowStep> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('add' as const), gap: fc.integer({ min: 1, max: 3 }), bytes: fc.nat(12) }) },
  // at: an offset from the oldest in-flight index (−1 below it … past the newest).
  { weight: 3, arbitrary: fc.record({ op: fc.constant('freeLE' as const), at: fc.integer({ min: -1, max: 8 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'freeFirstOne' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
);

describe('Inflights against a plain queue', () => {
  it('fills at the message count and at the byte limit exactly; frees by index, the oldest alone, or all', () => {
    const counts = { fullByCount: 0, fullByBytesExactly: 0, notFullJustBelowBytes: 0, freedSome: 0, freeFirstWhileFull: 0 };
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 4 }), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 24 })), fc.array(arbWindowStep, { maxLength: 40 }),
      (capacity, maxBytes, steps) => {
        const w = new Inflights(capacity, maxBytes);
        let queue: { index: number; bytes: number }[] = [];
        let lastIndex = 0;
        const full = (): boolean => queue.length === capacity || (maxBytes !== 0 && queue.reduce((n, e) => n + e.bytes, 0) >= maxBytes);
        for (const [n, s] of steps.entries()) {
          const where = `capacity ${capacity} maxBytes ${maxBytes}, step ${n} ${JSON.stringify(s)}`;
          switch (s.op) {
            case 'add':
              if (full()) continue; // the sender never adds to a full window (Progress.isPaused)
              lastIndex += s.gap;
              w.add(lastIndex, s.bytes);
              queue.push({ index: lastIndex, bytes: s.bytes });
              break;
            case 'freeLE': {
              const to = (queue[0]?.index ?? lastIndex) + s.at;
              const before = queue.length;
              w.freeLE(to);
              queue = queue.filter((e) => e.index > to);
              if (queue.length < before) counts.freedSome++;
              break;
            }
            case 'freeFirstOne':
              if (full()) counts.freeFirstWhileFull++;
              w.freeFirstOne();
              queue = queue.slice(1);
              break;
            case 'reset':
              w.reset();
              queue = [];
              break;
          }
          const bytes = queue.reduce((sum, e) => sum + e.bytes, 0);
          if (queue.length === capacity) counts.fullByCount++;
          if (maxBytes !== 0 && bytes === maxBytes && queue.length < capacity) counts.fullByBytesExactly++;
          if (maxBytes !== 0 && bytes === maxBytes - 1 && queue.length < capacity) counts.notFullJustBelowBytes++;
          assert.equal(w.count, queue.length, `${where}: count`);
          assert.equal(w.bytes, bytes, `${where}: bytes`);
          assert.equal(w.isFull(), full(), `${where}: full`);
        }
      },
    ), { seed: SEED, numRuns: 2000 });
    for (const [name, count] of Object.entries(counts)) assert.ok(count > 0, `coverage: ${name} never happened`);
  });
});
