// The one mapping between typed errors and their wire forms (common/wire-errors.ts): every
// registered code survives errorpb.Error and a gRPC status (through real grpc.Metadata), every
// region code survives errorpb.RegionError with its details, PD's structured leader hint and a
// busy back-off survive errorpb.Error (real protobuf bytes) and gRPC metadata, and garbage never
// throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import {
  ERROR_CODES, ERROR_REGISTRY, FlotillaError, GRPC_ERROR_CODE_KEY, GRPC_ERROR_DETAILS_BYTES_MAX, GRPC_ERROR_DETAILS_KEY, grpc, errorFromGrpc, errorFromWire,
  errorToWire, grpcStatusOf, httpStatusOf, pdLeaderHintOf, regionErrorFromWire, regionErrorToWire, type ErrorCode, type PdLeaderHint, type PeerMeta,
  type RegionMeta,
} from '../../common/index.js';
import { messageCodec, type errorpb } from '../../proto/index.js';

const leader: PeerMeta = { id: 12, storeId: 3, role: 'voter' };
const region: RegionMeta = {
  id: 7,
  startKey: Buffer.from('a'),
  endKey: Buffer.from('m'),
  epoch: { confVer: 3, version: 9 },
  peers: [leader, { id: 13, storeId: 4, role: 'learner' }],
};

/** Each region code with details as its constructors document them. */
const REGION_DETAILS: Readonly<Record<string, Record<string, unknown>>> = {
  NotLeader: { regionId: 7, leader },
  EpochNotMatch: { currentRegions: [region, { ...region, id: 8, startKey: Buffer.from('m'), endKey: Buffer.alloc(0) }] },
  RegionNotFound: { regionId: 7 },
  KeyNotInRegion: { key: Buffer.from('zz'), regionId: 7, startKey: Buffer.from('a'), endKey: Buffer.from('m') },
  ServerIsBusy: { reason: 'raft mailbox full', backoffMs: 25 },
  StaleCommand: {},
  StoreNotMatch: { requestStoreId: 2, actualStoreId: 5 },
  RaftEntryTooLarge: { regionId: 7, entrySize: 9_000_000 },
};
const REGION_CODES = ERROR_CODES.filter((c) => ERROR_REGISTRY[c].category === 'region');

const pdLeader: PdLeaderHint = { memberId: 2 ** 52 - 3, name: 'pd-2', clientUrls: ['http://127.0.0.1:2379', 'http://10.0.0.2:2379'], statusUrl: 'http://127.0.0.1:2381' };

/** errorpb.Error through real protobuf bytes, as a PD response header carries it. */
function throughProtobuf(w: errorpb.Error__Input): errorpb.Error {
  const codec = messageCodec('flotilla.errorpb.Error');
  return codec.decode(codec.encode(w));
}

