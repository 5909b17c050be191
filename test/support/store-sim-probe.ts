// A probe, not a test: what one raw put (or one 1PC transfer) costs the stores' code at 1 or N regions, measured in
// process on the store sim (three real RaftStores, peers, poll loops, raft codec; in-memory
// engines and network, no gRPC, no RocksDB). The workload is fixed by the seed, so its two
// figures compare across builds:
//   - bytes allocated per put (V8's sampling heap profiler, collected objects included): it moves
//     only with the code, not with how busy the machine is;
//   - CPU µs per put of this process — the in-memory engine's sorted arrays dominate it at many
//     regions, so read it for large differences only.
//
//   node dist/test/support/store-sim-probe.js [--regions 100] [--inflight 256] [--puts 20000] [--top 30] [--workload raw-put|transfer]
//
// transfer: bench:store's transaction — a KvBatchGet of two accounts at a fresh start_ts, then a
// one-phase prewrite of both (the probe's TSO answers at once); a conflict starts over.
//
// Used for F7 (bench/README.md, "Per-region costs, stop 38"): the difference between 1 and 100
// regions is what each region's entry costs (Ready, messages, persist and apply records).

import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { createRng } from '../../common/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import type { Peer } from '../../store/peer.js';
import { type SimNode, StoreSim } from './store-sim.js';

const KEYS = 10_000;
/** Split keys one BatchSplit takes at most (region-splitter.ts refuses more than 64). */
const SPLIT_CHUNK = 60;
const WARMUP_PUTS = 2_000;

interface HeapNode {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly HeapNode[];
}

const { values } = parseArgs({
  options: { workload: { type: 'string', default: 'raw-put' }, regions: { type: 'string', default: '1' }, inflight: { type: 'string', default: '256' }, puts: { type: 'string', default: '20000' }, top: { type: 'string', default: '30' } },
});
const regions = Number(values.regions);
const inflight = Number(values.inflight);
const total = Number(values.puts);
const top = Number(values.top);
for (const [name, v] of [['regions', regions], ['inflight', inflight], ['puts', total], ['top', top]] as const) {
  if (!Number.isSafeInteger(v) || v < (name === 'top' ? 0 : 1)) throw new Error(`--${name} must be a positive integer`);
}

const workload = values.workload;
if (workload !== 'raw-put' && workload !== 'transfer') throw new Error('--workload must be raw-put or transfer');
const rng = createRng(1);
let ts = 1_000n;
const sim = await StoreSim.start(3, { rng, dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled: true, tso: () => Promise.resolve(++ts) });
const keyOf = (i: number): Buffer => Buffer.from(`k${String(i).padStart(6, '0')}`);

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5_000; i++) {
    if (cond()) return;
    await sim.advance();
  }
  throw new Error(`the sim never reached: ${what}`);
}

await until(() => sim.leader() !== undefined, 'a leader');
const at: Buffer[] = [];
for (let r = 1; r < regions; r++) at.push(keyOf(Math.floor((r * KEYS) / regions)));
for (let i = 0; i < at.length; i += SPLIT_CHUNK) {
  const chunk = at.slice(i, i + SPLIT_CHUNK);
  await until(() => sim.leaderFor(chunk[0]!) !== undefined, 'a leader of the region to split');
  let isDone = false;
  void sim.split(sim.leaderFor(chunk[0]!)!.peer.regionId, chunk).then(
    () => {
      isDone = true;
    },
    (err: unknown) => {
      throw err;
    },
  );
  await until(() => isDone, 'the split applied');
}
await until(() => {
  for (let i = 0; i < KEYS; i += 50) if (sim.leaderFor(keyOf(i)) === undefined) return false;
  return true;
}, 'a leader for every region');

function contextOf(node: SimNode, peer: Peer): kvrpcpb.Context {
  return sim.context(node, peer);
}

const value = Buffer.alloc(256, 7);
let acked = 0;
let inFlight = 0;
let failed = 0;
let conflicts = 0;

/** One transfer between two random accounts, started over (new start_ts) after a conflict. */
async function transfer(): Promise<void> {
  for (;;) {
    const from = rng.nextInt(KEYS);
    const keys = [keyOf(from), keyOf((from + 1 + rng.nextInt(KEYS - 1)) % KEYS)];
    const target = sim.leaderFor(keys[0]!);
    if (target?.node.txn === null || target === undefined || sim.leaderFor(keys[1]!)?.peer !== target.peer) {
      conflicts++; // another region (or no leader): a two-region transfer is not this probe's
      continue;
    }
    const txn = target.node.txn;
    const startVersion = String(++ts);
    const read = await txn.batchGet({ context: contextOf(target.node, target.peer), keys, version: startVersion });
    if (read.error !== null && read.error !== undefined) {
      conflicts++;
      continue;
    }
    const pre = await txn.prewrite({
      context: contextOf(target.node, target.peer), mutations: keys.map((key) => ({ op: 'Put', key, value, assertion: 'None' })), primaryLock: keys[0]!,
      startVersion, lockTtl: '3000', skipConstraintCheck: false, txnSize: '2', minCommitTs: '0', maxCommitTs: '0', tryOnePc: true,
    });
    if ((pre.errors ?? []).length === 0 && pre.onePcCommitTs !== undefined && pre.onePcCommitTs !== '0') return;
    conflicts++;
  }
}

/** Counts one operation in flight until `op` settles (acknowledged or failed). */
function track(op: Promise<unknown>): void {
  inFlight++;
  void op.then(
    () => {
      acked++;
      inFlight--;
    },
    () => {
      failed++;
      inFlight--;
    },
  );
}

function issue(): void {
  if (workload === 'transfer') {
    track(transfer());
    return;
  }
  const key = keyOf(rng.nextInt(KEYS));
  const target = sim.leaderFor(key);
  if (target?.node.raw === null || target === undefined) {
    failed++;
    return;
  }
  track(target.node.raw.put({ context: contextOf(target.node, target.peer), key, value, ttlSeconds: '0' }));
}

async function drive(puts: number): Promise<void> {
  const goal = acked + puts;
  while (acked < goal) {
    while (inFlight < inflight) issue();
    await sim.advance();
  }
}

await drive(WARMUP_PUTS);
const session = new Session();
session.connect();
await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const cpuBefore = process.cpuUsage();
const ackedBefore = acked;
const stepBefore = sim.step;
await drive(total);
const cpu = process.cpuUsage(cpuBefore);
const puts = acked - ackedBefore;
const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: HeapNode } };
const byFunction = new Map<string, number>();
const walk = (node: HeapNode): void => {
  const f = node.callFrame;
  const where = `${f.functionName === '' ? '(anonymous)' : f.functionName} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  byFunction.set(where, (byFunction.get(where) ?? 0) + node.selfSize);
  for (const c of node.children) walk(c);
};
walk(profile.head);
let bytes = 0;
for (const b of byFunction.values()) bytes += b;
console.log(JSON.stringify({
  workload, regions, inflight, ops: puts, steps: sim.step - stepBefore, failed, conflicts,
  bytesPerOp: Math.round(bytes / puts), cpuMicrosPerOp: Math.round((cpu.user + cpu.system) / puts),
}));
for (const [where, b] of [...byFunction].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${String(Math.round(b / puts)).padStart(7)} B/op  ${where}`);
session.disconnect();
process.exit(0);
