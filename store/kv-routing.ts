// Where a KV request may run: every request names a region, the epoch it was routed with and the
// peer it addressed; the store answers a typed region error (RegionNotFound, StoreNotMatch,
// EpochNotMatch, NotLeader, KeyNotInRegion) instead of running it anywhere else. Also the named
// size limits every request is held to.

import { compareKeys, decodeKey, encodeKey, FlotillaError, u64ToSafeNumber } from '../common/index.js';
import type { kvrpcpb } from '../proto/index.js';
import type { Peer } from './peer.js';

export interface KvLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly batchKeysMax: number;
  readonly scanLimitMax: number;
  readonly pendingProposalsMax: number;
  /**
   * Writes of one region whose outcome is unknown and that still hold their keys (latches, memory
   * locks, blind-write holds) until their entry can no longer apply unseen: Peer.whenApplyEnds
   * waiters. Past it the region's new writes answer ServerIsBusy, so a stalled apply cannot pile
   * up waiters without bound (at most this plus the proposals already in flight).
   */
  readonly unsettledWritesMax: number;
}

function invalid(message: string): FlotillaError {
  return new FlotillaError('InvalidArgument', message);
}

export class KvRouting {
  constructor(
    readonly storeId: number,
    private readonly peers: ReadonlyMap<number, Peer>,
    readonly limits: KvLimits,
  ) {}

  /**
   * The peer a request may run on (the region's leader here), or the region error why not. A read
   * (`isRead`) whose context asks for a replica read may run on a follower or learner too
   * (replica-read.ts); writes ignore the flag.
   */
  route(ctx: kvrpcpb.Context | null | undefined, options: { readonly needsLeader: boolean; readonly isRead?: boolean } = { needsLeader: true }): Peer {
    if (ctx === null || ctx === undefined) throw invalid('context is required');
    const regionId = u64ToSafeNumber(ctx.regionId, 'context.regionId');
    if (regionId === 0) throw invalid('context.regionId is required');
    const peer = this.peers.get(regionId);
    if (peer === undefined) {
      throw new FlotillaError('RegionNotFound', `region ${regionId} is not on store ${this.storeId}`, { details: { regionId } });
    }
    if (ctx.peer !== null) {
      const asked = u64ToSafeNumber(ctx.peer.storeId, 'context.peer.storeId');
      if (asked !== 0 && asked !== this.storeId) {
        throw new FlotillaError('StoreNotMatch', `request for store ${asked} reached store ${this.storeId}`, { details: { requestStoreId: asked, actualStoreId: this.storeId } });
      }
    }
    const epoch = ctx.regionEpoch;
    if (epoch === null) throw invalid('context.regionEpoch is required');
    const confVer = u64ToSafeNumber(epoch.confVer, 'context.regionEpoch.confVer');
    const version = u64ToSafeNumber(epoch.version, 'context.regionEpoch.version');
    const current = peer.region.epoch;
    if (confVer !== current.confVer || version !== current.version) throw peer.epochNotMatch();
    if (options.needsLeader && !peer.isLeader && !(options.isRead === true && ctx.replicaRead)) throw peer.notLeader();
    return peer;
  }

  /** Size-checks a user key and checks it lies in the peer's region. */
  checkKey(peer: Peer, key: Buffer, what = 'key'): void {
    if (key.length === 0) throw invalid(`${what} is empty`);
    if (key.length > this.limits.keyBytesMax) throw invalid(`${what} has ${key.length} bytes, limit ${this.limits.keyBytesMax}`);
    const region = peer.region;
    const enc = encodeKey(key);
    if (compareKeys(enc, region.startKey) < 0 || (region.endKey.length > 0 && compareKeys(enc, region.endKey) >= 0)) {
      throw new FlotillaError('KeyNotInRegion', `${what} is outside region ${region.id}`, {
        details: { key, regionId: region.id, startKey: region.startKey, endKey: region.endKey },
      });
    }
  }

  checkKeys(peer: Peer, keys: readonly Buffer[], what = 'keys'): void {
    if (keys.length === 0) throw invalid(`${what}: none given`);
    if (keys.length > this.limits.batchKeysMax) throw new FlotillaError('LimitExceeded', `${keys.length} ${what}, limit ${this.limits.batchKeysMax}`);
    for (const key of keys) this.checkKey(peer, key);
  }

  checkValue(value: Buffer): void {
    if (value.length > this.limits.valueBytesMax) throw invalid(`value has ${value.length} bytes, limit ${this.limits.valueBytesMax}`);
  }

  checkLimit(limit: number): void {
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalid(`scan limit ${limit} must be positive`);
    if (limit > this.limits.scanLimitMax) throw new FlotillaError('LimitExceeded', `scan limit ${limit}, limit ${this.limits.scanLimitMax}`);
  }

  /**
   * A scan range [start, end) of user keys clamped to the region (empty end = the region's end).
   * The start must lie in the region (empty = the region's start).
   */
  clampRange(peer: Peer, start: Buffer, end: Buffer): { readonly start: Buffer; readonly end: Buffer } {
    const region = peer.region;
    if (start.length > this.limits.keyBytesMax || end.length > this.limits.keyBytesMax) throw invalid(`range key longer than ${this.limits.keyBytesMax} bytes`);
    if (end.length > 0 && Buffer.compare(start, end) >= 0) throw invalid('scan end key must be after its start key');
    const regionStart = region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.startKey).key;
    const regionEnd = region.endKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.endKey).key;
    let from = start;
    if (from.length === 0 || Buffer.compare(from, regionStart) < 0) {
      if (from.length !== 0) this.checkKey(peer, from, 'scan start key');
      from = regionStart;
    } else if (regionEnd.length > 0 && Buffer.compare(from, regionEnd) >= 0) {
      this.checkKey(peer, from, 'scan start key');
    }
    let to = end;
    if (regionEnd.length > 0 && (to.length === 0 || Buffer.compare(to, regionEnd) > 0)) to = regionEnd;
    return { start: from, end: to };
  }
}
