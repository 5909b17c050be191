// The lock resolver's decision table (client/lock-resolver.ts) over every fate a lock's primary can
// report, judged against the rules written out here — not against how the resolver computes them:
//
//   committed at c     → the locks met are resolved at c; nothing blocks, nothing is bypassed
//   rolled back        → the locks met are resolved at 0
//   alive              → a reader (caller ts ≠ 0) bypasses it iff its min_commit_ts > the reader's
//                        ts; a writer (caller ts 0) never bypasses; otherwise every lock met blocks
//   not found (alive)  → blocks (min_commit_ts unknown)
//   large transaction  → (txn_size ≥ LARGE_TXN_KEYS) a final fate also starts one region-wide
//                        resolve (ResolveLock without keys) in the background; a smaller one never
//   remembered         → a final fate (committed, rolled back) is remembered: the next resolve of
//                        the same transaction does not ask the primary again; a live one is never
//                        remembered: the primary is asked again and its new fate applies
//
// Every fate × caller (writer, reader below, at and above min_commit_ts) × transaction size at
// the boundary (1, 15, 16, 17) × what the primary says the second time. Fake store, real gRPC.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelCache, channelCredentials, composeTs, INSECURE, silentLogger, type Ts } from '../../common/index.js';
import type { kvservicepb } from '../../proto/index.js';
import { KvRpc } from '../../client/kv-rpc.js';
import { LARGE_TXN_KEYS, LockResolver } from '../../client/lock-resolver.js';
import { ClientMetrics } from '../../client/metrics.js';
import { FakeDirectory, FakeStore, type FakeScript, type Received } from '../support/fake-kv-store.js';

type Fate =
  | { readonly kind: 'committed'; readonly commitTs: Ts }
  | { readonly kind: 'rolledBack' }
  | { readonly kind: 'alive'; readonly minCommitTs: Ts }
  | { readonly kind: 'notFound' };

function answerOf(fate: Fate): kvservicepb.KvResponse__Input {
  switch (fate.kind) {
    case 'committed':
      return { checkTxnStatus: { commitVersion: String(fate.commitTs), lockTtl: '0', action: 'NoAction' } };
    case 'rolledBack':
      return { checkTxnStatus: { commitVersion: '0', lockTtl: '0', action: 'LockNotExistRollback' } };
    case 'alive':
      return {
        checkTxnStatus: {
          commitVersion: '0', lockTtl: '60000', action: 'MinCommitTSPushed',
          lockInfo: { primaryLock: Buffer.from('p'), lockVersion: '1', key: Buffer.from('p'), lockTtl: '60000', txnSize: '1', lockType: 'Put', minCommitTs: String(fate.minCommitTs) },
        },
      };
    case 'notFound':
      return { checkTxnStatus: { error: { message: 'txn not found', txnNotFound: {} }, commitVersion: '0', lockTtl: '0', action: 'NoAction' } };
  }
}

/** What the rules say one resolve does with `fate` for a caller at `callerTs`. */
function expected(fate: Fate, callerTs: Ts, startTs: Ts, locks: number, txnSize: number): { bypass: Ts[]; blocked: number; resolveAt: Ts | null; regionWide: boolean } {
  switch (fate.kind) {
    case 'committed':
      return { bypass: [], blocked: 0, resolveAt: fate.commitTs, regionWide: txnSize >= LARGE_TXN_KEYS };
    case 'rolledBack':
      return { bypass: [], blocked: 0, resolveAt: 0n, regionWide: txnSize >= LARGE_TXN_KEYS };
    case 'alive':
      return callerTs !== 0n && fate.minCommitTs > callerTs ? { bypass: [startTs], blocked: 0, resolveAt: null, regionWide: false } : { bypass: [], blocked: locks, resolveAt: null, regionWide: false };
    case 'notFound':
      return { bypass: [], blocked: locks, resolveAt: null, regionWide: false };
  }
}

const isFinal = (f: Fate): boolean => f.kind === 'committed' || f.kind === 'rolledBack';

