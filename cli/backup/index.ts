// cli/backup/: backup and restore of a whole cluster (issue F8) as library functions; the
// `flotilla backup` / `flotilla restore` commands are built on these. See README.md.
export { backupCluster, type BackupOptions, type BackupPdView } from './backup.js';
export { restoreCluster, readManifest, readCheckedFile, type RestoreOptions, type RestoreSummary } from './restore.js';
export { BackupCorruptionError, BackupExistsError, BackupTsTooOldError, UnsupportedBackupVersionError, type CorruptionReason } from './errors.js';
export { BACKUP_FORMAT_VERSION, checkDataFile, encodeDataFile, recordsOf, type DataFileSummary, type KeySpace, type KvRecord } from './format.js';
export { MANIFEST_FILE, parseManifest, RAW_CONSISTENCY_NOTE, type Manifest, type ManifestFile, type ManifestTotals } from './manifest.js';
export { RESTORE_PROGRESS_FILE } from './restore-journal.js';
export type { BackupPhase, Progress, ProgressCallback, RestorePhase } from './progress.js';
export * from './limits.js';
