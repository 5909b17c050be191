// Writes one key space's pairs, in ascending key order, into data files of about chunkBytes each
// (format.ts), computing each file's SHA-256 and CRC-32 as the bytes go out. Records are copied
// into one reused staging buffer and written when it fills, so memory stays at one buffer
// whatever the backup's size. A file is fsynced before it is reported finished.

import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, invariant } from '../../common/index.js';
import { encodeEndRecord, encodeHeader, recordBytes, writeRecord, type KeySpace } from './format.js';
import { WRITE_BUFFER_BYTES } from './limits.js';
import { dataFileName, type ManifestFile } from './manifest.js';

interface OpenFile {
  readonly name: string;
  readonly handle: FileHandle;
  readonly sha256: Hash;
  crc: number;
  keys: number;
  dataBytes: number;
  fileBytes: number;
  lastKey: Buffer | null;
}

export class DataFileWriter {
  private readonly staging = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private staged = 0;
  private current: OpenFile | null = null;
  private nextIndex = 1;
  readonly finished: ManifestFile[] = [];

  constructor(
    private readonly dir: string,
    private readonly keySpace: KeySpace,
    private readonly chunkBytes: number,
  ) {}

  /** Appends one pair; keys must come in strictly ascending order. */
  async add(key: Buffer, value: Buffer): Promise<void> {
    const file = this.current ?? (await this.openNext());
    invariant(file.lastKey === null || Buffer.compare(file.lastKey, key) < 0, () => `${file.name}: keys out of order`);
    const size = recordBytes(key, value);
    if (size > this.staging.length - this.staged) await this.flushStaging(file);
    if (size > this.staging.length) {
      // A record larger than the staging buffer (a value of MiBs) goes out on its own.
      const record = Buffer.allocUnsafe(size);
      writeRecord(record, 0, key, value);
      await this.writeOut(file, record);
    } else {
      this.staged = writeRecord(this.staging, this.staged, key, value);
    }
    file.keys++;
    file.dataBytes += key.length + value.length;
    file.fileBytes += size;
    file.lastKey = key;
    if (file.fileBytes >= this.chunkBytes) await this.closeCurrent();
  }

  /** Finishes the last file (if any pair went into it); returns every finished file in order. */
  async finish(): Promise<readonly ManifestFile[]> {
    if (this.current !== null) await this.closeCurrent();
    return this.finished;
  }

  /** Closes an unfinished file without an end record (after an error or abort). Idempotent. */
  async abandon(): Promise<void> {
    const file = this.current;
    this.current = null;
    this.staged = 0;
    if (file !== null) await file.handle.close();
  }

  private async openNext(): Promise<OpenFile> {
    const name = dataFileName(this.keySpace, this.nextIndex++);
    const handle = await open(join(this.dir, name), 'w');
    const file: OpenFile = { name, handle, sha256: createHash('sha256'), crc: 0, keys: 0, dataBytes: 0, fileBytes: 0, lastKey: null };
    this.current = file;
    const header = encodeHeader(this.keySpace);
    this.staged = header.copy(this.staging, 0);
    file.fileBytes = header.length;
    return file;
  }

  private async closeCurrent(): Promise<void> {
    const file = this.current;
    invariant(file !== null, 'no open data file');
    await this.flushStaging(file);
    const end = encodeEndRecord(file.keys, file.crc);
    await this.writeOut(file, end);
    file.fileBytes += end.length;
    await file.handle.sync();
    await file.handle.close();
    this.current = null;
    this.finished.push({ name: file.name, keySpace: this.keySpace, keys: file.keys, dataBytes: file.dataBytes, fileBytes: file.fileBytes, sha256: file.sha256.digest('hex') });
  }

  private async flushStaging(file: OpenFile): Promise<void> {
    if (this.staged === 0) return;
    const bytes = this.staging.subarray(0, this.staged);
    this.staged = 0;
    await this.writeOut(file, bytes);
  }

  private async writeOut(file: OpenFile, bytes: Buffer): Promise<void> {
    file.crc = crc32(bytes, 0, bytes.length, file.crc);
    file.sha256.update(bytes);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await file.handle.write(bytes, written, bytes.length - written);
      written += bytesWritten;
    }
  }
}
