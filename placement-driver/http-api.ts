// PD's HTTP API under /pd/api/v1 (JSON; errors as { code, message } with a proper status) and
// /metrics. One route table below is the router, the index (GET /pd/api/v1) and the source of the
// README's reference table: every path matches exactly (one handler per path and method), HEAD is
// answered like GET without a body, any other method gets 405 with `Allow`. Reads of cluster
// state come from the serving leader only; a follower answers 503 PdNotLeader with the leader as
// `leader` (a PdLeaderHint, its HTTP API in `statusUrl`). Keys in URLs are raw user keys,
// hex-encoded (`?start_key=6162`); PD encodes them memcomparably.

import assert from 'node:assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  compareKeys, decodeKey, encodeKey, extractLogical, extractPhysical, FlotillaError, handleMetricsRequest, httpStatusOf, isFlotillaError, pdLeaderHintOf, REGION_KEY_BYTES_MAX,
  type Registry, type Rng,
} from '../common/index.js';
import { CLUSTER_CONFIG_FIELDS, patchClusterConfig } from './cluster-config.js';
import { leadershipOf, memberToWire, pdNotLeader, withLeaderHint } from './members.js';
import type { OperatorStep } from './operators.js';
import { REGION_EVENTS_LIMIT_DEFAULT, REGION_EVENTS_LIMIT_MAX, type RegionEventLog } from './region-events.js';
import type { RegionMeta } from './region-index.js';
import { checkAdminMerge, isSchedulerName, planScatter, SCHEDULER_NAMES, type SchedulerController, type SchedulerName } from './schedulers/index.js';
import type { PdServiceContext } from './service.js';
import type { PdApplyResult, PdMember } from './state-machine.js';

/** Largest request body accepted (config patches and operator requests are tiny). */
export const HTTP_BODY_BYTES_MAX = 1024 * 1024;
/** Regions per page of /regions. */
export const HTTP_REGIONS_PAGE_MAX = 1_000;
/**
 * Request line plus headers (Node's default is 16 KiB): room for the longest URL a lookup takes,
 * two keys of REGION_KEY_BYTES_MAX bytes as hex (`/regions?start_key=…&end_key=…`), plus 16 KiB
 * for the rest of the request. Per connection, only while the head is read.
 */
export const HTTP_HEADER_BYTES_MAX = 2 * 2 * REGION_KEY_BYTES_MAX + 16 * 1024;
assert(HTTP_HEADER_BYTES_MAX > 2 * 2 * REGION_KEY_BYTES_MAX + '/pd/api/v1/regions?start_key=&end_key='.length);
const PREFIX = '/pd/api/v1';
const U64_MAX = (1n << 64n) - 1n;

export interface PdHttpContext extends PdServiceContext {
  readonly metrics: Registry;
  /** Splits, merges and operators on the leader, for GET /region-events (region-events.ts). */
  readonly regionEvents: RegionEventLog;
  readonly schedulers: SchedulerController;
  /** Randomness of admin operators (scatter's store choice). */
  readonly rng: Rng;
  addMember(member: { name: string; peerUrls: string[]; clientUrls: string[] }): Promise<PdMember>;
  removeMember(name: string): Promise<void>;
}

type Method = 'GET' | 'POST' | 'DELETE';

/** What a handler answers; the dispatcher writes it (and leaves out the body for HEAD). */
interface Reply {
  readonly status: number;
  readonly body: unknown;
}

/** A matched request: the path's `{…}` segments (percent-decoded), in order, and the query. */
interface RouteRequest {
  readonly params: readonly string[];
  readonly query: URLSearchParams;
  readonly req: IncomingMessage;
}

interface Route {
  /** The path under /pd/api/v1 as documented, `{name}` for one path segment. */
  readonly path: string;
  readonly description: string;
  readonly methods: Readonly<Partial<Record<Method, (r: RouteRequest) => Reply | Promise<Reply>>>>;
}

/** One entry of GET /pd/api/v1. */
export interface HttpRouteInfo {
  readonly path: string;
  readonly methods: readonly string[];
  readonly description: string;
}

/** An HTTP-only outcome with no Flotilla code (no such path, method not allowed, operator conflict). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** The client went away before its request was read whole (aborted upload): nobody to answer. */
class ClientGone extends Error {}

const ok = (body: unknown): Reply => ({ status: 200, body });

function hexKey(encoded: Buffer): string {
  if (encoded.length === 0) return '';
  return decodeKey(encoded).key.toString('hex');
}

