// Generated checks of common/wire-errors.ts against a reference: every region code's details
// (ids over the whole safe-integer range, every field distinct) survive real protobuf bytes; a
// malformed region among good ones drops only itself; arbitrary details (Buffers, bigints,
// non-ASCII text) survive a gRPC status; every code's gRPC status is the documented one, and a
// status that lost its metadata never turns a terminal error into a retryable one; wire garbage
// (random protobuf bytes, random metadata) always comes back as a FlotillaError.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import {
  ERROR_CODES, ERROR_REGISTRY, FlotillaError, GRPC_ERROR_CODE_KEY, GRPC_ERROR_DETAILS_KEY, grpc, errorFromGrpc, errorFromWire, errorToWire, grpcStatusOf,
  isFlotillaError, pdLeaderHintOf, regionErrorFromWire, regionErrorToWire, type ErrorCode, type PdLeaderHint, type PeerMeta, type RegionMeta,
} from '../../common/index.js';
import { messageCodec, type errorpb } from '../../proto/index.js';

const RUNS = { numRuns: 200, seed: 0x5eed };
const REGION_CODES = ERROR_CODES.filter((c) => ERROR_REGISTRY[c].category === 'region');
const regionCodec = messageCodec('flotilla.errorpb.RegionError');
const errorCodec = messageCodec('flotilla.errorpb.Error');

function throughRegionBytes(w: errorpb.RegionError__Input): errorpb.RegionError {
  return regionCodec.decode(regionCodec.encode(w));
}

function throughErrorBytes(w: errorpb.Error__Input): errorpb.Error {
  return errorCodec.decode(errorCodec.encode(w));
}

function serviceError(status: { code: grpc.status; details: string; metadata: grpc.Metadata }): grpc.ServiceError {
  const metadata = grpc.Metadata.fromHttp2Headers(status.metadata.toHttp2Headers() as IncomingHttpHeaders);
  return Object.assign(new Error(`${status.code} ${grpc.status[status.code]}: ${status.details}`), { code: status.code, details: status.details, metadata });
}

/**
 * The reference: gRPC status per code as the file comment's guidance assigns them. Written out in
 * full on purpose, beside the source's table: the guidance is not mechanical enough to derive
 * it, so a change of a code's status must be a deliberate edit of both (plants WE6, WE7).
 */
const GRPC_STATUS: Readonly<Record<ErrorCode, grpc.status>> = {
  NotLeader: grpc.status.UNAVAILABLE,
  EpochNotMatch: grpc.status.FAILED_PRECONDITION,
  RegionNotFound: grpc.status.NOT_FOUND,
  KeyNotInRegion: grpc.status.OUT_OF_RANGE,
  ServerIsBusy: grpc.status.UNAVAILABLE,
  StaleCommand: grpc.status.ABORTED,
  StoreNotMatch: grpc.status.FAILED_PRECONDITION,
  RaftEntryTooLarge: grpc.status.INVALID_ARGUMENT,
  KeyIsLocked: grpc.status.ABORTED,
  WriteConflict: grpc.status.ABORTED,
  TxnLockNotFound: grpc.status.FAILED_PRECONDITION,
  AlreadyCommitted: grpc.status.FAILED_PRECONDITION,
  AlreadyRolledBack: grpc.status.FAILED_PRECONDITION,
  CommitTsExpired: grpc.status.FAILED_PRECONDITION,
  KeyAlreadyExists: grpc.status.ALREADY_EXISTS,
  TxnNotFound: grpc.status.NOT_FOUND,
  ClusterIdMismatch: grpc.status.FAILED_PRECONDITION,
  NotBootstrapped: grpc.status.FAILED_PRECONDITION,
  AlreadyBootstrapped: grpc.status.ALREADY_EXISTS,
  PdNotLeader: grpc.status.UNAVAILABLE,
  StoreNotFound: grpc.status.NOT_FOUND,
  StoreTombstone: grpc.status.FAILED_PRECONDITION,
  GcSafePointBackwards: grpc.status.FAILED_PRECONDITION,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  MessageTooLarge: grpc.status.INVALID_ARGUMENT,
  LimitExceeded: grpc.status.INVALID_ARGUMENT,
  DeadlineExceeded: grpc.status.DEADLINE_EXCEEDED,
  Unavailable: grpc.status.UNAVAILABLE,
  ConfigInvalid: grpc.status.INVALID_ARGUMENT,
  EngineError: grpc.status.INTERNAL,
  Corruption: grpc.status.INTERNAL,
  Internal: grpc.status.INTERNAL,
  TxnAborted: grpc.status.ABORTED,
  CommitUnknown: grpc.status.UNKNOWN,
  OutcomeUnknown: grpc.status.UNKNOWN,
  RegionUnavailable: grpc.status.UNAVAILABLE,
};

