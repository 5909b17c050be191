// Which region the leader's TTL sweep (server.ts) steps next, and from where. Expired raw keys read
// as absent at once; the sweep deletes them later, TTL_SWEEP_KEYS keys per step and region. A
// region holding no key with a TTL costs nothing: once a whole pass (from the region's start to its
// end) saw no TTL key and no TTL put was applied meanwhile, the region is skipped until the next
// TTL put (peer.ts sets mayHoldTtlKeys again). A quiet region's pass starts at most once per
// TTL_QUIET_SWEEP_INTERVAL_MS.

/** Interval of TTL sweep steps. */
export const TTL_SWEEP_INTERVAL_MS = 1_000;
/** A quiet region's TTL sweep runs this seldom (its expired keys read as absent meanwhile). */
export const TTL_QUIET_SWEEP_INTERVAL_MS = 60_000;

/** What the planner reads of a region's peer (peer.ts). */
export interface SweepTarget {
  readonly regionId: number;
  readonly isQuiet: boolean;
  /** False once a whole pass found no TTL key; the planner clears it. */
  mayHoldTtlKeys: boolean;
  /** TTL puts applied so far (monotonic per peer object). */
  readonly ttlPutsApplied: number;
}

export interface SweepStep {
  /** Where the next step starts (an engine key); null: the pass reached the region's end. */
  readonly next: Buffer | null;
  /** The step examined a key with a TTL, expired or not. */
  readonly sawTtl: boolean;
}

interface Pass {
  readonly target: SweepTarget;
  readonly ttlPutsAtStart: number;
  cursor: Buffer | null;
  sawTtl: boolean;
}

export class TtlSweepPlanner {
  private readonly passes = new Map<number, Pass>();
  private readonly lastQuietPassMs = new Map<number, number>();

  /**
   * Where a step on `target` starts now (null: the region's start), or undefined to skip it this
   * time. A pass begun on an earlier peer object of the region (replaced by a split or restart)
   * is dropped and begun again.
   */
  begin(target: SweepTarget, nowMs: number): { readonly from: Buffer | null } | undefined {
    const pass = this.passes.get(target.regionId);
    if (pass !== undefined && pass.target === target) return { from: pass.cursor };
    this.passes.delete(target.regionId);
    if (!target.mayHoldTtlKeys) return undefined;
    if (target.isQuiet) {
      if (nowMs - (this.lastQuietPassMs.get(target.regionId) ?? -Infinity) < TTL_QUIET_SWEEP_INTERVAL_MS) return undefined;
      this.lastQuietPassMs.set(target.regionId, nowMs);
    }
    this.passes.set(target.regionId, { target, ttlPutsAtStart: target.ttlPutsApplied, cursor: null, sawTtl: false });
    return { from: null };
  }

  /** Records the step that begin() started on `target`. */
  end(target: SweepTarget, step: SweepStep): void {
    const pass = this.passes.get(target.regionId);
    if (pass === undefined || pass.target !== target) return;
    if (step.sawTtl) pass.sawTtl = true;
    if (step.next !== null) {
      pass.cursor = step.next;
      return;
    }
    this.passes.delete(target.regionId);
    if (!pass.sawTtl && pass.ttlPutsAtStart === target.ttlPutsApplied) target.mayHoldTtlKeys = false;
  }

  /** Forgets regions no longer led here (bounded state). */
  retain(isLed: (regionId: number) => boolean): void {
    for (const id of this.passes.keys()) if (!isLed(id)) this.passes.delete(id);
    for (const id of this.lastQuietPassMs.keys()) if (!isLed(id)) this.lastQuietPassMs.delete(id);
  }
}
