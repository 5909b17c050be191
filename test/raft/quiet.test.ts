// Quiet mode (hibernation, issue 20): a leader goes quiet only when nothing is in flight; a
// follower only on a quiesce heartbeat from its leader of its term that matches its last entry;
// every wake source wakes; tick() does nothing while quiet; lease reads are off while quiet and
// until a fresh heartbeat round after waking; ReadIndex still works (it wakes the group).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, type QuiesceCheck, QUIESCE_CONTEXT, isQuiesceContext, makeMessage } from '../../raft/index.js';
import { Cluster, bootstrapStorage, str, text } from './cluster.js';

/** A three-voter group (plus optional learner 4) with leader 1, settled. */
function settled(opts: { learner?: boolean; lease?: boolean } = {}): Cluster {
  const ids = opts.learner === true ? [1, 2, 3, 4] : [1, 2, 3];
  const storages = new Map(ids.map((id) => [id, bootstrapStorage([1, 2, 3], opts.learner === true ? [4] : [])]));
  const c = new Cluster(ids, opts.lease === true ? { readOnlyOption: 'lease-based' } : {}, storages);
  if (opts.lease === true) c.tickAll(11); // a fresh node waits out one election timeout before it votes
  c.elect(1);
  assert.deepEqual(c.leaders(), [1]);
  c.stabilize();
  return c;
}

/** Leader 1 quiesces and every member receives its quiesce heartbeat. */
function asleep(opts: { learner?: boolean; lease?: boolean } = {}): Cluster {
  const c = settled(opts);
  assert.deepEqual(c.raw(1).quiesce(), { kind: 'ok' });
  c.stabilize();
  for (const id of c.nodes.keys()) assert.equal(c.raw(id).isQuiet, true, `node ${id} quiet`);
  return c;
}

function allQuiet(c: Cluster): boolean {
  return [...c.nodes.keys()].every((id) => c.raw(id).isQuiet);
}

function noneQuiet(c: Cluster): boolean {
  return [...c.nodes.keys()].every((id) => !c.raw(id).isQuiet);
}

function quiesceHeartbeat(c: Cluster, fields: Partial<Message> = {}): Message {
  const log = c.raw(1).raft.raftLog;
  return makeMessage({ type: 'MsgHeartbeat', to: 2, from: 1, term: c.raw(1).term, commit: log.lastIndex(), logTerm: log.lastTerm(), context: QUIESCE_CONTEXT, ...fields });
}

