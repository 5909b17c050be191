// Test support: a PD cluster of real flotilla-pd processes in a temp dir, a small promise-based
// PD gRPC client, and polling helpers. Every process is killed and the temp dir removed by close(),
// which tests call in `finally` / `after` — also when they fail.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChannelCache, channelCredentials, encodeKey, grpc, INSECURE, u64ToWire } from '../../common/index.js';
import { endProcess } from './teardown.js';
import { allocatePdMember, startPdProcess, waitFor, type LocalProcess, type PdMemberSpec } from '../../deploy/index.js';
import { loadProtos, type metapb, type pdpb } from '../../proto/index.js';

export interface HealthJson {
  name: string;
  memberId: number;
  healthy: boolean;
  isLeader: boolean;
  serving: boolean;
  appliedIndex: number;
}

export async function httpJson(url: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

export class PdTestCluster {
  readonly processes = new Map<string, LocalProcess>();
  private channels: ChannelCache | undefined;

  private constructor(
    readonly dir: string,
    readonly members: PdMemberSpec[],
  ) {}

  static async start(count: number, options: { tickMs?: number; logLevel?: string } = {}): Promise<PdTestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-pd-test-'));
    const members: PdMemberSpec[] = [];
    for (let i = 1; i <= count; i++) members.push(await allocatePdMember(`pd${i}`));
    const cluster = new PdTestCluster(dir, members);
    cluster.tickMs = options.tickMs ?? 50;
    cluster.logLevel = options.logLevel ?? 'info';
    try {
      for (const m of members) await cluster.startMember(m.name);
      await cluster.waitForLeader();
      return cluster;
    } catch (err) {
      const logs = await cluster.logTails();
      await cluster.close();
      throw new Error(`PD cluster did not start: ${err instanceof Error ? err.message : String(err)}\n${logs}`, { cause: err });
    }
  }

  /** The last lines of every member's log, for failure messages. */
  /** A member's log as pino records (one JSON object a line; other lines are skipped). */
  async logRecords(name: string): Promise<{ level: number; msg?: string; [field: string]: unknown }[]> {
    const proc = this.processes.get(name);
    if (proc === undefined) throw new Error(`no process ${name}`);
    const text = await readFile(proc.logPath, 'utf8');
    return text
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg?: string });
  }

  async logTails(lines = 15): Promise<string> {
    const parts: string[] = [];
    for (const [name, proc] of this.processes) {
      const text = await readFile(proc.logPath, 'utf8').catch(() => '(no log)');
      parts.push(`--- ${name} (pid ${proc.pid}, running ${proc.isRunning}) ---\n${text.split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  tickMs = 50;
  logLevel = 'info';

  spec(name: string): PdMemberSpec {
    const m = this.members.find((x) => x.name === name);
    if (m === undefined) throw new Error(`no member ${name}`);
    return m;
  }

  async startMember(name: string, state: 'new' | 'existing' = 'new', cluster: readonly PdMemberSpec[] = this.members): Promise<void> {
    const proc = await startPdProcess({ member: this.spec(name), cluster, dataDir: this.dir, initialClusterState: state, tickMs: this.tickMs, logLevel: this.logLevel });
    this.processes.set(name, proc);
  }

  async addMemberSpec(name: string): Promise<PdMemberSpec> {
    const m = await allocatePdMember(name);
    this.members.push(m);
    return m;
  }

  httpUrl(name: string, path: string): string {
    return `http://127.0.0.1:${this.spec(name).httpPort}/pd/api/v1/${path}`;
  }

  async health(name: string): Promise<HealthJson | undefined> {
    if (this.processes.get(name)?.isRunning !== true) return undefined;
    try {
      const r = await httpJson(this.httpUrl(name, 'health'));
      return r.status === 200 ? (r.body as HealthJson) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The name of the member that is the serving leader, once there is exactly one. */
  async waitForLeader(timeoutMs = 30_000): Promise<string> {
    return waitFor(
      'a serving PD leader',
      async () => {
        const names = [...this.processes.keys()].filter((n) => this.processes.get(n)?.isRunning === true);
        const healths = await Promise.all(names.map((n) => this.health(n)));
        const serving = names.filter((_, i) => healths[i]?.serving === true);
        return serving.length === 1 ? serving[0] : undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  client(name: string): PdTestClient {
    this.channels ??= new ChannelCache(grpc.credentials.createInsecure());
    return new PdTestClient(this.channels.get(loadProtos().flotilla.pdpb.PD, `127.0.0.1:${this.spec(name).clientPort}`));
  }

  async close(): Promise<void> {
    this.channels?.close();
    await Promise.all([...this.processes.values()].map((p) => endProcess(p)));
    await rm(this.dir, { recursive: true, force: true });
  }
}

type Unary<Req, Resp> = (req: Req, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, resp?: Resp) => void) => grpc.ClientUnaryCall;

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

/** A thin promise wrapper over the generated PD client for tests. */
export class PdTestClient {
  clusterId = '0';

  constructor(readonly raw: pdpb.PDClient) {}

  header(clusterId = this.clusterId): pdpb.RequestHeader__Input {
    return { clusterId, senderId: '0' };
  }

  call<K extends keyof PdUnaryMethods>(name: K, req: PdUnaryMethods[K][0]): Promise<PdUnaryMethods[K][1]> {
    const method = (this.raw[name] as unknown as Unary<PdUnaryMethods[K][0], PdUnaryMethods[K][1]>).bind(this.raw);
    return new Promise((resolve, reject) => {
      method(req, { deadline: new Date(Date.now() + 10_000) }, (err, resp) => (err !== null || resp === undefined ? reject(err ?? new Error('no response')) : resolve(resp)));
    });
  }

  async members(): Promise<pdpb.GetMembersResponse> {
    const r = await this.call('GetMembers', { header: this.header('0') });
    this.clusterId = r.header?.clusterId ?? '0';
    return r;
  }

  allocId(): Promise<pdpb.AllocIDResponse> {
    return this.call('AllocID', { header: this.header() });
  }

  /** Opens a TSO stream; `next(count)` resolves with each response in order. */
  tsoStream(): { next: (count: number) => Promise<pdpb.TsoResponse>; close: () => void } {
    const call = this.raw.Tso({ deadline: new Date(Date.now() + 120_000) });
    const waiting: { resolve: (r: pdpb.TsoResponse) => void; reject: (e: unknown) => void }[] = [];
    call.on('data', (r: pdpb.TsoResponse) => waiting.shift()?.resolve(r));
    call.on('error', (err) => {
      for (const w of waiting.splice(0)) w.reject(err);
    });
    call.on('end', () => {
      for (const w of waiting.splice(0)) w.reject(new Error('TSO stream ended'));
    });
    return {
      next: (count) =>
        new Promise((resolve, reject) => {
          waiting.push({ resolve, reject });
          call.write({ header: this.header(), count });
        }),
      close: () => call.end(),
    };
  }
}

export function tsOf(r: pdpb.TsoResponse): bigint {
  return (BigInt(r.timestamp?.physical ?? '0') << 18n) | BigInt(r.timestamp?.logical ?? 0);
}

export { u64ToWire, channelCredentials, INSECURE };

// ───────────────────────────── Scheduler and admin-operator fixtures (F7) ─────────────────────────────

function fixtureStore(id: string, port: number): metapb.Store__Input {
  return { id, address: `127.0.0.1:${port}`, statusAddress: '', labels: [], state: 'Up', version: '0.1.0', startTimestamp: String(Date.now()) };
}

/** A region on the wire with raw keys memcomparable-encoded ('' stays an open edge) and voters [peerId, storeId]. */
export function wireRegion(id: string, start: string, end: string, version: number, peers: readonly (readonly [string, string])[]): metapb.Region__Input {
  const enc = (raw: string): Buffer => (raw === '' ? Buffer.alloc(0) : encodeKey(Buffer.from(raw)));
  return { id, startKey: enc(start), endKey: enc(end), regionEpoch: { confVer: '1', version: String(version) }, peers: peers.map(([pid, storeId]) => ({ id: pid, storeId, role: 'Voter' })) };
}

/**
 * Bootstraps a PD with stores 1-3 (registered, no heartbeats) and three regions, as a split would
 * report them: a = [−∞, "m") and b = ["m", "t") with a voter on store 1, c = ["t", +∞) with one on
 * store 2. No leader is reported, so schedulers leave them alone. Returns the region ids.
 */
export async function bootstrapThreeRegions(pd: PdTestClient): Promise<{ readonly a: number; readonly b: number; readonly c: number }> {
  await pd.members();
  const boot = await pd.call('Bootstrap', { header: pd.header(), store: fixtureStore('1', 21001), region: wireRegion('10', '', '', 1, [['11', '1']]) });
  if (boot.header?.error) throw new Error(`Bootstrap: ${JSON.stringify(boot.header.error)}`);
  for (const id of ['2', '3']) {
    const put = await pd.call('PutStore', { header: pd.header(), store: fixtureStore(id, 21000 + Number(id)) });
    if (put.header?.error) throw new Error(`PutStore ${id}: ${JSON.stringify(put.header.error)}`);
  }
  const split = await pd.call('ReportBatchSplit', { header: pd.header(), regions: [wireRegion('10', '', 'm', 2, [['11', '1']]), wireRegion('20', 'm', 't', 2, [['21', '1']]), wireRegion('30', 't', '', 2, [['31', '2']])] });
  if (split.header?.error) throw new Error(`ReportBatchSplit: ${JSON.stringify(split.header.error)}`);
  return { a: 10, b: 20, c: 30 };
}
