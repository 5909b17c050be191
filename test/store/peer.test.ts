// Peer (store/peer.ts) driven alone over an in-memory engine, its raft node fed messages by hand:
// when a replica counts as hearing no leader (the stale check's trigger, exactly at 2 election
// timeouts of silence), which proposal waiters a snapshot install answers (every one at or
// below its index, none above), and that a leader applying its own write batches (from the
// command it proposed, not decoded) does exactly what a replica decoding their bytes does. No
// poll loop, no timers (proposal timeout 0), no clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, encodeKey, isFlotillaError, latestKey, type PeerMeta, rawKey, type RegionMeta, silentLogger, type WriteOp, writeKey } from '../../common/index.js';
import type { Entry, Message } from '../../raft/index.js';
import { MemoryEngine } from '../../store/engine/index.js';
import { type ApplyResult, confStateOf, Peer } from '../../store/peer.js';
import { EntryCacheBudget, PeerStorage } from '../../store/peer-storage.js';
import { encodeLatest, encodeWrite, latestOf } from '../../txn/index.js';

/** Where a fresh replica's log starts (as a bootstrapped region's: raft-store.ts RAFT_INIT_INDEX/TERM). */
const INIT_INDEX = 5;
const INIT_TERM = 5;
const SELF_STORE = 1;

const voter = (id: number, storeId: number): PeerMeta => ({ id, storeId, role: 'voter' });
const learner = (id: number, storeId: number): PeerMeta => ({ id, storeId, role: 'learner' });

function regionOf(peers: readonly PeerMeta[]): RegionMeta {
  return { id: 7, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 3, version: 1 }, peers };
}

/** This store's replica (store 1) of `region`, at the bootstrap position; every proposal outcome goes to `outcomes`. */
function peerOf(region: RegionMeta, electionTicks: number, outcomes: string[] = []): Peer {
  const storage = new PeerStorage(region.id, new MemoryEngine(), new EntryCacheBudget(1 << 20), {
    hardState: { term: INIT_TERM, vote: 0, commit: INIT_INDEX }, confState: confStateOf(region), truncatedIndex: INIT_INDEX, truncatedTerm: INIT_TERM, entries: [],
  }, () => undefined, (err) => assert.fail(String(err)));
  return new Peer(storage, {
    storeId: SELF_STORE,
    region,
    storage,
    applied: INIT_INDEX,
    approximateKeys: 0,
    // Proposal timeout 0: no timers — a waiter is answered only by what the test does.
    raft: { electionTicks, heartbeatTicks: 1, proposalTimeoutMs: 0 },
    raftLogGc: { thresholdBytes: 1 << 30, countLimit: 1_000, hardCountLimit: 10_000, checkTicks: 1_000_000 },
    countKeys: false,
    rng: createRng(7),
    logger: silentLogger(),
    markDirty: () => undefined,
    onProposalOutcome: (outcome, proposals) => outcomes.push(`${outcome}×${proposals}`),
  });
}

function message(m: Pick<Message, 'type' | 'from' | 'to' | 'term'> & Partial<Message>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), ...m };
}

/** A heartbeat from `leader` at the bootstrap term: the replica learns (or hears again) its leader. */
function heartbeat(peer: Peer, leader: number, term = INIT_TERM): void {
  assert.equal(peer.raw.step(message({ type: 'MsgHeartbeat', from: leader, to: peer.peerId, term, commit: INIT_INDEX })).kind, 'ok');
}

