// Bad input against a real store process (1 PD + 1 store, real RocksDB and gRPC): thousands of
// seeded random KV requests over every unary method and the BatchCommands stream — nonsense
// timestamps, keys and values of every size around the limits, duplicate and empty keys, wrong or
// missing routing (region, epoch, peer, term), contradictory options — plus raw garbage bytes that
// are not protobuf at all. Keys mostly share a small space, so the random transactions meet each
// other's locks and records.
//
// Judged: every answer is a success or a typed error (a region error with its kind, a KeyError
// with its kind, an `other_error` code, or a gRPC status other than INTERNAL/UNKNOWN), never a
// crash or a hang; canary transactions committed before and between the fuzz batches (on keys of
// their own) read back unchanged; the store still serves and never logged a fatal line.
// Replay: FLOTILLA_FUZZ_SEED=<seed>; more: FLOTILLA_FUZZ_REQUESTS=<n>.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createRng, grpc, type Rng } from '../../common/index.js';
import type { kvrpcpb, kvservicepb } from '../../proto/index.js';
import { KEY_BYTES_MAX, SHORT_VALUE_BYTES_MAX } from '../../txn/index.js';
import { fuzzU64, pick } from '../support/fuzz.js';
import { type KvTestClient, type KvUnaryMethods, StoreTestCluster } from '../support/store-cluster.js';

const SEED = Number(process.env['FLOTILLA_FUZZ_SEED'] ?? Date.now() % 1_000_000);
const REQUESTS = Number(process.env['FLOTILLA_FUZZ_REQUESTS'] ?? 12_000);
const BATCH = 40;

const u64 = fuzzU64;

/** Timestamps near the test's start (a store refuses ones far ahead of its clock). */
const TS_BASE = BigInt(Date.now() - 60_000) << 18n;

/** A timestamp: mostly plausible ones close together (so transactions interact), else u64(). */
function ts(rng: Rng): string {
  return rng.chance(0.75) ? String(TS_BASE + BigInt(rng.nextInt(4_000))) : u64(rng);
}

function randomBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.nextInt(256);
  return b;
}

/** A key: mostly one of a few dozen in the fuzz space, else empty, random, at or past the limit. */
function key(rng: Rng): Buffer {
  const r = rng.nextInt(100);
  if (r < 70) return Buffer.from(`fz/${rng.nextInt(40)}`);
  if (r < 75) return Buffer.alloc(0);
  if (r < 85) return randomBytes(rng, rng.nextInt(24));
  if (r < 90) return Buffer.concat([Buffer.from('fz/'), randomBytes(rng, rng.nextInt(40))]);
  if (r < 95) return Buffer.alloc(KEY_BYTES_MAX + rng.nextInt(3) - 1, 0x66);
  return Buffer.alloc(KEY_BYTES_MAX * 2 + rng.nextInt(1_000), 0x67);
}

function keys(rng: Rng): Buffer[] {
  const n = rng.chance(0.05) ? rng.nextInt(300) : rng.nextInt(6);
  return Array.from({ length: n }, () => key(rng));
}

/** A value of every size class: empty, short, around the inline bound, large. */
function value(rng: Rng): Buffer {
  switch (rng.nextInt(6)) {
    case 0: return Buffer.alloc(0);
    case 1: return Buffer.alloc(SHORT_VALUE_BYTES_MAX + rng.nextInt(3) - 1, 0x76);
    case 2: return rng.chance(0.2) ? Buffer.alloc(200_000 + rng.nextInt(100_000), 0x77) : randomBytes(rng, rng.nextInt(3_000));
    default: return randomBytes(rng, rng.nextInt(40));
  }
}

function mutation(rng: Rng): kvrpcpb.Mutation__Input {
  return { op: pick(rng, ['Put', 'Del', 'Lock', 'Insert', 'CheckNotExists'] as const), key: key(rng), value: rng.chance(0.7) ? value(rng) : Buffer.alloc(0) };
}

