// One-phase commit on the store, deterministic: three in-process stores (real RaftStore, peers,
// raft, apply, TxnKv with its ConcurrencyManager) over in-memory engines and a simulated network,
// with a counter for PD's TSO. What one-phase commit must never break (store/concurrency-manager.ts):
//   - a read at ts R that did not see a commit never sees it later: the commit_ts lands above R,
//     also when R was served by the region's previous leader on another store (the new leader
//     commits in one phase only after a TSO fetch newer than its leadership), or by a merged
//     source's leader on another store (a new epoch version needs a new fetch);
//   - a read at R ≥ an in-flight one-phase commit's ts waits for it (point reads and scans); a
//     read below it does not;
//   - the commit_ts lies above every ts PD issued before the request arrived (a transaction that
//     began before the commit conflicts with it), and the answer comes only after PD issued a
//     ts ≥ commit_ts (a later start_ts is above it);
//   - a retried one-phase request answers the commit it made, not a conflict.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { armFailpoint, composeTs, createRng, disarmAllFailpoints, type Ts } from '../../common/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import type { RegionMeta } from '../../common/index.js';
import type { Peer } from '../../store/peer.js';
import { waitFor } from '../../deploy/index.js';
import { type SimNode, StoreSim } from '../support/store-sim.js';

const b = (s: string): Buffer => Buffer.from(s);

/**
 * PD's TSO: a counter from the wall clock's current ms (so the store's far-future check passes).
 * A store's fetch is answered — its ts issued — only when the simulation next advances (pump), as
 * over a network: an answer sent before it would be visible as a later start_ts equal to commit_ts.
 */
class FakeTso {
  private last: Ts = composeTs(Date.now(), 0);
  private readonly waiting: (() => void)[] = [];
  next(): Ts {
    return ++this.last;
  }
  /** The newest ts issued so far. */
  get issued(): Ts {
    return this.last;
  }
  /**
   * Set: a fetch's ts is issued when the fetch is made (PD got the request at once), its answer
   * still delivered at the next pump.
   */
  isIssuedAtFetch = false;
  /** Fetches to refuse (PD unreachable) before answering again. */
  failing = 0;
  readonly fetch = (): Promise<Ts> => {
    if (this.failing > 0) {
      this.failing--;
      return Promise.reject(new Error('PD unreachable'));
    }
    const early = this.isIssuedAtFetch ? this.next() : null;
    return new Promise<Ts>((resolve) => this.waiting.push(() => resolve(early ?? this.next())));
  };
  /** Fetches waiting for their answer. */
  get waitingCount(): number {
    return this.waiting.length;
  }
  /** While set, fetches wait (PD slow). */
  isHeld = false;
  pump(): void {
    if (this.isHeld) return;
    for (const answer of this.waiting.splice(0)) answer();
  }
}

let activeTso: FakeTso | null = null;

async function advance(sim: StoreSim): Promise<void> {
  await sim.advance();
  activeTso?.pump();
}

interface OnePcSimOptions {
  readonly proposalTimeoutMs?: number;
  readonly replicaReadGatedMax?: number;
}

async function startSim(tso: FakeTso, options: OnePcSimOptions = {}): Promise<StoreSim> {
  activeTso = tso;
  return StoreSim.start(3, { rng: createRng(11), dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled: true, tso: tso.fetch, ...options });
}

/** Runs `op` against the current ready leader while the simulation advances. */
async function run<T>(sim: StoreSim, op: (leader: SimNode) => Promise<T>): Promise<T> {
  let leader: SimNode | undefined;
  for (let i = 0; i < 300 && leader === undefined; i++) {
    await advance(sim);
    leader = sim.leader();
  }
  assert.ok(leader !== undefined, 'no leader');
  return settle(sim, op(leader));
}

/** Advances the simulation until `p` settles. */
async function settle<T>(sim: StoreSim, p: Promise<T>): Promise<T> {
  let isSettled = false;
  const watched = p.finally(() => {
    isSettled = true;
  });
  for (let i = 0; i < 400 && !isSettled; i++) await advance(sim);
  assert.ok(isSettled, 'the request never settled');
  return watched;
}

function prewriteRequest(sim: StoreSim, node: SimNode, startTs: Ts, pairs: readonly [string, string][], tryOnePc = true, isRetryRequest = false): kvrpcpb.PrewriteRequest {
  return {
    context: { ...sim.context(node), isRetryRequest }, mutations: pairs.map(([k, v]) => ({ op: 'Put', key: b(k), value: b(v), assertion: 'None' })),
    primaryLock: b(pairs[0]![0]), startVersion: String(startTs), lockTtl: '3000', skipConstraintCheck: false, txnSize: String(pairs.length),
    minCommitTs: '0', maxCommitTs: '0', tryOnePc,
  };
}

async function get(sim: StoreSim, node: SimNode, key: string, ts: Ts): Promise<string | null> {
  const r = await settle(sim, node.txn!.get({ context: sim.context(node), key: b(key), version: String(ts), needCommitTs: false } as kvrpcpb.GetRequest));
  assert.equal(r.error ?? null, null, `get ${key} at ${ts}: ${JSON.stringify(r.error)}`);
  return r.notFound === true ? null : (r.value as Buffer).toString();
}

/**
 * Advances the simulation until `p` settles: what a timed-out proposal holds is released by the
 * peer's apply-end waiters (Peer.whenApplyEnds), woken by sim steps, so a bounded count of steps
 * decides it (no real time).
 */
async function settleWithin(sim: StoreSim, p: Promise<unknown>, what: string): Promise<void> {
  let isSettled = false;
  void p.finally(() => {
    isSettled = true;
  }).catch(() => undefined);
  for (let i = 0; i < 200 && !isSettled; i++) await advance(sim);
  assert.ok(isSettled, `${what}: not within 200 steps`);
}

