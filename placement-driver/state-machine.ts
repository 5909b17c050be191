// PD's replicated state machine: every member applies the same committed commands in the same
// order and so holds the same cluster metadata. Apply is deterministic and synchronous (no clock,
// no randomness: whatever varies is decided by the proposer and carried in the command).
//
// State: cluster id and bootstrap flag; stores; regions and their leaders; the ID allocator's
// high-water mark; the TSO's saved bound; the GC safe point; the scheduling config and which
// schedulers are switched on; PD members.
// Monotonic fields (id high-water, TSO bound, GC safe point) never move back: a command that
// would is answered with a refusal and changes nothing.

import { FlotillaError, invariant } from '../common/index.js';
import { DEFAULT_CLUSTER_CONFIG, patchClusterConfig, withCurrentConfigNames, type ClusterConfig } from './cluster-config.js';
import type { RegionChange } from './region-events.js';
import { RegionIndex, type RegionMeta } from './region-index.js';
import { SCHEDULER_NAMES } from './schedulers/scheduler.js';
import { decodeChecksummedRecord, decodeJsonRecord, encodeChecksummedRecord, encodeJsonRecord } from './state-codec.js';

export type { StoreMeta, StoreState } from '../common/index.js';
import type { StoreMeta } from '../common/index.js';

export interface PdMember {
  /** The raft node id of the member. */
  readonly id: number;
  readonly name: string;
  /** host:port of its PDPeer service. */
  readonly peerUrls: readonly string[];
  /** host:port of its PD service. */
  readonly clientUrls: readonly string[];
  /**
   * host:port of its HTTP API, as the member reports it; absent in records written before the
   * member reported it (PD before F6, or a member added over HTTP that has not started yet).
   */
  readonly statusAddress?: string;
}

export type PdCommand =
  | { readonly kind: 'initCluster'; readonly clusterId: bigint }
  | { readonly kind: 'bootstrap'; readonly store: StoreMeta; readonly region: RegionMeta }
  | { readonly kind: 'putStore'; readonly store: StoreMeta }
  /** An admin removes a store: Offline while it holds region peers, else Tombstone at once. */
  | { readonly kind: 'deleteStore'; readonly storeId: number }
  | { readonly kind: 'putRegion'; readonly region: RegionMeta; /** leader peer id, 0 if unknown */ readonly leaderPeerId: number }
  | { readonly kind: 'raiseIdHighWater'; readonly highWater: bigint }
  | { readonly kind: 'raiseTsoBound'; readonly boundMs: bigint }
  | { readonly kind: 'updateGcSafePoint'; readonly safePoint: bigint }
  | { readonly kind: 'patchConfig'; readonly patch: Readonly<Record<string, number | boolean>> }
  /** Turns a scheduler on or off (schedulers/scheduler.ts SCHEDULER_NAMES); replicated so it survives leader changes. */
  | { readonly kind: 'setSchedulerEnabled'; readonly name: string; readonly isEnabled: boolean }
  | { readonly kind: 'putMember'; readonly member: PdMember }
  /**
   * A member refreshes its own addresses. Unlike putMember it never adds: proposed by the member
   * itself, it may commit after that member's removal, which must stay removed.
   */
  | { readonly kind: 'updateMember'; readonly member: PdMember }
  /** Applied with every RemoveNode conf change (raft-node); also read from logs written before that. */
  | { readonly kind: 'removeMember'; readonly memberId: number };

export type PdCommandKind = PdCommand['kind'];

export type PdApplyResult =
  | { readonly kind: 'ok' }
  | { readonly kind: 'unchanged' }
  | {
      readonly kind: 'refused';
      readonly code: 'AlreadyBootstrapped' | 'NotBootstrapped' | 'StoreNotFound' | 'StoreTombstone' | 'GcSafePointBackwards' | 'InvalidArgument';
      readonly message: string;
    }
  | { readonly kind: 'staleRegion'; readonly current: RegionMeta }
  | { readonly kind: 'gcSafePoint'; readonly safePoint: bigint };

