// The data file format of a backup (version 1), pure: encoding into buffers and a checking walk
// over a whole file. A file holds the pairs of one key space (transactional or raw) in strictly
// ascending key order:
//
//   header  16 bytes  magic "FLOTBAK\0" | u16 format version | u8 key space (1 txn, 2 raw) | 5 zero bytes
//   record  per pair  u8 tag 0x01 | u32 key length | key | u32 value length | value
//   end     9 bytes   u8 tag 0xFF | u32 record count | u32 CRC-32 of every byte before this field
//
// Integers are big-endian. A file is whole only with its end record and nothing after it, so a
// truncation anywhere is seen without the manifest; the manifest's SHA-256 adds a strong check.

import { crc32 } from '../../common/index.js';
import { BackupCorruptionError, UnsupportedBackupVersionError } from './errors.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from './limits.js';

export const BACKUP_FORMAT_VERSION = 1;
export const DATA_FILE_MAGIC: Buffer = Buffer.from('FLOTBAK\0', 'latin1');
export const DATA_HEADER_BYTES = 16;
export const RECORD_TAG_PAIR = 0x01;
export const RECORD_TAG_END = 0xff;
/** Tag + key length + value length. */
export const RECORD_OVERHEAD_BYTES = 9;
/** Tag + count + CRC. */
export const END_RECORD_BYTES = 9;

export type KeySpace = 'txn' | 'raw';
export const KEY_SPACES: readonly KeySpace[] = ['txn', 'raw'];

const KEY_SPACE_CODES: Readonly<Record<KeySpace, number>> = { txn: 1, raw: 2 };

