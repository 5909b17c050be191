// A follower's handling of MsgApp, table-driven in the style of etcd-io/raft's TestHandleMsgApp
// and TestFollowerCommitEntry: each row is a follower log, one append, and what must follow —
// the answer (accept with the last index the append verified, or reject with a hint), the
// commit index and the log. The commit is capped by the last entry this append verified
// (min(leaderCommit, prevIndex + entries)), never by the follower's own last index: entries past
// that point may be a deposed leader's and differ from the leader's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type Entry, type Message, type MemoryStorage, RawNode, makeMessage } from '../../raft/index.js';
import { createRng } from '../../common/pure.js';
import { bootstrapStorage, entriesWithTerms } from './cluster.js';

/** Follower log used by most rows: index 1 is the bootstrap snapshot (term 1), then 2..4. */
const BASE_TERMS = [1, 2, 2]; // indexes 2, 3, 4

interface Row {
  readonly name: string;
  /** Terms of the follower's entries from index 2 on. */
  readonly terms?: readonly number[];
  /** The follower's durable commit index before the append. */
  readonly commitBefore?: number;
  /** The follower's term (also the leader's unless `msgTerm`). */
  readonly term?: number;
  readonly msgTerm?: number;
  readonly prevIndex: number;
  readonly prevTerm: number;
  /** Entries carried, as [index, term] pairs. */
  readonly entries?: readonly (readonly [number, number])[];
  readonly leaderCommit: number;
  readonly want: {
    readonly reject: boolean;
    /** MsgAppResp.index: the last index verified (accept), the rejected prev index, or our commit for a stale append. */
    readonly index: number;
    readonly rejectHint?: number;
    readonly hintTerm?: number;
    readonly commit: number;
    /** Terms of the follower's log from index 2 after the append. */
    readonly terms: readonly number[];
  };
}

const ROWS: readonly Row[] = [
  // ---- matching prev: accept, commit = min(leaderCommit, last verified) ----
  { name: 'heartbeat-like append at our last entry commits up to it', prevIndex: 4, prevTerm: 2, leaderCommit: 4, want: { reject: false, index: 4, commit: 4, terms: BASE_TERMS } },
  { name: 'new entries are appended and committed to leaderCommit', prevIndex: 4, prevTerm: 2, entries: [[5, 2], [6, 2]], leaderCommit: 6, want: { reject: false, index: 6, commit: 6, terms: [1, 2, 2, 2, 2] } },
  { name: 'leaderCommit beyond the append is capped at its last new entry', prevIndex: 4, prevTerm: 2, entries: [[5, 2]], leaderCommit: 9, want: { reject: false, index: 5, commit: 5, terms: [1, 2, 2, 2] } },
  { name: 'an empty append below our last index verifies only up to its prev index', prevIndex: 2, prevTerm: 1, leaderCommit: 4, want: { reject: false, index: 2, commit: 2, terms: BASE_TERMS } },
  { name: 'a short append below our last index commits only what it verified, not our unverified tail', prevIndex: 2, prevTerm: 1, entries: [[3, 2]], leaderCommit: 4, want: { reject: false, index: 3, commit: 3, terms: BASE_TERMS } },
  { name: 'leaderCommit below the append: commit follows the leader', prevIndex: 3, prevTerm: 2, entries: [[4, 2]], leaderCommit: 2, want: { reject: false, index: 4, commit: 2, terms: BASE_TERMS } },
  { name: 'prev at index 1 (the snapshot) matches its term', prevIndex: 1, prevTerm: 1, entries: [[2, 1]], leaderCommit: 2, want: { reject: false, index: 2, commit: 2, terms: BASE_TERMS } },
  // ---- conflicts: the conflicting suffix is replaced ----
  { name: 'a conflict replaces our suffix from the first differing entry', term: 3, prevIndex: 2, prevTerm: 1, entries: [[3, 3], [4, 3]], leaderCommit: 4, want: { reject: false, index: 4, commit: 4, terms: [1, 3, 3] } },
  { name: 'a shorter conflicting append truncates our longer log', term: 3, prevIndex: 2, prevTerm: 1, entries: [[3, 3]], leaderCommit: 4, want: { reject: false, index: 3, commit: 3, terms: [1, 3] } },
  { name: 'a conflict at our last entry replaces just it and extends', term: 3, prevIndex: 3, prevTerm: 2, entries: [[4, 3], [5, 3]], leaderCommit: 3, want: { reject: false, index: 5, commit: 3, terms: [1, 2, 3, 3] } },
  { name: 'entries we hold already are not rewritten (no conflict, nothing appended)', prevIndex: 2, prevTerm: 1, entries: [[3, 2], [4, 2]], leaderCommit: 1, want: { reject: false, index: 4, commit: 1, terms: BASE_TERMS } },
  // ---- mismatching prev: reject with a fast back-off hint (largest index with term ≤ prevTerm) ----
  { name: 'prev term differs at our last index', term: 3, prevIndex: 4, prevTerm: 3, leaderCommit: 4, want: { reject: true, index: 4, rejectHint: 4, hintTerm: 2, commit: 1, terms: BASE_TERMS } },
  { name: 'prev beyond our last index: hint our last index', prevIndex: 6, prevTerm: 2, leaderCommit: 6, want: { reject: true, index: 6, rejectHint: 4, hintTerm: 2, commit: 1, terms: BASE_TERMS } },
  { name: 'prev term lower than ours: hint skips our whole higher term', prevIndex: 4, prevTerm: 1, leaderCommit: 4, want: { reject: true, index: 4, rejectHint: 2, hintTerm: 1, commit: 1, terms: BASE_TERMS } },
  { name: 'prev term differs in the middle of our log', prevIndex: 3, prevTerm: 1, entries: [[4, 1]], leaderCommit: 4, want: { reject: true, index: 3, rejectHint: 2, hintTerm: 1, commit: 1, terms: BASE_TERMS } },
  // ---- stale and duplicate appends ----
  { name: 'an append whose prev is below our commit is answered with our commit and changes nothing', commitBefore: 3, prevIndex: 1, prevTerm: 1, entries: [[2, 1]], leaderCommit: 4, want: { reject: false, index: 3, commit: 3, terms: BASE_TERMS } },
  { name: 'a duplicate append at our commit is accepted again', commitBefore: 3, prevIndex: 3, prevTerm: 2, entries: [[4, 2]], leaderCommit: 4, want: { reject: false, index: 4, commit: 4, terms: BASE_TERMS } },
  { name: 'a leaderCommit below ours never moves our commit back', commitBefore: 3, prevIndex: 4, prevTerm: 2, leaderCommit: 2, want: { reject: false, index: 4, commit: 3, terms: BASE_TERMS } },
  { name: 'a conflict just above our commit is allowed', commitBefore: 3, term: 3, prevIndex: 3, prevTerm: 2, entries: [[4, 3]], leaderCommit: 3, want: { reject: false, index: 4, commit: 3, terms: [1, 2, 3] } },
  { name: 'an append from an older term is answered (so the stale leader learns our term) and ignored', term: 3, msgTerm: 2, prevIndex: 4, prevTerm: 2, entries: [[5, 2]], leaderCommit: 5, want: { reject: false, index: 0, commit: 1, terms: BASE_TERMS } },
];

