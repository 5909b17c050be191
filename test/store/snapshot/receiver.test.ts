// The snapshot receiver (store/snapshot/receiver.ts) takes only a payload that matches its
// trailer: three in-process stores (test/support/store-sim.ts: real RaftStores, each with its real
// SnapshotReceiver and installer, over in-memory engines); one follower is cut off until the
// leader's log is compacted past it, so only a region snapshot can bring it on. Healed, the
// streams it is sent arrive damaged, one way each: a byte of a data chunk flipped, the trailer's
// CRC-32 altered, two chunks swapped (those three differ from their trailer in the checksum
// alone), a chunk dropped, a chunk sent twice. Each must be refused with INVALID_ARGUMENT naming
// both sides of the mismatch, leave no payload file and change nothing of the region on that store
// (region state, apply state, data); more refusals than SNAPSHOT_RECEIVES_MAX, so none may keep a
// receive slot. The next, intact stream must be taken and installed. Held-back plant HB5 (the
// trailer's checksum ignored) was caught by no test before this one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { applyStateKey, crc32, createRng, grpc, type RegionMeta, regionStateKey } from '../../../common/index.js';
import type { raft_serverpb } from '../../../proto/index.js';
import type { Peer } from '../../../store/peer.js';
import { SNAPSHOT_RECEIVES_MAX } from '../../../store/snapshot/index.js';
import { rawContents, type SimNode, StoreSim } from '../../support/store-sim.js';
import { advanceUntil, checkReplicas, getThroughLeader as get, putThroughLeader as put } from '../../support/store-sim-checks.js';

const SEED = 11;

interface Trailer {
  readonly crc32: number;
  readonly totalBytes: string;
  readonly chunkCount: string;
}

/** One way a stream's data chunks and trailer arrive damaged. */
interface Damage {
  readonly name: string;
  /** Bytes and chunk count still match the trailer: only the checksum tells. */
  readonly isChecksumOnly: boolean;
  readonly apply: (data: readonly Buffer[], trailer: Trailer) => { readonly data: Buffer[]; readonly trailer: Trailer };
}

/** The last byte of a chunk is the last byte of its last record's value: user data, silently changed. */
function flipLastByte(chunk: Buffer): Buffer {
  const out = Buffer.from(chunk);
  out[out.length - 1] = out[out.length - 1]! ^ 0x01;
  return out;
}

const DAMAGES: readonly Damage[] = [
  { name: 'one byte of a data chunk flipped', isChecksumOnly: true, apply: (data, trailer) => ({ data: data.map((c, i) => (i === 1 ? flipLastByte(c) : c)), trailer }) },
  { name: 'the trailer\'s CRC-32 altered', isChecksumOnly: true, apply: (data, trailer) => ({ data: [...data], trailer: { ...trailer, crc32: (trailer.crc32 ^ 0x8000_0000) >>> 0 } }) },
  { name: 'two data chunks swapped', isChecksumOnly: true, apply: (data, trailer) => ({ data: [data[1]!, data[0]!, ...data.slice(2)], trailer }) },
  { name: 'a data chunk dropped', isChecksumOnly: false, apply: (data, trailer) => ({ data: data.filter((_, i) => i !== 1), trailer }) },
  { name: 'a data chunk sent twice', isChecksumOnly: false, apply: (data, trailer) => ({ data: [data[0]!, data[1]!, data[1]!, ...data.slice(2)], trailer }) },
];
// A refused stream that kept its receive slot would leave none for the intact one.
assert(DAMAGES.length > SNAPSHOT_RECEIVES_MAX);

/** What the receiver computes over the data chunks it gets (files.ts: CRC-32 continued chunk to chunk). */
function receivedOf(data: readonly Buffer[]): { readonly crc32: number; readonly bytes: number; readonly chunks: number } {
  let crc = 0;
  let bytes = 0;
  for (const c of data) {
    crc = crc32(c, 0, c.length, crc);
    bytes += c.length;
  }
  return { crc32: crc, bytes, chunks: data.length };
}

/** What a refused snapshot must leave as it was on the store behind. */
interface RegionOnStore {
  readonly regionState: Buffer | null;
  readonly applyState: Buffer | null;
  readonly applied: number;
  readonly lastIndex: number;
  readonly region: RegionMeta;
  /** Every raw key and value the store holds. */
  readonly data: string[];
  /** Payload files in the store's snapshot dir (partial or complete). */
  readonly snapshotFiles: string[];
  readonly installing: number;
}

async function regionOnStore(node: SimNode, regionId: number): Promise<RegionOnStore> {
  const peer = node.store!.peers.get(regionId)!;
  return {
    regionState: await node.engine.get(regionStateKey(regionId)),
    applyState: await node.engine.get(applyStateKey(regionId)),
    applied: peer.applied,
    lastIndex: peer.storage.lastIndex(),
    region: peer.region,
    data: await rawContents(node.engine),
    snapshotFiles: await readdir(node.snapshotDir!),
    installing: node.store!.snapshots!.installer.installing.size,
  };
}

