// The TypeScript face of raft_serverpb.proto: every generated message, enum and service type of
// package flotilla.raft_serverpb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `raft_serverpb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/raft_serverpb/AdminRequest.js';
export * from './generated/flotilla/raft_serverpb/AdminResponse.js';
export * from './generated/flotilla/raft_serverpb/BatchSplitRequest.js';
export * from './generated/flotilla/raft_serverpb/BatchSplitResponse.js';
export * from './generated/flotilla/raft_serverpb/ChangePeerRequest.js';
export * from './generated/flotilla/raft_serverpb/ChangePeerResponse.js';
export * from './generated/flotilla/raft_serverpb/ChangePeerV2Request.js';
export * from './generated/flotilla/raft_serverpb/ChangePeerV2Response.js';
export * from './generated/flotilla/raft_serverpb/ColumnFamily.js';
export * from './generated/flotilla/raft_serverpb/CommitMergeRequest.js';
export * from './generated/flotilla/raft_serverpb/CommitMergeResponse.js';
export * from './generated/flotilla/raft_serverpb/CompactLogRequest.js';
export * from './generated/flotilla/raft_serverpb/CompactLogResponse.js';
export * from './generated/flotilla/raft_serverpb/Done.js';
export * from './generated/flotilla/raft_serverpb/MergeState.js';
export * from './generated/flotilla/raft_serverpb/Modify.js';
export * from './generated/flotilla/raft_serverpb/ModifyKind.js';
export * from './generated/flotilla/raft_serverpb/PeerState.js';
export * from './generated/flotilla/raft_serverpb/PrepareMergeRequest.js';
export * from './generated/flotilla/raft_serverpb/PrepareMergeResponse.js';
export * from './generated/flotilla/raft_serverpb/RaftApplyState.js';
export * from './generated/flotilla/raft_serverpb/RaftCmdRequest.js';
export * from './generated/flotilla/raft_serverpb/RaftCmdResponse.js';
export * from './generated/flotilla/raft_serverpb/RaftLocalState.js';
export * from './generated/flotilla/raft_serverpb/RaftMessage.js';
export * from './generated/flotilla/raft_serverpb/RaftMessageBatch.js';
export * from './generated/flotilla/raft_serverpb/RaftRequestHeader.js';
export * from './generated/flotilla/raft_serverpb/RaftResponseHeader.js';
export * from './generated/flotilla/raft_serverpb/RaftTransport.js';
export * from './generated/flotilla/raft_serverpb/RaftTruncatedState.js';
export * from './generated/flotilla/raft_serverpb/RegionLocalState.js';
export * from './generated/flotilla/raft_serverpb/RollbackMergeRequest.js';
export * from './generated/flotilla/raft_serverpb/RollbackMergeResponse.js';
export * from './generated/flotilla/raft_serverpb/SnapshotChunk.js';
export * from './generated/flotilla/raft_serverpb/SnapshotData.js';
export * from './generated/flotilla/raft_serverpb/SnapshotHeader.js';
export * from './generated/flotilla/raft_serverpb/SnapshotTrailer.js';
export * from './generated/flotilla/raft_serverpb/SplitRequest.js';
export * from './generated/flotilla/raft_serverpb/TransferLeaderRequest.js';
export * from './generated/flotilla/raft_serverpb/TransferLeaderResponse.js';
