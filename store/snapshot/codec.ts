// The bytes of a region snapshot. Three layers:
//
//   SnapshotData (raft_serverpb, in eraftpb.Snapshot.data): the region as of the snapshot and the
//     payload format version — what the receiver needs before any data arrives.
//   payload: a sequence of data chunks, each a sequence of whole records
//       record = [u32 key bytes][full engine key][u32 value bytes][value]
//     in CF order, ascending keys (every data CF's keys inside the region's range). The trailer's
//     CRC-32 covers the concatenated chunks.
//   the receiver's file: each chunk framed as [u32 chunk bytes][chunk], so an install reads it
//     back chunk by chunk with bounded memory.
//
// Decoding checks every key: a data-CF key (never a local one: a snapshot must not write raft or
// region state) inside the snapshot region's range for its CF.

import {
  cfRangeOf, CF_PREFIX, type DataCf, DATA_CFS, decodeKey, FlotillaError, type KeyRange, type RegionMeta, regionFromWire, regionToWire,
} from '../../common/index.js';
import { messageCodec } from '../../proto/index.js';
import { SNAPSHOT_RECORD_BYTES_MAX } from './limits.js';

/** The payload encoding this store writes and reads (SnapshotData.format_version). */
export const SNAPSHOT_FORMAT_VERSION = 1;

const dataCodec = messageCodec('flotilla.raft_serverpb.SnapshotData');

export function encodeSnapshotData(region: RegionMeta): Buffer {
  return dataCodec.encode({ region: regionToWire(region), formatVersion: SNAPSHOT_FORMAT_VERSION, totalBytes: '0', keyCount: '0' });
}

/** The region a snapshot carries; InvalidArgument for an unknown format or a malformed region. */
export function decodeSnapshotData(data: Uint8Array, what: string): RegionMeta {
  let decoded;
  try {
    decoded = dataCodec.decode(data);
  } catch (err) {
    throw new FlotillaError('InvalidArgument', `${what}: undecodable snapshot data: ${(err as Error).message}`);
  }
  if (decoded.formatVersion !== SNAPSHOT_FORMAT_VERSION) {
    throw new FlotillaError('InvalidArgument', `${what}: snapshot format ${decoded.formatVersion}; this store reads ${SNAPSHOT_FORMAT_VERSION}`);
  }
  return regionFromWire(decoded.region, `${what} snapshot region`);
}

/** The engine ranges a region's data occupies: one per data CF, in DATA_CFS order. */
export function regionDataRanges(region: Pick<RegionMeta, 'startKey' | 'endKey'>): { readonly cf: DataCf; readonly range: KeyRange }[] {
  const start = region.startKey.length === 0 ? Buffer.alloc(0) : decodeKey(region.startKey).key;
  const end = region.endKey.length === 0 ? null : decodeKey(region.endKey).key;
  return DATA_CFS.map((cf) => ({ cf, range: cfRangeOf(cf, start, end) }));
}

/** Bytes a record takes in a chunk. */
export function recordBytes(key: Buffer, value: Buffer): number {
  return 8 + key.length + value.length;
}

/** Builds chunks of whole records into one reused buffer growing to the largest chunk. */
export class ChunkWriter {
  private buf: Buffer;
  private used = 0;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  get bytes(): number {
    return this.used;
  }

  add(key: Buffer, value: Buffer): void {
    const need = recordBytes(key, value);
    if (need > SNAPSHOT_RECORD_BYTES_MAX) throw new FlotillaError('Internal', `snapshot record of ${need} bytes exceeds ${SNAPSHOT_RECORD_BYTES_MAX}`);
    if (this.used + need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + need));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    this.buf.writeUInt32BE(key.length, this.used);
    key.copy(this.buf, this.used + 4);
    this.used += 4 + key.length;
    this.buf.writeUInt32BE(value.length, this.used);
    value.copy(this.buf, this.used + 4);
    this.used += 4 + value.length;
  }

  /** The chunk built so far (a copy: the buffer is reused), and a fresh start. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.used));
    this.used = 0;
    return out;
  }
}

export interface SnapshotRecord {
  readonly cf: DataCf;
  readonly key: Buffer;
  readonly value: Buffer;
}

const CF_OF_PREFIX = new Map<number, DataCf>(DATA_CFS.map((cf) => [CF_PREFIX[cf], cf]));

/**
 * The records of one chunk, each checked to be a data-CF key inside `ranges` (the snapshot
 * region's). Corruption names the offset of the first bad record.
 */
export function decodeChunk(chunk: Buffer, ranges: ReadonlyMap<DataCf, KeyRange>, what: string): SnapshotRecord[] {
  const out: SnapshotRecord[] = [];
  let at = 0;
  while (at < chunk.length) {
    if (at + 4 > chunk.length) throw new FlotillaError('Corruption', `${what}: record at ${at} truncated (key length)`);
    const keyBytes = chunk.readUInt32BE(at);
    if (at + 4 + keyBytes + 4 > chunk.length) throw new FlotillaError('Corruption', `${what}: record at ${at} truncated (key)`);
    const key = chunk.subarray(at + 4, at + 4 + keyBytes);
    const valueAt = at + 4 + keyBytes;
    const valueBytes = chunk.readUInt32BE(valueAt);
    if (valueAt + 4 + valueBytes > chunk.length) throw new FlotillaError('Corruption', `${what}: record at ${at} truncated (value)`);
    const value = chunk.subarray(valueAt + 4, valueAt + 4 + valueBytes);
    const cf = key.length === 0 ? undefined : CF_OF_PREFIX.get(key[0]!);
    const range = cf === undefined ? undefined : ranges.get(cf);
    if (cf === undefined || range === undefined) throw new FlotillaError('Corruption', `${what}: record at ${at} is not a data key`);
    if (Buffer.compare(key, range.start) < 0 || Buffer.compare(key, range.end) >= 0) {
      throw new FlotillaError('Corruption', `${what}: record at ${at} (${cf}) lies outside the snapshot's region`);
    }
    out.push({ cf, key, value });
    at = valueAt + 4 + valueBytes;
  }
  return out;
}
