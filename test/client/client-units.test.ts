// Pure parts of the client against reference models, over generated inputs: the region cache
// (lookups after any sequence of inserts and invalidations, compared with a linear search over a
// model that applies the same rules) and the transaction scan's merge of buffered writes with a
// store scan (compared with applying the writes to a map).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeKey, regionContains, type RegionMeta } from '../../common/index.js';
import { RegionCache } from '../../client/region-cache.js';
import { mergeScan } from '../../client/transaction.js';
import type { KvPair } from '../../client/raw-client.js';
import { encodeBatch, encodeContextField, encodeRequest } from '../../client/batch-encoder.js';
import { messageCodec } from '../../proto/index.js';

const ALPHABET = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
const enc = (k: string): Buffer => (k === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(k)));

type Op =
  | { kind: 'insert'; id: number; version: number; start: string; end: string }
  | { kind: 'invalidate'; id: number };

const boundary = fc.constantFrom('', ...ALPHABET);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), id: fc.integer({ min: 1, max: 6 }), version: fc.integer({ min: 1, max: 3 }), start: boundary, end: boundary }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), id: fc.integer({ min: 1, max: 6 }) }) },
);

function regionOf(op: Extract<Op, { kind: 'insert' }>): RegionMeta | null {
  // A valid range: start < end, or end = +∞.
  if (op.end !== '' && (op.start >= op.end)) return null;
  return { id: op.id, startKey: enc(op.start), endKey: enc(op.end), epoch: { confVer: 1, version: op.version }, peers: [{ id: op.id * 10, storeId: 1, role: 'voter' }] };
}

function overlaps(a: RegionMeta, b: RegionMeta): boolean {
  return (a.endKey.length === 0 || Buffer.compare(a.endKey, b.startKey) > 0) && (b.endKey.length === 0 || Buffer.compare(b.endKey, a.startKey) > 0);
}

/** The rules of RegionCache.insert, stated directly over a list. */
function modelInsert(model: RegionMeta[], r: RegionMeta): RegionMeta[] {
  const same = model.find((x) => x.id === r.id);
  if (same !== undefined && (same.epoch.version > r.epoch.version || (same.epoch.version === r.epoch.version && same.epoch.confVer > r.epoch.confVer))) return model;
  return [...model.filter((x) => x.id !== r.id && !overlaps(x, r)), r];
}

