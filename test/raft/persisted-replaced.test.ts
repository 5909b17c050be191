// Persisted notifications for entries that were replaced while their write was in flight. The
// servers persist asynchronously (placement-driver/raft-node.ts): between ready() and advance()
// messages arrive and may replace the very entries being written. advance() then reports
// "persisted up to (index, term)" for entries that are no longer in the log; such a stale
// notification must not advance anything — not the stable index, not the leader's own match,
// not the commit index. Table of RaftLog.stableTo first, then the same through a RawNode.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, type MemoryStorage, type NodeId, type Ready, RawNode, makeMessage } from '../../raft/index.js';
import { RaftLog } from '../../raft/raft-log.js';
import { createRng } from '../../common/pure.js';
import { Cluster, bootstrapStorage, entriesWithTerms, text } from './cluster.js';

describe('RaftLog.stableTo (table)', () => {
  // Durable log: 1 (snapshot, t1), 2:t1, 3:t1. Unstable: 4:t2, 5:t2, 6:t3.
  const rows: readonly { name: string; index: number; term: number; moved: boolean; wantStableLast: number }[] = [
    { name: 'the last unstable entry with its term', index: 6, term: 3, moved: true, wantStableLast: 6 },
    { name: 'a middle unstable entry with its term', index: 4, term: 2, moved: true, wantStableLast: 4 },
    { name: 'an unstable entry whose term has changed since the write began', index: 6, term: 2, moved: false, wantStableLast: 3 },
    { name: 'a middle entry with a stale term', index: 5, term: 1, moved: false, wantStableLast: 3 },
    { name: 'an index already stable', index: 3, term: 1, moved: false, wantStableLast: 3 },
    { name: 'an index beyond the log (the entry was truncated away)', index: 7, term: 3, moved: false, wantStableLast: 3 },
  ];
  for (const r of rows) {
    it(`${r.name}: stableTo(${r.index}, ${r.term}) ${r.moved ? 'moves' : 'changes nothing'}`, () => {
      const storage = bootstrapStorage([1]);
      storage.append(entriesWithTerms(2, [1, 1]));
      const log = new RaftLog(storage);
      const unstable = entriesWithTerms(4, [2, 2, 3]);
      log.append(unstable);
      // The write landed: the storage holds what it carried (for a stale row, what it carried
      // is no longer the log's: the next Ready rewrites it).
      storage.append(unstable.filter((e) => e.index <= r.index));
      assert.equal(log.stableTo(r.index, r.term), r.moved);
      assert.equal(log.stableLastIndex(), r.wantStableLast);
      assert.equal(log.lastIndex(), 6, 'the log itself is unchanged');
      assert.deepEqual(log.unstableEntries().map((e) => e.index), [4, 5, 6].filter((i) => i > r.wantStableLast));
    });
  }
});

/** Writes a Ready to storage the way the servers do, after the fact (the write "lands"). */
function land(raw: RawNode, rd: Ready): void {
  const storage = raw.config.storage as MemoryStorage;
  if (rd.snapshot !== undefined) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
}

function termsOf(raw: RawNode, from: number): number[] {
  const log = raw.raft.raftLog;
  const out: number[] = [];
  for (let i = from; i <= log.lastIndex(); i++) {
    const t = log.term(i);
    out.push(typeof t === 'number' ? t : -1);
  }
  return out;
}

