// The load generator of `npm run bench:store`, a child process forked by store-bench.ts (so its
// CPU is measured apart from the stores'). It keeps `concurrency` operations in flight against
// the region leader over a few BatchCommands streams (kv-batch-stream.ts) and takes timestamps
// from PD's TSO through the client library's PdClient (batched on one stream). The harness drives it with the messages of
// store-bench-protocol.ts: init → load → (run → measure-start → measure-stop)* → check-balances.
//
// Workloads (one operation each):
//   raw-put   RawPut of a random key of the raw key space, a value of --value-bytes bytes
//   raw-get   RawGet of a random loaded raw key (a missing key counts as error NotFound)
//   txn-get   a fresh start_ts from TSO, then KvGet of a random account at it
//   transfer  a Percolator transfer between two random accounts: start_ts; KvBatchGet both at
//             start_ts; KvPrewrite both (primary first, one request: one region); commit_ts;
//             KvCommit both keys (one request: same region, primary included). KeyIsLocked or
//             WriteConflict → roll back this attempt's locks and retry with a new start_ts.

import { randomBytes } from 'node:crypto';
import { build, type Histogram } from 'hdr-histogram-js';
import { PdClient } from '../client/index.js';
import { createRng, type Rng } from '../common/index.js';
import {
  contextField, type ContextField, failureOf, keyErrorKind, KvBatchStreams, resultOf, StreamRequestError, type WireContext, type WireResult,
} from './kv-batch-stream.js';
import type { BalanceCheck, GeneratorCommand, GeneratorReply, GeneratorResult, GeneratorSettings, RegionRoute, Workload } from './store-bench-protocol.js';

/** Keys per request while loading, and load requests in flight. */
const LOAD_BATCH_KEYS = 256;
const LOAD_INFLIGHT = 8;
/** A transfer gives up after this many attempts (counted as error TooManyRetries). */
const TRANSFER_ATTEMPTS_MAX = 100;
/** Lock TTL of a transfer's prewrite: long enough never to expire while its commit is in flight. */
const TRANSFER_LOCK_TTL_MS = 3_000;
/** Back-off before retrying a transfer that met another transaction's lock, ms (uniform 1..max). */
const LOCKED_BACKOFF_MS_MAX = 4;
/** How long measure-stop waits for in-flight operations to finish. */
const DRAIN_TIMEOUT_MS = 10_000;
/** Latency histogram range: 1 µs .. 60 s, 3 significant digits. */
const LATENCY_US_MAX = 60_000_000;

/** An operation failed; `kind` is what the report counts. */
class OpError extends Error {
  override readonly name = 'OpError';
  constructor(readonly kind: string, message = kind) {
    super(message);
  }
}

const rawKeyOf = (i: number): Buffer => Buffer.from(`raw/${String(i).padStart(9, '0')}`);
const accountKeyOf = (i: number): Buffer => Buffer.from(`acct/${String(i).padStart(9, '0')}`);

function contextOf(route: RegionRoute): ContextField {
  return contextField({
    regionId: String(route.regionId),
    regionEpoch: { confVer: String(route.epoch.confVer), version: String(route.epoch.version) },
    peer: { id: String(route.leaderPeerId), storeId: String(route.leaderStoreId) },
  } satisfies WireContext);
}

