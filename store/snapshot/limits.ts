// The bounds of region snapshots (issue F7), each with why that value. A snapshot is the region's
// data at one applied index: generated on the leader from a pinned RocksDB snapshot, streamed in
// chunks to one follower, written to a file there, then installed crash-safely (apply.ts).

import assert from 'node:assert';
import { GRPC_MESSAGE_BYTES_MAX } from '../../common/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Payload bytes per data chunk (whole records; one record larger than this travels alone). 1 MiB
 * keeps a sender's and a receiver's buffered bytes small and one gRPC message far below the
 * 64 MiB limit, while a 96 MiB region is still only ~100 messages.
 */
export const SNAPSHOT_CHUNK_BYTES_MAX = 1 * MiB;
/** One record: key ≤ 8 KiB plus a raft entry's worth of value (8 MiB) plus framing. */
export const SNAPSHOT_RECORD_BYTES_MAX = 8 * MiB + 16 * KiB;
/** Engine entries read per scan page while generating (bounds the sender's memory per page). */
export const SNAPSHOT_SCAN_PAGE_KEYS = 1_024;
/**
 * Snapshots this store streams at once. Each pins a RocksDB snapshot (old SST files stay on disk
 * while it lives) and costs a disk read stream; 4 catches up a few regions at once on a 2-core
 * machine without starving the foreground. Past it the send is reported failed at once and raft
 * retries it after the follower's next heartbeat response.
 */
export const SNAPSHOT_SENDS_MAX = 4;
/** Snapshots this store receives at once; past it the stream is refused (RESOURCE_EXHAUSTED). */
export const SNAPSHOT_RECEIVES_MAX = 4;
/**
 * Snapshots installed at once. An install clears and rewrites a region's ranges (disk-bound);
 * more than one at a time only competes for the same disk. Others wait in a queue bounded by the
 * number of regions (a region has at most one install pending: its Ready is outstanding).
 */
export const SNAPSHOT_APPLIES_MAX = 1;
/** A whole snapshot stream, header to Done, must finish within this (a slow link gives up). */
export const SNAPSHOT_SEND_TIMEOUT_MS = 5 * 60_000;
/** A snapshot the receiver holds without raft taking it (refused, or superseded) is dropped after this. */
export const SNAPSHOT_RECEIVED_TTL_MS = 5 * 60_000;
/**
 * A generated snapshot is offered to raft for this long; then a new one is generated, so a
 * follower is not brought to a position far behind the log (and the pinned RocksDB snapshot
 * does not keep obsolete files alive for ever).
 */
export const SNAPSHOT_GENERATED_TTL_MS = 60_000;
/** Keys deleted per engine call while an install clears the region's ranges (bounded work per call). */
export const SNAPSHOT_CLEAR_KEYS_PER_CALL = 10_000;
/** Bytes of records per write batch while an install writes the payload. */
export const SNAPSHOT_APPLY_BATCH_BYTES = 4 * MiB;

assert(SNAPSHOT_CHUNK_BYTES_MAX < SNAPSHOT_RECORD_BYTES_MAX, 'a chunk may carry one oversized record');
assert(SNAPSHOT_RECORD_BYTES_MAX + 1 * MiB < GRPC_MESSAGE_BYTES_MAX, 'a chunk (one record at most of this size) fits a gRPC message');
assert(SNAPSHOT_APPLY_BATCH_BYTES >= SNAPSHOT_CHUNK_BYTES_MAX, 'an install batch holds at least one chunk');
