// A load-generator process (child_process.fork of this module): opens its own target from the
// spec the parent sends, runs `loops` closed loops of the workload's operations, and reports
// latencies and counts once a second. Only operations that start inside the measured window are
// recorded; the warm-up's are run and dropped.

import { performance } from 'node:perf_hooks';
import { FlotillaError } from '../../common/index.js';
import { encodeHistogram, newLatencyHistogram, recordLatencyUs } from './histogram.js';
import { keyOf, makeKeyChooser, Rng, type KeyChooser } from './key-chooser.js';
import { openTarget } from './open-target.js';
import { ACCOUNT_KEY_PREFIX, RAW_KEY_PREFIX, TRANSFER_AMOUNT_MAX, TXN_KEY_PREFIX, type ParentMessage, type WorkerGo, type WorkerMessage, type WorkerStart } from './protocol.js';
import type { BenchTarget, TxnOutcome } from './target.js';
import { OpPicker, SCAN_LENGTH_MAX, SNAPSHOT_SCAN_LENGTH, type OpKind } from './workloads.js';

/** How often a worker reports. */
const INTERVAL_MS = 1_000;

function send(message: WorkerMessage): void {
  process.send?.(message);
}

/** An error's type for the error table: a Flotilla error's code, else the class name. */
export function errorTypeOf(err: unknown): string {
  if (err instanceof FlotillaError) return err.code;
  if (err instanceof Error) return (err as { code?: unknown }).code !== undefined ? `${err.name}:${String((err as { code?: unknown }).code)}` : err.name;
  return typeof err;
}

export class Recorder {
  private histogram = newLatencyHistogram();
  private ops: Record<string, number> = {};
  private errors: Record<string, number> = {};
  private retries: Record<string, number> = {};

  /** `n` conflicts that `op` ran again (counted whether or not it finally committed). */
  retried(op: OpKind, n: number): void {
    if (n > 0) this.retries[op] = (this.retries[op] ?? 0) + n;
  }

  success(op: OpKind, latencyUs: number): void {
    recordLatencyUs(this.histogram, latencyUs);
    this.ops[op] = (this.ops[op] ?? 0) + 1;
  }

  failure(type: string): void {
    this.errors[type] = (this.errors[type] ?? 0) + 1;
  }

  /** The interval so far, and a fresh one begins. */
  flush(index: number, second: number): WorkerMessage {
    const message: WorkerMessage = { kind: 'interval', index, second, ops: this.ops, errors: this.errors, retries: this.retries, histogram: encodeHistogram(this.histogram) };
    this.histogram = newLatencyHistogram();
    this.ops = {};
    this.errors = {};
    this.retries = {};
    return message;
  }
}

export interface LoopContext {
  readonly target: BenchTarget;
  readonly start: WorkerStart;
  readonly value: Buffer;
  readonly recorder: Recorder;
  readonly measureFromMs: number;
  readonly endAtMs: number;
  /** The clock and the wait of a rate-limited loop; default performance.now and setTimeout (a test injects its own). */
  readonly clock?: LoopClock;
}

export interface LoopClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: LoopClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** Keys one loop inserts before it overwrites its own (YCSB E inserts 5% of its operations). */
const INSERTS_PER_LOOP_MAX = 10_000;
/** Loops per worker the insert key blocks leave room for (more share blocks: harmless overwrites). */
const LOOPS_PER_WORKER_MAX = 4_096;

/** A loop's inserted keys: its own block above the preloaded keys. */
export interface InsertState {
  readonly base: number;
  count: number;
}

