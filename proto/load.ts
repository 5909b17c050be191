// Loads Flotilla's .proto contracts once per process and hands out typed gRPC constructors,
// service definitions and message codecs. The loader options are the ones the type generator
// (scripts/gen-proto-types.mjs) uses, so runtime objects match proto/generated/ exactly; in
// particular every 64-bit integer is a decimal string, never a JS double.
import assert from 'node:assert';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { installLongDecimalFastPaths, protobufLongClass } from './long-decimal.js';

import type { ProtoGrpcType as AdminpbGrpc } from './generated/adminpb.js';
import type { ProtoGrpcType as EraftpbGrpc } from './generated/eraftpb.js';
import type { ProtoGrpcType as ErrorpbGrpc } from './generated/errorpb.js';
import type { ProtoGrpcType as KvrpcpbGrpc } from './generated/kvrpcpb.js';
import type { ProtoGrpcType as KvservicepbGrpc } from './generated/kvservicepb.js';
import type { ProtoGrpcType as MetapbGrpc } from './generated/metapb.js';
import type { ProtoGrpcType as PdpbGrpc } from './generated/pdpb.js';
import type { ProtoGrpcType as RaftServerpbGrpc } from './generated/raft_serverpb.js';
import type { AdminDefinition } from './generated/flotilla/adminpb/Admin.js';
import type { KvDefinition } from './generated/flotilla/kvservicepb/Kv.js';
import type { PDDefinition } from './generated/flotilla/pdpb/PD.js';
import type { PDPeerDefinition } from './generated/flotilla/pdpb/PDPeer.js';
import type { RaftTransportDefinition } from './generated/flotilla/raft_serverpb/RaftTransport.js';

/**
 * The options every loader of our protos must use (the generator passes the same as flags).
 * `longs: String` is what keeps uint64 lossless: ids, timestamps, terms and indexes arrive as
 * decimal strings and are converted to bigint at the edge. `enums: String` gives enum names.
 * `defaults` fills absent scalars (0, "", empty Buffer, []) and sets absent messages to null.
 * `oneofs` adds a virtual field naming the member of each oneof that is set.
 */
export const PROTO_LOADER_OPTIONS = Object.freeze({
  keepCase: false,
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
} as const);

/** Every .proto file, relative to PROTO_DIR. A test checks this against the directory. */
export const PROTO_FILES = Object.freeze([
  'adminpb.proto',
  'eraftpb.proto',
  'errorpb.proto',
  'kvrpcpb.proto',
  'kvservicepb.proto',
  'metapb.proto',
  'pdpb.proto',
  'raft_serverpb.proto',
] as const);

/**
 * Absolute path of the directory holding the .proto files. This module runs compiled from
 * dist/proto/ (the .proto files stay in proto/ at the package root, `../../proto`) or, under a
 * TS runner, from proto/ itself; the first candidate holding metapb.proto wins.
 */
export const PROTO_DIR: string = findProtoDir();

function findProtoDir(): string {
  const candidates = [new URL('../../proto/', import.meta.url), new URL('./', import.meta.url)];
  for (const url of candidates) {
    const dir = fileURLToPath(url);
    if (existsSync(`${dir}metapb.proto`)) return dir;
  }
  throw new Error(
    `proto: no metapb.proto in ${candidates.map((u) => fileURLToPath(u)).join(' or ')}`,
  );
}

/** The whole tree of typed gRPC objects: `loadProtos().flotilla.kvservicepb.Kv` etc. */
export type FlotillaProtos = AdminpbGrpc &
  EraftpbGrpc &
  ErrorpbGrpc &
  KvrpcpbGrpc &
  KvservicepbGrpc &
  MetapbGrpc &
  PdpbGrpc &
  RaftServerpbGrpc;

let packageDefinition: protoLoader.PackageDefinition | undefined;
let protos: FlotillaProtos | undefined;

/**
 * proto-loader's flat package definition, keyed by full name ('flotilla.kvrpcpb.GetRequest').
 * Loaded synchronously on first use (start-up), then memoized.
 */
export function loadPackageDefinition(): protoLoader.PackageDefinition {
  if (packageDefinition === undefined) installLongDecimalFastPaths(protobufLongClass());
  packageDefinition ??= protoLoader.loadSync([...PROTO_FILES], {
    ...PROTO_LOADER_OPTIONS,
    includeDirs: [PROTO_DIR],
  });
  return packageDefinition;
}

/**
 * The typed gRPC object tree, memoized. Clients: `new (loadProtos().flotilla.pdpb.PD)(address,
 * credentials)`; servers: `server.addService(serviceDefinition('flotilla.pdpb.PD'), handlers)`.
 */
