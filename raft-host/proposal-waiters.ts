// Proposals waiting for their entries to apply, matched by (index, term): the leader learns both
// when it appends. If the entry applied at that index has another term, the proposal was lost to
// a leader change (StaleCommand). A proposal not applied within its timeout is DeadlineExceeded:
// its outcome is unknown, and callers must treat it so (never as "did not happen").

import { FlotillaError, invariant } from '../common/index.js';

export type WaiterOutcome = 'applied' | 'stale' | 'timeout' | 'failed';

interface Waiter<T> {
  readonly term: number;
  /** Proposals the entry answers (a store's write-batch entry carries many). */
  readonly count: number;
  readonly resolve: (r: T) => void;
  readonly reject: (e: unknown) => void;
  readonly timer: NodeJS.Timeout | null;
}

export interface ProposalWaitersOptions {
  /** Names the group in error messages ("PD", "region 7"). */
  readonly what: string;
  readonly timeoutMs: number;
  /** Called once per settled entry with the proposals it answers (metrics). */
  readonly onOutcome?: (outcome: WaiterOutcome, proposals: number) => void;
}

export class ProposalWaiters<T> {
  private readonly waiters = new Map<number, Waiter<T>>();
  /** No waiter's term is below this (a lower bound: settleOlderThan recomputes it). */
  private oldestTerm = Number.POSITIVE_INFINITY;

  constructor(private readonly options: ProposalWaitersOptions) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Waits for the entry the leader appended at (index, term). A waiter already at `index` is from
   * an earlier term: its entry was truncated unapplied — e.g. (1) leader A of term 2 appends 6, 7;
   * (2) leader B of term 3, with a log ending at 5, overwrites A's tail; (3) A wins term 4,
   * appends its empty entry at 6 and the next proposal at 7 — so it is settled StaleCommand now.
   */
  wait(index: number, term: number, count = 1): Promise<T> {
    invariant(index > 0, 'a leader proposal names its entry');
    const old = this.waiters.get(index);
    if (old !== undefined) {
      invariant(old.term < term, () => `${this.options.what}: two proposals of term ${term} wait on index ${index}`);
      this.settleStale(index, old);
    }
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      if (this.options.timeoutMs > 0) {
        timer = setTimeout(() => {
          this.waiters.delete(index);
          this.options.onOutcome?.('timeout', count);
          reject(new FlotillaError('DeadlineExceeded', `${this.options.what}: proposal at index ${index} not applied within ${this.options.timeoutMs} ms (outcome unknown)`));
        }, this.options.timeoutMs);
        timer.unref();
      }
      this.waiters.set(index, { term, count, resolve, reject, timer });
      if (term < this.oldestTerm) this.oldestTerm = term;
    });
  }

  /** The entry at (index, term) was applied with `result`; settles its waiter if any. */
  applied(index: number, term: number, result: T): void {
    if (this.waiters.size === 0) return;
    const w = this.waiters.get(index);
    if (w === undefined) return;
    this.waiters.delete(index);
    if (w.timer !== null) clearTimeout(w.timer);
    if (w.term === term) {
      this.options.onOutcome?.('applied', w.count);
      w.resolve(result);
    } else {
      this.settleStale(index, w);
    }
  }

  private settleStale(index: number, w: Waiter<T>): void {
    this.waiters.delete(index);
    if (w.timer !== null) clearTimeout(w.timer);
    this.options.onOutcome?.('stale', w.count);
    w.reject(new FlotillaError('StaleCommand', `${this.options.what}: proposal at index ${index} was superseded by a leader change`));
  }

  /**
   * An entry of `term` was applied (so committed): a waiter of an earlier term can never apply.
   * At or below that entry's index, its index was applied already (settled by `applied`); beyond
   * it, every later leader's log holds the committed entry, and only entries of `term` or later
   * after it. Settled StaleCommand now, not at its timeout: its index may not come round again for
   * a long while (an idle region, a leader that stepped down and stayed a follower).
   */
  settleOlderThan(term: number): void {
    if (this.waiters.size === 0 || this.oldestTerm >= term) return;
    let oldest = Number.POSITIVE_INFINITY;
    for (const [i, w] of this.waiters) {
      if (w.term < term) this.settleStale(i, w);
      else oldest = Math.min(oldest, w.term);
    }
    this.oldestTerm = oldest;
  }

  /** Every waiter below or at `index` whose entry will never apply here (snapshot installed). */
  failUpTo(index: number, err: FlotillaError): void {
    for (const [i, w] of this.waiters) {
      if (i > index) continue;
      this.waiters.delete(i);
      if (w.timer !== null) clearTimeout(w.timer);
      this.options.onOutcome?.('failed', w.count);
      w.reject(err);
    }
  }

  failAll(err: FlotillaError): void {
    for (const w of this.waiters.values()) {
      if (w.timer !== null) clearTimeout(w.timer);
      this.options.onOutcome?.('failed', w.count);
      w.reject(err);
    }
    this.waiters.clear();
  }
}
