// A follower far behind, caught up by appends (deterministic store simulation). Raft asks its
// storage for at most maxSizePerMsg (APPEND_BYTES_PER_MSG_MAX) of entries per append, and
// PeerStorage.entries cuts what it returns there — from its entry cache and from entries it loaded
// from the engine alike (the sim's cache is 8 KiB, so most come from the engine). Writes in the
// other tests are small: no append ever reached the limit, and nothing checked it. Here a follower
// is cut off while the leader takes ~5 MiB of raw puts; once healed it must catch up through
// several appends, none above the limit unless it carries a single entry, with no snapshot, and
// end with the same data as the leader.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng } from '../../common/index.js';
import { APPEND_BYTES_PER_MSG_MAX, entrySizeBytes } from '../../raft/index.js';
import { type SimNode, StoreSim } from '../support/store-sim.js';
import { advanceUntil, checkReplicas, drive } from '../support/store-sim-checks.js';

const VALUE_BYTES = 200 * 1024;
const PUTS = 26;

describe('catching up a follower through large appends (deterministic simulation)', { timeout: 120_000 }, () => {
  it(`a follower cut off during ${PUTS} puts of ${VALUE_BYTES / 1024} KiB catches up through appends of at most APPEND_BYTES_PER_MSG_MAX each (a single entry alone may exceed it), without a snapshot, and ends with the leader's data`, async () => {
    const sim = await StoreSim.start(3, { rng: createRng(23), dropRate: 0, maxDelaySteps: 0 });
    try {
      let leader: SimNode | undefined;
      assert.ok(await advanceUntil(sim, () => (leader = sim.leader()) !== undefined && leader.store!.peers.get(sim.region.id)!.isLeaderReady, 300), 'no ready leader');
      const l = leader!;
      const lagging = sim.nodes.find((n) => n !== l && n.store !== undefined)!;
      sim.isolate(lagging.storeId, true);
      for (let i = 0; i < PUTS; i++) {
        await drive(sim, l.raw!.put({ context: sim.context(l), key: Buffer.from(`big${String(i).padStart(2, '0')}`), value: Buffer.alloc(VALUE_BYTES, i), ttlSeconds: '0' }));
      }
      const appends: { readonly entries: number; readonly bytes: number }[] = [];
      sim.intercept = (m) => {
        if (m.to === lagging.storeId && m.message.type === 'MsgApp' && m.message.entries.length > 0) {
          let bytes = 0;
          for (const e of m.message.entries) bytes += entrySizeBytes(e);
          appends.push({ entries: m.message.entries.length, bytes });
        }
        return 'deliver';
      };
      sim.isolate(lagging.storeId, false);
      const leaderPeer = l.store!.peers.get(sim.region.id)!;
      const laggingApplied = (): number => lagging.store?.peers.get(sim.region.id)?.applied ?? 0;
      assert.ok(await advanceUntil(sim, () => laggingApplied() >= leaderPeer.applied, 3_000), `the follower applied ${laggingApplied()} of ${leaderPeer.applied}`);
      sim.intercept = null;
      const total = appends.reduce((n, a) => n + a.bytes, 0);
      assert.ok(total >= PUTS * VALUE_BYTES, `the appends carried ${total} bytes, less than the ${PUTS * VALUE_BYTES} written`);
      for (const a of appends) {
        assert.ok(a.bytes <= APPEND_BYTES_PER_MSG_MAX || a.entries === 1, `an append of ${a.entries} entries carried ${a.bytes} bytes (limit ${APPEND_BYTES_PER_MSG_MAX})`);
      }
      const full = appends.filter((a) => a.entries > 1 && a.bytes > APPEND_BYTES_PER_MSG_MAX / 2).length;
      assert.ok(full >= 3, `only ${full} appends were cut near the limit (${appends.length} in all): the limit was never reached`);
      assert.equal(sim.counters.snapshotsSent, 0, 'caught up by a snapshot, not appends');
      await checkReplicas(sim, 'after the catch-up');
    } finally {
      await sim.stop();
    }
  });
});