export async function runLoop(ctx: LoopContext, loopIndex: number): Promise<void> {
  const rng = new Rng((ctx.start.seed * 7919 + ctx.start.index * 104_729 + loopIndex * 31) >>> 0);
  const keyChooser: KeyChooser = makeKeyChooser(ctx.start.distribution, ctx.start.keys, rng);
  const accountChooser: KeyChooser = makeKeyChooser(ctx.start.distribution, ctx.start.accounts, rng);
  const picker = new OpPicker(ctx.start.mix, rng);
  const inserts: InsertState = { base: ctx.start.keys + (ctx.start.index * LOOPS_PER_WORKER_MAX + loopIndex) * INSERTS_PER_LOOP_MAX, count: 0 };
  const loop: LoopState = { keys: keyChooser, accounts: accountChooser, rng, inserts, retries: 0 };
  const clock = ctx.clock ?? REAL_CLOCK;
  const intervalMs = ctx.start.loopIntervalMs;
  // Open loop (--rate): operations are due every intervalMs from a random phase (loops must not
  // fire in lock step), and latency counts from when an operation was due, not from when the loop
  // got to it — a slow answer delays the next operations, and that wait is latency the user sees
  // (coordinated omission, as wrk2 and YCSB's "intended" latency correct it).
  let dueMs = intervalMs === null ? 0 : clock.now() + rng.next() * intervalMs;
  while ((intervalMs === null ? clock.now() : dueMs) < ctx.endAtMs) {
    if (intervalMs !== null) {
      const waitMs = dueMs - clock.now();
      if (waitMs > 0) await clock.sleep(waitMs);
    }
    const op = picker.next();
    const startedMs = intervalMs === null ? clock.now() : dueMs;
    if (intervalMs !== null) dueMs += intervalMs;
    loop.retries = 0;
    try {
      const outcome = await runOp(ctx, op, loop);
      if (startedMs < ctx.measureFromMs) continue;
      ctx.recorder.retried(op, loop.retries);
      if (outcome === 'ok') ctx.recorder.success(op, (clock.now() - startedMs) * 1000);
      else ctx.recorder.failure(outcome);
    } catch (err) {
      if (startedMs < ctx.measureFromMs) continue;
      ctx.recorder.retried(op, loop.retries);
      ctx.recorder.failure(errorTypeOf(err));
    }
  }
}

/** What one loop keeps between its operations. */
export interface LoopState {
  readonly keys: KeyChooser;
  readonly accounts: KeyChooser;
  readonly rng: Rng;
  readonly inserts: InsertState;
  /** Conflicts the current operation ran again (reset before each operation). */
  retries: number;
}

/**
 * Attempts of one optimistic transaction (transfer, txn-rmw) before it counts as a 'conflict'
 * failure: as many as client/'s withTransaction makes (1 + TXN_RETRIES_DEFAULT), so the bench
 * behaves as an application would.
 */
export const TXN_ATTEMPTS_MAX = 11;
/** Back-off before retry n: equal jitter over min(cap, base·2^(n-1)) ms — conflicting loops must not collide again in lock step. */
const RETRY_BASE_MS = 1;
const RETRY_CAP_MS = 100;

/** Runs `attempt` until it does not conflict, at most TXN_ATTEMPTS_MAX times; counts the retries in `loop`. */
export async function withConflictRetries<T extends string>(loop: LoopState, attempt: () => Promise<T | 'conflict'>): Promise<T | 'conflict'> {
  for (let n = 1; ; n++) {
    const outcome = await attempt();
    if (outcome !== 'conflict' || n >= TXN_ATTEMPTS_MAX) return outcome;
    loop.retries++;
    const exp = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (n - 1));
    await new Promise((r) => setTimeout(r, exp / 2 + (loop.rng.next() * exp) / 2));
  }
}

/**
 * YCSB D's "latest" key: a recency rank r from the key chooser (zipfian by default: rank 0, the
 * newest, likeliest), counted back from the loop's newest insert through its inserts, then the
 * preloaded keys (position p < keys is preloaded key p; p ≥ keys is the loop's insert p − keys).
 * A loop reads what it inserted itself (other loops' inserts are in their own blocks).
 */
export function latestKeyIndex(keysPreloaded: number, inserts: InsertState, rank: number): number {
  const position = keysPreloaded + inserts.count - 1 - rank;
  if (position < keysPreloaded) return position;
  return inserts.base + ((position - keysPreloaded) % INSERTS_PER_LOOP_MAX);
}

/** The value a txn-rmw writes: the loop's value with its first 4 bytes a counter one above the old value's. */
export function incremented(old: Buffer | null, value: Buffer): Buffer {
  const next = Buffer.from(value);
  if (next.length >= 4) next.writeUInt32BE(((old !== null && old.length >= 4 ? old.readUInt32BE(0) : 0) + 1) >>> 0, 0);
  return next;
}

