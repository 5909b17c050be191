// A leader's per-follower progress, table-driven after etcd-io/raft's TestProgressMaybeDecr,
// TestProgressUpdate and TestProgressBecome*: match never moves back; next moves on acks,
// rejections (differently in probe and replicate), probing and snapshots; stale acks and
// rejections change nothing. Then the same rules seen through a leader stepping MsgAppResp.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type NodeId, makeMessage } from '../../raft/index.js';
import { Progress, type ProgressState } from '../../raft/progress.js';
import { Cluster, text } from './cluster.js';

function progress(state: ProgressState, match: number, next: number, pendingSnapshot = 0): Progress {
  const pr = new Progress(next, 4, 0, false);
  pr.match = match;
  if (state === 'Replicate') {
    pr.becomeReplicate();
    pr.next = next;
  } else if (state === 'Snapshot') pr.becomeSnapshot(pendingSnapshot);
  pr.match = match;
  pr.next = next;
  return pr;
}

describe('progress: maybeUpdate (an append ack)', () => {
  const rows: readonly { match: number; next: number; ack: number; updated: boolean; wantMatch: number; wantNext: number }[] = [
    { match: 3, next: 5, ack: 2, updated: false, wantMatch: 3, wantNext: 5 }, // stale ack: match never moves back
    { match: 3, next: 5, ack: 3, updated: false, wantMatch: 3, wantNext: 5 }, // duplicate ack
    { match: 3, next: 5, ack: 4, updated: true, wantMatch: 4, wantNext: 5 }, // ack inside the window
    { match: 3, next: 5, ack: 6, updated: true, wantMatch: 6, wantNext: 7 }, // ack beyond next (e.g. after a snapshot)
    { match: 0, next: 1, ack: 0, updated: false, wantMatch: 0, wantNext: 1 },
  ];
  for (const r of rows) {
    it(`match ${r.match} next ${r.next}, ack ${r.ack} → match ${r.wantMatch} next ${r.wantNext}`, () => {
      for (const state of ['Probe', 'Replicate'] as const) {
        const pr = progress(state, r.match, r.next);
        assert.equal(pr.maybeUpdate(r.ack), r.updated, `${state}: updated`);
        assert.equal(pr.match, r.wantMatch, `${state}: match`);
        assert.equal(pr.next, r.wantNext, `${state}: next`);
      }
    });
  }
});

describe('progress: maybeDecrTo (a rejection)', () => {
  const rows: readonly { state: ProgressState; match: number; next: number; rejected: number; hint: number; ok: boolean; wantNext: number }[] = [
    // Replicate: a rejection at or below match is stale; above it, next falls back to match + 1.
    { state: 'Replicate', match: 5, next: 10, rejected: 5, hint: 5, ok: false, wantNext: 10 },
    { state: 'Replicate', match: 5, next: 10, rejected: 4, hint: 4, ok: false, wantNext: 10 },
    { state: 'Replicate', match: 5, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 6 },
    { state: 'Replicate', match: 5, next: 10, rejected: 7, hint: 2, ok: true, wantNext: 6 },
    // Probe: only a rejection of the probe in flight (next − 1) counts; next = min(rejected, hint + 1), above match.
    { state: 'Probe', match: 0, next: 10, rejected: 9, hint: 9, ok: true, wantNext: 9 },
    { state: 'Probe', match: 0, next: 10, rejected: 9, hint: 4, ok: true, wantNext: 5 },
    { state: 'Probe', match: 0, next: 10, rejected: 5, hint: 4, ok: false, wantNext: 10 }, // stale: not our probe
    { state: 'Probe', match: 0, next: 10, rejected: 10, hint: 9, ok: false, wantNext: 10 },
    { state: 'Probe', match: 6, next: 10, rejected: 9, hint: 2, ok: true, wantNext: 7 }, // never at or below match
    { state: 'Probe', match: 0, next: 2, rejected: 1, hint: 0, ok: true, wantNext: 1 },
    { state: 'Probe', match: 0, next: 10, rejected: 9, hint: 20, ok: true, wantNext: 9 }, // a hint above the rejection is capped
  ];
  for (const r of rows) {
    it(`${r.state} match ${r.match} next ${r.next}: rejection of ${r.rejected} hint ${r.hint} → ${r.ok ? `next ${r.wantNext}` : 'stale'}`, () => {
      const pr = progress(r.state, r.match, r.next);
      assert.equal(pr.maybeDecrTo(r.rejected, r.hint), r.ok);
      assert.equal(pr.next, r.wantNext, 'next');
      assert.equal(pr.match, r.match, 'a rejection never changes match');
    });
  }
});

