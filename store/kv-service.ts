// The KV gRPC service: the unary RPCs and the BatchCommands stream, over RawKv and TxnKv. Every
// answer is a response message: a region error (not executed; refresh routing and retry), an
// other_error (failed as a whole), or the result — never a gRPC failure for a request the store
// understood. On the batch stream the requests of one message are dispatched together and their
// answers, as they finish, are written back batched (one stream message per callback of the event
// loop that finished some, sent in that turn: common/grpc-stream.ts afterThisCallback); the stream
// stops reading while too many requests are in flight, or while the client does not read its
// answers (bounded memory both ways).
//
// A call whose metadata names another cluster (or a malformed id) fails as a whole with
// FAILED_PRECONDITION / ClusterIdMismatch before any request of it is read: the client's address
// for a store now reaches another cluster's store. A call without a cluster id is served (tools
// without one); Flotilla's client always sends it.

import type { Logger } from 'pino';
import {
  afterThisCallback, asFlotillaError, clusterIdRefusal, errorToWire, FlotillaError, type grpc, grpcStatusOf, isRegionErrorCode, regionErrorToWire,
} from '../common/index.js';
import { type kvservicepb, plainDecoder, plainEncoder, serviceDefinition } from '../proto/index.js';
import type { RawKv } from './raw-kv.js';
import type { TxnKv } from './txn-kv.js';

/** Requests of one batch stream in flight at once; past it the stream stops reading. */
export const BATCH_STREAM_INFLIGHT_MAX = 4_096;

type Cmd = NonNullable<kvservicepb.KvRequest['cmd']>;
type Req<C extends Cmd> = NonNullable<kvservicepb.KvRequest[C]>;
type Resp<C extends Cmd> = NonNullable<kvservicepb.KvResponse__Input[C]>;
type Executors = { readonly [C in Cmd]: (req: Req<C>) => Promise<Resp<C>> };

/** The unary RPC name of each command. */
const RPC_OF: Readonly<Record<Cmd, string>> = {
  rawGet: 'RawGet', rawBatchGet: 'RawBatchGet', rawPut: 'RawPut', rawBatchPut: 'RawBatchPut', rawDelete: 'RawDelete',
  rawBatchDelete: 'RawBatchDelete', rawDeleteRange: 'RawDeleteRange', rawScan: 'RawScan', rawCompareAndSwap: 'RawCompareAndSwap',
  get: 'KvGet', batchGet: 'KvBatchGet', scan: 'KvScan', prewrite: 'KvPrewrite', commit: 'KvCommit', batchRollback: 'KvBatchRollback',
  cleanup: 'KvCleanup', checkTxnStatus: 'KvCheckTxnStatus', resolveLock: 'KvResolveLock', txnHeartBeat: 'KvTxnHeartBeat',
  scanLock: 'KvScanLock', gc: 'KvGC',
};

export interface KvServiceMetrics {
  observeRequest(type: string, outcome: string, seconds: number): void;
}

/** A client of another cluster retries: its refusals are logged at most this often. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * The Kv service's definition for `server.addService`, with the BatchCommands stream's requests
 * decoded by proto/plain-decoder.ts (the same objects proto-loader gives, at ~2.5× less CPU) and
 * its answers encoded by proto/plain-encoder.ts (the same bytes, at ~2× less): the stream
 * carries every request of a loaded store.
 */
export function kvServiceDefinition(): kvservicepb.KvDefinition {
  const loaded = serviceDefinition('flotilla.kvservicepb.Kv');
  return {
    ...loaded,
    BatchCommands: {
      ...loaded.BatchCommands,
      requestDeserialize: plainDecoder('flotilla.kvservicepb.BatchCommandsRequest'),
      responseSerialize: plainEncoder('flotilla.kvservicepb.BatchCommandsResponse'),
    },
  };
}

export class KvService {
  private readonly executors: Executors;
  private lastRefusalLogMs = 0;

