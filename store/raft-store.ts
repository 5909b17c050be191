// The regions this store hosts: loads them from RocksDB at start-up, creates the replicas of a
// freshly bootstrapped region, routes inbound raft messages to their peers, and owns the poll loop
// and the transport. One RocksDB per store holds every region's log, state and data.

import type { Logger } from 'pino';
import {
  applyStateKey, invariant, type ChannelCache, createRng, FlotillaError, raftHardStateKey, raftLogIndexOf, raftLogRange, type RegionMeta,
  regionIdOfStateKey, regionStateKey, regionStatesRange, type WriteOp,
} from '../common/index.js';
import type { raft_serverpb } from '../proto/index.js';
import { decodeEntry, decodeHardState, encodeHardState } from '../raft-host/index.js';
import { type ConfState, EMPTY_CONF_STATE, type Entry, type HardState, type Ready } from '../raft/index.js';
import type { Engine } from './engine/index.js';
import { type ApplyState, decodeApplyState, decodeRegionState, encodeApplyState, encodeRegionState, type MergeState } from './local-state.js';
import { type AppliedSplit, type CommitMergeApply, type CommitMergeDecision, confStateOf, Peer, type PeerRaftOptions } from './peer.js';
import { EntryCacheBudget, PeerStorage } from './peer-storage.js';
import { type PollLoopMetrics, PollLoop, type RaftSender } from './poll-loop.js';
import type { RaftLogGcOptions } from './raft-log-gc.js';
import { type StoreRaftMessage, storeRaftMessageFromProto } from './raft-codec.js';
import { StoreTransport } from './transport.js';
import {
  cleanSnapshotDir, decodeSnapshotData, type ReceivedSnapshot, SnapshotDivertingSender, SnapshotGenerator, SnapshotInstaller, type SnapshotMetrics,
  type SnapshotOffer, SnapshotReceiver, SnapshotSender,
} from './snapshot/index.js';
import { mkdir } from 'node:fs/promises';
import { destroyRegionData, gcMessageTombstone, isFromRemovedPeer, isStaleForTombstone, placeholderRegion, prepareMergeTargetsIn, supersededReplicaTombstone } from './peer-lifecycle.js';
import { regionKeyPages } from './split.js';
import { decodeReplicaReadContext, REPLICA_READ_GATED_MAX, type ReplicaReadCheck } from './replica-read.js';
import { KeyRecounter } from './key-recount.js';

/** Vote requests kept per region a pending split will create, and regions kept at most. */
const PENDING_SPLIT_VOTES_PER_REGION = 4;
const PENDING_SPLIT_VOTE_REGIONS_MAX = 1_024;

/** Keys read per page when a region's keys are counted at load (a version-1 apply state). */
const KEY_COUNT_PAGE = 10_000;

/** A bootstrapped region's replicas all start from this log position (as TiKV's do). */
export const RAFT_INIT_INDEX = 5;
export const RAFT_INIT_TERM = 5;

export interface RaftStoreOptions {
  readonly storeId: number;
  readonly clusterId: bigint;
  readonly engine: Engine;
  readonly raft: PeerRaftOptions;
  readonly raftLogGc: RaftLogGcOptions;
  /** Keep exact key counts at apply (peer.ts, --region-key-count). */
  readonly countKeys?: boolean;
  readonly tickMs: number;
  readonly entryCacheBytes: number;
  /** Raft messages accepted between two poll rounds; past it they are dropped (raft resends). */
  readonly inboundMessagesMax: number;
  readonly channels: ChannelCache;
  readonly resolveAddress: (storeId: number) => Promise<string>;
  readonly logger: Logger;
  readonly metrics?: RaftStoreMetrics;
  readonly onFatal: (err: unknown) => void;
  /** Test seam between the durable log write and the apply of a round. */
  readonly afterPersist?: () => Promise<void> | undefined;
  /**
   * Where received snapshot payloads are kept (store/snapshot/). Absent (deterministic tests):
   * no region snapshots — raft log GC then holds the log back for every follower.
   */
  readonly snapshotDir?: string;
  readonly snapshotMetrics?: SnapshotMetrics;
  /** Deterministic tests: raft messages go here instead of gRPC, and ticks are the test's. */
  readonly simulated?: {
    readonly sender: RaftSender;
    readonly isLeaseReadEnabled?: boolean;
    /** The simulation's clock: ticks are owed by it and delivered by catchUpTicks (else by tick()). */
    readonly monotonicMs?: () => number;
  };
}

export interface RaftStoreMetrics extends PollLoopMetrics {
  countProposal(outcome: 'applied' | 'stale' | 'timeout' | 'failed', proposals: number): void;
  countElection(): void;
  countRaftMessages(direction: 'sent' | 'received' | 'dropped', n: number): void;
  countRaftBatch(direction: 'sent' | 'received'): void;
  countRaftLogGc(event: 'proposed' | 'compacted' | 'heldBack', entries: number): void;
}

export class RaftStore {
  readonly loop: PollLoop;
  readonly transport: StoreTransport;
  private readonly budget: EntryCacheBudget;
  private readonly log: Logger;
  /** What the poll loop sends through (MsgSnap diverted to the snapshot sender when snapshots exist). */
  private readonly sender: RaftSender;
  /** Region snapshots (null without a snapshot dir). */
  readonly snapshots: {
    readonly generator: SnapshotGenerator;
    readonly sender: SnapshotSender;
    readonly receiver: SnapshotReceiver;
    readonly installer: SnapshotInstaller;
  } | null;
  private snapshotSweep: NodeJS.Timeout | null = null;
  /**
   * What a leader does for a replica's ReadIndex request before raft sees it (replica-read.ts):
   * null = nothing to wait for. Unset, replica reads are refused (their requests dropped).
   */
  private replicaReadGate: ((check: ReplicaReadCheck) => Promise<void> | null) | null = null;
  private replicaReadGatedMax = REPLICA_READ_GATED_MAX;
  /** Replica ReadIndex requests waiting at the gate now (bounded by replicaReadGatedMax). */
  private gatedReplicaReads = 0;
  /** Regions whose replica here was removed: the region as of the removal (peer-lifecycle.ts). */
  readonly tombstones = new Map<number, RegionMeta>();
  /** Destroys of removed replicas still clearing their data (/status shows it; tests wait on it). */
  pendingDestroys = 0;
  /**
   * The ranges destroys are clearing (region id → the destroyed replica's region): taken until the
   * clear ends (checkSnapshotRange) — a snapshot of a region there installed meanwhile would
   * have its data deleted by the clear.
   */
  private readonly clearing = new Map<number, RegionMeta>();
  /**
   * Regions whose destroyed replica's raft state is still being cleared: no new peer of them is
   * created until it is (the clearing would delete the new peer's hard state — a vote it cast).
   */
  private readonly destroying = new Set<number>();
  /** Regions an uninitialized peer is being created for (one at a time each). */
  private readonly creating = new Set<number>();
  /** New regions a split applied here creates once its batch is written: their ranges are taken (checkSnapshotRange). */
  private readonly splitBirths = new Map<number, RegionMeta>();
  /** Regions a message named that this store does not host (told to the owner for discovery). */
  onUnknownRegion: (regionId: number) => void = () => {};
  /** Log ranges read back from disk for lagging followers (the entry cache did not hold them). */
  entryLoads = 0;
  /** A peer here became a ready leader (the owner tells PD at once). */
  onLeaderReady: (peer: Peer) => void = () => {};
  /** A peer here applied a split and the new regions' peers exist (the owner tells PD if it leads). */
  onSplitApplied: (peer: Peer, regions: readonly RegionMeta[]) => void = () => {};
  /** Splits applied on this store since start. */
  splitsApplied = 0;
  /** A peer's key count became exact after a split or merge (the owner tells PD if it leads). */
  onKeyCountSettled: (peer: Peer) => void = () => {};
  /** Recounts of regions whose range a split or merge changed (key-recount.ts). */
  readonly keyRecounter: KeyRecounter;
  /** When each store was last heard from (any raft message or keepalive), ms; quiet followers' liveness check. */
  private readonly lastHeardMs = new Map<number, number>();
  private readonly openedAtMs = Date.now();
  private livenessTimer: NodeJS.Timeout | null = null;
  /** Quiet followers woken because their leader's store went silent. */
  quietWakes = 0;
  /** Raft log GC on this store's peers since start (tests check it happened). */
  readonly raftLogGc = { proposed: 0, compactions: 0, compactedEntries: 0, hardLimitHeldBack: 0 };

