// The client library's PD client: timestamps batched on one TSO stream, region lookups, store
// lookups cached by id. Leader discovery, leader hints, cluster-id checks and per-call deadlines
// come from the PdSession in common/ (shared with the store); this file adds the TSO stream's
// leader following and the store cache. Invariants: a caller never waits past its deadline (the
// call's deadlineMs, or requestTimeoutMs for timestamps); timestamps handed out are strictly
// increasing per TSO stream and unique across leader changes (PD guarantees it across leaders);
// a store invalidated is fetched again — a lookup that started before invalidateStore() does not
// put the old address back in the cache; after close() every call fails with Unavailable.

import {
  Backoff,
  compareKeys,
  createRng,
  FlotillaError,
  INSECURE,
  isFlotillaError,
  isPdRetryable,
  PD_ATTEMPT_TIMEOUT_MS_MAX,
  PD_HINT_FOLLOWS_MAX,
  PD_REQUEST_TIMEOUT_MS_DEFAULT,
  PdSession,
  peerFromWire,
  regionFromWire,
  silentLogger,
  sleepMs,
  unboundedAbortController,
  storeFromWire,
  TsoClient,
  u64FromWire,
  withDeadline,
  type BackoffPolicy,
  type PdLeader,
  type Logger,
  type PeerMeta,
  type RegionMeta,
  type Rng,
  type SecurityConfig,
  type StoreMeta,
  type Ts,
} from '../common/index.js';
import type { pdpb } from '../proto/index.js';

/**
 * Regions one ScanRegions request asks for: PD's own cap (placement-driver SCAN_REGIONS_LIMIT_MAX,
 * 1,024). A larger limit is served in pages, each starting where the previous one ended.
 */
export const PD_SCAN_REGIONS_PAGE_MAX = 1_024;

/** Retries of a timestamp: as the session's unary calls (an election takes ~a second). */
const TSO_RETRY_BACKOFF: Omit<BackoffPolicy, 'totalDeadlineMs'> = { baseDelayMs: 20, maxDelayMs: 500, multiplier: 2, attemptsMax: 1_000 };

/** A region and its leader peer as PD last heard (null: no leader reported yet). */
export interface RegionRoute {
  readonly region: RegionMeta;
  readonly leader: PeerMeta | null;
}

/** A PD member as GetMembers reports it; URLs carry their scheme ("http://host:port"). */
export interface PdMemberInfo {
  readonly name: string;
  /** u64 as a decimal string. */
  readonly memberId: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  /** Its HTTP API and dashboard ("http://host:port"); empty until the member reported it. */
  readonly statusUrl: string;
}

export interface PdMembers {
  readonly clusterId: bigint;
  readonly members: readonly PdMemberInfo[];
  /** null while no leader is known (an election is running). */
  readonly leader: PdMemberInfo | null;
}

export interface PdClientOptions {
  /** host:port of any PD members (URLs with a scheme work too). */
  readonly pdEndpoints: readonly string[];
  /** Total time of a call that names no deadline (and of connect), retries included; default 5000. */
  readonly requestTimeoutMs?: number;
  /** Default INSECURE. */
  readonly security?: SecurityConfig;
  readonly logger?: Logger;
  /** The cluster the application expects: connect fails with ClusterIdMismatch for another. */
  readonly expectedClusterId?: bigint;
  /** Jitter of the back-offs (seeded in tests); default seeded from the clock. */
  readonly rng?: Rng;
  /** Regions per ScanRegions request, 1 … PD_SCAN_REGIONS_PAGE_MAX (the default); smaller in tests. */
  readonly scanRegionsPageMax?: number;
}

interface StoreFetch {
  /** The store's invalidation count when the fetch started: a newer one voids the result for the cache. */
  readonly generation: number;
  readonly promise: Promise<StoreMeta>;
}

