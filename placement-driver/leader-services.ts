// What a PD member serves only as the leader — the TSO and the ID allocator — and how they follow
// leadership: synced from the replicated state once leadership is ready (an own-term entry applied,
// so everything earlier leaders committed is in the state machine), reset the moment it is lost.
// Both persist their bounds through raft (persistMonotonic) before serving below them.
//
// Kept apart from server.ts (gRPC, HTTP, RocksDB) so that several members can run in one process
// over a simulated clock and a faulty transport (test/support/pd-inprocess.ts).

import type { Logger } from 'pino';
import { FlotillaError, type TaskGroup } from '../common/index.js';
import { IdAllocator } from './id-allocator.js';
import type { PdRaftNode } from './raft-node.js';
import type { PdStateMachine } from './state-machine.js';
import { TsoAllocator } from './tso.js';

export interface PdLeaderServicesOptions {
  readonly sm: PdStateMachine;
  /** The raft node (built after these services, which its leadership callback needs). */
  readonly node: () => PdRaftNode | undefined;
  /** Wall clock in ms for the TSO (injected: tests skew it per member and step it back). */
  readonly nowMs: () => number;
  readonly logger: Logger;
  /** Owns the leader-initialization task; closed at shutdown. */
  readonly tasks: TaskGroup;
  readonly isStopping: () => boolean;
  /** TSO window tuning (defaults in tso.ts) and the id batch (id-allocator.ts), for tests. */
  readonly tsoSaveWindowMs?: number;
  readonly tsoRenewMarginMs?: number;
  readonly idBatch?: bigint;
}

export class PdLeaderServices {
  readonly tso: TsoAllocator;
  readonly ids: IdAllocator;

  constructor(private readonly options: PdLeaderServicesOptions) {
    this.tso = new TsoAllocator({
      nowMs: options.nowMs,
      persistBound: (boundMs) => this.persistMonotonic({ kind: 'raiseTsoBound', boundMs }),
      ...(options.tsoSaveWindowMs === undefined ? {} : { saveWindowMs: options.tsoSaveWindowMs }),
      ...(options.tsoRenewMarginMs === undefined ? {} : { renewMarginMs: options.tsoRenewMarginMs }),
    });
    this.ids = new IdAllocator({
      persistHighWater: (highWater) => this.persistMonotonic({ kind: 'raiseIdHighWater', highWater }),
      ...(options.idBatch === undefined ? {} : { batch: options.idBatch }),
    });
  }

  /** Durably raises a monotonic bound through raft; rejects if this member is not the leader. */
  private async persistMonotonic(cmd: { kind: 'raiseTsoBound'; boundMs: bigint } | { kind: 'raiseIdHighWater'; highWater: bigint }): Promise<void> {
    const node = this.options.node();
    if (node === undefined) throw new FlotillaError('Unavailable', 'PD not started');
    const result = await node.propose(cmd);
    if (result.kind === 'refused') throw new FlotillaError('Internal', `${cmd.kind} refused: ${result.message}`);
  }

  /** The raft node's onLeadershipChange: sync on ready (in the background, retried), reset on loss. */
  onLeadershipChange(ready: boolean): void {
    const { sm, tasks, logger } = this.options;
    if (!ready) {
      this.tso.reset();
      this.ids.reset();
      return;
    }
    if (this.options.isStopping()) return;
    tasks.spawn('leader-init', async (signal) => {
      const node = this.options.node()!;
      // Retried until it succeeds or leadership is gone: a leader that cannot sync its TSO must
      // not sit there refusing every request while its lease keeps the others from electing.
      for (let attempt = 1; !signal.aborted && node.isLeader; attempt++) {
        try {
          if (sm.clusterId === 0n) {
            // The cluster id: wall time in the high bits and randomness below, as PD and etcd do.
            const clusterId = (BigInt(Date.now()) << 20n) | BigInt(Math.floor(Math.random() * 0xfffff) + 1);
            await node.propose({ kind: 'initCluster', clusterId });
          }
          await this.tso.sync(sm.tsoBoundMs);
          // Leadership may have been lost while the window was written (and the write still
          // committed, by the successor): then reset() already ran, and syncing the ids now would
          // leave a deposed member's allocator serving from a high-water mark that goes stale.
          if (!this.tso.isReady || !node.isLeader) return;
          this.ids.sync(sm.idHighWater);
          logger.info({ clusterId: sm.clusterId.toString(), tsoBoundMs: sm.tsoBoundMs.toString(), idHighWater: sm.idHighWater.toString() }, 'PD leader serving');
          return;
        } catch (err) {
          logger.warn({ err, attempt }, 'PD leader initialization failed; retrying');
          await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 50 * attempt)));
        }
      }
    });
  }
}
