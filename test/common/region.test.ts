// Region, peer, epoch and store metadata from the wire (common/region.ts): whoever holds a
// RegionMeta trusts it, so every way a wire region can be wrong must be refused with
// InvalidArgument naming the field, and every valid one must come through unchanged. Judged
// against a reference validator written from the rules in the file's header, over generated
// regions with zero or one fault each (a fault of every kind the rules name).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  epochFromWire, FlotillaError, type PeerMeta, REGION_KEY_BYTES_MAX, REGION_PEERS_MAX, regionFromWire, type RegionMeta, regionToWire,
  STORE_ADDRESS_BYTES_MAX, STORE_LABELS_MAX, storeFromWire, type StoreMeta, storeToWire,
} from '../../common/index.js';
import type { metapb } from '../../proto/index.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 2000);
const SAFE_MAX = Number.MAX_SAFE_INTEGER;

type WireRegion = {
  id: string; startKey: Buffer; endKey: Buffer;
  regionEpoch: { confVer: string; version: string } | null;
  peers: { id: string; storeId: string; role: string }[];
};

/** What the rules say of a wire region: valid (the RegionMeta it means) or the field to name. */
function referenceRegion(r: WireRegion): { ok: RegionMeta } | { field: string } {
  const id = (s: string): number | 'bad' | 'zero' => {
    if (!/^[0-9]+$/.test(s) || s.length > 20) return 'bad';
    const b = BigInt(s);
    if (b > BigInt(SAFE_MAX)) return 'bad';
    return b === 0n ? 'zero' : Number(b);
  };
  const regionId = id(r.id);
  if (typeof regionId !== 'number') return { field: 'region.id' };
  if (r.startKey.length > REGION_KEY_BYTES_MAX || r.endKey.length > REGION_KEY_BYTES_MAX) return { field: 'region' };
  if (r.endKey.length > 0 && Buffer.compare(r.startKey, r.endKey) >= 0) return { field: 'region' };
  if (r.peers.length === 0 || r.peers.length > REGION_PEERS_MAX) return { field: 'region.peers' };
  const peers: PeerMeta[] = [];
  for (const [i, p] of r.peers.entries()) {
    const pid = id(p.id);
    if (typeof pid !== 'number') return { field: `region.peers[${i}].id` };
    const sid = id(p.storeId);
    if (typeof sid !== 'number') return { field: `region.peers[${i}].storeId` };
    if (p.role !== 'Voter' && p.role !== 'Learner') return { field: `region.peers[${i}].role` };
    peers.push({ id: pid, storeId: sid, role: p.role === 'Voter' ? 'voter' : 'learner' });
  }
  if (new Set(peers.map((p) => p.id)).size !== peers.length) return { field: 'region.peers' };
  if (new Set(peers.map((p) => p.storeId)).size !== peers.length) return { field: 'region.peers' };
  if (r.regionEpoch === null) return { field: 'region.regionEpoch' };
  const confVer = id(r.regionEpoch.confVer);
  if (confVer === 'bad') return { field: 'region.regionEpoch.confVer' };
  const version = id(r.regionEpoch.version);
  if (version === 'bad') return { field: 'region.regionEpoch.version' };
  return {
    ok: {
      id: regionId, startKey: r.startKey, endKey: r.endKey, peers,
      epoch: { confVer: confVer === 'zero' ? 0 : confVer, version: version === 'zero' ? 0 : version },
    },
  };
}

const idArb = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(1, SAFE_MAX, SAFE_MAX - 1, 2 ** 32));
const keyArb = fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a));

