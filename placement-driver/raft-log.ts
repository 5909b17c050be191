// PD's durable raft log on its own RocksDB. The whole log since the last snapshot is mirrored in
// a raft MemoryStorage (PD's log is small and compacted often), so the raft node's synchronous
// reads are served from memory; every change is written to RocksDB first, then to the mirror.
//
// Layout (one-byte prefixes; every record versioned and CRC-checked):
//   0x01                 → hard state   [ver][term u64][vote u64][commit u64][crc32]
//   0x02 ‖ index u64 BE  → entry        [ver][type u8][term u64][crc32 of the rest][data]
//   0x03                 → snapshot     [ver][crc32][index u64][term u64][confState len u32][confState JSON][data]

import { crc32, FlotillaError, invariant, type SimpleRocks, type WriteOp } from '../common/index.js';
import { MemoryStorage, type ConfState, type Entry, type EntryType, type HardState, type RaftStorage, type Snapshot } from '../raft/index.js';

const VERSION = 1;
const HARD_STATE_KEY = Buffer.from([0x01]);
const ENTRY_PREFIX = 0x02;
const SNAPSHOT_KEY = Buffer.from([0x03]);
const ENTRY_TYPES: readonly EntryType[] = ['Normal', 'ConfChange', 'ConfChangeV2'];

function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = ENTRY_PREFIX;
  key.writeBigUInt64BE(BigInt(index), 1);
  return key;
}
const ENTRY_KEY_MIN = entryKey(0);
const ENTRY_KEY_END = Buffer.from([ENTRY_PREFIX + 1]);

function corrupt(what: string): FlotillaError {
  return new FlotillaError('Corruption', `PD raft log: ${what}`);
}

export function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.allocUnsafe(1 + 24 + 4);
  b[0] = VERSION;
  b.writeBigUInt64BE(BigInt(hs.term), 1);
  b.writeBigUInt64BE(BigInt(hs.vote), 9);
  b.writeBigUInt64BE(BigInt(hs.commit), 17);
  b.writeUInt32BE(crc32(b, 0, 25), 25);
  return b;
}

export function decodeHardState(b: Buffer): HardState {
  if (b.length !== 29 || b[0] !== VERSION) throw corrupt('hard state has a bad length or version');
  if (b.readUInt32BE(25) !== crc32(b, 0, 25)) throw corrupt('hard state checksum mismatch');
  return { term: Number(b.readBigUInt64BE(1)), vote: Number(b.readBigUInt64BE(9)), commit: Number(b.readBigUInt64BE(17)) };
}

export function encodeEntry(e: Entry): Buffer {
  const b = Buffer.allocUnsafe(1 + 1 + 8 + 4 + e.data.length);
  b[0] = VERSION;
  b[1] = ENTRY_TYPES.indexOf(e.type);
  b.writeBigUInt64BE(BigInt(e.term), 2);
  b.set(e.data, 14);
  b.writeUInt32BE(crc32(b, 14, b.length, crc32(b, 0, 10)), 10);
  return b;
}

export function decodeEntry(index: number, b: Buffer): Entry {
  if (b.length < 14 || b[0] !== VERSION) throw corrupt(`entry ${index} has a bad length or version`);
  const type = ENTRY_TYPES[b[1]!];
  if (type === undefined) throw corrupt(`entry ${index} has unknown type ${b[1]}`);
  if (b.readUInt32BE(10) !== crc32(b, 14, b.length, crc32(b, 0, 10))) throw corrupt(`entry ${index} checksum mismatch`);
  return { type, term: Number(b.readBigUInt64BE(2)), index, data: new Uint8Array(b.subarray(14)) };
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const cs = Buffer.from(JSON.stringify(s.metadata.confState), 'utf8');
  const b = Buffer.allocUnsafe(1 + 4 + 16 + 4 + cs.length + s.data.length);
  b[0] = VERSION;
  b.writeBigUInt64BE(BigInt(s.metadata.index), 5);
  b.writeBigUInt64BE(BigInt(s.metadata.term), 13);
  b.writeUInt32BE(cs.length, 21);
  cs.copy(b, 25);
  b.set(s.data, 25 + cs.length);
  b.writeUInt32BE(crc32(b, 5), 1);
  return b;
}

export function decodeSnapshot(b: Buffer): Snapshot {
  if (b.length < 25 || b[0] !== VERSION) throw corrupt('snapshot has a bad length or version');
  if (b.readUInt32BE(1) !== crc32(b, 5)) throw corrupt('snapshot checksum mismatch');
  const csLen = b.readUInt32BE(21);
  if (25 + csLen > b.length) throw corrupt('snapshot conf state overruns the record');
  const confState = JSON.parse(b.subarray(25, 25 + csLen).toString('utf8')) as ConfState;
  return {
    metadata: { index: Number(b.readBigUInt64BE(5)), term: Number(b.readBigUInt64BE(13)), confState },
    data: new Uint8Array(b.subarray(25 + csLen)),
  };
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
      const applied = mem.applySnapshot(decodeSnapshot(snapBytes));
      invariant(applied === 'ok', 'fresh storage accepts the saved snapshot');
    }
    const firstIndex = mem.firstIndex();
    const entries: Entry[] = [];
    for (const [key, value] of await db.scan(entryKey(firstIndex), ENTRY_KEY_END)) {
      const index = Number(key.readBigUInt64BE(1));
      const expected = firstIndex + entries.length;
      if (index !== expected) throw corrupt(`entry ${expected} is missing (found ${index})`);
      entries.push(decodeEntry(index, value));
    }
    if (entries.length > 0) mem.append(entries);
    const hsBytes = await db.get(HARD_STATE_KEY);
    if (hsBytes !== undefined) {
      const hs = decodeHardState(hsBytes);
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
    if (input.snapshot !== undefined) {
      ops.push({ kind: 'put', cf: 'local', key: SNAPSHOT_KEY, value: encodeSnapshot(input.snapshot) });
    }
    const oldLast = this.storage.lastIndex();
    if (input.entries.length > 0) {
      for (const e of input.entries) ops.push({ kind: 'put', cf: 'local', key: entryKey(e.index), value: encodeEntry(e) });
      const newLast = input.entries[input.entries.length - 1]!.index;
      for (let i = newLast + 1; i <= oldLast; i++) ops.push({ kind: 'delete', cf: 'local', key: entryKey(i) });
    }
    if (input.hardState !== undefined) ops.push({ kind: 'put', cf: 'local', key: HARD_STATE_KEY, value: encodeHardState(input.hardState) });
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
    await this.db.write([{ kind: 'put', cf: 'local', key: SNAPSHOT_KEY, value: encodeSnapshot(snap) }], { sync: true });
    if (compactIndex > this.storage.firstIndex()) {
      this.storage.compact(compactIndex);
      await this.db.deleteRange(ENTRY_KEY_MIN, entryKey(compactIndex));
    }
  }
}
