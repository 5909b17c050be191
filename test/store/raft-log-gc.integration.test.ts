// Raft log GC on real processes (1 PD + 3 stores, real RocksDB) with a tiny limit
// (--raft-log-gc-count-limit 40): writes far past the limit leave every replica's log short, with
// no raft log key below its first index on disk; a store killed -9 does not hold the others' logs
// back (issue F7): they compact past it, and when it returns a region snapshot catches it up with
// every acknowledged write; every store restarted with its data dir loads its truncated log and
// serves every acknowledged write.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { applyStateKey, raftLogIndexOf, raftLogRange, rawKey } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import { RocksEngine } from '../../store/engine/index.js';
import { decodeApplyState } from '../../store/local-state.js';
import { decodeRawValue } from '../../store/raw-value.js';
import { type KvTestClient, StoreTestCluster } from '../support/store-cluster.js';
import { GC_ARGS, GC_COUNT_LIMIT } from '../support/store-regions.js';

const COUNT_LIMIT = GC_COUNT_LIMIT;

interface RegionStatus {
  id: number;
  epoch: { confVer: number; version: number };
  peers: { id: number; storeId: number }[];
  isLeader: boolean;
  appliedIndex: number;
  truncatedIndex: number;
  firstIndex: number;
  lastIndex: number;
}

interface Leader {
  readonly index: number;
  readonly region: RegionStatus;
  readonly ctx: kvrpcpb.Context__Input;
  readonly kv: KvTestClient;
}

const b = (s: string): Buffer => Buffer.from(s);

