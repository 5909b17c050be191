// common/: the runtime every component shares — errors, codecs, timestamps, seeded randomness,
// logging, metrics, config, back-off, background tasks, failpoints, gRPC helpers (in-order streams, the
// one mapping between typed errors and their wire forms), region metadata and the PD session
// (leader discovery and leader-following unary calls) that store and client share.
// Other folders import '../common/index.js'; raft/ and txn/ import only '../common/pure.js'.
export * from './pure.js';
export * from './logger.js';
export * from './metrics.js';
export * from './config.js';
export * from './backoff.js';
export * from './task-group.js';
export * from './failpoints.js';
export * from './grpc.js';
export * from './process.js';
export * from './rocksdb.js';
export * from './region.js';
export * from './wire-errors.js';
export * from './grpc-stream.js';
export * from './pd-session.js';
export * from './tso-client.js';
export * from './cluster-metadata.js';
