// store/: see README.md and ../../shared/DESIGN.md §2. Public surface grows here.
export * from './engine/index.js';
// The store-to-store raft wire (bench/round-floor.ts measures its cost per message).
export { decodeRaftBatch, encodeRaftBatch, type StoreRaftBatch, type StoreRaftMessage } from './raft-codec.js';
