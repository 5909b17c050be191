// backupCluster: a consistent copy of the transactional key space at one ts, and a best-effort
// copy of the raw key space, into data files plus manifest.json (README.md). The steps:
//
//   1. refuse a directory that holds a manifest (unless overwrite: then the manifest goes first,
//      so the directory reads as unfinished from then on); remove leftover data files of ours;
//   2. take one ts; check the GC safe point is not above it (when the caller gave a PD client);
//   3. scan every transactional key at ts through one snapshot, page by page, into txn-*.fbk;
//   4. scan the raw key space into raw-*.fbk (no MVCC: values as the scan meets them);
//   5. check the GC safe point again (a GC that passed ts during the scan may have removed
//      versions the scan needed), then write manifest.json atomically — the commit point.

import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client, KvPair } from '../../client/index.js';
import { FlotillaError, type Ts } from '../../common/index.js';
import { DataFileWriter } from './data-file-writer.js';
import { BackupExistsError, BackupTsTooOldError } from './errors.js';
import { BACKUP_FORMAT_VERSION, type KeySpace } from './format.js';
import { CHUNK_BYTES_DEFAULT, CHUNK_BYTES_MAX, CHUNK_BYTES_MIN } from './limits.js';
import { DATA_FILE_PATTERN, MANIFEST_FILE, MANIFEST_FORMAT, RAW_CONSISTENCY_NOTE, syncDir, totalsOf, writeManifest, type Manifest, type ManifestFile } from './manifest.js';
import { ProgressMeter, type BackupPhase, type ProgressCallback } from './progress.js';
import { RESTORE_PROGRESS_FILE } from './restore-journal.js';

/** What backup needs of PD beyond the client: a PdClient (exported by the client library) fits. */
export interface BackupPdView {
  readonly clusterId: bigint;
  getGcSafePoint(): Promise<Ts>;
}

export interface BackupOptions {
  readonly onProgress?: ProgressCallback<BackupPhase>;
  /** Aborting stops the backup at the next pair; it rejects with the signal's reason and writes no manifest. */
  readonly signal?: AbortSignal;
  /** Target size of a data file (default 32 MiB, within [4 KiB, 1 GiB]). */
  readonly chunkBytes?: number;
  /** Replace a finished backup in `dir` (default: refuse with BackupExistsError). */
  readonly overwrite?: boolean;
  /** The ts to read at (default: a fresh one from PD). */
  readonly ts?: Ts;
  /**
   * The source cluster's PD (the client library does not expose the cluster id or the GC safe
   * point): recorded in the manifest, and the safe point checked before and after the scan.
   */
  readonly pd?: BackupPdView;
}

/**
 * Backs up the cluster `client` is connected to into `dir` (created if absent) and returns the
 * manifest it wrote. Rejects with BackupExistsError when `dir` holds a manifest and overwrite is
 * not set, BackupTsTooOldError when the GC safe point is above the ts, InvalidArgument for a bad
 * option, the signal's reason on abort, and the client's errors (a read that timed out, …). On any
 * rejection no manifest is left in `dir`.
 */
export async function backupCluster(client: Client, dir: string, options: BackupOptions = {}): Promise<Manifest> {
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES_DEFAULT;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes < CHUNK_BYTES_MIN || chunkBytes > CHUNK_BYTES_MAX) {
    throw new FlotillaError('InvalidArgument', `chunkBytes ${chunkBytes} must be an integer within [${CHUNK_BYTES_MIN}, ${CHUNK_BYTES_MAX}]`);
  }
  if (options.ts !== undefined && (typeof options.ts !== 'bigint' || options.ts <= 0n)) throw new FlotillaError('InvalidArgument', 'backup ts must be a positive bigint');
  options.signal?.throwIfAborted();
  const createdAt = new Date().toISOString();
  await prepareDir(dir, options.overwrite === true);

  const ts = options.ts ?? (await client.currentTimestamp());
  await checkGcSafePoint(options.pd, ts);
  const meter = new ProgressMeter<BackupPhase>('backupTxn', options.onProgress);
  const snapshot = await client.snapshot(ts);
  const txnFiles = await copyKeySpace(snapshot.scan('', null), dir, 'txn', chunkBytes, meter, options.signal);
  meter.startPhase('backupRaw', 'keep');
  const rawFiles = await copyKeySpace(client.raw.scan('', null), dir, 'raw', chunkBytes, meter, options.signal);
  await checkGcSafePoint(options.pd, ts);

  meter.startPhase('writeManifest', 'keep');
  const files = [...txnFiles, ...rawFiles];
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    formatVersion: BACKUP_FORMAT_VERSION,
    clusterId: options.pd === undefined ? null : options.pd.clusterId.toString(),
    backupTs: ts.toString(),
    createdAt,
    rawConsistency: RAW_CONSISTENCY_NOTE,
    files,
    totals: totalsOf(files),
  };
  options.signal?.throwIfAborted();
  await syncDir(dir); // the data files' directory entries are durable before the manifest names them
  await writeManifest(dir, manifest);
  meter.startPhase('done', 'keep');
  return manifest;
}

/** Streams `pairs` (ascending) into data files of one key space. */
async function copyKeySpace(pairs: AsyncIterable<KvPair>, dir: string, keySpace: KeySpace, chunkBytes: number, meter: ProgressMeter<BackupPhase>, signal: AbortSignal | undefined): Promise<readonly ManifestFile[]> {
  const writer = new DataFileWriter(dir, keySpace, chunkBytes);
  try {
    for await (const { key, value } of pairs) {
      signal?.throwIfAborted();
      await writer.add(key, value);
      meter.add(1, key.length + value.length);
    }
    return await writer.finish();
  } finally {
    await writer.abandon();
  }
}

/**
 * Makes `dir` ready: created if absent; a manifest refuses (or, with overwrite, is removed first
 * and durably, so a crash from here on leaves a directory that reads as unfinished); our leftover
 * data files and restore journal are removed. Files that are not ours are left alone.
 */
async function prepareDir(dir: string, isOverwrite: boolean): Promise<void> {
  await mkdir(dir, { recursive: true });
  const info = await stat(dir);
  if (!info.isDirectory()) throw new FlotillaError('InvalidArgument', `backup directory ${dir} is not a directory`);
  const names = await readdir(dir);
  if (names.includes(MANIFEST_FILE)) {
    if (!isOverwrite) throw new BackupExistsError(dir);
    await unlink(join(dir, MANIFEST_FILE));
    await syncDir(dir);
  }
  for (const name of names) {
    if (DATA_FILE_PATTERN.test(name) || name === RESTORE_PROGRESS_FILE || name === `${MANIFEST_FILE}.tmp`) await unlink(join(dir, name));
  }
}

async function checkGcSafePoint(pd: BackupPdView | undefined, ts: Ts): Promise<void> {
  if (pd === undefined) return;
  const safePoint = await pd.getGcSafePoint();
  if (safePoint > ts) throw new BackupTsTooOldError(ts, safePoint);
}
