// One store as the client sees it: a gRPC channel and its BatchCommands stream. Every request
// handed to send() in the same callback of the event loop (its promise continuations included)
// leaves in ONE stream message (DESIGN.md §8: "requests to a store coalesced onto its batch
// stream"), sent before the loop's next poll phase (common/grpc-stream.ts afterThisCallback);
// answers come back tagged, in any order.
//
// What a failure means matters more than the failure: a request that never left this process
// (the channel never became ready) failed with `sent: false` and may go anywhere else; one that
// was written to a stream and got no answer (the stream broke, the deadline passed) failed with
// `sent: true` — the store may have run it, and only idempotent requests may be sent again
// (kv-rpc.ts decides). Two stream failures prove nothing was read, so their requests fail with
// `sent: false`: a store of another cluster refusing our cluster id (ClusterIdMismatch: the address
// now reaches that store), and UNIMPLEMENTED (it reaches a gRPC server that is not a store).
// Invariants: every request is settled exactly once; a late answer to a request already failed
// locally is dropped; no stream is written before the channel is READY.

import { afterThisCallback, errorFromGrpc, FlotillaError, grpc, setClusterIdMetadata } from '../common/index.js';
import { loadProtos, type kvservicepb, plainDecoder } from '../proto/index.js';
import { encodeBatch, type EncodedRequest } from './batch-encoder.js';

/** Requests in one stream message at most (the store pauses a stream past 4,096 unanswered). */
export const STREAM_MESSAGE_REQUESTS_MAX = 1_024;
/** Requests queued or unanswered per store at most; past it send() refuses (unsent) with ServerIsBusy. */
export const CONNECTION_REQUESTS_MAX = 100_000;
/**
 * Streams per store (requests rotate over them when there are several). One: answers come back
 * in any order, batched per callback, so a slow answer holds no other; and every stream message costs
 * both ends a fixed share of CPU, so fewer, fuller messages are cheaper. bench:ab, transfers ×256,
 * one stream against two: CPU per transfer −8.7 %, throughput +2.4 % (bench/README, stop 59).
 */
export const STREAMS_PER_STORE = 1;
/** How often requests past their deadline are failed. */
const DEADLINE_SWEEP_MS = 20;
/** Longest wait for a channel to connect before queued requests fail (each also fails at its own deadline). */
export const CONNECT_TIMEOUT_MS = 3_000;

export type KvResponse = kvservicepb.KvResponse;

/** One stream message as the custom serializer takes it (batch-encoder.ts). */
interface OutgoingBatch {
  readonly requests: EncodedRequest[];
  readonly ids: number[];
}

interface Pending {
  readonly request: EncodedRequest;
  readonly deadlineMs: number;
  readonly resolve: (r: KvResponse) => void;
  readonly reject: (e: FlotillaError) => void;
}

type Duplex = grpc.ClientDuplexStream<OutgoingBatch, kvservicepb.BatchCommandsResponse>;

function serializeBatch(batch: OutgoingBatch): Buffer {
  return encodeBatch(batch.requests, batch.ids);
}

const BATCH_COMMANDS = loadProtos().flotilla.kvservicepb.Kv.service.BatchCommands;

/** The stream's answers, decoded straight into proto-loader's objects (proto/plain-decoder.ts). */
const deserializeAnswers = plainDecoder('flotilla.kvservicepb.BatchCommandsResponse');

/** A transport failure; `details.sent` says whether the store may have received the request. */
export function transportError(code: 'Unavailable' | 'DeadlineExceeded' | 'ClusterIdMismatch', message: string, sent: boolean, cause?: unknown): FlotillaError {
  return new FlotillaError(code, message, { details: { sent }, cause });
}

export function wasSent(err: FlotillaError): boolean {
  return err.details.sent === true;
}

class TaggedStream {
  readonly waiting = new Map<number, Pending>();
  private nextId = 1;
  isBroken = false;

