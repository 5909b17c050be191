// Every bound the transaction layer enforces, with why. Commands check them up front and answer
// LimitExceeded (or InvalidArgument for a malformed value) instead of doing unbounded work.

import assert from 'node:assert';

/** A user key. TiKV's default (8 KiB): keys are copied into every lock, write and index block. */
export const KEY_BYTES_MAX = 8 * 1024;

/**
 * One value. A prewrite of it must fit one raft entry (RAFT_ENTRY_BYTES_MAX = 8 MiB, STYLE.md §2)
 * with room for the key, the lock and framing; TiKV uses the same 6 MiB "txn entry size limit".
 */
export const VALUE_BYTES_MAX = 6 * 1024 * 1024;

/**
 * Values up to this size live inline in the lock and write records — and so in the latest record
 * too: a get is two point lookups (lock, latest), a one-phase commit writes two records per key
 * (write, latest). Longer ones go to the default CF at key ‖ start_ts (a third lookup and record).
 * TiKV inlines up to 255 bytes, to keep the write CF small for the version walks every read does;
 * here reads and conflict checks go through the latest record, not the write CF, so a larger bound
 * costs only bytes: an inline value is written twice (write and latest records). 1 KiB covers the
 * values this store is for — configuration, service records, locks, balances — whose extra copy
 * costs less than a third record; up to 255 bytes the records keep a one-byte length.
 */
export const SHORT_VALUE_BYTES_MAX = 1024;

/**
 * Keys (mutations) per command. Bounds the modifications of one command, hence one raft proposal
 * (4096 × (8 KiB + record) < 40 MiB worst case; typical small keys stay far below 8 MiB — the
 * proposal itself is checked again against the entry limit) and the latch slots held at once.
 */
export const KEYS_PER_COMMAND_MAX = 4096;

/** Pairs per scan request: bounds one reply and the time a snapshot stays pinned. */
export const SCAN_LIMIT_MAX = 10_000;

/** Locks per scanLock / resolveLock-over-a-range batch; callers page with the returned next key. */
export const SCAN_LOCK_LIMIT_MAX = 10_000;

/**
 * A lock's time to live. TTLs beyond this would stall readers for too long behind a crashed
 * client; large transactions refresh with txnHeartBeat instead. 10 minutes fits the u32 encoding.
 */
export const LOCK_TTL_MS_MAX = 10 * 60 * 1000;

/** Keys a gc command examines per range batch; the caller continues from the returned key. */
export const GC_KEYS_PER_BATCH_MAX = 10_000;

/** Versions a scan reads per engine call while skipping old versions of one key. */
export const SCAN_BATCH_ENTRIES = 256;

// Relations between limits.
assert(SHORT_VALUE_BYTES_MAX <= 0xffff, 'inline values must fit a two-byte length');
assert(LOCK_TTL_MS_MAX <= 0xffffffff, 'lock TTL must fit a u32');
assert(KEY_BYTES_MAX <= 0xffff, 'a primary key must fit the lock record\'s u16 length');
assert(VALUE_BYTES_MAX + KEY_BYTES_MAX < 8 * 1024 * 1024, 'a value and its key must fit one raft entry');
