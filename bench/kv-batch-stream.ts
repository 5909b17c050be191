// A load generator's view of the KV service: BatchCommands streams to one store, with every
// request issued in one turn of the event loop coalesced into ONE stream message (DESIGN.md §5,
// "Batching on every hop"). Messages rotate over a few streams; answers come back tagged with
// the request ids, out of order, and are matched here.
//
// bench/ may not import proto/ (DESIGN.md §2), and the client library's KV API arrives with F6,
// so this file loads kvservicepb.proto itself with the loader options proto/load.ts documents and
// declares the few wire shapes the bench reads. Replace it with client/ once F6 exists.

import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';
import { grpc, grpcChannelOptions } from '../common/index.js';

/** Requests per stream message at most (the store bounds a stream's in-flight requests at 4,096). */
export const STREAM_MESSAGE_REQUESTS_MAX = 1_024;

// ── The wire shapes the bench reads (proto-loader output: camelCase, uint64 as decimal strings,
// bytes as Buffer, absent messages null, a virtual field naming each oneof's member). ──

export interface WireError {
  readonly code: string;
  readonly message: string;
}
export interface WireRegionError {
  readonly message: string;
  readonly kind?: string;
}
export interface WireKeyError {
  readonly message: string;
  readonly kind?: string;
}
export interface WirePair {
  readonly error: WireKeyError | null;
  readonly key: Buffer;
  readonly value: Buffer;
}
/** Fields every command's response has, and the ones of the commands the bench sends. */
export interface WireResult {
  readonly regionError: WireRegionError | null;
  readonly otherError: WireError | null;
  readonly error?: WireKeyError | null;
  readonly errors?: readonly WireKeyError[];
  readonly pairs?: readonly WirePair[];
  readonly value?: Buffer;
  readonly notFound?: boolean;
  /** Prewrite: the one-phase commit_ts ('0' = locks were written). */
  readonly onePcCommitTs?: string;
}
export interface WireKvResponse {
  readonly cmd?: string;
  readonly error?: WireError | null;
  readonly [cmd: string]: unknown;
}
interface WireBatchResponse {
  readonly responses: readonly WireKvResponse[];
  readonly requestIds: readonly string[];
}

/** The context of every request: region id, epoch and the addressed peer. */
export interface WireContext {
  readonly regionId: string;
  readonly regionEpoch: { readonly confVer: string; readonly version: string };
  readonly peer: { readonly id: string; readonly storeId: string };
}

/** One command of the batch stream: exactly one member set (rawPut, get, prewrite, …). */
export type WireKvRequest = Readonly<Record<string, unknown>>;

type DuplexCall = grpc.ClientDuplexStream<{ requests: WireKvRequest[]; requestIds: string[] }, WireBatchResponse>;
interface KvClient extends grpc.Client {
  BatchCommands(): DuplexCall;
}
type KvClientConstructor = new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => KvClient;

/** The same options proto/load.ts's PROTO_LOADER_OPTIONS gives every loader of our protos. */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true };

function protoDir(): string {
  // dist/bench/ → the package root's proto/ (package.json ships proto/*.proto), or bench/ under a TS runner.
  for (const url of [new URL('../../proto/', import.meta.url), new URL('../proto/', import.meta.url)]) {
    const dir = fileURLToPath(url);
    if (existsSync(`${dir}kvservicepb.proto`)) return dir;
  }
  throw new Error(`kv-batch-stream: no kvservicepb.proto beside ${fileURLToPath(import.meta.url)}`);
}

function loadKvClientConstructor(): KvClientConstructor {
  const definition = protoLoader.loadSync(['kvservicepb.proto'], { ...LOADER_OPTIONS, includeDirs: [protoDir()] });
  const tree = grpc.loadPackageDefinition(definition) as unknown as { flotilla: { kvservicepb: { Kv: KvClientConstructor } } };
  return tree.flotilla.kvservicepb.Kv;
}

/** A request failed as a whole: its stream broke or the store answered `error` for it. */
export class StreamRequestError extends Error {
  override readonly name = 'StreamRequestError';
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

interface Waiter {
  readonly resolve: (r: WireKvResponse) => void;
  readonly reject: (e: unknown) => void;
}

class TaggedStream {
  readonly waiting = new Map<string, Waiter>();
  private nextId = 1;
  isBroken = false;

  constructor(private readonly call: DuplexCall) {
    call.on('data', (batch: WireBatchResponse) => this.onAnswers(batch));
    call.on('error', (err: Error) => this.fail(new StreamRequestError('stream:error', `BatchCommands stream failed: ${err.message}`)));
    call.on('end', () => this.fail(new StreamRequestError('stream:ended', 'BatchCommands stream ended')));
  }

