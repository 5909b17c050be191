// Region split (store/split.ts, store/region-splitter.ts, the BatchSplit command of raft-cmd.ts),
// judged against models over generated inputs: what a BatchSplit does at apply (the resulting
// regions tile the original range exactly, epochs and peers derive from it, anything malformed or
// stale changes nothing), how split keys are chosen from a region's keys, and the walk that feeds
// that choice from the engine's raw and latest CFs.
//
// Replay: FLOTILLA_SPLIT_SEED=<seed> node --test dist/test/store/split.test.js
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, dataKey, decodeKey, defaultKey, encodeKey, FlotillaError, latestKey, lockKey, rawKey, type RegionMeta, type Rng, type WriteOp, writeKey } from '../../common/index.js';
import { MemoryEngine } from '../../store/engine/index.js';
import { decodeCommand, encodeBatchSplitCommand } from '../../store/raft-cmd.js';
import { checkSplitKeys } from '../../store/region-splitter.js';
import { type BatchSplitCommand, decideBatchSplit, type KeyPages, opOutsideRegion, regionDataBounds, regionKeyPages, SPLIT_KEYS_MAX, splitPieces, splitPoints } from '../../store/split.js';

const SEED = Number(process.env['FLOTILLA_SPLIT_SEED'] ?? 20261130);
const REPLAY = `seed ${SEED}; replay: FLOTILLA_SPLIT_SEED=${SEED} node --test dist/test/store/split.test.js`;

/** A user key from a small alphabet (so that keys collide, prefix one another, and sort interestingly). */
function userKey(rng: Rng, maxLen = 4): Buffer {
  const len = 1 + rng.nextInt(maxLen);
  return Buffer.from(Array.from({ length: len }, () => [0x00, 0x41, 0x42, 0x43, 0xff][rng.nextInt(5)]!));
}

function sortedDistinct(keys: Buffer[]): Buffer[] {
  return [...keys].sort((x, y) => Buffer.compare(x, y)).filter((k, i, all) => i === 0 || !k.equals(all[i - 1]!));
}

function randomRegion(rng: Rng): RegionMeta {
  const bounds = sortedDistinct([userKey(rng), userKey(rng)]);
  const start = rng.chance(0.3) ? Buffer.alloc(0) : encodeKey(bounds[0]!);
  const end = rng.chance(0.3) || bounds.length < 2 ? Buffer.alloc(0) : encodeKey(bounds[bounds.length - 1]!);
  const peers = Array.from({ length: 1 + rng.nextInt(5) }, (_, i) => ({ id: 10 + i, storeId: 1 + i, role: rng.chance(0.2) ? 'learner' as const : 'voter' as const }));
  return { id: 2, startKey: start, endKey: end, epoch: { confVer: 1 + rng.nextInt(5), version: 1 + rng.nextInt(5) }, peers };
}

/** The model of a valid BatchSplit against `region`, or why it is invalid. */
function modelValidity(region: RegionMeta, cmd: BatchSplitCommand): 'ok' | 'stale' | 'invalid' {
  if (cmd.epoch.version !== region.epoch.version || cmd.epoch.confVer !== region.epoch.confVer) return 'stale';
  if (cmd.splits.length === 0 || cmd.splits.length > SPLIT_KEYS_MAX) return 'invalid';
  const keys = cmd.splits.map((s) => s.splitKey);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k.length === 0) return 'invalid';
    const lower = i === 0 ? region.startKey : keys[i - 1]!;
    if (Buffer.compare(k, lower) <= 0) return 'invalid';
    if (region.endKey.length > 0 && Buffer.compare(k, region.endKey) >= 0) return 'invalid';
  }
  const ids = [region.id, ...region.peers.map((p) => p.id), ...cmd.splits.flatMap((s) => [s.newRegionId, ...s.newPeerIds])];
  if (new Set(ids).size !== ids.length || ids.some((id) => id <= 0)) return 'invalid';
  if (cmd.splits.some((s) => s.newPeerIds.length !== region.peers.length)) return 'invalid';
  return 'ok';
}

