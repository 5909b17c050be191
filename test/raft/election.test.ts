// Leader election: randomized timeouts, vote rules, pre-vote, check-quorum, term persistence.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { makeMessage } from '../../raft/index.js';
import { Cluster, bootstrapStorage, entriesWithTerms, text } from './cluster.js';

describe('leader election', () => {
  it('a follower campaigns after its randomized election timeout and wins with a quorum', () => {
    const c = new Cluster([1, 2, 3]);
    const timeout = c.raw(1).raft.randomizedElectionTimeout;
    assert.ok(timeout >= 10 && timeout < 20, `randomized timeout ${timeout} must lie in [electionTick, 2×electionTick)`);
    for (let i = 0; i < 40 && c.leaders().length === 0; i++) c.tickAll();
    assert.equal(c.leaders().length, 1);
    const leader = c.leaders()[0] ?? 0;
    for (const id of [1, 2, 3]) assert.equal(c.raw(id).leaderId, leader);
  });

  it('a new leader appends an empty entry of its term, which commits everything before it', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    const log = c.raw(1).raft.raftLog;
    const last = log.entriesFrom(log.lastIndex(), 1 << 20);
    assert.ok(typeof last !== 'string');
    assert.equal(last[0]?.term, c.raw(1).term);
    assert.equal(last[0]?.data.length, 0);
    assert.equal(log.committed, log.lastIndex());
  });

  it('steps down on a message with a higher term', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    const term = c.raw(1).term;
    c.raw(1).step(makeMessage({ type: 'MsgApp', from: 2, to: 1, term: term + 1, index: 0, logTerm: 0 }));
    assert.equal(c.raw(1).role, 'Follower');
    assert.equal(c.raw(1).term, term + 1);
    assert.equal(c.raw(1).leaderId, 2);
  });

  it('rejects a vote for a candidate whose log is less up to date (lower last term)', () => {
    const s = bootstrapStorage([1, 2, 3]);
    s.append(entriesWithTerms(2, [2, 3]));
    s.setHardState({ term: 3, vote: 0, commit: 1 });
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false }, new Map([[1, s]]));
    // Node 2 has only index 1; its candidacy at term 4 carries lastTerm 1 < our 3.
    c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term: 4, index: 5, logTerm: 1 }));
    const rd = c.raw(1).ready();
    const resp = [...rd.messages, ...rd.persistedMessages].find((m) => m.type === 'MsgVoteResp');
    assert.equal(resp?.reject, true);
    assert.equal(c.raw(1).raft.vote, 0);
  });

  it('rejects a vote for a candidate with the same last term but a shorter log', () => {
    const s = bootstrapStorage([1, 2, 3]);
    s.append(entriesWithTerms(2, [2, 2, 2]));
    s.setHardState({ term: 2, vote: 0, commit: 1 });
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false }, new Map([[1, s]]));
    c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term: 3, index: 3, logTerm: 2 }));
    const rd = c.raw(1).ready();
    assert.equal([...rd.messages, ...rd.persistedMessages].find((m) => m.type === 'MsgVoteResp')?.reject, true);
  });

  it('grants at most one vote per term', () => {
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term: 2, index: 1, logTerm: 1 }));
    c.raw(1).step(makeMessage({ type: 'MsgVote', from: 3, to: 1, term: 2, index: 1, logTerm: 1 }));
    const rd = c.raw(1).ready();
    const resps = rd.persistedMessages.filter((m) => m.type === 'MsgVoteResp');
    assert.deepEqual(resps.map((m) => [m.to, m.reject]), [[2, false], [3, true]]);
  });

  it('persists term and vote before the messages that depend on them', () => {
    const c = new Cluster([1, 2, 3], { preVote: false });
    c.raw(1).campaign();
    const rd = c.raw(1).ready();
    assert.equal(rd.mustSync, true);
    assert.deepEqual(rd.hardState, { term: 2, vote: 1, commit: 1 });
    assert.deepEqual(rd.messages.filter((m) => m.type === 'MsgVote'), [], 'vote requests must wait for the durable self-vote');
    assert.equal(rd.persistedMessages.filter((m) => m.type === 'MsgVote').length, 2);
    c.raw(1).advance(rd);
    // The voter's grant is also only sent after its vote is durable.
    for (const m of rd.persistedMessages.filter((x) => x.to === 2)) c.raw(2).step(m);
    const rd2 = c.raw(2).ready();
    assert.equal(rd2.hardState?.vote, 1);
    assert.equal(rd2.mustSync, true);
    assert.ok(rd2.persistedMessages.some((m) => m.type === 'MsgVoteResp' && !m.reject));
    assert.ok(!rd2.messages.some((m) => m.type === 'MsgVoteResp'));
  });

  // Simulator seed 42671: a lone voter led at once, before its new term was written, and sent a
  // learner appends of that term; it crashed, restarted in the term before, won the same term
  // again and wrote other entries under it — two entries with one index and term.
  it('a lone voter leads only once its term and vote are durable; one that crashes first never led that term', () => {
    const c = new Cluster([1, 2], { preVote: false });
    c.elect(1);
    c.raw(1).proposeConfChange({ transition: 'auto', changes: [{ type: 'AddLearnerNode', nodeId: 2 }], context: new Uint8Array(0) });
    c.stabilize();
    assert.deepEqual(c.raw(1).status().confState.voters, [1]);
    c.restart(1, { preVote: false });
    c.stabilize(); // applies the committed membership again
    const term = c.raw(1).term;
    c.raw(1).campaign();
    assert.equal(c.raw(1).role, 'Candidate', 'not leading before the term is written');
    const rd = c.raw(1).ready();
    assert.equal(rd.hardState?.term, term + 1);
    assert.equal(rd.mustSync, true);
    assert.equal(c.raw(1).propose(text('too early')).kind, 'not-leader');
    // Crashed before the write landed: nothing of the new term ever left the node.
    assert.deepEqual([...rd.messages, ...rd.persistedMessages].filter((m) => m.term > term), []);
    c.restart(1, { preVote: false });
    c.stabilize();
    assert.equal(c.raw(1).term, term);
    c.raw(1).campaign();
    const rd2 = c.raw(1).ready();
    c.node(1).storage.setHardState(rd2.hardState!);
    c.raw(1).advance(rd2);
    assert.equal(c.raw(1).role, 'Leader', 'leads once the term is durable');
    const rd3 = c.raw(1).ready();
    assert.ok(rd3.messages.some((m) => m.type === 'MsgApp' && m.to === 2 && m.term === term + 1), 'and only then appends to its learner');
  });

  // Simulator seed 44924: ignored, a candidate stayed a term behind one that never heard it.
  it('a vote request of a lower term is refused with our term, and the candidate takes it', () => {
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.raw(2).step(makeMessage({ type: 'MsgHeartbeat', from: 3, to: 2, term: 7 }));
    c.processReady(2);
    assert.equal(c.raw(2).term, 7);
    c.queue = [];
    c.raw(1).campaign();
    c.processReady(1);
    const req = c.queue.find((m) => m.type === 'MsgVote' && m.to === 2);
    assert.ok(req !== undefined && req.term < 7);
    c.queue = [];
    c.raw(2).step(req);
    c.processReady(2);
    const resp = c.queue.find((m) => m.type === 'MsgVoteResp' && m.to === 1);
    assert.ok(resp !== undefined, 'refused, not ignored');
    assert.equal(resp.reject, true);
    assert.equal(resp.term, 7);
    c.raw(1).step(resp);
    assert.equal(c.raw(1).term, 7);
    assert.equal(c.raw(1).role, 'Follower');
  });

  // Simulator seed 56107 (pre-vote off): a node stuck in an old configuration kept campaigning a
  // term ahead of the candidate that needed its vote, and refused it in the term it voted itself in.
  describe('a candidate that refused a longer log for its own vote waits an election timeout more', () => {
    const ELECTION_TICK = 10;
    /** Node 1 campaigns, then hears a vote request of its own term from 2 ending `ahead` entries past its log. */
    function refuseInOwnTerm(ahead: number, logTermDelta = 0): Cluster {
      const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false, electionTick: ELECTION_TICK });
      c.raw(1).campaign();
      c.processReady(1);
      c.queue = [];
      const raft = c.raw(1).raft;
      const term = c.raw(1).term;
      c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term, index: raft.raftLog.lastIndex() + ahead, logTerm: raft.raftLog.lastTerm() + logTermDelta }));
      c.processReady(1);
      const resp = c.queue.find((m) => m.type === 'MsgVoteResp' && m.to === 2);
      assert.equal(resp?.reject, true, 'still refused: our vote in this term is taken');
      assert.equal(c.raw(1).raft.vote, 1);
      c.queue = [];
      return c;
    }
    /** Ticks node 1 until it campaigns again; the number of ticks that took. */
    function ticksToNextCampaign(c: Cluster): number {
      const term = c.raw(1).term;
      for (let t = 1; t <= 4 * ELECTION_TICK; t++) {
        c.tick(1);
        if (c.raw(1).term > term) return t;
      }
      return Infinity;
    }

    for (const [name, ahead, logTermDelta] of [['a longer log', 3, 0], ['a later last term', 0, 1], ['one entry more', 1, 0]] as const) {
      it(`${name}: no campaign before two election timeouts, one before three; the better candidate then gets our vote`, () => {
        const c = refuseInOwnTerm(ahead, logTermDelta);
        const waited = ticksToNextCampaign(c);
        assert.ok(waited >= 2 * ELECTION_TICK && waited < 3 * ELECTION_TICK, `campaigned again after ${waited} ticks`);
      });
    }

    it('refusing a second better candidate in the same term adds no more wait', () => {
      const c = refuseInOwnTerm(3);
      const raft = c.raw(1).raft;
      c.raw(1).step(makeMessage({ type: 'MsgVote', from: 3, to: 1, term: c.raw(1).term, index: raft.raftLog.lastIndex() + 5, logTerm: raft.raftLog.lastTerm() }));
      const waited = ticksToNextCampaign(c);
      assert.ok(waited >= 2 * ELECTION_TICK && waited < 3 * ELECTION_TICK, `campaigned again after ${waited} ticks`);
    });

    it('a candidate that asks in the next term, meanwhile, wins our vote', () => {
      const c = refuseInOwnTerm(3);
      c.tick(1, 2 * ELECTION_TICK - 1);
      const term = c.raw(1).term;
      const raft = c.raw(1).raft;
      c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term: term + 1, index: raft.raftLog.lastIndex() + 3, logTerm: raft.raftLog.lastTerm() }));
      c.processReady(1);
      assert.equal(c.queue.find((m) => m.type === 'MsgVoteResp' && m.to === 2)?.reject, false);
    });

    for (const [name, ahead] of [['an equal log', 0], ['a shorter log', -1]] as const) {
      it(`${name}: no wait added (the timeout stays below two election timeouts)`, () => {
        const c = refuseInOwnTerm(ahead);
        assert.ok(ticksToNextCampaign(c) < 2 * ELECTION_TICK);
      });
    }

    it('a follower that voted for another candidate adds no wait', () => {
      const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false, electionTick: ELECTION_TICK });
      const raft = c.raw(1).raft;
      c.raw(1).step(makeMessage({ type: 'MsgVote', from: 3, to: 1, term: 5, index: raft.raftLog.lastIndex(), logTerm: raft.raftLog.lastTerm() }));
      c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term: 5, index: raft.raftLog.lastIndex() + 3, logTerm: raft.raftLog.lastTerm() }));
      assert.equal(c.raw(1).raft.vote, 3);
      assert.ok(raft.randomizedElectionTimeout < 2 * ELECTION_TICK);
    });
  });

  it('a restarted node remembers its term and vote', () => {
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.raw(1).step(makeMessage({ type: 'MsgVote', from: 2, to: 1, term: 5, index: 1, logTerm: 1 }));
    c.processReady(1);
    c.restart(1, { preVote: false, checkQuorum: false });
    assert.equal(c.raw(1).term, 5);
    assert.equal(c.raw(1).raft.vote, 2);
    c.raw(1).step(makeMessage({ type: 'MsgVote', from: 3, to: 1, term: 5, index: 1, logTerm: 1 }));
    const rd = c.raw(1).ready();
    assert.equal(rd.persistedMessages.find((m) => m.type === 'MsgVoteResp')?.reject ?? rd.messages.find((m) => m.type === 'MsgVoteResp')?.reject, true);
  });
});

