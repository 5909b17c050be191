// The store's helper threads under Linux SCHED_BATCH (--helper-threads-batch).
//
// A store is one event loop and the threads that serve it: libuv's pool (every RocksDB read and
// write, the synced raft log writes among them), V8's compiler and GC helpers, RocksDB's flush
// and compaction threads. Under the default policy a thread that wakes preempts the one running
// on its CPU if it has slept long enough — and the event loop wakes a pool thread for every engine
// call, so on a small machine it kept handing its CPU to its own helpers: a transfer leader's
// event loop spent a third of its busy time runnable but off the CPU (/proc schedstat), while
// some of the machine sat idle. SCHED_BATCH keeps a thread's fair share of CPU time but never lets
// its wake-up preempt another thread (sched(7)): the helper runs on an idle CPU, or when the loop
// waits. The event loop itself stays under the default policy.
//
// Node has no call for sched_setscheduler, so the policy is set with chrt(1) (util-linux), once
// for the threads present at start and again for threads that appear later (a periodic rescan of
// /proc/self/task; new threads inherit the policy of the thread that creates them, and the event
// loop creates libuv's). What /proc says afterwards is the outcome: a thread chrt could not move
// is reported once and the policy is given up (no rescans). Without /proc (not Linux) nothing is
// done.

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import type { Logger } from 'pino';

/** Linux scheduling policies as /proc/<tid>/stat field 41 reports them (sched(7)). */
export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;

/** How often threads that appeared since are moved too. */
export const HELPER_THREADS_RESCAN_MS = 60_000;

export interface ThreadInfo {
  readonly tid: number;
  /** The scheduling policy number (SCHED_OTHER, SCHED_BATCH, …). */
  readonly policy: number;
}

/** Where the policy comes from and goes to (the real process by default; tests pass their own). */
export interface HelperThreadsHost {
  /** The event loop's thread (on Linux its id is the process id). */
  readonly mainTid: number;
  /** This process's threads and their policies; null where there is no /proc. */
  listThreads(): Promise<ThreadInfo[] | null>;
  /** Asks for SCHED_BATCH on `tids`; resolves with what the tool printed on failure ('' if none). */
  setBatch(tids: readonly number[]): Promise<string>;
}

export type HelperThreadsState =
  | { readonly kind: 'off' }
  | { readonly kind: 'unsupported' }
  | { readonly kind: 'batch'; readonly threads: number }
  | { readonly kind: 'failed'; readonly reason: string };

/** Parses /proc/<tid>/stat: the policy is field 41, counted after the `(comm)` that may hold spaces. */
export function policyOfStat(stat: string): number | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const fields = stat.slice(close + 2).split(' ');
  // fields[0] is field 3 (state): field 41 is at index 38.
  const policy = Number(fields[38]);
  return Number.isInteger(policy) && policy >= 0 ? policy : null;
}

/** The running process, through /proc/self/task and chrt. */
export const PROCESS_HOST: HelperThreadsHost = {
  mainTid: process.pid,
  async listThreads(): Promise<ThreadInfo[] | null> {
    let names: string[];
    try {
      names = await readdir('/proc/self/task');
    } catch {
      return null;
    }
    const out: ThreadInfo[] = [];
    for (const name of names) {
      const stat = await readFile(`/proc/self/task/${name}/stat`, 'latin1').catch(() => null);
      const policy = stat === null ? null : policyOfStat(stat);
      if (policy !== null) out.push({ tid: Number(name), policy }); // a thread that ended meanwhile is skipped
    }
    return out;
  },
  setBatch(tids: readonly number[]): Promise<string> {
    // One spawn for all of them; each chrt's complaint is kept for the report.
    const script = 'for t in "$@"; do chrt -b -p 0 "$t" 2>&1; done';
    return new Promise((resolve) => {
      execFile('sh', ['-c', script, 'sh', ...tids.map(String)], { timeout: 10_000 }, (err, stdout) => {
        const text = `${stdout}`.trim();
        resolve(text !== '' ? text : err !== null ? err.message : '');
      });
    });
  },
};

