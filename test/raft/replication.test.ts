// Log replication: the Raft paper's figures 7 and 8, the commit rule, progress and in-flight
// windows, batching, fast back-off, proposals on followers and the limits.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, type NodeId } from '../../raft/index.js';
import { Cluster, bootstrapStorage, entriesWithTerms, text } from './cluster.js';

function storageWithLog(voters: readonly NodeId[], terms: readonly number[], term: number) {
  const s = bootstrapStorage(voters);
  s.append(entriesWithTerms(2, terms));
  s.setHardState({ term, vote: 0, commit: 1 });
  return s;
}

describe('log replication', () => {
  it('figure 7: a new leader forces every follower log, short, divergent or too long, to match its own', () => {
    // Indexes 2..11; the leader's log from the paper (shifted by the bootstrap entry at 1).
    const leader = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Record<number, number[]> = {
      2: [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing the last entry
      3: [1, 1, 1, 4], // (b) far behind
      4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) one extra entry of term 6
      5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of term 7
      6: [1, 1, 1, 4, 4, 4, 4], // (e) divergent term-4 entries
      7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) divergent terms 2 and 3
    };
    const ids = [1, 2, 3, 4, 5, 6, 7];
    const storages = new Map([[1, storageWithLog(ids, leader, 7)]]);
    for (const [id, terms] of Object.entries(followers)) storages.set(Number(id), storageWithLog(ids, terms, 7));
    const c = new Cluster(ids, { preVote: false, checkQuorum: false, maxSizePerMsg: 0 }, storages);
    c.elect(1);
    assert.deepEqual(c.leaders(), [1], 'a, b, e, f vote for the leader; c and d have more up-to-date logs');
    c.raw(1).propose(text('x'));
    c.stabilize();
    const want = c.logTerms(1);
    for (const id of ids) assert.deepEqual(c.logTerms(id), want, `node ${id}'s log`);
    for (const id of ids) assert.equal(c.raw(id).raft.raftLog.committed, c.raw(1).raft.raftLog.lastIndex());
  });

  it('figure 8: an entry of an earlier term is not committed by counting replicas', () => {
    // S1 leads term 4 with (2, t2) that S3 and S4 lack; S5 holds (2, t3) from a term-3 leader.
    const ids = [1, 2, 3, 4, 5];
    const storages = new Map([
      [1, storageWithLog(ids, [2], 3)],
      [2, storageWithLog(ids, [2], 3)],
      [3, storageWithLog(ids, [], 3)],
      [4, storageWithLog(ids, [], 3)],
      [5, storageWithLog(ids, [3], 3)],
    ]);
    const c = new Cluster(ids, { preVote: false, checkQuorum: false, maxSizePerMsg: 0, maxInflightMsgs: 1 }, storages);
    c.isolate(2);
    c.isolate(5);
    // Let (2, t2) reach S3 and S4 (a majority with S1), but not the leader's own entry (3, t4).
    // (The first probe carries (3, t4) too; S3 and S4 reject it for lacking index 2, so let it through.)
    c.dropIf = (m: Message) => m.type === 'MsgApp' && m.entries.some((e) => e.index === 3) && c.raw(m.to).raft.raftLog.lastIndex() >= 2;
    c.elect(1);
    assert.deepEqual(c.leaders(), [1]);
    assert.equal(c.raw(1).term, 4);
    for (let i = 0; i < 5; i++) c.tickAll();
    assert.deepEqual(c.logTerms(3), [2]);
    assert.deepEqual(c.logTerms(4), [2]);
    assert.equal(c.raw(1).raft.raftLog.committed, 1, 'index 2 is on a majority but from term 2: not committed');
    // Once an entry of the current term is on a majority, both commit.
    c.dropIf = undefined;
    for (let i = 0; i < 5; i++) c.tickAll();
    assert.equal(c.raw(1).raft.raftLog.committed, 3);
  });

  it('a proposal is committed and applied on every node in the same order', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    for (const x of ['a', 'b', 'c']) assert.equal(c.raw(1).propose(text(x)).kind, 'ok');
    c.stabilize();
    for (const id of [1, 2, 3]) assert.deepEqual(c.appliedData(id), ['a', 'b', 'c']);
  });

  it('propose returns the index and term of the appended entry', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    const last = c.raw(1).raft.raftLog.lastIndex();
    const r = c.raw(1).propose(text('a'));
    assert.deepEqual(r, { kind: 'ok', index: last + 1, term: c.raw(1).term });
  });

  it('appends are batched up to maxSizePerMsg bytes per message', () => {
    const c = new Cluster([1, 2, 3], { maxSizePerMsg: 200 });
    c.elect(1);
    c.cut.add('1>2');
    for (let i = 0; i < 20; i++) c.raw(1).proposeBatch([new Uint8Array(50)]);
    c.stabilize();
    c.heal();
    const from = c.sent.length;
    for (let i = 0; i < 30; i++) c.tickAll();
    const apps = c.sent.slice(from).filter((m) => m.type === 'MsgApp' && m.to === 2 && m.entries.length > 0);
    assert.ok(apps.length >= 5, `expected several batches, got ${apps.length}`);
    for (const m of apps) {
      const bytes = m.entries.reduce((n, e) => n + e.data.length + 16, 0);
      assert.ok(m.entries.length === 1 || bytes <= 200, `batch of ${bytes} bytes exceeds the limit`);
    }
    assert.deepEqual(c.logTerms(2), c.logTerms(1));
  });

  it('a follower in replicate state has at most maxInflightMsgs appends in flight', () => {
    const c = new Cluster([1, 2, 3], { maxInflightMsgs: 2, maxSizePerMsg: 0 });
    c.elect(1);
    c.queue = [];
    const from = c.sent.length;
    for (let i = 0; i < 10; i++) {
      c.raw(1).propose(text(`p${i}`));
      c.processReady(1);
    }
    const to2 = c.sent.slice(from).filter((m) => m.type === 'MsgApp' && m.to === 2);
    assert.equal(to2.length, 2);
    assert.equal(c.raw(1).status().progress?.get(2)?.state, 'Replicate');
  });

  it('fast back-off: a follower with a long divergent tail is repaired in a few round trips', () => {
    const ids = [1, 2, 3];
    const divergent = Array.from({ length: 50 }, () => 2);
    const storages = new Map([
      [1, storageWithLog(ids, [1, 1, 3, 3], 3)],
      [2, storageWithLog(ids, [1, 1, ...divergent], 3)],
      [3, storageWithLog(ids, [1, 1, 3, 3], 3)],
    ]);
    const c = new Cluster(ids, { preVote: false, checkQuorum: false }, storages);
    c.elect(1);
    const rejections = c.sent.filter((m) => m.type === 'MsgAppResp' && m.from === 2 && m.reject);
    assert.ok(rejections.length <= 3, `${rejections.length} rejections: back-off must skip whole terms`);
    assert.deepEqual(c.logTerms(2), c.logTerms(1));
  });

  it('a follower rejects an append whose previous entry has a different term', () => {
    const ids = [1, 2, 3];
    const c = new Cluster(ids, { preVote: false, checkQuorum: false }, new Map([[2, storageWithLog(ids, [1, 2], 2)]]));
    c.raw(2).step({ type: 'MsgApp', from: 1, to: 2, term: 3, logTerm: 3, index: 3, entries: entriesWithTerms(4, [3]), commit: 1, reject: false, rejectHint: 0, context: new Uint8Array(0) });
    const rd = c.raw(2).ready();
    const resp = [...rd.messages, ...rd.persistedMessages].find((m) => m.type === 'MsgAppResp');
    assert.equal(resp?.reject, true);
    assert.equal(rd.entries.length, 0);
    assert.deepEqual(c.logTerms(2), [1, 2]);
  });

  it('the commit index alone does not need an fsync, and append acks wait for the write', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    c.raw(1).propose(text('a'));
    const rd1 = c.raw(1).ready();
    assert.equal(rd1.mustSync, true);
    assert.ok(rd1.messages.some((m) => m.type === 'MsgApp'), 'a leader may send appends while it persists');
    c.queue.push(...rd1.messages);
    c.node(1).storage.append(rd1.entries);
    c.raw(1).advance(rd1);
    c.deliverAll();
    const rd2 = c.raw(2).ready();
    assert.ok(rd2.persistedMessages.some((m) => m.type === 'MsgAppResp'));
    assert.ok(!rd2.messages.some((m) => m.type === 'MsgAppResp'));
    c.node(2).storage.append(rd2.entries);
    if (rd2.hardState) c.node(2).storage.setHardState(rd2.hardState);
    c.raw(2).advance(rd2);
    for (const m of rd2.persistedMessages) c.raw(1).step(m);
    const rd3 = c.raw(1).ready();
    assert.equal(rd3.hardState?.commit, c.raw(1).raft.raftLog.lastIndex());
    assert.equal(rd3.mustSync, false, 'only the commit index changed');
    c.raw(1).advance(rd3);
  });
});

