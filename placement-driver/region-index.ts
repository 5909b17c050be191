// PD's view of the key space: regions sorted by start key, looked up by key or id. A region
// report replaces what it overlaps only when it is at least as new (epoch version for ranges,
// conf_ver for membership); a stale report is refused with the current region. Keys are
// memcomparable-encoded; the empty key is −∞ as a start and +∞ as an end.
//
// Sorted array + binary search: lookups O(log n), updates O(n) splices — fine to ~10^5 regions.

import { compareKeys, floorIndexByKey, invariant } from '../common/index.js';

export type { PeerMeta, PeerRole, RegionEpoch, RegionMeta } from '../common/index.js';
import type { RegionMeta } from '../common/index.js';

function startKeyOf(r: RegionMeta): Uint8Array {
  return r.startKey;
}

export type RegionUpsert =
  | { readonly kind: 'updated'; /** regions dropped because the new one covers them */ readonly removed: readonly RegionMeta[] }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'stale'; readonly current: RegionMeta };

/** True when `key` lies in [start, end) with empty end meaning +∞. */
export function regionContains(region: RegionMeta, key: Uint8Array): boolean {
  return compareKeys(region.startKey, key) <= 0 && (region.endKey.length === 0 || compareKeys(key, region.endKey) < 0);
}

function overlaps(a: RegionMeta, b: RegionMeta): boolean {
  const aEndsAfterBStart = a.endKey.length === 0 || compareKeys(b.startKey, a.endKey) < 0;
  const bEndsAfterAStart = b.endKey.length === 0 || compareKeys(a.startKey, b.endKey) < 0;
  return aEndsAfterBStart && bEndsAfterAStart;
}

function isStaleAgainst(incoming: RegionMeta, existing: RegionMeta): boolean {
  if (existing.id === incoming.id) {
    return incoming.epoch.version < existing.epoch.version || incoming.epoch.confVer < existing.epoch.confVer;
  }
  // A different region over the same keys: the one whose range changed later (higher version) wins.
  return incoming.epoch.version < existing.epoch.version;
}

function sameRegion(a: RegionMeta, b: RegionMeta): boolean {
  return (
    a.id === b.id &&
    a.epoch.version === b.epoch.version &&
    a.epoch.confVer === b.epoch.confVer &&
    a.startKey.equals(b.startKey) &&
    a.endKey.equals(b.endKey) &&
    a.peers.length === b.peers.length &&
    a.peers.every((p, i) => p.id === b.peers[i]?.id && p.storeId === b.peers[i]?.storeId && p.role === b.peers[i]?.role)
  );
}

export class RegionIndex {
  /** Sorted by startKey; ranges never overlap. */
  private readonly byStart: RegionMeta[] = [];
  private readonly byId = new Map<number, RegionMeta>();

  get size(): number {
    return this.byStart.length;
  }

  getById(id: number): RegionMeta | undefined {
    return this.byId.get(id);
  }

  /** Index of the last region whose startKey ≤ key, or −1. */
  private floorIndex(key: Uint8Array): number {
    return floorIndexByKey(this.byStart, startKeyOf, key);
  }

  /** The region holding `key`, if PD knows one. */
  getByKey(key: Uint8Array): RegionMeta | undefined {
    const region = this.byStart[this.floorIndex(key)];
    return region !== undefined && regionContains(region, key) ? region : undefined;
  }

  /** The region just before the one holding `key` (the region ending at its start). */
  getPrev(key: Uint8Array): RegionMeta | undefined {
    const i = this.floorIndex(key);
    const current = this.byStart[i];
    if (current === undefined) return undefined;
    if (!regionContains(current, key)) return current.endKey.length !== 0 && compareKeys(current.endKey, key) <= 0 ? current : undefined;
    return this.byStart[i - 1];
  }

  /** Up to `limit` regions overlapping [startKey, endKey) in key order (empty endKey = +∞). */
  scan(startKey: Uint8Array, endKey: Uint8Array, limit: number): RegionMeta[] {
    const out: RegionMeta[] = [];
    let i = Math.max(0, this.floorIndex(startKey));
    for (; i < this.byStart.length && out.length < limit; i++) {
      const r = this.byStart[i]!;
      if (endKey.length !== 0 && compareKeys(r.startKey, endKey) >= 0) break;
      if (r.endKey.length !== 0 && compareKeys(r.endKey, startKey) <= 0) continue;
      out.push(r);
    }
    return out;
  }

  all(): readonly RegionMeta[] {
    return this.byStart;
  }

  /**
   * Records a region reported by its leader (or created by bootstrap / split). Refused as stale
   * when the same region is known with a newer epoch or an overlapping region has a newer version.
   */
  upsert(region: RegionMeta): RegionUpsert {
    invariant(region.endKey.length === 0 || compareKeys(region.startKey, region.endKey) < 0, () => `region ${region.id}: start key must sort before end key`);
    const known = this.byId.get(region.id);
    if (known !== undefined && sameRegion(known, region)) return { kind: 'unchanged' };
    const overlapping = this.overlapping(region);
    for (const existing of [...overlapping, ...(known === undefined ? [] : [known])]) {
      if (isStaleAgainst(region, existing)) return { kind: 'stale', current: existing };
    }
    const removed: RegionMeta[] = [];
    for (const r of overlapping) if (r.id !== region.id) removed.push(r);
    for (const r of new Set([...overlapping, ...(known === undefined ? [] : [known])])) this.removeExact(r);
    this.insertSorted(region);
    this.byId.set(region.id, region);
    return { kind: 'updated', removed };
  }

  /** Drops a region (e.g. merged away), if present. */
  remove(id: number): RegionMeta | undefined {
    const r = this.byId.get(id);
    if (r !== undefined) this.removeExact(r);
    return r;
  }

  private overlapping(region: RegionMeta): RegionMeta[] {
    return this.scan(region.startKey, region.endKey, Number.MAX_SAFE_INTEGER).filter((r) => overlaps(r, region));
  }

  private removeExact(region: RegionMeta): void {
    const i = this.byStart.indexOf(region);
    invariant(i >= 0, () => `region ${region.id} missing from the sorted index`);
    this.byStart.splice(i, 1);
    if (this.byId.get(region.id) === region) this.byId.delete(region.id);
  }

  private insertSorted(region: RegionMeta): void {
    const i = this.floorIndex(region.startKey) + 1;
    const before = this.byStart[i - 1];
    invariant(before === undefined || !overlaps(before, region), () => `region ${region.id} overlaps region ${before?.id} after removal`);
    this.byStart.splice(i, 0, region);
  }
}
