// The TypeScript face of metapb.proto: every generated message, enum and service type of
// package flotilla.metapb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `metapb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/metapb/Buckets.js';
export * from './generated/flotilla/metapb/Cluster.js';
export * from './generated/flotilla/metapb/Peer.js';
export * from './generated/flotilla/metapb/PeerRole.js';
export * from './generated/flotilla/metapb/Region.js';
export * from './generated/flotilla/metapb/RegionEpoch.js';
export * from './generated/flotilla/metapb/ScheduleConfig.js';
export * from './generated/flotilla/metapb/Store.js';
export * from './generated/flotilla/metapb/StoreLabel.js';
export * from './generated/flotilla/metapb/StoreState.js';