export class PdClient {
  private readonly tso: TsoClient;
  private readonly stores = new Map<number, StoreMeta>();
  private readonly storeFetches = new Map<number, StoreFetch>();
  /** How often each store was invalidated (bounded by the number of stores). */
  private readonly storeGenerations = new Map<number, number>();
  /**
   * Aborted by close(). Every call waiting on PD (a back-off, a deadline) listens to it while it
   * waits and stops listening when it settles, so the listeners are the calls in flight — often
   * more than Node's warning threshold of 10, never a leak.
   */
  private readonly closing = unboundedAbortController();

  private constructor(
    private readonly session: PdSession,
    leader: PdLeader,
    private readonly requestTimeoutMs: number,
    private readonly rng: Rng,
    private readonly scanPageMax: number,
  ) {
    // One attempt's bound: a frozen leader costs a stream request at most this before the callers
    // move on, well within their own deadline.
    this.tso = new TsoClient({ client: leader.client, clusterId: session.clusterId, requestTimeoutMs: PD_ATTEMPT_TIMEOUT_MS_MAX });
  }

  /**
   * Finds the PD leader through any endpoint and learns the cluster id. Rejects with Unavailable
   * (one line naming each endpoint's failure) when no endpoint leads to a leader within
   * requestTimeoutMs, ClusterIdMismatch when expectedClusterId is given and PD serves another,
   * ConfigInvalid for no endpoints or a non-positive timeout.
   */
  static async connect(options: PdClientOptions): Promise<PdClient> {
    const requestTimeoutMs = options.requestTimeoutMs ?? PD_REQUEST_TIMEOUT_MS_DEFAULT;
    const scanPageMax = options.scanRegionsPageMax ?? PD_SCAN_REGIONS_PAGE_MAX;
    if (!Number.isSafeInteger(scanPageMax) || scanPageMax < 1 || scanPageMax > PD_SCAN_REGIONS_PAGE_MAX) {
      throw new FlotillaError('ConfigInvalid', `PD client: scanRegionsPageMax ${scanPageMax} must be within [1, ${PD_SCAN_REGIONS_PAGE_MAX}]`);
    }
    const rng = options.rng ?? createRng(Date.now() % 0x7fff_ffff);
    const session = await PdSession.connect({
      endpoints: options.pdEndpoints,
      logger: options.logger ?? silentLogger(),
      component: 'pd-client',
      security: options.security ?? INSECURE,
      requestTimeoutMs,
      ...(options.expectedClusterId === undefined ? {} : { expectedClusterId: options.expectedClusterId }),
      rng,
    });
    try {
      return new PdClient(session, await session.leaderClient(Date.now() + requestTimeoutMs), requestTimeoutMs, rng, scanPageMax);
    } catch (err) {
      session.close();
      throw err;
    }
  }

  /** The cluster id learnt at connect (what every request names). */
  get clusterId(): bigint {
    return this.session.clusterId;
  }

  /** TSO stream requests sent so far: callers folded into one request count once. */
  get tsoRequestsSent(): number {
    return this.tso.requestsSent;
  }

  /** The PD leader's address as last known. */
  get leaderAddress(): string {
    return this.session.leaderAddress;
  }

  /**
   * A fresh timestamp, greater than every one this client got before. Callers of one event-loop
   * turn share one stream request. On PdNotLeader or a failed stream the stream moves to the new
   * leader (the hint first, else GetMembers) and the caller retries within requestTimeoutMs.
   * Rejects with the last typed error at the deadline, at once with a final one
   * (ClusterIdMismatch), with Unavailable once closed.
   */
  async getTimestamp(): Promise<Ts> {
    const startMs = Date.now();
    const deadlineMs = startMs + this.requestTimeoutMs;
    let backoff: Backoff | null = null;
    let hintsFollowed = 0;
    for (;;) {
      this.throwIfClosed('getTimestamp');
      let leader: PdLeader | null = null;
      let typed: FlotillaError;
      try {
        // No leader known (an election is running): the lookup fails Unavailable and we back off.
        leader = await this.session.leaderClient(deadlineMs);
        this.tso.setClient(leader.client);
        return await this.tso.getTimestamp();
      } catch (err) {
        typed = isFlotillaError(err) ? err : new FlotillaError('Internal', `TSO: ${String(err)}`, { cause: err });
      }
      this.throwIfClosed('getTimestamp');
      if (!isPdRetryable(typed)) throw typed;
      const outcome = leader === null ? 'forgotLeader' : this.session.reportFailure(leader, typed);
      if (outcome === 'followedHint' && hintsFollowed < PD_HINT_FOLLOWS_MAX) {
        hintsFollowed++;
        continue;
      }
      backoff ??= new Backoff({ ...TSO_RETRY_BACKOFF, totalDeadlineMs: this.requestTimeoutMs }, this.rng, startMs);
      const delay = backoff.next(Date.now());
      if (delay === null) throw new FlotillaError(typed.code, `TSO: no timestamp within ${this.requestTimeoutMs} ms (last: ${typed.message})`, { cause: typed, details: typed.details });
      await sleepMs(delay, this.closing.signal).catch(() => this.throwIfClosed('getTimestamp'));
    }
  }

