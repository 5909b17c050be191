// Writes behind the Readys (raft/README.md; config asyncStorageWrites, what the store's poll loop
// runs): Readys taken while earlier ones are still being written. Each case fixes one rule the
// loop relies on; the raft simulation runs the same mode over generated faults.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../common/pure.js';
import { type MemoryStorage, type Message, type Ready, RawNode, makeMessage, readyNeedsWrite } from '../../raft/index.js';
import { bootstrapStorage, entriesWithTerms } from './cluster.js';

function node(id: number, isAsync = true, storage: MemoryStorage = bootstrapStorage([1, 2, 3])): RawNode {
  return new RawNode({ id, storage, rng: createRng(id), electionTick: 10, heartbeatTick: 1, applied: 1, asyncStorageWrites: isAsync, verify: true });
}

/** The write of `rd` lands: storage holds it, raft learns it. */
function land(raw: RawNode, rd: Ready): void {
  const storage = raw.config.storage as MemoryStorage;
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
  raw.advanceAppend(rd);
}

const ids = (es: readonly { index: number; term: number }[]): string[] => es.map((e) => `${e.index}/${e.term}`);
const acks = (ms: readonly Message[]): number[] => ms.filter((m) => m.type === 'MsgAppResp' && !m.reject).map((m) => m.index);

function appendFrom(leader: number, term: number, index: number, logTerm: number, entries: ReturnType<typeof entriesWithTerms>, commit: number): Message {
  return makeMessage({ type: 'MsgApp', to: 1, from: leader, term, index, logTerm, entries, commit });
}

