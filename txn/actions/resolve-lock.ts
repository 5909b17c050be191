// resolveLock on one key: once the primary decided the transaction, its secondaries follow —
// commit at the primary's commit_ts, or roll back (commit_ts 0).

import { type Ts } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type Lock } from '../records/lock.js';
import { commit } from './commit.js';
import { rollbackLock } from './common.js';

export type ResolveOutcome = { readonly kind: 'resolved' } | { readonly kind: 'notOurs' };

/**
 * Resolves `key`'s lock if it belongs to `startTs` (commitTs > 0: commit; 0: roll back). A key
 * without such a lock is left alone ('notOurs'): already resolved, or never locked.
 */
export async function resolveLockOnKey(
  buf: MvccWriteBuffer, reader: MvccReader, key: Buffer, lock: Lock | null, startTs: Ts, commitTs: Ts,
): Promise<ResolveOutcome | TxnError> {
  if (lock === null || lock.startTs !== startTs) return { kind: 'notOurs' };
  if (commitTs === 0n) {
    await rollbackLock(buf, reader, key, lock);
    return { kind: 'resolved' };
  }
  const outcome = await commit(buf, reader, key, startTs, commitTs);
  return outcome.kind === 'error' ? outcome : { kind: 'resolved' };
}
