// placement-driver/: the PD server. Today its pure cores: the TSO allocator, the batched ID
// allocator and the region index; the replicated state machine, services and HTTP come with F4.
export * from './tso.js';
export * from './id-allocator.js';
export * from './region-index.js';