describe('RegionCache against a list model', () => {
  it('lookups and reverse lookups agree with a linear search after any op sequence', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const cache = new RegionCache();
        let model: RegionMeta[] = [];
        for (const op of ops) {
          if (op.kind === 'invalidate') {
            cache.invalidate(op.id);
            model = model.filter((x) => x.id !== op.id);
            continue;
          }
          const r = regionOf(op);
          if (r === null) continue;
          cache.insert(r, null);
          model = modelInsert(model, r);
        }
        const all = cache.all().map((e) => e.region);
        assert.equal(all.length, model.length, 'same number of regions');
        for (let i = 1; i < all.length; i++) assert.ok(Buffer.compare(all[i - 1]!.startKey, all[i]!.startKey) < 0 && !overlaps(all[i - 1]!, all[i]!), 'sorted, disjoint');
        for (const k of ['', ...ALPHABET, 'aa', 'zz']) {
          const key = k === '' ? encodeKey(Buffer.alloc(0)) : enc(k);
          const want = model.find((x) => regionContains(x, key));
          assert.equal(cache.lookup(key)?.region.id, want?.id, `lookup(${k})`);
          for (const r of model) assert.equal(cache.getById(r.id)?.region, r);
        }
        for (const k of ['', ...ALPHABET, 'zz']) {
          const end = enc(k);
          const want = model.find((x) => (end.length === 0 ? x.endKey.length === 0 : Buffer.compare(x.startKey, end) < 0 && (x.endKey.length === 0 || Buffer.compare(x.endKey, end) >= 0)));
          assert.equal(cache.lookupBefore(end)?.region.id, want?.id, `lookupBefore(${k || '+inf'})`);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('RegionCache leaders against a model', () => {
  // Regions with three peers each and every epoch order (version and confVer, equal included);
  // inserts name a leader that is one of the region's peers, another region's peer, or none; a
  // store's NotLeader names a member or a stranger. The rules: a cached leader is always a peer of
  // its cached region (a leader the region lacks is not taken); an insert at an epoch not older
  // than the cached one replaces it with its own leader (an equal epoch too: a fresh PD answer);
  // an older one changes nothing; NotLeader naming a member moves the leader there, naming a
  // stranger drops the region (the view is stale) and reports false.
  type LeaderOp =
    | { kind: 'insert'; id: number; version: number; confVer: number; start: string; end: string; leader: number }
    | { kind: 'notLeader'; id: number; peer: number }
    | { kind: 'invalidate'; id: number };
  const peersOf = (id: number): { id: number; storeId: number; role: 'voter' }[] => [1, 2, 3].map((k) => ({ id: id * 10 + k, storeId: k, role: 'voter' as const }));
  // Leader candidates: a member (id*10+1..3), a peer of another region, none (0).
  const leaderOp: fc.Arbitrary<LeaderOp> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('insert' as const), id: fc.integer({ min: 1, max: 4 }), version: fc.integer({ min: 1, max: 2 }), confVer: fc.integer({ min: 1, max: 2 }), start: boundary, end: boundary, leader: fc.constantFrom(0, 1, 2, 3, 99) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('notLeader' as const), id: fc.integer({ min: 1, max: 4 }), peer: fc.constantFrom(1, 2, 3, 99) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), id: fc.integer({ min: 1, max: 4 }) }) },
  );
  interface ModelEntry {
    region: RegionMeta;
    leader: number | null;
  }
  const counts = { leaderKept: 0, strangerRefused: 0, equalEpoch: 0, notLeaderMoved: 0, notLeaderDropped: 0 };
  it('a cached leader is a member of its cached region; inserts and NotLeader follow the rules', () => {
    fc.assert(
      fc.property(fc.array(leaderOp, { maxLength: 40 }), (ops) => {
        const cache = new RegionCache();
        let model: ModelEntry[] = [];
        const peerId = (regionId: number, k: number): number => (k === 99 ? 9_999 : regionId * 10 + k);
        for (const op of ops) {
          if (op.kind === 'invalidate') {
            cache.invalidate(op.id);
            model = model.filter((x) => x.region.id !== op.id);
            continue;
          }
          if (op.kind === 'notLeader') {
            const cached = model.find((x) => x.region.id === op.id);
            const leader = { id: peerId(op.id, op.peer), storeId: op.peer === 99 ? 9 : op.peer, role: 'voter' as const };
            const got = cache.updateLeader(op.id, leader);
            if (cached === undefined) {
              assert.equal(got, false, 'NotLeader for an uncached region');
              continue;
            }
            if (cached.region.peers.some((p) => p.id === leader.id)) {
              assert.equal(got, true, 'NotLeader naming a member is taken');
              cached.leader = leader.id;
              counts.notLeaderMoved++;
            } else {
              assert.equal(got, false, 'NotLeader naming a stranger is refused');
              model = model.filter((x) => x.region.id !== op.id);
              counts.notLeaderDropped++;
            }
            continue;
          }
          if (op.end !== '' && op.start >= op.end) continue;
          const region: RegionMeta = { id: op.id, startKey: enc(op.start), endKey: enc(op.end), epoch: { confVer: op.confVer, version: op.version }, peers: peersOf(op.id) };
          const leader = op.leader === 0 ? null : { id: peerId(op.id, op.leader), storeId: op.leader === 99 ? 9 : op.leader, role: 'voter' as const };
          cache.insert(region, leader);
          const same = model.find((x) => x.region.id === op.id);
          if (same !== undefined && (same.region.epoch.version > op.version || (same.region.epoch.version === op.version && same.region.epoch.confVer > op.confVer))) continue;
          if (same !== undefined && same.region.epoch.version === op.version && same.region.epoch.confVer === op.confVer) counts.equalEpoch++;
          const isMember = leader !== null && region.peers.some((p) => p.id === leader.id);
          if (isMember) counts.leaderKept++;
          if (leader !== null && !isMember) counts.strangerRefused++;
          model = [...model.filter((x) => x.region.id !== op.id && !overlaps(x.region, region)), { region, leader: isMember ? leader.id : null }];
        }
        const all = cache.all();
        assert.equal(all.length, model.length, 'same number of regions');
        for (const m of model) {
          const e = cache.getById(m.region.id);
          assert.ok(e !== undefined, `region ${m.region.id} cached`);
          assert.equal(e.region, m.region, `region ${m.region.id}: the shape inserted last (not older)`);
          assert.equal(e.leader?.id ?? null, m.leader, `region ${m.region.id}: leader`);
        }
        for (const e of all) if (e.leader !== null) assert.ok(e.region.peers.some((p) => p.id === e.leader!.id), `region ${e.region.id}: leader ${e.leader.id} is not one of its peers`);
      }),
      { numRuns: 500, seed: 38 },
    );
    for (const [name, n] of Object.entries(counts)) assert.ok(n > 0, `coverage: ${name} is 0 (${JSON.stringify(counts)})`);
  });
});

