// What one raft round must cost at least on this machine (not a test; issue F7). With writes
// spread over many regions each write is a round of its own (a region gets ~1 of 256 in flight
// at 1,000 regions), so a region's round bounds many-region throughput. This measures only the
// parts no implementation of one Raft group per region can skip, each alone and warm:
//   - the raft library: 3 replicas in one process, one entry per round, no ticks (so no
//     heartbeats; raft-rounds.ts);
//   - the wire: 2 appends and 2 answers, each encoded and decoded (store/raft-codec.ts, batched);
//   - the engine, on each of 3 stores: the entry written into the raft log (DESIGN.md §1: the log
//     lives in the store's RocksDB) and the region's applied index written with the applied data
//     (without it a restart would apply entries twice); written through the store's engine with
//     its defaults, unsynced, process CPU including RocksDB's pool and background threads. The
//     applied value itself is not counted: every put pays it at 1 region too.
// Left out, so the floor is low: transport and HTTP/2, hard state writes, the client's RPC,
// proposal bookkeeping, telling followers the commit index, fsync, thread wake-ups.
// With --one-region-us U --one-region-ops T (a 1-region harness run's cluster CPU per put, the
// generator included, and its puts/s) it prints the most puts/s the machine's cores allow when
// every put also pays a round of its own (k puts a round), and that against T.
// Usage: npm run bench:round-floor -- [--entry-bytes 330] [--messages 100]
//        [--one-region-us 64 --one-region-ops 26018]
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { CF_PREFIX, putOp, type WriteOp } from '../common/index.js';
import { decodeRaftBatch, encodeRaftBatch, RocksEngine, type StoreRaftBatch, type StoreRaftMessage } from '../store/index.js';
import type { MessageType } from '../raft/index.js';
import { measureRaftRounds } from './raft-rounds.js';
import { positiveNumberArg } from './cli-args.js';

const entryBytes = positiveNumberArg('--entry-bytes', 330);
const messages = positiveNumberArg('--messages', 100);
const oneRegionUs = positiveNumberArg('--one-region-us', 0);
const oneRegionOps = positiveNumberArg('--one-region-ops', 0);

/** A stored log record's header beside the entry's data (raft-host/log-records.ts, ENTRY_RECORD_HEADER_BYTES). */
const ENTRY_RECORD_OVERHEAD_BYTES = 14;

function cpuMicros(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return c.user + c.system;
}

function raftMessage(regionId: number, type: MessageType, withEntry: boolean): StoreRaftMessage {
  const from = regionId * 10 + 1;
  const to = regionId * 10 + 2;
  return {
    regionId,
    fromPeer: { id: from, storeId: 1, role: 'voter' },
    toPeer: { id: to, storeId: 2, role: 'voter' },
    epoch: { confVer: 1, version: 5 },
    isTombstone: false,
    startKey: Buffer.alloc(0),
    endKey: Buffer.alloc(0),
    message: {
      type, to, from, term: 7, logTerm: 7, index: 12_345, commit: 12_344, reject: false, rejectHint: 0, context: new Uint8Array(0),
      entries: withEntry ? [{ type: 'Normal', term: 7, index: 12_346, data: new Uint8Array(entryBytes).fill(3) }] : [],
    },
  };
}

/** CPU µs to encode and to decode one message, in batches of `messages` (one per region). */
function wireCost(type: MessageType, withEntry: boolean): { encodeUs: number; decodeUs: number; bytes: number } {
  const batch: StoreRaftBatch = { fromStoreId: 1, msgs: Array.from({ length: messages }, (_, i) => raftMessage(i + 2, type, withEntry)) };
  const rounds = Math.max(200, Math.ceil(400_000 / messages));
  let bytes = encodeRaftBatch(batch);
  for (let i = 0; i < 200; i++) decodeRaftBatch(encodeRaftBatch(batch)); // warm
  const enc = cpuMicros(() => { for (let i = 0; i < rounds; i++) bytes = encodeRaftBatch(batch); });
  let dropped = 0;
  const dec = cpuMicros(() => { for (let i = 0; i < rounds; i++) dropped += decodeRaftBatch(bytes).droppedMalformed; });
  if (dropped !== 0) throw new Error(`the codec dropped ${dropped} messages it encoded`);
  const n = rounds * messages;
  return { encodeUs: enc / n, decodeUs: dec / n, bytes: bytes.length / messages };
}