/** Settles a promise into a value to assert on (never leaves a rejection unhandled). */
function settle<T>(p: Promise<T>): () => { ok: T } | { err: unknown } | undefined {
  let r: { ok: T } | { err: unknown } | undefined;
  p.then((ok) => (r = { ok }), (err: unknown) => (r = { err }));
  return () => r;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Peer.hearsNoLeader', () => {
  // A learner never campaigns (raft resets a voter's timer when it does), so its silence count
  // grows for as long as its leader stays silent: the replica the rule exists for (merge sim seed
  // 13241). The bound is the documented rule, written out — 2 election timeouts — and not read
  // from LEADER_SILENT_ELECTIONS, so that moving the constant fails here.
  const SILENT_ELECTIONS = 2;

  for (const electionTicks of [3, 10]) {
    it(`a learner with a known leader hears it for 2×${electionTicks}−1 ticks of silence and none from exactly 2×${electionTicks}`, () => {
      const peer = peerOf(regionOf([voter(2, 2), voter(3, 3), learner(1, SELF_STORE)]), electionTicks);
      const bound = SILENT_ELECTIONS * electionTicks;
      heartbeat(peer, 2);
      assert.equal(peer.leaderId, 2);
      assert.equal(peer.raw.electionElapsed, 0);
      assert.equal(peer.hearsNoLeader, false, 'just heard');
      peer.tick(bound - 1);
      assert.equal(peer.raw.electionElapsed, bound - 1);
      assert.equal(peer.leaderId, 2, 'a learner keeps its leader');
      assert.equal(peer.hearsNoLeader, false, `${bound - 1} ticks of silence: still hears its leader`);
      peer.tick(1);
      assert.equal(peer.raw.electionElapsed, bound);
      assert.equal(peer.leaderId, 2, 'still known …');
      assert.equal(peer.hearsNoLeader, true, `… but silent for ${bound} ticks (2 election timeouts): hears no leader`);
      peer.tick(5 * bound);
      assert.equal(peer.hearsNoLeader, true, 'and stays so while silent');
      heartbeat(peer, 2);
      assert.equal(peer.hearsNoLeader, false, 'hearing the leader again counts from 0');
      peer.tick(bound - 1);
      assert.equal(peer.hearsNoLeader, false);
      peer.tick(1);
      assert.equal(peer.hearsNoLeader, true);
    });
  }

  it('a replica that knows no leader (leader id 0) hears none, before any tick and whatever its role', () => {
    const asLearner = peerOf(regionOf([voter(2, 2), voter(3, 3), learner(1, SELF_STORE)]), 10);
    assert.equal(asLearner.leaderId, 0);
    assert.equal(asLearner.raw.electionElapsed, 0);
    assert.equal(asLearner.hearsNoLeader, true, 'a learner that never heard a leader');
    const asVoter = peerOf(regionOf([voter(1, SELF_STORE), voter(2, 2), voter(3, 3)]), 10);
    assert.equal(asVoter.leaderId, 0);
    assert.equal(asVoter.hearsNoLeader, true, 'a voter that never heard a leader');
    heartbeat(asVoter, 3);
    assert.equal(asVoter.hearsNoLeader, false);
    // Its leader silent, a voter campaigns within 2 election timeouts: it forgets that leader
    // (a pre-candidate knows none) and its silence count starts again — leader id 0 says it all.
    asVoter.tick(2 * 10);
    assert.equal(asVoter.raw.role, 'PreCandidate');
    assert.equal(asVoter.leaderId, 0);
    assert.ok(asVoter.raw.electionElapsed < 2 * 10, `silence count ${asVoter.raw.electionElapsed} restarted at the campaign`);
    assert.equal(asVoter.hearsNoLeader, true, 'a voter campaigning after its leader went silent');
  });

  it('the leader itself always hears one', () => {
    const peer = peerOf(regionOf([voter(1, SELF_STORE)]), 10);
    peer.raw.campaign();
    peer.raw.advance(peer.raw.ready()); // a lone voter leads once its term is written
    peer.onRoleChange(peer.raw.role);
    assert.equal(peer.isLeader, true);
    assert.equal(peer.hearsNoLeader, false);
  });
});

describe('Peer.takeSampledKeyCount (no exact counts kept)', () => {
  it('takes a walk of its current range, and refuses one of another range (a split or merge since the walk began)', () => {
    const region = regionOf([voter(1, 1), voter(2, 2), voter(3, 3)]);
    const peer = peerOf(region, 10);
    assert.equal(peer.approximateKeys, 0);
    assert.equal(peer.takeSampledKeyCount({ ...region, epoch: { confVer: 4, version: 1 } }, 7), true, 'same range, another conf version: still this range');
    assert.equal(peer.approximateKeys, 7);
    assert.equal(peer.takeSampledKeyCount({ ...region, endKey: encodeKey(Buffer.from('m')) }, 3), false);
    assert.equal(peer.takeSampledKeyCount({ ...region, startKey: encodeKey(Buffer.from('m')) }, 4), false);
    assert.equal(peer.approximateKeys, 7);
  });
});

