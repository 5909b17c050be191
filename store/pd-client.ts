// The store's client of the placement driver: unary calls (ids, bootstrap, store registration,
// store heartbeats) through the shared PdSession (common/pd-session.ts: leader discovery, leader
// hints, cluster-id checks, deadlines), and one long-lived RegionHeartbeat stream whose responses
// carry PD's operator steps. Invariants: every request names the cluster id learnt at connect (a
// PD of another cluster is refused with ClusterIdMismatch, never served); every call has a
// deadline; while the stream is down only the newest heartbeat of each region waits, and at most
// REGION_HEARTBEATS_PENDING_MAX of them.
//
// Stream life cycle:
//
//   down ──reopen()──► discovering ──leader found──► open ──error/end/PdNotLeader──► down
//     ▲                     │ no leader                  │ (heartbeats written as they come;
//     └──── backoff ◄───────┘                            │  queued while write() is not drained)
//                                                         └──close()──► closed (terminal)

import {
  Backoff,
  createRng,
  errorFromWire,
  FlotillaError,
  type grpc,
  isFlotillaError,
  isPdRetryable,
  pdCallError,
  PdSession,
  peerFromWire,
  peerToWire,
  positiveId,
  regionFromWire,
  regionToWire,
  epochFromWire,
  storeFromWire,
  storeToWire,
  u64ToWire,
  type BackoffPolicy,
  type Logger,
  type PdRequestBody,
  type PdUnaryMethod,
  type PdUnaryMethods,
  type PeerMeta,
  type RegionEpoch,
  type RegionMeta,
  type Rng,
  type SecurityConfig,
  type StoreMeta,
  TsoClient,
} from '../common/index.js';
import type { pdpb } from '../proto/index.js';

/**
 * Region heartbeats kept while the stream is down (newest per region; the oldest region's is
 * dropped past it). A store hosts at most tens of thousands of regions; a heartbeat is ~200 bytes,
 * so this bounds the queue near 20 MB — and a dropped one is resent at the next periodic beat.
 */
export const REGION_HEARTBEATS_PENDING_MAX = 100_000;
/** How long one TSO fetch may take. */
export const TSO_TIMEOUT_MS = 3_000;
/** A stream that lived this long is healthy: the next failure starts the back-off from the start. */
export const REGION_HEARTBEAT_STREAM_HEALTHY_MS = 5_000;

/** Reopening the heartbeat stream: forever, but at most every 2 s once PD stays away. */
const STREAM_BACKOFF: BackoffPolicy = { baseDelayMs: 50, maxDelayMs: 2_000, multiplier: 2, attemptsMax: 1_000_000, totalDeadlineMs: 365 * 24 * 3_600_000 };

export interface StorePdClientOptions {
  /** PD members' client addresses (host:port). */
  readonly endpoints: readonly string[];
  readonly logger: Logger;
  readonly security?: SecurityConfig;
  /** Total time of one unary call (and of connect), retries included; default 5000. */
  readonly requestTimeoutMs?: number;
  /** How long connect() keeps looking for a PD leader; default requestTimeoutMs. */
  readonly connectTimeoutMs?: number;
  /**
   * The cluster id this store persisted at its first start: connect fails with ClusterIdMismatch
   * when PD serves another cluster. Omit on a first start.
   */
  readonly expectedClusterId?: bigint;
  /** Jitter of the back-offs (seeded in tests); default seeded from the clock. */
  readonly rng?: Rng;
}

export interface StoreHeartbeatStats {
  readonly storeId: number;
  readonly capacityBytes: number;
  readonly availableBytes: number;
  readonly usedBytes: number;
  readonly regionCount: number;
  readonly leaderCount: number;
  readonly isBusy: boolean;
  readonly startTimestampMs: number;
  readonly bytesWritten: number;
  readonly keysWritten: number;
  readonly bytesRead: number;
  readonly keysRead: number;
  /** The window the traffic counters cover, ending now. */
  readonly intervalMs: number;
}

