// The store's client of the placement driver: unary calls (ids, bootstrap, store registration,
// store heartbeats) that follow PD leader changes, and one long-lived RegionHeartbeat stream whose
// responses carry PD's operator steps. Invariants: every request names the cluster id learnt at
// connect (a PD of another cluster is refused with ClusterIdMismatch, never served); every call
// has a deadline; while the stream is down only the newest heartbeat of each region waits, and at
// most REGION_HEARTBEATS_PENDING_MAX of them.
//
// Stream life cycle:
//
//   down ──reopen()──► discovering ──leader found──► open ──error/end/PdNotLeader──► down
//     ▲                     │ no leader                  │ (heartbeats written as they come;
//     └──── backoff ◄───────┘                            │  queued while write() is not drained)
//                                                         └──close()──► closed (terminal)

import {
  Backoff,
  ChannelCache,
  channelCredentials,
  createRng,
  errorFromGrpc,
  errorFromWire as commonErrorFromWire,
  FlotillaError,
  type grpc,
  INSECURE,
  isFlotillaError,
  peerFromWire,
  peerToWire,
  positiveId,
  regionFromWire,
  regionToWire,
  epochFromWire,
  sleepMs,
  storeFromWire,
  storeToWire,
  u64FromWire,
  u64ToWire,
  type BackoffPolicy,
  type Logger,
  type PeerMeta,
  type RegionEpoch,
  type RegionMeta,
  type Rng,
  type SecurityConfig,
  type StoreMeta,
} from '../common/index.js';
import { loadProtos, type errorpb, type pdpb } from '../proto/index.js';

/** Default total time one unary call may take, retries and leader changes included. */
export const PD_REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
/**
 * One attempt's deadline (capped by what is left of the call's): a frozen PD leader costs at most
 * this before the client looks for another, well under the default total.
 */
export const PD_ATTEMPT_TIMEOUT_MS_MAX = 2_000;
/** GetMembers per endpoint during leader discovery: a live member answers in milliseconds. */
export const PD_DISCOVERY_TIMEOUT_MS_MAX = 1_000;
/**
 * Region heartbeats kept while the stream is down (newest per region; the oldest region's is
 * dropped past it). A store hosts at most tens of thousands of regions; a heartbeat is ~200 bytes,
 * so this bounds the queue near 20 MB — and a dropped one is resent at the next periodic beat.
 */
export const REGION_HEARTBEATS_PENDING_MAX = 100_000;
/** A stream that lived this long is healthy: the next failure starts the back-off from the start. */
export const REGION_HEARTBEAT_STREAM_HEALTHY_MS = 5_000;

/** Retries of a unary call: fast first (a leader change takes ~an election), capped at 500 ms. */
const UNARY_BACKOFF: Omit<BackoffPolicy, 'totalDeadlineMs'> = { baseDelayMs: 20, maxDelayMs: 500, multiplier: 2, attemptsMax: 1_000 };
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

interface PdLeader {
  readonly address: string;
  readonly client: pdpb.PDClient;
}

type UnaryMethod<Req, Resp> = (req: Req, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, resp?: Resp) => void) => grpc.ClientUnaryCall;
type WithResponseHeader = { header: pdpb.ResponseHeader | null };

/** PD's unary methods this client calls, with their request and response types. */
interface PdUnaryMethods {
  GetMembers: [pdpb.GetMembersRequest__Input, pdpb.GetMembersResponse];
  AllocID: [pdpb.AllocIDRequest__Input, pdpb.AllocIDResponse];
  IsBootstrapped: [pdpb.IsBootstrappedRequest__Input, pdpb.IsBootstrappedResponse];
  Bootstrap: [pdpb.BootstrapRequest__Input, pdpb.BootstrapResponse];
  PutStore: [pdpb.PutStoreRequest__Input, pdpb.PutStoreResponse];
  GetStore: [pdpb.GetStoreRequest__Input, pdpb.GetStoreResponse];
  GetRegionByID: [pdpb.GetRegionByIDRequest__Input, pdpb.GetRegionResponse];
  GetRegion: [pdpb.GetRegionRequest__Input, pdpb.GetRegionResponse];
  GetAllStores: [pdpb.GetAllStoresRequest__Input, pdpb.GetAllStoresResponse];
  GetClusterConfig: [pdpb.GetClusterConfigRequest__Input, pdpb.GetClusterConfigResponse];
  StoreHeartbeat: [pdpb.StoreHeartbeatRequest__Input, pdpb.StoreHeartbeatResponse];
}

