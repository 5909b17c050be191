// Test support for the client library (issue F6): one real cluster (PD + stores as processes)
// with Client instances connected to it, and a Percolator probe that talks to the region leader
// through the store's own KV API — to play a client that dies half-way through a commit, and to
// look at locks the public API does not show. stop() closes every client and kills every process,
// also when a test failed.

import { Client } from '../../client/index.js';
import { encodeKey } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import { type KvTestClient, StoreTestCluster } from './store-cluster.js';

export type ClientOptions = Parameters<typeof Client.connect>[0];
export type Txn = Awaited<ReturnType<Client['begin']>>;
export type Snapshot = Awaited<ReturnType<Client['snapshot']>>;
export type KvEntry = { key: Buffer; value: Buffer };

/** Deadline for a cluster-wide condition in these tests: generous, a 2-core machine is slow in bursts. */
export const CONDITION_TIMEOUT_MS = 60_000;

export class ClientTestEnv {
  readonly clients: Client[] = [];
  private isStopped = false;

  private constructor(readonly cluster: StoreTestCluster) {}

  /**
   * Starts 1 PD + 3 stores, waits until the first region has a leader, connects `clients`
   * clients and waits until the first of them serves a raw read and a transactional read.
   * On failure everything started is stopped before the error is rethrown.
   */
  static async start(options: { clients: number; clientOptions?: Partial<ClientOptions>; extraStoreArgs?: readonly string[] }): Promise<ClientTestEnv> {
    const cluster = await StoreTestCluster.start({ stores: 3, pdCount: 1, ...(options.extraStoreArgs === undefined ? {} : { extraStoreArgs: options.extraStoreArgs }) });
    const env = new ClientTestEnv(cluster);
    try {
      await cluster.waitForRegionLeader(undefined, CONDITION_TIMEOUT_MS);
      for (let i = 0; i < options.clients; i++) await env.connect(options.clientOptions);
      const first = env.clients[0];
      if (first !== undefined) {
        await waitFor('the client to serve a raw read', () => first.raw.get('probe/raw').then(() => true), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 100 });
        await waitFor('the client to serve a snapshot read', async () => ((await first.snapshot()).get('probe/txn').then(() => true)), { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 100 });
      }
      return env;
    } catch (err) {
      const logs = await cluster.logTails().catch(() => '(no logs)');
      await env.stop();
      throw new Error(`client test env did not start: ${err instanceof Error ? err.message : String(err)}\n${logs}`, { cause: err });
    }
  }

  client(i: number): Client {
    const c = this.clients[i];
    if (c === undefined) throw new Error(`no client ${i} (have ${this.clients.length})`);
    return c;
  }

  /** One more client of the cluster (closed by stop()). */
  async connect(options: Partial<ClientOptions> = {}): Promise<Client> {
    const client = await Client.connect({ ...options, pdEndpoints: this.cluster.pdEndpoints });
    this.clients.push(client);
    return client;
  }

  /** Closes every client, then kills every process. Idempotent. */
  async stop(): Promise<void> {
    if (this.isStopped) return;
    this.isStopped = true;
    // A client that fails to close (or was closed by its test) must not keep the processes alive.
    for (const c of this.clients) await c.close().catch(() => undefined);
    await this.cluster.stop();
  }
}

// ───────────────────────────── small helpers ─────────────────────────────

/** Everything an async iterable yields, in order. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/**
 * Rejects if `promise` has not settled within `ms`: a hang detector with a generous bound, not a
 * timing assertion (the bound is far above what a healthy run needs).
 */
export async function settleWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** The seed of a randomized test: `env` if set (replay), else one derived from the clock, printed by the caller on failure. */
export function seedFrom(env: string): number {
  const text = process.env[env];
  if (text !== undefined && text !== '') {
    const seed = Number(text);
    if (!Number.isSafeInteger(seed)) throw new Error(`${env}=${text} is not an integer seed`);
    return seed;
  }
  return Date.now() % 1_000_000_007;
}

export const b = (s: string): Buffer => Buffer.from(s);

/** `prefix` followed by raw bytes. */
export function keyOf(prefix: string, ...bytes: number[]): Buffer {
  return Buffer.concat([Buffer.from(prefix), Buffer.from(bytes)]);
}

/** A printable form of a key or value for assertion messages (hex when not printable ASCII, long ones cut). */
export function show(bytes: Uint8Array | null | undefined): string {
  if (bytes === null || bytes === undefined) return 'null';
  const buf = Buffer.from(bytes);
  const isPrintable = buf.every((c) => c >= 0x20 && c < 0x7f);
  const text = isPrintable ? JSON.stringify(buf.toString('latin1')) : `0x${buf.toString('hex')}`;
  return text.length > 80 ? `${text.slice(0, 77)}…(${buf.length} bytes)` : text;
}

/** The smallest key greater than every key with this prefix (for [prefix, prefixEnd) ranges). */
export function prefixEnd(prefix: string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i] = buf[i]! + 1;
      return end;
    }
  }
  throw new Error(`prefix ${show(buf)} has no end`);
}

// ───────────────────────────── Percolator probe ─────────────────────────────