/** A raw user key as hex, at most REGION_KEY_BYTES_MAX bytes, memcomparably encoded. */
function parseHexKey(value: string | null, field: string): Buffer {
  if (value === null || value === '') return Buffer.alloc(0);
  if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(value.slice(0, 40))} is not hex`);
  if (value.length > 2 * REGION_KEY_BYTES_MAX) throw new FlotillaError('InvalidArgument', `${field}: ${value.length / 2} bytes is longer than ${REGION_KEY_BYTES_MAX}`);
  return encodeKey(Buffer.from(value, 'hex'));
}

/** A positive id PD could have issued (a safe integer); anything else is InvalidArgument. */
function parseId(text: string | undefined, field: string): number {
  if (text === undefined || !/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(text)} is not an id (a decimal integer in [1, ${Number.MAX_SAFE_INTEGER}])`);
  }
  return Number(text);
}

/** A query parameter that is a decimal integer within [min, max] (no sign, exponent or fraction); `absent` when missing. */
function parseDecimal(text: string | null, field: string, bounds: { readonly min: number; readonly max: number; readonly absent: number }): number {
  if (text === null) return bounds.absent;
  const value = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(text.slice(0, 40))} must be a decimal integer within [${bounds.min}, ${bounds.max}]`);
  }
  return value;
}

function parseU64(value: unknown, field: string): bigint {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(value) || BigInt(value) > U64_MAX) {
    throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(value)} is not a u64 as a decimal string`);
  }
  return BigInt(value);
}

/** Path segments after the prefix, percent-decoded; a malformed escape is InvalidArgument. */
function pathSegments(pathname: string): string[] | undefined {
  if (pathname === PREFIX) return [];
  if (!pathname.startsWith(`${PREFIX}/`)) return undefined;
  return pathname
    .slice(PREFIX.length + 1)
    .split('/')
    .map((raw) => {
      try {
        return decodeURIComponent(raw);
      } catch {
        throw new FlotillaError('InvalidArgument', `path segment ${JSON.stringify(raw.slice(0, 40))} is not valid percent-encoding`);
      }
    });
}

/** The route whose pattern has exactly these segments, and its `{…}` values. */
function matchRoute(routes: readonly Route[], segments: readonly string[]): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    const pattern = route.path === '' ? [] : route.path.slice(1).split('/');
    if (pattern.length !== segments.length) continue;
    const params: string[] = [];
    const isMatch = pattern.every((p, i) => {
      const s = segments[i]!;
      if (!p.startsWith('{')) return p === s;
      params.push(s);
      return s !== '';
    });
    if (isMatch) return { route, params };
  }
  return undefined;
}

/** The methods a route answers, HEAD wherever GET is, in one fixed order (the `Allow` header, the index). */
function allowedMethods(route: Route): string[] {
  return (['GET', 'HEAD', 'POST', 'DELETE'] as const).filter((m) => route.methods[m === 'HEAD' ? 'GET' : m] !== undefined);
}

/** Writes a JSON answer; HEAD gets the same status and headers, no body. */
function send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > HTTP_BODY_BYTES_MAX) throw new FlotillaError('MessageTooLarge', `body exceeds ${HTTP_BODY_BYTES_MAX} bytes`);
      chunks.push(chunk);
    }
  } catch (err) {
    if (isFlotillaError(err)) throw err;
    throw new ClientGone('the client closed the connection before its body was read', { cause: err });
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text === '' ? 'null' : text) as unknown;
  } catch {
    throw new FlotillaError('InvalidArgument', 'body is not valid JSON');
  }
}

async function readObject(req: IncomingMessage, shape: string): Promise<Readonly<Record<string, unknown>>> {
  const body = await readJson(req);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new FlotillaError('InvalidArgument', `body must be a JSON object: ${shape}`);
  return body as Readonly<Record<string, unknown>>;
}

/** `new URL` refused the request target (absolute-form with a bad host or port: `GET http://[ HTTP/1.1`). */
function isInvalidUrl(err: unknown): boolean {
  return err instanceof TypeError && (err as { code?: unknown }).code === 'ERR_INVALID_URL';
}

function applied(result: PdApplyResult): void {
  if (result.kind === 'refused') throw new FlotillaError(result.code, result.message);
}

export class PdHttpApi {
  private readonly routes: readonly Route[];

  constructor(
    private readonly ctx: PdHttpContext,
    private readonly log: Logger,
    /** The dashboard (dashboard-http.ts): answers its own paths first and returns true for them. */
    private readonly dashboard?: { handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> },
  ) {
    this.routes = this.routeTable();
  }

