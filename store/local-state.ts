// The store's own records in the local CF (common/keyspace.ts has the keys): its identity, and
// per region its apply state and region state. Versioned and CRC-checked: a store that reads a
// damaged record stops with Corruption rather than serve from it.
//
//   store ident   [ver][cluster id u64][store id u64][crc32]
//   apply state   [ver 2][applied u64][truncated index u64][truncated term u64][keys u64][crc32]
//                 (ver 1 had no key count: it decodes as keys unknown, rebuilt at load)
//   region state  [ver][state u8][crc32 of the rest][JSON of the region, keys in hex]
//                 state 0 normal, 1 tombstone, 2 applying (a region snapshot is being installed:
//                 the JSON also names it — index, term, payload crc32/bytes — see
//                 store/snapshot/apply.ts for why a restart redoes it)

import { crc32, FlotillaError, readSafeU64BE, type RegionMeta, writeSafeU64BE } from '../common/index.js';

const VERSION = 1;

function corrupt(what: string): FlotillaError {
  return new FlotillaError('Corruption', what);
}

export interface StoreIdent {
  readonly clusterId: bigint;
  readonly storeId: number;
}

export function encodeStoreIdent(ident: StoreIdent): Buffer {
  const b = Buffer.allocUnsafe(1 + 16 + 4);
  b[0] = VERSION;
  b.writeBigUInt64BE(ident.clusterId, 1);
  b.writeBigUInt64BE(BigInt(ident.storeId), 9);
  b.writeUInt32BE(crc32(b, 0, 17), 17);
  return b;
}

export function decodeStoreIdent(b: Buffer): StoreIdent {
  if (b.length !== 21 || b[0] !== VERSION) throw corrupt('store ident has a bad length or version');
  if (b.readUInt32BE(17) !== crc32(b, 0, 17)) throw corrupt('store ident checksum mismatch');
  return { clusterId: b.readBigUInt64BE(1), storeId: Number(b.readBigUInt64BE(9)) };
}

export interface ApplyState {
  readonly appliedIndex: number;
  /** The log below and at this index is gone (initial state or compaction); its term is kept. */
  readonly truncatedIndex: number;
  readonly truncatedTerm: number;
  /**
   * Keys in the region's raw and latest CFs as of appliedIndex (kept at apply, peer.ts); null
   * when unknown — a split or merge changed the range and the recount had not ended, or a
   * version-1 record, which did not keep it — then the loader counts them.
   */
  readonly approximateKeys: number | null;
}

/** The count field's value for "unknown" (no region holds 2^64-1 keys): all ones. */
function isKeyCountUnknown(b: Buffer, offset: number): boolean {
  return b.readUInt32BE(offset) === 0xffff_ffff && b.readUInt32BE(offset + 4) === 0xffff_ffff;
}

const APPLY_STATE_VERSION = 2;
const APPLY_STATE_V1_BYTES = 1 + 24 + 4;
const APPLY_STATE_BYTES = 1 + 32 + 4;

export function encodeApplyState(s: ApplyState): Buffer {
  const b = Buffer.allocUnsafe(APPLY_STATE_BYTES);
  b[0] = APPLY_STATE_VERSION;
  writeSafeU64BE(b, 1, s.appliedIndex);
  writeSafeU64BE(b, 9, s.truncatedIndex);
  writeSafeU64BE(b, 17, s.truncatedTerm);
  if (s.approximateKeys === null) b.fill(0xff, 25, 33);
  else writeSafeU64BE(b, 25, s.approximateKeys);
  b.writeUInt32BE(crc32(b, 0, 33), 33);
  return b;
}

export function decodeApplyState(b: Buffer, regionId: number): ApplyState {
  const isV1 = b.length === APPLY_STATE_V1_BYTES && b[0] === 1;
  if (!isV1 && (b.length !== APPLY_STATE_BYTES || b[0] !== APPLY_STATE_VERSION)) throw corrupt(`region ${regionId}: apply state has a bad length or version`);
  const body = b.length - 4;
  if (b.readUInt32BE(body) !== crc32(b, 0, body)) throw corrupt(`region ${regionId}: apply state checksum mismatch`);
  return {
    appliedIndex: readSafeU64BE(b, 1, `region ${regionId}: applied index`),
    truncatedIndex: readSafeU64BE(b, 9, `region ${regionId}: truncated index`),
    truncatedTerm: readSafeU64BE(b, 17, `region ${regionId}: truncated term`),
    approximateKeys: isV1 || isKeyCountUnknown(b, 25) ? null : readSafeU64BE(b, 25, `region ${regionId}: key count`),
  };
}

export type PeerState = 'normal' | 'tombstone' | 'applying' | 'merging';

/** A merge in progress, on its source region (state 'merging'; store/merge.ts). */
export interface MergeState {
  /** The lowest index every source peer held when PrepareMerge was proposed. */
  readonly minIndex: number;
  /** The target region as the source saw it at PrepareMerge. */
  readonly target: RegionMeta;
  /** Index and term of the PrepareMerge entry in the source's log. */
  readonly commit: number;
  readonly commitTerm: number;
}

