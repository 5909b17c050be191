// raft's refusals as typed errors: every kind maps to the code a client acts on, the host's own
// not-leader error names the leader raft reported, and region-category results travel as
// errorpb.RegionError.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FlotillaError, regionErrorToWire, type ErrorCode } from '../../common/index.js';
import { refusalError, type Refused } from '../../raft-host/index.js';

/** One of each kind; the Record makes a new kind a compile error here until it is tested. */
const REFUSALS: { readonly [K in Refused['kind']]: Extract<Refused, { kind: K }> } = {
  'not-leader': { kind: 'not-leader', leaderId: 3 },
  forwarded: { kind: 'forwarded', leaderId: 4 },
  'leader-transferring': { kind: 'leader-transferring', leaderId: 1, transfereeId: 2 },
  removed: { kind: 'removed' },
  'uncommitted-limit': { kind: 'uncommitted-limit', uncommittedBytes: 2_000, limitBytes: 1_000 },
  'entry-too-large': { kind: 'entry-too-large', bytes: 9_000, limitBytes: 8_000 },
  'conf-change-refused': { kind: 'conf-change-refused', reason: 'a change is pending' },
  'too-many-pending-reads': { kind: 'too-many-pending-reads', limit: 64 },
  'invalid-message': { kind: 'invalid-message', reason: 'from an unknown peer' },
};

const EXPECTED: { readonly [K in Refused['kind']]: ErrorCode } = {
  'not-leader': 'NotLeader',
  forwarded: 'NotLeader',
  'leader-transferring': 'NotLeader',
  removed: 'Unavailable',
  'uncommitted-limit': 'ServerIsBusy',
  'entry-too-large': 'RaftEntryTooLarge',
  'conf-change-refused': 'InvalidArgument',
  'too-many-pending-reads': 'ServerIsBusy',
  'invalid-message': 'InvalidArgument',
};

describe('refusalError', () => {
  it('maps every refusal kind to its code, naming the group', () => {
    for (const [kind, r] of Object.entries(REFUSALS) as [Refused['kind'], Refused][]) {
      const leaders: number[] = [];
      const err = refusalError(r, 'region 7', (leaderId) => {
        leaders.push(leaderId);
        return new FlotillaError('NotLeader', `region 7: not leader, leader ${leaderId}`, { details: { regionId: 7 } });
      });
      assert.equal(err.code, EXPECTED[kind], kind);
      assert.match(err.message, /region 7/, kind);
      assert.deepEqual(leaders, 'leaderId' in r ? [r.leaderId] : [], `${kind}: the host builds its not-leader error with raft's leader`);
    }
  });

  it('busy refusals carry a back-off hint and a reason; too-large carries the size', () => {
    for (const r of [REFUSALS['uncommitted-limit'], REFUSALS['too-many-pending-reads']]) {
      const err = refusalError(r, 'PD', () => assert.fail('not a not-leader refusal'));
      assert.ok(typeof err.details.backoffMs === 'number' && err.details.backoffMs > 0, r.kind);
      assert.ok(typeof err.details.reason === 'string' && err.details.reason.length > 0, r.kind);
    }
    const tooLarge = refusalError(REFUSALS['entry-too-large'], 'PD', () => assert.fail('not a not-leader refusal'));
    assert.equal(tooLarge.details.entrySize, 9_000);
    assert.match(tooLarge.message, /9000 bytes exceeds 8000/);
  });

  it('region-category results go out as errorpb.RegionError', () => {
    for (const r of Object.values(REFUSALS)) {
      const err = refusalError(r, 'region 7', () => new FlotillaError('NotLeader', 'not leader'));
      if (err.category === 'region') assert.equal(typeof regionErrorToWire(err).message, 'string');
    }
  });
});