/** The routing context: right most of the time (so requests reach the handlers), else wrong in one way. */
function context(rng: Rng, good: kvrpcpb.Context__Input): kvrpcpb.Context__Input | null {
  const r = rng.nextInt(100);
  if (r < 80) return { ...good, term: rng.chance(0.1) ? u64(rng) : '0', priority: pick(rng, ['Normal', 'Low', 'High'] as const), notFillCache: rng.chance(0.2), syncLog: rng.chance(0.2) };
  switch (r % 8) {
    case 0: return null;
    case 1: return { ...good, regionId: u64(rng) };
    case 2: return { ...good, regionEpoch: rng.chance(0.5) ? null : { confVer: u64(rng), version: u64(rng) } };
    case 3: return { ...good, peer: rng.chance(0.5) ? null : { id: u64(rng), storeId: u64(rng) } };
    case 4: return { ...good, replicaRead: true };
    case 5: return { ...good, staleRead: true, replicaRead: rng.chance(0.5) };
    case 6: return { ...good, resolvedLocks: Array.from({ length: rng.nextInt(5) }, () => ts(rng)), isRetryRequest: true };
    default: return { ...good, maxExecutionDurationMs: u64(rng), requestSource: 'x'.repeat(rng.nextInt(300)) };
  }
}

type Call = { [K in keyof KvUnaryMethods]: [K, KvUnaryMethods[K][0]] }[keyof KvUnaryMethods];

/** A random request of a random KV method. */
function randomCall(rng: Rng, good: kvrpcpb.Context__Input): Call {
  const ctx = context(rng, good);
  const limit = rng.chance(0.1) ? rng.nextU32() : rng.nextInt(50);
  switch (rng.nextInt(21)) {
    case 0: return ['RawGet', { context: ctx, key: key(rng) }];
    case 1: return ['RawBatchGet', { context: ctx, keys: keys(rng) }];
    case 2: return ['RawPut', { context: ctx, key: key(rng), value: value(rng), ttlSeconds: rng.chance(0.8) ? '0' : u64(rng) }];
    case 3: {
      const pairs = keys(rng).map((k) => ({ key: k, value: value(rng) }));
      return ['RawBatchPut', { context: ctx, pairs, ttlsSeconds: rng.chance(0.8) ? [] : Array.from({ length: rng.nextInt(pairs.length + 2) }, () => u64(rng)) }];
    }
    case 4: return ['RawDelete', { context: ctx, key: key(rng) }];
    case 5: return ['RawBatchDelete', { context: ctx, keys: keys(rng) }];
    case 6: return ['RawDeleteRange', { context: ctx, startKey: key(rng), endKey: key(rng) }];
    case 7: return ['RawScan', { context: ctx, startKey: key(rng), endKey: key(rng), limit, keyOnly: rng.chance(0.3), reverse: rng.chance(0.3) }];
    case 8: return ['RawCompareAndSwap', { context: ctx, key: key(rng), value: value(rng), previousValue: value(rng), previousNotExist: rng.chance(0.5), ttlSeconds: rng.chance(0.8) ? '0' : u64(rng) }];
    case 9: return ['KvGet', { context: ctx, key: key(rng), version: ts(rng) }];
    case 10: return ['KvBatchGet', { context: ctx, keys: keys(rng), version: ts(rng) }];
    case 11: return ['KvScan', { context: ctx, startKey: key(rng), endKey: key(rng), limit, version: ts(rng), keyOnly: rng.chance(0.3), reverse: rng.chance(0.3) }];
    case 12: {
      const mutations = Array.from({ length: rng.chance(0.05) ? rng.nextInt(200) : rng.nextInt(5) }, () => mutation(rng));
      const primary = mutations.length > 0 && rng.chance(0.8) ? mutations[0]!.key! : key(rng);
      return ['KvPrewrite', {
        context: ctx, mutations, primaryLock: primary, startVersion: ts(rng), lockTtl: rng.chance(0.8) ? String(rng.nextInt(20_000)) : u64(rng),
        skipConstraintCheck: rng.chance(0.1), txnSize: rng.chance(0.8) ? String(mutations.length) : u64(rng), minCommitTs: rng.chance(0.7) ? '0' : ts(rng),
        maxCommitTs: rng.chance(0.7) ? '0' : ts(rng), tryOnePc: rng.chance(0.3),
      }];
    }
    case 13: return ['KvCommit', { context: ctx, keys: keys(rng), startVersion: ts(rng), commitVersion: ts(rng) }];
    case 14: return ['KvBatchRollback', { context: ctx, startVersion: ts(rng), keys: keys(rng) }];
    case 15: return ['KvCleanup', { context: ctx, key: key(rng), startVersion: ts(rng), currentTs: ts(rng) }];
    case 16: return ['KvCheckTxnStatus', { context: ctx, primaryKey: key(rng), lockTs: ts(rng), callerStartTs: ts(rng), currentTs: ts(rng), rollbackIfNotExist: rng.chance(0.5) }];
    case 17: return ['KvResolveLock', {
      context: ctx, startVersion: ts(rng), commitVersion: rng.chance(0.5) ? '0' : ts(rng),
      txnInfos: rng.chance(0.8) ? [] : Array.from({ length: rng.nextInt(4) }, () => ({ txn: ts(rng), status: u64(rng) })), keys: rng.chance(0.3) ? [] : keys(rng),
    }];
    case 18: return ['KvTxnHeartBeat', { context: ctx, primaryLock: key(rng), startVersion: ts(rng), adviseLockTtl: rng.chance(0.8) ? String(rng.nextInt(60_000)) : u64(rng) }];
    case 19: return ['KvScanLock', { context: ctx, maxVersion: ts(rng), startKey: key(rng), endKey: key(rng), limit }];
    default: return ['KvGC', { context: ctx, safePoint: rng.chance(0.5) ? ts(rng) : u64(rng) }];
  }
}

