// ReadOnly (raft/read-only.ts), the leader's queue of pending ReadIndex requests, against a
// reference model written from its contract: requests queue in arrival order; a duplicate of a
// PENDING client context is ignored (a served or reset one may come again); each request gets a
// round key never used before; heartbeats carry the newest pending request's round key; an ack
// counts for the round it names only; advance(round) hands back, oldest first, every request up
// to and including that round and nothing after it; reset() forgets everything. Generated
// sequences (fast-check, fixed seed) mix few client contexts (so duplicates are common), acks and
// advances naming pending, served, reset and never-issued rounds (and raw client contexts), and
// resets. The raft simulator judges the quorum side (read confirmation); this judges the queue.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeMessage, type NodeId } from '../../raft/index.js';
import { contextKey, ReadOnly, type ReadIndexStatus } from '../../raft/read-only.js';

const SEED = Number(process.env['FLOTILLA_PROPERTY_SEED'] ?? '20261205');
const CLIENT_CONTEXTS = ['a', 'b', 'c', ''];

interface RefRequest {
  readonly round: string;
  readonly clientContext: string;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/** The contract, as plainly as it can be written. */
class ReferenceReadOnly {
  pending: RefRequest[] = [];

  isPending(clientContext: string): boolean {
    return this.pending.some((r) => r.clientContext === clientContext);
  }
  ack(id: NodeId, round: string): Set<NodeId> | undefined {
    const r = this.pending.find((p) => p.round === round);
    r?.acks.add(id);
    return r?.acks;
  }
  advance(round: string): RefRequest[] {
    const at = this.pending.findIndex((p) => p.round === round);
    if (at < 0) return [];
    const done = this.pending.slice(0, at + 1);
    this.pending = this.pending.slice(at + 1);
    return done;
  }
}

type Target =
  | { readonly to: 'pending'; readonly pick: number }
  | { readonly to: 'retired'; readonly pick: number }
  | { readonly to: 'clientContext'; readonly pick: number }
  | { readonly to: 'unknown' };
type Step =
  | { readonly op: 'add'; readonly ctx: number; readonly index: number }
  | { readonly op: 'ack'; readonly from: NodeId; readonly target: Target }
  | { readonly op: 'advance'; readonly target: Target }
  | { readonly op: 'reset' };

const arbTarget: fc.Arbitrary<Target> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ to: fc.constant('pending' as const), pick: fc.nat(100) }) },
  { weight: 2, arbitrary: fc.record({ to: fc.constant('retired' as const), pick: fc.nat(100) }) },
  { weight: 1, arbitrary: fc.record({ to: fc.constant('clientContext' as const), pick: fc.nat(CLIENT_CONTEXTS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ to: 'unknown' as const }) },
);
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('add' as const), ctx: fc.nat(CLIENT_CONTEXTS.length - 1), index: fc.nat(20) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('ack' as const), from: fc.integer({ min: 1, max: 5 }), target: arbTarget }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), target: arbTarget }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reset' as const }) },
);

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array): string => contextKey(b);
const sortedIds = (s: ReadonlySet<NodeId> | undefined): NodeId[] | undefined => (s === undefined ? undefined : [...s].sort((a, b) => a - b));
const served = (rs: readonly ReadIndexStatus[]): string[] => rs.map((r) => `${text(r.request.context)}@${r.index}/${text(r.roundContext)}`);
const servedRef = (rs: readonly RefRequest[]): string[] => rs.map((r) => `${r.clientContext}@${r.index}/${r.round}`);

