// Conversion between raft/'s message vocabulary and proto eraftpb, for every process that hosts
// raft groups (the PD members' transport today, the store's next). Inbound messages are parsed at
// the gateway: every u64 must be a safe integer and every enum name known, or the message is
// refused with InvalidArgument — never half-trusted.

import { FlotillaError, u64ToSafeNumber } from '../common/index.js';
import type { eraftpb } from '../proto/index.js';
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../raft/index.js';

const TO_WIRE_TYPE: Readonly<Record<MessageType, eraftpb.MessageType>> = {
  MsgHup: 'MsgHup',
  MsgBeat: 'MsgBeat',
  MsgProp: 'MsgPropose',
  MsgApp: 'MsgAppend',
  MsgAppResp: 'MsgAppendResponse',
  MsgVote: 'MsgRequestVote',
  MsgVoteResp: 'MsgRequestVoteResponse',
  MsgPreVote: 'MsgRequestPreVote',
  MsgPreVoteResp: 'MsgRequestPreVoteResponse',
  MsgSnap: 'MsgSnapshot',
  MsgHeartbeat: 'MsgHeartbeat',
  MsgHeartbeatResp: 'MsgHeartbeatResponse',
  MsgUnreachable: 'MsgUnreachable',
  MsgSnapStatus: 'MsgSnapStatus',
  MsgCheckQuorum: 'MsgCheckQuorum',
  MsgTransferLeader: 'MsgTransferLeader',
  MsgTimeoutNow: 'MsgTimeoutNow',
  MsgReadIndex: 'MsgReadIndex',
  MsgReadIndexResp: 'MsgReadIndexResp',
};
const FROM_WIRE_TYPE = new Map<string, MessageType>(Object.entries(TO_WIRE_TYPE).map(([ours, wire]) => [wire, ours as MessageType]));

const TO_WIRE_ENTRY: Readonly<Record<EntryType, eraftpb.EntryType>> = {
  Normal: 'EntryNormal',
  ConfChange: 'EntryConfChange',
  ConfChangeV2: 'EntryConfChangeV2',
};
const FROM_WIRE_ENTRY = new Map<string, EntryType>(Object.entries(TO_WIRE_ENTRY).map(([ours, wire]) => [wire, ours as EntryType]));

function ids(list: readonly number[]): string[] {
  return list.map(String);
}

export function confStateToWire(cs: ConfState): eraftpb.ConfState__Input {
  return { voters: ids(cs.voters), learners: ids(cs.learners), votersOutgoing: ids(cs.votersOutgoing), learnersNext: ids(cs.learnersNext), autoLeave: cs.autoLeave };
}

export function confStateFromWire(cs: eraftpb.ConfState | null | undefined): ConfState {
  const n = (list: readonly string[] | undefined, field: string): number[] => (list ?? []).map((v) => u64ToSafeNumber(v, field));
  return {
    voters: n(cs?.voters, 'confState.voters'),
    learners: n(cs?.learners, 'confState.learners'),
    votersOutgoing: n(cs?.votersOutgoing, 'confState.votersOutgoing'),
    learnersNext: n(cs?.learnersNext, 'confState.learnersNext'),
    autoLeave: cs?.autoLeave ?? false,
  };
}

function entryToWire(e: Entry): eraftpb.Entry__Input {
  return { entryType: TO_WIRE_ENTRY[e.type], term: String(e.term), index: String(e.index), data: e.data };
}

function entryFromWire(e: eraftpb.Entry): Entry {
  const type = FROM_WIRE_ENTRY.get(e.entryType);
  if (type === undefined) throw new FlotillaError('InvalidArgument', `raft entry: unknown type ${String(e.entryType)}`);
  return { type, term: u64ToSafeNumber(e.term, 'entry.term'), index: u64ToSafeNumber(e.index, 'entry.index'), data: e.data };
}

export function snapshotToWire(s: Snapshot): eraftpb.Snapshot__Input {
  return { data: s.data, metadata: { index: String(s.metadata.index), term: String(s.metadata.term), confState: confStateToWire(s.metadata.confState) } };
}

function snapshotFromWire(s: eraftpb.Snapshot): Snapshot {
  return {
    data: s.data,
    metadata: {
      index: u64ToSafeNumber(s.metadata?.index ?? '0', 'snapshot.index'),
      term: u64ToSafeNumber(s.metadata?.term ?? '0', 'snapshot.term'),
      confState: confStateFromWire(s.metadata?.confState),
    },
  };
}

export function messageToWire(m: Message): eraftpb.Message__Input {
  return {
    msgType: TO_WIRE_TYPE[m.type],
    to: String(m.to),
    from: String(m.from),
    term: String(m.term),
    logTerm: String(m.logTerm),
    index: String(m.index),
    entries: m.entries.map(entryToWire),
    commit: String(m.commit),
    snapshot: m.snapshot === undefined ? null : snapshotToWire(m.snapshot),
    reject: m.reject,
    rejectHint: String(m.rejectHint),
    context: m.context,
  };
}

export function messageFromWire(w: eraftpb.Message): Message {
  const type = FROM_WIRE_TYPE.get(w.msgType);
  if (type === undefined) throw new FlotillaError('InvalidArgument', `raft message: unknown type ${String(w.msgType)}`);
  return {
    type,
    to: u64ToSafeNumber(w.to, 'message.to'),
    from: u64ToSafeNumber(w.from, 'message.from'),
    term: u64ToSafeNumber(w.term, 'message.term'),
    logTerm: u64ToSafeNumber(w.logTerm, 'message.logTerm'),
    index: u64ToSafeNumber(w.index, 'message.index'),
    entries: w.entries.map(entryFromWire),
    commit: u64ToSafeNumber(w.commit, 'message.commit'),
    snapshot: w.snapshot === null ? undefined : snapshotFromWire(w.snapshot),
    reject: w.reject,
    rejectHint: u64ToSafeNumber(w.rejectHint, 'message.rejectHint'),
    context: w.context,
  };
}
