// Timestamps from PD's TSO for the client library and the store: every caller's getTimestamp() that arrives while a request is
// in flight joins the next batch, sent as ONE stream request for `count` timestamps (the response
// names the last; the batch gets last−count+1 … last in caller order). Several batches may be in
// flight on the stream (pipelining); a stream failure fails the callers waiting on it, and the
// next call opens a new stream. Strictly increasing per client: PD answers a stream in order.
// Every failure reaches the callers typed through the one mapping in common/ (a header error by
// errorFromWire, a stream's gRPC status by errorFromGrpc), details kept: PdNotLeader with its
// leader hint, ServerIsBusy with its back-off, ClusterIdMismatch as final. Following the leader
// is the caller's job (PdClient: setClient, then retry within the caller's deadline).

import { FlotillaError } from './errors.js';
import type { grpc } from './grpc.js';
import { composeTs, type Ts } from './timestamp.js';
import { u64FromWire, u64ToWire } from './u64.js';
import { errorFromGrpc, errorFromWire } from './wire-errors.js';
import type { pdpb } from '../proto/index.js';

/** Callers folded into one request at most (PD's TSO_COUNT_MAX is 65,536). */
export const TSO_BATCH_MAX = 10_000;
/** Requests in flight on one stream; beyond it callers queue (bounded below). */
export const TSO_INFLIGHT_REQUESTS_MAX = 4;
/** Callers waiting at once; more are refused at once rather than queued without bound. */
export const TSO_PENDING_CALLERS_MAX = 100_000;
/** A timestamp request fails (DeadlineExceeded, the stream reset) if unanswered for this long. */
export const TSO_REQUEST_TIMEOUT_MS = 5_000;

interface Waiter {
  readonly resolve: (ts: Ts) => void;
  readonly reject: (err: unknown) => void;
}

export interface TsoClientOptions {
  /** The PD leader's client (the caller follows leader changes and swaps it via setClient). */
  readonly client: pdpb.PDClient;
  readonly clusterId: bigint;
  readonly batchMax?: number;
  readonly inflightMax?: number;
  /** How long one stream request may go unanswered; default TSO_REQUEST_TIMEOUT_MS. */
  readonly requestTimeoutMs?: number;
}

export class TsoClient {
  private client: pdpb.PDClient;
  private stream: grpc.ClientDuplexStream<pdpb.TsoRequest__Input, pdpb.TsoResponse> | null = null;
  /** Batches sent and not yet answered, in send order (the stream answers in order). */
  private readonly inflight: { waiters: Waiter[]; timer: NodeJS.Timeout }[] = [];
  private queued: Waiter[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly batchMax: number;
  private readonly inflightMax: number;
  private readonly requestTimeoutMs: number;
  private readonly header: pdpb.RequestHeader__Input;
  /** Stream requests sent so far (each carries one batch of callers). */
  requestsSent = 0;

  constructor(options: TsoClientOptions) {
    this.client = options.client;
    this.batchMax = options.batchMax ?? TSO_BATCH_MAX;
    this.inflightMax = options.inflightMax ?? TSO_INFLIGHT_REQUESTS_MAX;
    this.requestTimeoutMs = options.requestTimeoutMs ?? TSO_REQUEST_TIMEOUT_MS;
    this.header = { clusterId: u64ToWire(options.clusterId), senderId: '0' };
  }

  /**
   * Points the client at a new PD leader: callers waiting on the old stream fail with PdNotLeader
   * and retry at the caller's level. The same client again changes nothing.
   */
  setClient(client: pdpb.PDClient): void {
    if (client === this.client) return;
    this.client = client;
    this.resetStream(new FlotillaError('PdNotLeader', 'TSO: PD leader changed'));
  }

  getTimestamp(): Promise<Ts> {
    if (this.closed) return Promise.reject(new FlotillaError('Unavailable', 'TSO client closed'));
    if (this.queued.length >= TSO_PENDING_CALLERS_MAX) {
      return Promise.reject(new FlotillaError('ServerIsBusy', `${this.queued.length} timestamp requests queued`, { details: { backoffMs: 1 } }));
    }
    return new Promise<Ts>((resolve, reject) => {
      this.queued.push({ resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Coalesce every caller of this tick of the event loop into one batch.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queued.length > 0 && this.inflight.length < this.inflightMax) {
      const waiters = this.queued.length <= this.batchMax ? this.queued : this.queued.slice(0, this.batchMax);
      this.queued = this.queued.length <= this.batchMax ? [] : this.queued.slice(this.batchMax);
      const stream = this.openStream();
      const timer = setTimeout(() => this.resetStream(new FlotillaError('DeadlineExceeded', `TSO: no response within ${this.requestTimeoutMs} ms`)), this.requestTimeoutMs);
      timer.unref();
      this.inflight.push({ waiters, timer });
      this.requestsSent++;
      stream.write({ header: this.header, count: waiters.length });
    }
  }

  private openStream(): grpc.ClientDuplexStream<pdpb.TsoRequest__Input, pdpb.TsoResponse> {
    if (this.stream !== null) return this.stream;
    const stream = this.client.Tso();
    stream.on('data', (r: pdpb.TsoResponse) => this.onResponse(stream, r));
    stream.on('error', (err: Error) => {
      if (this.stream !== stream) return;
      // The status as PD (or grpc-js) set it: UNAVAILABLE → Unavailable, Flotilla metadata → its code.
      const typed = errorFromGrpc(err);
      this.resetStream(new FlotillaError(typed.code, `TSO stream failed: ${typed.message}`, { cause: err, details: typed.details }));
    });
    stream.on('end', () => {
      if (this.stream === stream) this.resetStream(new FlotillaError('Unavailable', 'TSO stream ended'));
    });
    this.stream = stream;
    return stream;
  }

  private onResponse(stream: unknown, r: pdpb.TsoResponse): void {
    if (stream !== this.stream) return;
    const batch = this.inflight.shift();
    if (batch === undefined) return;
    clearTimeout(batch.timer);
    const error = r.header?.error;
    if (error !== null && error !== undefined) {
      // The header's error, typed with its details (PdNotLeader's leader, ServerIsBusy's back-off).
      const typed = errorFromWire(error);
      const err = new FlotillaError(typed.code, `TSO: ${error.code}: ${typed.message}`, { details: typed.details });
      for (const w of batch.waiters) w.reject(err);
    } else if (r.count !== batch.waiters.length || r.timestamp === null) {
      const err = new FlotillaError('Internal', `TSO answered ${r.count} timestamps for ${batch.waiters.length} callers`);
      for (const w of batch.waiters) w.reject(err);
    } else {
      let last: Ts;
      try {
        last = composeTs(u64FromWire(r.timestamp.physical, 'timestamp.physical'), r.timestamp.logical);
      } catch (err) {
        for (const w of batch.waiters) w.reject(err);
        this.flush();
        return;
      }
      let ts = last - BigInt(batch.waiters.length) + 1n;
      for (const w of batch.waiters) w.resolve(ts++);
    }
    this.flush();
  }

  private resetStream(err: FlotillaError): void {
    const stream = this.stream;
    this.stream = null;
    stream?.cancel();
    for (const batch of this.inflight.splice(0)) {
      clearTimeout(batch.timer);
      for (const w of batch.waiters) w.reject(err);
    }
    if (this.queued.length > 0 && !this.closed) this.scheduleFlush();
  }

  close(): void {
    this.closed = true;
    const err = new FlotillaError('Unavailable', 'TSO client closed');
    for (const w of this.queued.splice(0)) w.reject(err);
    this.resetStream(err);
  }
}
