// One prom-client registry per process and a tiny HTTP handler serving it on /metrics.
// Metric names follow flotilla_<component>_<what>_<unit>; labels are bounded (type, outcome, code).

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { FlotillaError } from './errors.js';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';
export { FastCounter, FastHistogram, type FastCounterChild, type FastHistogramChild } from './fast-metrics.js';

/**
 * Latency buckets in seconds, ~50 µs to 10 s (STYLE.md): explicit so that fast local operations
 * (an fsync ~100 µs) and slow cross-node ones (an election) both resolve.
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

export interface MetricsRegistryOptions {
  /** Also collect Node's process metrics (event-loop lag, heap, GC); on by default for servers. */
  readonly collectProcessMetrics?: boolean;
  /** Labels on every metric, e.g. `{ store: '1' }` — a bounded value, set once. */
  readonly defaultLabels?: Readonly<Record<string, string>>;
}

export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.defaultLabels !== undefined) registry.setDefaultLabels({ ...options.defaultLabels });
  if (options.collectProcessMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'flotilla_' });
    registerEventLoopBusy(registry);
    registerMainThreadCpu(registry);
  }
  return registry;
}

/**
 * `flotilla_event_loop_busy_seconds_total`: the time the main thread spent running callbacks, not
 * waiting for events (Node's event-loop utilization, cumulative). Its rate is the share of one core
 * the main thread uses: near 1, the thread is the bottleneck; well below 1 under load, the process
 * waits on something else (its disk, its peers, its CPU share). The lag percentiles say how late
 * a timer ran, not how busy the thread was.
 */
function registerEventLoopBusy(registry: Registry): void {
  let reportedMs = 0;
  new Counter({
    name: 'flotilla_event_loop_busy_seconds_total',
    help: 'Time the main thread spent running (event-loop utilization, cumulative); its rate is the busy share of one core',
    registers: [registry],
    collect() {
      const activeMs = performance.eventLoopUtilization().active;
      if (activeMs > reportedMs) {
        this.inc((activeMs - reportedMs) / 1000);
        reportedMs = activeMs;
      }
    },
  });
}

/** Clock ticks per second of /proc's CPU times: USER_HZ, 100 on every Linux ABI Node runs on. */
export const PROC_CLOCK_TICKS_PER_SECOND = 100;

/**
 * utime + stime, in clock ticks, of the process or thread a /proc `stat` line describes; null when
 * the line does not parse. The command name (field 2) may hold spaces and parentheses: the fields
 * after it start past its last ')'; utime and stime are fields 14 and 15.
 */
export function procStatCpuTicks(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isSafeInteger(utime) || !Number.isSafeInteger(stime) || utime < 0 || stime < 0) return null;
  return utime + stime;
}

/**
 * `flotilla_main_thread_cpu_seconds_total` (Linux): the CPU time the main thread itself got, from
 * /proc (10-ms resolution). Beside the busy counter it tells a thread that is busy because it
 * computes (the two rise together) from one that waits for a CPU while it has work (busy rises
 * faster: other threads and processes hold the cores) — on a small machine shared by several
 * processes, the second is common. Not registered where /proc has no such file.
 */
function registerMainThreadCpu(registry: Registry): void {
  // The main thread's id is the process id; /proc/thread-self would name the pool thread reading it.
  const path = `/proc/${process.pid}/task/${process.pid}/stat`;
  if (!existsSync(path)) return;
  let reportedSeconds = 0;
  new Counter({
    name: 'flotilla_main_thread_cpu_seconds_total',
    help: 'CPU time (user + system) of the main thread alone, from /proc; beside flotilla_event_loop_busy_seconds_total it shows time spent waiting for a CPU',
    registers: [registry],
    async collect() {
      const ticks = procStatCpuTicks(await readFile(path, 'latin1').catch(() => ''));
      const seconds = ticks === null ? null : ticks / PROC_CLOCK_TICKS_PER_SECOND;
      if (seconds !== null && seconds > reportedSeconds) {
        this.inc(seconds - reportedSeconds);
        reportedSeconds = seconds;
      }
    },
  });
}

/**
 * Answers GET /metrics from `registry`; returns false when the request is not for /metrics so
 * a larger HTTP server (PD's dashboard) can route it elsewhere.
 */
export function handleMetricsRequest(registry: Registry, req: IncomingMessage, res: ServerResponse): boolean {
  const path = (req.url ?? '/').split('?', 1)[0];
  if (path !== '/metrics') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'application/json', allow: 'GET, HEAD' });
    res.end(JSON.stringify({ code: 'InvalidArgument', message: `method ${req.method ?? '?'} not allowed on /metrics` }));
    return true;
  }
  registry.metrics().then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : text);
    },
    (err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'Internal', message: `collecting metrics failed: ${String(err)}` }));
    },
  );
  return true;
}

export interface MetricsServer {
  readonly server: Server;
  /** The port actually bound (the OS's choice when 0 was asked). */
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a standalone HTTP server that serves only /metrics (404 JSON for anything else). */
export async function startMetricsServer(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (handleMetricsRequest(registry, req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 'NotFound', message: `no such path: ${req.url ?? ''}` }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new FlotillaError('Unavailable', `metrics server: cannot listen on ${host}:${port}: ${err.message}`, { cause: err })));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  return {
    server,
    port: boundPort,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
