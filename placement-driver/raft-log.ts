// PD's durable raft log on its own RocksDB. The whole log since the last snapshot is mirrored in
// a raft MemoryStorage (PD's log is small and compacted often), so the raft node's synchronous
// reads are served from memory; every change is written to RocksDB first, then to the mirror.
//
// Layout (one-byte prefixes; the records are raft-host/log-records.ts's, byte for byte what this
// file wrote before they moved there, so existing PD data opens unchanged):
//   0x01                 → hard state
//   0x02 ‖ index u64 BE  → entry
//   0x03                 → snapshot (PD's state machine travels in it)

import { FlotillaError, invariant, putOp, type SimpleRocks, type WriteOp } from '../common/index.js';
import { MemoryStorage, type ConfState, type Entry, type HardState, type RaftStorage, type Snapshot } from '../raft/index.js';
import { decodeEntry, decodeHardState, decodeSnapshot, encodeSnapshot, readyPersistOps, type RaftKeyScheme } from '../raft-host/index.js';

/** Names PD's log in Corruption errors. */
const WHAT = 'PD raft log';
const HARD_STATE_KEY = Buffer.from([0x01]);
const ENTRY_PREFIX = 0x02;
const SNAPSHOT_KEY = Buffer.from([0x03]);

function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_PREFIX;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}
const ENTRY_KEY_MIN = entryKey(0);
const ENTRY_KEY_END = Buffer.from([ENTRY_PREFIX + 1]);

/** PD's one group in PD's own RocksDB. */
const PD_RAFT_KEYS: RaftKeyScheme = { hardStateKey: HARD_STATE_KEY, entryKey, snapshotKey: SNAPSHOT_KEY };

function corrupt(what: string): FlotillaError {
  return new FlotillaError('Corruption', `${WHAT}: ${what}`);
}


export interface PersistInput {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly mustSync: boolean;
}

export class PdRaftLog {
  private constructor(
    private readonly db: SimpleRocks,
    /** The in-memory mirror the raft node reads. */
    readonly storage: MemoryStorage,
  ) {}

  /** Loads the hard state, snapshot and entries saved last (empty for a new member). */
  static async open(db: SimpleRocks): Promise<PdRaftLog> {
    const mem = new MemoryStorage();
    const snapBytes = await db.get(SNAPSHOT_KEY);
    if (snapBytes !== undefined) {
      const applied = mem.applySnapshot(decodeSnapshot(snapBytes, WHAT));
      invariant(applied === 'ok', 'fresh storage accepts the saved snapshot');
    }
    const firstIndex = mem.firstIndex();
    const entries: Entry[] = [];
    for (const [key, value] of await db.scan(entryKey(firstIndex), ENTRY_KEY_END)) {
      const index = Number(key.readBigUInt64BE(1));
      const expected = firstIndex + entries.length;
      if (index !== expected) throw corrupt(`entry ${expected} is missing (found ${index})`);
      entries.push(decodeEntry(index, value, WHAT));
    }
    if (entries.length > 0) mem.append(entries);
    const hsBytes = await db.get(HARD_STATE_KEY);
    if (hsBytes !== undefined) {
      const hs = decodeHardState(hsBytes, WHAT);
      if (hs.commit > mem.lastIndex()) throw corrupt(`commit ${hs.commit} is beyond the last entry ${mem.lastIndex()}`);
      mem.setHardState(hs);
    }
    return new PdRaftLog(db, mem);
  }

  get raftStorage(): RaftStorage {
    return this.storage;
  }

  /**
   * Makes a Ready's hard state, entries and snapshot durable (fsync when `mustSync`), then
   * mirrors them in memory. Entries that replace a conflicting suffix delete the old tail.
   */
  async persist(input: PersistInput): Promise<void> {
    const ops: WriteOp[] = [];
    readyPersistOps(PD_RAFT_KEYS, { ...input, previousLastIndex: this.storage.lastIndex() }, ops);
    await this.db.write(ops, { sync: input.mustSync || input.snapshot !== undefined });
    if (input.snapshot !== undefined) {
      // Entries the snapshot covers are obsolete; the ones after it (if any) stay valid only if
      // raft sends them again, so drop the whole old log below and including the snapshot.
      this.storage.applySnapshot(input.snapshot);
      await this.db.deleteRange(ENTRY_KEY_MIN, entryKey(input.snapshot.metadata.index + 1));
    }
    if (input.entries.length > 0) this.storage.append(input.entries);
    if (input.hardState !== undefined) this.storage.setHardState(input.hardState);
  }

  /**
   * Saves a snapshot of the state machine at `appliedIndex` and drops log entries up to
   * `compactIndex` (≤ appliedIndex; keeping some entries lets slow followers catch up by log).
   */
  async compact(appliedIndex: number, confState: ConfState, data: Uint8Array, compactIndex: number): Promise<void> {
    invariant(compactIndex <= appliedIndex, 'compact only applied entries');
    const snap = this.storage.createSnapshot(appliedIndex, confState, data);
    if (snap === 'out-of-date') return;
    await this.db.write([putOp('local', SNAPSHOT_KEY, encodeSnapshot(snap))], { sync: true });
    if (compactIndex > this.storage.firstIndex()) {
      this.storage.compact(compactIndex);
      await this.db.deleteRange(ENTRY_KEY_MIN, entryKey(compactIndex));
    }
  }
}
