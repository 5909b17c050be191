// A seeded, deterministic simulator for raft/ (after TigerBeetle's VOPR). The seed picks the
// fault parameters (drop, delay, reorder, duplicate, partitions — symmetric and one-way —,
// crashes that lose unpersisted state, slow storage), then a safety phase runs client
// proposals, ReadIndex reads, membership changes and leader transfers under those faults,
// and a liveness phase on a healed network must converge. After every step the checkers run:
// election safety, log matching, leader completeness, state-machine safety, linearizable reads.
import {
  type ConfChange,
  type ConfChangeSingle,
  type Entry,
  type Message,
  type NodeId,
  type Ready,
  type Snapshot,
  MemoryStorage,
  RawNode,
  decodeConfChange,
} from '../../raft/index.js';
import { type Rng, createRng } from '../../common/pure.js';

export interface SimOptions {
  readonly seed: number;
  /** Ticks of the faulty phase. */
  readonly safetyTicks?: number;
  /** Ticks the healed phase may take to converge. */
  readonly livenessTicks?: number;
  /** Collect a textual trace (for determinism checks and debugging). */
  readonly trace?: boolean;
}

export interface SimStats {
  readonly nodes: number;
  readonly ticks: number;
  readonly committed: number;
  readonly elections: number;
  readonly crashes: number;
  readonly reads: number;
  readonly confChanges: number;
  readonly transfers: number;
  readonly snapshotsInstalled: number;
  readonly messagesDelivered: number;
}

export type SimResult =
  | { readonly ok: true; readonly seed: number; readonly stats: SimStats; readonly traceHash: number; readonly trace: readonly string[] }
  | { readonly ok: false; readonly seed: number; readonly error: string; readonly tick: number; readonly trace: readonly string[] };

/** The one-line command that replays a seed. */
export function replayCommand(seed: number): string {
  return `npm run sim -- --seed ${seed}`;
}

class SimViolation extends Error {
  override readonly name = 'SimViolation';
}

function violation(msg: string): never {
  throw new SimViolation(msg);
}

const enc = new TextEncoder();

function bytesKey(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i] ?? 0);
  return s;
}

function entryKey(e: Entry): string {
  return `${e.type}|${e.term}|${bytesKey(e.data)}`;
}

/** FNV-1a over a string, continuing from `h`. */
function fnv(h: number, s: string): number {
  let x = h >>> 0;
  for (let i = 0; i < s.length; i++) {
    x ^= s.charCodeAt(i);
    x = Math.imul(x, 0x01000193) >>> 0;
  }
  return x;
}

/** The replicated state machine: a running hash of applied entries. */
interface StateMachine {
  applied: number;
  hash: number;
}

function encodeSm(sm: StateMachine): Uint8Array {
  return enc.encode(`${sm.applied}:${sm.hash}`);
}

function decodeSm(data: Uint8Array): StateMachine {
  const [a, h] = new TextDecoder().decode(data).split(':');
  return { applied: Number(a), hash: Number(h) };
}

interface SimNode {
  readonly id: NodeId;
  /** Durable state: survives crashes. */
  readonly storage: MemoryStorage;
  raw: RawNode | undefined;
  /** Volatile applied state, rebuilt from the storage snapshot on restart. */
  sm: StateMachine;
  removed: boolean;
  /** Crashed at this tick (undefined when up). */
  downSince: number | undefined;
}

interface InFlight {
  readonly at: number;
  readonly seq: number;
  readonly msg: Message;
}

interface FaultParams {
  readonly dropRate: number;
  readonly dupRate: number;
  readonly delayMax: number;
  readonly partitionRate: number;
  readonly crashRate: number;
  readonly crashBeforePersistRate: number;
  /** Per tick, crash the current leader (the "figure 8" nemesis: leaders die mid-replication). */
  readonly leaderCrashRate: number;
  readonly proposeRate: number;
  readonly readRate: number;
  readonly confChangeRate: number;
  readonly transferRate: number;
  readonly evictRate: number;
  readonly asyncSnapshots: boolean;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly leaseReads: boolean;
  readonly snapshotInterval: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
}

