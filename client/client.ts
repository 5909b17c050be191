// The entry point of the client library: Client.connect() finds the PD leader, and the client
// then serves the raw API (client.raw), transactions (begin, withTransaction), snapshot reads and
// timestamps. One Client holds one channel and one batch stream per store, a region cache and a
// TSO batcher; share one per process.

import { ChannelCache, channelCredentials, grpcChannelOptions, silentLogger, type Logger, type Registry, type TlsConfig, type Ts } from '../common/index.js';
import { InvalidArgumentError, TxnAbortedError, WriteConflictError } from './errors.js';
import { KvRpc, REPLICA_READS, type ReplicaRead } from './kv-rpc.js';
import { LockResolver } from './lock-resolver.js';
import { ClientMetrics } from './metrics.js';
import { PdClient } from './pd-client.js';
import { RawClient } from './raw-client.js';
import { Snapshot } from './snapshot.js';
import { Transaction } from './transaction.js';

/** Default deadline of one operation, retries included. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 10_000;
/** withTransaction's default attempts after the first. */
export const TXN_RETRIES_DEFAULT = 10;
/** How long close() waits for background commits of secondaries. */
const CLOSE_DRAIN_MS = 5_000;

export interface ClientOptions {
  /** host:port of one or more PD members (any member leads the client to the leader). */
  readonly pdEndpoints: readonly string[];
  /** Deadline of each operation, retries included (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** TLS for PD and stores; plaintext when absent. */
  readonly tls?: TlsConfig;
  /** pino logger (silent by default). */
  readonly logger?: Logger;
  /** prom-client registry to register the client's metrics in (a private one by default). */
  readonly metricsRegistry?: Registry;
  /**
   * Commit a transaction whose writes all lie in one region in one phase (one raft write, no
   * locks; the store picks the commit_ts). Default true; false always runs two-phase commit.
   */
  readonly onePc?: boolean;
  /**
   * Where transactional reads run: 'leader' (default); 'follower', another replica of the region
   * (the leader when none can serve); 'mixed', every replica in turn. Replica reads are
   * linearizable too (the replica asks the leader for a read index first): they move reads off
   * busy leaders. Per snapshot: `client.snapshot(ts, { replicaRead })`.
   */
  readonly replicaRead?: ReplicaRead;
}

export interface SnapshotOptions {
  /** Where this snapshot's reads run (default: the client's ClientOptions.replicaRead). */
  readonly replicaRead?: ReplicaRead;
}

function checkedReplicaRead(value: unknown, what: string): ReplicaRead {
  if (!REPLICA_READS.includes(value as ReplicaRead)) throw new InvalidArgumentError(`${what} must be one of ${REPLICA_READS.join(', ')}, got ${String(value)}`);
  return value as ReplicaRead;
}

export interface WithTransactionOptions {
  /** Attempts after the first when the transaction conflicts (default 10). */
  readonly maxRetries?: number;
}

export class Client {
  readonly raw: RawClient;
  private readonly resolver: LockResolver;
  private readonly background = new Set<Promise<void>>();
  private isClosed = false;

  private constructor(
    private readonly pd: PdClient,
    private readonly rpc: KvRpc,
    private readonly channels: ChannelCache,
    private readonly metrics: ClientMetrics,
    private readonly logger: Logger,
    private readonly timeoutMs: number,
    private readonly isOnePcAllowed: boolean,
    private readonly replicaRead: ReplicaRead,
  ) {
    this.raw = new RawClient(rpc, timeoutMs);
    this.resolver = new LockResolver(rpc, () => this.pd.getTimestamp(), metrics, logger, (work) => this.track(work));
  }

