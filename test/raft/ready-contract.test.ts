// Every Ready judged against the caller's contract (raw-node.ts `Ready`, raft/README "The caller's
// loop"), over generated schedules: random ticks, campaigns (pre-vote and plain), proposals,
// ReadIndex requests, and messages delivered in random order, duplicated or dropped. The test
// keeps its own disk model per node — what was written, and what an fsync made durable — and
// judges each Ready by rules stated here, not by how ready() computes them:
//
//   hardState   present exactly when (term, vote, commit) differ from the last one handed out,
//               and then equal to the node's current hard state
//   softState   present exactly when (leader, role) differ from the last one handed out
//   mustSync    exactly when entries, a snapshot, or term or vote changed since the last hard
//               state handed out (the commit index alone needs no fsync)
//   durability  a message that vouches for durable state — a granted vote, an append ack — is
//               released only when the disk's *synced* part holds what it vouches for: the vote
//               (term and candidate) or every entry up to the acked index — or a later term,
//               after which the node never acts in the message's term again. `messages` are released
//               before the Ready's write, `persistedMessages` after it (synced only if mustSync)
//   once        a message, a read state, a committed entry is handed out once; committed entries
//               follow one another from the applied index
//
// Coverage is counted: a schedule family that never changes a vote without changing the term, or
// never hands out a commit-only hard state, proves nothing about those rules and fails the run.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type Rng } from '../../common/pure.js';
import { type HardState, type MemoryStorage, type Message, type NodeId, RawNode, type Ready } from '../../raft/index.js';
import { bootstrapStorage } from './cluster.js';

const SEEDS = 400;
const STEPS = 400;

interface DiskModel {
  /** Hard state as last written (synced or not). */
  written: HardState;
  /** Hard state an fsync made durable. */
  synced: HardState;
  /** Last entry index an fsync made durable (and its term per index). */
  syncedTerms: Map<number, number>;
  syncedLastIndex: number;
}

interface ModelNode {
  readonly id: NodeId;
  readonly raw: RawNode;
  readonly storage: MemoryStorage;
  lastHard: HardState;
  lastSoft: { leaderId: number; role: string };
  disk: DiskModel;
  appliedIndex: number;
  readonly seenReadContexts: Set<string>;
}

interface Coverage {
  readies: number;
  voteOnlyChanges: number;
  commitOnlyHardStates: number;
  grantedVotes: number;
  appendAcks: number;
  persistedMessages: number;
  readStates: number;
  committedEntries: number;
}

const sameHard = (a: HardState, b: HardState): boolean => a.term === b.term && a.vote === b.vote && a.commit === b.commit;

/** Why `m` may not be released with the disk as it is (undefined: it may). */
function durabilityViolation(n: ModelNode, m: Message): string | undefined {
  const d = n.disk;
  // A durable later term also covers a message: the node never acts in the older term again.
  if (d.synced.term > m.term) return undefined;
  if (m.type === 'MsgVoteResp' && !m.reject) {
    if (d.synced.term !== m.term || d.synced.vote !== m.to) return `node ${n.id} grants its vote to ${m.to} in term ${m.term}, but its synced hard state is term ${d.synced.term} vote ${d.synced.vote}`;
  }
  if (m.type === 'MsgAppResp' && !m.reject) {
    if (m.index > d.syncedLastIndex) return `node ${n.id} acks index ${m.index} to ${m.to}, but only ${d.syncedLastIndex} is synced`;
  }
  return undefined;
}

