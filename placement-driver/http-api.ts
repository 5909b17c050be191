// PD's HTTP dashboard endpoints under /pd/api/v1 (JSON; errors as { code, message } with a proper
// status) and /metrics. Reads of cluster state come from the serving leader only; a follower
// answers 503 PdNotLeader with the leader as `leader` (a PdLeaderHint), as the gRPC service does. Keys in URLs are raw user
// keys, hex-encoded (`?start_key=6162`); PD encodes them memcomparably.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  decodeKey, encodeKey, extractLogical, extractPhysical, FlotillaError, handleMetricsRequest, httpStatusOf, isFlotillaError, type Registry,
} from '../common/index.js';
import { CLUSTER_CONFIG_FIELDS } from './cluster-config.js';
import { leadershipOf, pdNotLeader, withLeaderHint } from './members.js';
import type { OperatorStep } from './operators.js';
import type { RegionMeta } from './region-index.js';
import type { PdServiceContext } from './service.js';
import type { PdMember } from './state-machine.js';

/** Largest request body accepted (config patches and operator requests are tiny). */
export const HTTP_BODY_BYTES_MAX = 1024 * 1024;
/** Regions per page of /regions. */
export const HTTP_REGIONS_PAGE_MAX = 1_000;
const PREFIX = '/pd/api/v1';

export interface PdHttpContext extends PdServiceContext {
  readonly metrics: Registry;
  addMember(member: { name: string; peerUrls: string[]; clientUrls: string[] }): Promise<PdMember>;
  removeMember(name: string): Promise<void>;
}

/** An HTTP-only outcome with no Flotilla code (no such path, method not allowed, operator conflict). */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function hexKey(encoded: Buffer): string {
  if (encoded.length === 0) return '';
  return decodeKey(encoded).key.toString('hex');
}

function parseHexKey(value: string | null, field: string): Buffer {
  if (value === null || value === '') return Buffer.alloc(0);
  if (!/^([0-9a-fA-F]{2})*$/.test(value)) throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(value.slice(0, 40))} is not hex`);
  return encodeKey(Buffer.from(value, 'hex'));
}

function parseId(text: string | undefined, field: string): number {
  if (text === undefined || !/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) throw new FlotillaError('InvalidArgument', `${field}: ${JSON.stringify(text)} is not an id`);
  return Number(text);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > HTTP_BODY_BYTES_MAX) throw new FlotillaError('MessageTooLarge', `body exceeds ${HTTP_BODY_BYTES_MAX} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text === '' ? 'null' : text) as unknown;
  } catch {
    throw new FlotillaError('InvalidArgument', 'body is not valid JSON');
  }
}

export class PdHttpApi {
  constructor(
    private readonly ctx: PdHttpContext,
    private readonly log: Logger,
    /** The dashboard (dashboard-http.ts): answers its own paths first and returns true for them. */
    private readonly dashboard?: { handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> },
  ) {}

  createServer(): Server {
    return createServer((req, res) => {
      this.handle(req, res).catch((thrown: unknown) => {
        const err = withLeaderHint(thrown, () => leadershipOf(this.ctx));
        if (err instanceof HttpError) {
          send(res, err.status, { code: err.code, message: err.message });
          return;
        }
        if (isFlotillaError(err)) {
          if (err.code === 'MessageTooLarge') {
            // The rest of the body was not read: this connection cannot carry another request.
            res.setHeader('connection', 'close');
            res.once('finish', () => req.destroy());
          }
          send(res, httpStatusOf(err.code), { code: err.code, message: err.message, ...err.details });
          return;
        }
        this.log.error({ err, url: req.url }, 'HTTP request failed');
        send(res, 500, { code: 'Internal', message: err instanceof Error ? err.message : String(err) });
      });
    });
  }

