// The bench's hand-rolled etcd v3 codec (bench/peers/etcd-wire.ts) against known bytes, and
// against protobufjs reading etcd's own message definitions (copied below from etcd's
// api/etcdserverpb/rpc.proto and api/mvccpb/kv.proto, v3.4): every request we encode decodes to
// the same fields there, every response protobufjs encodes decodes to the same fields here
// (fast-check, seeded), unknown fields are skipped, and malformed input is EtcdWireError.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import { EtcdCallError, grpcFrame, grpcTarget, grpcUnframe, statusName } from '../../bench/peers/etcd-client.js';
import {
  type Compare, decodePutResponse, decodeRangeResponse, decodeTxnResponse, encodePutRequest, encodeRangeRequest, encodeTxnRequest, EtcdWireError,
  type RangeRequest, type RequestOp,
} from '../../bench/peers/etcd-wire.js';

const ETCD_PROTO = `
syntax = "proto3";
package etcdserverpb;
message ResponseHeader { uint64 cluster_id = 1; uint64 member_id = 2; int64 revision = 3; uint64 raft_term = 4; }
message KeyValue { bytes key = 1; int64 create_revision = 2; int64 mod_revision = 3; int64 version = 4; bytes value = 5; int64 lease = 6; }
message RangeRequest {
  enum SortOrder { NONE = 0; ASCEND = 1; DESCEND = 2; }
  enum SortTarget { KEY = 0; VERSION = 1; CREATE = 2; MOD = 3; VALUE = 4; }
  bytes key = 1; bytes range_end = 2; int64 limit = 3; int64 revision = 4; SortOrder sort_order = 5; SortTarget sort_target = 6;
  bool serializable = 7; bool keys_only = 8; bool count_only = 9; int64 min_mod_revision = 10; int64 max_mod_revision = 11;
  int64 min_create_revision = 12; int64 max_create_revision = 13;
}
message RangeResponse { ResponseHeader header = 1; repeated KeyValue kvs = 2; bool more = 3; int64 count = 4; }
message PutRequest { bytes key = 1; bytes value = 2; int64 lease = 3; bool prev_kv = 4; bool ignore_value = 5; bool ignore_lease = 6; }
message PutResponse { ResponseHeader header = 1; KeyValue prev_kv = 2; }
message DeleteRangeRequest { bytes key = 1; bytes range_end = 2; bool prev_kv = 3; }
message DeleteRangeResponse { ResponseHeader header = 1; int64 deleted = 2; repeated KeyValue prev_kvs = 3; }
message RequestOp { oneof request { RangeRequest request_range = 1; PutRequest request_put = 2; DeleteRangeRequest request_delete_range = 3; TxnRequest request_txn = 4; } }
message ResponseOp { oneof response { RangeResponse response_range = 1; PutResponse response_put = 2; DeleteRangeResponse response_delete_range = 3; TxnResponse response_txn = 4; } }
message Compare {
  enum CompareResult { EQUAL = 0; GREATER = 1; LESS = 2; NOT_EQUAL = 3; }
  enum CompareTarget { VERSION = 0; CREATE = 1; MOD = 2; VALUE = 3; LEASE = 4; }
  CompareResult result = 1; CompareTarget target = 2; bytes key = 3;
  oneof target_union { int64 version = 4; int64 create_revision = 5; int64 mod_revision = 6; bytes value = 7; int64 lease = 8; }
  bytes range_end = 64;
}
message TxnRequest { repeated Compare compare = 1; repeated RequestOp success = 2; repeated RequestOp failure = 3; }
message TxnResponse { ResponseHeader header = 1; bool succeeded = 2; repeated ResponseOp responses = 3; }
`;

