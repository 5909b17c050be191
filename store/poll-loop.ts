// The store's batch system (DESIGN.md §5). Events — inbound messages, proposals, ticks — only mark
// peers dirty; one round then serves every dirty peer at once:
//
//   1. collect each dirty peer's Ready; send the messages that need nothing durable (a leader's
//      appends go out while its own write is in flight);
//   2. write every peer's entries and hard state in ONE write batch with ONE fsync (group commit);
//   3. mirror the durable log in each peer's storage; send the messages that vouch for it (votes,
//      append acks) — one batch per destination store;
//   4. apply every peer's committed entries in one more write batch (no fsync: the log is durable
//      and the apply state is in the same batch as the data, so a crash re-applies from the log);
//      one multiGet before it tells which raw/latest keys the batch creates or removes (the
//      regions' key counts, peer.ts, go into their apply states);
//   5. answer the proposals and reads the applied entries settle; advance every Ready.
//
// Rounds never overlap; whatever arrives during a round's writes is served by the next one, so
// under load each fsync carries the work of many requests. No timer per region: one tick timer
// delivers the ticks real time owes (TickClock) to every peer.

import type { Logger } from 'pino';
import { cfRange, FlotillaError, type PeerMeta, type WriteOp } from '../common/index.js';
import type { Entry, Message, Ready } from '../raft/index.js';
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
  /** Test seam: awaited between the durable log write and the apply (crash-point tests). */
  readonly afterPersist?: () => Promise<void> | undefined;
  /**
   * A peer's Ready carries a raft snapshot to install: the callee owns that Ready (persist,
   * send, advance) — see store/snapshot/apply.ts. Absent: such a Ready is a fatal error.
   */
  readonly onSnapshotReady?: (peer: Peer, rd: Ready) => void;
  /** Deterministic tests: no tick timer and no clock; the test calls tick(). */
  readonly isManualTick?: boolean;
}

export class PollLoop {
  readonly peers = new Map<number, Peer>();
  private dirty = new Set<Peer>();
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private fatal: unknown = null;
  private readonly clock: TickClock;
  private timer: NodeJS.Timeout | null = null;
  private readonly log: Logger;
  /** Raft messages stepped since the last round began (the store bounds it: inbound back-pressure). */
  inboundSinceRound = 0;
  private lockDeletes = 0;
  private roundEndWaiters: (() => void)[] = [];
  private isCompactingLocks = false;
  private isStarted = false;

