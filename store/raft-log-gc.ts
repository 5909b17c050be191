// Raft log GC: when a region leader proposes CompactLog, and up to which index. Pure: the leader
// passes its applied index, its log's first index and its followers' progress; the decision comes
// back as a value (peer.ts proposes it; every replica applies it, deleting the log up to it).
//
// Invariant kept (until issue F7 brings region snapshots): the compact index never passes the
// match index of ANY follower, recently heard from or not. A follower whose next entry was
// compacted can only be caught up with a snapshot; without snapshots it would stay behind for
// good, and the region would silently run on fewer replicas. So today a lagging (or down)
// follower holds the log back, and the hard limit only makes the leader say so (a warning and a
// gauge) instead of compacting past it.
//
//   held = applied − (first − 1)                      applied entries still in the log
//   held < countLimit and the log's bytes < thresholdBytes ──► skip 'belowLimit'
//   held < countLimit (so the bytes reached thresholdBytes):
//                     target = min(applied, slowest follower's match, active or not) — what
//                     every replica holds already goes (TiKV's "replicated index"): a busy
//                     region's log dies young, mostly still in the memtable, instead of being
//                     flushed and compacted with the data for a minute (10,000 entries of a
//                     busy region are hundreds of MiB); no follower is compacted past, so none
//                     needs a snapshot for it. By bytes, not entries: a region of small writes
//                     (many regions share the traffic) does not pay a CompactLog round a second
//   held ≥ countLimit:
//   target = min(applied, slowest follower's match)   policy 'holdBack' (today)
//          = min(applied, slowest recently active     policy 'compactPast' (with F7's snapshots:
//                follower's match)                    a down follower gets a snapshot), and
//          = applied  when held ≥ hardCountLimit      past the hard limit every lagger does
//   target capped at first − 1 + GC_ENTRIES_PER_COMMAND_MAX (one apply batch stays bounded)
//   (both cases)
//   target ≤ first − 1 ──────────────────────────────► skip 'heldBack' (nothing to compact)
//   else ──────────────────────────────────────────► compact to target; 'isHardLimitHeldBack'
//                                                     says the hard limit passed and a follower
//                                                     kept the log above it

import assert from 'node:assert';

/**
 * Entries one CompactLog deletes at most. Each is one delete in the apply write batch of every
 * replica (19-byte keys: 16 Ki of them is ~300 KiB of keys, a few ms of apply); a log further
 * behind is compacted over several checks.
 */
export const GC_ENTRIES_PER_COMMAND_MAX = 16_384;

/** Defaults of the store flags (store/config.ts), here so their relations are asserted once. */
export const RAFT_LOG_GC_THRESHOLD_BYTES_DEFAULT = 4 * 1024 * 1024;
export const RAFT_LOG_GC_COUNT_LIMIT_DEFAULT = 10_000;
export const RAFT_LOG_GC_HARD_COUNT_LIMIT_DEFAULT = 100_000;
export const RAFT_LOG_GC_CHECK_TICKS_DEFAULT = 10;
assert(RAFT_LOG_GC_HARD_COUNT_LIMIT_DEFAULT > RAFT_LOG_GC_COUNT_LIMIT_DEFAULT);
assert(RAFT_LOG_GC_COUNT_LIMIT_DEFAULT <= GC_ENTRIES_PER_COMMAND_MAX, 'one command compacts a log that just passed the default limit');

export interface RaftLogGcOptions {
  /** Compact what every follower holds once the log holds this many bytes (in the leader's entry cache). */
  readonly thresholdBytes: number;
  /** Compact past lagging followers too (per the policy) once this many applied entries are held. */
  readonly countLimit: number;
  /** Past this many, followers that lag would be compacted past (with F7); today: a warning. */
  readonly hardCountLimit: number;
  /** A leader checks its log every this many ticks. */
  readonly checkTicks: number;
}

/**
 * What to do with a follower that lags behind the index the log could be compacted to:
 * 'holdBack' keeps the log for it (today: there are no region snapshots to catch it up);
 * 'compactPast' compacts anyway and leaves it to a snapshot (issue F7; TiKV's behaviour).
 */
export type LaggingFollowerPolicy = 'holdBack' | 'compactPast';

export interface FollowerProgress {
  readonly match: number;
  /** The leader heard from it within the last election timeout. */
  readonly isRecentlyActive: boolean;
}

export interface RaftLogGcInput {
  readonly applied: number;
  /** The log's first index (truncated index + 1). */
  readonly firstIndex: number;
  /** Bytes of the log's entries the leader holds in memory (its entry cache; less once evicted). */
  readonly heldBytes: number;
  readonly followers: readonly FollowerProgress[];
  readonly policy: LaggingFollowerPolicy;
}

export type RaftLogGcDecision =
  | { readonly kind: 'skip'; readonly reason: 'belowLimit' | 'heldBack'; readonly isHardLimitHeldBack: boolean }
  | { readonly kind: 'compact'; readonly compactIndex: number; readonly isHardLimitHeldBack: boolean };

/** Whether and how far a leader should compact its log (see the file comment). */
export function decideRaftLogGc(input: RaftLogGcInput, options: RaftLogGcOptions): RaftLogGcDecision {
  const truncated = input.firstIndex - 1;
  assert(input.applied >= truncated, `applied ${input.applied} below the truncated index ${truncated}`);
  const held = input.applied - truncated;
  if (held < options.countLimit && (held === 0 || input.heldBytes < options.thresholdBytes)) return { kind: 'skip', reason: 'belowLimit', isHardLimitHeldBack: false };
  let slowest = input.applied;
  let slowestActive = input.applied;
  for (const f of input.followers) {
    slowest = Math.min(slowest, f.match);
    if (f.isRecentlyActive) slowestActive = Math.min(slowestActive, f.match);
  }
  if (held < options.countLimit) {
    const replicated = Math.min(slowest, truncated + GC_ENTRIES_PER_COMMAND_MAX);
    if (replicated <= truncated) return { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack: false };
    return { kind: 'compact', compactIndex: replicated, isHardLimitHeldBack: false };
  }
  const isPastHardLimit = held >= options.hardCountLimit;
  let target: number;
  if (input.policy === 'holdBack') target = slowest;
  else target = isPastHardLimit ? input.applied : slowestActive;
  target = Math.min(target, truncated + GC_ENTRIES_PER_COMMAND_MAX);
  const isHardLimitHeldBack = isPastHardLimit && target < input.applied && target === slowest;
  if (target <= truncated) return { kind: 'skip', reason: 'heldBack', isHardLimitHeldBack };
  return { kind: 'compact', compactIndex: target, isHardLimitHeldBack };
}
