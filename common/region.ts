// Region, peer, epoch and store metadata — the types PD, store and client all hold — and their
// proto converters (DESIGN.md §2). Inbound messages are parsed here: ids must be positive safe
// integers, enums known, ranges ordered, so whoever holds a RegionMeta may trust it. A bad field
// is InvalidArgument naming it. Region start/end keys are memcomparable-encoded user keys (empty
// = −∞ / +∞).

import { FlotillaError } from './errors.js';
import { compareKeys } from './key-codec.js';
import { u64ToSafeNumber } from './u64.js';
import type { metapb } from '../proto/index.js';

export interface RegionEpoch {
  /** Bumped by membership changes. */
  readonly confVer: number;
  /** Bumped by splits and merges. */
  readonly version: number;
}

export type PeerRole = 'voter' | 'learner';

export interface PeerMeta {
  readonly id: number;
  readonly storeId: number;
  readonly role: PeerRole;
}

export interface RegionMeta {
  readonly id: number;
  readonly startKey: Buffer;
  readonly endKey: Buffer;
  readonly epoch: RegionEpoch;
  readonly peers: readonly PeerMeta[];
}

export type StoreState = 'up' | 'offline' | 'tombstone';

export interface StoreMeta {
  readonly id: number;
  /** host:port of the store's gRPC services. */
  readonly address: string;
  /** host:port of the store's HTTP status endpoint (/metrics). */
  readonly statusAddress: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: StoreState;
  readonly version: string;
  /** When the store process last started (Unix ms, reported by the store). */
  readonly startTimestampMs: number;
}

/** Limits on what a client may send in metadata. */
export const STORE_ADDRESS_BYTES_MAX = 256;
export const STORE_LABELS_MAX = 64;
export const REGION_PEERS_MAX = 16;
export const REGION_KEY_BYTES_MAX = 16 * 1024;

function invalid(field: string, reason: string): FlotillaError {
  return new FlotillaError('InvalidArgument', `${field}: ${reason}`, { details: { field } });
}

export function positiveId(value: string, field: string): number {
  const n = u64ToSafeNumber(value, field);
  if (n === 0) throw invalid(field, 'must not be 0');
  return n;
}

const STORE_STATES: Readonly<Record<string, StoreState>> = { Up: 'up', Offline: 'offline', Tombstone: 'tombstone' };
const STORE_STATES_WIRE: Readonly<Record<StoreState, metapb.StoreState>> = { up: 'Up', offline: 'Offline', tombstone: 'Tombstone' };

export function storeFromWire(s: metapb.Store | null | undefined, field = 'store'): StoreMeta {
  if (s === null || s === undefined) throw invalid(field, 'is required');
  const id = positiveId(s.id, `${field}.id`);
  if (s.address.length === 0 || s.address.length > STORE_ADDRESS_BYTES_MAX) throw invalid(`${field}.address`, `must be 1..${STORE_ADDRESS_BYTES_MAX} characters`);
  if (s.statusAddress.length > STORE_ADDRESS_BYTES_MAX) throw invalid(`${field}.statusAddress`, 'too long');
  if (s.labels.length > STORE_LABELS_MAX) throw invalid(`${field}.labels`, `at most ${STORE_LABELS_MAX}`);
  const state = STORE_STATES[s.state];
  if (state === undefined) throw invalid(`${field}.state`, `unknown state ${String(s.state)}`);
  const labels: Record<string, string> = {};
  for (const l of s.labels) labels[l.key] = l.value;
  return { id, address: s.address, statusAddress: s.statusAddress, labels, state, version: s.version, startTimestampMs: u64ToSafeNumber(s.startTimestamp, `${field}.startTimestamp`) };
}