/** The BatchCommands field of each unary method. */
const STREAM_FIELD: Readonly<Record<keyof KvUnaryMethods, keyof kvservicepb.KvRequest__Input>> = {
  RawGet: 'rawGet', RawBatchGet: 'rawBatchGet', RawPut: 'rawPut', RawBatchPut: 'rawBatchPut', RawDelete: 'rawDelete', RawBatchDelete: 'rawBatchDelete',
  RawDeleteRange: 'rawDeleteRange', RawScan: 'rawScan', RawCompareAndSwap: 'rawCompareAndSwap', KvGet: 'get', KvBatchGet: 'batchGet', KvScan: 'scan',
  KvPrewrite: 'prewrite', KvCommit: 'commit', KvBatchRollback: 'batchRollback', KvCleanup: 'cleanup', KvCheckTxnStatus: 'checkTxnStatus',
  KvResolveLock: 'resolveLock', KvTxnHeartBeat: 'txnHeartBeat', KvScanLock: 'scanLock', KvGC: 'gc',
};

const CODE = /^[A-Z][A-Z_]*$/;

interface Answer {
  readonly regionError?: { readonly message?: string; readonly kind?: string | null } | null;
  readonly otherError?: { readonly code: string; readonly message?: string } | null;
  readonly error?: KeyErrorLike | string | null;
  readonly errors?: readonly KeyErrorLike[];
}
interface KeyErrorLike {
  readonly kind?: string | null;
  readonly message?: string;
}

