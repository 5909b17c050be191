// raft-host's log records: every record round-trips, keeps the exact bytes PD wrote before the
// codecs moved here (existing data dirs must open), and every single-byte corruption or
// truncation is reported as Corruption — never decoded into a wrong value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isFlotillaError } from '../../common/index.js';
import { EMPTY_CONF_STATE, type Entry, type EntryType, type Snapshot } from '../../raft/index.js';
import {
  allocEntryData, decodeEntry, decodeHardState, decodeSnapshot, encodeEntry, encodeHardState, encodeSnapshot, ENTRY_RECORD_HEADER_BYTES, entryDataIn,
} from '../../raft-host/index.js';

const ENTRY_TYPES: readonly EntryType[] = ['Normal', 'ConfChange', 'ConfChangeV2'];
const confState = { ...EMPTY_CONF_STATE, voters: [1, 2], learners: [4], votersOutgoing: [1, 3], learnersNext: [3], autoLeave: true };
const entry = (index: number, term: number, type: EntryType, data: Uint8Array): Entry => ({ type, term, index, data });
const snapshot = (data: string): Snapshot => ({ metadata: { index: 40, term: 7, confState }, data: new Uint8Array(Buffer.from(data)) });

/** Every way of changing one byte that matters: one low bit, one high bit, all bits. */
const MASKS = [0x01, 0x80, 0xff];

function assertEveryByteFlipCorrupts(record: Buffer, decode: (b: Buffer) => unknown, what: string): void {
  for (let i = 0; i < record.length; i++) {
    for (const mask of MASKS) {
      const bad = Buffer.from(record);
      bad[i] = bad[i]! ^ mask;
      assert.throws(() => decode(bad), (err: unknown) => isFlotillaError(err, 'Corruption'), `${what}: byte ${i} ^ 0x${mask.toString(16)} not detected`);
    }
  }
}

function assertEveryTruncationCorrupts(record: Buffer, decode: (b: Buffer) => unknown, what: string): void {
  for (let len = 0; len < record.length; len++) {
    assert.throws(() => decode(record.subarray(0, len)), (err: unknown) => isFlotillaError(err, 'Corruption'), `${what}: truncated to ${len} bytes not detected`);
  }
}

