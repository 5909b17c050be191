// The raft library alone, measured (not a test): a 3-node in-memory group, every node persisting
// into a MemoryStorage and applying, messages delivered in-process. The leader proposes batches of
// entries and every batch is pumped until the group is quiet, so a batch is one raft round.
// Used by raft-bench.ts (issue F2's figure) and round-floor.ts (issue F7's per-round floor).
// bench/ may import only client, common and deploy by DESIGN.md §2; a raft library benchmark has
// to drive raft/ itself, so this file is the documented exception (issue F2 asks for it here).
import { type Message, type NodeId, MemoryStorage, RawNode } from '../raft/index.js';
import { createRng } from '../common/pure.js';

export interface RaftRoundsOptions {
  /** Entries to commit in all. */
  readonly entries: number;
  /** Entries proposed per round. */
  readonly batch: number;
  /** Bytes of each entry's data. */
  readonly entryBytes: number;
  /** Every node ticks once every this many rounds (heartbeats ride on ticks); 0 = never. Default 16. */
  readonly tickEveryRounds?: number;
}

export interface RaftRoundsResult {
  readonly nodes: 3;
  readonly batch: number;
  readonly entryBytes: number;
  readonly entriesCommitted: number;
  readonly seconds: number;
  readonly entriesPerSecond: number;
  /** Process CPU per committed entry: the leader's and both followers' work together. */
  readonly cpuMicrosPerEntry: number;
}

interface Node {
  readonly id: NodeId;
  readonly storage: MemoryStorage;
  readonly raw: RawNode;
  applied: number;
}

/** Runs the group to `entries` committed entries and reports the rate and CPU per entry. */
export function measureRaftRounds(options: RaftRoundsOptions): RaftRoundsResult {
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

  const processReadies = (): boolean => {
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
  };
  const deliver = (): boolean => {
    if (inbox.length === 0) return false;
    const batchMsgs = inbox;
    inbox = [];
    for (const m of batchMsgs) nodes.get(m.to)?.raw.step(m);
    return true;
  };
  const pump = (): void => {
    for (;;) {
      const a = processReadies();
      const b = deliver();
      if (!a && !b) return;
    }
  };

  const leader = nodes.get(1);
  if (leader === undefined) throw new Error('no node 1');
  leader.raw.campaign();
  pump();
  if (leader.raw.role !== 'Leader') throw new Error('node 1 did not become leader');

  const payload = new Uint8Array(options.entryBytes);
  const datas: Uint8Array[] = Array.from({ length: options.batch }, () => payload);
  const startIndex = leader.applied;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let proposed = 0;
  let rounds = 0;
  const tickEvery = options.tickEveryRounds ?? 16;
  while (proposed < options.entries) {
    const r = leader.raw.proposeBatch(datas);
    if (r.kind !== 'ok') throw new Error(`proposal refused: ${r.kind}`);
    proposed += options.batch;
    pump();
    if (tickEvery > 0 && ++rounds % tickEvery === 0) for (const n of nodes.values()) n.raw.tick();
  }
  pump();
  const t1 = process.hrtime.bigint();
  const cpu = process.cpuUsage(cpu0);
  const committed = leader.applied - startIndex;
  const secs = Number(t1 - t0) / 1e9;
  return {
    nodes: 3,
    batch: options.batch,
    entryBytes: options.entryBytes,
    entriesCommitted: committed,
    seconds: Number(secs.toFixed(3)),
    entriesPerSecond: Math.round(committed / secs),
    cpuMicrosPerEntry: Number(((cpu.user + cpu.system) / committed).toFixed(3)),
  };
}
