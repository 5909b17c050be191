// The client's map of the key space: regions sorted by start key (encoded), found by binary search
// (O(log n) lookup; an insert is O(n) array splicing, cheap next to the PD round trip behind it),
// each with the leader last seen. Entries come from PD or from a store's EpochNotMatch answer and
// leave when a region error says they are stale. Invariant: entries never overlap and are sorted
// by startKey; inserting a region removes every entry it overlaps (unless the same region is
// already known at a newer epoch — a late PD answer never replaces what a store reported).

import { compareKeys, floorIndexByKey, regionContains, type PeerMeta, type RegionMeta } from '../common/index.js';

export interface CachedRegion {
  readonly region: RegionMeta;
  /** The peer requests go to: the leader last seen, else the first voter. */
  leader: PeerMeta | null;
  /** The encoded request context last built for this region (kv-rpc.ts), with the peer it names. */
  wireContext?: { readonly peerId: number; readonly field: Buffer };
  /** Encoded replica-read contexts by peer id (kv-rpc.ts), built on first use. */
  replicaContexts?: Map<number, Buffer>;
}

function entryStartKey(e: CachedRegion): Uint8Array {
  return e.region.startKey;
}

function isNewer(a: RegionMeta, b: RegionMeta): boolean {
  return a.epoch.version > b.epoch.version || (a.epoch.version === b.epoch.version && a.epoch.confVer > b.epoch.confVer);
}

function overlaps(a: RegionMeta, b: RegionMeta): boolean {
  const aEndsAfterBStarts = a.endKey.length === 0 || compareKeys(a.endKey, b.startKey) > 0;
  const bEndsAfterAStarts = b.endKey.length === 0 || compareKeys(b.endKey, a.startKey) > 0;
  return aEndsAfterBStarts && bEndsAfterAStarts;
}

export class RegionCache {
  /** Sorted by region.startKey; never overlapping. */
  private readonly entries: CachedRegion[] = [];
  private readonly byId = new Map<number, CachedRegion>();

  get size(): number {
    return this.entries.length;
  }

  /** Index of the last entry whose startKey ≤ key, or -1. */
  private floorIndex(encodedKey: Uint8Array): number {
    return floorIndexByKey(this.entries, entryStartKey, encodedKey);
  }

  /** The cached region holding the encoded key, or undefined. */
  lookup(encodedKey: Uint8Array): CachedRegion | undefined {
    const i = this.floorIndex(encodedKey);
    if (i < 0) return undefined;
    const entry = this.entries[i]!;
    return regionContains(entry.region, encodedKey) ? entry : undefined;
  }

  /**
   * The cached region holding the keys just below `encodedEnd` (exclusive; empty = +∞): the
   * region with startKey < encodedEnd ≤ endKey. For reverse scans.
   */
  lookupBefore(encodedEnd: Uint8Array): CachedRegion | undefined {
    if (encodedEnd.length === 0) {
      const last = this.entries[this.entries.length - 1];
      return last !== undefined && last.region.endKey.length === 0 ? last : undefined;
    }
    let i = this.floorIndex(encodedEnd);
    if (i >= 0 && compareKeys(this.entries[i]!.region.startKey, encodedEnd) === 0) i--;
    if (i < 0) return undefined;
    const entry = this.entries[i]!;
    const end = entry.region.endKey;
    return end.length === 0 || compareKeys(end, encodedEnd) >= 0 ? entry : undefined;
  }

  getById(regionId: number): CachedRegion | undefined {
    return this.byId.get(regionId);
  }

  /** Adds a region (from PD or a store), dropping the entries it overlaps; returns the entry now cached. */
  insert(region: RegionMeta, leader: PeerMeta | null): CachedRegion {
    const same = this.byId.get(region.id);
    if (same !== undefined && isNewer(same.region, region)) return same;
    // The region's older shape goes, wherever it was (it need not overlap the new one).
    if (same !== undefined) this.invalidate(region.id);
    // Entries overlapping `region` are contiguous around its start.
    let i = Math.max(0, this.floorIndex(region.startKey));
    while (i < this.entries.length && !overlaps(this.entries[i]!.region, region) && compareKeys(this.entries[i]!.region.startKey, region.startKey) < 0) i++;
    let j = i;
    while (j < this.entries.length && overlaps(this.entries[j]!.region, region)) j++;
    for (let k = i; k < j; k++) this.byId.delete(this.entries[k]!.region.id);
    const entry: CachedRegion = { region, leader: leader !== null && region.peers.some((p) => p.id === leader.id) ? leader : null };
    this.entries.splice(i, j - i, entry);
    this.byId.set(region.id, entry);
    return entry;
  }

  /** Forgets a region (RegionNotFound, an unreachable region): the next request asks PD. */
  invalidate(regionId: number): void {
    const entry = this.byId.get(regionId);
    if (entry === undefined) return;
    this.byId.delete(regionId);
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** Records the leader a store named (NotLeader); a peer the cached region does not have drops the entry. */
  updateLeader(regionId: number, leader: PeerMeta): boolean {
    const entry = this.byId.get(regionId);
    if (entry === undefined) return false;
    if (!entry.region.peers.some((p) => p.id === leader.id)) {
      this.invalidate(regionId);
      return false;
    }
    entry.leader = leader;
    return true;
  }

  /** Every cached region in key order (for tests and the CLI). */
  all(): readonly CachedRegion[] {
    return this.entries;
  }

  clear(): void {
    this.entries.length = 0;
    this.byId.clear();
  }
}
