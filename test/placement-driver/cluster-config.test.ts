// patchClusterConfig at every edge: each numeric field at min − 1, min, max and max + 1, and as a
// non-integer or a string; the boolean field as true, false, 1, 'true' and null; an unknown field;
// and the relations (an odd replica count, merge bounds below split bounds) on both sides of each
// boundary. The expectation comes from the ranges the module exports the fields of, and the rules
// its header states, not from the code's branches.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_CONFIG_FIELDS, DEFAULT_CLUSTER_CONFIG, patchClusterConfig } from '../../placement-driver/cluster-config.js';

const MiB = 1024 * 1024;

/** The documented range of each numeric field (cluster-config.ts): what an operator may set. */
const RANGES: Readonly<Record<string, readonly [number, number]>> = {
  maxPeerCount: [1, 7],
  regionSplitSizeBytes: [1 * MiB, 10 * 1024 * MiB],
  regionSplitKeys: [1_000, 100_000_000],
  regionMergeSizeBytesMax: [0, 10 * 1024 * MiB],
  regionMergeKeysMax: [0, 100_000_000],
  splitMergeIntervalMs: [0, 7 * 24 * 3_600_000],
  leaderScheduleLimit: [0, 1_024],
  regionScheduleLimit: [0, 65_536],
  mergeScheduleLimit: [0, 1_024],
  hotRegionScheduleLimit: [0, 1_024],
  maxStoreDownTimeMs: [1_000, 7 * 24 * 3_600_000],
};

/** A base that lets each field reach both ends of its range without tripping a relation. */
function baseFor(field: string, value: number): Record<string, unknown> {
  const patch: Record<string, unknown> = { [field]: value };
  if (field === 'regionSplitSizeBytes') patch['regionMergeSizeBytesMax'] = 0;
  if (field === 'regionSplitKeys') patch['regionMergeKeysMax'] = 0;
  if (field === 'regionMergeSizeBytesMax') patch['regionSplitSizeBytes'] = 10 * 1024 * MiB;
  if (field === 'regionMergeKeysMax') patch['regionSplitKeys'] = 100_000_000;
  return patch;
}

function refused(patch: Record<string, unknown>, field: string): void {
  const r = patchClusterConfig(DEFAULT_CLUSTER_CONFIG, patch);
  assert.equal(r.ok, false, `${JSON.stringify(patch)} accepted`);
  if (!r.ok) assert.equal(r.field, field, `${JSON.stringify(patch)}: refused naming ${r.field}: ${r.reason}`);
}

function accepted(patch: Record<string, unknown>): void {
  const r = patchClusterConfig(DEFAULT_CLUSTER_CONFIG, patch);
  assert.ok(r.ok, `${JSON.stringify(patch)} refused: ${r.ok ? '' : `${r.field}: ${r.reason}`}`);
  if (r.ok) for (const [k, v] of Object.entries(patch)) assert.equal((r.config as unknown as Record<string, unknown>)[k], v);
}

describe('cluster config patches', () => {
  it('every field is known and has its range here', () => {
    assert.deepEqual([...CLUSTER_CONFIG_FIELDS].sort(), [...Object.keys(RANGES), 'disableMerge'].sort());
  });

  it('each numeric field: its range\'s ends are taken, one past either end is refused, as are non-integers and strings', () => {
    for (const [field, [min, max]] of Object.entries(RANGES)) {
      // The merge bounds stay strictly below the split bounds, whose max is theirs: their max
      // itself is refused by that relation, one below it is taken.
      const isMergeBound = field === 'regionMergeSizeBytesMax' || field === 'regionMergeKeysMax';
      for (const v of [min, isMergeBound ? max - 1 : max]) {
        if (field === 'maxPeerCount' && v % 2 === 0) continue; // the relation below
        accepted(baseFor(field, v));
      }
      if (isMergeBound) refused(baseFor(field, max), field);
      refused(baseFor(field, min - 1), field);
      refused(baseFor(field, max + 1), field);
      refused({ [field]: min + 0.5 }, field);
      refused({ [field]: String(min) }, field);
      refused({ [field]: null }, field);
    }
  });

  it('the boolean field takes true and false only', () => {
    accepted({ disableMerge: true });
    accepted({ disableMerge: false });
    for (const bad of [1, 0, 'true', null]) refused({ disableMerge: bad }, 'disableMerge');
  });

  it('an unknown field is refused by its name', () => {
    refused({ maxReplicas: 3 }, 'maxReplicas'); // an old name: today's only, over the API
    refused({ bogus: 1 }, 'bogus');
  });

  it('relations: an odd replica count; merge bounds strictly below split bounds', () => {
    for (let n = 1; n <= 7; n++) (n % 2 === 1 ? accepted : (p: Record<string, unknown>) => refused(p, 'maxPeerCount'))({ maxPeerCount: n });
    accepted({ regionSplitSizeBytes: 8 * MiB, regionMergeSizeBytesMax: 8 * MiB - 1 });
    refused({ regionSplitSizeBytes: 8 * MiB, regionMergeSizeBytesMax: 8 * MiB }, 'regionMergeSizeBytesMax');
    refused({ regionSplitSizeBytes: 8 * MiB, regionMergeSizeBytesMax: 8 * MiB + 1 }, 'regionMergeSizeBytesMax');
    accepted({ regionSplitKeys: 5_000, regionMergeKeysMax: 4_999 });
    refused({ regionSplitKeys: 5_000, regionMergeKeysMax: 5_000 }, 'regionMergeKeysMax');
    refused({ regionSplitKeys: 5_000, regionMergeKeysMax: 9_000 }, 'regionMergeKeysMax');
    // A refused patch changes nothing: the base stays as it was.
    assert.deepEqual(DEFAULT_CLUSTER_CONFIG.maxPeerCount, 3);
  });
});