export interface RegionHeartbeat {
  readonly region: RegionMeta;
  readonly leader: PeerMeta;
  readonly term: number;
  readonly approximateSizeBytes: number;
  readonly approximateKeys: number;
  readonly bytesWritten: number;
  readonly keysWritten: number;
  readonly bytesRead: number;
  readonly keysRead: number;
  /** The window the traffic counters cover, ending now. */
  readonly intervalMs: number;
  readonly pendingPeers: readonly PeerMeta[];
  readonly downPeers: readonly PeerMeta[];
  /** How long each of downPeers has been silent, seconds (same order); 0 when omitted. */
  readonly downSeconds?: readonly number[];
}

/**
 * An operator step PD sent back on the heartbeat stream, for the region's leader. The store
 * ignores a step whose epoch is not its region's current one. A split with no keys asks the
 * store to choose the split key itself (PD's Approximate/Scan policy).
 */
export type RegionOrder =
  | { readonly kind: 'addPeer'; readonly regionId: number; readonly epoch: RegionEpoch; readonly peer: PeerMeta } // peer.role 'learner' for AddLearnerNode
  | { readonly kind: 'removePeer'; readonly regionId: number; readonly epoch: RegionEpoch; readonly peer: PeerMeta }
  | { readonly kind: 'transferLeader'; readonly regionId: number; readonly epoch: RegionEpoch; readonly peer: PeerMeta }
  | { readonly kind: 'split'; readonly regionId: number; readonly epoch: RegionEpoch; readonly keys: readonly Buffer[] }
  | { readonly kind: 'merge'; readonly regionId: number; readonly epoch: RegionEpoch; readonly targetRegionId: number };

export class StorePdClient {
  private readonly log: Logger;
  private readonly rng: Rng;
  private isClosed = false;
  // Region heartbeat stream state.
  private stream: grpc.ClientDuplexStream<pdpb.RegionHeartbeatRequest__Input, pdpb.RegionHeartbeatResponse> | null = null;
  private isStreamDrained = true;
  private streamOpenedAtMs = 0;
  private isReopenScheduled = false;
  private streamBackoff: Backoff;
  private readonly pending = new Map<number, RegionHeartbeat>();
  private readonly orderHandlers: ((order: RegionOrder) => void)[] = [];
  /** PD's TSO over one stream, opened on first use. */
  private tso: TsoClient | null = null;

  private constructor(
    private readonly session: PdSession,
    options: StorePdClientOptions,
    rng: Rng,
  ) {
    this.log = options.logger.child({ component: 'pd-client' });
    this.rng = rng;
    this.streamBackoff = new Backoff(STREAM_BACKOFF, rng, Date.now());
  }

  /**
   * Finds the PD leader (GetMembers on each endpoint, retried with back-off until connectTimeoutMs)
   * and learns the cluster id. Unavailable, in one line naming every endpoint, if none answers;
   * ClusterIdMismatch if `expectedClusterId` is given and PD serves another cluster.
   */
  static async connect(options: StorePdClientOptions): Promise<StorePdClient> {
    const rng = options.rng ?? createRng(Date.now() % 0x7fff_ffff);
    const session = await PdSession.connect({ ...options, component: 'pd-client', rng });
    return new StorePdClient(session, options, rng);
  }

  /** The cluster id learnt at connect. */
  get clusterId(): bigint {
    return this.session.clusterId;
  }

  /** A new id, unique in the cluster (for stores, regions and peers). */
  async allocId(): Promise<number> {
    const resp = await this.call('AllocID', {});
    return positiveId(resp.id, 'AllocIDResponse.id');
  }

  async isBootstrapped(): Promise<boolean> {
    const resp = await this.call('IsBootstrapped', {});
    return resp.bootstrapped;
  }

