// Raft log GC in pieces: the leader's decision (raft-log-gc.ts) at every limit's N and N+1, under
// both lagging-follower policies, and a region's in-memory log (PeerStorage.compactTo): what raft
// reads after a compaction, the entry cache's budget, and a background load that races with one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, FlotillaError, raftLogKey, type WriteOp } from '../../common/index.js';
import { encodeEntry } from '../../raft-host/index.js';
import type { Entry } from '../../raft/index.js';
import { loadStoreConfig } from '../../store/config.js';
import { MemoryEngine } from '../../store/engine/index.js';
import { EntryCacheBudget, PeerStorage } from '../../store/peer-storage.js';
import { decideRaftLogGc, type FollowerProgress, GC_ENTRIES_PER_COMMAND_MAX, type LaggingFollowerPolicy, type RaftLogGcOptions } from '../../store/raft-log-gc.js';

/** The count-limit rules (the calls below hold fewer bytes than the threshold). */
const LIMITS: RaftLogGcOptions = { thresholdBytes: 1_000, countLimit: 100, hardCountLimit: 300, checkTicks: 1 };
const active = (match: number): FollowerProgress => ({ match, isRecentlyActive: true });
const down = (match: number): FollowerProgress => ({ match, isRecentlyActive: false });

function decide(applied: number, firstIndex: number, followers: FollowerProgress[], policy: LaggingFollowerPolicy = 'holdBack', heldBytes = 0, limits = LIMITS) {
  return decideRaftLogGc({ applied, firstIndex, heldBytes, followers, policy }, limits);
}