/** The snapshot an 'applying' region state is installing (its payload file is named by it). */
export interface ApplyingSnapshot {
  readonly index: number;
  readonly term: number;
  /** CRC-32 and length of the payload (the concatenated data chunks), checked before a redo. */
  readonly crc32: number;
  readonly bytes: number;
}

export interface RegionLocalState {
  readonly state: PeerState;
  readonly region: RegionMeta;
  /** Set exactly when state is 'applying'. */
  readonly applying?: ApplyingSnapshot;
  /** Set exactly when state is 'merging'. */
  readonly merge?: MergeState;
  /**
   * Only on a tombstone: the region that absorbed this one (a merge, store/merge.ts). Its keys
   * belong to that region now: a restart must never clear them as a removed replica's.
   */
  readonly mergedInto?: number;
}

const STATE_BYTE: Readonly<Record<PeerState, number>> = { normal: 0, tombstone: 1, applying: 2, merging: 3 };
const STATE_OF_BYTE: readonly PeerState[] = ['normal', 'tombstone', 'applying', 'merging'];

interface RegionJson {
  id: number;
  startKey: string;
  endKey: string;
  confVer: number;
  version: number;
  peers: { id: number; storeId: number; role: 'voter' | 'learner' }[];
  applying?: ApplyingSnapshot;
  merge?: { minIndex: number; commit: number; commitTerm: number; target: RegionJson };
  mergedInto?: number;
}

function regionToJson(r: RegionMeta): RegionJson {
  return {
    id: r.id,
    startKey: r.startKey.toString('hex'),
    endKey: r.endKey.toString('hex'),
    confVer: r.epoch.confVer,
    version: r.epoch.version,
    peers: r.peers.map((p) => ({ id: p.id, storeId: p.storeId, role: p.role })),
  };
}

function regionFromJson(json: RegionJson): RegionMeta {
  return {
    id: json.id,
    startKey: Buffer.from(json.startKey, 'hex'),
    endKey: Buffer.from(json.endKey, 'hex'),
    epoch: { confVer: json.confVer, version: json.version },
    peers: json.peers.map((p) => ({ id: p.id, storeId: p.storeId, role: p.role })),
  };
}

export function encodeRegionState(s: RegionLocalState): Buffer {
  const r = s.region;
  const json = regionToJson(r);
  if ((s.state === 'applying') !== (s.applying !== undefined)) throw new FlotillaError('Internal', `region ${r.id}: an applying region state names its snapshot, and only it does`);
  if ((s.state === 'merging') !== (s.merge !== undefined)) throw new FlotillaError('Internal', `region ${r.id}: a merging region state names its merge, and only it does`);
  if (s.applying !== undefined) json.applying = { index: s.applying.index, term: s.applying.term, crc32: s.applying.crc32, bytes: s.applying.bytes };
  if (s.mergedInto !== undefined && s.state !== 'tombstone') throw new FlotillaError('Internal', `region ${r.id}: only a tombstone names the region it merged into`);
  if (s.mergedInto !== undefined) json.mergedInto = s.mergedInto;
  if (s.merge !== undefined) json.merge = { minIndex: s.merge.minIndex, commit: s.merge.commit, commitTerm: s.merge.commitTerm, target: regionToJson(s.merge.target) };
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const b = Buffer.allocUnsafe(1 + 1 + 4 + body.length);
  b[0] = VERSION;
  b[1] = STATE_BYTE[s.state];
  body.copy(b, 6);
  b.writeUInt32BE(crc32(b, 6, b.length, crc32(b, 0, 2)), 2);
  return b;
}

export function decodeRegionState(b: Buffer, regionId: number): RegionLocalState {
  const state = b.length < 6 ? undefined : STATE_OF_BYTE[b[1]!];
  if (b.length < 6 || b[0] !== VERSION || state === undefined) throw corrupt(`region ${regionId}: region state has a bad length, version or state`);
  if (b.readUInt32BE(2) !== crc32(b, 6, b.length, crc32(b, 0, 2))) throw corrupt(`region ${regionId}: region state checksum mismatch`);
  let json: RegionJson;
  try {
    json = JSON.parse(b.subarray(6).toString('utf8')) as RegionJson;
  } catch {
    throw corrupt(`region ${regionId}: region state is not JSON`);
  }
  if ((state === 'applying') !== (json.applying !== undefined)) throw corrupt(`region ${regionId}: region state ${state} ${json.applying === undefined ? 'without' : 'with'} a snapshot`);
  if ((state === 'merging') !== (json.merge !== undefined)) throw corrupt(`region ${regionId}: region state ${state} ${json.merge === undefined ? 'without' : 'with'} a merge`);
  const m = json.merge;
  return {
    state,
    ...(json.applying === undefined ? {} : { applying: json.applying }),
    ...(json.mergedInto === undefined ? {} : { mergedInto: json.mergedInto }),
    ...(m === undefined ? {} : { merge: { minIndex: m.minIndex, commit: m.commit, commitTerm: m.commitTerm, target: regionFromJson(m.target) } }),
    region: regionFromJson(json),
  };
}
