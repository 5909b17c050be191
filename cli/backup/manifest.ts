// manifest.json: what a finished backup holds — format version, cluster, the backup ts, every data
// file with its SHA-256 and counts, totals. It is written last, atomically (temp file, fsync,
// rename, fsync of the directory), so a directory without it is an unfinished backup.
// parseManifest is the gateway: it returns a validated value or throws a typed error.

import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { BackupCorruptionError, UnsupportedBackupVersionError } from './errors.js';
import { BACKUP_FORMAT_VERSION, KEY_SPACES, type KeySpace } from './format.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'flotilla-backup';

/** Stated in every manifest: raw KV has no MVCC, so raw keys cannot be read at the backup ts. */
export const RAW_CONSISTENCY_NOTE =
  'raw keys are copied best-effort by a scan that runs after the transactional one: each raw key is one value it held during the backup, not its value at backupTs';

/** Data file names: `txn-000001.fbk`, `raw-000001.fbk`. */
export const DATA_FILE_PATTERN = /^(txn|raw)-(\d{6,})\.fbk$/;

export function dataFileName(keySpace: KeySpace, index: number): string {
  return `${keySpace}-${String(index).padStart(6, '0')}.fbk`;
}

export interface ManifestFile {
  readonly name: string;
  readonly keySpace: KeySpace;
  readonly keys: number;
  /** Sum of key and value lengths. */
  readonly dataBytes: number;
  /** Size of the file. */
  readonly fileBytes: number;
  /** SHA-256 of the whole file, lowercase hex. */
  readonly sha256: string;
}

export interface ManifestTotals {
  readonly txnKeys: number;
  readonly rawKeys: number;
  readonly dataBytes: number;
  readonly fileBytes: number;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly formatVersion: number;
  /** The source cluster's id (decimal), null when the caller did not know it. */
  readonly clusterId: string | null;
  /** The ts every transactional key was read at (decimal: a u64 does not fit a JSON number). */
  readonly backupTs: string;
  /** ISO 8601, when the backup started. */
  readonly createdAt: string;
  readonly rawConsistency: string;
  /** In key-space order (txn first), each key space's files in key order. */
  readonly files: readonly ManifestFile[];
  readonly totals: ManifestTotals;
}

export function totalsOf(files: readonly ManifestFile[]): ManifestTotals {
  let txnKeys = 0;
  let rawKeys = 0;
  let dataBytes = 0;
  let fileBytes = 0;
  for (const f of files) {
    if (f.keySpace === 'txn') txnKeys += f.keys;
    else rawKeys += f.keys;
    dataBytes += f.dataBytes;
    fileBytes += f.fileBytes;
  }
  return { txnKeys, rawKeys, dataBytes, fileBytes };
}

/** Writes `manifest` as dir/manifest.json atomically and durably. */
export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await writeFileAtomic(dir, MANIFEST_FILE, `${JSON.stringify(manifest, null, 2)}\n`);
}

/** temp file → fsync → rename → fsync of the directory: readers see the old file or the whole new one. */
export async function writeFileAtomic(dir: string, name: string, text: string): Promise<void> {
  const path = join(dir, name);
  const temp = `${path}.tmp`;
  const fh = await open(temp, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined); // the rename's error is the one to report
    throw err;
  }
  await syncDir(dir);
}

/** fsync of a directory, so that a rename or unlink in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Validates manifest.json's text. Throws BackupCorruptionError('badManifest') or UnsupportedBackupVersionError. */
export function parseManifest(text: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${err instanceof Error ? err.message : String(err)})`, err);
  }
  if (!isObject(json)) throw bad('not a JSON object');
  if (json['format'] !== MANIFEST_FORMAT) throw bad(`format is ${JSON.stringify(json['format'])}, expected ${JSON.stringify(MANIFEST_FORMAT)}`);
  if (json['formatVersion'] !== BACKUP_FORMAT_VERSION) throw new UnsupportedBackupVersionError(MANIFEST_FILE, json['formatVersion'], BACKUP_FORMAT_VERSION);
  const clusterId = json['clusterId'];
  if (clusterId !== null && !isDecimal(clusterId)) throw bad('clusterId must be a decimal string or null');
  const backupTs = json['backupTs'];
  if (!isDecimal(backupTs) || BigInt(backupTs) <= 0n) throw bad('backupTs must be a positive decimal string');
  const createdAt = json['createdAt'];
  if (typeof createdAt !== 'string' || Number.isNaN(Date.parse(createdAt))) throw bad('createdAt must be an ISO 8601 date');
  const rawConsistency = json['rawConsistency'];
  if (typeof rawConsistency !== 'string') throw bad('rawConsistency must be a string');
  const filesJson = json['files'];
  if (!Array.isArray(filesJson)) throw bad('files must be an array');
  const files = filesJson.map((f, i) => parseFile(f, i));
  if (new Set(files.map((f) => f.name)).size !== files.length) throw bad('a file is listed twice');
  const totals = totalsOf(files);
  const totalsJson = json['totals'];
  if (!isObject(totalsJson)) throw bad('totals must be an object');
  for (const field of ['txnKeys', 'rawKeys', 'dataBytes', 'fileBytes'] as const) {
    if (totalsJson[field] !== totals[field]) throw bad(`totals.${field} is ${JSON.stringify(totalsJson[field])}, the files add up to ${totals[field]}`);
  }
  return { format: MANIFEST_FORMAT, formatVersion: BACKUP_FORMAT_VERSION, clusterId, backupTs, createdAt, rawConsistency, files, totals };
}

function parseFile(f: unknown, i: number): ManifestFile {
  if (!isObject(f)) throw bad(`files[${i}] is not an object`);
  const { name, keySpace, keys, dataBytes, fileBytes, sha256 } = f;
  // A name is a plain file name of ours: a manifest must not make restore read outside its directory.
  if (typeof name !== 'string' || !DATA_FILE_PATTERN.test(name)) throw bad(`files[${i}].name ${JSON.stringify(name)} is not a data file name`);
  if (typeof keySpace !== 'string' || !(KEY_SPACES as readonly string[]).includes(keySpace) || !name.startsWith(`${keySpace}-`)) throw bad(`files[${i}].keySpace ${JSON.stringify(keySpace)} does not fit ${name}`);
  for (const [field, v] of [['keys', keys], ['dataBytes', dataBytes], ['fileBytes', fileBytes]] as const) {
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw bad(`files[${i}].${field} must be a non-negative integer`);
  }
  if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) throw bad(`files[${i}].sha256 must be 64 lowercase hex digits`);
  return { name, keySpace: keySpace as KeySpace, keys: keys as number, dataBytes: dataBytes as number, fileBytes: fileBytes as number, sha256 };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isDecimal(v: unknown): v is string {
  return typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v) && BigInt(v) < 2n ** 64n;
}

function bad(message: string, cause?: unknown): BackupCorruptionError {
  return new BackupCorruptionError('badManifest', MANIFEST_FILE, message, { cause });
}
