// RaftStore.open finishing destroys a stop cut off (store/raft-store.ts), on an in-memory engine
// holding exactly the state such a stop leaves: a replica that applied its own removal with no
// tombstone yet, a tombstone whose clear did not end, and a merged-away replica's tombstone. After
// open: the store starts, the region is not hosted, its tombstone is on disk and in memory, its
// raft log and states are gone, and its data keys are gone from every data CF — unless a merge
// gave them to another region — while its neighbours' keys, up to the byte around each bound, stay.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyStateKey, cfRange, ChannelCache, DATA_CFS, type DataCf, decodeDataKey, defaultKey, encodeKey, grpc, type KeyRange, latestKey, lockKey, raftHardStateKey, raftLogKey, raftLogRange,
  rawKey, type RegionMeta, regionStateKey, silentLogger, type WriteOp, writeKey,
} from '../../common/index.js';
import { encodeEntry, encodeHardState } from '../../raft-host/index.js';
import { type Engine, MemoryEngine } from '../../store/engine/index.js';
import { decodeRegionState, encodeApplyState, encodeRegionState, type RegionLocalState } from '../../store/local-state.js';
import type { RaftSender } from '../../store/poll-loop.js';
import { RaftStore } from '../../store/raft-store.js';

const SELF_STORE = 1;
const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s, 'latin1')));

function region(id: number, start: string, end: string, epoch: { confVer: number; version: number }, stores: readonly number[]): RegionMeta {
  return { id, startKey: k(start), endKey: k(end), epoch, peers: stores.map((s) => ({ id: id * 10 + s, storeId: s, role: 'voter' as const })) };
}

/** Hosted here: region 2 [−∞, b) and region 4 [m, +∞), the neighbours of region 3 [b, m). */
const LEFT = region(2, '', 'b', { confVer: 3, version: 2 }, [1, 2, 3]);
const RIGHT = region(4, 'm', '', { confVer: 3, version: 2 }, [1, 2, 3]);
/** Region 3 after it removed this store's replica (peer 31): confVer 4, peers 32 and 33. */
const REMOVED = region(3, 'b', 'm', { confVer: 4, version: 2 }, [2, 3]);

/** User keys of region 3's range, its start key first (inclusive). */
const INSIDE = ['b', 'b\x00', 'c', 'hello', 'l\xff\xff\xff'];
/** Neighbours' user keys hugging the bounds: just below b, and m itself (region 3's end is exclusive). */
const OUTSIDE = ['', 'a', 'a\xff\xff', 'm', 'm\x00', 'z'];

/** One record of `userKey` in every data CF. */
function dataOps(userKey: string): WriteOp[] {
  const key = Buffer.from(userKey, 'latin1');
  const value = Buffer.from(`value of ${userKey}`, 'latin1');
  return [
    { kind: 'put', cf: 'default', key: defaultKey(key, 10n), value },
    { kind: 'put', cf: 'lock', key: lockKey(key), value },
    { kind: 'put', cf: 'write', key: writeKey(key, 11n), value },
    { kind: 'put', cf: 'write', key: writeKey(key, 12n), value },
    { kind: 'put', cf: 'latest', key: latestKey(key), value },
    { kind: 'put', cf: 'raw', key: rawKey(key), value },
  ];
}

/** A replica's local state as a store writes it: region state, apply state, hard state, and its log (truncated at 5). */
function replicaOps(state: RegionLocalState, lastIndex: number, keys: number): WriteOp[] {
  const id = state.region.id;
  const ops: WriteOp[] = [
    { kind: 'put', cf: 'local', key: regionStateKey(id), value: encodeRegionState(state) },
    { kind: 'put', cf: 'local', key: applyStateKey(id), value: encodeApplyState({ appliedIndex: lastIndex, truncatedIndex: 5, truncatedTerm: 5, approximateKeys: keys }) },
    { kind: 'put', cf: 'local', key: raftHardStateKey(id), value: encodeHardState({ term: 6, vote: 0, commit: lastIndex }) },
  ];
  for (let index = 6; index <= lastIndex; index++) {
    ops.push({ kind: 'put', cf: 'local', key: raftLogKey(id, index), value: encodeEntry({ type: 'Normal', term: 6, index, data: new Uint8Array(0) }) });
  }
  return ops;
}

