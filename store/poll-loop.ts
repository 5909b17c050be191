// The store's batch system (DESIGN.md §5). Events — inbound messages, proposals, ticks — only mark
// peers dirty; a round (once per turn of the event loop with dirty peers) takes each dirty peer's
// Ready and hands its parts to three places at once:
//
//   1. messages that need nothing durable go out now (a leader's appends overlap its own write),
//      one batch per destination store;
//   2. the raft log writer: every Ready with something to write joins the next write batch, and
//      ONE write batch with ONE fsync carries all of them (group commit). One write is in flight
//      at a time; whatever rounds hand over meanwhile waits and goes into the next batch. Once a
//      batch is durable, each peer's storage mirrors it, the messages that vouch for it (votes,
//      append acks) go out, and raft learns it (advanceAppend: a leader counts its own copy);
//   3. the applier: committed entries — raft hands them out only once they are durable in this
//      replica's log — are applied in one more write batch (no fsync: the log is durable and the
//      apply state is in the same batch as the data, so a crash re-applies from the log); one
//      multiGet before it tells which raw/latest keys the batch creates or removes (the regions'
//      key counts, peer.ts). One apply batch is in flight at a time; once written, the proposals
//      and reads it settles are answered and raft learns it (advanceApply). A batch of followers
//      only invalidates its rows in the engine's row cache instead of setting them.
//
// Writes run behind the Readys (raft/README.md "Writes behind the Readys", TiKV's async I/O):
// acknowledgements arriving while a log write is in flight are stepped, committed and applied
// without waiting for that write, and a write never waits for an apply. No timer per region: one
// tick timer delivers the ticks real time owes (TickClock) to every peer.

import type { Logger } from 'pino';
import { cfRange, FlotillaError, type PeerMeta, type WriteOp } from '../common/index.js';
import { type HardState, type Message, type Ready, readyNeedsWrite } from '../raft/index.js';
import { readyPersistOps, TickClock } from '../raft-host/index.js';
import type { Engine } from './engine/index.js';
import type { Peer } from './peer.js';
import type { EntryCacheBudget } from './peer-storage.js';

/**
 * Lock-CF deletes applied before the lock range is compacted in the background. Released locks
 * are real deletes; point lookups skip their tombstones, but the lock-range scans (a scan's lock
 * check, ScanLock, range ResolveLock) walk them until a compaction drops them.
 */
export const LOCK_COMPACTION_AFTER_DELETES = 50_000;

/** Sends raft messages; never throws (a lost message is fine for raft). */
export interface RaftSender {
  /** Queues `peer`'s messages (addressed by peer id) for their stores. */
  send(peer: Peer, messages: readonly Message[]): void;
  /**
   * Queues an is_tombstone answer from `peer` to `to`, a peer its region no longer has
   * (raft-store.ts): it carries `peer`'s region epoch, and no raft message to step.
   */
  sendTombstone(peer: Peer, to: PeerMeta): void;
  /** Sends everything queued: one batch per destination store. */
  flush(): void;
}

/** What the loop reports (StoreMetrics implements it). */
export interface PollLoopMetrics {
  observeRaftWrite(seconds: number, ops: number, bytes: number, regions: number, isSynced: boolean): void;
  observeApply(seconds: number, entries: number): void;
}

export interface PollLoopOptions {
  readonly engine: Engine;
  readonly sender: RaftSender;
  readonly budget: EntryCacheBudget;
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly logger: Logger;
  readonly metrics?: PollLoopMetrics;
  /** A round failed (a write threw): raft's view and the disk may disagree; the store must stop. */
  readonly onFatal: (err: unknown) => void;
  /**
   * Test seam: awaited after a log write is durable, before anything learns of it — no ack sent,
   * none of its entries applied (crash-point tests).
   */
  readonly afterPersist?: () => Promise<void> | undefined;
  /**
   * A peer's Ready carries a raft snapshot to install: the callee owns that Ready (persist,
   * send, advance) — see store/snapshot/apply.ts. Absent: such a Ready is a fatal error.
   */
  readonly onSnapshotReady?: (peer: Peer, rd: Ready) => void;
  /**
   * Deterministic tests: no tick timer. The test calls tick() — or, with `monotonicMs`, moves that
   * clock and calls catchUpTicks(), which reads (lease checks) call too, as in production.
   */
  readonly isManualTick?: boolean;
  /** The monotonic clock ticks are owed by, ms (default performance.now); injected by simulations. */
  readonly monotonicMs?: () => number;
}