describe('raft log GC: 1 PD + 3 stores with a tiny GC limit', () => {
  let cluster: StoreTestCluster;
  const acked = new Map<string, string>();

  const regionOf = async (i: number): Promise<RegionStatus> => {
    const status = await cluster.storeStatus(i);
    const region = (status['regions'] as RegionStatus[] | undefined)?.[0];
    if (region === undefined) throw new Error(`store ${i} hosts no region yet`);
    return region;
  };

  const findLeader = (down: ReadonlySet<number> = new Set()): Promise<Leader> => waitFor('a region leader', async () => {
    for (let i = 0; i < cluster.stores.length; i++) {
      if (down.has(i)) continue;
      const region = await regionOf(i).catch(() => undefined);
      if (region?.isLeader !== true) continue;
      const storeId = cluster.stores[i]!.id;
      const peer = region.peers.find((p) => p.storeId === storeId)!;
      const ctx = { regionId: String(region.id), regionEpoch: { confVer: String(region.epoch.confVer), version: String(region.epoch.version) }, peer: { id: String(peer.id), storeId: String(storeId) } };
      return { index: i, region, ctx, kv: cluster.kvClient(i) };
    }
    return undefined;
  }, { timeoutMs: 30_000, intervalMs: 50 });

  /**
   * `count` puts, one at a time so that each is its own raft entry (writes in flight together share
   * one write-batch entry); every acknowledged one is remembered.
   */
  const writeKeys = async (leader: Leader, prefix: string, count: number): Promise<void> => {
    for (let n = 0; n < count; n++) {
      const key = `${prefix}/${String(n).padStart(5, '0')}`;
      const r = await leader.kv.call('RawPut', { context: leader.ctx, key: b(key), value: b(`v-${key}`) });
      assert.equal(r.regionError, null, `${key}: ${JSON.stringify(r.regionError)}`);
      assert.equal(r.otherError, null);
      acked.set(key, `v-${key}`);
    }
  };

  const readAll = async (leader: Leader): Promise<void> => {
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const r = await leader.kv.call('RawBatchGet', { context: leader.ctx, keys: chunk.map(b) });
      assert.equal(r.regionError, null);
      const got = new Map(r.pairs.map((p) => [p.key.toString(), p.value.toString()]));
      for (const k of chunk) assert.equal(got.get(k), acked.get(k), `acknowledged ${k} lost`);
    }
  };

  /** Waits until every listed store's log was compacted past `index` and holds at most the limit. */
  const waitCompacted = async (stores: readonly number[], index: number): Promise<RegionStatus[]> => {
    let last: RegionStatus[] = [];
    try {
      return await waitFor(`logs compacted past ${index}`, async () => {
        const regions = await Promise.all(stores.map((i) => regionOf(i)));
        last = regions;
        return regions.every((r) => r.truncatedIndex >= index && r.lastIndex - r.truncatedIndex <= COUNT_LIMIT) ? regions : undefined;
      }, { timeoutMs: 30_000, intervalMs: 100 });
    } catch (err) {
      throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last.map((r) => ({ applied: r.appliedIndex, truncated: r.truncatedIndex, last: r.lastIndex, isLeader: r.isLeader })))}`, { cause: err });
    }
  };

  const metric = async (i: number, name: string, label = ''): Promise<number> => {
    const text = await (await fetch(`http://${cluster.stores[i]!.statusAddress}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const line = text.split('\n').find((l) => (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) && l.includes(label));
    if (line === undefined) throw new Error(`no ${name} in store ${i}'s /metrics`);
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  /** Stops store i (SIGTERM), checks its RocksDB holds every acknowledged write, starts it again. */
  const assertReplicaHolds = async (i: number): Promise<void> => {
    await cluster.killStore(i, 'SIGTERM');
    const engine = await RocksEngine.open(join(cluster.stores[i]!.dataDir, 'db'));
    try {
      const keys = [...acked.keys()];
      const values = await engine.multiGet(keys.map((k) => rawKey(b(k))));
      for (let k = 0; k < keys.length; k++) {
        const stored = values[k];
        assert.ok(stored !== null && stored !== undefined, `store ${i} lacks acknowledged ${keys[k]}`);
        assert.equal(decodeRawValue(stored).value.toString(), acked.get(keys[k]!), `store ${i} holds a wrong value of ${keys[k]}`);
      }
    } finally {
      await engine.close();
    }
    await cluster.restartStore(i);
  };

  before(async () => {
    cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, extraStoreArgs: GC_ARGS });
  });
  after(async () => {
    await cluster?.stop();
  });

  it('keeps every replica\'s log within the limit while writes run far past it', async () => {
    const leader = await findLeader();
    await writeKeys(leader, 'a', COUNT_LIMIT * 10);
    const appliedAfter = (await regionOf(leader.index)).appliedIndex;
    const regions = await waitCompacted([0, 1, 2], appliedAfter - COUNT_LIMIT);
    for (const r of regions) assert.equal(r.firstIndex, r.truncatedIndex + 1);
    // The gauge (set once a second) follows; the compactions are counted.
    for (let i = 0; i < 3; i++) {
      await waitFor(`store ${i}'s raft log gauge`, async () => ((await metric(i, 'flotilla_store_raft_log_entries')) <= COUNT_LIMIT ? true : undefined), { timeoutMs: 10_000, intervalMs: 200 });
      assert.ok((await metric(i, 'flotilla_store_raft_log_compacted_entries_total')) >= appliedAfter - 2 * COUNT_LIMIT - 5);
    }
  });

  it('compacts past a store that is down; it comes back and a region snapshot gives it every acknowledged write', async () => {
    let leader = await findLeader();
    const victim = (leader.index + 1) % 3;
    const victimApplied = (await regionOf(victim)).appliedIndex;
    await cluster.killStore(victim);
    await writeKeys(leader, 'b', COUNT_LIMIT * 6);
    // The live stores' logs stay short: the down store no longer holds them back (issue F7).
    const live = [0, 1, 2].filter((i) => i !== victim);
    const target = (await regionOf(leader.index)).appliedIndex;
    const compacted = await waitCompacted(live, target - COUNT_LIMIT);
    for (const r of compacted) assert.ok(r.truncatedIndex > victimApplied, `compacted to ${r.truncatedIndex}, not past the down store's ${victimApplied}`);
    await cluster.restartStore(victim);
    leader = await findLeader();
    const now = (await regionOf(leader.index)).appliedIndex;
    await waitFor('the returned store to catch up', async () => ((await regionOf(victim)).appliedIndex >= now ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    assert.ok((await metric(victim, 'flotilla_store_snapshots_total', 'event="applied"')) >= 1, 'the returned store installed a region snapshot');
    assert.ok((await metric(leader.index, 'flotilla_store_snapshots_total', 'event="sent"')) >= 1, 'the leader sent a region snapshot');
    await assertReplicaHolds(victim);
    await waitCompacted([0, 1, 2], now - COUNT_LIMIT);
  });

  it('leaves no raft log key below the first index on disk; restarted stores load the truncated log and serve every write', async () => {
    const leader = await findLeader();
    await writeKeys(leader, 'c', COUNT_LIMIT * 3);
    const target = (await regionOf(leader.index)).appliedIndex;
    await waitCompacted([0, 1, 2], target - COUNT_LIMIT);
    for (let i = 0; i < 3; i++) {
      const regionId = (await regionOf(i)).id;
      await cluster.killStore(i, 'SIGTERM');
      // Read the stopped store's RocksDB directly: its apply state, and the log keys around it.
      const engine = await RocksEngine.open(join(cluster.stores[i]!.dataDir, 'db'));
      try {
        const snap = await engine.snapshot();
        try {
          const apply = decodeApplyState((await snap.get(applyStateKey(regionId)))!, regionId);
          assert.ok(apply.truncatedIndex >= target - COUNT_LIMIT, `store ${i} saved truncated index ${apply.truncatedIndex}`);
          const below = raftLogRange(regionId, 0, apply.truncatedIndex + 1);
          assert.deepEqual(await snap.scan(below.start, below.end, { limit: 10 }), [], `store ${i} keeps raft log keys at or below ${apply.truncatedIndex}`);
          const rest = raftLogRange(regionId, apply.truncatedIndex + 1, Number.MAX_SAFE_INTEGER);
          const held = await snap.scan(rest.start, rest.end, { limit: 100_000 });
          // Empty is fine: compaction may reach the last index (every follower matched the applied
          // one), and a store caught up by a snapshot starts with an empty log.
          assert.ok(held.length <= COUNT_LIMIT + 1, `store ${i} holds ${held.length} log entries on disk`);
          if (held.length > 0) assert.equal(raftLogIndexOf(held[0]!.key), apply.truncatedIndex + 1);
        } finally {
          await snap.release();
        }
      } finally {
        await engine.close();
      }
    }
    for (let i = 0; i < 3; i++) await cluster.restartStore(i);
    for (let i = 0; i < 3; i++) {
      const r = await waitFor(`store ${i} to load its region`, () => regionOf(i), { timeoutMs: 30_000, intervalMs: 100 });
      assert.ok(r.truncatedIndex >= target - COUNT_LIMIT, `store ${i} loaded truncated index ${r.truncatedIndex}`);
    }
    const after = await findLeader();
    await readAll(after);
    // And it keeps working: more writes, compacted again.
    await writeKeys(after, 'd', COUNT_LIMIT * 2);
    await waitCompacted([0, 1, 2], (await regionOf(after.index)).appliedIndex - COUNT_LIMIT);
    await readAll(after);
  });
});
