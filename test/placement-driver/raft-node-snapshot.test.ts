// A PD member cut off while the others compact their log past what it has catches up by a raft
// snapshot: three in-process PdRaftNodes on real RocksDB; member 3 is partitioned away while the
// leader applies more than PD_SNAPSHOT_EVERY_ENTRIES commands (so it snapshots and compacts,
// keeping only PD_LOG_KEEP_ENTRIES behind); healed, member 3 must install the snapshot and end
// with the same state machine as the others — also after more commands, and after a restart of
// member 3 from its own disk. (The coverage run found no process that ever installed a PD snapshot.)
// And a leader that cannot commit (its followers cut off) takes PD_PENDING_PROPOSALS_MAX proposals
// and refuses the next with ServerIsBusy; healed, it commits every one it took.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFlotillaError, SimpleRocks, silentLogger } from '../../common/index.js';
import { EMPTY_CONF_STATE, type Message } from '../../raft/index.js';
import { PdRaftLog } from '../../placement-driver/raft-log.js';
import { PD_LOG_KEEP_ENTRIES, PD_PENDING_PROPOSALS_MAX, PD_SNAPSHOT_EVERY_ENTRIES, PdRaftNode } from '../../placement-driver/raft-node.js';
import { type PdCommand, PdStateMachine } from '../../placement-driver/state-machine.js';

const TICK_MS = 100;

interface Member {
  node: PdRaftNode;
  log: PdRaftLog;
  sm: PdStateMachine;
  db: SimpleRocks;
  dir: string;
}

/** Three in-process PD members on real RocksDB, with a partition switch, a simulated clock and a command source. */
function pdGroup(dirs: string[], dbs: Set<SimpleRocks>) {
  const clock = { now: 10_000 };
  const cut = new Set<number>();
  const members = new Map<number, Member>();
  const deliver = (from: number, msgs: readonly Message[]): void => {
    for (const m of msgs) {
      if (cut.has(from) || cut.has(m.to)) {
        if (m.type === 'MsgSnap') setImmediate(() => members.get(from)?.node.reportSnapshot(m.to, 'failure'));
        continue;
      }
      setImmediate(() => {
        members.get(m.to)?.node.step(m);
        if (m.type === 'MsgSnap') members.get(from)?.node.reportSnapshot(m.to, 'finish');
      });
    }
  };
  /** Opens member `id` on `dir` (fresh: a new group of 1–3; else what its disk holds). */
  const open = async (id: number, dir: string | null): Promise<Member> => {
    const isFresh = dir === null;
    const at = dir ?? (await mkdtemp(join(tmpdir(), 'flotilla-pd-snap-')));
    if (isFresh) dirs.push(at);
    const db = await SimpleRocks.open(at);
    dbs.add(db);
    const log = await PdRaftLog.open(db);
    const sm = new PdStateMachine();
    let applied = 1;
    if (isFresh) {
      await log.persist({ snapshot: { metadata: { index: 1, term: 1, confState: { ...EMPTY_CONF_STATE, voters: [1, 2, 3] } }, data: sm.snapshot() }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [], mustSync: true });
    } else {
      // As a PD process restarts (placement-driver/server.ts): the saved snapshot, then the log.
      const snap = log.storage.snapshot();
      assert.notEqual(snap, 'unavailable');
      if (snap !== 'unavailable') {
        sm.restore(snap.data);
        applied = snap.metadata.index;
      }
    }
    const node = new PdRaftNode({ id, log, sm, applied, electionTicks: 10, heartbeatTicks: 1, tickMs: TICK_MS, seed: id, monotonicMs: () => clock.now, logger: silentLogger(), send: (msgs) => deliver(id, msgs) });
    return { node, log, sm, db, dir: at };
  };
  const step = async (): Promise<void> => {
    clock.now += TICK_MS;
    for (const m of members.values()) m.node.tick();
    await new Promise((r) => setTimeout(r, 3)); // let RocksDB writes and raft rounds finish
  };
  const until = async (what: string, cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 2_000; i++) {
      if (cond()) return;
      await step();
    }
    assert.fail(`timed out waiting for ${what}`);
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
      let isApplied = false;
      const applied = Promise.all(batch).then(() => (isApplied = true));
      await until('a batch of commands to apply', () => isApplied);
      await applied;
    }
  };
  return { cut, members, open, until, leader, commands };
}

describe('PD raft node: a member behind the compacted log; the pending-proposal bound', () => {
  const dirs: string[] = [];
  const dbs = new Set<SimpleRocks>();
  after(async () => {
    await Promise.all([...dbs].map((d) => d.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('catches up by snapshot and ends with the leader\'s state, also after more commands and a restart', async () => {
    const { cut, members, open, until, leader, commands } = pdGroup(dirs, dbs);
    try {
      for (const id of [1, 2, 3]) members.set(id, await open(id, null));
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
      const old = members.get(behind)!;
      await old.node.stop();
      members.delete(behind);
      await old.db.close();
      dbs.delete(old.db);
      members.set(behind, await open(behind, old.dir));
      await commands(10);
      await until('the restarted member to catch up', () => members.get(behind)!.node.appliedIndex === leader().node.appliedIndex);
      assert.deepEqual(members.get(behind)!.sm.snapshot(), leader().sm.snapshot(), 'after a restart too');
    } finally {
      await Promise.all([...members.values()].map((m) => m.node.stop()));
    }
  });

  it('takes PD_PENDING_PROPOSALS_MAX proposals it cannot commit, refuses the next with ServerIsBusy, and commits all it took once healed', async () => {
    const { cut, members, open, until, leader } = pdGroup(dirs, dbs);
    try {
      for (const id of [1, 2, 3]) members.set(id, await open(id, null));
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
