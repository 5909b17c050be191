// A session with the placement driver, shared by the store's and the client library's PD clients:
// finds the PD leader among the members (GetMembers, which every member answers), learns the
// cluster id once, and runs unary calls that follow leader changes. Invariants: every request
// names the cluster id learnt at connect, and an answer from another cluster is refused
// (ClusterIdMismatch, never retried); every attempt has a deadline and every call a total one
// that back-off never overruns; a PdNotLeader's structured leader hint is followed before asking
// GetMembers again; after close() no call waits.
//
// One call's retry loop:
//
//   attempt on the known leader ──ok──► answer (a header error is the call's typed error)
//      │ PdNotLeader, hint names another member ──► switch to it, retry at once (≤ PD_HINT_FOLLOWS_MAX)
//      │ PdNotLeader naming this member (raft leader, not serving yet) or ServerIsBusy ──► back off, same leader
//      │ PdNotLeader without a hint, Unavailable, attempt deadline ──► forget the leader, back off,
//      │                                                               discover (one GetMembers round shared by all callers)
//      └ anything else ──► thrown as is; the call's deadline reached ──► the last error's code

import { Backoff, sleepMs, unboundedAbortController, type BackoffPolicy } from './backoff.js';
import { FlotillaError } from './errors.js';
import { ChannelCache, channelCredentials, INSECURE, type grpc, type SecurityConfig } from './grpc.js';
import type { Logger } from './logger.js';
import { createRng, type Rng } from './rng.js';
import { u64FromWire, u64ToWire } from './u64.js';
import { errorFromGrpc, errorFromWire, pdLeaderHintOf } from './wire-errors.js';
import { loadProtos, type pdpb } from '../proto/index.js';

/** Default total time one unary call may take, retries and leader changes included. */
export const PD_REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
/**
 * One attempt's deadline (capped by what is left of the call's): a frozen PD leader costs at most
 * this before the session looks for another, well under the default total.
 */
export const PD_ATTEMPT_TIMEOUT_MS_MAX = 2_000;
/** GetMembers per endpoint during leader discovery: a live member answers in milliseconds. */
export const PD_DISCOVERY_TIMEOUT_MS_MAX = 1_000;
/**
 * Leader hints one call follows at once, without back-off. A longer chain means leadership is
 * moving (or two members hold stale views of it): back off and let the election settle.
 */
export const PD_HINT_FOLLOWS_MAX = 3;

/** Retries of a unary call: fast first (a leader change takes ~an election), capped at 500 ms. */
const UNARY_BACKOFF: Omit<BackoffPolicy, 'totalDeadlineMs'> = { baseDelayMs: 20, maxDelayMs: 500, multiplier: 2, attemptsMax: 1_000 };

/** PD's unary methods with their request and response types. */
export interface PdUnaryMethods {
  GetMembers: [pdpb.GetMembersRequest__Input, pdpb.GetMembersResponse];
  AllocID: [pdpb.AllocIDRequest__Input, pdpb.AllocIDResponse];
  Bootstrap: [pdpb.BootstrapRequest__Input, pdpb.BootstrapResponse];
  IsBootstrapped: [pdpb.IsBootstrappedRequest__Input, pdpb.IsBootstrappedResponse];
  PutStore: [pdpb.PutStoreRequest__Input, pdpb.PutStoreResponse];
  GetStore: [pdpb.GetStoreRequest__Input, pdpb.GetStoreResponse];
  GetAllStores: [pdpb.GetAllStoresRequest__Input, pdpb.GetAllStoresResponse];
  StoreHeartbeat: [pdpb.StoreHeartbeatRequest__Input, pdpb.StoreHeartbeatResponse];
  GetRegion: [pdpb.GetRegionRequest__Input, pdpb.GetRegionResponse];
  GetPrevRegion: [pdpb.GetRegionRequest__Input, pdpb.GetRegionResponse];
  GetRegionByID: [pdpb.GetRegionByIDRequest__Input, pdpb.GetRegionResponse];
  ScanRegions: [pdpb.ScanRegionsRequest__Input, pdpb.ScanRegionsResponse];
  AskBatchSplit: [pdpb.AskBatchSplitRequest__Input, pdpb.AskBatchSplitResponse];
  ReportBatchSplit: [pdpb.ReportBatchSplitRequest__Input, pdpb.ReportBatchSplitResponse];
  GetGCSafePoint: [pdpb.GetGCSafePointRequest__Input, pdpb.GetGCSafePointResponse];
  UpdateGCSafePoint: [pdpb.UpdateGCSafePointRequest__Input, pdpb.UpdateGCSafePointResponse];
  GetClusterConfig: [pdpb.GetClusterConfigRequest__Input, pdpb.GetClusterConfigResponse];
  PutClusterConfig: [pdpb.PutClusterConfigRequest__Input, pdpb.PutClusterConfigResponse];
}
/** The methods `unary` runs: everything but GetMembers, which discovery owns. */
export type PdUnaryMethod = Exclude<keyof PdUnaryMethods, 'GetMembers'>;
/** A method's request without its header (the session adds it). */
export type PdRequestBody<K extends keyof PdUnaryMethods> = Omit<PdUnaryMethods[K][0], 'header'>;