describe('the snapshot receiver refuses a payload that does not match its trailer', () => {
  it('refuses each damaged stream (a flipped byte, an altered checksum, swapped, dropped and repeated chunks) typed, with nothing kept or applied, then takes an intact one', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(SEED), dropRate: 0, maxDelaySteps: 1, raftLogGc: { thresholdBytes: 1 << 30, countLimit: 4, hardCountLimit: 12, checkTicks: 1 }, snapshots: true });
    try {
      assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
      const expected = new Map<string, string>();
      const write = async (key: string, value: string): Promise<void> => {
        await put(sim, key, value);
        expected.set(key, value);
      };
      for (let i = 0; i < 4; i++) await write(`k${String(i).padStart(2, '0')}`, `before-${i}`);
      const behind = sim.nodes.find((n) => n !== sim.leader())!;
      const regionId = sim.region.id;
      assert.ok(await advanceUntil(sim, () => behind.store!.peers.get(regionId)!.applied === sim.leader()!.store!.peers.get(regionId)!.applied), 'the follower never caught up');
      sim.isolate(behind.storeId, true);
      // 2 KiB values over 24 keys: the sim's snapshot streams cut chunks at 16 KiB, so three or more.
      for (let i = 0; i < 24; i++) await write(`k${String(i).padStart(2, '0')}`, `after-${i}-${String.fromCharCode(97 + (i % 26)).repeat(2_048)}`);
      const leaderPeer = (): Peer => sim.leader()!.store!.peers.get(regionId)!;
      const behindPeer = behind.store!.peers.get(regionId)!;
      assert.ok(await advanceUntil(sim, () => leaderPeer().storage.truncatedIndex > behindPeer.storage.lastIndex()), 'the leader\'s log was never compacted past the follower');
      const before = await regionOnStore(behind, regionId);
      assert.deepEqual(before.snapshotFiles, []);

      // Streams to the store behind arrive damaged, one damage each, in order; then intact.
      const sentDamaged: { readonly damage: Damage; readonly received: ReturnType<typeof receivedOf>; readonly trailer: Trailer }[] = [];
      sim.rewriteSnapshot = (stream, chunks) => {
        const damage = DAMAGES[sentDamaged.length];
        if (stream.to !== behind.storeId || damage === undefined) return [...chunks];
        const [header, ...rest] = chunks;
        const data = rest.filter((c) => c.part === 'data').map((c) => c.data!);
        const trailerChunk = rest[rest.length - 1]!;
        assert.equal(trailerChunk.part, 'trailer');
        assert.ok(data.length >= 3, `the snapshot has ${data.length} data chunks; the damages need 3`);
        const damaged = damage.apply(data, trailerChunk.trailer!);
        const received = receivedOf(damaged.data);
        const trailer = damaged.trailer;
        assert.notEqual(received.crc32, trailer.crc32, `${damage.name}: the checksum differs`);
        const isSizeAndCountEqual = String(received.bytes) === trailer.totalBytes && String(received.chunks) === trailer.chunkCount;
        assert.equal(isSizeAndCountEqual, damage.isChecksumOnly, `${damage.name}: bytes and chunk count ${damage.isChecksumOnly ? 'match' : 'differ from'} the trailer`);
        sentDamaged.push({ damage, received, trailer });
        return [header!, ...damaged.data.map((d): raft_serverpb.SnapshotChunk => ({ part: 'data', data: d })), { part: 'trailer', trailer }];
      };
      const answersToBehind = (): typeof sim.snapshotAnswers => sim.snapshotAnswers.filter((a) => a.to === behind.storeId);
      sim.isolate(behind.storeId, false);

      for (let k = 0; k < DAMAGES.length; k++) {
        assert.ok(await advanceUntil(sim, () => answersToBehind().length > k), `no stream ${k + 1} reached the store behind`);
        const answer = answersToBehind()[k]!;
        const { damage, received, trailer } = sentDamaged[k]!;
        const what = `stream ${k + 1} (${damage.name})`;
        assert.ok(answer.refusal !== null, `${what} was taken`);
        assert.equal(answer.refusal.code, grpc.status.INVALID_ARGUMENT, `${what}: ${answer.refusal.details}`);
        const mismatch = `received crc32 ${received.crc32} / ${received.bytes} bytes / ${received.chunks} chunks, the trailer says ${trailer.crc32} / ${trailer.totalBytes} / ${trailer.chunkCount}`;
        assert.ok(answer.refusal.details.includes(mismatch), `${what}: "${answer.refusal.details}" does not name the mismatch (${mismatch})`);
        assert.deepEqual(await regionOnStore(behind, regionId), before, `${what}: the store behind changed`);
      }

      const intact = DAMAGES.length;
      assert.ok(await advanceUntil(sim, () => answersToBehind().length > intact), 'no intact stream followed');
      assert.equal(answersToBehind()[intact]!.refusal, null, 'the intact stream was refused');
      assert.ok(await advanceUntil(sim, () => behindPeer.applied >= leaderPeer().storage.lastIndex()), 'the store behind never caught up');
      assert.ok(behindPeer.storage.truncatedIndex > before.lastIndex, 'it caught up by the snapshot');
      assert.deepEqual(await readdir(behind.snapshotDir!), [], 'the installed payload was deleted');
      assert.deepEqual(sim.fatals, []);
      await checkReplicas(sim, 'after the intact snapshot');
      for (const [key, value] of expected) assert.equal(await get(sim, key), value, key);
    } finally {
      sim.rewriteSnapshot = null;
      await sim.stop();
    }
  });
});