  /**
   * Bootstraps the cluster with the first store and region. 'already-bootstrapped' when another
   * bootstrap won. A retry after an unknown outcome (our first attempt may have applied) is told
   * apart by the region id: it comes from AllocID, so if PD knows that region, our bootstrap won.
   */
  async bootstrap(store: StoreMeta, region: RegionMeta): Promise<'bootstrapped' | 'already-bootstrapped'> {
    try {
      await this.call('Bootstrap', { store: storeToWire(store), region: regionToWire(region) });
      return 'bootstrapped';
    } catch (err) {
      if (!isFlotillaError(err, 'AlreadyBootstrapped')) throw err;
    }
    const known = await this.call('GetRegionByID', { regionId: String(region.id) }).catch((err: unknown) => {
      if (isFlotillaError(err, 'RegionNotFound')) return null;
      throw err;
    });
    return known?.region !== null && known?.region !== undefined ? 'bootstrapped' : 'already-bootstrapped';
  }

  /** Registers the store or updates its address, labels and version. StoreTombstone for a removed store. */
  async putStore(store: StoreMeta): Promise<void> {
    await this.call('PutStore', { store: storeToWire(store) }, store.id);
  }

  /** The store as PD knows it; StoreNotFound if unknown. */
  async getStore(storeId: number): Promise<StoreMeta> {
    const resp = await this.call('GetStore', { storeId: String(storeId) });
    return storeFromWire(resp.store, 'GetStoreResponse.store');
  }

  /** Every store PD knows but the tombstones. */
  async getAllStores(): Promise<StoreMeta[]> {
    const resp = await this.call('GetAllStores', { excludeTombstoneStores: true });
    return resp.stores.map((s, i) => storeFromWire(s, `GetAllStoresResponse.stores[${i}]`));
  }

  /** The region containing the encoded key, or null when PD knows none. */
  async getRegionByKey(key: Buffer): Promise<RegionMeta | null> {
    const resp = await this.call('GetRegion', { regionKey: key });
    return resp.region === null ? null : regionFromWire(resp.region, 'GetRegionResponse.region');
  }

  /** Ids for `count` new regions split off `region` (each with one peer id per peer of it), in key order. */
  async askBatchSplit(region: RegionMeta, count: number): Promise<{ readonly newRegionId: number; readonly newPeerIds: readonly number[] }[]> {
    const resp = await this.call('AskBatchSplit', { region: regionToWire(region), splitCount: count });
    if (resp.ids.length !== count) throw new FlotillaError('Internal', `AskBatchSplit answered ${resp.ids.length} ids for ${count} regions`);
    return resp.ids.map((id, i) => {
      const newPeerIds = id.newPeerIds.map((p) => positiveId(p, `AskBatchSplitResponse.ids[${i}].newPeerIds`));
      if (newPeerIds.length !== region.peers.length) throw new FlotillaError('Internal', `AskBatchSplit answered ${newPeerIds.length} peer ids for ${region.peers.length} peers`);
      return { newRegionId: positiveId(id.newRegionId, `AskBatchSplitResponse.ids[${i}].newRegionId`), newPeerIds };
    });
  }

  /** Tells PD every region a split produced (the original included), in key order. */
  async reportBatchSplit(regions: readonly RegionMeta[]): Promise<void> {
    await this.call('ReportBatchSplit', { regions: regions.map(regionToWire) });
  }

  /** The region with this id as PD knows it, or null when PD knows none. */
  async getRegionById(regionId: number): Promise<RegionMeta | null> {
    const resp = await this.call('GetRegionByID', { regionId: String(regionId) }).catch((err: unknown) => {
      if (isFlotillaError(err, 'RegionNotFound')) return null;
      throw err;
    });
    return resp === null || resp.region === null ? null : regionFromWire(resp.region, 'GetRegionResponse.region');
  }

  /** The cluster's max-replicas setting. */
  async maxReplicas(): Promise<number> {
    const resp = await this.call('GetClusterConfig', {});
    return resp.cluster?.maxPeerCount ?? 3;
  }

