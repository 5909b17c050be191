// A Ready's durable part turned into write operations under a key scheme the caller chooses,
// without writing them: PD writes one group's operations, a store gathers many regions' into one
// write batch and one fsync (group commit). Entries that replace a conflicting suffix delete the
// old tail in the same batch, so a crash never leaves a log with a hole or a stale tail.

import { type WriteOp } from '../common/index.js';
import type { Entry, HardState, Snapshot } from '../raft/index.js';
import { encodeEntry, encodeHardState, encodeSnapshot } from './log-records.js';

/** Where one raft group's records live in its process's RocksDB. */
export interface RaftKeyScheme {
  readonly hardStateKey: Buffer;
  entryKey(index: number): Buffer;
  /** Where a received snapshot's metadata is kept (PD keeps its state machine in it too). */
  readonly snapshotKey: Buffer | null;
}

export interface ReadyPersistInput {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  /** The last index held before this Ready (entries above the new last index are deleted). */
  readonly previousLastIndex: number;
}

/**
 * Appends to `out` the puts and deletes that make the Ready durable. A snapshot is written only
 * when the scheme has a key for it; the caller deletes the log it covers (a range delete).
 * Returns the bytes of encoded records added (for batch sizing and metrics).
 */
export function readyPersistOps(scheme: RaftKeyScheme, input: ReadyPersistInput, out: WriteOp[]): number {
  let bytes = 0;
  if (input.snapshot !== undefined && scheme.snapshotKey !== null) {
    const value = encodeSnapshot(input.snapshot);
    bytes += value.length;
    out.push({ kind: 'put', cf: 'local', key: scheme.snapshotKey, value });
  }
  if (input.entries.length > 0) {
    for (const e of input.entries) {
      const value = encodeEntry(e);
      bytes += value.length;
      out.push({ kind: 'put', cf: 'local', key: scheme.entryKey(e.index), value });
    }
    const newLast = input.entries[input.entries.length - 1]!.index;
    for (let i = newLast + 1; i <= input.previousLastIndex; i++) out.push({ kind: 'delete', cf: 'local', key: scheme.entryKey(i) });
  }
  if (input.hardState !== undefined) {
    const value = encodeHardState(input.hardState);
    bytes += value.length;
    out.push({ kind: 'put', cf: 'local', key: scheme.hardStateKey, value });
  }
  return bytes;
}