/** A peer's Ready waiting for (or in) a log write. */
interface PendingWrite {
  readonly peer: Peer;
  readonly rd: Ready;
}

/** A peer's committed entries waiting for (or in) an apply batch; `rd` null: only its held entries are retried. */
interface PendingApply {
  readonly peer: Peer;
  readonly rd: Ready | null;
}

/** Per peer: the last log index its queued and in-flight writes end with, and how many there are. */
interface WrittenTail {
  last: number;
  writes: number;
}

export class PollLoop {
  readonly peers = new Map<number, Peer>();
  private dirty = new Set<Peer>();
  private isRoundScheduled = false;
  private stopped = false;
  private fatal: unknown = null;
  private readonly clock: TickClock;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  /** Raft messages stepped since the last round began (the store bounds it: inbound back-pressure). */
  inboundSinceRound = 0;
  private lockDeletes = 0;
  private isCompactingLocks = false;
  private isStarted = false;
  private pendingWrites: PendingWrite[] = [];
  private writing: Promise<void> | null = null;
  private pendingApplies: PendingApply[] = [];
  private applying: Promise<void> | null = null;
  /** Peers whose proposals wait for the log write in flight (they are served once it lands). */
  private readonly proposalsHeld = new Set<Peer>();
  /** Where each peer's log ends once its queued writes land (a write replacing a tail deletes past it). */
  private readonly tails = new Map<Peer, WrittenTail>();

  constructor(private readonly options: PollLoopOptions) {
    this.clock = new TickClock({
      tickMs: options.tickMs, maxReplayTicks: options.electionTicks * 4,
      ...(options.monotonicMs === undefined ? {} : { monotonicMs: options.monotonicMs }),
    });
    this.log = options.logger.child({ component: 'poll-loop' });
  }

  /**
   * Lets rounds run (and starts the tick timer). Until then events only mark peers dirty: a store
   * runs no round while it is still opening — loading regions, redoing an install, sweeping its
   * snapshot dir — so what a restart does first does not depend on how fast that I/O is.
   */
  start(): void {
    if (!this.isStarted) {
      this.isStarted = true;
      if (this.dirty.size > 0) this.schedule();
    }
    if (this.timer !== null || this.options.isManualTick === true) return;
    this.timer = setInterval(() => this.catchUpTicks(), this.options.tickMs);
    this.timer.unref();
  }

  addPeer(peer: Peer): void {
    this.peers.set(peer.regionId, peer);
    this.markDirty(peer);
  }

  /** Takes a peer out: nothing of it is written or applied from the next batch on (see roundEnd). */
  removePeer(regionId: number): void {
    const peer = this.peers.get(regionId);
    if (peer === undefined) return;
    this.peers.delete(regionId);
    this.dirty.delete(peer);
    this.tails.delete(peer);
    this.proposalsHeld.delete(peer);
  }

  /** Delivers the ticks real time owes to every peer (also called before a lease check). */
  catchUpTicks(): void {
    // A manual loop without a clock of its own has no time to owe.
    if (this.stopped || (this.options.isManualTick === true && this.options.monotonicMs === undefined)) return;
    this.tick(this.clock.due());
  }

  /** Delivers `due` ticks to every peer. */
  tick(due: number): void {
    if (this.stopped || due === 0) return;
    for (const peer of this.peers.values()) {
      if (peer.raw.isQuiet) continue; // asleep: a message, proposal or read wakes it
      peer.tick(due);
      if (peer.raw.hasReady()) this.dirty.add(peer);
    }
    this.schedule();
  }

