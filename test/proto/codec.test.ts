// 64-bit integers survive real protobuf bytes exactly (as decimal strings), for plain fields,
// repeated fields, TSO timestamps and the batch stream's tagged requests. Also pins what the
// encoder does NOT check, so that the edge (common/u64) knows it must.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';

import { messageCodec, type kvservicepb } from '../../proto/index.js';

const U64_MAX = 2n ** 64n - 1n;
const ABOVE_DOUBLE = 2n ** 53n + 1n; // the first integer a JS double cannot hold

describe('message codecs', () => {
  it('uint64 fields above 2^53 round-trip exactly as decimal strings', () => {
    const codec = messageCodec('flotilla.metapb.Peer');
    const bytes = codec.encode({ id: U64_MAX.toString(), storeId: ABOVE_DOUBLE.toString(), role: 'Learner' });
    assert.ok(Buffer.isBuffer(bytes));
    const peer = codec.decode(bytes);
    assert.equal(peer.id, '18446744073709551615');
    assert.equal(peer.storeId, '9007199254740993');
    assert.equal(BigInt(peer.id), U64_MAX);
    assert.equal(BigInt(peer.storeId), ABOVE_DOUBLE);
    assert.equal(peer.role, 'Learner');
  });

  it('any uint64 round-trips (property)', () => {
    const codec = messageCodec('flotilla.eraftpb.HardState');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: U64_MAX }), fc.bigInt({ min: 0n, max: U64_MAX }), (term, commit) => {
        const decoded = codec.decode(codec.encode({ term: term.toString(), vote: '0', commit: commit.toString() }));
        assert.equal(BigInt(decoded.term), term);
        assert.equal(BigInt(decoded.commit), commit);
        assert.equal(decoded.vote, '0');
      }),
      { numRuns: 500 },
    );
  });

  it('repeated uint64 fields round-trip exactly', () => {
    const codec = messageCodec('flotilla.eraftpb.ConfState');
    const voters = [U64_MAX, ABOVE_DOUBLE, 1n].map(String);
    const decoded = codec.decode(codec.encode({ voters, learners: [], autoLeave: true }));
    assert.deepEqual(decoded.voters, voters);
    assert.deepEqual(decoded.learners, []);
    assert.equal(decoded.autoLeave, true);
  });

  it('a TSO timestamp round-trips, and composes to physical << 18 | logical', () => {
    const codec = messageCodec('flotilla.pdpb.TsoResponse');
    const physical = 2n ** 45n + 12345n; // ms: the year 3084, still exact
    const logical = 2 ** 18 - 1;
    const decoded = codec.decode(
      codec.encode({ header: { clusterId: U64_MAX.toString() }, count: 7, timestamp: { physical: physical.toString(), logical } }),
    );
    assert.equal(decoded.count, 7);
    assert.equal(decoded.header?.clusterId, U64_MAX.toString());
    assert.ok(decoded.timestamp !== null);
    assert.equal(decoded.timestamp.physical, physical.toString());
    assert.equal(decoded.timestamp.logical, logical);
    const last = (BigInt(decoded.timestamp.physical) << 18n) | BigInt(decoded.timestamp.logical);
    assert.ok(last > 2n ** 53n, 'a realistic timestamp does not fit a double');
    assert.equal(last >> 18n, physical);
  });

  it('a batch-stream request with several tagged requests round-trips', () => {
    const codec = messageCodec('flotilla.kvservicepb.BatchCommandsRequest');
    const context = { regionId: ABOVE_DOUBLE.toString(), regionEpoch: { confVer: '3', version: U64_MAX.toString() }, peer: { id: '5', storeId: '1' } };
    const requests: kvservicepb.KvRequest__Input[] = [
      { get: { context, key: Buffer.from('k1'), version: U64_MAX.toString() } },
      {
        prewrite: {
          context,
          mutations: [
            { op: 'Put', key: Buffer.from('k1'), value: Buffer.from('v1') },
            { op: 'Del', key: Buffer.from('k2') },
          ],
          primaryLock: Buffer.from('k1'),
          startVersion: ABOVE_DOUBLE.toString(),
          lockTtl: '3000',
        },
      },
      { commit: { context, keys: [Buffer.from('k1')], startVersion: ABOVE_DOUBLE.toString(), commitVersion: U64_MAX.toString() } },
      { rawPut: { context, key: Buffer.from([0, 255]), value: Buffer.alloc(0), ttlSeconds: '60' } },
    ];
    const ids = [U64_MAX, ABOVE_DOUBLE, 0n, 1n].map(String);
    const decoded = codec.decode(codec.encode({ requests, requestIds: ids }));

    assert.deepEqual(decoded.requestIds, ids);
    assert.deepEqual(
      decoded.requests.map((r) => r.cmd),
      ['get', 'prewrite', 'commit', 'rawPut'],
    );
    const [get, prewrite, commit, rawPut] = decoded.requests;
    assert.equal(get?.get?.version, U64_MAX.toString());
    assert.equal(get?.get?.context?.regionId, ABOVE_DOUBLE.toString());
    assert.equal(get?.get?.context?.regionEpoch?.version, U64_MAX.toString());
    assert.equal(get?.prewrite, undefined, 'members of a oneof that are not set are absent');
    assert.equal(prewrite?.prewrite?.startVersion, ABOVE_DOUBLE.toString());
    assert.deepEqual(
      prewrite?.prewrite?.mutations.map((m) => [m.op, m.key.toString(), m.value.toString()]),
      [
        ['Put', 'k1', 'v1'],
        ['Del', 'k2', ''],
      ],
    );
    assert.equal(commit?.commit?.commitVersion, U64_MAX.toString());
    assert.deepEqual(rawPut?.rawPut?.key, Buffer.from([0, 255]));
    assert.equal(rawPut?.rawPut?.ttlSeconds, '60');
  });

  it('absent fields decode to defaults: "0", "", empty Buffer, [], and null for messages', () => {
    const codec = messageCodec('flotilla.kvrpcpb.GetResponse');
    const decoded = codec.decode(codec.encode({}));
    assert.equal(decoded.regionError, null);
    assert.equal(decoded.otherError, null);
    assert.equal(decoded.error, null);
    assert.deepEqual(decoded.value, Buffer.alloc(0));
    assert.equal(decoded.notFound, false);
    const region = messageCodec('flotilla.metapb.Region');
    const r = region.decode(region.encode({}));
    assert.equal(r.id, '0');
    assert.deepEqual(r.peers, []);
    assert.equal(r.regionEpoch, null);
  });

  it('decode accepts a Uint8Array view at an offset', () => {
    const codec = messageCodec('flotilla.raft_serverpb.RaftApplyState');
    const bytes = codec.encode({ appliedIndex: U64_MAX.toString(), truncatedState: { index: '5', term: '2' } });
    const backing = new Uint8Array(bytes.length + 3);
    backing.set(bytes, 3);
    const decoded = codec.decode(backing.subarray(3));
    assert.equal(decoded.appliedIndex, U64_MAX.toString());
    assert.equal(decoded.truncatedState?.index, '5');
  });

  it('a raft command with an admin request round-trips (entry data)', () => {
    const codec = messageCodec('flotilla.raft_serverpb.RaftCmdRequest');
    const decoded = codec.decode(
      codec.encode({
        header: { regionId: '7', term: U64_MAX.toString(), uuid: Buffer.alloc(16, 1) },
        adminRequest: {
          batchSplit: { requests: [{ splitKey: Buffer.from('m'), newRegionId: ABOVE_DOUBLE.toString(), newPeerIds: ['8', '9'] }] },
        },
      }),
    );
    assert.equal(decoded.header?.term, U64_MAX.toString());
    assert.equal(decoded.adminRequest?.kind, 'batchSplit');
    assert.equal(decoded.adminRequest?.batchSplit?.requests[0]?.newRegionId, ABOVE_DOUBLE.toString());
    assert.deepEqual(decoded.writes, []);
  });

  it('the encoder does not validate uint64 strings: the edge must (pinned protobufjs behaviour)', () => {
    const codec = messageCodec('flotilla.metapb.Peer');
    const roundTrip = (id: string): string => codec.decode(codec.encode({ id })).id;
    assert.equal(roundTrip('-1'), U64_MAX.toString(), '"-1" wraps to 2^64-1');
    assert.equal(roundTrip('18446744073709551616'), '0', '2^64 wraps to 0');
    assert.equal(roundTrip('abc'), '0', 'garbage reads as 0');
  });

  it('messageCodec refuses a service or unknown name', () => {
    assert.throws(() => messageCodec('flotilla.kvservicepb.Kv' as 'flotilla.metapb.Peer'), /not a message/);
    assert.throws(() => messageCodec('flotilla.metapb.Nope' as 'flotilla.metapb.Peer'), /no message/);
  });
});