function followerFor(row: Row): RawNode {
  const storage = bootstrapStorage([1, 2, 3]);
  storage.append(entriesWithTerms(2, row.terms ?? BASE_TERMS));
  const commit = row.commitBefore ?? 1;
  storage.setHardState({ term: row.term ?? 2, vote: 0, commit });
  return new RawNode({ id: 1, storage, rng: createRng(7), electionTick: 10, heartbeatTick: 1, applied: 1, verify: true });
}

function entriesOf(pairs: readonly (readonly [number, number])[]): Entry[] {
  return pairs.map(([index, term]) => entriesWithTerms(index, [term])[0] as Entry);
}

function logTermsFrom2(raw: RawNode): number[] {
  const log = raw.raft.raftLog;
  const out: number[] = [];
  for (let i = 2; i <= log.lastIndex(); i++) {
    const t = log.term(i);
    out.push(typeof t === 'number' ? t : -1);
  }
  return out;
}

/** Runs one Ready the way the caller's loop does (persist, then advance); returns the MsgAppResps. */
function appendResponses(raw: RawNode): Message[] {
  if (!raw.hasReady()) return [];
  const rd = raw.ready();
  const storage = raw.config.storage as MemoryStorage;
  storage.append(rd.entries);
  if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
  const out = [...rd.messages, ...rd.persistedMessages].filter((m) => m.type === 'MsgAppResp');
  raw.advance(rd);
  return out;
}

describe('follower MsgApp handling (table)', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const raw = followerFor(row);
      const term = row.msgTerm ?? row.term ?? 2;
      const msg = makeMessage({ type: 'MsgApp', to: 1, from: 2, term, index: row.prevIndex, logTerm: row.prevTerm, entries: entriesOf(row.entries ?? []), commit: row.leaderCommit });
      raw.step(msg);
      const resps = appendResponses(raw);
      assert.equal(resps.length, 1, `one MsgAppResp, got ${resps.length}`);
      const r = resps[0] as Message;
      assert.equal(r.to, 2);
      assert.equal(r.reject, row.want.reject, 'reject');
      assert.equal(r.index, row.want.index, 'response index');
      if (row.want.rejectHint !== undefined) assert.equal(r.rejectHint, row.want.rejectHint, 'reject hint');
      if (row.want.hintTerm !== undefined) assert.equal(r.logTerm, row.want.hintTerm, 'hint term');
      assert.equal(raw.raft.raftLog.committed, row.want.commit, 'commit index');
      assert.deepEqual(logTermsFrom2(raw), row.want.terms, 'log terms from index 2');
      // The same append delivered again (a duplicate on the network) changes nothing more.
      raw.step(msg);
      const again = appendResponses(raw);
      assert.equal(raw.raft.raftLog.committed, row.want.commit, 'commit index after a duplicate');
      assert.deepEqual(logTermsFrom2(raw), row.want.terms, 'log after a duplicate');
      assert.ok(again.every((m) => m.reject === row.want.reject), 'a duplicate gets the same kind of answer');
    });
  }
});