describe('quiet mode: when a leader may go quiet', () => {
  const rows: { name: string; setup: (c: Cluster) => void; at?: number; want: QuiesceCheck['kind']; learner?: boolean }[] = [
    { name: 'a settled group may', setup: () => {}, want: 'ok' },
    { name: 'a settled group with a learner may', setup: () => {}, want: 'ok', learner: true },
    { name: 'a follower may not quiesce the group', setup: () => {}, at: 2, want: 'notLeader' },
    {
      name: 'a quiet leader is already quiet',
      setup: (c) => {
        c.raw(1).quiesce();
        c.processReady(1);
      },
      want: 'alreadyQuiet',
    },
    { name: 'a Ready waiting to be handed out blocks', setup: (c) => void c.raw(1).propose(text('x')), want: 'readyPending' },
    {
      name: 'a Ready handed out and not advanced blocks',
      setup: (c) => {
        c.raw(1).propose(text('x'));
        c.raw(1).ready();
      },
      want: 'readyPending',
    },
    {
      name: 'an entry not yet committed blocks',
      setup: (c) => {
        c.raw(1).propose(text('x'));
        c.processReady(1);
      },
      want: 'entriesUncommitted',
    },
    {
      name: 'a committed entry not yet applied blocks',
      setup: (c) => {
        c.raw(1).proposeBatch([text('x'), text('y')]);
        c.processReady(1);
        c.deliverAll();
        c.processReady(2);
        c.processReady(3);
        // The leader's storage holds only its last entry in memory: it cannot apply 'x' yet.
        c.node(1).storage.evictBelow(c.raw(1).raft.raftLog.lastIndex());
        c.deliverAll();
        for (let i = 0; i < 5 && c.processReady(1); i++);
        c.queue = [];
      },
      want: 'entriesUnapplied',
    },
    {
      name: 'a voter without the last entry blocks',
      setup: (c) => {
        c.isolate(3);
        c.raw(1).propose(text('x'));
        c.stabilize();
      },
      want: 'peerBehind',
    },
    {
      name: 'a learner without the last entry blocks',
      learner: true,
      setup: (c) => {
        c.isolate(4);
        c.raw(1).propose(text('x'));
        c.stabilize();
      },
      want: 'peerBehind',
    },
    {
      name: 'a member not heard from since the last check-quorum round blocks',
      setup: (c) => {
        c.isolate(3);
        c.tickAll(10);
      },
      want: 'peerInactive',
    },
    {
      name: 'a learner not heard from blocks',
      learner: true,
      setup: (c) => {
        c.isolate(4);
        c.tickAll(10);
      },
      want: 'peerInactive',
    },
    {
      name: 'a ReadIndex request waiting for its heartbeat round blocks',
      setup: (c) => {
        c.raw(1).readIndex(text('r'));
        c.processReady(1);
        c.queue = [];
      },
      want: 'readsPending',
    },
    {
      name: 'a leader transfer in flight blocks',
      setup: (c) => {
        c.isolate(3);
        c.raw(1).transferLeader(3);
        c.stabilize();
      },
      want: 'leaderTransferring',
    },
    {
      name: 'a conf change not yet applied blocks',
      setup: (c) => {
        c.raw(1).proposeConfChange({ transition: 'auto', changes: [{ type: 'AddLearnerNode', nodeId: 5 }], context: new Uint8Array(0) });
        c.processReady(1);
      },
      want: 'confChangePending',
    },
  ];
  for (const row of rows) {
    it(`${row.name} (${row.want})`, () => {
      const c = settled({ learner: row.learner === true });
      row.setup(c);
      const at = row.at ?? 1;
      const check = c.raw(at).quiesceCheck();
      assert.equal(check.kind, row.want, JSON.stringify(check));
      // quiesce() refuses exactly as the check does, and changes nothing when it refuses.
      if (row.want !== 'ok') {
        const wasQuiet = c.raw(at).isQuiet;
        assert.equal(c.raw(at).quiesce().kind, row.want);
        assert.equal(c.raw(at).isQuiet, wasQuiet);
      }
    });
  }

  it('a blocked leader names the member that blocks it', () => {
    const c = settled({ learner: true });
    c.isolate(4);
    c.raw(1).propose(text('x'));
    c.stabilize();
    const check = c.raw(1).quiesceCheck();
    assert.ok(check.kind === 'peerBehind');
    assert.equal(check.peerId, 4);
    assert.equal(check.lastIndex, c.raw(1).raft.raftLog.lastIndex());
  });
});

describe('quiet mode: the quiesce heartbeat and tick', () => {
  it('quiesce sends one quiesce heartbeat per member (learners too) carrying the last entry', () => {
    const c = settled({ learner: true });
    const from = c.sent.length;
    assert.equal(c.raw(1).quiesce().kind, 'ok');
    assert.equal(c.raw(1).isQuiet, true);
    assert.equal(c.raw(1).status().isQuiet, true);
    c.processReady(1);
    const log = c.raw(1).raft.raftLog;
    const hbs = c.sent.slice(from);
    assert.deepEqual(hbs.map((m) => m.to).sort(), [2, 3, 4]);
    for (const m of hbs) {
      assert.equal(m.type, 'MsgHeartbeat');
      assert.ok(isQuiesceContext(m.context));
      assert.equal(m.commit, log.lastIndex());
      assert.equal(m.logTerm, log.lastTerm());
      assert.equal(m.term, c.raw(1).term);
    }
  });

  it('tick does nothing while quiet, on the leader and on followers', () => {
    const c = asleep({ lease: true });
    const snap = (id: number): string => {
      const r = c.raw(id).raft;
      return JSON.stringify([r.tickCount, r.electionElapsed, r.heartbeatElapsed, r.leaderContactElapsed, r.term, r.role, r.msgs.length]);
    };
    const before = [1, 2, 3].map(snap);
    for (let i = 0; i < 100; i++) for (const id of [1, 2, 3]) c.raw(id).tick();
    assert.deepEqual([1, 2, 3].map(snap), before);
    for (const id of [1, 2, 3]) assert.equal(c.raw(id).hasReady(), false, `node ${id} has nothing to hand out`);
    assert.equal(c.raw(1).role, 'Leader');
    assert.equal(allQuiet(c), true);
  });

  it('followers that go quiet do not answer (an answer would wake the leader)', () => {
    const c = settled();
    c.raw(1).quiesce();
    c.processReady(1);
    c.deliverAll();
    c.processAllReadies();
    assert.deepEqual(c.queue, []);
  });
});