  createServer(): Server {
    return createServer({ maxHeaderSize: HTTP_HEADER_BYTES_MAX }, (req, res) => {
      this.handle(req, res).catch((thrown: unknown) => this.fail(req, res, thrown));
    });
  }

  /** Every path this API serves, for GET /pd/api/v1 and the README's table. */
  index(): HttpRouteInfo[] {
    const api = this.routes.map((r) => ({ path: PREFIX + r.path, methods: allowedMethods(r), description: r.description }));
    const dashboard: HttpRouteInfo[] = this.dashboard === undefined ? [] : [
      { path: `${PREFIX}/keyvisual`, methods: ['GET', 'HEAD'], description: 'the key visualizer: read/write traffic per key range over time, ?metric=written_bytes|read_bytes|written_keys|read_keys&rows=1..1024 (leader)' },
      { path: '/dashboard', methods: ['GET', 'HEAD'], description: 'the dashboard page (any member; a follower links to the leader\'s)' },
    ];
    return [...api, ...dashboard, { path: '/metrics', methods: ['GET', 'HEAD'], description: 'Prometheus metrics of this member' }];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (handleMetricsRequest(this.ctx.metrics, req, res)) return;
    if (this.dashboard !== undefined && (await this.dashboard.handle(req, res))) return;
    const url = new URL(req.url ?? '/', 'http://pd');
    const reply = await this.dispatch(req, url);
    send(req, res, reply.status, reply.body);
  }

  private async dispatch(req: IncomingMessage, url: URL): Promise<Reply> {
    const segments = pathSegments(url.pathname);
    const match = segments === undefined ? undefined : matchRoute(this.routes, segments);
    if (match === undefined) throw new HttpError(404, 'NotFound', `no such path: ${url.pathname} (GET ${PREFIX} lists every path)`);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const handler = method === 'GET' || method === 'POST' || method === 'DELETE' ? match.route.methods[method] : undefined;
    if (handler === undefined) {
      const allow = allowedMethods(match.route).join(', ');
      throw new HttpError(405, 'MethodNotAllowed', `${req.method ?? '?'} is not allowed on ${url.pathname} (allowed: ${allow})`, { allow });
    }
    return handler({ params: match.params, query: url.searchParams, req });
  }

  private fail(req: IncomingMessage, res: ServerResponse, thrown: unknown): void {
    if (thrown instanceof ClientGone) {
      // Nobody is left to answer; the server is unaffected. Not an error of ours.
      this.log.debug({ err: thrown, url: req.url }, 'HTTP client went away mid-request');
      res.destroy();
      return;
    }
    const err = withLeaderHint(isInvalidUrl(thrown) ? new FlotillaError('InvalidArgument', `request target ${JSON.stringify(req.url?.slice(0, 80))} is not a URL`) : thrown, () => leadershipOf(this.ctx));
    if (err instanceof HttpError) return send(req, res, err.status, { code: err.code, message: err.message }, err.headers);
    if (!isFlotillaError(err)) {
      this.log.error({ err, url: req.url }, 'HTTP request failed');
      return send(req, res, 500, { code: 'Internal', message: err instanceof Error ? err.message : String(err) });
    }
    if (err.code === 'MessageTooLarge') {
      // The rest of the body was not read: this connection cannot carry another request.
      res.setHeader('connection', 'close');
      res.once('finish', () => req.destroy());
    }
    const statusUrl = err.code === 'PdNotLeader' ? (pdLeaderHintOf(err)?.statusUrl ?? '') : '';
    const message = statusUrl === '' ? err.message : `${err.message}; the leader's HTTP API is ${statusUrl}${PREFIX}`;
    send(req, res, httpStatusOf(err.code), { code: err.code, message, ...err.details });
  }

  private requireLeader(): void {
    if (!this.ctx.node.canServe) throw pdNotLeader(leadershipOf(this.ctx));
  }

  /** Wraps a handler that reads or writes cluster state: only the serving leader answers. */
  private leaderOnly(handler: (r: RouteRequest) => Reply | Promise<Reply>): (r: RouteRequest) => Reply | Promise<Reply> {
    return (r) => {
      this.requireLeader();
      return handler(r);
    };
  }