describe('proposals', () => {
  it('a follower forwards a proposal to the leader by default', () => {
    const c = new Cluster([1, 2, 3]);
    c.elect(1);
    assert.deepEqual(c.raw(2).propose(text('fwd')), { kind: 'forwarded', leaderId: 1 });
    c.stabilize();
    assert.deepEqual(c.appliedData(3), ['fwd']);
  });

  it('with forwarding disabled a follower refuses, naming the leader', () => {
    const c = new Cluster([1, 2, 3], { disableProposalForwarding: true });
    c.elect(1);
    assert.deepEqual(c.raw(2).propose(text('x')), { kind: 'not-leader', leaderId: 1 });
  });

  it('with no known leader a proposal is refused', () => {
    const c = new Cluster([1, 2, 3]);
    assert.deepEqual(c.raw(2).propose(text('x')), { kind: 'not-leader', leaderId: 0 });
  });

  it('the uncommitted-bytes limit refuses proposals while the leader cannot commit', () => {
    const c = new Cluster([1, 2, 3], { maxUncommittedEntriesSize: 1000, maxEntryBytes: 1000 });
    c.elect(1);
    c.isolate(1);
    let accepted = 0;
    let refused;
    for (let i = 0; i < 100 && refused === undefined; i++) {
      const r = c.raw(1).propose(new Uint8Array(100));
      if (r.kind === 'ok') accepted++;
      else refused = r;
    }
    assert.equal(accepted, 10);
    assert.deepEqual(refused, { kind: 'uncommitted-limit', uncommittedBytes: 1000, limitBytes: 1000 });
    c.heal();
    c.stabilize();
    assert.equal(c.raw(1).propose(new Uint8Array(100)).kind, 'ok', 'committing frees the budget');
  });

  it('an entry over maxEntryBytes is refused; one at the limit is accepted', () => {
    const c = new Cluster([1, 2, 3], { maxEntryBytes: 64 });
    c.elect(1);
    assert.equal(c.raw(1).propose(new Uint8Array(64)).kind, 'ok');
    assert.deepEqual(c.raw(1).propose(new Uint8Array(65)), { kind: 'entry-too-large', bytes: 65, limitBytes: 64 });
  });
});

