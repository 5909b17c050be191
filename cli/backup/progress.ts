// Progress reports for a bar with rate and ETA: counters that grow, handed to the caller's
// onProgress at most once per PROGRESS_INTERVAL_MS, and always at a phase's end, so a fast loop
// does not spend its time drawing and the bar still ends at 100 %.

import { PROGRESS_INTERVAL_MS } from './limits.js';

export type BackupPhase = 'backupTxn' | 'backupRaw' | 'writeManifest' | 'done';
export type RestorePhase = 'verify' | 'restore' | 'done';

export interface Progress<Phase extends string> {
  readonly phase: Phase;
  readonly doneKeys: number;
  /** Known on restore (from the manifest); a backup cannot know it ahead of the scan. */
  readonly totalKeys?: number;
  readonly doneBytes: number;
  readonly totalBytes?: number;
}

export type ProgressCallback<Phase extends string> = (progress: Progress<Phase>) => void;

export class ProgressMeter<Phase extends string> {
  private doneKeys = 0;
  private doneBytes = 0;
  private lastReportMs = Number.NEGATIVE_INFINITY;

  constructor(
    private phase: Phase,
    private readonly onProgress: ProgressCallback<Phase> | undefined,
    private totals: { keys?: number; bytes?: number } = {},
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** Counts work done; reports if the last report is older than the interval. */
  add(keys: number, bytes: number): void {
    this.doneKeys += keys;
    this.doneBytes += bytes;
    if (this.onProgress === undefined) return;
    const now = this.nowMs();
    if (now - this.lastReportMs >= PROGRESS_INTERVAL_MS) this.report(now);
  }

  /**
   * Reports the current phase's final counts, then starts `next` with its own totals and reports
   * that too (a bar shows the new phase at once); its counts start from zero ('reset') or go on
   * from the last phase's ('keep': one bar over both).
   */
  startPhase(next: Phase, counts: 'reset' | 'keep', totals: { keys?: number; bytes?: number } = {}): void {
    this.report(this.nowMs());
    this.phase = next;
    this.totals = totals;
    if (counts === 'reset') {
      this.doneKeys = 0;
      this.doneBytes = 0;
    }
    this.report(this.nowMs());
  }

  /** Reports now, whatever the interval. */
  flush(): void {
    this.report(this.nowMs());
  }

  private report(now: number): void {
    if (this.onProgress === undefined) return;
    this.lastReportMs = now;
    this.onProgress({
      phase: this.phase,
      doneKeys: this.doneKeys,
      doneBytes: this.doneBytes,
      ...(this.totals.keys === undefined ? {} : { totalKeys: this.totals.keys }),
      ...(this.totals.bytes === undefined ? {} : { totalBytes: this.totals.bytes }),
    });
  }
}