describe('quiet mode: a follower goes quiet only on a matching quiesce heartbeat', () => {
  const rows: { name: string; setup?: (c: Cluster) => void; msg: (c: Cluster) => Message; quiet: boolean; answers: Message['type'] | undefined }[] = [
    { name: 'from its leader, of its term, matching its last entry', msg: (c) => quiesceHeartbeat(c), quiet: true, answers: undefined },
    {
      name: 'of a stale term',
      msg: (c) => quiesceHeartbeat(c, { term: c.raw(1).term - 1 }),
      quiet: false,
      answers: 'MsgAppResp',
    },
    {
      name: 'of a newer term (a leader it does not follow yet)',
      msg: (c) => quiesceHeartbeat(c, { term: c.raw(1).term + 1 }),
      quiet: false,
      answers: 'MsgHeartbeatResp',
    },
    { name: 'from a node that is not its leader', msg: (c) => quiesceHeartbeat(c, { from: 3 }), quiet: false, answers: 'MsgHeartbeatResp' },
    {
      name: 'whose last entry is behind ours (we hold an entry the leader lacks)',
      setup: (c) => {
        const r2 = c.raw(2).raft;
        r2.raftLog.append([{ type: 'Normal', term: r2.term, index: r2.raftLog.lastIndex() + 1, data: text('extra') }]);
      },
      msg: (c) => quiesceHeartbeat(c),
      quiet: false,
      answers: 'MsgHeartbeatResp',
    },
    {
      name: 'whose last entry has another term than ours at that index',
      msg: (c) => quiesceHeartbeat(c, { logTerm: c.raw(1).raft.raftLog.lastTerm() + 1 }),
      quiet: false,
      answers: 'MsgHeartbeatResp',
    },
    {
      name: 'at a follower that does not know its leader (restarted)',
      setup: (c) => c.restart(2),
      msg: (c) => quiesceHeartbeat(c),
      quiet: false,
      answers: 'MsgHeartbeatResp',
    },
    {
      name: 'at a pre-candidate',
      setup: (c) => {
        c.isolate(2);
        c.tick(2, 30);
        c.processReady(2);
        c.queue = [];
        assert.equal(c.raw(2).role, 'PreCandidate');
      },
      msg: (c) => quiesceHeartbeat(c),
      quiet: false,
      answers: 'MsgHeartbeatResp',
    },
  ];
  for (const row of rows) {
    it(`${row.quiet ? 'goes quiet' : 'stays awake'} on a quiesce heartbeat ${row.name}`, () => {
      const c = settled();
      row.setup?.(c);
      const m = row.msg(c);
      c.heal();
      c.queue = [];
      c.raw(2).step(m);
      assert.equal(c.raw(2).isQuiet, row.quiet);
      c.processReady(2);
      const answers = c.queue.filter((x) => x.from === 2);
      assert.deepEqual(answers.map((x) => x.type), row.answers === undefined ? [] : [row.answers]);
      if (row.answers === 'MsgHeartbeatResp') assert.ok(isQuiesceContext(answers[0]?.context ?? new Uint8Array(0)), 'a refusal echoes the marker');
    });
  }

  it("a refusal wakes the leader, which heartbeats again", () => {
    const c = settled();
    // Node 3 holds an extra entry: it refuses the quiesce heartbeat.
    const r3 = c.raw(3).raft;
    r3.raftLog.append([{ type: 'Normal', term: r3.term, index: r3.raftLog.lastIndex() + 1, data: text('extra') }]);
    c.processReady(3);
    c.raw(1).quiesce();
    c.processReady(1);
    c.deliverAll();
    c.processAllReadies();
    assert.equal(c.raw(2).isQuiet, true);
    assert.equal(c.raw(3).isQuiet, false);
    const from = c.sent.length;
    c.deliverAll(); // 3's refusal reaches the leader
    assert.equal(c.raw(1).isQuiet, false);
    c.processReady(1);
    assert.deepEqual(c.sent.slice(from).filter((m) => m.type === 'MsgHeartbeat').map((m) => m.to).sort(), [2, 3]);
  });

  it('a follower that missed the commit learns it from the quiesce heartbeat (planted bug Q5)', () => {
    const c = settled();
    c.raw(1).propose(text('x'));
    c.processReady(1);
    c.deliverAll();
    c.processAllReadies();
    c.dropIf = (m) => m.to === 2 && m.from === 1; // the appends carrying the new commit to 2 are lost
    c.deliverAll();
    c.processAllReadies();
    c.deliverAll();
    c.heal();
    const last = c.raw(1).raft.raftLog.lastIndex();
    assert.ok(c.raw(2).raft.raftLog.committed < last);
    c.raw(1).quiesce();
    c.stabilize();
    assert.equal(c.raw(2).isQuiet, true);
    assert.equal(c.raw(2).raft.raftLog.committed, last);
    assert.ok(c.appliedData(2).includes('x'), 'applied while quiet');
  });

  it('a duplicated quiesce heartbeat keeps a quiet follower quiet and silent (planted bug Q6)', () => {
    const c = settled();
    const m = quiesceHeartbeat(c);
    c.queue = [];
    c.raw(2).step(m);
    c.raw(2).step(m);
    assert.equal(c.raw(2).isQuiet, true);
    assert.equal(c.raw(2).hasReady(), false);
  });

  it('a learner goes quiet too', () => {
    const c = asleep({ learner: true });
    assert.equal(c.raw(4).isQuiet, true);
  });
});