/** What the proto decoder hands a client: Input's optional fields filled, u64s as strings. */
function decodeRegionError(w: errorpb.RegionError__Input): errorpb.RegionError {
  return JSON.parse(JSON.stringify(w), (_k, v: unknown) => {
    if (typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer') return Buffer.from((v as { data: number[] }).data);
    return v;
  }) as errorpb.RegionError;
}

/** A ServiceError as grpc-js hands it to a client: status fields plus metadata. */
function serviceError(status: { code: grpc.status; details: string; metadata: grpc.Metadata }): grpc.ServiceError {
  // Through the Metadata's own wire form, as the headers travel.
  const metadata = grpc.Metadata.fromHttp2Headers(status.metadata.toHttp2Headers() as IncomingHttpHeaders);
  return Object.assign(new Error(`${status.code} ${grpc.status[status.code]}: ${status.details}`), { code: status.code, details: status.details, metadata });
}

describe('wire errors', () => {
  it('the region fixture covers exactly the region codes', () => {
    assert.deepEqual(Object.keys(REGION_DETAILS).sort(), [...REGION_CODES].sort());
  });

  it('every code round-trips through errorpb.Error', () => {
    for (const code of ERROR_CODES) {
      const back = errorFromWire(errorToWire(new FlotillaError(code, `message of ${code}`)) as errorpb.Error);
      assert.equal(back.code, code);
      assert.equal(back.message, `message of ${code}`);
    }
  });

  it('a non-Flotilla error goes out as Internal; an unknown or unspecified code comes back as Internal', () => {
    assert.deepEqual(errorToWire(new TypeError('boom')), { code: 'INTERNAL', message: 'boom' });
    assert.deepEqual(errorToWire('plain string'), { code: 'INTERNAL', message: 'plain string' });
    assert.equal(errorFromWire({ code: 'ERROR_CODE_UNSPECIFIED', message: 'x' }).code, 'Internal');
    assert.equal(errorFromWire({ code: 'NO_SUCH_CODE' as errorpb.ErrorCode, message: 'x' }).code, 'Internal');
    assert.equal(errorFromWire({ code: 99 as unknown as errorpb.ErrorCode, message: 'x' }).code, 'Internal');
  });

  it('PdNotLeader carries the leader (id, name, client URLs, status URL) through errorpb.Error as details.leader', () => {
    const err = new FlotillaError('PdNotLeader', 'PD member pd-1 is not the leader', { details: { leader: pdLeader } });
    const wire = throughProtobuf(errorToWire(err));
    assert.deepEqual(wire.pdLeader, { memberId: String(pdLeader.memberId), name: 'pd-2', clientUrls: [...pdLeader.clientUrls], statusUrl: pdLeader.statusUrl });
    const back = errorFromWire(wire);
    assert.equal(back.code, 'PdNotLeader');
    assert.equal(back.message, err.message);
    assert.deepEqual(back.details, { leader: pdLeader });
    assert.deepEqual(pdLeaderHintOf(back), pdLeader);
  });

  it('PdNotLeader with no leader known travels without a hint; a malformed hint is left out both ways', () => {
    const none = errorFromWire(throughProtobuf(errorToWire(new FlotillaError('PdNotLeader', 'election running'))));
    assert.deepEqual(none.details, {});
    assert.equal(pdLeaderHintOf(none), null);
    for (const leader of [null, 'pd-2', { ...pdLeader, memberId: 0 }, { ...pdLeader, memberId: -1 }, { ...pdLeader, clientUrls: [1] }, { ...pdLeader, name: 7 }]) {
      const wire = errorToWire(new FlotillaError('PdNotLeader', 'm', { details: { leader } }));
      assert.equal(wire.pdLeader, undefined, JSON.stringify(leader));
    }
    const zeroId = errorFromWire({ code: 'PD_NOT_LEADER', message: 'm', pdLeader: { memberId: '0', name: 'x', clientUrls: [], statusUrl: '' }, backoffMs: '0' });
    assert.deepEqual(zeroId.details, {}, 'a hint naming member 0 is no hint');
    const huge = errorFromWire({ code: 'PD_NOT_LEADER', message: 'm', pdLeader: { memberId: '18446744073709551615', name: 'x', clientUrls: [], statusUrl: '' } });
    assert.deepEqual(huge.details, {}, 'a member id beyond a safe integer is no hint');
    const hintOnOtherCode = errorFromWire(throughProtobuf({ ...errorToWire(new FlotillaError('Unavailable', 'm')), pdLeader: { memberId: '5', name: 'x' } }));
    assert.deepEqual(hintOnOtherCode.details, {}, 'a leader hint only means something on PD_NOT_LEADER');
  });

  it('ServerIsBusy keeps its back-off hint through errorpb.Error', () => {
    const back = errorFromWire(throughProtobuf(errorToWire(new FlotillaError('ServerIsBusy', 'TSO logical space exhausted', { details: { backoffMs: 25 } }))));
    assert.equal(back.code, 'ServerIsBusy');
    assert.deepEqual(back.details, { backoffMs: 25 });
    assert.deepEqual(errorFromWire(throughProtobuf(errorToWire(new FlotillaError('ServerIsBusy', 'm')))).details, { backoffMs: 0 });
  });

  it('PdNotLeader keeps its leader through a gRPC status and its metadata', () => {
    const back = errorFromGrpc(serviceError(grpcStatusOf(new FlotillaError('PdNotLeader', 'not the leader', { details: { leader: pdLeader } }))));
    assert.equal(back.code, 'PdNotLeader');
    assert.deepEqual(pdLeaderHintOf(back), pdLeader);
  });

  it('every code round-trips through a gRPC status and its metadata, details included', () => {
    for (const code of ERROR_CODES) {
      const details = REGION_DETAILS[code] ?? { field: 'keys', limit: 10n, raw: Buffer.from([0, 255]), text: 'région −∞' };
      const status = grpcStatusOf(new FlotillaError(code, `message of ${code}`, { details }));
      assert.equal(status.metadata.get(GRPC_ERROR_CODE_KEY)[0], code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase());
      const back = errorFromGrpc(serviceError(status));
      assert.equal(back.code, code);
      assert.equal(back.message, `message of ${code}`);
      assert.deepEqual(back.details, details, code);
    }
  });

  it('maps codes to the gRPC statuses clients and proxies act on', () => {
    const expect: Partial<Record<ErrorCode, grpc.status>> = {
      InvalidArgument: grpc.status.INVALID_ARGUMENT,
      MessageTooLarge: grpc.status.INVALID_ARGUMENT,
      ConfigInvalid: grpc.status.INVALID_ARGUMENT,
      LimitExceeded: grpc.status.INVALID_ARGUMENT,
      DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
      Unavailable: grpc.status.UNAVAILABLE,
      PdNotLeader: grpc.status.UNAVAILABLE,
      ServerIsBusy: grpc.status.UNAVAILABLE,
      NotBootstrapped: grpc.status.FAILED_PRECONDITION,
      ClusterIdMismatch: grpc.status.FAILED_PRECONDITION,
      StoreNotFound: grpc.status.NOT_FOUND,
      RegionNotFound: grpc.status.NOT_FOUND,
      AlreadyBootstrapped: grpc.status.ALREADY_EXISTS,
      Internal: grpc.status.INTERNAL,
      Corruption: grpc.status.INTERNAL,
      EngineError: grpc.status.INTERNAL,
    };
    for (const [code, status] of Object.entries(expect)) assert.equal(grpcStatusOf(new FlotillaError(code as ErrorCode, 'm')).code, status, code);
    for (const code of ERROR_CODES) assert.notEqual(grpcStatusOf(new FlotillaError(code, 'm')).code, grpc.status.OK, code);
    const plain = grpcStatusOf(new Error('bug'));
    assert.equal(plain.code, grpc.status.INTERNAL);
    assert.equal(plain.metadata.get(GRPC_ERROR_CODE_KEY)[0], 'INTERNAL');
  });

  it('a status without Flotilla metadata is read from its gRPC code', () => {
    const cases: [grpc.status, ErrorCode][] = [
      [grpc.status.UNAVAILABLE, 'Unavailable'],
      [grpc.status.DEADLINE_EXCEEDED, 'DeadlineExceeded'],
      [grpc.status.INVALID_ARGUMENT, 'InvalidArgument'],
      [grpc.status.RESOURCE_EXHAUSTED, 'MessageTooLarge'],
      [grpc.status.DATA_LOSS, 'Corruption'],
      [grpc.status.UNIMPLEMENTED, 'Internal'],
      [grpc.status.UNKNOWN, 'Internal'],
    ];
    for (const [status, code] of cases) {
      const err = Object.assign(new Error(`${status} ${grpc.status[status]}: x`), { code: status, details: 'x', metadata: new grpc.Metadata() });
      const back = errorFromGrpc(err);
      assert.equal(back.code, code, grpc.status[status]);
      assert.equal(back.cause, err);
    }
    assert.equal(errorFromGrpc(new Error('not a gRPC error')).code, 'Internal');
    const unknownCode = new grpc.Metadata();
    unknownCode.set(GRPC_ERROR_CODE_KEY, 'FROM_THE_FUTURE');
    assert.equal(errorFromGrpc(Object.assign(new Error('14 UNAVAILABLE: x'), { code: grpc.status.UNAVAILABLE, details: 'x', metadata: unknownCode })).code, 'Unavailable');
  });

  it('details that cannot travel in metadata are left out, never thrown', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const big = { blob: 'x'.repeat(GRPC_ERROR_DETAILS_BYTES_MAX) };
    for (const details of [circular, big]) {
      const status = grpcStatusOf(new FlotillaError('LimitExceeded', 'm', { details }));
      assert.deepEqual(status.metadata.get(GRPC_ERROR_DETAILS_KEY), []);
      assert.equal(errorFromGrpc(serviceError(status)).code, 'LimitExceeded');
    }
    for (const garbage of ['{', '[1,2]', '"s"', '{"$buf":7}', '{"$big":"1e3"}', 'null']) {
      const md = new grpc.Metadata();
      md.set(GRPC_ERROR_CODE_KEY, 'NOT_LEADER');
      md.set(GRPC_ERROR_DETAILS_KEY, garbage);
      const back = errorFromGrpc(Object.assign(new Error('x'), { code: grpc.status.UNAVAILABLE, details: 'x', metadata: md }));
      assert.equal(back.code, 'NotLeader', garbage);
    }
  });

  it('every region code round-trips through errorpb.RegionError with its details', () => {
    for (const code of REGION_CODES) {
      const err = new FlotillaError(code, `region 7: ${code}`, { details: REGION_DETAILS[code] });
      const back = regionErrorFromWire(decodeRegionError(regionErrorToWire(err)));
      assert.equal(back.code, code);
      assert.equal(back.message, err.message);
      assert.deepEqual(back.details, REGION_DETAILS[code], code);
    }
  });

  it('the oneof member is found without the loader-provided kind', () => {
    const w = decodeRegionError(regionErrorToWire(new FlotillaError('StoreNotMatch', 'm', { details: REGION_DETAILS.StoreNotMatch })));
    delete w.kind;
    assert.equal(regionErrorFromWire(w).code, 'StoreNotMatch');
    const unknown = regionErrorFromWire({ message: 'from a newer server' });
    assert.equal(unknown.code, 'EpochNotMatch');
    assert.deepEqual(unknown.details, { currentRegions: [] });
  });

  it('missing or ill-typed region details go out as defaults, never throw', () => {
    const garbage: Record<string, unknown>[] = [
      {},
      { regionId: -1, leader: { id: 'x' }, currentRegions: 'nope', key: 'not a buffer', reason: 5, backoffMs: 1.5, entrySize: Number.MAX_VALUE },
      { regionId: 2n ** 70n, leader: null, currentRegions: [null, 3, { ...region, peers: [{ id: 0, storeId: 1, role: 'voter' }] }, region] },
    ];
    for (const code of REGION_CODES) {
      for (const details of garbage) {
        const back = regionErrorFromWire(decodeRegionError(regionErrorToWire(new FlotillaError(code, 'm', { details }))));
        assert.equal(back.code, code);
      }
    }
    const nl = regionErrorFromWire(decodeRegionError(regionErrorToWire(new FlotillaError('NotLeader', 'm', { details: garbage[1] }))));
    assert.deepEqual(nl.details, { regionId: 0 }, 'an unknown leader is left out');
    const enm = regionErrorFromWire(decodeRegionError(regionErrorToWire(new FlotillaError('EpochNotMatch', 'm', { details: garbage[2] }))));
    assert.deepEqual(enm.details, { currentRegions: [region] }, 'only the well-formed region goes');
  });

  it('inbound region errors are parsed tolerantly: bad members are skipped', () => {
    const badRegion = { id: '0', startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: null, peers: [] };
    const goodRegion = decodeRegionError(regionErrorToWire(new FlotillaError('EpochNotMatch', 'm', { details: { currentRegions: [region] } }))).epochNotMatch!.currentRegions[0]!;
    const enm = regionErrorFromWire({ message: 'm', kind: 'epochNotMatch', epochNotMatch: { currentRegions: [badRegion, goodRegion] } });
    assert.deepEqual(enm.details, { currentRegions: [region] });
    const nl = regionErrorFromWire({ message: 'm', kind: 'notLeader', notLeader: { regionId: '99999999999999999999', leader: { id: '0', storeId: '1', role: 'Voter' } } });
    assert.deepEqual(nl.details, { regionId: 0 });
    const empty = regionErrorFromWire({ message: 'm', kind: 'keyNotInRegion', keyNotInRegion: null });
    assert.deepEqual(empty.details, { key: Buffer.alloc(0), regionId: 0, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0) });
  });

  it('a non-region code is a programmer error for regionErrorToWire', () => {
    assert.throws(() => regionErrorToWire(new FlotillaError('Internal', 'm')), /not a region error/);
  });

  it('every code has an HTTP error status', () => {
    for (const code of ERROR_CODES) {
      const status = httpStatusOf(code);
      assert.ok(status >= 400 && status < 600, code);
    }
    assert.equal(httpStatusOf('InvalidArgument'), 400);
    assert.equal(httpStatusOf('StoreNotFound'), 404);
    assert.equal(httpStatusOf('AlreadyBootstrapped'), 409);
    assert.equal(httpStatusOf('ClusterIdMismatch'), 412);
    assert.equal(httpStatusOf('ServerIsBusy'), 429);
    assert.equal(httpStatusOf('PdNotLeader'), 503);
    assert.equal(httpStatusOf('DeadlineExceeded'), 504);
    assert.equal(httpStatusOf('Internal'), 500);
  });
});