  constructor(private readonly clusterId: bigint, raw: RawKv, txn: TxnKv, private readonly log: Logger, private readonly metrics?: KvServiceMetrics) {
    this.executors = {
      rawGet: (r) => raw.get(r), rawBatchGet: (r) => raw.batchGet(r), rawPut: (r) => raw.put(r), rawBatchPut: (r) => raw.batchPut(r),
      rawDelete: (r) => raw.delete(r), rawBatchDelete: (r) => raw.batchDelete(r), rawDeleteRange: (r) => raw.deleteRange(r),
      rawScan: (r) => raw.scan(r), rawCompareAndSwap: (r) => raw.compareAndSwap(r),
      get: (r) => txn.get(r), batchGet: (r) => txn.batchGet(r), scan: (r) => txn.scan(r), prewrite: (r) => txn.prewrite(r),
      commit: (r) => txn.commit(r), batchRollback: (r) => txn.batchRollback(r), cleanup: (r) => txn.cleanup(r),
      checkTxnStatus: (r) => txn.checkTxnStatus(r), resolveLock: (r) => txn.resolveLock(r), txnHeartBeat: (r) => txn.txnHeartBeat(r),
      scanLock: (r) => txn.scanLock(r), gc: (r) => txn.gc(r),
    };
  }

  /** Runs one command; errors become the response's region_error or other_error. */
  async execute<C extends Cmd>(cmd: C, req: Req<C>): Promise<Resp<C>> {
    const start = performance.now();
    let outcome = 'ok';
    try {
      const exec = this.executors[cmd] as (r: Req<C>) => Promise<Resp<C>>;
      return await exec(req);
    } catch (err) {
      const e = asFlotillaError(err);
      outcome = e.code;
      if (e.code === 'Internal' || e.code === 'Corruption' || e.code === 'EngineError') this.log.error({ err, cmd }, 'KV request failed');
      if (isRegionErrorCode(e.code)) return { regionError: regionErrorToWire(e) } as Resp<C>;
      return { otherError: errorToWire(e) } as Resp<C>;
    } finally {
      this.metrics?.observeRequest(RPC_OF[cmd], outcome, (performance.now() - start) / 1000);
    }
  }

  /** gRPC handlers for server.addService(serviceDefinition('flotilla.kvservicepb.Kv'), …). */
  handlers(): kvservicepb.KvHandlers {
    const unary = <C extends Cmd>(cmd: C) => (call: grpc.ServerUnaryCall<Req<C>, Resp<C>>, cb: grpc.sendUnaryData<Resp<C>>): void => {
      const refusal = this.clusterRefusal(call.metadata, RPC_OF[cmd]);
      if (refusal !== null) {
        cb(grpcStatusOf(refusal));
        return;
      }
      void this.execute(cmd, call.request).then((resp) => cb(null, resp));
    };
    return {
      RawGet: unary('rawGet'), RawBatchGet: unary('rawBatchGet'), RawPut: unary('rawPut'), RawBatchPut: unary('rawBatchPut'),
      RawDelete: unary('rawDelete'), RawBatchDelete: unary('rawBatchDelete'), RawDeleteRange: unary('rawDeleteRange'),
      RawScan: unary('rawScan'), RawCompareAndSwap: unary('rawCompareAndSwap'),
      KvGet: unary('get'), KvBatchGet: unary('batchGet'), KvScan: unary('scan'), KvPrewrite: unary('prewrite'), KvCommit: unary('commit'),
      KvBatchRollback: unary('batchRollback'), KvCleanup: unary('cleanup'), KvCheckTxnStatus: unary('checkTxnStatus'),
      KvResolveLock: unary('resolveLock'), KvTxnHeartBeat: unary('txnHeartBeat'), KvScanLock: unary('scanLock'), KvGC: unary('gc'),
      BatchCommands: (call) => this.serveBatchStream(call),
    };
  }

