// Progress bars for long commands (backup, restore): keys and bytes done, rate and ETA, drawn on
// stderr so that stdout (and --json) stays clean, and only when stderr is a terminal.

import { SingleBar } from 'cli-progress';
import { formatSize } from './output.js';

export interface ProgressSnapshot {
  readonly phase: string;
  readonly doneKeys: number;
  readonly totalKeys?: number;
  readonly doneBytes: number;
  readonly totalBytes?: number;
}

export interface ProgressBar {
  update(p: ProgressSnapshot): void;
  stop(): void;
}

/** A bar on stderr (a no-op when stderr is not a terminal or `enabled` is false). */
export function progressBar(title: string, enabled: boolean): ProgressBar {
  if (!enabled || process.stderr.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${title} {phase} [{bar}] {percentage}% | {value}/{total} keys | {size} | {rate} keys/s | ETA {eta_formatted}`,
    etaBuffer: 50,
    fps: 5,
    hideCursor: true,
    clearOnComplete: false,
  });
  let started = false;
  const startedAtMs = performance.now();
  return {
    update(p) {
      const total = p.totalKeys ?? Math.max(p.doneKeys, 1);
      const seconds = Math.max(0.001, (performance.now() - startedAtMs) / 1000);
      const payload = { phase: p.phase.padEnd(10), size: formatSize(p.doneBytes), rate: Math.round(p.doneKeys / seconds) };
      if (!started) {
        bar.start(total, p.doneKeys, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(p.doneKeys, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
