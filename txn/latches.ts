// Latches (TiKV's txn/latch.rs): a fixed table of slots, each a FIFO queue of command ids. A
// command needs the slots of all keys it writes, taken in ascending slot order (so no deadlock);
// it runs once it heads every queue. The table is a data structure only: acquire says whether the
// command got everything, release names the commands that may now retry — waiting is the caller's.
//
// Why: between a command's snapshot read and the apply of its write there are awaits; without
// latches, two prewrites of one key could both read "no lock" and both write one.

import { invariant } from '../common/pure.js';

/** The slots one command needs, and how many of them it already heads. */
export class LatchLock {
  /** Sorted, distinct slot indexes. */
  readonly requiredSlots: readonly number[];
  ownedCount = 0;

  constructor(requiredSlots: readonly number[]) {
    this.requiredSlots = requiredSlots;
  }

  get isAcquired(): boolean {
    return this.ownedCount === this.requiredSlots.length;
  }
}

/** FNV-1a, 32-bit: cheap, stable, good enough spread for slot choice. */
function hashKey(key: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key[i]!, 0x01000193);
  return hash >>> 0;
}

export class Latches {
  private readonly slots: number[][];
  private readonly mask: number;

  /** `slotCount` is rounded up to a power of two. More slots, fewer false conflicts. */
  constructor(slotCount: number) {
    invariant(Number.isSafeInteger(slotCount) && slotCount >= 1 && slotCount <= 1 << 24, () => `latch slot count ${slotCount}`);
    let size = 1;
    while (size < slotCount) size <<= 1;
    this.mask = size - 1;
    this.slots = Array.from({ length: size }, () => []);
  }

  /** The latch lock for a command writing `keys`. */
  gen(keys: readonly Uint8Array[]): LatchLock {
    // One or two keys (a raw write, a transfer) without the set, the copies and the comparator.
    if (keys.length === 1) return new LatchLock([this.slotOf(keys[0]!)]);
    if (keys.length === 2) {
      const a = this.slotOf(keys[0]!);
      const b = this.slotOf(keys[1]!);
      return new LatchLock(a === b ? [a] : a < b ? [a, b] : [b, a]);
    }
    const slots = [...new Set(keys.map((k) => this.slotOf(k)))].sort((a, b) => a - b);
    return new LatchLock(slots);
  }

  private slotOf(key: Uint8Array): number {
    return hashKey(key) & this.mask;
  }

  /**
   * Takes every slot of a fresh `lock` for `commandId` if none is held or queued for; else changes
   * nothing (the command is not queued) and returns false. A command that gets false and still
   * wants its latches calls acquire(), which queues it.
   */
  tryAcquire(lock: LatchLock, commandId: number): boolean {
    if (lock.ownedCount !== 0) return false;
    const required = lock.requiredSlots;
    for (let i = 0; i < required.length; i++) if (this.slots[required[i]!]!.length > 0) return false;
    for (let i = 0; i < required.length; i++) this.slots[required[i]!]!.push(commandId);
    lock.ownedCount = required.length;
    return true;
  }

  /**
   * Tries to take the remaining slots of `lock` for command `commandId`; enqueues it on the first
   * slot it cannot head. Returns whether it now holds all. Call again after being woken.
   */
  acquire(lock: LatchLock, commandId: number): boolean {
    while (lock.ownedCount < lock.requiredSlots.length) {
      const queue = this.slots[lock.requiredSlots[lock.ownedCount]!]!;
      const head = queue[0];
      if (head === undefined) {
        queue.push(commandId);
      } else if (head !== commandId) {
        if (!queue.includes(commandId)) queue.push(commandId);
        return false;
      }
      lock.ownedCount++;
    }
    return true;
  }

  /**
   * Releases every slot `commandId` holds (precondition: it holds all of `lock`). Returns the
   * commands that now head a released slot: the caller wakes them to call acquire again.
   */
  release(lock: LatchLock, commandId: number): number[] {
    const wake: number[] = [];
    for (let i = 0; i < lock.ownedCount; i++) {
      const queue = this.slots[lock.requiredSlots[i]!]!;
      invariant(queue[0] === commandId, () => `latch release: command ${commandId} does not head slot ${lock.requiredSlots[i]}`);
      queue.shift();
      const next = queue[0];
      if (next !== undefined) wake.push(next);
    }
    lock.ownedCount = 0;
    return wake;
  }

  /** Commands queued or holding, for tests and metrics. */
  get queuedCount(): number {
    let n = 0;
    for (const q of this.slots) n += q.length;
    return n;
  }
}