  private constructor(private readonly options: RaftStoreOptions) {
    this.log = options.logger;
    this.budget = new EntryCacheBudget(options.entryCacheBytes);
    this.transport = new StoreTransport({
      storeId: options.storeId,
      clusterId: options.clusterId,
      channels: options.channels,
      logger: options.logger,
      resolveAddress: options.resolveAddress,
      onUnreachable: (peer, to) => {
        peer.raw.reportUnreachable(to);
      },
      ...(options.metrics === undefined ? {} : {
        onSent: (n: number) => {
          options.metrics!.countRaftMessages('sent', n);
          options.metrics!.countRaftBatch('sent');
        },
        onDropped: (n: number) => options.metrics!.countRaftMessages('dropped', n),
      }),
    });
    this.snapshots = options.snapshotDir === undefined ? null : this.createSnapshots(options.snapshotDir);
    this.keyRecounter = new KeyRecounter(options.engine, options.logger.child({ component: 'key-recount' }), (peer) => this.onKeyCountSettled(peer));
    this.sender = options.simulated?.sender ?? (this.snapshots === null ? this.transport : new SnapshotDivertingSender(this.transport, this.snapshots.sender));
    this.loop = new PollLoop({
      engine: options.engine,
      sender: this.sender,
      ...(this.snapshots === null ? {} : { onSnapshotReady: (peer: Peer, rd: Ready) => this.installSnapshotReady(peer, rd) }),
      isManualTick: options.simulated !== undefined,
      ...(options.simulated?.monotonicMs === undefined ? {} : { monotonicMs: options.simulated.monotonicMs }),
      budget: this.budget,
      tickMs: options.tickMs,
      electionTicks: options.raft.electionTicks,
      logger: options.logger,
      onFatal: options.onFatal,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.afterPersist === undefined ? {} : { afterPersist: options.afterPersist }),
    });
  }

  private createSnapshots(dir: string): NonNullable<RaftStore['snapshots']> {
    const { options } = this;
    const metrics = options.snapshotMetrics;
    const generator = new SnapshotGenerator({
      engine: options.engine,
      logger: options.logger,
      onGenerated: (regionId) => {
        const peer = this.loop.peers.get(regionId);
        if (peer === undefined) return;
        peer.raw.onStorageReady();
        this.loop.markDirty(peer);
      },
      onError: (regionId, err) => this.log.warn({ regionId, err }, 'region snapshot generation failed; raft asks again'),
    });
    const sender = new SnapshotSender({
      storeId: options.storeId,
      clusterId: options.clusterId,
      channels: options.channels,
      resolveAddress: options.resolveAddress,
      generator,
      logger: options.logger,
      ...(metrics === undefined ? {} : { metrics }),
      onOutcome: (peer, to, outcome) => {
        if (this.loop.peers.get(peer.regionId) !== peer) return;
        peer.raw.reportSnapshot(to, outcome);
        this.loop.markDirty(peer);
      },
    });
    const receiver = new SnapshotReceiver({
      storeId: options.storeId,
      clusterId: options.clusterId,
      dir,
      logger: options.logger,
      ...(metrics === undefined ? {} : { metrics }),
      check: (offer) => this.checkSnapshotOffer(offer),
      onReceived: (message, received) => this.onSnapshotMessage(message, received),
    });
    const installer = new SnapshotInstaller({ engine: options.engine, dir, logger: options.logger, ...(metrics === undefined ? {} : { metrics }) });
    return { generator, sender, receiver, installer };
  }

  /** The epoch version of this store's initialized replica of a region; null when it holds none (or an uninitialized one). */
  initializedVersionOf(regionId: number): number | null {
    const p = this.loop.peers.get(regionId);
    return p === undefined || p.storage.lastIndex() === 0 ? null : p.region.epoch.version;
  }

  /** Opens the store's regions as saved in the engine and starts ticking. */
  static async open(options: RaftStoreOptions): Promise<RaftStore> {
    const store = new RaftStore(options);
    const { engine } = options;
    if (options.snapshotDir !== undefined) await mkdir(options.snapshotDir, { recursive: true });
    const snap = await engine.snapshot();
    let states;
    try {
      const range = regionStatesRange();
      states = await snap.scan(range.start, range.end, { limit: 1_000_000 });
    } finally {
      await snap.release();
    }
    for (const kv of states) {
      const regionId = regionIdOfStateKey(kv.key);
      const state = decodeRegionState(kv.value, regionId);
      if (state.state === 'tombstone') {
        store.tombstones.set(regionId, state.region);
        // A destroy cut off by a crash is finished (its apply state is deleted last).
        // A merged region's keys belong to the region that absorbed it: only its raft state goes.
        if ((await engine.get(applyStateKey(regionId))) !== null) {
          await destroyRegionData(engine, state.region, state.mergedInto === undefined ? { hasData: true } : { hasData: false, mergedInto: state.mergedInto });
        }
        continue;
      }
      if (state.state === 'applying') {
        // A snapshot install was cut off: finish it before the region loads (store/snapshot/apply.ts).
        if (store.snapshots === null || state.applying === undefined) throw new FlotillaError('Corruption', `region ${regionId}: an interrupted snapshot install, and no snapshot dir to finish it from`);
        const hsBytes = await engine.get(raftHardStateKey(regionId));
        const saved = hsBytes === null ? { term: 0, vote: 0, commit: 0 } : decodeHardState(hsBytes, `region ${regionId} raft log`);
        await store.snapshots.installer.redo(state.region, state.applying, saved);
      }
      if (!state.region.peers.some((p) => p.storeId === options.storeId)) {
        // The replica applied its own removal and the store stopped before the destroy wrote the
        // tombstone (destroyPeer runs once the apply batch is written): finish the destroy.
        store.log.info({ regionId, confVer: state.region.epoch.confVer }, 'the replica applied its own removal before the store stopped; finishing its destroy');
        await destroyRegionData(engine, state.region, { hasData: true });
        store.tombstones.set(regionId, state.region);
        continue;
      }
      await store.loadPeer(state.region, state.merge);
    }
    if (options.snapshotDir !== undefined) {
      // Every install is finished: any payload left is a partial receive, one raft never took,
      // or one whose delete a crash cut off (store/snapshot/files.ts).
      const removed = await cleanSnapshotDir(options.snapshotDir, new Set());
      if (removed > 0) store.log.info({ removed }, 'removed leftover snapshot files');
      store.snapshotSweep = setInterval(() => store.sweepSnapshots(), 10_000);
      store.snapshotSweep.unref();
    }
    store.loop.start();
    if (options.simulated === undefined && (options.raft.quietAfterTicks ?? 0) > 0) {
      const intervalMs = Math.max(10, (options.tickMs * options.raft.electionTicks) / 2);
      store.livenessTimer = setInterval(() => store.checkLiveness(Date.now(), intervalMs * 4), intervalMs);
      store.livenessTimer.unref();
    }
    return store;
  }

  /**
   * Store liveness for quiet regions (raft/README.md "Quiet mode"): while a group sleeps nobody
   * in it starts an election, so a quiet follower whose leader's store has been silent for
   * `suspectAfterMs` is woken (it then asks its leader to wake, and elects a new one if none
   * answers). Every store this one shares a region with gets a keepalive, so a store whose
   * regions are all quiet is not taken for dead.
   */
  checkLiveness(nowMs: number, suspectAfterMs: number): void {
    const stores = new Set<number>();
    for (const peer of this.loop.peers.values()) {
      for (const p of peer.region.peers) if (p.storeId !== this.options.storeId) stores.add(p.storeId);
      if (!peer.raw.isQuiet || peer.isLeader) continue;
      const leaderStore = peer.peerById(peer.leaderId)?.storeId;
      const heard = leaderStore === undefined ? undefined : this.lastHeardMs.get(leaderStore) ?? this.openedAtMs;
      if (heard !== undefined && nowMs - heard <= suspectAfterMs) continue;
      peer.raw.wake();
      this.quietWakes++;
      this.loop.markDirty(peer);
    }
    this.transport.keepalive(stores);
  }

  /** A keepalive (an empty batch) from a store: it is up. */
  onKeepalive(storeId: number): void {
    this.lastHeardMs.set(storeId, Date.now());
  }

  private sweepSnapshots(): void {
    const s = this.snapshots;
    if (s === null) return;
    s.generator.sweep();
    s.receiver.sweep((r) => s.installer.installing.has(r.regionId));
  }

  /** Whether this store takes a snapshot stream (null) or refuses it (the error says why). */
  private checkSnapshotOffer(offer: SnapshotOffer): FlotillaError | null {
    const peer = this.loop.peers.get(offer.regionId);
    if (peer === undefined) return new FlotillaError('RegionNotFound', `region ${offer.regionId} has no peer on store ${this.options.storeId}`, { details: { regionId: offer.regionId } });
    if (peer.peerId !== offer.toPeerId) return new FlotillaError('RegionNotFound', `region ${offer.regionId}: snapshot for peer ${offer.toPeerId}, this store holds peer ${peer.peerId}`, { details: { regionId: offer.regionId } });
    return this.checkSnapshotRange(offer.region);
  }

  /**
   * A store never holds two initialized regions whose ranges overlap (store/README.md, "No two
   * regions overlap on a store"; TiKV's check_snapshot): a snapshot of `region` is refused while another region here
   * holds data in its range, has a snapshot raft took and not yet installed there, is being
   * created there by a split whose batch is being written, or a destroyed replica's data there is
   * still being cleared (destroyPeer: the clear would delete what the install wrote). Such a snapshot is older than what the
   * store holds (taken before a split, delivered after the store got a new region of that split)
   * or newer (this store's replica has not applied the split yet); either way its install would
   * clear the other region's data and write its own over it. The leader retries: the stale replica
   * catches up by log, and a held snapshot is not offered again once its region's epoch moved on
   * (snapshot/generator.ts). A merge source the snapshot's region retires (isRetiredBy) does not
   * count: it is retired when the snapshot is installed.
   */
  private checkSnapshotRange(region: RegionMeta): FlotillaError | null {
    const other = this.regionOverlapping(region);
    if (other === null) return null;
    return new FlotillaError('EpochNotMatch', `snapshot of region ${describeRange(region)} overlaps region ${describeRange(other)} on store ${this.options.storeId}`, {
      details: { regionId: region.id, currentRegions: [other] },
    });
  }

  /** Another region that holds, or is about to hold, data on this store in `region`'s range (see checkSnapshotRange). */
  private regionOverlapping(region: RegionMeta): RegionMeta | null {
    for (const p of this.loop.peers.values()) {
      if (p.regionId === region.id) continue;
      const isInitialized = p.storage.lastIndex() > 0;
      if (isInitialized && regionsOverlap(p.region, region) && !isRetiredBy(p, region)) return p.region;
      const pending = pendingSnapshotRegion(p);
      if (pending !== null && regionsOverlap(pending, region)) return pending;
    }
    for (const born of this.splitBirths.values()) {
      if (born.id === region.id || regionsOverlap(born, region)) return born;
    }
    for (const cleared of this.clearing.values()) {
      if (regionsOverlap(cleared, region)) return cleared;
    }
    return null;
  }

  /**
   * A received, checked snapshot: its MsgSnap goes to the region's raft node — unless its range
   * now overlaps another region here (checked at the stream's header, but a split or another
   * install may have happened while it streamed; nothing runs between this check and the step).
   */
  private onSnapshotMessage(msg: raft_serverpb.RaftMessage, received: ReceivedSnapshot): void {
    let checked: StoreRaftMessage;
    try {
      checked = storeRaftMessageFromProto(msg);
    } catch (err) {
      this.log.debug({ err }, 'dropped a malformed snapshot message');
      return;
    }
    if (checked.toPeer.storeId !== this.options.storeId) return;
    const refusal = this.checkSnapshotRange(received.region);
    if (refusal !== null) {
      this.snapshots?.receiver.discard(received);
      this.log.info({ regionId: received.regionId, index: received.index, err: refusal }, 'dropped a received snapshot: its range overlaps another region here');
      return;
    }
    this.stepMessage(checked, { isSnapshotStream: true });
  }

  /**
   * Owns a Ready that carries a snapshot (the poll loop skips the peer until advance): sends what
   * needs nothing durable, installs the snapshot (store/snapshot/apply.ts), mirrors it in memory,
   * then sends the acks and advances. A failed install stops the store: a restart redoes it.
   */
  private installSnapshotReady(peer: Peer, rd: Ready): void {
    const snapshots = this.snapshots!;
    const snap = rd.snapshot!;
    const { index, term, confState } = snap.metadata;
    const what = `region ${peer.regionId}`;
    const received: ReceivedSnapshot | undefined = snapshots.receiver.find(peer.regionId, index, term);
    if (received === undefined) {
      this.options.onFatal(new FlotillaError('Internal', `${what}: raft installs snapshot ${index}/${term}, which this store did not receive`));
      return;
    }
    invariant(rd.committedEntries.length === 0, () => `${what}: a snapshot Ready with committed entries`);
    if (rd.messages.length > 0) this.sender.send(peer, rd.messages);
    this.sender.flush();
    const region = decodeSnapshotData(snap.data, what);
    const hardState = rd.hardState ?? peer.storage.initialState().hardState;
    const isInitialized = peer.storage.lastIndex() > 0;
    const superseded = this.regionsSupersededBy(region);
    // Their tombstones are durable before the install begins: a restart never loads both ranges.
    const retired = superseded.length === 0 ? undefined : Promise.all(superseded.map((p) => this.retireSuperseded(p, region))).then(() => undefined);
    snapshots.installer.install({
      region, index, term, payload: received, hardState, entries: rd.entries, previousRegion: isInitialized ? peer.region : null, ...(retired === undefined ? {} : { after: retired }),
    }).then((installed) => {
      snapshots.receiver.forget(received);
      this.tombstones.delete(region.id);
      if (this.loop.peers.get(peer.regionId) !== peer) return; // stopped meanwhile; the disk has it all
      peer.storage.installSnapshot(index, term, confState, { ...hardState, commit: Math.max(hardState.commit, index) });
      if (rd.entries.length > 0) peer.storage.append(rd.entries);
      peer.onSnapshotInstalled(region, index, installed.approximateKeys);
      if (rd.persistedMessages.length > 0) this.sender.send(peer, rd.persistedMessages);
      this.sender.flush();
      peer.raw.advance(rd);
      this.loop.markDirty(peer);
    }, (err: unknown) => {
      this.log.fatal({ regionId: peer.regionId, index, err }, 'region snapshot install failed; the store stops (a restart finishes it)');
      this.options.onFatal(err);
    });
  }

  get peers(): ReadonlyMap<number, Peer> {
    return this.loop.peers;
  }

  private async loadPeer(region: RegionMeta, merge?: MergeState): Promise<void> {
    const { engine } = this.options;
    const what = `region ${region.id}`;
    const applyBytes = await engine.get(applyStateKey(region.id));
    const hsBytes = await engine.get(raftHardStateKey(region.id));
    if (applyBytes === null || hsBytes === null) throw new FlotillaError('Corruption', `${what}: region state without apply state or hard state`);
    const saved = decodeApplyState(applyBytes, region.id);
    let approximateKeys = saved.approximateKeys;
    if (approximateKeys === null) {
      // Written before the apply state kept the key count: count once; the next apply keeps it.
      approximateKeys = await countRegionKeys(engine, region);
      this.log.info({ regionId: region.id, keys: approximateKeys }, 'counted the region\'s keys (apply state without a key count)');
    }
    const apply = { ...saved, approximateKeys };
    let hardState = decodeHardState(hsBytes, `${what} raft log`);
    const range = raftLogRange(region.id, apply.truncatedIndex + 1, Number.MAX_SAFE_INTEGER);
    const snap = await engine.snapshot();
    const entries: Entry[] = [];
    try {
      for (const kv of await snap.scan(range.start, range.end, { limit: 10_000_000 })) {
        const index = raftLogIndexOf(kv.key);
        const expected = apply.truncatedIndex + 1 + entries.length;
        if (index !== expected) throw new FlotillaError('Corruption', `${what}: raft log entry ${expected} is missing (found ${index})`);
        const entry = decodeEntry(index, kv.value, `${what} raft log`);
        // Terms never go back along a raft log: one that does kept a tail a truncation should
        // have deleted (a replaced suffix longer than its replacement).
        const prev = entries[entries.length - 1];
        if (prev !== undefined && entry.term < prev.term) throw new FlotillaError('Corruption', `${what}: raft log term goes back at entry ${index} (${prev.term} → ${entry.term}): a stale tail`);
        entries.push(entry);
      }
    } finally {
      await snap.release();
    }
    const last = apply.truncatedIndex + entries.length;
    if (hardState.commit > last) throw new FlotillaError('Corruption', `${what}: commit ${hardState.commit} beyond the last entry ${last}`);
    if (apply.appliedIndex > last) throw new FlotillaError('Corruption', `${what}: applied ${apply.appliedIndex} beyond the last entry ${last}`);
    if (apply.appliedIndex > hardState.commit) {
      // The saved commit index lags: the poll loop leaves the hard state out of an append whose
      // term and vote are unchanged (poll-loop.ts hardStateToWrite), and applies entries durable
      // here while the round's hard state may still be being written. Applied entries were
      // committed: raise it to match; the leader tells the rest.
      this.log.debug({ regionId: region.id, applied: apply.appliedIndex, commit: hardState.commit }, 'saved commit index behind the applied index; raised');
      hardState = { ...hardState, commit: apply.appliedIndex };
    }
    this.addPeer(region, hardState, apply, entries, confStateOf(region), merge);
    this.log.info({ regionId: region.id, applied: apply.appliedIndex, truncatedIndex: apply.truncatedIndex, lastIndex: last, term: hardState.term }, 'loaded region');
  }

  private addPeer(
    region: RegionMeta, hardState: HardState, apply: ApplyState & { readonly approximateKeys: number }, entries: readonly Entry[],
    confState: ConfState = confStateOf(region), merge?: MergeState, isKeyCountUnknown = false,
  ): Peer {
    const ref: { peer?: Peer } = {};
    const storage = new PeerStorage(region.id, this.options.engine, this.budget, {
      hardState, confState, truncatedIndex: apply.truncatedIndex, truncatedTerm: apply.truncatedTerm, entries,
    }, () => {
      this.entryLoads++;
      if (ref.peer !== undefined) {
        ref.peer.raw.onStorageReady();
        this.loop.markDirty(ref.peer);
      }
    }, (err) => this.options.onFatal(err));
    const generator = this.snapshots?.generator;
    // The peer's current epoch: a snapshot held from before a split or conf change is not offered.
    if (generator !== undefined) storage.snapshotSource = (minIndex) => generator.snapshot(region.id, minIndex, ref.peer?.region.epoch);
    const metrics = this.options.metrics;
    const gc = this.raftLogGc;
    const peer = new Peer(storage, {
      storeId: this.options.storeId,
      region,
      storage,
      applied: apply.appliedIndex,
      approximateKeys: apply.approximateKeys,
      isKeyCountUnknown,
      raft: this.options.raft,
      raftLogGc: this.options.raftLogGc,
      laggingFollowerPolicy: this.snapshots === null ? 'holdBack' : 'compactPast',
      countKeys: this.options.countKeys ?? false,
      onRaftLogGc: {
        onProposed: () => {
          gc.proposed++;
          metrics?.countRaftLogGc('proposed', 0);
        },
        onCompacted: (entries) => {
          gc.compactions++;
          gc.compactedEntries += entries;
          metrics?.countRaftLogGc('compacted', entries);
        },
        onHardLimitHeldBack: () => {
          gc.hardLimitHeldBack++;
          metrics?.countRaftLogGc('heldBack', 0);
        },
      },
      rng: createRng(region.id * 7_919 + this.options.storeId),
      logger: this.log,
      markDirty: (p) => this.loop.markDirty(p),
      onLeaderReady: (p) => this.onLeaderReady(p),
      onRemoved: (p, r) => this.destroyPeer(p, r),
      onSplit: (p, split, ops) => this.onSplit(p, split, ops),
      ...(merge === undefined ? {} : { merge }),
      onPrepareMergeApplied: (p) => this.onPrepareMergeApplied(p),
      onMergingApplied: (p) => this.onMergingApplied(p),
      onCommitMerge: (p, cmd, ops) => this.onCommitMerge(p, cmd, ops),
      ...(this.options.simulated?.isLeaseReadEnabled === false ? { isLeaseReadEnabled: false } : {}),
      ...(metrics === undefined ? {} : { onProposalOutcome: (o: 'applied' | 'stale' | 'timeout' | 'failed', proposals: number) => metrics.countProposal(o, proposals), onBecameLeader: () => metrics.countElection() }),
    });
    ref.peer = peer;
    this.loop.addPeer(peer);
    return peer;
  }

  /** A source replica applied PrepareMerge: the driver (server.ts, merge.ts) moves it on. */
  onPrepareMergeApplied: (peer: Peer) => void = () => {};
  /** A target replica absorbed its source (the batch is written): tell PD at once if it leads. */
  onMergeApplied: (target: Peer) => void = () => {};

  /** Target replicas waiting for their source replica here to apply its PrepareMerge (source id → target). */
  private readonly mergeWaiters = new Map<number, Peer>();

  private onMergingApplied(source: Peer): void {
    const target = this.mergeWaiters.get(source.regionId);
    if (target !== undefined && source.mergeState !== null && source.applied >= source.mergeState.commit) {
      this.mergeWaiters.delete(source.regionId);
      if (this.loop.peers.get(target.regionId) === target) this.loop.markDirty(target);
    }
  }

  /**
   * A target replica applies CommitMerge (merge.ts step 3). This store's source replica must have
   * applied the PrepareMerge the command names: if it has not, it is told that entry is
   * committed (its log holds it: the source leader proposed the merge only then) and the target
   * waits. Then the source's retirement joins the target's apply batch — a tombstone naming the
   * target (its keys stay: they are the target's now) — and, once written, the source replica
   * leaves the loop and its raft state is cleared.
   */
  private onCommitMerge(target: Peer, cmd: CommitMergeApply, ops: WriteOp[]): CommitMergeDecision {
    const source = this.loop.peers.get(cmd.source.id);
    const what = `region ${target.regionId}: CommitMerge of region ${cmd.source.id}`;
    if (source === undefined || source.storage.lastIndex() === 0) {
      // Merges need a replica of both regions on every store (merge.ts); without the source's
      // this replica cannot take the range. It waits (an operator must repair the store) rather
      // than diverge from the other replicas.
      this.log.error({ regionId: target.regionId, source: cmd.source.id }, `${what}: no initialized replica of the source on this store; the target waits`);
      return { kind: 'wait' };
    }
    if (source.applied < cmd.commit) {
      if (!source.raw.commitTo(cmd.commit, cmd.commitTerm)) this.log.warn({ regionId: source.regionId, commit: cmd.commit }, `${what}: the source's log lacks the PrepareMerge entry yet`);
      this.mergeWaiters.set(source.regionId, target);
      this.loop.markDirty(source);
      return { kind: 'wait' };
    }
    if (source.mergeState === null || source.mergeState.commit !== cmd.commit) {
      this.log.error({ regionId: target.regionId, source: cmd.source.id, merge: source.mergeState }, `${what}: the source replica here is not in that merge; the target waits`);
      return { kind: 'wait' };
    }
    const retired = source.region;
    ops.push({ kind: 'put', cf: 'local', key: regionStateKey(retired.id), value: encodeRegionState({ state: 'tombstone', region: retired, mergedInto: target.regionId }) });
    return {
      kind: 'ok',
      sourceKeys: source.approximateKeys,
      isSourceKeyCountExact: !source.isKeyCountPending,
      unsettledKeyOps: source.takeUnsettledKeyOps(),
      after: () => {
        void this.retireMergedSource(source, retired, target.regionId).catch(() => undefined); // a failure stopped the store
        if (target.isKeyCountPending) this.keyRecounter.start(target);
        this.onMergeApplied(target);
      },
    };
  }

  /** Resolves once the source's tombstone is durable and its raft state cleared (rejects if that failed: the store stops). */
  private retireMergedSource(source: Peer, retired: RegionMeta, targetId: number): Promise<void> {
    this.mergeWaiters.delete(source.regionId);
    this.tombstones.set(retired.id, retired);
    if (this.loop.peers.get(source.regionId) !== source) return Promise.resolve();
    this.loop.removePeer(source.regionId);
    this.snapshots?.generator.forget(source.regionId);
    source.destroy(new FlotillaError('RegionNotFound', `region ${source.regionId} merged into region ${targetId}`, { details: { regionId: source.regionId } }));
    this.log.info({ regionId: source.regionId, target: targetId }, 'merged into its neighbour; clearing its raft state');
    this.pendingDestroys++;
    const cleared = this.loop.roundEnd()
      .then(() => destroyRegionData(this.options.engine, retired, { hasData: false, mergedInto: targetId }))
      .then(() => {
        this.pendingDestroys--;
      });
    cleared.catch((err: unknown) => {
      this.log.fatal({ regionId: retired.id, err }, 'clearing a merged region\'s raft state failed');
      this.options.onFatal(err);
    });
    return cleared;
  }

  /**
   * The initialized regions here that a snapshot of `region` supersedes (isRetiredBy): their
   * raft groups are gone — each was merged away, into `region` or into a region `region` later
   * absorbed — and this store missed it (its replica of the target fell behind the compacted log,
   * so the snapshot comes instead of the CommitMerge entry). Without retiring them the snapshot
   * could never be taken here (checkSnapshotRange) and they would hold their range for ever.
   */
  private regionsSupersededBy(region: RegionMeta): Peer[] {
    return [...this.loop.peers.values()].filter((p) => p.regionId !== region.id && p.storage.lastIndex() > 0 && isRetiredBy(p, region));
  }

  /** Retires a region a snapshot supersedes, as a merge retires its source: its keys are the snapshot's to rewrite. */
  private retireSuperseded(peer: Peer, by: RegionMeta): Promise<void> {
    this.log.info({ regionId: peer.regionId, region: describeRange(peer.region), by: describeRange(by) }, 'a snapshot supersedes this region (merged away while this store was behind)');
    return this.retireMergedSource(peer, peer.region, by.id);
  }

  /**
   * A split applied on `parent` (split.ts): writes, into the apply batch `ops`, the initial state
   * of this store's peer of each new region — its log starts at RAFT_INIT_INDEX, as a bootstrapped
   * region's, with the data already in place — and returns what creates those peers once the
   * batch is written. A new region is skipped when its replica here was removed already (a
   * tombstone) or exists initialized, or raft took a snapshot of it (a snapshot filled it first,
   * while this store held no data in its range — checkSnapshotRange: it is ahead of this split).
   * An uninitialized peer of it (created by a message of its leader) is replaced, keeping its
   * term and vote: a vote cast must never be forgotten. Until the batch is written, no snapshot of
   * (or over) a new region is taken here.
   */
  private onSplit(parent: Peer, split: AppliedSplit, ops: WriteOp[]): () => void {
    const births: { region: RegionMeta; hardState: HardState; apply: ApplyState & { readonly approximateKeys: number }; replaces: Peer | undefined }[] = [];
    const countKeys = this.options.countKeys ?? false;
    split.created.forEach((region, i) => {
      if (this.tombstones.has(region.id)) return;
      const existing = this.loop.peers.get(region.id);
      if (existing !== undefined && (existing.storage.lastIndex() > 0 || pendingSnapshotRegion(existing) !== null)) return;
      if (this.snapshots?.installer.installing.has(region.id) === true || this.creating.has(region.id)) return;
      const saved = existing?.raw.status().hardState;
      const hardState: HardState = saved !== undefined && saved.term > RAFT_INIT_TERM
        ? { term: saved.term, vote: saved.vote, commit: RAFT_INIT_INDEX }
        : { term: RAFT_INIT_TERM, vote: 0, commit: RAFT_INIT_INDEX };
      // The proposer's walk is the estimate; the saved count is unknown until this replica's recount ends.
      const apply = { appliedIndex: RAFT_INIT_INDEX, truncatedIndex: RAFT_INIT_INDEX, truncatedTerm: RAFT_INIT_TERM, approximateKeys: split.createdKeys[i] ?? 0 };
      ops.push(
        { kind: 'put', cf: 'local', key: regionStateKey(region.id), value: encodeRegionState({ state: 'normal', region }) },
        { kind: 'put', cf: 'local', key: applyStateKey(region.id), value: encodeApplyState(countKeys ? { ...apply, approximateKeys: null } : apply) },
        { kind: 'put', cf: 'local', key: raftHardStateKey(region.id), value: encodeHardState(hardState) },
      );
      births.push({ region, hardState, apply, replaces: existing });
      this.splitBirths.set(region.id, region);
    });
    return () => {
      for (const b of births) this.splitBirths.delete(b.region.id);
      this.splitsApplied++;
      // Pinned before any peer of the split applies more: the parent's range as of this batch.
      if (countKeys && this.loop.peers.get(parent.regionId) === parent) this.keyRecounter.start(parent);
      for (const b of births) {
        if (b.replaces !== undefined) {
          if (this.loop.peers.get(b.region.id) !== b.replaces) continue; // gone meanwhile: the state written is harmless, a restart loads it
          this.loop.removePeer(b.region.id);
          b.replaces.destroy(new FlotillaError('RegionNotFound', `region ${b.region.id}: replaced by the peer its split created`, { details: { regionId: b.region.id } }));
        } else if (this.loop.peers.has(b.region.id)) {
          continue;
        }
        const peer = this.addPeer(b.region, b.hardState, b.apply, [], undefined, undefined, countKeys);
        if (countKeys) this.keyRecounter.start(peer);
        // The old leader's store campaigns for the new regions at once: they would otherwise wait
        // an election timeout with no leader. Stores that had not split yet keep the vote
        // requests (maybeCreatePeer) and answer them once their split creates the peer. A plain
        // campaign would be refused: a new node counts as within a leader's lease (raft.ts hup),
        // though a new region has had no leader — the forced kind a leader transfer uses is right.
        if (split.wasLeader) {
          peer.raw.campaignAs('transfer');
          this.loop.markDirty(peer);
        }
        this.replaySplitVotes(b.region.id);
      }
      this.onSplitApplied(parent, [split.derived, ...split.created].sort((a, b) => Buffer.compare(a.startKey, b.startKey)));
    };
  }

  /**
   * Creates this store's replica of a region bootstrapped with every peer at once (epoch 1/1):
   * every replica starts from the same log position and membership, so no snapshot is needed.
   * Never where this store's replica of it was destroyed (a tombstone): raft may count that
   * peer's acknowledgements of entries since, and a replica back at the start under the same peer
   * id would deny them (a leader holding its old match index fails at once; one that does not
   * could elect or commit on a log this replica no longer has). PD replaces it with a new peer.
   */
  async createBootstrapPeer(region: RegionMeta): Promise<void> {
    if (this.loop.peers.has(region.id)) return;
    if (this.tombstones.has(region.id)) {
      this.log.warn({ regionId: region.id }, 'not creating the bootstrap replica of a region whose replica here was destroyed (tombstone)');
      return;
    }
    const apply = { appliedIndex: RAFT_INIT_INDEX, truncatedIndex: RAFT_INIT_INDEX, truncatedTerm: RAFT_INIT_TERM, approximateKeys: 0 };
    const hardState: HardState = { term: RAFT_INIT_TERM, vote: 0, commit: RAFT_INIT_INDEX };
    const ops: WriteOp[] = [
      { kind: 'put', cf: 'local', key: regionStateKey(region.id), value: encodeRegionState({ state: 'normal', region }) },
      { kind: 'put', cf: 'local', key: applyStateKey(region.id), value: encodeApplyState(apply) },
      { kind: 'put', cf: 'local', key: raftHardStateKey(region.id), value: encodeHardState(hardState) },
    ];
    await this.options.engine.write(ops, { sync: true });
    if (this.loop.peers.has(region.id) || this.tombstones.has(region.id)) return;
    this.addPeer(region, hardState, apply, []);
    this.log.info({ regionId: region.id, peers: region.peers }, 'created bootstrap replica');
  }

  /** A raft message from another store (raft-codec.ts checked it). Never throws: a stray message is dropped. */
  onRaftMessage(msg: StoreRaftMessage): void {
    if (this.loop.inboundSinceRound >= this.options.inboundMessagesMax) {
      // The loop is behind (a slow disk, a flood): drop, as a lossy network would; raft resends.
      this.options.metrics?.countRaftMessages('dropped', 1);
      return;
    }
    this.loop.inboundSinceRound++;
    this.options.metrics?.countRaftMessages('received', 1);
    this.lastHeardMs.set(msg.fromPeer.storeId, Date.now());
    if (msg.toPeer.storeId !== this.options.storeId) return;
    if (msg.isTombstone) {
      this.onTombstoneMessage(msg);
      return;
    }
    this.stepMessage(msg, { isSnapshotStream: false });
  }

  /**
   * A member of a newer membership of the region says this store's replica was removed
   * (peer-lifecycle.ts gcMessageTombstone): destroyed now rather than when the stale check finds
   * it leaderless. Not an uninitialized replica (PD's check judges those), nor one merging, with a
   * PrepareMerge in its unapplied log (or a log it cannot read), or installing a snapshot: those
   * settle first, and the next stale message brings another answer.
   */
  private onTombstoneMessage(msg: StoreRaftMessage): void {
    const peer = this.loop.peers.get(msg.regionId);
    if (peer === undefined || peer.storage.lastIndex() === 0) return;
    const tombstone = gcMessageTombstone(peer.region, peer.peerId, msg);
    if (tombstone === null) return;
    if (peer.mergeState !== null || this.snapshots?.installer.installing.has(peer.regionId) === true) return;
    const unapplied = peer.storage.cachedEntriesFrom(peer.applied + 1);
    if (unapplied === null || prepareMergeTargetsIn(peer.regionId, unapplied).length > 0) return;
    this.log.info({ regionId: peer.regionId, peerId: peer.peerId, confVer: peer.region.epoch.confVer, memberConfVer: msg.epoch.confVer, fromStoreId: msg.fromPeer.storeId }, 'a member of a newer membership says this replica was removed (is_tombstone)');
    this.destroyPeer(peer, tombstone);
  }

  /** Messages of a raft batch the codec refused (counted as dropped; raft resends). */
  onMalformedMessages(count: number): void {
    this.options.metrics?.countRaftMessages('dropped', count);
  }

  /**
   * Steps a raft message into its region's peer. A MsgSnap is taken only from the snapshot
   * stream (its payload is on disk by then); on the ordinary stream it is dropped.
   */
  private stepMessage(msg: StoreRaftMessage, source: { readonly isSnapshotStream: boolean }): void {
    if ((msg.message.type === 'MsgSnap') !== source.isSnapshotStream) return;
    const peer = this.loop.peers.get(msg.regionId);
    if (peer === undefined) {
      if (!this.maybeCreatePeer(msg, msg.regionId)) this.onUnknownRegion(msg.regionId);
      return;
    }
    if (peer.peerId !== msg.toPeer.id) {
      this.maybeRetireSuperseded(peer, msg);
      return;
    }
    if (peer.storage.lastIndex() > 0 && isFromRemovedPeer(peer.region, msg)) {
      // A peer removed while it could not hear it (it campaigns, or answers an old leader): it is
      // told so, and its message is dropped — it is no member, and raft must not count it.
      this.sender.sendTombstone(peer, msg.fromPeer);
      this.sender.flush();
      this.options.metrics?.countRaftMessages('dropped', 1);
      return;
    }
    const nowMs = Date.now();
    peer.lastMessageMs = nowMs;
    peer.liveness.heard(msg.fromPeer.id, nowMs);
    peer.learnSender(msg.fromPeer);
    if (msg.message.type === 'MsgReadIndex') {
      this.stepReplicaReadIndex(peer, msg);
      return;
    }
    const r = peer.raw.step(msg.message);
    if (r.kind !== 'invalid-message') this.loop.markDirty(peer);
  }

  /**
   * Sets what a leader checks before taking a replica's ReadIndex request (replica-read.ts), and
   * how many requests may wait at it at once (REPLICA_READ_GATED_MAX; beyond, they are dropped).
   */
  setReplicaReadGate(gate: (check: ReplicaReadCheck) => Promise<void> | null, gatedMax = REPLICA_READ_GATED_MAX): void {
    invariant(Number.isSafeInteger(gatedMax) && gatedMax >= 1, 'replica read gate bound must be a positive integer');
    this.replicaReadGate = gate;
    this.replicaReadGatedMax = gatedMax;
  }

  /** Replica ReadIndex requests waiting at the gate now (tests). */
  get replicaReadsGated(): number {
    return this.gatedReplicaReads;
  }

  /**
   * A replica's ReadIndex request (replica-read.ts): only a leader takes it, and only after the
   * gate's checks, in the term it arrived in. Anything else is dropped (raft would forward it
   * under this peer's name, and the answer would come here: replica-read.ts says why that must
   * not be): the replica's read fails and its client retries.
   */
  private stepReplicaReadIndex(peer: Peer, msg: StoreRaftMessage): void {
    const drop = (): void => this.options.metrics?.countRaftMessages('dropped', 1);
    const gate = this.replicaReadGate;
    if (gate === null || !peer.isLeader) return drop();
    if (this.gatedReplicaReads >= this.replicaReadGatedMax) {
      // The gate is full (a commit held long): dropped before it registers any wait, as raft drops
      // a request past its own pending-read bound.
      this.log.debug({ regionId: peer.regionId, fromStoreId: msg.fromPeer.storeId, gated: this.gatedReplicaReads }, 'replica read index request dropped: the gate is full');
      return drop();
    }
    let wait: Promise<void> | null;
    try {
      const check = decodeReplicaReadContext(msg.message.context);
      if (check === null) return drop(); // only replicas send ReadIndex requests, and theirs carry a check
      wait = gate(check);
    } catch (err) {
      this.log.debug({ regionId: peer.regionId, fromStoreId: msg.fromPeer.storeId, err }, 'replica read index request refused');
      return drop();
    }
    const step = (): void => {
      const r = peer.raw.step(msg.message);
      if (r.kind !== 'invalid-message') this.loop.markDirty(peer);
    };
    if (wait === null) return step();
    this.gatedReplicaReads++;
    const term = peer.term;
    wait.then(() => {
      this.gatedReplicaReads--;
      if (this.loop.peers.get(peer.regionId) !== peer || !peer.isLeader || peer.term !== term) return drop();
      step();
    }, () => {
      this.gatedReplicaReads--;
      drop();
    });
  }

  /**
   * A message for a region this store lacks. A leader's (append, heartbeat) creates an
   * uninitialized peer for it (no data, no membership; it cannot campaign) that the leader then
   * fills with a region snapshot — how a peer added by a conf change comes to life (issue F7).
   * A candidate's (MsgVote, MsgPreVote) does too, as TiKV's maybe_create_peer: a region whose
   * other replicas all skipped the split that created it (their parent was filled by a snapshot
   * taken after the split) exists only on the store that applied it, and its peer there can win
   * no election without these votes — an uninitialized peer has an empty log, so it may grant
   * them; the leader it elects then sends it a snapshot. But a vote whose region a split of an
   * older overlapping parent here will create is kept for that split instead (keepForSplit).
   * Nothing is created for a region whose tombstone is as new as the message's epoch (a removed
   * or merged replica's campaign must not resurrect it), nor over a range another region here
   * holds, has a snapshot pending in or is being born in by a split (regionOverlapping) — unless
   * that region is a merge source the sender's region retires (isRetiredBy; the snapshot that
   * fills the new peer retires it). The peer is created once its saved hard
   * state is read (an earlier incarnation's vote is kept); an append or heartbeat is dropped
   * meanwhile (raft resends), a vote request is stepped into the new peer. Returns whether the
   * message was one of these kinds.
   */
  private maybeCreatePeer(msg: StoreRaftMessage, regionId: number): boolean {
    const type = msg.message.type;
    const isVote = type === 'MsgVote' || type === 'MsgPreVote';
    if (type !== 'MsgApp' && type !== 'MsgHeartbeat' && !isVote) return false;
    let region: RegionMeta;
    try {
      region = placeholderRegion(msg);
    } catch {
      return false;
    }
    // The sender's region as it knows it: a region here that it supersedes does not hold the range.
    const shape: RegionMeta = { ...region, epoch: msg.epoch };
    if (isVote) {
      // A new region's first campaign, from the store whose parent applied the split first: our
      // parent has not split yet (it overlaps, at an older version), or its split's batch is being
      // written. Kept, and stepped into the new peer once the split creates it — else every split
      // waits an election timeout.
      if (this.splitBirths.has(regionId)) {
        this.keepForSplit(regionId, msg);
        return true;
      }
      for (const p of this.loop.peers.values()) {
        if (p.storage.lastIndex() > 0 && regionsOverlap(p.region, region) && p.region.epoch.version < msg.epoch.version && !isSupersededBy(p.region, shape)) {
          this.keepForSplit(regionId, msg);
          return true;
        }
      }
    }
    const tombstone = this.tombstones.get(regionId);
    if (tombstone !== undefined && isStaleForTombstone(msg, tombstone)) return true; // a stale leader or candidate: ignore
    if (this.regionOverlapping(shape) !== null) return true;
    if (this.creating.has(regionId) || this.destroying.has(regionId)) return true;
    this.creating.add(regionId);
    void this.createUninitializedPeer(region, shape)
      .then((peer) => {
        // Raft would resend an append; a vote request is answered now (an election timeout sooner).
        if (peer !== null && isVote) this.stepMessage(msg, { isSnapshotStream: false });
      })
      .catch((err: unknown) => this.log.warn({ regionId, err }, 'creating an uninitialized peer failed'))
      .finally(() => this.creating.delete(regionId));
    return true;
  }

  /**
   * A message for a newer peer of a region whose replica here is an older one (removed, then a
   * peer of this store added again): the old one is destroyed — its data cleared — with a
   * tombstone below the message's membership, so raft's next message creates the new peer; until
   * then every message to it was dropped here, and it never came to life. Uninitialized (removed
   * before a snapshot reached it) or initialized: a removed learner never campaigns, so it never
   * loses its leader and the stale check (server.ts, replicas that hear no leader) skipped it
   * for ever (split sim seed 4234), as TiKV destroys a peer a message to a newer one outdates.
   * Not while a snapshot of the region is being installed (its install would outlive the destroy).
   */
  private maybeRetireSuperseded(peer: Peer, msg: StoreRaftMessage): void {
    if (this.snapshots?.installer.installing.has(peer.regionId) === true) return;
    const tombstone = supersededReplicaTombstone(peer.peerId, msg);
    if (tombstone === null) return;
    this.log.info({ regionId: peer.regionId, peerId: peer.peerId, newPeerId: msg.toPeer.id, confVer: msg.epoch.confVer, isInitialized: peer.storage.lastIndex() > 0 }, 'a newer peer of this region was added here: retiring the old one');
    this.destroyPeer(peer, tombstone);
  }

  /** Vote requests for regions a pending split here will create (bounded; the oldest region's go first). */
  private readonly pendingSplitVotes = new Map<number, StoreRaftMessage[]>();

  private keepForSplit(regionId: number, msg: StoreRaftMessage): void {
    const kept = this.pendingSplitVotes.get(regionId) ?? [];
    if (kept.length >= PENDING_SPLIT_VOTES_PER_REGION) kept.shift();
    kept.push(msg);
    this.pendingSplitVotes.set(regionId, kept);
    if (this.pendingSplitVotes.size > PENDING_SPLIT_VOTE_REGIONS_MAX) this.pendingSplitVotes.delete(this.pendingSplitVotes.keys().next().value!);
  }

  /** The vote requests kept for a region its split just created, stepped into its new peer. */
  private replaySplitVotes(regionId: number): void {
    const kept = this.pendingSplitVotes.get(regionId);
    if (kept === undefined) return;
    this.pendingSplitVotes.delete(regionId);
    for (const msg of kept) this.stepMessage(msg, { isSnapshotStream: false });
  }

  /** The new peer (`shape`: its region as the message's sender knows it), or null when none was created (the region appeared here meanwhile). */
  private async createUninitializedPeer(region: RegionMeta, shape: RegionMeta): Promise<Peer | null> {
    const { engine } = this.options;
    const stateBytes = await engine.get(regionStateKey(region.id));
    // A tombstone here is older than the message (maybeCreatePeer checked): the store was
    // removed and is being added again; the snapshot install overwrites it.
    if ((stateBytes !== null && decodeRegionState(stateBytes, region.id).state !== 'tombstone') || this.loop.peers.has(region.id)) return null;
    const hsBytes = await engine.get(raftHardStateKey(region.id));
    const saved = hsBytes === null ? { term: 0, vote: 0, commit: 0 } : decodeHardState(hsBytes, `region ${region.id} raft log`);
    // The range may have been taken while the state was read (a split's batch, a snapshot).
    if (this.loop.peers.has(region.id) || this.regionOverlapping(shape) !== null) return null;
    const peer = this.addPeer(region, { ...saved, commit: 0 }, { appliedIndex: 0, truncatedIndex: 0, truncatedTerm: 0, approximateKeys: 0 }, [], EMPTY_CONF_STATE);
    this.log.info({ regionId: region.id, peerId: region.peers[0]?.id }, 'created an uninitialized peer (waits for a snapshot)');
    return peer;
  }

  /**
   * Destroys this store's replica of a region it was removed from (or learnt it was removed
   * from): out of the poll loop at once, then — once the round running now has ended, so no
   * later write of that round lands after — tombstone, data and log cleared (peer-lifecycle.ts).
   */
  destroyPeer(peer: Peer, region: RegionMeta): void {
    if (this.loop.peers.get(peer.regionId) !== peer) return;
    const hasData = peer.storage.lastIndex() > 0;
    const dataRegion = peer.region;
    this.loop.removePeer(peer.regionId);
    this.snapshots?.generator.forget(peer.regionId);
    peer.destroy(new FlotillaError('RegionNotFound', `region ${peer.regionId}: the replica on store ${this.options.storeId} was removed`, { details: { regionId: peer.regionId } }));
    this.tombstones.set(region.id, region);
    this.log.info({ regionId: region.id, peerId: peer.peerId, confVer: region.epoch.confVer }, 'removed from the region; destroying the replica');
    // An install of a snapshot of this region may be running: its final batch would overwrite
    // the tombstone, so the destroy waits for it; the round running now may still write its log.
    this.pendingDestroys++;
    this.destroying.add(region.id);
    if (hasData) this.clearing.set(region.id, dataRegion);
    this.loop.roundEnd()
      .then(() => this.snapshots?.installer.settled(region.id))
      .then(() => destroyRegionData(this.options.engine, { ...region, startKey: dataRegion.startKey, endKey: dataRegion.endKey }, { hasData }))
      .then(() => {
        this.pendingDestroys--;
        this.destroying.delete(region.id);
        this.clearing.delete(region.id);
        this.log.info({ regionId: region.id }, 'replica destroyed; tombstone written');
      })
      .catch((err: unknown) => {
        this.log.fatal({ regionId: region.id, err }, 'destroying a removed replica failed');
        this.options.onFatal(err);
      });
  }

  async stop(): Promise<void> {
    if (this.snapshotSweep !== null) clearInterval(this.snapshotSweep);
    if (this.livenessTimer !== null) clearInterval(this.livenessTimer);
    await this.loop.stop();
    await this.keyRecounter.close();
    this.snapshots?.sender.close();
    this.snapshots?.generator.close();
    this.transport.close();
    const err = new FlotillaError('Unavailable', 'the store is stopping');
    for (const peer of this.loop.peers.values()) peer.destroy(err);
  }
}