const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 2;
const MAX_NODE_IDS = 8;

export class Simulation {
  readonly seed: number;
  private readonly rng: Rng;
  private readonly p: FaultParams;
  private readonly nodes = new Map<NodeId, SimNode>();
  private nextNodeId: NodeId;
  private net: InFlight[] = [];
  private seq = 0;
  private now = 0;
  /** Directed links that drop everything: "from>to". */
  private blocked = new Set<string>();
  private partitionHealAt = 0;
  private readonly traceOn: boolean;
  readonly trace: string[] = [];
  private traceHash = 0x811c9dc5;

  // ---- checker state ----
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** "index|term" → entry key and previous term seen with it (log matching). */
  private readonly entryIdentity = new Map<string, { key: string; prevTerm: number | undefined }>();
  /** Committed (applied somewhere) entry key by index. */
  private readonly committedKey: string[] = [];
  /** State-machine hash after applying index i. */
  private readonly hashAt: number[] = [];
  private maxApplied = 0;
  /** Highest commit index any node has reached. */
  private maxCommit = 0;
  /** Read context → lowest acceptable read index (commit known anywhere when issued). */
  private readonly readFloor = new Map<string, number>();
  private nextReadId = 0;
  private readonly voteOf = new Map<string, NodeId>();
  private readonly committedTerm: number[] = [];
  private readonly commitChecked = new Map<NodeId, number>();
  /** Commit index last seen per "leader@term". */
  private readonly leaderCommit = new Map<string, number>();
  private nextProposalId = 0;
  private liveMarker: string | undefined;

  private stats = { ticks: 0, committed: 0, elections: 0, crashes: 0, reads: 0, confChanges: 0, transfers: 0, snapshotsInstalled: 0, messagesDelivered: 0 };

  constructor(opts: SimOptions) {
    this.seed = opts.seed;
    this.rng = createRng(opts.seed);
    this.traceOn = opts.trace === true;
    const r = this.rng;
    // One seed in four is a "figure 8" profile: five nodes, one entry per append, leaders that
    // keep dying mid-replication — the conditions under which counting replicas of an old-term
    // entry would commit something a later leader overwrites.
    const figure8 = r.chance(0.25);
    const nodeCount = figure8 || r.chance(0.5) ? 5 : 3;
    const checkQuorum = r.chance(0.75);
    this.p = {
      dropRate: r.chance(0.3) ? 0 : r.nextFloat() * 0.2,
      dupRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.1,
      delayMax: r.nextInt(4),
      partitionRate: r.chance(0.3) ? 0 : r.nextFloat() * 0.03,
      crashRate: r.chance(0.3) ? 0 : r.nextFloat() * 0.01,
      crashBeforePersistRate: r.nextFloat() * 0.05,
      leaderCrashRate: figure8 ? 0.05 + r.nextFloat() * 0.25 : r.chance(0.7) ? 0 : r.nextFloat() * 0.15,
      proposeRate: 0.1 + r.nextFloat() * 0.5,
      readRate: r.nextFloat() * 0.3,
      confChangeRate: r.chance(0.4) ? 0 : r.nextFloat() * 0.04,
      transferRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.02,
      evictRate: r.chance(0.5) ? 0 : r.nextFloat() * 0.05,
      asyncSnapshots: r.chance(0.5),
      preVote: r.chance(0.75),
      checkQuorum,
      leaseReads: checkQuorum && r.chance(0.3),
      snapshotInterval: 5 + r.nextInt(30),
      maxSizePerMsg: figure8 || r.chance(0.5) ? 0 : 64 + r.nextInt(512),
      maxInflightMsgs: figure8 ? 1 : 1 + r.nextInt(8),
    };
    this.safetyTicks = opts.safetyTicks ?? 250;
    this.livenessTicks = opts.livenessTicks ?? 250;
    const voters: NodeId[] = [];
    for (let i = 1; i <= nodeCount; i++) voters.push(i);
    this.nextNodeId = nodeCount + 1;
    for (const id of voters) {
      const storage = new MemoryStorage();
      // Bootstrap: a snapshot at index 1 term 1 carrying the initial membership.
      storage.applySnapshot({
        metadata: { index: 1, term: 1, confState: { voters, votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } },
        data: encodeSm({ applied: 1, hash: 0 }),
      });
      storage.setHardState({ term: 1, vote: 0, commit: 1 });
      this.addNode(id, storage);
    }
    this.hashAt[1] = 0;
    this.committedKey[1] = 'bootstrap';
    this.maxApplied = 1;
    this.maxCommit = 1;
    this.tr(`seed ${this.seed} nodes ${nodeCount} params ${JSON.stringify(this.p)}`);
  }

