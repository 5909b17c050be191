// Sending one KV command to the region that owns its keys, and everything that can go wrong on
// the way: the region cache says where (asking PD on a miss), the store connection carries it,
// and the answers that mean "not here, not now" are handled here:
//
//   NotLeader (leader named)  → remember the leader, resend at once
//   NotLeader (no leader)     → an election is running: back off, try another peer
//   ServerIsBusy, StaleCommand → back off (the hint when given), resend
//   StoreNotMatch             → forget the store's address, resend
//   ClusterIdMismatch (the store refused our stream: the address reaches another cluster's store)
//                             → unsent: forget the address, try the region's other peers
//   store unreachable (unsent) → try the region's other peers, then PD, with backoff
//   EpochNotMatch, RegionNotFound, KeyNotInRegion → the region's range moved: RegionMovedError,
//                               so the caller regroups its keys against the refreshed cache
//
// Retries never duplicate a write (DESIGN.md §8): a request that was sent and got no answer is
// resent only when `idempotent` (reads; Percolator actions keyed by start_ts); otherwise it fails
// with OutcomeUnknownError. Every wait is bounded by the operation's deadline; past it the caller
// gets TimeoutError (sent, unanswered) or RegionUnavailableError (no replica could be reached).

import {
  Backoff,
  type ChannelCache,
  compareKeys,
  createRng,
  encodeKey,
  errorFromWire,
  FlotillaError,
  isFlotillaError,
  regionErrorFromWire,
  type Logger,
  type PeerMeta,
  type RegionErrorCode,
  type RegionMeta,
  type Rng,
  type Ts,
  u64ToWire,
} from '../common/index.js';
import { loadProtos, type errorpb, type kvrpcpb, type kvservicepb } from '../proto/index.js';
import { asClientError, OutcomeUnknownError, RegionUnavailableError, TimeoutError } from './errors.js';
import type { ClientMetrics } from './metrics.js';
import type { PdClient } from './pd-client.js';

/** What routing needs of PD (PdClient has it; tests pass a fake). */
export type RegionDirectory = Pick<PdClient, 'clusterId' | 'getRegionByKey' | 'getRegionById' | 'scanRegions' | 'getStore' | 'invalidateStore'>;
import { RegionCache, type CachedRegion } from './region-cache.js';
import { StoreConnection, wasSent } from './store-connection.js';
import { encodeContextField, encodeRequest } from './batch-encoder.js';

/** The commands of the batch stream (the members of KvRequest's `cmd` oneof). */
export type Cmd = Exclude<NonNullable<kvservicepb.KvResponse['cmd']>, 'error'>;
/** The answer of one command. */
export type CmdResult<C extends Cmd> = NonNullable<kvservicepb.KvResponse[C]>;
/** The request of one command, without its context (added here). */
export type CmdRequest<C extends Cmd> = Omit<NonNullable<kvservicepb.KvRequest__Input[C]>, 'context'>;

export interface SendOptions {
  /** Absolute deadline (Date.now() based) of the whole operation, retries included. */
  readonly deadlineMs: number;
  /** Whether the command may be sent again after an unknown outcome. */
  readonly idempotent: boolean;
  /** start_ts of transactions whose locks a read may pass (lock-resolver.ts says when). */
  readonly resolvedLocks?: ReadonlySet<Ts>;
  /**
   * Called when a send may have run on a store without a clear answer (lost after it was
   * written, or answered with an error). Later sends then carry context.is_retry_request.
   */
  readonly onAmbiguous?: () => void;
  /** Mark every send as a possible repeat (an earlier call of the same request was ambiguous). */
  readonly isRetryRequest?: boolean;
  /**
   * A read only: where it may run (ReplicaRead). 'follower' and 'mixed' send it as a replica read
   * (context.replica_read) to another peer in turn; a replica that cannot serve it is skipped for
   * the rest of the call, and the leader takes it once none is left.
   */
  readonly replicaRead?: ReplicaRead;
}

/**
 * Where transactional reads run (TiKV's replica read): 'leader' (default); 'follower', any other
 * voter or learner; 'mixed', every peer in turn, the leader included. A replica read is as
 * linearizable as the leader's own (store/replica-read.ts): it only moves the work off the leader.
 */
