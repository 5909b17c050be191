// The TypeScript face of errorpb.proto: every generated message, enum and service type of
// package flotilla.errorpb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `errorpb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/errorpb/EpochNotMatch.js';
export * from './generated/flotilla/errorpb/Error.js';
export * from './generated/flotilla/errorpb/ErrorCode.js';
export * from './generated/flotilla/errorpb/KeyNotInRegion.js';
export * from './generated/flotilla/errorpb/NotLeader.js';
export * from './generated/flotilla/errorpb/PdLeaderHint.js';
export * from './generated/flotilla/errorpb/RaftEntryTooLarge.js';
export * from './generated/flotilla/errorpb/RegionError.js';
export * from './generated/flotilla/errorpb/RegionNotFound.js';
export * from './generated/flotilla/errorpb/ServerIsBusy.js';
export * from './generated/flotilla/errorpb/StaleCommand.js';
export * from './generated/flotilla/errorpb/StoreNotMatch.js';