/** Why an answer is not typed, or null when it is. */
function untyped(a: Answer): string | null {
  if (a.regionError !== null && a.regionError !== undefined && (a.regionError.kind === null || a.regionError.kind === undefined)) return `a region error without a kind: ${JSON.stringify(a.regionError)}`;
  const other = a.otherError;
  if (other !== null && other !== undefined && (!CODE.test(other.code) || other.code === 'INTERNAL' || other.code === 'ERROR_CODE_UNSPECIFIED')) return `other_error ${other.code}: ${other.message ?? ''}`;
  const keyErrors = [...(a.errors ?? []), ...(typeof a.error === 'object' && a.error !== null ? [a.error] : [])];
  for (const e of keyErrors) if (e.kind === null || e.kind === undefined) return `a key error without a kind: ${JSON.stringify(e)}`;
  return null;
}

/** A short name for an outcome (the tally printed at the end). */
function outcome(a: Answer): string {
  if (a.regionError?.kind) return `region:${a.regionError.kind}`;
  if (a.otherError) return a.otherError.code;
  const first = a.errors?.[0] ?? (typeof a.error === 'object' ? a.error : null);
  if (first?.kind) return `key:${first.kind}`;
  return 'OK';
}

describe('flotilla-store under fuzzed bad input (real process)', () => {
  let cluster: StoreTestCluster;
  let kv: KvTestClient;
  let ctx: kvrpcpb.Context__Input;

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 1, pdCount: 1 });
    ctx = await cluster.leaderContext(0);
    kv = cluster.kvClient(0);
  });
  after(async () => {
    await cluster?.stop();
  });

  it('refuses a prewrite whose start_ts or min_commit_ts would push commit timestamps past u64 max or far ahead, and a heartbeat past the TTL limit; commits in one phase after it', async () => {
    const k = Buffer.from('onepc/after-bad');
    const prewrite = (extra: Partial<kvrpcpb.PrewriteRequest__Input>): Promise<kvrpcpb.PrewriteResponse> =>
      kv.call('KvPrewrite', { context: ctx, mutations: [{ op: 'Put', key: k, value: Buffer.from('v') }], primaryLock: k, startVersion: String(TS_BASE + 500_000n), lockTtl: '3000', txnSize: '1', ...extra });
    const U64_MAX = '18446744073709551615';
    // The leader commits in one phase once it has synced with PD: until then a prewrite falls
    // back to a lock and never meets the one-phase floor check.
    const deadline = Date.now() + 30_000;
    for (let i = 0; ; i++) {
      const warm = Buffer.from(`onepc/warm/${i}`);
      const r = await kv.call('KvPrewrite', { context: ctx, mutations: [{ op: 'Put', key: warm, value: Buffer.from('v') }], primaryLock: warm, startVersion: String(TS_BASE + 400_000n + BigInt(i)), lockTtl: '3000', txnSize: '1', tryOnePc: true });
      if (r.onePcCommitTs !== '0') break;
      assert.ok(Date.now() < deadline, `no one-phase commit within 30 s: ${JSON.stringify(r)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const [what, extra] of [
      ['one-phase, min_commit_ts u64 max', { tryOnePc: true, minCommitTs: U64_MAX }],
      ['one-phase, min_commit_ts a day ahead', { tryOnePc: true, minCommitTs: String(TS_BASE + (86_400_000n << 18n)) }],
      ['one-phase, start_ts u64 max', { tryOnePc: true, startVersion: U64_MAX }],
      ['two-phase, start_ts u64 max', { startVersion: U64_MAX }],
    ] as const) {
      const r = await prewrite(extra);
      assert.equal(r.otherError?.code, 'INVALID_ARGUMENT', `${what}: ${JSON.stringify(r)}`);
    }
    // A heartbeat advising a TTL past the lock TTL limit (a u64 once reached the lock encoder).
    const beat = await kv.call('KvTxnHeartBeat', { context: ctx, primaryLock: k, startVersion: String(TS_BASE + 500_000n), adviseLockTtl: U64_MAX });
    assert.ok(beat.otherError?.code === 'INVALID_ARGUMENT' || beat.otherError?.code === 'LIMIT_EXCEEDED', JSON.stringify(beat));
    // Nothing was poisoned: a one-phase commit picks a sane commit_ts (or falls back to a lock).
    const ok = await prewrite({ tryOnePc: true });
    assert.deepEqual([ok.regionError, ok.otherError, ok.errors], [null, null, []], JSON.stringify(ok));
    const committed = BigInt(ok.onePcCommitTs);
    assert.ok(committed === 0n || (committed > TS_BASE + 500_000n && committed < BigInt(Date.now() + 60_000) << 18n), `one-phase commit_ts ${committed}`);
  });

  it(`answers ${REQUESTS} random requests, unary and streamed, with typed outcomes, keeps every canary and serves on (seed ${SEED})`, async () => {
    const rng = createRng(SEED);
    const replay = `FLOTILLA_FUZZ_SEED=${SEED} node --test dist/test/store/kv-fuzz.integration.test.js`;
    const tally = new Map<string, number>();
    const count = (name: string): void => void tally.set(name, (tally.get(name) ?? 0) + 1);
    // Canaries are committed transactions on keys of their own: the fuzz's raw range deletes can
    // reach any raw key, and its transactional requests (point keys; GC keeps the newest version)
    // meet these keys only by a 2^-100 chance.
    const canaries = new Map<string, Buffer>();
    const writeCanary = async (i: number): Promise<void> => {
      const k = Buffer.from(`canary/${i}/${randomBytes(rng, 12).toString('hex')}`);
      const v = randomBytes(rng, 1 + rng.nextInt(2_000));
      const startTs = String(TS_BASE + 100_000n + BigInt(i) * 10n);
      const pre = await kv.call('KvPrewrite', { context: ctx, mutations: [{ op: 'Put', key: k, value: v }], primaryLock: k, startVersion: startTs, lockTtl: '3000', txnSize: '1' });
      assert.deepEqual([pre.regionError, pre.otherError, pre.errors], [null, null, []], `canary ${k.toString()}`);
      const commit = await kv.call('KvCommit', { context: ctx, keys: [k], startVersion: startTs, commitVersion: String(BigInt(startTs) + 1n) });
      assert.deepEqual([commit.regionError, commit.otherError, commit.error], [null, null, null], `canary ${k.toString()}`);
      canaries.set(k.toString(), v);
    };
    for (let i = 0; i < 20; i++) await writeCanary(i);

    const stream = kv.batchCommands();
    try {
      for (let sent = 0; sent < REQUESTS; sent += BATCH) {
        const calls = Array.from({ length: BATCH }, () => randomCall(rng, ctx));
        const unary = calls.slice(0, BATCH / 2);
        const streamed = calls.slice(BATCH / 2);
        const unaryAnswers = unary.map(([method, req]) => kv.call(method, req as never, { timeoutMs: 30_000 }).then(
          (r: Answer) => ({ method, answer: r, grpcCode: null as number | null }),
          (err: grpc.ServiceError) => ({ method, answer: null, grpcCode: err.code ?? -1 }),
        ));
        const streamAnswers = stream.send(streamed.map(([method, req]): kvservicepb.KvRequest__Input => ({ [STREAM_FIELD[method]]: req })));
        for (const { method, answer, grpcCode } of await Promise.all(unaryAnswers)) {
          if (answer === null) {
            assert.ok(grpcCode !== grpc.status.INTERNAL && grpcCode !== grpc.status.UNKNOWN && grpcCode !== grpc.status.UNAVAILABLE && grpcCode !== grpc.status.DEADLINE_EXCEEDED,
              `${method}: gRPC status ${grpcCode}; replay: ${replay}`);
            count(`grpc:${grpcCode}`);
            continue;
          }
          const why = untyped(answer);
          assert.equal(why, null, `${method}: ${why}; replay: ${replay}`);
          count(outcome(answer));
        }
        const answers = await streamAnswers;
        assert.equal(answers.length, streamed.length);
        answers.forEach((resp, i) => {
          const method = streamed[i]![0];
          const field = STREAM_FIELD[method];
          if (resp.error !== null && resp.error !== undefined) {
            assert.ok(CODE.test(resp.error.code) && resp.error.code !== 'INTERNAL', `stream ${method}: ${JSON.stringify(resp.error)}; replay: ${replay}`);
            count(`stream:${resp.error.code}`);
            return;
          }
          const answer = resp[field as keyof kvservicepb.KvResponse] as Answer | null | undefined;
          assert.ok(answer !== null && answer !== undefined, `stream ${method}: answered with ${resp.cmd} instead of ${field}; replay: ${replay}`);
          const why = untyped(answer);
          assert.equal(why, null, `stream ${method}: ${why}; replay: ${replay}`);
          count(`stream:${outcome(answer)}`);
        });
        if (sent % (BATCH * 10) === 0) await writeCanary(20 + sent / BATCH);
      }
    } finally {
      stream.close();
    }

    // The fuzzer reached the handlers (not only the routing checks) and was refused often.
    const ok = (tally.get('OK') ?? 0) + (tally.get('stream:OK') ?? 0);
    const invalid = (tally.get('INVALID_ARGUMENT') ?? 0) + (tally.get('stream:INVALID_ARGUMENT') ?? 0);
    const summary = JSON.stringify([...tally].sort((a, b) => b[1] - a[1]));
    assert.ok(ok > REQUESTS / 10, `too few requests succeeded: ${summary}`);
    assert.ok(invalid > REQUESTS / 20, `too few requests were refused as InvalidArgument: ${summary}`);
    assert.ok([...tally.keys()].some((k) => k.includes('key:')), `no transaction met another's lock or record: ${summary}`);

    // Garbage that is not protobuf at all, straight onto the wire.
    const raw = new grpc.Client(cluster.stores[0]!.address, grpc.credentials.createInsecure());
    try {
      for (let i = 0; i < 200; i++) {
        const junk = randomBytes(rng, rng.chance(0.1) ? rng.nextInt(20_000) : rng.nextInt(24));
        const method = pick(rng, ['RawGet', 'RawPut', 'KvGet', 'KvPrewrite', 'KvCommit', 'KvScan', 'KvResolveLock']);
        const code = await new Promise<number>((resolve) => {
          raw.makeUnaryRequest(`/flotilla.kvservicepb.Kv/${method}`, (b: Buffer) => b, (b: Buffer) => b, junk, { deadline: new Date(Date.now() + 5_000) }, (err) => resolve(err === null ? 0 : err.code));
        });
        assert.notEqual(code, grpc.status.UNAVAILABLE, `the store went away after garbage to ${method}; replay: ${replay}`);
        assert.notEqual(code, grpc.status.DEADLINE_EXCEEDED, `the store hung on garbage to ${method}; replay: ${replay}`);
        assert.notEqual(code, grpc.status.UNIMPLEMENTED, `no such method ${method}: the garbage reached nothing`);
      }
    } finally {
      raw.close();
    }

    // Every canary reads back as written; the store serves a fresh write; it never logged a fatal line.
    const back = await kv.call('KvBatchGet', { context: ctx, keys: [...canaries.keys()].map((k) => Buffer.from(k)), version: '18446744073709551615' });
    assert.deepEqual([back.regionError, back.otherError, back.error], [null, null, null]);
    const found = new Map(back.pairs.map((p) => [p.key.toString(), p.value]));
    for (const [k, v] of canaries) assert.ok(found.get(k)?.equals(v), `canary ${k} lost or changed; replay: ${replay}`);
    await writeCanary(1_000_000);
    assert.equal(cluster.stores[0]!.process.isRunning, true, 'the store process still runs');
    const log = await readFile(cluster.stores[0]!.process.logPath, 'utf8');
    assert.ok(!log.includes('"level":"fatal"') && !log.includes('"level":60'), `the store logged a fatal line; replay: ${replay}`);
    console.log(`kv fuzz (seed ${SEED}): ${summary}`);
  });
});
