// Test support for the PD dashboard: PD's real HTTP API (PdHttpApi) and dashboard (PdDashboardHttp)
// on 127.0.0.1:0 over a stub member — serving leader or follower, a key visualizer the test feeds —
// with no raft, RocksDB or gRPC behind it. Enough for the routes, the follower banner, the heatmap
// endpoint and the region event log the test fills (GET /region-events, the heatmap's markers);
// with `splitKeys` it also holds a real state machine with one store and the regions those keys
// make, so the page can show several regions.

import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetricsRegistry, encodeKey, silentLogger } from '../../common/index.js';
import { PdDashboardHttp } from '../../placement-driver/dashboard-http.js';
import { PdHttpApi, type PdHttpContext } from '../../placement-driver/http-api.js';
import { KeyVisualizer } from '../../placement-driver/key-visualizer.js';
import { RegionEventLog } from '../../placement-driver/region-events.js';
import { PdStateMachine, type PdMember } from '../../placement-driver/state-machine.js';

export interface StubPd {
  readonly url: string;
  readonly keyVisual: KeyVisualizer;
  /** The region event log the page and GET /region-events read; tests append to it. */
  readonly regionEvents: RegionEventLog;
  close(): Promise<void>;
}

export const STUB_SELF: PdMember = { id: 2, name: 'pd2', peerUrls: ['127.0.0.1:1'], clientUrls: ['127.0.0.1:2'], statusAddress: '127.0.0.1:3' };

/**
 * A stub PD member: `isServing` decides whether leader-only routes answer or refuse with
 * PdNotLeader naming `leader` (omit it: no leader known).
 */
export async function startStubPd(options: {
  isServing: boolean;
  leader?: PdMember;
  nowMs?: () => number;
  dashboardDir?: string;
  splitKeys?: readonly Buffer[];
  /** The event log's capacity (default REGION_EVENTS_MAX). */
  regionEventsMax?: number;
}): Promise<StubPd> {
  const keyVisual = new KeyVisualizer({ bucketMs: 1_000 });
  const regionEvents = new RegionEventLog(options.regionEventsMax);
  const leader = options.isServing ? STUB_SELF : options.leader;
  const members = leader === undefined || leader.id === STUB_SELF.id ? [STUB_SELF] : [leader, STUB_SELF];
  const node = { canServe: options.isServing, isLeader: options.isServing, leaderId: leader?.id ?? 0, appliedIndex: 1 };
  const nowMs = options.nowMs ?? (() => Date.now());
  const sm = stubStateMachine(options.splitKeys ?? []);
  const storeRuntime = new Map([[1, { stats: null, lastHeartbeatMs: nowMs() }]]);
  const cluster = { sm, storeRuntime, regionRuntime: new Map(), operators: { list: () => [] } };
  const ctx = { memberId: STUB_SELF.id, name: STUB_SELF.name, node, memberList: () => members, nowMs, metrics: createMetricsRegistry(), keyVisual, regionEvents, ...cluster };
  const dashboard = new PdDashboardHttp(ctx, options.dashboardDir === undefined ? {} : { dashboardDir: options.dashboardDir });
  // Only what the health, members, stores, regions, operators, refusal and dashboard paths read is present.
  const server: Server = new PdHttpApi(ctx as unknown as PdHttpContext, silentLogger(), dashboard).createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    keyVisual,
    regionEvents,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One store (id 1, up) and the regions `splitKeys` (raw, ascending) make: ids 1, 2, … in key order. */
function stubStateMachine(splitKeys: readonly Buffer[]): PdStateMachine {
  const sm = new PdStateMachine();
  const store = { id: 1, address: '127.0.0.1:20160', statusAddress: '127.0.0.1:20180', labels: {}, state: 'up' as const, version: 'stub', startTimestampMs: 0 };
  const peers = (regionId: number) => [{ id: 100 + regionId, storeId: 1, role: 'voter' as const }];
  sm.apply({ kind: 'initCluster', clusterId: 7n });
  sm.apply({ kind: 'bootstrap', store, region: { id: 1, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers: peers(1) } });
  const bounds = [Buffer.alloc(0), ...splitKeys.map((k) => encodeKey(k)), Buffer.alloc(0)];
  for (let i = 0; i + 1 < bounds.length && splitKeys.length > 0; i++) {
    const region = { id: i + 1, startKey: bounds[i]!, endKey: bounds[i + 1]!, epoch: { confVer: 1, version: 2 }, peers: peers(i + 1) };
    const result = sm.apply({ kind: 'putRegion', region, leaderPeerId: 100 + i + 1 });
    if (result.kind !== 'ok') throw new Error(`stub region ${i + 1}: ${JSON.stringify(result)}`);
  }
  return sm;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with the path sent exactly as given (fetch would normalize `..` and `%2e%2e` away). */
export function rawRequest(baseUrl: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port: Number(port), path, method: options.method ?? 'GET', headers: options.headers ?? {}, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}
