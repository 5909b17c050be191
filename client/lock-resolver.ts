// What a reader (or a prewrite) does about another transaction's locks (Percolator's "roll
// forward or roll back"): ask the lock's primary for the transaction's fate (CheckTxnStatus, which
// also rolls back an expired primary and pushes a live one's min_commit_ts past the reader), then
//
//   committed   → commit the locks met (ResolveLock at its commit ts), the reader retries
//   rolled back → roll them back (ResolveLock at 0), the reader retries
//   alive, min_commit_ts pushed past the reader → the reader bypasses the transaction's locks
//                 (it will commit above the reader's ts, so the reader's snapshot cannot include it)
//   alive       → the caller backs off (up to the lock's expiry) and retries
//
// Final fates are cached (bounded), so the next reader of another key of the same transaction
// resolves without asking the primary again.

import { physicalMsOf, u64FromWire, u64ToWire, type Logger, type Ts } from '../common/index.js';
import type { KvRpc } from './kv-rpc.js';
import type { ClientMetrics } from './metrics.js';
import type { LockInfo } from './txn-wire.js';

/** Transactions whose fate is remembered; the oldest is forgotten past it. */
export const RESOLVED_TXNS_CACHED_MAX = 4_096;

type TxnStatus = { readonly kind: 'committed'; readonly commitTs: Ts } | { readonly kind: 'rolledBack' } | { readonly kind: 'alive'; readonly minCommitTs: Ts; readonly ttlMs: number; readonly startTs: Ts };

export interface ResolveOutcome {
  /** start_ts of live transactions the reader may bypass (their min_commit_ts is above it). */
  readonly bypass: Ts[];
  /** Locks of live transactions that still block: the caller backs off and retries. */
  readonly blocked: number;
  /** How long until the soonest of those expires, ms (0 if none). */
  readonly msUntilExpiry: number;
}

export class LockResolver {
  private readonly fates = new Map<Ts, TxnStatus>();

  constructor(
    private readonly rpc: KvRpc,
    private readonly currentTs: () => Promise<Ts>,
    private readonly metrics: ClientMetrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Resolves the locks a caller at `callerStartTs` met (0 for a writer: it cannot bypass).
   * Idempotent: every request it sends is keyed by the lock's start_ts.
   */
  async resolve(locks: readonly LockInfo[], callerStartTs: Ts, deadlineMs: number): Promise<ResolveOutcome> {
    const byTxn = new Map<Ts, LockInfo[]>();
    for (const l of locks) {
      const list = byTxn.get(l.startTs);
      if (list === undefined) byTxn.set(l.startTs, [l]);
      else list.push(l);
    }
    const bypass: Ts[] = [];
    let blocked = 0;
    let msUntilExpiry = Number.POSITIVE_INFINITY;
    let now: Ts | null = null;
    for (const [startTs, txnLocks] of byTxn) {
      let fate = this.fates.get(startTs);
      if (fate === undefined) {
        now ??= await this.currentTs();
        fate = await this.checkTxnStatus(txnLocks[0]!, callerStartTs, now, deadlineMs);
        this.metrics.lockResolves.inc({ status: fate.kind === 'rolledBack' ? 'rolled_back' : fate.kind });
        if (fate.kind !== 'alive') this.remember(startTs, fate);
      }
      switch (fate.kind) {
        case 'committed':
          await this.resolveKeys(startTs, fate.commitTs, txnLocks, deadlineMs);
          break;
        case 'rolledBack':
          await this.resolveKeys(startTs, 0n, txnLocks, deadlineMs);
          break;
        case 'alive':
          if (callerStartTs !== 0n && fate.minCommitTs > callerStartTs) {
            bypass.push(startTs);
          } else {
            blocked += txnLocks.length;
            const expiresAtMs = physicalMsOf(fate.startTs) + fate.ttlMs;
            msUntilExpiry = Math.min(msUntilExpiry, Math.max(0, expiresAtMs - Date.now()));
          }
          break;
      }
    }
    return { bypass, blocked, msUntilExpiry: blocked === 0 ? 0 : msUntilExpiry };
  }

  private async checkTxnStatus(lock: LockInfo, callerStartTs: Ts, currentTs: Ts, deadlineMs: number): Promise<TxnStatus> {
    // Roll back a missing primary only when the lock we met has expired: until then the primary's
    // prewrite may still be on its way.
    const expired = physicalMsOf(currentTs) >= physicalMsOf(lock.startTs) + lock.ttlMs;
    const r = await this.rpc.withRegion(lock.primary, deadlineMs, (region) =>
      this.rpc.send(region, 'checkTxnStatus', {
        primaryKey: lock.primary,
        lockTs: u64ToWire(lock.startTs),
        callerStartTs: u64ToWire(callerStartTs),
        currentTs: u64ToWire(currentTs),
        rollbackIfNotExist: expired,
      }, { deadlineMs, idempotent: true }),
    );
    if (r.error !== null) {
      // TxnNotFound: neither lock nor record yet and the lock is alive — treat as alive.
      this.logger.debug({ startTs: String(lock.startTs), err: r.error.message }, 'check txn status: not found');
      return { kind: 'alive', minCommitTs: 0n, ttlMs: lock.ttlMs, startTs: lock.startTs };
    }
    const commitTs = u64FromWire(r.commitVersion, 'commitVersion');
    if (commitTs > 0n) return { kind: 'committed', commitTs };
    const ttlMs = Number(r.lockTtl);
    if (ttlMs > 0) {
      const minCommitTs = r.lockInfo === null ? 0n : u64FromWire(r.lockInfo.minCommitTs, 'lockInfo.minCommitTs');
      return { kind: 'alive', minCommitTs, ttlMs, startTs: lock.startTs };
    }
    return { kind: 'rolledBack' };
  }

  /**
   * Commits (commitTs > 0) or rolls back the transaction's locks in every region where one was
   * met — all of them in the region, not just the keys met: a reader that walks a range of a
   * dead client's secondaries resolves them in one request per region, not one per key.
   */
  private async resolveKeys(startTs: Ts, commitTs: Ts, locks: readonly LockInfo[], deadlineMs: number): Promise<void> {
    await this.rpc.forEachRegion(locks.map((l) => l.key), deadlineMs, async (region) => {
      const r = await this.rpc.send(region, 'resolveLock', { startVersion: u64ToWire(startTs), commitVersion: u64ToWire(commitTs) }, { deadlineMs, idempotent: true });
      if (r.error !== null) this.logger.warn({ startTs: String(startTs), commitTs: String(commitTs), err: r.error.message }, 'resolve lock answered an error');
    });
  }

  private remember(startTs: Ts, fate: TxnStatus): void {
    if (this.fates.size >= RESOLVED_TXNS_CACHED_MAX) {
      const oldest = this.fates.keys().next();
      if (oldest.done !== true) this.fates.delete(oldest.value);
    }
    this.fates.set(startTs, fate);
  }
}
