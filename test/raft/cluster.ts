// A small in-memory network of RawNodes for scenario tests: each node persists its Ready into a
// MemoryStorage, applies committed entries to a list, and its messages queue until delivered.
// Delivery is explicit (stabilize / deliverAll) and can be filtered to cut links or drop messages.
import {
  type ConfigInput,
  type Entry,
  type Message,
  type NodeId,
  type ReadState,
  MemoryStorage,
  RawNode,
  decodeConfChange,
} from '../../raft/index.js';
import { createRng } from '../../common/pure.js';

export interface TestNode {
  readonly id: NodeId;
  storage: MemoryStorage;
  raw: RawNode;
  applied: Entry[];
  readStates: ReadState[];
}

export type Overrides = Partial<Omit<ConfigInput, 'id' | 'storage' | 'rng'>>;

/** Storage holding a bootstrap snapshot at index 1, term 1 with `voters` (and `learners`). */
export function bootstrapStorage(voters: readonly NodeId[], learners: readonly NodeId[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ metadata: { index: 1, term: 1, confState: { voters, votersOutgoing: [], learners, learnersNext: [], autoLeave: false } }, data: new Uint8Array(0) });
  s.setHardState({ term: 1, vote: 0, commit: 1 });
  return s;
}

/** Entries with the given terms starting at index `from`. */
export function entriesWithTerms(from: number, terms: readonly number[]): Entry[] {
  return terms.map((term, i) => ({ type: 'Normal', term, index: from + i, data: new TextEncoder().encode(`e${from + i}t${term}`) }));
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);

export class Cluster {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Every message ever sent (for assertions). */
  readonly sent: Message[] = [];
  /** Directed links that drop messages: "from>to". */
  readonly cut = new Set<string>();
  /** Extra drop rule. */
  dropIf: ((m: Message) => boolean) | undefined;
  /** Nodes that are down (do not process or receive). */
  readonly down = new Set<NodeId>();
  private readonly overrides: Overrides;
  private seed = 1;

  constructor(ids: readonly NodeId[], overrides: Overrides = {}, storages?: ReadonlyMap<NodeId, MemoryStorage>) {
    this.overrides = overrides;
    for (const id of ids) this.addNode(id, storages?.get(id) ?? bootstrapStorage(ids));
  }

  addNode(id: NodeId, storage: MemoryStorage, overrides: Overrides = {}): TestNode {
    const n: TestNode = { id, storage, raw: this.makeRaw(id, storage, overrides), applied: [], readStates: [] };
    this.nodes.set(id, n);
    return n;
  }

  private makeRaw(id: NodeId, storage: MemoryStorage, overrides: Overrides, applied = 0): RawNode {
    return new RawNode({ id, storage, rng: createRng(this.seed++ * 7919 + id), electionTick: 10, heartbeatTick: 1, verify: true, applied, ...this.overrides, ...overrides });
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  raw(id: NodeId): RawNode {
    return this.node(id).raw;
  }

  /** Restarts a node from its durable storage (its unpersisted state is lost). */
  restart(id: NodeId, overrides: Overrides = {}): void {
    const n = this.node(id);
    const snap = n.storage.snapshot(0);
    const applied = snap === 'unavailable' ? 0 : snap.metadata.index;
    n.raw = this.makeRaw(id, n.storage, overrides, applied);
    n.applied = [];
    this.down.delete(id);
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
    this.dropIf = undefined;
  }

  /** Persists, sends and applies one node's Ready (if any). */
  processReady(id: NodeId): boolean {
    const n = this.node(id);
    if (this.down.has(id) || !n.raw.hasReady()) return false;
    const rd = n.raw.ready();
    this.enqueue(rd.messages);
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    this.enqueue(rd.persistedMessages);
    for (const e of rd.committedEntries) {
      n.applied.push(e);
      if (e.type !== 'Normal') {
        const d = decodeConfChange(e.data);
        if (d.kind === 'ok') n.raw.applyConfChange(d.confChange);
      }
    }
    n.readStates.push(...rd.readStates);
    n.raw.advance(rd);
    return true;
  }

  private enqueue(ms: readonly Message[]): void {
    for (const m of ms) {
      this.sent.push(m);
      this.queue.push(m);
    }
  }

  processAllReadies(): boolean {
    let any = false;
    // Like a real caller: generate a snapshot when the leader asks for a newer one.
    for (const n of this.nodes.values()) {
      if (!n.storage.snapshotRequested || this.down.has(n.id)) continue;
      const st = n.raw.status();
      if (n.storage.createSnapshot(st.applied, st.confState, new Uint8Array(0)) !== 'out-of-date') {
        n.storage.snapshotRequested = false;
        n.raw.onStorageReady();
        any = true;
      }
    }
    for (const id of this.nodes.keys()) if (this.processReady(id)) any = true;
    return any;
  }

  /** Delivers the queued messages (not those sent while delivering). */
  deliverAll(): boolean {
    const batch = this.queue;
    this.queue = [];
    for (const m of batch) this.deliver(m);
    return batch.length > 0;
  }

  deliver(m: Message): void {
    const to = this.nodes.get(m.to);
    if (to === undefined || this.down.has(m.to) || this.cut.has(`${m.from}>${m.to}`) || this.dropIf?.(m) === true) {
      if (m.type === 'MsgSnap') this.nodes.get(m.from)?.raw.reportSnapshot(m.to, 'failure');
      return;
    }
    to.raw.step(m);
    if (m.type === 'MsgSnap') this.nodes.get(m.from)?.raw.reportSnapshot(m.to, 'finish');
  }

  /** Runs readies and deliveries until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      const a = this.processAllReadies();
      const b = this.deliverAll();
      if (!a && !b) return;
    }
    throw new Error('cluster did not stabilize');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.raw(id).tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const id of this.nodes.keys()) if (!this.down.has(id)) this.raw(id).tick();
      this.stabilize();
    }
  }

  /** Elects `id` by campaigning and delivering everything. */
  elect(id: NodeId): void {
    this.raw(id).campaign();
    this.stabilize();
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => !this.down.has(n.id) && n.raw.role === 'Leader').map((n) => n.id);
  }

  /** Terms of node `id`'s whole log (durable and unstable) from its first index. */
  logTerms(id: NodeId): number[] {
    const log = this.raw(id).raft.raftLog;
    const out: number[] = [];
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) {
      const t = log.term(i);
      out.push(typeof t === 'number' ? t : -1);
    }
    return out;
  }

  appliedData(id: NodeId): string[] {
    return this.node(id).applied.filter((e) => e.type === 'Normal' && e.data.length > 0).map((e) => str(e.data));
  }
}
