// The PD history checker against known-good and known-bad histories: each kind of violation it
// names is caught, and a legal history (failover, restart, equal instants within one term) passes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { composeTs } from '../../common/index.js';
import { checkPdHistory, PdHistory, type ServedEvent } from '../support/pd-history.js';

const tso = (member: number, term: number, instantMs: number, physical: number, logical: number, durableBoundMs = 10_000n, count = 1): ServedEvent => ({
  kind: 'tso', member, term, instantMs, lastTs: composeTs(physical, logical), count, durableBoundMs,
});
const ids = (member: number, term: number, instantMs: number, list: bigint[], durableHighWater = 100n): ServedEvent => ({
  kind: 'ids', member, term, instantMs, ids: list, durableHighWater,
});

function check(events: ServedEvent[]): string[] {
  const h = new PdHistory();
  for (const e of events) h.record(e);
  return checkPdHistory(h);
}

describe('PD history checker', () => {
  it('flags a leader that became ready without every committed bound applied', () => {
    const h = new PdHistory();
    h.recordLeadership({ member: 1, term: 4, instantMs: 100, tsoBoundMs: 9_000n, idHighWater: 50n, durableTsoBoundMs: 9_000n, durableIdHighWater: 50n });
    assert.deepEqual(checkPdHistory(h), []);
    h.recordLeadership({ member: 2, term: 5, instantMs: 200, tsoBoundMs: 9_000n, idHighWater: 50n, durableTsoBoundMs: 12_000n, durableIdHighWater: 50n });
    assert.match(checkPdHistory(h).join('\n'), /member 2 became the ready leader of term 5/);
  });

  it('passes a legal history: a failover, batches, equal instants within a term', () => {
    assert.deepEqual(check([
      tso(1, 2, 100, 5_000, 1), tso(1, 2, 100, 5_000, 4, 10_000n, 3), ids(1, 2, 100, [1n, 2n]), tso(1, 2, 200, 5_100, 1),
      ids(2, 3, 900, [3n]), tso(2, 3, 900, 10_001, 1, 13_001n), tso(1, 5, 2_000, 10_001, 2, 13_001n),
    ]), []);
  });

  it('names each violation', () => {
    const cases: [string, ServedEvent[], RegExp][] = [
      ['equal timestamps', [tso(1, 2, 100, 5_000, 1), tso(1, 2, 100, 5_000, 1)], /not strictly increasing/],
      ['a batch overlapping the previous one', [tso(1, 2, 100, 5_000, 3), tso(1, 2, 100, 5_000, 5, 10_000n, 3)], /not strictly increasing/],
      ['a new leader below the old one', [tso(1, 2, 100, 5_000, 1), tso(2, 3, 900, 4_999, 9)], /not strictly increasing/],
      ['beyond the durable window', [tso(1, 2, 100, 10_001, 1)], /beyond the durable window/],
      ['an id twice', [ids(1, 2, 100, [1n, 2n]), ids(2, 3, 900, [2n])], /handed out twice/],
      ['an id above the high-water mark', [ids(1, 2, 100, [101n])], /above the durable high-water/],
      ['two members in one term', [tso(1, 2, 100, 5_000, 1), tso(2, 2, 200, 5_000, 2)], /two members served in term 2/],
      ['the old leader after the new one served', [tso(2, 3, 900, 6_000, 1), tso(1, 2, 1_000, 6_000, 2)], /two serving leaders at once/],
      ['the old leader at the same instant', [tso(1, 2, 900, 5_000, 1), tso(2, 3, 900, 6_000, 1)], /two serving leaders at once/],
    ];
    for (const [name, events, expected] of cases) {
      const errors = check(events);
      assert.ok(errors.some((e) => expected.test(e)), `${name}: expected ${expected} in ${JSON.stringify(errors)}`);
    }
  });
});