export class StorePdClient {
  private readonly log: Logger;
  private readonly channels: ChannelCache;
  private readonly rng: Rng;
  private readonly requestTimeoutMs: number;
  /** Endpoints to ask in discovery: the configured ones, then members' client URLs learnt since. */
  private readonly knownAddresses: string[];
  /** null after the leader failed, until a discovery finds one. */
  private leader: PdLeader | null;
  private lastLeaderAddress: string;
  private discovering: Promise<PdLeader> | null = null;
  private readonly closing = new AbortController();
  private isClosed = false;
  // Region heartbeat stream state.
  private stream: grpc.ClientDuplexStream<pdpb.RegionHeartbeatRequest__Input, pdpb.RegionHeartbeatResponse> | null = null;
  private isStreamDrained = true;
  private streamOpenedAtMs = 0;
  private isReopenScheduled = false;
  private streamBackoff: Backoff;
  private readonly pending = new Map<number, RegionHeartbeat>();
  private readonly orderHandlers: ((order: RegionOrder) => void)[] = [];

  private constructor(
    readonly clusterId: bigint,
    leader: PdLeader,
    channels: ChannelCache,
    options: StorePdClientOptions,
    rng: Rng,
  ) {
    this.log = options.logger.child({ component: 'pd-client' });
    this.channels = channels;
    this.rng = rng;
    this.requestTimeoutMs = options.requestTimeoutMs ?? PD_REQUEST_TIMEOUT_MS_DEFAULT;
    this.knownAddresses = [...options.endpoints];
    this.leader = leader;
    this.lastLeaderAddress = leader.address;
    this.streamBackoff = new Backoff(STREAM_BACKOFF, rng, Date.now());
  }

  /**
   * Finds the PD leader (GetMembers on each endpoint, retried with back-off until requestTimeoutMs)
   * and learns the cluster id. Unavailable, in one line naming every endpoint, if none answers;
   * ClusterIdMismatch if `expectedClusterId` is given and PD serves another cluster.
   */
  static async connect(options: StorePdClientOptions): Promise<StorePdClient> {
    if (options.endpoints.length === 0) throw new FlotillaError('ConfigInvalid', 'PD client: no PD endpoints given');
    const requestTimeoutMs = options.requestTimeoutMs ?? PD_REQUEST_TIMEOUT_MS_DEFAULT;
    const timeoutMs = options.connectTimeoutMs ?? requestTimeoutMs;
    if (!(requestTimeoutMs > 0) || !(timeoutMs > 0)) throw new FlotillaError('ConfigInvalid', `PD client: requestTimeoutMs ${requestTimeoutMs} and connectTimeoutMs ${timeoutMs} must be positive`);
    const rng = options.rng ?? createRng(Date.now() % 0x7fff_ffff);
    const channels = new ChannelCache(await channelCredentials(options.security ?? INSECURE));
    try {
      const deadlineMs = Date.now() + timeoutMs;
      const backoff = new Backoff({ ...UNARY_BACKOFF, totalDeadlineMs: timeoutMs }, rng, Date.now());
      for (;;) {
        const found = await discoverLeader(channels, options.endpoints, deadlineMs, options.expectedClusterId ?? 0n);
        if (found.kind === 'found') {
          const client = new StorePdClient(found.clusterId, found.leader, channels, options, rng);
          client.learnMembers(found.memberAddresses);
          client.log.info({ clusterId: String(found.clusterId), leader: found.leader.address }, 'connected to PD');
          return client;
        }
        const delay = backoff.next(Date.now());
        if (delay === null) throw new FlotillaError('Unavailable', `no PD leader reachable at ${options.endpoints.join(', ')} within ${timeoutMs} ms (${found.failures.join('; ')})`);
        await sleepMs(delay);
      }
    } catch (err) {
      channels.close();
      throw err;
    }
  }

