// The leader services follow leadership: synced once it is ready, reset when it is lost — also
// when the loss happens while the leader's initialization is still writing its TSO window.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger, TaskGroup } from '../../common/index.js';
import { PdLeaderServices } from '../../placement-driver/leader-services.js';
import type { PdRaftNode } from '../../placement-driver/raft-node.js';
import { PdStateMachine, type PdApplyResult, type PdCommand } from '../../placement-driver/state-machine.js';

/** A raft node stand-in: proposals wait until the test applies them (in order) to the state machine. */
function fakeNode(sm: PdStateMachine) {
  const queue: { cmd: PdCommand; resolve: (r: PdApplyResult) => void }[] = [];
  const node = {
    isLeader: true,
    propose: (cmd: PdCommand) => new Promise<PdApplyResult>((resolve) => queue.push({ cmd, resolve })),
  };
  const applyAll = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) {
      for (const p of queue.splice(0)) p.resolve(sm.apply(p.cmd));
      await new Promise((r) => setImmediate(r));
    }
  };
  return { node, applyAll, queue };
}

/** Services over a fake node and an initialized state machine (ids reserved 10 at a time). */
function leaderServices() {
  const sm = new PdStateMachine();
  sm.apply({ kind: 'initCluster', clusterId: 7n });
  const { node, applyAll } = fakeNode(sm);
  const tasks = new TaskGroup(silentLogger());
  const services = new PdLeaderServices({ sm, node: () => node as unknown as PdRaftNode, nowMs: () => 1_000_000, logger: silentLogger(), tasks, isStopping: () => false, idBatch: 10n });
  return { node, applyAll, tasks, services };
}

describe('PD leader services', () => {
  it('an initialization that finishes after leadership was lost leaves neither TSO nor IDs serving', async () => {
    const { node, applyAll, tasks, services } = leaderServices();
    try {
      services.onLeadershipChange(true); // initialization starts: its TSO window is being written
      services.onLeadershipChange(false); // leadership lost before that write applied
      node.isLeader = false;
      await applyAll(); // the successor committed the write after all
      assert.equal(services.tso.isReady, false);
      const stale = services.ids.alloc(1);
      await applyAll();
      await assert.rejects(stale, { code: 'PdNotLeader' }, 'a deposed member must not hand out ids from its stale high-water mark');
    } finally {
      await tasks.close();
    }
  });

  it('serves ids and timestamps once initialized, and stops when leadership is lost', async () => {
    const { applyAll, tasks, services } = leaderServices();
    try {
      services.onLeadershipChange(true);
      await applyAll();
      assert.equal(services.tso.isReady, true);
      const got = services.ids.alloc(3);
      await applyAll();
      assert.deepEqual(await got, [1n, 2n, 3n]);
      services.onLeadershipChange(false);
      assert.equal(services.tso.allocate(1).kind, 'not-ready');
      await assert.rejects(services.ids.alloc(1), { code: 'PdNotLeader' });
    } finally {
      await tasks.close();
    }
  });
});