function judgeReady(n: ModelNode, rd: Ready, before: { hard: HardState; soft: { leaderId: number; role: string } }, released: Set<Message>, cov: Coverage, where: string): void {
  cov.readies++;
  const hardChanged = !sameHard(before.hard, n.lastHard);
  assert.equal(rd.hardState !== undefined, hardChanged, `${where}: hardState present ${rd.hardState !== undefined}, changed ${hardChanged}`);
  if (rd.hardState !== undefined) assert.deepEqual({ ...rd.hardState }, { ...before.hard }, `${where}: hardState is not the node's`);
  const softChanged = before.soft.leaderId !== n.lastSoft.leaderId || before.soft.role !== n.lastSoft.role;
  assert.equal(rd.softState !== undefined, softChanged, `${where}: softState present ${rd.softState !== undefined}, changed ${softChanged}`);
  if (rd.softState !== undefined) assert.deepEqual({ leaderId: rd.softState.leaderId, role: rd.softState.role }, before.soft, `${where}: softState is not the node's`);
  const termOrVoteChanged = before.hard.term !== n.lastHard.term || before.hard.vote !== n.lastHard.vote;
  const wantSync = rd.entries.length > 0 || rd.snapshot !== undefined || termOrVoteChanged;
  assert.equal(rd.mustSync, wantSync, `${where}: mustSync ${rd.mustSync}, want ${wantSync} (entries ${rd.entries.length}, hard ${JSON.stringify(n.lastHard)} → ${JSON.stringify(before.hard)})`);
  if (before.hard.term === n.lastHard.term && before.hard.vote !== n.lastHard.vote) cov.voteOnlyChanges++;
  if (hardChanged && !termOrVoteChanged) cov.commitOnlyHardStates++;

  for (const m of [...rd.messages, ...rd.persistedMessages]) {
    assert.ok(!released.has(m), `${where}: message ${m.type} → ${m.to} handed out twice`);
    released.add(m);
    if (m.type === 'MsgVoteResp' && !m.reject) cov.grantedVotes++;
    if (m.type === 'MsgAppResp' && !m.reject) cov.appendAcks++;
  }
  cov.persistedMessages += rd.persistedMessages.length;

  // Released before the write: judged against the disk as the earlier Readies left it.
  for (const m of rd.messages) {
    const why = durabilityViolation(n, m);
    assert.equal(why, undefined, `${where}: sent before its Ready's write: ${why}`);
  }
  // The write: entries (replacing a conflicting suffix) and hard state; an fsync if mustSync.
  const d = n.disk;
  if (rd.hardState !== undefined) d.written = rd.hardState;
  if (rd.mustSync) {
    d.synced = d.written;
    if (rd.snapshot !== undefined) {
      d.syncedTerms.clear();
      d.syncedLastIndex = rd.snapshot.metadata.index;
      d.syncedTerms.set(d.syncedLastIndex, rd.snapshot.metadata.term);
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      for (const i of [...d.syncedTerms.keys()]) if (i >= first) d.syncedTerms.delete(i);
      for (const e of rd.entries) d.syncedTerms.set(e.index, e.term);
      d.syncedLastIndex = rd.entries[rd.entries.length - 1]!.index;
    }
  } else {
    // Unsynced: a crash may lose it, so nothing released may vouch for it (entries here are a
    // mustSync violation already asserted above).
    assert.equal(rd.entries.length, 0, `${where}: entries written without an fsync`);
  }
  for (const m of rd.persistedMessages) {
    const why = durabilityViolation(n, m);
    assert.equal(why, undefined, `${where}: sent after its Ready's write: ${why}`);
  }

  for (const rs of rd.readStates) {
    const key = Buffer.from(rs.requestContext).toString('hex');
    assert.ok(!n.seenReadContexts.has(key), `${where}: read state ${key} handed out twice`);
    n.seenReadContexts.add(key);
    cov.readStates++;
  }
  for (const e of rd.committedEntries) {
    assert.equal(e.index, n.appliedIndex + 1, `${where}: committed entry ${e.index} after applied ${n.appliedIndex}`);
    n.appliedIndex = e.index;
    cov.committedEntries++;
  }
}