describe('idle cost', () => {
  it('ticks below the election timeout produce no Ready on a follower', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    const t = c.raw(2).raft.randomizedElectionTimeout;
    for (let i = 0; i < t - 1; i++) {
      c.raw(2).tick();
      assert.equal(c.raw(2).hasReady(), false);
    }
  });
});

describe('pre-vote', () => {
  it('a partitioned node does not raise its term, so it cannot disrupt a stable leader when it returns', () => {
    const c = new Cluster([1, 2, 3], { preVote: true, checkQuorum: true });
    c.elect(1);
    const term = c.raw(1).term;
    c.isolate(3);
    for (let i = 0; i < 100; i++) c.tickAll();
    assert.equal(c.raw(3).term, term, 'pre-candidate keeps its term');
    c.heal();
    for (let i = 0; i < 30; i++) c.tickAll();
    assert.deepEqual(c.leaders(), [1]);
    assert.equal(c.raw(1).term, term);
  });

  it('without pre-vote a partitioned node raises its term on every timeout (the disruption pre-vote prevents)', () => {
    const c = new Cluster([1, 2, 3], { preVote: false, checkQuorum: false });
    c.elect(1);
    const term = c.raw(1).term;
    c.isolate(3);
    for (let i = 0; i < 100; i++) c.tickAll();
    assert.ok(c.raw(3).term > term + 2);
    c.heal();
    for (let i = 0; i < 60; i++) c.tickAll();
    assert.ok(c.raw(1).term > term, 'the old leader was deposed by the higher term');
  });

  it('a pre-vote is granted only to an up-to-date log and changes no one’s term', () => {
    const c = new Cluster([1, 2, 3], { preVote: true, checkQuorum: false });
    c.raw(2).step(makeMessage({ type: 'MsgPreVote', from: 3, to: 2, term: 2, index: 1, logTerm: 1 }));
    const rd = c.raw(2).ready();
    const resp = [...rd.messages, ...rd.persistedMessages].find((m) => m.type === 'MsgPreVoteResp');
    assert.equal(resp?.reject, false);
    assert.equal(resp?.term, 2);
    assert.equal(c.raw(2).term, 1);
    assert.equal(c.raw(2).raft.vote, 0);
  });
});

describe('check-quorum', () => {
  it('a leader that cannot hear a majority steps down after an election timeout', () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: true });
    c.elect(1);
    c.isolate(1);
    for (let i = 0; i < 25; i++) c.tickAll();
    assert.notEqual(c.raw(1).role, 'Leader');
    // The majority side elects a new leader meanwhile.
    for (let i = 0; i < 40 && c.leaders().length === 0; i++) c.tickAll();
    assert.equal(c.leaders().length, 1);
    assert.notEqual(c.leaders()[0], 1);
  });

  it('followers that heard from the leader recently ignore a higher-term campaign (leader lease)', () => {
    const c = new Cluster([1, 2, 3], { checkQuorum: true, preVote: false });
    c.elect(1);
    const term = c.raw(2).term;
    c.raw(2).step(makeMessage({ type: 'MsgVote', from: 3, to: 2, term: term + 1, index: 100, logTerm: 100 }));
    assert.equal(c.raw(2).term, term);
    assert.equal(c.raw(2).hasReady(), false);
  });
});
