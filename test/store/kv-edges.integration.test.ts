// The KV service's paths that a whole-suite coverage run (`npm run coverage`) found no test
// reaching, on a real store process (1 PD + 1 store, real RocksDB and gRPC):
//   - KvGC over a region, several GC batches, judged against a model of every key's versions:
//     every read at or above the safe point is unchanged, the versions it may drop are gone, and
//     the latest records stay right (Insert and new writes after it);
//   - KvResolveLock over a whole region (no keys), more locks than one resolve batch, judged
//     against a model of three interleaved transactions (committed, rolled back, left alone);
//   - KvCleanup (TTL check, always, a committed transaction), AlreadyCommitted, Lock mutations,
//     and the requests refused as InvalidArgument;
//   - RawDeleteRange over more keys than one delete chunk, and the raw requests refused;
//   - the proposal queue bound (--pending-proposals-max): ServerIsBusy, nothing written for a
//     refused request, every accepted one durable, and the store serves on;
//   - a BatchCommands stream past its in-flight bound (the server pauses reading and resumes)
//     and a stream message whose ids do not match its requests;
//   - the raft entry bound: one request past it is RaftEntryTooLarge (nothing written); requests
//     within it that arrive together, whose sum is past it, all succeed;
//   - the store-to-store snapshot stream refuses what is not a snapshot for it (no header first, a
//     header for another store or carrying no snapshot, another cluster's id), typed, and the
//     store serves on; on the raft stream, a malformed message is dropped and counted, a batch
//     with broken framing fails its stream, and the store serves on;
//   - the store's admin actions (POST /region/split, /region/change-peer): malformed bodies are
//     400 InvalidArgument, a region it does not lead 409 NotLeader, a split at a boundary skipped.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cfRange, createRng, type DataCf, decodeDataKey, grpc, setClusterIdMetadata } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { httpJson } from '../support/pd-cluster.js';
import { type kvrpcpb, loadProtos, type raft_serverpb } from '../../proto/index.js';
import { RocksEngine } from '../../store/engine/index.js';
import { DELETE_RANGE_CHUNK_KEYS } from '../../store/raw-kv.js';
import { decodeLatest, decodeWrite, type LatestRecord, SHORT_VALUE_BYTES_MAX, type Write } from '../../txn/index.js';
import { BATCH_STREAM_INFLIGHT_MAX } from '../../store/kv-service.js';
import { GC_BATCH_KEYS, RESOLVE_BATCH_KEYS } from '../../store/txn-kv.js';
import { RAFT_ENTRY_BYTES_MAX } from '../../raft/index.js';
import { type KvTestClient, StoreTestCluster } from '../support/store-cluster.js';

const PENDING_PROPOSALS_MAX = 8;
const b = (s: string): Buffer => Buffer.from(s);
/** A timestamp of physical time `ms` (logical 0). */
const tsAt = (ms: number): bigint => BigInt(ms) << 18n;