  private routeTable(): Route[] {
    const L = this.leaderOnly.bind(this);
    return [
      { path: '', description: 'this list: every path, its methods and what it does', methods: { GET: () => ok({ routes: this.index() }) } },
      { path: '/health', description: "this member's name, id, raft leadership and applied index (any member)", methods: { GET: () => ok(this.health()) } },
      { path: '/leader', description: 'the PD leader: id, name, peerUrls, clientUrls (gRPC), statusUrl (HTTP API)', methods: { GET: () => ok(this.leader()) } },
      {
        path: '/members',
        description: 'GET: every member with its URLs, and the leader id (any member); POST {name, peerUrls, clientUrls}: add a member (leader)',
        methods: { GET: () => ok(this.members()), POST: L(async (r) => ({ status: 201, body: this.memberJson(await this.addMember(r.req)) })) },
      },
      {
        path: '/members/name/{name}',
        description: 'DELETE: remove the member of that name (leader)',
        methods: {
          DELETE: L(async (r) => {
            await this.ctx.removeMember(r.params[0]!);
            return ok({ removed: r.params[0] });
          }),
        },
      },
      { path: '/stores', description: 'every store with its state, region and leader counts', methods: { GET: L(() => ok(this.stores())) } },
      {
        path: '/store/{id}',
        description: 'GET: one store; DELETE: remove it (offline while it holds region peers, else tombstone)',
        methods: { GET: L((r) => ok(this.store(parseId(r.params[0], 'store id')))), DELETE: L((r) => this.deleteStore(parseId(r.params[0], 'store id'))) },
      },
      { path: '/regions', description: 'regions in key order, paged: ?start_key=hex&end_key=hex&limit=1..1000', methods: { GET: L((r) => ok(this.regions(r.query))) } },
      { path: '/region/id/{id}', description: 'the region with that id', methods: { GET: L((r) => ok(this.regionById(parseId(r.params[0], 'region id')))) } },
      { path: '/region/key/{hexKey}', description: 'the region holding that raw key (hex, at most 16 KiB)', methods: { GET: L((r) => ok(this.regionByKey(parseHexKey(r.params[0]!, 'key')))) } },
      {
        path: '/region-events',
        description: `splits, merges and operators (created, finished, cancelled, timed out, region gone) as PD saw them, oldest first: ?since=<Unix ms>&limit=1..${REGION_EVENTS_LIMIT_MAX} (the newest that many)`,
        methods: { GET: L((r) => ok(this.regionEvents(r.query))) },
      },
      { path: '/tso', description: 'one timestamp from the TSO', methods: { GET: L(() => ok(this.tso())) } },
      {
        path: '/config',
        description: `GET: the scheduling config; POST {field: value, …}: change some of it (fields: ${CLUSTER_CONFIG_FIELDS.join(', ')})`,
        methods: { GET: L(() => ok(this.ctx.sm.config)), POST: L((r) => this.patchConfig(r.req)) },
      },
      {
        path: '/operators',
        description:
          "GET: pending operators; POST {regionId, kind: 'transfer-leader', toStoreId} | {regionId, kind: 'split', keys?: hex[]} | {regionId, kind: 'add-peer' | 'remove-peer', storeId}" +
          " | {regionId, kind: 'scatter'} (replicas and leader to random less-loaded stores) | {regionId, kind: 'merge', targetRegionId} (adjacent, same stores): add one",
        methods: {
          GET: L(() => ok({ operators: this.ctx.operators.list().map((o) => ({ ...o, steps: o.steps.map(stepJson) })) })),
          POST: L(async (r) => this.addOperator(await readJson(r.req))),
        },
      },
      { path: '/operators/{regionId}', description: "DELETE: cancel the region's operator", methods: { DELETE: L((r) => ok(this.cancelOperator(parseId(r.params[0], 'region id')))) } },
      {
        path: '/schedulers',
        description: `GET: every scheduler, whether it is on, its settings and operators in flight; POST {name}: switch one on (through raft; names: ${SCHEDULER_NAMES.join(', ')})`,
        methods: { GET: L(() => ok({ schedulers: this.ctx.schedulers.status() })), POST: L((r) => this.switchScheduler(r.req)) },
      },
      {
        path: '/schedulers/{name}',
        description: 'GET: one scheduler; DELETE: switch it off (through raft; it stays off across PD leader changes and restarts)',
        methods: { GET: L((r) => ok(this.scheduler(schedulerName(r.params[0])))), DELETE: L((r) => this.setScheduler(schedulerName(r.params[0]), { isEnabled: false })) },
      },
      {
        path: '/gc/safepoint',
        description: 'GET: the GC safe point; POST {safePoint: "<u64>"}: advance it (never backwards)',
        methods: { GET: L(() => ok({ safePoint: this.ctx.sm.gcSafePoint.toString() })), POST: L((r) => this.updateGcSafePoint(r.req)) },
      },
    ];
  }

  private health(): unknown {
    const node = this.ctx.node;
    return { name: this.ctx.name, memberId: this.ctx.memberId, healthy: node.leaderId !== 0, isLeader: node.isLeader, serving: node.canServe, appliedIndex: node.appliedIndex };
  }