describe('raft-host log records', () => {
  it('hard state round-trips, up to the largest safe integers', () => {
    for (const hs of [{ term: 0, vote: 0, commit: 0 }, { term: 5, vote: 2, commit: 9 }, { term: Number.MAX_SAFE_INTEGER, vote: 3, commit: Number.MAX_SAFE_INTEGER - 1 }]) {
      assert.deepEqual(decodeHardState(encodeHardState(hs)), hs);
    }
  });

  it('entries of every type round-trip, empty and large data alike, as plain Uint8Arrays', () => {
    for (const type of ENTRY_TYPES) {
      for (const data of [new Uint8Array(0), new Uint8Array(Buffer.from('abc')), new Uint8Array(64 * 1024).fill(0xa5)]) {
        const e = entry(12, 3, type, data);
        const record = encodeEntry(e);
        assert.equal(record.length, ENTRY_RECORD_HEADER_BYTES + data.length);
        const back = decodeEntry(12, record);
        assert.deepEqual(back, e);
        assert.equal(Object.getPrototypeOf(back.data), Uint8Array.prototype, 'not a Buffer: decoded and proposed entries compare equal');
      }
    }
  });

  it('entry data allocated with header room is persisted in place once, byte-identical to a copy; a second entry with it copies', () => {
    for (const size of [1, 3, 300, 5000, 64 * 1024]) {
      const data = allocEntryData(size);
      for (let i = 0; i < size; i++) data[i] = (i * 31 + size) & 0xff;
      const copy = new Uint8Array(data);
      const record = encodeEntry(entry(12, 3, 'Normal', data));
      assert.deepEqual(record, encodeEntry(entry(12, 3, 'Normal', copy)), `${size} bytes`);
      const isAround = (r: Buffer): boolean => r.buffer === data.buffer && r.byteOffset + ENTRY_RECORD_HEADER_BYTES === data.byteOffset;
      assert.ok(isAround(record), 'the record is the allocation around the data');
      const before = Buffer.from(record);
      // The same data in another entry (another term): a fresh record; the first stays as written.
      const again = encodeEntry(entry(13, 4, 'ConfChange', data));
      assert.ok(!isAround(again), 'a copy');
      assert.deepEqual(decodeEntry(13, again), entry(13, 4, 'ConfChange', copy));
      assert.deepEqual(record, before);
      assert.deepEqual(decodeEntry(12, record), entry(12, 3, 'Normal', copy));
    }
    // Several entries' data in one block, each after its own header room (a received message).
    const block = Buffer.alloc(3 * ENTRY_RECORD_HEADER_BYTES + 2 + 5 + 1, 0xee);
    const parts = [entryDataIn(block, 0, 2), entryDataIn(block, ENTRY_RECORD_HEADER_BYTES + 2, 5), entryDataIn(block, 2 * ENTRY_RECORD_HEADER_BYTES + 7, 1)];
    parts.forEach((p, k) => p.fill(k + 1));
    const records = parts.map((p, k) => encodeEntry(entry(20 + k, 5, 'Normal', p)));
    records.forEach((r, k) => assert.deepEqual(decodeEntry(20 + k, r), entry(20 + k, 5, 'Normal', new Uint8Array(parts[k]!.length).fill(k + 1))));
  });

  it('snapshots round-trip with their conf state', () => {
    for (const s of [snapshot(''), snapshot('state machine bytes'), { metadata: { index: 1, term: 1, confState: EMPTY_CONF_STATE }, data: new Uint8Array(0) }]) {
      assert.deepEqual(decodeSnapshot(encodeSnapshot(s)), s);
    }
  });

  it('keeps the on-disk bytes PD wrote before F5 (golden records)', () => {
    assert.equal(encodeHardState({ term: 5, vote: 2, commit: 9 }).toString('hex'), '01000000000000000500000000000000020000000000000009efc0e22f');
    assert.equal(encodeEntry(entry(7, 3, 'ConfChange', Buffer.from('abc'))).toString('hex'), '010100000000000000039197e456616263');
    const cs = { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
    assert.equal(
      encodeSnapshot({ metadata: { index: 4, term: 2, confState: cs }, data: Buffer.from('sm') }).toString('hex'),
      '0161a6a24300000000000000040000000000000002000000567b22766f74657273223a5b312c325d2c226c6561726e657273223a5b5d2c22766f746572734f7574676f696e67223a5b5d2c226c6561726e6572734e657874223a5b5d2c226175746f4c65617665223a66616c73657d736d',
    );
  });

  it('every single-byte change of a hard state record is Corruption', () => {
    assertEveryByteFlipCorrupts(encodeHardState({ term: 5, vote: 2, commit: 9 }), (b) => decodeHardState(b), 'hard state');
  });

  it('every single-byte change of an entry record is Corruption, header, checksum and data alike', () => {
    for (const type of ENTRY_TYPES) {
      assertEveryByteFlipCorrupts(encodeEntry(entry(7, 3, type, Buffer.from('payload'))), (b) => decodeEntry(7, b), `${type} entry`);
    }
    assertEveryByteFlipCorrupts(encodeEntry(entry(7, 3, 'Normal', new Uint8Array(0))), (b) => decodeEntry(7, b), 'empty entry');
  });

  it('every single-byte change of a snapshot record is Corruption', () => {
    assertEveryByteFlipCorrupts(encodeSnapshot(snapshot('sm')), (b) => decodeSnapshot(b), 'snapshot');
  });

  it('every truncation of every record is Corruption', () => {
    assertEveryTruncationCorrupts(encodeHardState({ term: 5, vote: 2, commit: 9 }), (b) => decodeHardState(b), 'hard state');
    assertEveryTruncationCorrupts(encodeEntry(entry(7, 3, 'Normal', Buffer.from('payload'))), (b) => decodeEntry(7, b), 'entry');
    assertEveryTruncationCorrupts(encodeSnapshot(snapshot('sm')), (b) => decodeSnapshot(b), 'snapshot');
  });

  it('names the owner and the entry in its errors', () => {
    const bad = encodeEntry(entry(9, 1, 'Normal', Buffer.from('x')));
    bad[bad.length - 1] = bad[bad.length - 1]! ^ 1;
    assert.throws(() => decodeEntry(9, bad, 'region 42 raft log'), /region 42 raft log: entry 9 checksum mismatch/);
  });
});