  write(entries: readonly { request: WireKvRequest; waiter: Waiter }[]): void {
    const requests: WireKvRequest[] = [];
    const requestIds: string[] = [];
    for (const e of entries) {
      const id = String(this.nextId++);
      this.waiting.set(id, e.waiter);
      requests.push(e.request);
      requestIds.push(id);
    }
    this.call.write({ requests, requestIds });
  }

  private onAnswers(batch: WireBatchResponse): void {
    if (batch.responses.length !== batch.requestIds.length) {
      this.fail(new StreamRequestError('stream:malformed', `${batch.responses.length} responses for ${batch.requestIds.length} ids`));
      return;
    }
    for (let i = 0; i < batch.requestIds.length; i++) {
      const id = batch.requestIds[i]!;
      const waiter = this.waiting.get(id);
      if (waiter === undefined) continue; // an answer after the stream was failed locally: nobody waits
      this.waiting.delete(id);
      waiter.resolve(batch.responses[i]!);
    }
  }

  fail(err: StreamRequestError): void {
    this.isBroken = true;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  close(): void {
    this.call.end();
    this.fail(new StreamRequestError('stream:closed', 'BatchCommands stream closed by the bench'));
  }
}

/**
 * `streamCount` BatchCommands streams to one store. send() queues a request; everything queued
 * in one turn of the event loop leaves as one message (split past STREAM_MESSAGE_REQUESTS_MAX)
 * on the next stream in turn. A broken stream is replaced at the next flush.
 */
export class KvBatchStreams {
  private readonly client: KvClient;
  private readonly streams: TaggedStream[] = [];
  private nextStream = 0;
  private queued: { request: WireKvRequest; waiter: Waiter }[] = [];
  private isFlushScheduled = false;
  /** Requests written and the stream messages that carried them, since the process started. */
  requestsSent = 0;
  messagesSent = 0;

  constructor(readonly address: string, private readonly streamCount: number) {
    const Kv = loadKvClientConstructor();
    this.client = new Kv(address, grpc.credentials.createInsecure(), grpcChannelOptions());
  }

  send(request: WireKvRequest): Promise<WireKvResponse> {
    return new Promise((resolve, reject) => {
      this.queued.push({ request, waiter: { resolve, reject } });
      if (!this.isFlushScheduled) {
        this.isFlushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.isFlushScheduled = false;
    const queued = this.queued;
    this.queued = [];
    for (let i = 0; i < queued.length; i += STREAM_MESSAGE_REQUESTS_MAX) {
      this.pickStream().write(queued.slice(i, i + STREAM_MESSAGE_REQUESTS_MAX));
      this.messagesSent++;
    }
    this.requestsSent += queued.length;
  }

  private pickStream(): TaggedStream {
    const i = this.nextStream;
    this.nextStream = (i + 1) % this.streamCount;
    let stream = this.streams[i];
    if (stream === undefined || stream.isBroken) {
      stream = new TaggedStream(this.client.BatchCommands());
      this.streams[i] = stream;
    }
    return stream;
  }

  /** Requests written and not yet answered. */
  get unanswered(): number {
    let n = 0;
    for (const s of this.streams) n += s.waiting.size;
    return n;
  }

  close(): void {
    for (const s of this.streams) s.close();
    this.client.close();
  }
}

/**
 * The response of `cmd` inside a KvResponse, or a StreamRequestError when the store answered the
 * batch-level `error` (the command was not run) or a different command.
 */
export function resultOf(resp: WireKvResponse, cmd: string): WireResult {
  if (resp.error !== null && resp.error !== undefined) throw new StreamRequestError(`batch:${resp.error.code}`, resp.error.message);
  const result = resp[cmd];
  if (resp.cmd !== cmd || result === null || typeof result !== 'object') {
    throw new StreamRequestError('batch:wrong-answer', `asked ${cmd}, answered ${String(resp.cmd)}`);
  }
  return result as WireResult;
}

/** The reason a response failed as a whole (region error or other error), or null. */
export function failureOf(r: WireResult): string | null {
  if (r.regionError !== null) return `region:${r.regionError.kind ?? 'unknown'}`;
  if (r.otherError !== null) return `other:${r.otherError.code}`;
  return null;
}

/** A KeyError's kind in the registry's words (KeyIsLocked, WriteConflict, …). */
export function keyErrorKind(e: WireKeyError): string {
  const byMember: Readonly<Record<string, string>> = {
    locked: 'KeyIsLocked', conflict: 'WriteConflict', txnLockNotFound: 'TxnLockNotFound', alreadyCommitted: 'AlreadyCommitted',
    alreadyRolledBack: 'AlreadyRolledBack', commitTsExpired: 'CommitTsExpired', alreadyExist: 'KeyAlreadyExists', txnNotFound: 'TxnNotFound',
  };
  return e.kind === undefined ? 'KeyError' : (byMember[e.kind] ?? e.kind);
}
