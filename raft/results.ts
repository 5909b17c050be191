// Results of the RawNode's inputs. Operating conditions (not leader, limits, transfers) are
// values the caller handles, never exceptions; exceptions are reserved for programmer errors.
import { type NodeId } from './types.js';

/** Why an input was refused. */
export type Refusal =
  /** This node is not the leader; `leaderId` is the known leader or 0 (NONE) when unknown. */
  | { readonly kind: 'not-leader'; readonly leaderId: NodeId }
  /** The leader is handing over leadership; retry at the new leader. */
  | { readonly kind: 'leader-transferring'; readonly leaderId: NodeId; readonly transfereeId: NodeId }
  /** This node is no longer a member of the group. */
  | { readonly kind: 'removed' }
  /** Too many payload bytes are proposed and not yet committed; back off. */
  | { readonly kind: 'uncommitted-limit'; readonly uncommittedBytes: number; readonly limitBytes: number }
  /** One entry is over maxEntryBytes. */
  | { readonly kind: 'entry-too-large'; readonly bytes: number; readonly limitBytes: number }
  /** A membership change cannot be proposed now (another is pending, or the joint state forbids it). */
  | { readonly kind: 'conf-change-refused'; readonly reason: string }
  /** Too many ReadIndex requests are waiting for confirmation. */
  | { readonly kind: 'too-many-pending-reads'; readonly limit: number }
  /** A message the node does not accept from the network (local type, or from an unknown peer). */
  | { readonly kind: 'invalid-message'; readonly reason: string };

/**
 * Result of step() and of the proposal-like inputs built on it. For a proposal appended on the
 * leader, `index` and `term` name the entry (its identity, to match against applied entries);
 * they are 0 for every other accepted input.
 */
export type StepResult =
  | { readonly kind: 'ok'; readonly index: number; readonly term: number }
  /** A follower forwarded the proposal/read to the leader; it may still be lost. */
  | { readonly kind: 'forwarded'; readonly leaderId: NodeId }
  | Refusal;

export const STEP_OK: StepResult = Object.freeze({ kind: 'ok', index: 0, term: 0 });

export type ProposeResult = StepResult;
