// placement-driver/: the PD server. Today its deterministic cores — the replicated metadata state
// machine and its codec, the cluster config, the TSO allocator, the batched ID allocator and the
// region index; the raft group wiring, gRPC services and HTTP endpoints come with F4.
export * from './tso.js';
export * from './id-allocator.js';
export * from './region-index.js';
export * from './cluster-config.js';
export * from './state-machine.js';