describe('writes behind the Readys (asyncStorageWrites)', () => {
  it('a follower hands each entry out once, applies only what its own log holds durably, and acks after the write', () => {
    const raw = node(1);
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2, 2]), 3));
    const rd1 = raw.ready();
    assert.deepEqual(ids(rd1.entries), ['2/2', '3/2']);
    assert.deepEqual(rd1.committedEntries, [], 'committed but not durable here: not handed out to apply');
    assert.equal(rd1.hardState?.commit, 3);
    assert.deepEqual(acks(rd1.messages), [], 'an ack never goes before its write');
    assert.deepEqual(acks(rd1.persistedMessages), [3]);
    // A second append while rd1's write is in flight: only the new entry is handed out.
    raw.step(appendFrom(2, 2, 3, 2, entriesWithTerms(4, [2]), 3));
    assert.equal(raw.hasReady(), true);
    const rd2 = raw.ready();
    assert.deepEqual(ids(rd2.entries), ['4/2']);
    assert.equal(rd2.hardState, undefined, 'the hard state did not change since the one handed out');
    assert.deepEqual(rd2.committedEntries, []);
    land(raw, rd1);
    const rd3 = raw.ready();
    assert.deepEqual(ids(rd3.committedEntries), ['2/2', '3/2'], 'durable now: handed out to apply, while rd2 is still being written');
    assert.deepEqual(rd3.entries, []);
    raw.advanceAppend(rd3);
    raw.advanceApply(rd3);
    land(raw, rd2);
    assert.equal(raw.raft.raftLog.stableLastIndex(), 4);
    assert.equal(raw.raft.raftLog.applied, 3);
    assert.equal(raw.hasReady(), false);
  });

  it('an ack for entries still being written waits for a write, even in a Ready with nothing to write', () => {
    const raw = node(1);
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2, 2]), 1));
    const rd1 = raw.ready();
    // The leader resends the same entries (a retry): the node acks them at once in memory.
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2, 2]), 1));
    const rd2 = raw.ready();
    assert.deepEqual(rd2.entries, []);
    assert.equal(rd2.mustSync, false);
    assert.deepEqual(acks(rd2.messages), [], 'sent now, it would vouch for rd1 entries not yet durable');
    assert.deepEqual(acks(rd2.persistedMessages), [3]);
    assert.equal(readyNeedsWrite(rd2), true, 'it goes through the writes, behind rd1');
    land(raw, rd1);
    land(raw, rd2);
    // Nothing in flight: an ack that vouches for durable entries goes at once.
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2, 2]), 1));
    const rd3 = raw.ready();
    assert.deepEqual(acks(rd3.messages), [3]);
    assert.equal(readyNeedsWrite(rd3), false);
  });

  it('a leader committed by its followers before its own write lands applies only after it', () => {
    const storage = bootstrapStorage([1, 2, 3]);
    const raw = node(1, true, storage);
    raw.campaignAs('election');
    const vote = raw.ready();
    land(raw, vote);
    for (const from of [2, 3]) raw.step(makeMessage({ type: 'MsgVoteResp', to: 1, from, term: 2 }));
    assert.equal(raw.role, 'Leader');
    const lead = raw.ready(); // the empty entry of the new term
    land(raw, lead);
    for (const from of [2, 3]) raw.step(makeMessage({ type: 'MsgAppResp', to: 1, from, term: 2, index: 2 }));
    const settle = raw.ready();
    raw.advanceAppend(settle);
    raw.advanceApply(settle);
    assert.equal(raw.raft.raftLog.applied, 2);
    assert.equal(raw.propose(new Uint8Array([7])).kind, 'ok');
    const rd = raw.ready();
    assert.deepEqual(ids(rd.entries), ['3/2']);
    assert.ok(rd.messages.some((m) => m.type === 'MsgApp'), 'appends go out before the leader\'s own write');
    for (const from of [2, 3]) raw.step(makeMessage({ type: 'MsgAppResp', to: 1, from, term: 2, index: 3 }));
    assert.equal(raw.raft.raftLog.committed, 3, 'two followers of three are a quorum');
    const early = raw.ready();
    assert.deepEqual(early.committedEntries, [], 'not durable on the leader yet: not applied');
    raw.advanceAppend(early);
    land(raw, rd);
    const late = raw.ready();
    assert.deepEqual(ids(late.committedEntries), ['3/2']);
  });

  it('entries replaced while their write is in flight: the replacement is handed out, the stale notification moves nothing', () => {
    const raw = node(1);
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2, 2, 2]), 1));
    const rd1 = raw.ready();
    raw.step(appendFrom(3, 3, 2, 2, entriesWithTerms(3, [3]), 1));
    const rd2 = raw.ready();
    assert.deepEqual(ids(rd2.entries), ['3/3']);
    land(raw, rd1);
    assert.equal(raw.raft.raftLog.stableLastIndex(), 1, 'rd1 named 4/2, which is no longer in the log');
    land(raw, rd2);
    assert.equal(raw.raft.raftLog.stableLastIndex(), 3);
    const storage = raw.config.storage as MemoryStorage;
    assert.equal(storage.lastIndex(), 3);
    assert.equal(storage.term(3), 3);
  });

  it('a snapshot is handed out alone once nothing is in flight, and advanced whole', () => {
    const raw = node(1);
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2]), 1));
    const rd1 = raw.ready();
    const snap = { metadata: { index: 10, term: 2, confState: { voters: [1, 2, 3], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) };
    raw.step(makeMessage({ type: 'MsgSnap', to: 1, from: 2, term: 2, snapshot: snap }));
    assert.equal(raw.hasReady(), false, 'a write is in flight: the snapshot waits');
    land(raw, rd1);
    assert.equal(raw.hasReady(), true);
    const rd = raw.ready();
    assert.equal(rd.snapshot?.metadata.index, 10);
    assert.throws(() => raw.ready(), /before advance/);
    assert.throws(() => raw.advanceAppend(rd), /advance\(\) those/);
    (raw.config.storage as MemoryStorage).applySnapshot(snap);
    raw.advance(rd);
    assert.equal(raw.raft.raftLog.applied, 10);
  });

  it('the synchronous mode keeps one Ready outstanding and has no separate acknowledgements', () => {
    const raw = node(1, false);
    raw.step(appendFrom(2, 2, 1, 1, entriesWithTerms(2, [2]), 2));
    const rd = raw.ready();
    assert.deepEqual(ids(rd.committedEntries), ['2/2'], 'sync: committed entries of this very Ready (persist, then apply)');
    assert.throws(() => raw.ready(), /before advance/);
    assert.throws(() => raw.advanceAppend(rd), /async mode/);
    (raw.config.storage as MemoryStorage).append(rd.entries);
    raw.advance(rd);
    assert.equal(raw.raft.raftLog.applied, 2);
  });
});

describe('a lone voter behind the Readys', () => {
  // Its election is won on its own vote: it must not lead on the write of an earlier Ready.
  it('leads once the Ready with its new term lands, not when an earlier Ready of the term before does', () => {
    const raw = node(1, true, bootstrapStorage([1]));
    // A stray vote request of a higher term: term 5 goes into a Ready whose write is in flight.
    raw.step(makeMessage({ type: 'MsgVote', from: 9, to: 1, term: 5, index: 0, logTerm: 0 }));
    const first = raw.ready();
    assert.equal(first.hardState?.term, 5);
    raw.campaign();
    assert.equal(raw.term, 6);
    const second = raw.ready();
    assert.equal(second.hardState?.term, 6);
    land(raw, first);
    assert.equal(raw.role, 'Candidate', 'term 6 is not written yet');
    land(raw, second);
    assert.equal(raw.role, 'Leader');
  });
});