export function storeToWire(s: StoreMeta, lastHeartbeatMs = 0): metapb.Store__Input {
  return {
    id: String(s.id),
    address: s.address,
    statusAddress: s.statusAddress,
    labels: Object.entries(s.labels).map(([key, value]) => ({ key, value })),
    state: STORE_STATES_WIRE[s.state],
    version: s.version,
    startTimestamp: String(s.startTimestampMs),
    lastHeartbeat: String(lastHeartbeatMs),
  };
}

function roleFromWire(role: string, field: string): PeerRole {
  if (role === 'Voter') return 'voter';
  if (role === 'Learner') return 'learner';
  throw invalid(field, `role ${role} is not supported (Voter or Learner)`);
}

export function peerFromWire(p: metapb.Peer | null | undefined, field: string): PeerMeta {
  if (p === null || p === undefined) throw invalid(field, 'is required');
  return { id: positiveId(p.id, `${field}.id`), storeId: positiveId(p.storeId, `${field}.storeId`), role: roleFromWire(p.role, `${field}.role`) };
}

export function peerToWire(p: PeerMeta): metapb.Peer__Input {
  return { id: String(p.id), storeId: String(p.storeId), role: p.role === 'voter' ? 'Voter' : 'Learner' };
}

export function regionFromWire(r: metapb.Region | null | undefined, field = 'region'): RegionMeta {
  if (r === null || r === undefined) throw invalid(field, 'is required');
  const id = positiveId(r.id, `${field}.id`);
  if (r.startKey.length > REGION_KEY_BYTES_MAX || r.endKey.length > REGION_KEY_BYTES_MAX) throw invalid(field, `keys longer than ${REGION_KEY_BYTES_MAX} bytes`);
  if (r.endKey.length !== 0 && compareKeys(r.startKey, r.endKey) >= 0) throw invalid(field, 'start key must sort before end key');
  if (r.peers.length === 0 || r.peers.length > REGION_PEERS_MAX) throw invalid(`${field}.peers`, `must have 1..${REGION_PEERS_MAX} peers`);
  const peers = r.peers.map((p, i) => peerFromWire(p, `${field}.peers[${i}]`));
  if (new Set(peers.map((p) => p.id)).size !== peers.length) throw invalid(`${field}.peers`, 'duplicate peer id');
  if (new Set(peers.map((p) => p.storeId)).size !== peers.length) throw invalid(`${field}.peers`, 'two peers on one store');
  const epoch = r.regionEpoch;
  if (epoch === null) throw invalid(`${field}.regionEpoch`, 'is required');
  return {
    id,
    startKey: Buffer.from(r.startKey),
    endKey: Buffer.from(r.endKey),
    epoch: { confVer: u64ToSafeNumber(epoch.confVer, `${field}.regionEpoch.confVer`), version: u64ToSafeNumber(epoch.version, `${field}.regionEpoch.version`) },
    peers,
  };
}

export function regionToWire(r: RegionMeta): metapb.Region__Input {
  return {
    id: String(r.id),
    startKey: r.startKey,
    endKey: r.endKey,
    regionEpoch: { confVer: String(r.epoch.confVer), version: String(r.epoch.version) },
    peers: r.peers.map(peerToWire),
  };
}


export function epochFromWire(e: metapb.RegionEpoch | null | undefined, field = 'regionEpoch'): RegionEpoch {
  if (e === null || e === undefined) throw invalid(field, 'is required');
  return { confVer: u64ToSafeNumber(e.confVer, `${field}.confVer`), version: u64ToSafeNumber(e.version, `${field}.version`) };
}

export function epochToWire(e: RegionEpoch): metapb.RegionEpoch__Input {
  return { confVer: String(e.confVer), version: String(e.version) };
}

/** Whether the encoded key lies in the region's [startKey, endKey). */
export function regionContains(region: Pick<RegionMeta, 'startKey' | 'endKey'>, encodedKey: Uint8Array): boolean {
  return compareKeys(encodedKey, region.startKey) >= 0 && (region.endKey.length === 0 || compareKeys(encodedKey, region.endKey) < 0);
}
