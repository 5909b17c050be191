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
//
// Format version 2 adds kind 3, "latest after write": a put of a latest record (txn
// records/latest.ts) whose data part is the write record the op before it puts (a commit or a
// one-phase commit always writes that pair, actions/common.ts putWriteRecord). It carries only
// the record's 18-byte head (version, has_data, max_write_ts, commit_ts); the decoder rebuilds the
// value as head + that write record + CRC-32 — byte for byte what was proposed, and half of a
// transaction's bytes in the log, on the wire and in every replica's decode. An entry without one
// is written as version 1.

import { CF_PREFIX, crc32, type DataCf, FlotillaError, type RegionEpoch, type WriteOp } from '../common/index.js';

const MAGIC = 0x00;
const VERSION = 1;
const VERSION_LATEST_AFTER_WRITE = 2;
const KIND_PUT = 1;
const KIND_DELETE = 2;
const KIND_LATEST_AFTER_WRITE = 3;
/** A latest record with data: version 2, has_data 1, max_write_ts, commit_ts, write record, CRC-32. */
const LATEST_HEAD_BYTES = 18;
const LATEST_RECORD_V2 = 2;
const CRC_BYTES = 4;
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
  // Which ops go in the compact form (by position in the entry), decided once.
  let compact: Uint8Array | null = null;
  let saved = 0;
  let index = 0;
  for (const ops of parts) {
    for (let i = 0; i < ops.length; i++, index++) {
      const op = ops[i]!;
      if (i === 0 || !isLatestAfterWrite(ops[i - 1]!, op)) continue;
      (compact ??= new Uint8Array(count))[index] = 1;
      saved += varintBytes(op.value.length) + op.value.length - LATEST_HEAD_BYTES;
    }
  }
  const size = 2 + varintBytes(header.regionId) + varintBytes(header.peerId) + varintBytes(header.epoch.confVer)
    + varintBytes(header.epoch.version) + varintBytes(count) + bytes - saved;
  const buf = alloc(size);
  buf[0] = MAGIC;
  buf[1] = compact !== null ? VERSION_LATEST_AFTER_WRITE : VERSION;
  let at = writeVarint(buf, 2, header.regionId);
  at = writeVarint(buf, at, header.peerId);
  at = writeVarint(buf, at, header.epoch.confVer);
  at = writeVarint(buf, at, header.epoch.version);
  at = writeVarint(buf, at, count);
  index = 0;
  for (const ops of parts) {
    for (const op of ops) {
      if (op.cf === 'local') throw new FlotillaError('Internal', 'a raft command may not write local keys');
      if (op.key.length === 0 || op.key[0] !== CF_PREFIX[op.cf]) throw new FlotillaError('Internal', `a ${op.cf} write whose key does not carry the ${op.cf} prefix`);
      const isCompact = compact !== null && compact[index++] === 1;
      buf[at++] = ((isCompact ? KIND_LATEST_AFTER_WRITE : op.kind === 'put' ? KIND_PUT : KIND_DELETE) << 4) | CF_CODE[op.cf];
      at = writeVarint(buf, at, op.key.length);
      at += op.key.copy(buf, at);
      if (isCompact && op.kind === 'put') {
        at += op.value.copy(buf, at, 0, LATEST_HEAD_BYTES);
      } else if (op.kind === 'put') {
        at = writeVarint(buf, at, op.value.length);
        at += op.value.copy(buf, at);
      }
    }
  }
  if (at !== size) throw new FlotillaError('Internal', `write batch encoded ${at} of ${size} bytes (bytes given: ${bytes})`);
  return buf;
}

/**
 * Whether `op` puts a latest record with data whose write record is exactly the one `prev` puts
 * (its checksum checked too): then decoding head + prev's value + CRC-32 gives `op.value` back.
 */
function isLatestAfterWrite(prev: WriteOp, op: WriteOp): op is WriteOp & { kind: 'put' } {
  if (op.kind !== 'put' || op.cf !== 'latest' || prev.kind !== 'put' || prev.cf !== 'write') return false;
  const v = op.value;
  const n = prev.value.length;
  if (v.length !== LATEST_HEAD_BYTES + n + CRC_BYTES || v[0] !== LATEST_RECORD_V2 || v[1] !== 1) return false;
  if (v.compare(prev.value, 0, n, LATEST_HEAD_BYTES, LATEST_HEAD_BYTES + n) !== 0) return false;
  return crc32(v, 0, LATEST_HEAD_BYTES + n) === v.readUInt32BE(LATEST_HEAD_BYTES + n);
}

/** The latest record a "latest after write" op stands for: its head, the write record, CRC-32. */
function latestAfterWriteValue(head: Buffer, write: Buffer): Buffer {
  const value = Buffer.allocUnsafe(LATEST_HEAD_BYTES + write.length + CRC_BYTES);
  head.copy(value, 0);
  write.copy(value, LATEST_HEAD_BYTES);
  value.writeUInt32BE(crc32(value, 0, LATEST_HEAD_BYTES + write.length), LATEST_HEAD_BYTES + write.length);
  return value;
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

/**
 * Decodes a write batch; keys and values are views of `data` (a "latest after write" value is
 * rebuilt in a buffer of its own). Anything malformed is Corruption.
 */
export function decodeWriteBatch(data: Uint8Array, what: string): DecodedWriteBatch {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 2 || buf[0] !== MAGIC) throw new FlotillaError('Corruption', `${what}: not a write batch`);
  if (buf[1] !== VERSION && buf[1] !== VERSION_LATEST_AFTER_WRITE) throw new FlotillaError('Corruption', `${what}: write batch format ${buf[1]} is not known to this store`);
  const isCompactAllowed = buf[1] === VERSION_LATEST_AFTER_WRITE;
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
    const isCompact = kind === KIND_LATEST_AFTER_WRITE && isCompactAllowed && cf === 'latest';
    if (cf === undefined || (kind !== KIND_PUT && kind !== KIND_DELETE && !isCompact)) throw r.corrupt(`unknown operation tag 0x${tag.toString(16)}`);
    const key = r.bytes(r.varint());
    if (key.length === 0 || key[0] !== CF_PREFIX[cf]) throw r.corrupt(`a ${cf} key without the ${cf} prefix`);
    if (isCompact) {
      const prev = i > 0 ? ops[i - 1]! : null;
      if (prev === null || prev.kind !== 'put' || prev.cf !== 'write') throw r.corrupt('a latest record after something other than a write record');
      const head = r.bytes(LATEST_HEAD_BYTES);
      if (head[0] !== LATEST_RECORD_V2 || head[1] !== 1) throw r.corrupt('a compact latest record whose head is not version 2 with data');
      ops[i] = { kind: 'put', cf, key, value: latestAfterWriteValue(head, prev.value) };
    } else {
      ops[i] = kind === KIND_PUT ? { kind: 'put', cf, key, value: r.bytes(r.varint()) } : { kind: 'delete', cf, key };
    }
  }
  if (!r.isDone) throw r.corrupt(`${buf.length - r.at} bytes after the last operation`);
  return { regionId, epoch: { confVer, version }, ops };
}
