// The client's own encoder of BatchCommandsRequest, the hot path's only outgoing message. The
// generic encoder rebuilds every request's Context from a JS object — five uint64 fields, each a
// Long allocation — for every request; here the Context is encoded once per (region, peer) and
// its bytes are spliced into each request, and the whole stream message is written into one
// buffer. The bytes are exactly what protobufjs would produce for the same message, up to field
// order inside a request (context first), which protobuf permits; a test decodes our bytes with
// the generic decoder and compares.

import { messageCodec, type kvrpcpb, type MessageName } from '../proto/index.js';
import type { Cmd, CmdRequest } from './kv-rpc.js';

/** KvRequest's oneof field number and request message of each command (kvservicepb.proto). */
const COMMANDS: Readonly<Record<Cmd, readonly [number, MessageName]>> = {
  rawGet: [1, 'flotilla.kvrpcpb.RawGetRequest'],
  rawBatchGet: [2, 'flotilla.kvrpcpb.RawBatchGetRequest'],
  rawPut: [3, 'flotilla.kvrpcpb.RawPutRequest'],
  rawBatchPut: [4, 'flotilla.kvrpcpb.RawBatchPutRequest'],
  rawDelete: [5, 'flotilla.kvrpcpb.RawDeleteRequest'],
  rawBatchDelete: [6, 'flotilla.kvrpcpb.RawBatchDeleteRequest'],
  rawDeleteRange: [7, 'flotilla.kvrpcpb.RawDeleteRangeRequest'],
  rawScan: [8, 'flotilla.kvrpcpb.RawScanRequest'],
  rawCompareAndSwap: [9, 'flotilla.kvrpcpb.RawCompareAndSwapRequest'],
  get: [20, 'flotilla.kvrpcpb.GetRequest'],
  batchGet: [21, 'flotilla.kvrpcpb.BatchGetRequest'],
  scan: [22, 'flotilla.kvrpcpb.ScanRequest'],
  prewrite: [23, 'flotilla.kvrpcpb.PrewriteRequest'],
  commit: [24, 'flotilla.kvrpcpb.CommitRequest'],
  batchRollback: [25, 'flotilla.kvrpcpb.BatchRollbackRequest'],
  cleanup: [26, 'flotilla.kvrpcpb.CleanupRequest'],
  checkTxnStatus: [27, 'flotilla.kvrpcpb.CheckTxnStatusRequest'],
  resolveLock: [28, 'flotilla.kvrpcpb.ResolveLockRequest'],
  txnHeartBeat: [29, 'flotilla.kvrpcpb.TxnHeartBeatRequest'],
  scanLock: [30, 'flotilla.kvrpcpb.ScanLockRequest'],
  gc: [31, 'flotilla.kvrpcpb.GCRequest'],
};

const WIRE_LEN = 2;

/** One request ready for the stream: its KvRequest field number and body bytes. */
export interface EncodedRequest {
  readonly field: number;
  /** Context field (tag, length, Context bytes). */
  readonly context: Buffer;
  /** The request's other fields. */
  readonly rest: Buffer;
}

type AnyEncoder = { encode(value: object): Buffer };
const encoders = new Map<Cmd, AnyEncoder>();

function encoderOf(cmd: Cmd): AnyEncoder {
  let e = encoders.get(cmd);
  if (e === undefined) {
    e = messageCodec(COMMANDS[cmd][1]);
    encoders.set(cmd, e);
  }
  return e;
}

const contextCodec = messageCodec('flotilla.kvrpcpb.Context');

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Buffer, offset: number, n: number): number {
  while (n >= 0x80) {
    buf[offset++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[offset++] = n;
  return offset;
}

/** A Context as the field-1 bytes every request starts with (encode once, reuse). */
export function encodeContextField(context: kvrpcpb.Context__Input): Buffer {
  const body = contextCodec.encode(context);
  const out = Buffer.allocUnsafe(1 + varintSize(body.length) + body.length);
  let o = writeVarint(out, 0, (1 << 3) | WIRE_LEN);
  o = writeVarint(out, o, body.length);
  body.copy(out, o);
  return out;
}

export function encodeRequest<C extends Cmd>(cmd: C, request: CmdRequest<C>, contextField: Buffer): EncodedRequest {
  return { field: COMMANDS[cmd][0], context: contextField, rest: encoderOf(cmd).encode(request) };
}

/** BatchCommandsRequest { repeated KvRequest requests = 1; repeated uint64 request_ids = 2 (packed) }. */
export function encodeBatch(requests: readonly EncodedRequest[], ids: readonly number[]): Buffer {
  let size = 0;
  const bodySizes = new Array<number>(requests.length);
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    const body = r.context.length + r.rest.length;
    bodySizes[i] = body;
    const kvRequest = varintSize((r.field << 3) | WIRE_LEN) + varintSize(body) + body;
    size += 1 + varintSize(kvRequest) + kvRequest;
  }
  let idsSize = 0;
  for (const id of ids) idsSize += varintSize(id);
  if (ids.length > 0) size += 1 + varintSize(idsSize) + idsSize;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (let i = 0; i < requests.length; i++) {
    const r = requests[i]!;
    const body = bodySizes[i]!;
    const tag = (r.field << 3) | WIRE_LEN;
    o = writeVarint(out, o, (1 << 3) | WIRE_LEN);
    o = writeVarint(out, o, varintSize(tag) + varintSize(body) + body);
    o = writeVarint(out, o, tag);
    o = writeVarint(out, o, body);
    o += r.context.copy(out, o);
    o += r.rest.copy(out, o);
  }
  if (ids.length > 0) {
    o = writeVarint(out, o, (2 << 3) | WIRE_LEN);
    o = writeVarint(out, o, idsSize);
    for (const id of ids) o = writeVarint(out, o, id);
  }
  return out;
}
