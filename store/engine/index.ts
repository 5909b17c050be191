// store/engine: the storage engine (RocksDB, and an in-memory twin for tests) behind the Engine
// interface; txn's Snapshot is implemented here.
export * from './types.js';
export * from './memory-engine.js';
export * from './rocks-engine.js';
export { isCachedKey, RowCache, type RowCacheStats } from './row-cache.js';