export function loadProtos(): FlotillaProtos {
  // The cast is the one unchecked step: grpc-js types the result as a loose GrpcObject; the
  // generator wrote FlotillaProtos from the same files with the same options.
  protos ??= grpc.loadPackageDefinition(loadPackageDefinition()) as unknown as FlotillaProtos;
  return protos;
}

/** Service definitions by full name. */
export interface ServiceDefinitions {
  'flotilla.adminpb.Admin': AdminDefinition;
  'flotilla.kvservicepb.Kv': KvDefinition;
  'flotilla.pdpb.PD': PDDefinition;
  'flotilla.pdpb.PDPeer': PDPeerDefinition;
  'flotilla.raft_serverpb.RaftTransport': RaftTransportDefinition;
}

export type ServiceName = keyof ServiceDefinitions;

/** Every service, by full name. */
export const SERVICE_NAMES: readonly ServiceName[] = Object.freeze([
  'flotilla.adminpb.Admin',
  'flotilla.kvservicepb.Kv',
  'flotilla.pdpb.PD',
  'flotilla.pdpb.PDPeer',
  'flotilla.raft_serverpb.RaftTransport',
]);

/** The service definition for `server.addService` (and `grpc.makeClientConstructor`). */
export function serviceDefinition<N extends ServiceName>(name: N): ServiceDefinitions[N] {
  const definition = loadPackageDefinition()[name];
  assert(definition !== undefined, `proto: no service ${name}`);
  assert(!('format' in definition), `proto: ${name} is a message or enum, not a service`);
  return definition as unknown as ServiceDefinitions[N];
}

// ── Message codecs ──

type Packages = FlotillaProtos['flotilla'];
type AnyMessageDefinition = protoLoader.MessageTypeDefinition<object, object>;

/** Full name of every top-level message, e.g. 'flotilla.kvrpcpb.GetRequest'. */
export type MessageName = {
  [P in Extract<keyof Packages, string>]: {
    [M in Extract<keyof Packages[P], string>]: Packages[P][M] extends AnyMessageDefinition
      ? `flotilla.${P}.${M}`
      : never;
  }[Extract<keyof Packages[P], string>];
}[Extract<keyof Packages, string>];

type MessageDefinitionOf<N extends MessageName> = N extends `flotilla.${infer P}.${infer M}`
  ? P extends keyof Packages
    ? M extends keyof Packages[P]
      ? Packages[P][M]
      : never
    : never
  : never;

/** What you may pass to encode (every field optional; uint64 as decimal string). */
export type MessageInput<N extends MessageName> =
  MessageDefinitionOf<N> extends protoLoader.MessageTypeDefinition<infer I, infer _O> ? I : never;

/** What decode returns (every field present; uint64 as decimal string; absent message = null). */
export type MessageOutput<N extends MessageName> =
  MessageDefinitionOf<N> extends protoLoader.MessageTypeDefinition<infer _I, infer O> ? O : never;

/** Encodes and decodes one message type to and from protobuf bytes. */
export interface MessageCodec<I, O> {
  /** Full name of the message type. */
  readonly name: string;
  /**
   * Protobuf bytes of `value`. uint64 fields must be decimal strings in [0, 2^64): the
   * encoder does NOT validate them (protobufjs wraps "-1" to 2^64-1 and reads "abc" as 0) and a
   * JS number above 2^53 has already lost precision. Convert with common/u64 at the edge.
   */
  encode(value: I): Buffer;
  /** The message in `bytes`. Throws on malformed input. Unknown enum numbers come out as numbers. */
  decode(bytes: Uint8Array): O;
}

const codecs = new Map<string, MessageCodec<object, object>>();

/**
 * The codec of a top-level message type, memoized. Use it for protobuf bytes outside gRPC:
 * raft entry data (RaftCmdRequest), persisted state (RaftLocalState, RegionLocalState),
 * snapshot headers. Fetch it once, not per message.
 */
export function messageCodec<N extends MessageName>(
  name: N,
): MessageCodec<MessageInput<N>, MessageOutput<N>> {
  let codec = codecs.get(name);
  if (codec === undefined) {
    const definition = loadPackageDefinition()[name];
    assert(definition !== undefined, `proto: no message ${name}`);
    assert(
      'format' in definition && definition.format === 'Protocol Buffer 3 DescriptorProto',
      `proto: ${name} is not a message`,
    );
    // Narrowed by the format check: proto-loader gives every message entry its serializer.
    const message = definition;
    codec = {
      name,
      encode: (value) => message.serialize(value),
      decode: (bytes) => message.deserialize(asBuffer(bytes)),
    };
    codecs.set(name, codec);
  }
  return codec as unknown as MessageCodec<MessageInput<N>, MessageOutput<N>>;
}

/** A Buffer view of `bytes` without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