  /** Reports the store's load. StoreTombstone tells a removed store to stop; StoreNotFound before PutStore. */
  async storeHeartbeat(stats: StoreHeartbeatStats): Promise<void> {
    const nowMs = Date.now();
    await this.call('StoreHeartbeat', { stats: storeStatsToWire(stats, nowMs) }, stats.storeId);
  }

  /**
   * Sends a region heartbeat on the stream. Never throws and never waits: while the stream is
   * down or not drained the heartbeat waits, replacing an older one of the same region.
   */
  regionHeartbeat(hb: RegionHeartbeat): void {
    if (this.isClosed) return;
    if (this.stream !== null && this.isStreamDrained && this.pending.size === 0) {
      this.writeHeartbeat(this.stream, hb);
      return;
    }
    this.enqueue(hb);
    if (this.stream === null) this.scheduleReopen(0);
  }

  /** Registers a handler for operator steps PD sends; a throwing handler is logged, not fatal. */
  onRegionOrder(handler: (order: RegionOrder) => void): void {
    this.orderHandlers.push(handler);
  }

  /** Heartbeats waiting for the stream (for /status and tests). */
  get pendingRegionHeartbeats(): number {
    return this.pending.size;
  }

  /** Whether the region heartbeat stream is open now. */
  get isRegionStreamOpen(): boolean {
    return this.stream !== null;
  }

  /** The address of the PD leader as last known. */
  get leaderAddress(): string {
    return this.session.leaderAddress;
  }

  /**
   * One fresh timestamp from PD's TSO: callers of one event-loop turn share one request on a
   * long-lived stream to the leader (common/tso-client.ts). Used once per region leadership
   * before its first one-phase commit and for the TSO fence after each batch of one-phase commits
   * (concurrency-manager.ts). No retry here: a failure is reported, and the caller tries later.
   */
  async getTimestamp(): Promise<bigint> {
    const leader = await this.session.leaderClient(Date.now() + TSO_TIMEOUT_MS);
    if (this.tso === null) this.tso = new TsoClient({ client: leader.client, clusterId: this.clusterId, requestTimeoutMs: TSO_TIMEOUT_MS });
    else this.tso.setClient(leader.client);
    try {
      return await this.tso.getTimestamp();
    } catch (err) {
      const typed = pdCallError(err, 'PD Tso');
      this.session.reportFailure(leader, typed);
      throw typed;
    }
  }

  /** Stops the stream, aborts calls in their back-off, closes the channels. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.pending.clear();
    const stream = this.stream;
    this.stream = null;
    stream?.cancel();
    this.tso?.close();
    this.session.close();
  }

  /** One unary call through the session (leader following, deadline, typed errors). */
  private call<K extends PdUnaryMethod>(method: K, body: PdRequestBody<K>, senderId = 0): Promise<PdUnaryMethods[K][1]> {
    return this.session.unary(method, body, { senderId });
  }

  // ───────────────────────────── Region heartbeat stream ─────────────────────────────

  private enqueue(hb: RegionHeartbeat): void {
    // Delete first so the region moves to the back: the Map's order is then oldest-first.
    this.pending.delete(hb.region.id);
    this.pending.set(hb.region.id, hb);
    if (this.pending.size > REGION_HEARTBEATS_PENDING_MAX) {
      const oldest = this.pending.keys().next();
      if (oldest.done !== true) this.pending.delete(oldest.value);
    }
  }

  private writeHeartbeat(stream: grpc.ClientDuplexStream<pdpb.RegionHeartbeatRequest__Input, pdpb.RegionHeartbeatResponse>, hb: RegionHeartbeat): void {
    const nowMs = Date.now();
    this.isStreamDrained = stream.write(regionHeartbeatToWire(hb, this.clusterId, nowMs));
  }

  /** Writes waiting heartbeats, oldest first, until the stream pushes back. */
  private flushPending(): void {
    const stream = this.stream;
    if (stream === null) return;
    for (const [regionId, hb] of this.pending) {
      if (!this.isStreamDrained) return;
      this.pending.delete(regionId);
      this.writeHeartbeat(stream, hb);
    }
  }

