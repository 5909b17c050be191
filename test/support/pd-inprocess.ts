// Several PD members in one process: real PdRaftNode over real RocksDB (temp dirs), the real
// leader services (TSO, IDs), one simulated monotonic clock shared by all, a wall clock per member
// that can be skewed or stepped back, a PeerFaults layer per member between them, a per-member
// persist gate (a stalled disk), and kill/restart from disk. Everything served goes into a
// PdHistory that test/support/pd-history.ts judges.
//
// Time only moves in step(): the clock advances one tick, every live member ticks and renews its
// TSO window, then the harness waits (in real time) until raft rounds and deliveries settle.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SimpleRocks, silentLogger, TaskGroup } from '../../common/index.js';
import { EMPTY_CONF_STATE, type Message } from '../../raft/index.js';
import { PdLeaderServices } from '../../placement-driver/leader-services.js';
import { PeerFaults } from '../../placement-driver/peer-faults.js';
import { PdRaftLog } from '../../placement-driver/raft-log.js';
import { PdRaftNode } from '../../placement-driver/raft-node.js';
import { PdStateMachine } from '../../placement-driver/state-machine.js';
import { PdHistory } from './pd-history.js';

export interface InProcessPdOptions {
  readonly members?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly tsoSaveWindowMs?: number;
  readonly tsoRenewMarginMs?: number;
  readonly idBatch?: bigint;
  readonly seed?: number;
  /**
   * Called after a delivered message with its recipient, at most `probesPerStep` times per step:
   * tests serve there mid-round (a probe's own raft traffic must not feed an endless chain).
   */
  readonly onDeliver?: (to: number) => void;
  readonly probesPerStep?: number;
  readonly logger?: Logger;
}

/** A member's running incarnation (null while killed). */
interface Incarnation {
  readonly db: SimpleRocks;
  readonly sm: PdStateMachine;
  readonly node: PdRaftNode;
  readonly services: PdLeaderServices;
  readonly tasks: TaskGroup;
}

export interface InProcessMember {
  readonly id: number;
  readonly dir: string;
  /** Added to the shared clock to make this member's wall clock (skew, steps back). */
  wallOffsetMs: number;
  readonly faults: PeerFaults;
  /** While closed, this member's raft rounds wait before their durable write. */
  readonly gate: { isClosed: boolean; waiting: (() => void)[]; blockedRounds: number };
  live: Incarnation | null;
  restarts: number;
  /** State machines of earlier incarnations: what they applied was committed. */
  readonly pastSms: PdStateMachine[];
}

const WALL_BASE_MS = 1_700_000_000_000;
/** Real time a step waits at most for raft rounds to settle (pacing only; nothing is asserted). */
const SETTLE_REAL_MS_MAX = 2_000;

export class InProcessPd {
  readonly clock = { monoMs: 1_000_000 };
  readonly members = new Map<number, InProcessMember>();
  readonly history = new PdHistory();
  readonly tickMs: number;
  private inflight = 0;
  private probesLeft = 0;
  private markers = 0;
  /** Marker proposals acknowledged (coverage). */
  markersAcked = 0;
  private readonly logger: Logger;

  private constructor(private readonly options: InProcessPdOptions) {
    this.tickMs = options.tickMs ?? 100;
    this.logger = options.logger ?? silentLogger();
  }

  static async start(options: InProcessPdOptions = {}): Promise<InProcessPd> {
    const pd = new InProcessPd(options);
    const count = options.members ?? 3;
    const voters = Array.from({ length: count }, (_, i) => i + 1);
    try {
      for (const id of voters) {
        const dir = await mkdtemp(join(tmpdir(), `flotilla-pd-inproc-${id}-`));
        const member: InProcessMember = { id, dir, wallOffsetMs: 0, faults: new PeerFaults(), gate: { isClosed: false, waiting: [], blockedRounds: 0 }, live: null, restarts: 0, pastSms: [] };
        pd.members.set(id, member);
        const db = await SimpleRocks.open(dir);
        const log = await PdRaftLog.open(db);
        await log.persist({ snapshot: { metadata: { index: 1, term: 1, confState: { ...EMPTY_CONF_STATE, voters } }, data: new PdStateMachine().snapshot() }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [], mustSync: true });
        await db.close();
        await pd.restart(id);
      }
      return pd;
    } catch (err) {
      await pd.close();
      throw err;
    }
  }