describe('skipBcastCommit', () => {
  /** Proposes one entry on a settled 3-node group and returns the messages the proposal caused. */
  function oneWrite(skip: boolean): { c: Cluster; sent: Message[] } {
    const c = new Cluster([1, 2, 3], { skipBcastCommit: skip });
    c.elect(1);
    c.stabilize();
    const before = c.sent.length;
    assert.equal(c.raw(1).propose(text('x')).kind, 'ok');
    c.stabilize();
    return { c, sent: c.sent.slice(before) };
  }

  it('off: the advanced commit goes out in an append of its own; on: only the entries and their acks travel', () => {
    const plain = oneWrite(false);
    const skipping = oneWrite(true);
    const kinds = (ms: Message[]) => ms.map((m) => `${m.type}:${m.from}->${m.to}:${m.entries.length}`).sort();
    assert.deepEqual(kinds(plain.sent), ['MsgApp:1->2:0', 'MsgApp:1->2:1', 'MsgApp:1->3:0', 'MsgApp:1->3:1', 'MsgAppResp:2->1:0', 'MsgAppResp:2->1:0', 'MsgAppResp:3->1:0', 'MsgAppResp:3->1:0']);
    assert.deepEqual(kinds(skipping.sent), ['MsgApp:1->2:1', 'MsgApp:1->3:1', 'MsgAppResp:2->1:0', 'MsgAppResp:3->1:0']);
    const last = skipping.c.raw(1).raft.raftLog.lastIndex();
    assert.equal(skipping.c.raw(1).raft.raftLog.committed, last, 'the leader commits either way');
    assert.equal(skipping.c.raw(2).raft.raftLog.committed, last - 1, 'a follower has not heard of the commit yet');
    // The next heartbeat carries it.
    skipping.c.tick(1, 2);
    skipping.c.stabilize();
    for (const id of [2, 3]) assert.equal(skipping.c.raw(id).raft.raftLog.committed, last, `node ${id} learns the commit from the heartbeat`);
  });

  it('on: a commit that rides on new entries reaches the followers with them', () => {
    const { c } = oneWrite(true);
    assert.equal(c.raw(1).propose(text('y')).kind, 'ok');
    c.stabilize();
    const last = c.raw(1).raft.raftLog.lastIndex();
    for (const id of [2, 3]) assert.equal(c.raw(id).raft.raftLog.committed, last - 1, `node ${id} holds the first write as committed`);
  });

  it('on: a pending membership change is still broadcast at once', () => {
    const c = new Cluster([1, 2, 3], { skipBcastCommit: true });
    c.elect(1);
    c.stabilize();
    assert.equal(c.raw(1).proposeConfChange({ transition: 'auto', changes: [{ type: 'AddLearnerNode', nodeId: 4 }], context: new Uint8Array() }).kind, 'ok');
    c.stabilize();
    const last = c.raw(1).raft.raftLog.lastIndex();
    for (const id of [2, 3]) assert.equal(c.raw(id).raft.raftLog.committed, last, `node ${id} learns the conf change's commit without a heartbeat`);
  });
});

