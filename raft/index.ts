// raft/: a pure, synchronous Raft consensus library (etcd-io/raft's model). See README.md for
// the API and the caller's loop; DESIGN.md §4 for its place in Flotilla.
export * from './types.js';
export * from './results.js';
export * from './limits.js';
export { type Config, type ConfigInput, type ReadOnlyOption, makeConfig, validateConfig } from './config.js';
export { type RaftLogger, NOOP_LOGGER } from './logger.js';
export { type RaftStorage, type RaftInitialState, type StorageEntries, type StorageTerm, MemoryStorage } from './storage.js';
export { encodeConfChange, decodeConfChange, type DecodeConfChangeResult } from './confchange-codec.js';
export { RawNode, readyNeedsWrite, type Ready, type Status, type ProgressStatus, type ApplyConfChangeResult } from './raw-node.js';
export { type CampaignKind, CAMPAIGN_TRANSFER_CONTEXT } from './raft.js';
export { type ProgressState } from './progress.js';
export { type QuiesceBlocker, type QuiesceCheck, type WakeCause, QUIESCE_CONTEXT, isQuiesceContext } from './quiesce.js';