  markDirty(peer: Peer): void {
    if (this.stopped) return;
    this.dirty.add(peer);
    this.schedule();
  }

  /**
   * Resolves once the log write and the apply batch in flight now (if any) have ended: after
   * removePeer(), nothing of that peer is written later (a destroyed region's keys can then be
   * cleared). Rounds themselves write nothing: they only hand Readys to the two writers.
   */
  roundEnd(): Promise<void> {
    const inFlight: Promise<void>[] = [];
    if (this.writing !== null) inFlight.push(this.writing.catch(() => undefined));
    if (this.applying !== null) inFlight.push(this.applying.catch(() => undefined));
    if (inFlight.length === 0) return Promise.resolve();
    return Promise.all(inFlight).then(() => undefined);
  }

  /** No round due, nothing dirty, nothing queued or in flight (tests settle on this). */
  get isIdle(): boolean {
    return !this.isRoundScheduled && this.dirty.size === 0 && this.writing === null && this.applying === null
      && this.pendingWrites.length === 0 && this.pendingApplies.length === 0;
  }

  private get isHalted(): boolean {
    return this.stopped || this.fatal !== null;
  }

  private schedule(): void {
    if (this.isHalted || !this.isStarted || this.isRoundScheduled) return;
    this.isRoundScheduled = true;
    // Yield once so that every event of this turn of the event loop joins the round.
    setImmediate(() => {
      this.isRoundScheduled = false;
      if (this.isHalted) return;
      try {
        this.round();
      } catch (err) {
        this.fail(err);
      }
    });
  }

  /** Something failed: raft's view and the disk may disagree — every peer fails, the store stops. */
  private fail(err: unknown): void {
    if (this.fatal !== null) return;
    this.fatal = err;
    this.log.fatal({ err }, 'raft poll loop failed; the store must stop');
    const failure = new FlotillaError('Unavailable', 'the store\'s raft loop failed', { cause: err });
    for (const peer of this.peers.values()) peer.destroy(failure);
    this.pendingWrites = [];
    this.pendingApplies = [];
    this.options.onFatal(err);
  }

  private isLive(peer: Peer): boolean {
    return this.peers.get(peer.regionId) === peer;
  }

  /** Takes every dirty peer's Ready and hands its parts on (file comment). Synchronous. */
  private round(): void {
    const batch = this.dirty;
    this.inboundSinceRound = 0;
    if (batch.size > 0) {
      this.dirty = new Set();
      this.takeReadies(batch);
    }
    this.kickWrite();
    this.kickApply();
  }

  private takeReadies(batch: ReadonlySet<Peer>): void {
    const { sender } = this.options;
    for (const peer of batch) {
      if (!this.isLive(peer)) continue; // removed (destroyed) meanwhile
      // Proposals wait while a log write is in flight: they could not be written before it lands
      // anyway, and proposed together once it does they make fewer, larger entries and appends.
      if (this.writing === null) peer.flushProposals();
      else if (peer.hasQueuedProposals) this.proposalsHeld.add(peer);
      peer.flushReads();
      if (!peer.raw.hasReady()) {
        // Entries waiting for a merge's source (peer.ts) are tried again with the next apply batch.
        if (peer.hasHeldEntries) this.pendingApplies.push({ peer, rd: null });
        peer.serveReads();
        continue;
      }
      const rd = peer.raw.ready();
      if (rd.softState !== undefined) peer.onRoleChange(rd.softState.role, rd.softState.leaderId);
      if (rd.snapshot !== undefined) {
        // Installing a region snapshot takes long (clear, rewrite): it runs outside the rounds.
        // Raft hands a snapshot out alone, once this peer has nothing written or applied in
        // flight, and hands out nothing more until the callee calls advance().
        if (this.options.onSnapshotReady === undefined) throw new FlotillaError('Internal', `region ${peer.regionId}: received a raft snapshot, and nothing installs them`);
        this.options.onSnapshotReady(peer, rd);
        continue;
      }
      if (rd.readStates.length > 0) peer.onReadStates(rd.readStates);
      if (rd.messages.length > 0) sender.send(peer, rd.messages);
      if (readyNeedsWrite(rd)) this.pendingWrites.push({ peer, rd });
      else peer.raw.advanceAppend(rd); // nothing to write: acknowledged at once (a no-op)
      if (rd.committedEntries.length > 0) peer.onCommittedHanded(rd.committedEntries);
      if (rd.committedEntries.length > 0 || peer.hasHeldEntries) this.pendingApplies.push({ peer, rd: rd.committedEntries.length > 0 ? rd : null });
      else peer.serveReads();
    }
    sender.flush();
  }