/**
 * The region of the snapshot raft took for this peer and has not installed yet (it stays pending
 * until the install's advance), or null. Read from raft's log: whether raft takes a MsgSnap is
 * raft's decision (a snapshot at or below its commit index is not taken), seen only there.
 */
function pendingSnapshotRegion(peer: Peer): RegionMeta | null {
  const snap = peer.raw.raft.raftLog.pendingSnapshot();
  return snap === undefined ? null : decodeSnapshotData(snap.data, `region ${peer.regionId} pending snapshot`);
}

/**
 * Whether `by` covers all of `held`'s range at a higher version: `held`'s shape is out of date
 * there, usually because its group is gone. Not proof of it — a region can lose its whole old
 * range and live on (merged as a target, then split so that its original range went to a new
 * region: merge seed 582), which is why isRetiredBy does not use this. Used only to decide
 * whether a candidate's vote for a region not here waits for a split of ours to create it.
 */
function isSupersededBy(held: RegionMeta, by: RegionMeta): boolean {
  return by.epoch.version > held.epoch.version && rangeContains(by, held);
}

/**
 * Whether region `by` (a snapshot's, or a message's) shows that this store's replica `held` is
 * gone: `held` is a merge source — in its merging state, or with a PrepareMerge in its log it
 * has not applied — `by` is that merge's target at a version past the one PrepareMerge saw, and
 * their ranges overlap. A target gains keys only by merges, so the source's range went into it
 * — and the merged region may have split since, so it need not hold all of it (else its snapshot
 * was refused here for ever, while the source waited for that very target to apply CommitMerge).
 * The part of the source's range the target no longer holds keeps its keys until the snapshot
 * of the region that holds it now clears them.
 *
 * The unapplied PrepareMerge: a replica whose group retired (the merge done on the other stores)
 * before it learned that the entry was committed — the commit index reached it in messages it
 * missed, or in a hard state a crash took — never applies it; nothing is left to tell it. Should
 * that PrepareMerge have been rolled back instead (never committed, overwritten by a new leader)
 * while a piece split off this region merged into the same target, the replica retired here is
 * of a live region: it is lost as a crash-stopped replica is (the tombstone keeps it from coming
 * back with an empty log), and the region's other replicas go on.
 *
 * Not enough: `by` holding all of `held`'s range at a newer version. A region can lose its whole
 * old range and live on — merged as a target, then split so that its original range went to the
 * new region (merge seed 582) — and its replica here, behind both, catches up by its own group.
 * A merged-away source without PrepareMerge in its log is found by the stale check instead.
 */