  /** The region containing `encodedKey` (memcomparable-encoded; empty = the first region), or null. */
  async getRegionByKey(encodedKey: Buffer, deadlineMs?: number): Promise<RegionRoute | null> {
    const resp = await this.session.unary('GetRegion', { regionKey: encodedKey }, this.callOptions(deadlineMs));
    return routeFromWire(resp, 'GetRegion');
  }

  /** The region with this id, or null when PD knows none (merged away, or never existed). */
  async getRegionById(regionId: number, deadlineMs?: number): Promise<RegionRoute | null> {
    if (!Number.isSafeInteger(regionId) || regionId <= 0) throw new FlotillaError('InvalidArgument', `regionId ${regionId} must be a positive integer`);
    try {
      const resp = await this.session.unary('GetRegionByID', { regionId: String(regionId) }, this.callOptions(deadlineMs));
      return routeFromWire(resp, 'GetRegionByID');
    } catch (err) {
      if (isFlotillaError(err, 'RegionNotFound')) return null;
      throw err;
    }
  }

  /**
   * Up to `limit` regions overlapping [startEncoded, endEncoded) in key order (empty end = +∞),
   * fetched in pages of scanRegionsPageMax (PD_SCAN_REGIONS_PAGE_MAX). Regions that split or merged between two pages
   * show as PD saw them when each page was read; the caller re-routes on EpochNotMatch anyway.
   */
  async scanRegions(startEncoded: Buffer, endEncoded: Buffer, limit: number, deadlineMs?: number): Promise<RegionRoute[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new FlotillaError('InvalidArgument', `scanRegions: limit ${limit} must be a positive integer`);
    if (endEncoded.length > 0 && compareKeys(startEncoded, endEncoded) >= 0) return [];
    const options = this.callOptions(deadlineMs);
    const routes: RegionRoute[] = [];
    let start = startEncoded;
    while (routes.length < limit) {
      const pageLimit = Math.min(this.scanPageMax, limit - routes.length);
      const resp = await this.session.unary('ScanRegions', { startKey: start, endKey: endEncoded, limit: pageLimit }, options);
      const page = resp.regions.map((r, i) => routeFromWire(r, `ScanRegions.regions[${i}]`)).filter((r) => r !== null);
      routes.push(...page);
      const last = page.at(-1);
      if (page.length < pageLimit || last === undefined || last.region.endKey.length === 0) break;
      if (endEncoded.length > 0 && compareKeys(last.region.endKey, endEncoded) >= 0) break;
      // A page must move forward; a PD answer that does not would loop forever.
      if (compareKeys(last.region.endKey, start) <= 0) throw new FlotillaError('Internal', `scanRegions: PD answered a page ending at ${last.region.endKey.toString('hex')}, not after ${start.toString('hex')}`);
      start = last.region.endKey;
    }
    return routes;
  }

  /**
   * The store with this id, from the cache or PD (concurrent lookups of one store share one PD
   * call). Rejects with StoreNotFound (unknown id) or StoreTombstone (removed; never cached), or
   * the call's error at the deadline.
   */
  getStore(storeId: number, deadlineMs?: number): Promise<StoreMeta> {
    const cached = this.stores.get(storeId);
    if (cached !== undefined) return Promise.resolve(cached);
    if (this.session.isClosed) return Promise.reject(closedError('getStore'));
    let fetch = this.storeFetches.get(storeId);
    if (fetch === undefined) {
      fetch = this.fetchStore(storeId);
      this.storeFetches.set(storeId, fetch);
    }
    return deadlineMs === undefined ? fetch.promise : withDeadline(fetch.promise, deadlineMs, `PD client getStore(${storeId})`, this.closing.signal);
  }

