// The protobuf wire form of the few etcd v3 messages the bench sends and reads (etcd's
// api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto, field numbers copied from there): PutRequest,
// RangeRequest, TxnRequest (Compare, RequestOp) and their responses. Hand-rolled so that an
// operation costs one small Buffer and a few varints on the client, not a generic codec
// (the etcd3 client spent ~600 µs of CPU per put; issue F9 wants etcd measured, not its client).
// The invariant: every encoder's output decodes to the same fields under protobuf's rules
// (test/bench/etcd-wire.test.ts checks it against known bytes and against protobufjs); a decoder
// skips fields it does not know and rejects truncated or malformed input with EtcdWireError.

/** A malformed or truncated message (a bug or a version mismatch, never a network hiccup). */
export class EtcdWireError extends Error {
  override readonly name = 'EtcdWireError';
}

// Wire types (protobuf encoding spec).
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** Compare.CompareResult. */
export type CompareResult = 'equal' | 'greater' | 'less' | 'notEqual';
const COMPARE_RESULT: Readonly<Record<CompareResult, number>> = { equal: 0, greater: 1, less: 2, notEqual: 3 };

export interface PutRequest {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface RangeRequest {
  readonly key: Buffer;
  /** Empty or absent: the one key; `\0`: every key from `key` on; else [key, rangeEnd). */
  readonly rangeEnd?: Buffer;
  /** At most this many pairs; 0 or absent: no limit (etcd's reading of 0). */
  readonly limit?: number;
  /** true: served by the member alone (may be stale); false (the default): linearizable. */
  readonly serializable?: boolean;
}

/**
 * One comparison of a Txn. Only the targets the bench uses: a key's mod revision (0 for an absent
 * key) or its value. The union member is always written, even when 0: it is a proto3 oneof, whose
 * presence is what tells etcd which target to compare (a missing mod_revision would compare
 * nothing and etcd would refuse the request).
 */
export type Compare =
  | { readonly key: Buffer; readonly result: CompareResult; readonly target: 'mod'; readonly modRevision: bigint }
  | { readonly key: Buffer; readonly result: CompareResult; readonly target: 'value'; readonly value: Buffer };

export type RequestOp = { readonly range: RangeRequest } | { readonly put: PutRequest };

export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
}

export interface RangeResponse {
  /** The store revision the read was served at (header.revision). */
  readonly revision: bigint;
  /** The member that answered (header.member_id). */
  readonly memberId: bigint;
  readonly kvs: KeyValue[];
  readonly more: boolean;
  readonly count: bigint;
}

export interface PutResponse {
  readonly revision: bigint;
  readonly memberId: bigint;
}

export type ResponseOp =
  | { readonly kind: 'range'; readonly range: RangeResponse }
  | { readonly kind: 'put'; readonly put: PutResponse }
  /** DeleteRange or a nested Txn: the bench sends neither; kept as a kind, not dropped. */
  | { readonly kind: 'other'; readonly field: number };

