// restoreCluster: writes a backup's pairs into a cluster. Every file is checked (size, SHA-256,
// structure, counts against the manifest) before anything is written; then, file by file, each
// file is read and checked again (it is the bytes in memory that get written) and its pairs go out
// in bounded batches — transactions for the transactional key space, raw batchPut for the raw one
// — a few at a time. Writing a pair again gives the same value, so an interrupted restore is
// finished by running it again; the journal (restore-journal.ts) only lets the rerun skip files.

import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '../../client/index.js';
import { FlotillaError, invariant } from '../../common/index.js';
import { BackupCorruptionError } from './errors.js';
import { checkDataFile, recordsOf, type KvRecord } from './format.js';
import {
  MANIFEST_BYTES_MAX, RESTORE_BATCH_ATTEMPTS_MAX, RESTORE_CONCURRENCY_DEFAULT, RESTORE_CONCURRENCY_MAX, RESTORE_TXN_BYTES_MAX, RESTORE_TXN_KEYS_MAX,
} from './limits.js';
import { MANIFEST_FILE, parseManifest, type Manifest, type ManifestFile } from './manifest.js';
import { ProgressMeter, type ProgressCallback, type RestorePhase } from './progress.js';
import { RESTORE_PROGRESS_FILE, RestoreJournal } from './restore-journal.js';

export interface RestoreOptions {
  readonly onProgress?: ProgressCallback<RestorePhase>;
  /** Aborting stops handing out batches; in-flight ones finish; rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Keys per transaction, 1 … 1,000 (default 1,000); a transaction also stops at 1 MiB of pairs. */
  readonly txnKeys?: number;
  /** Batches (transactions or raw batchPuts) in flight, 1 … 64 (default 4). */
  readonly concurrency?: number;
  /**
   * The target cluster's id (a PdClient's clusterId: the client does not expose it). With it,
   * finished files are recorded in the journal and skipped by a rerun; without it, a rerun
   * writes every file again (still correct).
   */
  readonly targetClusterId?: bigint;
  /** Where the journal lives (default `<dir>/restore-progress.json`); null: no journal. */
  readonly journalPath?: string | null;
}

export interface RestoreSummary {
  readonly backupTs: bigint;
  readonly files: number;
  /** Files the journal said were written already. */
  readonly filesSkipped: number;
  readonly txnKeysWritten: number;
  readonly rawKeysWritten: number;
}

/**
 * Restores the backup in `dir` into the cluster `client` is connected to. Meant for an empty
 * target: keys of the target that the backup lacks are left as they are. Rejects, before writing
 * anything, with BackupCorruptionError (no manifest, a bad manifest, a missing file, a size or
 * checksum mismatch, a truncated or malformed file, counts that differ) or
 * UnsupportedBackupVersionError; later with the client's errors after RESTORE_BATCH_ATTEMPTS_MAX
 * attempts of a batch, or the signal's reason on abort. Any rejection may leave some pairs
 * written: run the restore again to finish it.
 */
export async function restoreCluster(client: Client, dir: string, options: RestoreOptions = {}): Promise<RestoreSummary> {
  const txnKeysMax = options.txnKeys ?? RESTORE_TXN_KEYS_MAX;
  const concurrency = options.concurrency ?? RESTORE_CONCURRENCY_DEFAULT;
  if (!Number.isSafeInteger(txnKeysMax) || txnKeysMax < 1 || txnKeysMax > RESTORE_TXN_KEYS_MAX) throw new FlotillaError('InvalidArgument', `txnKeys ${txnKeysMax} must be an integer within [1, ${RESTORE_TXN_KEYS_MAX}]`);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > RESTORE_CONCURRENCY_MAX) throw new FlotillaError('InvalidArgument', `concurrency ${concurrency} must be an integer within [1, ${RESTORE_CONCURRENCY_MAX}]`);
  options.signal?.throwIfAborted();

  const { manifest, manifestSha256 } = await readManifest(dir);
  const totals = { keys: manifest.totals.txnKeys + manifest.totals.rawKeys, bytes: manifest.totals.dataBytes };
  const meter = new ProgressMeter<RestorePhase>('verify', options.onProgress, totals);
  for (const file of manifest.files) {
    options.signal?.throwIfAborted();
    await readCheckedFile(dir, file);
    meter.add(file.keys, file.dataBytes);
  }

  const journalPath = options.journalPath === undefined ? join(dir, RESTORE_PROGRESS_FILE) : options.journalPath;
  const journal = options.targetClusterId === undefined || journalPath === null ? null : await RestoreJournal.load(journalPath, options.targetClusterId, manifestSha256);
  meter.startPhase('restore', 'reset', totals);
  let filesSkipped = 0;
  let txnKeysWritten = 0;
  let rawKeysWritten = 0;
  for (const file of manifest.files) {
    if (journal?.isFinished(file.name) === true) {
      filesSkipped++;
      meter.add(file.keys, file.dataBytes);
      continue;
    }
    options.signal?.throwIfAborted();
    const bytes = await readCheckedFile(dir, file);
    const write = file.keySpace === 'txn' ? (b: readonly KvRecord[]) => writeTxnBatch(client, b) : (b: readonly KvRecord[]) => writeRawBatch(client, b);
    const keysMax = file.keySpace === 'txn' ? txnKeysMax : RESTORE_TXN_KEYS_MAX;
    await runBatches(batchesOf(recordsOf(bytes, file.name), keysMax, RESTORE_TXN_BYTES_MAX), concurrency, options.signal, async (batch) => {
      await write(batch);
      meter.add(batch.length, batch.reduce((n, r) => n + r.key.length + r.value.length, 0));
    });
    if (file.keySpace === 'txn') txnKeysWritten += file.keys;
    else rawKeysWritten += file.keys;
    await journal?.markFinished(file.name);
  }
  meter.startPhase('done', 'keep', totals);
  return { backupTs: BigInt(manifest.backupTs), files: manifest.files.length, filesSkipped, txnKeysWritten, rawKeysWritten };
}

