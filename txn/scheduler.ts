// TxnScheduler: runs write commands under latches — latch every key the command writes, open its
// read source, run the command (pure logic with awaits), apply its modifications, release, wake
// the next. The latches are held from before the first read until the write is applied, so no
// other command's write to those keys can fall into the gap between read and write (DESIGN.md §5).
// That is also why the default read source is the engine's read view of the live state, not a
// snapshot: the latched keys' records cannot change under the command (TxnEngine.readView).
// In the store this sits on the apply path of a region; in tests it drives one engine directly.

import { invariant } from '../common/pure.js';
import { type LatchLock, Latches } from './latches.js';
import { type Modification, type Snapshot, type TxnEngine } from './mvcc/snapshot.js';

/** Where a command reads: the live read view (default; no iterator pinned) or a true snapshot. */
export type SchedulerReadSource = 'readView' | 'snapshot';

export interface SchedulerOptions {
  readonly latchSlots: number;
  /** fsync every write (durable across a machine crash). */
  readonly isSyncWrite: boolean;
  /** Default 'readView'. */
  readonly readSource?: SchedulerReadSource;
}

export class TxnScheduler {
  private readonly latches: Latches;
  private nextCommandId = 1;
  private readonly waiters = new Map<number, { lock: LatchLock; resume: () => void }>();

  constructor(private readonly engine: TxnEngine, private readonly options: SchedulerOptions) {
    this.latches = new Latches(options.latchSlots);
  }

  /**
   * Runs `command` with `keys` latched. The command's modifications are written before the latches
   * are released; its result is returned. A thrown error (engine failure, corruption) still
   * releases the latches and the snapshot.
   */
  async run<T>(
    keys: readonly Buffer[],
    command: (snapshot: Snapshot) => Promise<{ readonly modifications: readonly Modification[]; readonly result: T }>,
  ): Promise<T> {
    const id = this.nextCommandId++;
    const lock = this.latches.gen(keys);
    if (!this.latches.acquire(lock, id)) {
      await new Promise<void>((resolve) => this.waiters.set(id, { lock, resume: resolve }));
    }
    invariant(lock.isAcquired, 'scheduler: woke without every latch');
    try {
      const snapshot = this.options.readSource === 'snapshot' ? await this.engine.snapshot() : this.engine.readView();
      let output: { readonly modifications: readonly Modification[]; readonly result: T };
      try {
        output = await command(snapshot);
      } catch (err) {
        await snapshot.release();
        throw err;
      }
      // The snapshot is released while the write is applied (its reads are done).
      const released = snapshot.release();
      try {
        if (output.modifications.length > 0) await this.engine.write(output.modifications, { sync: this.options.isSyncWrite });
      } finally {
        await released;
      }
      return output.result;
    } finally {
      for (const woken of this.latches.release(lock, id)) this.wake(woken);
    }
  }

  /** Latches held or awaited, for tests. */
  get queuedCount(): number {
    return this.latches.queuedCount;
  }

  private wake(id: number): void {
    const waiter = this.waiters.get(id);
    if (waiter === undefined) return; // not yet parked: its acquire loop is still running synchronously
    if (this.latches.acquire(waiter.lock, id)) {
      this.waiters.delete(id);
      waiter.resume();
    }
  }
}