describe('lock resolver decision table (fake store, real gRPC)', () => {
  const log: Received[] = [];
  let primaryFate: Fate = { kind: 'rolledBack' };
  const script: FakeScript = (_s, r) => {
    if (r.cmd === 'checkTxnStatus') return { answer: answerOf(primaryFate) };
    if (r.cmd === 'resolveLock') return { answer: { resolveLock: {} } };
    throw new Error(`unexpected ${String(r.cmd)}`);
  };
  let store: FakeStore;
  let channels: ChannelCache;
  let rpc: KvRpc;

  before(async () => {
    store = await FakeStore.start(1, log, () => script);
    const dir = new FakeDirectory();
    dir.regions = [{ region: { id: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: [{ id: 11, storeId: 1, role: 'voter' }] }, leader: { id: 11, storeId: 1, role: 'voter' } }];
    dir.stores.set(1, store.address);
    channels = new ChannelCache(await channelCredentials(INSECURE));
    rpc = new KvRpc({ pd: dir, channels, logger: silentLogger(), metrics: new ClientMetrics() });
  });
  after(async () => {
    rpc.close();
    channels.close();
    await store.stop();
  });
  afterEach(() => {
    log.length = 0;
  });

  it('every fate × caller × transaction size × second answer follows the rules; only final fates are remembered', async () => {
    const nowMs = 5_000_000;
    const readerTs = composeTs(nowMs - 100, 0);
    const fates = (startTs: Ts): Fate[] => [
      { kind: 'committed', commitTs: startTs + 10n },
      { kind: 'rolledBack' },
      { kind: 'alive', minCommitTs: readerTs - 1n },
      { kind: 'alive', minCommitTs: readerTs },
      { kind: 'alive', minCommitTs: readerTs + 1n },
      { kind: 'notFound' },
    ];
    const counts = { cases: 0, remembered: 0, askedAgain: 0, bypassed: 0, regionWide: 0 };
    let txn = 0;
    for (const callerTs of [0n, readerTs]) {
      for (const txnSize of [1, LARGE_TXN_KEYS - 1, LARGE_TXN_KEYS, LARGE_TXN_KEYS + 1]) {
        for (const firstIdx of fates(0n).keys()) {
          for (const secondIdx of fates(0n).keys()) {
            txn++;
            const startTs = composeTs(nowMs - 1_000, txn);
            const first = fates(startTs)[firstIdx]!;
            const second = fates(startTs)[secondIdx]!;
            const where = `caller ${callerTs}, size ${txnSize}, first ${JSON.stringify(first, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}, second ${second.kind}`;
            const background: Promise<void>[] = [];
            const resolver = new LockResolver(rpc, () => Promise.resolve(composeTs(nowMs, 0)), new ClientMetrics(), silentLogger(), (w) => void background.push(w));
            const locks = [
              { key: Buffer.from('a'), primary: Buffer.from('p'), startTs, ttlMs: 60_000, txnSize, minCommitTs: startTs + 1n },
              { key: Buffer.from('b'), primary: Buffer.from('p'), startTs, ttlMs: 60_000, txnSize, minCommitTs: startTs + 1n },
            ];
            // First resolve.
            log.length = 0;
            primaryFate = first;
            const out1 = await resolver.resolve(locks, callerTs, Date.now() + 5_000);
            await Promise.allSettled(background.splice(0));
            judge(out1, first, 'first');
            // Second resolve: the primary now reports `second`.
            log.length = 0;
            primaryFate = second;
            const out2 = await resolver.resolve(locks, callerTs, Date.now() + 5_000);
            await Promise.allSettled(background.splice(0));
            const asked = log.filter((x) => x.cmd === 'checkTxnStatus').length;
            if (isFinal(first)) {
              assert.equal(asked, 0, `${where}: a final fate is remembered, the primary is not asked again`);
              judge(out2, first, 'second (remembered)', { regionWideAgain: false });
              counts.remembered++;
            } else {
              assert.equal(asked, 1, `${where}: a live transaction's fate is asked again`);
              judge(out2, second, 'second (asked again)');
              counts.askedAgain++;
            }
            counts.cases++;

            function judge(out: { bypass: Ts[]; blocked: number }, fate: Fate, which: string, options: { regionWideAgain: boolean } = { regionWideAgain: true }): void {
              const want = expected(fate, callerTs, startTs, locks.length, txnSize);
              assert.deepEqual(out.bypass, want.bypass, `${where} (${which}): bypass`);
              assert.equal(out.blocked, want.blocked, `${where} (${which}): blocked`);
              if (want.bypass.length > 0) counts.bypassed++;
              const resolves = log.filter((x) => x.cmd === 'resolveLock').map((x) => x.request.resolveLock!);
              const byKey = resolves.filter((r) => r.keys.length > 0);
              const regionWide = resolves.filter((r) => r.keys.length === 0);
              if (want.resolveAt === null) {
                assert.equal(resolves.length, 0, `${where} (${which}): nothing is resolved`);
                return;
              }
              assert.deepEqual(byKey.flatMap((r) => r.keys.map((k) => k.toString())).sort(), ['a', 'b'], `${where} (${which}): every lock met is resolved`);
              for (const r of resolves) {
                assert.equal(r.startVersion, String(startTs), `${where} (${which}): resolved transaction`);
                assert.equal(r.commitVersion, String(want.resolveAt), `${where} (${which}): resolved at`);
              }
              // One region-wide resolve per (transaction, region): not started again on a repeat.
              const wantRegionWide = want.regionWide && options.regionWideAgain ? 1 : 0;
              assert.equal(regionWide.length, wantRegionWide, `${where} (${which}): region-wide resolves (txn_size ${txnSize}, threshold ${LARGE_TXN_KEYS})`);
              counts.regionWide += regionWide.length;
            }
          }
        }
      }
    }
    for (const [name, n] of Object.entries(counts)) assert.ok(n > 0, `coverage: ${name} is 0 (${JSON.stringify(counts)})`);
  });
});