  private scheduleReopen(delayMs: number): void {
    if (this.isReopenScheduled || this.isClosed || this.stream !== null) return;
    this.isReopenScheduled = true;
    const timer = setTimeout(() => {
      this.isReopenScheduled = false;
      this.reopen().catch((err: unknown) => {
        this.log.warn({ err }, 'region heartbeat stream: cannot reach a PD leader; retrying');
        this.scheduleReopenAfterFailure();
      });
    }, delayMs);
    timer.unref();
  }

  private scheduleReopenAfterFailure(): void {
    let delay = this.streamBackoff.next(Date.now());
    if (delay === null) {
      this.streamBackoff = new Backoff(STREAM_BACKOFF, this.rng, Date.now());
      delay = STREAM_BACKOFF.maxDelayMs;
    }
    this.scheduleReopen(delay);
  }

  /** Finds the leader if the last one failed, opens the stream on it and flushes what waits. */
  private async reopen(): Promise<void> {
    if (this.isClosed || this.stream !== null) return;
    const target = await this.session.leaderClient();
    if (this.isClosed || this.stream !== null) return;
    const stream = target.client.RegionHeartbeat();
    this.stream = stream;
    this.isStreamDrained = true;
    this.streamOpenedAtMs = Date.now();
    let hasFailed = false;
    const fail = (reason: string, err?: FlotillaError): void => {
      if (hasFailed) return;
      hasFailed = true;
      if (this.stream === stream) this.stream = null;
      stream.cancel();
      if (this.isClosed) return;
      this.log.warn({ err, reason, leader: target.address }, 'region heartbeat stream closed; reopening');
      if (Date.now() - this.streamOpenedAtMs >= REGION_HEARTBEAT_STREAM_HEALTHY_MS) this.streamBackoff = new Backoff(STREAM_BACKOFF, this.rng, Date.now());
      this.session.reportFailure(target, err ?? new FlotillaError('Unavailable', `region heartbeat stream: ${reason}`));
      this.scheduleReopenAfterFailure();
    };
    stream.on('data', (resp: pdpb.RegionHeartbeatResponse) => {
      const leaderProblem = this.onHeartbeatResponse(resp);
      if (leaderProblem !== null) fail('PD answered that it cannot serve heartbeats', leaderProblem);
    });
    stream.on('drain', () => {
      this.isStreamDrained = true;
      this.flushPending();
    });
    stream.on('error', (err) => fail('stream error', pdCallError(err, 'PD RegionHeartbeat stream')));
    stream.on('end', () => fail('PD ended the stream'));
    this.flushPending();
  }

  /**
   * Handles one response: an operator step goes to the handlers; a header error is logged. Returns
   * the error when it says another PD member should be asked (the stream then reopens there).
   */
  private onHeartbeatResponse(resp: pdpb.RegionHeartbeatResponse): FlotillaError | null {
    const error = resp.header?.error;
    if (error !== null && error !== undefined) {
      const wire = errorFromWire(error);
      const typed = new FlotillaError(wire.code, `PD RegionHeartbeat (region ${resp.regionId}): ${wire.message}`, { details: wire.details });
      if (isPdRetryable(typed) && typed.code !== 'ServerIsBusy') return typed;
      const level = typed.code === 'ClusterIdMismatch' ? 'error' : 'warn';
      this.log[level]({ err: typed, regionId: resp.regionId }, 'PD refused a region heartbeat');
      return null;
    }
    if (resp.step === undefined) return null;
    let order: RegionOrder | null;
    try {
      order = regionOrderFromWire(resp);
    } catch (err) {
      this.log.warn({ err, regionId: resp.regionId, step: resp.step }, 'PD sent a malformed operator step; ignored');
      return null;
    }
    if (order === null) {
      this.log.warn({ regionId: resp.regionId, step: resp.step }, 'PD sent an operator step this store does not support; ignored');
      return null;
    }
    for (const handler of this.orderHandlers) {
      try {
        handler(order);
      } catch (err) {
        this.log.error({ err, regionId: order.regionId, kind: order.kind }, 'region order handler failed');
      }
    }
    return null;
  }
}

