// The one mapping between Flotilla's typed errors and their wire forms, for PD, store and client:
// errorpb.RegionError (region errors with what the client needs to re-route), errorpb.Error (a
// code and a message), gRPC status (code + the Flotilla code and details in metadata) and HTTP
// status. Outbound mapping never throws on odd details (a missing leader is "unknown", not a
// crash at the service edge); inbound mapping never trusts them (a region that fails to parse is
// skipped, an unknown code becomes Internal).

import * as grpc from '@grpc/grpc-js';
import { ERROR_REGISTRY, errorCodeFromWire, errorCodeToWire, FlotillaError, isFlotillaError, type ErrorCode } from './errors.js';
import { invariant } from './invariant.js';
import { peerFromWire, peerToWire, regionFromWire, type regionToWire, type PeerMeta, type RegionMeta } from './region.js';
import type { errorpb } from '../proto/index.js';

/** gRPC metadata key carrying the Flotilla code in wire spelling (`NOT_LEADER`). */
export const GRPC_ERROR_CODE_KEY = 'flotilla-error-code';
/** gRPC metadata key carrying the error's details as ASCII JSON (Buffers and bigints encoded). */
export const GRPC_ERROR_DETAILS_KEY = 'flotilla-error-details';
/**
 * Details larger than this are left out of the metadata (code and message still go). grpc-js
 * refuses response headers above 8 KiB by default (`grpc.max_metadata_size`), which would turn a
 * typed error into a bare INTERNAL; an EpochNotMatch with many regions could get there.
 */
export const GRPC_ERROR_DETAILS_BYTES_MAX = 4 * 1024;

/** Any thrown value as a FlotillaError: a non-Flotilla error is a bug here (Internal), message kept. */
export function asFlotillaError(err: unknown): FlotillaError {
  if (isFlotillaError(err)) return err;
  return new FlotillaError('Internal', err instanceof Error ? err.message : String(err), { cause: err });
}

// ── Details, read defensively ─────────────────────────────────────────────────────────────────

function u64Detail(v: unknown): string {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v.toString();
  return '0';
}