/** The engine as the stop left it: both neighbours hosted with their keys, region 3 in `state` with its log to 9 and its keys. */
async function engineWith(state: RegionLocalState): Promise<MemoryEngine> {
  const engine = new MemoryEngine();
  const ops: WriteOp[] = [
    ...replicaOps({ state: 'normal', region: LEFT }, 5, 3),
    ...replicaOps({ state: 'normal', region: RIGHT }, 5, 3),
    ...OUTSIDE.flatMap(dataOps),
    ...INSIDE.flatMap(dataOps),
    ...replicaOps(state, 9, INSIDE.length),
  ];
  await engine.write(ops, { sync: true });
  return engine;
}

async function scan(engine: Engine, range: KeyRange): Promise<Buffer[]> {
  const snap = await engine.snapshot();
  try {
    return (await snap.scan(range.start, range.end, { limit: 1_000_000 })).map((kv) => kv.key);
  } finally {
    await snap.release();
  }
}

/**
 * The user keys (latin1) each data CF holds, one entry per record. Read CF by CF over the whole
 * CF and decoded here — not through the store's own range helpers, which the destroy uses.
 */
async function userKeysByCf(engine: Engine): Promise<Record<DataCf, string[]>> {
  const out = {} as Record<DataCf, string[]>;
  for (const cf of DATA_CFS) out[cf] = (await scan(engine, cfRange(cf))).map((key) => decodeDataKey(key).userKey.toString('latin1'));
  return out;
}

function inRegion3(userKey: string): boolean {
  const key = Buffer.from(userKey, 'latin1');
  return Buffer.compare(key, Buffer.from('b')) >= 0 && Buffer.compare(key, Buffer.from('m')) < 0;
}

/** Region 3's raft keys: log entries, hard state, apply state. */
async function raftKeysOf3(engine: Engine): Promise<{ log: number; hardState: boolean; applyState: boolean }> {
  return {
    log: (await scan(engine, raftLogRange(3, 0, Number.MAX_SAFE_INTEGER))).length,
    hardState: (await engine.get(raftHardStateKey(3))) !== null,
    applyState: (await engine.get(applyStateKey(3))) !== null,
  };
}

async function withStore(engine: Engine, check: (store: RaftStore) => Promise<void>): Promise<void> {
  const channels = new ChannelCache(grpc.credentials.createInsecure());
  const fatals: unknown[] = [];
  const sender: RaftSender = { send: () => undefined, sendTombstone: () => undefined, flush: () => undefined };
  const store = await RaftStore.open({
    storeId: SELF_STORE,
    clusterId: 1n,
    engine,
    raft: { electionTicks: 10, heartbeatTicks: 2 },
    raftLogGc: { thresholdBytes: 1 << 30, countLimit: 1_000, hardCountLimit: 10_000, checkTicks: 10 },
    tickMs: 50,
    entryCacheBytes: 1 << 20,
    inboundMessagesMax: 1_000,
    channels,
    resolveAddress: () => Promise.reject(new Error('no network in this test')),
    logger: silentLogger(),
    onFatal: (err) => fatals.push(err),
    simulated: { sender },
  });
  try {
    await check(store);
    assert.deepEqual(fatals, []);
  } finally {
    await store.stop();
    channels.close();
  }
}

/** The neighbours are hosted, and every key outside region 3's range is still there in every CF. */
function assertNeighboursKept(store: RaftStore, keys: Record<DataCf, string[]>): void {
  assert.deepEqual([...store.peers.keys()].sort(), [2, 4], 'the neighbours load');
  for (const cf of DATA_CFS) {
    const outside = keys[cf].filter((u) => !inRegion3(u));
    const expected = OUTSIDE.flatMap((u) => Array<string>(cf === 'write' ? 2 : 1).fill(u)).sort();
    assert.deepEqual([...outside].sort(), expected, `${cf} CF: the neighbours' keys`);
  }
}