// ───────────────────────────── Wire conversion ─────────────────────────────

function intervalEndingAt(nowMs: number, intervalMs: number): pdpb.TimeInterval__Input {
  return { startTimestamp: String(Math.max(0, nowMs - intervalMs)), endTimestamp: String(nowMs) };
}

function storeStatsToWire(s: StoreHeartbeatStats, nowMs: number): pdpb.StoreStats__Input {
  return {
    storeId: String(s.storeId),
    capacity: String(s.capacityBytes),
    available: String(s.availableBytes),
    usedSize: String(s.usedBytes),
    regionCount: s.regionCount,
    leaderCount: s.leaderCount,
    startTime: String(s.startTimestampMs),
    isBusy: s.isBusy,
    bytesWritten: String(s.bytesWritten),
    keysWritten: String(s.keysWritten),
    bytesRead: String(s.bytesRead),
    keysRead: String(s.keysRead),
    interval: intervalEndingAt(nowMs, s.intervalMs),
  };
}

export function regionHeartbeatToWire(hb: RegionHeartbeat, clusterId: bigint, nowMs: number): pdpb.RegionHeartbeatRequest__Input {
  return {
    header: { clusterId: u64ToWire(clusterId), senderId: String(hb.leader.storeId) },
    region: regionToWire(hb.region),
    leader: peerToWire(hb.leader),
    downPeers: hb.downPeers.map((peer, i) => ({ peer: peerToWire(peer), downSeconds: String(hb.downSeconds?.[i] ?? 0) })),
    pendingPeers: hb.pendingPeers.map(peerToWire),
    bytesWritten: String(hb.bytesWritten),
    bytesRead: String(hb.bytesRead),
    keysWritten: String(hb.keysWritten),
    keysRead: String(hb.keysRead),
    approximateSize: String(hb.approximateSizeBytes),
    approximateKeys: String(hb.approximateKeys),
    term: String(hb.term),
    interval: intervalEndingAt(nowMs, hb.intervalMs),
  };
}

/** The operator step of a heartbeat response; null for a step this store does not run (ChangePeerV2). */
export function regionOrderFromWire(resp: pdpb.RegionHeartbeatResponse): RegionOrder | null {
  const regionId = positiveId(resp.regionId, 'regionId');
  const epoch = epochFromWire(resp.regionEpoch, 'regionEpoch');
  switch (resp.step) {
    case 'changePeer': {
      const change = resp.changePeer;
      if (change === null || change === undefined) throw new FlotillaError('InvalidArgument', 'changePeer: is required');
      const peer = peerFromWire(change.peer, 'changePeer.peer');
      switch (change.changeType) {
        case 'AddNode':
          return { kind: 'addPeer', regionId, epoch, peer: { ...peer, role: 'voter' } };
        case 'AddLearnerNode':
          return { kind: 'addPeer', regionId, epoch, peer: { ...peer, role: 'learner' } };
        case 'RemoveNode':
          return { kind: 'removePeer', regionId, epoch, peer };
        default:
          throw new FlotillaError('InvalidArgument', `changePeer.changeType: unknown ${String(change.changeType)}`);
      }
    }
    case 'transferLeader':
      return { kind: 'transferLeader', regionId, epoch, peer: peerFromWire(resp.transferLeader?.peer, 'transferLeader.peer') };
    case 'splitRegion':
      return { kind: 'split', regionId, epoch, keys: (resp.splitRegion?.keys ?? []).map((k) => Buffer.from(k)) };
    case 'merge':
      return { kind: 'merge', regionId, epoch, targetRegionId: positiveId(resp.merge?.target?.id ?? '0', 'merge.target.id') };
    case 'changePeerV2':
    case undefined:
      return null;
  }
}