  /** A call from another cluster, logged (it means an address now reaches the wrong store); null when it may be served. */
  private clusterRefusal(metadata: grpc.Metadata, what: string): FlotillaError | null {
    const refusal = clusterIdRefusal(metadata, this.clusterId, what, false);
    if (refusal === null) return null;
    const now = Date.now();
    if (now - this.lastRefusalLogMs >= REFUSAL_LOG_INTERVAL_MS) {
      this.lastRefusalLogMs = now;
      this.log.warn({ err: refusal.message }, 'refused a KV call of another cluster (repeats are not logged for a while)');
    }
    return refusal;
  }

  private serveBatchStream(call: grpc.ServerDuplexStream<kvservicepb.BatchCommandsRequest, kvservicepb.BatchCommandsResponse__Input>): void {
    const refusal = this.clusterRefusal(call.metadata, 'BatchCommands');
    if (refusal !== null) {
      // Ends the call with this status; not one request of it has been read.
      call.emit('error', grpcStatusOf(refusal));
      return;
    }
    let inflight = 0;
    let isEnded = false;
    let isClosed = false;
    let outResponses: kvservicepb.KvResponse__Input[] = [];
    let outIds: string[] = [];
    let flushScheduled = false;
    /** The client is not reading our answers: stop reading its requests until the writes drain. */
    let isWriteBlocked = false;
    const flush = (): void => {
      flushScheduled = false;
      if (outIds.length === 0 || isClosed) return;
      const batch = { responses: outResponses, requestIds: outIds, transportLayerLoad: String(inflight) };
      outResponses = [];
      outIds = [];
      if (!call.write(batch) && !isWriteBlocked) {
        isWriteBlocked = true;
        call.pause();
        call.once('drain', () => {
          isWriteBlocked = false;
          if (inflight < BATCH_STREAM_INFLIGHT_MAX) call.resume();
        });
      }
      if (isEnded && inflight === 0) call.end();
    };
    const answer = (id: string, resp: kvservicepb.KvResponse__Input): void => {
      inflight--;
      outResponses.push(resp);
      outIds.push(id);
      if (inflight < BATCH_STREAM_INFLIGHT_MAX / 2 && !isWriteBlocked && call.isPaused()) call.resume();
      if (!flushScheduled) {
        flushScheduled = true;
        afterThisCallback(flush);
      }
    };
    call.on('data', (msg: kvservicepb.BatchCommandsRequest) => {
      if (msg.requests.length !== msg.requestIds.length) {
        const err = new FlotillaError('InvalidArgument', `${msg.requests.length} requests but ${msg.requestIds.length} request ids`);
        call.write({ responses: [{ error: errorToWire(err) }], requestIds: ['0'] });
        return;
      }
      for (let i = 0; i < msg.requests.length; i++) {
        const req = msg.requests[i]!;
        const id = msg.requestIds[i]!;
        inflight++;
        const cmd = req.cmd;
        if (cmd === undefined || req[cmd] === null || req[cmd] === undefined) {
          answer(id, { error: errorToWire(new FlotillaError('InvalidArgument', 'empty or unknown request kind')) });
          continue;
        }
        void this.dispatch(cmd, req).then((resp) => answer(id, resp));
      }
      if (inflight >= BATCH_STREAM_INFLIGHT_MAX) call.pause();
    });
    call.on('end', () => {
      isEnded = true;
      if (inflight === 0 && !flushScheduled) call.end();
    });
    call.on('error', () => {
      isClosed = true;
    });
    call.on('cancelled', () => {
      isClosed = true;
    });
  }

  private async dispatch(cmd: Cmd, req: kvservicepb.KvRequest): Promise<kvservicepb.KvResponse__Input> {
    // The oneof member named by `cmd` is set (checked by the caller).
    const resp = await this.execute(cmd, req[cmd] as never);
    return { [cmd]: resp };
  }
}