  /** A new id, unique in the cluster (for stores, regions and peers). */
  async allocId(): Promise<number> {
    const resp = await this.call('AllocID', (header) => ({ header }));
    return positiveId(resp.id, 'AllocIDResponse.id');
  }

  async isBootstrapped(): Promise<boolean> {
    const resp = await this.call('IsBootstrapped', (header) => ({ header }));
    return resp.bootstrapped;
  }

  /**
   * Bootstraps the cluster with the first store and region. 'already-bootstrapped' when another
   * bootstrap won. A retry after an unknown outcome (our first attempt may have applied) is told
   * apart by the region id: it comes from AllocID, so if PD knows that region, our bootstrap won.
   */
  async bootstrap(store: StoreMeta, region: RegionMeta): Promise<'bootstrapped' | 'already-bootstrapped'> {
    try {
      await this.call('Bootstrap', (header) => ({ header, store: storeToWire(store), region: regionToWire(region) }));
      return 'bootstrapped';
    } catch (err) {
      if (!isFlotillaError(err, 'AlreadyBootstrapped')) throw err;
    }
    const known = await this.call('GetRegionByID', (header) => ({ header, regionId: String(region.id) })).catch((err: unknown) => {
      if (isFlotillaError(err, 'RegionNotFound')) return null;
      throw err;
    });
    return known?.region !== null && known?.region !== undefined ? 'bootstrapped' : 'already-bootstrapped';
  }

  /** Registers the store or updates its address, labels and version. StoreTombstone for a removed store. */
  async putStore(store: StoreMeta): Promise<void> {
    await this.call('PutStore', (header) => ({ header: { ...header, senderId: String(store.id) }, store: storeToWire(store) }));
  }

  /** The store as PD knows it; StoreNotFound if unknown. */
  async getStore(storeId: number): Promise<StoreMeta> {
    const resp = await this.call('GetStore', (header) => ({ header, storeId: String(storeId) }));
    return storeFromWire(resp.store, 'GetStoreResponse.store');
  }

  /** Every store PD knows but the tombstones. */
  async getAllStores(): Promise<StoreMeta[]> {
    const resp = await this.call('GetAllStores', (header) => ({ header, excludeTombstoneStores: true }));
    return resp.stores.map((s, i) => storeFromWire(s, `GetAllStoresResponse.stores[${i}]`));
  }

  /** The region containing the encoded key, or null when PD knows none. */
  async getRegionByKey(key: Buffer): Promise<RegionMeta | null> {
    const resp = await this.call('GetRegion', (header) => ({ header, regionKey: key }));
    return resp.region === null ? null : regionFromWire(resp.region, 'GetRegionResponse.region');
  }

  /** The cluster's max-replicas setting. */
  async maxReplicas(): Promise<number> {
    const resp = await this.call('GetClusterConfig', (header) => ({ header }));
    return resp.cluster?.maxPeerCount ?? 3;
  }

  /** Reports the store's load. StoreTombstone tells a removed store to stop; StoreNotFound before PutStore. */
  async storeHeartbeat(stats: StoreHeartbeatStats): Promise<void> {
    const nowMs = Date.now();
    await this.call('StoreHeartbeat', (header) => ({ header: { ...header, senderId: String(stats.storeId) }, stats: storeStatsToWire(stats, nowMs) }));
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
    return this.lastLeaderAddress;
  }