// ── Generators ────────────────────────────────────────────────────────────────────────────────

const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const u64 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const key = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((a) => Buffer.from(a));
const role = fc.constantFrom<PeerMeta['role']>('voter', 'learner');

/** n distinct safe-integer ids: every field of a detail a different value, so a swap shows. */
const distinctIds = (n: number): fc.Arbitrary<number[]> => fc.uniqueArray(id, { minLength: n, maxLength: n });

const peer: fc.Arbitrary<PeerMeta> = fc.tuple(distinctIds(2), role).map(([[a, b], r]) => ({ id: a!, storeId: b!, role: r }));

/** A region regionFromWire accepts: start < end (or end unbounded), 1..4 peers with distinct ids and stores. */
const regionArb: fc.Arbitrary<RegionMeta> = fc
  .record({
    ids: distinctIds(9),
    keys: fc.uniqueArray(key, { minLength: 2, maxLength: 2, comparator: (a, b) => a.equals(b) }),
    unbounded: fc.boolean(),
    epoch: fc.tuple(u64, u64),
    roles: fc.array(role, { minLength: 1, maxLength: 4 }),
  })
  .map(({ ids, keys, unbounded, epoch, roles }) => {
    const [lo, hi] = [...keys].sort((a, b) => Buffer.compare(a, b)) as [Buffer, Buffer];
    return {
      id: ids[0]!,
      startKey: lo,
      endKey: unbounded ? Buffer.alloc(0) : hi,
      epoch: { confVer: epoch[0], version: epoch[1] },
      peers: roles.map((r, i) => ({ id: ids[1 + i]!, storeId: ids[5 + i]!, role: r })),
    };
  });

/** Details per region code, as the constructors document them, all fields distinct. */
const regionDetails: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  NotLeader: fc.tuple(id, fc.option(peer, { nil: undefined })).map(([regionId, leader]) => (leader === undefined ? { regionId } : { regionId, leader })),
  EpochNotMatch: fc.array(regionArb, { maxLength: 4 }).map((currentRegions) => ({ currentRegions })),
  RegionNotFound: id.map((regionId) => ({ regionId })),
  KeyNotInRegion: fc
    .tuple(fc.uniqueArray(key, { minLength: 3, maxLength: 3, comparator: (a, b) => a.equals(b) }), id)
    .map(([[k, s, e], regionId]) => ({ key: k, regionId, startKey: s, endKey: e })),
  ServerIsBusy: fc.tuple(fc.string({ unit: 'grapheme', maxLength: 12 }), u64).map(([reason, backoffMs]) => ({ reason, backoffMs })),
  StaleCommand: fc.constant({}),
  StoreNotMatch: distinctIds(2).map(([requestStoreId, actualStoreId]) => ({ requestStoreId, actualStoreId })),
  RaftEntryTooLarge: distinctIds(2).map(([regionId, entrySize]) => ({ regionId, entrySize })),
};

