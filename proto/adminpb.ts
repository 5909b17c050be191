// The TypeScript face of adminpb.proto: every generated message, enum and service type of
// package flotilla.adminpb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `adminpb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/adminpb/Admin.js';
export * from './generated/flotilla/adminpb/CompactRaftLogRequest.js';
export * from './generated/flotilla/adminpb/CompactRaftLogResponse.js';
export * from './generated/flotilla/adminpb/RegionStatusRequest.js';
export * from './generated/flotilla/adminpb/RegionStatusResponse.js';
export * from './generated/flotilla/adminpb/SplitRegionRequest.js';
export * from './generated/flotilla/adminpb/SplitRegionResponse.js';
export * from './generated/flotilla/adminpb/StoreStatusRequest.js';
export * from './generated/flotilla/adminpb/StoreStatusResponse.js';
