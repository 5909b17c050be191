// The TypeScript face of eraftpb.proto: every generated message, enum and service type of
// package flotilla.eraftpb (X is what decode returns, X__Input what encode accepts), re-exported
// by proto/index.ts as the namespace `eraftpb`. test/proto/barrels.test.ts checks the list below
// against proto/generated/: a new message in the .proto needs its line here.
export * from './generated/flotilla/eraftpb/ConfChange.js';
export * from './generated/flotilla/eraftpb/ConfChangeSingle.js';
export * from './generated/flotilla/eraftpb/ConfChangeTransition.js';
export * from './generated/flotilla/eraftpb/ConfChangeType.js';
export * from './generated/flotilla/eraftpb/ConfChangeV2.js';
export * from './generated/flotilla/eraftpb/ConfState.js';
export * from './generated/flotilla/eraftpb/Entry.js';
export * from './generated/flotilla/eraftpb/EntryType.js';
export * from './generated/flotilla/eraftpb/HardState.js';
export * from './generated/flotilla/eraftpb/Message.js';
export * from './generated/flotilla/eraftpb/MessageType.js';
export * from './generated/flotilla/eraftpb/Snapshot.js';
export * from './generated/flotilla/eraftpb/SnapshotMetadata.js';