  /** Stops the stream, aborts calls in their back-off, closes the channels. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closing.abort(new FlotillaError('Unavailable', 'PD client closed'));
    this.pending.clear();
    const stream = this.stream;
    this.stream = null;
    stream?.cancel();
    this.channels.close();
  }

  // ───────────────────────────── Unary calls ─────────────────────────────

  /**
   * One unary call: the cluster id goes in the header; a response-header error or gRPC error
   * becomes a typed FlotillaError; PdNotLeader, Unavailable and an attempt's deadline send the
   * client to find the leader again and retry with back-off until requestTimeoutMs.
   */
  private async call<K extends Exclude<keyof PdUnaryMethods, 'GetMembers'>>(
    method: K,
    build: (header: pdpb.RequestHeader__Input) => PdUnaryMethods[K][0],
  ): Promise<PdUnaryMethods[K][1]> {
    const startMs = Date.now();
    const deadlineMs = startMs + this.requestTimeoutMs;
    const backoff = new Backoff({ ...UNARY_BACKOFF, totalDeadlineMs: this.requestTimeoutMs }, this.rng, startMs);
    const request = build({ clusterId: u64ToWire(this.clusterId), senderId: '0' });
    for (;;) {
      this.throwIfClosed();
      let leader: PdLeader | null = null;
      try {
        leader = await this.currentLeader();
        const attemptDeadlineMs = Math.min(deadlineMs, Date.now() + PD_ATTEMPT_TIMEOUT_MS_MAX);
        const resp = await unary<PdUnaryMethods[K][0], PdUnaryMethods[K][1]>(leader.client, method, request, attemptDeadlineMs);
        this.checkHeader(resp, method);
        return resp;
      } catch (err) {
        const typed = toFlotillaError(err, `PD ${method}`);
        if (!isLeaderProblem(typed)) throw typed;
        if (leader !== null) this.forgetLeader(leader);
        const delay = backoff.next(Date.now());
        if (delay === null || this.isClosed) {
          throw new FlotillaError(typed.code, `PD ${method}: no answer from a PD leader within ${this.requestTimeoutMs} ms (last: ${typed.message})`, { cause: typed, details: typed.details });
        }
        this.log.debug({ method, err: typed, delayMs: delay }, 'PD call retried');
        await sleepMs(delay, this.closing.signal).catch(() => {
          throw new FlotillaError('Unavailable', `PD ${method}: PD client closed`);
        });
      }
    }
  }

  /** Response header: an error there is the call's error; a header of another cluster is refused. */
  private checkHeader(resp: WithResponseHeader, what: string): void {
    const error = resp.header?.error;
    if (error !== null && error !== undefined) throw errorFromWire(error, `PD ${what}`);
    const answeredBy = u64FromWire(resp.header?.clusterId ?? '0', 'header.clusterId');
    if (answeredBy !== this.clusterId) {
      throw new FlotillaError('ClusterIdMismatch', `PD ${what}: answered by cluster ${answeredBy}, this store belongs to cluster ${this.clusterId}`);
    }
  }

  private throwIfClosed(): void {
    if (this.isClosed) throw new FlotillaError('Unavailable', 'PD client closed');
  }

  /**
   * The leader to call: the known one, or — after it failed — one discovery shared by every
   * caller waiting for it. A discovery that finds no leader rejects (Unavailable: the caller backs
   * off and tries again, starting a new one); one that finds another cluster rejects with
   * ClusterIdMismatch, which no caller retries.
   */
  private currentLeader(): Promise<PdLeader> {
    if (this.leader !== null) return Promise.resolve(this.leader);
    this.discovering ??= this.discover().finally(() => {
      this.discovering = null;
    });
    return this.discovering;
  }

