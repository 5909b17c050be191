// The store's HTTP status server: GET /metrics (Prometheus text), /status (the store's own JSON
// view: store id, regions, leaders), /health, and the POST actions its owner registers (admin:
// /region/change-peer; a JSON body of at most ACTION_BODY_BYTES_MAX). A route table of small handlers; every answer is
// JSON except /metrics. A bad request, a throwing status() or a failing collector is answered
// (4xx/5xx JSON) — nothing a client sends can crash the process.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { FlotillaError, type Logger, type Registry } from '../common/index.js';

export interface StatusServerOptions {
  readonly host: string;
  /** 0 asks the OS for a free port; the bound one is returned. */
  readonly port: number;
  readonly registry: Registry;
  /** The body of /status; may return a promise. Bigints are rendered as decimal strings. */
  readonly status: () => unknown;
  readonly logger: Logger;
  /**
   * POST routes (admin actions, e.g. /region/change-peer): the JSON body (at most
   * ACTION_BODY_BYTES_MAX) in, a status and JSON body out.
   */
  readonly actions?: ReadonlyMap<string, (body: unknown) => Promise<{ readonly status: number; readonly body: unknown }>>;
}

/** Largest body a POST action reads; an action's arguments are a few fields. */
export const ACTION_BODY_BYTES_MAX = 64 * 1024;

export interface StatusServer {
  /** host:port as bound. */
  readonly address: string;
  readonly port: number;
  stop(): Promise<void>;
}

type Route = (res: ServerResponse, options: StatusServerOptions) => Promise<void>;

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/metrics', serveMetrics],
  ['/status', serveStatus],
  ['/health', async (res) => sendJson(res, 200, { ok: true })],
]);

/** Starts the status server on host:port; rejects with Unavailable if it cannot listen. */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const log = options.logger.child({ component: 'status-http' });
  const server = createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'status request failed');
      if (!res.headersSent) sendJson(res, 500, { code: 'Internal', message: messageOf(err) });
      else res.destroy();
    });
  });
  // A malformed request (bad HTTP) gets a 400 and its socket closed; the server keeps serving.
  server.on('clientError', (err, socket) => {
    log.debug({ err }, 'bad HTTP request on the status server');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new FlotillaError('Unavailable', `status server: cannot listen on ${options.host}:${options.port}: ${err.message}`, { cause: err })));
    server.listen(options.port, options.host, () => resolve());
  });
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : options.port;
  log.info({ host: options.host, port }, 'status server listening');
  return {
    address: `${options.host}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: StatusServerOptions): Promise<void> {
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  const action = options.actions?.get(path);
  if (action !== undefined && req.method === 'POST') {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > ACTION_BODY_BYTES_MAX) {
        sendJson(res, 413, { code: 'InvalidArgument', message: `body exceeds ${ACTION_BODY_BYTES_MAX} bytes` });
        return;
      }
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      sendJson(res, 400, { code: 'InvalidArgument', message: 'the body is not JSON' });
      return;
    }
    const out = await action(body).catch((err: unknown) => ({ status: err instanceof FlotillaError && err.code === 'InvalidArgument' ? 400 : 500, body: { code: isFlotillaCode(err) ? err.code : 'Internal', message: messageOf(err) } }));
    sendJson(res, out.status, out.body);
    return;
  }
  if (action !== undefined) {
    res.setHeader('allow', 'POST');
    sendJson(res, 405, { code: 'MethodNotAllowed', message: `method ${req.method ?? '?'} not allowed on ${path}; only POST` });
    return;
  }
  const route = ROUTES.get(path);
  if (route === undefined) {
    sendJson(res, 404, { code: 'NotFound', message: `no such path: ${path} (try /metrics, /status, /health)` });
    return;
  }
  if (req.method !== 'GET') {
    res.setHeader('allow', 'GET');
    sendJson(res, 405, { code: 'MethodNotAllowed', message: `method ${req.method ?? '?'} not allowed on ${path}; only GET` });
    return;
  }
  await route(res, options);
}

async function serveMetrics(res: ServerResponse, options: StatusServerOptions): Promise<void> {
  let text: string;
  try {
    text = await options.registry.metrics();
  } catch (err) {
    sendJson(res, 500, { code: 'Internal', message: `collecting metrics failed: ${messageOf(err)}` });
    return;
  }
  res.writeHead(200, { 'content-type': options.registry.contentType });
  res.end(text);
}

async function serveStatus(res: ServerResponse, options: StatusServerOptions): Promise<void> {
  let body: string;
  try {
    body = JSON.stringify(await options.status(), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  } catch (err) {
    sendJson(res, 500, { code: isFlotillaCode(err) ? err.code : 'Internal', message: `status failed: ${messageOf(err)}` });
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body ?? 'null');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function isFlotillaCode(err: unknown): err is FlotillaError {
  return err instanceof FlotillaError;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
