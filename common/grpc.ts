// gRPC plumbing shared by every server and client: server start on host:port (port 0 → the real
// port), message size limits on both ends, keepalive, a channel cache, and one credentials hook
// through which TLS is switched on everywhere at once.

import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { FlotillaError } from './errors.js';

const MiB = 1024 * 1024;

/**
 * Largest gRPC message either end accepts. A raft entry may be 8 MiB and a batch carries several;
 * 64 MiB bounds memory per in-flight message while leaving room. Snapshots go in chunks well below.
 */
export const GRPC_MESSAGE_BYTES_MAX = 64 * MiB;
/**
 * Concurrent streams (calls) one connection may have open at a server. Clients multiplex on one
 * connection and the hot paths are single long-lived streams, so this is generous; it bounds what
 * one misbehaving client can make a server hold.
 */
export const GRPC_CONCURRENT_STREAMS_MAX = 1_024;
/** Keepalive ping interval: finds a dead peer in ~10 s + timeout even when idle. */
export const GRPC_KEEPALIVE_TIME_MS = 10_000;
/** How long a keepalive ping may go unanswered before the connection is dropped. */
export const GRPC_KEEPALIVE_TIMEOUT_MS = 3_000;
/**
 * The HTTP/2 receive window a client opens (per stream and for its connection): how much a server
 * may send it before waiting for a WINDOW_UPDATE. HTTP/2's default is 64 KiB; a busy BatchCommands
 * stream has far more answers in flight (256 transfers' reads and prewrites: ~150 KiB), so the
 * store's writes stalled until the client's event loop acknowledged the last 32–64 KiB. grpc-go
 * grows its windows by bandwidth-delay estimates; grpc-js has a fixed one, so it is set here.
 * bench:ab, transfers ×256: 4 MiB +4.2 % (3 rounds, all ahead), 16 MiB +2.2 % (4 rounds, 3 ahead);
 * raw puts over 100 regions, 4 MiB: −2.8 % (0.898 · 0.975 · 1.047, within this VM's spread).
 * The cost: a client that stops reading may have this much more buffered per connection.
 * (A server's receive window — the raft streams' direction — grpc-js does not let us set.)
 */
export const GRPC_CLIENT_WINDOW_BYTES = 4 * MiB;

export interface TlsConfig {
  /** PEM file of the CA that signs peers' certificates. */
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** Security settings of a process; `tls: null` is plaintext on 127.0.0.1 / trusted networks. */
export interface SecurityConfig {
  readonly tls: TlsConfig | null;
}

export const INSECURE: SecurityConfig = { tls: null };

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new FlotillaError('ConfigInvalid', `tls ${what}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** The one hook for server credentials (mTLS when TLS is configured). */
export async function serverCredentials(security: SecurityConfig): Promise<grpc.ServerCredentials> {
  if (security.tls === null) return grpc.ServerCredentials.createInsecure();
  const { caPath, certPath, keyPath } = security.tls;
  const [ca, cert, key] = await Promise.all([readPem(caPath, 'ca'), readPem(certPath, 'cert'), readPem(keyPath, 'key')]);
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true);
}

/** The one hook for channel credentials. */
export async function channelCredentials(security: SecurityConfig): Promise<grpc.ChannelCredentials> {
  if (security.tls === null) return grpc.credentials.createInsecure();
  const { caPath, certPath, keyPath } = security.tls;
  const [ca, cert, key] = await Promise.all([readPem(caPath, 'ca'), readPem(certPath, 'cert'), readPem(keyPath, 'key')]);
  return grpc.credentials.createSsl(ca, key, cert);
}

/** Options for both ends: message size limits and keepalive; a client's receive window (a server ignores it). */
export function grpcChannelOptions(messageBytesMax = GRPC_MESSAGE_BYTES_MAX): grpc.ChannelOptions {
  return {
    'grpc.max_receive_message_length': messageBytesMax,
    'grpc.max_send_message_length': messageBytesMax,
    'grpc.keepalive_time_ms': GRPC_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': GRPC_KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc-node.flow_control_window': GRPC_CLIENT_WINDOW_BYTES,
  };
}

export function createGrpcServer(messageBytesMax = GRPC_MESSAGE_BYTES_MAX): grpc.Server {
  return new grpc.Server({
    ...grpcChannelOptions(messageBytesMax),
    'grpc.max_concurrent_streams': GRPC_CONCURRENT_STREAMS_MAX,
  });
}

export interface StartedGrpcServer {
  readonly server: grpc.Server;
  /** The bound port (the OS's choice when 0 was asked). */
  readonly port: number;
  /** `host:port` as clients should dial it. */
  readonly address: string;
  /** Graceful shutdown, forced after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Binds `server` to host:port and starts it. Port 0 asks the OS; the real port is returned. */
export async function startGrpcServer(server: grpc.Server, host: string, port: number, security: SecurityConfig = INSECURE): Promise<StartedGrpcServer> {
  const creds = await serverCredentials(security);
  const target = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, creds, (err, actual) => {
      if (err !== null) reject(new FlotillaError('Unavailable', `gRPC: cannot listen on ${target}: ${err.message}`, { cause: err }));
      else resolve(actual);
    });
  });
  return {
    server,
    port: boundPort,
    address: `${host}:${boundPort}`,
    stop: (graceMs = 2_000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}

/** A deadline `ms` from now, for grpc call options. */
export function deadlineAfterMs(ms: number): Date {
  return new Date(Date.now() + ms);
}

type ClientConstructor<C extends grpc.Client> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => C;

const ctorIds = new WeakMap<object, number>();
let nextCtorId = 1;
/** A client constructor's identity: grpc names every generated client class ServiceClientImpl. */
function ctorId(ctor: object): number {
  let id = ctorIds.get(ctor);
  if (id === undefined) {
    id = nextCtorId++;
    ctorIds.set(ctor, id);
  }
  return id;
}

/**
 * One client per (service, address), created on first use and reused: a channel is costly
 * (TCP + HTTP/2 handshake) and a store's requests should share one connection and one batch stream.
 */
export class ChannelCache {
  private readonly clients = new Map<string, grpc.Client>();
  private closed = false;

  constructor(
    private readonly credentials: grpc.ChannelCredentials,
    private readonly options: grpc.ClientOptions = grpcChannelOptions(),
  ) {}

  get<C extends grpc.Client>(ctor: ClientConstructor<C>, address: string): C {
    if (this.closed) throw new FlotillaError('Unavailable', 'channel cache is closed');
    const key = `${ctorId(ctor)}@${address}`;
    const existing = this.clients.get(key);
    if (existing !== undefined) return existing as C;
    const created = new ctor(address, this.credentials, this.options);
    this.clients.set(key, created);
    return created;
  }

  /** Drops (and closes) the client for an address, e.g. after the store moved. */
  evict(address: string): void {
    for (const [key, client] of this.clients) {
      if (key.endsWith(`@${address}`)) {
        client.close();
        this.clients.delete(key);
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

export { grpc };
