// Merge's pure rules (store/merge.ts) and records (local-state.ts): which two regions may merge,
// what the target becomes, and the region states a merge writes — judged against a model over
// every pair of ranges cut from a small key space.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, FlotillaError, type RegionMeta } from '../../common/index.js';
import { decodeRegionState, encodeRegionState } from '../../store/local-state.js';
import { mergedRegion, mergeRefusal } from '../../store/merge.js';

const CUTS = ['', 'b', 'd', 'f', 'h', '']; // region i spans [CUTS[i], CUTS[i+1]); '' at the end = +inf

function region(i: number, overrides: Partial<RegionMeta> = {}): RegionMeta {
  return {
    id: 10 + i,
    startKey: Buffer.from(CUTS[i]!),
    endKey: Buffer.from(CUTS[i + 1]!),
    epoch: { confVer: 1 + i, version: 3 * i + 1 },
    peers: [1, 2, 3].map((s) => ({ id: 100 * (i + 1) + s, storeId: s, role: 'voter' as const })),
    ...overrides,
  };
}

describe('merge rules', () => {
  it('only adjacent regions with voters on the same stores merge; the target becomes the union above both versions', () => {
    for (let s = 0; s < 5; s++) {
      for (let t = 0; t < 5; t++) {
        const source = region(s);
        const target = region(t);
        const refusal = mergeRefusal(source, target);
        const isAdjacent = Math.abs(s - t) === 1;
        assert.equal(refusal === null, isAdjacent, `${s} into ${t}: ${refusal?.message ?? 'allowed'}`);
        if (refusal !== null) assert.equal(refusal.code, 'InvalidArgument');
        const merged = mergedRegion(source, target);
        if (!isAdjacent) {
          assert.equal(merged, null);
          continue;
        }
        const lo = Math.min(s, t);
        assert.deepEqual(merged, {
          ...target,
          startKey: Buffer.from(CUTS[lo]!), endKey: Buffer.from(CUTS[lo + 2]!),
          epoch: { confVer: target.epoch.confVer, version: Math.max(source.epoch.version, target.epoch.version) + 1 },
        });
      }
    }
  });

  it('refuses peers on other stores, learners, and a region into itself', () => {
    const moved = region(1, { peers: [{ id: 201, storeId: 1, role: 'voter' }, { id: 202, storeId: 2, role: 'voter' }, { id: 204, storeId: 4, role: 'voter' }] });
    assert.match(mergeRefusal(moved, region(2))!.message, /same stores/);
    assert.match(mergeRefusal(region(2), moved)!.message, /same stores/);
    const fewer = region(1, { peers: region(1).peers.slice(0, 2) });
    assert.match(mergeRefusal(fewer, region(2))!.message, /same stores/);
    const learner = region(1, { peers: [...region(1).peers.slice(0, 2), { id: 203, storeId: 3, role: 'learner' }] });
    assert.match(mergeRefusal(learner, region(2))!.message, /learner/);
    assert.match(mergeRefusal(region(1), region(1))!.message, /same region/);
  });

  it('merges only when both regions have voters on exactly the same stores (model: every pair of store sets over 4 stores, both directions)', () => {
    // A subset of stores 1–4 as a bit mask; a region's voters are on exactly those stores.
    const onStores = (i: number, mask: number): RegionMeta => region(i, {
      peers: [1, 2, 3, 4].filter((s) => (mask >> (s - 1)) & 1).map((s) => ({ id: 100 * (i + 1) + s, storeId: s, role: 'voter' as const })),
    });
    let allowed = 0;
    let subsetRefused = 0;
    for (const [s, t] of [[1, 2], [2, 1]] as const) {
      for (let sourceMask = 1; sourceMask < 16; sourceMask++) {
        for (let targetMask = 1; targetMask < 16; targetMask++) {
          const refusal = mergeRefusal(onStores(s, sourceMask), onStores(t, targetMask));
          const what = `${s} on stores ${sourceMask.toString(2)} into ${t} on stores ${targetMask.toString(2)}`;
          if (sourceMask === targetMask) {
            assert.equal(refusal, null, `${what}: ${refusal?.message ?? ''}`);
            allowed++;
            continue;
          }
          assert.ok(refusal !== null, `${what}: allowed, but their stores differ`);
          assert.equal(refusal.code, 'InvalidArgument', what);
          assert.match(refusal.message, /same stores/, what);
          // One set inside the other (a replica left behind, or one missing on the target).
          if ((sourceMask & targetMask) === sourceMask || (sourceMask & targetMask) === targetMask) subsetRefused++;
        }
      }
    }
    assert.equal(allowed, 30);
    assert.equal(subsetRefused, 200, 'ordered pairs where one store set holds the other, both directions');
  });

  it('refuses a learner on either side, at every position, in both directions (model: every role assignment of both regions)', () => {
    const withRoles = (i: number, mask: number): RegionMeta => {
      const base = region(i);
      return { ...base, peers: base.peers.map((p, j) => ({ ...p, role: (mask >> j) & 1 ? 'learner' as const : 'voter' as const })) };
    };
    let refusedForTarget = 0;
    for (const [s, t] of [[1, 2], [2, 1], [0, 1], [4, 3]] as const) {
      for (let sourceMask = 0; sourceMask < 8; sourceMask++) {
        for (let targetMask = 0; targetMask < 8; targetMask++) {
          const refusal = mergeRefusal(withRoles(s, sourceMask), withRoles(t, targetMask));
          const what = `${s} (learners ${sourceMask.toString(2)}) into ${t} (learners ${targetMask.toString(2)})`;
          if (sourceMask === 0 && targetMask === 0) {
            assert.equal(refusal, null, `${what}: ${refusal?.message ?? ''}`);
            continue;
          }
          assert.notEqual(refusal, null, `${what} was allowed`);
          assert.equal(refusal!.code, 'InvalidArgument', what);
          assert.match(refusal!.message, /learner/, what);
          if (sourceMask === 0) refusedForTarget++;
        }
      }
    }
    assert.equal(refusedForTarget, 4 * 7);
  });

  it('random ranges: merged is exactly the union when adjacent (model: key sets)', () => {
    const rng = createRng(27);
    const keys = ['', 'a', 'b', 'c', 'd', 'e'];
    const inRange = (r: Pick<RegionMeta, 'startKey' | 'endKey'>, k: string): boolean => Buffer.compare(Buffer.from(k), r.startKey) >= 0 && (r.endKey.length === 0 || Buffer.compare(Buffer.from(k), r.endKey) < 0);
    for (let n = 0; n < 500; n++) {
      const cut = (): [Buffer, Buffer] => {
        const a = rng.nextInt(keys.length);
        const b = a + 1 + rng.nextInt(keys.length - a);
        return [Buffer.from(keys[a]!), b >= keys.length ? Buffer.alloc(0) : Buffer.from(keys[b]!)];
      };
      const [s0, s1] = cut();
      const [t0, t1] = cut();
      const source = region(1, { startKey: s0, endKey: s1 });
      const target = region(2, { startKey: t0, endKey: t1 });
      const merged = mergedRegion(source, target);
      const adjacent = (s1.length > 0 && s1.equals(t0)) || (t1.length > 0 && t1.equals(s0));
      assert.equal(merged !== null, adjacent, `[${s0.toString()}, ${s1.toString()}) + [${t0.toString()}, ${t1.toString()})`);
      if (merged === null) continue;
      for (const k of [...keys, 'zz']) assert.equal(inRange(merged, k), inRange(source, k) || inRange(target, k), `key ${k}`);
    }
  });
});

describe('merge records', () => {
  it('a merging state and a merged tombstone round-trip; a state naming what it must not is refused', () => {
    const merge = { minIndex: 40, commit: 47, commitTerm: 6, target: region(2) };
    const merging = { state: 'merging' as const, region: region(1), merge };
    assert.deepEqual(decodeRegionState(encodeRegionState(merging), 11), merging);
    const tomb = { state: 'tombstone' as const, region: region(1), mergedInto: 12 };
    assert.deepEqual(decodeRegionState(encodeRegionState(tomb), 11), tomb);
    assert.deepEqual(decodeRegionState(encodeRegionState({ state: 'normal', region: region(1) }), 11), { state: 'normal', region: region(1) });
    assert.throws(() => encodeRegionState({ state: 'normal', region: region(1), merge }), FlotillaError);
    assert.throws(() => encodeRegionState({ state: 'merging', region: region(1) }), FlotillaError);
    assert.throws(() => encodeRegionState({ state: 'normal', region: region(1), mergedInto: 12 }), FlotillaError);
  });
});
