// raft-host/: what every process hosting raft groups shares (DESIGN.md §2): raft ↔ eraftpb
// conversion, checksummed log records, a Ready turned into write operations under the caller's
// key scheme, tick catch-up, proposal waiters, refusal → error mapping, the raft logger adapter.
export * from './raft-wire.js';
export * from './log-records.js';
export * from './ready-ops.js';
export * from './tick-clock.js';
export * from './proposal-waiters.js';
export * from './refusal.js';
export * from './logger.js';
