// The leader side of a split (split.ts): decides when a region it leads is too big, picks split
// keys from a scan of the region's keys, asks PD for ids, proposes BatchSplit and waits for it to
// apply. One split per region at a time and SPLITS_IN_FLIGHT_MAX per store; a split whose region
// moved meanwhile (epoch changed, leadership lost) is abandoned — the next check starts over.

import type { Logger } from 'pino';
import { compareKeys, encodeKey, FlotillaError, type RegionMeta } from '../common/index.js';
import type { Engine } from './engine/index.js';
import type { Peer } from './peer.js';
import { encodeBatchSplitCommand } from './raft-cmd.js';
import { decideBatchSplit, regionKeyPages, SPLIT_KEYS_MAX, splitPieces, splitPoints, userKeyBounds } from './split.js';

/** Splits one store runs at once (each scans a region). */
export const SPLITS_IN_FLIGHT_MAX = 2;

export interface SplitLimits {
  readonly sizeBytes: number;
  readonly keys: number;
}

export interface RegionSplitterOptions {
  readonly engine: Engine;
  readonly pd: {
    askBatchSplit(region: RegionMeta, count: number): Promise<{ readonly newRegionId: number; readonly newPeerIds: readonly number[] }[]>;
  };
  readonly limits: SplitLimits;
  readonly logger: Logger;
  readonly onSplit?: (outcome: 'split' | 'skipped' | 'failed') => void;
}

/** Where to split: at given keys, or by size and a fresh key count (`isLimitCheck`: only if past a limit). */
export type SplitHow = { readonly at: readonly Buffer[] } | { readonly sizeBytes: number; readonly isLimitCheck?: boolean };

export type SplitOutcome =
  | { readonly kind: 'split'; readonly regions: readonly RegionMeta[] }
  | { readonly kind: 'skipped'; readonly reason: string };

export class RegionSplitter {
  private readonly inFlight = new Set<number>();
  private readonly log: Logger;

  constructor(private readonly options: RegionSplitterOptions) {
    this.log = options.logger.child({ component: 'splitter' });
  }

  /**
   * After a region heartbeat: splits the region if it is past a limit (never throws). The key
   * count is the peer's — exact, or (without --region-key-count) the last sample walk's, which
   * may be stale: the split counts afresh and goes ahead only if the region is still past a limit.
   */
  maybeSplit(peer: Peer, sizeBytes: number): void {
    if (splitPieces({ sizeBytes, keys: peer.approximateKeys }, this.options.limits) === 0) return;
    if (this.inFlight.has(peer.regionId) || this.inFlight.size >= SPLITS_IN_FLIGHT_MAX) return;
    this.split(peer, { sizeBytes, isLimitCheck: true }).then(
      (outcome) => {
        if (outcome.kind === 'skipped') this.log.debug({ regionId: peer.regionId, reason: outcome.reason }, 'split skipped');
      },
      (err: unknown) => this.log.info({ regionId: peer.regionId, err }, 'split failed; the next check retries'),
    );
  }

  /**
   * Splits the region `peer` leads: at the given user keys (`at`, an admin's or PD's), else into
   * pieces of about half the limits (at least two: an admin's "split at the middle"; with
   * `isLimitCheck`, none when the fresh count finds the region within its limits). Resolves with
   * the resulting regions in key order once the split applied here; rejects with the region error
   * that stopped it.
   */
  async split(peer: Peer, how: SplitHow): Promise<SplitOutcome> {
    if (!peer.isLeaderReady) throw peer.notLeader();
    if (this.inFlight.has(peer.regionId)) return { kind: 'skipped', reason: 'a split of this region is in flight' };
    if (this.inFlight.size >= SPLITS_IN_FLIGHT_MAX) throw new FlotillaError('ServerIsBusy', `${SPLITS_IN_FLIGHT_MAX} splits are running on this store`, { details: { reason: 'splits in flight' } });
    this.inFlight.add(peer.regionId);
    try {
      const outcome = await this.run(peer, how);
      this.options.onSplit?.(outcome.kind);
      return outcome;
    } catch (err) {
      this.options.onSplit?.('failed');
      throw err;
    } finally {
      this.inFlight.delete(peer.regionId);
    }
  }

