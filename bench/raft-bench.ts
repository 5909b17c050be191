// Micro-benchmark of raft/ (not a test): a 3-node in-memory group, every node persisting into
// a MemoryStorage and applying, messages delivered in-process. The leader proposes batches of
// entries; we report entries committed (applied on the leader) per second and CPU µs per entry.
// Usage: npm run bench:raft -- [--entries 200000] [--batch 64] [--bytes 128]
// bench/ may import only client, common and deploy by DESIGN.md §2; a raft library benchmark has
// to drive raft/ itself, so this file is the documented exception (issue F2 asks for it here).
import { type Message, type NodeId, MemoryStorage, RawNode } from '../raft/index.js';
import { createRng } from '../common/pure.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

const totalEntries = arg('--entries', 200_000);
const batch = arg('--batch', 64);
const entryBytes = arg('--bytes', 128);

interface Node {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly raw: RawNode;
  applied: number;
}

const ids = [1, 2, 3];
const nodes = new Map<NodeId, Node>();
for (const id of ids) {
  const storage = new MemoryStorage();
  storage.applySnapshot({ metadata: { index: 1, term: 1, confState: { voters: ids, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) });
  storage.setHardState({ term: 1, vote: 0, commit: 1 });
  const raw = new RawNode({ id, storage, rng: createRng(id), electionTick: 10, heartbeatTick: 1, applied: 1, preVote: true, checkQuorum: true });
  nodes.set(id, { id, storage, raw, applied: 1 });
}

let inbox: Message[] = [];

function processReadies(): boolean {
  let any = false;
  for (const n of nodes.values()) {
    if (!n.raw.hasReady()) continue;
    any = true;
    const rd = n.raw.ready();
    for (const m of rd.messages) inbox.push(m);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    for (const m of rd.persistedMessages) inbox.push(m);
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    if (last !== undefined) n.applied = last.index;
    n.raw.advance(rd);
    // Keep memory flat: compact applied entries now and then.
    if (n.applied - n.storage.firstIndex() > 20_000) n.storage.compact(n.applied - 1000);
  }
  return any;
}

function deliver(): boolean {
  if (inbox.length === 0) return false;
  const batchMsgs = inbox;
  inbox = [];
  for (const m of batchMsgs) nodes.get(m.to)?.raw.step(m);
  return true;
}

function pump(): void {
  for (;;) {
    const a = processReadies();
    const b = deliver();
    if (!a && !b) return;
  }
}

const leader = nodes.get(1);
if (leader === undefined) throw new Error('no node 1');
leader.raw.campaign();
pump();
if (leader.raw.role !== 'Leader') throw new Error('node 1 did not become leader');

const payload = new Uint8Array(entryBytes);
const datas: Uint8Array[] = Array.from({ length: batch }, () => payload);
const startIndex = leader.applied;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let proposed = 0;
let ticks = 0;
while (proposed < totalEntries) {
  const r = leader.raw.proposeBatch(datas);
  if (r.kind !== 'ok') throw new Error(`proposal refused: ${r.kind}`);
  proposed += batch;
  pump();
  if (++ticks % 16 === 0) for (const n of nodes.values()) n.raw.tick();
}
pump();
const t1 = process.hrtime.bigint();
const cpu = process.cpuUsage(cpu0);
const committed = leader.applied - startIndex;
const secs = Number(t1 - t0) / 1e9;
const cpuMicros = cpu.user + cpu.system;
console.log(
  JSON.stringify({
    nodes: 3,
    batch,
    entryBytes,
    entriesCommitted: committed,
    seconds: Number(secs.toFixed(3)),
    entriesPerSecond: Math.round(committed / secs),
    cpuMicrosPerEntry: Number((cpuMicros / committed).toFixed(3)),
    note: 'all three nodes run in this one process, so CPU per entry covers leader + 2 followers',
  }),
);