describe('a write in flight whose entries are replaced', () => {
  it('follower: the stale notification leaves the new entries unstable, and the next Ready writes them', () => {
    const storage = bootstrapStorage([1, 2, 3]);
    storage.setHardState({ term: 2, vote: 0, commit: 1 });
    const raw = new RawNode({ id: 1, storage, rng: createRng(3), electionTick: 10, heartbeatTick: 1, applied: 1, verify: true });
    // Leader 2 of term 2 appends 2..3; the follower starts writing them.
    raw.step(makeMessage({ type: 'MsgApp', to: 1, from: 2, term: 2, index: 1, logTerm: 1, entries: entriesWithTerms(2, [2, 2]), commit: 1 }));
    const rd1 = raw.ready();
    assert.deepEqual(rd1.entries.map((e) => `${e.index}/${e.term}`), ['2/2', '3/2']);
    // While the write is in flight, leader 3 of term 3 replaces them with a shorter log.
    raw.step(makeMessage({ type: 'MsgApp', to: 1, from: 3, term: 3, index: 1, logTerm: 1, entries: entriesWithTerms(2, [3]), commit: 2 }));
    land(raw, rd1);
    raw.advance(rd1);
    assert.deepEqual(termsOf(raw, 2), [3], 'the log holds the replacement');
    assert.equal(raw.raft.raftLog.stableLastIndex(), 1, 'nothing of the replacement counts as stable');
    assert.equal(raw.raft.raftLog.committed, 2, 'commit follows the new leader only');
    const rd2 = raw.ready();
    assert.deepEqual(rd2.entries.map((e) => `${e.index}/${e.term}`), ['2/3'], 'the replacement is written next');
    assert.ok(rd2.mustSync);
    const acks = [...rd2.messages, ...rd2.persistedMessages].filter((m) => m.type === 'MsgAppResp' && m.to === 3);
    assert.ok(acks.length > 0 && acks.every((m) => rd2.persistedMessages.includes(m)), 'the ack to the new leader waits for its write');
    land(raw, rd2);
    raw.advance(rd2);
    assert.equal(raw.raft.raftLog.stableLastIndex(), 2);
    assert.deepEqual(storage.allEntries().map((e) => `${e.index}/${e.term}`), ['2/3'], 'the storage holds the replacement alone');
  });

  it('deposed leader: the stale notification of its own entries does not count toward its match when it leads again', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    const term = c.raw(1).term;
    const base = c.raw(1).raft.raftLog.lastIndex();
    c.raw(1).propose(text('lost-1'));
    c.raw(1).propose(text('lost-2'));
    const raw = c.raw(1);
    const rd1 = raw.ready(); // the leader's own write of base+1..base+2 starts
    assert.deepEqual(rd1.entries.map((e) => e.index), [base + 1, base + 2]);
    // Node 2 wins term+1 and replaces base+1 before the write lands.
    raw.step(makeMessage({ type: 'MsgApp', to: 1, from: 2, term: term + 1, index: base, logTerm: term, entries: entriesWithTerms(base + 1, [term + 1]), commit: base }));
    assert.equal(raw.role, 'Follower');
    land(raw, rd1);
    raw.advance(rd1);
    assert.equal(raw.raft.raftLog.stableLastIndex(), base, 'stale notification ignored');
    assert.deepEqual(termsOf(raw, base + 1), [term + 1]);
    // Node 1 campaigns before writing the replacement: its own match is what it has durably.
    raw.campaign();
    const votes: Message[] = [];
    for (const id of [2, 3] as NodeId[]) votes.push(makeMessage({ type: raw.raft.role === 'PreCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp', to: 1, from: id, term: raw.term + 1 }));
    if (raw.raft.role === 'PreCandidate') {
      raw.step(votes[0] as Message);
      assert.equal(raw.raft.role, 'Candidate');
    }
    raw.step(makeMessage({ type: 'MsgVoteResp', to: 1, from: 2, term: raw.term }));
    assert.equal(raw.role, 'Leader');
    const self = raw.raft.trk.progress.get(1);
    assert.ok(self !== undefined);
    assert.ok(self.match <= raw.raft.raftLog.stableLastIndex(), `self match ${self.match} ≤ stable ${raw.raft.raftLog.stableLastIndex()}`);
    assert.ok(raw.raft.raftLog.committed <= base, 'nothing new committed by a notification that was stale');
  });

  it('a notification for an index that was truncated away changes nothing', () => {
    const storage = bootstrapStorage([1, 2, 3]);
    storage.setHardState({ term: 2, vote: 0, commit: 1 });
    const raw = new RawNode({ id: 1, storage, rng: createRng(5), electionTick: 10, heartbeatTick: 1, applied: 1, verify: true });
    raw.step(makeMessage({ type: 'MsgApp', to: 1, from: 2, term: 2, index: 1, logTerm: 1, entries: entriesWithTerms(2, [2, 2, 2]), commit: 1 }));
    const rd1 = raw.ready();
    // Replaced by a shorter log: index 4 no longer exists.
    raw.step(makeMessage({ type: 'MsgApp', to: 1, from: 3, term: 3, index: 2, logTerm: 2, entries: entriesWithTerms(3, [3]), commit: 2 }));
    land(raw, rd1);
    raw.advance(rd1);
    assert.equal(raw.raft.raftLog.lastIndex(), 3);
    assert.equal(raw.raft.raftLog.stableLastIndex(), 1, 'index 2 was written, but the notification named 4/2 and is ignored as a whole');
    const rd2 = raw.ready();
    // 2/2 was in rd1's write, which landed before rd2's: only the replacement is written again.
    assert.deepEqual(rd2.entries.map((e) => `${e.index}/${e.term}`), ['3/3']);
    land(raw, rd2);
    raw.advance(rd2);
    assert.equal(raw.raft.raftLog.stableLastIndex(), 3);
    assert.deepEqual(termsOf(raw, 1), [1, 2, 3]);
  });
});
