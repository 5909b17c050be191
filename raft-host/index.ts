// raft-host/: what every process hosting raft groups shares (DESIGN.md §2). Today the raft ↔
// eraftpb conversion; issue F5 moves the log record codecs, the persist step, tick catch-up,
// proposal waiters and the step-refusal mapping here from placement-driver/.
export * from './raft-wire.js';
