// common/: the runtime every component shares — errors, codecs, timestamps, seeded randomness,
// logging, metrics, config, back-off and gRPC helpers. Import it as '../common/index.js'.
export * from './invariant.js';
export * from './errors.js';
export * from './rng.js';
export * from './u64.js';
export * from './key-codec.js';
export * from './timestamp.js';
