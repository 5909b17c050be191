// Every bound of backup and restore, with its reason. Restore holds one data file in memory while
// it checks and writes it, so the file size bounds restore's memory.

import { invariant } from '../../common/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The client's (and the store's default) key limit: a record with a longer key cannot be restored. */
export const KEY_BYTES_MAX = 8 * KiB;
/** The client's (and the store's default) value limit. */
export const VALUE_BYTES_MAX = 6 * MiB;

/**
 * Target size of one data file: a file is closed at the first record that reaches it, so a file
 * holds at most this plus one record. 32 MiB keeps restore's memory small (one file at a time)
 * while a 100 GiB backup is still only ~3,200 files.
 */
export const CHUNK_BYTES_DEFAULT = 32 * MiB;
/** Smallest chunkBytes accepted (tests use small files to get many of them). */
export const CHUNK_BYTES_MIN = 4 * KiB;
/** Largest chunkBytes accepted: a file must fit in memory on restore. */
export const CHUNK_BYTES_MAX = 1024 * MiB;

/** Staging buffer of the file writer: records are copied in and written once it is full. */
export const WRITE_BUFFER_BYTES = 1 * MiB;

/**
 * One restore transaction: at most this many keys and bytes (TiKV BR's own restore batches are of
 * this order). Small enough that a prewrite per region stays far below the 8 MiB raft entry limit,
 * large enough that 2PC's fixed cost (two TSO calls, two round trips) is shared by many keys.
 */
export const RESTORE_TXN_KEYS_MAX = 1_000;
export const RESTORE_TXN_BYTES_MAX = 1 * MiB;
/** Restore batches in flight at once by default; each is a transaction or a raw batchPut. */
export const RESTORE_CONCURRENCY_DEFAULT = 4;
export const RESTORE_CONCURRENCY_MAX = 64;
/**
 * Attempts of one restore batch whose outcome is unknown (CommitUnknown, OutcomeUnknown) or that
 * timed out. Writing the same values again is harmless, so a retry is safe, unlike for an
 * application's writes; the cap stops a dead cluster from being retried forever.
 */
export const RESTORE_BATCH_ATTEMPTS_MAX = 5;

/** onProgress is called at most once per this interval (plus once at each phase's end). */
export const PROGRESS_INTERVAL_MS = 100;

/** Manifest bytes accepted: a manifest lists files, ~200 bytes each; 64 MiB is ~300,000 files. */
export const MANIFEST_BYTES_MAX = 64 * MiB;

invariant(CHUNK_BYTES_MIN <= CHUNK_BYTES_DEFAULT && CHUNK_BYTES_DEFAULT <= CHUNK_BYTES_MAX, 'backup limits: chunk bounds out of order');
invariant(WRITE_BUFFER_BYTES <= CHUNK_BYTES_DEFAULT, 'backup limits: the staging buffer is larger than a file');