describe('raft log GC decision', () => {
  it('compacts once the applied entries held reach the count limit, not one entry before', () => {
    // first index 11: entries 11.. are held; applied 109 holds 99, applied 110 holds 100.
    assert.deepEqual(decide(109, 11, [active(109), active(109)]), { kind: 'skip', reason: 'belowLimit', isHardLimitHeldBack: false });
    assert.deepEqual(decide(110, 11, [active(110), active(110)]), { kind: 'compact', compactIndex: 110, isHardLimitHeldBack: false });
  });

  it('never compacts past any follower while it holds back, recently active or not', () => {
    assert.deepEqual(decide(200, 1, [active(200), active(150)]), { kind: 'compact', compactIndex: 150, isHardLimitHeldBack: false });
    assert.deepEqual(decide(200, 1, [active(200), down(40)]), { kind: 'compact', compactIndex: 40, isHardLimitHeldBack: false });
    // A follower at the truncated index (or a new leader's unknown match 0): nothing to compact.
    assert.deepEqual(decide(200, 41, [active(200), down(40)]), { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack: false });
    assert.deepEqual(decide(200, 41, [active(0), active(0)]), { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack: false });
  });

  it('reports the hard limit held back by a lagging follower from N on, and still does not pass it', () => {
    // held = applied − 0 with first index 1: 299 is below the hard limit, 300 at it.
    assert.deepEqual(decide(299, 1, [active(299), down(7)]), { kind: 'compact', compactIndex: 7, isHardLimitHeldBack: false });
    assert.deepEqual(decide(300, 1, [active(300), down(7)]), { kind: 'compact', compactIndex: 7, isHardLimitHeldBack: true });
    assert.deepEqual(decide(307, 8, [active(307), down(7)]), { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack: true });
    // Past the hard limit with everyone caught up: nothing is held back.
    assert.deepEqual(decide(300, 1, [active(300), active(300)]), { kind: 'compact', compactIndex: 300, isHardLimitHeldBack: false });
  });

  it('with snapshots (compactPast): down followers do not hold the log back, and past the hard limit nobody does', () => {
    assert.deepEqual(decide(200, 1, [active(150), down(40)], 'compactPast'), { kind: 'compact', compactIndex: 150, isHardLimitHeldBack: false });
    assert.deepEqual(decide(299, 1, [active(150), down(40)], 'compactPast'), { kind: 'compact', compactIndex: 150, isHardLimitHeldBack: false });
    assert.deepEqual(decide(300, 1, [active(150), down(40)], 'compactPast'), { kind: 'compact', compactIndex: 300, isHardLimitHeldBack: false });
  });

  it('compacts at most GC_ENTRIES_PER_COMMAND_MAX entries per command (N and N+1)', () => {
    const n = GC_ENTRIES_PER_COMMAND_MAX;
    assert.deepEqual(decide(n, 1, [active(n)]), { kind: 'compact', compactIndex: n, isHardLimitHeldBack: false });
    assert.deepEqual(decide(n + 1, 1, [active(n + 1)]), { kind: 'compact', compactIndex: n, isHardLimitHeldBack: false });
    assert.deepEqual(decide(n + 1, n + 1, [active(n + 1)]), { kind: 'skip', reason: 'belowLimit', isHardLimitHeldBack: false });
  });

  it('compacts up to the applied index when no follower exists (a one-replica region)', () => {
    assert.deepEqual(decide(100, 1, []), { kind: 'compact', compactIndex: 100, isHardLimitHeldBack: false });
  });

  for (const policy of ['holdBack', 'compactPast'] as const) {
    it(`below the count limit (${policy}): once the log holds the threshold's bytes, compacts what every follower holds, a down one too, never past it`, () => {
      const t = (applied: number, first: number, followers: FollowerProgress[]) => decide(applied, first, followers, policy, 1_000);
      // 999 bytes: below the threshold; 1,000: at it.
      assert.deepEqual(decide(20, 11, [active(20), active(20)], policy, 999), { kind: 'skip', reason: 'belowLimit', isHardLimitHeldBack: false });
      assert.deepEqual(t(20, 11, [active(20), active(20)]), { kind: 'compact', compactIndex: 20, isHardLimitHeldBack: false });
      // Nothing applied beyond the truncated index: nothing to compact, whatever the bytes.
      assert.deepEqual(t(10, 11, [active(10), active(10)]), { kind: 'skip', reason: 'belowLimit', isHardLimitHeldBack: false });
      assert.deepEqual(t(20, 11, [active(20), active(15)]), { kind: 'compact', compactIndex: 15, isHardLimitHeldBack: false });
      assert.deepEqual(t(60, 11, [active(60), down(30)]), { kind: 'compact', compactIndex: 30, isHardLimitHeldBack: false });
      // A follower at the truncated index, or a new leader's unknown match 0: nothing goes.
      assert.deepEqual(t(60, 31, [active(60), down(30)]), { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack: false });
      assert.deepEqual(t(60, 11, [active(60), active(0)]), { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack: false });
      assert.deepEqual(t(20, 11, []), { kind: 'compact', compactIndex: 20, isHardLimitHeldBack: false });
      // At the count limit the policy decides about the down follower (held 100 from first index 1).
      assert.deepEqual(t(99, 1, [active(99), down(30)]), { kind: 'compact', compactIndex: 30, isHardLimitHeldBack: false });
      assert.deepEqual(t(100, 1, [active(100), down(30)]), { kind: 'compact', compactIndex: policy === 'holdBack' ? 30 : 100, isHardLimitHeldBack: false });
    });
  }

  it('below the count limit too, at most GC_ENTRIES_PER_COMMAND_MAX entries per command', () => {
    const n = GC_ENTRIES_PER_COMMAND_MAX;
    const wide: RaftLogGcOptions = { thresholdBytes: 10, countLimit: 4 * n, hardCountLimit: 8 * n, checkTicks: 1 };
    assert.deepEqual(decide(n + 5, 1, [active(n + 5)], 'holdBack', 10, wide), { kind: 'compact', compactIndex: n, isHardLimitHeldBack: false });
  });
});

describe('raft log GC flags', () => {
  it('default to the documented limits and refuse a hard limit at or below the count limit', async () => {
    const config = await loadStoreConfig([], {});
    assert.deepEqual([config.raftLogGcThresholdBytes, config.raftLogGcCountLimit, config.raftLogGcHardCountLimit, config.raftLogGcCheckTicks], [4 * 1024 * 1024, 10_000, 100_000, 10]);
    const tiny = await loadStoreConfig(['--raft-log-gc-count-limit', '3', '--raft-log-gc-hard-count-limit', '4', '--raft-log-gc-check-ticks', '1'], {});
    assert.deepEqual([tiny.raftLogGcCountLimit, tiny.raftLogGcHardCountLimit, tiny.raftLogGcCheckTicks], [3, 4, 1]);
    await assert.rejects(loadStoreConfig(['--raft-log-gc-count-limit', '4', '--raft-log-gc-hard-count-limit', '4'], {}), (e: unknown) => e instanceof ConfigError && /hard-count-limit/.test(e.message));
    await assert.rejects(loadStoreConfig(['--raft-log-gc-count-limit', '0'], {}), ConfigError);
  });
});