/** `result` unless the response failed as a whole; then an OpError naming why. */
function checked(result: WireResult): WireResult {
  const failure = failureOf(result);
  if (failure !== null) throw new OpError(failure, result.regionError?.message ?? result.otherError?.message ?? failure);
  return result;
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class Generator {
  private readonly rng: Rng = createRng(Date.now() % 1_000_000_007);
  private readonly value: Buffer;
  private context: ContextField;
  private kv: KvBatchStreams;
  /** With --replica-read: a stream set and replica-read context per follower, used in turn. */
  private replicas: { readonly kv: KvBatchStreams; readonly context: ContextField }[] = [];
  private replicaTurn = 0;

  private constructor(
    readonly settings: GeneratorSettings,
    private readonly pd: PdClient,
  ) {
    this.value = randomBytes(settings.valueBytes);
    this.context = contextOf(settings.route);
    this.kv = new KvBatchStreams(settings.route.leaderAddress, settings.streams, pd.clusterId);
    this.replicas = this.replicasOf(settings.route);
  }

  private replicasOf(route: RegionRoute): { readonly kv: KvBatchStreams; readonly context: ContextField }[] {
    if (!this.settings.isReplicaRead) return [];
    return route.followers.map((f) => ({
      kv: new KvBatchStreams(f.address, this.settings.streams, this.pd.clusterId),
      context: contextField({
        regionId: String(route.regionId),
        regionEpoch: { confVer: String(route.epoch.confVer), version: String(route.epoch.version) },
        peer: { id: String(f.peerId), storeId: String(f.storeId) },
        replicaRead: true,
      } satisfies WireContext),
    }));
  }

  static async create(settings: GeneratorSettings): Promise<Generator> {
    if (settings.valueBytes < 8) throw new Error(`--value-bytes ${settings.valueBytes}: a transfer needs at least 8 bytes for the balance`);
    const pd = await PdClient.connect({ pdEndpoints: [settings.pdEndpoint] });
    return new Generator(settings, pd);
  }

  reroute(route: RegionRoute): void {
    this.context = contextOf(route);
    if (route.leaderAddress !== this.kv.address) {
      this.kv.close();
      this.kv = new KvBatchStreams(route.leaderAddress, this.settings.streams, this.pd.clusterId);
    }
    for (const r of this.replicas) r.kv.close();
    this.replicas = this.replicasOf(route);
  }

  get requestsSent(): number {
    return this.replicas.reduce((n, r) => n + r.kv.requestsSent, this.kv.requestsSent);
  }

  get messagesSent(): number {
    return this.replicas.reduce((n, r) => n + r.kv.messagesSent, this.kv.messagesSent);
  }

  /** A transactional read: on a follower in turn with --replica-read, else on the leader. */
  private async read(cmd: string, body: Readonly<Record<string, unknown>>): Promise<WireResult> {
    if (this.replicas.length === 0) return this.call(cmd, body);
    const r = this.replicas[this.replicaTurn++ % this.replicas.length]!;
    return checked(resultOf(await r.kv.send(cmd, body, r.context), cmd));
  }

  private async call(cmd: string, body: Readonly<Record<string, unknown>>): Promise<WireResult> {
    return checked(resultOf(await this.kv.send(cmd, body, this.context), cmd));
  }

  private async timestamp(): Promise<string> {
    try {
      return String(await this.pd.getTimestamp());
    } catch (err) {
      throw new OpError('tso', err instanceof Error ? err.message : String(err));
    }
  }

  /** The value of an account holding `balance`: the balance in the first 8 bytes, random padding after. */
  private accountValue(balance: bigint): Buffer {
    const v = Buffer.from(this.value);
    v.writeBigInt64BE(balance, 0);
    return v;
  }

  // ── Loading ──

  async load(): Promise<void> {
    const { rawKeys, accounts } = this.settings;
    await this.inBatches(rawKeys, async (from, to) => {
      const pairs = [];
      for (let i = from; i < to; i++) pairs.push({ key: rawKeyOf(i), value: this.value });
      await this.call('rawBatchPut', { pairs });
    });
    await this.inBatches(accounts, async (from, to) => {
      const mutations = [];
      for (let i = from; i < to; i++) mutations.push({ op: 'Put', key: accountKeyOf(i), value: this.accountValue(BigInt(this.settings.balanceInitial)) });
      const startTs = await this.timestamp();
      const pre = await this.call('prewrite', { mutations, primaryLock: mutations[0]!.key, startVersion: startTs, lockTtl: String(TRANSFER_LOCK_TTL_MS), txnSize: String(mutations.length) });
      if ((pre.errors ?? []).length > 0) throw new Error(`loading accounts: prewrite failed: ${keyErrorKind(pre.errors![0]!)}`);
      const commitTs = await this.timestamp();
      const com = await this.call('commit', { keys: mutations.map((m) => m.key), startVersion: startTs, commitVersion: commitTs });
      if (com.error !== null && com.error !== undefined) throw new Error(`loading accounts: commit failed: ${keyErrorKind(com.error)}`);
    });
  }

  /** Runs `batch(from, to)` over [0, count) in LOAD_BATCH_KEYS slices, LOAD_INFLIGHT at a time. */
  private async inBatches(count: number, batch: (from: number, to: number) => Promise<void>): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const from = next;
        next = Math.min(count, from + LOAD_BATCH_KEYS);
        await batch(from, next);
      }
    };
    await Promise.all(Array.from({ length: LOAD_INFLIGHT }, worker));
  }

  // ── Operations ──

  operation(workload: Workload, run: Run): () => Promise<void> {
    switch (workload) {
      case 'raw-put':
        return () => this.rawPut();
      case 'raw-get':
        return () => this.rawGet();
      case 'txn-get':
        return () => this.txnGet(run);
      case 'transfer':
        return () => this.transfer(run);
    }
  }

  private async rawPut(): Promise<void> {
    await this.call('rawPut', { key: rawKeyOf(this.rng.nextInt(this.settings.rawKeys)), value: this.value });
  }

  private async rawGet(): Promise<void> {
    const r = await this.call('rawGet', { key: rawKeyOf(this.rng.nextInt(this.settings.rawKeys)) });
    if (r.notFound === true) throw new OpError('NotFound');
  }

  private async txnGet(run: Run): Promise<void> {
    const t0 = performance.now();
    const version = await this.timestamp();
    const t1 = run.step('tso', t0);
    const r = await this.read('get', { key: accountKeyOf(this.rng.nextInt(this.settings.accounts)), version });
    run.step('get', t1);
    if (r.error !== null && r.error !== undefined) throw new OpError(`key:${keyErrorKind(r.error)}`);
    if (r.notFound === true) throw new OpError('NotFound');
  }

  private async transfer(run: Run): Promise<void> {
    const accounts = this.settings.accounts;
    const from = this.rng.nextInt(accounts);
    const to = (from + 1 + this.rng.nextInt(accounts - 1)) % accounts;
    const keys = [accountKeyOf(from), accountKeyOf(to)] as const; // keys[0] is the primary
    const amount = BigInt(1 + this.rng.nextInt(100));
    for (let attempt = 1; attempt <= TRANSFER_ATTEMPTS_MAX; attempt++) {
      const t0 = performance.now();
      const startVersion = await this.timestamp();
      const t1 = run.step('tso', t0);
      const read = await this.read('batchGet', { keys, version: startVersion });
      const t2 = run.step('read', t1);
      // A lock met answers either per pair (pair.error) or for the whole batch (error).
      const readError = read.error ?? (read.pairs ?? []).find((p) => p.error !== null)?.error ?? null;
      if (readError !== null) {
        run.countRetry(`read:${keyErrorKind(readError)}`);
        await sleepMs(1 + this.rng.nextInt(LOCKED_BACKOFF_MS_MAX));
        continue;
      }
      const balances = keys.map((k) => (read.pairs ?? []).find((p) => p.key.equals(k))?.value);
      if (balances[0] === undefined || balances[1] === undefined) throw new OpError('NotFound', 'a transfer account has no value');
      const mutations = [
        { op: 'Put', key: keys[0], value: this.accountValue(balances[0].readBigInt64BE(0) - amount) },
        { op: 'Put', key: keys[1], value: this.accountValue(balances[1].readBigInt64BE(0) + amount) },
      ];
      const tryOnePc = this.settings.isOnePc;
      const pre = await this.call('prewrite', { mutations, primaryLock: keys[0], startVersion, lockTtl: String(TRANSFER_LOCK_TTL_MS), txnSize: '2', tryOnePc });
      const t3 = run.step('prewrite', t2);
      const preErrors = pre.errors ?? [];
      if (preErrors.length === 0 && tryOnePc && pre.onePcCommitTs !== undefined && pre.onePcCommitTs !== '0') return;
      if (preErrors.length > 0) {
        const kind = keyErrorKind(preErrors[0]!);
        run.countRetry(`prewrite:${kind}`);
        if (tryOnePc) {
          // A prewrite is all or nothing, and this answer is clear (not a retry): nothing was
          // written, and no late copy of the request can land — nothing to roll back.
          if (kind === 'KeyIsLocked') await sleepMs(1 + this.rng.nextInt(LOCKED_BACKOFF_MS_MAX));
          continue;
        }
        // One key may have been locked by this attempt: release it before trying again.
        const rb = await this.call('batchRollback', { keys, startVersion });
        if (rb.error !== null && rb.error !== undefined) throw new OpError(`rollback:${keyErrorKind(rb.error)}`);
        if (kind === 'KeyIsLocked') await sleepMs(1 + this.rng.nextInt(LOCKED_BACKOFF_MS_MAX));
        continue;
      }
      const commitVersion = await this.timestamp();
      const t4 = run.step('commit-tso', t3);
      const com = await this.call('commit', { keys, startVersion, commitVersion });
      run.step('commit', t4);
      if (com.error !== null && com.error !== undefined) throw new OpError(`commit:${keyErrorKind(com.error)}`);
      return;
    }
    throw new OpError('TooManyRetries');
  }

  /** Sums every account's balance at a fresh ts: transfers must conserve the total. */
  async checkBalances(): Promise<BalanceCheck> {
    const version = await this.timestamp();
    let total = 0n;
    let locked = 0;
    let found = 0;
    await this.inBatches(this.settings.accounts, async (from, to) => {
      const keys = [];
      for (let i = from; i < to; i++) keys.push(accountKeyOf(i));
      const r = await this.call('batchGet', { keys, version });
      if (r.error !== null && r.error !== undefined) {
        // The store reports a lock for the whole batch: count every key of it as not readable.
        locked += keys.length;
        return;
      }
      for (const p of r.pairs ?? []) {
        if (p.error !== null) locked++;
        else {
          total += p.value.readBigInt64BE(0);
          found++;
        }
      }
    });
    const expected = BigInt(this.settings.accounts) * BigInt(this.settings.balanceInitial);
    return { accounts: this.settings.accounts, total: String(total), expected: String(expected), locked, missing: this.settings.accounts - found - locked };
  }

  close(): void {
    this.kv.close();
    for (const r of this.replicas) r.kv.close();
    this.pd.close();
  }
}

