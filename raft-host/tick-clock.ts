// Raft counts time in ticks; a process delivers them from a timer. A timer that fires late fires
// once, and a paused process (GC stall, SIGSTOP, a frozen VM) runs none: the ticks it missed must
// still be delivered, or a leader waking from a pause would trust a lease that expired while it
// slept. TickClock answers "how many ticks does real (monotonic) time owe now", keeping the
// fraction for next time and bounding the replay after a long pause.

export interface TickClockOptions {
  readonly tickMs: number;
  /** Past this many owed ticks the rest are dropped (more change nothing but cost CPU). */
  readonly maxReplayTicks: number;
  /** Monotonic ms (default performance.now); injected by tests. */
  readonly monotonicMs?: () => number;
}

export class TickClock {
  private last: number;
  private readonly now: () => number;

  constructor(private readonly options: TickClockOptions) {
    this.now = options.monotonicMs ?? (() => performance.now());
    this.last = this.now();
  }

  /** Ticks owed since the last call that returned > 0 (0 if called early). */
  due(): number {
    const now = this.now();
    const due = Math.floor((now - this.last) / this.options.tickMs);
    if (due <= 0) return 0;
    const replay = Math.min(due, this.options.maxReplayTicks);
    this.last = replay < due ? now : this.last + due * this.options.tickMs;
    return replay;
  }
}