/** A valid region: ordered keys, 1..5 peers on distinct stores with distinct ids. */
const validRegionArb: fc.Arbitrary<RegionMeta> = fc.record({
  id: idArb,
  keys: fc.tuple(keyArb, keyArb, fc.boolean()),
  confVer: fc.nat({ max: 50 }),
  version: fc.nat({ max: 50 }),
  peers: fc.uniqueArray(fc.tuple(idArb, idArb, fc.boolean()), { minLength: 1, maxLength: 5, selector: ([pid]) => pid })
    .filter((ps) => new Set(ps.map(([, sid]) => sid)).size === ps.length),
}).map(({ id, keys: [a, b, isUnbounded], confVer, version, peers }) => {
  const [lo, hi] = Buffer.compare(a, b) <= 0 ? [a, b] : [b, a];
  const endKey = isUnbounded || Buffer.compare(lo, hi) === 0 ? Buffer.alloc(0) : hi;
  return { id, startKey: lo, endKey, epoch: { confVer, version }, peers: peers.map(([pid, sid, isVoter]) => ({ id: pid, storeId: sid, role: isVoter ? 'voter' : 'learner' })) };
});

/** One fault of each kind the rules name (or none), applied to a valid wire region. */
const FAULTS: readonly ((r: WireRegion, n: number) => void)[] = [
  () => undefined,
  (r) => { r.id = '0'; },
  (r, n) => { r.id = ['', 'x', '-1', '1.5', ' 7', '9007199254740992', '18446744073709551616'][n % 7]!; },
  (r) => { r.startKey = Buffer.alloc(REGION_KEY_BYTES_MAX + 1, 1); r.endKey = Buffer.alloc(0); },
  // An empty range (end = start) and a reversed one (end < start).
  (r) => { if (r.startKey.length === 0) r.startKey = Buffer.from([1]); r.endKey = Buffer.from(r.startKey); },
  (r) => { if (r.endKey.length === 0) r.endKey = Buffer.from([9]); r.startKey = Buffer.concat([r.endKey, Buffer.from([0])]); },
  (r) => { r.peers = []; },
  (r) => { r.peers = Array.from({ length: REGION_PEERS_MAX + 1 }, (_, i) => ({ id: String(i + 1), storeId: String(i + 1), role: 'Voter' })); },
  (r, n) => { r.peers[n % r.peers.length]!.id = n % 2 === 0 ? '0' : 'abc'; },
  (r, n) => { r.peers[n % r.peers.length]!.storeId = n % 2 === 0 ? '0' : '9007199254740993'; },
  (r, n) => { r.peers[n % r.peers.length]!.role = n % 2 === 0 ? 'Witness' : 'voter'; },
  // A second peer with an existing peer's id (on a new store), or on an existing peer's store (new id).
  (r, n) => { const p = r.peers[n % r.peers.length]!; r.peers.push({ id: p.id, storeId: String(Number(maxOf(r.peers, 'storeId')) + 1), role: 'Voter' }); },
  (r, n) => { const p = r.peers[n % r.peers.length]!; r.peers.push({ id: String(Number(maxOf(r.peers, 'id')) + 1), storeId: p.storeId, role: 'Learner' }); },
  (r) => { r.regionEpoch = null; },
  (r, n) => { r.regionEpoch!.confVer = n % 2 === 0 ? '9007199254740992' : 'v1'; },
  (r, n) => { r.regionEpoch!.version = n % 2 === 0 ? '18446744073709551615' : '-3'; },
];

function maxOf(peers: readonly { id: string; storeId: string }[], field: 'id' | 'storeId'): string {
  return String(Math.max(...peers.map((p) => Number(p[field]))));
}

function toWire(region: RegionMeta): WireRegion {
  const w = regionToWire(region);
  return {
    id: String(w.id), startKey: Buffer.from(region.startKey), endKey: Buffer.from(region.endKey),
    regionEpoch: { confVer: String(w.regionEpoch?.confVer), version: String(w.regionEpoch?.version) },
    peers: region.peers.map((p) => ({ id: String(p.id), storeId: String(p.storeId), role: p.role === 'voter' ? 'Voter' : 'Learner' })),
  };
}

function outcome(run: () => unknown): { ok: unknown } | { field: string } {
  try {
    return { ok: run() };
  } catch (err) {
    assert.ok(err instanceof FlotillaError && err.code === 'InvalidArgument', `not InvalidArgument: ${String(err)}`);
    const field = err.details['field'];
    assert.equal(typeof field, 'string', `no field in ${err.message}`);
    assert.ok(err.message.startsWith(`${String(field)}:`), `the message names the field: ${err.message}`);
    return { field: String(field) };
  }
}

