// Per-key latches for the store's write commands: a command holds the latches of every key it
// writes from before its read until its modifications are applied, so no other command's write to
// those keys falls into the gap (DESIGN.md §5). txn/latches.ts is the table; this is the waiting.
// Latch keys are full engine keys, so raw and transactional keys never share a latch by accident.

import { type LatchLock, Latches } from '../txn/index.js';

export class LatchSet {
  private readonly latches: Latches;
  private nextId = 1;
  private readonly parked = new Map<number, { readonly lock: LatchLock; readonly resume: () => void }>();

  constructor(slots: number) {
    this.latches = new Latches(slots);
  }

  /** Commands waiting for a latch (a queue depth for metrics). */
  get waitingCount(): number {
    return this.parked.size;
  }

  /**
   * Takes every key's latch now if all are free (no holder, nobody queued) and returns their
   * release function; else returns null and queues nothing (the caller then waits in acquire()).
   */
  tryAcquire(keys: readonly Buffer[]): (() => void) | null {
    const id = this.nextId++;
    const lock = this.latches.gen(keys);
    if (!this.latches.tryAcquire(lock, id)) return null;
    return this.releaser(lock, id);
  }

  /** Resolves with a release function once every key's latch is held. */
  async acquire(keys: readonly Buffer[]): Promise<() => void> {
    const id = this.nextId++;
    const lock = this.latches.gen(keys);
    if (!this.latches.acquire(lock, id)) {
      await new Promise<void>((resume) => this.parked.set(id, { lock, resume }));
    }
    return this.releaser(lock, id);
  }

  /** Releases `lock` once (later calls do nothing) and wakes the commands that head its slots. */
  private releaser(lock: LatchLock, id: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const woken of this.latches.release(lock, id)) this.wake(woken);
    };
  }

  private wake(id: number): void {
    const waiter = this.parked.get(id);
    if (waiter === undefined) return;
    // The woken command tries again; it runs only once it heads every slot it needs.
    if (this.latches.acquire(waiter.lock, id)) {
      this.parked.delete(id);
      waiter.resume();
    }
  }
}
