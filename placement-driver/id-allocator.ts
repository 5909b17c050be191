// Unique ids (stores, regions, peers) from the PD leader. The high-water mark is persisted through
// raft in batches, so one raft write serves many ids, and ids are never reused across leader
// changes or restarts: a new leader starts above the last persisted high-water mark.

import { FlotillaError, invariant } from '../common/index.js';

/** Ids reserved per raft write: at ~1 ms per write this allows ~1M ids/s. */
export const ID_ALLOC_BATCH = 1_000n;
/** Ids one request may take. */
export const ID_ALLOC_COUNT_MAX = 10_000;

export interface IdAllocatorOptions {
  /** Durably raises the high-water mark through raft; rejects if leadership was lost. */
  readonly persistHighWater: (highWater: bigint) => Promise<void>;
  readonly batch?: bigint;
}

export class IdAllocator {
  /** The last id handed out. */
  private base = 0n;
  /** Ids up to and including this are reserved durably. */
  private end = 0n;
  private ready = false;
  /** Bumped by sync() and reset(): a reservation made under an older leadership must not land. */
  private generation = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly batch: bigint;

  constructor(private readonly options: IdAllocatorOptions) {
    this.batch = options.batch ?? ID_ALLOC_BATCH;
    invariant(this.batch > 0n, 'id batch must be positive');
  }

  /** On becoming leader: every id ≤ the saved high-water mark may have been issued. */
  sync(savedHighWater: bigint): void {
    this.base = savedHighWater;
    this.end = savedHighWater;
    this.ready = true;
    this.generation++;
  }

  reset(): void {
    this.ready = false;
    this.generation++;
  }

  /**
   * `count` fresh ids, ascending. Requests are served in order; at most one raft write is in
   * flight. Throws PdNotLeader when not synced (or leadership was lost meanwhile).
   */
  alloc(count = 1): Promise<bigint[]> {
    if (!Number.isInteger(count) || count < 1 || count > ID_ALLOC_COUNT_MAX) {
      return Promise.reject(new FlotillaError('InvalidArgument', `id count ${count} must be within [1, ${ID_ALLOC_COUNT_MAX}]`));
    }
    const run = this.tail.then(() => this.allocNow(count));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async allocNow(count: number): Promise<bigint[]> {
    if (!this.ready) throw new FlotillaError('PdNotLeader', 'id allocator is not serving (not the PD leader)');
    const need = BigInt(count);
    if (this.base + need > this.end) {
      const generation = this.generation;
      const highWater = this.base + (need > this.batch ? need : this.batch);
      await this.options.persistHighWater(highWater);
      if (!this.ready || generation !== this.generation) throw new FlotillaError('PdNotLeader', 'PD leadership changed while reserving ids');
      this.end = highWater;
    }
    const ids: bigint[] = [];
    for (let i = 0n; i < need; i++) ids.push(this.base + 1n + i);
    this.base += need;
    invariant(this.base <= this.end, 'ids served only below the durable high-water mark');
    return ids;
  }
}