export interface PdSessionOptions {
  /** PD members' client addresses (host:port, or URLs with a scheme). */
  readonly endpoints: readonly string[];
  readonly logger: Logger;
  /** The log lines' component (default 'pd-session'). */
  readonly component?: string;
  readonly security?: SecurityConfig;
  /** Total time of one unary call, retries included, when the call names no deadline; default 5000. */
  readonly requestTimeoutMs?: number;
  /** How long connect() keeps looking for a PD leader; default requestTimeoutMs. */
  readonly connectTimeoutMs?: number;
  /** The cluster id the caller belongs to: connect fails with ClusterIdMismatch when PD serves another. */
  readonly expectedClusterId?: bigint;
  /** Jitter of the back-offs (seeded in tests); default seeded from the clock. */
  readonly rng?: Rng;
}

export interface PdUnaryOptions {
  /** Absolute deadline (Date.now() based) of the whole call; default now + requestTimeoutMs. */
  readonly deadlineMs?: number;
  /** The header's sender_id (a store's id); default 0 (a client). */
  readonly senderId?: number;
}

/** The PD leader as the session knows it: its address and the client on its channel. */
export interface PdLeader {
  readonly address: string;
  readonly client: pdpb.PDClient;
}

/** What `reportFailure` did with a failed leader. */
export type LeaderFailureOutcome = 'followedHint' | 'keptLeader' | 'forgotLeader';

type UnaryFn<Req, Resp> = (req: Req, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, resp?: Resp) => void) => grpc.ClientUnaryCall;

/** `http://127.0.0.1:2379` → `127.0.0.1:2379` (a bare host:port is returned as is). */
export function addressOfUrl(url: string): string {
  return url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
}

/**
 * Errors after which another attempt may succeed: the leader moved or is unreachable (PdNotLeader,
 * Unavailable, an attempt's DeadlineExceeded), or it asked for a back-off (ServerIsBusy).
 */
export function isPdRetryable(err: FlotillaError): boolean {
  return err.code === 'PdNotLeader' || err.code === 'Unavailable' || err.code === 'DeadlineExceeded' || err.code === 'ServerIsBusy';
}

/** Any failure of a PD call as a typed error naming the call; a gRPC status through the one mapping. */
export function pdCallError(err: unknown, what: string): FlotillaError {
  if (err instanceof FlotillaError) return err;
  if (err instanceof Error && typeof (err as Partial<grpc.ServiceError>).code === 'number') {
    const typed = errorFromGrpc(err);
    return new FlotillaError(typed.code, `${what}: ${typed.message}`, { cause: err, details: typed.details });
  }
  return new FlotillaError('Internal', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * `p`, or DeadlineExceeded at `deadlineMs`, or Unavailable when `signal` aborts — whichever comes
 * first (`p` keeps running; whoever else awaits it still gets its outcome). A rejection that is
 * not a FlotillaError becomes a typed one naming `what`.
 */
export function withDeadline<T>(p: Promise<T>, deadlineMs: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      settle();
      reject(new FlotillaError('Unavailable', `${what}: closed`));
    };
    const timer = setTimeout(() => {
      settle();
      reject(new FlotillaError('DeadlineExceeded', `${what}: the deadline passed`));
    }, Math.max(0, deadlineMs - Date.now()));
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        settle();
        resolve(v);
      },
      (err: unknown) => {
        settle();
        reject(pdCallError(err, what));
      },
    );
  });
}

