// The region event log: what happened to regions and when, by the PD leader's clock, for the
// dashboard's heatmap (markers on its time axis) and `GET /pd/api/v1/region-events`. Splits and
// merges are read off the region index as PD applies a region report (state-machine.ts
// `onRegionChanged`), operators' lives off the operator controller (operators.ts). Like the key
// visualizer it lives in memory on the leader only (not replicated: a new leader starts empty), in
// a ring of REGION_EVENTS_MAX events: the oldest is dropped when it is full. Invariant: events are
// kept in the order they were recorded, `seq` strictly increasing by 1, at most `capacity` of them.
//
//   putRegion applied ──► regionChangeEvents(previous, incoming, removed) ──► split | merge ─┐
//   operator created / finished / cancelled / timed out / region gone ──► operatorEvent ─────┼─► ring
//   GET /region-events?since&limit ◄── query: atMs ≥ since, the newest `limit` of them ◄─────┘

import assert from 'node:assert';
import { compareKeys, invariant, tryDecodeKey } from '../common/index.js';
import type { Operator, OperatorKind, OperatorOutcome, OperatorStep } from './operators.js';
import type { RegionMeta } from './region-index.js';

/**
 * Events kept. A busy cluster makes a few events a second (heartbeat-paced splits, a scheduler's
 * ≤ 16 operators a round, each created and finished): 4,096 is minutes of a storm and hours of a
 * quiet cluster, at ~300 B each ≈ 1.2 MiB.
 */
export const REGION_EVENTS_MAX = 4_096;
/** Events one query answers by default, and at most (the dashboard draws one marker per event). */
export const REGION_EVENTS_LIMIT_DEFAULT = 256;
export const REGION_EVENTS_LIMIT_MAX = 1_024;
/** Raw key bytes an event keeps of a boundary (as the key visualizer's boundaries: enough to place it). */
export const REGION_EVENT_KEY_BYTES_MAX = 64;
/** Characters an event keeps of an operator's description. */
export const REGION_EVENT_TEXT_MAX = 120;
assert(REGION_EVENTS_LIMIT_DEFAULT <= REGION_EVENTS_LIMIT_MAX && REGION_EVENTS_LIMIT_MAX <= REGION_EVENTS_MAX);

interface EventBase {
  /** Position in the log: 1 for the first event this member recorded, then +1 per event. */
  readonly seq: number;
  /** When PD learned of it (the leader's wall clock), Unix ms. */
  readonly atMs: number;
  readonly regionId: number;
}

/** A region's range shrank under a newer epoch: `regionId` split at `splitKeys` (hex of raw keys). */
export interface SplitEvent extends EventBase {
  readonly kind: 'split';
  /** The region's epoch version after the split. */
  readonly version: number;
  /** The range before the split (hex of raw keys; "" is −∞ as a start, +∞ as an end). */
  readonly startKey: string;
  readonly endKey: string;
  readonly splitKeys: readonly string[];
  /** The regions seen cut out of it by this report (empty when the old region reported its own smaller range first). */
  readonly newRegionIds: readonly number[];
}

/** A region's range grew over whole neighbours under a newer epoch: they merged into `regionId`. */
export interface MergeEvent extends EventBase {
  readonly kind: 'merge';
  readonly version: number;
  /** The merged range. */
  readonly startKey: string;
  readonly endKey: string;
  readonly mergedRegionIds: readonly number[];
}

/** One point of an operator's life. */
export interface OperatorEvent extends EventBase {
  readonly kind: 'operator';
  readonly outcome: OperatorOutcome;
  readonly operatorId: number;
  readonly operatorKind: OperatorKind;
  /** The scheduler that created it, or "admin". */
  readonly source: string;
  readonly description: string;
  /** Stores a replica or the leadership leaves (remove-peer; the leader's store for a transfer, when known). */
  readonly fromStoreIds: readonly number[];
  /** Stores a replica or the leadership goes to (add-peer, transfer-leader). */
  readonly toStoreIds: readonly number[];
}

