// The errors backup and restore throw. Each is a FlotillaError with a code from the one registry
// (common/errors.ts), so callers branch on `code` or `instanceof`; `details` carries the file and
// what was wrong. An abort (options.signal) rejects with the signal's reason, as Node's own APIs do.

import { FlotillaError } from '../../common/index.js';

/** What was wrong with a backup's files. */
export type CorruptionReason =
  /** No manifest.json: the backup never finished (or is not a backup). */
  | 'noManifest'
  /** manifest.json is not valid JSON or misses fields. */
  | 'badManifest'
  /** A file the manifest lists is absent. */
  | 'missingFile'
  /** A file's size or SHA-256 differs from the manifest's. */
  | 'checksumMismatch'
  /** A data file ends before its end record. */
  | 'truncated'
  /** A data file's bytes do not decode (bad magic, tag, length, order, CRC, bytes after the end). */
  | 'malformed'
  /** A data file decodes but holds other key counts than the manifest says. */
  | 'countMismatch';

/** A backup's files fail a check. Nothing from the file named in `file` was written. */
export class BackupCorruptionError extends FlotillaError {
  override readonly name = 'BackupCorruptionError';
  constructor(
    readonly reason: CorruptionReason,
    readonly file: string,
    message: string,
    options: { offset?: number; cause?: unknown } = {},
  ) {
    super('Corruption', `backup file ${file}: ${message}`, { details: { reason, file, ...(options.offset === undefined ? {} : { offset: options.offset }) }, cause: options.cause });
  }
}

/** The manifest or a data file names a format version this code does not read. */
export class UnsupportedBackupVersionError extends FlotillaError {
  override readonly name = 'UnsupportedBackupVersionError';
  constructor(
    readonly file: string,
    readonly version: unknown,
    readonly supported: number,
  ) {
    super('InvalidArgument', `backup file ${file}: format version ${JSON.stringify(version)} is not supported (this build reads version ${supported})`, { details: { file, version, supported } });
  }
}

/** backupCluster was pointed at a directory that already holds a finished backup. */
export class BackupExistsError extends FlotillaError {
  override readonly name = 'BackupExistsError';
  constructor(readonly dir: string) {
    super('InvalidArgument', `backup directory ${dir} already holds a backup (manifest.json); choose another directory or pass overwrite`, { details: { dir } });
  }
}

/** The GC safe point passed the backup's ts while it was being read: versions it needs may be gone. */
export class BackupTsTooOldError extends FlotillaError {
  override readonly name = 'BackupTsTooOldError';
  constructor(
    readonly backupTs: bigint,
    readonly gcSafePoint: bigint,
  ) {
    super('Unavailable', `the GC safe point ${gcSafePoint} is above the backup ts ${backupTs}: versions the backup reads may have been collected; run the backup again`, {
      details: { backupTs: backupTs.toString(), gcSafePoint: gcSafePoint.toString() },
    });
  }
}