  constructor(private readonly call: Duplex, private readonly address: string) {
    call.on('data', (batch: kvservicepb.BatchCommandsResponse) => this.onAnswers(batch));
    call.on('error', (err: Error) => {
      const fe = errorFromGrpc(err);
      // Refused at the start, before the store read a request: nothing of it ran.
      if (fe.code === 'ClusterIdMismatch') this.failWith(transportError('ClusterIdMismatch', `store ${address} is not in our cluster: ${fe.message}`, false, err));
      // The address reaches a gRPC server without the KV service (a PD now on a store's old port): nothing ran.
      else if ((err as Partial<grpc.ServiceError>).code === grpc.status.UNIMPLEMENTED) this.failWith(transportError('Unavailable', `${address} does not serve the KV service (not a store): ${err.message}`, false, err));
      else this.fail(`BatchCommands stream to ${address} failed: ${err.message}`, err);
    });
    call.on('end', () => this.fail(`BatchCommands stream to ${address} ended`));
  }

  write(batch: readonly Pending[]): void {
    const requests = new Array<EncodedRequest>(batch.length);
    const ids = new Array<number>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const id = this.nextId++;
      this.waiting.set(id, batch[i]!);
      requests[i] = batch[i]!.request;
      ids[i] = id;
    }
    this.call.write({ requests, ids });
  }

  private onAnswers(batch: kvservicepb.BatchCommandsResponse): void {
    const n = batch.requestIds.length;
    if (batch.responses.length !== n) {
      this.fail(`store ${this.address} answered ${batch.responses.length} responses for ${n} ids`);
      this.call.cancel();
      return;
    }
    for (let i = 0; i < n; i++) {
      const id = Number(batch.requestIds[i]);
      const p = this.waiting.get(id);
      if (p === undefined) continue; // failed locally (deadline) before the answer came
      this.waiting.delete(id);
      p.resolve(batch.responses[i]!);
    }
  }

  /** Fails every unanswered request as sent (the store may have run it). */
  fail(message: string, cause?: unknown): void {
    this.failWith(transportError('Unavailable', message, true, cause));
  }

  private failWith(err: FlotillaError): void {
    if (this.isBroken && this.waiting.size === 0) return;
    this.isBroken = true;
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const p of waiting) p.reject(err);
  }

  sweep(nowMs: number): void {
    for (const [id, p] of this.waiting) {
      if (p.deadlineMs <= nowMs) {
        this.waiting.delete(id);
        p.reject(transportError('DeadlineExceeded', `no answer from store ${this.address} within the deadline`, true));
      }
    }
  }

  close(): void {
    this.call.end();
    this.fail(`BatchCommands stream to ${this.address} closed by the client`);
  }
}

export interface StoreConnectionOptions {
  /** Our cluster's id, sent on every stream: a store of another cluster refuses it. */
  readonly clusterId: bigint;
  /** BatchCommands streams to open (default STREAMS_PER_STORE). */
  readonly streamCount?: number;
  readonly requestsMax?: number;
}

export class StoreConnection {
  private readonly streams: (TaggedStream | undefined)[];
  private nextStream = 0;
  private queued: Pending[] = [];
  private isFlushScheduled = false;
  private isConnecting = false;
  private sweeper: NodeJS.Timeout | null = null;
  private isClosed = false;
  /** Requests written and stream messages written since creation (batching at work). */
  requestsSent = 0;
  messagesSent = 0;

  private readonly requestsMax: number;
  private readonly clusterId: bigint;

  constructor(
    readonly address: string,
    private readonly client: kvservicepb.KvClient,
    options: StoreConnectionOptions,
  ) {
    this.streams = new Array<TaggedStream | undefined>(options.streamCount ?? STREAMS_PER_STORE);
    this.requestsMax = options.requestsMax ?? CONNECTION_REQUESTS_MAX;
    this.clusterId = options.clusterId;
  }

  /** Sends one request; settles with its answer or a transport error (see the file header). */
  send(request: EncodedRequest, deadlineMs: number): Promise<KvResponse> {
    if (this.isClosed) return Promise.reject(transportError('Unavailable', 'client closed', false));
    if (this.unanswered >= this.requestsMax) {
      // Bounded: past it the caller backs off (kv-rpc treats ServerIsBusy as "retry later"); unsent.
      return Promise.reject(new FlotillaError('ServerIsBusy', `${this.requestsMax} requests already in flight to store ${this.address}`, { details: { sent: false, backoffMs: 5 } }));
    }
    return new Promise((resolve, reject) => {
      this.queued.push({ request, deadlineMs, resolve, reject });
      if (!this.isFlushScheduled) {
        this.isFlushScheduled = true;
        afterThisCallback(() => this.flush());
      }
      if (this.sweeper === null) {
        this.sweeper = setInterval(() => this.sweep(), DEADLINE_SWEEP_MS);
        this.sweeper.unref();
      }
    });
  }

