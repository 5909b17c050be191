// Messages between the harness (parent) and its worker processes, over the fork IPC channel.
// The parent sends one 'start'; a worker answers 'ready' once its target is open, then one
// 'interval' a second (latencies since the last one, encoded) and one 'done' with its CPU, or
// 'failed' with a message.

import type { Distribution } from './key-chooser.js';
import type { TargetSpec } from './target.js';
import type { OpWeight } from './workloads.js';

export interface WorkerStart {
  readonly kind: 'start';
  readonly index: number;
  readonly target: TargetSpec;
  readonly loops: number;
  readonly mix: readonly OpWeight[];
  readonly keys: number;
  readonly accounts: number;
  readonly distribution: Distribution;
  readonly valueSize: number;
  readonly seed: number;
  /** Open loop (--rate): each loop's operations are due this often; null: closed loops (the next at once). */
  readonly loopIntervalMs: number | null;
}

/** Begin the load at `startAtEpochMs`: warm up for warmupMs, then measure for durationMs. */
export interface WorkerGo {
  readonly kind: 'go';
  readonly startAtEpochMs: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export type ParentMessage = WorkerStart | WorkerGo;

export interface WorkerInterval {
  readonly kind: 'interval';
  readonly index: number;
  /** Seconds since the measured window began, of the interval's end (1, 2, …). */
  readonly second: number;
  /** Successful operations, by op kind, completed in the interval. */
  readonly ops: Readonly<Record<string, number>>;
  /** Failed operations by error type ("conflict", "insufficient", error codes). */
  readonly errors: Readonly<Record<string, number>>;
  /** Optimistic transactions run again after a conflict (transfer, txn-rmw), by op kind. */
  readonly retries: Readonly<Record<string, number>>;
  /** The interval's latencies of successful operations, µs, compressed base64. */
  readonly histogram: string;
}

export interface WorkerDone {
  readonly kind: 'done';
  readonly index: number;
  /** process.cpuUsage() over the measured window, µs. */
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
}

export type WorkerMessage =
  | { readonly kind: 'ready'; readonly index: number }
  | WorkerInterval
  | WorkerDone
  | { readonly kind: 'failed'; readonly index: number; readonly message: string };

/** Accounts and raw keys live apart: raw keys `k…`, accounts `acct…`, transactional keys `t…`. */
export const RAW_KEY_PREFIX = 'k';
export const TXN_KEY_PREFIX = 't';
export const ACCOUNT_KEY_PREFIX = 'acct';
/** --idle-regions split keys: after every workload prefix, so those regions get no traffic. */
export const IDLE_KEY_PREFIX = '~idle/';
/** The most one transfer moves; balances start at ACCOUNT_BALANCE_INITIAL. */
export const TRANSFER_AMOUNT_MAX = 100;
