// Pure pieces checked in isolation: quorum arithmetic (against brute force, fast-check), joint
// configs, the in-flight window, and the conf change codec (round-trip property).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jointCommittedIndex, majorityCommittedIndex, majorityVoteResult, jointVoteResult } from '../../raft/quorum.js';
import { Inflights, Progress } from '../../raft/progress.js';
import { decodeConfChange, encodeConfChange, type ConfChange } from '../../raft/index.js';

const SEED = Number(process.env['FLOTILLA_PROPERTY_SEED'] ?? '20251123');

describe('quorum', () => {
  it('the majority commit index is the largest index a majority has reached (brute force)', () => {
    fc.assert(
      // Up to 20 voters: past the 16 the implementation sorts in a reused scratch array, and a
      // voter without progress (undefined) counts as 0. Consecutive runs reuse the scratch.
      fc.property(fc.array(fc.option(fc.nat(100), { nil: undefined }), { minLength: 1, maxLength: 20 }), (acks) => {
        const voters = new Set(acks.map((_, i) => i + 1));
        const got = majorityCommittedIndex(voters, (id) => acks[id - 1]);
        const matches = acks.map((a) => a ?? 0);
        const q = Math.floor(matches.length / 2) + 1;
        let want = 0;
        for (const candidate of matches) if (matches.filter((m) => m >= candidate).length >= q) want = Math.max(want, candidate);
        assert.equal(got, want);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });

  it('a joint config commits only what both majorities reached', () => {
    const acked = new Map([[1, 10], [2, 10], [3, 2], [4, 2], [5, 2]]);
    const get = (id: number) => acked.get(id);
    assert.equal(jointCommittedIndex(new Set([1, 2, 3]), new Set(), get), 10);
    assert.equal(jointCommittedIndex(new Set([1, 2, 3]), new Set([3, 4, 5]), get), 2);
  });

  it('votes: won, lost and pending, also jointly', () => {
    const v = new Map([[1, true], [2, false]]);
    assert.equal(majorityVoteResult(new Set([1, 2, 3]), v), 'pending');
    v.set(3, true);
    assert.equal(majorityVoteResult(new Set([1, 2, 3]), v), 'won');
    assert.equal(jointVoteResult(new Set([1, 2, 3]), new Set([2, 4, 5]), v), 'pending');
    v.set(4, false);
    assert.equal(jointVoteResult(new Set([1, 2, 3]), new Set([2, 4, 5]), v), 'lost');
    assert.equal(majorityVoteResult(new Set(), v), 'won', 'an empty config agrees with everything');
  });
});

describe('progress', () => {
  it('the in-flight window fills at its message limit and its byte limit, and frees by index', () => {
    const w = new Inflights(3, 0);
    w.add(5, 10);
    w.add(7, 10);
    w.add(9, 10);
    assert.ok(w.isFull());
    w.freeLE(7);
    assert.equal(w.count, 1);
    assert.ok(!w.isFull());
    const b = new Inflights(100, 25);
    b.add(1, 10);
    b.add(2, 10);
    assert.ok(!b.isFull());
    b.add(3, 10);
    assert.ok(b.isFull());
    b.freeFirstOne();
    assert.equal(b.bytes, 20);
  });

  it('a probe sends one append per round; replicate pipelines; a stale rejection is ignored', () => {
    const pr = new Progress(11, 4, 0, false);
    pr.sentEntries(3, 30);
    assert.ok(pr.isPaused(), 'probe waits for an answer');
    assert.equal(pr.maybeDecrTo(10, 5), true);
    assert.equal(pr.next, 6);
    assert.equal(pr.maybeUpdate(8), true);
    pr.becomeReplicate();
    assert.equal(pr.next, 9);
    pr.sentEntries(2, 20);
    assert.equal(pr.next, 11);
    assert.ok(!pr.isPaused());
    assert.equal(pr.maybeDecrTo(7, 7), false, 'rejection below match is stale');
  });
});

describe('conf change codec', () => {
  it('round-trips any change', () => {
    const change = fc.record({
      type: fc.constantFrom('AddNode' as const, 'RemoveNode' as const, 'AddLearnerNode' as const),
      nodeId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    }).map((c) => ({ type: c.type, nodeId: c.nodeId }));
    fc.assert(
      fc.property(fc.constantFrom('auto' as const, 'implicit' as const, 'explicit' as const), fc.array(change, { maxLength: 6 }), fc.uint8Array({ maxLength: 20 }), (transition, changes, context) => {
        const cc: ConfChange = { transition, changes, context };
        const d = decodeConfChange(encodeConfChange(cc));
        assert.equal(d.kind, 'ok');
        if (d.kind === 'ok') assert.deepEqual(d.confChange, cc);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('truncated input is reported as corrupt, never thrown', () => {
    const enc = encodeConfChange({ transition: 'auto', changes: [{ type: 'AddNode', nodeId: 9 }], context: new Uint8Array([1, 2]) });
    for (let n = 0; n < enc.length; n++) assert.equal(decodeConfChange(enc.slice(0, n)).kind, 'corrupt', `prefix of ${n} bytes`);
  });

  it('any corrupted or extended encoding is refused or decodes to a change that encodes to exactly those bytes; node ids past 2^53 and trailing bytes are refused', () => {
    const change = fc.record({ type: fc.constantFrom('AddNode' as const, 'RemoveNode' as const, 'AddLearnerNode' as const), nodeId: fc.integer({ min: 1, max: 2 ** 40 }) });
    fc.assert(
      fc.property(
        fc.constantFrom('auto' as const, 'implicit' as const, 'explicit' as const), fc.array(change, { maxLength: 4 }), fc.uint8Array({ maxLength: 8 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), fc.uint8Array({ maxLength: 4 }),
        (transition, changes, context, flips, tail) => {
          const enc = encodeConfChange({ transition, changes, context });
          const bad = new Uint8Array(enc.length + tail.length);
          bad.set(enc);
          bad.set(tail, enc.length);
          for (const [at, byte] of flips) bad[at % bad.length] = byte;
          const d = decodeConfChange(bad);
          if (d.kind === 'corrupt') return;
          // Accepted: then the bytes are exactly a valid encoding (nothing ignored, nothing unsafe).
          assert.deepEqual(encodeConfChange(d.confChange), bad);
          for (const c of d.confChange.changes) assert.ok(Number.isSafeInteger(c.nodeId));
        },
      ),
      { seed: SEED, numRuns: 2000 },
    );
    const enc = encodeConfChange({ transition: 'auto', changes: [{ type: 'AddNode', nodeId: 9 }], context: new Uint8Array([1, 2]) });
    const withTail = new Uint8Array([...enc, 0]);
    assert.equal(decodeConfChange(withTail).kind, 'corrupt', 'a trailing byte');
    const huge = enc.slice();
    new DataView(huge.buffer).setUint32(7, 0x0020_0000); // id high word 2^21: the id is 2^53 + 9
    assert.equal(decodeConfChange(huge).kind, 'corrupt', 'a node id past 2^53');
  });
});
