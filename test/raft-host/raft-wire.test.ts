// raft-host/raft-wire.ts: raft messages to and from proto eraftpb, as PD members exchange them.
// Every field of every message type, generated (small values, 2^32 and 2^53 − 1 boundaries,
// rejections, entries of every type, snapshots with joint configurations, contexts), goes through
// messageToWire → the real protobuf encoding → messageFromWire and must come back equal; unknown
// enum names and u64s past 2^53 are refused with InvalidArgument.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type Rng } from '../../common/index.js';
import { messageCodec } from '../../proto/index.js';
import { confStateFromWire, confStateToWire, messageFromWire, messageToWire } from '../../raft-host/index.js';
import type { ConfState, Entry, EntryType, Message, MessageType, Snapshot } from '../../raft/index.js';

const CODEC = messageCodec('flotilla.eraftpb.Message');

const TYPES: readonly MessageType[] = [
  'MsgHup', 'MsgBeat', 'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgVoteResp', 'MsgPreVote', 'MsgPreVoteResp',
  'MsgSnap', 'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgUnreachable', 'MsgSnapStatus', 'MsgCheckQuorum',
  'MsgTransferLeader', 'MsgTimeoutNow', 'MsgReadIndex', 'MsgReadIndexResp',
];
const ENTRY_TYPES: readonly EntryType[] = ['Normal', 'ConfChange', 'ConfChangeV2'];

function u64(rng: Rng): number {
  switch (rng.nextInt(6)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2 ** 32 + rng.nextInt(3) - 1;
    case 3: return Number.MAX_SAFE_INTEGER - rng.nextInt(2);
    default: return rng.nextInt(1_000_000);
  }
}

function bytes(rng: Rng, max: number): Uint8Array {
  return Uint8Array.from({ length: rng.nextInt(max + 1) }, () => rng.nextInt(256));
}

function ids(rng: Rng): number[] {
  return Array.from({ length: rng.nextInt(4) }, () => u64(rng));
}

function confState(rng: Rng): ConfState {
  return { voters: ids(rng), learners: ids(rng), votersOutgoing: ids(rng), learnersNext: ids(rng), autoLeave: rng.nextInt(2) === 1 };
}

function snapshot(rng: Rng): Snapshot {
  return { data: bytes(rng, 64), metadata: { index: u64(rng), term: u64(rng), confState: confState(rng) } };
}

function entry(rng: Rng): Entry {
  return { type: ENTRY_TYPES[rng.nextInt(ENTRY_TYPES.length)]!, term: u64(rng), index: u64(rng), data: bytes(rng, 40) };
}

function message(rng: Rng, type: MessageType): Message {
  return {
    type,
    to: u64(rng),
    from: u64(rng),
    term: u64(rng),
    logTerm: u64(rng),
    index: u64(rng),
    entries: Array.from({ length: rng.nextInt(4) }, () => entry(rng)),
    commit: u64(rng),
    snapshot: rng.nextInt(3) === 0 ? snapshot(rng) : undefined,
    reject: rng.nextInt(2) === 1,
    rejectHint: u64(rng),
    context: bytes(rng, 24),
  };
}

/** Byte fields as plain arrays, so a Buffer and a Uint8Array of the same bytes compare equal. */
function plain(m: Message): unknown {
  const b = (x: Uint8Array): number[] => [...x];
  return {
    ...m,
    entries: m.entries.map((e) => ({ ...e, data: b(e.data) })),
    snapshot: m.snapshot === undefined ? undefined : { ...m.snapshot, data: b(m.snapshot.data) },
    context: b(m.context),
  };
}

/** The top-level fields of protobuf bytes: varints, and length-delimited ones as their bytes (read by hand, not by the codec under test). */
function wireFields(buf: Uint8Array): { varints: Map<number, number>; messages: Map<number, Uint8Array[]> } {
  const varints = new Map<number, number>();
  const messages = new Map<number, Uint8Array[]>();
  let at = 0;
  const varint = (): number => {
    let n = 0;
    for (let scale = 1; ; scale *= 128) {
      const b = buf[at++]!;
      n += (b & 0x7f) * scale;
      if (b < 0x80) return n;
    }
  };
  while (at < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case 0: varints.set(field, varint()); break;
      case 2: {
        const len = varint();
        messages.set(field, [...(messages.get(field) ?? []), buf.subarray(at, at + len)]);
        at += len;
        break;
      }
      default: throw new Error(`wire type ${tag % 8} not expected in field ${field}`);
    }
  }
  return { varints, messages };
}

function throughTheWire(m: Message): Message {
  return messageFromWire(CODEC.decode(CODEC.encode(messageToWire(m))));
}