  /** A member as HTTP shows it: URLs with their scheme, as pdpb.Member and PdLeaderHint carry them. */
  private memberJson(m: PdMember): unknown {
    const wire = memberToWire(m);
    return { id: m.id, name: m.name, peerUrls: wire.peerUrls, clientUrls: wire.clientUrls, statusUrl: wire.statusUrl, isLeader: m.id === this.ctx.node.leaderId };
  }

  private leader(): unknown {
    const leader = this.ctx.memberList().find((m) => m.id === this.ctx.node.leaderId);
    if (leader === undefined) throw new FlotillaError('Unavailable', 'no PD leader is known (election in progress?)');
    return this.memberJson(leader);
  }

  private members(): unknown {
    return { members: this.ctx.memberList().map((m) => this.memberJson(m)), leaderId: this.ctx.node.leaderId };
  }

  private async addMember(req: IncomingMessage): Promise<PdMember> {
    const shape = '{ name: string, peerUrls: string[], clientUrls: string[] }';
    const body = await readObject(req, shape);
    const strings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
    if (typeof body.name !== 'string' || body.name === '' || !strings(body.peerUrls) || !strings(body.clientUrls)) throw new FlotillaError('InvalidArgument', `body must be ${shape}`);
    return this.ctx.addMember({ name: body.name, peerUrls: body.peerUrls, clientUrls: body.clientUrls });
  }

  private stores(): unknown {
    const counts = this.storeCounts();
    return { count: this.ctx.sm.stores.size, stores: [...this.ctx.sm.stores.keys()].map((id) => this.storeJson(id, counts)) };
  }

  private store(id: number): unknown {
    if (!this.ctx.sm.stores.has(id)) throw new FlotillaError('StoreNotFound', `store ${id} not found`);
    return this.storeJson(id, this.storeCounts());
  }

  /** Offline (or tombstone at once when it holds no peers), through raft; deleting a tombstone again is a no-op. */
  private async deleteStore(id: number): Promise<Reply> {
    applied(await this.ctx.node.propose({ kind: 'deleteStore', storeId: id }));
    return ok(this.storeJson(id, this.storeCounts()));
  }