  member(id: number): InProcessMember {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  wallMs(id: number): number {
    return WALL_BASE_MS + this.clock.monoMs + this.member(id).wallOffsetMs;
  }

  /** (Re)starts a killed member from its data dir, as PdServer.start does. */
  async restart(id: number): Promise<void> {
    const m = this.member(id);
    if (m.live !== null) throw new Error(`member ${id} is running`);
    const db = await SimpleRocks.open(m.dir);
    const log = await PdRaftLog.open(db);
    const sm = new PdStateMachine();
    const saved = log.storage.snapshot();
    if (saved !== 'unavailable' && saved.metadata.index > 0) sm.restore(saved.data);
    const applied = saved === 'unavailable' ? 0 : saved.metadata.index;
    const tasks = new TaskGroup(this.logger);
    const ref: { node?: PdRaftNode } = {}; // the services need the node, built after them
    const services = new PdLeaderServices({
      sm,
      node: () => ref.node,
      nowMs: () => this.wallMs(id),
      logger: this.logger,
      tasks,
      isStopping: () => m.live?.node !== ref.node,
      ...(this.options.tsoSaveWindowMs === undefined ? {} : { tsoSaveWindowMs: this.options.tsoSaveWindowMs }),
      ...(this.options.tsoRenewMarginMs === undefined ? {} : { tsoRenewMarginMs: this.options.tsoRenewMarginMs }),
      ...(this.options.idBatch === undefined ? {} : { idBatch: this.options.idBatch }),
    });
    const created: PdRaftNode = new PdRaftNode({
      id,
      log,
      sm,
      applied,
      electionTicks: this.options.electionTicks ?? 10,
      heartbeatTicks: this.options.heartbeatTicks ?? 1,
      tickMs: this.tickMs,
      monotonicMs: () => this.clock.monoMs,
      seed: (this.options.seed ?? 1) * 31 + id * 7 + m.restarts,
      logger: this.logger,
      send: (msgs) => this.deliver(id, created, msgs),
      onLeadershipChange: (ready) => {
        if (ready) this.recordLeadership(id, sm, created, log);
        services.onLeadershipChange(ready);
      },
      beforePersist: () => this.gateOf(m),
    });
    ref.node = created;
    m.live = { db, sm, node: created, services, tasks };
  }

  private recordLeadership(id: number, sm: PdStateMachine, node: PdRaftNode, log: PdRaftLog): void {
    // raft-node.ts's contract: ready only once an entry of the leader's own term is applied.
    const appliedTerm = log.storage.term(node.appliedIndex);
    if (appliedTerm !== node.raw.term) {
      this.history.violations.push(`member ${id} became the ready leader of term ${node.raw.term} having applied index ${node.appliedIndex} of term ${String(appliedTerm)}, not an entry of its own term`);
    }
    this.history.recordLeadership({
      member: id, term: node.raw.term, instantMs: this.clock.monoMs, tsoBoundMs: sm.tsoBoundMs, idHighWater: sm.idHighWater,
      durableTsoBoundMs: this.durableTsoBoundMs(), durableIdHighWater: this.durableIdHighWater(),
    });
  }

  /** Stops a member abruptly (its process dies): pending work fails, the disk keeps what was written. */
  async kill(id: number): Promise<void> {
    const m = this.member(id);
    const live = m.live;
    if (live === null) return;
    m.live = null;
    m.pastSms.push(live.sm);
    live.services.tso.reset();
    live.services.ids.reset();
    const gateWasClosed = m.gate.isClosed;
    this.openGate(id); // a round waiting on the gate finishes its write; the process then dies
    await live.node.stop();
    await live.tasks.close();
    await live.db.close();
    m.gate.isClosed = gateWasClosed;
  }

  closeGate(id: number): void {
    this.member(id).gate.isClosed = true;
  }

  openGate(id: number): void {
    const g = this.member(id).gate;
    g.isClosed = false;
    const waiting = g.waiting.splice(0);
    for (const resume of waiting) resume();
  }

  private gateOf(m: InProcessMember): Promise<void> | undefined {
    if (!m.gate.isClosed) return undefined;
    m.gate.blockedRounds++;
    return new Promise<void>((resolve) => m.gate.waiting.push(resolve));
  }

  private deliver(from: number, sender: PdRaftNode, msgs: readonly Message[]): void {
    const source = this.member(from);
    for (const msg of msgs) {
      if (source.live?.node !== sender) return; // sent by a killed incarnation
      if (!source.faults.allowsOut(msg.to)) continue;
      this.inflight++;
      setImmediate(() => {
        this.inflight--;
        const target = this.members.get(msg.to);
        if (target?.live === null || target === undefined) return;
        if (!target.faults.allowsIn(from)) return;
        target.live.node.step(msg);
        if (this.probesLeft > 0 && this.options.onDeliver !== undefined) {
          this.probesLeft--;
          this.options.onDeliver(msg.to);
        }
      });
    }
  }

  /** One tick of simulated time for every live member, then the rounds it caused settle. */
  async step(): Promise<void> {
    this.clock.monoMs += this.tickMs;
    this.probesLeft = this.options.probesPerStep ?? 4;
    for (const m of this.members.values()) {
      const live = m.live;
      if (live === null) continue;
      live.node.tick();
      if (live.services.tso.isReady) {
        live.services.tso.update().catch(() => {
          /* the server logs this; the allocator has stopped serving until re-synced */
        });
      }
    }
    await this.settle();
  }

  async steps(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.step();
  }

  /** Waits until no message is in flight and every live member's raft loop is idle (or gated). */
  async settle(): Promise<void> {
    const deadline = performance.now() + SETTLE_REAL_MS_MAX;
    const isSettled = (): boolean =>
      this.inflight === 0 && [...this.members.values()].every((m) => m.live === null || m.live.node.isIdle || m.gate.waiting.length > 0);
    for (let i = 0; ; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      if (isSettled() && i > 3) return;
      if (performance.now() > deadline) return;
    }
  }

  /** The highest TSO bound / id high-water any incarnation of any member has applied (so committed). */
  durableTsoBoundMs(): bigint {
    let bound = 0n;
    for (const sm of this.allSms()) if (sm.tsoBoundMs > bound) bound = sm.tsoBoundMs;
    return bound;
  }

  durableIdHighWater(): bigint {
    let hw = 0n;
    for (const sm of this.allSms()) if (sm.idHighWater > hw) hw = sm.idHighWater;
    return hw;
  }

  private *allSms(): Iterable<PdStateMachine> {
    for (const m of this.members.values()) {
      if (m.live !== null) yield m.live.sm;
      yield* m.pastSms;
    }
  }

  /** Members whose node says it may serve now (the service's admission check). */
  servingMembers(): number[] {
    return [...this.members.values()].filter((m) => m.live?.node.canServe === true).map((m) => m.id);
  }

  /**
   * Serves a TSO request at member `id` as the gRPC service does (admit on canServe, then
   * allocate), recording what was served. Returns the last ts, or undefined if refused.
   */
  serveTso(id: number, count = 1): bigint | undefined {
    const live = this.member(id).live;
    if (live === null || !live.node.canServe) return undefined;
    const r = live.services.tso.allocate(count);
    if (r.kind !== 'ok') return undefined;
    this.history.record({ kind: 'tso', member: id, term: live.node.raw.term, instantMs: this.clock.monoMs, lastTs: r.lastTs, count, durableBoundMs: this.durableTsoBoundMs() });
    return r.lastTs;
  }

  /**
   * Serves an AllocID request at member `id` as the service does (admit, then alloc, which may
   * write through raft); records the ids when they are handed out. Resolves with them, or
   * undefined if refused or failed.
   */
  async serveIds(id: number, count = 1): Promise<readonly bigint[] | undefined> {
    const live = this.member(id).live;
    if (live === null || !live.node.canServe) return undefined;
    const term = live.node.raw.term;
    try {
      const ids = await live.services.ids.alloc(count);
      this.history.record({ kind: 'ids', member: id, term, instantMs: this.clock.monoMs, ids, durableHighWater: this.durableIdHighWater() });
      return ids;
    } catch {
      return undefined; // refused (not leader) or outcome unknown: nothing was handed out
    }
  }

  /**
   * Proposes a uniquely named marker command at member `id` (as the services propose their
   * bounds) and, if it is acknowledged as applied, checks that the proposer's state machine holds
   * it: an acknowledgement for another entry at the same index would be a lost write.
   */
  async proposeMarker(id: number): Promise<void> {
    const live = this.member(id).live;
    if (live === null || !live.node.isLeader) return;
    const markerId = 1_000_000 + this.markers++;
    const name = `marker-${markerId}`;
    try {
      await live.node.propose({ kind: 'putMember', member: { id: markerId, name, peerUrls: [], clientUrls: [] } });
    } catch {
      return; // refused, stale or unknown: not acknowledged
    }
    this.markersAcked++;
    if (live.sm.members.get(markerId)?.name !== name) {
      this.history.violations.push(`member ${id}: proposal ${name} acknowledged as applied but not in its state machine (term ${live.node.raw.term}, applied ${live.node.appliedIndex})`);
    }
  }

  /** Steps until some member may serve and its TSO is synced; returns it. Throws after maxSteps. */
  async waitForServingLeader(maxSteps = 400, exclude: readonly number[] = []): Promise<number> {
    for (let i = 0; i < maxSteps; i++) {
      for (const id of this.servingMembers()) {
        if (!exclude.includes(id) && this.member(id).live?.services.tso.isReady === true) return id;
      }
      await this.step();
    }
    throw new Error(`no serving PD leader within ${maxSteps} steps (excluding ${exclude.join(',') || 'none'})`);
  }

  /** Steps simulated time until `work` settles (raft retransmits on ticks). Throws after maxSteps. */
  async stepUntil<T>(work: Promise<T>, maxSteps = 400): Promise<T> {
    let isDone = false;
    const tracked = work.finally(() => {
      isDone = true;
    });
    for (let i = 0; i < maxSteps && !isDone; i++) await this.step();
    if (!isDone) {
      tracked.catch(() => undefined);
      throw new Error(`work not settled within ${maxSteps} steps`);
    }
    return tracked;
  }

  async close(): Promise<void> {
    for (const id of this.members.keys()) {
      await this.kill(id).catch(() => undefined);
      this.openGate(id);
    }
    await Promise.all([...this.members.values()].map((m) => rm(m.dir, { recursive: true, force: true })));
  }
}