export type ReplicaRead = 'leader' | 'follower' | 'mixed';

export const REPLICA_READS: readonly ReplicaRead[] = ['leader', 'follower', 'mixed'];

/** The fields every command's answer has. */
interface CommonResult {
  readonly regionError: errorpb.RegionError | null;
  readonly otherError: errorpb.Error | null;
}

/** Regions a multi-key operation talks to at once. */
export const REGION_CONCURRENCY_MAX = 16;

/** The region's range changed under the request: regroup its keys and resend. Internal. */
export class RegionMovedError extends Error {
  override readonly name = 'RegionMovedError';
}

const BACKOFF_BASE_MS = 2;
/** Regions asked of PD per ScanRegions page when locating backwards. */
const LOCATE_PAGE_REGIONS = 64;
const BACKOFF_MAX_MS = 500;

export interface KvRpcOptions {
  readonly pd: RegionDirectory;
  readonly channels: ChannelCache;
  readonly logger: Logger;
  readonly metrics: ClientMetrics;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class KvRpc {
  readonly cache = new RegionCache();
  private readonly connections = new Map<string, StoreConnection>();
  /** Where the next replica read starts looking (pickReplica): reads spread over the replicas. */
  private replicaTurn = 0;
  private readonly rng: Rng = createRng(Date.now() % 0x7fff_ffff);
  private readonly KvClient = loadProtos().flotilla.kvservicepb.Kv;
  private isClosed = false;

  constructor(private readonly options: KvRpcOptions) {}

  private get pd(): RegionDirectory {
    return this.options.pd;
  }

  /** The region holding the user key: cached, else from PD. */
  async locate(userKey: Buffer, deadlineMs: number): Promise<CachedRegion> {
    return this.locateEncoded(encodeKey(userKey), deadlineMs);
  }

  async locateEncoded(encodedKey: Buffer, deadlineMs: number): Promise<CachedRegion> {
    const hit = this.cache.lookup(encodedKey);
    if (hit !== undefined) return hit;
    const backoff = this.newBackoff(deadlineMs);
    for (;;) {
      this.throwIfClosed();
      let route;
      try {
        route = await this.pd.getRegionByKey(encodedKey, deadlineMs);
      } catch (err) {
        if (!isFlotillaError(err) || !err.retryable) throw err;
        await this.backoffOrThrow(backoff, deadlineMs, () => new RegionUnavailableError(`no region found for a key: ${err.message}`, { cause: err }));
        continue;
      }
      if (route !== null) return this.cache.insert(route.region, route.leader);
      // No region yet (cluster bootstrapping): wait for one.
      await this.backoffOrThrow(backoff, deadlineMs, () => new RegionUnavailableError('PD knows no region for the key (is the cluster bootstrapped?)'));
    }
  }

  /**
   * The region holding the keys just below `encodedEnd` (empty = +∞), for reverse scans: cached,
   * else the regions of [encodedStart, encodedEnd) are loaded from PD a page at a time.
   */
  async locateBefore(encodedEnd: Buffer, encodedStart: Buffer, deadlineMs: number): Promise<CachedRegion> {
    const backoff = this.newBackoff(deadlineMs);
    for (;;) {
      const hit = this.cache.lookupBefore(encodedEnd);
      if (hit !== undefined) return hit;
      this.throwIfClosed();
      let from = encodedStart;
      for (;;) {
        const routes = await this.pd.scanRegions(from, encodedEnd, LOCATE_PAGE_REGIONS, deadlineMs);
        for (const r of routes) this.cache.insert(r.region, r.leader);
        const last = routes[routes.length - 1];
        if (routes.length < LOCATE_PAGE_REGIONS || last === undefined || last.region.endKey.length === 0) break;
        if (encodedEnd.length > 0 && compareKeys(last.region.endKey, encodedEnd) >= 0) break;
        from = last.region.endKey;
      }
      if (this.cache.lookupBefore(encodedEnd) !== undefined) continue;
      await this.backoffOrThrow(backoff, deadlineMs, () => new RegionUnavailableError('PD knows no region below the scan end (is the cluster bootstrapped?)'));
    }
  }

  /**
   * The peer a replica read goes to: 'follower' takes the peers other than the known leader in
   * turn, 'mixed' every peer; null when every candidate failed in this call (then the leader).
   */
  private pickReplica(entry: CachedRegion, mode: 'follower' | 'mixed', failed: { has(id: number): boolean }): PeerMeta | null {
    const peers = entry.region.peers;
    const leaderId = mode === 'follower' ? entry.leader?.id ?? 0 : 0;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[(this.replicaTurn + i) % peers.length]!;
      if (p.id === leaderId || failed.has(p.id)) continue;
      this.replicaTurn = (this.replicaTurn + i + 1) % 1_000_000;
      return p;
    }
    return null;
  }

