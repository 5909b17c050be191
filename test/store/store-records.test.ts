// The store's own records and request checks, judged exhaustively where the space is small:
// every single-bit corruption of a persisted record is refused; raw values keep their TTLs; raft
// commands round-trip every CF and kind; routing answers the typed error for every misaddressing,
// including keys outside a bounded region (which a one-region cluster never shows).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, encodeKey, FlotillaError, lockKey, rawKey, type RegionMeta, writeKey, latestKey, defaultKey, type WriteOp } from '../../common/index.js';
import type { kvrpcpb } from '../../proto/index.js';
import {
  decodeApplyState, decodeRegionState, decodeStoreIdent, encodeApplyState, encodeRegionState, encodeStoreIdent,
} from '../../store/local-state.js';
import { KvRouting } from '../../store/kv-routing.js';
import type { Peer } from '../../store/peer.js';
import { decodeCommand, encodeCommitMergeCommand, encodeCompactLogCommand, encodePrepareMergeCommand, encodeRollbackMergeCommand, encodeWriteCommand } from '../../store/raft-cmd.js';
import { messageCodec } from '../../proto/index.js';
import { decodeRawValue, encodeRawValue, hasTtl, liveRawValue } from '../../store/raw-value.js';

function everyBitFlip(record: Buffer, decode: (b: Buffer) => unknown): void {
  for (let i = 0; i < record.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = Buffer.from(record);
      bad[i] = bad[i]! ^ (1 << bit);
      assert.throws(() => decode(bad), (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption', `flip of byte ${i} bit ${bit} accepted`);
    }
  }
  assert.throws(() => decode(record.subarray(0, record.length - 1)), FlotillaError);
}

const region: RegionMeta = {
  id: 9, startKey: encodeKey(Buffer.from('b')), endKey: encodeKey(Buffer.from('m')), epoch: { confVer: 2, version: 5 },
  peers: [{ id: 91, storeId: 1, role: 'voter' }, { id: 92, storeId: 2, role: 'voter' }, { id: 93, storeId: 3, role: 'learner' }],
};

describe('store local records', () => {
  it('round-trip and refuse every single-bit corruption', () => {
    const ident = { clusterId: 0xfedcba9876543210n, storeId: 42 };
    assert.deepEqual(decodeStoreIdent(encodeStoreIdent(ident)), ident);
    everyBitFlip(encodeStoreIdent(ident), decodeStoreIdent);
    const apply = { appliedIndex: 123_456, truncatedIndex: 5, truncatedTerm: 5, approximateKeys: 2 ** 40 + 3 };
    assert.deepEqual(decodeApplyState(encodeApplyState(apply), 9), apply);
    everyBitFlip(encodeApplyState(apply), (b) => decodeApplyState(b, 9));
    // Every key count round-trips, the unknown one too (all ones on disk, whatever the buffer held before).
    for (const approximateKeys of [null, 0, 1, 0xffff_ffff, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const s = { appliedIndex: 7, truncatedIndex: 5, truncatedTerm: 5, approximateKeys };
      assert.deepEqual(decodeApplyState(encodeApplyState(s), 9), s, String(approximateKeys));
    }
    assert.equal(encodeApplyState({ appliedIndex: 7, truncatedIndex: 5, truncatedTerm: 5, approximateKeys: null }).subarray(25, 33).toString('hex'), 'ff'.repeat(8));
    // A version-1 apply state (no key count) still loads: the count is unknown (counted at load).
    const v1 = Buffer.alloc(29);
    v1[0] = 1;
    v1.writeBigUInt64BE(123_456n, 1);
    v1.writeBigUInt64BE(5n, 9);
    v1.writeBigUInt64BE(5n, 17);
    v1.writeUInt32BE(crc32(v1, 0, 25), 25);
    assert.deepEqual(decodeApplyState(v1, 9), { appliedIndex: 123_456, truncatedIndex: 5, truncatedTerm: 5, approximateKeys: null });
    everyBitFlip(v1, (b) => decodeApplyState(b, 9));
    const state = { state: 'normal' as const, region };
    assert.deepEqual(decodeRegionState(encodeRegionState(state), 9), state);
    assert.equal(decodeRegionState(encodeRegionState({ state: 'tombstone', region }), 9).state, 'tombstone');
    everyBitFlip(encodeRegionState(state), (b) => decodeRegionState(b, 9));
  });
});

describe('raw values', () => {
  it('keep the value and the expiry; expired values read as absent', () => {
    for (const value of [Buffer.alloc(0), Buffer.from('x'), Buffer.alloc(300, 7)]) {
      assert.deepEqual(decodeRawValue(encodeRawValue(value, 0)), { value, expiresAtMs: 0 });
      assert.deepEqual(decodeRawValue(encodeRawValue(value, 1_800_000_000_000)), { value, expiresAtMs: 1_800_000_000_000 });
      // The TTL sweep and the apply path look at the header alone: every value with an expiry, the empty one too.
      assert.equal(hasTtl(encodeRawValue(value, 1_800_000_000_000)), true, `a ${value.length}-byte value with a TTL`);
      assert.equal(hasTtl(encodeRawValue(value, 0)), false, `a ${value.length}-byte value without`);
    }
    const stored = encodeRawValue(Buffer.from('v'), 1_000);
    assert.equal(liveRawValue(stored, 999)?.toString(), 'v');
    assert.equal(liveRawValue(stored, 1_000), null);
    assert.equal(liveRawValue(null, 0), null);
    assert.equal(liveRawValue(encodeRawValue(Buffer.from('v'), 0), Number.MAX_SAFE_INTEGER)?.toString(), 'v');
    assert.throws(() => decodeRawValue(Buffer.from([9, 1, 2])), FlotillaError);
    assert.throws(() => decodeRawValue(Buffer.alloc(0)), FlotillaError);
  });
});

describe('raft write commands', () => {
  it('round-trip every CF and kind with the CF prefix restored', () => {
    const k = Buffer.from('key');
    const ops: WriteOp[] = [
      { kind: 'put', cf: 'raw', key: rawKey(k), value: Buffer.from('r') },
      { kind: 'delete', cf: 'raw', key: rawKey(Buffer.from('gone')) },
      { kind: 'put', cf: 'lock', key: lockKey(k), value: Buffer.from('l') },
      { kind: 'delete', cf: 'lock', key: lockKey(k) },
      { kind: 'put', cf: 'write', key: writeKey(k, 77n), value: Buffer.from('w') },
      { kind: 'put', cf: 'default', key: defaultKey(k, 70n), value: Buffer.alloc(1000, 1) },
      { kind: 'put', cf: 'latest', key: latestKey(k), value: Buffer.from('n') },
    ];
    const decoded = decodeCommand(encodeWriteCommand({ regionId: 9, peerId: 91, epoch: { confVer: 2, version: 5 }, ops }), 'test');
    assert.deepEqual(decoded.epoch, { confVer: 2, version: 5 });
    assert.equal(decoded.regionId, 9);
    assert.equal(decoded.kind, 'write');
    assert.deepEqual(decoded.kind === 'write' ? decoded.ops : null, ops);
    assert.throws(() => encodeWriteCommand({ regionId: 9, peerId: 91, epoch: region.epoch, ops: [{ kind: 'put', cf: 'local', key: Buffer.from([1, 2]), value: Buffer.alloc(0) }] }), FlotillaError);
    assert.throws(() => decodeCommand(Buffer.from([0xff, 0xff, 0xff]), 'test'), (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption');
  });
});

describe('raft admin commands', () => {
  it('CompactLog and the merge commands round-trip; admin kinds without an apply rule decode as unsupported; writes beside an admin request are corrupt', () => {
    const epoch = { confVer: 2, version: 5 };
    const compact = decodeCommand(encodeCompactLogCommand({ regionId: 9, peerId: 91, epoch, compactIndex: 2 ** 40, compactTerm: 7 }), 'test');
    assert.deepEqual(compact, { regionId: 9, epoch, kind: 'compactLog', compactIndex: 2 ** 40, compactTerm: 7 });
    const codec = messageCodec('flotilla.raft_serverpb.RaftCmdRequest');
    const header = { regionId: '9', peer: { id: '91' }, regionEpoch: { confVer: '2', version: '5' } };
    const target = { id: 12, startKey: Buffer.from('m'), endKey: Buffer.alloc(0), epoch: { confVer: 3, version: 8 }, peers: [{ id: 13, storeId: 1, role: 'voter' as const }, { id: 14, storeId: 2, role: 'voter' as const }] };
    assert.deepEqual(decodeCommand(encodePrepareMergeCommand({ regionId: 9, peerId: 91, epoch, minIndex: 2 ** 35, target }), 'test'), { regionId: 9, epoch, kind: 'prepareMerge', minIndex: 2 ** 35, target });
    assert.deepEqual(decodeCommand(encodeCommitMergeCommand({ regionId: 12, peerId: 13, epoch, source: target, commit: 77, commitTerm: 6 }), 'test'), { regionId: 12, epoch, kind: 'commitMerge', source: target, commit: 77, commitTerm: 6 });
    assert.deepEqual(decodeCommand(encodeRollbackMergeCommand({ regionId: 9, peerId: 91, epoch, commit: 77 }), 'test'), { regionId: 9, epoch, kind: 'rollbackMerge', commit: 77 });
    // A PrepareMerge without its target passed the entry checksum: the log is corrupt.
    assert.throws(() => decodeCommand(codec.encode({ header, adminRequest: { prepareMerge: { minIndex: '3' } } }), 'test'), (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption');
    const other = decodeCommand(codec.encode({ header, adminRequest: { transferLeader: { peer: { id: '3' } } } }), 'test');
    assert.equal(other.kind, 'unsupportedAdmin');
    assert.equal(other.kind === 'unsupportedAdmin' ? other.what : '', 'transferLeader');
    const both = codec.encode({ header, writes: [{ cf: 'CfRaw', kind: 'Put', key: Buffer.from('k'), value: Buffer.from('v') }], adminRequest: { compactLog: { compactIndex: '5', compactTerm: '5' } } });
    assert.throws(() => decodeCommand(both, 'test'), (e: unknown) => e instanceof FlotillaError && e.code === 'Corruption');
  });
});

describe('KV routing', () => {
  const fakePeer = (isLeader: boolean): Peer => ({
    region,
    isLeader,
    notLeader: () => new FlotillaError('NotLeader', 'not leader', { details: { regionId: 9 } }),
    epochNotMatch: () => new FlotillaError('EpochNotMatch', 'epoch', { details: { currentRegions: [region] } }),
  }) as unknown as Peer;
  const limits = { keyBytesMax: 16, valueBytesMax: 32, batchKeysMax: 4, scanLimitMax: 10, pendingProposalsMax: 1, unsettledWritesMax: 1 };
  const ctx = (over: Partial<kvrpcpb.Context> = {}): kvrpcpb.Context => ({
    regionId: '9', regionEpoch: { confVer: '2', version: '5' }, peer: { id: '91', storeId: '1', role: 'Voter' }, term: '0', priority: 'Normal',
    isolationLevel: 'SI', notFillCache: false, syncLog: false, replicaRead: false, staleRead: false, maxExecutionDurationMs: '0', requestSource: '', resolvedLocks: [], isRetryRequest: false, ...over,
  });
  const codeOf = (f: () => unknown): string => {
    try {
      f();
      return 'ok';
    } catch (e) {
      return e instanceof FlotillaError ? e.code : 'untyped';
    }
  };

  it('answers the typed error for every misaddressing', () => {
    const routing = new KvRouting(1, new Map([[9, fakePeer(true)]]), limits);
    assert.equal(codeOf(() => routing.route(ctx())), 'ok');
    assert.equal(codeOf(() => routing.route(null)), 'InvalidArgument');
    assert.equal(codeOf(() => routing.route(ctx({ regionId: '0' }))), 'InvalidArgument');
    assert.equal(codeOf(() => routing.route(ctx({ regionId: '10' }))), 'RegionNotFound');
    assert.equal(codeOf(() => routing.route(ctx({ regionId: 'x' }))), 'InvalidArgument');
    assert.equal(codeOf(() => routing.route(ctx({ peer: { id: '92', storeId: '2', role: 'Voter' } }))), 'StoreNotMatch');
    assert.equal(codeOf(() => routing.route(ctx({ regionEpoch: { confVer: '1', version: '5' } }))), 'EpochNotMatch');
    assert.equal(codeOf(() => routing.route(ctx({ regionEpoch: { confVer: '2', version: '6' } }))), 'EpochNotMatch');
    assert.equal(codeOf(() => routing.route(ctx({ regionEpoch: null }))), 'InvalidArgument');
    const follower = new KvRouting(1, new Map([[9, fakePeer(false)]]), limits);
    assert.equal(codeOf(() => follower.route(ctx())), 'NotLeader');
    assert.equal(codeOf(() => follower.route(ctx(), { needsLeader: false })), 'ok');
  });

  it('checks keys against the region bounds and the limits', () => {
    const routing = new KvRouting(1, new Map([[9, fakePeer(true)]]), limits);
    const peer = routing.route(ctx());
    for (const [key, code] of [['b', 'ok'], ['bz', 'ok'], ['lzzz', 'ok'], ['a', 'KeyNotInRegion'], ['m', 'KeyNotInRegion'], ['z', 'KeyNotInRegion'], ['', 'InvalidArgument'], ['c'.repeat(17), 'InvalidArgument']] as const) {
      assert.equal(codeOf(() => routing.checkKey(peer, Buffer.from(key))), code, `key ${JSON.stringify(key)}`);
    }
    assert.equal(codeOf(() => routing.checkKeys(peer, [])), 'InvalidArgument');
    assert.equal(codeOf(() => routing.checkKeys(peer, ['b', 'c', 'd', 'e', 'f'].map((s) => Buffer.from(s)))), 'LimitExceeded');
    assert.equal(codeOf(() => routing.checkValue(Buffer.alloc(33))), 'InvalidArgument');
    assert.equal(codeOf(() => routing.checkLimit(0)), 'InvalidArgument');
    assert.equal(codeOf(() => routing.checkLimit(11)), 'LimitExceeded');
  });

  it('holds every limit at N − 1, N and N + 1 and every addressed store id to the rule', () => {
    // The rule (store/config.ts, TESTING.md "every limit at N and N+1"): a size or count up to its
    // limit is served, one past it refused — keys and range keys InvalidArgument, values
    // InvalidArgument, batches and scan limits LimitExceeded. A request addressed to store 0 (no
    // store named) or to this store routes; any other store is StoreNotMatch.
    const routing = new KvRouting(1, new Map([[9, fakePeer(true)]]), limits);
    const peer = routing.route(ctx());
    let cases = 0;
    for (const delta of [-1, 0, 1]) {
      const over = delta > 0;
      const key = Buffer.from('c'.repeat(limits.keyBytesMax + delta));
      assert.equal(codeOf(() => routing.checkKey(peer, key)), over ? 'InvalidArgument' : 'ok', `key of ${key.length} bytes, limit ${limits.keyBytesMax}`);
      assert.equal(codeOf(() => routing.clampRange(peer, key, Buffer.alloc(0))), over ? 'InvalidArgument' : 'ok', `scan start of ${key.length} bytes`);
      assert.equal(codeOf(() => routing.clampRange(peer, Buffer.from('c'), Buffer.from('d'.repeat(limits.keyBytesMax + delta)))), over ? 'InvalidArgument' : 'ok', `scan end of ${limits.keyBytesMax + delta} bytes`);
      assert.equal(codeOf(() => routing.checkValue(Buffer.alloc(limits.valueBytesMax + delta))), over ? 'InvalidArgument' : 'ok', `value of ${limits.valueBytesMax + delta} bytes`);
      const keys = Array.from({ length: limits.batchKeysMax + delta }, (_, i) => Buffer.from(`c${i}`));
      assert.equal(codeOf(() => routing.checkKeys(peer, keys)), over ? 'LimitExceeded' : 'ok', `batch of ${keys.length} keys, limit ${limits.batchKeysMax}`);
      assert.equal(codeOf(() => routing.checkLimit(limits.scanLimitMax + delta)), over ? 'LimitExceeded' : 'ok', `scan limit ${limits.scanLimitMax + delta}`);
      cases += 6;
    }
    for (const peerField of [null, { id: '91', storeId: '0', role: 'Voter' as const }, { id: '91', storeId: '1', role: 'Voter' as const }, { id: '92', storeId: '2', role: 'Voter' as const }]) {
      const want = peerField === null || peerField.storeId === '0' || peerField.storeId === '1' ? 'ok' : 'StoreNotMatch';
      assert.equal(codeOf(() => routing.route(ctx({ peer: peerField }))), want, `peer ${JSON.stringify(peerField)}`);
      cases++;
    }
    assert.equal(cases, 22);
  });

  it('clamps scan ranges to the region', () => {
    const routing = new KvRouting(1, new Map([[9, fakePeer(true)]]), limits);
    const peer = routing.route(ctx());
    const r = (s: string, e: string): string => {
      const out = routing.clampRange(peer, Buffer.from(s), Buffer.from(e));
      return `${out.start.toString()}..${out.end.toString()}`;
    };
    assert.equal(r('', ''), 'b..m');
    assert.equal(r('c', ''), 'c..m');
    assert.equal(r('c', 'd'), 'c..d');
    assert.equal(r('c', 'z'), 'c..m');
    assert.equal(codeOf(() => r('a', 'c')), 'KeyNotInRegion');
    assert.equal(codeOf(() => r('n', '')), 'KeyNotInRegion');
    assert.equal(codeOf(() => r('d', 'c')), 'InvalidArgument');
  });

  it('clamps every scan range over the region boundary keys like a reference model (a start at the region end is outside it)', () => {
    // Every pair of keys below, at, inside, at the end of and past the region [b, m): the start must
    // lie in the region (empty = its start), the end is cut at the region's end (empty = its end).
    // A start equal to the end key is KeyNotInRegion: a stale client's next page must learn that
    // its region ended there, not get an empty page (it would take the rest of its range as empty).
    const routing = new KvRouting(1, new Map([[9, fakePeer(true)]]), limits);
    const peer = routing.route(ctx());
    const keys = ['', 'a', 'az', 'b', 'b\u0000', 'bz', 'c', 'l', 'lzzz', 'm', 'm\u0000', 'mz', 'n', 'z'];
    const cmp = (x: string, y: string): number => Buffer.compare(Buffer.from(x), Buffer.from(y));
    const model = (start: string, end: string): string => {
      if (end !== '' && cmp(start, end) >= 0) return 'InvalidArgument';
      if (start !== '' && (cmp(start, 'b') < 0 || cmp(start, 'm') >= 0)) return 'KeyNotInRegion';
      const to = end === '' || cmp(end, 'm') > 0 ? 'm' : end;
      return `${start === '' ? 'b' : start}..${to}`;
    };
    for (const start of keys) {
      for (const end of keys) {
        const got = codeOf(() => r2(start, end));
        const want = model(start, end);
        assert.equal(got === 'ok' ? r2(start, end) : got, want, `clampRange(${JSON.stringify(start)}, ${JSON.stringify(end)})`);
      }
    }
    function r2(start: string, end: string): string {
      const out = routing.clampRange(peer, Buffer.from(start), Buffer.from(end));
      return `${out.start.toString()}..${out.end.toString()}`;
    }
  });
});
