// The timestamp oracle of the PD leader. It serves `physical_ms << 18 | logical` from memory and
// persists (through raft) an upper bound on the physical part before it ever serves beyond it, so
// a new leader — or this one after a restart — starts above every timestamp ever issued.
//
//   sync (on election):  physical = max(now, saved + 1); persist(physical + saveWindow); serve
//   update (every ~50 ms): physical moves to `now` when the clock advanced, or by 1 ms when half
//                          the logical space is used (a stalled or stepped-back clock); the
//                          window is renewed (persisted) before physical gets near its bound
//   allocate(n):          logical += n; the answer is the LAST of n consecutive timestamps
//
// Invariant: every timestamp served has physical ≤ savedBoundMs (the durable bound), and
// timestamps are strictly increasing within a term and across terms (a new leader starts at
// saved + 1 ms). The clock is injected; nothing here reads Date.now.

import { composeTs, FlotillaError, invariant, TS_LOGICAL_MAX, type Ts } from '../common/index.js';

/** How far ahead of the served physical time the durable bound is pushed (DESIGN.md §7: 3 s). */
export const TSO_SAVE_WINDOW_MS = 3_000;
/** Renew the window when less than this remains (several update intervals of margin). */
export const TSO_RENEW_MARGIN_MS = 1_000;
/** The cadence at which the server should call update(). */
export const TSO_UPDATE_INTERVAL_MS = 50;
/** Timestamps one request may ask for; a larger count is refused (InvalidArgument). */
export const TSO_COUNT_MAX = 1 << 16;
/** Physical advances by 1 ms once logical passes this (half the logical space), even if the clock stalls. */
const LOGICAL_ADVANCE_THRESHOLD = TS_LOGICAL_MAX / 2n;

export interface TsoAllocatorOptions {
  /** Wall clock in ms. Injected so tests can stall it or step it back. */
  readonly nowMs: () => number;
  /**
   * Makes `boundMs` durable through raft (the saved window). Resolves once it is committed and
   * applied; rejects if this member lost leadership — then the allocator stops serving.
   */
  readonly persistBound: (boundMs: bigint) => Promise<void>;
  readonly saveWindowMs?: number;
  readonly renewMarginMs?: number;
}

export type TsoAllocation =
  | { readonly kind: 'ok'; /** the last of `count` consecutive timestamps */ readonly lastTs: Ts; readonly count: number }
  | { readonly kind: 'not-ready' } // not synced (not leader yet, or lost leadership)
  | { readonly kind: 'exhausted' }; // logical space of this millisecond used up: retry after the next update

export class TsoAllocator {
  private physicalMs = 0n;
  private logical = 0n;
  private savedBoundMs = 0n;
  private ready = false;
  private updating: Promise<void> | null = null;
  /** Bumped by sync() and reset(): an update persisting for an older generation must not land. */
  private generation = 0;
  private readonly saveWindowMs: bigint;
  private readonly renewMarginMs: bigint;

  constructor(private readonly options: TsoAllocatorOptions) {
    this.saveWindowMs = BigInt(options.saveWindowMs ?? TSO_SAVE_WINDOW_MS);
    this.renewMarginMs = BigInt(options.renewMarginMs ?? TSO_RENEW_MARGIN_MS);
    invariant(this.renewMarginMs < this.saveWindowMs, 'TSO renew margin must be smaller than the save window');
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** The durable bound (for metrics and tests). */
  get boundMs(): bigint {
    return this.savedBoundMs;
  }

  /**
   * Called when this member becomes leader, with the bound saved in the replicated state (0 if
   * none). Persists a new window before serving anything.
   */
  async sync(savedBoundMs: bigint): Promise<void> {
    this.ready = false;
    const generation = ++this.generation;
    const now = BigInt(this.options.nowMs());
    const next = now > savedBoundMs ? now : savedBoundMs + 1n;
    const bound = next + this.saveWindowMs;
    await this.options.persistBound(bound);
    if (generation !== this.generation) return; // superseded by a later sync() or reset()
    this.savedBoundMs = bound;
    this.physicalMs = next;
    this.logical = 0n;
    this.ready = true;
  }

  /** Stop serving at once (leadership lost or shutting down). */
  reset(): void {
    this.ready = false;
    this.generation++;
  }

  /**
   * Moves physical time forward and renews the window when needed. Call every
   * TSO_UPDATE_INTERVAL_MS on the leader; concurrent calls share one in-flight update.
   */
  update(): Promise<void> {
    if (!this.ready) return Promise.resolve();
    this.updating ??= this.doUpdate().finally(() => {
      this.updating = null;
    });
    return this.updating;
  }

  private async doUpdate(): Promise<void> {
    const generation = this.generation;
    const now = BigInt(this.options.nowMs());
    let next = this.physicalMs;
    if (now > this.physicalMs) next = now;
    else if (this.logical > LOGICAL_ADVANCE_THRESHOLD) next = this.physicalMs + 1n; // clock stalled or stepped back
    if (this.savedBoundMs - next <= this.renewMarginMs) {
      const bound = next + this.saveWindowMs;
      try {
        await this.options.persistBound(bound);
      } catch (err) {
        if (generation === this.generation) this.ready = false;
        throw err;
      }
      if (generation !== this.generation) return; // reset or re-synced while persisting
      invariant(bound > this.savedBoundMs, 'TSO bound never moves back');
      this.savedBoundMs = bound;
    }
    if (next > this.physicalMs) {
      invariant(next <= this.savedBoundMs, () => `TSO physical ${next} beyond durable bound ${this.savedBoundMs}`);
      this.physicalMs = next;
      this.logical = 0n;
    }
  }

  /** `count` consecutive timestamps (1 ≤ count ≤ TSO_COUNT_MAX); the answer names the last. */
  allocate(count: number): TsoAllocation {
    if (!Number.isInteger(count) || count < 1 || count > TSO_COUNT_MAX) {
      throw new FlotillaError('InvalidArgument', `TSO count ${count} must be within [1, ${TSO_COUNT_MAX}]`);
    }
    if (!this.ready) return { kind: 'not-ready' };
    const last = this.logical + BigInt(count);
    if (last > TS_LOGICAL_MAX) return { kind: 'exhausted' };
    invariant(this.physicalMs <= this.savedBoundMs, 'TSO serves only below its durable bound');
    this.logical = last;
    return { kind: 'ok', lastTs: composeTs(this.physicalMs, last), count };
  }
}