  /** Requests written and not yet answered, plus those queued. */
  get unanswered(): number {
    let n = this.queued.length;
    for (const s of this.streams) n += s?.waiting.size ?? 0;
    return n;
  }

  private flush(): void {
    this.isFlushScheduled = false;
    if (this.queued.length === 0 || this.isClosed) return;
    const channel = this.client.getChannel();
    const state = channel.getConnectivityState(true);
    if (state !== grpc.connectivityState.READY) {
      this.awaitReady();
      return;
    }
    const queued = this.queued;
    this.queued = [];
    for (let i = 0; i < queued.length; i += STREAM_MESSAGE_REQUESTS_MAX) {
      const part = queued.length <= STREAM_MESSAGE_REQUESTS_MAX ? queued : queued.slice(i, i + STREAM_MESSAGE_REQUESTS_MAX);
      this.pickStream().write(part);
      this.messagesSent++;
    }
    this.requestsSent += queued.length;
  }

  /**
   * Waits for the channel to connect, then flushes. A channel that fails to connect (refused,
   * TRANSIENT_FAILURE) fails the queued requests at once, unsent, so that the caller tries
   * another peer instead of waiting out its deadline on a dead store.
   */
  private awaitReady(): void {
    if (this.isConnecting) return;
    this.isConnecting = true;
    // Wait as long as the latest queued deadline (at most CONNECT_TIMEOUT_MS): a request whose own
    // deadline comes first is failed by the sweep (unsent), not every request with it.
    let deadline = Date.now() + 1;
    for (const p of this.queued) deadline = Math.max(deadline, p.deadlineMs);
    deadline = Math.min(deadline, Date.now() + CONNECT_TIMEOUT_MS);
    const channel = this.client.getChannel();
    const fail = (reason: string): void => {
      this.isConnecting = false;
      const failure = transportError('Unavailable', `store ${this.address} unreachable: ${reason}`, false);
      const queued = this.queued;
      this.queued = [];
      for (const p of queued) p.reject(failure);
    };
    const check = (): void => {
      if (this.isClosed) {
        this.isConnecting = false;
        return;
      }
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) {
        this.isConnecting = false;
        this.flush();
        return;
      }
      if (state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        fail(`channel ${grpc.connectivityState[state]}`);
        return;
      }
      if (Date.now() >= deadline) {
        fail('not connected before the deadline');
        return;
      }
      channel.watchConnectivityState(state, deadline, () => check());
    };
    check();
  }

  private pickStream(): TaggedStream {
    const i = this.nextStream;
    this.nextStream = (i + 1) % this.streams.length;
    let stream = this.streams[i];
    if (stream === undefined || stream.isBroken) {
      const metadata = setClusterIdMetadata(new grpc.Metadata(), this.clusterId);
      stream = new TaggedStream(this.client.makeBidiStreamRequest(BATCH_COMMANDS.path, serializeBatch, deserializeAnswers, metadata), this.address);
      this.streams[i] = stream;
    }
    return stream;
  }

  private sweep(): void {
    const now = Date.now();
    for (const s of this.streams) s?.sweep(now);
    // Queued requests (waiting for the channel) past their deadline never left: unsent.
    if (this.queued.length > 0) {
      const keep: Pending[] = [];
      for (const p of this.queued) {
        if (p.deadlineMs <= now) p.reject(transportError('DeadlineExceeded', `store ${this.address} not connected within the deadline`, false));
        else keep.push(p);
      }
      this.queued = keep;
    }
    if (this.unanswered === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const s of this.streams) s?.close();
    const err = transportError('Unavailable', 'client closed', false);
    for (const p of this.queued.splice(0)) p.reject(err);
  }
}
