// resolveLock on one key: once the primary decided the transaction, its secondaries follow —
// commit at the primary's commit_ts, or roll back (commit_ts 0).

import { type Ts } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type KeyRecords, type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { commit } from './commit.js';
import { rollbackLock } from './common.js';

export type ResolveOutcome = { readonly kind: 'resolved' } | { readonly kind: 'notOurs' };

/** The slot ts resolveLockOnKey needs its records read at: commit_ts to commit, start_ts to roll back. */
export function resolveSlotTs(startTs: Ts, commitTs: Ts): Ts {
  return commitTs === 0n ? startTs : commitTs;
}

/**
 * Resolves `key`'s lock if it belongs to `startTs` (commitTs > 0: commit; 0: roll back), given its
 * records read with slot ts = resolveSlotTs(startTs, commitTs). A key without such a lock is left
 * alone ('notOurs'): already resolved, or never locked.
 */
export async function resolveLockOnKey(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, records: KeyRecords, startTs: Ts, commitTs: Ts,
): Promise<ResolveOutcome | TxnError> {
  const { lock } = records;
  if (lock === null || lock.startTs !== startTs) return { kind: 'notOurs' };
  if (commitTs === 0n) {
    rollbackLock(buf, key, lock, records);
    return { kind: 'resolved' };
  }
  const outcome = await commit(buf, reader, key, startTs, commitTs, records);
  return outcome.kind === 'error' ? outcome : { kind: 'resolved' };
}
