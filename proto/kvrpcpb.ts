// The TypeScript face of kvrpcpb.proto: every generated message, enum and service type of
// package flotilla.kvrpcpb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `kvrpcpb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/kvrpcpb/Action.js';
export * from './generated/flotilla/kvrpcpb/AlreadyCommitted.js';
export * from './generated/flotilla/kvrpcpb/AlreadyExist.js';
export * from './generated/flotilla/kvrpcpb/AlreadyRolledBack.js';
export * from './generated/flotilla/kvrpcpb/BatchGetRequest.js';
export * from './generated/flotilla/kvrpcpb/BatchGetResponse.js';
export * from './generated/flotilla/kvrpcpb/BatchRollbackRequest.js';
export * from './generated/flotilla/kvrpcpb/BatchRollbackResponse.js';
export * from './generated/flotilla/kvrpcpb/CheckTxnStatusRequest.js';
export * from './generated/flotilla/kvrpcpb/CheckTxnStatusResponse.js';
export * from './generated/flotilla/kvrpcpb/CleanupRequest.js';
export * from './generated/flotilla/kvrpcpb/CleanupResponse.js';
export * from './generated/flotilla/kvrpcpb/CommandPri.js';
export * from './generated/flotilla/kvrpcpb/CommitRequest.js';
export * from './generated/flotilla/kvrpcpb/CommitResponse.js';
export * from './generated/flotilla/kvrpcpb/CommitTsExpired.js';
export * from './generated/flotilla/kvrpcpb/Context.js';
export * from './generated/flotilla/kvrpcpb/GCRequest.js';
export * from './generated/flotilla/kvrpcpb/GCResponse.js';
export * from './generated/flotilla/kvrpcpb/GetRequest.js';
export * from './generated/flotilla/kvrpcpb/GetResponse.js';
export * from './generated/flotilla/kvrpcpb/IsolationLevel.js';
export * from './generated/flotilla/kvrpcpb/KeyError.js';
export * from './generated/flotilla/kvrpcpb/KvPair.js';
export * from './generated/flotilla/kvrpcpb/LockInfo.js';
export * from './generated/flotilla/kvrpcpb/Mutation.js';
export * from './generated/flotilla/kvrpcpb/Op.js';
export * from './generated/flotilla/kvrpcpb/PrewriteRequest.js';
export * from './generated/flotilla/kvrpcpb/PrewriteResponse.js';
export * from './generated/flotilla/kvrpcpb/RawBatchDeleteRequest.js';
export * from './generated/flotilla/kvrpcpb/RawBatchDeleteResponse.js';
export * from './generated/flotilla/kvrpcpb/RawBatchGetRequest.js';
export * from './generated/flotilla/kvrpcpb/RawBatchGetResponse.js';
export * from './generated/flotilla/kvrpcpb/RawBatchPutRequest.js';
export * from './generated/flotilla/kvrpcpb/RawBatchPutResponse.js';
export * from './generated/flotilla/kvrpcpb/RawCompareAndSwapRequest.js';
export * from './generated/flotilla/kvrpcpb/RawCompareAndSwapResponse.js';
export * from './generated/flotilla/kvrpcpb/RawDeleteRangeRequest.js';
export * from './generated/flotilla/kvrpcpb/RawDeleteRangeResponse.js';
export * from './generated/flotilla/kvrpcpb/RawDeleteRequest.js';
export * from './generated/flotilla/kvrpcpb/RawDeleteResponse.js';
export * from './generated/flotilla/kvrpcpb/RawGetRequest.js';
export * from './generated/flotilla/kvrpcpb/RawGetResponse.js';
export * from './generated/flotilla/kvrpcpb/RawPutRequest.js';
export * from './generated/flotilla/kvrpcpb/RawPutResponse.js';
export * from './generated/flotilla/kvrpcpb/RawScanRequest.js';
export * from './generated/flotilla/kvrpcpb/RawScanResponse.js';
export * from './generated/flotilla/kvrpcpb/ResolveLockRequest.js';
export * from './generated/flotilla/kvrpcpb/ResolveLockResponse.js';
export * from './generated/flotilla/kvrpcpb/ScanLockRequest.js';
export * from './generated/flotilla/kvrpcpb/ScanLockResponse.js';
export * from './generated/flotilla/kvrpcpb/ScanRequest.js';
export * from './generated/flotilla/kvrpcpb/ScanResponse.js';
export * from './generated/flotilla/kvrpcpb/TxnHeartBeatRequest.js';
export * from './generated/flotilla/kvrpcpb/TxnHeartBeatResponse.js';
export * from './generated/flotilla/kvrpcpb/TxnInfo.js';
export * from './generated/flotilla/kvrpcpb/TxnLockNotFound.js';
export * from './generated/flotilla/kvrpcpb/TxnNotFound.js';
export * from './generated/flotilla/kvrpcpb/WriteConflict.js';

// The nested enum WriteConflict.Reason under a readable name.
export {
  _flotilla_kvrpcpb_WriteConflict_Reason as WriteConflictReason,
  type _flotilla_kvrpcpb_WriteConflict_Reason__Input as WriteConflictReason__Input,
} from './generated/flotilla/kvrpcpb/WriteConflict.js';