describe('skipHeartbeatsWhileAppending', () => {
  /** A settled 3-node group; returns the cluster. */
  function group(skip: boolean): Cluster {
    // Lease reads need no mode here: the lease clock runs the same way (leaseValid); lease-based
    // mode would only make a fresh node refuse to campaign.
    const c = new Cluster([1, 2, 3], { skipHeartbeatsWhileAppending: skip, skipBcastCommit: true });
    c.elect(1);
    c.stabilize();
    return c;
  }

  /** One write and one tick of every node per step, for `steps` steps; the messages they caused. */
  function busy(c: Cluster, steps: number): Message[] {
    const before = c.sent.length;
    for (let i = 0; i < steps; i++) {
      assert.equal(c.raw(1).propose(text(`w${i}`)).kind, 'ok');
      c.stabilize();
      c.tickAll();
      c.stabilize();
      assert.equal(c.raw(1).isLeaseValid(), true, `step ${i}: the lease holds`);
    }
    return c.sent.slice(before);
  }

  it('off: a busy leader still sends a heartbeat round every interval; on: none while appends flow, and the lease holds on append acks', () => {
    const heartbeats = (ms: Message[]) => ms.filter((m) => m.type === 'MsgHeartbeat' || m.type === 'MsgHeartbeatResp').length;
    const plain = busy(group(false), 20);
    const skipping = busy(group(true), 20);
    assert.ok(heartbeats(plain) >= 20, `off: ${heartbeats(plain)} heartbeat messages in 20 ticks`);
    assert.equal(heartbeats(skipping), 0, 'on: no heartbeat while every follower gets appends');
    assert.equal(skipping.filter((m) => m.type === 'MsgApp').length, plain.filter((m) => m.type === 'MsgApp').length, 'the same appends');
  });

  it('on: once the writes stop, heartbeats resume within an interval and carry the last commit to the followers', () => {
    const c = group(true);
    busy(c, 5);
    const last = c.raw(1).raft.raftLog.lastIndex();
    assert.equal(c.raw(1).raft.raftLog.committed, last);
    assert.ok(c.raw(2).raft.raftLog.committed < last, 'a follower lags by the last commit');
    const before = c.sent.length;
    for (let i = 0; i < 4; i++) {
      c.tickAll();
      c.stabilize();
    }
    assert.ok(c.sent.slice(before).some((m) => m.type === 'MsgHeartbeat'), 'a heartbeat went out');
    for (const id of [2, 3]) assert.equal(c.raw(id).raft.raftLog.committed, last, `node ${id} learned the commit`);
    assert.equal(c.raw(1).isLeaseValid(), true, 'the lease holds on heartbeats again');
  });

  it('on: a follower that stops acking loses the lease its acks gave (no heartbeat stands in for appends it never answered)', () => {
    const c = group(true);
    busy(c, 3);
    c.isolate(2);
    c.isolate(3);
    let lost = -1;
    for (let i = 0; i < 20 && lost < 0; i++) {
      c.raw(1).propose(text(`x${i}`));
      c.stabilize();
      c.tick(1);
      c.stabilize();
      if (!c.raw(1).isLeaseValid()) lost = i;
    }
    assert.ok(lost >= 0 && lost < 10, `the lease ran out within an election timeout of the last acks (lost at step ${lost})`);
  });
});