  private regions(query: URLSearchParams): unknown {
    const limitText = query.get('limit');
    const limit = limitText === null ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > HTTP_REGIONS_PAGE_MAX) throw new FlotillaError('InvalidArgument', `limit must be within [1, ${HTTP_REGIONS_PAGE_MAX}]`);
    const start = parseHexKey(query.get('start_key'), 'start_key');
    const end = parseHexKey(query.get('end_key'), 'end_key');
    const page = this.ctx.sm.regions.scan(start, end, limit + 1);
    const more = page.length > limit;
    const regions = page.slice(0, limit);
    const last = regions[regions.length - 1];
    return { count: this.ctx.sm.regions.size, regions: regions.map((r) => this.regionJson(r)), nextStartKey: more && last !== undefined ? hexKey(last.endKey) : null };
  }

  /** The region event log from `since` (Unix ms, default 0: all it holds), the newest `limit` events. */
  private regionEvents(query: URLSearchParams): unknown {
    const since = parseDecimal(query.get('since'), 'since', { min: 0, max: Number.MAX_SAFE_INTEGER, absent: 0 });
    const limit = parseDecimal(query.get('limit'), 'limit', { min: 1, max: REGION_EVENTS_LIMIT_MAX, absent: REGION_EVENTS_LIMIT_DEFAULT });
    const log = this.ctx.regionEvents;
    const page = log.query(since, limit);
    return { nowMs: this.ctx.nowMs(), eventsMax: log.capacity, recorded: log.recorded, since, limit, omitted: page.omitted, events: page.events };
  }

  private regionById(id: number): unknown {
    const region = this.ctx.sm.regions.getById(id);
    if (region === undefined) throw new FlotillaError('RegionNotFound', `region ${id} not found`);
    return this.regionJson(region);
  }

  private regionByKey(key: Buffer): unknown {
    const region = this.ctx.sm.regions.getByKey(key);
    if (region === undefined) throw new FlotillaError('RegionNotFound', 'no region holds that key (cluster not bootstrapped?)');
    return this.regionJson(region);
  }

  private tso(): unknown {
    const r = this.ctx.tso.allocate(1);
    if (r.kind !== 'ok') throw new FlotillaError('Unavailable', `TSO not serving (${r.kind})`);
    this.ctx.tsoIssued.inc();
    return { ts: r.lastTs.toString(), physical: Number(extractPhysical(r.lastTs)), logical: Number(extractLogical(r.lastTs)) };
  }

  /** Names and values are checked here, against the documented names, and again at apply. */
  private async patchConfig(req: IncomingMessage): Promise<Reply> {
    const patch = await readObject(req, `any of ${CLUSTER_CONFIG_FIELDS.join(', ')}`);
    const checked = patchClusterConfig(this.ctx.sm.config, patch);
    if (!checked.ok) throw new FlotillaError('ConfigInvalid', `config ${checked.field}: ${checked.reason}`, { details: { field: checked.field } });
    const result = await this.ctx.node.propose({ kind: 'patchConfig', patch: patch as Readonly<Record<string, number | boolean>> });
    if (result.kind === 'refused') throw new FlotillaError('ConfigInvalid', result.message);
    return ok(this.ctx.sm.config);
  }

  /** As gRPC UpdateGCSafePoint: equal is accepted (no change), lower is GcSafePointBackwards (409). */
  private async updateGcSafePoint(req: IncomingMessage): Promise<Reply> {
    const body = await readObject(req, '{ "safePoint": "<u64 as a decimal string>" }');
    const safePoint = parseU64(body.safePoint, 'safePoint');
    applied(await this.ctx.node.propose({ kind: 'updateGcSafePoint', safePoint }));
    return ok({ safePoint: this.ctx.sm.gcSafePoint.toString() });
  }

  private scheduler(name: SchedulerName): unknown {
    return this.ctx.schedulers.status().find((s) => s.name === name)!;
  }

  private async switchScheduler(req: IncomingMessage): Promise<Reply> {
    const body = await readObject(req, `{ "name": one of ${SCHEDULER_NAMES.join(', ')} }`);
    if (typeof body.name !== 'string') throw new FlotillaError('InvalidArgument', `name: must be a string, one of ${SCHEDULER_NAMES.join(', ')}`);
    return this.setScheduler(schedulerName(body.name), { isEnabled: true });
  }

  /** Switches a scheduler through raft; answers its status once applied here. */
  private async setScheduler(name: SchedulerName, options: { readonly isEnabled: boolean }): Promise<Reply> {
    applied(await this.ctx.node.propose({ kind: 'setSchedulerEnabled', name, isEnabled: options.isEnabled }));
    return ok(this.scheduler(name));
  }

  private cancelOperator(regionId: number): unknown {
    if (!this.ctx.operators.cancel(regionId)) throw new HttpError(404, 'OperatorNotFound', `region ${regionId} has no operator`);
    return { cancelled: regionId };
  }

  /** Region and leader counts of every store, in one pass over the regions. */
  private storeCounts(): Map<number, { regionCount: number; leaderCount: number }> {
    const counts = new Map<number, { regionCount: number; leaderCount: number }>();
    for (const r of this.ctx.sm.regions.all()) {
      const leaderPeerId = this.ctx.sm.leaders.get(r.id);
      for (const p of r.peers) {
        const c = counts.get(p.storeId) ?? { regionCount: 0, leaderCount: 0 };
        c.regionCount++;
        if (p.id === leaderPeerId) c.leaderCount++;
        counts.set(p.storeId, c);
      }
    }
    return counts;
  }

  private storeJson(id: number, counts: ReadonlyMap<number, { regionCount: number; leaderCount: number }>): unknown {
    const store = this.ctx.sm.stores.get(id)!;
    const runtime = this.ctx.storeRuntime.get(id);
    const { regionCount, leaderCount } = counts.get(id) ?? { regionCount: 0, leaderCount: 0 };
    return { ...store, regionCount, leaderCount, lastHeartbeatMs: runtime?.lastHeartbeatMs ?? 0, stats: runtime?.stats ?? null };
  }

  private regionJson(r: RegionMeta): unknown {
    const runtime = this.ctx.regionRuntime.get(r.id);
    return {
      id: r.id,
      startKey: hexKey(r.startKey),
      endKey: hexKey(r.endKey),
      epoch: r.epoch,
      peers: r.peers,
      leaderPeerId: this.ctx.sm.leaders.get(r.id) ?? 0,
      approximateSizeBytes: runtime?.approximateSizeBytes ?? 0,
      approximateKeys: runtime?.approximateKeys ?? 0,
      // As its leader's last heartbeat reported them: members it has not heard from, and members a snapshot must catch up.
      downPeers: (runtime?.downPeers ?? []).map((s) => ({ peerId: Number(s.peer?.id ?? 0), storeId: Number(s.peer?.storeId ?? 0), downSeconds: Number(s.downSeconds) })),
      pendingPeerIds: (runtime?.pendingPeers ?? []).map((p) => Number(p.id)),
    };
  }

  /**
   * Admin operators: { regionId, kind: 'transfer-leader', toStoreId } | { regionId, kind: 'split',
   * keys?: hex[] } | { regionId, kind: 'add-peer', storeId } (a new learner on the store, then its
   * promotion once it caught up) | { regionId, kind: 'remove-peer', storeId } (leadership moved
   * off the store first when it leads) | { regionId, kind: 'scatter' } (replicas and leadership to
   * random less-loaded stores) | { regionId, kind: 'merge', targetRegionId } (adjacent, replicas on
   * the same stores). One builder per kind (ADMIN_OPERATOR_KINDS).
   */
  private async addOperator(body: unknown): Promise<Reply> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new FlotillaError('InvalidArgument', 'body must be a JSON object naming regionId and kind');
    const b = body as Readonly<Record<string, unknown>>;
    const regionId = bodyId(b.regionId, 'regionId');
    const kind = b.kind;
    if (typeof kind !== 'string' || !isAdminOperatorKind(kind)) throw new FlotillaError('InvalidArgument', `kind must be ${ADMIN_OPERATOR_KINDS.join(', ')}; got ${JSON.stringify(kind)}`);
    const region = this.ctx.sm.regions.getById(regionId);
    if (region === undefined) throw new FlotillaError('RegionNotFound', `region ${regionId} not found`);
    if (this.ctx.operators.get(region.id) !== undefined) throw new HttpError(409, 'Conflict', `region ${region.id} already has an operator`);
    const steps = await this.adminSteps(kind, region, b);
    if (steps.length === 0) return ok({ regionId: region.id, kind, steps: [], message: `region ${region.id} is already where ${kind} would put it: nothing to do` });
    const result = this.ctx.operators.add(region.id, region.epoch, `admin-${kind}`, steps);
    if (result.kind === 'refused') throw new HttpError(409, 'Conflict', result.reason);
    this.log.info({ regionId: region.id, operatorId: result.operator.id, kind, steps: steps.map((s) => s.kind) }, 'admin operator created');
    return { status: 201, body: { ...result.operator, steps: result.operator.steps.map(stepJson) } };
  }

  private async adminSteps(kind: AdminOperatorKind, region: RegionMeta, b: Readonly<Record<string, unknown>>): Promise<OperatorStep[]> {
    switch (kind) {
      case 'transfer-leader': {
        const toStoreId = bodyId(b.toStoreId, 'toStoreId');
        const toPeer = region.peers.find((p) => p.storeId === toStoreId);
        if (toPeer === undefined) throw new FlotillaError('InvalidArgument', `region ${region.id} has no peer on store ${toStoreId}`);
        if (toPeer.role !== 'voter') throw new FlotillaError('InvalidArgument', `region ${region.id}'s peer on store ${toStoreId} is a learner: only a voter can lead`);
        return [{ kind: 'transferLeader', toPeer }];
      }
      case 'split': {
        if (b.keys !== undefined && !Array.isArray(b.keys)) throw new FlotillaError('InvalidArgument', 'keys: must be an array of hex keys');
        const keys = ((b.keys ?? []) as unknown[]).map((k, i) => parseHexKey(typeof k === 'string' ? k : null, `keys[${i}]`));
        for (const [i, key] of keys.entries()) {
          if (key.length === 0) throw new FlotillaError('InvalidArgument', `keys[${i}]: a split key must not be empty`);
          if (!isInside(region, key)) throw new FlotillaError('InvalidArgument', `keys[${i}]: ${hexKey(key)} is not inside region ${region.id} (a split key must be after its start and before its end)`);
        }
        return [{ kind: 'split', keys }];
      }
      case 'add-peer':
        return this.addPeerSteps(region, bodyId(b.storeId, 'storeId'));
      case 'remove-peer':
        return this.removePeerSteps(region, bodyId(b.storeId, 'storeId'));
      case 'scatter':
        return this.scatterSteps(region);
      case 'merge':
        return this.mergeSteps(region, bodyId(b.targetRegionId, 'targetRegionId'));
    }
  }

  private async scatterSteps(region: RegionMeta): Promise<OperatorStep[]> {
    const view = this.ctx.schedulers.view();
    const r = view.regions.find((x) => x.region.id === region.id)!;
    const ids = await this.ctx.ids.alloc(region.peers.length);
    const fresh = ids.map((id) => {
      if (id > BigInt(Number.MAX_SAFE_INTEGER)) throw new FlotillaError('Internal', `peer id ${id} is not a safe integer`);
      return Number(id);
    });
    const plan = planScatter(view, r, this.ctx.rng, () => fresh.shift()!);
    if (plan.kind === 'refused') throw new FlotillaError('InvalidArgument', plan.reason);
    return [...plan.steps];
  }

  private mergeSteps(source: RegionMeta, targetRegionId: number): OperatorStep[] {
    const target = this.ctx.sm.regions.getById(targetRegionId);
    if (target === undefined) throw new FlotillaError('RegionNotFound', `target region ${targetRegionId} not found`);
    const view = this.ctx.schedulers.view();
    const find = (id: number) => view.regions.find((x) => x.region.id === id)!;
    const check = checkAdminMerge(find(source.id), find(target.id));
    if (check.kind === 'refused') {
      if (check.code === 'Conflict') throw new HttpError(409, 'Conflict', check.reason);
      throw new FlotillaError('InvalidArgument', check.reason);
    }
    return [...check.steps];
  }

  /** A learner on `storeId` (an up store without a peer of the region), then its promotion. */
  private async addPeerSteps(region: RegionMeta, storeId: number): Promise<OperatorStep[]> {
    const store = this.ctx.sm.stores.get(storeId);
    if (store === undefined) throw new FlotillaError('StoreNotFound', `store ${storeId} not found`);
    if (store.state !== 'up') throw new FlotillaError('InvalidArgument', `store ${storeId} is ${store.state}: peers go to up stores only`);
    if (region.peers.some((p) => p.storeId === storeId)) throw new FlotillaError('InvalidArgument', `region ${region.id} already has a peer on store ${storeId}`);
    const [id] = await this.ctx.ids.alloc(1);
    if (id === undefined || id > BigInt(Number.MAX_SAFE_INTEGER)) throw new FlotillaError('Internal', `peer id ${String(id)} is not a safe integer`);
    const peer = { id: Number(id), storeId, role: 'learner' as const };
    return [{ kind: 'addPeer', peer }, { kind: 'promoteLearner', peer }];
  }

  /** The region's peer on `storeId` removed; leadership moved to another voter first when it leads. */
  private removePeerSteps(region: RegionMeta, storeId: number): OperatorStep[] {
    const peer = region.peers.find((p) => p.storeId === storeId);
    if (peer === undefined) throw new FlotillaError('InvalidArgument', `region ${region.id} has no peer on store ${storeId}`);
    const voters = region.peers.filter((p) => p.role === 'voter');
    if (peer.role === 'voter' && voters.length <= 1) throw new FlotillaError('InvalidArgument', `region ${region.id}: removing its only voter would leave it without a quorum`);
    if (this.ctx.sm.leaders.get(region.id) !== peer.id) return [{ kind: 'removePeer', peer }];
    const toPeer = voters.find((p) => p.id !== peer.id);
    if (toPeer === undefined) throw new FlotillaError('InvalidArgument', `region ${region.id}: no other voter to take over its leadership`);
    return [{ kind: 'transferLeader', toPeer }, { kind: 'removePeer', peer }];
  }
}