const entry = (index: number, term: number, bytes = 10): Entry => ({ type: 'Normal', term, index, data: new Uint8Array(bytes) });

function storageOf(engine: MemoryEngine, budget: EntryCacheBudget, entries: Entry[], loaded: () => void = () => undefined): PeerStorage {
  return new PeerStorage(3, engine, budget, {
    hardState: { term: 2, vote: 0, commit: 20 }, confState: { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
    truncatedIndex: 5, truncatedTerm: 1, entries,
  }, loaded, (err) => assert.fail(String(err)));
}

async function writeLog(engine: MemoryEngine, entries: readonly Entry[]): Promise<void> {
  const ops: WriteOp[] = entries.map((e) => ({ kind: 'put', cf: 'local', key: raftLogKey(3, e.index), value: encodeEntry(e) }));
  await engine.write(ops, { sync: true });
}

describe('PeerStorage.compactTo', () => {
  const log = Array.from({ length: 15 }, (_, i) => entry(6 + i, i < 5 ? 1 : 2)); // 6..20

  it('answers compacted below the new first index, keeps the truncated term, and returns cached bytes to the budget', () => {
    const budget = new EntryCacheBudget(1 << 20);
    const s = storageOf(new MemoryEngine(), budget, log);
    const before = budget.bytes;
    s.compactTo(12, 2);
    assert.equal(s.firstIndex(), 13);
    assert.equal(s.lastIndex(), 20);
    assert.equal(s.truncatedIndex, 12);
    assert.equal(s.truncatedTerm, 2);
    assert.equal(s.term(11), 'compacted');
    assert.equal(s.term(12), 2);
    assert.equal(s.term(13), 2);
    assert.equal(s.entries(12, 14, 1 << 20), 'compacted');
    assert.deepEqual(s.entries(13, 15, 1 << 20), [log[7], log[8]]);
    assert.ok(budget.bytes < before && budget.bytes === s.cachedBytes, `budget ${budget.bytes}, cached ${s.cachedBytes}`);
    // Stale and repeated compactions change nothing; appends continue after the last index.
    s.compactTo(12, 2);
    s.compactTo(9, 1);
    assert.equal(s.firstIndex(), 13);
    s.append([entry(21, 3)]);
    assert.equal(s.lastIndex(), 21);
  });

  it('refuses a term that is not the log\'s, and an index beyond the last', () => {
    const s = storageOf(new MemoryEngine(), new EntryCacheBudget(1 << 20), log);
    assert.throws(() => s.compactTo(12, 1), (e: unknown) => e instanceof FlotillaError && e.code === 'Internal');
    assert.throws(() => s.compactTo(21, 2), RangeError);
    assert.equal(s.firstIndex(), 6);
  });

  it('compacts past an evicted cache, and drops a background load the compaction overtook', async () => {
    const engine = new MemoryEngine();
    await writeLog(engine, log);
    let loads = 0;
    const s = storageOf(engine, new EntryCacheBudget(0), log, () => loads++);
    s.evictTo(15);
    assert.equal(s.entries(8, 10, 1 << 20), 'unavailable'); // a load of [8, 10) starts
    s.compactTo(12, 2); // …and raft log GC overtakes it (its entries are deleted on disk too)
    await engine.write([6, 7, 8, 9, 10, 11, 12].map((i) => ({ kind: 'delete', cf: 'local', key: raftLogKey(3, i) })), { sync: false });
    for (let i = 0; i < 20 && loads === 0; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    assert.equal(loads, 1);
    assert.equal(s.entries(8, 10, 1 << 20), 'compacted');
    assert.equal(s.entries(13, 16, 1 << 20), 'unavailable'); // still evicted: loads from disk
    for (let i = 0; i < 20 && loads === 1; i++) await new Promise<void>((resolve) => setImmediate(resolve));
    assert.deepEqual(s.entries(13, 15, 1 << 20), [log[7], log[8]]);
  });
});