export interface TxnResponse {
  readonly revision: bigint;
  readonly memberId: bigint;
  readonly succeeded: boolean;
  readonly responses: ResponseOp[];
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Bytes of `n` as a varint; n a non-negative safe integer. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/**
 * A forward-only writer over one Buffer sized by the caller (every message's size is computed
 * first, so nothing is copied or grown).
 */
class Writer {
  readonly buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  bytes(field: number, b: Buffer): void {
    this.tag(field, LEN);
    this.varint(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** A length-delimited sub-message whose encoded size is `size`; `body` writes its fields. */
  message(field: number, size: number, body: (w: Writer) => void): void {
    this.tag(field, LEN);
    this.varint(size);
    const start = this.pos;
    body(this);
    if (this.pos - start !== size) throw new EtcdWireError(`field ${field}: wrote ${this.pos - start} bytes, sized ${size}`);
  }

  done(): Buffer {
    if (this.pos !== this.buf.length) throw new EtcdWireError(`wrote ${this.pos} bytes of ${this.buf.length}`);
    return this.buf;
  }
}

function tagSize(field: number): number {
  return varintSize(field * 8);
}

function bytesFieldSize(field: number, length: number): number {
  return tagSize(field) + varintSize(length) + length;
}

function checkedInt(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new EtcdWireError(`${what} ${n} is not a non-negative safe integer`);
  return n;
}

/** int64 fields the bench writes are revisions: non-negative and below 2^53 in any real cluster. */
function revisionNumber(what: string, n: bigint): number {
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new EtcdWireError(`${what} ${n} is out of range`);
  return Number(n);
}

function putSize(p: PutRequest): number {
  // proto3: empty bytes are the default and are not written; etcd refuses an empty key anyway.
  return (p.key.length > 0 ? bytesFieldSize(1, p.key.length) : 0) + (p.value.length > 0 ? bytesFieldSize(2, p.value.length) : 0);
}

function writePut(w: Writer, p: PutRequest): void {
  if (p.key.length > 0) w.bytes(1, p.key);
  if (p.value.length > 0) w.bytes(2, p.value);
}

function rangeLimit(r: RangeRequest): number {
  return checkedInt('range limit', r.limit ?? 0);
}

function rangeSize(r: RangeRequest): number {
  const limit = rangeLimit(r);
  let size = r.key.length > 0 ? bytesFieldSize(1, r.key.length) : 0;
  if (r.rangeEnd !== undefined && r.rangeEnd.length > 0) size += bytesFieldSize(2, r.rangeEnd.length);
  if (limit > 0) size += tagSize(3) + varintSize(limit);
  if (r.serializable === true) size += tagSize(7) + 1;
  return size;
}

function writeRange(w: Writer, r: RangeRequest): void {
  const limit = rangeLimit(r);
  if (r.key.length > 0) w.bytes(1, r.key);
  if (r.rangeEnd !== undefined && r.rangeEnd.length > 0) w.bytes(2, r.rangeEnd);
  if (limit > 0) {
    w.tag(3, VARINT);
    w.varint(limit);
  }
  if (r.serializable === true) {
    w.tag(7, VARINT);
    w.varint(1);
  }
}

/** Compare.target: Version 0, Create 1, Mod 2, Value 3, Lease 4. */
const COMPARE_TARGET_MOD = 2;
const COMPARE_TARGET_VALUE = 3;

function compareSize(c: Compare): number {
  const result = COMPARE_RESULT[c.result];
  let size = result !== 0 ? tagSize(1) + varintSize(result) : 0;
  size += tagSize(2) + 1; // target: Mod (2) or Value (3), never the default 0
  size += c.key.length > 0 ? bytesFieldSize(3, c.key.length) : 0;
  size += c.target === 'mod' ? tagSize(6) + varintSize(revisionNumber('compare mod_revision', c.modRevision)) : bytesFieldSize(7, c.value.length);
  return size;
}

function writeCompare(w: Writer, c: Compare): void {
  const result = COMPARE_RESULT[c.result];
  if (result !== 0) {
    w.tag(1, VARINT);
    w.varint(result);
  }
  w.tag(2, VARINT);
  w.varint(c.target === 'mod' ? COMPARE_TARGET_MOD : COMPARE_TARGET_VALUE);
  if (c.key.length > 0) w.bytes(3, c.key);
  if (c.target === 'mod') {
    w.tag(6, VARINT); // written even when 0: a oneof member's presence is the point
    w.varint(revisionNumber('compare mod_revision', c.modRevision));
  } else {
    w.bytes(7, c.value);
  }
}

function requestOpSize(op: RequestOp): number {
  if ('put' in op) {
    const inner = putSize(op.put);
    return tagSize(2) + varintSize(inner) + inner;
  }
  const inner = rangeSize(op.range);
  return tagSize(1) + varintSize(inner) + inner;
}

function writeRequestOp(w: Writer, op: RequestOp): void {
  if ('put' in op) w.message(2, putSize(op.put), (x) => writePut(x, op.put));
  else w.message(1, rangeSize(op.range), (x) => writeRange(x, op.range));
}

/** etcdserverpb.PutRequest {key = 1, value = 2}. */
export function encodePutRequest(p: PutRequest): Buffer {
  const w = new Writer(putSize(p));
  writePut(w, p);
  return w.done();
}

/** etcdserverpb.RangeRequest {key = 1, range_end = 2, limit = 3, serializable = 7}. */
export function encodeRangeRequest(r: RangeRequest): Buffer {
  const w = new Writer(rangeSize(r));
  writeRange(w, r);
  return w.done();
}

/** etcdserverpb.TxnRequest {compare = 1, success = 2, failure = 3}. */
export function encodeTxnRequest(t: TxnRequest): Buffer {
  const compareSizes = t.compare.map(compareSize);
  const successSizes = t.success.map(requestOpSize);
  const failureSizes = t.failure.map(requestOpSize);
  let size = 0;
  for (const s of compareSizes) size += tagSize(1) + varintSize(s) + s;
  for (const s of successSizes) size += tagSize(2) + varintSize(s) + s;
  for (const s of failureSizes) size += tagSize(3) + varintSize(s) + s;
  const w = new Writer(size);
  t.compare.forEach((c, i) => w.message(1, compareSizes[i]!, (x) => writeCompare(x, c)));
  t.success.forEach((op, i) => w.message(2, successSizes[i]!, (x) => writeRequestOp(x, op)));
  t.failure.forEach((op, i) => w.message(3, failureSizes[i]!, (x) => writeRequestOp(x, op)));
  return w.done();
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** A reader over [pos, end) of one buffer; sub-messages are read in place (no copies but values). */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    readonly end: number,
  ) {}

  get isDone(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a bigint: int64 (two's complement) by default, uint64 (cluster and member ids use all 64 bits) when asked. */
  varintBig(isUnsigned = false): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new EtcdWireError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return isUnsigned ? BigInt.asUintN(64, result) : BigInt.asIntN(64, result);
      shift += 7n;
    }
    throw new EtcdWireError('varint longer than 10 bytes');
  }

  /** A varint that must fit a safe integer (tags, lengths, enums, bools). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw new EtcdWireError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    throw new EtcdWireError('varint too large for a length or tag');
  }

  /** A length-delimited field's extent, as a sub-reader; the parent moves past it. */
  sub(): Reader {
    const length = this.varint();
    if (this.pos + length > this.end) throw new EtcdWireError(`length ${length} runs past the message end`);
    const r = new Reader(this.buf, this.pos, this.pos + length);
    this.pos += length;
    return r;
  }

  /** A bytes field: a copy (the receive buffer may be reused by the transport). */
  bytes(): Buffer {
    const r = this.sub();
    return Buffer.from(this.buf.subarray(r.pos, r.end));
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.varintBig();
        return;
      case FIXED64:
        this.advance(8);
        return;
      case LEN:
        this.sub();
        return;
      case FIXED32:
        this.advance(4);
        return;
      default:
        throw new EtcdWireError(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new EtcdWireError('truncated fixed-width field');
    this.pos += n;
  }
}

/** Reads every field of a message: `onField` returns true when it consumed the field, else it is skipped. */
function readFields(r: Reader, onField: (field: number, wireType: number) => boolean): void {
  while (!r.isDone) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new EtcdWireError('field number 0');
    if (!onField(field, wireType)) r.skip(wireType);
  }
}

function expectWireType(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new EtcdWireError(`${what}: wire type ${actual}, expected ${expected}`);
}

/** ResponseHeader {member_id = 2, revision = 3}: the cluster id and raft term are not needed. */
interface Header {
  readonly memberId: bigint;
  readonly revision: bigint;
}

function readHeader(r: Reader): Header {
  let memberId = 0n;
  let revision = 0n;
  readFields(r, (field, wireType) => {
    if (field === 2) {
      expectWireType('header.member_id', wireType, VARINT);
      memberId = r.varintBig(true);
      return true;
    }
    if (field !== 3) return false;
    expectWireType('header.revision', wireType, VARINT);
    revision = r.varintBig();
    return true;
  });
  return { memberId, revision };
}

/** mvccpb.KeyValue {key = 1, create_revision = 2, mod_revision = 3, version = 4, value = 5}. */
function readKeyValue(r: Reader): KeyValue {
  let key: Buffer = EMPTY;
  let value: Buffer = EMPTY;
  let createRevision = 0n;
  let modRevision = 0n;
  let version = 0n;
  readFields(r, (field, wireType) => {
    switch (field) {
      case 1:
        expectWireType('kv.key', wireType, LEN);
        key = r.bytes();
        return true;
      case 2:
        expectWireType('kv.create_revision', wireType, VARINT);
        createRevision = r.varintBig();
        return true;
      case 3:
        expectWireType('kv.mod_revision', wireType, VARINT);
        modRevision = r.varintBig();
        return true;
      case 4:
        expectWireType('kv.version', wireType, VARINT);
        version = r.varintBig();
        return true;
      case 5:
        expectWireType('kv.value', wireType, LEN);
        value = r.bytes();
        return true;
      default:
        return false;
    }
  });
  return { key, value, createRevision, modRevision, version };
}

const EMPTY = Buffer.alloc(0);
/** A response without a header (never from etcd; decoded as zeros, as protobuf does). */
const NO_HEADER: Header = { memberId: 0n, revision: 0n };

function readRangeResponse(r: Reader): RangeResponse {
  let header: Header = NO_HEADER;
  const kvs: KeyValue[] = [];
  let more = false;
  let count = 0n;
  readFields(r, (field, wireType) => {
    switch (field) {
      case 1:
        expectWireType('range.header', wireType, LEN);
        header = readHeader(r.sub());
        return true;
      case 2:
        expectWireType('range.kvs', wireType, LEN);
        kvs.push(readKeyValue(r.sub()));
        return true;
      case 3:
        expectWireType('range.more', wireType, VARINT);
        more = r.varint() !== 0;
        return true;
      case 4:
        expectWireType('range.count', wireType, VARINT);
        count = r.varintBig();
        return true;
      default:
        return false;
    }
  });
  return { revision: header.revision, memberId: header.memberId, kvs, more, count };
}

function readPutResponse(r: Reader): PutResponse {
  let header: Header = NO_HEADER;
  readFields(r, (field, wireType) => {
    if (field !== 1) return false;
    expectWireType('put.header', wireType, LEN);
    header = readHeader(r.sub());
    return true;
  });
  return header;
}

function readResponseOp(r: Reader): ResponseOp {
  let op: ResponseOp | null = null;
  readFields(r, (field, wireType) => {
    expectWireType('response op', wireType, LEN);
    const sub = r.sub();
    if (field === 1) op = { kind: 'range', range: readRangeResponse(sub) };
    else if (field === 2) op = { kind: 'put', put: readPutResponse(sub) };
    else op = { kind: 'other', field };
    return true;
  });
  if (op === null) throw new EtcdWireError('a ResponseOp with no response');
  return op;
}

export function decodeRangeResponse(buf: Buffer): RangeResponse {
  return readRangeResponse(new Reader(buf, 0, buf.length));
}

export function decodePutResponse(buf: Buffer): PutResponse {
  return readPutResponse(new Reader(buf, 0, buf.length));
}

/** etcdserverpb.TxnResponse {header = 1, succeeded = 2, responses = 3}. */
export function decodeTxnResponse(buf: Buffer): TxnResponse {
  const r = new Reader(buf, 0, buf.length);
  let header: Header = NO_HEADER;
  let succeeded = false;
  const responses: ResponseOp[] = [];
  readFields(r, (field, wireType) => {
    switch (field) {
      case 1:
        expectWireType('txn.header', wireType, LEN);
        header = readHeader(r.sub());
        return true;
      case 2:
        expectWireType('txn.succeeded', wireType, VARINT);
        succeeded = r.varint() !== 0;
        return true;
      case 3:
        expectWireType('txn.responses', wireType, LEN);
        responses.push(readResponseOp(r.sub()));
        return true;
      default:
        return false;
    }
  });
  return { revision: header.revision, memberId: header.memberId, succeeded, responses };
}