/** Details of any shape that JSON with Buffers and bigints carries, small enough for metadata. */
const detailKey = fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,7}$/);
const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }),
  fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
  fc.boolean(),
  fc.constant(null),
);
const anyDetails = fc.dictionary(detailKey, fc.oneof(leaf, fc.array(leaf, { maxLength: 3 }), fc.dictionary(detailKey, leaf, { maxKeys: 3, noNullPrototype: true })), { maxKeys: 4, noNullPrototype: true });

// ── Properties ────────────────────────────────────────────────────────────────────────────────

describe('wire errors (generated)', () => {
  it('every region code round-trips through real errorpb.RegionError bytes with all its details', () => {
    for (const code of REGION_CODES) {
      fc.assert(
        fc.property(regionDetails[code]!, fc.string({ maxLength: 20 }), (details, message) => {
          const back = regionErrorFromWire(throughRegionBytes(regionErrorToWire(new FlotillaError(code, message, { details }))));
          assert.equal(back.code, code);
          assert.equal(back.message, message);
          assert.deepEqual(back.details, details, code);
        }),
        RUNS,
      );
    }
  });

  it('malformed current regions drop only themselves, the good ones keep their order', () => {
    const malformed = fc.constantFrom<Record<string, unknown>>(
      { id: '0', startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: '1', version: '1' }, peers: [{ id: '1', storeId: '1', role: 'Voter' }] },
      { id: '5', startKey: Buffer.from('b'), endKey: Buffer.from('a'), regionEpoch: { confVer: '1', version: '1' }, peers: [{ id: '1', storeId: '1', role: 'Voter' }] },
      { id: '5', startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: null, peers: [{ id: '1', storeId: '1', role: 'Voter' }] },
      { id: '5', startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: '1', version: '1' }, peers: [] },
      { id: '18446744073709551615', startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), regionEpoch: { confVer: '1', version: '1' }, peers: [{ id: '1', storeId: '1', role: 'Voter' }] },
    );
    type Entry = { good: RegionMeta | null; wire: unknown };
    const entry = fc.oneof(regionArb.map((r): Entry => ({ good: r, wire: null })), malformed.map((m): Entry => ({ good: null, wire: m })));
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 6 }), (entries) => {
        const currentRegions = entries.map((e) => {
          if (e.good === null) return e.wire;
          return throughRegionBytes(regionErrorToWire(new FlotillaError('EpochNotMatch', 'm', { details: { currentRegions: [e.good] } }))).epochNotMatch!.currentRegions[0];
        });
        const back = regionErrorFromWire({ message: 'm', kind: 'epochNotMatch', epochNotMatch: { currentRegions } } as errorpb.RegionError);
        assert.equal(back.code, 'EpochNotMatch');
        assert.deepEqual(back.details, { currentRegions: entries.flatMap((e) => (e.good === null ? [] : [e.good])) });
      }),
      RUNS,
    );
  });

  it('a NotLeader whose leader does not parse keeps its region id and drops only the leader', () => {
    const badLeader = fc.record({
      id: fc.constantFrom('0', '1', '18446744073709551615', '9007199254740993'),
      storeId: fc.constantFrom('0', '2', '18446744073709551615'),
      role: fc.constantFrom('Voter', 'Learner', 'Witness', ''),
    }).filter((p) => !(p.id === '1' && p.storeId === '2' && (p.role === 'Voter' || p.role === 'Learner')));
    fc.assert(
      fc.property(id, badLeader, (regionId, leader) => {
        const back = regionErrorFromWire({ message: 'm', kind: 'notLeader', notLeader: { regionId: String(regionId), leader } } as errorpb.RegionError);
        assert.equal(back.code, 'NotLeader');
        assert.deepEqual(back.details, { regionId });
      }),
      RUNS,
    );
  });

  it('random bytes that decode as a RegionError always give a region-category FlotillaError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let wire: errorpb.RegionError;
        try {
          wire = regionCodec.decode(Buffer.from(bytes));
        } catch {
          return; // not protobuf at all: the transport's problem, not this mapping's
        }
        const back = regionErrorFromWire(wire);
        assert.ok(isFlotillaError(back));
        assert.equal(back.category, 'region');
      }),
      { numRuns: 500, seed: 0x5eed },
    );
  });

  it('every code and message, PD leader hints and busy back-offs round-trip through real errorpb.Error bytes', () => {
    const hint: fc.Arbitrary<PdLeaderHint> = fc.record({
      memberId: id,
      name: fc.string({ unit: 'grapheme', maxLength: 10 }),
      clientUrls: fc.array(fc.webUrl(), { maxLength: 3 }),
      statusUrl: fc.webUrl(),
    }, { noNullPrototype: true });
    fc.assert(
      fc.property(fc.constantFrom(...ERROR_CODES), fc.string({ unit: 'grapheme', maxLength: 20 }), hint, u64, (code, message, leader, backoffMs) => {
        const back = errorFromWire(throughErrorBytes(errorToWire(new FlotillaError(code, message, { details: { leader, backoffMs } }))));
        assert.equal(back.code, code);
        assert.equal(back.message, message);
        const expected = code === 'PdNotLeader' ? { leader } : code === 'ServerIsBusy' ? { backoffMs } : {};
        assert.deepEqual(back.details, expected, code);
        if (code === 'PdNotLeader') assert.deepEqual(pdLeaderHintOf(back), leader);
      }),
      RUNS,
    );
  });

  it('random bytes that decode as an errorpb.Error always give a FlotillaError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        let wire: errorpb.Error;
        try {
          wire = errorCodec.decode(Buffer.from(bytes));
        } catch {
          return;
        }
        assert.ok(isFlotillaError(errorFromWire(wire)));
      }),
      { numRuns: 500, seed: 0x5eed },
    );
  });

  it('every code with arbitrary details (Buffers, bigints, non-ASCII text) round-trips through a gRPC status', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ERROR_CODES), fc.string({ unit: 'grapheme-ascii', maxLength: 20 }), anyDetails, (code, message, details) => {
        const status = grpcStatusOf(new FlotillaError(code, message, { details }));
        const back = errorFromGrpc(serviceError(status));
        assert.equal(back.code, code);
        assert.equal(back.message, message);
        assert.deepEqual(back.details, details);
      }),
      RUNS,
    );
  });

  it("every code's gRPC status is the reference one, and no terminal error reads back as retryable without its metadata", () => {
    assert.deepEqual(Object.keys(GRPC_STATUS).sort(), [...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      const status = grpcStatusOf(new FlotillaError(code, 'm'));
      assert.equal(grpc.status[status.code], grpc.status[GRPC_STATUS[code]], code);
      // A proxy or an older client sees only the gRPC code.
      const bare = errorFromGrpc(Object.assign(new Error('x'), { code: status.code, details: 'm', metadata: new grpc.Metadata() }));
      if (!ERROR_REGISTRY[code].retryable) assert.equal(bare.retryable, false, `${code} read back as ${bare.code}`);
    }
  });

  it('random metadata on a failed call always gives a FlotillaError', () => {
    const ascii = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
    const codeText = fc.oneof(ascii, fc.constantFrom(...ERROR_CODES).map((c) => c.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()));
    const detailsText = fc.oneof(ascii, fc.json({ maxDepth: 2 }), fc.constantFrom('{"$buf":"!!"}', '{"$big":"-"}', '{"a":{"$big":"12"}}', '[]', 'null'));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 16 }), fc.option(codeText), fc.option(detailsText), (statusCode, code, details) => {
        const md = new grpc.Metadata();
        if (code !== null) md.set(GRPC_ERROR_CODE_KEY, code);
        if (details !== null) md.set(GRPC_ERROR_DETAILS_KEY, details);
        const back = errorFromGrpc(Object.assign(new Error('x'), { code: statusCode, details: 'x', metadata: md }));
        assert.ok(isFlotillaError(back));
        assert.equal(typeof back.details, 'object');
      }),
      RUNS,
    );
  });
});
