// PD's replicated state machine: deterministic apply, monotonic fields, bootstrap rules,
// lossless command encoding, and snapshots that round-trip and refuse corruption.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, encodeKey, U64_MAX } from '../../common/index.js';
import { PdStateMachine, encodePdCommand, decodePdCommand, type PdCommand, type StoreMeta } from '../../placement-driver/state-machine.js';
import { DEFAULT_CLUSTER_CONFIG } from '../../placement-driver/cluster-config.js';
import type { RegionMeta } from '../../placement-driver/region-index.js';

const store = (id: number, address = `127.0.0.1:${20000 + id}`): StoreMeta => ({
  id, address, statusAddress: `127.0.0.1:${30000 + id}`, labels: { zone: 'z1' }, state: 'up', version: '0.1.0', startTimestampMs: 1_700_000_000,
});
const k = (s: string): Buffer => (s === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(s)));
const region = (id: number, start: string, end: string, version: number): RegionMeta => ({
  id, startKey: k(start), endKey: k(end), epoch: { confVer: 1, version }, peers: [{ id: id + 100, storeId: 1, role: 'voter' }],
});

function bootstrapped(): PdStateMachine {
  const sm = new PdStateMachine();
  assert.deepEqual(sm.apply({ kind: 'initCluster', clusterId: 7n }), { kind: 'ok' });
  assert.deepEqual(sm.apply({ kind: 'bootstrap', store: store(1), region: region(2, '', '', 1) }), { kind: 'ok' });
  return sm;
}