export type RegionEvent = SplitEvent | MergeEvent | OperatorEvent;
/** An event before the log numbers it. */
export type RegionEventInput = Omit<SplitEvent, 'seq'> | Omit<MergeEvent, 'seq'> | Omit<OperatorEvent, 'seq'>;

export interface RegionEventPage {
  /** Oldest first. */
  readonly events: readonly RegionEvent[];
  /** Events that matched `sinceMs` but were left out, older than the ones answered (`limit`). */
  readonly omitted: number;
}

/** A bounded ring of events, oldest dropped first. Pure: the caller supplies every time. */
export class RegionEventLog {
  private readonly slots: (RegionEvent | undefined)[];
  /** Where the next event goes. */
  private next = 0;
  private count = 0;
  private nextSeq = 1;

  constructor(readonly capacity: number = REGION_EVENTS_MAX) {
    invariant(Number.isSafeInteger(capacity) && capacity >= 1, () => `region event log capacity ${capacity} must be a positive integer`);
    this.slots = new Array<RegionEvent | undefined>(capacity).fill(undefined);
  }

  /** Events held now (≤ capacity). */
  get size(): number {
    return this.count;
  }

  /** Events recorded since this log was made, the dropped ones included. */
  get recorded(): number {
    return this.nextSeq - 1;
  }

  /** Adds an event, dropping the oldest when full; returns it numbered. */
  append(input: RegionEventInput): RegionEvent {
    const event = { ...input, seq: this.nextSeq++ } as RegionEvent;
    this.slots[this.next] = event;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
    return event;
  }

  /** Every event held, oldest first. */
  all(): RegionEvent[] {
    const out: RegionEvent[] = [];
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out.push(this.slots[(first + i) % this.capacity]!);
    return out;
  }

  /**
   * Events recorded at or after `sinceMs` (atMs ≥ sinceMs), oldest first; when more than `limit`
   * match, the newest `limit` of them (a dashboard wants the latest), `omitted` counting the rest.
   * Preconditions: sinceMs ≥ 0, 1 ≤ limit (the HTTP layer checks them).
   */
  query(sinceMs: number, limit: number): RegionEventPage {
    invariant(Number.isSafeInteger(limit) && limit >= 1, () => `limit ${limit} must be a positive integer`);
    const matching = this.all().filter((e) => e.atMs >= sinceMs);
    const events = matching.slice(Math.max(0, matching.length - limit));
    return { events, omitted: matching.length - events.length };
  }
}

/** What a region report changed in PD's region index (state-machine.ts putRegion). */
export interface RegionChange {
  /** The region as reported and now recorded. */
  readonly incoming: RegionMeta;
  /** The same region (id) as PD knew it before, if it did. */
  readonly previous: RegionMeta | undefined;
  /** Other regions dropped because the reported one overlaps them. */
  readonly removed: readonly RegionMeta[];
}

/**
 * The split and merge events one applied region report makes:
 * - split: the report is newer (epoch version) than a region it replaces — itself as known before,
 *   or another it overlaps — and its range lies strictly inside that region's: that region split,
 *   at the report's boundaries that fall strictly inside the old range. A split reported region by
 *   region makes one event: the first report that replaces the old region.
 * - merge: the report is newer than the region as known before (if known), its range covers that
 *   range and strictly more, and it covers whole other regions: those merged into it.
 * Anything else (a new region in a gap, membership or leader changes) makes none.
 */
