// Which held region snapshot the generator (store/snapshot/generator.ts) offers raft: the held one
// only while it is of at least the asked index, younger than its TTL, and of the region's current
// epoch in BOTH parts — a split or merge since (version) or a conf change since (confVer: a peer it
// added is not in the held snapshot's membership) makes it stale. Judged against that rule over
// every epoch around the held one, min index and age at their boundaries. Clock injected; pure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyStateKey, type RegionMeta, regionStateKey, silentLogger } from '../../../common/index.js';
import { MemoryEngine } from '../../../store/index.js';
import { encodeApplyState, encodeRegionState } from '../../../store/local-state.js';
import { SNAPSHOT_GENERATED_TTL_MS, SnapshotGenerator } from '../../../store/snapshot/index.js';

const REGION: RegionMeta = {
  id: 3, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 4, version: 6 },
  peers: [{ id: 31, storeId: 1, role: 'voter' }, { id: 32, storeId: 2, role: 'voter' }, { id: 33, storeId: 3, role: 'learner' }],
};
const INDEX = 40;

describe('region snapshot generator: which held snapshot is offered', () => {
  it('offers the held snapshot exactly when its index, age and epoch (version and confVer) still stand', async () => {
    const engine = new MemoryEngine(); // left open: a generation a judged call starts may still run after its case
    await engine.write([
      { kind: 'put', cf: 'local', key: regionStateKey(REGION.id), value: encodeRegionState({ state: 'normal', region: REGION }) },
      { kind: 'put', cf: 'local', key: applyStateKey(REGION.id), value: encodeApplyState({ appliedIndex: INDEX, truncatedIndex: INDEX, truncatedTerm: 2, approximateKeys: 0 }) },
    ], { sync: true });
    let offered = 0;
    let refusedForConfVer = 0;
    for (const dConf of [-1, 0, 1, 2]) {
      for (const dVersion of [-1, 0, 1, 2]) {
        for (const minIndex of [0, INDEX - 1, INDEX, INDEX + 1]) {
          for (const age of [0, SNAPSHOT_GENERATED_TTL_MS - 1, SNAPSHOT_GENERATED_TTL_MS]) {
            for (const withEpoch of [true, false]) {
              // A fresh generator per case: one held snapshot, made at createdMs, judged once.
              const createdMs = 1_000_000;
              let now = createdMs;
              let generated = 0;
              const gen = new SnapshotGenerator({ engine, logger: silentLogger(), nowMs: () => now, onGenerated: () => generated++, onError: (_, err) => assert.fail(String(err)) });
              try {
                assert.equal(gen.snapshot(REGION.id, INDEX, REGION.epoch), 'unavailable');
                const deadline = Date.now() + 5_000;
                while (generated === 0) {
                  assert.ok(Date.now() < deadline, 'no snapshot generated within 5 s');
                  await new Promise((resolve) => setImmediate(resolve));
                }
                now = createdMs + age;
                const epoch = { confVer: REGION.epoch.confVer + dConf, version: REGION.epoch.version + dVersion };
                const want = minIndex <= INDEX && age < SNAPSHOT_GENERATED_TTL_MS && (!withEpoch || (dConf <= 0 && dVersion <= 0));
                const got = gen.snapshot(REGION.id, minIndex, withEpoch ? epoch : undefined);
                const what = `epoch ${withEpoch ? `${epoch.confVer}/${epoch.version}` : 'not given'} (held ${REGION.epoch.confVer}/${REGION.epoch.version}), min index ${minIndex} (held ${INDEX}), age ${age} ms`;
                if (want) {
                  assert.notEqual(got, 'unavailable', `${what}: not offered`);
                  if (got !== 'unavailable') assert.equal(got.metadata.index, INDEX, what);
                  offered++;
                } else {
                  assert.equal(got, 'unavailable', `${what}: offered`);
                  if (withEpoch && dConf > 0 && dVersion <= 0 && minIndex <= INDEX && age < SNAPSHOT_GENERATED_TTL_MS) refusedForConfVer++;
                }
              } finally {
                gen.close();
              }
            }
          }
        }
      }
    }
    assert.ok(offered > 20 && refusedForConfVer > 5, `${offered} offered, ${refusedForConfVer} refused for a conf change alone`);
  });
});