  /** Reloads a region by id from PD (after every peer failed); undefined when PD no longer has it. */
  private async reload(regionId: number, deadlineMs: number): Promise<CachedRegion | undefined> {
    this.cache.invalidate(regionId);
    const route = await this.pd.getRegionById(regionId, deadlineMs);
    return route === null ? undefined : this.cache.insert(route.region, route.leader);
  }

  private connection(address: string): StoreConnection {
    let conn = this.connections.get(address);
    if (conn === undefined) {
      conn = new StoreConnection(address, this.options.channels.get(this.KvClient, address), { clusterId: this.pd.clusterId });
      this.connections.set(address, conn);
    }
    return conn;
  }

  /**
   * Runs `cmd` on the region's leader and returns its answer (key errors inside it are the
   * caller's). Throws RegionMovedError when the caller must regroup, and the typed errors of the
   * file header otherwise.
   */
  async send<C extends Cmd>(start: CachedRegion, cmd: C, request: CmdRequest<C>, options: SendOptions): Promise<CmdResult<C>> {
    const { deadlineMs, idempotent } = options;
    const resolvedLocks = options.resolvedLocks === undefined || options.resolvedLocks.size === 0 ? undefined : [...options.resolvedLocks].map(u64ToWire);
    // Allocated on the first retry only: the common case sends once.
    let backoffState: Backoff | null = null;
    const backoff = (): Backoff => (backoffState ??= this.newBackoff(deadlineMs));
    const startedAt = performance.now();
    let entry = start;
    const failedPeers = new LazySet();
    let lastFailure: FlotillaError | null = null;
    let isRetryRequest = options.isRetryRequest === true;
    const ambiguous = (): void => {
      isRetryRequest = true;
      options.onAmbiguous?.();
    };
    for (;;) {
      this.throwIfClosed();
      if (Date.now() >= deadlineMs) throw this.deadlineError(cmd, lastFailure);
      const region = entry.region;
      const replica = options.replicaRead === undefined || options.replicaRead === 'leader' ? null : this.pickReplica(entry, options.replicaRead, failedPeers);
      const peer = replica ?? entry.leader ?? pickPeer(region, failedPeers);
      const isReplica = replica !== null;
      if (peer === null) {
        // Every peer failed: ask PD again where the region lives.
        failedPeers.clear();
        const reloaded = await this.reload(region.id, deadlineMs);
        if (reloaded === undefined) throw new RegionMovedError(`region ${region.id} is gone`);
        entry = reloaded;
        await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure));
        continue;
      }
      let address: string;
      try {
        address = (await this.pd.getStore(peer.storeId, deadlineMs)).address;
      } catch (err) {
        if (isFlotillaError(err) && (err.code === 'StoreNotFound' || err.code === 'StoreTombstone')) {
          failedPeers.add(peer.id);
          if (!isReplica) entry.leader = null;
          continue;
        }
        throw err;
      }
      const contextField = resolvedLocks === undefined && !isRetryRequest
        ? (isReplica ? replicaContextOf(entry, peer) : contextOf(entry, peer))
        : encodeContextField({
          ...contextInputOf(region, peer), ...(resolvedLocks === undefined ? {} : { resolvedLocks }), ...(isRetryRequest ? { isRetryRequest } : {}), ...(isReplica ? { replicaRead: true } : {}),
        });
      let resp: kvservicepb.KvResponse;
      try {
        resp = await this.connection(address).send(encodeRequest(cmd, request, contextField), deadlineMs);
      } catch (err) {
        const fe = err as FlotillaError;
        if (wasSent(fe)) ambiguous();
        if (wasSent(fe) && !idempotent) {
          this.options.metrics.requests.labels(cmd, 'unknown').inc();
          throw new OutcomeUnknownError(`${cmd} to region ${region.id} was sent and its outcome is unknown (${fe.message}); it was not re-sent`, { cause: fe });
        }
        lastFailure = fe;
        if (fe.code === 'DeadlineExceeded') throw this.deadlineError(cmd, fe);
        if (fe.code === 'ServerIsBusy') {
          // Our own connection's bound: not the store's fault, the same peer is fine after a pause.
          await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure), 5);
          continue;
        }
        if (fe.code === 'ClusterIdMismatch') {
          // Unsent: the address now reaches a store of another cluster (ours moved or is gone).
          // The connection stays: its refused streams are broken already, and closing it would
          // fail other requests on it as sent when none of them was read.
          this.options.logger.warn({ regionId: region.id, storeId: peer.storeId, address, err: fe.message }, 'store address reaches another cluster; trying another peer');
        }
        // The store is unreachable (or its stream broke on an idempotent request): try elsewhere.
        this.options.logger.debug({ regionId: region.id, storeId: peer.storeId, address, err: fe.message }, 'store unreachable; trying another peer');
        failedPeers.add(peer.id);
        if (!isReplica) entry.leader = null;
        this.pd.invalidateStore(peer.storeId);
        await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure));
        continue;
      }
      if (resp.cmd === 'error' || resp.error !== null && resp.error !== undefined) {
        ambiguous();
        const err = resp.error === null || resp.error === undefined ? new FlotillaError('Internal', 'empty error answer') : errorFromWire(resp.error);
        if (err.code === 'ServerIsBusy' || err.code === 'Unavailable') {
          lastFailure = err;
          await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure));
          continue;
        }
        throw asClientError(err);
      }
      const result = resp[cmd];
      if (resp.cmd !== cmd || result === null || result === undefined) throw new FlotillaError('Internal', `asked ${cmd}, store ${address} answered ${String(resp.cmd)}`);
      const r = result as CommonResult;
      if (r.regionError !== null) {
        const re = regionErrorFromWire(r.regionError);
        this.options.metrics.regionErrors.inc({ code: re.code });
        lastFailure = re;
        if (isReplica && re.code === 'EpochNotMatch' && isBehind((re.details.currentRegions ?? []) as RegionMeta[], region)) {
          // A replica that has not applied our region's epoch yet: not a reason to regroup.
          failedPeers.add(peer.id);
          continue;
        }
        if (isReplica && (re.code === 'NotLeader' || re.code === 'ServerIsBusy' || re.code === 'StaleCommand')) {
          // This replica cannot serve reads now (it knows no leader, or leads itself since the
          // read came): the next peer, else the leader. Its leader hint is kept.
          failedPeers.add(peer.id);
          const leader = re.details.leader as PeerMeta | undefined;
          if (leader !== undefined && leader.id !== peer.id && region.peers.some((p) => p.id === leader.id)) this.cache.updateLeader(region.id, leader);
          entry = this.cache.getById(region.id) ?? entry;
          continue;
        }
        switch (re.code as RegionErrorCode) {
          case 'NotLeader': {
            const leader = re.details.leader as PeerMeta | undefined;
            if (leader !== undefined && leader.id !== peer.id && this.cache.updateLeader(region.id, leader)) {
              entry = this.cache.getById(region.id) ?? entry;
              continue;
            }
            if (leader !== undefined && !region.peers.some((p) => p.id === leader.id)) {
              // The leader is a peer our view of the region lacks: the view is stale.
              const reloaded = await this.reload(region.id, deadlineMs);
              if (reloaded === undefined) throw new RegionMovedError(`region ${region.id} is gone`);
              entry = reloaded;
              continue;
            }
            // No leader known (an election is running): try another peer after a pause.
            failedPeers.add(peer.id);
            entry.leader = null;
            await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure));
            continue;
          }
          case 'EpochNotMatch': {
            const current = (re.details.currentRegions ?? []) as RegionMeta[];
            this.cache.invalidate(region.id);
            for (const r of current) this.cache.insert(r, r.id === region.id ? peer : null);
            throw new RegionMovedError(`region ${region.id}: ${re.message}`);
          }
          case 'RegionNotFound':
          case 'KeyNotInRegion':
            this.cache.invalidate(region.id);
            throw new RegionMovedError(`region ${region.id}: ${re.message}`);
          case 'StoreNotMatch':
            this.pd.invalidateStore(peer.storeId);
            this.options.channels.evict(address);
            this.connections.get(address)?.close();
            this.connections.delete(address);
            await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure));
            continue;
          case 'ServerIsBusy': {
            const hint = typeof re.details.backoffMs === 'number' ? re.details.backoffMs : 0;
            await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure), hint);
            continue;
          }
          case 'StaleCommand':
            // Proposed at a term that lost its leadership before applying: it did not apply.
            await this.backoffOrThrow(backoff(), deadlineMs, () => this.deadlineError(cmd, lastFailure));
            continue;
          case 'RaftEntryTooLarge':
            throw asClientError(re);
        }
      }
      if (r.otherError !== null) {
        const err = errorFromWire(r.otherError);
        if (isReplica && (err.code === 'DeadlineExceeded' || err.code === 'Unavailable' || err.code === 'ServerIsBusy')) {
          // The replica's read index request went unanswered (its leader changed meanwhile): elsewhere.
          lastFailure = err;
          failedPeers.add(peer.id);
          continue;
        }
        throw asClientError(err);
      }
      if (!isReplica && (entry.leader === null || entry.leader.id !== peer.id)) entry.leader = peer;
      this.options.metrics.observeOk(cmd, (performance.now() - startedAt) / 1000);
      return result;
    }
  }

  /**
   * Runs `fn` once per region over the keys it holds (grouped through the cache, REGION_CONCURRENCY_MAX
   * regions at a time), regrouping the keys of a region that moved. Results in no particular order.
   */
  async forEachRegion<T>(keys: readonly Buffer[], deadlineMs: number, fn: (region: CachedRegion, keys: Buffer[]) => Promise<T>): Promise<T[]> {
    const results: T[] = [];
    let todo: Buffer[] = [...keys];
    while (todo.length > 0) {
      const groups = await this.group(todo, deadlineMs);
      const moved: Buffer[] = [];
      await runBounded(groups, REGION_CONCURRENCY_MAX, async ([region, groupKeys]) => {
        try {
          results.push(await fn(region, groupKeys));
        } catch (err) {
          if (!(err instanceof RegionMovedError)) throw err;
          for (const k of groupKeys) moved.push(k);
        }
      });
      if (moved.length > 0 && Date.now() >= deadlineMs) throw new RegionUnavailableError('regions kept moving until the deadline');
      todo = moved;
    }
    return results;
  }

  /** Runs `fn` against the region of one key, relocating while it moves. */
  async withRegion<T>(key: Buffer, deadlineMs: number, fn: (region: CachedRegion) => Promise<T>): Promise<T> {
    const encoded = encodeKey(key);
    for (;;) {
      // A cache hit needs no await: one promise fewer per request on the hot path.
      const region = this.cache.lookup(encoded) ?? (await this.locateEncoded(encoded, deadlineMs));
      try {
        return await fn(region);
      } catch (err) {
        if (!(err instanceof RegionMovedError)) throw err;
        if (Date.now() >= deadlineMs) throw new RegionUnavailableError(`the region of a key kept moving until the deadline: ${err.message}`);
      }
    }
  }

  /** Groups user keys by the region holding them (in key order within a group as given). */
  async group(keys: readonly Buffer[], deadlineMs: number): Promise<[CachedRegion, Buffer[]][]> {
    const groups = new Map<number, [CachedRegion, Buffer[]]>();
    for (const key of keys) {
      const encoded = encodeKey(key);
      const region = this.cache.lookup(encoded) ?? (await this.locateEncoded(encoded, deadlineMs));
      const g = groups.get(region.region.id);
      if (g === undefined) groups.set(region.region.id, [region, [key]]);
      else g[1].push(key);
    }
    return [...groups.values()];
  }

  private newBackoff(deadlineMs: number): Backoff {
    const total = Math.max(1, deadlineMs - Date.now());
    return new Backoff({ baseDelayMs: BACKOFF_BASE_MS, maxDelayMs: BACKOFF_MAX_MS, multiplier: 2, attemptsMax: 1_000_000, totalDeadlineMs: total }, this.rng, Date.now());
  }

  /** Sleeps the next backoff delay (at least `hintMs`), or throws `onGiveUp()` if that passes the deadline. */
  private async backoffOrThrow(backoff: Backoff, deadlineMs: number, onGiveUp: () => Error, hintMs = 0): Promise<void> {
    const delay = backoff.next(Date.now());
    if (delay === null) throw onGiveUp();
    const ms = Math.max(delay, hintMs);
    if (Date.now() + ms >= deadlineMs) throw onGiveUp();
    this.options.metrics.backoffs.inc();
    await sleep(ms);
  }

  private deadlineError(cmd: string, last: FlotillaError | null): FlotillaError {
    this.options.metrics.requests.labels(cmd, 'timeout').inc();
    if (last !== null && last.code === 'DeadlineExceeded' && wasSent(last)) return new TimeoutError(`${cmd}: no answer within the deadline`, { cause: last });
    return new RegionUnavailableError(`${cmd}: no replica could serve within the deadline${last === null ? '' : ` (last: ${last.code}: ${last.message})`}`, { cause: last ?? undefined });
  }

  private throwIfClosed(): void {
    if (this.isClosed) throw new FlotillaError('Unavailable', 'client closed');
  }

  /** Requests written to stores and the stream messages that carried them (batching at work). */
  get sent(): { requests: number; messages: number } {
    let requests = 0;
    let messages = 0;
    for (const c of this.connections.values()) {
      requests += c.requestsSent;
      messages += c.messagesSent;
    }
    return { requests, messages };
  }

  close(): void {
    this.isClosed = true;
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
  }
}

