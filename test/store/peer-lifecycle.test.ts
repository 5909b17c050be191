// A stale replica's fate from PD's answers (store/peer-lifecycle.ts): by id (removed while cut off)
// and by key (merged away while cut off) — every boundary of mergedAwayReplicaTombstone, the
// tombstone it leaves against the region's stale messages, and the PrepareMerge targets read from
// a replica's unapplied log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeKey, raftLogKey, type RegionMeta } from '../../common/index.js';
import type { Message } from '../../raft/index.js';
import { encodeEntry } from '../../raft-host/index.js';
import { MemoryEngine } from '../../store/engine/index.js';
import {
  gcMessageTombstone, isFromRemovedPeer, isStaleForTombstone, MERGED_AWAY_CONF_VER, type MergedAwayEvidence, mergedAwayReplicaTombstone, prepareMergeTargetsIn, prepareMergeTargetsInLog, staleReplicaTombstone,
  supersededReplicaTombstone, uninitializedReplicaTombstone,
} from '../../store/peer-lifecycle.js';
import type { StoreRaftMessage } from '../../store/raft-codec.js';
import { encodeCommitMergeCommand, encodeCompactLogCommand, encodePrepareMergeCommand, encodeWriteCommand } from '../../store/raft-cmd.js';

const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s)));

function region(id: number, start: string, end: string, version: number, confVer = 3, peerIds: readonly number[] = [id * 10 + 1, id * 10 + 2, id * 10 + 3]): RegionMeta {
  return { id, startKey: k(start), endKey: k(end), epoch: { confVer, version }, peers: peerIds.map((p, i) => ({ id: p, storeId: i + 1, role: 'voter' as const })) };
}

/** The source replica on store 3 (peer 23): region 2 [m, +∞) at version 5, confVer 4. */
const SOURCE = region(2, 'm', '', 5, 4);
/** PD's region at the source's start key after the merge and a split: region 9 [a, p), version 7. */
const PIECE = region(9, 'a', 'p', 7, 2);

/** `here`: this store's initialized replicas, region id → epoch version. */
function evidence(over: Partial<MergedAwayEvidence> = {}, here: Readonly<Record<number, number>> = {}): MergedAwayEvidence {
  return { atStartKey: PIECE, mergeTargets: [], versionHere: (id) => here[id] ?? null, ...over };
}

/** The target a PrepareMerge of SOURCE named: region 1 [a, m) as it was then, version 4. */
const TARGET = region(1, 'a', 'm', 4);
const LATER_TARGET = region(4, 'z', '', 6);

function msgOf(regionId: number, confVer: number, to = 23, from = 21): StoreRaftMessage {
  const message = { type: 'MsgHeartbeat', from, to, term: 9, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 } as unknown as Message;
  return { regionId, fromPeer: { id: from, storeId: 1, role: 'voter' }, toPeer: { id: to, storeId: 3, role: 'voter' }, message, epoch: { confVer, version: 5 }, isTombstone: false, startKey: k('m'), endKey: k('') };
}