  private async discover(): Promise<PdLeader> {
    const found = await discoverLeader(this.channels, this.knownAddresses, Date.now() + PD_DISCOVERY_TIMEOUT_MS_MAX * 2, this.clusterId);
    if (found.kind !== 'found') throw new FlotillaError('Unavailable', `no PD leader reachable at ${this.knownAddresses.join(', ')} (${found.failures.join('; ')})`);
    this.learnMembers(found.memberAddresses);
    if (found.leader.address !== this.lastLeaderAddress) this.log.info({ leader: found.leader.address, previous: this.lastLeaderAddress }, 'PD leader changed');
    if (!this.isClosed) {
      this.leader = found.leader;
      this.lastLeaderAddress = found.leader.address;
    }
    return found.leader;
  }

  /** `stale` failed: the next caller finds the leader again (unless another already replaced it). */
  private forgetLeader(stale: PdLeader): void {
    if (this.leader === stale) this.leader = null;
  }

  private learnMembers(addresses: readonly string[]): void {
    for (const a of addresses) if (!this.knownAddresses.includes(a)) this.knownAddresses.push(a);
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
    const target = await this.currentLeader();
    if (this.isClosed || this.stream !== null) return;
    const stream = target.client.RegionHeartbeat();
    this.stream = stream;
    this.isStreamDrained = true;
    this.streamOpenedAtMs = Date.now();
    let hasFailed = false;
    const fail = (reason: string, err?: unknown): void => {
      if (hasFailed) return;
      hasFailed = true;
      if (this.stream === stream) this.stream = null;
      stream.cancel();
      if (this.isClosed) return;
      this.log.warn({ err, reason, leader: target.address }, 'region heartbeat stream closed; reopening');
      if (Date.now() - this.streamOpenedAtMs >= REGION_HEARTBEAT_STREAM_HEALTHY_MS) this.streamBackoff = new Backoff(STREAM_BACKOFF, this.rng, Date.now());
      this.forgetLeader(target);
      this.scheduleReopenAfterFailure();
    };
    stream.on('data', (resp: pdpb.RegionHeartbeatResponse) => {
      const outcome = this.onHeartbeatResponse(resp);
      if (outcome === 'leader-problem') fail('PD answered that it cannot serve heartbeats');
    });
    stream.on('drain', () => {
      this.isStreamDrained = true;
      this.flushPending();
    });
    stream.on('error', (err) => fail('stream error', err));
    stream.on('end', () => fail('PD ended the stream'));
    this.flushPending();
  }

  /** Handles one response: an operator step goes to the handlers; a header error is logged. */
  private onHeartbeatResponse(resp: pdpb.RegionHeartbeatResponse): 'ok' | 'leader-problem' {
    const error = resp.header?.error;
    if (error !== null && error !== undefined) {
      const typed = errorFromWire(error, `PD RegionHeartbeat (region ${resp.regionId})`);
      if (isLeaderProblem(typed)) return 'leader-problem';
      const level = typed.code === 'ClusterIdMismatch' ? 'error' : 'warn';
      this.log[level]({ err: typed, regionId: resp.regionId }, 'PD refused a region heartbeat');
      return 'ok';
    }
    if (resp.step === undefined) return 'ok';
    let order: RegionOrder | null;
    try {
      order = regionOrderFromWire(resp);
    } catch (err) {
      this.log.warn({ err, regionId: resp.regionId, step: resp.step }, 'PD sent a malformed operator step; ignored');
      return 'ok';
    }
    if (order === null) {
      this.log.warn({ regionId: resp.regionId, step: resp.step }, 'PD sent an operator step this store does not support; ignored');
      return 'ok';
    }
    for (const handler of this.orderHandlers) {
      try {
        handler(order);
      } catch (err) {
        this.log.error({ err, regionId: order.regionId, kind: order.kind }, 'region order handler failed');
      }
    }
    return 'ok';
  }
}

// ───────────────────────────── Discovery ─────────────────────────────

