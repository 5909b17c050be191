// The one owner of a process's background work: every long-lived task or periodic job starts
// here, is named, has its failure logged, and is awaited (or stopped) at shutdown. Nothing floats.

import type { Logger } from 'pino';
import { FlotillaError } from './errors.js';

export class TaskGroup {
  private readonly running = new Map<number, { name: string; done: Promise<void> }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly controller = new AbortController();
  private nextId = 0;
  private closed = false;

  constructor(private readonly log: Logger) {}

  /** Aborted when the group closes: long-running tasks watch it to stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get size(): number {
    return this.running.size;
  }

  /** Starts `task` now. A rejection is logged at error with the task's name, never lost. */
  spawn(name: string, task: (signal: AbortSignal) => Promise<void>): void {
    if (this.closed) throw new FlotillaError('Unavailable', `task group closed; cannot start ${name}`);
    const id = this.nextId++;
    const done = (async () => {
      try {
        await task(this.controller.signal);
      } catch (err) {
        // A task that stops because the group closed is not a failure; anything else is logged,
        // also during shutdown (an error then may be the reason data did not reach disk).
        if (err !== this.controller.signal.reason) this.log.error({ err, task: name }, 'background task failed');
      } finally {
        this.running.delete(id);
      }
    })();
    this.running.set(id, { name, done });
  }

  /**
   * Runs `job` every `intervalMs` (measured from the end of the previous run, so runs never
   * overlap). The timer is unref'd: it never keeps the process alive on its own.
   */
  every(name: string, intervalMs: number, job: (signal: AbortSignal) => Promise<void> | void): void {
    if (this.closed) throw new FlotillaError('Unavailable', `task group closed; cannot schedule ${name}`);
    const schedule = (): void => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.closed) return;
        this.spawn(name, async (signal) => {
          try {
            await job(signal);
          } finally {
            if (!this.closed) schedule();
          }
        });
      }, intervalMs);
      timer.unref();
      this.timers.add(timer);
    };
    schedule();
  }

  /** Stops scheduling, aborts the signal, and waits for every running task to settle. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.controller.abort(new FlotillaError('Unavailable', 'shutting down'));
    while (this.running.size > 0) {
      await Promise.all([...this.running.values()].map((t) => t.done));
    }
  }
}
