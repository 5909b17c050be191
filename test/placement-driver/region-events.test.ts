// The region event log (placement-driver/region-events.ts) against reference models: the ring
// against a plain array that keeps the last `capacity` events (appends past every wrap, queries at
// every boundary of `since` and `limit`); split and merge events against a model key space whose
// splits (reported piece by piece in every order) and merges go through PD's real state machine;
// operator events against the operator controller's every exit. FLOTILLA_REGION_EVENTS_SEED=N
// replays a property run (with the path fast-check prints).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeKey } from '../../common/index.js';
import { OperatorController, type Operator, type OperatorOutcome, type OperatorStep } from '../../placement-driver/operators.js';
import {
  hexOf, operatorEvent, REGION_EVENT_KEY_BYTES_MAX, REGION_EVENT_TEXT_MAX, REGION_EVENTS_MAX, regionChangeEvents, RegionEventLog, type RegionEvent, type RegionEventInput,
} from '../../placement-driver/region-events.js';
import type { RegionMeta } from '../../placement-driver/region-index.js';
import { PdStateMachine } from '../../placement-driver/state-machine.js';

const SEED = process.env['FLOTILLA_REGION_EVENTS_SEED'] === undefined ? undefined : Number(process.env['FLOTILLA_REGION_EVENTS_SEED']);
const RUNS = Number(process.env['FLOTILLA_REGION_EVENTS_RUNS'] ?? 500);
const params = { numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }) };

const enc = (raw: string): Buffer => (raw === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(raw)));
const hex = (raw: string): string => Buffer.from(raw).toString('hex');

function region(id: number, start: string, end: string, version: number, confVer = 1, peers: RegionMeta['peers'] = [{ id: id * 10, storeId: 1, role: 'voter' }]): RegionMeta {
  return { id, startKey: enc(start), endKey: enc(end), epoch: { confVer, version }, peers };
}

function operatorInput(atMs: number, regionId: number): RegionEventInput {
  return { kind: 'operator', atMs, regionId, outcome: 'created', operatorId: regionId, operatorKind: 'admin', source: 'admin', description: 'test', fromStoreIds: [], toStoreIds: [] };
}

// ───────────────────────────── the ring ─────────────────────────────

