// Test support for the store: a cluster of real processes on 127.0.0.1 — PD members (through
// PdTestCluster) and N flotilla-store processes, each with free ports and a data dir under one temp
// dir — plus KvTestClient, a promise wrapper over the Kv service and its batch stream. stop() kills
// every process by pid and removes the temp dirs; start() does the same itself when it fails.

import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { grpc } from '../../common/index.js';
import { endProcess } from './teardown.js';
import { allocateStorePorts, BOOTSTRAP_WAIT_ALL_MS, startStoreProcess, waitFor, type LocalProcess, type StoreLaunchOptions, type StorePorts } from '../../deploy/index.js';
import { loadProtos, type kvrpcpb, type kvservicepb } from '../../proto/index.js';
import { httpJson, PdTestCluster } from './pd-cluster.js';

export interface StoreClusterOptions {
  /** Store processes to start (0 is allowed: PD only). */
  readonly stores: number;
  /** PD members (1 or 3). */
  readonly pdCount: number;
  /** Raft tick of stores and PD, ms (default 50). */
  readonly tickMs?: number;
  /** Flags appended to every store's command line. */
  readonly extraStoreArgs?: readonly string[];
  /** Environment of every store (e.g. FLOTILLA_FAILPOINTS). */
  readonly storeEnv?: Readonly<Record<string, string>>;
}

export interface TestStore {
  readonly name: string;
  /** The id the store registered with PD (from its /status). */
  id: number;
  /** host:port of its KV and raft gRPC services. */
  readonly address: string;
  /** host:port of its status HTTP server. */
  readonly statusAddress: string;
  pid: number;
  readonly dataDir: string;
  process: LocalProcess;
  readonly ports: StorePorts;
}

/** What a store's /status must at least hold; the rest is the store's own. */
export interface StoreStatusJson {
  readonly storeId: number;
  readonly [field: string]: unknown;
}

export interface RegionLeader {
  readonly regionId: number;
  readonly leaderPeerId: number;
  readonly storeId: number;
  /** Index in `stores` of the leader's store; -1 if that store is not one of ours. */
  readonly storeIndex: number;
}