export class PdSession {
  private readonly log: Logger;
  private readonly requestTimeoutMs: number;
  /** Endpoints to ask in discovery: the configured ones, then members' client addresses learnt since. */
  private readonly knownAddresses: string[];
  /** null after the leader failed, until a discovery (or a hint) names one. */
  private leader: PdLeader | null;
  private lastLeaderAddress: string;
  private discovering: Promise<PdLeader> | null = null;
  private readonly inflight = new Set<grpc.ClientUnaryCall>();
  /**
   * Aborted by close(). Every call waiting on PD (a back-off, a deadline) listens to it while it
   * waits and stops listening when it settles, so the listeners are the calls in flight — often
   * more than Node's warning threshold of 10, never a leak.
   */
  private readonly closing = unboundedAbortController();
  private isClosedNow = false;

  private constructor(
    readonly clusterId: bigint,
    leader: PdLeader,
    private readonly channels: ChannelCache,
    options: PdSessionOptions,
    private readonly rng: Rng,
  ) {
    this.log = options.logger.child({ component: options.component ?? 'pd-session' });
    this.requestTimeoutMs = options.requestTimeoutMs ?? PD_REQUEST_TIMEOUT_MS_DEFAULT;
    this.knownAddresses = options.endpoints.map(addressOfUrl);
    this.leader = leader;
    this.lastLeaderAddress = leader.address;
  }

  /**
   * Finds the PD leader (GetMembers on each endpoint, retried with back-off until
   * connectTimeoutMs) and learns the cluster id. Unavailable, in one line naming every endpoint's
   * failure, if none leads anywhere; ClusterIdMismatch if `expectedClusterId` is given and PD
   * serves another cluster; ConfigInvalid for no endpoints or a non-positive timeout.
   */
  static async connect(options: PdSessionOptions): Promise<PdSession> {
    if (options.endpoints.length === 0) throw new FlotillaError('ConfigInvalid', 'PD client: no PD endpoints given');
    const requestTimeoutMs = options.requestTimeoutMs ?? PD_REQUEST_TIMEOUT_MS_DEFAULT;
    const timeoutMs = options.connectTimeoutMs ?? requestTimeoutMs;
    if (!(requestTimeoutMs > 0) || !(timeoutMs > 0)) throw new FlotillaError('ConfigInvalid', `PD client: requestTimeoutMs ${requestTimeoutMs} and connectTimeoutMs ${timeoutMs} must be positive`);
    const rng = options.rng ?? createRng(Date.now() % 0x7fff_ffff);
    const channels = new ChannelCache(await channelCredentials(options.security ?? INSECURE));
    const endpoints = options.endpoints.map(addressOfUrl);
    try {
      const startMs = Date.now();
      const deadlineMs = startMs + timeoutMs;
      const backoff = new Backoff({ ...UNARY_BACKOFF, totalDeadlineMs: timeoutMs }, rng, startMs);
      for (;;) {
        const found = await discoverLeader(channels, endpoints, deadlineMs, options.expectedClusterId ?? 0n);
        if (found.kind === 'found') {
          const session = new PdSession(found.clusterId, found.leader, channels, options, rng);
          session.learnMembers(found.memberAddresses);
          session.log.info({ clusterId: String(found.clusterId), leader: found.leader.address }, 'connected to PD');
          return session;
        }
        const delay = backoff.next(Date.now());
        if (delay === null) {
          throw new FlotillaError('Unavailable', oneLine(`no PD leader reachable at ${endpoints.join(', ')} within ${timeoutMs} ms (${found.failures.join('; ')})`), {
            details: { endpoints, failures: found.failures },
          });
        }
        await sleepMs(delay);
      }
    } catch (err) {
      channels.close();
      throw err;
    }
  }

  /** The request header every call carries. */
  header(senderId = 0): pdpb.RequestHeader__Input {
    return { clusterId: u64ToWire(this.clusterId), senderId: String(senderId) };
  }

