// The pure half of common/: no I/O, no timers, no pino, prom-client or gRPC. raft/ and txn/ import
// common only through this entry point (checked by test/layout/import-rules.test.ts), so they stay
// deterministic and loadable anywhere.
export * from './invariant.js';
export * from './errors.js';
export * from './rng.js';
export * from './u64.js';
export * from './key-codec.js';
export * from './timestamp.js';
export * from './crc32.js';
export * from './keyspace.js';
export * from './write-op.js';
export * from './launch-env.js';