function randomSplit(rng: Rng, region: RegionMeta, nextId: { n: number }): BatchSplitCommand {
  const n = 1 + rng.nextInt(4);
  let keys = sortedDistinct(Array.from({ length: n }, () => userKey(rng))).map((k) => encodeKey(k));
  // Mostly keys inside the range; sometimes the raw draw (maybe outside), unsorted, or repeated.
  if (!rng.chance(0.25)) {
    keys = keys.filter((k) => Buffer.compare(k, region.startKey) > 0 && (region.endKey.length === 0 || Buffer.compare(k, region.endKey) < 0));
    if (keys.length === 0) keys = [Buffer.concat([region.startKey, Buffer.from([0x01])])];
  }
  if (rng.chance(0.05)) keys.reverse();
  if (rng.chance(0.05) && keys.length > 0) keys.push(keys[0]!);
  if (rng.chance(0.03)) keys = [];
  const ids = (): number => (rng.chance(0.02) ? region.peers[0]!.id : nextId.n++);
  const epoch = rng.chance(0.1) ? { confVer: region.epoch.confVer, version: region.epoch.version + 1 } : rng.chance(0.05) ? { confVer: region.epoch.confVer - 1, version: region.epoch.version } : region.epoch;
  return {
    regionId: region.id, peerId: region.peers[0]!.id, epoch, rightDerive: rng.chance(0.5),
    splits: keys.map((splitKey) => ({
      splitKey, newRegionId: ids(),
      newPeerIds: Array.from({ length: region.peers.length + (rng.chance(0.03) ? 1 : 0) }, ids),
      approximateKeys: rng.nextInt(50),
    })),
  };
}

describe('BatchSplit at apply (decideBatchSplit) against a model', () => {
  it('does exactly what the model says over generated regions and commands: the results tile the range, epochs and peers derive from it', () => {
    const rng = createRng(SEED);
    const seen = { ok: 0, stale: 0, invalid: 0 };
    const nextId = { n: 1_000 };
    for (let round = 0; round < 3_000; round++) {
      const region = randomRegion(rng);
      const cmd = randomSplit(rng, region, nextId);
      const keys = rng.nextInt(1_000);
      const expected = modelValidity(region, cmd);
      seen[expected]++;
      const d = decideBatchSplit(region, keys, cmd);
      const what = `${REPLAY}; round ${round}`;
      if (expected !== 'ok') {
        assert.equal(d.kind, 'error', what);
        if (d.kind === 'error') assert.equal(d.error.code, expected === 'stale' ? 'EpochNotMatch' : 'InvalidArgument', what);
        continue;
      }
      assert.equal(d.kind, 'ok', `${what}: ${d.kind === 'error' ? d.error.message : ''}`);
      if (d.kind !== 'ok') continue;
      const n = cmd.splits.length;
      const all = [...d.created, d.derived].sort((a, b) => Buffer.compare(a.startKey, b.startKey));
      assert.equal(all.length, n + 1, what);
      // Tiling: first starts where the region starts, each ends where the next starts, last ends at its end.
      assert.ok(all[0]!.startKey.equals(region.startKey), what);
      assert.ok(all[n]!.endKey.equals(region.endKey), what);
      for (let i = 0; i < n; i++) {
        assert.ok(all[i]!.endKey.equals(all[i + 1]!.startKey), what);
        assert.ok(all[i]!.endKey.equals(cmd.splits[i]!.splitKey), what);
      }
      // The original keeps its id and the last (right_derive) or first range.
      assert.equal((cmd.rightDerive ? all[n]! : all[0]!).id, region.id, what);
      assert.deepEqual(d.derived.peers, region.peers, what);
      for (const r of all) assert.deepEqual(r.epoch, { confVer: region.epoch.confVer, version: region.epoch.version + n }, what);
      d.created.forEach((r, i) => {
        const spec = cmd.splits[i]!;
        assert.equal(r.id, spec.newRegionId, what);
        assert.deepEqual(r.peers, region.peers.map((p, j) => ({ id: spec.newPeerIds[j]!, storeId: p.storeId, role: p.role })), what);
        assert.equal(d.createdKeys[i], spec.approximateKeys, what);
      });
      assert.equal(d.derivedKeys, Math.max(0, keys - cmd.splits.reduce((a, s) => a + s.approximateKeys, 0)), what);
    }
    assert.ok(seen.ok > 1_000 && seen.stale > 100 && seen.invalid > 100, `coverage ${JSON.stringify(seen)}`);
  });

  it('travels through the raft command codec unchanged, and a peer-id count that disagrees is refused at apply', () => {
    const rng = createRng(SEED + 1);
    const nextId = { n: 1 };
    for (let round = 0; round < 300; round++) {
      const region = randomRegion(rng);
      const cmd = randomSplit(rng, region, nextId);
      const decoded = decodeCommand(encodeBatchSplitCommand(cmd), 'test');
      assert.equal(decoded.kind, 'batchSplit');
      if (decoded.kind !== 'batchSplit') continue;
      assert.equal(decoded.regionId, cmd.regionId);
      assert.deepEqual(decoded.epoch, cmd.epoch);
      assert.equal(decoded.rightDerive, cmd.rightDerive);
      assert.deepEqual(decoded.splits.map((s) => ({ ...s, splitKey: s.splitKey.toString('hex') })), cmd.splits.map((s) => ({ ...s, splitKey: s.splitKey.toString('hex') })));
    }
  });
});