describe('Peer.onSnapshotInstalled', () => {
  /**
   * Peer 1 (store 1) of a 3-voter region wins term 6 and proposes one raw put per round: its
   * entries are 6 (the empty entry of the term), 7, 8, 9. Then peer 3 leads term 7: peer 1
   * follows, its three proposals still waiting (their entries may yet commit).
   */
  function deposedLeaderWithThreeProposals(outcomes: string[]): { peer: Peer; answers: (() => { ok: ApplyResult } | { err: unknown } | undefined)[]; entries: readonly Entry[] } {
    const region = regionOf([voter(1, SELF_STORE), voter(2, 2), voter(3, 3)]);
    const peer = peerOf(region, 10, outcomes);
    // Its election timeout runs out (a restarted voter waits one out: it may have acked a lease),
    // it pre-campaigns, then campaigns, with peer 2's votes.
    for (let t = 0; t < 2 * 10 && peer.raw.role === 'Follower'; t++) peer.tick(1);
    assert.equal(peer.raw.role, 'PreCandidate');
    assert.equal(peer.raw.step(message({ type: 'MsgPreVoteResp', from: 2, to: 1, term: INIT_TERM + 1 })).kind, 'ok');
    assert.equal(peer.raw.role, 'Candidate');
    assert.equal(peer.raw.step(message({ type: 'MsgVoteResp', from: 2, to: 1, term: INIT_TERM + 1 })).kind, 'ok');
    peer.onRoleChange(peer.raw.role);
    assert.equal(peer.isLeader, true);
    const answers = [0, 1, 2].map((i) => {
      const ops: WriteOp[] = [{ kind: 'put', cf: 'raw', key: rawKey(Buffer.from(`k${i}`)), value: Buffer.from(`v${i}`) }];
      const answer = settle(peer.proposeWrite(ops));
      peer.flushProposals(); // one poll round each: one entry each
      return answer;
    });
    assert.equal(peer.waiters.size, 3);
    const entries = peer.raw.ready().entries;
    assert.deepEqual(entries.map((e) => [e.index, e.term]), [[6, 6], [7, 6], [8, 6], [9, 6]], 'the leader\'s log');
    heartbeat(peer, 3, INIT_TERM + 2);
    peer.onRoleChange(peer.raw.role);
    assert.equal(peer.isLeader, false);
    assert.equal(peer.waiters.size, 3, 'losing leadership answers no proposal: its entry may still commit');
    return { peer, answers, entries };
  }

  it('answers the proposals at and below the snapshot\'s index (outcome unknown), and only those', async () => {
    const outcomes: string[] = [];
    const { peer, answers, entries } = deposedLeaderWithThreeProposals(outcomes);
    const snapshotIndex = 8;
    peer.onSnapshotInstalled(peer.region, snapshotIndex, 0);
    await flush();
    assert.equal(peer.applied, snapshotIndex);
    for (const [i, index] of [[0, 7], [1, 8]] as const) {
      const r = answers[i]!();
      assert.ok(r !== undefined && 'err' in r, `the proposal at ${index} (${index === snapshotIndex ? 'exactly at' : 'below'} the snapshot's index) is answered`);
      assert.ok(isFlotillaError(r.err, 'DeadlineExceeded'), `index ${index}: DeadlineExceeded (outcome unknown), got ${String(r.err)}`);
      assert.match(r.err.message, /snapshot at index 8 .*outcome unknown/);
    }
    assert.equal(answers[2]!(), undefined, 'the proposal at 9, above the snapshot, still waits');
    assert.equal(peer.waiters.size, 1);
    assert.deepEqual(outcomes, ['failed×1', 'failed×1']);

    // Its entry applies after the snapshot: the waiter answers it.
    const nine = entries.find((e) => e.index === 9)!;
    const done: (() => void)[] = [];
    assert.equal(peer.applyCommitted([nine], [], done), true);
    for (const d of done) d();
    await flush();
    assert.deepEqual(answers[2]!(), { ok: { kind: 'ok' } });
    assert.equal(peer.waiters.size, 0);
    assert.deepEqual(outcomes, ['failed×1', 'failed×1', 'applied×1']);
  });

  it('a snapshot exactly at the last proposal answers all of them; one below the first answers none', async () => {
    const outcomes: string[] = [];
    const { peer, answers } = deposedLeaderWithThreeProposals(outcomes);
    peer.onSnapshotInstalled(peer.region, 6, 0);
    await flush();
    assert.deepEqual(answers.map((a) => a()), [undefined, undefined, undefined], 'a snapshot at 6 covers no proposal');
    assert.equal(peer.waiters.size, 3);
    peer.onSnapshotInstalled(peer.region, 9, 0);
    await flush();
    for (const a of answers) {
      const r = a();
      assert.ok(r !== undefined && 'err' in r && isFlotillaError(r.err, 'DeadlineExceeded'));
    }
    assert.equal(peer.waiters.size, 0);
    assert.deepEqual(outcomes, ['failed×1', 'failed×1', 'failed×1']);
  });
});