describe('region event log: the ring', () => {
  it('matches a plain array of the last `capacity` events through every wrap, and answers queries as the model', () => {
    const opArb = fc.oneof(
      fc.record({ op: fc.constant('append' as const), atMs: fc.integer({ min: 0, max: 6 }), regionId: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ op: fc.constant('query' as const), sinceMs: fc.integer({ min: 0, max: 7 }), limit: fc.integer({ min: 1, max: 9 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(opArb, { maxLength: 40 }), (capacity, ops) => {
        const log = new RegionEventLog(capacity);
        const model: RegionEvent[] = [];
        let appended = 0;
        for (const o of ops) {
          if (o.op === 'append') {
            const stored = log.append(operatorInput(o.atMs, o.regionId));
            appended++;
            assert.equal(stored.seq, appended, 'seq counts every append from 1');
            model.push({ ...operatorInput(o.atMs, o.regionId), seq: appended });
            if (model.length > capacity) model.shift();
          } else {
            const matching = model.filter((e) => e.atMs >= o.sinceMs);
            const want = matching.slice(Math.max(0, matching.length - o.limit));
            const got = log.query(o.sinceMs, o.limit);
            assert.deepEqual(got.events, want, `query since ${o.sinceMs} limit ${o.limit}`);
            assert.equal(got.omitted, matching.length - want.length);
          }
          assert.deepEqual(log.all(), model);
          assert.equal(log.size, model.length);
          assert.equal(log.recorded, appended);
        }
      }),
      params,
    );
  });

  it('holds exactly capacity events at N and drops the oldest at N + 1', () => {
    for (const capacity of [1, 2, 3, REGION_EVENTS_MAX]) {
      const log = new RegionEventLog(capacity);
      for (let i = 1; i <= capacity; i++) log.append(operatorInput(i, 1));
      assert.equal(log.size, capacity);
      assert.equal(log.all()[0]!.seq, 1, `capacity ${capacity}: the first event is still held at N`);
      log.append(operatorInput(capacity + 1, 1));
      assert.equal(log.size, capacity);
      assert.deepEqual(log.all().map((e) => e.seq), Array.from({ length: capacity }, (_, i) => i + 2), `capacity ${capacity}: the oldest dropped at N + 1`);
    }
    assert.equal(new RegionEventLog().capacity, REGION_EVENTS_MAX);
    assert.throws(() => new RegionEventLog(0), /positive integer/);
  });

  it('since is inclusive (an event at exactly `since` is answered, one a millisecond earlier is not); limit keeps the newest', () => {
    const log = new RegionEventLog(10);
    for (const atMs of [100, 200, 200, 300]) log.append(operatorInput(atMs, 1));
    assert.deepEqual(log.query(200, 10).events.map((e) => e.seq), [2, 3, 4]);
    assert.deepEqual(log.query(201, 10).events.map((e) => e.seq), [4]);
    assert.deepEqual(log.query(0, 2), { events: log.all().slice(2), omitted: 2 });
    assert.deepEqual(log.query(301, 5), { events: [], omitted: 0 });
  });

  it('a clock that steps back keeps record order: events stay in seq order, since filters each by its own time', () => {
    const log = new RegionEventLog(10);
    for (const atMs of [500, 400, 600]) log.append(operatorInput(atMs, 1));
    assert.deepEqual(log.query(450, 10).events.map((e) => [e.seq, e.atMs]), [[1, 500], [3, 600]]);
  });
});

// ───────────────────────────── splits and merges ─────────────────────────────

describe('region event log: splits and merges from region reports', () => {
  const at = 1_000;

  it('a split reported old-region first: one event, cut at the kept range\'s start (right derive)', () => {
    const events = regionChangeEvents({ incoming: region(1, 'm', '', 2), previous: region(1, '', '', 1), removed: [] }, at);
    assert.deepEqual(events, [{ kind: 'split', atMs: at, regionId: 1, version: 2, startKey: '', endKey: '', splitKeys: [hex('m')], newRegionIds: [] }]);
  });

  it('a split reported new-region first: the old region split, the new one named', () => {
    const events = regionChangeEvents({ incoming: region(2, 'a', 'm', 2), previous: undefined, removed: [region(1, 'a', 'z', 1)] }, at);
    assert.deepEqual(events, [{ kind: 'split', atMs: at, regionId: 1, version: 2, startKey: hex('a'), endKey: hex('z'), splitKeys: [hex('m')], newRegionIds: [2] }]);
  });

  it('a middle piece reported first names both its ends as split keys', () => {
    const events = regionChangeEvents({ incoming: region(3, 'f', 'm', 2), previous: undefined, removed: [region(1, '', '', 1)] }, at);
    assert.deepEqual(events.map((e) => e.kind === 'split' && e.splitKeys), [[hex('f'), hex('m')]]);
  });

  it('a merge: the target grows over whole neighbours under a newer version', () => {
    const events = regionChangeEvents({ incoming: region(2, '', 't', 4), previous: region(2, 'm', 't', 3), removed: [region(1, '', 'm', 3)] }, at);
    assert.deepEqual(events, [{ kind: 'merge', atMs: at, regionId: 2, version: 4, startKey: '', endKey: hex('t'), mergedRegionIds: [1] }]);
    const unknownTarget = regionChangeEvents({ incoming: region(2, '', '', 5), previous: undefined, removed: [region(1, '', 'm', 3), region(3, 'm', '', 4)] }, at);
    assert.deepEqual(unknownTarget.map((e) => e.kind === 'merge' && e.mergedRegionIds), [[1, 3]]);
  });

  it('no event for membership, a new region in a gap, the same range again, or a report not newer', () => {
    assert.deepEqual(regionChangeEvents({ incoming: region(1, 'a', 'm', 2, 2), previous: region(1, 'a', 'm', 2, 1), removed: [] }, at), []);
    assert.deepEqual(regionChangeEvents({ incoming: region(5, 'a', 'm', 2), previous: undefined, removed: [] }, at), []);
    assert.deepEqual(regionChangeEvents({ incoming: region(1, 'a', 'm', 3), previous: region(1, 'a', 'm', 2), removed: [] }, at), []);
    assert.deepEqual(regionChangeEvents({ incoming: region(2, 'a', 'f', 2), previous: undefined, removed: [region(1, 'a', 'm', 2)] }, at), []);
  });

  it('keys are hex of raw keys cut to REGION_EVENT_KEY_BYTES_MAX bytes; a key that is not memcomparable shows its bytes', () => {
    const atMax = Buffer.alloc(REGION_EVENT_KEY_BYTES_MAX, 0x61);
    const overMax = Buffer.alloc(REGION_EVENT_KEY_BYTES_MAX + 1, 0x61);
    assert.equal(hexOf(encodeKey(atMax)), atMax.toString('hex'));
    assert.equal(hexOf(encodeKey(overMax)), atMax.toString('hex'));
    assert.equal(hexOf(Buffer.alloc(0)), '');
    assert.equal(hexOf(Buffer.from([1, 2, 3])), '010203');
  });

  /**
   * The model: a key space of 2-byte keys, regions as integer ranges (0 = −∞, KEYS_END = +∞) that
   * tile it. A split cuts a region at 1–3 new keys (the old region keeps the last range, as stores
   * split with right_derive) and reports the pieces one by one in a generated order, as
   * ReportBatchSplit or heartbeats may; a merge folds a region into its neighbour; membership,
   * leader and stale reports change nothing the log sees. Every report goes through PD's real
   * state machine, whose onRegionChanged feeds regionChangeEvents.
   *
   * Expected: one split event per split — the region, its old range, its new version, cut where
   * the first piece reported lies inside the old range (that report replaces the old region; the
   * others land in the room it left) — and one merge event per merge; nothing else.
   */
  it('property: one event per split (pieces reported in any order) and per merge, as the model says; nothing for other reports', () => {
    const KEYS_END = 0x10000;
    interface ModelRegion { id: number; lo: number; hi: number; version: number; confVer: number }
    const keyOf = (n: number): string => (n === 0 || n === KEYS_END ? '' : Buffer.from([n >> 8, n & 0xff]).toString('hex'));
    const meta = (r: ModelRegion): RegionMeta => ({
      id: r.id,
      startKey: r.lo === 0 ? Buffer.alloc(0) : encodeKey(Buffer.from(keyOf(r.lo), 'hex')),
      endKey: r.hi === KEYS_END ? Buffer.alloc(0) : encodeKey(Buffer.from(keyOf(r.hi), 'hex')),
      epoch: { confVer: r.confVer, version: r.version },
      peers: [{ id: r.id * 1000 + r.confVer, storeId: 1, role: 'voter' }],
    });
    const opArb = fc.oneof(
      { weight: 3, arbitrary: fc.record({ op: fc.constant('split' as const), pick: fc.nat(), cuts: fc.uniqueArray(fc.integer({ min: 1, max: KEYS_END - 1 }), { minLength: 1, maxLength: 3 }), order: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('merge' as const), pick: fc.nat(), intoLeft: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('membership' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('stale' as const), pick: fc.nat() }) },
    );
    /** How often each case happened over all runs: a case that never happened proves nothing. */
    const coverage = { parentFirst: 0, pieceFirst: 0, middleFirst: 0, merge: 0, membership: 0, stale: 0 };
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 25 }), (ops) => {
        const sm = new PdStateMachine();
        const store = { id: 1, address: 'a:1', statusAddress: '', labels: {}, state: 'up' as const, version: 't', startTimestampMs: 0 };
        sm.apply({ kind: 'initCluster', clusterId: 1n });
        let regions: ModelRegion[] = [{ id: 1, lo: 0, hi: KEYS_END, version: 1, confVer: 1 }];
        sm.apply({ kind: 'bootstrap', store, region: meta(regions[0]!) });
        const log = new RegionEventLog(1_000);
        let now = 0;
        sm.onRegionChanged = (change) => {
          for (const e of regionChangeEvents(change, now)) log.append(e);
        };
        const expected: RegionEventInput[] = [];
        const history: ModelRegion[] = [];
        let nextId = 2;
        const put = (r: ModelRegion): string => sm.apply({ kind: 'putRegion', region: meta(r), leaderPeerId: 0 }).kind;
        for (const o of ops) {
          now += 10;
          if (o.op === 'split') {
            const parent = regions[o.pick % regions.length]!;
            const cuts = o.cuts.filter((k) => k > parent.lo && k < parent.hi).sort((a, b) => a - b);
            if (cuts.length === 0) continue;
            const bounds = [parent.lo, ...cuts, parent.hi];
            const version = parent.version + 1;
            const pieces: ModelRegion[] = bounds.slice(0, -1).map((lo, i) => ({ id: i === cuts.length ? parent.id : nextId++, lo, hi: bounds[i + 1]!, version, confVer: parent.confVer }));
            // The report order: a permutation drawn from `order`.
            const order = pieces.map((p, i) => ({ p, w: o.order[i] ?? 0 })).sort((a, b) => a.w - b.w).map((x) => x.p);
            const first = order[0]!;
            if (first.id === parent.id) coverage.parentFirst++;
            else if (first.lo !== parent.lo && first.hi !== parent.hi) coverage.middleFirst++;
            else coverage.pieceFirst++;
            expected.push({
              kind: 'split', atMs: now, regionId: parent.id, version, startKey: keyOf(parent.lo), endKey: keyOf(parent.hi),
              splitKeys: [first.lo, first.hi].filter((k) => k > parent.lo && k < parent.hi).map(keyOf),
              newRegionIds: first.id === parent.id ? [] : [first.id],
            });
            for (const p of order) assert.equal(put(p), 'ok', `split piece ${p.id}`);
            history.push(parent);
            regions = [...regions.filter((r) => r !== parent), ...pieces].sort((a, b) => a.lo - b.lo);
          } else if (o.op === 'merge') {
            if (regions.length < 2) continue;
            const i = o.pick % (regions.length - 1);
            const [left, right] = [regions[i]!, regions[i + 1]!];
            const [source, target] = o.intoLeft ? [right, left] : [left, right];
            const merged: ModelRegion = { id: target.id, lo: left.lo, hi: right.hi, version: Math.max(left.version, right.version) + 1, confVer: target.confVer };
            expected.push({ kind: 'merge', atMs: now, regionId: target.id, version: merged.version, startKey: keyOf(merged.lo), endKey: keyOf(merged.hi), mergedRegionIds: [source.id] });
            assert.equal(put(merged), 'ok', `merge into ${target.id}`);
            coverage.merge++;
            history.push(source, target);
            regions = [...regions.filter((r) => r !== source && r !== target), merged].sort((a, b) => a.lo - b.lo);
          } else if (o.op === 'membership') {
            const r = regions[o.pick % regions.length]!;
            const changed = { ...r, confVer: r.confVer + 1 };
            assert.equal(put(changed), 'ok');
            coverage.membership++;
            history.push(r);
            regions = regions.map((x) => (x === r ? changed : x));
          } else {
            if (history.length === 0) continue;
            assert.equal(put(history[o.pick % history.length]!), 'staleRegion', 'an old report is refused');
            coverage.stale++;
          }
        }
        assert.deepEqual(log.all().map(({ seq: _seq, ...e }) => e), expected);
        assert.deepEqual(sm.regions.all().map((r) => r.id), regions.map((r) => r.id), 'the index tiles as the model');
      }),
      params,
    );
    for (const [what, n] of Object.entries(coverage)) assert.ok(n > 0, `coverage: ${what} never happened`);
  });
});