function numberDetail(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

function bufferDetail(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.alloc(0);
}

function stringDetail(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** The wire form of a PeerMeta-shaped detail, or null when it is not one. */
function peerDetailToWire(v: unknown): ReturnType<typeof peerToWire> | null {
  if (!isRecord(v) || (v.role !== 'voter' && v.role !== 'learner')) return null;
  if (numberDetail(v.id) === 0 || numberDetail(v.storeId) === 0) return null;
  return peerToWire(v as unknown as PeerMeta);
}

function regionDetailToWire(v: unknown): ReturnType<typeof regionToWire> | null {
  if (!isRecord(v) || !isRecord(v.epoch) || !Array.isArray(v.peers)) return null;
  if (numberDetail(v.id) === 0 || !Buffer.isBuffer(v.startKey) || !Buffer.isBuffer(v.endKey)) return null;
  const peers = [];
  for (const p of v.peers) {
    const wire = peerDetailToWire(p);
    if (wire === null) return null;
    peers.push(wire);
  }
  return { id: u64Detail(v.id), startKey: v.startKey, endKey: v.endKey, regionEpoch: { confVer: u64Detail(v.epoch.confVer), version: u64Detail(v.epoch.version) }, peers };
}

// ── Region errors ─────────────────────────────────────────────────────────────────────────────

/** The codes of category 'region': the kinds of errorpb.RegionError. */
export type RegionErrorCode = { [C in ErrorCode]: (typeof ERROR_REGISTRY)[C]['category'] extends 'region' ? C : never }[ErrorCode];

export function isRegionErrorCode(code: ErrorCode): code is RegionErrorCode {
  return ERROR_REGISTRY[code].category === 'region';
}

/**
 * The errorpb.RegionError of a region-category error; `err.details` as the code's constructor
 * documents them (NotLeader `{ regionId, leader? }`, EpochNotMatch `{ currentRegions }`, …).
 * Missing or ill-typed details become defaults (0, empty, no leader). Precondition: the code's
 * category is 'region' (other codes travel as errorpb.Error: errorToWire).
 */
export function regionErrorToWire(err: FlotillaError): errorpb.RegionError__Input {
  const { code, details: d, message } = err;
  invariant(isRegionErrorCode(code), () => `regionErrorToWire: ${code} is not a region error (send it as errorpb.Error)`);
  switch (code) {
    case 'NotLeader':
      return { message, notLeader: { regionId: u64Detail(d.regionId), leader: peerDetailToWire(d.leader) } };
    case 'EpochNotMatch': {
      const regions = Array.isArray(d.currentRegions) ? d.currentRegions.map(regionDetailToWire) : [];
      return { message, epochNotMatch: { currentRegions: regions.filter((r) => r !== null) } };
    }
    case 'RegionNotFound':
      return { message, regionNotFound: { regionId: u64Detail(d.regionId) } };
    case 'KeyNotInRegion':
      return { message, keyNotInRegion: { key: bufferDetail(d.key), regionId: u64Detail(d.regionId), startKey: bufferDetail(d.startKey), endKey: bufferDetail(d.endKey) } };
    case 'ServerIsBusy':
      return { message, serverIsBusy: { reason: stringDetail(d.reason), backoffMs: u64Detail(d.backoffMs) } };
    case 'StaleCommand':
      return { message, staleCommand: {} };
    case 'StoreNotMatch':
      return { message, storeNotMatch: { requestStoreId: u64Detail(d.requestStoreId), actualStoreId: u64Detail(d.actualStoreId) } };
    case 'RaftEntryTooLarge':
      return { message, raftEntryTooLarge: { regionId: u64Detail(d.regionId), entrySize: u64Detail(d.entrySize) } };
  }
}

/** A u64 decimal string from the decoder as a number; 0 when it is not a safe integer. */
function wireNumber(v: string | undefined): number {
  const n = Number(v ?? '0');
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

type RegionErrorKind = NonNullable<errorpb.RegionError['kind']>;

/** Which member of the oneof is set: the loader's virtual `kind`, else the first non-null member. */
function regionErrorKind(re: errorpb.RegionError): RegionErrorKind | undefined {
  if (re.kind !== undefined) return re.kind;
  const kinds: readonly RegionErrorKind[] = ['notLeader', 'epochNotMatch', 'regionNotFound', 'keyNotInRegion', 'serverIsBusy', 'staleCommand', 'storeNotMatch', 'raftEntryTooLarge'];
  return kinds.find((k) => re[k] !== null && re[k] !== undefined);
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    // Details are a routing hint: a member that does not parse is left out, and the client falls
    // back to asking PD, which it must be able to do anyway.
    return undefined;
  }
}

/**
 * The FlotillaError a store's RegionError stands for, with details shaped as regionErrorToWire
 * reads them. Tolerant: a leader or a region that fails to parse is left out. A kind this client
 * does not know (a newer server) becomes EpochNotMatch with no regions, which the proto says to
 * treat as "refresh the region from PD and retry".
 */
export function regionErrorFromWire(re: errorpb.RegionError): FlotillaError {
  const message = re.message;
  switch (regionErrorKind(re)) {
    case 'notLeader': {
      const leader = re.notLeader?.leader === null || re.notLeader?.leader === undefined ? undefined : tryParse(() => peerFromWire(re.notLeader?.leader, 'notLeader.leader'));
      const details: Record<string, unknown> = { regionId: wireNumber(re.notLeader?.regionId) };
      if (leader !== undefined) details.leader = leader;
      return new FlotillaError('NotLeader', message, { details });
    }
    case 'epochNotMatch': {
      const currentRegions: RegionMeta[] = [];
      for (const [i, r] of (re.epochNotMatch?.currentRegions ?? []).entries()) {
        const region = tryParse(() => regionFromWire(r, `epochNotMatch.currentRegions[${i}]`));
        if (region !== undefined) currentRegions.push(region);
      }
      return new FlotillaError('EpochNotMatch', message, { details: { currentRegions } });
    }
    case 'regionNotFound':
      return new FlotillaError('RegionNotFound', message, { details: { regionId: wireNumber(re.regionNotFound?.regionId) } });
    case 'keyNotInRegion': {
      const k = re.keyNotInRegion;
      return new FlotillaError('KeyNotInRegion', message, {
        details: { key: bufferDetail(k?.key), regionId: wireNumber(k?.regionId), startKey: bufferDetail(k?.startKey), endKey: bufferDetail(k?.endKey) },
      });
    }
    case 'serverIsBusy':
      return new FlotillaError('ServerIsBusy', message, { details: { reason: re.serverIsBusy?.reason ?? '', backoffMs: wireNumber(re.serverIsBusy?.backoffMs) } });
    case 'staleCommand':
      return new FlotillaError('StaleCommand', message);
    case 'storeNotMatch':
      return new FlotillaError('StoreNotMatch', message, {
        details: { requestStoreId: wireNumber(re.storeNotMatch?.requestStoreId), actualStoreId: wireNumber(re.storeNotMatch?.actualStoreId) },
      });
    case 'raftEntryTooLarge':
      return new FlotillaError('RaftEntryTooLarge', message, {
        details: { regionId: wireNumber(re.raftEntryTooLarge?.regionId), entrySize: wireNumber(re.raftEntryTooLarge?.entrySize) },
      });
    case undefined:
      return new FlotillaError('EpochNotMatch', `unknown region error kind: ${message}`, { details: { currentRegions: [] } });
  }
}

// ── Coded errors (errorpb.Error) ──────────────────────────────────────────────────────────────

/**
 * Where the PD leader is, as a member answering PdNotLeader knows it: `details.leader` of a
 * PdNotLeader FlotillaError (absent when no leader is known). URLs as pdpb.Member has them
 * (`http://host:port`); memberId is a safe integer (PD member ids are 52-bit).
 */
export interface PdLeaderHint {
  readonly memberId: number;
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly statusUrl: string;
}

/** A PdLeaderHint-shaped detail, validated; null when it is not one (no leader, or garbage). */
export function pdLeaderHintOf(err: FlotillaError): PdLeaderHint | null {
  const v = err.details.leader;
  if (!isRecord(v) || numberDetail(v.memberId) === 0 || typeof v.name !== 'string') return null;
  if (!Array.isArray(v.clientUrls) || !v.clientUrls.every((u): u is string => typeof u === 'string')) return null;
  return { memberId: numberDetail(v.memberId), name: v.name, clientUrls: [...v.clientUrls], statusUrl: stringDetail(v.statusUrl) };
}

/** What errorFromWire reads: the decoder's errorpb.Error; fields newer than a sender may be absent. */
export type WireError = Pick<errorpb.Error, 'code' | 'message'> & Partial<Pick<errorpb.Error, 'pdLeader' | 'backoffMs'>>;

/**
 * errorpb.Error of anything thrown; a non-Flotilla error is Internal with its message. The
 * structured details the message has fields for go along: PdNotLeader's `leader` (a
 * PdLeaderHint) and ServerIsBusy's `backoffMs`; other details do not fit errorpb.Error.
 */
export function errorToWire(err: unknown): errorpb.Error__Input {
  const fe = asFlotillaError(err);
  const wire: errorpb.Error__Input = { code: errorCodeToWire(fe.code) as errorpb.ErrorCode, message: fe.message };
  if (fe.code === 'PdNotLeader') {
    const leader = pdLeaderHintOf(fe);
    if (leader !== null) wire.pdLeader = { memberId: String(leader.memberId), name: leader.name, clientUrls: [...leader.clientUrls], statusUrl: leader.statusUrl };
  }
  if (fe.code === 'ServerIsBusy' && numberDetail(fe.details.backoffMs) > 0) wire.backoffMs = u64Detail(fe.details.backoffMs);
  return wire;
}

/**
 * The FlotillaError of an errorpb.Error; ERROR_CODE_UNSPECIFIED or an unknown code is Internal.
 * Details as errorToWire sends them: PdNotLeader `{ leader? }` (left out when absent or
 * malformed: the client then asks GetMembers), ServerIsBusy `{ backoffMs }`.
 */
export function errorFromWire(e: WireError): FlotillaError {
  const code = typeof e.code === 'string' ? errorCodeFromWire(e.code) : null;
  if (code === null) return new FlotillaError('Internal', `unknown error code ${String(e.code)}: ${e.message}`);
  const details: Record<string, unknown> = {};
  if (code === 'PdNotLeader' && e.pdLeader !== null && e.pdLeader !== undefined) {
    const hint = e.pdLeader;
    const memberId = wireNumber(hint.memberId);
    if (memberId !== 0) details.leader = { memberId, name: hint.name, clientUrls: [...hint.clientUrls], statusUrl: hint.statusUrl } satisfies PdLeaderHint;
  }
  if (code === 'ServerIsBusy') details.backoffMs = wireNumber(e.backoffMs);
  return new FlotillaError(code, e.message, { details });
}

// ── gRPC status ───────────────────────────────────────────────────────────────────────────────

/**
 * gRPC status per code, after grpc's own guidance (doc/statuscodes.md): UNAVAILABLE means "retry,
 * possibly elsewhere"; FAILED_PRECONDITION "not without changing the system's state"; ABORTED a
 * concurrency conflict retried at a higher level. LimitExceeded is INVALID_ARGUMENT, not
 * RESOURCE_EXHAUSTED: it is a property of the request (too many keys), retrying it unchanged never
 * helps, and some clients retry RESOURCE_EXHAUSTED as a quota.
 */
const GRPC_STATUS_BY_CODE: Readonly<Record<ErrorCode, grpc.status>> = {
  NotLeader: grpc.status.UNAVAILABLE,
  EpochNotMatch: grpc.status.FAILED_PRECONDITION,
  RegionNotFound: grpc.status.NOT_FOUND,
  KeyNotInRegion: grpc.status.OUT_OF_RANGE,
  ServerIsBusy: grpc.status.UNAVAILABLE,
  StaleCommand: grpc.status.ABORTED,
  StoreNotMatch: grpc.status.FAILED_PRECONDITION,
  RaftEntryTooLarge: grpc.status.INVALID_ARGUMENT,
  KeyIsLocked: grpc.status.ABORTED,
  WriteConflict: grpc.status.ABORTED,
  TxnLockNotFound: grpc.status.FAILED_PRECONDITION,
  AlreadyCommitted: grpc.status.FAILED_PRECONDITION,
  AlreadyRolledBack: grpc.status.FAILED_PRECONDITION,
  CommitTsExpired: grpc.status.FAILED_PRECONDITION,
  KeyAlreadyExists: grpc.status.ALREADY_EXISTS,
  TxnNotFound: grpc.status.NOT_FOUND,
  ClusterIdMismatch: grpc.status.FAILED_PRECONDITION,
  NotBootstrapped: grpc.status.FAILED_PRECONDITION,
  AlreadyBootstrapped: grpc.status.ALREADY_EXISTS,
  PdNotLeader: grpc.status.UNAVAILABLE,
  StoreNotFound: grpc.status.NOT_FOUND,
  StoreTombstone: grpc.status.FAILED_PRECONDITION,
  GcSafePointBackwards: grpc.status.FAILED_PRECONDITION,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  MessageTooLarge: grpc.status.INVALID_ARGUMENT,
  LimitExceeded: grpc.status.INVALID_ARGUMENT,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  Unavailable: grpc.status.UNAVAILABLE,
  ConfigInvalid: grpc.status.INVALID_ARGUMENT,
  EngineError: grpc.status.INTERNAL,
  Corruption: grpc.status.INTERNAL,
  Internal: grpc.status.INTERNAL,
  TxnAborted: grpc.status.ABORTED,
  CommitUnknown: grpc.status.UNKNOWN,
  OutcomeUnknown: grpc.status.UNKNOWN,
  RegionUnavailable: grpc.status.UNAVAILABLE,
};

/**
 * What a status without Flotilla metadata means: one grpc-js raised itself (no connection, the
 * deadline, a message over the size limit — grpc-js's only use of RESOURCE_EXHAUSTED), or a
 * server that is not ours. Codes with no Flotilla counterpart are Internal.
 */
const CODE_BY_GRPC_STATUS: Readonly<Partial<Record<grpc.status, ErrorCode>>> = {
  [grpc.status.CANCELLED]: 'Unavailable',
  [grpc.status.INVALID_ARGUMENT]: 'InvalidArgument',
  [grpc.status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
  [grpc.status.RESOURCE_EXHAUSTED]: 'MessageTooLarge',
  [grpc.status.OUT_OF_RANGE]: 'InvalidArgument',
  [grpc.status.UNAVAILABLE]: 'Unavailable',
  [grpc.status.DATA_LOSS]: 'Corruption',
};

/** JSON with Buffers as {"$buf": base64} and bigints as {"$big": decimal}, escaped to ASCII. */
function detailsToJson(details: Readonly<Record<string, unknown>>): string | null {
  if (Object.keys(details).length === 0) return null;
  let json: string;
  try {
    json = JSON.stringify(details, function (this: Record<string, unknown>, key: string, value: unknown) {
      const raw = this[key]; // before Buffer.prototype.toJSON ran
      if (Buffer.isBuffer(raw) || raw instanceof Uint8Array) return { $buf: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
      if (typeof value === 'bigint') return { $big: value.toString() };
      return value;
    });
  } catch {
    // Circular or otherwise unserializable details: the code and message still go.
    return null;
  }
  // Metadata values must be printable ASCII (grpc-js throws otherwise).
  const ascii = json.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return ascii.length > GRPC_ERROR_DETAILS_BYTES_MAX ? null : ascii;
}

function detailsFromJson(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text, (_key, value: unknown) => {
      if (isRecord(value) && typeof value.$buf === 'string' && Object.keys(value).length === 1) return Buffer.from(value.$buf, 'base64');
      if (isRecord(value) && typeof value.$big === 'string' && Object.keys(value).length === 1 && /^-?[0-9]+$/.test(value.$big)) return BigInt(value.$big);
      return value;
    });
    return isRecord(parsed) && !Array.isArray(parsed) ? parsed : {};
  } catch {
    // Garbage details from a peer are dropped: the code and message carry the error.
    return {};
  }
}

export interface GrpcStatus {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata: grpc.Metadata;
}

/**
 * The gRPC status to fail a call with (`callback(status)` or `call.destroy(status)`): the mapped
 * code, the message as details, the Flotilla code and JSON details in metadata so a Flotilla
 * client recovers the exact error (errorFromGrpc).
 */
export function grpcStatusOf(err: unknown): GrpcStatus {
  const fe = asFlotillaError(err);
  const metadata = new grpc.Metadata();
  metadata.set(GRPC_ERROR_CODE_KEY, errorCodeToWire(fe.code));
  const json = detailsToJson(fe.details);
  if (json !== null) metadata.set(GRPC_ERROR_DETAILS_KEY, json);
  return { code: GRPC_STATUS_BY_CODE[fe.code], details: fe.message, metadata };
}

function metadataString(md: grpc.Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The FlotillaError a failed call stands for: the code and details from Flotilla's metadata when
 * present and known, else the gRPC code's meaning (UNAVAILABLE → Unavailable, DEADLINE_EXCEEDED →
 * DeadlineExceeded, …; anything else Internal). The gRPC error is the cause.
 */
export function errorFromGrpc(err: grpc.ServiceError | Error): FlotillaError {
  const se = err as Partial<grpc.ServiceError>;
  const md = se.metadata instanceof grpc.Metadata ? se.metadata : undefined;
  const wireCode = metadataString(md, GRPC_ERROR_CODE_KEY);
  const flotillaCode = wireCode === undefined ? null : errorCodeFromWire(wireCode);
  if (flotillaCode !== null) {
    const json = metadataString(md, GRPC_ERROR_DETAILS_KEY);
    const details = json === undefined ? {} : detailsFromJson(json);
    return new FlotillaError(flotillaCode, se.details ?? err.message, { details, cause: err });
  }
  const code = typeof se.code === 'number' ? (CODE_BY_GRPC_STATUS[se.code] ?? 'Internal') : 'Internal';
  return new FlotillaError(code, err.message, { cause: err });
}

// ── HTTP status ───────────────────────────────────────────────────────────────────────────────

/**
 * HTTP status per code, for the status/dashboard endpoints. ServerIsBusy is 429 (back off and
 * retry, as the code says); 503 is for "cannot serve here now" (Unavailable, a non-leader);
 * 412 for a request against the wrong or an unready cluster; 410 for a removed store.
 */
const HTTP_STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  NotLeader: 503,
  EpochNotMatch: 409,
  RegionNotFound: 404,
  KeyNotInRegion: 400,
  ServerIsBusy: 429,
  StaleCommand: 409,
  StoreNotMatch: 421,
  RaftEntryTooLarge: 413,
  KeyIsLocked: 409,
  WriteConflict: 409,
  TxnLockNotFound: 404,
  AlreadyCommitted: 409,
  AlreadyRolledBack: 409,
  CommitTsExpired: 409,
  KeyAlreadyExists: 409,
  TxnNotFound: 404,
  ClusterIdMismatch: 412,
  NotBootstrapped: 412,
  AlreadyBootstrapped: 409,
  PdNotLeader: 503,
  StoreNotFound: 404,
  StoreTombstone: 410,
  GcSafePointBackwards: 409,
  InvalidArgument: 400,
  MessageTooLarge: 413,
  LimitExceeded: 400,
  DeadlineExceeded: 504,
  Unavailable: 503,
  ConfigInvalid: 400,
  EngineError: 500,
  Corruption: 500,
  Internal: 500,
  TxnAborted: 409,
  CommitUnknown: 500,
  OutcomeUnknown: 500,
  RegionUnavailable: 503,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS_BY_CODE[code];
}
