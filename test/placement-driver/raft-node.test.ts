// PdRaftNode. Its lease is judged on real elapsed time, not on how many timer callbacks happened
// to run: three in-process members on real RocksDB share a simulated monotonic clock; the leader
// is frozen (no ticks, no messages — a SIGSTOP or a long GC pause) while the others elect a new
// leader; on waking it must not consider its old lease valid. And a proposal made after raft
// stepped down, while the node's view of its role still lags (a round in flight), is refused —
// not forwarded to the new leader, where it could apply after its caller was told PdNotLeader.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleRocks, silentLogger } from '../../common/index.js';
import { EMPTY_CONF_STATE, type Message } from '../../raft/index.js';
import { PdRaftLog } from '../../placement-driver/raft-log.js';
import { PD_PROPOSAL_TIMEOUT_MS, PdRaftNode } from '../../placement-driver/raft-node.js';
import { PdStateMachine } from '../../placement-driver/state-machine.js';

const TICK_MS = 100;

describe('PD raft node lease', () => {
  const dirs: string[] = [];
  const dbs: SimpleRocks[] = [];
  after(async () => {
    await Promise.all(dbs.map((d) => d.close()));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  /** Member `id` of a fresh group of `voters` on its own RocksDB (closed and removed after the suite). */
  const openNode = async (id: number, voters: readonly number[], now: () => number, send: (msgs: readonly Message[]) => void): Promise<PdRaftNode> => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-pd-node-'));
    dirs.push(dir);
    const db = await SimpleRocks.open(dir);
    dbs.push(db);
    const log = await PdRaftLog.open(db);
    const sm = new PdStateMachine();
    await log.persist({ snapshot: { metadata: { index: 1, term: 1, confState: { ...EMPTY_CONF_STATE, voters: [...voters] } }, data: sm.snapshot() }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [], mustSync: true });
    return new PdRaftNode({ id, log, sm, applied: 1, electionTicks: 10, heartbeatTicks: 1, tickMs: TICK_MS, seed: id, monotonicMs: now, logger: silentLogger(), send });
  };

  /**
   * Three members on a simulated clock, messages delivered in turns unless a member is `isolated`
   * (nothing in or out). `step()` advances time by one tick — for isolated members too, unless
   * `isFrozen` (a SIGSTOP: no timer either) — then waits until every message is delivered and
   * every round (RocksDB writes included) is done: time moves only while the group is quiet,
   * however slow the machine.
   */
  const openGroup = async (options: { readonly isFrozen: boolean }) => {
    const clock = { now: 10_000 };
    const isolated = new Set<number>();
    const nodes = new Map<number, PdRaftNode>();
    let inFlight = 0;
    const deliver = (from: number, msgs: readonly Message[]): void => {
      for (const m of msgs) {
        if (isolated.has(from) || isolated.has(m.to)) continue;
        inFlight++;
        setImmediate(() => {
          inFlight--;
          nodes.get(m.to)?.step(m);
        });
      }
    };
    for (const id of [1, 2, 3]) nodes.set(id, await openNode(id, [1, 2, 3], () => clock.now, (msgs) => deliver(id, msgs)));
    const step = async (): Promise<void> => {
      clock.now += TICK_MS;
      for (const [id, node] of nodes) if (!(options.isFrozen && isolated.has(id))) node.tick();
      const deadline = Date.now() + 10_000;
      do await new Promise((r) => setImmediate(r));
      while ((inFlight > 0 || ![...nodes.values()].every((n) => n.isIdle)) && Date.now() < deadline);
    };
    /** Steps until a member other than `exclude`, not isolated, may serve; returns its id. */
    const servingLeader = async (exclude: number): Promise<number> => {
      for (let i = 0; i < 400; i++) {
        for (const [id, node] of nodes) if (id !== exclude && !isolated.has(id) && node.canServe) return id;
        await step();
      }
      throw new Error('no serving leader');
    };
    const node = (id: number): PdRaftNode => nodes.get(id)!;
    const stop = async (): Promise<void> => {
      await Promise.all([...nodes.values()].map((n) => n.stop()));
    };
    return { isolated, step, servingLeader, node, stop };
  };

  it('a leader frozen past its lease does not serve when it wakes, before hearing anything', async () => {
    const g = await openGroup({ isFrozen: true });
    try {
      g.node(1).campaign();
      const first = await g.servingLeader(0);
      for (let i = 0; i < 5; i++) await g.step();
      assert.equal(g.node(first).canServe, true);

      g.isolated.add(first); // frozen: its timer does not run, nothing goes in or out
      const second = await g.servingLeader(first);
      assert.notEqual(second, first);
      for (let i = 0; i < 20; i++) await g.step();

      // It wakes; before its timer fires or any message arrives, a request asks whether it may serve.
      g.isolated.delete(first);
      assert.equal(g.node(first).canServe, false, 'the woken leader must not trust a lease that expired while it was frozen');
    } finally {
      await g.stop();
    }
  });

  it('proposals a cut-off leader appended are settled StaleCommand once the new leader\'s entry applies there, not at their timeout', async () => {
    const g = await openGroup({ isFrozen: false }); // a cut member still ticks: only its links are down
    try {
      g.node(1).campaign();
      const first = await g.servingLeader(0);
      for (let i = 0; i < 3; i++) await g.step();
      // Cut off, the leader appends three proposals no one else will ever hold.
      g.isolated.add(first);
      const outcomes = [1, 2, 3].map((n) => g.node(first).propose({ kind: 'raiseIdHighWater', highWater: BigInt(n * 1000) }).then(() => 'applied', (err: unknown) => (err as { code?: string }).code ?? String(err)));
      const settled: string[] = [];
      void Promise.all(outcomes).then((o) => settled.push(...o));
      const second = await g.servingLeader(first);
      for (let i = 0; i < 3; i++) await g.step();
      // Healed: the old leader hears the new term, and the new leader's log (its empty entry, one
      // index past the old tail) replaces its own. Two of the three indexes never come round again.
      g.isolated.delete(first);
      for (let i = 0; i < 40 && settled.length === 0; i++) await g.step();
      assert.deepEqual(settled, ['StaleCommand', 'StaleCommand', 'StaleCommand'], `settled ${JSON.stringify(settled)} after 40 ticks (the proposal timeout is ${PD_PROPOSAL_TIMEOUT_MS} ms of real time)`);
      assert.equal(g.node(first).isLeader, false);
      assert.ok(g.node(second).canServe);
    } finally {
      await g.stop();
    }
  });

  it('a proposal made after raft stepped down, before the node saw the Ready, is refused PdNotLeader and not forwarded', async () => {
    const clock = { now: 10_000 };
    const sent: Message[] = [];
    // A two-member group; member 2 is played by hand (its votes, then its newer term).
    const node = await openNode(1, [1, 2], () => clock.now, (msgs) => sent.push(...msgs));
    try {
      // A new member counts as within a leader's lease: it campaigns once its election timeout
      // passed; member 2 grants every (pre-)vote it asks for.
      let answered = 0;
      for (let i = 0; i < 300 && !node.isLeader; i++) {
        for (; answered < sent.length; answered++) {
          const m = sent[answered]!;
          if (m.type === 'MsgPreVote' || m.type === 'MsgVote') node.step({ ...m, type: m.type === 'MsgPreVote' ? 'MsgPreVoteResp' : 'MsgVoteResp', from: 2, to: 1, reject: false });
        }
        clock.now += TICK_MS;
        node.tick();
        await new Promise((r) => setTimeout(r, 2));
      }
      assert.equal(node.isLeader, true, 'member 1 never led');
      sent.length = 0;
      // A proposal is being persisted (a round in flight: the next Ready waits for it) when
      // member 2 leads a newer term: raft steps down at once; the node's role follows only at
      // its next Ready.
      void node.propose({ kind: 'raiseIdHighWater', highWater: 4000n }).catch(() => undefined);
      node.step({ type: 'MsgHeartbeat', from: 2, to: 1, term: 99, logTerm: 0, index: 0, entries: [], commit: 1, reject: false, rejectHint: 0, context: new Uint8Array(0) } as unknown as Message);
      const refused = await node.propose({ kind: 'raiseIdHighWater', highWater: 5000n }).then(() => null, (err: unknown) => err);
      assert.ok(refused instanceof Error && (refused as { code?: string }).code === 'PdNotLeader', `expected PdNotLeader, got ${String(refused)}`);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(sent.filter((m) => m.type === 'MsgProp'), [], 'the proposal was forwarded to the new leader');
    } finally {
      await node.stop();
    }
  });
});