// ───────────────────────────── operators ─────────────────────────────

describe('region event log: operators', () => {
  const peer = (id: number, storeId: number) => ({ id, storeId, role: 'voter' as const });

  it('from and to stores per step kind; a transfer leaves the current leader\'s store', () => {
    const op = (steps: OperatorStep[]): Operator => ({ id: 7, regionId: 3, kind: 'region', source: 'balance-region', description: 'd', epoch: { confVer: 1, version: 1 }, steps, createdAtMs: 0, timeoutMs: 1 });
    const stores = (steps: OperatorStep[], leaderStoreId?: number) => {
      const e = operatorEvent(op(steps), 'created', 5, leaderStoreId);
      return [e.fromStoreIds, e.toStoreIds];
    };
    assert.deepEqual(stores([{ kind: 'addPeer', peer: { ...peer(9, 4), role: 'learner' } }, { kind: 'promoteLearner', peer: peer(9, 4) }, { kind: 'removePeer', peer: peer(2, 1) }]), [[1], [4]]);
    assert.deepEqual(stores([{ kind: 'transferLeader', toPeer: peer(3, 2) }], 1), [[1], [2]]);
    assert.deepEqual(stores([{ kind: 'transferLeader', toPeer: peer(3, 2) }]), [[], [2]]);
    assert.deepEqual(stores([{ kind: 'split', keys: [] }]), [[], []]);
    assert.deepEqual(stores([{ kind: 'merge', targetRegionId: 4 }]), [[], []]);
    const e = operatorEvent(op([{ kind: 'merge', targetRegionId: 4 }]), 'timedOut', 5);
    assert.deepEqual(e, { kind: 'operator', atMs: 5, regionId: 3, outcome: 'timedOut', operatorId: 7, operatorKind: 'region', source: 'balance-region', description: 'd', fromStoreIds: [], toStoreIds: [] });
  });

  it('a description is kept up to REGION_EVENT_TEXT_MAX characters and cut past it', () => {
    const withText = (description: string): string =>
      operatorEvent({ id: 1, regionId: 1, kind: 'admin', source: 'admin', description, epoch: { confVer: 1, version: 1 }, steps: [{ kind: 'split', keys: [] }], createdAtMs: 0, timeoutMs: 1 }, 'created', 0).description;
    assert.equal(withText('x'.repeat(REGION_EVENT_TEXT_MAX)), 'x'.repeat(REGION_EVENT_TEXT_MAX));
    const cut = withText('x'.repeat(REGION_EVENT_TEXT_MAX + 1));
    assert.equal(cut.length, REGION_EVENT_TEXT_MAX);
    assert.ok(cut.endsWith('…'));
  });

  it('the operator controller tells every creation and every way an operator ends, once each', () => {
    let now = 0;
    const seen: [number, number, OperatorOutcome][] = [];
    const ops = new OperatorController(() => now, (op, outcome) => seen.push([op.id, op.regionId, outcome]));
    const epoch = { confVer: 1, version: 1 };
    const r = (id: number, version = 1) => region(id, '', '', version);
    const split: OperatorStep[] = [{ kind: 'split', keys: [] }];
    const expect: [number, number, OperatorOutcome][] = [];

    const add = (regionId: number, timeoutMs = 100): number => {
      const res = ops.add(regionId, epoch, 'd', split, { timeoutMs });
      assert.equal(res.kind, 'ok');
      const id = res.kind === 'ok' ? res.operator.id : 0;
      expect.push([id, regionId, 'created']);
      return id;
    };
    const a = add(1);
    assert.equal(ops.add(1, epoch, 'again', split).kind, 'refused', 'a second operator on a region is refused, and not an event');
    assert.equal(ops.onHeartbeat(r(1, 1), 10)?.kind, 'split', 'not done yet: no event');
    assert.equal(ops.onHeartbeat(r(1, 2), 10), undefined);
    expect.push([a, 1, 'finished']);

    const b = add(2);
    assert.equal(ops.cancel(2), true);
    expect.push([b, 2, 'cancelled']);
    assert.equal(ops.cancel(2), false, 'cancelling nothing is no event');

    const c = add(3, 100);
    now = 100;
    assert.notEqual(ops.onHeartbeat(r(3), 10), undefined, 'at exactly its timeout it still runs');
    now = 101;
    assert.equal(ops.onHeartbeat(r(3), 10), undefined);
    expect.push([c, 3, 'timedOut']);

    const d = add(4, 10);
    now = 200;
    assert.equal(ops.expireTimedOut(), 1);
    expect.push([d, 4, 'timedOut']);

    const e = add(5);
    ops.removeRegion(5);
    expect.push([e, 5, 'regionGone']);
    ops.removeRegion(5);
    assert.equal(ops.size, 0);
    assert.deepEqual(seen, expect);
  });
});
