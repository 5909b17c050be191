// A Ready's durable part as write operations under the caller's key scheme: every entry a put
// at its key, the old tail deleted when a shorter suffix replaces a longer one, the hard state
// and (only where the scheme keeps one) the snapshot; the byte count is what was encoded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { WriteOp } from '../../common/index.js';
import { EMPTY_CONF_STATE, type Entry, type HardState, type Snapshot } from '../../raft/index.js';
import {
  decodeEntry, decodeHardState, decodeSnapshot, encodeEntry, encodeHardState, encodeSnapshot, readyPersistOps, type RaftKeyScheme, type ReadyPersistInput,
} from '../../raft-host/index.js';

const scheme = (withSnapshot: boolean): RaftKeyScheme => ({
  hardStateKey: Buffer.from('hs'),
  entryKey: (index) => Buffer.from(`e${String(index).padStart(4, '0')}`),
  snapshotKey: withSnapshot ? Buffer.from('snap') : null,
});
const entry = (index: number, term: number): Entry => ({ type: 'Normal', term, index, data: new Uint8Array(Buffer.from(`cmd${index}`)) });
const hardState: HardState = { term: 3, vote: 2, commit: 5 };
const snap: Snapshot = { metadata: { index: 10, term: 2, confState: { ...EMPTY_CONF_STATE, voters: [1, 2, 3] } }, data: new Uint8Array(Buffer.from('sm@10')) };

const input = (over: Partial<ReadyPersistInput>): ReadyPersistInput => ({ hardState: undefined, entries: [], snapshot: undefined, previousLastIndex: 0, ...over });
const keys = (ops: readonly WriteOp[], kind: WriteOp['kind']): string[] => ops.filter((o) => o.kind === kind).map((o) => o.key.toString());

describe('readyPersistOps', () => {
  it('puts every entry at its key, then the hard state, and counts the encoded bytes', () => {
    const entries = [entry(6, 3), entry(7, 3), entry(8, 3)];
    const out: WriteOp[] = [];
    const bytes = readyPersistOps(scheme(true), input({ hardState, entries, previousLastIndex: 5 }), out);
    assert.deepEqual(out.map((o) => `${o.kind} ${o.key.toString()}`), ['put e0006', 'put e0007', 'put e0008', 'put hs']);
    for (const op of out) assert.equal(op.cf, 'local');
    const puts = out.filter((o): o is Extract<WriteOp, { kind: 'put' }> => o.kind === 'put');
    entries.forEach((e, i) => assert.deepEqual(decodeEntry(e.index, puts[i]!.value), e));
    assert.deepEqual(decodeHardState(puts[3]!.value), hardState);
    assert.equal(bytes, entries.reduce((n, e) => n + encodeEntry(e).length, 0) + encodeHardState(hardState).length);
    assert.equal(bytes, puts.reduce((n, o) => n + o.value.length, 0));
  });

  it('deletes exactly the old tail when a shorter suffix replaces a longer one', () => {
    const out: WriteOp[] = [];
    readyPersistOps(scheme(true), input({ entries: [entry(4, 5), entry(5, 5)], previousLastIndex: 9 }), out);
    assert.deepEqual(keys(out, 'put'), ['e0004', 'e0005']);
    assert.deepEqual(keys(out, 'delete'), ['e0006', 'e0007', 'e0008', 'e0009']);
  });

  it('deletes nothing when the new entries reach or pass the old last index', () => {
    for (const previousLastIndex of [0, 3, 5]) {
      const out: WriteOp[] = [];
      readyPersistOps(scheme(true), input({ entries: [entry(4, 5), entry(5, 5)], previousLastIndex }), out);
      assert.deepEqual(keys(out, 'delete'), [], `previous last ${previousLastIndex}`);
    }
  });

  it('deletes nothing without entries, however long the old log', () => {
    const out: WriteOp[] = [];
    readyPersistOps(scheme(true), input({ hardState, previousLastIndex: 100 }), out);
    assert.deepEqual(out.map((o) => o.kind), ['put']);
  });

  it('writes a snapshot only where the scheme keeps one', () => {
    const withKey: WriteOp[] = [];
    const bytes = readyPersistOps(scheme(true), input({ snapshot: snap, hardState }), withKey);
    assert.deepEqual(keys(withKey, 'put'), ['snap', 'hs']);
    const put = withKey[0]!;
    assert.ok(put.kind === 'put');
    assert.deepEqual(decodeSnapshot(put.value), snap);
    assert.equal(bytes, encodeSnapshot(snap).length + encodeHardState(hardState).length);
    const without: WriteOp[] = [];
    assert.equal(readyPersistOps(scheme(false), input({ snapshot: snap, hardState }), without), encodeHardState(hardState).length);
    assert.deepEqual(keys(without, 'put'), ['hs']);
  });

  it('appends to the caller\'s batch (many groups, one write) and adds nothing for an empty Ready', () => {
    const out: WriteOp[] = [{ kind: 'delete', cf: 'raw', key: Buffer.from('other') }];
    assert.equal(readyPersistOps(scheme(true), input({ previousLastIndex: 7 }), out), 0);
    assert.equal(out.length, 1);
    readyPersistOps(scheme(true), input({ entries: [entry(8, 1)], previousLastIndex: 7 }), out);
    assert.deepEqual(out.map((o) => o.key.toString()), ['other', 'e0008']);
  });
});
