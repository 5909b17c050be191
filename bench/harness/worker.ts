// A load-generator process (child_process.fork of this module): opens its own target from the
// spec the parent sends, runs `loops` closed loops of the workload's operations, and reports
// latencies and counts once a second. Only operations that start inside the measured window are
// recorded; the warm-up's are run and dropped.

import { performance } from 'node:perf_hooks';
import { FlotillaError } from '../../common/index.js';
import { encodeHistogram, newLatencyHistogram, recordLatencyUs } from './histogram.js';
import { keyOf, makeKeyChooser, Rng, type KeyChooser } from './key-chooser.js';
import { openTarget } from './open-target.js';
import { ACCOUNT_KEY_PREFIX, RAW_KEY_PREFIX, TRANSFER_AMOUNT_MAX, type ParentMessage, type WorkerGo, type WorkerMessage, type WorkerStart } from './protocol.js';
import type { BenchTarget } from './target.js';
import { OpPicker, SCAN_LENGTH_MAX, type OpKind } from './workloads.js';

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

  success(op: OpKind, latencyUs: number): void {
    recordLatencyUs(this.histogram, latencyUs);
    this.ops[op] = (this.ops[op] ?? 0) + 1;
  }

  failure(type: string): void {
    this.errors[type] = (this.errors[type] ?? 0) + 1;
  }

  /** The interval so far, and a fresh one begins. */
  flush(index: number, second: number): WorkerMessage {
    const message: WorkerMessage = { kind: 'interval', index, second, ops: this.ops, errors: this.errors, histogram: encodeHistogram(this.histogram) };
    this.histogram = newLatencyHistogram();
    this.ops = {};
    this.errors = {};
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
}

/** Keys one loop inserts before it overwrites its own (YCSB E inserts 5% of its operations). */
const INSERTS_PER_LOOP_MAX = 10_000;
/** Loops per worker the insert key blocks leave room for (more share blocks: harmless overwrites). */
const LOOPS_PER_WORKER_MAX = 4_096;

/** A loop's inserted keys: its own block above the preloaded keys. */
interface InsertState {
  readonly base: number;
  count: number;
}

export async function runLoop(ctx: LoopContext, loopIndex: number): Promise<void> {
  const rng = new Rng((ctx.start.seed * 7919 + ctx.start.index * 104_729 + loopIndex * 31) >>> 0);
  const keyChooser: KeyChooser = makeKeyChooser(ctx.start.distribution, ctx.start.keys, rng);
  const accountChooser: KeyChooser = makeKeyChooser(ctx.start.distribution, ctx.start.accounts, rng);
  const picker = new OpPicker(ctx.start.mix, rng);
  const inserts: InsertState = { base: ctx.start.keys + (ctx.start.index * LOOPS_PER_WORKER_MAX + loopIndex) * INSERTS_PER_LOOP_MAX, count: 0 };
  while (performance.now() < ctx.endAtMs) {
    const op = picker.next();
    const startedMs = performance.now();
    try {
      const outcome = await runOp(ctx, op, keyChooser, accountChooser, rng, inserts);
      if (startedMs < ctx.measureFromMs) continue;
      if (outcome === 'ok') ctx.recorder.success(op, (performance.now() - startedMs) * 1000);
      else ctx.recorder.failure(outcome);
    } catch (err) {
      if (startedMs >= ctx.measureFromMs) ctx.recorder.failure(errorTypeOf(err));
    }
  }
}

async function runOp(ctx: LoopContext, op: OpKind, keys: KeyChooser, accounts: KeyChooser, rng: Rng, inserts: InsertState): Promise<'ok' | 'conflict' | 'insufficient'> {
  switch (op) {
    case 'read':
      await ctx.target.get(keyOf(RAW_KEY_PREFIX, keys.next()));
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
    case 'transfer': {
      const from = accounts.next();
      let to = accounts.next();
      if (to === from) to = (from + 1) % ctx.start.accounts;
      const outcome = await ctx.target.transfer(keyOf(ACCOUNT_KEY_PREFIX, from), keyOf(ACCOUNT_KEY_PREFIX, to), 1 + rng.below(TRANSFER_AMOUNT_MAX));
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
