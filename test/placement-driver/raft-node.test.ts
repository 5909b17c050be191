// PdRaftNode's lease guard: ticks are replayed from a monotonic clock, and a leader whose ticks
// fell behind (the process was paused) serves nothing until they are replayed. The clock is
// injected, so the pause is simulated exactly.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimpleRocks, silentLogger } from '../../common/index.js';
import { waitFor } from '../../deploy/index.js';
import { EMPTY_CONF_STATE } from '../../raft/index.js';
import { PdRaftLog } from '../../placement-driver/raft-log.js';
import { PdRaftNode } from '../../placement-driver/raft-node.js';
import { PdStateMachine } from '../../placement-driver/state-machine.js';

describe('PD raft node lease guard', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('stops serving when ticks fall behind the monotonic clock, and serves again once replayed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-pd-node-'));
    dirs.push(dir);
    const db = await SimpleRocks.open(dir);
    const log = await PdRaftLog.open(db);
    const sm = new PdStateMachine();
    await log.persist({ snapshot: { metadata: { index: 1, term: 1, confState: { ...EMPTY_CONF_STATE, voters: [1] } }, data: sm.snapshot() }, hardState: { term: 1, vote: 0, commit: 1 }, entries: [], mustSync: true });
    let now = 1_000;
    const node = new PdRaftNode({ id: 1, log, sm, applied: 1, electionTicks: 10, heartbeatTicks: 1, tickMs: 100, monotonicMs: () => now, logger: silentLogger(), send: () => {} });
    try {
      node.campaign();
      await waitFor('leadership ready', () => (node.canServe ? true : undefined));
      now += 150; // one late timer: still current
      assert.equal(node.canServe, true);
      now += 5_000; // the process was frozen for 5 s: no timer ran
      assert.equal(node.canServe, false, 'a paused leader must not trust its tick-counted lease');
      const termBefore = node.raw.term;
      node.tick(); // the timer finally fires and replays the missed ticks
      assert.equal(node.canServe, true, 'a single member holds its own quorum again once ticks are current');
      assert.equal(node.raw.term, termBefore);
    } finally {
      await node.stop();
      await db.close();
    }
  });
});