  // ---- the raft log writer ---------------------------------------------------------------------

  private kickWrite(): void {
    if (this.writing !== null || this.pendingWrites.length === 0 || this.isHalted) return;
    const batch = this.pendingWrites;
    this.pendingWrites = [];
    const ops: WriteOp[] = [];
    let bytes = 0;
    let sync = false;
    const written: PendingWrite[] = [];
    for (const item of batch) {
      const { peer, rd } = item;
      if (!this.isLive(peer)) continue;
      let tail = this.tails.get(peer);
      if (tail === undefined) {
        tail = { last: peer.storage.lastIndex(), writes: 0 };
        this.tails.set(peer, tail);
      }
      tail.writes++;
      bytes += readyPersistOps(peer.storage.scheme, { hardState: this.hardStateToWrite(peer, rd), entries: rd.entries, snapshot: undefined, previousLastIndex: tail.last }, ops);
      if (rd.entries.length > 0) tail.last = rd.entries[rd.entries.length - 1]!.index;
      sync ||= rd.mustSync;
      written.push(item);
    }
    this.writing = this.writeLog(written, ops, bytes, sync).then(
      () => {
        this.writing = null;
        for (const peer of this.proposalsHeld) if (this.isLive(peer)) this.dirty.add(peer);
        this.proposalsHeld.clear();
        this.schedule(); // the round first: what it hands over joins the next batch
      },
      (err: unknown) => {
        this.writing = null;
        this.fail(err);
      },
    );
  }

  /**
   * The hard state to write with a Ready: left out when the Ready writes entries and its term and
   * vote are the ones last written — only its commit index moved, which is volatile
   * state in Raft (§5, Figure 2). A replica that restarts with an older one raises it at once to
   * its applied index (raft-store.ts loadRegion: what it applied was committed) and learns the rest
   * from its leader. Nearly every follower write is an append that also moves the commit index: a
   * second operation per write, per region. A Ready whose only change is the commit index is still
   * written, hard state and all: a leader's proposals wait for the write in flight, and that write
   * keeps its batching cadence (stop 60 lost 4 % of transfers without it, bench/README.md).
   * Term and vote are always written before any message that depends on them leaves (mustSync).
   * The reference is the storage's mirror of the last write that landed: while a write carrying a
   * new term or vote is still in flight it is older, and the hard state is written again (more,
   * never less).
   */
  private hardStateToWrite(peer: Peer, rd: Ready): HardState | undefined {
    const hs = rd.hardState;
    if (hs === undefined || rd.entries.length === 0) return hs;
    const saved = peer.storage.savedHardState;
    return saved.term === hs.term && saved.vote === hs.vote ? undefined : hs;
  }

  private async writeLog(batch: readonly PendingWrite[], ops: WriteOp[], bytes: number, sync: boolean): Promise<void> {
    if (ops.length > 0) {
      const start = performance.now();
      await this.options.engine.write(ops, { sync });
      this.options.metrics?.observeRaftWrite((performance.now() - start) / 1000, ops.length, bytes, batch.length, sync);
    }
    const gate = this.options.afterPersist?.();
    if (gate !== undefined) await gate;
    if (this.isHalted) return;
    const { sender } = this.options;
    for (const { peer, rd } of batch) {
      const tail = this.tails.get(peer);
      if (tail !== undefined && --tail.writes === 0) this.tails.delete(peer);
      if (!this.isLive(peer)) continue;
      if (rd.entries.length > 0) peer.storage.append(rd.entries);
      if (rd.hardState !== undefined) peer.storage.setHardState(rd.hardState);
      if (rd.persistedMessages.length > 0) sender.send(peer, rd.persistedMessages);
      peer.raw.advanceAppend(rd);
      if (peer.raw.hasReady()) this.dirty.add(peer); // a leader's own copy may commit; durable entries may apply
    }
    sender.flush();
  }

