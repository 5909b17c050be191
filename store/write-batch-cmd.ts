// The compact form of a region's write entries: the data modifications of many commands, proposed
// in one poll round under one epoch, carried by ONE raft entry. One entry per round instead of one
// per request means one log record, one checksum, one entry per follower message and one decode
// per replica for the whole round; every command of the entry shares its apply result (the epoch
// check is the only way a write entry fails, and it holds or fails for all of them alike).
//
// Layout (all integers are unsigned LEB128 varints of safe integers):
//
//   0x00 0x01                 magic (no protobuf message starts with a 0 byte: field 0 is
//                             invalid) and format version
//   regionId peerId confVer version
//   opCount
//   opCount × ( tag keyLength key [valueLength value] )
//
// tag = kind << 4 | cf code (kind 1 put, 2 delete; cf codes below). Keys are full engine keys, CF
// prefix byte included, so decoding hands out views of the entry's bytes without copying. The
// local CF never appears: a command may not write raft or region state.

import { CF_PREFIX, type DataCf, FlotillaError, type RegionEpoch, type WriteOp } from '../common/index.js';

const MAGIC = 0x00;
const VERSION = 1;
const KIND_PUT = 1;
const KIND_DELETE = 2;
const CF_CODES: readonly DataCf[] = ['default', 'lock', 'write', 'latest', 'raw'];
const CF_CODE: Readonly<Record<DataCf, number>> = { default: 0, lock: 1, write: 2, latest: 3, raw: 4 };

export interface WriteBatchHeader {
  readonly regionId: number;
  readonly peerId: number;
  readonly epoch: RegionEpoch;
}

/** True when an entry's data is a write batch (otherwise it is a proto RaftCmdRequest). */
export function isWriteBatch(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === MAGIC;
}

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    bytes++;
  }
  return bytes;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

/** Bytes `ops` take in a write batch (the entry-size check before a command is queued). */
export function writeOpsBytes(ops: readonly WriteOp[]): number {
  let n = 0;
  for (const op of ops) {
    n += 1 + varintBytes(op.key.length) + op.key.length;
    if (op.kind === 'put') n += varintBytes(op.value.length) + op.value.length;
  }
  return n;
}

/** Bytes of a batch's fixed part: magic, version, header and the op count (at most). */
export const WRITE_BATCH_OVERHEAD_MAX = 2 + 4 * 8 + 8;

/**
 * Encodes the commands `parts` (in order) as one entry; `bytes` is the sum of their writeOpsBytes.
 * `alloc` gives the entry's buffer (a proposer passes raft-host's allocEntryData: no copy when the
 * entry is persisted).
 */
export function encodeWriteBatch(header: WriteBatchHeader, parts: readonly (readonly WriteOp[])[], bytes: number, alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size)): Buffer {
  let count = 0;
  for (const ops of parts) count += ops.length;
  const size = 2 + varintBytes(header.regionId) + varintBytes(header.peerId) + varintBytes(header.epoch.confVer)
    + varintBytes(header.epoch.version) + varintBytes(count) + bytes;
  const buf = alloc(size);
  buf[0] = MAGIC;
  buf[1] = VERSION;
  let at = writeVarint(buf, 2, header.regionId);
  at = writeVarint(buf, at, header.peerId);
  at = writeVarint(buf, at, header.epoch.confVer);
  at = writeVarint(buf, at, header.epoch.version);
  at = writeVarint(buf, at, count);
  for (const ops of parts) {
    for (const op of ops) {
      if (op.cf === 'local') throw new FlotillaError('Internal', 'a raft command may not write local keys');
      if (op.key.length === 0 || op.key[0] !== CF_PREFIX[op.cf]) throw new FlotillaError('Internal', `a ${op.cf} write whose key does not carry the ${op.cf} prefix`);
      buf[at++] = ((op.kind === 'put' ? KIND_PUT : KIND_DELETE) << 4) | CF_CODE[op.cf];
      at = writeVarint(buf, at, op.key.length);
      at += op.key.copy(buf, at);
      if (op.kind === 'put') {
        at = writeVarint(buf, at, op.value.length);
        at += op.value.copy(buf, at);
      }
    }
  }
  if (at !== size) throw new FlotillaError('Internal', `write batch encoded ${at} of ${size} bytes (bytes given: ${bytes})`);
  return buf;
}

export interface DecodedWriteBatch {
  readonly regionId: number;
  readonly epoch: RegionEpoch;
  readonly ops: WriteOp[];
}

class Reader {
  at = 2;

  constructor(private readonly buf: Buffer, private readonly what: string) {}

  corrupt(why: string): FlotillaError {
    return new FlotillaError('Corruption', `${this.what}: malformed write batch at byte ${this.at}: ${why}`);
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.at >= this.buf.length) throw this.corrupt('truncated number');
      const b = this.buf[this.at++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(n)) throw this.corrupt('number past 2^53');
        return n;
      }
      scale *= 0x80;
    }
    throw this.corrupt('number longer than 8 bytes');
  }

  bytes(n: number): Buffer {
    if (n > this.buf.length - this.at) throw this.corrupt(`${n} bytes past the end`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  get isDone(): boolean {
    return this.at === this.buf.length;
  }
}

/** Decodes a write batch; keys and values are views of `data`. Anything malformed is Corruption. */
export function decodeWriteBatch(data: Uint8Array, what: string): DecodedWriteBatch {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 2 || buf[0] !== MAGIC) throw new FlotillaError('Corruption', `${what}: not a write batch`);
  if (buf[1] !== VERSION) throw new FlotillaError('Corruption', `${what}: write batch format ${buf[1]} is not known to this store`);
  const r = new Reader(buf, what);
  const regionId = r.varint();
  r.varint(); // the proposing peer: kept for debugging a log, not needed to apply
  const confVer = r.varint();
  const version = r.varint();
  const count = r.varint();
  if (count > buf.length) throw r.corrupt(`${count} operations in ${buf.length} bytes`);
  const ops = new Array<WriteOp>(count);
  for (let i = 0; i < count; i++) {
    if (r.isDone) throw r.corrupt(`${i} of ${count} operations`);
    const tag = r.bytes(1)[0]!;
    const cf = CF_CODES[tag & 0x0f];
    const kind = tag >> 4;
    if (cf === undefined || (kind !== KIND_PUT && kind !== KIND_DELETE)) throw r.corrupt(`unknown operation tag 0x${tag.toString(16)}`);
    const key = r.bytes(r.varint());
    if (key.length === 0 || key[0] !== CF_PREFIX[cf]) throw r.corrupt(`a ${cf} key without the ${cf} prefix`);
    ops[i] = kind === KIND_PUT ? { kind: 'put', cf, key, value: r.bytes(r.varint()) } : { kind: 'delete', cf, key };
  }
  if (!r.isDone) throw r.corrupt(`${buf.length - r.at} bytes after the last operation`);
  return { regionId, epoch: { confVer, version }, ops };
}