  private requireLeader(): void {
    if (!this.ctx.node.canServe) throw pdNotLeader(leadershipOf(this.ctx));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (handleMetricsRequest(this.ctx.metrics, req, res)) return;
    if (this.dashboard !== undefined && (await this.dashboard.handle(req, res))) return;
    const url = new URL(req.url ?? '/', 'http://pd');
    const method = req.method ?? 'GET';
    if (!url.pathname.startsWith(PREFIX)) throw new HttpError(404, 'NotFound', `no such path: ${url.pathname}`);
    const parts = url.pathname.slice(PREFIX.length).split('/').filter((p) => p.length > 0);
    const route = parts.join('/');
    const only = (...allowed: string[]): void => {
      if (!allowed.includes(method)) throw new HttpError(405, 'MethodNotAllowed', `${method} not allowed on ${url.pathname}`);
    };
    const sm = this.ctx.sm;
    switch (parts[0]) {
      case 'health':
        only('GET');
        return send(res, 200, { name: this.ctx.name, memberId: this.ctx.memberId, healthy: this.ctx.node.leaderId !== 0, isLeader: this.ctx.node.isLeader, serving: this.ctx.node.canServe, appliedIndex: this.ctx.node.appliedIndex });
      case 'leader': {
        only('GET');
        const leader = this.ctx.memberList().find((m) => m.id === this.ctx.node.leaderId);
        if (leader === undefined) throw new FlotillaError('Unavailable', 'no PD leader is known (election in progress?)');
        return send(res, 200, leader);
      }
      case 'members':
        if (parts.length === 1 && method === 'GET') return send(res, 200, { members: this.ctx.memberList(), leaderId: this.ctx.node.leaderId });
        if (parts.length === 1 && method === 'POST') {
          this.requireLeader();
          const body = (await readJson(req)) as { name?: unknown; peerUrls?: unknown; clientUrls?: unknown } | null;
          const strings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
          if (body === null || typeof body.name !== 'string' || body.name === '' || !strings(body.peerUrls) || !strings(body.clientUrls)) {
            throw new FlotillaError('InvalidArgument', 'body must be { name: string, peerUrls: string[], clientUrls: string[] }');
          }
          return send(res, 201, await this.ctx.addMember({ name: body.name, peerUrls: body.peerUrls, clientUrls: body.clientUrls }));
        }
        if (parts.length === 3 && parts[1] === 'name' && method === 'DELETE') {
          this.requireLeader();
          await this.ctx.removeMember(decodeURIComponent(parts[2]!));
          return send(res, 200, { removed: parts[2] });
        }
        throw new HttpError(route === 'members' ? 405 : 404, route === 'members' ? 'MethodNotAllowed' : 'NotFound', `${method} ${url.pathname}`);
      case 'stores': {
        only('GET');
        this.requireLeader();
        const counts = this.storeCounts();
        return send(res, 200, { count: sm.stores.size, stores: [...sm.stores.values()].map((s) => this.storeJson(s.id, counts)) });
      }
      case 'store': {
        only('GET');
        this.requireLeader();
        const id = parseId(parts[1], 'store id');
        if (!sm.stores.has(id)) throw new FlotillaError('StoreNotFound', `store ${id} not found`);
        return send(res, 200, this.storeJson(id, this.storeCounts()));
      }
      case 'regions': {
        only('GET');
        this.requireLeader();
        const limitText = url.searchParams.get('limit');
        const limit = limitText === null ? 100 : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > HTTP_REGIONS_PAGE_MAX) throw new FlotillaError('InvalidArgument', `limit must be within [1, ${HTTP_REGIONS_PAGE_MAX}]`);
        const start = parseHexKey(url.searchParams.get('start_key'), 'start_key');
        const end = parseHexKey(url.searchParams.get('end_key'), 'end_key');
        const page = sm.regions.scan(start, end, limit + 1);
        const more = page.length > limit;
        const regions = page.slice(0, limit);
        const last = regions[regions.length - 1];
        return send(res, 200, { count: sm.regions.size, regions: regions.map((r) => this.regionJson(r)), nextStartKey: more && last !== undefined ? hexKey(last.endKey) : null });
      }
      case 'region': {
        only('GET');
        this.requireLeader();
        if (parts[1] === 'id') {
          const id = parseId(parts[2], 'region id');
          const region = sm.regions.getById(id);
          if (region === undefined) throw new FlotillaError('RegionNotFound', `region ${id} not found`);
          return send(res, 200, this.regionJson(region));
        }
        if (parts[1] === 'key' && parts[2] !== undefined) {
          const region = sm.regions.getByKey(parseHexKey(parts[2], 'key'));
          if (region === undefined) throw new FlotillaError('RegionNotFound', 'no region holds that key (cluster not bootstrapped?)');
          return send(res, 200, this.regionJson(region));
        }
        throw new HttpError(404, 'NotFound', 'use /region/id/{id} or /region/key/{hex key}');
      }
      case 'tso': {
        only('GET');
        this.requireLeader();
        const r = this.ctx.tso.allocate(1);
        if (r.kind !== 'ok') throw new FlotillaError('Unavailable', `TSO not serving (${r.kind})`);
        this.ctx.tsoIssued.inc();
        return send(res, 200, { ts: r.lastTs.toString(), physical: Number(extractPhysical(r.lastTs)), logical: Number(extractLogical(r.lastTs)) });
      }
      case 'config':
        this.requireLeader();
        if (method === 'GET') return send(res, 200, sm.config);
        if (method === 'POST') {
          const patch = await readJson(req);
          if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new FlotillaError('InvalidArgument', `body must be a JSON object with any of: ${CLUSTER_CONFIG_FIELDS.join(', ')}`);
          const result = await this.ctx.node.propose({ kind: 'patchConfig', patch: patch as Record<string, number | boolean> });
          if (result.kind === 'refused') throw new FlotillaError('ConfigInvalid', result.message);
          return send(res, 200, sm.config);
        }
        throw new HttpError(405, 'MethodNotAllowed', `${method} not allowed on /config`);
      case 'operators':
        this.requireLeader();
        if (method === 'GET' && parts.length === 1) return send(res, 200, { operators: this.ctx.operators.list().map((o) => ({ ...o, steps: o.steps.map(stepJson) })) });
        if (method === 'POST' && parts.length === 1) return send(res, 201, this.addOperator(await readJson(req)));
        if (method === 'DELETE' && parts.length === 2) {
          const regionId = parseId(parts[1], 'region id');
          if (!this.ctx.operators.cancel(regionId)) throw new HttpError(404, 'NotFound', `region ${regionId} has no operator`);
          return send(res, 200, { cancelled: regionId });
        }
        throw new HttpError(405, 'MethodNotAllowed', `${method} ${url.pathname}`);
      case 'schedulers':
        only('GET');
        // Schedulers (replica, balance-leader, balance-region, merge, hot-region) arrive with F7.
        return send(res, 200, { schedulers: [] });
      case 'gc':
        only('GET');
        this.requireLeader();
        if (parts[1] !== 'safepoint') throw new HttpError(404, 'NotFound', 'use /gc/safepoint');
        return send(res, 200, { safePoint: sm.gcSafePoint.toString() });
      case undefined:
      default:
        throw new HttpError(404, 'NotFound', `no such path: ${url.pathname}`);
    }
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
    };
  }

  /** Admin operators: { regionId, kind: 'transfer-leader', toStoreId } | { regionId, kind: 'split', keys?: hex[] }. */
  private addOperator(body: unknown): unknown {
    const b = body as { regionId?: unknown; kind?: unknown; toStoreId?: unknown; keys?: unknown } | null;
    if (b === null || typeof b !== 'object' || typeof b.regionId !== 'number') throw new FlotillaError('InvalidArgument', 'body must name regionId and kind');
    const region = this.ctx.sm.regions.getById(b.regionId);
    if (region === undefined) throw new FlotillaError('RegionNotFound', `region ${b.regionId} not found`);
    let steps: OperatorStep[];
    if (b.kind === 'transfer-leader') {
      const toPeer = region.peers.find((p) => p.storeId === b.toStoreId);
      if (toPeer === undefined) throw new FlotillaError('InvalidArgument', `region ${region.id} has no peer on store ${String(b.toStoreId)}`);
      steps = [{ kind: 'transferLeader', toPeer }];
    } else if (b.kind === 'split') {
      const keys = Array.isArray(b.keys) ? b.keys.map((k, i) => parseHexKey(typeof k === 'string' ? k : null, `keys[${i}]`)) : [];
      steps = [{ kind: 'split', keys }];
    } else {
      throw new FlotillaError('InvalidArgument', 'kind must be transfer-leader or split (more operators arrive with the schedulers)');
    }
    const result = this.ctx.operators.add(region.id, region.epoch, `admin-${String(b.kind)}`, steps);
    if (result.kind === 'refused') throw new HttpError(409, 'Conflict', result.reason);
    return { ...result.operator, steps: result.operator.steps.map(stepJson) };
  }
}

function stepJson(step: OperatorStep): unknown {
  return step.kind === 'split' ? { kind: step.kind, keys: step.keys.map(hexKey) } : step;
}
