// Received snapshot payloads on disk: one file per snapshot under the store's snapshot dir, named
// by region, index and term. A stream is received into `<name>.tmp`; only a complete payload whose
// CRC-32, length and chunk count matched the trailer is fsynced and renamed to `<name>` (and the
// dir fsynced), so a final name always means a whole, checked payload. The file frames each chunk
// as [u32 bytes][chunk]; readers get the chunks back one at a time (bounded memory).
//
// At start-up every file not named by an 'applying' region state is deleted: a partial receive
// (crash between chunks), a complete one raft never installed, or one already installed whose
// delete the crash cut off.

import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, FlotillaError } from '../../common/index.js';
import { SNAPSHOT_RECORD_BYTES_MAX } from './limits.js';

export function snapshotFileName(regionId: number, index: number, term: number): string {
  return `r${regionId}-i${index}-t${term}.snap`;
}

/** Writes one payload as it arrives; commit() makes it visible under its final name. */
export class SnapshotFileWriter {
  private crc = 0;
  private bytes = 0;
  private chunks = 0;
  private readonly frame = Buffer.allocUnsafe(4);

  private constructor(private readonly handle: FileHandle, readonly tmpPath: string, readonly path: string) {}

  static async create(dir: string, name: string): Promise<SnapshotFileWriter> {
    const path = join(dir, name);
    const tmpPath = `${path}.tmp`;
    const handle = await open(tmpPath, 'w');
    return new SnapshotFileWriter(handle, tmpPath, path);
  }

  get received(): { readonly crc32: number; readonly bytes: number; readonly chunks: number } {
    return { crc32: this.crc, bytes: this.bytes, chunks: this.chunks };
  }

  async append(chunk: Buffer): Promise<void> {
    if (chunk.length > SNAPSHOT_RECORD_BYTES_MAX) throw new FlotillaError('InvalidArgument', `snapshot chunk of ${chunk.length} bytes exceeds ${SNAPSHOT_RECORD_BYTES_MAX}`);
    this.frame.writeUInt32BE(chunk.length, 0);
    await this.handle.write(this.frame);
    await this.handle.write(chunk);
    this.crc = crc32(chunk, 0, chunk.length, this.crc);
    this.bytes += chunk.length;
    this.chunks++;
  }

  /** fsync, close, rename to the final name, fsync the dir. */
  async commit(): Promise<void> {
    await this.handle.sync();
    await this.handle.close();
    await rename(this.tmpPath, this.path);
    const dir = await open(join(this.path, '..'), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Drops a partial payload (the stream failed). Never throws. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.tmpPath, { force: true }).catch(() => undefined);
  }
}

/**
 * Calls `onChunk` with each chunk of the payload file, in order; checks the framing, then the
 * CRC-32 and length against the expected ones (Corruption otherwise). `onChunk` may be a no-op
 * (a verification pass before an install touches the engine).
 */
export async function readSnapshotFile(path: string, expected: { readonly crc32: number; readonly bytes: number }, onChunk: (chunk: Buffer) => Promise<void>): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const frame = Buffer.allocUnsafe(4);
    let crc = 0;
    let bytes = 0;
    let position = 0;
    for (;;) {
      const head = await handle.read(frame, 0, 4, position);
      if (head.bytesRead === 0) break;
      if (head.bytesRead !== 4) throw new FlotillaError('Corruption', `${path}: truncated chunk frame at ${position}`);
      const length = frame.readUInt32BE(0);
      if (length > SNAPSHOT_RECORD_BYTES_MAX) throw new FlotillaError('Corruption', `${path}: chunk of ${length} bytes at ${position}`);
      const chunk = Buffer.allocUnsafe(length);
      const body = await handle.read(chunk, 0, length, position + 4);
      if (body.bytesRead !== length) throw new FlotillaError('Corruption', `${path}: truncated chunk at ${position}`);
      crc = crc32(chunk, 0, length, crc);
      bytes += length;
      position += 4 + length;
      await onChunk(chunk);
    }
    if (crc !== expected.crc32 || bytes !== expected.bytes) {
      throw new FlotillaError('Corruption', `${path}: payload crc32 ${crc} / ${bytes} bytes, expected ${expected.crc32} / ${expected.bytes}`);
    }
  } finally {
    await handle.close();
  }
}

/** Deletes every file in `dir` but those named in `keep`. */
export async function cleanSnapshotDir(dir: string, keep: ReadonlySet<string>): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir)) {
    if (keep.has(name)) continue;
    await rm(join(dir, name), { force: true, recursive: true });
    removed++;
  }
  return removed;
}