  private readonly safetyTicks: number;
  private readonly livenessTicks: number;

  private tr(line: string): void {
    this.traceHash = fnv(this.traceHash, line);
    if (this.traceOn) this.trace.push(`[${this.now}] ${line}`);
  }

  private addNode(id: NodeId, storage: MemoryStorage): SimNode {
    const node: SimNode = { id, storage, raw: undefined, sm: { applied: 0, hash: 0 }, removed: false, downSince: undefined };
    this.nodes.set(id, node);
    this.start(node);
    return node;
  }

  private start(node: SimNode): void {
    const snap = node.storage.snapshot(0);
    const s: Snapshot | undefined = snap === 'unavailable' ? undefined : snap;
    node.sm = s !== undefined && s.metadata.index > 0 ? decodeSm(s.data) : { applied: 0, hash: 0 };
    // Snapshots are generated on demand (asynchronously: storage answers 'unavailable' until the
    // simulator produces one) so a new member always gets one that includes its own addition.
    // With `asyncSnapshots` off a slightly stale snapshot is served first when one exists.
    if (this.p.asyncSnapshots) node.storage.snapshotWantedIndex = () => node.sm.applied;
    node.raw = new RawNode({
      id: node.id,
      storage: node.storage,
      rng: this.rng.fork(),
      applied: node.sm.applied,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      preVote: this.p.preVote,
      checkQuorum: this.p.checkQuorum,
      readOnlyOption: this.p.leaseReads ? 'lease-based' : 'safe',
      maxSizePerMsg: this.p.maxSizePerMsg,
      maxInflightMsgs: this.p.maxInflightMsgs,
      maxInflightBytes: 0,
      verify: true,
    });
    node.downSince = undefined;
  }

  private crash(node: SimNode): void {
    this.tr(`crash ${node.id}`);
    node.raw = undefined;
    node.downSince = this.now;
    this.stats.crashes++;
  }

