// Fake stores for client unit tests: real gRPC servers on 127.0.0.1 serving only BatchCommands,
// whose answers a test scripts per request (answer, never answer, or break the stream after
// receiving), plus a fake region directory standing in for PD. Every request received is logged,
// so a test can count how often a write reached a store. A fake store checks the cluster id of a
// stream as a real one does (store/kv-service.ts): one started with another cluster's id refuses
// the client's streams before reading a request.

import {
  clusterIdRefusal, grpc, grpcStatusOf, startGrpcServer, type PeerMeta, type RegionMeta, type StartedGrpcServer, type StoreMeta,
} from '../../common/index.js';
import { serviceDefinition, type kvservicepb } from '../../proto/index.js';
import type { RegionDirectory } from '../../client/kv-rpc.js';
import type { RegionRoute } from '../../client/pd-client.js';

/** What a fake store does with one request: answer it, never answer, or break its stream. */
export type FakeAction = { readonly answer: kvservicepb.KvResponse__Input } | 'drop' | 'break';
export type FakeScript = (store: FakeStore, request: kvservicepb.KvRequest) => FakeAction;

export interface Received {
  readonly storeId: number;
  readonly cmd: string;
  readonly request: kvservicepb.KvRequest;
}

/** The cluster id of FakeDirectory (what the client sends) and, by default, of every fake store. */
export const FAKE_CLUSTER_ID = 7n;

export class FakeStore {
  readonly messages: number[] = []; // requests per stream message received
  private constructor(
    readonly id: number,
    private readonly server: StartedGrpcServer,
    readonly log: Received[],
  ) {}

  get address(): string {
    return this.server.address;
  }

  static async start(id: number, log: Received[], script: () => FakeScript, clusterId = FAKE_CLUSTER_ID): Promise<FakeStore> {
    const server = new grpc.Server();
    const holder: { store?: FakeStore } = {};
    server.addService(serviceDefinition('flotilla.kvservicepb.Kv'), {
      BatchCommands: (call: grpc.ServerDuplexStream<kvservicepb.BatchCommandsRequest, kvservicepb.BatchCommandsResponse__Input>) => {
        const refusal = clusterIdRefusal(call.metadata, clusterId, 'BatchCommands', false);
        if (refusal !== null) {
          call.emit('error', grpcStatusOf(refusal));
          return;
        }
        call.on('data', (batch: kvservicepb.BatchCommandsRequest) => {
          holder.store!.messages.push(batch.requests.length);
          const responses: kvservicepb.KvResponse__Input[] = [];
          const ids: string[] = [];
          let broken = false;
          batch.requests.forEach((request, i) => {
            log.push({ storeId: id, cmd: request.cmd ?? '?', request });
            const action = script()(holder.store!, request);
            if (action === 'drop') return;
            if (action === 'break') {
              broken = true;
              return;
            }
            responses.push(action.answer);
            ids.push(batch.requestIds[i]!);
          });
          if (responses.length > 0) call.write({ responses, requestIds: ids });
          if (broken) call.end(); // the stream closes with requests unanswered
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    });
    const store = new FakeStore(id, await startGrpcServer(server, '127.0.0.1', 0), log);
    holder.store = store;
    return store;
  }

  stop(): Promise<void> {
    return this.server.stop(100);
  }
}

/** PD's routing answers from a fixed table the test edits. */
export class FakeDirectory implements RegionDirectory {
  readonly clusterId = FAKE_CLUSTER_ID;
  regions: { region: RegionMeta; leader: PeerMeta | null }[] = [];
  readonly stores = new Map<number, string>();
  lookups = 0;

  getRegionByKey(encodedKey: Buffer): Promise<RegionRoute | null> {
    this.lookups++;
    const r = this.regions.find((x) => Buffer.compare(x.region.startKey, encodedKey) <= 0 && (x.region.endKey.length === 0 || Buffer.compare(encodedKey, x.region.endKey) < 0));
    return Promise.resolve(r ?? null);
  }

  getRegionById(regionId: number): Promise<RegionRoute | null> {
    this.lookups++;
    return Promise.resolve(this.regions.find((x) => x.region.id === regionId) ?? null);
  }

  scanRegions(start: Buffer, end: Buffer, limit: number): Promise<RegionRoute[]> {
    const out = this.regions
      .filter((x) => (x.region.endKey.length === 0 || Buffer.compare(x.region.endKey, start) > 0) && (end.length === 0 || Buffer.compare(x.region.startKey, end) < 0))
      .sort((a, b) => Buffer.compare(a.region.startKey, b.region.startKey));
    return Promise.resolve(out.slice(0, limit));
  }

  getStore(storeId: number): Promise<StoreMeta> {
    const address = this.stores.get(storeId);
    if (address === undefined) return Promise.reject(new Error(`no store ${storeId}`));
    return Promise.resolve({ id: storeId, address, statusAddress: '', labels: {}, state: 'up', version: 'fake', startTimestampMs: 0 });
  }

  invalidateStore(): void {}
}
