// What the store's PD client puts on the wire for a region heartbeat (store/pd-client.ts
// regionHeartbeatToWire), over generated heartbeats judged field by field against a reference:
// the sender is the leader's STORE, each down peer carries its own silence (by position, 0 when
// omitted), the traffic window ends now and never starts before 0. No PD process: pure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type PeerMeta, peerToWire, type RegionMeta, regionToWire } from '../../common/index.js';
import { type RegionHeartbeat, regionHeartbeatToWire } from '../../store/pd-client.js';

describe('region heartbeat on the wire (regionHeartbeatToWire)', () => {
  it('carries every field of generated heartbeats as the reference says (sender store, down peers with their own seconds, window)', () => {
    const rng = createRng(37_2);
    let withDown = 0;
    let withoutSeconds = 0;
    let clamped = 0;
    for (let n = 0; n < 500; n++) {
      const peerCount = 1 + rng.nextInt(5);
      // Peer ids and store ids never coincide, so a sender taken from the wrong one shows.
      const peers: PeerMeta[] = Array.from({ length: peerCount }, (_, i) => ({ id: 1_000 + 10 * n + i, storeId: 1 + i, role: rng.nextInt(4) === 0 ? 'learner' as const : 'voter' as const }));
      const region: RegionMeta = { id: 7 + n, startKey: Buffer.from([n & 0xff]), endKey: Buffer.alloc(0), epoch: { confVer: 1 + rng.nextInt(9), version: 1 + rng.nextInt(9) }, peers };
      const leader = peers[rng.nextInt(peerCount)]!;
      const others = peers.filter((p) => p !== leader);
      const downPeers = others.filter(() => rng.nextInt(2) === 0);
      const pendingPeers = others.filter(() => rng.nextInt(3) === 0);
      const hasSeconds = rng.nextInt(4) !== 0;
      const downSeconds = downPeers.map(() => 1 + rng.nextInt(10_000));
      const intervalMs = [0, 1, 10_000, 60_000][rng.nextInt(4)]!;
      const nowMs = rng.nextInt(3) === 0 ? rng.nextInt(intervalMs + 1) : 1_800_000_000_000 + rng.nextInt(1_000_000);
      const hb: RegionHeartbeat = {
        region, leader, term: 1 + rng.nextInt(50),
        approximateSizeBytes: rng.nextInt(1 << 30), approximateKeys: rng.nextInt(1 << 20),
        bytesWritten: rng.nextInt(1 << 20), keysWritten: rng.nextInt(1000), bytesRead: rng.nextInt(1 << 20), keysRead: rng.nextInt(1000),
        intervalMs, pendingPeers, downPeers, ...(hasSeconds ? { downSeconds } : {}),
      };
      const wire = regionHeartbeatToWire(hb, 0xabcdefn, nowMs);
      const what = `heartbeat ${n}`;
      assert.deepEqual(wire.header, { clusterId: String(0xabcdef), senderId: String(leader.storeId) }, `${what}: header`);
      assert.deepEqual(wire.region, regionToWire(region), what);
      assert.deepEqual(wire.leader, peerToWire(leader), what);
      assert.deepEqual(wire.downPeers, downPeers.map((p, i) => ({ peer: peerToWire(p), downSeconds: String(hasSeconds ? downSeconds[i]! : 0) })), `${what}: down peers`);
      assert.deepEqual(wire.pendingPeers, pendingPeers.map(peerToWire), what);
      assert.deepEqual(
        [wire.term, wire.approximateSize, wire.approximateKeys, wire.bytesWritten, wire.keysWritten, wire.bytesRead, wire.keysRead],
        [hb.term, hb.approximateSizeBytes, hb.approximateKeys, hb.bytesWritten, hb.keysWritten, hb.bytesRead, hb.keysRead].map(String),
        `${what}: counters`,
      );
      assert.deepEqual(wire.interval, { startTimestamp: String(Math.max(0, nowMs - intervalMs)), endTimestamp: String(nowMs) }, `${what}: interval`);
      if (downPeers.length > 1) withDown++;
      if (!hasSeconds && downPeers.length > 0) withoutSeconds++;
      if (nowMs < intervalMs) clamped++;
    }
    assert.ok(withDown > 20 && withoutSeconds > 10 && clamped > 10, `coverage: ${withDown} with several down peers, ${withoutSeconds} without seconds, ${clamped} clamped windows`);
  });
});
