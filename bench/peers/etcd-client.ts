// A minimal etcd v3 KV client for the bench: Put, Range and Txn of etcdserverpb.KV as unary gRPC
// calls with the hand-rolled codec of etcd-wire.ts — no .proto loading, no generic message
// objects, no retry policies. What it keeps of a full client: one connection per member and
// calls spread over the members round-robin (clientv3's default balancer), a deadline on every
// call, and typed errors. It never retries: a write whose outcome is unknown is reported, not
// re-sent (DESIGN.md §8), and a bench counts failures rather than hiding them.
//
// Two transports, the same calls: 'http2' (the default) speaks gRPC's HTTP/2 mapping itself over
// node:http2 (one stream per call, the 5-byte message prefix, grpc-status in the trailers);
// 'grpc-js' goes through @grpc/grpc-js's makeUnaryRequest with pass-through serializers. Measured
// on the 2-core machine (bench/README.md, 2026-11-30): grpc-js's unary call path costs about twice
// the client CPU of the bare HTTP/2 one, and client CPU is what the bench must keep out of etcd's
// figure (issue F9: measure etcd, not its client).

import http2 from 'node:http2';
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { FlotillaError } from '../../common/index.js';
import type { EtcdTransportKind } from '../harness/target.js';
import {
  decodePutResponse, decodeRangeResponse, decodeTxnResponse, encodePutRequest, encodeRangeRequest, encodeTxnRequest,
  type PutRequest, type PutResponse, type RangeRequest, type RangeResponse, type TxnRequest, type TxnResponse,
} from './etcd-wire.js';

/**
 * Every call's deadline. etcd answers in milliseconds on loopback; 10 s covers a leader election
 * (1 s default timeout) and still bounds a call against a dead cluster so a bench run ends.
 */
export const ETCD_CALL_DEADLINE_MS = 10_000;
/** How often the http2 transport looks for calls past their deadline (a sweep, not a timer per call). */
const DEADLINE_SWEEP_MS = 250;
/** etcd's default request size limit is 1.5 MiB; a 100-pair scan of 1 MiB values is 100 MiB. */
const ETCD_MESSAGE_BYTES_MAX = 128 * 1024 * 1024;
/** gRPC's length-prefixed message: a compressed flag byte and a 4-byte big-endian length. */
const GRPC_PREFIX_BYTES = 5;

const METHOD_PUT = '/etcdserverpb.KV/Put';
const METHOD_RANGE = '/etcdserverpb.KV/Range';
const METHOD_TXN = '/etcdserverpb.KV/Txn';

export type { EtcdTransportKind } from '../harness/target.js';

/** A failed etcd call: `code` is the gRPC status name (UNAVAILABLE, DEADLINE_EXCEEDED, …). */
export class EtcdCallError extends Error {
  override readonly name = 'EtcdCallError';