const root = protobuf.parse(ETCD_PROTO, { keepCase: true }).root;
const type = (name: string): protobuf.Type => root.lookupType(`etcdserverpb.${name}`);
/** protobufjs's plain-object form: int64 as decimal strings, enums as names, oneof member names present. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, bytes: Array, defaults: false, oneofs: true };

function decodedByProtobufjs(name: string, bytes: Buffer): Record<string, unknown> {
  return type(name).toObject(type(name).decode(bytes), TO_OBJECT);
}

function encodedByProtobufjs(name: string, object: Record<string, unknown>): Buffer {
  const t = type(name);
  return Buffer.from(t.encode(t.fromObject(object)).finish());
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const bytesOf = (b: Buffer): number[] => [...b];

describe('etcd wire: requests against known bytes', () => {
  it('PutRequest {key "a", value "b"} is 0a 01 61 12 01 62', () => {
    assert.deepEqual(encodePutRequest({ key: Buffer.from('a'), value: Buffer.from('b') }), hex('0a0161 120162'));
  });

  it('PutRequest with an empty value leaves the value out (proto3 default)', () => {
    assert.deepEqual(encodePutRequest({ key: Buffer.from('a'), value: Buffer.alloc(0) }), hex('0a0161'));
  });

  it('RangeRequest: key, range_end \\0, limit 100, then serializable; linearizable leaves field 7 out', () => {
    assert.deepEqual(encodeRangeRequest({ key: Buffer.from('k'), rangeEnd: Buffer.from([0]), limit: 100 }), hex('0a016b 120100 1864'));
    assert.deepEqual(encodeRangeRequest({ key: Buffer.from('k'), serializable: true }), hex('0a016b 3801'));
    assert.deepEqual(encodeRangeRequest({ key: Buffer.from('k'), serializable: false }), hex('0a016b'));
    assert.deepEqual(encodeRangeRequest({ key: Buffer.from('k'), limit: 300 }), hex('0a016b 18ac02'), 'a two-byte varint');
  });

  it('a Compare of mod_revision 0 still writes the oneof member (30 00): an absent key compares as revision 0', () => {
    const txn = encodeTxnRequest({
      compare: [{ key: Buffer.from('a'), result: 'equal', target: 'mod', modRevision: 0n }],
      success: [{ put: { key: Buffer.from('a'), value: Buffer.from('b') } }],
      failure: [],
    });
    assert.deepEqual(txn, hex('0a07 1002 1a0161 3000   1208 1206 0a0161 120162'));
  });

  it('a Compare with another result writes field 1; a value compare writes field 7', () => {
    const txn = encodeTxnRequest({ compare: [{ key: Buffer.from('a'), result: 'notEqual', target: 'value', value: Buffer.from('v') }], success: [], failure: [{ range: { key: Buffer.from('a') } }] });
    assert.deepEqual(txn, hex('0a0a 0803 1003 1a0161 3a0176   1a05 0a03 0a0161'));
  });

  it('negative or unsafe revisions and limits are refused, not wrapped', () => {
    assert.throws(() => encodeTxnRequest({ compare: [{ key: Buffer.from('a'), result: 'equal', target: 'mod', modRevision: -1n }], success: [], failure: [] }), EtcdWireError);
    assert.throws(() => encodeTxnRequest({ compare: [{ key: Buffer.from('a'), result: 'equal', target: 'mod', modRevision: 2n ** 53n }], success: [], failure: [] }), EtcdWireError);
    assert.throws(() => encodeRangeRequest({ key: Buffer.from('a'), limit: -1 }), EtcdWireError);
    assert.throws(() => encodeRangeRequest({ key: Buffer.from('a'), limit: 1.5 }), EtcdWireError);
  });
});

describe('etcd wire: requests read back by protobufjs from etcd\'s definitions', () => {
  const key = fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a));
  const value = fc.uint8Array({ minLength: 0, maxLength: 2_000 }).map((a) => Buffer.from(a));
  const revision = fc.bigInt({ min: 0n, max: 2n ** 53n - 1n });
  const range: fc.Arbitrary<RangeRequest> = fc.record({ key, rangeEnd: fc.option(key, { nil: undefined }), limit: fc.option(fc.nat(), { nil: undefined }), serializable: fc.option(fc.boolean(), { nil: undefined }) });
  const compare: fc.Arbitrary<Compare> = fc.oneof<fc.Arbitrary<Compare>[]>(
    fc.record({ key, result: fc.constantFrom('equal', 'greater', 'less', 'notEqual'), target: fc.constant('mod'), modRevision: revision }),
    fc.record({ key, result: fc.constantFrom('equal', 'greater', 'less', 'notEqual'), target: fc.constant('value'), value }),
  );
  const op: fc.Arbitrary<RequestOp> = fc.oneof(fc.record({ put: fc.record({ key, value }) }), fc.record({ range }));
  const RESULT_NAME = { equal: 'EQUAL', greater: 'GREATER', less: 'LESS', notEqual: 'NOT_EQUAL' } as const;

  const expectRange = (r: RangeRequest): Record<string, unknown> => {
    const o: Record<string, unknown> = { key: bytesOf(r.key) };
    if (r.rangeEnd !== undefined && r.rangeEnd.length > 0) o['range_end'] = bytesOf(r.rangeEnd);
    if ((r.limit ?? 0) > 0) o['limit'] = String(r.limit);
    if (r.serializable === true) o['serializable'] = true;
    return o;
  };
  const expectPut = (p: { key: Buffer; value: Buffer }): Record<string, unknown> => (p.value.length > 0 ? { key: bytesOf(p.key), value: bytesOf(p.value) } : { key: bytesOf(p.key) });
  const expectOp = (o: RequestOp): Record<string, unknown> => ('put' in o ? { request_put: expectPut(o.put), request: 'request_put' } : { request_range: expectRange(o.range), request: 'request_range' });
  const expectCompare = (c: Compare): Record<string, unknown> => {
    const o: Record<string, unknown> = { target: c.target === 'mod' ? 'MOD' : 'VALUE', key: bytesOf(c.key) };
    if (c.result !== 'equal') o['result'] = RESULT_NAME[c.result];
    if (c.target === 'mod') Object.assign(o, { mod_revision: String(c.modRevision), target_union: 'mod_revision' });
    else Object.assign(o, { value: bytesOf(c.value), target_union: 'value' });
    return o;
  };

  it('PutRequest and RangeRequest', () => {
    fc.assert(fc.property(key, value, range, (k, v, r) => {
      assert.deepEqual(decodedByProtobufjs('PutRequest', encodePutRequest({ key: k, value: v })), expectPut({ key: k, value: v }));
      assert.deepEqual(decodedByProtobufjs('RangeRequest', encodeRangeRequest(r)), expectRange(r));
    }), { seed: 9, numRuns: 300 });
  });

  it('TxnRequest with compares, success and failure ops', () => {
    fc.assert(fc.property(fc.array(compare, { maxLength: 4 }), fc.array(op, { maxLength: 4 }), fc.array(op, { maxLength: 3 }), (cs, success, failure) => {
      const decoded = decodedByProtobufjs('TxnRequest', encodeTxnRequest({ compare: cs, success, failure }));
      const expected: Record<string, unknown> = {};
      if (cs.length > 0) expected['compare'] = cs.map(expectCompare);
      if (success.length > 0) expected['success'] = success.map(expectOp);
      if (failure.length > 0) expected['failure'] = failure.map(expectOp);
      assert.deepEqual(decoded, expected);
    }), { seed: 10, numRuns: 300 });
  });
});

describe('etcd wire: responses written by protobufjs, read here', () => {
  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  const i64 = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n });
  const bytes = fc.uint8Array({ maxLength: 300 });
  const header = fc.record({ cluster_id: u64, member_id: u64, revision: i64, raft_term: u64 });
  const kv = fc.record({ key: bytes, create_revision: i64, mod_revision: i64, version: i64, value: bytes, lease: i64 });
  const str = (o: Record<string, unknown>): Record<string, unknown> => JSON.parse(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? [...v] : v))) as Record<string, unknown>;
  const expectKv = (k: { key: Uint8Array; value: Uint8Array; create_revision: bigint; mod_revision: bigint; version: bigint }) => ({
    key: Buffer.from(k.key), value: Buffer.from(k.value), createRevision: k.create_revision, modRevision: k.mod_revision, version: k.version,
  });

  it('RangeResponse: header revision, every pair, more, count — cluster ids above 2^53 do not disturb it', () => {
    fc.assert(fc.property(header, fc.array(kv, { maxLength: 5 }), fc.boolean(), i64, (h, kvs, more, count) => {
      const bytesOut = encodedByProtobufjs('RangeResponse', str({ header: h, kvs, more, count }));
      const r = decodeRangeResponse(bytesOut);
      assert.equal(r.revision, h.revision);
      assert.equal(r.memberId, h.member_id, 'a uint64 member id, not sign-extended');
      assert.deepEqual(r.kvs, kvs.map(expectKv));
      assert.equal(r.more, more);
      assert.equal(r.count, count);
    }), { seed: 11, numRuns: 300 });
  });

  it('TxnResponse: succeeded and each response op of its kind; PutResponse: the revision', () => {
    const responseOp = fc.oneof(
      fc.record({ response_range: fc.record({ header, kvs: fc.array(kv, { maxLength: 3 }) }) }),
      fc.record({ response_put: fc.record({ header, prev_kv: kv }) }),
      fc.record({ response_delete_range: fc.record({ header, deleted: i64 }) }),
    );
    fc.assert(fc.property(header, fc.boolean(), fc.array(responseOp, { maxLength: 4 }), (h, succeeded, responses) => {
      const t = decodeTxnResponse(encodedByProtobufjs('TxnResponse', str({ header: h, succeeded, responses })));
      assert.equal(t.revision, h.revision);
      assert.equal(t.memberId, h.member_id);
      assert.equal(t.succeeded, succeeded);
      assert.equal(t.responses.length, responses.length);
      responses.forEach((expected, i) => {
        const got = t.responses[i]!;
        if ('response_range' in expected) {
          assert.equal(got.kind, 'range');
          assert.deepEqual(got.kind === 'range' ? got.range.kvs : null, expected.response_range.kvs.map(expectKv));
          assert.equal(got.kind === 'range' ? got.range.revision : null, expected.response_range.header.revision);
        } else if ('response_put' in expected) {
          assert.deepEqual(got, { kind: 'put', put: { revision: expected.response_put.header.revision, memberId: expected.response_put.header.member_id } });
        } else {
          assert.deepEqual(got, { kind: 'other', field: 3 });
        }
      });
      assert.deepEqual(decodePutResponse(encodedByProtobufjs('PutResponse', str({ header: h }))), { revision: h.revision, memberId: h.member_id });
    }), { seed: 12, numRuns: 300 });
  });

  it('unknown fields of every wire type are skipped', () => {
    const known = encodedByProtobufjs('RangeResponse', str({ header: { revision: 7n }, kvs: [{ key: [0x61], value: [0x62], mod_revision: 5n }], count: 1n }));
    // field 20 varint 300, field 21 fixed64, field 22 bytes "xyz", field 23 fixed32
    const extra = hex('a00154 a901 0102030405060708 b201 03 78797a bd01 01020304');
    const r = decodeRangeResponse(Buffer.concat([extra, known, extra]));
    assert.equal(r.revision, 7n);
    assert.deepEqual(r.kvs.map((k) => [k.key.toString(), k.value.toString(), k.modRevision]), [['a', 'b', 5n]]);
  });

  it('truncated or malformed input is EtcdWireError, never another error or a silent wrong answer', () => {
    const full = encodedByProtobufjs('TxnResponse', str({ header: { revision: 300n }, succeeded: true, responses: [{ response_range: { kvs: [{ key: [1, 2], value: [3, 4, 5], mod_revision: 9n }] } }] }));
    for (let cut = 1; cut < full.length; cut++) {
      try {
        const t = decodeTxnResponse(full.subarray(0, cut));
        // A cut at a field boundary is a shorter valid message: it must then lack what was cut.
        assert.ok(t.responses.length === 0 || cut === full.length, `cut ${cut}: decoded ${t.responses.length} responses`);
      } catch (err) {
        assert.ok(err instanceof EtcdWireError, `cut ${cut}: ${String(err)}`);
      }
    }
    assert.throws(() => decodeRangeResponse(hex('0a05 1801')), EtcdWireError, 'a length past the end');
    assert.throws(() => decodeRangeResponse(hex('1b')), EtcdWireError, 'wire type 3 (groups) is not supported');
    assert.throws(() => decodeRangeResponse(hex('0001')), EtcdWireError, 'field number 0');
    assert.throws(() => decodeRangeResponse(hex('18ffffffffffffffffffff01')), EtcdWireError, 'an 11-byte varint');
    assert.throws(() => decodeTxnResponse(hex('0800')), EtcdWireError, 'the header (a message) as a varint');
  });
});

describe('gRPC framing and endpoints of the bench client', () => {
  it('a message is framed as flag 0, a 4-byte big-endian length, the bytes; unframing gives it back', () => {
    const message = Buffer.from('0a0161', 'hex');
    assert.deepEqual(grpcFrame(message), hex('00 00000003 0a0161'));
    assert.deepEqual(grpcUnframe('/m', grpcFrame(message)), message);
    assert.deepEqual(grpcUnframe('/m', grpcFrame(Buffer.alloc(0))), Buffer.alloc(0), 'an empty message (all defaults) is valid');
  });

  it('a short, compressed, truncated or padded body is EtcdCallError INTERNAL naming the method', () => {
    for (const body of [hex('0000'), hex('01 00000001 00'), hex('00 00000005 0102'), hex('00 00000001 0102')]) {
      assert.throws(() => grpcUnframe('/etcdserverpb.KV/Put', body), (err: unknown) => err instanceof EtcdCallError && err.code === 'INTERNAL' && err.method === '/etcdserverpb.KV/Put', body.toString('hex'));
    }
  });

  it('endpoints: http:// or bare host:port; https and junk are refused; status codes have their names', () => {
    assert.equal(grpcTarget('http://127.0.0.1:2379'), '127.0.0.1:2379');
    assert.equal(grpcTarget('http://127.0.0.1:2379/'), '127.0.0.1:2379');
    assert.equal(grpcTarget('localhost:1'), 'localhost:1');
    assert.throws(() => grpcTarget('https://127.0.0.1:2379'), /TLS/);
    assert.throws(() => grpcTarget('127.0.0.1'), /not \[http:\/\/\]host:port/);
    assert.deepEqual([0, 4, 14, 16, 99].map(statusName), ['OK', 'DEADLINE_EXCEEDED', 'UNAVAILABLE', 'UNAUTHENTICATED', 'status 99']);
  });
});