describe('mergedAwayReplicaTombstone: a replica PD knows no region of by id', () => {
  it('is destroyed when PD\'s region at its start key is newer and nothing here can retire it', () => {
    const t = mergedAwayReplicaTombstone(SOURCE, evidence());
    assert.ok(t !== null);
    assert.equal(t.id, SOURCE.id);
    assert.deepEqual([t.startKey, t.endKey], [SOURCE.startKey, SOURCE.endKey], 'the tombstone keeps the replica\'s range (the data cleared)');
  });

  it('version at the key: one above the replica\'s destroys it; equal or lower (a split PD has not heard of: its parent, older) keeps it', () => {
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: { ...PIECE, epoch: { confVer: 2, version: 6 } } })), null, 'version + 1');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: { ...PIECE, epoch: { confVer: 2, version: 5 } } })), null, 'equal version');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: { ...PIECE, epoch: { confVer: 2, version: 4 } } })), null, 'the parent of an unreported split');
    // The parent has a higher confVer than the new region: confVer decides nothing here.
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: region(1, '', '', 4, 40) })), null, 'a parent with a higher confVer');
  });

  it('PD knows nothing at the key: kept', () => {
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: null })), null);
  });

  it('PD answers a region that does not hold the key, or the replica\'s own id: kept', () => {
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: region(9, 'n', 'p', 7) })), null, 'starts after the key');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: region(9, 'a', 'm', 7) })), null, 'ends at the key');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ atStartKey: { ...SOURCE, epoch: { confVer: 4, version: 9 } } })), null, 'its own region');
  });

  it('an initialized replica here of PD\'s region keeps it while it lags behind PD\'s shape of it; caught up, uninitialized or absent, it does not', () => {
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({}, { [PIECE.id]: PIECE.epoch.version - 1 })), null, 'a lagging replica of PD\'s region (it may be the target, before CommitMerge)');
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({}, { [PIECE.id]: PIECE.epoch.version })), null, 'a replica at PD\'s version is past any merge');
    // versionHere answers null for an uninitialized replica: it can apply no CommitMerge before its snapshot.
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({}, {})), null, 'none, or uninitialized');
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({}, { 5: 1, 6: 1 })), null, 'replicas of other regions only');
  });

  it('an initialized replica here of a target its log names (PrepareMerge, applied or not), not past the shape PrepareMerge saw, keeps it: that target may still apply CommitMerge', () => {
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [TARGET] }, { 1: 4 })), null, 'the target, lagging behind CommitMerge');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [TARGET] }, { 1: 3 })), null, 'a target replica further behind still');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [LATER_TARGET, TARGET] }, { 1: 4 })), null, 'an earlier PrepareMerge\'s target');
    assert.equal(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [TARGET, LATER_TARGET] }, { 1: 9, 4: 6 })), null, 'a later PrepareMerge\'s target');
    // Seed 430 of the merge sim: the target here took a snapshot of its later shape and will never apply CommitMerge.
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [TARGET] }, { 1: 5 })), null, 'the target here is past the merge');
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [TARGET] }, {})), null, 'the target is not here (or uninitialized)');
    assert.notEqual(mergedAwayReplicaTombstone(SOURCE, evidence({ mergeTargets: [] }, { 1: 4 })), null, 'no PrepareMerge in its log: no target here can wait for it');
  });

  it('leaves a tombstone no message of the region gets past: above every confVer', () => {
    const t = mergedAwayReplicaTombstone(SOURCE, evidence());
    assert.ok(t !== null);
    assert.equal(t.epoch.confVer, MERGED_AWAY_CONF_VER);
    // Its own membership, one after it (a stale replica that applied one more conf change), and
    // one re-adding this store under a new peer id: the region is gone, none may recreate it.
    for (const confVer of [SOURCE.epoch.confVer, SOURCE.epoch.confVer + 1, SOURCE.epoch.confVer + 2, 1_000_000]) {
      assert.equal(isStaleForTombstone(msgOf(SOURCE.id, confVer), t), true, `a message at confVer ${confVer}`);
    }
    assert.equal(isStaleForTombstone(msgOf(SOURCE.id, 1_000, 99), t), true, 'to another peer id of this store');
  });
});

describe('staleReplicaTombstone: a replica PD knows by id', () => {
  it('destroyed at the earliest confVer of its removal when PD\'s newer membership lacks it; kept otherwise', () => {
    const without = { ...SOURCE, epoch: { confVer: 6, version: 5 }, peers: SOURCE.peers.filter((p) => p.id !== 23) };
    assert.deepEqual(staleReplicaTombstone(SOURCE, 23, without)?.epoch, { confVer: 5, version: 5 });
    assert.equal(staleReplicaTombstone(SOURCE, 23, { ...without, epoch: { confVer: 4, version: 5 } }), null, 'same confVer');
    assert.equal(staleReplicaTombstone(SOURCE, 23, { ...SOURCE, epoch: { confVer: 6, version: 5 } }), null, 'still a member');
    assert.equal(staleReplicaTombstone(SOURCE, 23, null), null, 'unknown by id: the by-key check decides');
  });
});

