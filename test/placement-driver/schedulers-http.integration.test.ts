// PD's scheduler and admin-operator HTTP API on real flotilla-pd processes (issue F7): schedulers
// listed with their state and settings, switched off and on, typed errors for unknown names and
// bad bodies; admin merge (adjacency, same stores, unknown or busy target), split keys inside the
// region, scatter, and bad ids. In a 3-member PD, a switched-off scheduler stays off — and does not
// run — after the leader is stopped, and after every member restarts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REGION_KEY_BYTES_MAX } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { bootstrapThreeRegions, httpJson, PdTestCluster, wireRegion, type PdTestClient } from '../support/pd-cluster.js';

interface SchedulerJson {
  name: string;
  isEnabled: boolean;
  kind: string;
  config: Record<string, unknown>;
  runs: number;
  operatorsCreated: number;
}

const NAMES = ['balance-leader', 'balance-region', 'hot-region', 'merge-checker', 'replica-checker'];
const hex = (s: string): string => Buffer.from(s).toString('hex');

describe('PD schedulers and admin operators over HTTP, one member', () => {
  let cluster: PdTestCluster;
  let pd: PdTestClient;
  let ids: { a: number; b: number; c: number };
  const url = (path: string): string => cluster.httpUrl('pd1', path);
  const call = (method: string, path: string, body?: unknown) => httpJson(url(path), { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });

  before(async () => {
    cluster = await PdTestCluster.start(1);
    pd = cluster.client('pd1');
    ids = await bootstrapThreeRegions(pd);
  });
  after(async () => cluster?.close());

  it('lists every scheduler, on by default, with its kind, limit and settings', async () => {
    const r = await call('GET', 'schedulers');
    assert.equal(r.status, 200);
    const list = (r.body as { schedulers: SchedulerJson[] }).schedulers;
    assert.deepEqual(list.map((s) => s.name).sort(), NAMES);
    for (const s of list) {
      assert.equal(s.isEnabled, true, s.name);
      assert.ok(['leader', 'region', 'merge', 'hotRegion'].includes(s.kind), s.kind);
      assert.equal(typeof s.config, 'object');
    }
    assert.equal(list.find((s) => s.name === 'merge-checker')!.config['disableMerge'], false, 'merges are on by default (the stores execute them)');
  });

  it('switches a scheduler off and on; unknown names are 404 SchedulerNotFound naming the known ones; bad bodies 400', async () => {
    const off = await call('DELETE', 'schedulers/balance-leader');
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal((off.body as SchedulerJson).isEnabled, false);
    assert.equal(((await call('GET', 'schedulers/balance-leader')).body as SchedulerJson).isEnabled, false);
    const again = await call('DELETE', 'schedulers/balance-leader');
    assert.equal(again.status, 200, 'switching off twice is fine');
    const on = await call('POST', 'schedulers', { name: 'balance-leader' });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal((on.body as SchedulerJson).isEnabled, true);
    for (const [method, path, body] of [['DELETE', 'schedulers/nope', undefined], ['GET', 'schedulers/nope', undefined], ['POST', 'schedulers', { name: 'nope' }], ['DELETE', 'schedulers/Balance-Leader', undefined]] as const) {
      const r = await call(method, path, body);
      assert.equal(r.status, 404, `${method} ${path}`);
      const e = r.body as { code: string; message: string };
      assert.equal(e.code, 'SchedulerNotFound');
      for (const name of NAMES) assert.ok(e.message.includes(name), e.message);
    }
    for (const body of [{}, { name: 5 }, [], 'balance-leader', null]) {
      const r = await call('POST', 'schedulers', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal((r.body as { code: string }).code, 'InvalidArgument');
    }
  });

  it('admin merge: adjacent regions on the same stores only; unknown target 404; busy target 409', async () => {
    const ok = await call('POST', 'operators', { regionId: ids.a, kind: 'merge', targetRegionId: ids.b });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual((ok.body as { steps: unknown[] }).steps, [{ kind: 'merge', targetRegionId: ids.b }]);
    const busy = await call('POST', 'operators', { regionId: ids.c, kind: 'merge', targetRegionId: ids.a });
    assert.equal(busy.status, 400, 'c and a are not adjacent'); // checked before the target's operator
    assert.equal((await call('DELETE', `operators/${ids.a}`)).status, 200);
    const cases: [unknown, number, RegExp][] = [
      [{ regionId: ids.a, kind: 'merge', targetRegionId: ids.c }, 400, /not adjacent/],
      [{ regionId: ids.b, kind: 'merge', targetRegionId: ids.c }, 400, /not on the same stores/],
      [{ regionId: ids.a, kind: 'merge', targetRegionId: ids.a }, 400, /itself/],
      [{ regionId: ids.a, kind: 'merge', targetRegionId: 424_242 }, 404, /424242/],
      [{ regionId: ids.a, kind: 'merge' }, 400, /targetRegionId/],
      [{ regionId: ids.a, kind: 'merge', targetRegionId: '20' }, 400, /targetRegionId/],
      [{ regionId: 424_242, kind: 'merge', targetRegionId: ids.a }, 404, /424242/],
    ];
    for (const [body, status, text] of cases) {
      const r = await call('POST', 'operators', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.match(JSON.stringify(r.body), text);
    }
    // The target busy: an operator on b, then merge a → b.
    assert.equal((await call('POST', 'operators', { regionId: ids.b, kind: 'split', keys: [hex('p')] })).status, 201);
    const conflict = await call('POST', 'operators', { regionId: ids.a, kind: 'merge', targetRegionId: ids.b });
    assert.equal(conflict.status, 409, JSON.stringify(conflict.body));
    assert.equal((await call('DELETE', `operators/${ids.b}`)).status, 200);
  });

  it('refuses bad ids, kinds and split keys outside the region with typed errors, queueing nothing', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ regionId: 0, kind: 'scatter' }, 400, /regionId/],
      [{ regionId: -3, kind: 'scatter' }, 400, /regionId/],
      [{ regionId: 1.5, kind: 'scatter' }, 400, /regionId/],
      [{ regionId: '10', kind: 'scatter' }, 400, /regionId/],
      [{ kind: 'scatter' }, 400, /regionId/],
      [{ regionId: 424_242, kind: 'scatter' }, 404, /RegionNotFound/],
      [{ regionId: ids.a, kind: 'shuffle' }, 400, /kind must be/],
      [{ regionId: ids.a, kind: 'transfer-leader', toStoreId: 'abc' }, 400, /toStoreId/],
      [{ regionId: ids.a, kind: 'transfer-leader', toStoreId: 3 }, 400, /no peer on store 3/],
      [{ regionId: ids.a, kind: 'add-peer', storeId: -1 }, 400, /storeId/],
      [{ regionId: ids.a, kind: 'add-peer', storeId: 9_999 }, 404, /StoreNotFound/],
      [{ regionId: ids.a, kind: 'remove-peer', storeId: 9_999 }, 400, /no peer on store 9999/],
      [{ regionId: ids.a, kind: 'split', keys: [hex('z')] }, 400, /not inside region/],
      [{ regionId: ids.b, kind: 'split', keys: [hex('m')] }, 400, /not inside region/],
      // A region's end key is the next region's start: never a split key of this one.
      [{ regionId: ids.a, kind: 'split', keys: [hex('m')] }, 400, /not inside region/],
      [{ regionId: ids.b, kind: 'split', keys: [hex('t')] }, 400, /not inside region/],
      [{ regionId: ids.b, kind: 'split', keys: [hex('p'), hex('t')] }, 400, /keys\[1\].*not inside region/],
      [{ regionId: ids.b, kind: 'split', keys: [hex('m') + '61'.repeat(REGION_KEY_BYTES_MAX)] }, 400, /longer than/],
      [{ regionId: ids.b, kind: 'split', keys: ['zz'] }, 400, /not hex/],
      [{ regionId: ids.b, kind: 'split', keys: '6d' }, 400, /array/],
      [{ regionId: ids.a, kind: 'scatter' }, 400, /no known leader/],
    ];
    for (const [body, status, text] of cases) {
      const r = await call('POST', 'operators', body);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.match(JSON.stringify(r.body), text, JSON.stringify(body));
    }
    assert.deepEqual(((await call('GET', 'operators')).body as { operators: unknown[] }).operators, []);
    // The boundaries that are taken: the keys right after the start and right before the end, and
    // a key of exactly REGION_KEY_BYTES_MAX bytes.
    for (const keys of [[hex('m') + '00', hex('s') + 'ff'.repeat(8)], [hex('m') + '61'.repeat(REGION_KEY_BYTES_MAX - 1)]]) {
      const r = await call('POST', 'operators', { regionId: ids.b, kind: 'split', keys });
      assert.equal(r.status, 201, `${keys.map((k) => k.slice(0, 20)).join(', ')} → ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      assert.equal((await call('DELETE', `operators/${ids.b}`)).status, 200);
    }
  });

  it('scatters a region with a leader onto the heard-from stores', async () => {
    // The replica checker would add replicas to the one-voter region first: switch it off.
    // The controller counts a store as heard only from the first scheduling round of this
    // leadership on: heartbeats before it would not count.
    await waitFor('a scheduling round', async () => {
      const list = (await call('GET', 'schedulers')).body as { schedulers: { name: string; runs: number }[] };
      return list.schedulers.some((x) => x.runs > 0) ? true : undefined;
    });
    assert.equal((await call('DELETE', 'schedulers/replica-checker')).status, 200);
    try {
      for (const id of ['1', '2', '3']) {
        const hb = await pd.call('StoreHeartbeat', { header: pd.header(), stats: { storeId: id, capacity: '1', available: '1', regionCount: 1 } });
        assert.equal(hb.header?.error ?? null, null, JSON.stringify(hb.header?.error));
      }
      const stream = pd.raw.RegionHeartbeat();
      stream.on('data', () => undefined);
      try {
        stream.write({ header: pd.header(), region: wireRegion('10', '', 'm', 2, [['11', '1']]), leader: { id: '11', storeId: '1', role: 'Voter' } });
        await waitFor('region a to have a leader', async () => (((await call('GET', `region/id/${ids.a}`)).body as { leaderPeerId: number }).leaderPeerId === 11 ? true : undefined));
      } finally {
        stream.end();
      }
      let moved = false;
      for (let attempt = 0; attempt < 20 && !moved; attempt++) {
        const r = await call('POST', 'operators', { regionId: ids.a, kind: 'scatter' });
        assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
        const steps = (r.body as { steps: { kind: string; peer?: { storeId: number } }[] }).steps;
        if (r.status === 200) {
          assert.deepEqual(steps, []);
          continue;
        }
        moved = true;
        assert.deepEqual(steps.map((s) => s.kind).slice(0, 2), ['addPeer', 'promoteLearner']);
        assert.ok([2, 3].includes(steps[0]!.peer!.storeId));
        assert.equal((await call('DELETE', `operators/${ids.a}`)).status, 200);
      }
      assert.ok(moved, 'scatter never moved the replica off the busiest store in 20 tries');
    } finally {
      assert.equal((await call('POST', 'schedulers', { name: 'replica-checker' })).status, 200);
    }
  });
});

describe('PD scheduler switches, three members', () => {
  let cluster: PdTestCluster;

  before(async () => {
    cluster = await PdTestCluster.start(3);
  });
  after(async () => cluster?.close());

  const schedulers = async (name: string): Promise<SchedulerJson[]> => {
    const r = await httpJson(cluster.httpUrl(name, 'schedulers'));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body as { schedulers: SchedulerJson[] }).schedulers;
  };

  it('a scheduler switched off stays off, and does not run, after a leader change and after every member restarts', async () => {
    const leader = await cluster.waitForLeader();
    await bootstrapThreeRegions(cluster.client(leader));
    const off = await httpJson(cluster.httpUrl(leader, 'schedulers/hot-region'), { method: 'DELETE' });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    await cluster.processes.get(leader)!.stop();
    const next = await cluster.waitForLeader();
    assert.notEqual(next, leader);
    const seen = await waitFor('the new leader to run its schedulers', async () => {
      const list = await schedulers(next);
      return list.find((s) => s.name === 'replica-checker')!.runs >= 2 ? list : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const hot = seen.find((s) => s.name === 'hot-region')!;
    assert.equal(hot.isEnabled, false);
    assert.equal(hot.runs, 0, 'a switched-off scheduler ran on the new leader');
    assert.ok(seen.filter((s) => s.name !== 'hot-region').every((s) => s.isEnabled && s.runs > 0));
    // Every member restarts (the stopped one included): the switch is in the log and snapshots.
    for (const name of cluster.processes.keys()) await cluster.processes.get(name)!.stop();
    for (const m of cluster.members) await cluster.startMember(m.name);
    const third = await cluster.waitForLeader();
    const after = await waitFor('the restarted leader to run its schedulers', async () => {
      const list = await schedulers(third);
      return list.find((s) => s.name === 'replica-checker')!.runs >= 2 ? list : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.deepEqual(after.filter((s) => !s.isEnabled).map((s) => [s.name, s.runs]), [['hot-region', 0]]);
  });
});