async function assertTombstone(engine: Engine, store: RaftStore, expected: RegionLocalState): Promise<void> {
  const bytes = await engine.get(regionStateKey(3));
  assert.ok(bytes !== null, 'region 3 keeps its region state key');
  assert.deepEqual(decodeRegionState(bytes, 3), expected, 'the tombstone on disk: the region as of the removal, epoch and all');
  assert.deepEqual(store.tombstones.get(3), expected.region, 'the tombstone the store keeps in memory (it refuses the old membership\'s messages)');
}

describe('RaftStore.open: a replica that applied its own removal, the store stopped before the tombstone', () => {
  it('finishes the destroy: tombstone at the removal\'s epoch, raft keys and every data CF\'s keys of the range gone, neighbours untouched', async () => {
    const engine = await engineWith({ state: 'normal', region: REMOVED });
    const before = await userKeysByCf(engine);
    for (const cf of DATA_CFS) assert.ok(before[cf].some(inRegion3), `the fixture has ${cf} keys in region 3`);
    await withStore(engine, async (store) => {
      assert.equal(store.peers.has(3), false, 'region 3 is not hosted');
      await assertTombstone(engine, store, { state: 'tombstone', region: REMOVED });
      assert.deepEqual(await raftKeysOf3(engine), { log: 0, hardState: false, applyState: false }, 'region 3\'s raft log and states');
      const keys = await userKeysByCf(engine);
      for (const cf of DATA_CFS) assert.deepEqual(keys[cf].filter(inRegion3), [], `${cf} CF: no key of region 3's range remains`);
      assertNeighboursKept(store, keys);
    });
    // A second restart finds a finished destroy: nothing changes.
    await withStore(engine, async (store) => {
      assert.equal(store.peers.has(3), false);
      await assertTombstone(engine, store, { state: 'tombstone', region: REMOVED });
      const keys = await userKeysByCf(engine);
      for (const cf of DATA_CFS) assert.deepEqual(keys[cf].filter(inRegion3), [], `${cf} CF after a second restart`);
      assertNeighboursKept(store, keys);
    });
  });
});

describe('RaftStore.open: a tombstone whose destroy a crash cut off (its apply state still there)', () => {
  it('clears the removed replica\'s raft keys and data', async () => {
    const engine = await engineWith({ state: 'tombstone', region: REMOVED });
    await withStore(engine, async (store) => {
      assert.equal(store.peers.has(3), false);
      await assertTombstone(engine, store, { state: 'tombstone', region: REMOVED });
      assert.deepEqual(await raftKeysOf3(engine), { log: 0, hardState: false, applyState: false });
      const keys = await userKeysByCf(engine);
      for (const cf of DATA_CFS) assert.deepEqual(keys[cf].filter(inRegion3), [], `${cf} CF: no key of region 3's range remains`);
      assertNeighboursKept(store, keys);
    });
  });

  it('a merged-away replica\'s tombstone: its raft keys go, its keys stay (they are the region that absorbed it\'s)', async () => {
    // Region 4 absorbed region 3: it holds [b, +∞) now. Region 3's replica here was retired by the
    // merge (a tombstone naming region 4) and the clear of its raft state was cut off.
    const merged = region(4, 'b', '', { confVer: 3, version: 3 }, [1, 2, 3]);
    const retired = region(3, 'b', 'm', { confVer: 3, version: 2 }, [1, 2, 3]);
    const engine = new MemoryEngine();
    await engine.write([
      ...replicaOps({ state: 'normal', region: LEFT }, 5, 3),
      ...replicaOps({ state: 'normal', region: merged }, 5, 3 + INSIDE.length),
      ...replicaOps({ state: 'tombstone', region: retired, mergedInto: 4 }, 9, INSIDE.length),
      ...OUTSIDE.flatMap(dataOps),
      ...INSIDE.flatMap(dataOps),
    ], { sync: true });
    const before = await userKeysByCf(engine);
    await withStore(engine, async (store) => {
      assert.deepEqual([...store.peers.keys()].sort(), [2, 4]);
      assert.equal(before.raw.filter(inRegion3).length, INSIDE.length);
      assert.deepEqual(await userKeysByCf(engine), before, 'every data key stays: region 4 holds them now');
      assert.deepEqual(await raftKeysOf3(engine), { log: 0, hardState: false, applyState: false });
      await assertTombstone(engine, store, { state: 'tombstone', region: retired, mergedInto: 4 });
    });
  });
});
