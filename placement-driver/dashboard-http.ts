// PD's dashboard over HTTP: the static page (placement-driver/dashboard/, shipped as source, no
// build step), uPlot from node_modules, and the one JSON the page needs beyond /pd/api/v1 — the key
// visualizer's heatmap (`GET /pd/api/v1/keyvisual`). Files are served from a fixed list of names:
// nothing in a URL becomes a file path, so no request reaches outside these files; a path that
// tries (`..`, encoded dots or slashes, backslashes) is answered 400 before any lookup.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { FlotillaError } from '../common/index.js';
import { isKeyVisualMetric, KEYVIS_METRICS, KEYVIS_ROWS_DEFAULT, KEYVIS_ROWS_MAX, type KeyVisualizer } from './key-visualizer.js';
import { leadershipOf, pdNotLeader, type LeadershipSource } from './members.js';

export const DASHBOARD_PATH = '/dashboard';
export const KEYVISUAL_PATH = '/pd/api/v1/keyvisual';
/** The page's own files: revalidated on every load (they change with PD, their names do not). */
const OWN_CACHE_CONTROL = 'no-cache';
/** uPlot: pinned in package.json, so an hour's reuse is safe; a PD upgrade is seen within the hour. */
const VENDOR_CACHE_CONTROL = 'public, max-age=3600';
const CONTENT_SECURITY_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** Where the page's files are: placement-driver/dashboard/ next to this module's source (dist/placement-driver/ → ../../placement-driver/dashboard/). */
export function defaultDashboardDir(): string {
  return fileURLToPath(new URL('../../placement-driver/dashboard/', import.meta.url));
}

interface Asset {
  readonly path: string;
  readonly contentType: string;
  readonly cacheControl: string;
}

/** URL path → file: the only files this server ever reads. */
function assetTable(dashboardDir: string): ReadonlyMap<string, Asset> {
  const dir = dashboardDir.endsWith('/') ? dashboardDir : `${dashboardDir}/`;
  const uplot = (name: string): string => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);
  const own = (name: string, contentType: string): Asset => ({ path: `${dir}${name}`, contentType, cacheControl: OWN_CACHE_CONTROL });
  const index = own('index.html', 'text/html; charset=utf-8');
  return new Map<string, Asset>([
    [DASHBOARD_PATH, index],
    [`${DASHBOARD_PATH}/`, index],
    [`${DASHBOARD_PATH}/index.html`, index],
    [`${DASHBOARD_PATH}/app.js`, own('app.js', 'text/javascript; charset=utf-8')],
    [`${DASHBOARD_PATH}/style.css`, own('style.css', 'text/css; charset=utf-8')],
    [`${DASHBOARD_PATH}/vendor/uPlot.iife.min.js`, { path: uplot('uPlot.iife.min.js'), contentType: 'text/javascript; charset=utf-8', cacheControl: VENDOR_CACHE_CONTROL }],
    [`${DASHBOARD_PATH}/vendor/uPlot.min.css`, { path: uplot('uPlot.min.css'), contentType: 'text/css; charset=utf-8', cacheControl: VENDOR_CACHE_CONTROL }],
  ]);
}

/** A path that tries to leave the dashboard: dot segments, encoded dots, slashes or backslashes, NULs. */
export function isTraversal(rawPath: string): boolean {
  return /(^|\/)\.\.?(\/|$)|%2e|%2f|%5c|%00|\\/i.test(rawPath);
}

export interface DashboardContext extends LeadershipSource {
  readonly node: LeadershipSource['node'] & { readonly canServe: boolean };
  readonly keyVisual: KeyVisualizer;
  nowMs(): number;
}

export class PdDashboardHttp {
  private readonly assets: ReadonlyMap<string, Asset>;

  constructor(
    private readonly ctx: DashboardContext,
    options: { readonly dashboardDir?: string } = {},
  ) {
    this.assets = assetTable(options.dashboardDir ?? defaultDashboardDir());
  }

  /**
   * Answers the dashboard's paths and returns true; returns false for every other path (the API
   * answers those). Throws FlotillaError (the API's error path answers it) for bad parameters and,
   * for the heatmap, on a member that is not the serving leader (PdNotLeader with the leader hint).
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const raw = req.url ?? '/';
    const query = raw.indexOf('?');
    const rawPath = query < 0 ? raw : raw.slice(0, query);
    const isDashboard = rawPath === DASHBOARD_PATH || rawPath.startsWith(`${DASHBOARD_PATH}/`);
    if (!isDashboard && rawPath !== KEYVISUAL_PATH) return false;
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      const message = `${method} is not allowed on ${rawPath} (allowed: GET, HEAD)`;
      if (rawPath === KEYVISUAL_PATH) {
        // An API path: its errors are the API's JSON, as every other path under /pd/api/v1.
        const body = JSON.stringify({ code: 'MethodNotAllowed', message });
        res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        sendText(res, 405, message, { allow: 'GET, HEAD' });
      }
      return true;
    }
    if (rawPath === KEYVISUAL_PATH) {
      this.keyVisual(new URL(raw, 'http://pd').searchParams, method, res);
      return true;
    }
    if (isTraversal(rawPath)) {
      sendText(res, 400, 'bad path');
      return true;
    }
    const asset = this.assets.get(rawPath);
    if (asset === undefined) {
      sendText(res, 404, `no such dashboard file: ${rawPath}`);
      return true;
    }
    await this.sendAsset(req, res, asset, method);
    return true;
  }

  private keyVisual(params: URLSearchParams, method: string, res: ServerResponse): void {
    if (!this.ctx.node.canServe) throw pdNotLeader(leadershipOf(this.ctx));
    const metric = params.get('metric') ?? 'written_bytes';
    if (!isKeyVisualMetric(metric)) throw new FlotillaError('InvalidArgument', `metric must be one of ${KEYVIS_METRICS.join(', ')}`);
    const rowsText = params.get('rows');
    const rows = rowsText === null ? KEYVIS_ROWS_DEFAULT : Number(rowsText);
    if (!Number.isSafeInteger(rows) || rows < 1 || rows > KEYVIS_ROWS_MAX) throw new FlotillaError('InvalidArgument', `rows must be an integer within [1, ${KEYVIS_ROWS_MAX}]`);
    const body = JSON.stringify(this.ctx.keyVisual.matrix(this.ctx.nowMs(), metric, rows));
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
    res.end(method === 'HEAD' ? undefined : body);
  }

  private async sendAsset(req: IncomingMessage, res: ServerResponse, asset: Asset, method: string): Promise<void> {
    let body: Buffer;
    let mtimeMs: number;
    try {
      [body, { mtimeMs }] = await Promise.all([readFile(asset.path), stat(asset.path)]);
    } catch (err) {
      // A PD installed without its dashboard files (or uPlot): say so rather than fail the request.
      sendText(res, 404, `dashboard file missing on this PD: ${(err as Error).message}`);
      return;
    }
    const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
    const headers: Record<string, string | number> = {
      'content-type': asset.contentType,
      'cache-control': asset.cacheControl,
      etag,
      'last-modified': new Date(mtimeMs).toUTCString(),
      'x-content-type-options': 'nosniff',
      'content-security-policy': CONTENT_SECURITY_POLICY,
    };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(method === 'HEAD' ? undefined : body);
  }
}

function sendText(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...extra });
  res.end(text);
}
