// The client's BatchCommands transport below its KV API, for callers that build requests
// themselves (bench:store's load generator): one store connection (streams, one message per callback
// of the event loop, tagged answers, deadlines), the request encoder and the answer decoder the
// client itself uses. Exported as `wire` from client/index.ts: low-level, not covered by the
// stability of the `flotilla/client` API.

import { grpc, grpcChannelOptions } from '../common/index.js';
import { loadProtos } from '../proto/index.js';
import type { Cmd, CmdRequest } from './kv-rpc.js';
import { encodeContextField, encodeRequest, type EncodedRequest } from './batch-encoder.js';
import { StoreConnection, STREAMS_PER_STORE, type KvResponse } from './store-connection.js';

export { encodeContextField, encodeRequest, StoreConnection, STREAMS_PER_STORE, type Cmd, type CmdRequest, type EncodedRequest, type KvResponse };

export interface OpenStoreOptions {
  readonly clusterId: bigint;
  readonly streamCount: number;
}

/** A connection to the store at `address` over a channel of its own; `close()` ends both. */
export function openStoreConnection(address: string, options: OpenStoreOptions): { readonly connection: StoreConnection; close(): void } {
  const Kv = loadProtos().flotilla.kvservicepb.Kv;
  const client = new Kv(address, grpc.credentials.createInsecure(), grpcChannelOptions());
  const connection = new StoreConnection(address, client, { clusterId: options.clusterId, streamCount: options.streamCount });
  return {
    connection,
    close: () => {
      connection.close();
      client.close();
    },
  };
}