interface PdSnapshotBody {
  readonly clusterId: bigint;
  readonly bootstrapped: boolean;
  readonly stores: readonly StoreMeta[];
  readonly regions: readonly RegionMeta[];
  readonly leaders: readonly (readonly [number, number])[];
  readonly idHighWater: bigint;
  readonly tsoBoundMs: bigint;
  readonly gcSafePoint: bigint;
  readonly config: ClusterConfig;
  readonly members: readonly PdMember[];
  /** Schedulers switched on or off at runtime (absent in snapshots written before F7: all at their defaults). */
  readonly schedulers?: readonly (readonly [string, boolean])[];
}

export class PdStateMachine {
  clusterId = 0n;
  bootstrapped = false;
  readonly stores = new Map<number, StoreMeta>();
  regions = new RegionIndex();
  /** region id → leader peer id, as last reported. */
  readonly leaders = new Map<number, number>();
  idHighWater = 0n;
  tsoBoundMs = 0n;
  gcSafePoint = 0n;
  config: ClusterConfig = DEFAULT_CLUSTER_CONFIG;
  readonly members = new Map<number, PdMember>();
  /** Scheduler name → switched on (true) or off, for schedulers switched at runtime; others run by default. */
  readonly schedulerSwitches = new Map<string, boolean>();
  /**
   * Told of every region the state machine drops (covered by a split or merge report, or absent
   * from a restored snapshot), so in-memory companions (heartbeat stats, operators) can drop it
   * too. Only observes; apply stays deterministic.
   */
  onRegionRemoved: ((regionId: number) => void) | undefined;
  /**
   * Told of every region report that changed the region index (range, epoch or peers), with the
   * region as known before and the regions it displaced, so the region event log can see splits
   * and merges (region-events.ts). Only observes; apply stays deterministic.
   */
  onRegionChanged: ((change: RegionChange) => void) | undefined;

