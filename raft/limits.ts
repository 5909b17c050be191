// Every bound the raft library enforces by default, each with the reason for its value.
// They are defaults for Config fields; validate() checks the relations between them.
import { invariant } from '../common/pure.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/**
 * Bytes of entries per MsgApp. Bigger batches amortise per-message cost; smaller ones keep a
 * single slow message from delaying heartbeats on the same stream. TiKV uses 1 MiB.
 */
export const APPEND_BYTES_PER_MSG_MAX = 1 * MiB;

/**
 * MsgApps in flight per follower in replicate state. Throughput per follower is at most
 * window × batch / RTT: 256 × 1 MiB at 10 ms would be 25 GiB/s, so the window never limits a
 * healthy link, while a dead follower can pin at most 256 messages of memory in the transport.
 */
export const APPEND_INFLIGHT_MSGS_MAX = 256;

/**
 * Bytes of appends in flight per follower (0 = no byte limit). By Little's law the throughput is
 * at most this / RTT: 32 MiB at 10 ms is 3.2 GiB/s, far above what one region needs.
 */
export const APPEND_INFLIGHT_BYTES_MAX = 32 * MiB;

/** One proposal; a larger one gets `entry-too-large` instead of stalling the whole group. */
export const RAFT_ENTRY_BYTES_MAX = 8 * MiB;

/**
 * Payload bytes proposed but not yet committed on a leader. Bounds the memory a leader that
 * cannot commit (lost quorum) accumulates; proposals beyond it are refused with
 * `uncommitted-limit` so the client backs off. Must admit at least one maximal entry.
 */
export const UNCOMMITTED_BYTES_MAX = 64 * MiB;

/** Committed entry bytes handed to the caller in one Ready; keeps apply batches bounded. */
export const COMMITTED_BYTES_PER_READY_MAX = 16 * MiB;

/** Pending ReadIndex requests on a leader; beyond this they are refused (caller retries). */
export const READ_INDEX_PENDING_MAX = 4096;

/** Default ticks between heartbeats. */
export const HEARTBEAT_TICKS_DEFAULT = 2;
/** Default election timeout in ticks; randomized in [this, 2 × this) per Raft §5.2. */
export const ELECTION_TICKS_DEFAULT = 10;

invariant(APPEND_INFLIGHT_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX, 'an inflight byte window must admit one maximal entry');
invariant(UNCOMMITTED_BYTES_MAX >= RAFT_ENTRY_BYTES_MAX, 'the uncommitted limit must admit one maximal entry');
invariant(ELECTION_TICKS_DEFAULT > HEARTBEAT_TICKS_DEFAULT, 'election timeout must exceed the heartbeat interval');
