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