/** start() failed; every process it started was killed and `dir` removed before this was thrown. */
export class StoreClusterStartError extends Error {
  override readonly name = 'StoreClusterStartError';
  constructor(
    message: string,
    readonly dir: string,
    readonly pids: readonly number[],
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** A region as PD's HTTP API lists it (keys: hex of user keys, "" an open end). */
export interface PdRegionJson {
  readonly id: number;
  readonly startKey: string;
  readonly endKey: string;
  readonly peers: readonly { readonly id: number; readonly storeId: number; readonly role: 'voter' | 'learner' }[];
  readonly leaderPeerId: number;
}

/** The region of `regions` (PD's, keys in hex) that holds user key `key`. */
export function regionHolding<R extends { readonly startKey: string; readonly endKey: string }>(regions: readonly R[], key: Buffer): R | undefined {
  return regions.find((x) => Buffer.compare(Buffer.from(x.startKey, 'hex'), key) <= 0 && (x.endKey === '' || Buffer.compare(key, Buffer.from(x.endKey, 'hex')) < 0));
}

export class StoreTestCluster {
  readonly stores: TestStore[] = [];
  private readonly kvClients: KvTestClient[] = [];
  /** Store processes the test stopped itself; any other that exited crashed. */
  private readonly stoppedOnPurpose = new Set<LocalProcess>();
  private isStopped = false;

  private constructor(
    readonly dir: string,
    readonly pd: PdTestCluster,
    private readonly options: StoreClusterOptions,
  ) {}

  static async start(options: StoreClusterOptions): Promise<StoreTestCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-store-test-'));
    let pd: PdTestCluster;
    try {
      pd = await PdTestCluster.start(options.pdCount, { tickMs: options.tickMs ?? 50 });
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw new StoreClusterStartError(`store cluster: PD did not start: ${messageOf(err)}`, dir, [], { cause: err });
    }
    const cluster = new StoreTestCluster(dir, pd, options);
    try {
      for (let i = 0; i < options.stores; i++) await cluster.addStore();
      return cluster;
    } catch (err) {
      const logs = await cluster.logTails();
      const pids = [...pd.processes.values(), ...cluster.stores.map((s) => s.process)].map((p) => p.pid);
      await cluster.stop();
      throw new StoreClusterStartError(`store cluster did not start: ${messageOf(err)}\n${logs}`, dir, pids, { cause: err });
    }
  }

  /** host:port of a PD member (the first; any member finds the leader for a client). */
  get pdEndpoint(): string {
    return this.pdEndpoints[0]!;
  }

  get pdEndpoints(): string[] {
    return this.pd.members.map((m) => `127.0.0.1:${m.clientPort}`);
  }

  private launchOptions(name: string, ports: StorePorts, env: Readonly<Record<string, string>> = {}): StoreLaunchOptions {
    const tickMs = this.options.tickMs ?? 50;
    return {
      name,
      pd: this.pdEndpoints,
      ports,
      dataDir: join(this.dir, name),
      logPath: join(this.dir, `${name}.log`),
      raftTickMs: tickMs,
      // Generous: a 2-core machine under load is slow in bursts (TESTING.md).
      raftElectionTicks: 10,
      raftHeartbeatTicks: 2,
      logLevel: 'info',
      // Stores start one after another; on a loaded machine that takes longer than the default
      // wait, and the first region would be bootstrapped with fewer replicas than every test assumes.
      ...(this.options.stores >= 3 ? { bootstrapWaitMs: BOOTSTRAP_WAIT_ALL_MS } : {}),
      extraArgs: this.options.extraStoreArgs ?? [],
      env: { ...this.options.storeEnv, ...env },
    };
  }

  /** Starts one more store (free ports, its own data dir); resolves once it registered with PD. */
  async addStore(): Promise<TestStore> {
    const name = `store${this.stores.length + 1}`;
    const ports = await allocateStorePorts();
    const launch = this.launchOptions(name, ports);
    const process = await startStoreProcess(launch);
    const store: TestStore = {
      name,
      id: 0,
      address: `127.0.0.1:${ports.port}`,
      statusAddress: `127.0.0.1:${ports.statusPort}`,
      pid: process.pid,
      dataDir: launch.dataDir,
      process,
      ports,
    };
    this.stores.push(store);
    store.id = (await this.storeStatus(this.stores.length - 1)).storeId;
    return store;
  }

  private store(i: number): TestStore {
    const s = this.stores[i];
    if (s === undefined) throw new Error(`no store ${i} (have ${this.stores.length})`);
    return s;
  }

  /** kill -9 by default; SIGTERM stops gracefully; SIGSTOP/SIGCONT freeze and thaw. */
  async killStore(i: number, signal: 'SIGKILL' | 'SIGTERM' | 'SIGSTOP' | 'SIGCONT' = 'SIGKILL'): Promise<void> {
    const p = this.store(i).process;
    if (signal === 'SIGKILL' || signal === 'SIGTERM') this.stoppedOnPurpose.add(p);
    switch (signal) {
      case 'SIGKILL':
        return p.kill();
      case 'SIGTERM':
        return p.stop();
      case 'SIGSTOP':
        return p.pause();
      case 'SIGCONT':
        return p.resume();
    }
  }

  /** Starts store i again with its data dir and ports (killing it first if it runs); same store id expected. */
  async restartStore(i: number, options: { readonly env?: Readonly<Record<string, string>> } = {}): Promise<TestStore> {
    const s = this.store(i);
    this.stoppedOnPurpose.add(s.process);
    await s.process.kill();
    s.process = await startStoreProcess(this.launchOptions(s.name, s.ports, options.env));
    s.pid = s.process.pid;
    const status = await this.storeStatus(i);
    if (s.id !== 0 && status.storeId !== s.id) throw new Error(`${s.name} came back as store ${status.storeId}, was ${s.id}`);
    s.id = status.storeId;
    return s;
  }

  /** GET /status of store i (throws on a non-200 answer or a body without a positive storeId). */
  async storeStatus(i: number): Promise<StoreStatusJson> {
    const r = await httpJson(`http://${this.store(i).statusAddress}/status`);
    const body = r.body as Partial<StoreStatusJson> | null;
    if (r.status !== 200 || body === null || typeof body !== 'object') throw new Error(`${this.store(i).name} /status answered ${r.status}: ${JSON.stringify(r.body)}`);
    const storeId = Number(body.storeId);
    if (!Number.isSafeInteger(storeId) || storeId <= 0) throw new Error(`${this.store(i).name} /status has no storeId: ${JSON.stringify(body)}`);
    return { ...body, storeId };
  }

  /** GET a PD HTTP API path (under /pd/api/v1/) from the serving PD leader. */
  async pdApi(path: string): Promise<{ status: number; body: unknown }> {
    const leader = await this.pd.waitForLeader();
    return httpJson(this.pd.httpUrl(leader, path));
  }

  /** POST a JSON body to a PD HTTP API path on the serving PD leader (the status is the caller's to check). */
  async pdPost(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    const leader = await this.pd.waitForLeader();
    return httpJson(this.pd.httpUrl(leader, path), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  /**
   * Cuts the key space at each of `keys` (user keys) through PD's split operator, one after
   * another; waits until PD's regions start at every cut.
   */
  async splitAtKeys(keys: readonly Buffer[], timeoutMs = 60_000): Promise<void> {
    for (const key of keys) {
      await waitFor(`a split at ${key.toString()}`, async () => {
        const regions = await this.pdRegionsInKeyOrder<PdRegionJson>();
        if (regions.some((x) => x.startKey === key.toString('hex'))) return true;
        const holder = regionHolding(regions, key);
        if (holder !== undefined) await this.pdPost('operators', { regionId: holder.id, kind: 'split', keys: [key.toString('hex')] }); // 409 while one is pending
        return undefined;
      }, { timeoutMs, intervalMs: 200 });
    }
  }

  /** Operators PD has pending (queued or running). */
  async operatorsPending(): Promise<number> {
    const r = await this.pdApi('operators');
    if (r.status !== 200) throw new Error(`PD operators: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    return (r.body as { operators: unknown[] }).operators.length;
  }

  /** PD's regions (at most one page of 1,000: more fails), sorted by start key (user keys in hex). */
  async pdRegionsInKeyOrder<T extends { readonly startKey: string }>(): Promise<T[]> {
    const r = await this.pdApi('regions?limit=1000');
    if (r.status !== 200) throw new Error(`PD regions: HTTP ${r.status}: ${JSON.stringify(r.body)}`);
    const body = r.body as { count: number; regions: T[] };
    if (body.count > 1000) throw new Error(`${body.count} regions: more than one page`);
    return [...body.regions].sort((x, y) => Buffer.compare(Buffer.from(x.startKey, 'hex'), Buffer.from(y.startKey, 'hex')));
  }

  /**
   * Waits until PD knows a leader for the region (the first region when no id is given), as
   * reported by region heartbeats, and names the store it is on.
   */
  async waitForRegionLeader(regionId?: number, timeoutMs = 30_000): Promise<RegionLeader> {
    return waitFor(
      `a leader of region ${regionId ?? '(first)'}`,
      async () => {
        const region = await this.pdRegion(regionId);
        if (region === undefined || region.leaderPeerId === 0) return undefined;
        const peer = region.peers.find((p) => p.id === region.leaderPeerId);
        if (peer === undefined) return undefined;
        return { regionId: region.id, leaderPeerId: peer.id, storeId: peer.storeId, storeIndex: this.stores.findIndex((s) => s.id === peer.storeId) };
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  private async pdRegion(regionId: number | undefined): Promise<PdRegionJson | undefined> {
    if (regionId !== undefined) {
      const r = await this.pdApi(`region/id/${regionId}`);
      return r.status === 200 ? (r.body as PdRegionJson) : undefined;
    }
    const r = await this.pdApi('regions?limit=1');
    return r.status === 200 ? (r.body as { regions: PdRegionJson[] }).regions[0] : undefined;
  }

  /**
   * Waits until store i leads the first region its /status lists, and returns the KV context
   * that addresses that leader (region id, epoch, this store's peer).
   */
  async leaderContext(i: number, timeoutMs = 30_000): Promise<kvrpcpb.Context__Input> {
    const region = await waitFor(`store ${i} to lead its region`, async () => {
      const status = await this.storeStatus(i).catch(() => undefined);
      const r = (status?.['regions'] as StatusRegion[] | undefined)?.[0];
      return r?.isLeader === true ? r : undefined;
    }, { timeoutMs, intervalMs: 50 });
    const storeId = this.store(i).id;
    const peer = region.peers.find((p) => p.storeId === storeId);
    if (peer === undefined) throw new Error(`store ${i} leads region ${region.id} without a peer of its own: ${JSON.stringify(region.peers)}`);
    return { regionId: String(region.id), regionEpoch: { confVer: String(region.epoch.confVer), version: String(region.epoch.version) }, peer: { id: String(peer.id), storeId: String(storeId) } };
  }

  /** A KV client to store i (closed by stop()). */
  kvClient(i: number): KvTestClient {
    const client = new KvTestClient(this.store(i).address);
    this.kvClients.push(client);
    return client;
  }

  /** The last lines of every process's log, for failure messages. */
  async logTails(lines = 15): Promise<string> {
    const parts = [await this.pd.logTails(lines)];
    for (const s of this.stores) {
      const text = await readFile(s.process.logPath, 'utf8').catch(() => '(no log)');
      parts.push(`--- ${s.name} (pid ${s.pid}, running ${s.process.isRunning}) ---\n${text.split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /**
   * Kills every store and PD process by pid and removes the temp dirs. Idempotent. A store that
   * exited without the test stopping it crashed: its log tail goes to stderr. With
   * FLOTILLA_KEEP_TEST_LOGS=<dir>, every log is copied there first (the data dir is removed); with
   * FLOTILLA_KEEP_TEST_DATA=1 as well, the whole data dir (RocksDB included) goes there.
   */
  async stop(): Promise<void> {
    if (this.isStopped) return;
    this.isStopped = true;
    for (const c of this.kvClients) c.close();
    for (const s of this.stores) {
      if (s.process.isRunning || this.stoppedOnPurpose.has(s.process)) continue;
      const text = await readFile(s.process.logPath, 'utf8').catch(() => '(no log)');
      process.stderr.write(`store cluster: ${s.name} (pid ${s.pid}) exited on its own; its log ends:\n${text.split('\n').slice(-40).join('\n')}\n`);
    }
    await Promise.all(this.stores.map((s) => endProcess(s.process)));
    await this.pd.close();
    const keep = process.env['FLOTILLA_KEEP_TEST_LOGS'];
    if (keep !== undefined && keep !== '') {
      await cp(this.dir, join(keep, basename(this.dir)), { recursive: true, filter: (src) => process.env['FLOTILLA_KEEP_TEST_DATA'] === '1' || src === this.dir || src.endsWith('.log') }).catch(() => undefined);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A region as a store's /status lists it (the fields tests read). */
interface StatusRegion {
  readonly id: number;
  readonly epoch: { readonly confVer: number; readonly version: number };
  readonly peers: readonly { readonly id: number; readonly storeId: number }[];
  readonly isLeader: boolean;
}

// ───────────────────────────── KV client ─────────────────────────────

type Unary<Req, Resp> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, resp?: Resp) => void) => grpc.ClientUnaryCall;

/** Per-call options of KvTestClient: a deadline, and metadata (a cluster id, say) to send. */
export interface KvCallOptions {
  readonly timeoutMs?: number;
  readonly metadata?: grpc.Metadata;
}

/** The Kv service's unary methods with their request and response types. */
export interface KvUnaryMethods {
  RawGet: [kvrpcpb.RawGetRequest__Input, kvrpcpb.RawGetResponse];
  RawBatchGet: [kvrpcpb.RawBatchGetRequest__Input, kvrpcpb.RawBatchGetResponse];
  RawPut: [kvrpcpb.RawPutRequest__Input, kvrpcpb.RawPutResponse];
  RawBatchPut: [kvrpcpb.RawBatchPutRequest__Input, kvrpcpb.RawBatchPutResponse];
  RawDelete: [kvrpcpb.RawDeleteRequest__Input, kvrpcpb.RawDeleteResponse];
  RawBatchDelete: [kvrpcpb.RawBatchDeleteRequest__Input, kvrpcpb.RawBatchDeleteResponse];
  RawDeleteRange: [kvrpcpb.RawDeleteRangeRequest__Input, kvrpcpb.RawDeleteRangeResponse];
  RawScan: [kvrpcpb.RawScanRequest__Input, kvrpcpb.RawScanResponse];
  RawCompareAndSwap: [kvrpcpb.RawCompareAndSwapRequest__Input, kvrpcpb.RawCompareAndSwapResponse];
  KvGet: [kvrpcpb.GetRequest__Input, kvrpcpb.GetResponse];
  KvBatchGet: [kvrpcpb.BatchGetRequest__Input, kvrpcpb.BatchGetResponse];
  KvScan: [kvrpcpb.ScanRequest__Input, kvrpcpb.ScanResponse];
  KvPrewrite: [kvrpcpb.PrewriteRequest__Input, kvrpcpb.PrewriteResponse];
  KvCommit: [kvrpcpb.CommitRequest__Input, kvrpcpb.CommitResponse];
  KvBatchRollback: [kvrpcpb.BatchRollbackRequest__Input, kvrpcpb.BatchRollbackResponse];
  KvCleanup: [kvrpcpb.CleanupRequest__Input, kvrpcpb.CleanupResponse];
  KvCheckTxnStatus: [kvrpcpb.CheckTxnStatusRequest__Input, kvrpcpb.CheckTxnStatusResponse];
  KvResolveLock: [kvrpcpb.ResolveLockRequest__Input, kvrpcpb.ResolveLockResponse];
  KvTxnHeartBeat: [kvrpcpb.TxnHeartBeatRequest__Input, kvrpcpb.TxnHeartBeatResponse];
  KvScanLock: [kvrpcpb.ScanLockRequest__Input, kvrpcpb.ScanLockResponse];
  KvGC: [kvrpcpb.GCRequest__Input, kvrpcpb.GCResponse];
}

/** An open BatchCommands stream: each send() resolves with the answers to its requests, in its order. */
export interface BatchCommandsStream {
  send(requests: readonly kvservicepb.KvRequest__Input[]): Promise<kvservicepb.KvResponse[]>;
  /** Requests sent and not yet answered. */
  readonly unanswered: number;
  /** Ends the stream; unanswered requests reject. */
  close(): void;
}

/** A thin promise wrapper over the generated Kv client, for tests. */
export class KvTestClient {
  readonly raw: kvservicepb.KvClient;

  constructor(readonly address: string) {
    const Kv = loadProtos().flotilla.kvservicepb.Kv;
    this.raw = new Kv(address, grpc.credentials.createInsecure());
  }

  /**
   * One unary call with a deadline (default 10 s); a gRPC error rejects with the ServiceError. It
   * waits for a connection within the deadline (waitForReady): grpc-js shares connections between
   * clients of one address, and right after a store restarts that connection may still be in its
   * reconnect back-off — a call that does not wait fails at once with UNAVAILABLE.
   */
  async call<K extends keyof KvUnaryMethods>(name: K, req: KvUnaryMethods[K][0], options: KvCallOptions = {}): Promise<KvUnaryMethods[K][1]> {
    const method = (this.raw[name] as unknown as Unary<KvUnaryMethods[K][0], KvUnaryMethods[K][1]>).bind(this.raw);
    const deadline = new Date(Date.now() + (options.timeoutMs ?? 10_000));
    // Not ready by the deadline: the call below then fails with the real error.
    await new Promise<void>((resolve) => this.raw.waitForReady(deadline, () => resolve()));
    return new Promise((resolve, reject) => {
      method(req, options.metadata ?? new grpc.Metadata(), { deadline }, (err, resp) => (err !== null || resp === undefined ? reject(err ?? new Error('no response')) : resolve(resp)));
    });
  }

  /**
   * Opens a BatchCommands stream. Request ids are a per-stream counter; answers, which may come
   * out of order and split across messages, are matched by id. A stream error or end rejects
   * every unanswered request.
   */
  batchCommands(options: KvCallOptions = {}): BatchCommandsStream {
    const call = this.raw.BatchCommands(options.metadata ?? new grpc.Metadata(), { deadline: new Date(Date.now() + (options.timeoutMs ?? 120_000)) });
    const waiting = new Map<string, { resolve: (r: kvservicepb.KvResponse) => void; reject: (e: unknown) => void }>();
    let nextId = 1;
    let failure: Error | null = null;
    const failAll = (err: Error): void => {
      failure ??= err;
      for (const w of waiting.values()) w.reject(err);
      waiting.clear();
    };
    call.on('data', (batch: kvservicepb.BatchCommandsResponse) => {
      if (batch.responses.length !== batch.requestIds.length) {
        failAll(new Error(`BatchCommandsResponse: ${batch.responses.length} responses for ${batch.requestIds.length} ids`));
        call.cancel();
        return;
      }
      batch.requestIds.forEach((id, i) => {
        const w = waiting.get(id);
        if (w === undefined) {
          failAll(new Error(`BatchCommandsResponse: answer for unknown or already answered request id ${id}`));
          call.cancel();
          return;
        }
        waiting.delete(id);
        w.resolve(batch.responses[i]!);
      });
    });
    call.on('error', (err) => failAll(err));
    call.on('end', () => failAll(new Error('BatchCommands stream ended')));
    return {
      send: (requests) => {
        if (failure !== null) return Promise.reject(failure);
        const ids = requests.map(() => String(nextId++));
        const answers = ids.map((id) => new Promise<kvservicepb.KvResponse>((resolve, reject) => waiting.set(id, { resolve, reject })));
        call.write({ requests: [...requests], requestIds: ids });
        return Promise.all(answers);
      },
      get unanswered() {
        return waiting.size;
      },
      close: () => {
        call.end();
        failAll(new Error('BatchCommands stream closed by the client'));
      },
    };
  }

  close(): void {
    this.raw.close();
  }
}