const ADMIN_OPERATOR_KINDS = ['transfer-leader', 'split', 'add-peer', 'remove-peer', 'scatter', 'merge'] as const;
type AdminOperatorKind = (typeof ADMIN_OPERATOR_KINDS)[number];

function isAdminOperatorKind(kind: string): kind is AdminOperatorKind {
  return (ADMIN_OPERATOR_KINDS as readonly string[]).includes(kind);
}

/** An id in a JSON body: a positive safe integer (a number, as the API documents). */
function bodyId(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(value) ?? 'missing'} is not an id (an integer in [1, ${Number.MAX_SAFE_INTEGER}])`);
  }
  return value;
}

/** A scheduler name from a path or body; an unknown one is 404 SchedulerNotFound naming the known ones. */
function schedulerName(name: string | undefined): SchedulerName {
  if (!isSchedulerName(name)) throw new HttpError(404, 'SchedulerNotFound', `no scheduler named ${JSON.stringify(name)} (known: ${SCHEDULER_NAMES.join(', ')})`);
  return name;
}

/** `key` (memcomparable) lies strictly inside `region`: after its start, before its end. */
function isInside(region: RegionMeta, key: Buffer): boolean {
  return compareKeys(key, region.startKey) > 0 && (region.endKey.length === 0 || compareKeys(key, region.endKey) < 0);
}

function stepJson(step: OperatorStep): unknown {
  return step.kind === 'split' ? { kind: step.kind, keys: step.keys.map(hexKey) } : step;
}