describe('how many pieces a region splits into (splitPieces)', () => {
  it('none at or under the limits; at least 2 past either; about twice the ratio; never past the batch limit; monotone', () => {
    const limits = { sizeBytes: 1_000, keys: 100 };
    assert.equal(splitPieces({ sizeBytes: 1_000, keys: 100 }, limits), 0);
    assert.equal(splitPieces({ sizeBytes: 0, keys: 0 }, limits), 0);
    assert.equal(splitPieces({ sizeBytes: 1_001, keys: 0 }, limits), 2);
    assert.equal(splitPieces({ sizeBytes: 0, keys: 101 }, limits), 2);
    assert.equal(splitPieces({ sizeBytes: 0, keys: 1_000 }, limits), 20);
    assert.equal(splitPieces({ sizeBytes: 10 ** 12, keys: 0 }, limits), SPLIT_KEYS_MAX + 1);
    let previous = 0;
    for (let keys = 0; keys < 10_000; keys += 7) {
      const p = splitPieces({ sizeBytes: 0, keys }, limits);
      assert.ok(p >= previous, `pieces fell at ${keys} keys`);
      previous = p;
    }
  });
});

async function* pagesOf(keys: readonly Buffer[], pageSize: number): KeyPages {
  for (let i = 0; i < keys.length; i += pageSize) yield keys.slice(i, i + pageSize);
}

/** Model: keys per range given encoded boundaries. */
function countsByBounds(keys: readonly Buffer[], bounds: readonly Buffer[]): number[] {
  const counts = new Array<number>(bounds.length + 1).fill(0);
  for (const enc of keys) {
    let i = 0;
    while (i < bounds.length && Buffer.compare(enc, bounds[i]!) >= 0) i++;
    counts[i]!++;
  }
  return counts;
}

