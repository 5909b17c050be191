// The snapshot-isolation checker used by the client tests (test/support/client-history.ts), on
// hand-written histories: known-good ones must pass (write skew included: SI allows it) and
// known-bad ones must be flagged (TESTING.md: checkers are tested too).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkSnapshotIsolation, type TxnOp, type TxnRecord } from '../support/client-history.js';

const b = (s: string): Buffer => Buffer.from(s);
const hex = (s: string): string => b(s).toString('hex');
const get = (key: string, result: string | null): TxnOp => ({ kind: 'get', key: b(key), result: result === null ? null : b(result) });
const put = (key: string, value: string): TxnOp => ({ kind: 'put', key: b(key), value: b(value) });
const del = (key: string): TxnOp => ({ kind: 'delete', key: b(key) });
const committed = (id: string, startTs: number, commitTs: number, ops: TxnOp[]): TxnRecord => ({ id, startTs: BigInt(startTs), ops, outcome: { kind: 'committed', commitTs: BigInt(commitTs) } });
const failed = (id: string, startTs: number, ops: TxnOp[]): TxnRecord => ({ id, startTs: BigInt(startTs), ops, outcome: { kind: 'failed', code: 'WriteConflict' } });
const unknown = (id: string, startTs: number, tsAfter: number, ops: TxnOp[]): TxnRecord => ({ id, startTs: BigInt(startTs), ops, outcome: { kind: 'unknown', tsAfter: BigInt(tsAfter) } });
const state = (entries: [string, string][]): Map<string, Buffer> => new Map(entries.map(([k, v]) => [hex(k), b(v)]));

describe('snapshot-isolation checker', () => {
  it('passes a serial history with reads of own writes, deletes and scans', () => {
    const h = [
      committed('t1', 10, 11, [get('a', '0'), put('a', '1'), get('a', '1'), del('b'), get('b', null)]),
      committed('t2', 12, 13, [get('a', '1'), get('b', null), { kind: 'scan', start: b('a'), end: b('z'), reverse: false, result: [{ key: b('a'), value: b('1') }, { key: b('c'), value: b('x') }] }, put('c', 'y')]),
      failed('t3', 12, [get('c', 'x'), put('c', 'z')]),
    ];
    const v = checkSnapshotIsolation(h, state([['a', '0'], ['b', '0'], ['c', 'x']]), state([['a', '1'], ['c', 'y']]));
    assert.deepEqual(v.anomalies, []);
  });

  it('needs a commit ts above the start ts only of transactions that write', () => {
    const readOnly = [committed('t1', 10, 10, [get('a', '0')])];
    assert.equal(checkSnapshotIsolation(readOnly, state([['a', '0']]), null).ok, true);
    const writer = [committed('t1', 10, 10, [put('a', '1')])];
    assert.equal(checkSnapshotIsolation(writer, state([['a', '0']]), null).ok, false);
  });

  it('allows write skew (G2-item): disjoint writes from overlapping snapshots', () => {
    const h = [committed('t1', 10, 13, [get('a', '0'), get('b', '0'), put('a', '1')]), committed('t2', 11, 14, [get('a', '0'), get('b', '0'), put('b', '1')])];
    assert.equal(checkSnapshotIsolation(h, state([['a', '0'], ['b', '0']]), state([['a', '1'], ['b', '1']])).ok, true);
  });

  it('flags a lost update: two overlapping committed writers of one key', () => {
    const h = [committed('t1', 10, 13, [get('a', '0'), put('a', '1')]), committed('t2', 11, 14, [get('a', '0'), put('a', '1')])];
    const v = checkSnapshotIsolation(h, state([['a', '0']]), state([['a', '1']]));
    assert.equal(v.ok, false);
    assert.match(v.anomalies.join('\n'), /lost update/);
  });

  it('flags a dirty read of a failed transaction\'s write', () => {
    const h = [failed('t1', 10, [put('a', 'dirty')]), committed('t2', 12, 13, [get('a', 'dirty')])];
    assert.equal(checkSnapshotIsolation(h, state([['a', '0']]), null).ok, false);
  });

  it('flags a stale read (a commit before the start ts not seen) and a read from the future', () => {
    const stale = [committed('t1', 10, 11, [put('a', '1')]), committed('t2', 12, 13, [get('a', '0')])];
    assert.equal(checkSnapshotIsolation(stale, state([['a', '0']]), null).ok, false);
    const future = [committed('t1', 10, 14, [put('a', '1')]), committed('t2', 12, 13, [get('a', '1')])];
    assert.equal(checkSnapshotIsolation(future, state([['a', '0']]), null).ok, false);
  });

  it('flags a read that misses its own buffered write, and a scan that counts a deleted row against its limit', () => {
    const own = [committed('t1', 10, 11, [put('a', '1'), get('a', '0')])];
    assert.equal(checkSnapshotIsolation(own, state([['a', '0']]), null).ok, false);
    const scan = [committed('t1', 10, 11, [del('a'), { kind: 'scan', start: b('a'), end: b('z'), limit: 1, reverse: false, result: [] }])];
    assert.equal(checkSnapshotIsolation(scan, state([['a', '0'], ['b', '0']]), null).ok, false);
  });

  it('flags a final state that no serial order explains, and a failed transaction that took effect', () => {
    const h = [failed('t1', 10, [put('a', '1')])];
    assert.equal(checkSnapshotIsolation(h, state([['a', '0']]), state([['a', '1']])).ok, false);
  });

  it('explains an unknown outcome either way, and places it inside its window only', () => {
    const seen = [unknown('u', 10, 20, [put('a', '1')]), committed('t2', 15, 16, [get('a', '1')])];
    const v = checkSnapshotIsolation(seen, state([['a', '0']]), state([['a', '1']]));
    assert.equal(v.ok, true, v.anomalies.join('\n'));
    assert.ok(v.unknownCommitted.has('u'));
    const notSeen = [unknown('u', 10, 20, [put('a', '1')]), committed('t2', 15, 16, [get('a', '0')])];
    const w = checkSnapshotIsolation(notSeen, state([['a', '0']]), state([['a', '0']]));
    assert.equal(w.ok, true, w.anomalies.join('\n'));
    assert.equal(w.unknownCommitted.size, 0);
    // Seen by a transaction that started before the unknown one: no placement explains it.
    const early = [committed('t0', 5, 6, [get('a', '1')]), unknown('u', 10, 20, [put('a', '1')])];
    assert.equal(checkSnapshotIsolation(early, state([['a', '0']]), null).ok, false);
  });
});