async function runOp(ctx: LoopContext, op: OpKind, loop: LoopState): Promise<'ok' | 'conflict' | 'insufficient'> {
  const { keys, accounts, rng, inserts } = loop;
  switch (op) {
    case 'read':
      await ctx.target.get(keyOf(RAW_KEY_PREFIX, keys.next()));
      return 'ok';
    case 'readLatest':
      await ctx.target.get(keyOf(RAW_KEY_PREFIX, latestKeyIndex(ctx.start.keys, inserts, keys.next())));
      return 'ok';
    case 'update':
      await ctx.target.put(keyOf(RAW_KEY_PREFIX, keys.next()), ctx.value);
      return 'ok';
    case 'scan':
      await ctx.target.scan(keyOf(RAW_KEY_PREFIX, keys.next()), 1 + rng.below(SCAN_LENGTH_MAX));
      return 'ok';
    case 'rmw': {
      const key = keyOf(RAW_KEY_PREFIX, keys.next());
      await ctx.target.get(key);
      await ctx.target.put(key, ctx.value);
      return 'ok';
    }
    case 'insert':
      // A key above the preloaded ones that no other loop inserts (each loop has its own block).
      await ctx.target.put(keyOf(RAW_KEY_PREFIX, inserts.base + (inserts.count++ % INSERTS_PER_LOOP_MAX)), ctx.value);
      return 'ok';
    case 'txnGet':
      await ctx.target.txnGet(keyOf(TXN_KEY_PREFIX, keys.next()));
      return 'ok';
    case 'snapshotScan':
      await ctx.target.snapshotScan(keyOf(TXN_KEY_PREFIX, keys.next()), SNAPSHOT_SCAN_LENGTH);
      return 'ok';
    case 'tso':
      await ctx.target.timestamp();
      return 'ok';
    case 'txnRmw': {
      const key = keyOf(TXN_KEY_PREFIX, keys.next());
      const outcome = await withConflictRetries<TxnOutcome>(loop, () => ctx.target.readModifyWrite(key, (old) => incremented(old, ctx.value)));
      return outcome === 'committed' ? 'ok' : outcome;
    }
    case 'transfer': {
      const from = accounts.next();
      let to = accounts.next();
      if (to === from) to = (from + 1) % ctx.start.accounts;
      const amount = 1 + rng.below(TRANSFER_AMOUNT_MAX);
      const outcome = await withConflictRetries(loop, () => ctx.target.transfer(keyOf(ACCOUNT_KEY_PREFIX, from), keyOf(ACCOUNT_KEY_PREFIX, to), amount, ctx.start.valueSize));
      return outcome === 'committed' ? 'ok' : outcome;
    }
  }
}

async function run(start: WorkerStart, go: WorkerGo, target: BenchTarget): Promise<void> {
  const delayMs = Math.max(0, go.startAtEpochMs - Date.now());
  await new Promise((r) => setTimeout(r, delayMs));
  const t0 = performance.now();
  const measureFromMs = t0 + go.warmupMs;
  const endAtMs = measureFromMs + go.durationMs;
  const recorder = new Recorder();
  const ctx: LoopContext = { target, start, value: Buffer.alloc(start.valueSize, 0x61), recorder, measureFromMs, endAtMs };
  let cpuAtMeasure: NodeJS.CpuUsage | null = null;
  let second = 0;
  const timers: NodeJS.Timeout[] = [];
  timers.push(setTimeout(() => {
    cpuAtMeasure = process.cpuUsage();
    recorder.flush(start.index, 0); // drop anything recorded before the window (nothing should be)
    timers.push(setInterval(() => {
      second++;
      send(recorder.flush(start.index, second));
    }, INTERVAL_MS));
  }, go.warmupMs));
  await Promise.all(Array.from({ length: start.loops }, (_, i) => runLoop(ctx, i)));
  for (const t of timers) clearTimeout(t);
  const cpu = process.cpuUsage(cpuAtMeasure ?? undefined);
  // The tail after the last full second belongs to the last second of the window.
  send(recorder.flush(start.index, Math.max(1, Math.min(second + 1, Math.ceil(go.durationMs / INTERVAL_MS)))));
  send({ kind: 'done', index: start.index, cpuUserUs: cpu.user, cpuSystemUs: cpu.system });
}

let startMessage: WorkerStart | null = null;
let target: BenchTarget | null = null;

process.on('message', (message: ParentMessage) => {
  void (async () => {
    try {
      if (message.kind === 'start') {
        startMessage = message;
        target = await openTarget(message.target);
        send({ kind: 'ready', index: message.index });
      } else {
        if (startMessage === null || target === null) throw new Error('go before start');
        await run(startMessage, message, target);
        await target.close();
        process.disconnect();
      }
    } catch (err) {
      send({ kind: 'failed', index: startMessage?.index ?? -1, message: err instanceof Error ? err.message : String(err) });
      process.exitCode = 1;
      process.disconnect();
    }
  })();
});