describe('split keys from a region\'s keys (splitPoints) against a model', () => {
  it('cuts into pieces of about equal count at distinct keys strictly inside the region, and counts each piece exactly', async () => {
    const rng = createRng(SEED + 2);
    for (let round = 0; round < 400; round++) {
      const region = randomRegion(rng);
      const start = region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.startKey).key;
      const end = region.endKey.length === 0 ? null : decodeKey(region.endKey).key;
      // The region's keys, sorted, some repeated (a raw and a transactional record of one key).
      const pool = Array.from({ length: rng.nextInt(300) }, () => userKey(rng, 6)).filter((k) => Buffer.compare(k, start) >= 0 && (end === null || Buffer.compare(k, end) < 0));
      if (start.length > 0 && rng.chance(0.5)) pool.push(start);
      const keys = [...pool, ...pool.filter(() => rng.chance(0.2))].map((k) => encodeKey(k)).sort((x, y) => Buffer.compare(x, y));
      const pieces = 2 + rng.nextInt(8);
      const what = `${REPLAY}; round ${round}`;
      const got = await splitPoints(region, pagesOf(keys, 1 + rng.nextInt(50)), { pieces, total: keys.length });
      // Distinct, ascending, strictly inside the region (a key equal to the start is never chosen).
      let lower = region.startKey;
      for (const k of got.keys) {
        assert.ok(Buffer.compare(k, lower) > 0, `${what}: split key not above the previous bound`);
        assert.ok(region.endKey.length === 0 || Buffer.compare(k, region.endKey) < 0, what);
        lower = k;
      }
      assert.ok(got.keys.length <= pieces - 1, what);
      assert.deepEqual(got.counts, countsByBounds(keys, got.keys), what);
      // As many cuts as the distinct keys above the start allow, up to pieces - 1.
      const distinctInside = sortedDistinct(keys).filter((k) => Buffer.compare(k, region.startKey) > 0).length;
      if (distinctInside >= pieces * 2 && keys.length === sortedDistinct(keys).length) {
        assert.equal(got.keys.length, pieces - 1, `${what}: fewer cuts than the keys allow`);
        // With distinct keys, each piece is within one key of the ideal size.
        const ideal = keys.length / pieces;
        for (const c of got.counts) assert.ok(Math.abs(c - ideal) <= 2, `${what}: piece of ${c} keys, ideal ${ideal}`);
      }
    }
  });

  it('at given keys: cuts exactly there and counts each range', async () => {
    const rng = createRng(SEED + 3);
    for (let round = 0; round < 300; round++) {
      const region = randomRegion(rng);
      const start = region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.startKey).key;
      const end = region.endKey.length === 0 ? null : decodeKey(region.endKey).key;
      const inside = (k: Buffer): boolean => Buffer.compare(k, start) > 0 && (end === null || Buffer.compare(k, end) < 0);
      const keys = Array.from({ length: rng.nextInt(100) }, () => userKey(rng, 6)).filter((k) => inside(k) || k.equals(start)).map((k) => encodeKey(k)).sort((x, y) => Buffer.compare(x, y));
      const at = sortedDistinct(Array.from({ length: 1 + rng.nextInt(4) }, () => userKey(rng, 6)).filter(inside)).map((k) => encodeKey(k));
      const got = await splitPoints(region, pagesOf(keys, 1 + rng.nextInt(20)), { at });
      const what = `${REPLAY}; round ${round}`;
      assert.deepEqual(got.keys.map((k) => k.toString('hex')), at.map((k) => k.toString('hex')), what);
      assert.deepEqual(got.counts, countsByBounds(keys, got.keys), what);
    }
  });
});

describe('admin split keys (checkSplitKeys)', () => {
  const region: RegionMeta = { id: 2, startKey: encodeKey(Buffer.from('b')), endKey: encodeKey(Buffer.from('m')), epoch: { confVer: 1, version: 1 }, peers: [] };
  it('sorts and de-duplicates, drops the start key, refuses a key outside the region with KeyNotInRegion', () => {
    const keys = ['k', 'c', 'c', 'b', 'd'].map((s) => Buffer.from(s));
    assert.deepEqual(checkSplitKeys(region, keys).map(String), ['c', 'd', 'k']);
    for (const outside of ['a', 'm', 'z']) {
      assert.throws(() => checkSplitKeys(region, [Buffer.from('c'), Buffer.from(outside)]), (e: unknown) => e instanceof FlotillaError && e.code === 'KeyNotInRegion');
    }
    assert.throws(() => checkSplitKeys(region, Array.from({ length: SPLIT_KEYS_MAX + 1 }, (_, i) => Buffer.from(`c${i}`))), (e: unknown) => e instanceof FlotillaError && e.code === 'InvalidArgument');
  });
});