  /** The address of the PD leader as last known. */
  get leaderAddress(): string {
    return this.lastLeaderAddress;
  }

  get isClosed(): boolean {
    return this.isClosedNow;
  }

  /**
   * One unary call with the session's header, following leader changes as the file comment
   * draws, until `deadlineMs`. Resolves with the response (its header error-free and of this
   * cluster); rejects with the typed error of the header or the transport (message prefixed
   * `PD <method>:`, details kept), the last retryable one when the deadline comes, or
   * Unavailable once closed.
   */
  async unary<K extends PdUnaryMethod>(method: K, body: PdRequestBody<K>, options: PdUnaryOptions = {}): Promise<PdUnaryMethods[K][1]> {
    const startMs = Date.now();
    const deadlineMs = options.deadlineMs ?? startMs + this.requestTimeoutMs;
    const request = { ...body, header: this.header(options.senderId) } as PdUnaryMethods[K][0];
    let backoff: Backoff | null = null;
    let hintsFollowed = 0;
    for (;;) {
      this.throwIfClosed(method);
      let leader: PdLeader | null = null;
      let typed: FlotillaError;
      try {
        leader = await this.leaderClient(deadlineMs);
        const attemptDeadlineMs = Math.min(deadlineMs, Date.now() + PD_ATTEMPT_TIMEOUT_MS_MAX);
        const resp = await this.call<PdUnaryMethods[K][0], PdUnaryMethods[K][1]>(leader.client, method, request, attemptDeadlineMs);
        this.checkHeader(resp, method);
        return resp;
      } catch (err) {
        typed = pdCallError(err, `PD ${method}`);
      }
      this.throwIfClosed(method);
      if (!isPdRetryable(typed)) throw typed;
      const outcome = leader === null ? 'forgotLeader' : this.reportFailure(leader, typed);
      if (outcome === 'followedHint' && hintsFollowed < PD_HINT_FOLLOWS_MAX) {
        hintsFollowed++;
        continue;
      }
      backoff ??= new Backoff({ ...UNARY_BACKOFF, totalDeadlineMs: Math.max(1, deadlineMs - startMs) }, this.rng, startMs);
      const delay = backoff.next(Date.now());
      const busyMs = typed.code === 'ServerIsBusy' && typeof typed.details.backoffMs === 'number' ? typed.details.backoffMs : 0;
      if (delay === null || Date.now() + Math.max(delay, busyMs) >= deadlineMs) {
        throw new FlotillaError(typed.code, `PD ${method}: no answer from a PD leader within ${deadlineMs - startMs} ms (last: ${typed.message})`, { cause: typed, details: typed.details });
      }
      this.log.debug({ method, err: typed, delayMs: delay }, 'PD call retried');
      await sleepMs(Math.max(delay, busyMs), this.closing.signal).catch(() => this.throwIfClosed(method));
    }
  }

  /**
   * The leader to call (for streams too): the known one, or — after it failed — one discovery
   * shared by every caller waiting for it. Rejects with Unavailable when the discovery finds no
   * leader (the caller backs off and asks again, which starts a new one), ClusterIdMismatch when
   * it finds another cluster, DeadlineExceeded at `deadlineMs`, Unavailable once closed.
   */
  leaderClient(deadlineMs?: number): Promise<PdLeader> {
    if (this.isClosedNow) return Promise.reject(this.closedError('leader lookup'));
    if (this.leader !== null) return Promise.resolve(this.leader);
    this.discovering ??= this.discover().finally(() => {
      this.discovering = null;
    });
    return deadlineMs === undefined ? this.discovering : withDeadline(this.discovering, deadlineMs, 'PD leader lookup', this.closing.signal);
  }