describe('ReadOnly against a reference queue', () => {
  it('queue order, duplicates of pending contexts only, acks per round, advance up to a round, reset', () => {
    const counts = { duplicateIgnored: 0, comeAgainAfterServed: 0, comeAgainAfterReset: 0, batchServed: 0, staleAck: 0, staleAdvance: 0 };
    fc.assert(fc.property(fc.array(arbStep, { minLength: 1, maxLength: 60 }), (steps) => {
      const real = new ReadOnly();
      const ref = new ReferenceReadOnly();
      /** Every round key the leader handed out, and those no longer pending (served or reset). */
      const issued = new Set<string>();
      let retired: string[] = [];
      const everServed = new Set<string>();
      const everReset = new Set<string>();
      const resolve = (t: Target): Uint8Array => {
        switch (t.to) {
          case 'pending': return ref.pending.length === 0 ? bytes('\u0000read-round:none') : bytes(ref.pending[t.pick % ref.pending.length]!.round);
          case 'retired': return retired.length === 0 ? bytes('') : bytes(retired[t.pick % retired.length]!);
          case 'clientContext': return bytes(CLIENT_CONTEXTS[t.pick]!);
          case 'unknown': return bytes('\u0000read-round:999999');
        }
      };
      for (const [n, s] of steps.entries()) {
        const where = `step ${n} ${JSON.stringify(s)}`;
        switch (s.op) {
          case 'add': {
            const ctx = CLIENT_CONTEXTS[s.ctx]!;
            const before = real.lastPendingContext();
            real.addRequest(s.index, makeMessage({ type: 'MsgReadIndex', to: 1, from: 2, context: bytes(ctx) }));
            if (ref.isPending(ctx)) {
              counts.duplicateIgnored++;
              assert.deepEqual(real.lastPendingContext(), before, `${where}: a duplicate of a pending context is ignored`);
              break;
            }
            if (everServed.has(ctx)) counts.comeAgainAfterServed++;
            if (everReset.has(ctx)) counts.comeAgainAfterReset++;
            const round = real.lastPendingContext();
            assert.ok(round !== undefined, `${where}: the new request is pending`);
            const key = text(round);
            assert.ok(!issued.has(key), `${where}: round key ${JSON.stringify(key)} used before`);
            assert.ok(!CLIENT_CONTEXTS.includes(key), `${where}: a round key never equals a client context`);
            issued.add(key);
            ref.pending.push({ round: key, clientContext: ctx, index: s.index, acks: new Set() });
            break;
          }
          case 'ack': {
            const round = resolve(s.target);
            const want = ref.ack(s.from, text(round));
            if (want === undefined) counts.staleAck++;
            assert.deepEqual(sortedIds(real.recvAck(s.from, round)), sortedIds(want), `${where}: acks of round ${JSON.stringify(text(round))}`);
            break;
          }
          case 'advance': {
            const round = resolve(s.target);
            const want = ref.advance(text(round));
            if (want.length === 0) counts.staleAdvance++;
            if (want.length > 1) counts.batchServed++;
            const got = real.advance(round);
            assert.deepEqual(served(got), servedRef(want), `${where}: served, oldest first, up to and including the round`);
            for (const [i, r] of got.entries()) assert.deepEqual(sortedIds(r.acks), sortedIds(want[i]!.acks), `${where}: acks carried`);
            for (const r of want) everServed.add(r.clientContext);
            retired = [...retired, ...want.map((r) => r.round)];
            break;
          }
          case 'reset':
            real.reset();
            for (const r of ref.pending) everReset.add(r.clientContext);
            retired = [...retired, ...ref.pending.map((r) => r.round)];
            ref.pending = [];
            break;
        }
        assert.equal(real.size(), ref.pending.length, `${where}: size`);
        const newest = ref.pending[ref.pending.length - 1];
        const carried = real.lastPendingContext();
        assert.equal(carried === undefined ? undefined : text(carried), newest?.round, `${where}: heartbeats carry the newest pending round`);
      }
    }), { seed: SEED, numRuns: 1500 });
    // Coverage: each boundary the contract names was reached (a zero is a blind spot).
    for (const [name, count] of Object.entries(counts)) assert.ok(count > 0, `coverage: ${name} never happened`);
  });
});