describe('a region\'s keys from the engine (regionKeyPages)', () => {
  it('merges the raw and latest CFs in key order, only inside the region, other CFs ignored, in pages', async () => {
    const rng = createRng(SEED + 4);
    for (let round = 0; round < 20; round++) {
      const engine = new MemoryEngine();
      const region = randomRegion(rng);
      const ops: WriteOp[] = [];
      const expected: Buffer[] = [];
      const start = region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.startKey).key;
      const end = region.endKey.length === 0 ? null : decodeKey(region.endKey).key;
      for (let i = 0; i < 200; i++) {
        const k = userKey(rng, 5);
        const cf = (['raw', 'latest', 'lock', 'default'] as const)[rng.nextInt(4)]!;
        ops.push({ kind: 'put', cf, key: dataKey(cf, k), value: Buffer.from('v') });
      }
      await engine.write(ops, { sync: false });
      // The model: the distinct (cf, key) records of raw and latest inside the region, in key order.
      const records = new Map<string, Buffer>();
      for (const op of ops) {
        if (op.cf !== 'raw' && op.cf !== 'latest') continue;
        const k = op.key.subarray(1);
        const user = decodeKey(k).key;
        if (Buffer.compare(user, start) < 0 || (end !== null && Buffer.compare(user, end) >= 0)) continue;
        records.set(`${op.cf}/${k.toString('hex')}`, k);
      }
      expected.push(...[...records.values()].sort((x, y) => Buffer.compare(x, y)));
      const pageSize = 1 + rng.nextInt(30);
      const got: Buffer[] = [];
      for await (const page of regionKeyPages(engine, region, pageSize)) {
        assert.ok(page.length > 0 && page.length <= pageSize);
        got.push(...page);
      }
      assert.deepEqual(got.map((k) => k.toString('hex')), expected.map((k) => k.toString('hex')), `${REPLAY}; round ${round}`);
      await engine.close();
    }
  });
});

describe('opOutsideRegion: a write command\'s keys against the region, in every CF', () => {
  const shape = (start: string, end: string): RegionMeta => ({
    id: 9, startKey: start === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(start)), endKey: end === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(end)),
    epoch: { confVer: 1, version: 1 }, peers: [],
  });
  const opsFor = (user: string): WriteOp[] => {
    const k = Buffer.from(user);
    const v = Buffer.from('v');
    return [
      { kind: 'put', cf: 'raw', key: rawKey(k), value: v },
      { kind: 'put', cf: 'lock', key: lockKey(k), value: v },
      { kind: 'put', cf: 'write', key: writeKey(k, 7n), value: v },
      { kind: 'put', cf: 'default', key: defaultKey(k, 5n), value: v },
      { kind: 'delete', cf: 'latest', key: latestKey(k) },
    ];
  };
  it('the start key is inside, the end key and beyond are outside, for every CF; open ends hold everything', () => {
    const bounds = regionDataBounds(shape('b', 'd'));
    for (const op of opsFor('b')) assert.equal(opOutsideRegion([op], bounds), null, `${op.cf} at the start key`);
    for (const op of opsFor('c\xff\xff')) assert.equal(opOutsideRegion([op], bounds), null, `${op.cf} just below the end key`);
    for (const user of ['d', 'd\x00', 'a', 'a\xff', '']) {
      for (const op of opsFor(user)) assert.equal(opOutsideRegion([op], bounds), op, `${op.cf} at ${JSON.stringify(user)}`);
    }
    const whole = regionDataBounds(shape('', ''));
    for (const user of ['', 'a', '\xff\xff']) for (const op of opsFor(user)) assert.equal(opOutsideRegion([op], whole), null);
    // The first op outside is named, whatever comes before it; a local-CF op is never a region's.
    const inside = opsFor('c');
    const stray = opsFor('d')[2]!;
    assert.equal(opOutsideRegion([...inside, stray, ...inside], bounds), stray);
    const local: WriteOp = { kind: 'put', cf: 'local', key: Buffer.from([1, 2]), value: Buffer.alloc(0) };
    assert.equal(opOutsideRegion([local], whole), local);
  });
});