function contextInputOf(r: RegionMeta, peer: PeerMeta): kvrpcpb.Context__Input {
  return {
    regionId: r.id,
    regionEpoch: { confVer: r.epoch.confVer, version: r.epoch.version },
    peer: { id: peer.id, storeId: peer.storeId, role: peer.role === 'learner' ? 'Learner' : 'Voter' },
  };
}

/**
 * The encoded context of a request to `peer` of the cached region, built once per (region, peer)
 * and spliced into every request (batch-encoder.ts says why).
 */
function contextOf(entry: CachedRegion, peer: PeerMeta): Buffer {
  const cached = entry.wireContext;
  if (cached !== undefined && cached.peerId === peer.id) return cached.field;
  const field = encodeContextField(contextInputOf(entry.region, peer));
  entry.wireContext = { peerId: peer.id, field };
  return field;
}

/** Whether a replica's answer shows `region` at an older epoch than ours (it lags; we do not). */
function isBehind(current: readonly RegionMeta[], region: RegionMeta): boolean {
  const theirs = current.find((r) => r.id === region.id);
  if (theirs === undefined) return false;
  const a = theirs.epoch;
  const b = region.epoch;
  return a.version <= b.version && a.confVer <= b.confVer && (a.version < b.version || a.confVer < b.confVer);
}