describe('transaction scan merge against a map model', () => {
  const key = fc.constantFrom(...ALPHABET.flatMap((a) => [a, `${a}a`]));
  it('equals the stored pairs with the buffered writes applied, in order, limited, keys only or with values', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(key, fc.constantFrom('s1', 's2', '')),
        fc.dictionary(key, fc.option(fc.constantFrom('o1', 'o2', ''), { nil: null })),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        fc.boolean(),
        async (stored, own, limit, reverse, keyOnly) => {
          const cmp = (a: string, b: string): number => (reverse ? Buffer.compare(Buffer.from(b), Buffer.from(a)) : Buffer.compare(Buffer.from(a), Buffer.from(b)));
          const model = new Map<string, string>(Object.entries(stored));
          for (const [k, v] of Object.entries(own)) {
            if (v === null) model.delete(k);
            else model.set(k, v);
          }
          // A keyOnly scan yields every pair with an empty value, own buffered writes too (the
          // store already empties the values it sends: store/txn-kv.ts).
          const expected = [...model.entries()].sort(([a], [b]) => cmp(a, b)).slice(0, limit).map(([k, v]) => `${k}=${keyOnly ? '' : v}`);
          const ownSorted = Object.entries(own).sort(([a], [b]) => cmp(a, b)).map(([k, v]) => ({ key: Buffer.from(k), value: v === null ? null : Buffer.from(v) }));
          const deletes = ownSorted.filter((m) => m.value === null).length;
          // As Transaction.scan asks the store: limit + own deletes pairs at most.
          const storedPairs: KvPair[] = Object.entries(stored).sort(([a], [b]) => cmp(a, b)).slice(0, limit + deletes).map(([k, v]) => ({ key: Buffer.from(k), value: Buffer.from(keyOnly ? '' : v) }));
          async function* gen(): AsyncGenerator<KvPair> {
            yield* storedPairs;
          }
          const got: string[] = [];
          for await (const p of mergeScan(gen(), ownSorted, limit, reverse, keyOnly)) got.push(`${p.key.toString()}=${p.value.toString()}`);
          assert.deepEqual(got, expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('the batch encoder against the generic protobuf codec', () => {
  const generic = messageCodec('flotilla.kvservicepb.BatchCommandsRequest');
  const bytesArb = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
  const u64Arb = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(String);
  const contextArb = fc.record({
    regionId: fc.integer({ min: 1, max: 2 ** 40 }),
    regionEpoch: fc.record({ confVer: fc.integer({ min: 0, max: 2 ** 31 }), version: fc.integer({ min: 0, max: 2 ** 31 }) }),
    peer: fc.record({ id: fc.integer({ min: 1, max: 2 ** 40 }), storeId: fc.integer({ min: 1, max: 2 ** 20 }), role: fc.constantFrom('Voter' as const, 'Learner' as const) }),
    resolvedLocks: fc.array(u64Arb, { maxLength: 3 }),
  });
  const requestArb = fc.oneof(
    fc.record({ cmd: fc.constant('rawGet' as const), req: fc.record({ key: bytesArb }) }),
    fc.record({ cmd: fc.constant('rawPut' as const), req: fc.record({ key: bytesArb, value: bytesArb, ttlSeconds: u64Arb }) }),
    fc.record({ cmd: fc.constant('rawBatchGet' as const), req: fc.record({ keys: fc.array(bytesArb, { maxLength: 5 }) }) }),
    fc.record({ cmd: fc.constant('get' as const), req: fc.record({ key: bytesArb, version: u64Arb }) }),
    fc.record({ cmd: fc.constant('scan' as const), req: fc.record({ startKey: bytesArb, endKey: bytesArb, limit: fc.integer({ min: 0, max: 2 ** 31 }), version: u64Arb, keyOnly: fc.boolean(), reverse: fc.boolean() }) }),
    fc.record({ cmd: fc.constant('prewrite' as const), req: fc.record({ mutations: fc.array(fc.record({ op: fc.constantFrom('Put' as const, 'Del' as const), key: bytesArb, value: bytesArb }), { maxLength: 4 }), primaryLock: bytesArb, startVersion: u64Arb, lockTtl: u64Arb, txnSize: u64Arb }) }),
    fc.record({ cmd: fc.constant('commit' as const), req: fc.record({ keys: fc.array(bytesArb, { maxLength: 4 }), startVersion: u64Arb, commitVersion: u64Arb }) }),
    fc.record({ cmd: fc.constant('checkTxnStatus' as const), req: fc.record({ primaryKey: bytesArb, lockTs: u64Arb, callerStartTs: u64Arb, currentTs: u64Arb, rollbackIfNotExist: fc.boolean() }) }),
  );
  it('every command travels in its own KvRequest field: an empty request of each decodes as that command, with its context', () => {
    const commands = [
      'rawGet', 'rawBatchGet', 'rawPut', 'rawBatchPut', 'rawDelete', 'rawBatchDelete', 'rawDeleteRange', 'rawScan', 'rawCompareAndSwap',
      'get', 'batchGet', 'scan', 'prewrite', 'commit', 'batchRollback', 'cleanup', 'checkTxnStatus', 'resolveLock', 'txnHeartBeat', 'scanLock', 'gc',
    ] as const;
    const ctx = encodeContextField({ regionId: 9, regionEpoch: { confVer: 2, version: 3 }, peer: { id: 4, storeId: 5, role: 'Voter' } });
    const decoded = generic.decode(encodeBatch(commands.map((cmd) => encodeRequest(cmd, {} as never, ctx)), commands.map((_, i) => i + 1))) as unknown as {
      requests: Record<string, { context?: { regionId?: unknown } }>[];
    };
    assert.equal(decoded.requests.length, commands.length);
    commands.forEach((cmd, i) => {
      const present = Object.keys(decoded.requests[i]!).filter((k) => (decoded.requests[i] as Record<string, unknown>)[k] !== null && (decoded.requests[i] as Record<string, unknown>)[k] !== undefined);
      assert.ok(present.includes(cmd), `request ${i} decodes as ${present.join(',')}, not ${cmd}`);
      assert.equal(String(decoded.requests[i]![cmd]!.context?.regionId), '9', `${cmd} carries its context`);
    });
  });

  it('decodes to the same message the generic encoder would send', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(requestArb, contextArb), { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 2 ** 40 }), { minLength: 6, maxLength: 6 }), (items, idPool) => {
        const ids = idPool.slice(0, items.length);
        const ours = encodeBatch(items.map(([r, ctx]) => encodeRequest(r.cmd, r.req as never, encodeContextField(ctx))), ids);
        const reference = generic.encode({ requests: items.map(([r, ctx]) => ({ [r.cmd]: { ...r.req, context: ctx } })), requestIds: ids.map(String) });
        assert.deepEqual(generic.decode(ours), generic.decode(reference));
      }),
      { numRuns: 300 },
    );
  });
});
