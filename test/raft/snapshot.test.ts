// Log compaction, snapshots, restart from storage, and storage that answers 'unavailable'.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type MemoryStorage, makeMessage } from '../../raft/index.js';
import { Cluster, text } from './cluster.js';

function compactLeader(c: Cluster, id: number): number {
  const n = c.node(id);
  const applied = n.raw.status().applied;
  const s = n.storage.createSnapshot(applied, n.raw.status().confState, text(`state@${applied}`));
  assert.notEqual(s, 'out-of-date');
  assert.equal(n.storage.compact(applied), 'ok');
  return applied;
}

describe('snapshots', () => {
  it('a lagging follower catches up by snapshot after the leader compacted its log', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 20; i++) c.raw(1).propose(text(`p${i}`));
    c.stabilize();
    const snapIndex = compactLeader(c, 1);
    c.heal();
    for (let i = 0; i < 5; i++) c.tickAll();
    assert.ok(c.sent.some((m) => m.type === 'MsgSnap' && m.to === 3), 'the leader sent a snapshot');
    const s3 = c.node(3).storage.snapshot(0);
    assert.ok(s3 !== 'unavailable' && s3.metadata.index === snapIndex, 'follower installed it');
    c.raw(1).propose(text('after'));
    c.stabilize();
    assert.deepEqual(c.appliedData(3), ['after'], 'entries after the snapshot are applied normally');
    assert.deepEqual(c.logTerms(3), c.logTerms(1).slice(-c.logTerms(3).length));
  });

  it('a follower restarted from storage keeps its log and rejoins', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    for (let i = 0; i < 5; i++) c.raw(1).propose(text(`p${i}`));
    c.stabilize();
    const last = c.raw(2).raft.raftLog.lastIndex();
    c.restart(2);
    assert.equal(c.raw(2).raft.raftLog.lastIndex(), last);
    assert.equal(c.raw(2).term, c.raw(1).term);
    c.raw(1).propose(text('more'));
    for (let i = 0; i < 3; i++) c.tickAll();
    assert.equal(c.raw(2).raft.raftLog.committed, c.raw(1).raft.raftLog.committed);
  });

  it('entries that were not persisted are lost on restart, and the leader re-sends them', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    c.raw(1).propose(text('x'));
    c.processReady(1);
    c.deliverAll(); // node 2 receives the append but does not persist it
    assert.ok(c.raw(2).hasReady());
    c.restart(2);
    const before = c.raw(2).raft.raftLog.lastIndex();
    c.queue = [];
    for (let i = 0; i < 5; i++) c.tickAll();
    assert.ok(c.raw(2).raft.raftLog.lastIndex() > before);
    assert.deepEqual(c.logTerms(2), c.logTerms(1));
  });

  it('a snapshot older than the follower commit is ignored', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    c.raw(2).step({ type: 'MsgSnap', from: 1, to: 2, term: c.raw(1).term, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), snapshot: { metadata: { index: 1, term: 1, confState: c.raw(1).status().confState }, data: new Uint8Array(0) } });
    const rd = c.raw(2).ready();
    assert.equal(rd.snapshot, undefined);
    c.raw(2).advance(rd);
  });
});

describe('storage that answers unavailable', () => {
  it('a leader whose log range is not in memory waits, then resumes on onStorageReady()', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 10; i++) c.raw(1).propose(text(`p${i}`));
    c.stabilize();
    const s1: MemoryStorage = c.node(1).storage;
    s1.evictBelow(s1.lastIndex());
    c.heal();
    for (let i = 0; i < 5; i++) c.tickAll();
    assert.ok(s1.loadRequested, 'storage was asked for the evicted range');
    assert.ok(c.raw(3).raft.raftLog.lastIndex() < c.raw(1).raft.raftLog.lastIndex(), 'follower is still behind');
    s1.loadEvicted();
    c.raw(1).onStorageReady();
    c.stabilize();
    assert.deepEqual(c.logTerms(3), c.logTerms(1));
  });

  it('a snapshot being generated is sent once onStorageReady() reports it', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    c.isolate(3);
    for (let i = 0; i < 10; i++) c.raw(1).propose(text(`p${i}`));
    c.stabilize();
    compactLeader(c, 1);
    const s1 = c.node(1).storage;
    let ready = false;
    s1.snapshotWantedIndex = () => (ready ? 0 : Number.MAX_SAFE_INTEGER);
    c.heal();
    for (let i = 0; i < 5; i++) c.tickAll();
    assert.ok(s1.snapshotRequested);
    assert.ok(!c.sent.some((m) => m.type === 'MsgSnap'));
    ready = true;
    c.raw(1).onStorageReady();
    c.stabilize();
    for (let i = 0; i < 3; i++) c.tickAll();
    assert.ok(c.sent.some((m) => m.type === 'MsgSnap' && m.to === 3));
    assert.equal(c.raw(3).raft.raftLog.committed, c.raw(1).raft.raftLog.committed);
  });
});

describe('a snapshot whose last entry the follower is loading', () => {
  // Simulator seed 21080: the follower could not tell whether it held the snapshot's last entry
  // (its storage answered 'unavailable'), installed the snapshot and dropped the entries after it
  // that it had acknowledged; its leader then sent it a commit index past its log.
  it('is refused for now: the entries the follower acknowledged after it stay', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    // 3 holds every entry and acknowledges them, but hears of no commit past where it stood.
    const base = c.raw(3).raft.raftLog.committed;
    c.dropIf = (m) => m.to === 3 && (m.type === 'MsgHeartbeat' || (m.type === 'MsgApp' && m.commit > base));
    for (let i = 0; i < 10; i++) c.raw(1).propose(text(`p${i}`));
    c.stabilize();
    c.dropIf = undefined;
    const f = c.raw(3);
    assert.equal(f.raft.raftLog.committed, base);
    const last = f.raft.raftLog.lastIndex();
    const at = last - 4;
    const term = f.raft.raftLog.term(at);
    assert.equal(typeof term, 'number');
    c.node(3).storage.evictBelow(last);
    assert.equal(f.raft.raftLog.term(at), 'unavailable', 'the entry is being loaded');
    f.step(makeMessage({
      type: 'MsgSnap', from: 1, to: 3, term: c.raw(1).term,
      snapshot: { metadata: { index: at, term: term as number, confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) },
    }));
    assert.equal(f.raft.raftLog.lastIndex(), last, 'no entry dropped');
    assert.equal(f.raft.raftLog.pendingSnapshot(), undefined, 'nothing to install');
    c.node(3).storage.loadEvicted();
    c.stabilize();
    assert.deepEqual(c.logTerms(3), c.logTerms(1));
  });
});