  /** Forgets a cached store (its address may have moved): the next getStore asks PD. */
  invalidateStore(storeId: number): void {
    this.stores.delete(storeId);
    this.storeFetches.delete(storeId);
    this.storeGenerations.set(storeId, (this.storeGenerations.get(storeId) ?? 0) + 1);
  }

  /** The cluster's GC safe point (0 before any GC ran). */
  async getGcSafePoint(deadlineMs?: number): Promise<Ts> {
    const resp = await this.session.unary('GetGCSafePoint', {}, this.callOptions(deadlineMs));
    return u64FromWire(resp.safePoint, 'GetGCSafePointResponse.safePoint');
  }

  /** The PD members and which one leads, as PD reports them (for admin tools such as the CLI). */
  async getMembers(deadlineMs?: number): Promise<PdMembers> {
    this.throwIfClosed('getMembers');
    const resp = await this.session.members(deadlineMs);
    const member = (m: pdpb.Member): PdMemberInfo => ({
      name: m.name, memberId: m.memberId, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls], statusUrl: m.statusUrl,
    });
    return { clusterId: this.clusterId, members: resp.members.map(member), leader: resp.leader === null ? null : member(resp.leader) };
  }

  /** Fails every waiting and later call with Unavailable and closes the connections. Idempotent. */
  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort(closedError('close'));
    this.tso.close();
    this.session.close();
    this.stores.clear();
    this.storeFetches.clear();
  }

  // ───────────────────────────── Internals ─────────────────────────────

  private throwIfClosed(what: string): void {
    if (this.closing.signal.aborted) throw closedError(what);
  }

  private callOptions(deadlineMs: number | undefined): { deadlineMs: number } {
    return { deadlineMs: deadlineMs ?? Date.now() + this.requestTimeoutMs };
  }

  private fetchStore(storeId: number): StoreFetch {
    const generation = this.storeGenerations.get(storeId) ?? 0;
    const promise = this.session.unary('GetStore', { storeId: String(storeId) }, this.callOptions(undefined)).then(
      (resp) => {
        const store = storeFromWire(resp.store, 'GetStoreResponse.store');
        if (store.state === 'tombstone') throw new FlotillaError('StoreTombstone', `store ${storeId} was removed from the cluster`, { details: { storeId } });
        if ((this.storeGenerations.get(storeId) ?? 0) === generation && !this.closing.signal.aborted) this.stores.set(storeId, store);
        return store;
      },
    );
    const fetch = { generation, promise };
    // The fetch leaves the map when it settles (its callers hold the promise and see the outcome).
    promise.then(
      () => this.forgetFetch(storeId, fetch),
      () => this.forgetFetch(storeId, fetch),
    );
    return fetch;
  }

  private forgetFetch(storeId: number, fetch: StoreFetch): void {
    if (this.storeFetches.get(storeId) === fetch) this.storeFetches.delete(storeId);
  }
}

function closedError(what: string): FlotillaError {
  return new FlotillaError('Unavailable', `PD client ${what}: the client is closed`);
}

/** A GetRegion-shaped answer as a route; null when it names no region. */
function routeFromWire(resp: Pick<pdpb.GetRegionResponse, 'region' | 'leader'>, what: string): RegionRoute | null {
  if (resp.region === null) return null;
  const region = regionFromWire(resp.region, `${what}.region`);
  let leader: PeerMeta | null = null;
  if (resp.leader !== null) {
    const peer = peerFromWire(resp.leader, `${what}.leader`);
    // A leader outside the region's peers is stale news: route as if none were known.
    leader = region.peers.some((p) => p.id === peer.id && p.storeId === peer.storeId) ? peer : null;
  }
  return { region, leader };
}
