// The two-phase commit's decision table against scripted fake stores (real gRPC): what the
// committer does after each answer of prewrite and of the primary's commit — above all, that an
// unknown commit outcome is reported as CommitUnknownError and never rolled back, and that a
// pushed min_commit_ts is answered with a newer commit ts. Also what the lock resolver asks of a
// lock's primary (rollbackIfNotExist only once the lock met has expired).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelCache, channelCredentials, composeTs, encodeKey, INSECURE, silentLogger, type Ts } from '../../common/index.js';
import type { kvservicepb } from '../../proto/index.js';
import { Committer, type Mutation } from '../../client/committer.js';
import { KvRpc } from '../../client/kv-rpc.js';
import { LockResolver } from '../../client/lock-resolver.js';
import { ClientMetrics } from '../../client/metrics.js';
import { CommitUnknownError, TxnAbortedError, WriteConflictError } from '../../client/errors.js';
import { FAKE_CLUSTER_ID, FakeDirectory, FakeStore, type FakeScript, type Received } from '../support/fake-kv-store.js';

const ok = (r: kvservicepb.KvRequest): kvservicepb.KvResponse__Input => {
  if (r.cmd === 'prewrite') return { prewrite: { errors: [] } };
  if (r.cmd === 'commit') return { commit: {} };
  if (r.cmd === 'batchRollback') return { batchRollback: {} };
  if (r.cmd === 'resolveLock') return { resolveLock: {} };
  if (r.cmd === 'checkTxnStatus') return { checkTxnStatus: { commitVersion: '0', lockTtl: '0', action: 'NoAction' } };
  if (r.cmd === 'txnHeartBeat') return { txnHeartBeat: { lockTtl: '3000' } };
  throw new Error(`unexpected ${String(r.cmd)}`);
};