/**
 * Process CPU µs per put (pool and background threads included) through the store's own engine
 * (RocksEngine with the store's defaults: memtable, block cache, compression) over unsynced
 * batches of `messages` puts, two in flight: in turn a log record under an increasing key (as a
 * log grows) and a 32-byte applied index overwriting one of 1,000 regions' keys.
 */
async function enginePutCost(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'flotilla-round-floor-'));
  let engine: RocksEngine | null = null;
  try {
    engine = await RocksEngine.open(dir);
    const db = engine;
    const record = Buffer.alloc(entryBytes + ENTRY_RECORD_OVERHEAD_BYTES, 5);
    const appliedIndex = Buffer.alloc(32, 7);
    let index = 0;
    const nextBatch = (): WriteOp[] => Array.from({ length: messages }, (_, i) => {
      const key = Buffer.alloc(24);
      key[0] = CF_PREFIX.local;
      if (i % 2 === 1) {
        key[1] = 1; // the apply-state keys, apart from the log's
        key.writeUInt32BE(index % 1000, 20);
        return putOp('local', key, appliedIndex);
      }
      key.writeUInt32BE(index++, 20);
      return putOp('local', key, record);
    });
    const run = async (writes: number): Promise<void> => {
      const lane = async (): Promise<void> => { for (let w = 0; w < writes / 2; w++) await db.write(nextBatch(), { sync: false }); };
      await Promise.all([lane(), lane()]);
    };
    await run(200); // warm
    const writes = Math.max(400, Math.ceil(300_000 / messages));
    const c0 = process.cpuUsage();
    await run(writes);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / (writes * messages);
  } finally {
    if (engine !== null) await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const raft = measureRaftRounds({ entries: 100_000, batch: 1, entryBytes, tickEveryRounds: 0 });
const append = wireCost('MsgApp', true);
const answer = wireCost('MsgAppResp', false);
const putUs = await enginePutCost();
const wireUs = 2 * (append.encodeUs + append.decodeUs) + 2 * (answer.encodeUs + answer.decodeUs);
const engineUs = 3 * 2 * putUs;
const floorUs = raft.cpuMicrosPerEntry + wireUs + engineUs;
const cores = availableParallelism();
const round = (x: number, d = 2): number => Number(x.toFixed(d));
// Puts a round: ~1 at 1,000 busy regions, ~1.6 measured at 100 (256 in flight), 2.5 if every one of
// 100 regions' puts shared a round.
const bound = oneRegionUs > 0 && oneRegionOps > 0
  ? [1, 1.6, 2.5].map((k) => {
    const ops = (cores * 1e6) / (oneRegionUs + floorUs / k);
    return { putsPerRound: k, maxPutsPerSecond: Math.round(ops), againstOneRegion: round(ops / oneRegionOps) };
  })
  : undefined;
console.log(JSON.stringify({
  raftRoundUs: raft.cpuMicrosPerEntry,
  wire: { appendBytes: round(append.bytes, 0), appendEncodeUs: round(append.encodeUs), appendDecodeUs: round(append.decodeUs), answerBytes: round(answer.bytes, 0), answerEncodeUs: round(answer.encodeUs), answerDecodeUs: round(answer.decodeUs), perRoundUs: round(wireUs) },
  engine: { putUs: round(putUs), perRoundUs: round(engineUs) },
  floorPerRoundUs: round(floorUs),
  cores,
  ...(bound === undefined ? {} : { oneRegionUs, oneRegionOps, bound }),
  note: 'CPU µs of one raft round over 3 stores, counting only the parts no one-group-per-region design can skip',
}, null, 2));