describe('raft messages on the wire (raft-wire.ts)', () => {
  it('every field of every message type survives messageToWire → protobuf → messageFromWire (generated; every type, rejections, snapshots, boundaries)', () => {
    const seen = { rejected: 0, accepted: 0, withSnapshot: 0, withEntries: 0, maxSafe: 0, jointConfig: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const rng = createRng(seed);
      for (const type of TYPES) {
        const m = message(rng, type);
        const back = throughTheWire(m);
        assert.deepEqual(plain(back), plain(m), `seed ${seed} ${type}`);
        if (m.reject) seen.rejected++;
        else seen.accepted++;
        if (m.snapshot !== undefined) seen.withSnapshot++;
        if (m.snapshot !== undefined && m.snapshot.metadata.confState.votersOutgoing.length > 0) seen.jointConfig++;
        if (m.entries.length > 0) seen.withEntries++;
        if ([m.to, m.from, m.term, m.logTerm, m.index, m.commit, m.rejectHint].includes(Number.MAX_SAFE_INTEGER)) seen.maxSafe++;
      }
    }
    // Each kind of input came round often enough to mean something (760 messages).
    for (const [what, n] of Object.entries(seen)) assert.ok(n >= 50, `${what}: ${n}`);
  });

  it('a rejected append answer stays rejected, with its hint (the leader backs off on it)', () => {
    const m: Message = {
      type: 'MsgAppResp', to: 1, from: 2, term: 7, logTerm: 6, index: 41, entries: [], commit: 30, snapshot: undefined,
      reject: true, rejectHint: 35, context: new Uint8Array(0),
    };
    const back = throughTheWire(m);
    assert.equal(back.reject, true);
    assert.equal(back.rejectHint, 35);
    assert.equal(back.index, 41);
    assert.equal(throughTheWire({ ...m, reject: false }).reject, false);
  });

  it('puts eraftpb\'s enum numbers on the wire (etcd/raft\'s numbering): a swap of two names would round-trip and still be wrong', () => {
    // The contract, written out independently of raft-wire.ts's tables (proto/eraftpb.proto).
    const messageNumbers: Readonly<Record<MessageType, number>> = {
      MsgHup: 0, MsgBeat: 1, MsgProp: 2, MsgApp: 3, MsgAppResp: 4, MsgVote: 5, MsgVoteResp: 6, MsgSnap: 7,
      MsgHeartbeat: 8, MsgHeartbeatResp: 9, MsgUnreachable: 10, MsgSnapStatus: 11, MsgCheckQuorum: 12,
      MsgTransferLeader: 13, MsgTimeoutNow: 14, MsgReadIndex: 15, MsgReadIndexResp: 16, MsgPreVote: 17, MsgPreVoteResp: 18,
    };
    const entryNumbers: Readonly<Record<EntryType, number>> = { Normal: 0, ConfChange: 1, ConfChangeV2: 2 };
    for (const type of TYPES) {
      const entries: Entry[] = ENTRY_TYPES.map((t, i) => ({ type: t, term: 1, index: i + 1, data: new Uint8Array(0) }));
      const bytes = CODEC.encode(messageToWire({ ...message(createRng(1), type), entries }));
      const wire = wireFields(bytes);
      assert.equal(wire.varints.get(1) ?? 0, messageNumbers[type], `${type}: msg_type`);
      assert.deepEqual(wire.messages.get(7)?.map((e) => wireFields(e).varints.get(1) ?? 0), ENTRY_TYPES.map((t) => entryNumbers[t]), `${type}: entry_type`);
    }
  });

  it('a configuration survives confStateToWire → protobuf → confStateFromWire; an absent one reads as empty', () => {
    const codec = messageCodec('flotilla.eraftpb.ConfState');
    const rng = createRng(7);
    for (let i = 0; i < 200; i++) {
      const cs = confState(rng);
      assert.deepEqual(confStateFromWire(codec.decode(codec.encode(confStateToWire(cs)))), cs);
    }
    assert.deepEqual(confStateFromWire(null), { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false });
  });

  it('refuses unknown types and u64s past 2^53 with InvalidArgument, whatever the field', () => {
    const base = messageToWire({
      type: 'MsgApp', to: 2, from: 1, term: 3, logTerm: 3, index: 9, entries: [{ type: 'Normal', term: 3, index: 10, data: new Uint8Array([1]) }],
      commit: 9, snapshot: { data: new Uint8Array(0), metadata: { index: 5, term: 2, confState: { voters: [1, 2], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } } },
      reject: false, rejectHint: 0, context: new Uint8Array(0),
    });
    const wire = CODEC.decode(CODEC.encode(base));
    const tooBig = '9007199254740992'; // 2^53
    const refused = (what: string, w: typeof wire): void => {
      assert.throws(() => messageFromWire(w), (err: unknown) => (err as { code?: string }).code === 'InvalidArgument', what);
    };
    for (const field of ['to', 'from', 'term', 'logTerm', 'index', 'commit', 'rejectHint'] as const) refused(field, { ...wire, [field]: tooBig });
    refused('entry term', { ...wire, entries: [{ ...wire.entries[0]!, term: tooBig }] });
    refused('entry index', { ...wire, entries: [{ ...wire.entries[0]!, index: tooBig }] });
    refused('snapshot index', { ...wire, snapshot: { ...wire.snapshot!, metadata: { ...wire.snapshot!.metadata!, index: tooBig } } });
    refused('a voter id', { ...wire, snapshot: { ...wire.snapshot!, metadata: { ...wire.snapshot!.metadata!, confState: { ...wire.snapshot!.metadata!.confState!, voters: ['1', tooBig] } } } });
    refused('message type', { ...wire, msgType: 'MsgNoSuchType' as typeof wire.msgType });
    refused('entry type', { ...wire, entries: [{ ...wire.entries[0]!, entryType: 'EntryNoSuchType' as typeof wire.entries[0]['entryType'] }] });
    assert.doesNotThrow(() => messageFromWire(wire));
  });
});