  apply(cmd: PdCommand): PdApplyResult {
    switch (cmd.kind) {
      case 'initCluster':
        if (this.clusterId !== 0n) return { kind: 'unchanged' }; // first writer wins; later ones are no-ops
        invariant(cmd.clusterId !== 0n, 'cluster id 0 is reserved for "none"');
        this.clusterId = cmd.clusterId;
        return { kind: 'ok' };
      case 'bootstrap': {
        if (this.bootstrapped) return { kind: 'refused', code: 'AlreadyBootstrapped', message: `cluster ${this.clusterId} is already bootstrapped` };
        if (cmd.region.startKey.length !== 0 || cmd.region.endKey.length !== 0) {
          return { kind: 'refused', code: 'InvalidArgument', message: 'the first region must cover the whole key space' };
        }
        if (!cmd.region.peers.some((p) => p.storeId === cmd.store.id)) {
          return { kind: 'refused', code: 'InvalidArgument', message: `the first region must have a peer on store ${cmd.store.id}` };
        }
        this.stores.set(cmd.store.id, cmd.store);
        const upsert = this.regions.upsert(cmd.region);
        invariant(upsert.kind === 'updated', 'bootstrap region lands in an empty index');
        this.bootstrapped = true;
        return { kind: 'ok' };
      }
      case 'putStore': {
        const existing = this.stores.get(cmd.store.id);
        if (existing?.state === 'tombstone') return { kind: 'refused', code: 'StoreTombstone', message: `store ${cmd.store.id} was removed from the cluster` };
        for (const s of this.stores.values()) {
          if (s.id !== cmd.store.id && s.address === cmd.store.address && s.state !== 'tombstone') {
            return { kind: 'refused', code: 'InvalidArgument', message: `address ${cmd.store.address} is already used by store ${s.id}` };
          }
        }
        // A store reports itself Up; Offline is an admin's decision and stays until it is Tombstone.
        this.stores.set(cmd.store.id, existing?.state === 'offline' ? { ...cmd.store, state: 'offline' } : cmd.store);
        return { kind: 'ok' };
      }
      case 'deleteStore': {
        // Up ──► Offline (holds region peers; F7's replica checker moves them away) ──► Tombstone.
        // Decided here, at apply, from the replicated regions, so every member decides the same.
        const store = this.stores.get(cmd.storeId);
        if (store === undefined) return { kind: 'refused', code: 'StoreNotFound', message: `store ${cmd.storeId} not found` };
        if (store.state === 'tombstone') return { kind: 'unchanged' };
        const holdsPeers = this.regions.all().some((r) => r.peers.some((p) => p.storeId === cmd.storeId));
        const state = holdsPeers ? 'offline' : 'tombstone';
        if (store.state === state) return { kind: 'unchanged' };
        this.stores.set(cmd.storeId, { ...store, state });
        return { kind: 'ok' };
      }
      case 'putRegion': {
        if (!this.bootstrapped) return { kind: 'refused', code: 'NotBootstrapped', message: 'cluster is not bootstrapped' };
        const previous = this.regions.getById(cmd.region.id);
        const result = this.regions.upsert(cmd.region);
        if (result.kind === 'stale') return { kind: 'staleRegion', current: result.current };
        for (const removed of result.kind === 'updated' ? result.removed : []) {
          this.leaders.delete(removed.id);
          this.onRegionRemoved?.(removed.id);
        }
        if (result.kind === 'updated') this.onRegionChanged?.({ incoming: cmd.region, previous, removed: result.removed });
        const leaderChanged = cmd.leaderPeerId !== 0 && this.leaders.get(cmd.region.id) !== cmd.leaderPeerId;
        if (cmd.leaderPeerId !== 0) this.leaders.set(cmd.region.id, cmd.leaderPeerId);
        return result.kind === 'unchanged' && !leaderChanged ? { kind: 'unchanged' } : { kind: 'ok' };
      }
      case 'raiseIdHighWater':
        if (cmd.highWater <= this.idHighWater) return { kind: 'unchanged' };
        this.idHighWater = cmd.highWater;
        return { kind: 'ok' };
      case 'raiseTsoBound':
        if (cmd.boundMs <= this.tsoBoundMs) return { kind: 'unchanged' };
        this.tsoBoundMs = cmd.boundMs;
        return { kind: 'ok' };
      case 'updateGcSafePoint':
        if (cmd.safePoint < this.gcSafePoint) {
          return { kind: 'refused', code: 'GcSafePointBackwards', message: `GC safe point ${cmd.safePoint} is below the current ${this.gcSafePoint}` };
        }
        this.gcSafePoint = cmd.safePoint;
        return { kind: 'gcSafePoint', safePoint: this.gcSafePoint };
      case 'patchConfig': {
        const checked = patchClusterConfig(this.config, withCurrentConfigNames(cmd.patch));
        if (!checked.ok) return { kind: 'refused', code: 'InvalidArgument', message: `config ${checked.field}: ${checked.reason}` };
        this.config = checked.config;
        return { kind: 'ok' };
      }
      case 'setSchedulerEnabled': {
        if (!(SCHEDULER_NAMES as readonly string[]).includes(cmd.name)) {
          return { kind: 'refused', code: 'InvalidArgument', message: `unknown scheduler ${JSON.stringify(cmd.name)} (known: ${SCHEDULER_NAMES.join(', ')})` };
        }
        if (this.schedulerSwitches.get(cmd.name) === cmd.isEnabled) return { kind: 'unchanged' };
        this.schedulerSwitches.set(cmd.name, cmd.isEnabled);
        return { kind: 'ok' };
      }
      case 'putMember':
        this.members.set(cmd.member.id, cmd.member);
        return { kind: 'ok' };
      case 'updateMember':
        if (!this.members.has(cmd.member.id)) return { kind: 'unchanged' };
        this.members.set(cmd.member.id, cmd.member);
        return { kind: 'ok' };
      case 'removeMember':
        return this.members.delete(cmd.memberId) ? { kind: 'ok' } : { kind: 'unchanged' };
    }
  }