/** One workload at one concurrency: the loops, and what they record while measuring. */
class Run {
  isRecording = false;
  private isStopping = false;
  private readonly histogram: Histogram = build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3 });
  private ops = 0;
  private readonly errors = new Map<string, number>();
  private readonly retries = new Map<string, number>();
  /** Per step: [sum of ms, count] of the steps that ended while recording. */
  private readonly steps = new Map<string, [number, number]>();
  private windowStartMs = 0;
  private windowEndMs = 0;
  private cpuStart: NodeJS.CpuUsage = process.cpuUsage();
  private cpuMs = 0;
  private requestsStart = 0;
  private messagesStart = 0;
  private requests = 0;
  private messages = 0;
  private readonly loops: Promise<void>[];
  private inflight = 0;

  constructor(
    private readonly generator: Generator,
    readonly workload: Workload,
    readonly concurrency: number,
  ) {
    const op = generator.operation(workload, this);
    this.loops = Array.from({ length: concurrency }, () => this.loop(op));
  }

  private async loop(op: () => Promise<void>): Promise<void> {
    while (!this.isStopping) {
      const t0 = performance.now();
      this.inflight++;
      let failure: string | null = null;
      try {
        await op();
      } catch (err) {
        failure = err instanceof OpError || err instanceof StreamRequestError ? err.kind : `exception:${err instanceof Error ? err.name : 'unknown'}`;
      }
      this.inflight--;
      if (!this.isRecording || t0 < this.windowStartMs) continue;
      if (failure !== null) this.errors.set(failure, (this.errors.get(failure) ?? 0) + 1);
      else {
        this.ops++;
        this.histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
      }
    }
  }

  /** A step of an operation that began at `startMs` ended now: counted while recording. Returns now. */
  step(name: string, startMs: number): number {
    const now = performance.now();
    if (this.isRecording && startMs >= this.windowStartMs) {
      const s = this.steps.get(name);
      if (s === undefined) this.steps.set(name, [now - startMs, 1]);
      else {
        s[0] += now - startMs;
        s[1]++;
      }
    }
    return now;
  }

  countRetry(kind: string): void {
    if (this.isRecording) this.retries.set(kind, (this.retries.get(kind) ?? 0) + 1);
  }

  startMeasuring(): void {
    this.windowStartMs = performance.now();
    this.cpuStart = process.cpuUsage();
    this.requestsStart = this.generator.requestsSent;
    this.messagesStart = this.generator.messagesSent;
    this.isRecording = true;
  }

  async stop(): Promise<GeneratorResult> {
    this.windowEndMs = performance.now();
    const cpu = process.cpuUsage(this.cpuStart);
    this.cpuMs = (cpu.user + cpu.system) / 1000;
    this.requests = this.generator.requestsSent - this.requestsStart;
    this.messages = this.generator.messagesSent - this.messagesStart;
    this.isRecording = false;
    this.isStopping = true;
    const drained = Promise.all(this.loops).then(() => true);
    const isDrained = await Promise.race([drained, sleepMs(DRAIN_TIMEOUT_MS).then(() => false)]);
    return this.result(isDrained ? 0 : this.inflight);
  }

  private result(abandoned: number): GeneratorResult {
    const h = this.histogram;
    const empty = h.totalCount === 0;
    return {
      workload: this.workload,
      concurrency: this.concurrency,
      elapsedMs: this.windowEndMs - this.windowStartMs,
      ops: this.ops,
      latencyUs: {
        p50: empty ? NaN : h.getValueAtPercentile(50),
        p90: empty ? NaN : h.getValueAtPercentile(90),
        p99: empty ? NaN : h.getValueAtPercentile(99),
        p999: empty ? NaN : h.getValueAtPercentile(99.9),
        max: empty ? NaN : h.maxValue,
        mean: empty ? NaN : h.mean,
      },
      errors: Object.fromEntries(this.errors),
      retries: Object.fromEntries(this.retries),
      stepsMs: Object.fromEntries([...this.steps].map(([name, [sum, n]]) => [name, sum / n])),
      requests: this.requests,
      streamMessages: this.messages,
      cpuMs: this.cpuMs,
      abandoned,
    };
  }
}