function runSeed(seed: number, cov: Coverage): void {
  const rng: Rng = createRng(seed);
  const ids: NodeId[] = rng.chance(0.5) ? [1, 2, 3] : [1, 2, 3, 4, 5];
  const preVote = rng.chance(0.5);
  const nodes = new Map<NodeId, ModelNode>();
  for (const id of ids) {
    const storage = bootstrapStorage(ids);
    const raw = new RawNode({ id, storage, rng: createRng(seed * 31 + id), electionTick: 10, heartbeatTick: 1, preVote, checkQuorum: preVote, verify: true });
    const hs = raw.status().hardState;
    nodes.set(id, {
      id,
      raw,
      storage,
      lastHard: hs,
      lastSoft: { leaderId: raw.status().softState.leaderId, role: raw.status().softState.role },
      disk: { written: hs, synced: hs, syncedTerms: new Map([[1, 1]]), syncedLastIndex: 1 },
      appliedIndex: raw.status().applied,
      seenReadContexts: new Set(),
    });
  }
  const released = new Set<Message>();
  let inFlight: Message[] = [];
  let readCtx = 0;
  const processReady = (n: ModelNode, step: number): void => {
    if (!n.raw.hasReady()) return;
    const st = n.raw.status();
    const before = { hard: st.hardState, soft: { leaderId: st.softState.leaderId, role: st.softState.role } };
    const rd = n.raw.ready();
    judgeReady(n, rd, before, released, cov, `seed ${seed} step ${step} node ${n.id}`);
    if (rd.hardState !== undefined) n.lastHard = rd.hardState;
    if (rd.softState !== undefined) n.lastSoft = { leaderId: rd.softState.leaderId, role: rd.softState.role };
    // The real write (the disk model above only judges it).
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    inFlight.push(...rd.messages, ...rd.persistedMessages);
    n.raw.advance(rd);
  };
  for (let step = 0; step < STEPS; step++) {
    const n = nodes.get(ids[rng.nextInt(ids.length)]!)!;
    const r = rng.nextFloat();
    if (r < 0.3) n.raw.tick();
    else if (r < 0.36) n.raw.campaign();
    else if (r < 0.5) n.raw.propose(new TextEncoder().encode(`p${step}`));
    else if (r < 0.55) n.raw.readIndex(new TextEncoder().encode(`r${readCtx++}`));
    else {
      // Deliver a random subset of what is in flight, in random order; some dropped, some twice.
      const batch = inFlight;
      inFlight = [];
      for (let i = batch.length - 1; i > 0; i--) {
        const j = rng.nextInt(i + 1);
        [batch[i], batch[j]] = [batch[j]!, batch[i]!];
      }
      for (const m of batch) {
        if (rng.chance(0.15)) continue;
        if (rng.chance(0.3)) {
          inFlight.push(m); // later
          continue;
        }
        nodes.get(m.to)?.raw.step(m);
        // A duplicated ReadIndex request or answer is answered twice (raft keys reads by their
        // context, and our streams never duplicate): only other messages are duplicated.
        if (m.type !== 'MsgReadIndex' && m.type !== 'MsgReadIndexResp' && rng.chance(0.05)) nodes.get(m.to)?.raw.step(m);
      }
    }
    // Readies are taken in a random node order, sometimes not at all this step.
    for (const id of ids) if (rng.chance(0.7)) processReady(nodes.get(id)!, step);
  }
}

describe('the Ready contract over generated schedules', () => {
  it('hard/soft state only when changed, mustSync by rule, nothing released before the fsync it vouches for, everything once', () => {
    const cov: Coverage = { readies: 0, voteOnlyChanges: 0, commitOnlyHardStates: 0, grantedVotes: 0, appendAcks: 0, persistedMessages: 0, readStates: 0, committedEntries: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      try {
        runSeed(seed, cov);
      } catch (err) {
        throw new Error(`seed ${seed} (replay: edit SEEDS or run runSeed(${seed})): ${(err as Error).message}`, { cause: err });
      }
    }
    for (const [name, count] of Object.entries(cov)) assert.ok(count > 0, `coverage: ${name} never happened (${JSON.stringify(cov)})`);
  });
});
