// Region split (issue F7): the BatchSplit admin command, what it does at apply, and how a leader
// picks split keys.
//
//   leader: region past its size or key limit (or PD / an admin asks) → split keys from a scan
//           (splitPoints) → ids from PD (AskBatchSplit) → propose BatchSplit under the epoch
//   apply (every replica, decideBatchSplit): n keys cut the range into n + 1 ranges; the original
//           keeps its id and one end (right_derive: the last range), the new regions the others;
//           every resulting region has epoch version + n; the region states of all of them go
//           into the apply batch, so a crash keeps the split whole or not at all
//   after the batch is written (raft-store.ts): a peer per new region on this store, whose log
//           starts at RAFT_INIT_INDEX like a bootstrapped region's; on the old leader's store the
//           new peers campaign at once
//
// Data does not move: the keys stay where they are, only the regions' ranges change.

import { cfRangeOf, compareKeys, DATA_CFS, type DataCf, decodeKey, FlotillaError, type KeyRange, type RegionMeta, type WriteOp } from '../common/index.js';
import type { Engine, Snapshot } from './engine/index.js';

/** New regions one BatchSplit may create (PD's AskBatchSplit limit is the same). */
export const SPLIT_KEYS_MAX = 64;

export interface SplitSpec {
  /** A boundary between two resulting ranges (memcomparable-encoded). */
  readonly splitKey: Buffer;
  readonly newRegionId: number;
  /** One per peer of the region being split, in its order. */
  readonly newPeerIds: readonly number[];
  /** Keys the proposer counted in the new region's range. */
  readonly approximateKeys: number;
}

export interface BatchSplitCommand {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionMeta['epoch'];
  readonly splits: readonly SplitSpec[];
  /** The original region keeps the last range (else the first). */
  readonly rightDerive: boolean;
}

export type SplitDecision =
  | {
    readonly kind: 'ok';
    /** The original region with its new range and epoch. */
    readonly derived: RegionMeta;
    /** The new regions, in key order. */
    readonly created: readonly RegionMeta[];
    /** Key counts: derived first, then created in order. */
    readonly derivedKeys: number;
    readonly createdKeys: readonly number[];
  }
  | { readonly kind: 'error'; readonly error: FlotillaError };

/**
 * What a BatchSplit does to `region` (whose key count is `keys`), or why it does nothing: proposed
 * under another epoch (EpochNotMatch), or malformed (keys not strictly ascending inside the range,
 * ids missing or repeated). Pure: every replica decides the same.
 */
