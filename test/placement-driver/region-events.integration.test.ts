// The region event log on a real flotilla-pd process (issue F7: the dashboard's heatmap shows
// split and merge events and scheduler moves): splits reported as a store reports them
// (ReportBatchSplit in key order, the old region last: right_derive), a split operator that
// finishes on the next heartbeat, an admin operator created and cancelled, a merge operator whose
// source is merged away, and the merge itself — judged as one exact list of events against what
// the test did, in order, numbered from 1, stamped within the test's clock bracket. Schedulers are
// switched off first so that the test's operators are the only ones.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../deploy/index.js';
import type { MergeEvent, OperatorEvent, RegionEvent, SplitEvent } from '../../placement-driver/region-events.js';
import { SCHEDULER_NAMES } from '../../placement-driver/schedulers/scheduler.js';
import { bootstrapThreeRegions, httpJson, PdTestCluster, wireRegion, type PdTestClient } from '../support/pd-cluster.js';

const hex = (s: string): string => Buffer.from(s).toString('hex');
type Expected = Omit<SplitEvent, 'seq' | 'atMs'> | Omit<MergeEvent, 'seq' | 'atMs'> | Omit<OperatorEvent, 'seq' | 'atMs'>;

interface Page {
  nowMs: number;
  eventsMax: number;
  recorded: number;
  omitted: number;
  events: RegionEvent[];
}

describe('region events on a real PD', () => {
  let cluster: PdTestCluster;
  let pd: PdTestClient;
  const url = (path: string): string => cluster.httpUrl('pd1', path);
  const call = (method: string, path: string, body?: unknown) => httpJson(url(path), { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
  const events = async (query = ''): Promise<Page> => {
    const r = await call('GET', `region-events${query}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as Page;
  };

  before(async () => {
    cluster = await PdTestCluster.start(1);
    pd = cluster.client('pd1');
    await pd.members();
  });
  after(async () => cluster?.close());

  it('records splits, merges and operators as they happen, in order, and answers them by since and limit', async () => {
    for (const name of SCHEDULER_NAMES) assert.equal((await call('DELETE', `schedulers/${name}`)).status, 200, name);
    const t0 = Date.now();
    const expected: Expected[] = [];
    const operator = (regionId: number, operatorId: number, outcome: string, description: string, toStoreIds: number[] = []): Expected =>
      ({ kind: 'operator', regionId, outcome, operatorId, operatorKind: 'admin', source: 'admin', description, fromStoreIds: [], toStoreIds }) as Expected;

    // Bootstrap, then one region split into a = [−∞, m) (10, the old one), b = [m, t) (20), c = [t, +∞) (30).
    const { a, b, c } = await bootstrapThreeRegions(pd);
    expected.push({ kind: 'split', regionId: a, version: 2, startKey: '', endKey: '', splitKeys: [hex('m')], newRegionIds: [] });

    // A split operator on c, carried out as a store does: ReportBatchSplit in key order, the new region
    // first (right_derive). PD applies the old region first, so its operator lives on and finishes
    // with the next heartbeat that shows the new epoch.
    const split = await call('POST', 'operators', { regionId: c, kind: 'split', keys: [hex('w')] });
    assert.equal(split.status, 201, JSON.stringify(split.body));
    expected.push(operator(c, 1, 'created', 'admin-split'));
    const report = await pd.call('ReportBatchSplit', { header: pd.header(), regions: [wireRegion('40', 't', 'w', 3, [['41', '2']]), wireRegion(String(c), 'w', '', 3, [['31', '2']])] });
    assert.equal(report.header?.error, null);
    expected.push({ kind: 'split', regionId: c, version: 3, startKey: hex('t'), endKey: '', splitKeys: [hex('w')], newRegionIds: [] });
    const stream = pd.raw.RegionHeartbeat();
    try {
      stream.write({ header: pd.header(), region: wireRegion(String(c), 'w', '', 3, [['31', '2']]), leader: { id: '31', storeId: '2', role: 'Voter' }, approximateSize: '1', approximateKeys: '1' });
      await waitFor('the split operator finished', async () => ((await events()).events.some((e) => e.kind === 'operator' && e.outcome === 'finished') ? true : undefined), { timeoutMs: 10_000, intervalMs: 50 });
    } finally {
      stream.end();
    }
    expected.push(operator(c, 1, 'finished', 'admin-split'));

    // An admin operator created and cancelled.
    assert.equal((await call('POST', 'operators', { regionId: b, kind: 'add-peer', storeId: 2 })).status, 201);
    expected.push(operator(b, 2, 'created', 'admin-add-peer', [2]));
    assert.equal((await call('DELETE', `operators/${b}`)).status, 200);
    expected.push(operator(b, 2, 'cancelled', 'admin-add-peer', [2]));

    // A merge operator of a into b; then b reports the merged range: a is gone (so is its operator), b merged it.
    const merge = await call('POST', 'operators', { regionId: a, kind: 'merge', targetRegionId: b });
    assert.equal(merge.status, 201, JSON.stringify(merge.body));
    expected.push(operator(a, 3, 'created', 'admin-merge'));
    const merged = await pd.call('ReportBatchSplit', { header: pd.header(), regions: [wireRegion(String(b), '', 't', 3, [['21', '1']])] });
    assert.equal(merged.header?.error, null);
    expected.push(operator(a, 3, 'regionGone', 'admin-merge'));
    expected.push({ kind: 'merge', regionId: b, version: 3, startKey: '', endKey: hex('t'), mergedRegionIds: [a] });
    const t1 = Date.now();

    const all = await events();
    assert.equal(all.omitted, 0);
    assert.equal(all.recorded, expected.length);
    assert.deepEqual(all.events.map(({ seq: _s, atMs: _t, ...e }) => e), expected);
    assert.deepEqual(all.events.map((e) => e.seq), expected.map((_e, i) => i + 1));
    for (const [i, e] of all.events.entries()) {
      assert.ok(e.atMs >= t0 && e.atMs <= t1, `event ${e.seq} at ${e.atMs} outside [${t0}, ${t1}]`);
      if (i > 0) assert.ok(e.atMs >= all.events[i - 1]!.atMs, 'recorded in time order');
    }

    // since (inclusive) and limit (the newest) against the list just checked.
    const since = all.events[4]!.atMs;
    assert.deepEqual((await events(`?since=${since}`)).events, all.events.filter((e) => e.atMs >= since));
    const newest = await events('?limit=2');
    assert.deepEqual(newest.events, all.events.slice(-2));
    assert.equal(newest.omitted, expected.length - 2);
    const bad = await call('GET', 'region-events?since=-1');
    assert.equal(bad.status, 400);
    assert.equal((bad.body as { code: string }).code, 'InvalidArgument');
  });

  it('a restarted PD does not replay its log as news: the regions are back, the event log starts empty', async () => {
    // Runs after the test above: its splits and merge are in PD's raft log (and schedulers stay off, through raft).
    const before = (await call('GET', 'regions')).body as { regions: { id: number; startKey: string; endKey: string }[] };
    assert.ok(before.regions.length >= 3);
    await cluster.processes.get('pd1')!.stop();
    await cluster.startMember('pd1');
    await cluster.waitForLeader();
    const after = (await call('GET', 'regions')).body as typeof before;
    assert.deepEqual(after.regions.map((r) => [r.id, r.startKey, r.endKey]), before.regions.map((r) => [r.id, r.startKey, r.endKey]), 'the regions came back from the log');
    const page = await events();
    assert.deepEqual([page.recorded, page.events], [0, []]);
  });
});