/** A rival prewrite (`rival.answer` set once `done`) met the commit as a write conflict. */
async function expectRivalConflict(sim: StoreSim, rival: { readonly answer?: kvrpcpb.PrewriteResponse__Input }, done: Promise<void>): Promise<void> {
  await settle(sim, done);
  assert.ok((rival.answer?.errors ?? []).some((e) => e.conflict !== undefined), `the rival meets the commit as a write conflict: ${JSON.stringify(rival.answer)}`);
}

/** The error code `p` rejects with (null: it resolved), as a promise that never rejects. */
function codeOf(p: Promise<unknown>): Promise<string | null> {
  return p.then(() => null, (e: unknown) => String((e as { code?: string }).code ?? e));
}

/** A one-phase commit through `node`, retried (new start_ts each time) until the store commits it at once. */
async function commitOnePc(sim: StoreSim, tso: FakeTso, node: SimNode, pairs: readonly [string, string][], startTs?: Ts, peer?: () => Peer): Promise<{ startTs: Ts; commitTs: Ts }> {
  const context = (): kvrpcpb.Context => (peer === undefined ? sim.context(node) : sim.context(node, peer()));
  for (let attempt = 0; attempt < 50; attempt++) {
    const s = startTs ?? tso.next();
    let issuedAtAnswer = 0n;
    const r = await settle(sim, node.txn!.prewrite({ ...prewriteRequest(sim, node, s, pairs), context: { ...context(), isRetryRequest: false } }).then((answer) => {
      issuedAtAnswer = tso.issued;
      return answer;
    }));
    assert.deepEqual(r.errors ?? [], [], `prewrite at ${s}`);
    const committed = BigInt(String(r.onePcCommitTs ?? '0'));
    if (committed !== 0n) {
      // Answered only once PD had issued a ts ≥ commit_ts: every later start_ts lies above it.
      assert.ok(issuedAtAnswer >= committed, `answered at ${committed} while PD had issued only up to ${issuedAtAnswer}`);
      return { startTs: s, commitTs: committed };
    }
    // Not synced yet: it prewrote; finish it as two-phase, then try again once synced.
    const c = tso.next();
    const done = await settle(sim, node.txn!.commit({ context: context(), keys: pairs.map(([k]) => b(k)), startVersion: String(s), commitVersion: String(c) }));
    assert.equal(done.error ?? null, null);
    for (let i = 0; i < 5; i++) await advance(sim);
    if (startTs !== undefined) throw new Error('the given start_ts was used by a two-phase commit');
  }
  throw new Error('the leader never committed in one phase');
}

/** A reader of the held-commit tests: the store that serves the read, and the context it is sent with. */
interface Reader {
  readonly node: SimNode;
  readonly context: kvrpcpb.Context;
}

/**
 * Holds a one-phase commit of m = n = 'new' at its memory locks (failpoint store::one-pc-locked),
 * then sends a get of m, a batchGet of a and n, and a scan of [l, mz) at a ts above it, through
 * `readers` (one each). The caller releases the failpoint.
 */
async function readsAboveHeldCommit(sim: StoreSim, tso: FakeTso, leader: SimNode, readers: readonly [Reader, Reader, Reader]): Promise<{
  readonly startTs: Ts; readonly commit: Promise<void>; readonly reads: Promise<void>;
  answer(): kvrpcpb.PrewriteResponse__Input | null; seen(): (string | null)[] | null;
}> {
  const startTs = tso.next();
  armFailpoint('store::one-pc-locked', 'pause');
  let answer: kvrpcpb.PrewriteResponse__Input | null = null;
  const commit = leader.txn!.prewrite(prewriteRequest(sim, leader, startTs, [['m', 'new'], ['n', 'new']])).then((r) => {
    answer = r;
  });
  for (let i = 0; i < 50 && leader.txn!.concurrency.memoryLockCount === 0; i++) await advance(sim);
  assert.equal(leader.txn!.concurrency.memoryLockCount, 2, 'the commit holds its memory locks');
  const above = tso.next() + 1000n;
  let seen: (string | null)[] | null = null;
  const [g, bg, sc] = readers;
  const reads = Promise.all([
    g.node.txn!.get({ context: g.context, key: b('m'), version: String(above) }),
    bg.node.txn!.batchGet({ context: bg.context, keys: [b('a'), b('n')], version: String(above) }),
    sc.node.txn!.scan({ context: sc.context, startKey: b('l'), endKey: b('mz'), version: String(above), limit: 10, keyOnly: false, reverse: false }),
  ]).then(([gr, bgr, scr]) => {
    seen = [
      gr.notFound === true ? null : String(gr.value),
      (bgr.pairs ?? []).map((p) => `${String(p.key)}=${String(p.value)}`).join(','),
      (scr.pairs ?? []).map((p) => `${String(p.key)}=${String(p.value)}`).join(','),
    ];
  });
  return { startTs, commit, reads, answer: () => answer, seen: () => seen };
}

/** A sim whose leader has committed once in one phase (so it is synced), handed to `body`; stopped after, also on failure. */
async function withSyncedLeader(body: (sim: StoreSim, tso: FakeTso, leader: SimNode) => Promise<void>, options: OnePcSimOptions = {}): Promise<void> {
  const tso = new FakeTso();
  const sim = await startSim(tso, options);
  try {
    const leader = await run(sim, async (l) => l);
    await commitOnePc(sim, tso, leader, [['warm', '1']]); // the first request only starts the sync
    await body(sim, tso, leader);
  } finally {
    await sim.stop();
  }
}