export function decideBatchSplit(region: RegionMeta, keys: number, cmd: BatchSplitCommand): SplitDecision {
  const { epoch } = region;
  if (cmd.epoch.version !== epoch.version || cmd.epoch.confVer !== epoch.confVer) {
    return {
      kind: 'error',
      error: new FlotillaError('EpochNotMatch', `region ${region.id}: split proposed at epoch ${cmd.epoch.confVer}/${cmd.epoch.version}, now ${epoch.confVer}/${epoch.version}`, { details: { currentRegions: [region] } }),
    };
  }
  const invalid = (why: string): SplitDecision => ({ kind: 'error', error: new FlotillaError('InvalidArgument', `region ${region.id}: split refused: ${why}`) });
  const n = cmd.splits.length;
  if (n === 0) return invalid('no split keys');
  if (n > SPLIT_KEYS_MAX) return invalid(`${n} split keys exceed ${SPLIT_KEYS_MAX}`);
  const ids = new Set<number>([region.id, ...region.peers.map((p) => p.id)]);
  let previous = region.startKey;
  for (const s of cmd.splits) {
    if (s.splitKey.length === 0) return invalid('an empty split key');
    if (compareKeys(s.splitKey, previous) <= 0) return invalid(`split key ${s.splitKey.toString('hex')} is not above ${previous.toString('hex') || 'the region start'}`);
    if (region.endKey.length > 0 && compareKeys(s.splitKey, region.endKey) >= 0) return invalid(`split key ${s.splitKey.toString('hex')} is not below the region end`);
    previous = s.splitKey;
    if (s.newPeerIds.length !== region.peers.length) return invalid(`region ${s.newRegionId} has ${s.newPeerIds.length} peer ids for ${region.peers.length} peers`);
    for (const id of [s.newRegionId, ...s.newPeerIds]) {
      if (!Number.isSafeInteger(id) || id <= 0 || ids.has(id)) return invalid(`id ${id} is zero or used twice`);
      ids.add(id);
    }
  }
  const version = epoch.version + n;
  const bounds = [region.startKey, ...cmd.splits.map((s) => s.splitKey), region.endKey];
  const range = (i: number): { startKey: Buffer; endKey: Buffer } => ({ startKey: bounds[i]!, endKey: bounds[i + 1]! });
  // The ranges in key order: with right_derive the new regions take ranges 0..n-1, else 1..n.
  const firstNew = cmd.rightDerive ? 0 : 1;
  const created = cmd.splits.map((s, i): RegionMeta => ({
    id: s.newRegionId,
    ...range(firstNew + i),
    epoch: { confVer: epoch.confVer, version },
    peers: region.peers.map((p, j) => ({ id: s.newPeerIds[j]!, storeId: p.storeId, role: p.role })),
  }));
  const derived: RegionMeta = { ...region, ...range(cmd.rightDerive ? n : 0), epoch: { confVer: epoch.confVer, version } };
  const createdKeys = cmd.splits.map((s) => Math.max(0, Math.min(s.approximateKeys, Number.MAX_SAFE_INTEGER)));
  const derivedKeys = Math.max(0, keys - createdKeys.reduce((a, b) => a + b, 0));
  return { kind: 'ok', derived, created, derivedKeys, createdKeys };
}

/** Whether a region this big should split, and into how many pieces (each about half the limit). */
export function splitPieces(stats: { readonly sizeBytes: number; readonly keys: number }, limits: { readonly sizeBytes: number; readonly keys: number }): number {
  const ratio = Math.max(stats.sizeBytes / limits.sizeBytes, stats.keys / limits.keys);
  if (!(ratio > 1)) return 0;
  return Math.min(SPLIT_KEYS_MAX + 1, Math.max(2, Math.round(2 * ratio)));
}

/** A region's user-key bounds for CF scans: start (empty = −∞) and end (null = +∞). */
export function userKeyBounds(region: RegionMeta): { readonly start: Buffer; readonly end: Buffer | null } {
  return {
    start: region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.startKey).key,
    end: region.endKey.length === 0 ? null : decodeKey(region.endKey).key,
  };
}

/** The data-key range of a region in every data CF (one entry per CF). */
export type RegionDataBounds = ReadonlyMap<DataCf, KeyRange>;

export function regionDataBounds(region: RegionMeta): RegionDataBounds {
  const { start, end } = userKeyBounds(region);
  return new Map(DATA_CFS.map((cf) => [cf, cfRangeOf(cf, start, end)]));
}

/**
 * The first operation whose key lies outside the region (a key of another region, or not a data
 * key at all), or null. A write command decided under one region shape must not apply under
 * another: a split that applies while the command waits for latches or reads leaves its keys to
 * a new region, whose own log must order every write to them.
 */
export function opOutsideRegion(ops: readonly WriteOp[], bounds: RegionDataBounds): WriteOp | null {
  for (const op of ops) {
    const range = op.cf === 'local' ? undefined : bounds.get(op.cf);
    if (range === undefined || compareKeys(op.key, range.start) < 0 || compareKeys(op.key, range.end) >= 0) return op;
  }
  return null;
}

/** Walks a region's keys in order, one page at a time. */
export type KeyPages = AsyncIterable<readonly Buffer[]>;

export interface SplitPoints {
  /** Encoded split keys, ascending, strictly inside the region. */
  readonly keys: readonly Buffer[];
  /** Keys counted in each of the keys.length + 1 ranges, in key order. */
  readonly counts: readonly number[];
}

/**
 * Chooses split keys that cut a region's keys (encoded user keys in key order, from `pages`; a key
 * may repeat, as the raw and transactional records of one key do) into `pieces` ranges of about
 * equal count, given `total` keys expected (the walk's own count wins if it differs), or at the
 * given encoded keys (`at`, sorted, distinct, inside the region) — then only counting. A range
 * never starts at the region's start key and no key repeats: fewer pieces come out when the keys
 * do not allow more.
 */
