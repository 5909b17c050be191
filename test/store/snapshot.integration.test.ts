// Region snapshots on real processes (1 PD + 3 stores, real RocksDB and gRPC, a tiny raft log GC
// limit so the leader compacts past a store that is down): a crash of the receiving store between
// snapshot chunks, and in the middle of installing one (the 'applying' region state is durable, the
// region's ranges half rewritten), each leaves it recoverable — after a restart it finishes or
// re-fetches the snapshot and holds every acknowledged write. The payload is > 1 chunk (1 MiB).
// And a snapshot of more keys than one generator scan page in every data CF arrives whole (the
// coverage run found no snapshot that had ever needed a second page).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cfRange, type DataCf, decodeDataKey } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { RocksEngine } from '../../store/engine/index.js';
import { SNAPSHOT_SCAN_PAGE_KEYS } from '../../store/snapshot/limits.js';
import { FAILPOINT_SNAPSHOT_APPLY_BATCH, FAILPOINT_SNAPSHOT_RECEIVE_CHUNK } from '../../store/snapshot/index.js';
import { SHORT_VALUE_BYTES_MAX } from '../../txn/index.js';
import { StoreTestCluster } from '../support/store-cluster.js';
import { GC_ARGS, GC_COUNT_LIMIT, RegionProbe } from '../support/store-regions.js';

const COUNT_LIMIT = GC_COUNT_LIMIT;
/** 4 KiB values: 400 keys make a payload of ~1.6 MiB, two chunks at least. */
const VALUE_BYTES = 4096;