describe('metadata from the wire', () => {
  it('a region with zero or one fault: refused naming the rules\' field, or taken unchanged', () => {
    fc.assert(fc.property(validRegionArb, fc.nat({ max: FAULTS.length - 1 }), fc.nat(), (region, fault, n) => {
      const wire = toWire(region);
      FAULTS[fault]!(wire, n);
      const expected = referenceRegion(wire);
      if (fault === 0) assert.deepEqual(expected, { ok: region }, 'the reference takes a valid region');
      else assert.ok('field' in expected, `fault ${fault} is a fault for the reference`);
      assert.deepEqual(outcome(() => regionFromWire(wire as unknown as metapb.Region)), expected, `fault ${fault}`);
    }), { numRuns: RUNS });
    assert.deepEqual(outcome(() => regionFromWire(null)), { field: 'region' });
    assert.deepEqual(outcome(() => regionFromWire(undefined, 'heartbeat.region')), { field: 'heartbeat.region' });
  });

  it('an epoch: safe integers (0 allowed), else the field named', () => {
    assert.deepEqual(epochFromWire({ confVer: '0', version: '9007199254740991' }), { confVer: 0, version: SAFE_MAX });
    assert.deepEqual(outcome(() => epochFromWire({ confVer: '1', version: '9007199254740992' }, 'ctx.regionEpoch')), { field: 'ctx.regionEpoch.version' });
    assert.deepEqual(outcome(() => epochFromWire({ confVer: 'x', version: '1' })), { field: 'regionEpoch.confVer' });
    assert.deepEqual(outcome(() => epochFromWire(null, 'ctx.regionEpoch')), { field: 'ctx.regionEpoch' });
  });

  it('a store: round-trips, and each bad field is named', () => {
    const store: StoreMeta = { id: 7, address: '127.0.0.1:20160', statusAddress: '127.0.0.1:20180', labels: { zone: 'z1', host: 'h1' }, state: 'offline', version: '0.1.0', startTimestampMs: 1_700_000_000_000 };
    const wire = (): metapb.Store => ({ ...storeToWire(store, 5) }) as unknown as metapb.Store;
    assert.deepEqual(storeFromWire(wire()), store);
    const cases: [string, (s: Record<string, unknown>) => void][] = [
      ['store.id', (s) => { s['id'] = '0'; }],
      ['store.address', (s) => { s['address'] = ''; }],
      ['store.address', (s) => { s['address'] = 'a'.repeat(STORE_ADDRESS_BYTES_MAX + 1); }],
      ['store.statusAddress', (s) => { s['statusAddress'] = 'a'.repeat(STORE_ADDRESS_BYTES_MAX + 1); }],
      ['store.labels', (s) => { s['labels'] = Array.from({ length: STORE_LABELS_MAX + 1 }, (_, i) => ({ key: `k${i}`, value: 'v' })); }],
      ['store.state', (s) => { s['state'] = 'Gone'; }],
      ['store.startTimestamp', (s) => { s['startTimestamp'] = '-1'; }],
    ];
    for (const [field, spoil] of cases) {
      const s = wire() as unknown as Record<string, unknown>;
      spoil(s);
      assert.deepEqual(outcome(() => storeFromWire(s as unknown as metapb.Store)), { field }, field);
    }
    // Limits are inclusive.
    const edge = wire() as unknown as Record<string, unknown>;
    edge['address'] = 'a'.repeat(STORE_ADDRESS_BYTES_MAX);
    edge['labels'] = Array.from({ length: STORE_LABELS_MAX }, (_, i) => ({ key: `k${i}`, value: 'v' }));
    assert.equal(storeFromWire(edge as unknown as metapb.Store).address.length, STORE_ADDRESS_BYTES_MAX);
  });
});