export async function splitPoints(region: RegionMeta, pages: KeyPages, plan: { readonly pieces: number; readonly total: number } | { readonly at: readonly Buffer[] }): Promise<SplitPoints> {
  const start = region.startKey;
  const chosen: Buffer[] = [];
  const counts: number[] = [0];
  let seen = 0;
  let next = 0;
  const at = 'at' in plan ? plan.at : null;
  const targets = 'at' in plan ? null : Array.from({ length: plan.pieces - 1 }, (_, i) => Math.floor(((i + 1) * plan.total) / plan.pieces));
  let last: Buffer | null = null;
  for await (const page of pages) {
    for (const key of page) {
      const isNew = last === null || !key.equals(last);
      if (isNew && compareKeys(key, start) > 0) {
        if (targets !== null && next < targets.length && seen >= targets[next]!) {
          chosen.push(key);
          counts.push(0);
          next++;
        } else if (at !== null) {
          while (next < at.length && compareKeys(at[next]!, key) <= 0) {
            chosen.push(at[next]!);
            counts.push(0);
            next++;
          }
        }
      }
      last = key;
      seen++;
      counts[counts.length - 1]!++;
    }
  }
  if (at !== null) {
    for (; next < at.length; next++) {
      chosen.push(at[next]!);
      counts.push(0);
    }
  }
  return { keys: chosen, counts };
}

/** Keys read per page when a split walks a region. */
export const SPLIT_SCAN_PAGE = 4_096;

/** One CF's keys in a range, page by page (encoded user keys: the CF prefix byte dropped). */
class CfCursor {
  private page: Buffer[] = [];
  private at = 0;
  private from: Buffer;
  private isDone = false;

  constructor(private readonly snap: Snapshot, start: Buffer, private readonly end: Buffer, private readonly pageSize: number) {
    this.from = start;
  }

  async peek(): Promise<Buffer | null> {
    if (this.at < this.page.length) return this.page[this.at]!;
    if (this.isDone) return null;
    const entries = await this.snap.scan(this.from, this.end, { limit: this.pageSize });
    this.isDone = entries.length < this.pageSize;
    if (entries.length > 0) this.from = Buffer.concat([entries[entries.length - 1]!.key, Buffer.from([0])]);
    this.page = entries.map((e) => e.key.subarray(1));
    this.at = 0;
    return this.page.length > 0 ? this.page[0]! : null;
  }

  take(): void {
    this.at++;
  }
}

/**
 * The region's keys in its raw and latest CFs (one record per user key each; memcomparable-encoded,
 * as region bounds are), merged in key order, from one consistent snapshot; pages of at most
 * `pageSize` keys.
 */
export async function* regionKeyPages(engine: Engine, region: RegionMeta, pageSize = SPLIT_SCAN_PAGE): AsyncGenerator<readonly Buffer[]> {
  const snap = await engine.snapshot();
  try {
    yield* regionKeyPagesIn(snap, region, pageSize);
  } finally {
    await snap.release();
  }
}

/** regionKeyPages over a snapshot the caller holds (and releases). */
export async function* regionKeyPagesIn(snap: Snapshot, region: RegionMeta, pageSize = SPLIT_SCAN_PAGE): AsyncGenerator<readonly Buffer[]> {
  const { start, end } = userKeyBounds(region);
  const cursors = (['raw', 'latest'] as const).map((cf) => {
    const r = cfRangeOf(cf, start, end);
    return new CfCursor(snap, r.start, r.end, pageSize);
  });
  let out: Buffer[] = [];
  for (;;) {
    const [a, b] = [await cursors[0]!.peek(), await cursors[1]!.peek()];
    if (a === null && b === null) break;
    if (b === null || (a !== null && compareKeys(a, b) <= 0)) {
      out.push(a!);
      cursors[0]!.take();
    } else {
      out.push(b);
      cursors[1]!.take();
    }
    if (out.length >= pageSize) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}