  constructor(private readonly options: PollLoopOptions) {
    this.clock = new TickClock({ tickMs: options.tickMs, maxReplayTicks: options.electionTicks * 4 });
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

  removePeer(regionId: number): void {
    const peer = this.peers.get(regionId);
    if (peer === undefined) return;
    this.peers.delete(regionId);
    this.dirty.delete(peer);
  }

  /** Delivers the ticks real time owes to every peer (also called before a lease check). */
  catchUpTicks(): void {
    if (this.stopped || this.options.isManualTick === true) return;
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
   * Resolves once the round running now (if any) has ended: after removePeer(), nothing of that
   * peer is written by a round after this (a destroyed region's keys can then be cleared).
   */
  roundEnd(): Promise<void> {
    if (this.running === null) return Promise.resolve();
    return new Promise<void>((resolve) => this.roundEndWaiters.push(resolve));
  }

  private releaseRoundEndWaiters(): void {
    const waiters = this.roundEndWaiters;
    this.roundEndWaiters = [];
    for (const w of waiters) w();
  }

  /** No round running and nothing dirty (tests settle on this). */
  get isIdle(): boolean {
    return this.running === null && this.dirty.size === 0;
  }

  private schedule(): void {
    if (this.stopped || this.fatal !== null || !this.isStarted) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = null;
      // A loop may end without a round (its only dirty peer was removed during the yield): the
      // waiters of roundEnd() are released here too, or a destroy would wait for a round forever.
      this.releaseRoundEndWaiters();
    });
    this.running.catch((err: unknown) => {
      this.fatal = err;
      this.log.fatal({ err }, 'raft poll loop failed; the store must stop');
      const failure = new FlotillaError('Unavailable', 'the store\'s raft loop failed', { cause: err });
      for (const peer of this.peers.values()) peer.destroy(failure);
      this.options.onFatal(err);
    });
  }

  private async loop(): Promise<void> {
    // Yield once so that every event of this turn of the event loop joins the round.
    await new Promise<void>((resolve) => setImmediate(resolve));
    do {
      this.again = false;
      while (!this.stopped && this.dirty.size > 0) await this.round();
    } while (this.again && !this.stopped);
  }

  private async round(): Promise<void> {
    const batch = this.dirty;
    this.dirty = new Set();
    this.inboundSinceRound = 0;
    const readies: [Peer, Ready][] = [];
    const held: Peer[] = [];
    const ops: WriteOp[] = [];
    let bytes = 0;
    let sync = false;
    const { sender, engine } = this.options;
    for (const peer of batch) {
      if (this.peers.get(peer.regionId) !== peer) continue; // removed (destroyed) meanwhile
      peer.flushProposals();
      peer.flushReads();
      if (!peer.raw.hasReady()) {
        // Entries waiting for a merge's source (peer.ts) are tried again in this round's apply.
        if (peer.hasHeldEntries) held.push(peer);
        peer.serveReads();
        continue;
      }
      const rd = peer.raw.ready();
      if (rd.softState !== undefined) peer.onRoleChange(rd.softState.role);
      if (rd.snapshot !== undefined) {
        // Installing a region snapshot takes long (clear, rewrite): it runs outside the rounds,
        // which skip this peer until it calls advance() (a Ready is outstanding till then).
        if (this.options.onSnapshotReady === undefined) throw new FlotillaError('Internal', `region ${peer.regionId}: received a raft snapshot, and nothing installs them`);
        this.options.onSnapshotReady(peer, rd);
        continue;
      }
      readies.push([peer, rd]);
      if (rd.messages.length > 0) sender.send(peer, rd.messages);
      bytes += readyPersistOps(peer.storage.scheme, {
        hardState: rd.hardState, entries: rd.entries, snapshot: undefined, previousLastIndex: peer.storage.lastIndex(),
      }, ops);
      sync ||= rd.mustSync;
    }
    sender.flush();
    // Committed entries already durable here (at or below the log's durable end before this
    // round — on a leader nearly all of them) are applied while this round's log write is in
    // flight; the others only after it, so no replica ever applies an entry its own log lost.
    const earlyOps: WriteOp[] = [];
    const earlyDone: (() => void)[] = [];
    const earlyPeers: Peer[] = [];
    const late: [Peer, readonly Entry[]][] = [];
    let earlyEntries = 0;
    for (const [peer, rd] of readies) {
      if (rd.readStates.length > 0) peer.onReadStates(rd.readStates);
      const ents = rd.committedEntries;
      if (ents.length === 0) {
        if (peer.hasHeldEntries) late.push([peer, []]);
        continue;
      }
      // The log is durable below the first entry this round writes: entries from there on replace
      // the old tail (a new leader's), and until this round's write lands only the old ones are
      // on disk. Applying a committed entry of the new tail early, then crashing before the log
      // write, left a replica whose applied state held an entry its log did not (split sim seeds
      // 150 and 368: its log kept the old term there and refused the leader's appends for ever).
      const durableEnd = rd.entries.length > 0 ? Math.min(peer.storage.lastIndex(), rd.entries[0]!.index - 1) : peer.storage.lastIndex();
      let split = 0;
      while (split < ents.length && ents[split]!.index <= durableEnd) split++;
      if (split > 0) {
        earlyEntries += split;
        if (peer.applyCommitted(split === ents.length ? ents : ents.slice(0, split), earlyOps, earlyDone)) earlyPeers.push(peer);
      }
      if (split < ents.length) late.push([peer, ents.slice(split)]);
    }
    const persisted = ops.length === 0 ? undefined : this.timed(engine.write(ops, { sync }), (s) => this.options.metrics?.observeRaftWrite(s, ops.length, bytes, readies.length, sync));
    const applied = earlyPeers.length === 0 ? undefined : this.timed(this.writeApplied(earlyPeers, earlyOps), (s) => this.options.metrics?.observeApply(s, earlyEntries));
    // Both writes are in flight; if the apply fails first, the log write's failure is still seen.
    persisted?.catch(() => undefined);
    if (applied !== undefined) await applied;
    for (const settle of earlyDone) settle();
    if (persisted !== undefined) await persisted;
    for (const [peer, rd] of readies) {
      if (rd.entries.length > 0) peer.storage.append(rd.entries);
      if (rd.hardState !== undefined) peer.storage.setHardState(rd.hardState);
      if (rd.persistedMessages.length > 0) sender.send(peer, rd.persistedMessages);
    }
    sender.flush();
    const gate = this.options.afterPersist?.();
    if (gate !== undefined) await gate;

    const applyOps: WriteOp[] = [];
    const done: (() => void)[] = [];
    const latePeers: Peer[] = [];
    let entries = 0;
    for (const peer of held) late.push([peer, []]);
    for (const [peer, ents] of late) {
      entries += ents.length;
      if (peer.applyCommitted(ents, applyOps, done)) latePeers.push(peer);
    }
    if (latePeers.length > 0) {
      const start = performance.now();
      await this.writeApplied(latePeers, applyOps);
      this.options.metrics?.observeApply((performance.now() - start) / 1000, entries);
    }
    for (const settle of done) settle();
    this.countLockDeletes(earlyOps);
    this.countLockDeletes(applyOps);
    for (const [peer, rd] of readies) {
      peer.raw.advance(rd);
      peer.serveReads();
      if (peer.raw.hasReady() && this.peers.get(peer.regionId) === peer) this.dirty.add(peer);
    }
    this.releaseRoundEndWaiters();
    if (this.options.budget.isOver) {
      for (const peer of this.peers.values()) peer.storage.evictTo(peer.applied);
    }
  }

  /**
   * Writes an apply batch: first one multiGet of the raw/latest keys it puts or deletes (their
   * presence before the batch settles each region's key count), then each region's apply state
   * joins the batch. Rounds never overlap and the batch is not written yet, so the lookup sees
   * exactly the state the batch applies to.
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
    await this.options.engine.write(ops, { sync: false });
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

  private async timed(write: Promise<void>, observe: (seconds: number) => void): Promise<void> {
    const start = performance.now();
    await write;
    observe((performance.now() - start) / 1000);
  }

  /** Stops ticking and processing; waits for a running round. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
