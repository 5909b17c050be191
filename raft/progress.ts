// A leader's view of one follower: how much of the log it holds (match), what to send next,
// and how sending is paced. The state machine (etcd's tracker.Progress):
//
//            reject / unreachable              snapshot needed
//   ┌─────────┐ ◄──────────────── ┌───────────┐ ──────────────► ┌──────────┐
//   │  Probe  │                   │ Replicate │                 │ Snapshot │
//   └─────────┘ ────────────────► └───────────┘ ◄── (via Probe) └──────────┘
//     one append per heartbeat      append ack                    snapshot applied / failed
//                                   pipelined, bounded by Inflights
import { invariant, InvariantError } from '../common/pure.js';

export type ProgressState = 'Probe' | 'Replicate' | 'Snapshot';

/** A ring of (last index, bytes) of MsgApps sent and not yet acknowledged. */
export class Inflights {
  private readonly capacity: number;
  private readonly maxBytes: number;
  private start = 0;
  count = 0;
  bytes = 0;
  private readonly indexes: number[];
  private readonly sizes: number[];

  constructor(capacity: number, maxBytes: number) {
    this.capacity = capacity;
    this.maxBytes = maxBytes;
    this.indexes = [];
    this.sizes = [];
  }

  add(index: number, bytes: number): void {
    invariant(!this.isFull(), 'inflights: add while full');
    const at = (this.start + this.count) % this.capacity;
    if (this.count > 0) {
      const prev = this.indexes[(at + this.capacity - 1) % this.capacity];
      if (prev === undefined || index <= prev) throw new InvariantError(`inflights: index ${index} not above ${String(prev)}`);
    }
    this.indexes[at] = index;
    this.sizes[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `to` (they are acknowledged). */
  freeLE(to: number): void {
    while (this.count > 0) {
      const idx = this.indexes[this.start];
      if (idx === undefined || idx > to) break;
      this.bytes -= this.sizes[this.start] ?? 0;
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  /** Frees the oldest message (a heartbeat answered while full: its append was probably lost). */
  freeFirstOne(): void {
    const idx = this.indexes[this.start];
    if (this.count > 0 && idx !== undefined) this.freeLE(idx);
  }

  isFull(): boolean {
    return this.count === this.capacity || (this.maxBytes !== 0 && this.bytes >= this.maxBytes);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

export class Progress {
  /** Highest index known replicated (and persisted) on the follower. */
  match: number;
  /** Next index to send. Invariant: match < next. */
  next: number;
  state: ProgressState = 'Probe';
  /** In Snapshot state: index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Probe state: an append is outstanding; wait for a response or heartbeat. */
  msgAppFlowPaused = false;
  isLearner: boolean;
  readonly inflights: Inflights;
  /** Index of the last snapshot sent (kept after leaving Snapshot state, unlike pendingSnapshot). */
  lastSnapshotSentIndex = 0;
  /** The follower refused a snapshot below this index (e.g. it predates its joining): ask for newer. */
  snapshotMinIndex = 0;
  /**
   * Leader lease clock value the follower's acks vouch for: the tick its latest heartbeat
   * response echoes, or (skipHeartbeatsWhileAppending) the tick at which the leader appended the
   * newest entry the follower acknowledged — any message carrying that entry left no earlier.
   */
  leaseAckTick = -1;
  /** Tick of the last append sent to this follower (-1: none this term). */
  lastAppendTick = -1;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes: number, isLearner: boolean) {
    this.match = 0;
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'Snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('Probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('Probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('Replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('Snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.lastSnapshotSentIndex = snapshotIndex;
  }

  /** An append ack for `n`: returns whether match moved forward. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.msgAppFlowPaused = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Records an append of `entries` entries (`bytes`) ending the message at next−1+entries. */
  sentEntries(entries: number, bytes: number): void {
    switch (this.state) {
      case 'Replicate':
        if (entries > 0) {
          this.next += entries;
          this.inflights.add(this.next - 1, bytes);
        }
        this.msgAppFlowPaused = this.inflights.isFull();
        break;
      case 'Probe':
        this.msgAppFlowPaused = true;
        break;
      case 'Snapshot':
        invariant(false, 'progress: sending entries in Snapshot state');
    }
  }

  /**
   * A rejection of the append at `rejected`; `matchHint` is the follower's guess of a matching
   * index. Returns false for a stale rejection (already past it).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'Replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'Probe':
        return this.msgAppFlowPaused;
      case 'Replicate':
        return this.inflights.isFull();
      case 'Snapshot':
        return true;
    }
  }
}