describe('prepareMergeTargetsInLog', () => {
  it('finds the targets of the PrepareMerge entries in the range, and nothing in writes, other admin commands or empty entries', async () => {
    const engine = new MemoryEngine();
    const epoch = { confVer: 4, version: 5 };
    const data = [
      encodeWriteCommand({ regionId: 2, peerId: 21, epoch, ops: [] }),
      Buffer.alloc(0),
      encodePrepareMergeCommand({ regionId: 2, peerId: 21, epoch, minIndex: 10, target: region(1, '', 'm', 4) }),
      encodeCompactLogCommand({ regionId: 2, peerId: 21, epoch, compactIndex: 5, compactTerm: 2 }),
      encodeCommitMergeCommand({ regionId: 2, peerId: 21, epoch, source: region(3, 'z', '', 2), commit: 9, commitTerm: 2 }),
      encodePrepareMergeCommand({ regionId: 2, peerId: 21, epoch, minIndex: 10, target: region(4, 'z', '', 4) }),
    ];
    await engine.write(data.map((d, i) => ({ kind: 'put' as const, cf: 'local' as const, key: raftLogKey(2, 11 + i), value: encodeEntry({ type: 'Normal', term: 2, index: 11 + i, data: d }) })), { sync: false });
    // Another region's log next to it is not read.
    await engine.write([{ kind: 'put', cf: 'local', key: raftLogKey(3, 12), value: encodeEntry({ type: 'Normal', term: 2, index: 12, data: data[2]! }) }], { sync: false });
    const ids = async (regionId: number, from: number, last: number): Promise<number[]> => (await prepareMergeTargetsInLog(engine, regionId, from, last)).map((t) => t.id);
    assert.deepEqual(await ids(2, 11, 16), [1, 4]);
    assert.deepEqual((await prepareMergeTargetsInLog(engine, 2, 11, 16))[0], region(1, '', 'm', 4), 'each target as its PrepareMerge saw it');
    assert.deepEqual(await ids(2, 14, 16), [4], 'from its first unapplied entry');
    assert.deepEqual(await ids(2, 11, 12), [], 'up to its last entry');
    assert.deepEqual(await ids(2, 17, 16), [], 'nothing unapplied');
    assert.deepEqual(await ids(3, 1, 20), [1]);
    // The in-memory form (a replica's cached unapplied entries) reads the same targets.
    const entries = data.map((d, i) => ({ type: 'Normal' as const, term: 2, index: 11 + i, data: d }));
    assert.deepEqual(prepareMergeTargetsIn(2, entries).map((t) => t.id), [1, 4]);
    assert.deepEqual(prepareMergeTargetsIn(2, entries.slice(3)).map((t) => t.id), [4]);
    assert.deepEqual(prepareMergeTargetsIn(2, [{ type: 'Normal', term: 2, index: 30, data: Buffer.from([0xff, 0x01]) }]), [], 'an entry that does not decode names none');
  });
});

describe('uninitializedReplicaTombstone: a replica never filled, silent, asked about', () => {
  it('keeps it while PD lists its peer, or knows no region, or no membership', () => {
    assert.equal(uninitializedReplicaTombstone(23, SOURCE), null, 'PD lists peer 23: it waits for its snapshot');
    assert.equal(uninitializedReplicaTombstone(23, null), null, 'nothing to judge by');
    assert.equal(uninitializedReplicaTombstone(99, { ...SOURCE, epoch: { confVer: 0, version: 5 } }), null, 'no membership at all');
  });

  it('retires it when PD does not list its peer: stale messages to it refused, a later peer here taken', () => {
    const t = uninitializedReplicaTombstone(99, SOURCE)!;
    assert.notEqual(t, null);
    assert.equal(t.id, SOURCE.id);
    assert.equal(t.epoch.confVer, SOURCE.epoch.confVer - 1);
    // Every message to peer 99 predates its removal, which PD's confVer (4) already counts.
    for (const confVer of [0, 1, 3]) assert.equal(isStaleForTombstone(msgOf(SOURCE.id, confVer, 99), t), true, `confVer ${confVer}`);
    // A peer added on this store at PD's confVer or later is created.
    for (const confVer of [4, 5, 9]) assert.equal(isStaleForTombstone(msgOf(SOURCE.id, confVer, 120), t), false, `confVer ${confVer}`);
  });
});

