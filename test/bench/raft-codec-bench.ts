// Micro-benchmark (not a test) of the store raft stream's codec: encode and decode of a typical
// batch with store/raft-codec.ts against the path it replaces (proto-loader objects built by the
// old conversions, protobufjs serialize/deserialize with longs as decimal strings, then the old
// conversions back). It lives under test/ because bench/ may import only store/index.ts and not
// proto/ (test/layout/import-rules.ts), and this compares against proto/ directly.
// Usage: node dist/test/bench/raft-codec-bench.js [--messages 40] [--ms 1500] [--seed 1]

import { createRng, type Rng } from '../../common/rng.js';
import { messageCodec } from '../../proto/index.js';
import type { Entry, Message, MessageType } from '../../raft/index.js';
import { decodeRaftBatch, encodeRaftBatch, type StoreRaftBatch, type StoreRaftMessage, storeRaftMessageFromProto, storeRaftMessageToProto } from '../../store/raft-codec.js';
import { positiveNumberArg } from '../../bench/cli-args.js';

const MESSAGES = positiveNumberArg('--messages', 40);
const RUN_MS = positiveNumberArg('--ms', 1500);
const BATCH_CODEC = messageCodec('flotilla.raft_serverpb.RaftMessageBatch');

/** 40 % MsgApp with 1–3 entries of ~300 bytes, 20 % each MsgAppResp, MsgHeartbeat, MsgHeartbeatResp. */
function typicalBatch(rng: Rng, n: number): StoreRaftBatch {
  const msgs: StoreRaftMessage[] = [];
  for (let i = 0; i < n; i++) {
    const roll = rng.nextInt(10);
    const type: MessageType = roll < 4 ? 'MsgApp' : roll < 6 ? 'MsgAppResp' : roll < 8 ? 'MsgHeartbeat' : 'MsgHeartbeatResp';
    const index = 100_000 + rng.nextInt(1_000_000);
    const entries: Entry[] = type !== 'MsgApp' ? [] : Array.from({ length: rng.nextRange(1, 3) }, (_, k) => ({
      type: 'Normal' as const, term: 7, index: index + k + 1, data: Buffer.alloc(rng.nextRange(250, 350), k + 1),
    }));
    const regionId = 1000 + i;
    const message: Message = {
      type, to: regionId * 3 + 2, from: regionId * 3 + 1, term: 7, logTerm: type === 'MsgApp' ? 7 : 0, index: type === 'MsgHeartbeat' ? 0 : index,
      entries, commit: type === 'MsgHeartbeatResp' ? 0 : index - 1, snapshot: undefined, reject: false, rejectHint: 0, context: Buffer.alloc(0),
    };
    msgs.push({
      regionId,
      fromPeer: { id: regionId * 3 + 1, storeId: 1, role: 'voter' },
      toPeer: { id: regionId * 3 + 2, storeId: 2, role: 'voter' },
      message,
      epoch: { confVer: 5, version: 40 + (i % 7) },
      isTombstone: false,
      startKey: Buffer.from(`t\x00\x00\x00\x00\x00\x00\x03${String(regionId).padStart(8, '0')}`),
      endKey: Buffer.from(`t\x00\x00\x00\x00\x00\x00\x03${String(regionId + 1).padStart(8, '0')}`),
    });
  }
  return { msgs, fromStoreId: 0 };
}

/** Runs `fn` for RUN_MS after a warm-up; µs per call. */
function measure(fn: () => unknown): number {
  const warmupEnd = performance.now() + RUN_MS / 3;
  while (performance.now() < warmupEnd) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < RUN_MS) {
    for (let i = 0; i < 50; i++) fn();
    calls += 50;
    now = performance.now();
  }
  return ((now - start) * 1000) / calls;
}

const rng = createRng(positiveNumberArg('--seed', 1));
const batches = Array.from({ length: 16 }, () => typicalBatch(rng, MESSAGES));
let next = 0;
const pick = (): StoreRaftBatch => batches[next++ & 15]!;
const ourBytes = batches.map(encodeRaftBatch);
const oldBytes = batches.map((b) => BATCH_CODEC.encode({ msgs: b.msgs.map(storeRaftMessageToProto), fromStoreId: String(b.fromStoreId) }));
let sink = 0;

const results = {
  ourEncode: measure(() => (sink += encodeRaftBatch(pick()).length)),
  oldEncode: measure(() => (sink += BATCH_CODEC.encode({ msgs: pick().msgs.map(storeRaftMessageToProto) }).length)),
  ourDecode: measure(() => (sink += decodeRaftBatch(ourBytes[next++ & 15]!).msgs.length)),
  oldDecode: measure(() => (sink += BATCH_CODEC.decode(oldBytes[next++ & 15]!).msgs.map(storeRaftMessageFromProto).length)),
};
const bytesPerBatch = ourBytes.reduce((s, b) => s + b.length, 0) / ourBytes.length;
const oldBytesPerBatch = oldBytes.reduce((s, b) => s + b.length, 0) / oldBytes.length;
const row = (what: string, ours: number, old: number): string =>
  `${what.padEnd(7)} ours ${ours.toFixed(1).padStart(7)} µs/batch (${Math.round(1e6 / ours).toLocaleString('en').padStart(7)} batches/s)   protobufjs+conversions ${old.toFixed(1).padStart(7)} µs/batch (${Math.round(1e6 / old).toLocaleString('en').padStart(6)} batches/s)   ×${(old / ours).toFixed(1)}`;
console.log(`raft codec: ${MESSAGES} messages per batch (40% MsgApp with 1-3 entries of ~300 B, MsgAppResp, MsgHeartbeat, MsgHeartbeatResp); ${Math.round(bytesPerBatch)} B per batch (old sender: ${Math.round(oldBytesPerBatch)} B, defaults written)`);
console.log(row('encode', results.ourEncode, results.oldEncode));
console.log(row('decode', results.ourDecode, results.oldDecode));
if (sink === 0) console.log('(sink)');
