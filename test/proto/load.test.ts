// Every .proto loads with the shared options, and every service has exactly the methods and
// stream kinds the contract promises (a renamed method or a lost `stream` fails here, not in an
// integration test).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';

import {
  PROTO_DIR,
  PROTO_FILES,
  SERVICE_NAMES,
  loadPackageDefinition,
  loadProtos,
  serviceDefinition,
  type ServiceName,
} from '../../proto/index.js';

type StreamKind = 'unary' | 'client-stream' | 'server-stream' | 'bidi';

const UNARY_KV = [
  'RawGet',
  'RawBatchGet',
  'RawPut',
  'RawBatchPut',
  'RawDelete',
  'RawBatchDelete',
  'RawDeleteRange',
  'RawScan',
  'RawCompareAndSwap',
  'KvGet',
  'KvBatchGet',
  'KvScan',
  'KvPrewrite',
  'KvCommit',
  'KvBatchRollback',
  'KvCleanup',
  'KvCheckTxnStatus',
  'KvResolveLock',
  'KvTxnHeartBeat',
  'KvScanLock',
  'KvGC',
];

const UNARY_PD = [
  'GetMembers',
  'AllocID',
  'Bootstrap',
  'IsBootstrapped',
  'PutStore',
  'GetStore',
  'GetAllStores',
  'StoreHeartbeat',
  'GetRegion',
  'GetPrevRegion',
  'GetRegionByID',
  'ScanRegions',
  'AskBatchSplit',
  'ReportBatchSplit',
  'GetGCSafePoint',
  'UpdateGCSafePoint',
  'GetClusterConfig',
  'PutClusterConfig',
];

function unary(names: readonly string[]): Record<string, StreamKind> {
  return Object.fromEntries(names.map((n) => [n, 'unary' as const]));
}

const EXPECTED: Record<ServiceName, Record<string, StreamKind>> = {
  'flotilla.kvservicepb.Kv': { ...unary(UNARY_KV), BatchCommands: 'bidi' },
  'flotilla.pdpb.PD': { ...unary(UNARY_PD), Tso: 'bidi', RegionHeartbeat: 'bidi' },
  'flotilla.pdpb.PDPeer': { Raft: 'client-stream' },
  'flotilla.raft_serverpb.RaftTransport': { Raft: 'client-stream', Snapshot: 'client-stream' },
  'flotilla.adminpb.Admin': unary(['SplitRegion', 'RegionStatus', 'StoreStatus', 'CompactRaftLog']),
};

function kindOf(method: { requestStream: boolean; responseStream: boolean }): StreamKind {
  if (method.requestStream && method.responseStream) return 'bidi';
  if (method.requestStream) return 'client-stream';
  if (method.responseStream) return 'server-stream';
  return 'unary';
}

describe('proto loading', () => {
  it('PROTO_FILES lists exactly the .proto files in the proto directory', () => {
    const onDisk = readdirSync(PROTO_DIR)
      .filter((f) => f.endsWith('.proto'))
      .sort();
    assert.deepEqual([...PROTO_FILES].sort(), onDisk);
  });

  it('every package loads, and loading is memoized', () => {
    const definition = loadPackageDefinition();
    for (const pkg of ['adminpb', 'eraftpb', 'errorpb', 'kvrpcpb', 'kvservicepb', 'metapb', 'pdpb']) {
      const names = Object.keys(definition).filter((n) => n.startsWith(`flotilla.${pkg}.`));
      assert.ok(names.length > 0, `package flotilla.${pkg} is empty`);
    }
    assert.ok(Object.keys(definition).some((n) => n.startsWith('flotilla.raft_serverpb.')));
    assert.equal(loadPackageDefinition(), definition);
    assert.equal(loadProtos(), loadProtos());
  });

  it('the typed tree exposes client constructors with the service attached', () => {
    const protos = loadProtos();
    assert.equal(typeof protos.flotilla.kvservicepb.Kv, 'function');
    assert.equal(protos.flotilla.pdpb.PD.service, serviceDefinition('flotilla.pdpb.PD'));
  });

  it('SERVICE_NAMES lists every service in the package definition', () => {
    const definition = loadPackageDefinition();
    const services = Object.keys(definition)
      .filter((n) => !('format' in (definition[n] ?? {})))
      .sort();
    assert.deepEqual(services, [...SERVICE_NAMES].sort());
    assert.deepEqual([...SERVICE_NAMES].sort(), Object.keys(EXPECTED).sort());
  });

  for (const name of SERVICE_NAMES) {
    it(`${name} has exactly the expected methods and stream kinds`, () => {
      const service = serviceDefinition(name);
      const actual = Object.fromEntries(
        Object.entries(service).map(([method, d]) => [method, kindOf(d)]),
      );
      assert.deepEqual(actual, EXPECTED[name]);
    });
  }

  it('method paths carry the full package name', () => {
    assert.equal(serviceDefinition('flotilla.kvservicepb.Kv').KvGet.path, '/flotilla.kvservicepb.Kv/KvGet');
    assert.equal(serviceDefinition('flotilla.pdpb.PD').Tso.path, '/flotilla.pdpb.PD/Tso');
  });

  it('serviceDefinition refuses a message name', () => {
    assert.throws(() => serviceDefinition('flotilla.metapb.Region' as ServiceName), /not a service/);
  });
});