describe('a leader applies its own write batches exactly as a replica applies their bytes', () => {
  /** Peer 1 of a 3-voter region, elected in term 6 with peer 2's votes. */
  function electedLeader(region: RegionMeta): Peer {
    const peer = peerOf(region, 10);
    for (let t = 0; t < 2 * 10 && peer.raw.role === 'Follower'; t++) peer.tick(1);
    assert.equal(peer.raw.step(message({ type: 'MsgPreVoteResp', from: 2, to: 1, term: INIT_TERM + 1 })).kind, 'ok');
    assert.equal(peer.raw.step(message({ type: 'MsgVoteResp', from: 2, to: 1, term: INIT_TERM + 1 })).kind, 'ok');
    peer.onRoleChange(peer.raw.role);
    assert.equal(peer.isLeader, true);
    return peer;
  }

  /** A transaction's commit of `n` keys: each key's write record, then its latest record (the compact form's case), and raw puts. */
  function commitOps(seed: number, n: number): WriteOp[] {
    const rng = createRng(seed);
    const ops: WriteOp[] = [];
    for (let i = 0; i < n; i++) {
      const user = encodeKey(Buffer.from(`k${rng.nextInt(50)}-${i}`));
      const commitTs = BigInt(100 + rng.nextInt(1000));
      const write = { kind: rng.chance(0.8) ? 'put' as const : 'delete' as const, startTs: commitTs - 1n, shortValue: null as Buffer | null, hasOverlappedRollback: false, isProtected: false };
      if (write.kind === 'put') write.shortValue = Buffer.alloc(rng.nextInt(300), i);
      ops.push({ kind: 'put', cf: 'write', key: writeKey(user, commitTs), value: encodeWrite(write) });
      ops.push({ kind: 'put', cf: 'latest', key: latestKey(user), value: encodeLatest({ data: latestOf(commitTs, write), maxWriteTs: commitTs }) });
      if (rng.chance(0.3)) ops.push({ kind: 'put', cf: 'raw', key: rawKey(Buffer.from(`r${i}`)), value: Buffer.from(`v${i}`) });
    }
    return ops;
  }

  for (const epochMoves of [false, true]) {
    it(epochMoves ? 'also when the region\'s epoch moved between the proposal and the poll round (a split applied): both refuse it' : 'the same writes and the same answers, round after round', async () => {
      const region = regionOf([voter(1, SELF_STORE), voter(2, 2), voter(3, 3)]);
      const leader = electedLeader(region);
      const replica = peerOf(region, 10);
      const empty = leader.raw.ready().entries; // the term's empty entry
      for (let round = 0; round < 4; round++) {
        // Each asks to hear of its commit early (a one-phase commit does): told at hand-over exactly
        // when its apply is certain to succeed — never for one the apply refuses.
        const toldCommitted = [false, false, false];
        const answers = [0, 1, 2].map((i) => settle(leader.proposeWrite(commitOps(round * 10 + i, 1 + i), () => {
          toldCommitted[i] = true;
        })));
        if (epochMoves && round === 2) {
          // A split applied while the proposals waited for the round: same range, a newer version.
          const moved = { ...leader.region, epoch: { ...leader.region.epoch, version: leader.region.epoch.version + 1 } };
          leader.region = moved;
          replica.region = moved;
        }
        leader.flushProposals();
        const entries = [...(round === 0 ? empty : []), ...leader.raw.ready().entries];
        assert.ok(entries.length > 0);
        leader.onCommittedHanded(entries);
        const leaderOps: WriteOp[] = [];
        const replicaOps: WriteOp[] = [];
        const done: (() => void)[] = [];
        assert.equal(leader.applyCommitted(entries, leaderOps, done), true);
        assert.equal(replica.applyCommitted(entries.map((e) => ({ ...e, data: Buffer.from(e.data) })), replicaOps, []), true);
        for (const d of done) d();
        await flush();
        // The same bytes: a leader's latest records carry their decoded form as a memo (txn/records/latest.ts), which is not data.
        const bytesOf = (o: WriteOp): unknown => ({ kind: o.kind, cf: o.cf, key: o.key.toString('hex'), value: o.kind === 'put' ? o.value.toString('hex') : null });
        assert.deepStrictEqual(leaderOps.map(bytesOf), replicaOps.map(bytesOf), `round ${round}: the same writes`);
        const refused = epochMoves && round === 2;
        assert.deepEqual(toldCommitted, [!refused, !refused, !refused], `round ${round}: told of the commit at hand-over iff it applies`);
        for (const a of answers) {
          const r = a();
          assert.ok(r !== undefined, `round ${round}: answered`);
          if (refused) assert.ok('ok' in r && r.ok.kind === 'error' && isFlotillaError(r.ok.error, 'EpochNotMatch'), `round ${round}: refused, got ${JSON.stringify(r)}`);
          else assert.deepEqual(r, { ok: { kind: 'ok' } }, `round ${round}`);
        }
        if (refused) assert.equal(leaderOps.length, replicaOps.length);
      }
    });
  }
});