export function regionChangeEvents(change: RegionChange, atMs: number): RegionEventInput[] {
  const { incoming, previous, removed } = change;
  const events: RegionEventInput[] = [];
  const version = incoming.epoch.version;
  for (const old of previous === undefined ? removed : [previous, ...removed]) {
    if (version <= old.epoch.version || !covers(old, incoming) || sameRange(old, incoming)) continue;
    const splitKeys = [incoming.startKey, incoming.endKey].filter((k) => isStrictlyInside(old, k)).map(hexOf);
    const newRegionIds = incoming.id === old.id ? [] : [incoming.id];
    events.push({ kind: 'split', atMs, regionId: old.id, version, startKey: hexOf(old.startKey), endKey: hexOf(old.endKey), splitKeys, newRegionIds });
  }
  const merged = removed.filter((r) => covers(incoming, r) && version > r.epoch.version);
  const grew = previous === undefined || (version > previous.epoch.version && covers(incoming, previous) && !sameRange(incoming, previous));
  if (merged.length > 0 && grew) {
    events.push({ kind: 'merge', atMs, regionId: incoming.id, version, startKey: hexOf(incoming.startKey), endKey: hexOf(incoming.endKey), mergedRegionIds: merged.map((r) => r.id) });
  }
  return events;
}

/**
 * The event of an operator reaching `outcome`. `leaderStoreId`: the store leading the region now,
 * if known — the "from" of a leadership transfer.
 */
export function operatorEvent(op: Operator, outcome: OperatorOutcome, atMs: number, leaderStoreId?: number): Omit<OperatorEvent, 'seq'> {
  const from = new Set<number>();
  const to = new Set<number>();
  for (const step of op.steps) addStores(step, from, to, leaderStoreId);
  return {
    kind: 'operator',
    atMs,
    regionId: op.regionId,
    outcome,
    operatorId: op.id,
    operatorKind: op.kind,
    source: op.source,
    description: op.description.length <= REGION_EVENT_TEXT_MAX ? op.description : `${op.description.slice(0, REGION_EVENT_TEXT_MAX - 1)}…`,
    fromStoreIds: [...from].sort((a, b) => a - b),
    toStoreIds: [...to].sort((a, b) => a - b),
  };
}

function addStores(step: OperatorStep, from: Set<number>, to: Set<number>, leaderStoreId: number | undefined): void {
  switch (step.kind) {
    case 'addPeer':
      to.add(step.peer.storeId);
      return;
    case 'removePeer':
      from.add(step.peer.storeId);
      return;
    case 'transferLeader':
      if (leaderStoreId !== undefined && leaderStoreId !== step.toPeer.storeId) from.add(leaderStoreId);
      to.add(step.toPeer.storeId);
      return;
    case 'promoteLearner':
    case 'split':
    case 'merge':
      return;
  }
}

/** `outer` covers `inner`'s whole range (empty end = +∞). */
function covers(outer: RegionMeta, inner: RegionMeta): boolean {
  const startsBefore = compareKeys(outer.startKey, inner.startKey) <= 0;
  const endsAfter = outer.endKey.length === 0 || (inner.endKey.length !== 0 && compareKeys(inner.endKey, outer.endKey) <= 0);
  return startsBefore && endsAfter;
}

function sameRange(a: RegionMeta, b: RegionMeta): boolean {
  return compareKeys(a.startKey, b.startKey) === 0 && compareKeys(a.endKey, b.endKey) === 0;
}

/** `key` (a boundary) lies strictly between the region's ends; the empty key is an end, never inside. */
function isStrictlyInside(region: RegionMeta, key: Uint8Array): boolean {
  return key.length !== 0 && compareKeys(region.startKey, key) < 0 && (region.endKey.length === 0 || compareKeys(key, region.endKey) < 0);
}

/**
 * A region boundary (memcomparable) as hex of its raw user key, cut to REGION_EVENT_KEY_BYTES_MAX
 * bytes; "" stays "". A boundary that is not memcomparable (PD only stores what stores report) is
 * shown as its stored bytes rather than refused: an event must never fail the apply it observes.
 */
export function hexOf(encoded: Uint8Array): string {
  if (encoded.length === 0) return '';
  const decoded = tryDecodeKey(encoded);
  const raw = decoded.ok ? decoded.key : Buffer.from(encoded);
  return raw.subarray(0, REGION_EVENT_KEY_BYTES_MAX).toString('hex');
}