export interface KvRecord {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** What a checked file holds. */
export interface DataFileSummary {
  readonly keySpace: KeySpace;
  readonly keys: number;
  /** Sum of key and value lengths. */
  readonly dataBytes: number;
}

export function encodeHeader(keySpace: KeySpace): Buffer {
  const header = Buffer.alloc(DATA_HEADER_BYTES);
  DATA_FILE_MAGIC.copy(header, 0);
  header.writeUInt16BE(BACKUP_FORMAT_VERSION, 8);
  header.writeUInt8(KEY_SPACE_CODES[keySpace], 10);
  return header;
}

export function recordBytes(key: Uint8Array, value: Uint8Array): number {
  return RECORD_OVERHEAD_BYTES + key.length + value.length;
}

/** Writes one pair record into `target` at `offset` (room for recordBytes must be there); returns the offset after it. */
export function writeRecord(target: Buffer, offset: number, key: Uint8Array, value: Uint8Array): number {
  let at = target.writeUInt8(RECORD_TAG_PAIR, offset);
  at = target.writeUInt32BE(key.length, at);
  target.set(key, at);
  at += key.length;
  at = target.writeUInt32BE(value.length, at);
  target.set(value, at);
  return at + value.length;
}

/**
 * The end record. `crcBeforeEnd` is the CRC-32 of every byte before it (header and records); the
 * stored CRC also covers the end record's own tag and count.
 */
export function encodeEndRecord(count: number, crcBeforeEnd: number): Buffer {
  const end = Buffer.alloc(END_RECORD_BYTES);
  end.writeUInt8(RECORD_TAG_END, 0);
  end.writeUInt32BE(count, 1);
  end.writeUInt32BE(crc32(end, 0, 5, crcBeforeEnd), 5);
  return end;
}

/** A whole file in memory (tests and small files; the backup streams through the same functions). */
export function encodeDataFile(keySpace: KeySpace, records: readonly KvRecord[]): Buffer {
  const header = encodeHeader(keySpace);
  const body = Buffer.alloc(records.reduce((n, r) => n + recordBytes(r.key, r.value), 0));
  let at = 0;
  for (const r of records) at = writeRecord(body, at, r.key, r.value);
  const crc = crc32(body, 0, body.length, crc32(header));
  return Buffer.concat([header, body, encodeEndRecord(records.length, crc)]);
}

/**
 * Checks a whole data file: magic, version, key space, every record's tag and lengths (within
 * the key and value limits), keys strictly ascending, the end record's count and CRC, nothing
 * after it. Throws BackupCorruptionError ('truncated' when the bytes end early, else 'malformed')
 * or UnsupportedBackupVersionError; `file` names the file in the message.
 */
export function checkDataFile(bytes: Buffer, file: string): DataFileSummary {
  const keySpace = checkHeader(bytes, file);
  let at = DATA_HEADER_BYTES;
  let keys = 0;
  let dataBytes = 0;
  let previousKey: Buffer | null = null;
  for (;;) {
    need(bytes, at, 1, file, 'a record tag');
    const tag = bytes[at]!;
    if (tag === RECORD_TAG_END) break;
    if (tag !== RECORD_TAG_PAIR) throw malformed(file, at, `unknown record tag 0x${tag.toString(16)}`);
    const { key, value, next } = readPair(bytes, at, file);
    if (previousKey !== null && Buffer.compare(previousKey, key) >= 0) throw malformed(file, at, 'keys are not in strictly ascending order');
    previousKey = key;
    keys++;
    dataBytes += key.length + value.length;
    at = next;
  }
  need(bytes, at, END_RECORD_BYTES, file, 'the end record');
  const count = bytes.readUInt32BE(at + 1);
  if (count !== keys) throw malformed(file, at, `the end record counts ${count} records, the file holds ${keys}`);
  const crc = bytes.readUInt32BE(at + 5);
  const actual = crc32(bytes, 0, at + 5);
  if (crc !== actual) throw malformed(file, at, `CRC-32 mismatch: stored ${crc.toString(16)}, computed ${actual.toString(16)}`);
  if (at + END_RECORD_BYTES !== bytes.length) throw malformed(file, at + END_RECORD_BYTES, `${bytes.length - at - END_RECORD_BYTES} bytes after the end record`);
  return { keySpace, keys, dataBytes };
}

/** The pairs of a file that checkDataFile accepted, as views into `bytes` (no copies). */
export function* recordsOf(bytes: Buffer, file: string): Generator<KvRecord> {
  checkHeader(bytes, file);
  let at = DATA_HEADER_BYTES;
  while (bytes[at] === RECORD_TAG_PAIR) {
    const { key, value, next } = readPair(bytes, at, file);
    yield { key, value };
    at = next;
  }
  if (bytes[at] !== RECORD_TAG_END) throw malformed(file, at, 'no end record (the file was not checked first)');
}

function checkHeader(bytes: Buffer, file: string): KeySpace {
  need(bytes, 0, DATA_HEADER_BYTES, file, 'the header');
  if (!bytes.subarray(0, DATA_FILE_MAGIC.length).equals(DATA_FILE_MAGIC)) throw malformed(file, 0, 'not a Flotilla backup data file (bad magic)');
  const version = bytes.readUInt16BE(8);
  if (version !== BACKUP_FORMAT_VERSION) throw new UnsupportedBackupVersionError(file, version, BACKUP_FORMAT_VERSION);
  const code = bytes[10]!;
  const keySpace = KEY_SPACES.find((s) => KEY_SPACE_CODES[s] === code);
  if (keySpace === undefined) throw malformed(file, 10, `unknown key space ${code}`);
  for (let i = 11; i < DATA_HEADER_BYTES; i++) if (bytes[i] !== 0) throw malformed(file, i, 'reserved header bytes are not zero');
  return keySpace;
}

function readPair(bytes: Buffer, at: number, file: string): { key: Buffer; value: Buffer; next: number } {
  need(bytes, at, 5, file, 'a key length');
  const keyLength = bytes.readUInt32BE(at + 1);
  if (keyLength === 0 || keyLength > KEY_BYTES_MAX) throw malformed(file, at + 1, `key length ${keyLength} is outside [1, ${KEY_BYTES_MAX}]`);
  const keyAt = at + 5;
  need(bytes, keyAt, keyLength + 4, file, 'a key and its value length');
  const valueLength = bytes.readUInt32BE(keyAt + keyLength);
  if (valueLength > VALUE_BYTES_MAX) throw malformed(file, keyAt + keyLength, `value length ${valueLength} is over ${VALUE_BYTES_MAX}`);
  const valueAt = keyAt + keyLength + 4;
  need(bytes, valueAt, valueLength, file, 'a value');
  return { key: bytes.subarray(keyAt, keyAt + keyLength), value: bytes.subarray(valueAt, valueAt + valueLength), next: valueAt + valueLength };
}

function need(bytes: Buffer, at: number, length: number, file: string, what: string): void {
  if (at + length > bytes.length) {
    throw new BackupCorruptionError('truncated', file, `truncated: ${what} needs bytes [${at}, ${at + length}), the file has ${bytes.length}`, { offset: at });
  }
}

function malformed(file: string, offset: number, message: string): BackupCorruptionError {
  return new BackupCorruptionError('malformed', file, `${message} (at byte ${offset})`, { offset });
}
