// Quiet mode (hibernation) vocabulary: when a leader may let its group stop ticking, and how the
// quiesce heartbeat travels. The transitions themselves live in raft.ts (they touch the role's
// state); this file holds what a host reads and what goes on the wire.
//
//            quiesce() (leader, quiesceCheck() ok)          any other input, wake()
//   awake ──────────────────────────────────────────► quiet ───────────────────────► awake
//         ◄── quiesce heartbeat matching our last entry,        (leader: heartbeats at once,
//             from our leader of our term (follower)             lease off until fresh acks;
//                                                                follower: new election timer)
//
// Wire form (README "Quiet mode"): a quiesce heartbeat is an ordinary MsgHeartbeat whose
// `context` is QUIESCE_CONTEXT and whose `logTerm` is the leader's last term; its `commit` is the
// leader's commit, which then equals its last index. A follower that goes quiet does not answer;
// one that does not answers as to any heartbeat, echoing the marker, and that answer wakes the
// leader. A node that knows nothing of quiet mode therefore refuses by construction.
import { type NodeId } from './types.js';

/** `context` of a quiesce heartbeat, echoed by a follower that refuses it (or asks its leader to wake). */
export const QUIESCE_CONTEXT: Uint8Array = Uint8Array.from('\u0000quiesce', (c) => c.charCodeAt(0));

export function isQuiesceContext(ctx: Uint8Array): boolean {
  return isContext(ctx, QUIESCE_CONTEXT);
}

/** Whether a message's `context` is exactly `marker` (the markers raft puts there). */
export function isContext(ctx: Uint8Array, marker: Uint8Array): boolean {
  if (ctx.length !== marker.length) return false;
  for (let i = 0; i < ctx.length; i++) if (ctx[i] !== marker[i]) return false;
  return true;
}

/** Why a leader may not go quiet now. The host retries later (e.g. on its next idle check). */
export type QuiesceBlocker =
  | { readonly kind: 'notLeader' }
  | { readonly kind: 'alreadyQuiet' }
  /** A Ready is outstanding or there is something to hand out: process it first. */
  | { readonly kind: 'readyPending' }
  | { readonly kind: 'leaderTransferring'; readonly transfereeId: NodeId }
  | { readonly kind: 'readsPending'; readonly count: number }
  | { readonly kind: 'confChangePending'; readonly pendingConfIndex: number; readonly applied: number }
  | { readonly kind: 'entriesUncommitted'; readonly committed: number; readonly lastIndex: number }
  | { readonly kind: 'entriesUnapplied'; readonly applied: number; readonly committed: number }
  /** A member (voter or learner; the leader itself for its own durable copy) lacks the last entry. */
  | { readonly kind: 'peerBehind'; readonly peerId: NodeId; readonly match: number; readonly lastIndex: number }
  /** A member has not been heard from since the last check-quorum round (or since waking). */
  | { readonly kind: 'peerInactive'; readonly peerId: NodeId };

/** Result of `quiesceCheck()` and `quiesce()`: `ok` means the leader may go (or went) quiet. */
export type QuiesceCheck = { readonly kind: 'ok' } | QuiesceBlocker;

export const QUIESCE_OK: QuiesceCheck = Object.freeze({ kind: 'ok' });

/** What woke a quiet node (for logs and tests). */
export type WakeCause = 'message' | 'proposal' | 'readIndex' | 'transfer' | 'campaign' | 'confChange' | 'host';
