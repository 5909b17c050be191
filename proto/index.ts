// The public surface of proto/: the loader (typed gRPC objects, service definitions, message
// codecs) and the generated types, one namespace per proto package. Other folders import from
// here only, never from proto/generated/ directly.
//
//   import { loadProtos, serviceDefinition, messageCodec, kvrpcpb, errorpb } from '../proto/index.js';
//   const get: kvrpcpb.GetRequest__Input = { context, key, version: u64ToWire(startTs) };
//   if (resp.regionError?.kind === 'notLeader') …
//   errorpb.ErrorCode.NOT_LEADER === 'NOT_LEADER'
export {
  PROTO_DIR,
  PROTO_FILES,
  PROTO_LOADER_OPTIONS,
  SERVICE_NAMES,
  loadPackageDefinition,
  loadProtos,
  messageCodec,
  serviceDefinition,
  type FlotillaProtos,
  type MessageCodec,
  type MessageInput,
  type MessageName,
  type MessageOutput,
  type ServiceDefinitions,
  type ServiceName,
} from './load.js';
export { installLongDecimalFastPaths, type LongClass, protobufLongClass } from './long-decimal.js';
export { plainDecoder } from './plain-decoder.js';
export { plainEncoder } from './plain-encoder.js';

export * as adminpb from './adminpb.js';
export * as eraftpb from './eraftpb.js';
export * as errorpb from './errorpb.js';
export * as kvrpcpb from './kvrpcpb.js';
export * as kvservicepb from './kvservicepb.js';
export * as metapb from './metapb.js';
export * as pdpb from './pdpb.js';
export * as raft_serverpb from './raft_serverpb.js';