/** The manifest, validated, and the SHA-256 of its bytes (the journal's name for this backup). */
export async function readManifest(dir: string): Promise<{ manifest: Manifest; manifestSha256: string }> {
  const path = join(dir, MANIFEST_FILE);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupCorruptionError('noManifest', MANIFEST_FILE, `${dir} has no ${MANIFEST_FILE}: not a backup, or a backup that never finished`, { cause: err });
    throw err;
  }
  if (size > MANIFEST_BYTES_MAX) throw new BackupCorruptionError('badManifest', MANIFEST_FILE, `${size} bytes, over the ${MANIFEST_BYTES_MAX}-byte limit`);
  const bytes = await readFile(path);
  return { manifest: parseManifest(bytes.toString('utf8')), manifestSha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * The file's bytes after every check against the manifest: present, its size, its SHA-256, its
 * structure (format.ts), its key space and counts. Throws BackupCorruptionError naming the file.
 */
export async function readCheckedFile(dir: string, file: ManifestFile): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, file.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupCorruptionError('missingFile', file.name, 'is listed in the manifest but missing', { cause: err });
    throw err;
  }
  if (bytes.length !== file.fileBytes) {
    const reason = bytes.length < file.fileBytes ? 'truncated' : 'checksumMismatch';
    throw new BackupCorruptionError(reason, file.name, `has ${bytes.length} bytes, the manifest says ${file.fileBytes}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== file.sha256) throw new BackupCorruptionError('checksumMismatch', file.name, `SHA-256 is ${sha256}, the manifest says ${file.sha256}`);
  const summary = checkDataFile(bytes, file.name);
  if (summary.keySpace !== file.keySpace || summary.keys !== file.keys || summary.dataBytes !== file.dataBytes) {
    throw new BackupCorruptionError('countMismatch', file.name, `holds ${summary.keys} ${summary.keySpace} keys of ${summary.dataBytes} bytes, the manifest says ${file.keys} ${file.keySpace} keys of ${file.dataBytes} bytes`);
  }
  return bytes;
}

/** Consecutive records in batches of at most `keysMax` keys and `bytesMax` bytes (a larger record alone). */
export function* batchesOf(records: Iterable<KvRecord>, keysMax: number, bytesMax: number): Generator<KvRecord[]> {
  let batch: KvRecord[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = r.key.length + r.value.length;
    if (batch.length > 0 && (batch.length >= keysMax || bytes + size > bytesMax)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(r);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}

/**
 * Runs `write` over `batches` with at most `concurrency` in flight. After the first failure or an
 * abort no new batch starts; the ones in flight are awaited (no write is left floating), then the
 * failure (or the signal's reason) is thrown.
 */
async function runBatches(batches: Iterator<KvRecord[]>, concurrency: number, signal: AbortSignal | undefined, write: (batch: KvRecord[]) => Promise<void>): Promise<void> {
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && signal?.aborted !== true) {
      const next = batches.next();
      if (next.done === true) return;
      try {
        await write(next.value);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failure !== null) throw (failure as { err: unknown }).err;
  signal?.throwIfAborted();
}

/** One transaction putting every pair; retried when its outcome is unknown (the same puts again are harmless). */
async function writeTxnBatch(client: Client, batch: readonly KvRecord[]): Promise<void> {
  invariant(batch.length > 0 && batch.length <= RESTORE_TXN_KEYS_MAX, 'a restore transaction holds 1 … RESTORE_TXN_KEYS_MAX keys');
  await withAttempts(() =>
    client.withTransaction(async (txn) => {
      for (const r of batch) txn.put(r.key, r.value);
    }),
  );
}

async function writeRawBatch(client: Client, batch: readonly KvRecord[]): Promise<void> {
  await withAttempts(() => client.raw.batchPut(batch.map((r) => [r.key, r.value] as const)));
}

/**
 * Runs `write` until it succeeds, RESTORE_BATCH_ATTEMPTS_MAX times at most, retrying retryable
 * errors and the unknown outcomes (CommitUnknown, OutcomeUnknown) that an application must not
 * retry but a restore may: writing the backup's values again cannot undo anything of its own.
 */
async function withAttempts(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      const isRetryable = err instanceof FlotillaError && (err.retryable || err.code === 'CommitUnknown' || err.code === 'OutcomeUnknown');
      if (!isRetryable || attempt >= RESTORE_BATCH_ATTEMPTS_MAX) throw err;
    }
  }
}
