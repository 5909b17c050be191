// PeerLiveness (store/peer-liveness.ts): which members a region leader reports down to PD, judged
// against a reference model — for every sequence of events drawn from a seed (messages heard,
// new leadership terms, members joining and leaving, the group going quiet and waking, checks at
// moving times), a member is reported exactly when the model's last-heard time, counting from
// when the leader started tracking it, is at least the threshold old, with whole seconds of it.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type PeerMeta } from '../../common/index.js';
import { PeerLiveness } from '../../store/peer-liveness.js';

const SELF = 1;
const DOWN_AFTER_MS = 10_000;
/** The leader term of the hand-written cases. */
const T = 7;

const peer = (id: number): PeerMeta => ({ id, storeId: id, role: id === 5 ? 'learner' : 'voter' });

describe('PeerLiveness', () => {
  it('reports a member only once it is silent for the threshold, counting from when it was first tracked', () => {
    const live = new PeerLiveness();
    const members = [peer(1), peer(2), peer(3)];
    assert.deepEqual(live.downPeers(members, SELF, T, 1_000, DOWN_AFTER_MS, false), [], 'first check: everyone counts as heard now');
    live.heard(2, 5_000);
    assert.deepEqual(live.downPeers(members, SELF, T, 10_999, DOWN_AFTER_MS, false), []);
    assert.deepEqual(live.downPeers(members, SELF, T, 11_000, DOWN_AFTER_MS, false), [{ peer: peer(3), downSeconds: 10 }]);
    assert.deepEqual(live.downPeers(members, SELF, T, 15_000, DOWN_AFTER_MS, false), [{ peer: peer(2), downSeconds: 10 }, { peer: peer(3), downSeconds: 14 }]);
    live.heard(3, 15_500);
    assert.deepEqual(live.downPeers(members, SELF, T, 16_000, DOWN_AFTER_MS, false), [{ peer: peer(2), downSeconds: 11 }]);
  });

  it('reports nobody while the group is quiet, and counts silence again from the last quiet check', () => {
    const live = new PeerLiveness();
    const members = [peer(1), peer(2), peer(3)];
    live.downPeers(members, SELF, T, 0, DOWN_AFTER_MS, false);
    assert.deepEqual(live.downPeers(members, SELF, T, 50_000, DOWN_AFTER_MS, true), []);
    assert.deepEqual(live.downPeers(members, SELF, T, 59_999, DOWN_AFTER_MS, false), []);
    assert.deepEqual(live.downPeers(members, SELF, T, 60_000, DOWN_AFTER_MS, false).map((d) => d.peer.id), [2, 3]);
  });

  it('forgets what it heard before a new leadership term and members that left; a member that joins starts heard', () => {
    const live = new PeerLiveness();
    live.downPeers([peer(1), peer(2)], SELF, T, 0, DOWN_AFTER_MS, false);
    live.heard(2, 1_000); // e.g. a vote as a candidate, or the old leader's messages as a follower
    assert.deepEqual(live.downPeers([peer(1), peer(2)], SELF, T + 2, 100_000, DOWN_AFTER_MS, false), [], 'a new term starts everyone heard');
    assert.deepEqual(live.downPeers([peer(1), peer(2)], SELF, T + 2, 109_999, DOWN_AFTER_MS, false), []);
    assert.deepEqual(live.downPeers([peer(1), peer(2)], SELF, T + 2, 110_000, DOWN_AFTER_MS, false).map((d) => d.peer.id), [2]);
    live.downPeers([peer(1)], SELF, T + 2, 110_001, DOWN_AFTER_MS, false); // 2 left
    assert.deepEqual(live.downPeers([peer(1), peer(2), peer(5)], SELF, T + 2, 200_000, DOWN_AFTER_MS, false), [], 'a re-joined member starts heard');
    assert.deepEqual(live.downPeers([peer(1), peer(2), peer(5)], SELF, T + 2, 210_000, DOWN_AFTER_MS, false).map((d) => d.peer.id), [2, 5]);
  });

  it('agrees with a reference model on generated event sequences', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = createRng(seed);
      const live = new PeerLiveness();
      const model = new Map<number, number>(); // member → last heard (or first tracked), ms
      let members = [1, 2, 3];
      let now = 0;
      let term = 1;
      let modelTerm = 0;
      for (let step = 0; step < 200; step++) {
        now += rng.nextInt(4_000);
        const what = rng.nextInt(10);
        if (what < 4) {
          const id = 1 + rng.nextInt(6);
          live.heard(id, now);
          model.set(id, now);
        } else if (what === 4) {
          term += 1 + rng.nextInt(2); // leadership lost and won again, or kept across a term
        } else if (what === 5) {
          const id = 2 + rng.nextInt(5);
          members = members.includes(id) ? members.filter((m) => m !== id) : [...members, id];
        } else {
          const isQuiet = rng.chance(0.15);
          const got = live.downPeers(members.map(peer), SELF, term, now, DOWN_AFTER_MS, isQuiet);
          if (term !== modelTerm) {
            modelTerm = term;
            model.clear();
          }
          for (const id of [...model.keys()]) if (!members.includes(id)) model.delete(id);
          const want: { peer: PeerMeta; downSeconds: number }[] = [];
          for (const id of members) {
            if (id === SELF) continue;
            const heard = model.get(id);
            if (heard === undefined || isQuiet) {
              model.set(id, now);
              continue;
            }
            if (now - heard >= DOWN_AFTER_MS) want.push({ peer: peer(id), downSeconds: Math.floor((now - heard) / 1000) });
          }
          assert.deepEqual(got, want, `seed ${seed} step ${step} at ${now} ms, members ${members.join(',')}`);
        }
      }
    }
  });
});