/** The encoded context of a replica read to `peer` of the cached region, built once per (region, peer). */
function replicaContextOf(entry: CachedRegion, peer: PeerMeta): Buffer {
  const cached = entry.replicaContexts?.get(peer.id);
  if (cached !== undefined) return cached;
  const field = encodeContextField({ ...contextInputOf(entry.region, peer), replicaRead: true });
  (entry.replicaContexts ??= new Map()).set(peer.id, field);
  return field;
}

/** A set of peer ids allocated on first add: the common request never fails a peer. */
class LazySet {
  private set: Set<number> | null = null;
  add(id: number): void {
    (this.set ??= new Set()).add(id);
  }
  has(id: number): boolean {
    return this.set !== null && this.set.has(id);
  }
  clear(): void {
    this.set?.clear();
  }
}

/** The first voter not yet failed in this attempt, or null when all have. */
function pickPeer(region: RegionMeta, failed: { has(id: number): boolean }): PeerMeta | null {
  for (const p of region.peers) if (p.role === 'voter' && !failed.has(p.id)) return p;
  return null;
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure rejects (others finish). */
export async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  if (items.length === 1) return fn(items[0]!);
  let next = 0;
  let failure: unknown = undefined;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        if (!failed) {
          failed = true;
          failure = err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failure;
}
