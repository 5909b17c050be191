// Region merge (issue F7): a small region (the source) hands its range to an adjacent one (the
// target) whose peers sit on the same stores — PD arranges that first (placement-driver/
// schedulers/merge-checker.ts), then orders the source's leader to merge. No data moves: both
// regions' keys live in the same engine on every store; what changes is which raft group owns them.
//
//   1. PrepareMerge, in the source's log (peer.ts): the source stops serving reads and writes, its
//      epoch moves (a split or membership change proposed before cannot apply after it) and its
//      region state records the merge (state 'merging': a restart resumes it). Raft log GC stops.
//   2. The source leader waits until every source peer holds its log up to the PrepareMerge entry
//      (its match), and until it sits on the store of the target's leader (it moves its own
//      leadership there). Then it proposes CommitMerge in the TARGET's log, under the target's
//      epoch as of PrepareMerge.
//   3. CommitMerge applies on each target replica only once that store's source replica has
//      applied the PrepareMerge (until then the target's later entries wait, peer.ts): the
//      source replica is told the PrepareMerge is committed (raft commitTo: its log holds it —
//      step 2 — and its own group may have no leader left to say so). Then, in ONE write batch,
//      the target's region becomes the union (version above both) and the source's region state
//      a tombstone; its raft state is cleared after the batch.
//   4. RollbackMerge, in the source's log: only once the target's epoch has moved past the one
//      PrepareMerge recorded — every CommitMerge carries that epoch, so none can apply any more.
//      The source then serves again at a new version.
//
// A replica that crashes anywhere resumes from its region state and log: a merging source stays
// merging; a target re-applies CommitMerge (its apply state is in the batch that retires the source).

import type { Logger } from 'pino';
import { FlotillaError, type RegionEpoch, type RegionMeta } from '../common/index.js';
import type { MergeState } from './local-state.js';
import type { Peer } from './peer.js';
import { adminCommandsIn } from './peer-lifecycle.js';
import { encodeCommitMergeCommand, encodePrepareMergeCommand, encodeRollbackMergeCommand } from './raft-cmd.js';

/** How often each merge this store leads is driven on (and how soon after PrepareMerge applied). */
export const MERGE_DRIVE_INTERVAL_MS = 200;

function sameStores(a: RegionMeta, b: RegionMeta): boolean {
  if (a.peers.length !== b.peers.length) return false;
  const stores = new Set(a.peers.map((p) => p.storeId));
  return b.peers.every((p) => stores.has(p.storeId));
}

function isAdjacent(source: Pick<RegionMeta, 'startKey' | 'endKey'>, target: Pick<RegionMeta, 'startKey' | 'endKey'>): boolean {
  return (source.endKey.length > 0 && source.endKey.equals(target.startKey)) || (target.endKey.length > 0 && target.endKey.equals(source.startKey));
}

/** Why `source` may not merge into `target` (InvalidArgument), or null when it may. */
export function mergeRefusal(source: RegionMeta, target: RegionMeta): FlotillaError | null {
  const what = `region ${source.id} cannot merge into region ${target.id}`;
  if (source.id === target.id) return new FlotillaError('InvalidArgument', `${what}: the same region`);
  if (!isAdjacent(source, target)) return new FlotillaError('InvalidArgument', `${what}: they are not adjacent`);
  if (!sameStores(source, target)) return new FlotillaError('InvalidArgument', `${what}: their peers are not on the same stores`);
  if ([...source.peers, ...target.peers].some((p) => p.role !== 'voter')) return new FlotillaError('InvalidArgument', `${what}: a peer is a learner`);
  return null;
}

/**
 * The target after absorbing `source`: the union of the two adjacent ranges, the target's peers
 * and confVer, a version above both. Null when they are not adjacent.
 */
export function mergedRegion(source: RegionMeta, target: RegionMeta): RegionMeta | null {
  if (!isAdjacent(source, target)) return null;
  const isSourceLeft = source.endKey.length > 0 && source.endKey.equals(target.startKey);
  return {
    ...target,
    startKey: isSourceLeft ? source.startKey : target.startKey,
    endKey: isSourceLeft ? target.endKey : source.endKey,
    epoch: { confVer: target.epoch.confVer, version: Math.max(source.epoch.version, target.epoch.version) + 1 },
  };
}

function sameEpoch(a: RegionEpoch, b: RegionEpoch): boolean {
  return a.confVer === b.confVer && a.version === b.version;
}

/** What the driver needs of the store. */
export interface MergeHost {
  readonly storeId: number;
  /** This store's replicas, by region id. */
  readonly peers: ReadonlyMap<number, Peer>;
  readonly markDirty: (peer: Peer) => void;
  readonly logger: Logger;
}

/** Drives the merges whose source this store leads (steps 1, 2 and 4 above). */
export class MergeDriver {
  /** Source regions with a proposal of ours in flight. */
  private readonly busy = new Set<number>();
  private readonly log: Logger;

  constructor(private readonly host: MergeHost) {
    this.log = host.logger.child({ component: 'merge' });
  }