describe('progress: state transitions', () => {
  it('becomeProbe from Replicate restarts at match + 1; from Snapshot after the snapshot', () => {
    const rows: readonly { from: ProgressState; match: number; next: number; pending: number; wantNext: number }[] = [
      { from: 'Replicate', match: 1, next: 5, pending: 0, wantNext: 2 },
      { from: 'Probe', match: 1, next: 5, pending: 0, wantNext: 2 },
      { from: 'Snapshot', match: 1, next: 5, pending: 10, wantNext: 11 },
      { from: 'Snapshot', match: 12, next: 13, pending: 10, wantNext: 13 },
    ];
    for (const r of rows) {
      const pr = progress(r.from, r.match, r.next, r.pending);
      pr.becomeProbe();
      assert.equal(pr.state, 'Probe');
      assert.equal(pr.next, r.wantNext, `from ${r.from} match ${r.match} pending ${r.pending}`);
      assert.equal(pr.match, r.match);
      assert.equal(pr.inflights.count, 0, 'the window is emptied');
    }
  });

  it('becomeReplicate sends from match + 1 with an empty window', () => {
    const pr = progress('Probe', 4, 9);
    pr.becomeReplicate();
    assert.equal(pr.next, 5);
    assert.equal(pr.inflights.count, 0);
  });

  it('sending: Probe pauses after one append; Replicate advances next and fills the window', () => {
    const probe = progress('Probe', 3, 4);
    assert.equal(probe.isPaused(), false);
    probe.sentEntries(2, 20);
    assert.equal(probe.isPaused(), true);
    assert.equal(probe.next, 4, 'a probe does not move next optimistically');
    const rep = progress('Replicate', 3, 4);
    for (let i = 0; i < 4; i++) rep.sentEntries(1, 10);
    assert.equal(rep.next, 8);
    assert.equal(rep.isPaused(), true, 'window of 4 full');
    rep.maybeUpdate(5);
    rep.inflights.freeLE(5);
    assert.equal(rep.isPaused(), false, 'acks free the window');
    assert.equal(rep.inflights.count, 2);
    const snap = progress('Snapshot', 3, 4, 10);
    assert.equal(snap.isPaused(), true, 'nothing is sent while a snapshot is in flight');
  });
});

describe('progress through the leader (MsgAppResp)', () => {
  function replicatingLeader(): { c: Cluster; last: number } {
    const c = new Cluster([1, 2, 3], { maxInflightMsgs: 8 });
    c.elect(1);
    for (let i = 0; i < 3; i++) c.raw(1).propose(text(`x${i}`));
    c.stabilize();
    return { c, last: c.raw(1).raft.raftLog.lastIndex() };
  }
  const pr = (c: Cluster, id: NodeId) => {
    const p = c.raw(1).raft.trk.progress.get(id);
    assert.ok(p !== undefined);
    return p;
  };

  it('a delayed ack for an older index never moves match or next back', () => {
    const { c, last } = replicatingLeader();
    assert.equal(pr(c, 2).match, last);
    for (const index of [0, 1, last - 1, last]) {
      c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 2, term: c.raw(1).term, index }));
      assert.equal(pr(c, 2).match, last, `ack ${index}`);
      assert.equal(pr(c, 2).next, last + 1, `ack ${index}`);
      assert.equal(pr(c, 2).state, 'Replicate');
    }
  });

  it('a stale rejection (at or below match) neither moves next nor drops to probing', () => {
    const { c, last } = replicatingLeader();
    c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 2, term: c.raw(1).term, index: last - 1, reject: true, rejectHint: 1 }));
    assert.equal(pr(c, 2).state, 'Replicate');
    assert.equal(pr(c, 2).next, last + 1);
    assert.equal(pr(c, 2).match, last);
  });

  it('a rejection above match drops to probing from match + 1 (next never at or below match)', () => {
    const { c, last } = replicatingLeader();
    c.raw(1).propose(text('y'));
    c.processReady(1); // sends the append of last + 1, not delivered
    c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 2, term: c.raw(1).term, index: last, reject: true, rejectHint: 0, logTerm: 0 }));
    assert.equal(pr(c, 2).match, last, 'a rejection never lowers match');
    assert.ok(pr(c, 2).next > pr(c, 2).match);
  });

  it('the leader counts an ack for a follower only once: duplicates do not commit more', () => {
    const c = new Cluster([1, 2, 3, 4, 5], { maxInflightMsgs: 8 });
    c.elect(1);
    const commit = c.raw(1).raft.raftLog.committed;
    c.raw(1).propose(text('z'));
    c.processReady(1);
    const idx = c.raw(1).raft.raftLog.lastIndex();
    c.queue = [];
    for (let i = 0; i < 3; i++) c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 2, term: c.raw(1).term, index: idx }));
    assert.equal(c.raw(1).raft.raftLog.committed, commit, 'leader + one follower (acked thrice) is not a majority of 5');
    c.raw(1).step(makeMessage({ type: 'MsgAppResp', to: 1, from: 3, term: c.raw(1).term, index: idx }));
    assert.equal(c.raw(1).raft.raftLog.committed, idx, 'leader + 2 + 3 is');
  });
});