  private async run(peer: Peer, how: SplitHow): Promise<SplitOutcome> {
    const region = peer.region;
    const { engine } = this.options;
    let plan: { readonly at: readonly Buffer[] } | { readonly pieces: number; readonly total: number };
    if ('at' in how) {
      const at = checkSplitKeys(region, how.at);
      if (at.length === 0) return { kind: 'skipped', reason: 'every split key is a region boundary already' };
      plan = { at: at.map((k) => encodeKey(k)) };
    } else {
      // Count first (the kept count may be off or off), then cut at the positions.
      let total = 0;
      for await (const page of regionKeyPages(engine, region)) total += page.length;
      const pieces = splitPieces({ sizeBytes: how.sizeBytes, keys: total }, this.options.limits);
      if (pieces === 0 && how.isLimitCheck === true) return { kind: 'skipped', reason: `within its limits (${total} keys counted afresh)` };
      if (pieces < 2 && total < 2) return { kind: 'skipped', reason: 'the region holds too few keys to split' };
      plan = { pieces: Math.max(2, pieces), total };
    }
    const points = await splitPoints(region, regionKeyPages(engine, region), plan);
    if (points.keys.length === 0) return { kind: 'skipped', reason: 'no key to split at' };
    if (!sameEpoch(peer.region, region)) throw peer.epochNotMatch();
    const ids = await this.options.pd.askBatchSplit(region, points.keys.length);
    if (!peer.isLeaderReady) throw peer.notLeader();
    if (!sameEpoch(peer.region, region)) throw peer.epochNotMatch();
    // right_derive: this region keeps the last range (sequential writes keep hitting a leader
    // that is ready); new region i takes range i.
    const cmd = {
      regionId: region.id, peerId: peer.peerId, epoch: region.epoch, rightDerive: true,
      splits: points.keys.map((splitKey, i) => ({ splitKey, ...ids[i]!, approximateKeys: points.counts[i] ?? 0 })),
    };
    const expected = decideBatchSplit(region, peer.approximateKeys, cmd);
    if (expected.kind === 'error') throw expected.error;
    const why = 'at' in plan ? { reason: 'split keys given' } : { keys: plan.total, keysKept: peer.approximateKeys, sizeBytes: 'sizeBytes' in how ? how.sizeBytes : 0 };
    this.log.info({ regionId: region.id, splitKeys: points.keys.length, newRegions: ids.map((i) => i.newRegionId), ...why }, 'proposing split');
    const result = await peer.propose(encodeBatchSplitCommand(cmd));
    if (result.kind === 'error') throw result.error;
    return { kind: 'split', regions: [...expected.created, expected.derived] };
  }
}

function sameEpoch(a: RegionMeta, b: RegionMeta): boolean {
  return a.epoch.version === b.epoch.version && a.epoch.confVer === b.epoch.confVer;
}

/**
 * Admin split keys (user keys): sorted, distinct, each strictly inside the region (a key equal to
 * its start is dropped: already a boundary); a key outside it is InvalidArgument (KeyNotInRegion).
 */
export function checkSplitKeys(region: RegionMeta, keys: readonly Buffer[]): Buffer[] {
  if (keys.length > SPLIT_KEYS_MAX) throw new FlotillaError('InvalidArgument', `${keys.length} split keys exceed ${SPLIT_KEYS_MAX}`);
  const { start, end } = userKeyBounds(region);
  const sorted = [...keys].sort(compareKeys).filter((k, i, all) => i === 0 || !k.equals(all[i - 1]!));
  const out: Buffer[] = [];
  for (const k of sorted) {
    if (compareKeys(k, start) < 0 || (end !== null && compareKeys(k, end) >= 0)) {
      throw new FlotillaError('KeyNotInRegion', `split key ${k.toString('hex')} is outside region ${region.id}`, {
        details: { key: k, regionId: region.id, startKey: region.startKey, endKey: region.endKey },
      });
    }
    if (k.equals(start)) continue;
    out.push(k);
  }
  return out;
}
