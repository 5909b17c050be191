// A PD member cut off while the others compact their log past what it has catches up by a raft
// snapshot: in-process PdRaftNodes on real RocksDB; one member is partitioned away while the
// leader applies more than PD_SNAPSHOT_EVERY_ENTRIES commands (so it snapshots and compacts,
// keeping only PD_LOG_KEEP_ENTRIES behind); healed, that member must install the snapshot and end
// with the same state machine as the others — also after more commands, and after a restart of
// it from its own disk. (The coverage run found no process that ever installed a PD snapshot.)
// Then the same with the group's membership changed while the member is cut off (a voter and a
// learner join, another voter leaves): the snapshot is all that carries the change to it, so its
// conf state must come from the snapshot (held-back plant HB4 kept the old one) — in the raft
// node, in raft, in its saved snapshot and on disk, after a restart — and its quorum must be the
// new set's.
// And a leader that cannot commit (its followers cut off) takes PD_PENDING_PROPOSALS_MAX proposals
// and refuses the next with ServerIsBusy; healed, it commits every one it took.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFlotillaError, SimpleRocks, silentLogger } from '../../common/index.js';
import { type ConfChangeType, type ConfState, EMPTY_CONF_STATE, type Message } from '../../raft/index.js';
import { PdRaftLog } from '../../placement-driver/raft-log.js';
import { decodeSnapshot } from '../../raft-host/index.js';
import { PD_LOG_KEEP_ENTRIES, PD_PENDING_PROPOSALS_MAX, PD_SNAPSHOT_EVERY_ENTRIES, PdRaftNode } from '../../placement-driver/raft-node.js';
import { type PdCommand, type PdMember, PdStateMachine } from '../../placement-driver/state-machine.js';

const TICK_MS = 100;
/** Where a PD member's saved snapshot lives in its RocksDB (placement-driver/raft-log.ts's layout). */
const PD_SNAPSHOT_KEY = Buffer.from([0x03]);

interface Member {
  node: PdRaftNode;
  log: PdRaftLog;
  sm: PdStateMachine;
  db: SimpleRocks;
  dir: string;
}