describe('PD state machine', () => {
  it('initializes the cluster id once and bootstraps once', () => {
    const sm = bootstrapped();
    assert.deepEqual(sm.apply({ kind: 'initCluster', clusterId: 9n }), { kind: 'unchanged' });
    assert.equal(sm.clusterId, 7n);
    assert.equal(sm.apply({ kind: 'bootstrap', store: store(1), region: region(2, '', '', 1) }).kind, 'refused');
    assert.equal(sm.regions.getByKey(k('anything'))?.id, 2);
  });

  it('refuses a first region that does not cover the key space or has no peer on the store', () => {
    const sm = new PdStateMachine();
    assert.equal(sm.apply({ kind: 'bootstrap', store: store(1), region: region(2, 'a', '', 1) }).kind, 'refused');
    assert.equal(sm.apply({ kind: 'bootstrap', store: store(5), region: region(2, '', '', 1) }).kind, 'refused');
    assert.equal(sm.bootstrapped, false);
    assert.equal(sm.apply({ kind: 'putRegion', region: region(2, '', '', 1), leaderPeerId: 0 }).kind, 'refused');
  });

  it('keeps monotonic fields monotonic', () => {
    const sm = bootstrapped();
    assert.deepEqual(sm.apply({ kind: 'raiseIdHighWater', highWater: 1000n }), { kind: 'ok' });
    assert.deepEqual(sm.apply({ kind: 'raiseIdHighWater', highWater: 500n }), { kind: 'unchanged' });
    assert.equal(sm.idHighWater, 1000n);
    sm.apply({ kind: 'raiseTsoBound', boundMs: 5000n });
    sm.apply({ kind: 'raiseTsoBound', boundMs: 4000n });
    assert.equal(sm.tsoBoundMs, 5000n);
    assert.deepEqual(sm.apply({ kind: 'updateGcSafePoint', safePoint: 10n }), { kind: 'gcSafePoint', safePoint: 10n });
    const back = sm.apply({ kind: 'updateGcSafePoint', safePoint: 9n });
    assert.equal(back.kind === 'refused' && back.code, 'GcSafePointBackwards');
    assert.equal(sm.gcSafePoint, 10n);
  });

  it('records region updates and leaders, refusing stale epochs', () => {
    const sm = bootstrapped();
    assert.equal(sm.apply({ kind: 'putRegion', region: region(2, '', 'm', 2), leaderPeerId: 102 }).kind, 'ok');
    assert.equal(sm.apply({ kind: 'putRegion', region: region(3, 'm', '', 2), leaderPeerId: 103 }).kind, 'ok');
    assert.equal(sm.apply({ kind: 'putRegion', region: region(3, 'm', '', 2), leaderPeerId: 103 }).kind, 'unchanged');
    assert.equal(sm.apply({ kind: 'putRegion', region: region(2, '', '', 1), leaderPeerId: 102 }).kind, 'staleRegion');
    assert.equal(sm.leaders.get(3), 103);
    assert.equal(sm.apply({ kind: 'putRegion', region: region(3, 'm', '', 2), leaderPeerId: 104 }).kind, 'ok'); // leader moved
  });

  it('tells its observer which regions it drops (merge, restore), never for a refused stale report', () => {
    const sm = bootstrapped();
    sm.apply({ kind: 'putRegion', region: region(2, '', 'm', 2), leaderPeerId: 102 });
    sm.apply({ kind: 'putRegion', region: region(3, 'm', '', 2), leaderPeerId: 103 });
    const removed: number[] = [];
    sm.onRegionRemoved = (id) => removed.push(id);
    assert.equal(sm.apply({ kind: 'putRegion', region: region(2, '', 'm', 1), leaderPeerId: 102 }).kind, 'staleRegion');
    assert.deepEqual(removed, []);
    assert.equal(sm.apply({ kind: 'putRegion', region: region(3, '', '', 3), leaderPeerId: 103 }).kind, 'ok'); // 3 absorbs 2
    assert.deepEqual(removed, [2]);
    assert.equal(sm.leaders.has(2), false);
    const before = bootstrapped(); // one region, id 2
    sm.restore(before.snapshot()); // region 3 is not in it
    assert.deepEqual(removed, [2, 3]);
  });

  it('refuses tombstoned stores and duplicate addresses', () => {
    const sm = bootstrapped();
    assert.equal(sm.apply({ kind: 'putStore', store: { ...store(4), state: 'tombstone' } }).kind, 'ok');
    const again = sm.apply({ kind: 'putStore', store: store(4) });
    assert.equal(again.kind === 'refused' && again.code, 'StoreTombstone');
    const dup = sm.apply({ kind: 'putStore', store: store(5, store(1).address) });
    assert.equal(dup.kind === 'refused' && dup.code, 'InvalidArgument');
  });

  it('validates config patches', () => {
    const sm = bootstrapped();
    assert.equal(sm.apply({ kind: 'patchConfig', patch: { maxPeerCount: 5 } }).kind, 'ok');
    assert.equal(sm.config.maxPeerCount, 5);
    for (const patch of [{ maxPeerCount: 4 }, { maxPeerCount: 0 }, { bogus: 1 }, { regionMergeSizeBytesMax: DEFAULT_CLUSTER_CONFIG.regionSplitSizeBytes }] as Record<string, number | boolean>[]) {
      const r = sm.apply({ kind: 'patchConfig', patch });
      assert.equal(r.kind, 'refused', JSON.stringify(patch));
    }
    assert.equal(sm.config.maxPeerCount, 5);
  });

  it('reads config names from before F8 in committed entries and snapshots (maxReplicas → maxPeerCount)', () => {
    const sm = bootstrapped();
    assert.equal(sm.apply({ kind: 'patchConfig', patch: { maxReplicas: 5, mergeMaxKeys: 1_000 } }).kind, 'ok');
    assert.equal(sm.config.maxPeerCount, 5);
    assert.equal(sm.config.regionMergeKeysMax, 1_000);
    // A snapshot written before the rename carries the old names.
    const old = new PdStateMachine();
    const legacy = JSON.parse(JSON.stringify({ ...sm.config, maxReplicas: 7, mergeMaxSizeBytes: 1, maxPeerCount: undefined, regionMergeSizeBytesMax: undefined })) as Record<string, unknown>;
    Object.assign(old, { config: legacy });
    const restored = new PdStateMachine();
    restored.restore(old.snapshot());
    assert.equal(restored.config.maxPeerCount, 7);
    assert.equal(restored.config.regionMergeSizeBytesMax, 1);
    assert.equal('maxReplicas' in restored.config, false);
  });

  it('deletes a store: offline while it holds region peers, tombstone once it holds none; again is a no-op', () => {
    const sm = bootstrapped();
    assert.equal(sm.apply({ kind: 'putStore', store: store(3) }).kind, 'ok');
    assert.deepEqual(sm.apply({ kind: 'deleteStore', storeId: 1 }), { kind: 'ok' });
    assert.equal(sm.stores.get(1)?.state, 'offline', 'store 1 holds region 2');
    assert.deepEqual(sm.apply({ kind: 'deleteStore', storeId: 1 }), { kind: 'unchanged' });
    // The store restarts and reports itself up: it stays offline.
    assert.equal(sm.apply({ kind: 'putStore', store: store(1) }).kind, 'ok');
    assert.equal(sm.stores.get(1)?.state, 'offline');
    assert.deepEqual(sm.apply({ kind: 'deleteStore', storeId: 3 }), { kind: 'ok' });
    assert.equal(sm.stores.get(3)?.state, 'tombstone', 'store 3 holds nothing');
    assert.deepEqual(sm.apply({ kind: 'deleteStore', storeId: 3 }), { kind: 'unchanged' });
    assert.equal(sm.stores.get(3)?.state, 'tombstone');
    const missing = sm.apply({ kind: 'deleteStore', storeId: 99 });
    assert.equal(missing.kind === 'refused' && missing.code, 'StoreNotFound');
  });

  it("a member's own address refresh never re-adds it after its removal (it may commit after the RemoveNode)", () => {
    const sm = bootstrapped();
    const pd4 = { id: 4, name: 'pd4', peerUrls: ['127.0.0.1:2384'], clientUrls: ['127.0.0.1:2383'] };
    assert.deepEqual(sm.apply({ kind: 'updateMember', member: pd4 }), { kind: 'unchanged' }, 'not listed yet: nothing to update');
    assert.equal(sm.members.has(4), false);
    assert.deepEqual(sm.apply({ kind: 'putMember', member: pd4 }), { kind: 'ok' });
    const refreshed = { ...pd4, statusAddress: '127.0.0.1:2385' };
    assert.deepEqual(sm.apply({ kind: 'updateMember', member: refreshed }), { kind: 'ok' });
    assert.deepEqual(sm.members.get(4), refreshed);
    assert.deepEqual(sm.apply({ kind: 'removeMember', memberId: 4 }), { kind: 'ok' });
    assert.deepEqual(sm.apply({ kind: 'updateMember', member: refreshed }), { kind: 'unchanged' });
    assert.equal(sm.members.has(4), false);
    assert.deepEqual(decodePdCommand(encodePdCommand({ kind: 'updateMember', member: refreshed })), { kind: 'updateMember', member: refreshed });
  });

  it('encodes commands losslessly (u64 above 2^53, bytes)', () => {
    const cmds: PdCommand[] = [
      { kind: 'raiseTsoBound', boundMs: U64_MAX },
      { kind: 'initCluster', clusterId: (1n << 53n) + 1n },
      { kind: 'putRegion', region: region(9, 'a\u0000b', 'zz', 3), leaderPeerId: 109 },
    ];
    for (const c of cmds) assert.deepEqual(decodePdCommand(encodePdCommand(c)), c);
    assert.throws(() => decodePdCommand(Buffer.from([1, 0x7b, 0x7d])), { code: 'Corruption' });
    assert.throws(() => decodePdCommand(Buffer.from([9])), { code: 'Corruption' });
    assert.throws(() => decodePdCommand(Buffer.concat([Buffer.from([1]), Buffer.from('{"kind":"dropTables"}')])), { code: 'Corruption' });
  });

  it('is deterministic and snapshots round-trip exactly; corruption is refused', () => {
    const rng = createRng(11);
    const a = bootstrapped();
    const b = bootstrapped();
    let version = 1;
    let nextId = 10;
    const bounds: string[] = [];
    for (let i = 0; i < 300; i++) {
      let cmd: PdCommand;
      switch (rng.nextInt(5)) {
        case 0:
          cmd = { kind: 'raiseIdHighWater', highWater: BigInt(rng.nextInt(1 << 30)) };
          break;
        case 1:
          cmd = { kind: 'updateGcSafePoint', safePoint: BigInt(rng.nextInt(1 << 30)) };
          break;
        case 2:
          cmd = { kind: 'putStore', store: store(100 + rng.nextInt(20), `127.0.0.1:${40000 + i}`) };
          break;
        case 3: {
          const split = `k${rng.nextInt(100000).toString().padStart(6, '0')}`;
          if (bounds.includes(split)) continue;
          bounds.push(split);
          bounds.sort();
          version++;
          const at = bounds.indexOf(split);
          cmd = { kind: 'putRegion', region: { ...region(nextId++, split, bounds[at + 1] ?? '', version) }, leaderPeerId: 1 };
          break;
        }
        default:
          cmd = { kind: 'raiseTsoBound', boundMs: BigInt(rng.nextInt(1 << 30)) };
      }
      const bytes = encodePdCommand(cmd);
      assert.deepEqual(a.apply(decodePdCommand(bytes)), b.apply(decodePdCommand(bytes)));
    }
    const snap = a.snapshot();
    assert.deepEqual(snap, b.snapshot());
    const c = new PdStateMachine();
    c.restore(snap);
    assert.deepEqual(c.snapshot(), snap);
    assert.equal(c.regions.size, a.regions.size);
    const corrupt = Buffer.from(snap);
    corrupt[corrupt.length - 3] = corrupt[corrupt.length - 3]! ^ 0x01;
    const d = new PdStateMachine();
    assert.throws(() => d.restore(corrupt), { code: 'Corruption' });
    assert.equal(d.regions.size, 0);
  });
});
