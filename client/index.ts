// client/: the Flotilla client library, exported as `flotilla/client`.
//
//   const client = await Client.connect({ pdEndpoints: ['127.0.0.1:2379'] });
//   await client.raw.put('k', 'v');
//   await client.withTransaction(async (txn) => { txn.put('a', String(Number(await txn.get('a')) + 1)); });
export { Client, REQUEST_TIMEOUT_MS_DEFAULT, TXN_RETRIES_DEFAULT, type ClientOptions, type SnapshotOptions, type WithTransactionOptions } from './client.js';
export { REPLICA_READS, type ReplicaRead } from './kv-rpc.js';
export {
  CommitUnknownError, FlotillaError, InvalidArgumentError, OutcomeUnknownError, RegionUnavailableError, TimeoutError, TxnAbortedError, WriteConflictError,
} from './errors.js';
export type { Bytes } from './bytes.js';
export type { KvPair, RawClient, RawPutOptions, RawScanOptions } from './raw-client.js';
export type { Snapshot, ScanOptions } from './snapshot.js';
export type { Transaction } from './transaction.js';
export { TsoClient, type TsoClientOptions, TSO_BATCH_MAX, TSO_INFLIGHT_REQUESTS_MAX, TSO_PENDING_CALLERS_MAX, TSO_REQUEST_TIMEOUT_MS } from '../common/index.js';
export * from './pd-client.js';
/** The BatchCommands transport below the KV API, for tools that build requests themselves (bench:store's generator); low-level, not covered by the API's stability. */
export * as wire from './wire.js';