  private live(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.raw !== undefined) out.push(n);
    return out;
  }

  private leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.raw?.role === 'Leader' && (best === undefined || (best.raw?.term ?? 0) < n.raw.term)) best = n;
    }
    return best;
  }

  private pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.rng.nextInt(xs.length)];
  }

  // ---- network -------------------------------------------------------------------------------

  private sendAll(msgs: readonly Message[], faulty: boolean): void {
    for (const m of msgs) {
      if (m.type === 'MsgVoteResp' && !m.reject) this.checkVote(m.from, m.term, m.to);
      const copies = faulty && this.rng.chance(this.p.dupRate) ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        const delay = faulty ? this.rng.nextInt(this.p.delayMax + 1) : this.rng.nextInt(2);
        this.net.push({ at: this.now + delay, seq: this.seq++, msg: m });
      }
    }
  }

  private deliverDue(faulty: boolean): void {
    const due: InFlight[] = [];
    const rest: InFlight[] = [];
    for (const f of this.net) (f.at <= this.now ? due : rest).push(f);
    this.net = rest;
    // Random order among due messages: reordering.
    for (let i = due.length - 1; i > 0; i--) {
      const j = this.rng.nextInt(i + 1);
      const t = due[i] as InFlight;
      due[i] = due[j] as InFlight;
      due[j] = t;
    }
    for (const f of due) this.deliver(f.msg, faulty);
  }

  private deliver(m: Message, faulty: boolean): void {
    const to = this.nodes.get(m.to);
    const lost = to?.raw === undefined || this.blocked.has(`${m.from}>${m.to}`) || (faulty && this.rng.chance(this.p.dropRate));
    if (lost) {
      if (m.type === 'MsgSnap') this.nodes.get(m.from)?.raw?.reportSnapshot(m.to, 'failure');
      return;
    }
    this.stats.messagesDelivered++;
    if (this.traceOn) this.tr(`${m.from}->${m.to} ${m.type} t${m.term} i${m.index}/${m.logTerm} c${m.commit} n${m.entries.length}${m.reject ? ' rej' : ''}`);
    else this.traceHash = fnv(this.traceHash, `${m.from}${m.to}${m.type}${m.term}${m.index}`);
    to.raw?.step(m);
    if (m.type === 'MsgSnap') this.nodes.get(m.from)?.raw?.reportSnapshot(m.to, 'finish');
  }

  // ---- ready processing ----------------------------------------------------------------------

  private processReadies(faulty: boolean): void {
    const ns = this.live();
    for (let i = ns.length - 1; i > 0; i--) {
      const j = this.rng.nextInt(i + 1);
      const t = ns[i] as SimNode;
      ns[i] = ns[j] as SimNode;
      ns[j] = t;
    }
    for (const n of ns) {
      if (n.raw?.hasReady() === true) this.handleReady(n, faulty);
    }
  }

  private handleReady(n: SimNode, faulty: boolean): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const rd = raw.ready();
    this.checkReady(n, rd);
    // A leader's appends may go out while it persists.
    this.sendAll(rd.messages, faulty);
    if (faulty && rd.mustSync && this.p.crashRate > 0 && this.rng.chance(this.p.crashBeforePersistRate)) {
      // Crash before the write is durable: the Ready is lost.
      this.crash(n);
      return;
    }
    if (rd.snapshot !== undefined) {
      n.storage.applySnapshot(rd.snapshot);
      const sm = decodeSm(rd.snapshot.data);
      const want = this.hashAt[rd.snapshot.metadata.index];
      if (want !== undefined && want !== sm.hash) violation(`node ${n.id} installed snapshot at ${rd.snapshot.metadata.index} with state ${sm.hash}, expected ${want}`);
      n.sm = sm;
      this.stats.snapshotsInstalled++;
      this.tr(`${n.id} installed snapshot ${rd.snapshot.metadata.index}`);
    }
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    this.sendAll(rd.persistedMessages, faulty);
    let removedSelf = false;
    for (const e of rd.committedEntries) {
      if (this.apply(n, e)) removedSelf = true;
    }
    for (const rs of rd.readStates) this.checkRead(n, rs.index, rs.requestContext);
    raw.advance(rd);
    if (removedSelf) {
      this.tr(`${n.id} removed from the group; stopping`);
      n.removed = true;
      n.raw = undefined;
      return;
    }
    this.maybeSnapshot(n);
  }

  /** Applies one committed entry; returns true when it removed this node. */
  private apply(n: SimNode, e: Entry): boolean {
    if (e.index !== n.sm.applied + 1) violation(`node ${n.id} applies index ${e.index} after ${n.sm.applied}`);
    const key = entryKey(e);
    const known = this.committedKey[e.index];
    if (known !== undefined && known !== key) violation(`state machine safety: node ${n.id} applies ${key} at ${e.index}, others applied ${known}`);
    this.committedKey[e.index] = key;
    n.sm = { applied: e.index, hash: fnv(n.sm.hash, key) };
    const h = this.hashAt[e.index];
    if (h !== undefined && h !== n.sm.hash) violation(`state machine safety: node ${n.id} state after ${e.index} is ${n.sm.hash}, others ${h}`);
    if (h === undefined) {
      this.hashAt[e.index] = n.sm.hash;
      this.stats.committed++;
    }
    if (e.index > this.maxApplied) this.maxApplied = e.index;
    if (e.type === 'Normal') return false;
    const d = decodeConfChange(e.data);
    if (d.kind !== 'ok') violation(`node ${n.id}: undecodable conf change at ${e.index}: ${d.reason}`);
    const r = n.raw?.applyConfChange(d.confChange);
    if (r === undefined) return false;
    if (r.kind === 'refused') return false;
    this.tr(`${n.id} applied conf change at ${e.index}: voters ${r.confState.voters.join(',')} out ${r.confState.votersOutgoing.join(',')} learners ${r.confState.learners.join(',')}`);
    const cs = r.confState;
    return ![...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext].includes(n.id);
  }

  private markerIndex = 0;
  private markerTerm = 0;

  private maybeSnapshot(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const applied = n.sm.applied;
    const storageSnap = n.storage.snapshot(0);
    const snapIndex = storageSnap === 'unavailable' ? 0 : storageSnap.metadata.index;
    const requested = n.storage.snapshotRequested;
    if (applied <= snapIndex || applied > n.storage.lastIndex()) return;
    if (!requested && applied - n.storage.firstIndex() < this.p.snapshotInterval) return;
    const cs = raw.status().confState;
    const s = n.storage.createSnapshot(applied, cs, encodeSm(n.sm));
    if (s === 'out-of-date') return;
    n.storage.snapshotRequested = false;
    // Keep a few entries so followers just behind catch up from the log.
    const keep = this.rng.nextInt(5);
    if (applied - keep > n.storage.firstIndex()) n.storage.compact(applied - keep);
    this.tr(`${n.id} snapshot at ${applied}`);
    if (requested) raw.onStorageReady();
  }

  // ---- checkers ------------------------------------------------------------------------------

  private checkReady(n: SimNode, rd: Ready): void {
    const raw = n.raw;
    if (raw === undefined) return;
    // Election safety: at most one leader per term.
    if (raw.role === 'Leader') {
      const term = raw.term;
      const other = this.leaderOfTerm.get(term);
      if (other !== undefined && other !== n.id) violation(`election safety: nodes ${other} and ${n.id} both lead term ${term}`);
      if (other === undefined) {
        this.leaderOfTerm.set(term, n.id);
        this.stats.elections++;
        this.tr(`${n.id} leads term ${term}`);
        this.checkLeaderCompleteness(n);
      }
    }
    // Log matching: an (index, term) names one entry, always preceded by the same term.
    let prevTerm: number | undefined;
    const first = rd.entries[0];
    if (first !== undefined) {
      const t = raw.raft.raftLog.term(first.index - 1);
      prevTerm = typeof t === 'number' ? t : undefined;
    }
    for (const e of rd.entries) {
      const id = `${e.index}|${e.term}`;
      const key = entryKey(e);
      const seen = this.entryIdentity.get(id);
      if (seen === undefined) this.entryIdentity.set(id, { key, prevTerm });
      else {
        if (seen.key !== key) violation(`log matching: entry ${id} is ${key} on node ${n.id} but ${seen.key} elsewhere`);
        if (seen.prevTerm !== undefined && prevTerm !== undefined && seen.prevTerm !== prevTerm) {
          violation(`log matching: entry ${id} follows term ${prevTerm} on node ${n.id} but term ${seen.prevTerm} elsewhere`);
        }
        if (seen.prevTerm === undefined && prevTerm !== undefined) seen.prevTerm = prevTerm;
      }
      prevTerm = e.term;
    }
    // No committed entry changes: what the node now calls committed matches what was applied.
    const commit = raw.raft.raftLog.committed;
    if (commit > this.maxCommit) this.maxCommit = commit;
    // Raft §5.4.2: a leader advances its commit index only onto an entry of its own term (the
    // entries before it commit with it). Counting replicas of an older entry is figure 8's bug.
    const key = `${n.id}@${raw.term}`;
    const before = this.leaderCommit.get(key);
    if (raw.role === 'Leader') {
      if (before !== undefined && commit > before) {
        const t = raw.raft.raftLog.term(commit);
        if (typeof t === 'number' && t !== raw.term) violation(`commit rule: leader ${n.id} of term ${raw.term} committed index ${commit} of term ${t}`);
      }
      this.leaderCommit.set(key, commit);
    }
    if (rd.hardState !== undefined) this.recordCommitted(n);
    for (const e of rd.committedEntries) {
      const k = this.committedKey[e.index];
      if (k !== undefined && k !== entryKey(e)) violation(`committed entry ${e.index} changed on node ${n.id}: ${entryKey(e)} vs ${k}`);
    }
  }

  /** A node grants at most one vote per term, across crashes (what persisting the vote is for). */
  private checkVote(voter: NodeId, term: number, candidate: NodeId): void {
    const key = `${voter}@${term}`;
    const prev = this.voteOf.get(key);
    if (prev !== undefined && prev !== candidate) violation(`vote safety: node ${voter} voted for ${prev} and ${candidate} in term ${term}`);
    this.voteOf.set(key, candidate);
  }

  /** Records the terms of entries a node now calls committed; all nodes must agree on them. */
  private recordCommitted(n: SimNode): void {
    const raw = n.raw;
    if (raw === undefined) return;
    const log = raw.raft.raftLog;
    const from = Math.max((this.commitChecked.get(n.id) ?? 0) + 1, log.firstIndex());
    for (let i = from; i <= log.committed; i++) {
      const t = log.term(i);
      if (typeof t !== 'number') continue;
      const known = this.committedTerm[i];
      if (known === undefined) this.committedTerm[i] = t;
      else if (known !== t) violation(`committed entry changed: node ${n.id} commits term ${t} at index ${i}, committed earlier with term ${known}`);
    }
    this.commitChecked.set(n.id, log.committed);
  }

  /** A new leader's log holds every entry committed so far (Raft §5.4.1). */
  private checkLeaderCompleteness(n: SimNode): void {
    const log = n.raw?.raft.raftLog;
    if (log === undefined) return;
    if (log.lastIndex() < this.maxCommit) violation(`leader completeness: leader ${n.id} last index ${log.lastIndex()} < committed ${this.maxCommit}`);
    for (let i = Math.max(log.firstIndex(), 2); i <= this.maxApplied; i++) {
      const want = this.committedKey[i];
      if (want === undefined) continue;
      const t = log.term(i);
      if (typeof t !== 'number') continue;
      const wantTerm = Number(want.split('|')[1]);
      if (t !== wantTerm) violation(`leader completeness: leader ${n.id} has term ${t} at committed index ${i} (want ${wantTerm})`);
    }
  }

  private checkRead(n: SimNode, index: number, ctx: Uint8Array): void {
    const key = bytesKey(ctx);
    const floor = this.readFloor.get(key);
    if (floor === undefined) return; // a duplicate answer
    this.readFloor.delete(key);
    if (index < floor) violation(`linearizability: read ${key} on node ${n.id} got index ${index} below ${floor}, committed before the read began`);
    this.stats.reads++;
    this.tr(`${n.id} read ${key} at ${index}`);
  }

  // ---- client and nemesis actions ------------------------------------------------------------

  private propose(faulty: boolean): void {
    const target = this.rng.chance(0.7) ? this.leader() : this.pick(this.live());
    const raw = target?.raw;
    if (raw === undefined) return;
    const batch = 1 + this.rng.nextInt(3);
    const datas: Uint8Array[] = [];
    for (let i = 0; i < batch; i++) datas.push(enc.encode(`p${this.nextProposalId++}${faulty ? '' : 'L'}`));
    raw.proposeBatch(datas);
  }

  private read(): void {
    const target = this.rng.chance(0.7) ? this.leader() : this.pick(this.live());
    const raw = target?.raw;
    if (raw === undefined) return;
    const key = `r${this.nextReadId++}`;
    // Linearizability: everything committed anywhere before the read begins must be visible.
    let floor = this.maxCommit;
    for (const n of this.nodes.values()) if (n.raw !== undefined) floor = Math.max(floor, n.raw.raft.raftLog.committed);
    this.readFloor.set(key, floor);
    const r = raw.readIndex(enc.encode(key));
    if (r.kind !== 'ok' && r.kind !== 'forwarded') this.readFloor.delete(key);
  }

  private confChange(): void {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined) return;
    const cs = raw.status().confState;
    if (cs.votersOutgoing.length > 0) return; // auto-leave pending
    const voters = cs.voters;
    const learners = cs.learners;
    const choice = this.rng.nextInt(5);
    let changes: ConfChangeSingle[];
    let transition: ConfChange['transition'] = 'auto';
    const newId = (): NodeId | undefined => (this.nextNodeId <= MAX_NODE_IDS ? this.nextNodeId++ : undefined);
    if (choice === 0) {
      const id = newId();
      if (id === undefined) return;
      changes = [{ type: 'AddLearnerNode', nodeId: id }];
    } else if (choice === 1 && learners.length > 0) {
      const id = this.pick(learners);
      if (id === undefined) return;
      changes = [{ type: 'AddNode', nodeId: id }]; // promote
    } else if (choice === 2 && voters.length > 3) {
      const id = this.pick(voters);
      if (id === undefined) return;
      changes = [{ type: 'RemoveNode', nodeId: id }];
    } else if (choice === 3 && voters.length < 5) {
      const id = newId();
      if (id === undefined) return;
      changes = [{ type: 'AddNode', nodeId: id }];
    } else if (choice === 4 && voters.length >= 3) {
      // Replace a voter in one joint-consensus step.
      const out = this.pick(voters);
      const id = newId();
      if (out === undefined || id === undefined) return;
      changes = [
        { type: 'RemoveNode', nodeId: out },
        { type: 'AddNode', nodeId: id },
      ];
      transition = this.rng.chance(0.5) ? 'auto' : 'implicit';
    } else return;
    const r = raw.proposeConfChange({ transition, changes, context: new Uint8Array(0) });
    this.tr(`propose conf change ${JSON.stringify(changes)} at ${l?.id}: ${r.kind}`);
    if (r.kind !== 'ok') return;
    this.stats.confChanges++;
    for (const c of changes) {
      if (c.type !== 'RemoveNode' && !this.nodes.has(c.nodeId)) this.addNode(c.nodeId, new MemoryStorage());
    }
  }

  private transfer(): void {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined || l === undefined) return;
    const to = this.pick(raw.status().confState.voters.filter((id) => id !== l.id));
    if (to === undefined) return;
    const r = raw.transferLeader(to);
    this.tr(`transfer ${l.id} -> ${to}: ${r.kind}`);
    this.stats.transfers++;
  }

  private nemesis(): void {
    const p = this.p;
    if (this.blocked.size > 0 && this.now >= this.partitionHealAt) {
      this.blocked.clear();
      this.tr('partition healed');
    }
    if (this.blocked.size === 0 && this.rng.chance(p.partitionRate)) {
      const ids = [...this.nodes.keys()];
      const kind = this.rng.nextInt(3);
      if (kind === 0) {
        // Symmetric split into two sides.
        const side = new Set(ids.filter(() => this.rng.chance(0.5)));
        for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}>${b}`);
      } else if (kind === 1) {
        // Isolate the leader in one direction only (it can send but not hear, or the reverse).
        const l = this.leader()?.id ?? this.pick(ids);
        const outbound = this.rng.chance(0.5);
        for (const b of ids) if (b !== l) this.blocked.add(outbound ? `${l}>${b}` : `${b}>${l}`);
      } else {
        // A few random one-way links.
        for (let i = 0; i < 3; i++) {
          const a = this.pick(ids);
          const b = this.pick(ids);
          if (a !== undefined && b !== undefined && a !== b) this.blocked.add(`${a}>${b}`);
        }
      }
      this.partitionHealAt = this.now + 5 + this.rng.nextInt(40);
      this.tr(`partition ${[...this.blocked].join(' ')}`);
    }
    const l = this.leader();
    if (l !== undefined && this.rng.chance(p.leaderCrashRate)) this.crash(l);
    for (const n of this.nodes.values()) {
      if (n.removed) continue;
      if (n.raw !== undefined && this.rng.chance(p.crashRate)) this.crash(n);
      else if (n.raw === undefined && n.downSince !== undefined && this.now - n.downSince > 0 && this.rng.chance(0.25)) this.restart(n);
    }
  }

  private restart(n: SimNode): void {
    this.tr(`restart ${n.id}`);
    this.start(n);
  }

  private storageChores(): void {
    for (const n of this.nodes.values()) {
      const raw = n.raw;
      if (raw === undefined) continue;
      if (n.storage.loadRequested && this.rng.chance(0.5)) {
        n.storage.loadEvicted();
        raw.onStorageReady();
      }
      if (this.rng.chance(this.p.evictRate)) n.storage.evictBelow(Math.min(n.sm.applied, n.storage.lastIndex()));
      if (n.storage.snapshotRequested) this.maybeSnapshot(n);
    }
  }

  private tickAll(): void {
    for (const n of this.nodes.values()) n.raw?.tick();
  }

  private step(faulty: boolean): void {
    this.now++;
    this.stats.ticks++;
    if (faulty) {
      this.nemesis();
      if (this.rng.chance(this.p.proposeRate)) this.propose(true);
      if (this.rng.chance(this.p.readRate)) this.read();
      if (this.rng.chance(this.p.confChangeRate)) this.confChange();
      if (this.rng.chance(this.p.transferRate)) this.transfer();
    } else {
      if (this.rng.chance(0.1)) this.propose(false);
      if (this.rng.chance(0.2)) this.read();
    }
    this.tickAll();
    this.storageChores();
    for (let round = 0; round < 2; round++) {
      this.deliverDue(faulty);
      this.processReadies(faulty);
    }
  }

  private heal(): void {
    this.blocked.clear();
    for (const n of this.nodes.values()) if (!n.removed && n.raw === undefined) this.restart(n);
    this.tr('healed: liveness phase');
  }

  /** Converged: one leader, and a marker proposed after healing applied on every member. */
  private converged(): boolean {
    const l = this.leader();
    const raw = l?.raw;
    if (raw === undefined || l === undefined) return false;
    // (Re)propose the marker: a proposal may be lost to a leader change, and that is allowed.
    const markerKey = this.committedKey[this.markerIndex];
    const markerCommitted = markerKey !== undefined && this.liveMarker !== undefined && markerKey.endsWith(this.liveMarker);
    // Re-propose only when the term changed (the old proposal may be lost); a slow commit is fine.
    if (this.liveMarker === undefined || (!markerCommitted && raw.term !== this.markerTerm)) {
      const marker = `live-${this.seed}-${this.now}`;
      const r = raw.propose(enc.encode(marker));
      if (r.kind === 'ok') {
        this.liveMarker = marker;
        this.markerIndex = r.index;
        this.markerTerm = r.term;
      }
      return false;
    }
    if (!markerCommitted) return false;
    const cs = raw.status().confState;
    const members = [...cs.voters, ...cs.learners];
    return members.every((id) => (this.nodes.get(id)?.sm.applied ?? 0) >= this.markerIndex);
  }

  run(): SimResult {
    try {
      for (let i = 0; i < this.safetyTicks; i++) this.step(true);
      this.heal();
      let ok = false;
      for (let i = 0; i < this.livenessTicks; i++) {
        this.step(false);
        if (this.converged()) {
          ok = true;
          break;
        }
      }
      if (!ok) {
        const status = [...this.nodes.values()].map((n) => (n.raw === undefined ? `${n.id}:down${n.removed ? '(removed)' : ''}` : `${n.id}:${n.raw.role}/t${n.raw.term}/c${n.raw.raft.raftLog.committed}/a${n.sm.applied}`));
        violation(`liveness: no convergence within ${this.livenessTicks} ticks of healing (${status.join(' ')})`);
      }
      return { ok: true, seed: this.seed, stats: { nodes: this.nodes.size, ...this.stats }, traceHash: this.traceHash, trace: this.trace };
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      const stack = e instanceof Error && !(e instanceof SimViolation) ? `\n${e.stack ?? ''}` : '';
      return { ok: false, seed: this.seed, error: msg + stack, tick: this.now, trace: this.trace };
    }
  }
}

export function runSeed(seed: number, opts: Omit<SimOptions, 'seed'> = {}): SimResult {
  return new Simulation({ seed, ...opts }).run();
}
