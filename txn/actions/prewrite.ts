// Percolator prewrite of one mutation (the first phase of 2PC): lock the key for the transaction
// and stage its value, unless another transaction holds the key or committed after our start.
//
// The conflict check looks at the key's newest write record of any kind. In the common case that
// costs no read beyond the command's one multiGet of locks and latest records: the latest
// record's maxWriteTs bounds every write record of the key (records/latest.ts, invariant M), so
// no latest record, or maxWriteTs < start_ts, means no record at or after start_ts — no conflict,
// no own rollback, no own commit — exactly what seekWrite(key, TS_MAX) would have found.
// Otherwise one point get at maxWriteTs, and the iterator only when GC left the bound above every
// record (MvccReader.newestWriteFrom).

import { invariant, type Ts } from '../../common/pure.js';
import { keyIsLocked, type TxnError } from '../errors.js';
import { SHORT_VALUE_BYTES_MAX } from '../limits.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type LatestRecord } from '../records/latest.js';
import { type Lock } from '../records/lock.js';
import { type Write } from '../records/write.js';
import { putWriteRecord } from './common.js';

export type Mutation =
  | { readonly kind: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly kind: 'delete'; readonly key: Buffer }
  /** Locks the key without changing it (SELECT … FOR UPDATE: conflicts, but readers ignore it). */
  | { readonly kind: 'lock'; readonly key: Buffer }
  /** Asserts the key has no value; writes nothing (unique checks). */
  | { readonly kind: 'checkNotExists'; readonly key: Buffer }
  /** A put that asserts the key has no value first (TiKV's Insert): checkNotExists, then put. */
  | { readonly kind: 'insert'; readonly key: Buffer; readonly value: Buffer };

export interface TxnProps {
  readonly primary: Buffer;
  readonly startTs: Ts;
  readonly lockTtlMs: number;
  readonly txnSize: number;
  /** The lock's min_commit_ts is max(this, start_ts + 1). */
  readonly minCommitTs: Ts;
}

/**
 * What a prewrite leaves on the key: a lock (two-phase commit), or — one-phase commit, when the
 * mutations are the whole transaction — its commit record at `commitTs` right away. Unlike
 * commit, no record can sit in that slot: the check found none at or after start_ts < commitTs
 * (a rollback there would have been a WriteConflict), and the latch keeps it so.
 */
export type PrewriteMode =
  | { readonly kind: 'lock' }
  | { readonly kind: 'onePc'; readonly commitTs: Ts };

const LOCK_MODE: PrewriteMode = { kind: 'lock' };

export type PrewriteOutcome =
  | { readonly kind: 'prewritten' }
  /** Our lock was already there: a retried prewrite (idempotent, nothing written). */
  | { readonly kind: 'alreadyLocked' }
  /** Our commit record is already the newest write: a prewrite retried after the commit. */
  | { readonly kind: 'alreadyCommitted'; readonly commitTs: Ts }
  /** checkNotExists passed (an insert that passes its check is 'prewritten'). */
  | { readonly kind: 'checked' };

/**
 * Prewrites `mutation` for `props`. `lock` and `latest` are the key's lock and latest record as
 * read from the reader's snapshot (the command fetches all of them in one multiGet). Errors:
 * KeyIsLocked (another transaction's lock), WriteConflict (a write with commit_ts ≥ start_ts),
 * AlreadyRolledBack (a rollback of this start_ts is recorded on the key), KeyAlreadyExists
 * (checkNotExists and insert: the newest committed put/delete is a put). An insert whose lock is
 * already there is a retry and answers alreadyLocked without checking again, as a put does.
 */
export async function prewrite(
  buf: MvccWriteBuffer, reader: MvccReader, props: TxnProps, mutation: Mutation, lock: Lock | null, latest: LatestRecord | null,
  mode: PrewriteMode = LOCK_MODE,
): Promise<PrewriteOutcome | TxnError> {
  const { key } = mutation;
  if (lock !== null) {
    if (lock.startTs !== props.startTs) return keyIsLocked(key, lock);
    if (mutation.kind !== 'checkNotExists') return { kind: 'alreadyLocked' };
  }
  // The newest write if at or after start_ts (else null): by the latest record alone when
  // maxWriteTs < start_ts — strictly less: a record AT start_ts is our own rollback (or another's
  // commit carrying the overlapped flag) and must be seen.
  const newest = await reader.newestWriteFrom(key, props.startTs, latest);
  if (newest !== null) {
    const { write, commitTs } = newest;
    const isOurRollback = commitTs === props.startTs &&
      ((write.kind === 'rollback' && write.startTs === props.startTs) || write.hasOverlappedRollback);
    if (isOurRollback) return { kind: 'error', code: 'AlreadyRolledBack', key, startTs: props.startTs };
    if (write.startTs === props.startTs && write.kind !== 'rollback') return { kind: 'alreadyCommitted', commitTs };
    return {
      kind: 'error', code: 'WriteConflict', key, primary: props.primary, startTs: props.startTs,
      conflictStartTs: write.startTs, conflictCommitTs: commitTs,
    };
  }
  if (mutation.kind === 'checkNotExists' || mutation.kind === 'insert') {
    // The newest put/delete is the latest record's data part (invariant D): no read. Every
    // record at or after start_ts was a conflict above, so this is the newest committed before it.
    if (latest?.data?.write.kind === 'put') return { kind: 'error', code: 'KeyAlreadyExists', key };
    if (mutation.kind === 'checkNotExists') return { kind: 'checked' };
  }
  let shortValue: Buffer | null = null;
  if (mutation.kind === 'put' || mutation.kind === 'insert') {
    if (mutation.value.length <= SHORT_VALUE_BYTES_MAX) shortValue = mutation.value;
    else buf.putValue(key, props.startTs, mutation.value);
  }
  if (mode.kind === 'onePc') {
    // Committed at once. Invariant D of records/latest.ts holds as in commit (actions/commit.ts):
    // the check above found no write at or after start_ts, the command holds the key's latch,
    // and commitTs > start_ts — so every data write on the key is older than this one.
    const { commitTs } = mode;
    invariant(commitTs > props.startTs, () => `one-phase commit_ts ${commitTs} must exceed start_ts ${props.startTs}`);
    // (Not maxWriteTs < start_ts: after GC the bound may lie above every record left.)
    invariant(latest === null || latest.data === null || latest.data.commitTs < props.startTs,
      () => `one-phase commit of start_ts ${props.startTs} under a newer data write`);
    const write: Write = {
      kind: mutation.kind === 'insert' ? 'put' : mutation.kind, startTs: props.startTs, shortValue, hasOverlappedRollback: false, isProtected: false,
    };
    putWriteRecord(buf, key, commitTs, write, latest);
    return { kind: 'prewritten' };
  }
  const minCommitTs = props.minCommitTs > props.startTs ? props.minCommitTs : props.startTs + 1n;
  buf.putLock(key, {
    kind: mutation.kind === 'insert' ? 'put' : mutation.kind, primary: props.primary, startTs: props.startTs, ttlMs: props.lockTtlMs,
    shortValue, txnSize: props.txnSize, minCommitTs,
  });
  return { kind: 'prewritten' };
}