describe('quiet mode: every wake source wakes', () => {
  const rows: { name: string; act: (c: Cluster) => void; woken: number[] }[] = [
    { name: 'a proposal at the leader', act: (c) => void c.raw(1).propose(text('p')), woken: [1] },
    { name: 'a batch proposal at the leader', act: (c) => void c.raw(1).proposeBatch([text('p'), text('q')]), woken: [1] },
    { name: 'a ReadIndex request at the leader', act: (c) => void c.raw(1).readIndex(text('r')), woken: [1] },
    { name: 'a leader transfer request', act: (c) => void c.raw(1).transferLeader(2), woken: [1] },
    {
      name: 'a conf change proposal',
      act: (c) => void c.raw(1).proposeConfChange({ transition: 'auto', changes: [{ type: 'AddLearnerNode', nodeId: 5 }], context: new Uint8Array(0) }),
      woken: [1],
    },
    { name: 'the host, at the leader', act: (c) => c.raw(1).wake(), woken: [1] },
    { name: 'the host, at a follower', act: (c) => c.raw(2).wake(), woken: [2] },
    { name: 'a proposal at a follower', act: (c) => void c.raw(2).propose(text('p')), woken: [2] },
    { name: 'a ReadIndex request at a follower', act: (c) => void c.raw(2).readIndex(text('r')), woken: [2] },
    { name: 'a campaign at a follower', act: (c) => c.raw(2).campaign(), woken: [2] },
    { name: 'a campaign at the leader', act: (c) => c.raw(1).campaign(), woken: [1] },
    { name: 'a normal heartbeat at a follower', act: (c) => void c.raw(2).step(makeMessage({ type: 'MsgHeartbeat', to: 2, from: 1, term: c.raw(1).term })), woken: [2] },
    {
      name: 'an append at a follower',
      act: (c) => {
        const log = c.raw(1).raft.raftLog;
        c.raw(2).step(makeMessage({ type: 'MsgApp', to: 2, from: 1, term: c.raw(1).term, index: log.lastIndex(), logTerm: log.lastTerm(), commit: log.committed }));
      },
      woken: [2],
    },
    {
      name: 'a pre-vote request at a follower',
      act: (c) => void c.raw(2).step(makeMessage({ type: 'MsgPreVote', to: 2, from: 3, term: c.raw(1).term + 1, index: 99, logTerm: 99 })),
      woken: [2],
    },
    {
      name: 'a rejected append answer at the leader',
      act: (c) => void c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 2, term: c.raw(1).term, index: 1, reject: true, rejectHint: 1 })),
      woken: [1],
    },
    {
      name: 'a heartbeat answer echoing the quiesce marker at the leader',
      act: (c) => void c.raw(1).step(makeMessage({ type: 'MsgHeartbeatResp', to: 1, from: 2, term: c.raw(1).term, context: QUIESCE_CONTEXT })),
      woken: [1],
    },
    {
      name: 'a message of a higher term at the leader',
      act: (c) => void c.raw(1).step(makeMessage({ type: 'MsgHeartbeat', to: 1, from: 2, term: c.raw(1).term + 1 })),
      woken: [1],
    },
  ];
  for (const row of rows) {
    it(`${row.name} wakes ${row.woken.join(',')} at once, and then the whole group`, () => {
      const c = asleep({ learner: true });
      c.queue = [];
      row.act(c);
      for (const id of c.nodes.keys()) assert.equal(c.raw(id).isQuiet, !row.woken.includes(id), `node ${id} quiet?`);
      c.stabilize();
      // The group does not stay half asleep: whoever woke reaches the leader, the leader its followers.
      // (A campaign at a follower may make it leader; the leader it deposed is then a follower, awake.)
      assert.equal(noneQuiet(c), true, [...c.nodes.keys()].map((id) => `${id}:${c.raw(id).isQuiet}`).join(' '));
    });
  }

  it('acknowledgements that change nothing do not wake a quiet leader (they were in flight when it quiesced)', () => {
    const c = asleep();
    const log = c.raw(1).raft.raftLog;
    const term = c.raw(1).term;
    c.raw(1).step(makeMessage({ type: 'MsgHeartbeatResp', to: 1, from: 2, term, index: 3 }));
    c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 3, term, index: log.lastIndex() }));
    c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 3, term, index: log.lastIndex() - 1 }));
    assert.equal(c.raw(1).isQuiet, true);
    assert.equal(c.raw(1).hasReady(), false);
  });

  it('a quiet leader told of a newer term by an append answer wakes and steps down (planted bug Q8)', () => {
    const c = asleep();
    c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 2, term: c.raw(1).term + 1 }));
    assert.equal(c.raw(1).role, 'Follower');
    assert.equal(c.raw(1).isQuiet, false);
  });

  it('a woken leader heartbeats every member at once', () => {
    const c = asleep({ learner: true });
    const from = c.sent.length;
    c.raw(1).wake();
    c.processReady(1);
    const hbs = c.sent.slice(from).filter((m) => m.type === 'MsgHeartbeat');
    assert.deepEqual(hbs.map((m) => m.to).sort(), [2, 3, 4]);
    assert.ok(hbs.every((m) => !isQuiesceContext(m.context)), 'ordinary heartbeats');
  });

  it('a woken leader counts no member active until it hears from it again (planted bug Q3)', () => {
    const c = asleep();
    c.down.add(3); // 3 died while the group slept
    c.raw(1).wake();
    c.stabilize(); // 2 answers the wake heartbeat, 3 cannot
    const check = c.raw(1).quiesceCheck();
    assert.deepEqual(check, { kind: 'peerInactive', peerId: 3 }, 'activity from before the sleep does not count');
  });

  it('a woken leader cut off from everyone steps down within one election timeout (check-quorum counts from waking)', () => {
    const c = asleep();
    c.isolate(1);
    c.raw(1).wake();
    c.tick(1, 10);
    assert.equal(c.raw(1).role, 'Follower');
  });

  it('a follower woken by the host asks its leader to wake', () => {
    const c = asleep();
    c.queue = [];
    c.raw(2).wake();
    c.processReady(2);
    assert.deepEqual(c.queue.map((m) => `${m.from}->${m.to} ${m.type}`), ['2->1 MsgHeartbeatResp']);
    c.deliverAll();
    assert.equal(c.raw(1).isQuiet, false);
  });

  it('a woken follower restarts its election timer with a randomized timeout', () => {
    const c = asleep();
    const r2 = c.raw(2).raft;
    r2.electionElapsed = 7; // as if it had ticked before going quiet
    const timeouts = new Set<number>();
    for (let i = 0; i < 20; i++) {
      r2.quiet = true;
      c.raw(2).wake();
      assert.equal(r2.electionElapsed, 0);
      assert.ok(r2.randomizedElectionTimeout >= 10 && r2.randomizedElectionTimeout < 20, String(r2.randomizedElectionTimeout));
      timeouts.add(r2.randomizedElectionTimeout);
      r2.electionElapsed = 7;
    }
    assert.ok(timeouts.size > 1, 'randomized');
  });

  it('a restarted node starts awake (quiet is not persisted)', () => {
    const c = asleep();
    c.restart(2);
    assert.equal(c.raw(2).isQuiet, false);
  });

  it('applying a conf change wakes a quiet follower', () => {
    const c = asleep();
    const r = c.raw(2).applyConfChange({ transition: 'auto', changes: [{ type: 'AddLearnerNode', nodeId: 9 }], context: new Uint8Array(0) });
    assert.equal(r.kind, 'ok');
    assert.equal(c.raw(2).isQuiet, false);
  });
});