  /** The whole state as bytes (checksummed), for a raft snapshot. */
  snapshot(): Buffer {
    const body: PdSnapshotBody = {
      clusterId: this.clusterId,
      bootstrapped: this.bootstrapped,
      stores: [...this.stores.values()],
      regions: [...this.regions.all()],
      leaders: [...this.leaders.entries()],
      idHighWater: this.idHighWater,
      tsoBoundMs: this.tsoBoundMs,
      gcSafePoint: this.gcSafePoint,
      config: this.config,
      members: [...this.members.values()],
      schedulers: [...this.schedulerSwitches.entries()],
    };
    return encodeChecksummedRecord(body);
  }

  /** Replaces the whole state with a snapshot's. A corrupt snapshot throws Corruption and changes nothing. */
  restore(bytes: Uint8Array): void {
    const raw = decodeChecksummedRecord(bytes, 'PD snapshot') as Partial<PdSnapshotBody> | null;
    const isComplete = typeof raw === 'object' && raw !== null && ['regions', 'stores', 'leaders', 'members'].every((f) => Array.isArray((raw as Record<string, unknown>)[f]));
    if (!isComplete) throw new FlotillaError('Corruption', 'PD snapshot: missing fields');
    const body = raw as PdSnapshotBody;
    const regions = new RegionIndex();
    for (const r of body.regions) {
      const res = regions.upsert(r);
      if (res.kind !== 'updated') throw new FlotillaError('Corruption', `PD snapshot: region ${r.id} overlaps another`);
    }
    for (const old of this.regions.all()) if (regions.getById(old.id) === undefined) this.onRegionRemoved?.(old.id);
    this.clusterId = body.clusterId;
    this.bootstrapped = body.bootstrapped;
    this.stores.clear();
    for (const s of body.stores) this.stores.set(s.id, s);
    this.regions = regions;
    this.leaders.clear();
    for (const [r, p] of body.leaders) this.leaders.set(r, p);
    this.idHighWater = body.idHighWater;
    this.tsoBoundMs = body.tsoBoundMs;
    this.gcSafePoint = body.gcSafePoint;
    this.config = { ...DEFAULT_CLUSTER_CONFIG, ...withCurrentConfigNames(body.config as unknown as Readonly<Record<string, number | boolean>>) };
    this.members.clear();
    for (const m of body.members) this.members.set(m.id, m);
    this.schedulerSwitches.clear();
    for (const [name, isEnabled] of body.schedulers ?? []) this.schedulerSwitches.set(name, isEnabled);
  }
}

const COMMAND_KINDS: ReadonlySet<string> = new Set<PdCommandKind>([
  'initCluster', 'bootstrap', 'putStore', 'deleteStore', 'putRegion', 'raiseIdHighWater', 'raiseTsoBound', 'updateGcSafePoint', 'patchConfig', 'setSchedulerEnabled', 'putMember',
  'removeMember', 'updateMember',
]);

export function encodePdCommand(cmd: PdCommand): Buffer {
  return encodeJsonRecord(cmd);
}

/** Decodes a committed entry's payload. Entries are written by our own leader: a bad one is Corruption. */
export function decodePdCommand(bytes: Uint8Array): PdCommand {
  const value = decodeJsonRecord(bytes, 'PD command');
  if (typeof value !== 'object' || value === null || !COMMAND_KINDS.has((value as { kind?: unknown }).kind as string)) {
    throw new FlotillaError('Corruption', `PD command: unknown kind ${JSON.stringify((value as { kind?: unknown } | null)?.kind)}`);
  }
  return value as PdCommand;
}
