// The approximate sizes a store's leaders report in region heartbeats (server.ts). Measuring one
// costs a RocksDB call per data CF, run on the libuv pool beside the raft writes; at every
// heartbeat of every region that was ~10 % of a busy region's throughput with 999 idle regions
// beside it (bench/README.md, "Regions"). So a measure is reused while the region takes no write,
// keeps its range, and is younger than the refresh interval (a flush changes the size on disk
// without a write: flushed data is all RocksDB's estimate counts).

import type { RegionMeta } from '../common/index.js';

interface Measured {
  readonly sizeBytes: number;
  readonly atMs: number;
  /** The region as measured: a range change makes a new region object, which measures again. */
  readonly region: RegionMeta;
}

export class RegionSizeCache {
  private readonly sizes = new Map<number, Measured>();

  constructor(private readonly refreshMs: number) {}

  /** The last measure of `region`, if it still stands: no write since, same range, fresh enough. */
  reusable(region: RegionMeta, keysWrittenSince: number, nowMs: number): number | null {
    const known = this.sizes.get(region.id);
    if (known === undefined || keysWrittenSince > 0 || known.region !== region || nowMs - known.atMs >= this.refreshMs) return null;
    return known.sizeBytes;
  }

  /** A complete measure of `region` (as it was when the measure began) taken at `atMs`. */
  set(region: RegionMeta, sizeBytes: number, atMs: number): void {
    this.sizes.set(region.id, { sizeBytes, atMs, region });
  }

  /** Drops the regions `keep` says no (no longer led here). */
  prune(keep: (regionId: number) => boolean): void {
    for (const id of this.sizes.keys()) if (!keep(id)) this.sizes.delete(id);
  }

  get size(): number {
    return this.sizes.size;
  }
}