  // ---- the applier -----------------------------------------------------------------------------

  private kickApply(): void {
    if (this.applying !== null || this.pendingApplies.length === 0 || this.isHalted) return;
    const batch = this.pendingApplies;
    this.pendingApplies = [];
    this.applying = this.applyBatch(batch).then(
      () => {
        this.applying = null;
        this.schedule(); // the round first: what it hands over joins the next batch
      },
      (err: unknown) => {
        this.applying = null;
        this.fail(err);
      },
    );
  }

  private async applyBatch(batch: readonly PendingApply[]): Promise<void> {
    const ops: WriteOp[] = [];
    const done: (() => void)[] = [];
    const applied = new Set<Peer>();
    let entries = 0;
    for (const { peer, rd } of batch) {
      if (!this.isLive(peer)) continue;
      const ents = rd === null ? [] : rd.committedEntries;
      entries += ents.length;
      if (peer.applyCommitted(ents, ops, done)) applied.add(peer);
    }
    if (applied.size > 0) {
      const start = performance.now();
      await this.writeApplied([...applied], ops);
      this.options.metrics?.observeApply((performance.now() - start) / 1000, entries);
      for (const peer of applied) peer.onApplyWritten();
    }
    if (this.isHalted) return;
    for (const settle of done) settle();
    this.countLockDeletes(ops);
    for (const { peer, rd } of batch) {
      if (!this.isLive(peer)) continue;
      if (rd !== null) peer.raw.advanceApply(rd);
      peer.serveReads();
      if (peer.raw.hasReady() || peer.hasHeldEntries) this.dirty.add(peer);
    }
    if (this.options.budget.isOver) {
      for (const peer of this.peers.values()) peer.storage.evictTo(peer.applied);
    }
  }

  /**
   * Writes an apply batch: first one multiGet of the raw/latest keys it puts or deletes (their
   * presence before the batch settles each region's key count), then each region's apply state
   * joins the batch. Apply batches never overlap and this one is not written yet, so the lookup
   * sees exactly the state the batch applies to.
   */
  private async writeApplied(peers: readonly Peer[], ops: WriteOp[]): Promise<void> {
    const probes: Buffer[] = [];
    for (const peer of peers) peer.keyCountProbes(probes);
    const present = new Set<string>();
    if (probes.length > 0) {
      const found = await this.options.engine.multiGet(probes);
      for (let i = 0; i < probes.length; i++) if (found[i] !== null && found[i] !== undefined) present.add(probes[i]!.toString('latin1'));
    }
    for (const peer of peers) peer.finishApply(present, ops);
    // Only leaders serve reads: a batch of followers' applies drops its rows from the row cache
    // rather than copying every value into it (a store of followers keeps no cache it never reads).
    let hasLeader = false;
    for (const peer of peers) hasLeader ||= peer.isLeader;
    await this.options.engine.write(ops, { sync: false, cacheRows: hasLeader ? 'set' : 'invalidate' });
  }

  private countLockDeletes(ops: readonly WriteOp[]): void {
    for (const op of ops) if (op.kind === 'delete' && op.cf === 'lock') this.lockDeletes++;
    if (this.lockDeletes < LOCK_COMPACTION_AFTER_DELETES || this.isCompactingLocks) return;
    this.lockDeletes = 0;
    this.isCompactingLocks = true;
    const range = cfRange('lock');
    this.options.engine.compactRange(range.start, range.end).then(
      () => {
        this.isCompactingLocks = false;
      },
      (err: unknown) => {
        this.isCompactingLocks = false;
        this.log.warn({ err }, 'lock range compaction failed');
      },
    );
  }

  /** Stops ticking and processing; waits for the writes in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.roundEnd();
  }
}
