// CPU time of processes: server processes from /proc/<pid>/stat (utime + stime; Linux), this
// process from process.cpuUsage(). Over a window: sample before, sample after, subtract.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { procStatCpuTicks } from '../../common/index.js';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export const CLOCK_TICKS_PER_SECOND: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100; // getconf missing: 100 is Linux's USER_HZ on every common platform
  }
})();

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
}

/** utime + stime of `pid` in ms; null when the process is gone or /proc is missing. */
export function processCpuMs(pid: number): number | null {
  try {
    const ticks = procStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return ticks === null ? null : (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return null; // exited, or not Linux: the figure is reported as unknown
  }
}

export interface CpuFigure {
  readonly name: string;
  /** Of one core over the window. */
  readonly cpuPercent: number;
  /** CPU µs per successful operation. */
  readonly cpuUsPerOp: number;
}

export function cpuFigure(name: string, cpuMs: number, windowMs: number, ops: number): CpuFigure {
  return { name, cpuPercent: windowMs > 0 ? (100 * cpuMs) / windowMs : 0, cpuUsPerOp: ops > 0 ? (cpuMs * 1000) / ops : 0 };
}

export function sampleServers(servers: readonly ServerProcess[]): Map<number, number | null> {
  return new Map(servers.map((s) => [s.pid, processCpuMs(s.pid)]));
}