describe('one-phase commit on the store (deterministic simulation)', { timeout: 120_000 }, () => {
  afterEach(() => disarmAllFailpoints());

  it('commits at once once the leader holds a TSO newer than its leadership, above every read ts served; a retry answers the same commit', () => withSyncedLeader(async (sim, tso, leader) => {
    const startTs = tso.next();
    const readTs = tso.next();
    assert.equal(await get(sim, leader, 'k', readTs), null);
    const { commitTs } = await commitOnePc(sim, tso, leader, [['k', 'v1'], ['k2', 'w1']], startTs);
    assert.ok(commitTs > readTs, `commit_ts ${commitTs} must lie above the read at ${readTs} that did not see it`);
    assert.equal(await get(sim, leader, 'k', readTs), null, 'a reread at the old read ts sees what the first read saw');
    assert.equal(await get(sim, leader, 'k', commitTs), 'v1');
    assert.equal(await get(sim, leader, 'k2', commitTs), 'w1');
    assert.equal(await get(sim, leader, 'k', commitTs - 1n), null);
    // The answer waited for PD: the next timestamp lies above commit_ts.
    assert.ok(tso.next() > commitTs);
    // A transaction that began before the commit did (its start_ts issued before the request
    // arrived, no read of ours raising the max) lies below the commit_ts: it conflicts with us,
    // as overlapping transactions do (the "before" rule).
    const older = tso.next();
    const overlapping = tso.next();
    const { commitTs: overCommitTs } = await commitOnePc(sim, tso, leader, [['ww', 'older']], older);
    assert.ok(overCommitTs > overlapping, `commit_ts ${overCommitTs} of a commit that began after a transaction at ${overlapping} must lie above it`);
    const loser = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, overlapping, [['ww', 'younger']])));
    assert.ok(loser.errors?.[0]?.conflict !== undefined && loser.errors[0].conflict !== null, `the overlapping writer conflicts: ${JSON.stringify(loser.errors)}`);
    // A retry of the same request answers the commit it made, also after another transaction wrote the key.
    const again = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, startTs, [['k', 'v1'], ['k2', 'w1']])));
    assert.deepEqual(again.errors ?? [], []);
    assert.equal(BigInt(String(again.onePcCommitTs)), commitTs);
    await commitOnePc(sim, tso, leader, [['k', 'v2']]);
    const late = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, startTs, [['k', 'v1'], ['k2', 'w1']], true, true)));
    assert.deepEqual(late.errors ?? [], [], 'a late retry after a newer write answers the commit, not a conflict');
    assert.equal(BigInt(String(late.onePcCommitTs)), commitTs);
    // Not marked as a retry, the same request is answered on its own: a conflict, nothing written.
    const fresh = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, startTs, [['k', 'v1'], ['k2', 'w1']])));
    assert.equal(fresh.errors?.[0]?.conflict !== undefined && fresh.errors[0].conflict !== null, true, JSON.stringify(fresh.errors));
    assert.equal(await get(sim, leader, 'k', tso.next()), 'v2');
    // PD slow: the commit is applied, but the answer waits for PD's timestamp.
    tso.isHeld = true;
    let answer: kvrpcpb.PrewriteResponse__Input | null = null;
    const slow = leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['slow', 's']])).then((a) => {
      answer = a;
    });
    for (let i = 0; i < 30; i++) await advance(sim);
    assert.equal(answer, null, 'no answer before PD issued a ts ≥ its commit_ts');
    tso.isHeld = false;
    await settle(sim, slow);
    assert.ok(BigInt(String(answer!.onePcCommitTs ?? '0')) > 0n);
    // No lock was ever left.
    const locks = await settle(sim, leader.txn!.scanLock({ context: sim.context(leader), maxVersion: String(tso.next()), startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), limit: 100 }));
    assert.deepEqual(locks.locks ?? [], []);
  }));

  it('a commit_ts above the ts its request fetched (a read at a newer ts came in meanwhile) is answered only once PD issued one ≥ it', () => withSyncedLeader(async (sim, tso, leader) => {
    tso.isIssuedAtFetch = true;
    tso.isHeld = true;
    let answer: kvrpcpb.PrewriteResponse__Input | null = null;
    let issuedAtAnswer = 0n;
    const commit = leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['f', '1']])).then((a) => {
      answer = a;
      issuedAtAnswer = tso.issued;
    });
    for (let i = 0; i < 50 && tso.waitingCount === 0; i++) await advance(sim);
    assert.equal(tso.waitingCount, 1, "the request waits for its timestamp");
    const newer = tso.next(); // issued after the request's own
    assert.equal(await get(sim, leader, 'f', newer), null);
    tso.isHeld = false;
    await settle(sim, commit);
    const commitTs = BigInt(String(answer!.onePcCommitTs ?? '0'));
    assert.ok(commitTs > newer, `commit_ts ${commitTs} above the read at ${newer}`);
    assert.ok(issuedAtAnswer >= commitTs, `answered at ${commitTs} while PD had issued only up to ${issuedAtAnswer}`);
  }));

  it('a replica read on a follower raises the leader\'s max ts before its read index: a one-phase commit that fetched its ts earlier lands above it', () => withSyncedLeader(async (sim, tso, leader) => {
    const follower = sim.nodes.find((n) => n !== leader && n.txn !== null)!;
    tso.isIssuedAtFetch = true;
    tso.isHeld = true;
    let answer: kvrpcpb.PrewriteResponse__Input | null = null;
    const commit = leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['rf', '1']])).then((a) => {
      answer = a;
    });
    for (let i = 0; i < 50 && tso.waitingCount === 0; i++) await advance(sim);
    assert.equal(tso.waitingCount, 1, 'the request waits for its timestamp');
    const newer = tso.next(); // issued after the request's own
    const r = await settle(sim, follower.txn!.get({ context: sim.context(follower, undefined, { replicaRead: true }), key: b('rf'), version: String(newer) }));
    assert.equal(r.error ?? null, null);
    assert.equal(r.notFound, true, 'the follower read before the commit');
    assert.ok(leader.txn!.concurrency.maxReadTs >= newer, 'the leader holds the replica read\'s ts');
    assert.ok(follower.txn!.concurrency.maxReadTs < newer, 'the follower\'s own max ts is not what counts');
    tso.isHeld = false;
    await settle(sim, commit);
    const commitTs = BigInt(String(answer!.onePcCommitTs ?? '0'));
    assert.ok(commitTs > newer, `commit_ts ${commitTs} above the replica read at ${newer}`);
    const again = await settle(sim, follower.txn!.get({ context: sim.context(follower, undefined, { replicaRead: true }), key: b('rf'), version: String(newer) }));
    assert.equal(again.notFound, true, 'a reread at the same ts on a follower sees what the first saw');
  }));

  it('a replica read at or above an in-flight one-phase commit waits for it on the leader (get, batchGet, scan, on both followers); a read below does not; then it sees the commit', () => withSyncedLeader(async (sim, tso, leader) => {
    const followers = sim.nodes.filter((n) => n !== leader && n.txn !== null);
    assert.equal(followers.length, 2);
    const rctx = (n: SimNode): kvrpcpb.Context => sim.context(n, undefined, { replicaRead: true });
    const [f0, f1] = followers as [SimNode, SimNode];
    const held = await readsAboveHeldCommit(sim, tso, leader, [{ node: f0, context: rctx(f0) }, { node: f1, context: rctx(f1) }, { node: f0, context: rctx(f0) }]);
    const { startTs, commit, reads } = held;
    // Below the commit: a replica read is answered while the commit is held (in a request of its
    // own: the reads of one round share one, held for the newest ts among them).
    for (let i = 0; i < 3; i++) await advance(sim);
    const below = await settle(sim, f1.txn!.get({ context: rctx(f1), key: b('m'), version: String(startTs) }));
    assert.equal(below.notFound, true);
    for (let i = 0; i < 20; i++) await advance(sim);
    assert.equal(held.seen(), null, 'replica reads at or above the held commit wait');
    assert.equal(held.answer(), null);
    armFailpoint('store::one-pc-locked', 'off');
    await settle(sim, commit);
    await settle(sim, reads);
    assert.ok(BigInt(String(held.answer()!.onePcCommitTs ?? '0')) > 0n, 'committed in one phase');
    assert.deepEqual(held.seen(), ['new', 'n=new', 'm=new'], 'the waiting replica reads see the commit');
  }));

  it('the leader\'s gate holds at most its bound of replica ReadIndex requests: one past it is dropped (its read fails at the replica\'s timeout), the held ones are served once the commit lands, and the gate takes requests again', () => withSyncedLeader(async (sim, tso, leader) => {
    const [f0, f1] = sim.nodes.filter((n) => n !== leader && n.txn !== null) as [SimNode, SimNode];
    const rctx = (n: SimNode): kvrpcpb.Context => sim.context(n, undefined, { replicaRead: true });
    const leaderStore = leader.store!;
    // Three reads of one round on f0 share one request: it fills the gate (bound 1).
    const held = await readsAboveHeldCommit(sim, tso, leader, [{ node: f0, context: rctx(f0) }, { node: f0, context: rctx(f0) }, { node: f0, context: rctx(f0) }]);
    for (let i = 0; i < 50 && leaderStore.replicaReadsGated === 0; i++) await advance(sim);
    assert.equal(leaderStore.replicaReadsGated, 1, 'f0\'s request waits at the gate');
    // f1's read above the commit: its request finds the gate full and is dropped.
    let droppedCode: string | null | undefined;
    const dropped = codeOf(f1.txn!.get({ context: rctx(f1), key: b('m'), version: String(tso.next() + 1000n) })).then((c) => {
      droppedCode = c;
    });
    for (let i = 0; i < 30; i++) await advance(sim);
    assert.equal(leaderStore.replicaReadsGated, 1, 'the gate holds its bound');
    assert.equal(held.seen(), null, 'the gated reads still wait for the commit');
    armFailpoint('store::one-pc-locked', 'off');
    await settle(sim, held.commit);
    await settle(sim, held.reads);
    assert.deepEqual(held.seen(), ['new', 'n=new', 'm=new'], 'the gated reads see the commit');
    assert.equal(leaderStore.replicaReadsGated, 0, 'the gate emptied');
    assert.equal(droppedCode, undefined, 'the dropped request is never answered: its read waits for the timeout');
    // Its read fails at the replica's ReadIndex timeout (real time), as every unanswered one does.
    for (const deadline = Date.now() + 15_000; droppedCode === undefined && Date.now() < deadline;) await advance(sim);
    await dropped;
    assert.equal(droppedCode, 'DeadlineExceeded');
    // The gate takes requests again: f1 reads the commit.
    const again = await settle(sim, f1.txn!.get({ context: rctx(f1), key: b('m'), version: String(tso.next()) }));
    assert.equal(String(again.value), 'new');
  }, { replicaReadGatedMax: 1 }));

  it('a replica read: refused without the flag (NotLeader), refused on a merging or leaderless replica, a ts far ahead refused (InvalidArgument), served by the leader as its own read', () => withSyncedLeader(async (sim, tso, leader) => {
    const follower = sim.nodes.find((n) => n !== leader && n.txn !== null)!;
    assert.equal(await settle(sim, codeOf(follower.txn!.get({ context: sim.context(follower), key: b('x'), version: String(tso.next()) }))), 'NotLeader');
    assert.equal(await settle(sim, codeOf(follower.txn!.get({ context: sim.context(follower, undefined, { replicaRead: true }), key: b('x'), version: String(composeTs(Date.now() + 3_600_000, 0)) }))), 'InvalidArgument');
    // Writes ignore the flag: a follower refuses them.
    assert.equal(await settle(sim, codeOf(follower.txn!.prewrite({ ...prewriteRequest(sim, follower, tso.next(), [['x', '1']], false), context: sim.context(follower, undefined, { replicaRead: true }) }))), 'NotLeader');
    const own = await settle(sim, leader.txn!.get({ context: sim.context(leader, undefined, { replicaRead: true }), key: b('warm'), version: String(tso.next()) }));
    assert.equal(String(own.value), '1');
    // A follower that knows no leader refuses at once (the client tries elsewhere).
    sim.isolate(follower.storeId, true);
    const peer = follower.store!.peers.get(sim.region.id)!;
    for (let i = 0; i < 300 && peer.raw.leaderId !== 0; i++) await advance(sim);
    assert.equal(peer.raw.leaderId, 0, 'the cut-off follower campaigns and forgets its leader');
    assert.equal(await settle(sim, codeOf(follower.txn!.get({ context: sim.context(follower, undefined, { replicaRead: true }), key: b('x'), version: String(tso.next()) }))), 'NotLeader');
    sim.isolate(follower.storeId, false);
  }));

  it('without a timestamp from PD a one-phase request prewrites as usual (locks), and the transaction commits in two phases', () => withSyncedLeader(async (sim, tso, leader) => {
    const startTs = tso.next();
    tso.failing = 1;
    const r = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, startTs, [['nopd', 'v'], ['nopd2', 'w']])));
    assert.deepEqual(r.errors ?? [], []);
    assert.equal(BigInt(String(r.onePcCommitTs ?? '0')), 0n, 'no one-phase commit without the timestamp its commit_ts must reach');
    const locks = await settle(sim, leader.txn!.scanLock({ context: sim.context(leader), maxVersion: String(tso.next()), startKey: b('nopd'), endKey: b('nope'), limit: 10 }));
    assert.deepEqual((locks.locks ?? []).map((l) => String(l.key)).sort(), ['nopd', 'nopd2']);
    const commitTs = tso.next();
    const c = await settle(sim, leader.txn!.commit({ context: sim.context(leader), keys: [b('nopd'), b('nopd2')], startVersion: String(startTs), commitVersion: String(commitTs) }));
    assert.equal(c.error ?? null, null);
    assert.equal(await get(sim, leader, 'nopd2', commitTs), 'w');
  }));

  it('a one-phase commit answered DeadlineExceeded (its proposal timed out, the leader still leading) keeps its memory locks until its entry applies', () => withSyncedLeader(async (sim, tso, leader) => {
    // Cut off, the leader appends the entry but cannot commit it; a few steps only (well inside
    // an election timeout), so it keeps leading and the followers stay followers.
    sim.isolate(leader.storeId, true);
    let outcome: unknown = null;
    void leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['late', 'v']])).then((a) => {
      outcome = a;
    }, (err: unknown) => {
      outcome = err;
    });
    for (let i = 0; i < 5 && leader.txn!.concurrency.memoryLockCount === 0; i++) await advance(sim);
    assert.equal(leader.txn!.concurrency.memoryLockCount, 1, 'the commit holds its memory lock');
    // No step taken: the proposal times out in real time.
    await waitFor('the proposal to time out', async () => (outcome !== null ? true : undefined), { timeoutMs: 10_000, intervalMs: 10 });
    assert.ok(outcome instanceof Error && (outcome as { code?: string }).code === 'DeadlineExceeded', `answered ${String(outcome)}`);
    assert.equal(leader.store!.peers.get(sim.region.id)!.isLeader, true);
    assert.equal(leader.txn!.concurrency.memoryLockCount, 1, 'an unknown outcome keeps the memory lock: the entry may still apply');
    let seen: string | null | undefined;
    const read = leader.txn!.get({ context: sim.context(leader), key: b('late'), version: String(tso.next() + 1000n) }).then((g) => {
      seen = g.notFound === true ? null : String(g.value);
    });
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    assert.equal(seen, undefined, 'a read above the commit waits for it');
    sim.isolate(leader.storeId, false);
    await settleWithin(sim, read, 'the read to settle once the entry applies');
    await read;
    assert.equal(seen, 'v', 'the entry applied, and the waiting read sees it');
    assert.equal(leader.txn!.concurrency.memoryLockCount, 0);
  }, { proposalTimeoutMs: 200 }));

  it("after a leader transfer, no one-phase commit lands at or below a read the old leader served", async () => {
    const tso = new FakeTso();
    const sim = await startSim(tso);
    try {
      const first = await run(sim, async (l) => l);
      await commitOnePc(sim, tso, first, [['warm', '1']]);
      for (const [round, target] of [2, 3, 1, 2].entries()) {
        const leader = sim.leader()!;
        if (leader.storeId === target) continue;
        const startTs = tso.next();
        const readTs = tso.next();
        const key = `r${round}-${leader.storeId}-to-${target}`;
        assert.equal(await get(sim, leader, key, readTs), null, 'the old leader serves the read');
        assert.ok(sim.transferLeader(sim.region.id, target));
        let next: SimNode | undefined;
        for (let i = 0; i < 300 && next?.storeId !== target; i++) {
          await advance(sim);
          next = sim.leader();
        }
        assert.equal(next?.storeId, target, `leadership reached store ${target}`);
        // The new leader's first request: whether it commits in one phase or prewrites, the
        // transaction must end above the read.
        const r = await settle(sim, next.txn!.prewrite(prewriteRequest(sim, next, startTs, [[key, 'x']])));
        assert.deepEqual(r.errors ?? [], []);
        let commitTs = BigInt(String(r.onePcCommitTs ?? '0'));
        if (commitTs === 0n) {
          commitTs = tso.next();
          const c = await settle(sim, next.txn!.commit({ context: sim.context(next), keys: [b(key)], startVersion: String(startTs), commitVersion: String(commitTs) }));
          assert.equal(c.error ?? null, null);
        }
        assert.ok(commitTs > readTs, `commit_ts ${commitTs} on the new leader is not above ${readTs}, read on the old one`);
        assert.equal(await get(sim, next, key, readTs), null, 'a reread at the old read ts on the new leader');
        // Once synced, the new leader commits in one phase — still above the old leader's reads.
        const readTs2 = tso.next();
        assert.equal(await get(sim, next, `${key}-b`, readTs2), null);
        const { commitTs: c2 } = await commitOnePc(sim, tso, next, [[`${key}-b`, 'y']]);
        assert.ok(c2 > readTs2);
      }
    } finally {
      await sim.stop();
    }
  });

  it('after a merge, the target leader commits nothing at or below a read the source leader served on another store', async () => {
    const tso = new FakeTso();
    const sim = await startSim(tso);
    try {
      await run(sim, async (l) => l);
      const out = await settle(sim, sim.split(sim.region.id, [b('m')]));
      assert.equal(out.kind, 'split');
      let regions: RegionMeta[] = [];
      for (let i = 0; i < 300 && regions.length !== 2; i++) {
        await advance(sim);
        regions = [...sim.newestRegions().values()].filter((r) => sim.leader(r.id) !== undefined).sort((x, y) => Buffer.compare(x.startKey, y.startKey));
      }
      assert.equal(regions.length, 2, 'two regions with leaders');
      const [source, target] = [regions[0]!.id, regions[1]!.id]; // [, m) merges into [m, )
      // Source led from store 2, target from store 1: the source's reads never reach store 1.
      const leadFrom = async (regionId: number, storeId: number): Promise<SimNode> => {
        for (let i = 0; i < 300 && sim.leader(regionId)?.storeId !== storeId; i++) {
          if (i % 20 === 0) sim.transferLeader(regionId, storeId);
          await advance(sim);
        }
        const node = sim.leader(regionId);
        assert.equal(node?.storeId, storeId, `region ${regionId} led from store ${storeId}`);
        return node;
      };
      const sourceLeader = await leadFrom(source, 2);
      const targetLeader = await leadFrom(target, 1);
      const targetPeer = (): Peer => targetLeader.store!.peers.get(target)!;
      await commitOnePc(sim, tso, targetLeader, [['x-warm', '1']], undefined, targetPeer); // synced at the pre-merge version
      const startTs = tso.next();
      const readTs = tso.next();
      const sourcePeer = sourceLeader.store!.peers.get(source)!;
      const r = await settle(sim, sourceLeader.txn!.get({ context: sim.context(sourceLeader, sourcePeer), key: b('a'), version: String(readTs), needCommitTs: false } as kvrpcpb.GetRequest));
      assert.equal(r.notFound, true, 'the source leader serves the read');
      await settle(sim, sim.merge(source, target));
      for (let i = 0; i < 500 && sim.nodes.some((n) => n.store?.peers.has(source) === true); i++) await advance(sim);
      assert.ok(sim.nodes.every((n) => n.store?.peers.has(source) !== true), 'the merge completed');
      assert.equal(sim.leader(target)?.storeId, 1);
      // The first request after the merge: one phase or not, the commit lands above the read.
      const p = await settle(sim, targetLeader.txn!.prewrite({ ...prewriteRequest(sim, targetLeader, startTs, [['a', 'new']]), context: { ...sim.context(targetLeader, targetPeer()), isRetryRequest: false } }));
      assert.deepEqual(p.errors ?? [], []);
      let commitTs = BigInt(String(p.onePcCommitTs ?? '0'));
      if (commitTs === 0n) {
        commitTs = tso.next();
        const c = await settle(sim, targetLeader.txn!.commit({ context: sim.context(targetLeader, targetPeer()), keys: [b('a')], startVersion: String(startTs), commitVersion: String(commitTs) }));
        assert.equal(c.error ?? null, null);
      }
      assert.ok(commitTs > readTs, `committed at ${commitTs} on the merged region, not above ${readTs} read on the source`);
      const again = await settle(sim, targetLeader.txn!.get({ context: sim.context(targetLeader, targetPeer()), key: b('a'), version: String(readTs), needCommitTs: false } as kvrpcpb.GetRequest));
      assert.equal(again.notFound, true, 'a reread at the old read ts sees what the source leader served');
    } finally {
      await sim.stop();
    }
  });

  it('a read at or above an in-flight one-phase commit waits for it (get, batchGet, scan); a read below does not', () => withSyncedLeader(async (sim, tso, leader) => {
    const own = { node: leader, context: sim.context(leader) };
    const held = await readsAboveHeldCommit(sim, tso, leader, [own, own, own]);
    const { startTs, commit, reads } = held;
    // Below the commit: answered while the commit is held.
    assert.equal(await get(sim, leader, 'm', startTs), null);
    for (let i = 0; i < 20; i++) await advance(sim);
    assert.equal(held.seen(), null, 'reads at or above the held commit wait');
    assert.equal(held.answer(), null);
    armFailpoint('store::one-pc-locked', 'off');
    await settle(sim, commit);
    await settle(sim, reads);
    assert.ok(BigInt(String(held.answer()!.onePcCommitTs ?? '0')) > 0n, 'committed in one phase');
    assert.deepEqual(held.seen(), ['new', 'n=new', 'm=new'], 'the waiting reads see the commit');
    assert.equal(leader.txn!.concurrency.memoryLockCount, 0);
    // A one-key commit held alone (a single memory lock) holds a read back just the same.
    armFailpoint('store::one-pc-locked', 'pause');
    const single = leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['solo', 'one']]));
    for (let i = 0; i < 50 && leader.txn!.concurrency.memoryLockCount === 0; i++) await advance(sim);
    assert.equal(leader.txn!.concurrency.memoryLockCount, 1);
    let soloSeen: string | null | undefined;
    const soloRead = leader.txn!.get({ context: sim.context(leader), key: b('solo'), version: String(tso.next() + 1000n) }).then((g) => {
      soloSeen = g.notFound === true ? null : String(g.value);
    });
    for (let i = 0; i < 20; i++) await advance(sim);
    assert.equal(soloSeen, undefined, 'the read waits for the single held commit');
    armFailpoint('store::one-pc-locked', 'off');
    await settle(sim, single);
    await settle(sim, soloRead);
    assert.equal(soloSeen, 'one');
  }));

  it('is answered once committed, before its apply batch is written: its memory lock and latches stay until then, and a read above it waits and sees it', () => withSyncedLeader(async (sim, tso, leader) => {
    let openGate!: () => void;
    leader.engine.applyWriteGate = new Promise<void>((resolve) => { openGate = resolve; });
    try {
      const rivalStart = tso.next(); // began before the commit: the two must conflict
      const r = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['early', 'v'], ['early2', 'w']])));
      assert.deepEqual(r.errors ?? [], []);
      const commitTs = BigInt(String(r.onePcCommitTs ?? '0'));
      assert.ok(commitTs > 0n, 'committed in one phase, answered while its apply is held');
      assert.equal(leader.txn!.concurrency.memoryLockCount, 2, 'its memory locks stay until it applies');
      let seen: string | null | undefined;
      const read = leader.txn!.get({ context: sim.context(leader), key: b('early'), version: String(tso.next() + 1000n) }).then((g) => {
        seen = g.notFound === true ? null : String(g.value);
      });
      // Another transaction's prewrite of the same key waits for the latches, held until the apply.
      const rival: { answer?: kvrpcpb.PrewriteResponse__Input } = {};
      const rivalDone = leader.txn!.prewrite(prewriteRequest(sim, leader, rivalStart, [['early2', 'x']], false)).then((a) => {
        rival.answer = a;
      });
      for (let i = 0; i < 30; i++) await advance(sim);
      assert.equal(seen, undefined, 'a read above the commit waits for its apply');
      assert.equal(rival.answer, undefined, 'a write to its keys waits for its apply');
      openGate();
      await settle(sim, read);
      assert.equal(seen, 'v', 'the read sees the commit once applied');
      await expectRivalConflict(sim, rival, rivalDone);
      assert.equal(leader.txn!.concurrency.memoryLockCount, 0);
    } finally {
      openGate();
      leader.engine.applyWriteGate = null;
    }
  }));

  it('answered at commit, then timed out while its apply write is held: its memory lock and latches stay until that write lands; a read above it waits and sees it, a rival prewrite waits and conflicts', () => withSyncedLeader(async (sim, tso, leader) => {
    let openGate!: () => void;
    leader.engine.applyWriteGate = new Promise<void>((resolve) => { openGate = resolve; });
    try {
      const rivalStart = tso.next();
      const r = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['slow', 'v']])));
      assert.deepEqual(r.errors ?? [], []);
      assert.ok(BigInt(String(r.onePcCommitTs ?? '0')) > 0n, 'committed in one phase, answered while its apply is held');
      // The proposal's waiter times out in real time; its apply batch is built (applied moved) but not written.
      const until = Date.now() + 400;
      await waitFor('the proposal timeout to pass', async () => (Date.now() >= until ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
      for (let i = 0; i < 5; i++) await advance(sim);
      assert.equal(leader.txn!.concurrency.memoryLockCount, 1, 'the memory lock stays while the apply write is held');
      // Another transaction that began before the commit: its prewrite of the key waits for the
      // latches, held until the write lands, and then meets the commit as a write conflict.
      const rival: { answer?: kvrpcpb.PrewriteResponse__Input } = {};
      const rivalDone = leader.txn!.prewrite(prewriteRequest(sim, leader, rivalStart, [['slow', 'x']], false)).then((a) => {
        rival.answer = a;
      });
      let seen: string | null | undefined;
      const read = leader.txn!.get({ context: sim.context(leader), key: b('slow'), version: String(tso.next() + 1000n) }).then((g) => {
        seen = g.notFound === true ? null : String(g.value);
      });
      for (let i = 0; i < 30; i++) await advance(sim);
      assert.equal(seen, undefined, 'a read above the commit waits');
      assert.equal(rival.answer, undefined, 'a write to its key waits');
      openGate();
      await settleWithin(sim, read, 'the read to settle once the write landed');
      await read;
      assert.equal(seen, 'v');
      await expectRivalConflict(sim, rival, rivalDone);
      assert.equal(leader.txn!.concurrency.memoryLockCount, 0);
    } finally {
      openGate();
      leader.engine.applyWriteGate = null;
    }
  }, { proposalTimeoutMs: 200 }));

  it('answered at commit, then timed out while its apply write is held, and its leader steps down: a read above it that waited there is refused, never served without it; the new leader serves it', () => withSyncedLeader(async (sim, tso, leader) => {
    let openGate!: () => void;
    leader.engine.applyWriteGate = new Promise<void>((resolve) => { openGate = resolve; });
    try {
      const r = await settle(sim, leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['deposed', 'v']])));
      assert.ok(BigInt(String(r.onePcCommitTs ?? '0')) > 0n, 'committed in one phase, answered while its apply is held');
      const until = Date.now() + 400;
      await waitFor('the proposal timeout to pass', async () => (Date.now() >= until ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
      for (let i = 0; i < 5; i++) await advance(sim);
      assert.equal(leader.txn!.concurrency.memoryLockCount, 1, 'the memory lock stays while the apply write is held');
      const read = leader.txn!.get({ context: sim.context(leader), key: b('deposed'), version: String(tso.next() + 1000n) });
      const outcome = codeOf(read.then((g) => {
        if (g.notFound === true || String(g.value) !== 'v') throw new Error(`served ${g.notFound === true ? 'nothing' : String(g.value)}`);
      }));
      let code: string | null | undefined;
      void outcome.then((c) => { code = c; });
      for (let i = 0; i < 10; i++) await advance(sim);
      assert.equal(code, undefined, 'the read waits for the commit');
      const peer = leader.store!.peers.get(sim.region.id)!;
      const target = sim.nodes.find((n) => n !== leader && n.store !== null)!;
      assert.ok(sim.transferLeader(sim.region.id, target.storeId), 'the transfer starts');
      for (let i = 0; i < 200 && (peer.isLeader || code === undefined); i++) await advance(sim);
      assert.equal(peer.isLeader, false, 'the leader stepped down');
      assert.equal(leader.txn!.concurrency.memoryLockCount, 0, 'the step-down ends the memory lock');
      assert.equal(code, 'NotLeader', 'the read that waited is refused (null: served the commit; else served without it)');
      const next = await run(sim, async (l) => l);
      const got = await settle(sim, next.txn!.get({ context: sim.context(next), key: b('deposed'), version: String(tso.next() + 1000n) }));
      assert.equal(String(got.value), 'v', 'the new leader serves the commit');
    } finally {
      openGate();
      leader.engine.applyWriteGate = null;
    }
  }, { proposalTimeoutMs: 200 }));

  it('a new leader that has not applied what the old one committed serves no transactional read from its engine: the read waits until it has', () => withSyncedLeader(async (sim, tso, leader) => {
    const next = sim.nodes.find((n) => n !== leader && n.store !== null)!;
    let openGate!: () => void;
    next.engine.applyWriteGate = new Promise<void>((resolve) => { openGate = resolve; });
    try {
      const { commitTs } = await commitOnePc(sim, tso, leader, [['handed', 'v']]);
      assert.ok(sim.transferLeader(sim.region.id, next.storeId), 'the transfer starts');
      const peer = next.store!.peers.get(sim.region.id)!;
      for (let i = 0; i < 200 && !peer.isLeader; i++) await advance(sim);
      assert.ok(peer.isLeader && !peer.isLeaderReady, 'the new leader leads, its applies held');
      let code: string | null | undefined;
      let seen: string | null = null;
      void codeOf(next.txn!.get({ context: sim.context(next), key: b('handed'), version: String(commitTs + 1000n) }).then((g) => {
        seen = g.notFound === true ? null : String(g.value);
      })).then((c) => { code = c; });
      for (let i = 0; i < 200 && code === undefined; i++) await advance(sim);
      assert.equal(code, undefined, `the read waits for the new leader's applies (served ${seen ?? 'nothing'})`);
      openGate();
      for (let i = 0; i < 300 && code === undefined; i++) await advance(sim);
      assert.equal(code, null, 'then it is served');
      assert.equal(seen, 'v');
    } finally {
      openGate();
      next.engine.applyWriteGate = null;
    }
  }));

  it('is answered only once applied when an entry before it that is not a plain write batch (here a membership change) has not applied yet', () => withSyncedLeader(async (sim, tso, leader) => {
    let openGate!: () => void;
    leader.engine.applyWriteGate = new Promise<void>((resolve) => { openGate = resolve; });
    try {
      // Answered at commit; its apply batch is in flight (held), so what commits next waits in the apply queue.
      await commitOnePc(sim, tso, leader, [['held', '1']]);
      const peer = leader.store!.peers.get(sim.region.id)!;
      const confVer = peer.region.epoch.confVer;
      const follower = peer.region.peers.find((p) => p.storeId !== leader.storeId)!;
      const change = sim.changePeer(sim.region.id, 'remove', follower.storeId).then((r) => r.kind, (e: unknown) => String(e));
      for (let i = 0; i < 20; i++) await advance(sim);
      assert.equal(peer.region.epoch.confVer, confVer, 'the membership change waits to apply');
      const late: { answer?: kvrpcpb.PrewriteResponse__Input } = {};
      const lateDone = leader.txn!.prewrite(prewriteRequest(sim, leader, tso.next(), [['after', 'v']])).then((a) => {
        late.answer = a;
      });
      for (let i = 0; i < 40; i++) await advance(sim);
      assert.equal(late.answer, undefined, 'not answered while the membership change before it waits to apply');
      openGate();
      await settle(sim, lateDone);
      assert.equal(await settle(sim, change), 'ok');
      const answer = late.answer as kvrpcpb.PrewriteResponse__Input | undefined;
      assert.ok(BigInt(String(answer?.onePcCommitTs ?? '0')) > 0n, `committed in one phase, answered once applied: ${JSON.stringify(answer)}`);
      assert.equal(await get(sim, leader, 'after', tso.next() + 1000n), 'v');
    } finally {
      openGate();
      leader.engine.applyWriteGate = null;
    }
  }));
});