  constructor(
    readonly method: string,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${method}: ${code}: ${message}`, options);
  }
}

/** gRPC status codes by number (grpc/doc/statuscodes.md). */
const STATUS_NAMES = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
] as const;

export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? `status ${code}`;
}

/** `http://127.0.0.1:2379` or `127.0.0.1:2379` → `127.0.0.1:2379` (plaintext only: the bench's members are). */
export function grpcTarget(endpoint: string): string {
  if (endpoint.startsWith('https://')) throw new FlotillaError('InvalidArgument', `etcd endpoint ${endpoint}: TLS is not supported by the bench client`);
  const target = endpoint.replace(/^http:\/\//, '').replace(/\/+$/, '');
  if (!/^[^\s/:]+:\d{1,5}$/.test(target)) throw new FlotillaError('InvalidArgument', `etcd endpoint ${endpoint} is not [http://]host:port`);
  return target;
}

/** One unary call to member `member`: the encoded request in, the encoded response out. */
interface UnaryTransport {
  call(member: number, method: string, request: Buffer): Promise<Buffer>;
  close(): void;
}

/** gRPC framing of one message: flag 0 (not compressed), the length, the bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, GRPC_PREFIX_BYTES);
  return frame;
}

/** The one message of a unary response body; EtcdCallError when the body is not exactly one uncompressed message. */
export function grpcUnframe(method: string, body: Buffer): Buffer {
  if (body.length < GRPC_PREFIX_BYTES) throw new EtcdCallError(method, 'INTERNAL', `a response body of ${body.length} bytes has no message`);
  if (body[0] !== 0) throw new EtcdCallError(method, 'INTERNAL', `a compressed response (flag ${body[0]}), none was asked for`);
  const length = body.readUInt32BE(1);
  if (GRPC_PREFIX_BYTES + length !== body.length) throw new EtcdCallError(method, 'INTERNAL', `a response of ${body.length} bytes framing a message of ${length}`);
  return body.subarray(GRPC_PREFIX_BYTES);
}

interface PendingCall {
  readonly stream: http2.ClientHttp2Stream;
  readonly deadlineMs: number;
  readonly method: string;
  readonly reject: (err: Error) => void;
}

/** gRPC over node:http2: one session per member (re-made after it fails), one stream per call. */
class Http2Transport implements UnaryTransport {
  private readonly sessions: (http2.ClientHttp2Session | null)[];
  private readonly pending = new Set<PendingCall>();
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly authorities: readonly string[]) {
    this.sessions = authorities.map(() => null);
    this.sweep = setInterval(() => this.expire(Date.now()), DEADLINE_SWEEP_MS);
    this.sweep.unref();
  }

  private session(member: number): http2.ClientHttp2Session {
    const existing = this.sessions[member];
    if (existing !== null && existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(`http://${this.authorities[member]!}`, { maxSessionMemory: 64 });
    // A failed session fails its streams (each call rejects on its own); the next call reconnects.
    const forget = (): void => {
      if (this.sessions[member] === session) this.sessions[member] = null;
    };
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    this.sessions[member] = session;
    return session;
  }

  call(member: number, method: string, request: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.session(member).request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
      } catch (err) {
        reject(new EtcdCallError(method, 'UNAVAILABLE', err instanceof Error ? err.message : String(err), { cause: err }));
        return;
      }
      const call: PendingCall = { stream, deadlineMs: Date.now() + ETCD_CALL_DEADLINE_MS, method, reject };
      this.pending.add(call);
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      let grpcMessage: string | undefined;
      let failure: Error | null = null;
      const onHeaders = (h: http2.IncomingHttpHeaders): void => {
        // A trailers-only response (an error) carries grpc-status in its headers.
        if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) grpcMessage = String(h['grpc-message']);
      };
      stream.on('response', onHeaders);
      stream.on('trailers', onHeaders);
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err: Error) => {
        failure = err;
      });
      stream.on('close', () => {
        this.pending.delete(call);
        if (grpcStatus === '0') {
          try {
            resolve(grpcUnframe(method, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
          } catch (err) {
            reject(err instanceof Error ? err : new EtcdCallError(method, 'INTERNAL', String(err)));
          }
          return;
        }
        if (grpcStatus !== undefined) reject(new EtcdCallError(method, statusName(Number(grpcStatus)), decodeURIComponent(grpcMessage ?? '')));
        else reject(new EtcdCallError(method, 'UNAVAILABLE', failure?.message ?? `stream closed (http2 code ${stream.rstCode ?? 'none'}) without a gRPC status`, { cause: failure }));
      });
      stream.end(grpcFrame(request));
    });
  }

  private expire(nowMs: number): void {
    for (const call of this.pending) {
      if (call.deadlineMs > nowMs) continue;
      this.pending.delete(call);
      call.reject(new EtcdCallError(call.method, 'DEADLINE_EXCEEDED', `no answer within ${ETCD_CALL_DEADLINE_MS} ms`));
      call.stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }

  close(): void {
    clearInterval(this.sweep);
    for (const s of this.sessions) s?.close();
    this.sessions.fill(null);
  }
}

const identity = (b: Buffer): Buffer => b;

/** gRPC through @grpc/grpc-js's generic client: the request is already encoded, the serializers pass bytes through. */
class GrpcJsTransport implements UnaryTransport {
  private readonly clients: Client[];

  constructor(authorities: readonly string[]) {
    const options = { 'grpc.max_receive_message_length': ETCD_MESSAGE_BYTES_MAX, 'grpc.max_send_message_length': ETCD_MESSAGE_BYTES_MAX };
    this.clients = authorities.map((a) => new Client(a, credentials.createInsecure(), options));
  }

  call(member: number, method: string, request: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.clients[member]!.makeUnaryRequest(method, identity, identity, request, new Metadata(), { deadline: Date.now() + ETCD_CALL_DEADLINE_MS }, (err: ServiceError | null, value?: Buffer) => {
        if (err !== null) reject(new EtcdCallError(method, statusName(err.code === status.OK ? 0 : err.code), err.details, { cause: err }));
        else if (value === undefined) reject(new EtcdCallError(method, 'INTERNAL', 'no response message'));
        else resolve(value);
      });
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

export interface EtcdKvClientOptions {
  /** Default 'http2'. */
  readonly transport?: EtcdTransportKind;
}

export class EtcdKvClient {
  private readonly transport: UnaryTransport;
  private readonly members: number;
  private next = 0;
  private isClosed = false;

  constructor(endpoints: readonly string[], options: EtcdKvClientOptions = {}) {
    if (endpoints.length === 0) throw new FlotillaError('InvalidArgument', 'etcd client: at least one endpoint');
    const authorities = endpoints.map(grpcTarget);
    this.members = authorities.length;
    this.transport = (options.transport ?? 'http2') === 'http2' ? new Http2Transport(authorities) : new GrpcJsTransport(authorities);
  }

  put(request: PutRequest): Promise<PutResponse> {
    return this.call(METHOD_PUT, encodePutRequest(request), decodePutResponse);
  }

  /** A Range; linearizable unless `serializable` is set. */
  range(request: RangeRequest): Promise<RangeResponse> {
    return this.call(METHOD_RANGE, encodeRangeRequest(request), decodeRangeResponse);
  }

  txn(request: TxnRequest): Promise<TxnResponse> {
    return this.call(METHOD_TXN, encodeTxnRequest(request), decodeTxnResponse);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.transport.close();
  }

  /** One call on the next member (round-robin); the response decoded, or a typed error. */
  private async call<T>(method: string, request: Buffer, decode: (b: Buffer) => T): Promise<T> {
    if (this.isClosed) throw new EtcdCallError(method, 'CLOSED', 'the client is closed');
    const member = this.next;
    this.next = (this.next + 1) % this.members;
    return decode(await this.transport.call(member, method, request));
  }
}
