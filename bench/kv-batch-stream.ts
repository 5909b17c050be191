// A load generator's view of the KV service: the client library's own BatchCommands transport to
// one store (client/wire.ts — streams, every request issued in one turn of the event loop in ONE
// stream message, tagged answers; the client's request encoder and answer decoder), so the bench
// pays what the client pays per request. This file keeps the few wire shapes the bench reads and
// turns transport failures into the bench's error kinds.

import { FlotillaError } from '../common/index.js';
import { wire } from '../client/index.js';

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

/** The context of every request: region id, epoch and the addressed peer. */
export interface WireContext {
  readonly regionId: string;
  readonly regionEpoch: { readonly confVer: string; readonly version: string };
  readonly peer: { readonly id: string; readonly storeId: string };
  /** A read served by this follower or learner (store/replica-read.ts). */
  readonly replicaRead?: boolean;
}

/** The context of every request as the client encodes it once per region and peer. */
export type ContextField = Buffer;

export function contextField(context: WireContext): ContextField {
  return wire.encodeContextField(context);
}

/** A request failed as a whole: its stream broke or the store answered `error` for it. */
export class StreamRequestError extends Error {
  override readonly name = 'StreamRequestError';
  constructor(readonly kind: string, message: string) {
    super(message);
  }
}

/** How long a request may stay unanswered before the bench counts it failed. */
const REQUEST_DEADLINE_MS = 60_000;

/**
 * `streamCount` BatchCommands streams to one store (client/store-connection.ts): send() queues a
 * request; everything queued in one turn leaves as one message on the next stream in turn.
 */
export class KvBatchStreams {
  private readonly connection: wire.StoreConnection;
  private readonly closeConnection: () => void;

  constructor(readonly address: string, streamCount: number, clusterId: bigint) {
    const opened = wire.openStoreConnection(address, { clusterId, streamCount });
    this.connection = opened.connection;
    this.closeConnection = () => opened.close();
  }

  /** Requests written and the stream messages that carried them, since this was created. */
  get requestsSent(): number {
    return this.connection.requestsSent;
  }

  get messagesSent(): number {
    return this.connection.messagesSent;
  }

  /** Sends `cmd` with `body` (its request's fields but the context) under `context`. */
  async send(cmd: string, body: Readonly<Record<string, unknown>>, context: ContextField): Promise<WireKvResponse> {
    const request = wire.encodeRequest(cmd as wire.Cmd, body, context);
    try {
      return (await this.connection.send(request, Date.now() + REQUEST_DEADLINE_MS)) as unknown as WireKvResponse;
    } catch (err) {
      if (err instanceof FlotillaError) throw new StreamRequestError(`stream:${err.code}`, err.message);
      throw err;
    }
  }

  /** Requests written and not yet answered. */
  get unanswered(): number {
    return this.connection.unanswered;
  }

  close(): void {
    this.closeConnection();
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
