// checkTxnStatus on a transaction's primary key: the question a blocked reader (or a resolver)
// asks. The primary's lock or commit record decides the transaction (Percolator §2.2).
//
//   primary lock of start_ts?
//     ├─ yes, TTL expired at current_ts ─► roll it back (protected)        → rolledBack(ttlExpired)
//     ├─ yes, alive ─► push min_commit_ts above caller_start_ts            → locked(ttl left, min_commit_ts)
//     └─ no ─► commit record?  committed → committed(commit_ts) · rolled back → rolledBack
//                               none → per MissingLockAction: write a protected rollback | TxnNotFound

import { type Ts, TS_MAX } from '../../common/pure.js';
import { type TxnError } from '../errors.js';
import { type MvccReader } from '../mvcc/reader.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type Lock } from '../records/lock.js';
import { lockTtlRemainingMs, isLockExpired, rollbackLock, writeRollbackRecord } from './common.js';

/** What to do when the primary has neither a lock nor a record (TiKV's MissingLockAction). */
export type MissingLockAction =
  /** Write a protected rollback so the prewrite, if still in flight, fails. */
  | 'rollback'
  /** Answer TxnNotFound (the caller knows the prewrite may still arrive and will ask again). */
  | 'error';

export type TxnStatus =
  | { readonly kind: 'committed'; readonly commitTs: Ts }
  | { readonly kind: 'rolledBack'; readonly reason: 'ttlExpired' | 'lockNotExist' | 'alreadyRolledBack' }
  | { readonly kind: 'locked'; readonly lock: Lock; readonly ttlRemainingMs: number; readonly isMinCommitTsPushed: boolean };

export interface CheckTxnStatusArgs {
  readonly primary: Buffer;
  readonly startTs: Ts;
  /** The asking reader's start_ts; TS_MAX or 0 means "do not push" (a resolver, not a reader). */
  readonly callerStartTs: Ts;
  readonly currentTs: Ts;
  readonly missingLockAction: MissingLockAction;
}

export async function checkTxnStatus(
  buf: MvccWriteBuffer, reader: MvccReader, args: CheckTxnStatusArgs,
): Promise<TxnStatus | TxnError> {
  const { primary, startTs } = args;
  // One engine call: the lock, the rollback slot at start_ts and the latest record.
  const records = (await reader.loadKeyRecords([primary], startTs))[0]!;
  const { lock } = records;
  if (lock !== null && lock.startTs === startTs) {
    if (!lock.primary.equals(primary)) {
      return { kind: 'error', code: 'InvalidArgument', message: `checkTxnStatus: key is not the primary of start_ts ${startTs}` };
    }
    if (isLockExpired(lock, args.currentTs)) {
      rollbackLock(buf, primary, lock, records);
      return { kind: 'rolledBack', reason: 'ttlExpired' };
    }
    const canPush = args.callerStartTs !== TS_MAX && args.callerStartTs !== 0n;
    if (canPush && lock.minCommitTs <= args.callerStartTs) {
      // The reader at caller_start_ts may now ignore this lock: whatever commit_ts the owner picks,
      // commit requires it ≥ min_commit_ts > caller_start_ts, so the write is not in its snapshot.
      const pushed: Lock = { ...lock, minCommitTs: args.callerStartTs + 1n };
      buf.putLock(primary, pushed);
      return { kind: 'locked', lock: pushed, ttlRemainingMs: lockTtlRemainingMs(lock, args.currentTs), isMinCommitTsPushed: true };
    }
    return { kind: 'locked', lock, ttlRemainingMs: lockTtlRemainingMs(lock, args.currentTs), isMinCommitTsPushed: false };
  }
  const record = await reader.findTxnCommitRecord(primary, startTs, records.latest);
  switch (record.kind) {
    case 'committed': return { kind: 'committed', commitTs: record.commitTs };
    case 'rolledBack': return { kind: 'rolledBack', reason: 'alreadyRolledBack' };
    case 'none':
      if (args.missingLockAction === 'error') return { kind: 'error', code: 'TxnNotFound', key: primary, startTs };
      writeRollbackRecord(buf, primary, startTs, 'protected', records);
      return { kind: 'rolledBack', reason: 'lockNotExist' };
  }
}