interface RegionStatusJson {
  id: number;
  startKey: string;
  endKey: string;
  epoch: { confVer: number; version: number };
  peers: { id: number; storeId: number }[];
  isLeader: boolean;
}

interface RoutedCall {
  readonly kv: KvTestClient;
  readonly ctx: kvrpcpb.Context__Input;
}

/** A request of the Kv service without its context (the probe routes it). */
type WithoutContext<T> = Omit<T, 'context'>;

/** Any response of the Kv service: region errors mean "not executed, route again". */
interface RoutedResponse {
  regionError?: { kind?: string; message?: string } | null;
  otherError?: { code?: string; message?: string } | null;
}

/**
 * Percolator actions sent straight to the leader of the region holding a key, through the store's
 * KV API — what a client library does underneath, without the client library. Region errors
 * (a leader moved) are retried on a freshly found leader, within a deadline.
 */
export class PercolatorProbe {
  private readonly kvByStore = new Map<number, KvTestClient>();

  constructor(private readonly cluster: StoreTestCluster) {}

  /** The leader of the region containing `key`, as the stores' /status pages report it. */
  private async route(key: Uint8Array): Promise<RoutedCall> {
    const encoded = encodeKey(key);
    return waitFor(
      `the leader of the region holding ${show(key)}`,
      async () => {
        for (let i = 0; i < this.cluster.stores.length; i++) {
          const status = await this.cluster.storeStatus(i).catch(() => undefined);
          const regions = (status?.['regions'] as RegionStatusJson[] | undefined) ?? [];
          for (const r of regions) {
            if (!r.isLeader || !containsKey(r, encoded)) continue;
            const store = this.cluster.stores[i]!;
            const peer = r.peers.find((p) => p.storeId === store.id);
            if (peer === undefined) continue;
            let kv = this.kvByStore.get(i);
            if (kv === undefined) {
              kv = this.cluster.kvClient(i);
              this.kvByStore.set(i, kv);
            }
            const ctx: kvrpcpb.Context__Input = {
              regionId: String(r.id),
              regionEpoch: { confVer: String(r.epoch.confVer), version: String(r.epoch.version) },
              peer: { id: String(peer.id), storeId: String(store.id) },
            };
            return { kv, ctx };
          }
        }
        return undefined;
      },
      { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 100 },
    );
  }

  /** Sends a request to the leader of `routeKey`'s region, retrying region errors; other errors are the caller's to judge. */
  private async send<R extends RoutedResponse>(routeKey: Uint8Array, what: string, call: (r: RoutedCall) => Promise<R>): Promise<R> {
    return waitFor(
      what,
      async () => {
        const routed = await this.route(routeKey);
        const resp = await call(routed);
        return resp.regionError === null || resp.regionError === undefined ? resp : undefined;
      },
      { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 100 },
    );
  }

  /** Prewrites mutations (all in the primary's region); asserts every mutation prewrote. */
  async prewrite(req: WithoutContext<kvrpcpb.PrewriteRequest__Input> & { primaryLock: Buffer }): Promise<void> {
    const resp = await this.send(req.primaryLock, 'KvPrewrite', ({ kv, ctx }) => kv.call('KvPrewrite', { ...req, context: ctx }));
    if (resp.otherError !== null || resp.errors.length > 0) {
      throw new Error(`prewrite failed: ${JSON.stringify({ otherError: resp.otherError, errors: resp.errors })}`);
    }
  }

  /** Commits keys (all in the first key's region); returns the response for the caller to judge. */
  async commit(keys: Buffer[], startTs: bigint, commitTs: bigint): Promise<kvrpcpb.CommitResponse> {
    return this.send(keys[0]!, 'KvCommit', ({ kv, ctx }) => kv.call('KvCommit', { context: ctx, keys, startVersion: String(startTs), commitVersion: String(commitTs) }));
  }

  /** Rolls keys back (all in the first key's region); returns the response. */
  async rollback(keys: Buffer[], startTs: bigint): Promise<kvrpcpb.BatchRollbackResponse> {
    return this.send(keys[0]!, 'KvBatchRollback', ({ kv, ctx }) => kv.call('KvBatchRollback', { context: ctx, keys, startVersion: String(startTs) }));
  }

  /** Locks in [start, end) of start's region with lock_version ≤ maxVersion. */
  async scanLocks(start: Buffer, end: Buffer, maxVersion: bigint): Promise<kvrpcpb.LockInfo[]> {
    const resp = await this.send(start, 'KvScanLock', ({ kv, ctx }) => kv.call('KvScanLock', { context: ctx, startKey: start, endKey: end, maxVersion: String(maxVersion), limit: 10_000 }));
    if (resp.otherError !== null) throw new Error(`scan lock failed: ${JSON.stringify(resp.otherError)}`);
    return resp.locks;
  }
}

function containsKey(r: RegionStatusJson, encoded: Buffer): boolean {
  const start = Buffer.from(r.startKey, 'hex');
  const end = Buffer.from(r.endKey, 'hex');
  return Buffer.compare(start, encoded) <= 0 && (end.length === 0 || Buffer.compare(encoded, end) < 0);
}
