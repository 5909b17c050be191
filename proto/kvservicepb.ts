// The TypeScript face of kvservicepb.proto: every generated message, enum and service type of
// package flotilla.kvservicepb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `kvservicepb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/kvservicepb/BatchCommandsRequest.js';
export * from './generated/flotilla/kvservicepb/BatchCommandsResponse.js';
export * from './generated/flotilla/kvservicepb/Kv.js';
export * from './generated/flotilla/kvservicepb/KvRequest.js';
export * from './generated/flotilla/kvservicepb/KvResponse.js';