describe('committer decisions (fake stores, real gRPC)', () => {
  const log: Received[] = [];
  let script: FakeScript = (_s, r) => ({ answer: ok(r) });
  let store: FakeStore;
  let channels: ChannelCache;
  let rpc: KvRpc;
  let nextLogical = 1;
  const tso = (): Promise<Ts> => Promise.resolve(composeTs(Date.now(), nextLogical++));
  const background: Promise<void>[] = [];
  /** Timestamps the committer fetched (start_ts is fetched by the helper, not counted). */
  let commitTsFetches = 0;

  before(async () => {
    store = await FakeStore.start(1, log, () => script);
  });
  after(async () => {
    await store.stop();
  });
  afterEach(async () => {
    await Promise.allSettled(background.splice(0));
    rpc?.close();
    channels?.close();
    script = (_s, r) => ({ answer: ok(r) });
  });

  /** `splitAt`: two regions, 1 below that user key and 2 from it. */
  const committer = async (keys: string[], timeoutMs = 2_000, isOnePcAllowed = true, splitAt?: string, storeAddress?: string): Promise<{ c: Committer; startTs: Ts }> => {
    log.length = 0;
    const dir = new FakeDirectory();
    const route = (id: number, startKey: Buffer, endKey: Buffer): FakeDirectory['regions'][number] => ({
      region: { id, startKey, endKey, epoch: { confVer: 1, version: 1 }, peers: [{ id: id * 10 + 1, storeId: 1, role: 'voter' }] },
      leader: { id: id * 10 + 1, storeId: 1, role: 'voter' },
    });
    dir.regions = splitAt === undefined
      ? [route(1, Buffer.alloc(0), Buffer.alloc(0))]
      : [route(1, Buffer.alloc(0), encodeKey(Buffer.from(splitAt))), route(2, encodeKey(Buffer.from(splitAt)), Buffer.alloc(0))];
    dir.stores.set(1, storeAddress ?? store.address);
    channels = new ChannelCache(await channelCredentials(INSECURE));
    const metrics = new ClientMetrics();
    rpc = new KvRpc({ pd: dir, channels, logger: silentLogger(), metrics });
    const track = (w: Promise<void>): void => void background.push(w);
    const resolver = new LockResolver(rpc, tso, metrics, silentLogger(), track);
    const startTs = await tso();
    const mutations: Mutation[] = keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from(`v-${k}`) }));
    commitTsFetches = 0;
    const timestamp = (): Promise<Ts> => {
      commitTsFetches++;
      return tso();
    };
    return { c: new Committer({ rpc, resolver, timestamp, logger: silentLogger(), timeoutMs, background: track, isOnePcAllowed }, startTs, mutations), startTs };
  };
  const sent = (cmd: string): Received[] => log.filter((x) => x.cmd === cmd);
  const settle = (): Promise<unknown> => Promise.allSettled(background.splice(0));

  it('commits: primary (the smallest key) first, then the secondaries at the same commit ts', async () => {
    const { c, startTs } = await committer(['b', 'a', 'c']);
    const commitTs = await c.commit();
    await settle();
    assert.ok(commitTs > startTs);
    const commits = sent('commit').map((x) => ({ keys: x.request.commit!.keys.map(String), ts: x.request.commit!.commitVersion }));
    assert.deepEqual(commits[0]!.keys, ['a'], 'the primary alone first');
    assert.deepEqual(commits.slice(1).flatMap((x) => x.keys).sort(), ['b', 'c']);
    assert.ok(commits.every((x) => x.ts === String(commitTs)));
    assert.equal(sent('batchRollback').length, 0);
    assert.equal(sent('prewrite')[0]!.request.prewrite!.primaryLock.toString(), 'a');
  });

  it('a pushed min_commit_ts (CommitTsExpired) is answered with a newer commit ts', async () => {
    const { c } = await committer(['a', 'b']);
    let expiredOnce = false;
    script = (_s, r) => {
      if (r.cmd === 'commit' && !expiredOnce) {
        expiredOnce = true;
        return { answer: { commit: { error: { message: 'expired', commitTsExpired: { startTs: r.commit!.startVersion, attemptedCommitTs: r.commit!.commitVersion, key: r.commit!.keys[0]!, minCommitTs: r.commit!.commitVersion } } } } };
      }
      return { answer: ok(r) };
    };
    const commitTs = await c.commit();
    await settle();
    const primaryCommits = sent('commit').filter((x) => x.request.commit!.keys.map(String).join() === 'a');
    assert.equal(primaryCommits.length, 2);
    assert.ok(BigInt(primaryCommits[1]!.request.commit!.commitVersion) > BigInt(primaryCommits[0]!.request.commit!.commitVersion));
    assert.equal(String(commitTs), primaryCommits[1]!.request.commit!.commitVersion);
  });

  it('a primary commit that is never answered is CommitUnknownError, and nothing is rolled back', async () => {
    const { c } = await committer(['a', 'b'], 600);
    script = (_s, r) => (r.cmd === 'commit' ? 'drop' : { answer: ok(r) });
    await assert.rejects(c.commit(), (e: unknown) => e instanceof CommitUnknownError);
    await settle();
    assert.equal(sent('batchRollback').length, 0, 'an unknown outcome must never be rolled back');
    assert.ok(sent('commit').every((x) => x.request.commit!.keys.map(String).join() === 'a'), 'no secondary committed either');
  });

  it('a primary whose lock was rolled back (TxnLockNotFound) is TxnAbortedError', async () => {
    const { c } = await committer(['a', 'b']);
    script = (_s, r) => (r.cmd === 'commit' ? { answer: { commit: { error: { message: 'gone', txnLockNotFound: { startTs: r.commit!.startVersion, key: r.commit!.keys[0]! } } } } } : { answer: ok(r) });
    await assert.rejects(c.commit(), (e: unknown) => e instanceof TxnAbortedError);
  });

  // A prewrite answered with key errors wrote nothing (all-or-nothing on the store): only the keys
  // of requests answered without errors, or sent without a clear answer, are rolled back.
  const prewriteRollbacks: {
    readonly name: string;
    readonly splitAt?: string;
    readonly onePc: boolean;
    /** The answer to each region's prewrite: ok, conflict, or never answered. */
    readonly answers: Readonly<Record<number, 'ok' | 'conflict' | 'drop'>>;
    readonly rolledBack: readonly string[];
  }[] = [
    { name: 'one region, one-phase, conflict', onePc: true, answers: { 1: 'conflict' }, rolledBack: [] },
    { name: 'one region, two-phase, conflict', onePc: false, answers: { 1: 'conflict' }, rolledBack: [] },
    { name: 'two regions, the first locked, the second conflicts', splitAt: 'm', onePc: true, answers: { 1: 'ok', 2: 'conflict' }, rolledBack: ['a', 'b'] },
    { name: 'two regions, the first conflicts, the second locked', splitAt: 'm', onePc: true, answers: { 1: 'conflict', 2: 'ok' }, rolledBack: ['x', 'y'] },
    { name: 'two regions, both conflict', splitAt: 'm', onePc: true, answers: { 1: 'conflict', 2: 'conflict' }, rolledBack: [] },
    { name: 'two regions, the first never answered, the second conflicts', splitAt: 'm', onePc: false, answers: { 1: 'drop', 2: 'conflict' }, rolledBack: ['a', 'b'] },
  ];
  for (const t of prewriteRollbacks) {
    it(`a write conflict in prewrite is WriteConflictError, nothing committed, and only keys that may be locked are rolled back: ${t.name}`, async () => {
      const { c, startTs } = await committer(['a', 'b', 'x', 'y'], 600, t.onePc, t.splitAt);
      script = (_s, r) => {
        if (r.cmd !== 'prewrite') return { answer: ok(r) };
        const answer = t.answers[Number(r.prewrite!.context!.regionId)]!;
        if (answer === 'drop') return 'drop';
        if (answer === 'ok') return { answer: ok(r) };
        const key = r.prewrite!.mutations[0]!.key;
        return { answer: { prewrite: { errors: [{ message: 'conflict', conflict: { startTs: String(startTs), conflictTs: '1', conflictCommitTs: '2', key, primary: Buffer.from('a'), reason: 'Optimistic' } }] } } };
      };
      await assert.rejects(c.commit(), (e: unknown) => e instanceof WriteConflictError);
      await settle();
      if (t.splitAt !== undefined) {
        // A region may commit a one-phase prewrite at once: over two regions one could commit alone.
        assert.ok(sent('prewrite').every((x) => x.request.prewrite!.tryOnePc === false), 'a transaction over two regions never asks for one-phase commit');
      }
      assert.equal(sent('commit').length, 0);
      assert.deepEqual(sent('batchRollback').flatMap((x) => x.request.batchRollback!.keys.map(String)).sort(), t.rolledBack);
    });
  }

  it('one region: the prewrite asks for one-phase commit; its commit_ts answer ends the commit (no commit, no rollback)', async () => {
    const { c, startTs } = await committer(['b', 'a']);
    script = (_s, r) => (r.cmd === 'prewrite' ? { answer: { prewrite: { errors: [], onePcCommitTs: String(startTs + 5n) } } } : { answer: ok(r) });
    assert.equal(await c.commit(), startTs + 5n);
    await settle();
    assert.equal(sent('prewrite').length, 1);
    assert.equal(sent('prewrite')[0]!.request.prewrite!.tryOnePc, true);
    assert.equal(sent('prewrite')[0]!.request.prewrite!.txnSize, '2');
    assert.equal(sent('commit').length + sent('batchRollback').length, 0);
  });

  it('a one-phase commit costs no timestamp beyond start_ts (the store fetches the one its commit_ts must reach); two-phase fetches commit_ts', async () => {
    const { c, startTs } = await committer(['b', 'a']);
    script = (_s, r) => (r.cmd === 'prewrite' ? { answer: { prewrite: { errors: [], onePcCommitTs: String(startTs + 5n) } } } : { answer: ok(r) });
    await c.commit();
    assert.equal(commitTsFetches, 0);
    assert.equal(sent('prewrite')[0]!.request.prewrite!.minCommitTs, '0');
    script = (_s, r) => ({ answer: ok(r) });
    const { c: off } = await committer(['a', 'b'], 2_000, false);
    await off.commit();
    await settle();
    assert.equal(commitTsFetches, 1, 'commit_ts');
    assert.equal(sent('prewrite')[0]!.request.prewrite!.minCommitTs, '0');
  });

  it('one_pc_commit_ts 0 (locks written) goes on as two-phase; onePc off never asks', async () => {
    const { c } = await committer(['a', 'b']);
    const commitTs = await c.commit();
    await settle();
    assert.equal(sent('prewrite')[0]!.request.prewrite!.tryOnePc, true);
    assert.equal(sent('commit')[0]!.request.commit!.commitVersion, String(commitTs));
    const { c: off } = await committer(['a', 'b'], 2_000, false);
    await off.commit();
    await settle();
    assert.equal(sent('prewrite')[0]!.request.prewrite!.tryOnePc, false);
  });

  it('a one-phase prewrite answered with a conflict is final: no rollback round, never marked as a retry', async () => {
    const { c, startTs } = await committer(['a', 'b']);
    script = (_s, r) => (r.cmd === 'prewrite'
      ? { answer: { prewrite: { errors: [{ message: 'conflict', conflict: { startTs: String(startTs), conflictTs: '1', conflictCommitTs: '2', key: Buffer.from('a'), primary: Buffer.from('a'), reason: 'Optimistic' } }] } } }
      : { answer: ok(r) });
    await assert.rejects(c.commit(), (e: unknown) => e instanceof WriteConflictError);
    await settle();
    assert.equal(sent('prewrite')[0]!.request.prewrite!.context?.isRetryRequest ?? false, false);
    assert.equal(sent('commit').length + sent('batchRollback').length, 0);
  });

  it('a one-phase prewrite lost once is resent marked as a retry, and its answer then stands', async () => {
    const { c, startTs } = await committer(['a', 'b'], 2_000);
    let prewrites = 0;
    script = (_s, r) => {
      if (r.cmd === 'prewrite' && prewrites++ === 0) return 'break';
      if (r.cmd === 'prewrite') return { answer: { prewrite: { errors: [], onePcCommitTs: String(startTs + 3n) } } };
      return { answer: ok(r) };
    };
    assert.equal(await c.commit(), startTs + 3n);
    const marks = sent('prewrite').map((x) => x.request.prewrite!.context?.isRetryRequest ?? false);
    assert.deepEqual(marks.slice(-1), [true], 'the resend says it may repeat the lost one');
  });

  it('a one-phase prewrite never answered: a rollback answering AlreadyCommitted makes it committed at that ts', async () => {
    const { c, startTs } = await committer(['a', 'b'], 600);
    script = (_s, r) => {
      if (r.cmd === 'prewrite') return 'drop';
      if (r.cmd === 'batchRollback') return { answer: { batchRollback: { error: { message: 'committed', alreadyCommitted: { startTs: String(startTs), commitTs: String(startTs + 9n), key: Buffer.from('a') } } } } };
      return { answer: ok(r) };
    };
    assert.equal(await c.commit(), startTs + 9n);
    assert.equal(sent('commit').length, 0);
  });

  it('a one-phase prewrite never answered: a rollback that goes through is TxnAbortedError; one never answered either is CommitUnknownError', async () => {
    const { c } = await committer(['a', 'b'], 600);
    script = (_s, r) => (r.cmd === 'prewrite' ? 'drop' : { answer: ok(r) });
    await assert.rejects(c.commit(), (e: unknown) => e instanceof TxnAbortedError);
    assert.deepEqual(sent('batchRollback').flatMap((x) => x.request.batchRollback!.keys.map(String)).sort(), ['a', 'b']);
    const { c: c2 } = await committer(['a', 'b'], 600);
    script = (_s, r) => (r.cmd === 'prewrite' || r.cmd === 'batchRollback' ? 'drop' : { answer: ok(r) });
    await assert.rejects(c2.commit(), (e: unknown) => e instanceof CommitUnknownError);
  });

  it('a one-phase prewrite refused by a store of another cluster (its address reused) is TxnAbortedError, never CommitUnknownError', async () => {
    // The foreign store would commit anything: only its cluster check stops it, before reading.
    const foreign = await FakeStore.start(1, log, () => (_s, r) => ({ answer: ok(r) }), FAKE_CLUSTER_ID + 1n);
    try {
      const { c } = await committer(['a'], 600, true, undefined, foreign.address);
      await assert.rejects(c.commit(), (e: unknown) => e instanceof TxnAbortedError);
      await settle();
      assert.equal(log.length, 0, 'no request of ours was read by the other cluster');
    } finally {
      await foreign.stop();
    }
  });

  it('a reader asks to roll back a missing primary exactly when the lock it met has expired (current physical ms ≥ start + TTL), over the boundary', async () => {
    // Until the lock met expires, the primary's prewrite may still be on its way (the committer
    // prewrites every region at once): rolling the missing primary back then would abort a live
    // transaction. Every offset around the expiry, with logical parts that must not count.
    await committer(['a']);
    const received: boolean[] = [];
    script = (_s, r) => {
      if (r.cmd !== 'checkTxnStatus') return { answer: ok(r) };
      received.push(r.checkTxnStatus!.rollbackIfNotExist);
      // Alive, pushed past the reader: the reader bypasses it (no wait).
      return { answer: { checkTxnStatus: { commitVersion: '0', lockTtl: '3000', action: 'MinCommitTSPushed', lockInfo: { primaryLock: Buffer.from('p'), lockVersion: '1', key: Buffer.from('p'), lockTtl: '3000', txnSize: '1', lockType: 'Put', minCommitTs: String(composeTs(9_000_000, 0)) } } } };
    };
    const expected: boolean[] = [];
    let startMs = 1_000_000;
    for (const ttlMs of [0, 1, 20, 3_000]) {
      for (const offsetMs of [-2, -1, 0, 1, 2, 10_000]) {
        for (const [startLogical, nowLogical] of [[0, 0], [5, 0], [0, 5]] as const) {
          startMs += 20_000; // a new transaction each time: no fate is remembered across cases
          const lockTs = composeTs(startMs, startLogical);
          const nowMs = startMs + ttlMs + offsetMs;
          if (nowMs < 0) continue;
          const resolver = new LockResolver(rpc, () => Promise.resolve(composeTs(nowMs, nowLogical)), new ClientMetrics(), silentLogger(), (w) => void background.push(w));
          const lock = { key: Buffer.from('a'), primary: Buffer.from('p'), startTs: lockTs, ttlMs, txnSize: 1, minCommitTs: lockTs + 1n };
          const outcome = await resolver.resolve([lock], composeTs(8_000_000, 0), Date.now() + 2_000);
          assert.deepEqual(outcome.bypass, [lockTs]);
          expected.push(offsetMs >= 0);
        }
      }
    }
    assert.deepEqual(received, expected);
  });

  it('a key locked by a transaction that committed is resolved, then the prewrite succeeds', async () => {
    const { c } = await committer(['a']);
    let prewrites = 0;
    script = (_s, r) => {
      if (r.cmd === 'prewrite' && prewrites++ === 0) {
        return { answer: { prewrite: { errors: [{ message: 'locked', locked: { primaryLock: Buffer.from('p'), lockVersion: '5', key: Buffer.from('a'), lockTtl: '3000', txnSize: '1', lockType: 'Put', minCommitTs: '6' } }] } } };
      }
      if (r.cmd === 'checkTxnStatus') return { answer: { checkTxnStatus: { commitVersion: '7', lockTtl: '0', action: 'NoAction' } } };
      return { answer: ok(r) };
    };
    await c.commit();
    const resolves = sent('resolveLock');
    assert.equal(resolves.length, 1);
    assert.equal(resolves[0]!.request.resolveLock!.commitVersion, '7', 'rolled forward at the other transaction\'s commit ts');
    assert.equal(sent('prewrite').length, 2);
  });
});