  /**
   * PD's order (or an admin's) to merge `source`, led here, into `targetRegionId`: proposes
   * PrepareMerge when this store holds the target and the two may merge; otherwise refuses.
   */
  async prepare(source: Peer, targetRegionId: number): Promise<void> {
    if (source.mergeState !== null) return; // already merging; drive() moves it on
    const target = this.host.peers.get(targetRegionId);
    if (target === undefined || target.storage.lastIndex() === 0) throw new FlotillaError('RegionNotFound', `region ${targetRegionId} has no replica on store ${this.host.storeId}`, { details: { regionId: targetRegionId } });
    const refusal = mergeRefusal(source.region, target.region);
    if (refusal !== null) throw refusal;
    if (target.mergeState !== null) throw new FlotillaError('ServerIsBusy', `region ${targetRegionId} is merging into another region`);
    if (this.busy.has(source.regionId)) return;
    const match = source.progressMatch();
    if (match.size < source.region.peers.length) throw new FlotillaError('ServerIsBusy', `region ${source.regionId}: not every peer is replicating yet`);
    const minIndex = Math.min(...match.values());
    // Raft log GC stops at PrepareMerge, so every source peer must be able to catch up from the
    // log: one that needs a snapshot would install a region state without the merge.
    if (minIndex < source.storage.truncatedIndex) throw new FlotillaError('ServerIsBusy', `region ${source.regionId}: a peer needs a snapshot (match ${minIndex}, log from ${source.storage.truncatedIndex + 1})`);
    // A CompactLog already in the log applies before PrepareMerge and may compact past that match
    // (a follower not recently active does not hold the log back): wait until it has applied —
    // this leader's, or one an earlier leader proposed (merge sim seed 724).
    if (source.isCompactLogInFlight || hasUnappliedCompactLog(source)) throw new FlotillaError('ServerIsBusy', `region ${source.regionId}: a log compaction is in flight`);
    this.busy.add(source.regionId);
    try {
      const result = await source.propose(encodePrepareMergeCommand({ regionId: source.regionId, peerId: source.peerId, epoch: source.region.epoch, minIndex, target: target.region }));
      if (result.kind === 'error') throw result.error;
    } finally {
      this.busy.delete(source.regionId);
    }
  }

  /** Moves every merge this store leads on one step (called every MERGE_DRIVE_INTERVAL_MS). */
  tick(): void {
    for (const peer of this.host.peers.values()) {
      if (peer.mergeState === null || !peer.isLeaderReady || this.busy.has(peer.regionId)) continue;
      this.busy.add(peer.regionId);
      this.drive(peer)
        .catch((err: unknown) => this.log.debug({ err, regionId: peer.regionId }, 'merge step failed; retried'))
        .finally(() => this.busy.delete(peer.regionId));
    }
  }

  private async drive(source: Peer): Promise<void> {
    const merge = source.mergeState!;
    const target = this.host.peers.get(merge.target.id);
    if (target === undefined) {
      // Gone from here. If a region here took our range (the target absorbed us, then merged
      // into it), our retirement is on its way. Otherwise the target merged away itself or left
      // this store: its epoch moved past the prepared one either way (its own PrepareMerge or a
      // conf change), and this store's replica applied everything before that — our CommitMerge
      // would have retired us — so none can apply any more (seen in the merge sim, seed 113).
      for (const p of this.host.peers.values()) if (p !== source && p.storage.lastIndex() > 0 && mergedCovers(p.region, source.region)) return;
      return this.rollBack(source, merge, 'merge target gone from this store');
    }
    if (!sameEpoch(target.region.epoch, merge.target.epoch)) {
      // The target moved on: if it absorbed us, our retirement is on its way; otherwise no
      // CommitMerge (all carry the prepared epoch) can apply any more — roll back.
      if (target.region.epoch.version > merge.target.epoch.version && mergedCovers(target.region, source.region)) return;
      return this.rollBack(source, merge, 'merge target changed');
    }
    // Every source replica must hold the log up to PrepareMerge (step 3 relies on it).
    const match = source.progressMatch();
    if (match.size < source.region.peers.length || [...match.values()].some((m) => m < merge.commit)) return;
    if (!target.isLeaderReady) {
      // Move our leadership to the store whose target replica leads: only there can both steps meet.
      const leaderStore = target.peerById(target.leaderId)?.storeId;
      const there = leaderStore === undefined ? undefined : source.region.peers.find((p) => p.storeId === leaderStore);
      if (there !== undefined && there.id !== source.peerId) {
        source.raw.transferLeader(there.id);
        this.host.markDirty(source);
      }
      return;
    }
    const result = await target.propose(
      encodeCommitMergeCommand({ regionId: target.regionId, peerId: target.peerId, epoch: merge.target.epoch, source: source.region, commit: merge.commit, commitTerm: merge.commitTerm }),
      { isMergeCommand: true },
    );
    if (result.kind === 'error') throw result.error;
    this.log.info({ source: source.regionId, target: target.regionId }, 'merge committed');
  }

  private async rollBack(source: Peer, merge: MergeState, why: string): Promise<void> {
    this.log.info({ regionId: source.regionId, target: merge.target.id }, `${why}; rolling back`);
    const result = await source.propose(encodeRollbackMergeCommand({ regionId: source.regionId, peerId: source.peerId, epoch: source.region.epoch, commit: merge.commit }), { isMergeCommand: true });
    if (result.kind === 'error') throw result.error;
  }
}

function mergedCovers(target: RegionMeta, source: RegionMeta): boolean {
  const startsBefore = target.startKey.length === 0 || (source.startKey.length > 0 && Buffer.compare(target.startKey, source.startKey) <= 0);
  const endsAfter = target.endKey.length === 0 || (source.endKey.length > 0 && Buffer.compare(source.endKey, target.endKey) <= 0);
  return startsBefore && endsAfter;
}

/**
 * Whether `peer`'s log holds a CompactLog it has not applied (its entries above the applied index
 * are cached: PeerStorage never evicts them). Not readable from the cache, or an entry that does
 * not decode: answered true (the merge waits; PD asks again).
 */
function hasUnappliedCompactLog(peer: Peer): boolean {
  const unapplied = peer.storage.cachedEntriesFrom(peer.applied + 1);
  if (unapplied === null) return true;
  const { commands, isUnreadable } = adminCommandsIn(peer.regionId, unapplied);
  return isUnreadable || commands.some((c) => c.kind === 'compactLog');
}
