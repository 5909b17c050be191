// errorpb.ErrorCode is the wire half of the error registry (common/errors.ts checks the other
// direction against it). Its names and numbers are a contract: append only, never renumber.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { errorpb, loadPackageDefinition, messageCodec, type kvrpcpb } from '../../proto/index.js';

const EXPECTED = [
  'ERROR_CODE_UNSPECIFIED',
  // Region
  'NOT_LEADER',
  'EPOCH_NOT_MATCH',
  'REGION_NOT_FOUND',
  'KEY_NOT_IN_REGION',
  'SERVER_IS_BUSY',
  'STALE_COMMAND',
  'STORE_NOT_MATCH',
  'RAFT_ENTRY_TOO_LARGE',
  // Key / txn
  'KEY_IS_LOCKED',
  'WRITE_CONFLICT',
  'TXN_LOCK_NOT_FOUND',
  'ALREADY_COMMITTED',
  'ALREADY_ROLLED_BACK',
  'COMMIT_TS_EXPIRED',
  'KEY_ALREADY_EXISTS',
  'TXN_NOT_FOUND',
  // PD
  'CLUSTER_ID_MISMATCH',
  'NOT_BOOTSTRAPPED',
  'ALREADY_BOOTSTRAPPED',
  'PD_NOT_LEADER',
  'STORE_NOT_FOUND',
  'STORE_TOMBSTONE',
  'GC_SAFE_POINT_BACKWARDS',
  // General
  'INVALID_ARGUMENT',
  'MESSAGE_TOO_LARGE',
  'LIMIT_EXCEEDED',
  'DEADLINE_EXCEEDED',
  'UNAVAILABLE',
  'CONFIG_INVALID',
  'ENGINE_ERROR',
  'CORRUPTION',
  'INTERNAL',
  // Client-side outcomes
  'TXN_ABORTED',
  'COMMIT_UNKNOWN',
  'OUTCOME_UNKNOWN',
  'REGION_UNAVAILABLE',
];

/** The enum as protobufjs parsed it from errorpb.proto: [name, number] in declaration order. */
function enumValues(): [string, number][] {
  const definition = loadPackageDefinition()['flotilla.errorpb.ErrorCode'];
  assert.ok(definition !== undefined && 'format' in definition);
  assert.equal(definition.format, 'Protocol Buffer 3 EnumDescriptorProto');
  const type = definition.type as { value: { name: string; number: number }[] };
  return type.value.map((v) => [v.name, v.number]);
}

describe('errorpb.ErrorCode', () => {
  it('has exactly the registry names, numbered 0..n in order', () => {
    assert.deepEqual(
      enumValues(),
      EXPECTED.map((name, i) => [name, i]),
    );
  });

  it('the generated constant object matches the .proto both ways', () => {
    assert.deepEqual(Object.keys(errorpb.ErrorCode), EXPECTED);
    for (const [name, value] of Object.entries(errorpb.ErrorCode)) assert.equal(value, name);
  });

  // Record<union, …> makes the compiler check these maps against the generated oneof unions
  // both ways (a missing or extra kind does not compile); the test checks the codes exist and
  // that each kind survives the wire as the oneof's discriminator.
  const regionKinds: Record<NonNullable<errorpb.RegionError['kind']>, string> = {
    notLeader: 'NOT_LEADER',
    epochNotMatch: 'EPOCH_NOT_MATCH',
    regionNotFound: 'REGION_NOT_FOUND',
    keyNotInRegion: 'KEY_NOT_IN_REGION',
    serverIsBusy: 'SERVER_IS_BUSY',
    staleCommand: 'STALE_COMMAND',
    storeNotMatch: 'STORE_NOT_MATCH',
    raftEntryTooLarge: 'RAFT_ENTRY_TOO_LARGE',
  };
  const keyKinds: Record<NonNullable<kvrpcpb.KeyError['kind']>, string> = {
    locked: 'KEY_IS_LOCKED',
    conflict: 'WRITE_CONFLICT',
    txnLockNotFound: 'TXN_LOCK_NOT_FOUND',
    alreadyCommitted: 'ALREADY_COMMITTED',
    alreadyRolledBack: 'ALREADY_ROLLED_BACK',
    commitTsExpired: 'COMMIT_TS_EXPIRED',
    alreadyExist: 'KEY_ALREADY_EXISTS',
    txnNotFound: 'TXN_NOT_FOUND',
  };

  it('every region-error kind names a code and round-trips as the discriminator', () => {
    const codec = messageCodec('flotilla.errorpb.RegionError');
    for (const [kind, code] of Object.entries(regionKinds)) {
      assert.ok(EXPECTED.includes(code), code);
      const decoded = codec.decode(codec.encode({ message: 'm', [kind]: {} }));
      assert.equal(decoded.kind, kind);
    }
  });

  it('every key-error kind names a code and round-trips as the discriminator', () => {
    const codec = messageCodec('flotilla.kvrpcpb.KeyError');
    for (const [kind, code] of Object.entries(keyKinds)) {
      assert.ok(EXPECTED.includes(code), code);
      const decoded = codec.decode(codec.encode({ [kind]: {} }));
      assert.equal(decoded.kind, kind);
    }
  });
});
