// flotilla-store's process: one RocksDB, the regions on it (RaftStore and its poll loop), the KV
// and raft-transport gRPC services, the PD worker (registration, bootstrap, heartbeats, orders)
// and the HTTP status server. start() returns once the store serves; stop() undoes it in order.

import { mkdir, readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import {
  cfRangeOf, ChannelCache, channelCredentials, DATA_CFS, decodeKey, createGrpcServer, createMetricsRegistry, FlotillaError, type grpc, INSECURE, type Logger,
  type PeerMeta, type RegionMeta, type StoreMeta, startGrpcServer, type StartedGrpcServer, sleepMs,
} from '../common/index.js';
import type { raft_serverpb } from '../proto/index.js';
import { bootstrapClusterIfNeeded, findBootstrapRegion, loadOrCreateStoreId, lookUpBootstrapRegion } from './bootstrap.js';
import { parseHostPort, parseLabels, type StoreConfig } from './config.js';
import { RocksEngine } from './engine/index.js';
import { KvRouting } from './kv-routing.js';
import { KvService, kvServiceDefinition } from './kv-service.js';
import { KvWrites } from './kv-writes.js';
import { HelperThreads } from './helper-threads.js';
import { LatchSet } from './latch-set.js';
import { StoreMetrics } from './metrics.js';
import { ConcurrencyManager } from './concurrency-manager.js';
import { replicaReadGate } from './replica-read.js';
import { type RegionOrder, StorePdClient } from './pd-client.js';
import type { Peer } from './peer.js';
import { RaftStore } from './raft-store.js';
import { RawKv } from './raw-kv.js';
import { mergedAwayReplicaTombstone, prepareMergeTargetsInLog, staleReplicaTombstone, uninitializedReplicaTombstone } from './peer-lifecycle.js';
import { MERGE_DRIVE_INTERVAL_MS, MergeDriver } from './merge.js';
import { RegionSplitter } from './region-splitter.js';
import { type MembershipOrder, planMembershipOrder } from './region-orders.js';
import { SnapshotMetrics } from './snapshot/index.js';
import { startStatusServer, type StatusServer } from './status-http.js';
import type { DecodedRaftBatch } from './raft-codec.js';
import { raftTransportDefinition, streamClusterRefusal } from './transport.js';
import { RegionSizeCache } from './region-size-cache.js';
import { KeySampleSchedule } from './key-recount.js';
import { TxnKv } from './txn-kv.js';
import { TTL_SWEEP_INTERVAL_MS, TtlSweepPlanner } from './ttl-sweep.js';

export const STORE_VERSION = '0.1.0';
/** Latch slots (hash buckets of keys) of the store's write commands. */
export const LATCH_SLOTS = 16_384;
const BOOTSTRAP_POLL_MS = 200;
/** How often replicas that hear from no leader ask PD whether they were removed (checkStalePeers). */
export const STALE_PEER_CHECK_MS = 3_000;
/** How often learners a promotion waits for are looked at (checkCatchUps). */
export const CATCH_UP_CHECK_MS = 200;

export interface StoreServerOptions {
  /** The store cannot go on (its raft loop failed): the executable exits. */
  readonly onFatal?: (err: unknown) => void;
}

export class StoreServer {
  private readonly abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private lastDiscoveryMs = 0;
  private stopped = false;
  private isSweeping = false;
  private readonly ttlSweep = new TtlSweepPlanner();
  private readonly merges: MergeDriver;
  private readonly lastRegionBeatMs = new Map<number, number>();
  /** Led regions' last measured sizes, reused while they take no write (region-size-cache.ts). */
  private readonly regionSizes: RegionSizeCache;
  private readonly keySamples: KeySampleSchedule;
  /** Regions with a conf change of ours in flight (one at a time). */
  private readonly changingRegions = new Set<number>();
  /**
   * Learners a promotion order was skipped for (still catching up), by region: once one caught
   * up, the region's heartbeat goes at once, and PD answers with the promotion again — instead of
   * a periodic heartbeat up to --pd-heartbeat-ms later (TiKV's heartbeat on a new peer's catch-up).
   */
  private readonly catchingUp = new Map<number, number>();
  /** The helper threads' scheduling policy (helper-threads.ts, --helper-threads-batch). */
  private readonly helperThreads: HelperThreads;

  private constructor(
    readonly storeId: number,
    readonly clusterId: bigint,
    readonly address: string,
    readonly statusAddress: string,
    private readonly config: StoreConfig,
    private readonly engine: RocksEngine,
    private readonly pd: StorePdClient,
    private readonly grpcServer: StartedGrpcServer,
    private readonly raftStore: RaftStore,
    private readonly status: StatusServer,
    private readonly metrics: StoreMetrics,
    private readonly writes: KvWrites,
    private readonly raw: RawKv,
    private readonly log: Logger,
    private readonly startedAtMs: number,
    private readonly labels: Readonly<Record<string, string>>,
    private readonly splitter: RegionSplitter,
  ) {
    this.merges = new MergeDriver({ storeId, peers: raftStore.peers, markDirty: (p) => raftStore.loop.markDirty(p), logger: log });
    this.regionSizes = new RegionSizeCache(config.regionSizeRefreshBeats * config.pdHeartbeatMs);
    this.keySamples = new KeySampleSchedule(config.regionKeySampleMs);
    this.helperThreads = new HelperThreads(config.helperThreadsBatch, log, undefined, (state) => metrics.setHelperThreads(state));
  }

  static async start(config: StoreConfig, logger: Logger, options: StoreServerOptions = {}): Promise<StoreServer> {
    const startedAtMs = Date.now();
    const labels = parseLabels(config.labels);
    const listen = parseHostPort(config.addr, '--addr');
    const statusListen = parseHostPort(config.statusAddr, '--status-addr');
    await mkdir(config.dataDir, { recursive: true });
    const engine = await RocksEngine.open(join(config.dataDir, 'db'), { blockCacheBytes: config.blockCacheBytes, writeBufferBytes: config.writeBufferBytes, rowCacheBytes: config.rowCacheBytes });
    const cleanups: (() => Promise<void> | void)[] = [() => engine.close()];
    try {
      const pd = await StorePdClient.connect({ endpoints: config.pd, logger });
      cleanups.push(() => pd.close());
      const storeId = await loadOrCreateStoreId(engine, pd, config.dataDir, logger);
      const log = logger.child({ storeId });
      const registry = createMetricsRegistry({ defaultLabels: { storeId: String(storeId) } });
      const metrics = new StoreMetrics(registry);
      metrics.watchEngineReads(() => engine.readStats);
      metrics.watchRowCache(() => engine.rowCacheStats);
      const channels = new ChannelCache(await channelCredentials(INSECURE));
      cleanups.push(() => channels.close());

      const ref: { server?: StoreServer } = {};
      const fatal = (err: unknown): void => {
        log.fatal({ err }, 'store failed');
        options.onFatal?.(err);
      };
      const raftStore = await RaftStore.open({
        storeId,
        clusterId: pd.clusterId,
        engine,
        raft: { electionTicks: config.raftElectionTicks, heartbeatTicks: config.raftHeartbeatTicks, quietAfterTicks: config.raftQuietAfterTicks },
        raftLogGc: { thresholdBytes: config.raftLogGcThresholdBytes, countLimit: config.raftLogGcCountLimit, hardCountLimit: config.raftLogGcHardCountLimit, checkTicks: config.raftLogGcCheckTicks },
        countKeys: config.regionKeyCount,
        tickMs: config.raftTickMs,
        entryCacheBytes: config.raftEntryCacheBytes,
        inboundMessagesMax: config.inboundMessagesMax,
        channels,
        resolveAddress: async (id) => (await pd.getStore(id)).address,
        logger: log,
        metrics,
        snapshotDir: join(config.dataDir, 'snap'),
        snapshotMetrics: new SnapshotMetrics(registry),
        onFatal: fatal,
      });
      cleanups.push(() => raftStore.stop());

      const limits = {
        keyBytesMax: config.keyBytesMax, valueBytesMax: config.valueBytesMax, batchKeysMax: config.batchKeysMax,
        scanLimitMax: config.scanLimitMax, pendingProposalsMax: config.pendingProposalsMax,
        unsettledWritesMax: config.unsettledWritesMax,
      };
      const routing = new KvRouting(storeId, raftStore.peers, limits);
      const writes = new KvWrites(engine, raftStore.loop, new LatchSet(LATCH_SLOTS), limits, metrics);
      const raw = new RawKv(routing, writes);
      // One-phase commits need a PD timestamp newer than each leadership (concurrency-manager.ts).
      const concurrency = new ConcurrencyManager(() => pd.getTimestamp(), {
        isRegionHeld: (id) => raftStore.peers.has(id),
        onSyncFailure: (err) => log.warn({ err }, 'one-phase commit: no PD timestamp for a new leadership; its regions commit in two phases until one comes'),
      });
      raftStore.setReplicaReadGate(replicaReadGate(concurrency));
      const kv = new KvService(pd.clusterId, raw, new TxnKv(routing, writes, concurrency, metrics), log.child({ component: 'kv' }), metrics);

      const grpcServer = createGrpcServer();
      grpcServer.addService(kvServiceDefinition(), kv.handlers());
      const raftLog = log.child({ component: 'raft-stream' });
      grpcServer.addService(raftTransportDefinition(), {
        Raft: (call: grpc.ServerReadableStream<DecodedRaftBatch, raft_serverpb.Done__Input>, cb: grpc.sendUnaryData<raft_serverpb.Done__Input>) => {
          const refusal = streamClusterRefusal(call.metadata, pd.clusterId, 'raft stream');
          if (refusal !== null) {
            cb(refusal);
            return;
          }
          call.on('data', (batch: DecodedRaftBatch) => {
            if (batch.droppedMalformed > 0) {
              raftStore.onMalformedMessages(batch.droppedMalformed);
              raftLog.debug({ dropped: batch.droppedMalformed, err: batch.firstMalformed }, 'dropped malformed raft messages');
            }
            if (batch.msgs.length === 0) {
              if (batch.fromStoreId > 0) raftStore.onKeepalive(batch.fromStoreId);
              return;
            }
            metrics.countRaftBatch('received'); // keepalives are not counted sent either
            for (const msg of batch.msgs) raftStore.onRaftMessage(msg);
          });
          call.on('end', () => cb(null, {}));
          call.on('error', () => undefined);
        },
        Snapshot: (call: grpc.ServerReadableStream<raft_serverpb.SnapshotChunk, raft_serverpb.Done__Input>, cb: grpc.sendUnaryData<raft_serverpb.Done__Input>) => {
          raftStore.snapshots!.receiver.handle(call, cb);
        },
      } satisfies grpc.UntypedServiceImplementation);
      const started = await startGrpcServer(grpcServer, listen.host, listen.port);
      cleanups.push(() => started.stop(500));
      const address = config.advertiseAddr !== '' ? config.advertiseAddr : started.address;

      const status = await startStatusServer({
        host: statusListen.host, port: statusListen.port, registry, logger: log,
        status: () => ref.server?.statusJson() ?? { storeId, starting: true },
        actions: new Map([
          ['/region/change-peer', async (body: unknown) => {
            if (ref.server === undefined) return { status: 503, body: { code: 'Unavailable', message: 'the store is starting' } };
            return ref.server.changePeerAction(body);
          }],
          ['/region/split', async (body: unknown) => {
            if (ref.server === undefined) return { status: 503, body: { code: 'Unavailable', message: 'the store is starting' } };
            return ref.server.splitAction(body);
          }],
        ]),
      });
      cleanups.push(() => status.stop());

      const splitter = new RegionSplitter({
        engine, pd, logger: log, limits: { sizeBytes: config.regionSplitSize, keys: config.regionSplitKeys },
        onSplit: (outcome) => metrics.countSplit(outcome),
      });
      const server = new StoreServer(storeId, pd.clusterId, address, status.address, config, engine, pd, started, raftStore, status, metrics, writes, raw, log, startedAtMs, labels, splitter);
      ref.server = server;
      await pd.putStore(server.storeMeta());
      raftStore.onUnknownRegion = () => server.discoverSoon();
      raftStore.onLeaderReady = (peer) => server.regionHeartbeat(peer);
      raftStore.onMergeApplied = (peer) => server.regionHeartbeat(peer);
      raftStore.onKeyCountSettled = (peer) => server.regionHeartbeat(peer);
      raftStore.onPrepareMergeApplied = (peer) => {
        server.regionHeartbeat(peer);
        server.merges.tick();
      };
      raftStore.onSplitApplied = (peer, regions) => server.onSplitApplied(peer, regions);
      pd.onRegionOrder((order) => server.onRegionOrder(order));
      if (raftStore.peers.size === 0) {
        await bootstrapClusterIfNeeded(pd, { self: server.storeMeta(), waitForStoresMs: config.bootstrapWaitMs, pollMs: BOOTSTRAP_POLL_MS, signal: server.abort.signal, log });
        await server.discover();
      }
      server.startWorkers();
      log.info({ address, statusAddress: status.address, regions: raftStore.peers.size, clusterId: String(pd.clusterId) }, 'store serving');
      return server;
    } catch (err) {
      for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
      throw err;
    }
  }

  storeMeta(): StoreMeta {
    return {
      id: this.storeId, address: this.address, statusAddress: this.statusAddress, labels: this.labels,
      state: 'up', version: STORE_VERSION, startTimestampMs: this.startedAtMs,
    };
  }

  /** Creates this store's replica of the bootstrap region if PD lists one and it is not here yet. */
  /**
   * A store starting without regions: creates its replica of the bootstrap region if PD lists
   * one here, waiting while PD holds no region yet (another store is bootstrapping). A store
   * joining a cluster that has moved on returns at once — its replicas come through raft — and
   * only then heartbeats: waiting here (10 s, once) kept every new store out of PD's placement
   * for that long.
   */
  private async discover(): Promise<void> {
    for (let attempt = 0; attempt < 50 && !this.stopped; attempt++) {
      const found = await lookUpBootstrapRegion(this.pd, this.storeId);
      if (found.kind === 'mine') {
        await this.raftStore.createBootstrapPeer(found.region);
        return;
      }
      if (found.kind === 'other' || this.raftStore.peers.size > 0) return;
      await sleepMs(BOOTSTRAP_POLL_MS, this.abort.signal);
    }
  }

  /** A message named a region this store lacks: look for it in PD, at most once a second. */
  private discoverSoon(): void {
    const now = Date.now();
    if (now - this.lastDiscoveryMs < 1_000 || this.stopped) return;
    this.lastDiscoveryMs = now;
    void findBootstrapRegion(this.pd, this.storeId)
      .then((region) => (region === null ? undefined : this.raftStore.createBootstrapPeer(region)))
      .catch((err: unknown) => this.log.warn({ err }, 'region discovery failed'));
  }

  private startWorkers(): void {
    const heartbeat = setInterval(() => void this.heartbeat(), this.config.pdHeartbeatMs);
    heartbeat.unref();
    const sweep = setInterval(() => void this.sweepTtl(), TTL_SWEEP_INTERVAL_MS);
    sweep.unref();
    this.timers.push(sweep);
    const gauges = setInterval(() => this.updateGauges(), 1_000);
    gauges.unref();
    const stale = setInterval(() => void this.checkStalePeers(), STALE_PEER_CHECK_MS);
    stale.unref();
    const merges = setInterval(() => this.merges.tick(), MERGE_DRIVE_INTERVAL_MS);
    merges.unref();
    this.timers.push(merges);
    const catchUps = setInterval(() => this.checkCatchUps(), CATCH_UP_CHECK_MS);
    catchUps.unref();
    this.timers.push(catchUps);
    this.timers.push(heartbeat, gauges, stale);
    // After the engine opened and the first requests ran: libuv's pool and RocksDB's threads exist.
    this.helperThreads.start();
    void this.heartbeat();
  }

  /** One TTL sweep step on every region this store leads (ttl-sweep.ts decides which and from where). */
  private async sweepTtl(): Promise<void> {
    if (this.isSweeping || this.stopped) return;
    this.isSweeping = true;
    try {
      const now = Date.now();
      for (const peer of this.raftStore.peers.values()) {
        if (!peer.isLeaderReady) continue;
        const target = peer.ttlSweepTarget;
        const start = this.ttlSweep.begin(target, now);
        if (start === undefined) continue;
        this.ttlSweep.end(target, await this.raw.sweepExpired(peer, start.from));
      }
      this.ttlSweep.retain((id) => this.raftStore.peers.get(id)?.isLeaderReady === true);
    } catch (err) {
      this.log.debug({ err }, 'TTL sweep step failed; the next one retries');
    } finally {
      this.isSweeping = false;
    }
  }

  private updateGauges(): void {
    let leaders = 0;
    let logEntries = 0;
    let quiet = 0;
    for (const peer of this.raftStore.peers.values()) {
      if (peer.isLeader) leaders++;
      if (peer.raw.isQuiet) quiet++;
      logEntries += peer.storage.lastIndex() - peer.storage.truncatedIndex;
    }
    this.metrics.setRegionCounts(this.raftStore.peers.size, leaders, quiet);
    this.metrics.setRaftLogEntries(logEntries);
    this.metrics.setQueueDepth('proposals', this.writes.pendingProposals);
  }

  /** Store heartbeat, and a region heartbeat for every region this store leads. */
  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    let leaders = 0;
    for (const peer of this.raftStore.peers.values()) {
      if (!peer.isLeader) continue;
      leaders++;
      this.regionHeartbeat(peer);
    }
    // Regions no longer led here (moved, merged, removed) leave the per-region maps.
    const isLedHere = (id: number): boolean => this.raftStore.peers.get(id)?.isLeader === true;
    for (const id of this.lastRegionBeatMs.keys()) if (!isLedHere(id)) this.lastRegionBeatMs.delete(id);
    this.regionSizes.prune(isLedHere);
    this.keySamples.prune(isLedHere);
    const disk = await diskUsage(this.config.dataDir);
    try {
      await this.pd.storeHeartbeat({
        storeId: this.storeId, ...disk, regionCount: this.raftStore.peers.size, leaderCount: leaders,
        isBusy: false, startTimestampMs: this.startedAtMs, bytesWritten: 0, keysWritten: 0, bytesRead: 0, keysRead: 0, intervalMs: this.config.pdHeartbeatMs,
      });
    } catch (err) {
      this.log.warn({ err }, 'store heartbeat failed');
    }
  }

  /**
   * Tells PD this store leads `peer`'s region (on leadership, then periodically), with the
   * region's traffic since the last beat, its approximate size on disk (flushed data only) and
   * its key count (raw and latest records): kept at apply with --region-key-count (peer.ts), else
   * the count a walk found, sampled now and then (key-recount.ts).
   */
  regionHeartbeat(peer: Peer): void {
    if (this.stopped || !peer.isLeader) return;
    const leader: PeerMeta | undefined = peer.peerById(peer.peerId);
    if (leader === undefined) return;
    const now = Date.now();
    const intervalMs = Math.max(1, now - (this.lastRegionBeatMs.get(peer.regionId) ?? this.startedAtMs));
    this.lastRegionBeatMs.set(peer.regionId, now);
    const traffic = peer.takeTraffic();
    // No exact counts kept: the count reported is a walk's, taken now and then (key-recount.ts).
    if (!this.config.regionKeyCount && this.keySamples.isDue(peer.region, traffic.keysWritten, now)) {
      this.keySamples.taken(peer.region, now);
      this.raftStore.keyRecounter.sample(peer);
    }
    const known = this.regionSizes.reusable(peer.region, traffic.keysWritten, now);
    this.metrics.countRegionSizeCheck(known !== null ? 'reused' : 'measured');
    const measuredRegion = peer.region; // the range measured (a change meanwhile measures again next time)
    const sized = known !== null ? Promise.resolve(known) : this.approximateSize(peer).then(({ sizeBytes, isComplete }) => {
      if (isComplete) this.regionSizes.set(measuredRegion, sizeBytes, now);
      return sizeBytes;
    });
    void sized.then((size) => {
      if (this.stopped || !peer.isLeader) return;
      const health = peer.memberHealth(Date.now(), this.config.maxPeerDownMs);
      this.pd.regionHeartbeat({
        region: peer.region, leader, term: peer.term, approximateSizeBytes: size, approximateKeys: peer.approximateKeys,
        ...traffic, intervalMs, pendingPeers: health.pending, downPeers: health.down.map((d) => d.peer), downSeconds: health.down.map((d) => d.downSeconds),
      });
      if (!this.stopped && peer.isLeaderReady) this.splitter.maybeSplit(peer, size);
    });
  }

  /** The region's flushed size on disk; isComplete false when a RocksDB call failed (then not kept). */
  private async approximateSize(peer: Peer): Promise<{ readonly sizeBytes: number; readonly isComplete: boolean }> {
    let total = 0;
    try {
      const start = peer.region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(peer.region.startKey).key;
      const end = peer.region.endKey.length === 0 ? null : decodeKey(peer.region.endKey).key;
      for (const cf of DATA_CFS) {
        const range = cfRangeOf(cf, start, end);
        total += await this.engine.approximateSize(range.start, range.end);
      }
    } catch (err) {
      this.log.debug({ err, regionId: peer.regionId }, 'approximate size failed');
      return { sizeBytes: total, isComplete: false };
    }
    return { sizeBytes: total, isComplete: true };
  }

  private onRegionOrder(order: RegionOrder): void {
    const peer = this.raftStore.peers.get(order.regionId);
    if (peer === undefined || !peer.isLeader) return;
    if (order.kind === 'transferLeader') {
      peer.raw.transferLeader(order.peer.id);
      this.raftStore.loop.markDirty(peer);
      return;
    }
    if (order.kind === 'addPeer' || order.kind === 'removePeer') {
      this.executeMembershipOrder(peer, { kind: order.kind, peer: order.peer }).catch((err: unknown) => {
        this.log.info({ err, order: order.kind, regionId: order.regionId }, 'PD membership order failed; PD resends it');
      });
      return;
    }
    if (order.kind === 'split') {
      const how = order.keys.length === 0 ? { sizeBytes: 0 } : { at: order.keys.map((k) => decodeKey(k).key) };
      this.splitter.split(peer, how).then(
        (outcome) => this.log.info({ regionId: order.regionId, outcome: outcome.kind, reason: outcome.kind === 'skipped' ? outcome.reason : undefined }, 'PD split order done'),
        (err: unknown) => this.log.info({ err, regionId: order.regionId }, 'PD split order failed; PD resends it'),
      );
      return;
    }
    if (order.kind === 'merge') {
      this.merges.prepare(peer, order.targetRegionId).then(
        () => this.log.info({ regionId: order.regionId, target: order.targetRegionId }, 'PD merge order: PrepareMerge applied'),
        (err: unknown) => this.log.info({ err, regionId: order.regionId, target: order.targetRegionId }, 'PD merge order refused or failed; PD resends it'),
      );
      return;
    }
    const unhandled: never = order;
    return unhandled;
  }

  /**
   * A split applied here: the leader tells PD every resulting region at once, then sends the split
   * region's heartbeat. Sent together, the heartbeat could land first: PD would shrink the region
   * before it learnt the new ones, a gap in its view that clients would route into.
   */
  onSplitApplied(peer: Peer, regions: readonly RegionMeta[]): void {
    if (this.stopped || !peer.isLeader) return;
    this.pd.reportBatchSplit(regions).then(
      () => this.regionHeartbeat(peer),
      (err: unknown) => {
        this.log.info({ err, regionId: peer.regionId }, 'ReportBatchSplit failed; region heartbeats tell PD');
        this.regionHeartbeat(peer);
      },
    );
  }

  /**
   * POST /region/split {regionId, keys?: hex user keys}: splits a region this store leads at the
   * keys, or in the middle of its keys. Answers the resulting regions once the split applied here.
   */
  async splitAction(body: unknown): Promise<{ readonly status: number; readonly body: unknown }> {
    const b = body as { regionId?: unknown; keys?: unknown } | null;
    const isHex = (k: unknown): k is string => typeof k === 'string' && /^([0-9a-fA-F]{2})*$/.test(k);
    if (b === null || typeof b !== 'object' || typeof b.regionId !== 'number' || (b.keys !== undefined && (!Array.isArray(b.keys) || !b.keys.every(isHex)))) {
      throw new FlotillaError('InvalidArgument', 'body: {regionId: number, keys?: hex user keys[]}');
    }
    const peer = this.raftStore.peers.get(b.regionId);
    if (peer === undefined || !peer.isLeaderReady) return { status: 409, body: { code: 'NotLeader', message: `store ${this.storeId} does not lead region ${b.regionId}` } };
    const keys = b.keys?.map((k) => Buffer.from(k, 'hex'));
    const outcome = await this.splitter.split(peer, keys === undefined || keys.length === 0 ? { sizeBytes: 0 } : { at: keys });
    if (outcome.kind === 'skipped') return { status: 200, body: { outcome: `skipped: ${outcome.reason}` } };
    return { status: 200, body: { outcome: 'split', regions: outcome.regions.map(regionJson) } };
  }

  /**
   * Proposes what a membership order asks (region-orders.ts decides whether and what), one
   * conf change in flight per region; resolves with what happened once it applied here.
   */
  private async executeMembershipOrder(peer: Peer, order: MembershipOrder): Promise<{ readonly outcome: string; readonly region: unknown }> {
    const plan = planMembershipOrder(peer.region, order, { leaderPeerId: peer.peerId, match: peer.progressMatch(), truncatedIndex: peer.storage.truncatedIndex });
    if (plan.kind === 'skip') {
      if (plan.reason === 'catchingUp') this.catchingUp.set(peer.regionId, order.peer.id);
      return { outcome: `skipped: ${plan.reason}`, region: peer.region };
    }
    if (this.changingRegions.has(peer.regionId)) return { outcome: 'skipped: a conf change is in flight', region: peer.region };
    this.changingRegions.add(peer.regionId);
    try {
      this.log.info({ regionId: peer.regionId, change: plan.change, peer: plan.peer }, 'proposing conf change');
      const result = await peer.proposeChangePeer(plan.change, plan.peer);
      if (result.kind === 'error') throw result.error;
      this.regionHeartbeat(peer);
      return { outcome: `applied: ${plan.change}`, region: peer.region };
    } finally {
      this.changingRegions.delete(peer.regionId);
    }
  }

  /** A learner a promotion waits for caught up (the rule of region-orders.ts): the region's heartbeat goes now. */
  private checkCatchUps(): void {
    if (this.catchingUp.size === 0 || this.stopped) return;
    for (const [regionId, learnerId] of [...this.catchingUp]) {
      const peer = this.raftStore.peers.get(regionId);
      const learner = peer?.region.peers.find((p) => p.id === learnerId);
      if (peer === undefined || !peer.isLeader || learner === undefined || learner.role !== 'learner') {
        this.catchingUp.delete(regionId);
        continue;
      }
      const plan = planMembershipOrder(peer.region, { kind: 'addPeer', peer: { ...learner, role: 'voter' } }, { leaderPeerId: peer.peerId, match: peer.progressMatch(), truncatedIndex: peer.storage.truncatedIndex });
      if (plan.kind === 'skip' && plan.reason === 'catchingUp') continue;
      this.catchingUp.delete(regionId);
      this.metrics.countCatchUpBeat();
      this.regionHeartbeat(peer);
    }
  }

  /**
   * POST /region/change-peer {regionId, kind: addLearner|addVoter|removePeer, storeId, peerId?}:
   * the admin form of PD's membership orders (PD's HTTP API cannot add such operators yet). An
   * added peer without peerId gets the id of the store's learner (a promotion) or a new one from PD.
   */
  private async changePeerAction(body: unknown): Promise<{ readonly status: number; readonly body: unknown }> {
    const b = body as { regionId?: unknown; kind?: unknown; storeId?: unknown; peerId?: unknown } | null;
    if (b === null || typeof b !== 'object' || typeof b.regionId !== 'number' || typeof b.storeId !== 'number' || !['addLearner', 'addVoter', 'removePeer'].includes(String(b.kind))) {
      throw new FlotillaError('InvalidArgument', 'body: {regionId: number, kind: addLearner|addVoter|removePeer, storeId: number, peerId?: number}');
    }
    const peer = this.raftStore.peers.get(b.regionId);
    if (peer === undefined || !peer.isLeaderReady) return { status: 409, body: { code: 'NotLeader', message: `store ${this.storeId} does not lead region ${b.regionId}` } };
    const existing = peer.region.peers.find((p) => p.storeId === b.storeId);
    const peerId = typeof b.peerId === 'number' ? b.peerId : existing?.id ?? (b.kind === 'removePeer' ? 0 : await this.pd.allocId());
    const role = b.kind === 'addLearner' ? 'learner' as const : 'voter' as const;
    const order: MembershipOrder = { kind: b.kind === 'removePeer' ? 'removePeer' : 'addPeer', peer: { id: peerId, storeId: b.storeId, role } };
    return { status: 200, body: await this.executeMembershipOrder(peer, order) };
  }

  /**
   * A replica that hears from no leader asks PD about its region: a newer membership without it
   * means it was removed while it was down (nobody will tell it otherwise) — it destroys itself
   * and leaves a tombstone. A region PD does not know by id is looked up by the replica's start
   * key: merged away while the replica was cut off (peer-lifecycle.ts mergedAwayReplicaTombstone
   * has when that is safe to conclude), it is destroyed too — else it would hold its old range for
   * ever, and this store could host none of the regions there.
   */
  private async checkStalePeers(): Promise<void> {
    for (const peer of [...this.raftStore.peers.values()]) {
      if (this.stopped || peer.isLeader) continue;
      // An uninitialized replica is judged by its silence alone: it cannot campaign (no
      // membership of its own), so raft keeps the last leader it heard as its leader for ever.
      if (peer.storage.lastIndex() === 0) {
        await this.checkUninitializedPeer(peer);
        continue;
      }
      if (!peer.hearsNoLeader) continue;
      try {
        // By id: after a split (right_derive) the replica's start key belongs to another region.
        const known = await this.pd.getRegionById(peer.regionId);
        if (known !== null) {
          const tombstone = staleReplicaTombstone(peer.region, peer.peerId, known);
          if (tombstone === null) continue;
          this.log.info({ regionId: peer.regionId, peerId: peer.peerId, confVer: peer.region.epoch.confVer, pdConfVer: known.epoch.confVer }, 'PD\'s region no longer lists this replica: it was removed');
          this.raftStore.destroyPeer(peer, tombstone);
          continue;
        }
        // Unknown by id (null, not an error: a failed call tells nothing). Region keys are encoded
        // keys, and PD's GetRegion takes one.
        const atStartKey = await this.pd.getRegionByKey(peer.region.startKey);
        const inLog = await prepareMergeTargetsInLog(this.engine, peer.regionId, peer.applied + 1, peer.storage.lastIndex());
        const mergeTargets = peer.mergeState === null ? inLog : [peer.mergeState.target, ...inLog];
        const versionHere = (id: number): number | null => this.raftStore.initializedVersionOf(id);
        // The awaits above let the store move on: act only on the replica still current and leaderless.
        if (this.stopped || this.raftStore.peers.get(peer.regionId) !== peer || !peer.hearsNoLeader) continue;
        const tombstone = mergedAwayReplicaTombstone(peer.region, { atStartKey, mergeTargets, versionHere });
        if (tombstone === null) continue;
        this.log.info({ regionId: peer.regionId, peerId: peer.peerId, version: peer.region.epoch.version, pdRegionId: atStartKey?.id, pdVersion: atStartKey?.epoch.version }, 'PD knows no region with this id and a newer one at its start key: merged away; destroying the replica');
        this.raftStore.destroyPeer(peer, tombstone);
      } catch (err) {
        this.log.debug({ err, regionId: peer.regionId }, 'stale replica check failed; tried again later');
      }
    }
  }

  /**
   * An uninitialized replica (no snapshot yet, epoch 0: no membership of its own to compare)
   * that heard nothing for --uninitialized-peer-gc-ms: if PD's region does not list its peer, it
   * was removed before a snapshot reached it (or a stale message created it) and nothing will
   * ever fill it — destroyed, with a tombstone so that no late message recreates it. A member
   * still waiting for its snapshot hears its leader's appends, and PD lists it.
   */
  private async checkUninitializedPeer(peer: Peer): Promise<void> {
    if (Date.now() - peer.lastMessageMs < this.config.uninitializedPeerGcMs) return;
    try {
      const known = await this.pd.getRegionById(peer.regionId);
      // The await let the store move on: act only on the replica still current, silent and empty.
      if (this.stopped || this.raftStore.peers.get(peer.regionId) !== peer || peer.storage.lastIndex() > 0) return;
      if (Date.now() - peer.lastMessageMs < this.config.uninitializedPeerGcMs) return;
      const tombstone = uninitializedReplicaTombstone(peer.peerId, known);
      if (tombstone === null) return;
      this.log.info({ regionId: peer.regionId, peerId: peer.peerId, pdConfVer: known?.epoch.confVer }, 'an uninitialized replica PD\'s region does not list: destroying it');
      this.metrics.countUninitializedPeerGc();
      this.raftStore.destroyPeer(peer, tombstone);
    } catch (err) {
      this.log.debug({ err, regionId: peer.regionId }, 'uninitialized replica check failed; tried again later');
    }
  }

  statusJson(): unknown {
    const regions = [...this.raftStore.peers.values()].map((p) => ({
      id: p.regionId,
      peerId: p.peerId,
      startKey: p.region.startKey.toString('hex'),
      endKey: p.region.endKey.toString('hex'),
      epoch: p.region.epoch,
      peers: p.region.peers,
      isLeader: p.isLeader,
      isQuiet: p.raw.isQuiet,
      leaderPeerId: p.leaderId,
      term: p.term,
      appliedIndex: p.applied,
      approximateKeys: p.approximateKeys,
      isKeyCountPending: p.isKeyCountPending,
      truncatedIndex: p.storage.truncatedIndex,
      firstIndex: p.storage.firstIndex(),
      lastIndex: p.storage.lastIndex(),
    }));
    return {
      storeId: this.storeId, clusterId: String(this.clusterId), address: this.address, statusAddress: this.statusAddress,
      version: STORE_VERSION, startedAtMs: this.startedAtMs, regions, pendingDestroys: this.raftStore.pendingDestroys,
      keyRecountsPending: this.raftStore.keyRecounter.pending,
      keyCountSamples: this.raftStore.keyRecounter.sampled,
      helperThreads: this.helperThreads.state,
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.abort.abort(new FlotillaError('Unavailable', 'store stopping'));
    for (const t of this.timers) clearInterval(t);
    this.helperThreads.stop();
    await this.grpcServer.stop(500);
    await this.raftStore.stop();
    this.pd.close();
    await this.status.stop();
    await this.engine.close();
    this.log.info('store stopped');
  }
}

/** Files the used-size walk visits at most (RocksDB keeps few, large files). */
const DISK_USAGE_FILES_MAX = 100_000;

/**
 * The data dir's file system (capacity, available to this process) and the bytes the store's
 * files take, for the store heartbeat. Zeros where the platform cannot say; never throws.
 */
async function diskUsage(dataDir: string): Promise<{ capacityBytes: number; availableBytes: number; usedBytes: number }> {
  let capacityBytes = 0;
  let availableBytes = 0;
  try {
    const fs = await statfs(dataDir);
    capacityBytes = fs.blocks * fs.bsize;
    availableBytes = fs.bavail * fs.bsize;
  } catch {
    // Not every platform has statfs: report unknown.
  }
  let usedBytes = 0;
  let files = 0;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (++files > DISK_USAGE_FILES_MAX) return;
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) usedBytes += await stat(path).then((st) => st.size, () => 0);
    }
  };
  await walk(dataDir);
  return { capacityBytes, availableBytes, usedBytes };
}

/** A region as the status server's JSON shows it (keys in hex, encoded). */
function regionJson(r: RegionMeta): unknown {
  return { id: r.id, startKey: r.startKey.toString('hex'), endKey: r.endKey.toString('hex'), epoch: r.epoch, peers: r.peers };
}