/** In-process PD members on real RocksDB, with a partition switch, a simulated clock and a command source. */
function pdGroup(dirs: string[], dbs: Set<SimpleRocks>) {
  const clock = { now: 10_000 };
  const cut = new Set<number>();
  const members = new Map<number, Member>();
  let inFlight = 0;
  /** Runs `f` on a later turn, counted in `inFlight` until it ran (a step waits for none in flight). */
  const later = (f: () => void): void => {
    inFlight++;
    setImmediate(() => {
      inFlight--;
      f();
    });
  };
  const deliver = (from: number, msgs: readonly Message[]): void => {
    for (const m of msgs) {
      if (cut.has(from) || cut.has(m.to)) {
        if (m.type === 'MsgSnap') later(() => members.get(from)?.node.reportSnapshot(m.to, 'failure'));
        continue;
      }
      later(() => {
        members.get(m.to)?.node.step(m);
        if (m.type === 'MsgSnap') members.get(from)?.node.reportSnapshot(m.to, 'finish');
      });
    }
  };
  /**
   * Opens member `id`: 'bootstrap' on a new disk as one of the first group of 3 (voters 1–3);
   * 'join' on an empty disk, as a member added later starts (it learns everything by snapshot);
   * else on what `dir` holds.
   */
  const open = async (id: number, from: 'bootstrap' | 'join' | { readonly dir: string }): Promise<Member> => {
    const isNew = typeof from === 'string';
    const at = isNew ? await mkdtemp(join(tmpdir(), 'flotilla-pd-snap-')) : from.dir;
    if (isNew) dirs.push(at);
    const db = await SimpleRocks.open(at);
    dbs.add(db);
    const log = await PdRaftLog.open(db);
    const sm = new PdStateMachine();
    let applied = 1;
    if (from === 'bootstrap') {
      await log.persist({ snapshot: { metadata: { index: 1, term: 1, confState: { ...EMPTY_CONF_STATE, voters: [1, 2, 3] } }, data: sm.snapshot() }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [], mustSync: true });
    } else {
      // As a PD process starts (placement-driver/server.ts): the saved snapshot, then the log.
      const snap = log.storage.snapshot();
      assert.notEqual(snap, 'unavailable');
      applied = snap === 'unavailable' ? 0 : snap.metadata.index;
      if (snap !== 'unavailable' && applied > 0) sm.restore(snap.data);
    }
    const node = new PdRaftNode({ id, log, sm, applied, electionTicks: 10, heartbeatTicks: 1, tickMs: TICK_MS, seed: id, monotonicMs: () => clock.now, logger: silentLogger(), send: (msgs) => deliver(id, msgs) });
    return { node, log, sm, db, dir: at };
  };
  /** Stops member `id` and closes its disk (it receives nothing more). */
  const stop = async (id: number): Promise<Member> => {
    const m = members.get(id)!;
    await m.node.stop();
    members.delete(id);
    await m.db.close();
    dbs.delete(m.db);
    return m;
  };
  /** Stops member `id` and opens it again on its own disk. */
  const restart = async (id: number): Promise<void> => {
    const { dir } = await stop(id);
    members.set(id, await open(id, { dir }));
  };
  /**
   * One tick of simulated time, then waits until every message is delivered and every member's
   * rounds (RocksDB writes included) are done — so time moves only while the group is quiet, and a
   * slow machine cannot make heartbeats late by the clock (CI saw a leader change mid-batch when a
   * step only waited a fixed 3 ms).
   */
  const step = async (): Promise<void> => {
    clock.now += TICK_MS;
    for (const m of members.values()) m.node.tick();
    const deadline = Date.now() + 10_000;
    do await new Promise((r) => setImmediate(r));
    while ((inFlight > 0 || ![...members.values()].every((m) => m.node.isIdle)) && Date.now() < deadline);
  };
  const until = async (what: string, cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 2_000; i++) {
      if (cond()) return;
      await step();
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  /** Ticks until `p` settles (as a PD process's timer goes on ticking meanwhile); its value, or what it threw. */
  const settle = async <T>(what: string, p: Promise<T>): Promise<T> => {
    let isSettled = false;
    const settled = p.finally(() => (isSettled = true));
    settled.catch(() => undefined); // awaited below; until() must not see an unhandled rejection meanwhile
    await until(what, () => isSettled);
    return settled;
  };
  const leader = (): Member => [...members.values()].find((m) => m.node.isLeader)!;
  let high = 1_000n;
  let stores = 0;
  /** `n` commands through the leader, in concurrent batches. */
  const commands = async (n: number): Promise<void> => {
    for (let done = 0; done < n;) {
      const batch: Promise<unknown>[] = [];
      for (let i = 0; i < 500 && done < n; i++, done++) {
        high += 7n;
        // Raises (a later one overwrites an earlier one) and new stores (each stays): the
        // stores only the compacted entries added reach the member behind only by the snapshot.
        const store = ++stores;
        const cmd: PdCommand = i % 4 === 0 ? { kind: 'raiseIdHighWater', highWater: high } : i % 4 === 1 ? { kind: 'raiseTsoBound', boundMs: high }
          : i % 4 === 2 ? { kind: 'updateGcSafePoint', safePoint: high }
          : { kind: 'putStore', store: { id: store, address: `10.0.${store >> 8}.${store & 0xff}:20160`, statusAddress: '', labels: { host: `h${store}` }, state: 'up', version: '1', startTimestampMs: store } };
        batch.push(leader().node.propose(cmd));
      }
      // Ticking meanwhile, as a PD process's timer does (a follower a snapshot fed resumes on a tick).
      await settle('a batch of commands to apply', Promise.all(batch));
    }
  };
  return { cut, members, open, stop, restart, until, settle, leader, commands };
}

describe('PD raft node: a member behind the compacted log (also across a membership change); the pending-proposal bound', () => {
  const dirs: string[] = [];
  const dbs = new Set<SimpleRocks>();
  after(async () => {
    await Promise.all([...dbs].map((d) => d.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('catches up by snapshot and ends with the leader\'s state, also after more commands and a restart', async () => {
    const { cut, members, open, restart, until, leader, commands } = pdGroup(dirs, dbs);
    try {
      for (const id of [1, 2, 3]) members.set(id, await open(id, 'bootstrap'));
      members.get(1)!.node.campaign();
      await until('a leader', () => [...members.values()].some((m) => m.node.canServe));
      await commands(30);
      await until('every member applying', () => [...members.values()].every((m) => m.node.appliedIndex === leader().node.appliedIndex));
      const behind = [...members.entries()].find(([, m]) => !m.node.isLeader)![0];
      const behindAt = members.get(behind)!.node.appliedIndex;

      cut.add(behind);
      await commands(PD_SNAPSHOT_EVERY_ENTRIES + PD_LOG_KEEP_ENTRIES + 200);
      const ahead = leader();
      assert.ok(ahead.node.appliedIndex - behindAt > PD_SNAPSHOT_EVERY_ENTRIES, 'the leader moved past a snapshot');
      assert.ok(ahead.log.storage.firstIndex() > behindAt + 1, `the leader compacted its log past the member behind (first index ${ahead.log.storage.firstIndex()}, member at ${behindAt})`);
      assert.equal(members.get(behind)!.node.appliedIndex, behindAt, 'the cut-off member applied nothing meanwhile');

      cut.delete(behind);
      await until('the member behind to catch up', () => members.get(behind)!.node.appliedIndex >= leader().node.appliedIndex);
      assert.deepEqual(members.get(behind)!.sm.snapshot(), leader().sm.snapshot(), 'its state machine is the leader\'s');
      assert.ok(members.get(behind)!.sm.stores.size > PD_SNAPSHOT_EVERY_ENTRIES / 8, 'the stores of the compacted entries are there');

      await commands(50);
      await until('every member applying again', () => [...members.values()].every((m) => m.node.appliedIndex === leader().node.appliedIndex));
      for (const m of members.values()) assert.deepEqual(m.sm.snapshot(), leader().sm.snapshot());

      // Restarted from its own disk (the installed snapshot and the entries after it), it is still right.
      await restart(behind);
      await commands(10);
      await until('the restarted member to catch up', () => members.get(behind)!.node.appliedIndex === leader().node.appliedIndex);
      assert.deepEqual(members.get(behind)!.sm.snapshot(), leader().sm.snapshot(), 'after a restart too');
    } finally {
      await Promise.all([...members.values()].map((m) => m.node.stop()));
    }
  });

  it('catches up by a snapshot carrying a membership change it missed: the new conf state everywhere, after a restart too, and the new set\'s quorum', async () => {
    const { cut, members, open, stop, restart, until, settle, leader, commands } = pdGroup(dirs, dbs);
    /**
     * What member `id` holds as the group's membership: its raft node's, raft's own, its log's
     * saved snapshot's, and what a restart would start from — the snapshot record on its disk
     * (PdRaftLog.open restores raft's conf state from it), read while the member runs on.
     */
    const confStatesOf = async (id: number): Promise<Record<'node' | 'raft' | 'saved' | 'disk', ConfState>> => {
      const m = members.get(id)!;
      const record = await m.db.get(PD_SNAPSHOT_KEY);
      assert.ok(record !== undefined, `member ${id} has a saved snapshot`);
      const disk = decodeSnapshot(record, 'test').metadata.confState;
      return { node: m.node.members, raft: m.node.raw.status().confState, saved: m.log.storage.initialState().confState, disk };
    };
    const all = (cs: ConfState): Record<'node' | 'raft' | 'saved' | 'disk', ConfState> => ({ node: cs, raft: cs, saved: cs, disk: cs });
    const pdMember = (id: number): PdMember => ({ id, name: `pd-${id}`, peerUrls: [`127.0.0.1:${2_380 + id}`], clientUrls: [] });
    const change = (type: ConfChangeType, nodeId: number): Promise<void> =>
      settle(`${type} ${nodeId}`, leader().node.proposeConfChange({ transition: 'auto', changes: [{ type, nodeId }], context: new Uint8Array(0) }));
    const isEveryMemberApplying = (): boolean => [...members.values()].every((m) => m.node.appliedIndex === leader().node.appliedIndex);
    try {
      for (const id of [1, 2, 3]) members.set(id, await open(id, 'bootstrap'));
      members.get(1)!.node.campaign();
      await until('a leader', () => [...members.values()].some((m) => m.node.canServe));
      await commands(30);
      await until('every member applying', isEveryMemberApplying);
      const lead = [...members.entries()].find(([, m]) => m.node.isLeader)![0];
      const [behind, leaving] = [1, 2, 3].filter((id) => id !== lead) as [number, number];
      const behindAt = members.get(behind)!.node.appliedIndex;
      const oldSet: ConfState = { ...EMPTY_CONF_STATE, voters: [1, 2, 3] };
      assert.deepEqual(await confStatesOf(behind), all(oldSet), 'before the cut');

      // Cut off, `behind` misses the whole change: 4 joins as a voter and 5 as a learner (each
      // starts on an empty disk and is brought on by snapshot), then `leaving` is removed — in
      // PdServer's order (the member record, then the conf change; the conf change, then the
      // record's removal). With `behind` cut off the group commits on lead, `leaving` and 4 of
      // four voters, then on lead and 4 of three.
      cut.add(behind);
      for (const id of [4, 5]) members.set(id, await open(id, 'join'));
      await settle('member 4 recorded', leader().node.propose({ kind: 'putMember', member: pdMember(4) }));
      await change('AddNode', 4);
      await settle('member 5 recorded', leader().node.propose({ kind: 'putMember', member: pdMember(5) }));
      await change('AddLearnerNode', 5);
      await change('RemoveNode', leaving);
      await settle('member removed', leader().node.propose({ kind: 'removeMember', memberId: leaving }));
      const changedAt = leader().node.appliedIndex;
      await stop(leaving); // a removed PD member no longer votes or serves; its process is not needed here
      const newSet: ConfState = { ...EMPTY_CONF_STATE, voters: [lead, behind, 4].sort((a, b) => a - b), learners: [5] };
      assert.deepEqual(await confStatesOf(lead), all(newSet), 'the leader applied the changes');

      await commands(PD_SNAPSHOT_EVERY_ENTRIES + PD_LOG_KEEP_ENTRIES + 200);
      const ahead = leader();
      assert.ok(ahead.log.storage.firstIndex() > changedAt, `the leader compacted the membership changes away (first index ${ahead.log.storage.firstIndex()}, changed at ${changedAt}): only a snapshot carries them now`);
      assert.equal(members.get(behind)!.node.appliedIndex, behindAt, 'the cut-off member applied nothing meanwhile');
      assert.deepEqual(await confStatesOf(behind), all(oldSet), 'the cut-off member still knows the old membership');

      cut.delete(behind);
      await until('the member behind to catch up', () => members.get(behind)!.node.appliedIndex >= leader().node.appliedIndex);
      const installedAt = members.get(behind)!.log.storage.snapshot();
      assert.ok(installedAt !== 'unavailable' && installedAt.metadata.index > changedAt, 'it caught up by a snapshot taken after the changes (it never held their entries)');
      assert.deepEqual(await confStatesOf(behind), all(newSet), 'its conf state is the snapshot\'s, not its old one (in memory and on disk)');
      assert.deepEqual(members.get(behind)!.sm.snapshot(), leader().sm.snapshot(), 'its state machine is the leader\'s');

      // Past a snapshot of its own — taken by the process that installed, so what it saves is the
      // conf state that process holds — and restarted from it.
      await commands(PD_SNAPSHOT_EVERY_ENTRIES + 10);
      await until('every member applying again', isEveryMemberApplying);
      const own = members.get(behind)!.log.storage.snapshot();
      assert.ok(own !== 'unavailable' && own.metadata.index > installedAt.metadata.index, 'it took a snapshot of its own');
      assert.deepEqual(await confStatesOf(behind), all(newSet), 'after a snapshot of its own');
      await restart(behind);
      assert.deepEqual(await confStatesOf(behind), all(newSet), 'restarted from its own snapshot');
      await until('the restarted member to catch up', isEveryMemberApplying);

      // Quorum is counted on the new set: with `behind` leading and the old leader gone, `behind`
      // and 4 are two of the three voters {lead, behind, 4} and commit. Counted on the old set
      // {1, 2, 3}, `behind` would be one of three (`leaving` is gone) and commit nothing; the
      // learner 5 counts in neither.
      assert.equal(members.get(lead)!.node.raw.transferLeader(behind).kind, 'ok');
      await until(`member ${behind} to lead`, () => members.get(behind)!.node.canServe);
      await stop(lead);
      const before = members.get(behind)!.node.appliedIndex;
      await commands(20);
      await until('4 and 5 applying', isEveryMemberApplying);
      assert.ok(leader() === members.get(behind) && leader().node.appliedIndex >= before + 20, `member ${behind} leads and committed on the new set`);
      for (const m of members.values()) assert.deepEqual(m.sm.snapshot(), leader().sm.snapshot());
      for (const id of [behind, 4, 5]) assert.deepEqual(await confStatesOf(id), all(newSet), `member ${id}`);
    } finally {
      await Promise.all([...members.values()].map((m) => m.node.stop()));
    }
  });

  it('takes PD_PENDING_PROPOSALS_MAX proposals it cannot commit, refuses the next with ServerIsBusy, and commits all it took once healed', async () => {
    const { cut, members, open, until, leader } = pdGroup(dirs, dbs);
    try {
      for (const id of [1, 2, 3]) members.set(id, await open(id, 'bootstrap'));
      members.get(1)!.node.campaign();
      await until('a leader', () => [...members.values()].some((m) => m.node.canServe));
      const lead = leader();
      for (const [id, m] of members) if (m !== lead) cut.add(id);
      // All proposed in one turn: no tick passes, so the leader cannot step down meanwhile.
      const outcomes = new Map<number, string>();
      for (let i = 0; i < PD_PENDING_PROPOSALS_MAX; i++) {
        lead.node.propose({ kind: 'raiseIdHighWater', highWater: BigInt(1_000 + i) }).then(() => outcomes.set(i, 'ok'), (e: unknown) => outcomes.set(i, String(e)));
      }
      const refused = await lead.node.propose({ kind: 'raiseIdHighWater', highWater: 999_999n }).then(() => null, (e: unknown) => e);
      assert.ok(isFlotillaError(refused, 'ServerIsBusy'), `past the bound: ${String(refused)}`);
      cut.clear();
      await until('every proposal taken to settle', () => outcomes.size === PD_PENDING_PROPOSALS_MAX);
      assert.deepEqual([...new Set(outcomes.values())], ['ok'], 'every proposal taken was committed');
      assert.equal(lead.sm.idHighWater, BigInt(1_000 + PD_PENDING_PROPOSALS_MAX - 1), 'the refused one did not apply');
    } finally {
      await Promise.all([...members.values()].map((m) => m.node.stop()));
    }
  });
});