function isRetiredBy(held: Peer, by: RegionMeta): boolean {
  if (!regionsOverlap(held.region, by)) return false;
  const merge = held.mergeState;
  if (merge !== null) return merge.target.id === by.id && by.epoch.version > merge.target.epoch.version;
  const unapplied = held.storage.cachedEntriesFrom(held.applied + 1) ?? [];
  return prepareMergeTargetsIn(held.regionId, unapplied).some((t) => t.id === by.id && by.epoch.version > t.epoch.version);
}

function rangeContains(outer: RegionMeta, inner: RegionMeta): boolean {
  const startsBefore = Buffer.compare(outer.startKey, inner.startKey) <= 0;
  const endsAfter = outer.endKey.length === 0 || (inner.endKey.length > 0 && Buffer.compare(inner.endKey, outer.endKey) <= 0);
  return startsBefore && endsAfter;
}

/** "id[start,end) vN" for log lines and errors. */
function describeRange(r: RegionMeta): string {
  return `${r.id}[${r.startKey.toString('hex')},${r.endKey.toString('hex')}) v${r.epoch.version}`;
}

function regionsOverlap(a: RegionMeta, b: RegionMeta): boolean {
  const aEndsBeforeB = a.endKey.length > 0 && Buffer.compare(a.endKey, b.startKey) <= 0;
  const bEndsBeforeA = b.endKey.length > 0 && Buffer.compare(b.endKey, a.startKey) <= 0;
  return !aEndsBeforeB && !bEndsBeforeA;
}

/** The region's records in the raw and latest CFs (one per user key), counted page by page. */
async function countRegionKeys(engine: Engine, region: RegionMeta): Promise<number> {
  let keys = 0;
  for await (const page of regionKeyPages(engine, region, KEY_COUNT_PAGE)) keys += page.length;
  return keys;
}