  /**
   * `failed` (the leader a call or stream used) failed with `err`. A PdNotLeader whose hint names
   * another member makes that member the leader ('followedHint'); one naming `failed` itself (a
   * raft leader not serving yet) or a ServerIsBusy keeps it ('keptLeader'); anything else makes
   * the next caller discover ('forgotLeader'). A leader another caller already replaced stays.
   */
  reportFailure(failed: PdLeader, err: FlotillaError): LeaderFailureOutcome {
    if (err.code === 'ServerIsBusy') return 'keptLeader';
    const hint = err.code === 'PdNotLeader' ? pdLeaderHintOf(err) : null;
    const hintedUrl = hint?.clientUrls[0];
    if (hintedUrl !== undefined && !this.isClosedNow) {
      const address = addressOfUrl(hintedUrl);
      if (address === failed.address) return 'keptLeader';
      if (this.leader === failed || this.leader === null) this.setLeader(address, `hint from ${failed.address}`);
      this.learnMembers([address]);
      return 'followedHint';
    }
    if (this.leader === failed) this.leader = null;
    // Ask the failed member last in the next discovery.
    const i = this.knownAddresses.indexOf(failed.address);
    if (i >= 0 && this.knownAddresses.length > 1) this.knownAddresses.push(...this.knownAddresses.splice(i, 1));
    return 'forgotLeader';
  }

  /** Cancels calls in flight, aborts those backing off, closes the channels. Idempotent. */
  close(): void {
    if (this.isClosedNow) return;
    this.isClosedNow = true;
    this.closing.abort(this.closedError('close'));
    for (const call of this.inflight) call.cancel();
    this.inflight.clear();
    this.channels.close();
  }

  // ───────────────────────────── Internals ─────────────────────────────

  private closedError(what: string): FlotillaError {
    return new FlotillaError('Unavailable', `PD ${what}: PD client closed`);
  }

  private throwIfClosed(what: string): void {
    if (this.isClosedNow) throw this.closedError(what);
  }

  private setLeader(address: string, why: string): PdLeader {
    const leader = { address, client: this.channels.get(loadProtos().flotilla.pdpb.PD, address) };
    if (address !== this.lastLeaderAddress) this.log.info({ leader: address, previous: this.lastLeaderAddress, why }, 'PD leader changed');
    this.leader = leader;
    this.lastLeaderAddress = address;
    return leader;
  }

  private async discover(): Promise<PdLeader> {
    const found = await discoverLeader(this.channels, this.knownAddresses, Date.now() + PD_DISCOVERY_TIMEOUT_MS_MAX * 2, this.clusterId);
    if (found.kind !== 'found') throw new FlotillaError('Unavailable', oneLine(`no PD leader reachable at ${this.knownAddresses.join(', ')} (${found.failures.join('; ')})`));
    this.throwIfClosed('leader lookup');
    this.learnMembers(found.memberAddresses);
    // A hint may have named a leader meanwhile; the discovery's answer is as fresh.
    return this.setLeader(found.leader.address, 'GetMembers');
  }

  /**
   * The PD members and the leader as PD reports them (GetMembers on the known leader first, then
   * on every other known member), for admin tools. Rejects with Unavailable naming each member's
   * failure when none answers by `deadlineMs`.
   */
  async members(deadlineMs: number = Date.now() + this.requestTimeoutMs): Promise<pdpb.GetMembersResponse> {
    this.throwIfClosed('GetMembers');
    const PD = loadProtos().flotilla.pdpb.PD;
    const addresses = [this.lastLeaderAddress, ...this.knownAddresses.filter((a) => a !== this.lastLeaderAddress)];
    const failures: string[] = [];
    for (const address of addresses) {
      if (Date.now() >= deadlineMs) break;
      const attemptDeadlineMs = Math.min(deadlineMs, Date.now() + PD_ATTEMPT_TIMEOUT_MS_MAX);
      try {
        const resp = await new Promise<pdpb.GetMembersResponse>((resolve, reject) => {
          unaryCall<pdpb.GetMembersRequest__Input, pdpb.GetMembersResponse>(this.channels.get(PD, address), 'GetMembers', { header: this.header() }, attemptDeadlineMs, (r) =>
            r.ok ? resolve(r.resp) : reject(r.err),
          );
        });
        this.checkHeader(resp, 'GetMembers');
        return resp;
      } catch (err) {
        failures.push(`${address}: ${pdCallError(err, 'GetMembers').message}`);
      }
    }
    throw new FlotillaError('Unavailable', oneLine(`PD GetMembers: no member answered (${failures.join('; ')})`));
  }