describe('region snapshots: crashes of the receiving store', () => {
  let cluster: StoreTestCluster;
  let probe: RegionProbe;

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: GC_ARGS });
    probe = new RegionProbe(cluster);
  });
  after(async () => {
    await cluster?.stop();
  });

  /** Kills a follower, writes past the GC limit so the log is compacted past it; returns the follower. */
  const leaveBehind = async (prefix: string): Promise<number> => {
    const leader = await probe.leader();
    const victim = (leader.index + 1) % 3;
    const victimApplied = (await probe.mustRegionOf(victim)).appliedIndex;
    await cluster.killStore(victim);
    await probe.writeKeys(leader, prefix, 400, VALUE_BYTES);
    await waitFor('the leader to compact past the down store', async () => ((await probe.mustRegionOf(leader.index)).truncatedIndex > victimApplied ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    return victim;
  };

  const regionTerm = async (i: number): Promise<number> => {
    const status = await cluster.storeStatus(i);
    return ((status['regions'] as { term: number }[] | undefined)?.[0]?.term) ?? 0;
  };

  const catchUpAndCheck = async (victim: number): Promise<void> => {
    const leader = await probe.leader(new Set([victim]));
    await probe.waitApplied(victim, (await probe.mustRegionOf(leader.index)).appliedIndex);
    await probe.assertStoppedReplicaHolds(victim);
    await cluster.restartStore(victim);
    await probe.readAll(await probe.leader());
  };

  it('a snapshot taken after a leader change carries the applied entry\'s term, not the compacted one\'s', async () => {
    // Compact past a down follower in one term, move leadership (a new term), then write fewer
    // entries than the GC limit: the snapshot's index is in the new term, the truncated log's
    // last entry in the old one. A wrong snapshot term would fail the new leader's next append.
    const leader = await probe.leader();
    const victim = (leader.index + 1) % 3;
    const other = (leader.index + 2) % 3;
    const victimApplied = (await probe.mustRegionOf(victim)).appliedIndex;
    await cluster.killStore(victim);
    await probe.writeKeys(leader, 't', COUNT_LIMIT * 3);
    await waitFor('the leader to compact past the down store', async () => ((await probe.mustRegionOf(leader.index)).truncatedIndex > victimApplied ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    // Leave the log just compacted (few entries held), so the writes after the leader change stay
    // below the GC limit and the truncated index stays in the old term.
    let n = 0;
    await waitFor('a fresh compaction', async () => {
      const r = await probe.mustRegionOf(leader.index);
      if (r.appliedIndex - r.truncatedIndex <= 8) return true;
      await probe.writeKeys(leader, `t${n++}`, 8);
      return undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const lastOldTermIndex = (await probe.mustRegionOf(leader.index)).appliedIndex;
    const termBefore = await regionTerm(leader.index);
    await waitFor('leadership to move to the other live store', async () => {
      if ((await probe.regionOf(other))?.isLeader === true) return true;
      const pd = await cluster.pd.waitForLeader();
      await fetch(cluster.pd.httpUrl(pd, 'operators'), {
        method: 'POST', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5_000),
        body: JSON.stringify({ regionId: leader.region.id, kind: 'transfer-leader', toStoreId: cluster.stores[other]!.id }),
      }).catch(() => undefined);
      return undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    const now = await probe.leader(new Set([victim]));
    assert.ok((await regionTerm(now.index)) > termBefore, 'a new term');
    await probe.writeKeys(now, 'u', 2);
    const shape = await probe.mustRegionOf(now.index);
    assert.ok(shape.truncatedIndex <= lastOldTermIndex && shape.appliedIndex > lastOldTermIndex, `truncated ${shape.truncatedIndex} in the old term (≤ ${lastOldTermIndex}), applied ${shape.appliedIndex} in the new one`);
    await cluster.restartStore(victim);
    await probe.waitApplied(victim, (await probe.mustRegionOf(now.index)).appliedIndex);
    assert.ok((await probe.metric(victim, 'flotilla_store_snapshots_total', 'event="applied"')) >= 1, 'caught up by a snapshot');
    // And it goes on by appends from the snapshot (the leader's log-term check at its index holds).
    await probe.writeKeys(now, 'v', 4);
    await catchUpAndCheck(victim);
  });

  it('a snapshot of more keys than a generator scan page, in every data CF, arrives whole', async () => {
    const leader = await probe.leader();
    const victim = (leader.index + 1) % 3;
    const victimApplied = (await probe.mustRegionOf(victim)).appliedIndex;
    const snapshotsBefore = await probe.metric(victim, 'flotilla_store_snapshots_total', 'event="applied"');
    await cluster.killStore(victim);
    // Raw keys: 2.5 pages, in batches. Transactional keys: 1.3 pages in the write and latest CFs,
    // and in the default CF (values over SHORT_VALUE_BYTES_MAX live there) as well.
    const rawCount = Math.floor(SNAPSHOT_SCAN_PAGE_KEYS * 2.5);
    for (let from = 0; from < rawCount; from += 500) {
      const pairs = [];
      for (let i = from; i < Math.min(from + 500, rawCount); i++) {
        const key = `pg/${String(i).padStart(5, '0')}`;
        const value = `v-${key}`;
        pairs.push({ key: Buffer.from(key), value: Buffer.from(value) });
        probe.acked.set(key, value);
      }
      const r = await leader.kv.call('RawBatchPut', { context: leader.ctx, pairs });
      assert.equal(r.regionError, null, JSON.stringify(r.regionError));
    }
    const txnCount = Math.floor(SNAPSHOT_SCAN_PAGE_KEYS * 1.3);
    const txnValue = (i: number): string => `tv-${i}-`.padEnd(SHORT_VALUE_BYTES_MAX + 1, 'y');
    const txnKeys = Array.from({ length: txnCount }, (_, i) => `tpg/${String(i).padStart(5, '0')}`);
    const startTs = 7_000n << 18n;
    const pre = await leader.kv.call('KvPrewrite', {
      context: leader.ctx, primaryLock: Buffer.from(txnKeys[0]!), startVersion: String(startTs), lockTtl: '3000', txnSize: String(txnCount),
      mutations: txnKeys.map((k, i) => ({ op: 'Put' as const, key: Buffer.from(k), value: Buffer.from(txnValue(i)) })),
    });
    assert.deepEqual(pre.errors, []);
    const commit = await leader.kv.call('KvCommit', { context: leader.ctx, keys: txnKeys.map((k) => Buffer.from(k)), startVersion: String(startTs), commitVersion: String(startTs + 1n) });
    assert.equal(commit.error, null);
    // Enough single entries that the log is compacted past the down store.
    await probe.writeKeys(leader, 'pgpad', COUNT_LIMIT * 2);
    await waitFor('the leader to compact past the down store', async () => ((await probe.mustRegionOf(leader.index)).truncatedIndex > victimApplied ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });

    await cluster.restartStore(victim);
    const now = await probe.leader(new Set([victim]));
    await probe.waitApplied(victim, (await probe.mustRegionOf(now.index)).appliedIndex);
    assert.ok((await probe.metric(victim, 'flotilla_store_snapshots_total', 'event="applied"')) > snapshotsBefore, 'caught up by a snapshot');
    await probe.assertStoppedReplicaHolds(victim); // every raw key, from the RocksDB of the stopped store
    const engine = await RocksEngine.open(join(cluster.stores[victim]!.dataDir, 'db'));
    try {
      const userKeys = async (cf: DataCf): Promise<Map<string, Buffer>> => {
        const range = cfRange(cf);
        const out = new Map<string, Buffer>();
        const snap = await engine.snapshot();
        try {
          for (const kv of await snap.scan(range.start, range.end, { limit: 1_000_000 })) {
            const k = decodeDataKey(kv.key).userKey.toString();
            if (k.startsWith('tpg/')) out.set(k, kv.value);
          }
        } finally {
          await snap.release();
        }
        return out;
      };
      assert.deepEqual([...(await userKeys('write')).keys()], txnKeys, 'a write record per transactional key');
      assert.deepEqual([...(await userKeys('latest')).keys()], txnKeys, 'a latest record per transactional key');
      const values = await userKeys('default');
      assert.deepEqual([...values.keys()], txnKeys, 'a value per transactional key');
      txnKeys.forEach((k, i) => assert.equal(values.get(k)?.toString(), txnValue(i), k));
    } finally {
      await engine.close();
    }
    await cluster.restartStore(victim);
    await probe.readAll(await probe.leader());
  });

  it('a crash between snapshot chunks leaves a partial file that is discarded; the snapshot is fetched again', async () => {
    const victim = await leaveBehind('a');
    await cluster.restartStore(victim, { env: { FLOTILLA_FAILPOINTS: `${FAILPOINT_SNAPSHOT_RECEIVE_CHUNK}=pause` } });
    const snapDir = join(cluster.stores[victim]!.dataDir, 'snap');
    await waitFor('a partial snapshot file', async () => ((await readdir(snapDir)).some((f) => f.endsWith('.tmp')) ? true : undefined), { timeoutMs: 60_000, intervalMs: 50 });
    await cluster.killStore(victim);
    await cluster.restartStore(victim);
    await catchUpAndCheck(victim);
    assert.deepEqual((await readdir(snapDir)).filter((f) => f.endsWith('.tmp')), [], 'the partial file was removed at start');
  });

  it('a crash in the middle of an install is finished from the payload file at restart', async () => {
    const victim = await leaveBehind('b');
    // panic at the site: the install fails after writing part of the payload, and the store exits
    // at once — on disk: the 'applying' state, the region's ranges cleared and half rewritten.
    await cluster.restartStore(victim, { env: { FLOTILLA_FAILPOINTS: `${FAILPOINT_SNAPSHOT_APPLY_BATCH}=panic` } });
    const code = await cluster.stores[victim]!.process.waitExit();
    assert.notEqual(code, 0, 'the store stopped at the failpoint');
    await cluster.restartStore(victim);
    await waitFor('the interrupted install to be redone', async () => ((await probe.metric(victim, 'flotilla_store_snapshots_total', 'event="redone"')) >= 1 ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    await catchUpAndCheck(victim);
  });
});
