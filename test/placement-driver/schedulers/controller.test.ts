// The scheduler controller over a real PdStateMachine and OperatorController with an injected
// clock: it schedules only while this member is the serving leader; a switch off (replicated
// state) keeps a scheduler from running across leadership changes and a snapshot restore; limits
// bound the operators in flight per kind; a store silent since before this leadership is not
// declared down at once; operators carry their scheduler and kind; offline stores emptied of
// replicas are retired.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, createMetricsRegistry, createRng, encodeKey } from '../../../common/index.js';
import { OperatorController } from '../../../placement-driver/operators.js';
import type { RegionMeta } from '../../../placement-driver/region-index.js';
import { SchedulerController, type SchedulerName } from '../../../placement-driver/schedulers/index.js';
import type { RegionRuntime, StoreRuntime } from '../../../placement-driver/service.js';
import { PdStateMachine, type StoreMeta } from '../../../placement-driver/state-machine.js';

const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s)));
const store = (id: number, state: StoreMeta['state'] = 'up'): StoreMeta => ({ id, address: `127.0.0.1:${20000 + id}`, statusAddress: '', labels: {}, state, version: '0.1.0', startTimestampMs: 1 });

class Harness {
  nowMs = 1_000_000;
  isLeader = true;
  readonly sm = new PdStateMachine();
  readonly operators = new OperatorController(() => this.nowMs);
  readonly storeRuntime = new Map<number, StoreRuntime>();
  readonly regionRuntime = new Map<number, RegionRuntime>();
  readonly registry = createMetricsRegistry();
  readonly retired: number[] = [];
  private nextId = 1_000n;
  readonly controller: SchedulerController;

  constructor(storeCount: number) {
    this.sm.apply({ kind: 'initCluster', clusterId: 7n });
    this.sm.apply({ kind: 'bootstrap', store: store(1), region: { id: 2, startKey: k(''), endKey: k(''), epoch: { confVer: 1, version: 1 }, peers: [{ id: 3, storeId: 1, role: 'voter' }] } });
    for (let id = 2; id <= storeCount; id++) this.sm.apply({ kind: 'putStore', store: store(id) });
    this.controller = new SchedulerController({
      sm: this.sm,
      canServe: () => this.isLeader,
      operators: this.operators,
      allocIds: async (count) => Array.from({ length: count }, () => this.nextId++),
      storeRuntime: this.storeRuntime,
      regionRuntime: this.regionRuntime,
      nowMs: () => this.nowMs,
      logger: createLogger({ level: 'silent' }),
      registry: this.registry,
      rng: createRng(1),
      proposeDeleteStore: (id) => this.retired.push(id),
    });
  }

  heartbeatStores(): void {
    for (const id of this.sm.stores.keys()) this.storeRuntime.set(id, { stats: null, lastHeartbeatMs: this.nowMs });
  }

  /** A region with one voter on store 1, led by it, as if its leader had reported. */
  putRegion(id: number, start: string, end: string, peers: RegionMeta['peers'] = [{ id: id + 1, storeId: 1, role: 'voter' }]): void {
    const region: RegionMeta = { id, startKey: k(start), endKey: k(end), epoch: { confVer: 1, version: 2 }, peers };
    assert.equal(this.sm.apply({ kind: 'putRegion', region, leaderPeerId: peers[0]!.id }).kind, 'ok');
    this.regionRuntime.set(id, { approximateSizeBytes: 0, approximateKeys: 0, bytesWritten: 0, bytesRead: 0, trafficIntervalMs: 0, downPeers: [], pendingPeers: [], versionSeenAtMs: this.nowMs, confVerSeenAtMs: this.nowMs - 24 * 3_600_000 });
  }

  runs(name: SchedulerName): number {
    return this.controller.status().find((s) => s.name === name)!.runs;
  }
}

