// txn/: Percolator transactions over an MVCC snapshot — records, reader, actions, commands,
// latches, scheduler. Pure: imports only common/ (pure) and node:assert. See README.md.
export * from './limits.js';
export * from './errors.js';
export * from './records/index.js';
export * from './mvcc/snapshot.js';
export * from './mvcc/reader.js';
export * from './mvcc/write-buffer.js';
export * from './actions/common.js';
export * from './actions/prewrite.js';
export * from './actions/commit.js';
export * from './actions/rollback.js';
export * from './actions/check-txn-status.js';
export * from './actions/resolve-lock.js';
export * from './actions/txn-heart-beat.js';
export * from './actions/gc.js';
export * from './actions/get.js';
export * from './commands/validate.js';
export * from './commands/prewrite.js';
export * from './commands/commit.js';
export * from './commands/rollback.js';
export * from './commands/check-txn-status.js';
export * from './commands/resolve-lock.js';
export * from './commands/read.js';
export * from './commands/gc.js';
export * from './latches.js';
export * from './scheduler.js';
