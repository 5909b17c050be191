// Retry with exponential back-off, jitter from an injected Rng (so a seed replays it), an attempt
// cap and a total deadline. grpc-js's backoff uses Math.random; ours must be replayable.

import { setMaxListeners } from 'node:events';
import { FlotillaError } from './errors.js';
import { invariant } from './invariant.js';
import type { Rng } from './rng.js';

export interface BackoffPolicy {
  /** First delay before jitter. */
  readonly baseDelayMs: number;
  /** Ceiling of a single delay before jitter. */
  readonly maxDelayMs: number;
  /** Growth factor per attempt (≥ 1). */
  readonly multiplier: number;
  /** Attempts in all, the first included; ≥ 1. */
  readonly attemptsMax: number;
  /** Wall time from the first attempt after which no further attempt starts. */
  readonly totalDeadlineMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseDelayMs: 10,
  maxDelayMs: 2_000,
  multiplier: 2,
  attemptsMax: 20,
  totalDeadlineMs: 20_000,
};

export function validateBackoffPolicy(policy: BackoffPolicy): void {
  invariant(policy.baseDelayMs > 0, 'backoff: baseDelayMs must be positive');
  invariant(policy.maxDelayMs >= policy.baseDelayMs, 'backoff: maxDelayMs must be at least baseDelayMs');
  invariant(policy.multiplier >= 1, 'backoff: multiplier must be at least 1');
  invariant(Number.isInteger(policy.attemptsMax) && policy.attemptsMax >= 1, 'backoff: attemptsMax must be a positive integer');
  invariant(policy.totalDeadlineMs > 0, 'backoff: totalDeadlineMs must be positive');
}

/**
 * The delay schedule of one operation. `next(nowMs)` returns the delay before the next attempt,
 * or null when the attempt cap or the deadline says stop. "Equal jitter": half the capped
 * exponential delay plus a uniform draw over the other half — never zero, never synchronized.
 */
export class Backoff {
  private attempts = 1;
  private readonly deadlineMs: number;

  constructor(
    private readonly policy: BackoffPolicy,
    private readonly rng: Rng,
    startMs: number,
  ) {
    validateBackoffPolicy(policy);
    this.deadlineMs = startMs + policy.totalDeadlineMs;
  }

  /** Attempts made so far (the first included). */
  get attemptCount(): number {
    return this.attempts;
  }

  next(nowMs: number): number | null {
    if (this.attempts >= this.policy.attemptsMax) return null;
    const exp = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * this.policy.multiplier ** (this.attempts - 1));
    const half = exp / 2;
    const delay = Math.ceil(half + this.rng.nextFloat() * half);
    if (nowMs + delay >= this.deadlineMs) return null;
    this.attempts++;
    return delay;
  }
}

/**
 * An AbortController whose signal may have any number of listeners without Node's
 * MaxListenersExceededWarning: for a shared "closing" signal that every waiting call listens to
 * (and stops listening to when it settles), so the count is the calls in flight, not a leak.
 */
export function unboundedAbortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** Resolves after `ms`; rejects with Unavailable (cause: the abort reason) if `signal` aborts first. */
export function sleepMs(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new FlotillaError('Unavailable', 'sleep aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new FlotillaError('Unavailable', 'sleep aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  readonly policy?: BackoffPolicy;
  readonly rng: Rng;
  /** Whether an error is worth another attempt (default: FlotillaError.retryable). */
  readonly isRetryable?: (err: unknown) => boolean;
  readonly signal?: AbortSignal;
  /** Injected for tests; default Date.now. */
  readonly nowMs?: () => number;
  /** Injected for tests; default sleepMs. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called before each back-off sleep (for logs and metrics). */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

function defaultRetryable(err: unknown): boolean {
  return err instanceof FlotillaError && err.retryable;
}

/**
 * Runs `attempt` until it resolves, a non-retryable error is thrown, or the policy gives up. On
 * giving up it throws the last error itself (so its code still tells the caller what happened).
 */
export async function retryWithBackoff<T>(attempt: (n: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.nowMs ?? Date.now;
  const sleep = options.sleep ?? sleepMs;
  const isRetryable = options.isRetryable ?? defaultRetryable;
  const backoff = new Backoff(options.policy ?? DEFAULT_BACKOFF, options.rng, now());
  for (;;) {
    try {
      return await attempt(backoff.attemptCount);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      const delay = backoff.next(now());
      if (delay === null) throw err;
      options.onRetry?.(err, backoff.attemptCount - 1, delay);
      await sleep(delay, options.signal);
    }
  }
}