describe('flotilla-store: KV paths the coverage run found untested', () => {
  let cluster: StoreTestCluster;
  let kv: KvTestClient;
  let ctx: kvrpcpb.Context__Input;

  /** Waits until the store leads its region; sets ctx and kv. */
  const leadership = async (): Promise<void> => {
    ctx = await cluster.leaderContext(0);
    kv = cluster.kvClient(0);
  };

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 1, pdCount: 1, extraStoreArgs: ['--pending-proposals-max', String(PENDING_PROPOSALS_MAX)] });
    await leadership();
  });
  after(async () => {
    await cluster?.stop();
  });

  const prewrite = (startTs: bigint, primary: Buffer, mutations: kvrpcpb.Mutation__Input[], extra: Partial<kvrpcpb.PrewriteRequest__Input> = {}): Promise<kvrpcpb.PrewriteResponse> =>
    kv.call('KvPrewrite', { context: ctx, primaryLock: primary, startVersion: String(startTs), lockTtl: '3000', txnSize: String(mutations.length), mutations, ...extra });
  const commit = async (startTs: bigint, commitTs: bigint, keys: Buffer[]): Promise<void> => {
    const r = await kv.call('KvCommit', { context: ctx, keys, startVersion: String(startTs), commitVersion: String(commitTs) });
    assert.equal(r.error, null, JSON.stringify(r.error));
  };
  /** Every key of `prefix` and its value as a read at `readTs` sees them. */
  const snapshot = async (prefix: string, readTs: bigint): Promise<Map<string, string>> => {
    const r = await kv.call('KvScan', { context: ctx, startKey: b(prefix), endKey: b(`${prefix}\xff`), limit: 10_000, version: String(readTs) });
    assert.equal(r.error, null, JSON.stringify(r.error));
    return new Map(r.pairs.map((p) => [p.key.toString(), p.value.toString()]));
  };

  it('KvGC keeps every read at or above the safe point, drops what it may, and leaves the latest records right (a model over several GC batches)', async () => {
    const rng = createRng(3_601);
    const keyCount = GC_BATCH_KEYS * 2 + 77; // three GC batches
    const keys = Array.from({ length: keyCount }, (_, i) => `gc/${String(i).padStart(4, '0')}`);
    // Model: per key, its committed data versions (commit ts → value, null = delete), oldest first.
    const history = new Map<string, { commitTs: bigint; value: string | null }[]>(keys.map((k) => [k, []]));
    const rounds = 5;
    const commitTsOf = (round: number): bigint => tsAt(10_000 + round * 1_000) + 5n;
    for (let round = 0; round < rounds; round++) {
      const startTs = tsAt(10_000 + round * 1_000);
      const mutations: kvrpcpb.Mutation__Input[] = [];
      const written: Buffer[] = [];
      for (const k of keys) {
        const dice = rng.nextInt(10);
        if (dice < 4) continue; // untouched this round
        // A short value (in the write record) or one over SHORT_VALUE_BYTES_MAX (in the default CF).
        const value = dice < 8 ? `${k}@${round}${rng.nextInt(2) === 0 ? '' : '#'.repeat(SHORT_VALUE_BYTES_MAX + 1)}` : null;
        mutations.push(value === null ? { op: 'Del', key: b(k) } : { op: 'Put', key: b(k), value: b(value) });
        written.push(b(k));
        history.get(k)!.push({ commitTs: commitTsOf(round), value });
      }
      assert.deepEqual((await prewrite(startTs, written[0]!, mutations)).errors, []);
      await commit(startTs, commitTsOf(round), written);
    }
    const visibleAt = (k: string, readTs: bigint): string | null => {
      let v: string | null = null;
      for (const h of history.get(k)!) if (h.commitTs <= readTs) v = h.value;
      return v;
    };
    const modelAt = (readTs: bigint): Map<string, string> => {
      const m = new Map<string, string>();
      for (const k of keys) {
        const v = visibleAt(k, readTs);
        if (v !== null) m.set(k, v);
      }
      return m;
    };
    const safePoint = commitTsOf(2); // exactly a commit ts: the version there is at or below it
    const readTss = [safePoint, commitTsOf(3), commitTsOf(4), commitTsOf(4) + 1_000n];
    // Keys GC empties in two passes: put and delete below the safe point, a rollback record above
    // it — the first GC drops the data versions and clears the latest record's data part (the
    // rollback is left), the second, past the rollback, must drop the whole latest record.
    const emptied = ['gc2/a', 'gc2/b', 'gc2/c'];
    const rollbackTs = tsAt(12_500);
    for (const [startMs, op] of [[5_000, 'Put'], [6_000, 'Del']] as const) {
      const startTs = tsAt(startMs);
      assert.deepEqual((await prewrite(startTs, b(emptied[0]!), emptied.map((k): kvrpcpb.Mutation__Input => (op === 'Put' ? { op, key: b(k), value: b('old') } : { op, key: b(k) })))).errors, []);
      await commit(startTs, startTs + 5n, emptied.map((k) => b(k)));
    }
    assert.equal((await kv.call('KvBatchRollback', { context: ctx, keys: emptied.map((k) => b(k)), startVersion: String(rollbackTs) })).error, null);
    for (const t of readTss) assert.deepEqual(await snapshot('gc/', t), modelAt(t), `before GC, at ${t}`);

    assert.equal((await kv.call('KvGC', { context: ctx, safePoint: String(safePoint) })).error, null);

    for (const t of readTss) assert.deepEqual(await snapshot('gc/', t), modelAt(t), `after GC, at ${t}`);
    // Below the safe point only what GC must keep is left: a key whose newest version ≤ the safe
    // point is a put keeps that one alone (older versions gone), one whose newest is a delete
    // keeps nothing ≤ the safe point. So a read at an older round sees exactly the kept versions.
    const oldTs = commitTsOf(0);
    const kept = new Map<string, string>();
    for (const k of keys) {
      const newest = history.get(k)!.filter((h) => h.commitTs <= safePoint).at(-1);
      if (newest !== undefined && newest.value !== null && newest.commitTs <= oldTs) kept.set(k, newest.value);
    }
    assert.deepEqual(await snapshot('gc/', oldTs), kept, 'a read below the safe point sees only the versions GC keeps');
    // GC again, past the rollback records but below round 3: no gc/ version moves across it, so
    // the gc/ keys keep exactly what the first GC left.
    const secondSafePoint = rollbackTs + 100n;
    assert.ok(secondSafePoint < commitTsOf(3));
    assert.equal((await kv.call('KvGC', { context: ctx, safePoint: String(secondSafePoint) })).error, null);
    for (const t of readTss) assert.deepEqual(await snapshot('gc/', t), modelAt(t), `after a second GC, at ${t}`);

    // On disk (the store stopped, its RocksDB opened here): each key keeps exactly the write
    // records the model says GC keeps, no value without the put that references it, and a latest
    // record exactly where a write record is left, holding the newest data write.
    await cluster.killStore(0, 'SIGTERM');
    const disk = await readTxnCfs(join(cluster.stores[0]!.dataDir, 'db'), 'gc');
    await cluster.restartStore(0);
    await leadership();
    for (const k of keys) {
      const versions = history.get(k)!;
      const newestBelow = versions.filter((h) => h.commitTs <= safePoint).at(-1);
      const expected = versions.filter((h) => h.commitTs > safePoint || (h === newestBelow && h.value !== null));
      const records = disk.writes.get(k) ?? [];
      assert.deepEqual(records.map((r) => [r.commitTs, r.write.kind]), expected.reverse().map((h) => [h.commitTs, h.value === null ? 'delete' : 'put']), `${k}: the write records GC keeps`);
      const latest = disk.latests.get(k);
      if (records.length === 0) {
        assert.equal(latest, undefined, `${k}: no write record left, so no latest record`);
      } else {
        assert.equal(latest?.data?.commitTs, records[0]!.commitTs, `${k}: the latest record holds the newest data write`);
      }
    }
    for (const k of emptied) {
      assert.equal(disk.writes.get(k), undefined, `${k}: every record gone`);
      assert.equal(disk.latests.get(k), undefined, `${k}: its latest record gone with the last record`);
    }
    const referenced = new Set<string>();
    for (const [k, records] of disk.writes) for (const r of records) if (r.write.kind === 'put' && r.write.shortValue === null) referenced.add(`${k}@${r.write.startTs}`);
    assert.deepEqual([...disk.values].sort(), [...referenced].sort(), 'the default CF holds exactly the values of the puts left');

    // The latest records: Insert succeeds exactly where the newest version is absent or a delete,
    // and a new write on every key reads back.
    const late = tsAt(50_000);
    let inserted = 0;
    for (const k of keys.slice(0, 200)) {
      const r = await prewrite(late, b(k), [{ op: 'Insert', key: b(k), value: b('ins') }]);
      const exists = visibleAt(k, late) !== null;
      if (exists) {
        assert.equal(r.errors[0]?.alreadyExist?.key.toString(), k, `${k}: Insert over a live value`);
      } else {
        assert.deepEqual(r.errors, [], `${k}: Insert over nothing`);
        await kv.call('KvBatchRollback', { context: ctx, keys: [b(k)], startVersion: String(late) });
        inserted++;
      }
    }
    assert.ok(inserted > 0 && inserted < 200, `both kinds of key generated (${inserted} absent of 200)`);
    const final = tsAt(60_000);
    const all = keys.map((k): kvrpcpb.Mutation__Input => ({ op: 'Put', key: b(k), value: b(`${k}!`) }));
    assert.deepEqual((await prewrite(final, b(keys[0]!), all)).errors, []);
    await commit(final, final + 5n, keys.map((k) => b(k)));
    assert.deepEqual(await snapshot('gc/', final + 10n), new Map(keys.map((k) => [k, `${k}!`])));
  });

  it('KvCleanup rolls back an expired lock (or any, with current_ts 0), answers a live one with the lock and a committed one with its commit ts', async () => {
    const start = tsAt(100_000);
    assert.deepEqual((await prewrite(start, b('cl/a'), [{ op: 'Put', key: b('cl/a'), value: b('A') }], { lockTtl: '500' })).errors, []);
    const live = await kv.call('KvCleanup', { context: ctx, key: b('cl/a'), startVersion: String(start), currentTs: String(tsAt(100_400)) });
    assert.equal(live.error?.locked?.lockVersion, String(start), JSON.stringify(live.error));
    const expired = await kv.call('KvCleanup', { context: ctx, key: b('cl/a'), startVersion: String(start), currentTs: String(tsAt(100_501)) });
    assert.equal(expired.error, null);
    const locks = await kv.call('KvScanLock', { context: ctx, startKey: b('cl/'), endKey: b('cl0'), maxVersion: String(tsAt(200_000)), limit: 10 });
    assert.deepEqual(locks.locks, []);
    // Rolled back: the transaction cannot commit, nor prewrite again.
    const late = await kv.call('KvCommit', { context: ctx, keys: [b('cl/a')], startVersion: String(start), commitVersion: String(start + 10n) });
    assert.ok(late.error !== null, 'a rolled-back transaction cannot commit');
    // current_ts 0: rolled back whatever its TTL.
    const start2 = tsAt(101_000);
    assert.deepEqual((await prewrite(start2, b('cl/b'), [{ op: 'Put', key: b('cl/b'), value: b('B') }], { lockTtl: '60000' })).errors, []);
    assert.equal((await kv.call('KvCleanup', { context: ctx, key: b('cl/b'), startVersion: String(start2), currentTs: '0' })).error, null);
    assert.equal((await kv.call('KvGet', { context: ctx, key: b('cl/b'), version: String(tsAt(102_000)) })).notFound, true);
    // Committed: AlreadyCommitted, with the commit ts in the error and the response.
    const start3 = tsAt(103_000);
    assert.deepEqual((await prewrite(start3, b('cl/c'), [{ op: 'Put', key: b('cl/c'), value: b('C') }])).errors, []);
    await commit(start3, start3 + 7n, [b('cl/c')]);
    const committed = await kv.call('KvCleanup', { context: ctx, key: b('cl/c'), startVersion: String(start3), currentTs: '0' });
    assert.equal(committed.commitVersion, String(start3 + 7n));
    assert.equal(committed.error?.alreadyCommitted?.commitTs, String(start3 + 7n));
    assert.equal(committed.error?.alreadyCommitted?.startTs, String(start3));
    // Rolling back a committed transaction: AlreadyCommitted too, and the value stays.
    const rb = await kv.call('KvBatchRollback', { context: ctx, keys: [b('cl/c')], startVersion: String(start3) });
    assert.equal(rb.error?.alreadyCommitted?.commitTs, String(start3 + 7n));
    assert.equal((await kv.call('KvGet', { context: ctx, key: b('cl/c'), version: String(tsAt(104_000)) })).value.toString(), 'C');
  });

  it('KvResolveLock without keys resolves every lock of its transaction over several batches (commit and rollback), and no other transaction\'s', async () => {
    // Three transactions' locks interleaved over one region: A (committed by a region-wide
    // resolve), C (rolled back by one) and B (left alone, and started above the read below so
    // its locks do not block it). A and C hold more locks than one resolve batch.
    const rng = createRng(3_602);
    const startA = tsAt(300_000);
    const startC = tsAt(301_000);
    const startB = tsAt(305_000);
    const readTs = tsAt(304_000);
    const owner = new Map<string, 'A' | 'B' | 'C'>();
    for (let i = 0; i < RESOLVE_BATCH_KEYS * 4 + 37; i++) {
      const dice = rng.nextInt(10);
      owner.set(`rl/${String(i).padStart(4, '0')}`, dice < 5 ? 'A' : dice < 8 ? 'C' : 'B');
    }
    const keysOf = (t: 'A' | 'B' | 'C'): string[] => [...owner].filter(([, o]) => o === t).map(([k]) => k);
    assert.ok(keysOf('A').length > RESOLVE_BATCH_KEYS * 2 && keysOf('C').length > RESOLVE_BATCH_KEYS, 'A and C each need more than one resolve batch');
    for (const [t, startTs] of [['A', startA], ['C', startC], ['B', startB]] as const) {
      const keys = keysOf(t);
      const mutations = keys.map((k): kvrpcpb.Mutation__Input => ({ op: 'Put', key: b(k), value: b(`${k}=${t}`) }));
      assert.deepEqual((await prewrite(startTs, b(keys[0]!), mutations, { lockTtl: '60000' })).errors, []);
    }
    const resolveA = await kv.call('KvResolveLock', { context: ctx, startVersion: String(startA), commitVersion: String(startA + 5n) });
    assert.equal(resolveA.error, null, JSON.stringify(resolveA.error));
    const resolveC = await kv.call('KvResolveLock', { context: ctx, startVersion: String(startC), commitVersion: '0' });
    assert.equal(resolveC.error, null, JSON.stringify(resolveC.error));
    // Model: A's puts visible, C's gone, B's locks the only ones left.
    assert.deepEqual(await snapshot('rl/', readTs), new Map(keysOf('A').map((k) => [k, `${k}=A`])));
    const locks = await kv.call('KvScanLock', { context: ctx, startKey: b('rl/'), endKey: b('rl0'), maxVersion: String(tsAt(400_000)), limit: 10_000 });
    assert.deepEqual(locks.locks.map((l) => `${l.key.toString()}@${l.lockVersion}`), keysOf('B').map((k) => `${k}@${startB}`));
    // C was rolled back on every key: it cannot commit any of them later.
    const lateC = await kv.call('KvCommit', { context: ctx, keys: keysOf('C').slice(-3).map(b), startVersion: String(startC), commitVersion: String(startC + 5n) });
    assert.ok(lateC.error !== null, 'a transaction rolled back region-wide cannot commit');
  });

  it('prewrites a Lock mutation as a lock that commits no new value; refuses malformed transactional requests as InvalidArgument', async () => {
    const start = tsAt(110_000);
    assert.deepEqual((await prewrite(start, b('lk/a'), [{ op: 'Put', key: b('lk/a'), value: b('v1') }])).errors, []);
    await commit(start, start + 1n, [b('lk/a')]);
    const start2 = tsAt(111_000);
    assert.deepEqual((await prewrite(start2, b('lk/a'), [{ op: 'Lock', key: b('lk/a') }])).errors, []);
    const lock = await kv.call('KvScanLock', { context: ctx, startKey: b('lk/'), endKey: b('lk0'), maxVersion: String(tsAt(200_000)), limit: 10 });
    assert.equal(lock.locks[0]?.lockType, 'Lock');
    const blocked = await kv.call('KvGet', { context: ctx, key: b('lk/a'), version: String(tsAt(111_500)) });
    assert.equal(blocked.error, null, 'a Lock lock does not block reads');
    assert.equal(blocked.value.toString(), 'v1');
    await commit(start2, start2 + 1n, [b('lk/a')]);
    assert.equal((await kv.call('KvGet', { context: ctx, key: b('lk/a'), version: String(tsAt(112_000)) })).value.toString(), 'v1');
    // A transaction that started before the Lock's commit conflicts with it (it is a write record).
    const conflict = await prewrite(start2 - 1n, b('lk/a'), [{ op: 'Put', key: b('lk/a'), value: b('x') }]);
    assert.ok(conflict.errors[0]?.conflict !== null && conflict.errors[0]?.conflict !== undefined, JSON.stringify(conflict.errors));

    const invalid = async (what: string, p: Promise<{ otherError: { code: string } | null }>): Promise<void> => {
      assert.equal((await p).otherError?.code, 'INVALID_ARGUMENT', what);
    };
    await invalid('start_version 0', prewrite(0n, b('lk/z'), [{ op: 'Put', key: b('lk/z'), value: b('z') }]));
    await invalid('no primary', prewrite(tsAt(113_000), Buffer.alloc(0), [{ op: 'Put', key: b('lk/z'), value: b('z') }]));
    await invalid('try_one_pc without the whole transaction', prewrite(tsAt(113_000), b('lk/z'), [{ op: 'Put', key: b('lk/z'), value: b('z') }], { tryOnePc: true, txnSize: '2' }));
    await invalid('try_one_pc without its primary', prewrite(tsAt(113_000), b('lk/y'), [{ op: 'Put', key: b('lk/z'), value: b('z') }], { tryOnePc: true }));
    await invalid('batched resolve', kv.call('KvResolveLock', { context: ctx, startVersion: String(start), txnInfos: [{ txn: String(start), status: '0' }] }));
    await invalid('commit_version 0', kv.call('KvCommit', { context: ctx, keys: [b('lk/a')], startVersion: String(start), commitVersion: '0' }));
    await invalid('check_txn_status of a key not the primary', (async () => {
      const s = tsAt(114_000);
      assert.deepEqual((await prewrite(s, b('lk/p'), [{ op: 'Put', key: b('lk/p'), value: b('p') }, { op: 'Put', key: b('lk/q'), value: b('q') }])).errors, []);
      return kv.call('KvCheckTxnStatus', { context: ctx, primaryKey: b('lk/q'), lockTs: String(s), currentTs: String(s + 1n) });
    })());
    await invalid('GC without a safe point', kv.call('KvGC', { context: ctx, safePoint: '0' }));
    // Nothing of the refused prewrites was written.
    const locks = await kv.call('KvScanLock', { context: ctx, startKey: b('lk/y'), endKey: b('lk/zz'), maxVersion: String(tsAt(200_000)), limit: 10 });
    assert.deepEqual(locks.locks, []);
  });

  it('RawDeleteRange deletes a range of several delete chunks and nothing outside it; bad raw requests are InvalidArgument', async () => {
    const count = DELETE_RANGE_CHUNK_KEYS * 2 + 321;
    const key = (i: number): Buffer => b(`dr/${String(i).padStart(5, '0')}`);
    for (let from = 0; from < count + 2; from += 1_000) {
      const pairs = [];
      for (let i = from; i < Math.min(from + 1_000, count + 2); i++) pairs.push({ key: key(i), value: b(`v${i}`) });
      assert.equal((await kv.call('RawBatchPut', { context: ctx, pairs })).otherError, null);
    }
    // Delete [1, count]: keys 0 and count+1 are just outside.
    assert.equal((await kv.call('RawDeleteRange', { context: ctx, startKey: key(1), endKey: key(count + 1) })).otherError, null);
    const left = await kv.call('RawScan', { context: ctx, startKey: b('dr/'), endKey: b('dr0'), limit: 10_000 });
    assert.deepEqual(left.kvs.map((p) => p.key.toString()), [key(0).toString(), key(count + 1).toString()]);

    const invalid = async (what: string, p: Promise<{ otherError: { code: string } | null }>): Promise<void> => {
      assert.equal((await p).otherError?.code, 'INVALID_ARGUMENT', what);
    };
    await invalid('delete range without a start key', kv.call('RawDeleteRange', { context: ctx, startKey: Buffer.alloc(0), endKey: b('dr0') }));
    await invalid('a TTL past any date', kv.call('RawPut', { context: ctx, key: b('dr/t'), value: b('t'), ttlSeconds: '18446744073709551615' }));
    await invalid('two TTLs for three pairs', kv.call('RawBatchPut', { context: ctx, pairs: [0, 1, 2].map((i) => ({ key: b(`dr/b${i}`), value: b('x') })), ttlsSeconds: ['10', '20'] }));
    const none = await kv.call('RawBatchGet', { context: ctx, keys: [b('dr/t'), b('dr/b0'), b('dr/b1')] });
    assert.deepEqual(none.pairs, [], 'refused writes wrote nothing');
  });

  it('answers ServerIsBusy past --pending-proposals-max, writes nothing it refused, keeps every write it took, and serves on', async () => {
    const stream = kv.batchCommands();
    const n = PENDING_PROPOSALS_MAX * 8;
    const answers = await stream.send(Array.from({ length: n }, (_, i) => ({ rawPut: { context: ctx, key: b(`busy/${i}`), value: b(`v${i}`) } })));
    const busy: number[] = [];
    const done: number[] = [];
    answers.forEach((a, i) => {
      const put = a.rawPut;
      assert.ok(put !== null && put !== undefined, JSON.stringify(a));
      if (put.regionError?.serverIsBusy !== null && put.regionError?.serverIsBusy !== undefined) {
        assert.ok(Number(put.regionError.serverIsBusy.backoffMs) > 0, 'a busy answer says how long to back off');
        busy.push(i);
      } else {
        assert.equal(put.regionError, null, JSON.stringify(put.regionError));
        assert.equal(put.otherError, null);
        done.push(i);
      }
    });
    assert.ok(busy.length > 0, 'past the bound some writes are refused');
    assert.ok(done.length >= 1 && done.length <= PENDING_PROPOSALS_MAX, `at most the bound are taken at once (${done.length})`);
    const got = await kv.call('RawBatchGet', { context: ctx, keys: Array.from({ length: n }, (_, i) => b(`busy/${i}`)) });
    assert.deepEqual(got.pairs.map((p) => p.key.toString()).sort(), done.map((i) => `busy/${i}`).sort(), 'exactly the taken writes are there');
    // Within the bound, everything is taken.
    const again = await stream.send(busy.slice(0, PENDING_PROPOSALS_MAX).map((i) => ({ rawPut: { context: ctx, key: b(`busy/${i}`), value: b(`v${i}`) } })));
    for (const a of again) assert.equal(a.rawPut?.regionError, null);
    stream.close();
  });

  it('serves a BatchCommands stream past its in-flight bound (reads paused, then resumed) and answers a message whose ids do not match its requests', async () => {
    await kv.call('RawPut', { context: ctx, key: b('bs/k'), value: b('v') });
    const stream = kv.batchCommands({ timeoutMs: 30_000 }); // a server that never resumes fails here
    // One message past the bound (every request of a message is taken: the server then pauses
    // reading), and two more behind it, read once answers bring it below half the bound.
    const sizes = [BATCH_STREAM_INFLIGHT_MAX + 500, 300, 300];
    const sends = sizes.map((n) => stream.send(Array.from({ length: n }, () => ({ rawGet: { context: ctx, key: b('bs/k') } }))));
    const all = (await Promise.all(sends)).flat();
    assert.equal(all.length, sizes.reduce((x, y) => x + y));
    for (const a of all) assert.equal(a.rawGet?.value.toString(), 'v');
    stream.close();

    const call = kv.raw.BatchCommands();
    const reply = new Promise<{ ids: string[]; code: string | undefined }>((resolve, reject) => {
      call.on('data', (m: { requestIds: string[]; responses: { error?: { code: string } | null }[] }) => resolve({ ids: m.requestIds, code: m.responses[0]?.error?.code }));
      call.on('error', reject);
    });
    call.write({ requests: [{ rawGet: { context: ctx, key: b('bs/k') } }, { rawGet: { context: ctx, key: b('bs/k') } }], requestIds: ['1'] });
    const r = await reply;
    assert.deepEqual(r, { ids: ['0'], code: 'INVALID_ARGUMENT' });
    call.end();
    // The store serves on.
    assert.equal((await kv.call('RawGet', { context: ctx, key: b('bs/k') })).value.toString(), 'v');
  });

  it('refuses one request past the raft entry bound (RaftEntryTooLarge, nothing written); takes requests within it whose sum is past it, arriving together', async () => {
    const big = Math.floor(RAFT_ENTRY_BYTES_MAX / 3) + 1024; // three are past the bound, two are not
    const value = (i: number): Buffer => Buffer.alloc(big, 0x61 + i);
    const tooLarge = await kv.call('RawBatchPut', { context: ctx, pairs: [0, 1, 2].map((i) => ({ key: b(`el/${i}`), value: value(i) })) });
    assert.ok(tooLarge.regionError?.raftEntryTooLarge !== null && tooLarge.regionError?.raftEntryTooLarge !== undefined, JSON.stringify(tooLarge.regionError?.message));
    assert.deepEqual((await kv.call('RawBatchGet', { context: ctx, keys: [0, 1, 2].map((i) => b(`el/${i}`)) })).pairs, []);
    // Three puts of one value each in one stream message: proposed in one round, they must not
    // be refused for their sum (each is well within the bound).
    const stream = kv.batchCommands({ timeoutMs: 60_000 });
    const answers = await stream.send([0, 1, 2].map((i) => ({ rawPut: { context: ctx, key: b(`el/${i}`), value: value(i) } })));
    stream.close();
    for (const a of answers) {
      assert.equal(a.rawPut?.regionError, null, JSON.stringify(a.rawPut?.regionError?.message));
      assert.equal(a.rawPut?.otherError, null);
    }
    for (const i of [0, 1, 2]) assert.ok((await kv.call('RawGet', { context: ctx, key: b(`el/${i}`) })).value.equals(value(i)), `el/${i}`);
  });

  it('refuses a snapshot stream that is not a snapshot for this store, typed, and serves on', async () => {
    const clusterId = BigInt(String((await cluster.storeStatus(0))['clusterId']));
    const RaftTransport = loadProtos().flotilla.raft_serverpb.RaftTransport;
    const client = new RaftTransport(cluster.stores[0]!.address, grpc.credentials.createInsecure());
    const storeId = String(cluster.stores[0]!.id);
    const send = (chunks: raft_serverpb.SnapshotChunk__Input[], clusterIdOf = clusterId): Promise<grpc.ServiceError | null> => new Promise((resolve) => {
      const call = client.Snapshot(setClusterIdMetadata(new grpc.Metadata(), clusterIdOf), (err: grpc.ServiceError | null) => resolve(err));
      for (const c of chunks) call.write(c);
      call.end();
    });
    const header = (toStoreId: string, msgType: string, withSnapshot = false): raft_serverpb.SnapshotChunk__Input => ({
      header: {
        message: {
          regionId: ctx.regionId!, fromPeer: { id: '999', storeId: '998' }, toPeer: { id: ctx.peer!.id!, storeId: toStoreId }, regionEpoch: ctx.regionEpoch!,
          message: { msgType: msgType as 'MsgSnapshot', to: ctx.peer!.id!, from: '999', term: '99', ...(withSnapshot ? { snapshot: { metadata: { index: '1000', term: '99' }, data: Buffer.from('junk') } } : {}) },
        },
      },
    });
    const cases: [string, raft_serverpb.SnapshotChunk__Input[], bigint, number, RegExp][] = [
      ['data before the header', [{ data: Buffer.from('junk') }], clusterId, grpc.status.INVALID_ARGUMENT, /must open with its header/],
      ['a header for another store', [header('424242', 'MsgSnapshot'), { data: Buffer.from('junk') }], clusterId, grpc.status.INVALID_ARGUMENT, /for store 424242 sent to store/],
      ['a header carrying no snapshot', [header(storeId, 'MsgHeartbeat')], clusterId, grpc.status.INVALID_ARGUMENT, /not a snapshot/],
      ['a heartbeat that carries a snapshot field', [header(storeId, 'MsgHeartbeat', true)], clusterId, grpc.status.INVALID_ARGUMENT, /MsgHeartbeat, not a snapshot/],
      ['another cluster', [header(storeId, 'MsgSnapshot')], clusterId + 1n, grpc.status.FAILED_PRECONDITION, /cluster/],
    ];
    try {
      for (const [what, chunks, id, code, pattern] of cases) {
        const err = await send(chunks, id);
        assert.ok(err !== null, `${what}: accepted`);
        assert.equal(err.code, code, `${what}: ${err.message}`);
        assert.match(err.details, pattern, what);
      }
    } finally {
      client.close();
    }
    const snapDir = join(cluster.stores[0]!.dataDir, 'snap');
    assert.deepEqual((await readdir(snapDir).catch(() => [])).filter((f) => !f.startsWith('.')), [], 'no payload file left behind');
    assert.equal((await kv.call('RawPut', { context: ctx, key: b('snap/after'), value: b('ok') })).regionError, null);
  });

  it('drops and counts a malformed message on the raft stream, fails a stream whose batch framing is broken, and serves on', async () => {
    const clusterId = BigInt(String((await cluster.storeStatus(0))['clusterId']));
    const dropped = async (): Promise<number> => {
      const text = await (await fetch(`http://${cluster.stores[0]!.statusAddress}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
      const line = text.split('\n').find((l) => l.startsWith('flotilla_store_raft_messages_total{') && l.includes('direction="dropped"'));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const client = new grpc.Client(cluster.stores[0]!.address, grpc.credentials.createInsecure());
    const stream = (batches: Buffer[]): Promise<grpc.ServiceError | null> => new Promise((resolve) => {
      const call = client.makeClientStreamRequest('/flotilla.raft_serverpb.RaftTransport/Raft', (x: Buffer) => x, (x: Buffer) => x,
        setClusterIdMetadata(new grpc.Metadata(), clusterId), (err: grpc.ServiceError | null) => resolve(err));
      for (const batch of batches) call.write(batch);
      call.end();
    });
    try {
      const before = await dropped();
      // msgs[0]: an empty RaftMessage (region id 0); from_store_id 5.
      assert.equal(await stream([Buffer.from([0x0a, 0x00, 0x10, 0x05])]), null, 'a batch with a malformed message is taken');
      await waitFor('the malformed message counted as dropped', async () => ((await dropped()) >= before + 1 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100 });
      // msgs[0] claims 5 bytes and has 1: the batch cannot be framed.
      const broken = await stream([Buffer.from([0x0a, 0x05, 0x01])]);
      assert.ok(broken !== null, 'a batch whose framing is broken fails the stream');
    } finally {
      client.close();
    }
    assert.equal((await kv.call('RawPut', { context: ctx, key: b('raftstream/after'), value: b('ok') })).regionError, null);
  });

  it('answers its admin actions\' bad input: malformed bodies 400, a region it does not lead 409, a split at a region boundary skipped; a good split splits', async () => {
    const post = (path: string, body: unknown) => httpJson(`http://${cluster.stores[0]!.statusAddress}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const regionId = Number(ctx.regionId);
    for (const bad of [null, [], { regionId: String(regionId) }, { regionId, keys: 'ab' }, { regionId, keys: ['xyz'] }, { regionId, keys: ['abc'] }]) {
      const r = await post('/region/split', bad);
      assert.equal(r.status, 400, `split ${JSON.stringify(bad)}`);
      assert.equal((r.body as { code: string }).code, 'InvalidArgument');
    }
    for (const bad of [{ regionId, kind: 'addWitness', storeId: 1 }, { regionId, kind: 'addLearner' }, { regionId: 'x', kind: 'removePeer', storeId: 1 }]) {
      const r = await post('/region/change-peer', bad);
      assert.equal(r.status, 400, `change-peer ${JSON.stringify(bad)}`);
      assert.equal((r.body as { code: string }).code, 'InvalidArgument');
    }
    assert.equal((await post('/region/split', { regionId: 987_654, keys: [] })).status, 409);
    assert.equal((await post('/region/change-peer', { regionId: 987_654, kind: 'addLearner', storeId: 5 })).status, 409);
    // The region is the whole key space: its start key is already a boundary.
    const skipped = await post('/region/split', { regionId, keys: [''] });
    assert.equal(skipped.status, 200);
    assert.match((skipped.body as { outcome: string }).outcome, /^skipped: /);
    const split = await post('/region/split', { regionId, keys: [b('m').toString('hex')] });
    assert.equal(split.status, 200, JSON.stringify(split.body));
    assert.equal((split.body as { outcome: string; regions: unknown[] }).outcome, 'split');
    assert.equal((split.body as { regions: unknown[] }).regions.length, 2);
  });
});

/** The write, default and latest records of the user keys under `prefix`, read from a stopped store's RocksDB. */
async function readTxnCfs(location: string, prefix: string): Promise<{
  writes: Map<string, { commitTs: bigint; write: Write }[]>;
  values: Set<string>;
  latests: Map<string, LatestRecord>;
}> {
  const engine = await RocksEngine.open(location);
  try {
    const snap = await engine.snapshot();
    try {
      const read = async (cf: DataCf) => {
        const range = cfRange(cf);
        const kvs = await snap.scan(range.start, range.end, { limit: 1_000_000 });
        return kvs.map((kv) => ({ ...decodeDataKey(kv.key), value: kv.value })).filter((d) => d.userKey.toString().startsWith(prefix));
      };
      const writes = new Map<string, { commitTs: bigint; write: Write }[]>();
      for (const d of await read('write')) {
        const k = d.userKey.toString();
        writes.set(k, [...(writes.get(k) ?? []), { commitTs: d.ts!, write: decodeWrite(d.value) }]);
      }
      const values = new Set((await read('default')).map((d) => `${d.userKey.toString()}@${d.ts!}`));
      const latests = new Map((await read('latest')).map((d) => [d.userKey.toString(), decodeLatest(d.value)]));
      return { writes, values, latests };
    } finally {
      await snap.release();
    }
  } finally {
    await engine.close();
  }
}