type Discovery =
  | { readonly kind: 'found'; readonly leader: PdLeader; readonly clusterId: bigint; readonly memberAddresses: readonly string[] }
  | { readonly kind: 'none'; readonly failures: readonly string[] };

/** `http://127.0.0.1:2379` → `127.0.0.1:2379`. */
function addressOfUrl(url: string): string {
  return url.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

/**
 * Asks each address GetMembers (any member answers) until one names a leader with a cluster id.
 * With `expectedClusterId` ≠ 0 a member of another cluster is a ClusterIdMismatch (thrown: it is
 * a misconfiguration, not a transient state).
 */
async function discoverLeader(channels: ChannelCache, addresses: readonly string[], deadlineMs: number, expectedClusterId: bigint): Promise<Discovery> {
  const PD = loadProtos().flotilla.pdpb.PD;
  const failures: string[] = [];
  for (const address of addresses) {
    const attemptDeadlineMs = Math.min(deadlineMs, Date.now() + PD_DISCOVERY_TIMEOUT_MS_MAX);
    let members: pdpb.GetMembersResponse;
    try {
      members = await unary<pdpb.GetMembersRequest__Input, pdpb.GetMembersResponse>(channels.get(PD, address), 'GetMembers', { header: { clusterId: '0', senderId: '0' } }, attemptDeadlineMs);
    } catch (err) {
      failures.push(`${address}: ${toFlotillaError(err, 'GetMembers').message}`);
      continue;
    }
    const clusterId = u64FromWire(members.header?.clusterId ?? '0', 'header.clusterId');
    if (clusterId === 0n) {
      failures.push(`${address}: PD is starting (no cluster id yet)`);
      continue;
    }
    if (expectedClusterId !== 0n && clusterId !== expectedClusterId) {
      throw new FlotillaError('ClusterIdMismatch', `PD at ${address} serves cluster ${clusterId}, but this store belongs to cluster ${expectedClusterId}`);
    }
    const leaderUrl = members.leader?.clientUrls[0];
    if (leaderUrl === undefined) {
      failures.push(`${address}: no PD leader known (election running?)`);
      continue;
    }
    const leaderAddress = addressOfUrl(leaderUrl);
    const memberAddresses = members.members.flatMap((m) => m.clientUrls.map(addressOfUrl));
    return { kind: 'found', clusterId, leader: { address: leaderAddress, client: channels.get(PD, leaderAddress) }, memberAddresses };
  }
  return { kind: 'none', failures };
}

function unary<Req, Resp>(client: pdpb.PDClient, method: keyof PdUnaryMethods, request: Req, deadlineMs: number): Promise<Resp> {
  const fn = (client[method] as unknown as UnaryMethod<Req, Resp>).bind(client);
  return new Promise((resolve, reject) => {
    fn(request, { deadline: new Date(deadlineMs) }, (err, resp) => {
      if (err !== null) reject(err);
      else if (resp === undefined) reject(new FlotillaError('Internal', `PD ${method}: empty response`));
      else resolve(resp);
    });
  });
}

// ───────────────────────────── Errors ─────────────────────────────
// PD's wire errors become typed errors through common/wire-errors (the one mapping), with the
// call named in the message.

/** Errors after which another PD member may serve: find the leader again and retry. */
function isLeaderProblem(err: FlotillaError): boolean {
  return err.code === 'PdNotLeader' || err.code === 'Unavailable' || err.code === 'DeadlineExceeded';
}

function errorFromWire(e: errorpb.Error, what: string): FlotillaError {
  const typed = commonErrorFromWire(e);
  return new FlotillaError(typed.code, `${what}: ${typed.message}`, { details: { ...typed.details, wireCode: e.code } });
}

function toFlotillaError(err: unknown, what: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  if (err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number') {
    const typed = errorFromGrpc(err);
    return new FlotillaError(typed.code, `${what}: ${typed.message}`, { cause: err, details: typed.details });
  }
  return new FlotillaError('Internal', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
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
