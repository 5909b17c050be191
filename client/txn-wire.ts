// The transactional answers as the client reads them: a lock a reader met, and a KeyError turned
// into the error the application sees (or into "resolve this lock first").

import { FlotillaError, u64FromWire, type Ts } from '../common/index.js';
import type { kvrpcpb } from '../proto/index.js';
import { TxnAbortedError, WriteConflictError } from './errors.js';

export interface LockInfo {
  readonly key: Buffer;
  readonly primary: Buffer;
  readonly startTs: Ts;
  /** TTL in ms counted from startTs's physical part. */
  readonly ttlMs: number;
  readonly txnSize: number;
  readonly minCommitTs: Ts;
}

export function lockFromWire(l: kvrpcpb.LockInfo): LockInfo {
  return {
    key: l.key,
    primary: l.primaryLock,
    startTs: u64FromWire(l.lockVersion, 'lock.lockVersion'),
    ttlMs: Number(l.lockTtl),
    txnSize: Number(l.txnSize),
    minCommitTs: u64FromWire(l.minCommitTs, 'lock.minCommitTs'),
  };
}

/** The lock of a KeyIsLocked error, or null for any other kind. */
export function lockOf(e: kvrpcpb.KeyError | null | undefined): LockInfo | null {
  return e !== null && e !== undefined && e.kind === 'locked' && e.locked !== null && e.locked !== undefined ? lockFromWire(e.locked) : null;
}

/** A KeyError other than KeyIsLocked as the error the caller throws. */
/**
 * Builds an error without capturing a stack: a write conflict is an outcome, not a fault — under
 * contention a third of all transactions meet one, and V8's stack capture (async frames included)
 * was 4 % of a contended client's CPU. The error's `stack` is its first line only.
 */
function withoutStack<T>(make: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function keyErrorToError(e: kvrpcpb.KeyError, startTs: Ts): FlotillaError {
  switch (e.kind) {
    case 'conflict':
      return withoutStack(() => new WriteConflictError(`transaction ${startTs}: write conflict on a key (committed at ${e.conflict?.conflictCommitTs ?? '?'} by a transaction started at ${e.conflict?.conflictTs ?? '?'})`, {
        details: { key: e.conflict?.key, conflictTs: e.conflict?.conflictTs, conflictCommitTs: e.conflict?.conflictCommitTs },
      }));
    case 'txnLockNotFound':
    case 'alreadyRolledBack':
      return new TxnAbortedError(`transaction ${startTs} was rolled back (${e.message})`);
    case 'alreadyCommitted':
      return new FlotillaError('AlreadyCommitted', e.message, { details: { commitTs: e.alreadyCommitted?.commitTs } });
    case 'commitTsExpired':
      return new FlotillaError('CommitTsExpired', e.message, { details: { minCommitTs: e.commitTsExpired?.minCommitTs } });
    case 'alreadyExist':
      return new FlotillaError('KeyAlreadyExists', e.message, { details: { key: e.alreadyExist?.key } });
    case 'txnNotFound':
      return new FlotillaError('TxnNotFound', e.message);
    case 'locked':
      return new FlotillaError('KeyIsLocked', e.message);
    case undefined:
      return new FlotillaError('Internal', `unknown key error from the store: ${e.message}`);
  }
}