describe('quiet mode: reads', () => {
  /** Lease-based group whose leader holds a valid lease. */
  function withLease(): Cluster {
    const c = settled({ lease: true });
    c.tickAll(3);
    assert.equal(c.raw(1).isLeaseValid(), true);
    return c;
  }

  it('a quiet leader has no lease, and a woken one none until a heartbeat stamped after waking is acked by a quorum', () => {
    const c = withLease();
    assert.equal(c.raw(1).quiesce().kind, 'ok');
    assert.equal(c.raw(1).isLeaseValid(), false, 'quiet');
    c.stabilize();
    c.raw(1).wake();
    assert.equal(c.raw(1).isLeaseValid(), false, 'just woken');
    c.stabilize(); // the wake heartbeats, stamped with the stopped clock, are acked: not enough
    assert.equal(c.raw(1).isLeaseValid(), false, 'acks of the wake round do not count');
    c.tickAll(1); // a heartbeat round stamped after waking
    assert.equal(c.raw(1).isLeaseValid(), true);
  });

  it('a read at a quiet lease leader is not answered at once but after a heartbeat round (ReadIndex)', () => {
    const c = withLease();
    c.raw(1).quiesce();
    c.stabilize();
    assert.equal(c.raw(1).readIndex(text('r')).kind, 'ok');
    assert.deepEqual(c.raw(1).raft.readStates, [], 'no lease answer');
    c.stabilize();
    assert.deepEqual(c.node(1).readStates.map((r) => [str(r.requestContext), r.index]), [['r', c.raw(1).raft.raftLog.committed]]);
  });

  it('ReadIndex (safe mode) works after a wake and a read forwarded by a quiet follower is answered', () => {
    const c = asleep();
    c.raw(1).readIndex(text('at-leader'));
    c.raw(3).readIndex(text('at-follower'));
    c.stabilize();
    assert.deepEqual(c.node(1).readStates.map((r) => str(r.requestContext)), ['at-leader']);
    assert.deepEqual(c.node(3).readStates.map((r) => str(r.requestContext)), ['at-follower']);
  });

  it('a quiet leader cut off while the others elect and commit serves no stale read when woken by one', () => {
    const c = withLease();
    const l = c.raw(1);
    l.quiesce();
    c.stabilize();
    c.isolate(1);
    // The hosts of 2 and 3 learn that 1's store is unreachable and wake them.
    c.raw(2).wake();
    c.raw(3).wake();
    for (let i = 0; i < 60 && c.leaders().every((id) => id === 1); i++) c.tickAll(1);
    const newLeader = c.leaders().find((id) => id !== 1);
    assert.ok(newLeader !== undefined, 'the woken followers elect a leader');
    c.raw(newLeader).propose(text('newer'));
    c.stabilize();
    assert.ok(c.appliedData(newLeader).includes('newer'));
    // 1 still believes it leads, with its clock stopped and acks that looked fresh when it slept.
    assert.equal(l.role, 'Leader');
    assert.equal(l.isQuiet, true);
    l.readIndex(text('stale?'));
    c.stabilize();
    c.tickAll(3);
    assert.deepEqual(c.node(1).readStates, [], 'no answer without a quorum');
  });
});

