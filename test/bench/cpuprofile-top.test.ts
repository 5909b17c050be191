// bench/cpuprofile-top.ts on a profile built by hand: self time per function and module, idle
// apart, and the --from/--to window (a sample counts by the time it was taken; the interval after
// it is its weight).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type CpuProfile, summarizeCpuProfile } from '../../bench/cpuprofile-top.js';

const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 } },
    { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    { id: 3, callFrame: { functionName: 'round', url: 'file:///x/dist/store/poll-loop.js', lineNumber: 9 } },
    { id: 4, callFrame: { functionName: 'load', url: 'file:///x/node_modules/@grpc/grpc-js/build/a.js', lineNumber: 0 } },
  ],
  // Samples at 0, 1, 2, 3, 4 s (deltas in µs); each weighs the interval after it, the last none.
  samples: [4, 4, 3, 2, 3],
  timeDeltas: [0, 1e6, 1e6, 1e6, 1e6],
};

describe('cpuprofile-top', () => {
  it('sums self time by function and by module, idle apart', () => {
    const s = summarizeCpuProfile(PROFILE, 10);
    assert.equal(s.totalMs, 4000);
    assert.equal(s.idleMs, 1000);
    assert.deepEqual(s.top.map((e) => [e.functionName, e.location, e.selfMs]), [['load', 'a.js:1', 2000], ['round', 'poll-loop.js:10', 1000], ['(idle)', '', 1000]]);
    assert.deepEqual(s.topModules.map((m) => [m.module, m.selfMs]), [['@grpc/grpc-js', 2000], ['store/poll-loop.js', 1000]]);
  });

  it('keeps only the samples taken inside the window', () => {
    const s = summarizeCpuProfile(PROFILE, 10, { fromS: 2, toS: 4 });
    assert.equal(s.totalMs, 2000);
    assert.deepEqual(s.top.map((e) => [e.functionName, e.selfMs]), [['round', 1000], ['(idle)', 1000]]);
    assert.equal(summarizeCpuProfile(PROFILE, 10, { fromS: 1.5 }).totalMs, 2000, 'the last sample weighs nothing');
    assert.equal(summarizeCpuProfile(PROFILE, 10, { toS: 1 }).totalMs, 1000);
  });
});