/** Keeps every helper thread of the process under SCHED_BATCH (see the file comment). */
export class HelperThreads {
  private current: HelperThreadsState;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<HelperThreadsState> | null = null;
  private isStopped = false;

  constructor(
    private readonly isEnabled: boolean,
    private readonly log: Logger,
    private readonly host: HelperThreadsHost = PROCESS_HOST,
    private readonly onState: (state: HelperThreadsState) => void = () => undefined,
  ) {
    this.current = isEnabled ? { kind: 'batch', threads: 0 } : { kind: 'off' };
    if (!isEnabled) onState(this.current);
  }

  get state(): HelperThreadsState {
    return this.current;
  }

  /** Whether rescans for new threads are scheduled (they stop once the policy is given up, or at stop()). */
  get isRescanning(): boolean {
    return this.timer !== null;
  }

  /** One pass now, then a rescan every `rescanMs` while the policy holds. */
  start(rescanMs = HELPER_THREADS_RESCAN_MS): void {
    if (!this.isEnabled) return;
    this.isStopped = false;
    void this.apply().then((state) => {
      // (stop() may have come while the first pass ran.)
      if (state.kind !== 'batch' || this.timer !== null || this.isStopped) return;
      this.timer = setInterval(() => {
        void this.apply().then((s) => {
          if (s.kind !== 'batch') this.stop();
        });
      }, rescanMs);
      this.timer.unref();
    });
  }

  stop(): void {
    this.isStopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Moves every helper thread not under SCHED_BATCH yet, then reads back what holds. Never throws. */
  apply(): Promise<HelperThreadsState> {
    if (!this.isEnabled || this.current.kind === 'unsupported' || this.current.kind === 'failed') return Promise.resolve(this.current);
    this.running ??= this.pass()
      .catch((err: unknown) => this.settle({ kind: 'failed', reason: err instanceof Error ? err.message : String(err) }))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async pass(): Promise<HelperThreadsState> {
    const before = await this.host.listThreads();
    if (before === null) return this.settle({ kind: 'unsupported' });
    const helpers = (threads: readonly ThreadInfo[]): ThreadInfo[] => threads.filter((t) => t.tid !== this.host.mainTid);
    const todo = helpers(before).filter((t) => t.policy === SCHED_OTHER).map((t) => t.tid);
    if (todo.length === 0) return this.settle({ kind: 'batch', threads: helpers(before).filter((t) => t.policy === SCHED_BATCH).length });
    const said = await this.host.setBatch(todo);
    const after = await this.host.listThreads();
    if (after === null) return this.settle({ kind: 'unsupported' });
    // A thread that ended in between is not a failure; one still present and still not moved is.
    const stuck = helpers(after).filter((t) => t.policy === SCHED_OTHER && todo.includes(t.tid));
    if (stuck.length > 0) {
      const reason = `${stuck.length} of ${todo.length} helper threads stayed under SCHED_OTHER${said !== '' ? `: ${said.split('\n')[0]}` : ''}`;
      return this.settle({ kind: 'failed', reason });
    }
    return this.settle({ kind: 'batch', threads: helpers(after).filter((t) => t.policy === SCHED_BATCH).length });
  }

  private settle(state: HelperThreadsState): HelperThreadsState {
    const was = this.current;
    this.current = state;
    if (state.kind === 'failed') {
      this.log.warn({ reason: state.reason }, 'helper threads left under the default scheduling policy (--helper-threads-batch): the event loop may wait behind them');
    } else if (state.kind === 'unsupported') {
      this.log.info('helper threads: no /proc/self/task (not Linux); scheduling policy left as it is');
    } else if (state.kind === 'batch' && (was.kind !== 'batch' || was.threads !== state.threads)) {
      this.log.debug({ threads: state.threads }, 'helper threads under SCHED_BATCH');
    }
    this.onState(state);
    return state;
  }
}