describe('supersededReplicaTombstone: a message to a newer peer of the region on this store', () => {
  it('supersedes only an older peer id, and only a message of some membership', () => {
    assert.equal(supersededReplicaTombstone(23, msgOf(SOURCE.id, 6, 23)), null, 'its own peer');
    assert.equal(supersededReplicaTombstone(23, msgOf(SOURCE.id, 6, 22)), null, 'an older peer id');
    assert.equal(supersededReplicaTombstone(23, msgOf(SOURCE.id, 0, 40)), null, 'no membership');
  });

  it('retires the old peer below the message\'s membership: the new peer\'s messages are taken, the old\'s refused', () => {
    const msg = msgOf(SOURCE.id, 6, 40);
    const t = supersededReplicaTombstone(23, msg)!;
    assert.notEqual(t, null);
    assert.deepEqual({ id: t.id, confVer: t.epoch.confVer, version: t.epoch.version }, { id: SOURCE.id, confVer: 5, version: 5 });
    assert.equal(isStaleForTombstone(msg, t), false, 'the message that superseded it');
    assert.equal(isStaleForTombstone(msgOf(SOURCE.id, 7, 40), t), false, 'a later one to the new peer');
    assert.equal(isStaleForTombstone(msgOf(SOURCE.id, 5, 23), t), true, 'a stale one to the old peer');
    assert.ok(t.startKey.equals(msg.startKey) && t.startKey !== msg.startKey, 'keys copied (a batch buffer is reused)');
  });
});

describe('is_tombstone: a member tells a removed peer (isFromRemovedPeer, gcMessageTombstone)', () => {
  // The member's replica: SOURCE at confVer 4 with peers 21, 22, 23 — plus removed peer 24 (store 4).
  const fromPeer = (id: number, confVer: number): StoreRaftMessage => ({ ...msgOf(SOURCE.id, confVer, 21, id), fromPeer: { id, storeId: 4, role: 'voter' } });

  it('a member answers only a non-member at an older, real membership', () => {
    assert.equal(isFromRemovedPeer(SOURCE, fromPeer(24, 3)), true, 'removed at confVer 4, still at 3');
    assert.equal(isFromRemovedPeer(SOURCE, fromPeer(22, 3)), false, 'a member behind is no removed peer');
    assert.equal(isFromRemovedPeer(SOURCE, fromPeer(24, 4)), false, 'the same confVer: not older');
    assert.equal(isFromRemovedPeer(SOURCE, fromPeer(24, 5)), false, 'a newer membership: this replica is the one behind');
    assert.equal(isFromRemovedPeer(SOURCE, fromPeer(24, 0)), false, 'an uninitialized sender may be a peer added after our view');
    assert.equal(isFromRemovedPeer({ ...SOURCE, epoch: { confVer: 0, version: 0 } }, fromPeer(24, 0)), false, 'a replica without a membership judges nobody');
  });

  it('the removed replica destroys itself only for a newer membership, addressed to it, of its region', () => {
    const local = { ...SOURCE, epoch: { confVer: 3, version: 5 } }; // store 4's view, before its removal
    const answer = (over: Partial<StoreRaftMessage>): StoreRaftMessage => ({ ...msgOf(SOURCE.id, 4, 24, 21), isTombstone: true, ...over });
    const t = gcMessageTombstone(local, 24, answer({}));
    assert.ok(t !== null);
    assert.deepEqual({ id: t.id, confVer: t.epoch.confVer, version: t.epoch.version, peers: t.peers.length }, { id: SOURCE.id, confVer: 4, version: 5, peers: 0 });
    assert.ok(t.startKey.equals(local.startKey), 'its own range');
    assert.equal(isStaleForTombstone(msgOf(SOURCE.id, 3, 24), t), true, 'no late message to it recreates it');
    assert.equal(isStaleForTombstone(msgOf(SOURCE.id, 5, 40), t), false, 'a peer added here later is taken');
    // A member two memberships ahead: the removal may have been the first of them, and a peer of
    // this store added back in the second must be taken — the tombstone sits at ours + 1, not theirs.
    const ahead = gcMessageTombstone(local, 24, answer({ epoch: { confVer: 5, version: 6 } }))!;
    assert.equal(ahead.epoch.confVer, 4);
    assert.equal(isStaleForTombstone(msgOf(SOURCE.id, 5, 40), ahead), false, 'a peer added back at confVer 5 is taken');
    assert.equal(gcMessageTombstone(local, 24, answer({ isTombstone: false })), null, 'not an is_tombstone answer');
    assert.equal(gcMessageTombstone(local, 23, answer({})), null, 'addressed to another peer');
    assert.equal(gcMessageTombstone(local, 24, answer({ regionId: 99 })), null, 'another region');
    assert.equal(gcMessageTombstone(local, 24, answer({ epoch: { confVer: 3, version: 9 } })), null, 'not a newer membership');
    assert.equal(gcMessageTombstone({ ...local, epoch: { confVer: 0, version: 0 } }, 24, answer({})), null, 'an uninitialized replica (PD\'s check judges it)');
  });
});
