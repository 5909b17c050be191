// Operating errors of the transaction layer, as values (STYLE.md: pure layers return unions).
// Codes are common/errors.ts registry names; each carries what the caller needs to recover.

import { type Ts } from '../common/pure.js';
import { type Lock } from './records/lock.js';

/** What a blocked reader or writer learns about the lock in its way. */
export interface LockInfo {
  readonly key: Buffer;
  readonly primary: Buffer;
  readonly startTs: Ts;
  readonly ttlMs: number;
  readonly kind: Lock['kind'];
  readonly txnSize: number;
  readonly minCommitTs: Ts;
}

export type TxnError =
  | { readonly kind: 'error'; readonly code: 'KeyIsLocked'; readonly lock: LockInfo }
  | {
      readonly kind: 'error'; readonly code: 'WriteConflict'; readonly key: Buffer; readonly primary: Buffer;
      readonly startTs: Ts; readonly conflictStartTs: Ts; readonly conflictCommitTs: Ts;
    }
  | { readonly kind: 'error'; readonly code: 'TxnLockNotFound'; readonly key: Buffer; readonly startTs: Ts; readonly commitTs: Ts }
  | { readonly kind: 'error'; readonly code: 'AlreadyCommitted'; readonly key: Buffer; readonly startTs: Ts; readonly commitTs: Ts }
  | { readonly kind: 'error'; readonly code: 'AlreadyRolledBack'; readonly key: Buffer; readonly startTs: Ts }
  | {
      readonly kind: 'error'; readonly code: 'CommitTsExpired'; readonly key: Buffer; readonly startTs: Ts;
      readonly commitTs: Ts; readonly minCommitTs: Ts;
    }
  | { readonly kind: 'error'; readonly code: 'KeyAlreadyExists'; readonly key: Buffer }
  | { readonly kind: 'error'; readonly code: 'TxnNotFound'; readonly key: Buffer; readonly startTs: Ts }
  | { readonly kind: 'error'; readonly code: 'InvalidArgument' | 'LimitExceeded'; readonly message: string };

export type TxnErrorCode = TxnError['code'];

export function lockInfo(key: Buffer, lock: Lock): LockInfo {
  return {
    key,
    primary: lock.primary,
    startTs: lock.startTs,
    ttlMs: lock.ttlMs,
    kind: lock.kind,
    txnSize: lock.txnSize,
    minCommitTs: lock.minCommitTs,
  };
}

export function keyIsLocked(key: Buffer, lock: Lock): TxnError {
  return { kind: 'error', code: 'KeyIsLocked', lock: lockInfo(key, lock) };
}

export function invalidArgument(message: string): TxnError {
  return { kind: 'error', code: 'InvalidArgument', message };
}

export function limitExceeded(message: string): TxnError {
  return { kind: 'error', code: 'LimitExceeded', message };
}

export function isTxnError(value: unknown): value is TxnError {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'error';
}

/** One line for logs and test failures (keys as short hex). */
export function formatTxnError(error: TxnError): string {
  const hex = (b: Buffer): string => b.subarray(0, 16).toString('hex');
  switch (error.code) {
    case 'KeyIsLocked': return `KeyIsLocked: key ${hex(error.lock.key)} locked by start_ts ${error.lock.startTs}`;
    case 'WriteConflict': return `WriteConflict: key ${hex(error.key)} start_ts ${error.startTs} vs commit_ts ${error.conflictCommitTs}`;
    case 'TxnLockNotFound': return `TxnLockNotFound: key ${hex(error.key)} start_ts ${error.startTs}`;
    case 'AlreadyCommitted': return `AlreadyCommitted: key ${hex(error.key)} start_ts ${error.startTs} at ${error.commitTs}`;
    case 'AlreadyRolledBack': return `AlreadyRolledBack: key ${hex(error.key)} start_ts ${error.startTs}`;
    case 'CommitTsExpired': return `CommitTsExpired: commit_ts ${error.commitTs} < min_commit_ts ${error.minCommitTs}`;
    case 'KeyAlreadyExists': return `KeyAlreadyExists: key ${hex(error.key)}`;
    case 'TxnNotFound': return `TxnNotFound: key ${hex(error.key)} start_ts ${error.startTs}`;
    case 'InvalidArgument':
    case 'LimitExceeded': return `${error.code}: ${error.message}`;
  }
}