describe('scheduler controller', () => {
  it('schedules only on the serving leader, and a scheduler switched off stays off across leadership changes', async () => {
    const h = new Harness(3);
    h.heartbeatStores();
    h.putRegion(2, '', '');
    assert.equal(h.sm.apply({ kind: 'setSchedulerEnabled', name: 'replica-checker', isEnabled: false }).kind, 'ok');
    h.isLeader = false;
    assert.deepEqual(await h.controller.round(), { kind: 'notLeader' });
    assert.equal(h.operators.size, 0);
    h.isLeader = true;
    for (let i = 0; i < 3; i++) {
      h.nowMs += 1_000;
      h.heartbeatStores();
      await h.controller.round();
      h.isLeader = i % 2 === 0; // lose and regain leadership between rounds
    }
    assert.equal(h.runs('replica-checker'), 0, 'a switched-off scheduler ran');
    assert.ok(h.runs('balance-leader') > 0);
    assert.equal(h.operators.size, 0, 'the region short of replicas was repaired by a switched-off checker');
    h.isLeader = true;
    assert.equal(h.sm.apply({ kind: 'setSchedulerEnabled', name: 'replica-checker', isEnabled: true }).kind, 'ok');
    const outcome = await h.controller.round();
    assert.equal(outcome.kind, 'ran');
    const [op] = h.operators.list();
    assert.ok(op !== undefined, 'no operator once switched on');
    assert.deepEqual([op.kind, op.source, op.steps.map((s) => s.kind)], ['region', 'replica-checker', ['addPeer', 'promoteLearner']]);
    const metrics = await h.registry.metrics();
    assert.match(metrics, /flotilla_pd_scheduler_operators_created_total\{scheduler="replica-checker",kind="region"\} 1/);
  });

  it('keeps the switches through a snapshot restore (a new member or a restart)', () => {
    const h = new Harness(3);
    h.sm.apply({ kind: 'setSchedulerEnabled', name: 'hot-region', isEnabled: false });
    h.sm.apply({ kind: 'setSchedulerEnabled', name: 'merge-checker', isEnabled: true });
    const restored = new PdStateMachine();
    restored.restore(h.sm.snapshot());
    assert.deepEqual([...restored.schedulerSwitches], [['hot-region', false], ['merge-checker', true]]);
    assert.equal(restored.apply({ kind: 'setSchedulerEnabled', name: 'no-such', isEnabled: false }).kind, 'refused');
    assert.equal(restored.apply({ kind: 'setSchedulerEnabled', name: 'hot-region', isEnabled: false }).kind, 'unchanged');
  });

  it('never has more operators of a kind in flight than its schedule limit', async () => {
    const h = new Harness(4);
    h.heartbeatStores();
    const keys = ['', 'b', 'c', 'd', 'e', 'f', 'g', ''];
    for (let i = 0; i + 1 < keys.length; i++) h.putRegion(100 + i * 10, keys[i]!, keys[i + 1]!);
    h.sm.apply({ kind: 'patchConfig', patch: { regionScheduleLimit: 2 } });
    for (let round = 0; round < 4; round++) {
      h.nowMs += 1_000;
      h.heartbeatStores();
      await h.controller.round();
      const regionOps = h.operators.list().filter((o) => o.kind === 'region').length;
      assert.ok(regionOps <= 2, `${regionOps} region operators in flight, limit 2`);
    }
    assert.equal(h.operators.list().filter((o) => o.kind === 'region').length, 2);
  });

  it('does not declare a store down for silence from before this leadership; does after maxStoreDownTimeMs more', async () => {
    const h = new Harness(4);
    h.heartbeatStores();
    h.sm.apply({ kind: 'patchConfig', patch: { maxStoreDownTimeMs: 60_000 } });
    // Three voters on stores 1-3; store 4 is spare.
    h.putRegion(50, '', '', [{ id: 51, storeId: 1, role: 'voter' }, { id: 52, storeId: 2, role: 'voter' }, { id: 53, storeId: 3, role: 'voter' }]);
    h.isLeader = false;
    await h.controller.round();
    h.nowMs += 10 * 60_000; // store 3's last heartbeat is now old, from an earlier leadership
    h.isLeader = true;
    for (const id of [1, 2, 4]) h.storeRuntime.set(id, { stats: null, lastHeartbeatMs: h.nowMs });
    await h.controller.round();
    assert.equal(h.operators.size, 0, 'store 3 declared down the moment leadership began');
    h.nowMs += 61_000;
    for (const id of [1, 2, 4]) h.storeRuntime.set(id, { stats: null, lastHeartbeatMs: h.nowMs });
    await h.controller.round();
    const op = h.operators.get(50);
    assert.ok(op !== undefined, 'the replica on down store 3 was not replaced');
    assert.match(op.description, /replace-down-peer store 3 → 4/);
  });

  it('proposes to retire an offline store once it holds no replica', async () => {
    const h = new Harness(3);
    h.heartbeatStores();
    h.sm.apply({ kind: 'deleteStore', storeId: 3 });
    assert.equal(h.sm.stores.get(3)?.state, 'tombstone', 'an empty store becomes a tombstone at once');
    h.sm.apply({ kind: 'putStore', store: store(4) });
    h.putRegion(2, '', '', [{ id: 61, storeId: 1, role: 'voter' }, { id: 62, storeId: 4, role: 'voter' }]);
    h.sm.apply({ kind: 'deleteStore', storeId: 4 });
    assert.equal(h.sm.stores.get(4)?.state, 'offline');
    await h.controller.round();
    assert.deepEqual(h.retired, []);
    h.putRegion(2, '', '', [{ id: 61, storeId: 1, role: 'voter' }]);
    await h.controller.round();
    assert.deepEqual(h.retired, [4]);
  });
});
