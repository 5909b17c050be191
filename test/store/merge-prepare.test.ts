// MergeDriver.prepare's rules, one state at a time (store/merge.ts): when a source leader takes a
// merge order and proposes PrepareMerge, and when it refuses. The states are built directly on
// stand-in peers (the fields prepare reads), with real encoded raft commands in their logs — in
// particular the one no cluster run reaches on demand: a CompactLog an EARLIER leader left in the
// log, unapplied, which this leader did not propose (its own in-flight flag is off). A CompactLog
// applying after PrepareMerge could compact past a follower's match, and a merging source makes no
// snapshot: the merge would hang (merge sim seed 724).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FlotillaError, type RegionMeta, silentLogger } from '../../common/index.js';
import type { Entry } from '../../raft/index.js';
import { MergeDriver } from '../../store/merge.js';
import type { Peer } from '../../store/peer.js';
import { decodeCommand, encodeCompactLogCommand, encodeWriteCommand } from '../../store/raft-cmd.js';

const SOURCE = 10;
const TARGET = 20;
const epoch = { confVer: 3, version: 4 };
const peers = [1, 2, 3].map((s) => ({ id: SOURCE * 10 + s, storeId: s, role: 'voter' as const }));
const sourceRegion: RegionMeta = { id: SOURCE, startKey: Buffer.from('m'), endKey: Buffer.alloc(0), epoch, peers };
const targetRegion: RegionMeta = { id: TARGET, startKey: Buffer.alloc(0), endKey: Buffer.from('m'), epoch, peers: [1, 2, 3].map((s) => ({ id: TARGET * 10 + s, storeId: s, role: 'voter' as const })) };

const compactLog = (index: number): Entry => ({
  index, term: 2, type: 'Normal',
  data: encodeCompactLogCommand({ regionId: SOURCE, peerId: 11, epoch, compactIndex: index - 5, compactTerm: 2 }),
});
const write = (index: number): Entry => ({
  index, term: 3, type: 'Normal',
  data: encodeWriteCommand({ regionId: SOURCE, peerId: 11, epoch, ops: [{ kind: 'put', cf: 'default', key: Buffer.from('mk'), value: Buffer.from('v') }] }),
});

interface SourceState {
  /** Follower matches by peer id (the leader's own included). */
  readonly match: ReadonlyMap<number, number>;
  readonly truncatedIndex: number;
  readonly applied: number;
  /** Entries above applied as the cache holds them; null: the cache does not reach applied + 1. */
  readonly unapplied: readonly Entry[] | null;
  readonly isCompactLogInFlight: boolean;
}

const healthy: SourceState = {
  match: new Map([[11, 40], [12, 38], [13, 35]]),
  truncatedIndex: 20,
  applied: 40,
  unapplied: [],
  isCompactLogInFlight: false,
};

/** A driver on store 1 holding the target, and the source leader in `state`; records what it proposes. */
function driverWith(state: SourceState, options: { readonly hasTarget?: boolean } = {}): { driver: MergeDriver; source: Peer; proposed: Uint8Array[] } {
  const proposed: Uint8Array[] = [];
  const source = {
    regionId: SOURCE, peerId: 11, region: sourceRegion, mergeState: null, applied: state.applied,
    isCompactLogInFlight: state.isCompactLogInFlight,
    progressMatch: () => state.match,
    storage: { truncatedIndex: state.truncatedIndex, lastIndex: () => state.applied + (state.unapplied?.length ?? 0), cachedEntriesFrom: () => state.unapplied },
    propose: (data: Uint8Array) => {
      proposed.push(data);
      return Promise.resolve({ kind: 'ok' as const });
    },
  } as unknown as Peer;
  const target = { regionId: TARGET, region: targetRegion, mergeState: null, storage: { lastIndex: () => 30 } } as unknown as Peer;
  const map = new Map<number, Peer>([[SOURCE, source]]);
  if (options.hasTarget !== false) map.set(TARGET, target);
  const driver = new MergeDriver({ storeId: 1, peers: map, markDirty: () => undefined, logger: silentLogger() });
  return { driver, source, proposed };
}

async function refusal(state: SourceState, options: { readonly hasTarget?: boolean } = {}): Promise<{ code: string | null; proposed: number }> {
  const { driver, source, proposed } = driverWith(state, options);
  try {
    await driver.prepare(source, TARGET);
    return { code: null, proposed: proposed.length };
  } catch (err) {
    assert.ok(err instanceof FlotillaError, String(err));
    return { code: err.code, proposed: proposed.length };
  }
}

describe('MergeDriver.prepare: when the source leader proposes PrepareMerge', () => {
  it('proposes it when every peer replicates from the log and no CompactLog is pending, with the lowest match as min index', async () => {
    const { driver, source, proposed } = driverWith(healthy);
    await driver.prepare(source, TARGET);
    assert.equal(proposed.length, 1);
    const cmd = decodeCommand(proposed[0]!, 'test');
    assert.equal(cmd.kind, 'prepareMerge');
    assert.ok(cmd.kind === 'prepareMerge');
    assert.equal(cmd.minIndex, 35);
    assert.equal(cmd.target.id, TARGET);
    // A peer whose match is exactly the truncated index still catches up from the log.
    assert.deepEqual(await refusal({ ...healthy, match: new Map([[11, 40], [12, 38], [13, 20]]) }), { code: null, proposed: 1 });
    // Writes above applied are no reason to wait.
    assert.deepEqual(await refusal({ ...healthy, unapplied: [write(41), write(42)] }), { code: null, proposed: 1 });
  });

  const cases: { readonly name: string; readonly state: SourceState; readonly hasTarget?: boolean; readonly code: string }[] = [
    { name: 'no replica of the target on this store', state: healthy, hasTarget: false, code: 'RegionNotFound' },
    { name: 'a peer not replicating yet (its match unknown)', state: { ...healthy, match: new Map([[11, 40], [12, 38]]) }, code: 'ServerIsBusy' },
    { name: 'a peer behind the compacted log (it would need a snapshot)', state: { ...healthy, match: new Map([[11, 40], [12, 38], [13, 19]]) }, code: 'ServerIsBusy' },
    { name: 'this leader\'s CompactLog in flight', state: { ...healthy, isCompactLogInFlight: true }, code: 'ServerIsBusy' },
    { name: 'an earlier leader\'s CompactLog in the log, unapplied (this leader\'s flag is off)', state: { ...healthy, unapplied: [write(41), compactLog(42), write(43)] }, code: 'ServerIsBusy' },
    { name: 'the unapplied log not readable from the cache', state: { ...healthy, unapplied: null }, code: 'ServerIsBusy' },
    { name: 'an unapplied entry that does not decode', state: { ...healthy, unapplied: [{ index: 41, term: 3, type: 'Normal', data: Buffer.from([0xff, 0xff, 0xff]) }] }, code: 'ServerIsBusy' },
  ];
  for (const c of cases) {
    it(`refuses, proposing nothing: ${c.name}`, async () => {
      assert.deepEqual(await refusal(c.state, c.hasTarget === undefined ? {} : { hasTarget: c.hasTarget }), { code: c.code, proposed: 0 });
    });
  }

  it('a CompactLog already applied (at or below applied) does not hold the merge back', async () => {
    // The cache holds only what is above applied; an applied CompactLog is simply not there.
    assert.deepEqual(await refusal({ ...healthy, applied: 42, unapplied: [write(43)], match: new Map([[11, 43], [12, 42], [13, 41]]) }), { code: null, proposed: 1 });
  });
});