// ── The IPC loop ──

function reply(message: GeneratorReply): void {
  process.send?.(message);
}

let generator: Generator | null = null;
let run: Run | null = null;

function requireGenerator(): Generator {
  if (generator === null) throw new Error('generator: init first');
  return generator;
}

async function handle(command: GeneratorCommand): Promise<void> {
  switch (command.kind) {
    case 'init':
      generator = await Generator.create(command.settings);
      reply({ kind: 'ready' });
      return;
    case 'route':
      requireGenerator().reroute(command.route);
      reply({ kind: 'ready' });
      return;
    case 'load': {
      const start = performance.now();
      const g = requireGenerator();
      await g.load();
      reply({ kind: 'loaded', rawKeys: g.settings.rawKeys, accounts: g.settings.accounts, ms: performance.now() - start });
      return;
    }
    case 'run':
      if (run !== null) throw new Error('generator: a run is already going');
      run = new Run(requireGenerator(), command.workload, command.concurrency);
      reply({ kind: 'running' });
      return;
    case 'measure-start':
      if (run === null) throw new Error('generator: measure-start without a run');
      run.startMeasuring();
      reply({ kind: 'measuring' });
      return;
    case 'measure-stop': {
      if (run === null) throw new Error('generator: measure-stop without a run');
      const r = run;
      run = null;
      reply({ kind: 'result', result: await r.stop() });
      return;
    }
    case 'check-balances':
      reply({ kind: 'balances', check: await requireGenerator().checkBalances() });
      return;
  }
}

process.on('message', (command: GeneratorCommand) => {
  handle(command).catch((err: unknown) => reply({ kind: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});
process.on('disconnect', () => {
  // The harness went away (finished, failed or Ctrl-C): nothing left to measure for.
  generator?.close();
  process.exit(0);
});
