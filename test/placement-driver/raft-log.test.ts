// PD's durable raft log on real RocksDB: what is persisted comes back after a reopen, a
// conflicting suffix is replaced, snapshots compact the log, and corruption is detected.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleRocks } from '../../common/index.js';
import { EMPTY_CONF_STATE, type Entry } from '../../raft/index.js';
import { PdRaftLog } from '../../placement-driver/raft-log.js';
import { decodeEntry, encodeEntry, decodeHardState, encodeHardState, encodeSnapshot, decodeSnapshot } from '../../raft-host/index.js';

const entry = (index: number, term: number, text = `e${index}`): Entry => ({ type: 'Normal', term, index, data: new Uint8Array(Buffer.from(text)) });

describe('PD raft log (RocksDB)', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  async function freshDb(): Promise<{ path: string; db: SimpleRocks }> {
    const path = await mkdtemp(join(tmpdir(), 'flotilla-pd-log-'));
    dirs.push(path);
    return { path, db: await SimpleRocks.open(path) };
  }

  it('reloads hard state, snapshot and entries exactly', async () => {
    const { path, db } = await freshDb();
    const log = await PdRaftLog.open(db);
    const confState = { ...EMPTY_CONF_STATE, voters: [1, 2, 3] };
    await log.persist({ snapshot: { metadata: { index: 1, term: 1, confState }, data: Buffer.from('sm@1') }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [], mustSync: true });
    await log.persist({ hardState: { term: 2, vote: 3, commit: 3 }, entries: [entry(2, 2), entry(3, 2), entry(4, 2)], snapshot: undefined, mustSync: true });
    await db.close();
    const again = await PdRaftLog.open(await SimpleRocks.open(path));
    const s = again.storage;
    assert.deepEqual(s.initialState().hardState, { term: 2, vote: 3, commit: 3 });
    assert.deepEqual(s.initialState().confState, confState);
    assert.equal(s.firstIndex(), 2);
    assert.equal(s.lastIndex(), 4);
    assert.deepEqual(s.entries(2, 5, Infinity), [entry(2, 2), entry(3, 2), entry(4, 2)]);
    const snap = s.snapshot();
    assert.ok(snap !== 'unavailable' && Buffer.from(snap.data).toString() === 'sm@1');
  });

  it('replaces a conflicting suffix, also on disk', async () => {
    const { path, db } = await freshDb();
    const log = await PdRaftLog.open(db);
    await log.persist({ hardState: { term: 1, vote: 1, commit: 0 }, entries: [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 1)], snapshot: undefined, mustSync: true });
    await log.persist({ hardState: { term: 2, vote: 2, commit: 0 }, entries: [entry(3, 2, 'new3')], snapshot: undefined, mustSync: true });
    await db.close();
    const again = await PdRaftLog.open(await SimpleRocks.open(path));
    assert.equal(again.storage.lastIndex(), 3);
    assert.deepEqual(again.storage.entries(1, 4, Infinity), [entry(1, 1), entry(2, 1), entry(3, 2, 'new3')]);
  });

  it('compacts behind a snapshot and reloads from it', async () => {
    const { path, db } = await freshDb();
    const log = await PdRaftLog.open(db);
    const entries = Array.from({ length: 20 }, (_, i) => entry(i + 1, 1));
    await log.persist({ hardState: { term: 1, vote: 1, commit: 20 }, entries, snapshot: undefined, mustSync: true });
    await log.compact(15, { ...EMPTY_CONF_STATE, voters: [1] }, Buffer.from('sm@15'), 10);
    assert.equal(log.storage.firstIndex(), 11);
    await db.close();
    const again = await PdRaftLog.open(await SimpleRocks.open(path));
    assert.equal(again.storage.firstIndex(), 16, 'a restart starts from the snapshot');
    assert.equal(again.storage.lastIndex(), 20);
    assert.equal(again.storage.term(15), 1);
  });

  it('detects corruption in every record kind', () => {
    const e = encodeEntry(entry(7, 3));
    assert.deepEqual(decodeEntry(7, e), entry(7, 3));
    const flipped = Buffer.from(e);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    assert.throws(() => decodeEntry(7, flipped), { code: 'Corruption' });
    const hs = encodeHardState({ term: 5, vote: 2, commit: 9 });
    assert.deepEqual(decodeHardState(hs), { term: 5, vote: 2, commit: 9 });
    const badHs = Buffer.from(hs);
    badHs[3] = badHs[3]! ^ 1;
    assert.throws(() => decodeHardState(badHs), { code: 'Corruption' });
    const snap = encodeSnapshot({ metadata: { index: 4, term: 2, confState: EMPTY_CONF_STATE }, data: Buffer.from('x') });
    assert.equal(decodeSnapshot(snap).metadata.index, 4);
    const badSnap = Buffer.from(snap);
    badSnap[10] = badSnap[10]! ^ 1;
    assert.throws(() => decodeSnapshot(badSnap), { code: 'Corruption' });
    assert.throws(() => decodeEntry(1, Buffer.from([9, 0])), { code: 'Corruption' });
  });
});
