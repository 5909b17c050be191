// The PD peer fault layer: per-peer one-way and two-way drops in-process, the failpoint's rules
// for real processes, and the drop counters that prove a fault took effect.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { armFailpoint, disarmAllFailpoints } from '../../common/index.js';
import { PEER_DROP_FAILPOINT, PeerFaults, parsePeerDropRules } from '../../placement-driver/peer-faults.js';

describe('PD peer faults', () => {
  afterEach(() => disarmAllFailpoints());

  it('drops per peer and direction, all peers, and heals', () => {
    const f = new PeerFaults();
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(2), true);
    f.drop(2, 'in');
    assert.equal(f.allowsIn(2), false);
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(3), true);
    f.drop(3, 'out');
    assert.equal(f.allowsOut(3), false);
    assert.equal(f.allowsIn(3), true);
    f.heal();
    assert.equal(f.isFaulty, false);
    f.dropAll('both');
    for (const peer of [1, 2, 3, 99]) {
      assert.equal(f.allowsIn(peer), false);
      assert.equal(f.allowsOut(peer), false);
    }
    assert.equal(f.droppedIn, 5);
    assert.equal(f.droppedOut, 5);
  });

  it('takes rules from the pd::peer-drop failpoint while it is armed', () => {
    const f = new PeerFaults();
    armFailpoint(PEER_DROP_FAILPOINT, 'return(in:2,both:3)');
    assert.equal(f.allowsIn(2), false);
    assert.equal(f.allowsOut(2), true);
    assert.equal(f.allowsIn(3), false);
    assert.equal(f.allowsOut(3), false);
    armFailpoint(PEER_DROP_FAILPOINT, 'return(out:*)');
    assert.equal(f.allowsOut(7), false);
    assert.equal(f.allowsIn(7), true);
    disarmAllFailpoints();
    assert.equal(f.allowsOut(7), true);
  });

  it('refuses a malformed rule, naming it', () => {
    assert.throws(() => parsePeerDropRules('in:2,sideways:3'), { code: 'ConfigInvalid', message: /sideways:3/ });
    assert.throws(() => parsePeerDropRules('out:x'), { code: 'ConfigInvalid' });
    assert.deepEqual([...parsePeerDropRules('').in], []);
  });
});