describe('quiet mode: liveness', () => {
  it('after the quiet leader dies, followers the host wakes elect a new leader and commit new proposals', () => {
    const c = asleep();
    c.down.add(1);
    c.raw(2).wake();
    c.raw(3).wake();
    let ticks = 0;
    while (c.leaders().length === 0 && ticks < 6 * 10) {
      c.tickAll(1);
      ticks++;
    }
    const l = c.leaders()[0];
    assert.ok(l !== undefined, `a leader within ${ticks} ticks`);
    c.raw(l).propose(text('after'));
    c.stabilize();
    assert.ok(c.appliedData(2).includes('after') && c.appliedData(3).includes('after'));
  });

  it('without the host waking them, quiet followers of a dead leader never campaign (the contract)', () => {
    const c = asleep();
    c.down.add(1);
    c.tickAll(200);
    assert.deepEqual(c.leaders(), []);
    assert.equal(c.raw(2).isQuiet && c.raw(3).isQuiet, true);
  });

  it('a quiet group sleeps through many ticks and serves a proposal at a follower afterwards', () => {
    const c = asleep();
    c.tickAll(500);
    assert.equal(allQuiet(c), true);
    c.raw(3).propose(text('late'));
    c.stabilize();
    assert.ok([1, 2, 3].every((id) => c.appliedData(id).includes('late')));
    assert.equal(c.raw(1).role, 'Leader');
  });
});