  static async connect(options: ClientOptions): Promise<Client> {
    if (!Array.isArray(options.pdEndpoints) || options.pdEndpoints.length === 0) throw new InvalidArgumentError('pdEndpoints: give at least one PD endpoint (host:port)');
    const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new InvalidArgumentError(`requestTimeoutMs must be a positive integer, got ${timeoutMs}`);
    const replicaRead = checkedReplicaRead(options.replicaRead ?? 'leader', 'replicaRead');
    const logger = (options.logger ?? silentLogger()).child({ component: 'client' });
    const security = { tls: options.tls ?? null };
    const pd = await PdClient.connect({ pdEndpoints: options.pdEndpoints, requestTimeoutMs: timeoutMs, security, logger });
    // Reconnect to a restarted store within a second (grpc-js backs off to two minutes by default).
    const channels = new ChannelCache(await channelCredentials(security), { ...grpcChannelOptions(), 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1_000 });
    const metrics = new ClientMetrics(options.metricsRegistry);
    const rpc = new KvRpc({ pd, channels, logger, metrics });
    return new Client(pd, rpc, channels, metrics, logger, timeoutMs, options.onePc ?? true, replicaRead);
  }

  /** A fresh timestamp from PD's TSO (batched with other callers). */
  async currentTimestamp(): Promise<Ts> {
    this.throwIfClosed();
    return this.pd.getTimestamp();
  }

  /** Starts a transaction at a fresh start_ts. */
  async begin(): Promise<Transaction> {
    const startTs = await this.currentTimestamp();
    return new Transaction(new Snapshot(this.rpc, this.resolver, startTs, this.timeoutMs, this.replicaRead), {
      rpc: this.rpc,
      resolver: this.resolver,
      timestamp: () => this.pd.getTimestamp(),
      logger: this.logger,
      timeoutMs: this.timeoutMs,
      background: (work) => this.track(work),
      isOnePcAllowed: this.isOnePcAllowed,
    }, this.metrics);
  }

  /**
   * Runs `fn` in a transaction and commits it, retrying the whole transaction (a new start_ts)
   * when it conflicts (WriteConflictError) or was aborted (TxnAbortedError) — both mean it did
   * not commit. Any other error rolls back and propagates, CommitUnknownError included: the
   * transaction may have committed, so it is never silently run again.
   */
  async withTransaction<T>(fn: (txn: Transaction) => Promise<T>, options: WithTransactionOptions = {}): Promise<T> {
    const maxRetries = options.maxRetries ?? TXN_RETRIES_DEFAULT;
    if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) throw new InvalidArgumentError(`maxRetries must be a non-negative integer, got ${maxRetries}`);
    for (let attempt = 0; ; attempt++) {
      const txn = await this.begin();
      try {
        const result = await fn(txn);
        if (!txn.isFinished) await txn.commit();
        return result;
      } catch (err) {
        if (!txn.isFinished) await txn.rollback();
        const retry = (err instanceof WriteConflictError || err instanceof TxnAbortedError) && attempt < maxRetries;
        if (!retry) throw err;
        // Back off a little, randomly, so that conflicting transactions do not collide again.
        await new Promise((resolve) => setTimeout(resolve, Math.min(200, 2 ** attempt) * Math.random()));
      }
    }
  }

  /** Reads at `ts` (default: a fresh timestamp): get, batchGet, scan. */
  async snapshot(ts?: Ts, options: SnapshotOptions = {}): Promise<Snapshot> {
    if (ts !== undefined && (typeof ts !== 'bigint' || ts <= 0n)) throw new InvalidArgumentError('snapshot ts must be a positive bigint');
    const replicaRead = options.replicaRead === undefined ? this.replicaRead : checkedReplicaRead(options.replicaRead, 'snapshot replicaRead');
    const at = ts ?? (await this.currentTimestamp());
    return new Snapshot(this.rpc, this.resolver, at, this.timeoutMs, replicaRead);
  }

  /** Requests written to stores and the stream messages that carried them. */
  get requestStats(): { requests: number; messages: number } {
    return this.rpc.sent;
  }

  private track(work: Promise<void>): void {
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
  }

  private throwIfClosed(): void {
    if (this.isClosed) throw new InvalidArgumentError('client is closed');
  }

  /** Waits (bounded) for background secondary commits, then closes every connection. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.background.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.background]), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_DRAIN_MS)))]);
      clearTimeout(timer);
    }
    this.rpc.close();
    this.pd.close();
    this.channels.close();
  }
}
