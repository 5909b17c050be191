// common/: the runtime every component shares — errors, codecs, timestamps, seeded randomness,
// logging, metrics, config, back-off and gRPC helpers. Other folders import '../common/index.js';
// raft/ and txn/ import only '../common/pure.js'.
export * from './pure.js';