  private learnMembers(addresses: readonly string[]): void {
    for (const a of addresses) if (!this.knownAddresses.includes(a)) this.knownAddresses.push(a);
  }

  private call<Req, Resp>(client: pdpb.PDClient, method: PdUnaryMethod, request: Req, deadlineMs: number): Promise<Resp> {
    return new Promise((resolve, reject) => {
      const call = unaryCall<Req, Resp>(client, method, request, deadlineMs, (r) => {
        this.inflight.delete(call);
        if (r.ok) resolve(r.resp);
        else reject(r.err);
      });
      this.inflight.add(call);
    });
  }

  /** Response header: an error there is the call's error; a header of another cluster is refused. */
  private checkHeader(resp: { header: pdpb.ResponseHeader | null }, method: string): void {
    const error = resp.header?.error;
    if (error !== null && error !== undefined) {
      const typed = errorFromWire(error);
      throw new FlotillaError(typed.code, `PD ${method}: ${typed.message}`, { details: typed.details });
    }
    const answeredBy = u64FromWire(resp.header?.clusterId ?? '0', 'header.clusterId');
    if (answeredBy !== this.clusterId) {
      throw new FlotillaError('ClusterIdMismatch', `PD ${method}: answered by cluster ${answeredBy}, this session belongs to cluster ${this.clusterId}`);
    }
  }
}

// ───────────────────────────── Discovery ─────────────────────────────

type Discovery =
  | { readonly kind: 'found'; readonly leader: PdLeader; readonly clusterId: bigint; readonly memberAddresses: readonly string[] }
  | { readonly kind: 'none'; readonly failures: readonly string[] };

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/**
 * Asks each address GetMembers (any member answers) until one names a leader with a cluster id.
 * With `expectedClusterId` ≠ 0 a member of another cluster is a ClusterIdMismatch (thrown: it is
 * a misconfiguration, not a transient state).
 */
async function discoverLeader(channels: ChannelCache, addresses: readonly string[], deadlineMs: number, expectedClusterId: bigint): Promise<Discovery> {
  const PD = loadProtos().flotilla.pdpb.PD;
  const failures: string[] = [];
  for (const address of [...addresses]) {
    const attemptDeadlineMs = Math.min(deadlineMs, Date.now() + PD_DISCOVERY_TIMEOUT_MS_MAX);
    let members: pdpb.GetMembersResponse;
    try {
      members = await new Promise<pdpb.GetMembersResponse>((resolve, reject) => {
        unaryCall<pdpb.GetMembersRequest__Input, pdpb.GetMembersResponse>(channels.get(PD, address), 'GetMembers', { header: { clusterId: '0', senderId: '0' } }, attemptDeadlineMs, (r) =>
          r.ok ? resolve(r.resp) : reject(r.err),
        );
      });
    } catch (err) {
      failures.push(`${address}: ${pdCallError(err, 'GetMembers').message}`);
      continue;
    }
    const clusterId = u64FromWire(members.header?.clusterId ?? '0', 'header.clusterId');
    if (clusterId === 0n) {
      failures.push(`${address}: PD is starting (no cluster id yet)`);
      continue;
    }
    if (expectedClusterId !== 0n && clusterId !== expectedClusterId) {
      throw new FlotillaError('ClusterIdMismatch', `PD at ${address} serves cluster ${clusterId}, but this client belongs to cluster ${expectedClusterId}`);
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

type CallResult<Resp> = { readonly ok: true; readonly resp: Resp } | { readonly ok: false; readonly err: Error };

function unaryCall<Req, Resp>(client: pdpb.PDClient, method: keyof PdUnaryMethods, request: Req, deadlineMs: number, done: (result: CallResult<Resp>) => void): grpc.ClientUnaryCall {
  const fn = (client[method] as unknown as UnaryFn<Req, Resp>).bind(client);
  return fn(request, { deadline: new Date(deadlineMs) }, (err, resp) => {
    if (err !== null) done({ ok: false, err });
    else if (resp === undefined) done({ ok: false, err: new FlotillaError('Internal', `PD ${method}: empty response`) });
    else done({ ok: true, resp });
  });
}
