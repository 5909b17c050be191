// Issue H1 (placement driver): the situations the outside check's PD bugs needed, generated
// in-process — three real PdRaftNodes on RocksDB with the real TSO and ID allocators, one
// simulated clock, a PeerFaults layer between members — and judged by the history checker
// (test/support/pd-history.ts) over everything every member served.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { extractPhysical } from '../../common/index.js';
import type { PeerFaultDirection } from '../../placement-driver/peer-faults.js';
import { checkPdHistory } from '../support/pd-history.js';
import { InProcessPd, type InProcessPdOptions } from '../support/pd-inprocess.js';

/** Starts a cluster whose every delivered message also probes the recipient with requests. */
async function startProbed(options: InProcessPdOptions, probe: (pd: InProcessPd, to: number) => void): Promise<InProcessPd> {
  const ref: { pd?: InProcessPd } = {};
  ref.pd = await InProcessPd.start({ ...options, onDeliver: (to) => ref.pd !== undefined && probe(ref.pd, to) });
  return ref.pd;
}

function assertHistoryOk(pd: InProcessPd, what: string): void {
  const errors = checkPdHistory(pd.history);
  assert.deepEqual(errors, [], `${what}:\n${errors.join('\n')}`);
}

describe('PD leadership under faults (in-process)', () => {
  it('TSO: a window renewal that cannot commit is not served from, and a failover to a member whose clock is behind starts above it', async () => {
    const pendingIds: Promise<unknown>[] = [];
    const pd = await startProbed({ tsoSaveWindowMs: 1_500, tsoRenewMarginMs: 300, seed: 11 }, (p, to) => {
      p.serveTso(to, 3);
    });
    try {
      pd.member(1).live!.node.campaign();
      const first = await pd.waitForServingLeader();
      for (let i = 0; i < 5; i++) {
        pd.serveTso(first);
        await pd.step();
      }
      const others = [...pd.members.keys()].filter((id) => id !== first);
      for (const id of others) pd.member(id).wallOffsetMs = -20_000; // the next leader's clock is 20 s behind
      // Run until the next update will want to renew the window, then stall the leader's disk.
      const tso = pd.member(first).live!.services.tso;
      while (tso.boundMs - BigInt(pd.wallMs(first)) > 300n + BigInt(pd.tickMs)) {
        pd.serveTso(first);
        await pd.step();
      }
      const boundBefore = tso.boundMs;
      pd.closeGate(first);
      let servedWhileStalled = 0;
      for (let i = 0; i < 40 && pd.servingMembers().every((id) => id === first); i++) {
        if (pd.serveTso(first, 7) !== undefined) servedWhileStalled++;
        await pd.step();
      }
      assert.ok(pd.member(first).gate.blockedRounds > 0, 'the leader\'s window write was stalled');
      assert.ok(servedWhileStalled > 0, 'the stalled leader served from its committed window (the situation under test)');
      assert.ok(BigInt(pd.wallMs(first)) > boundBefore, 'the wall clock passed the committed bound while the renewal was stalled');
      // The old leader keeps ticking with its disk stalled; a member whose clock is behind takes over.
      const second = await pd.waitForServingLeader(400, [first]);
      const firstTsOfSecond = pd.serveTso(second);
      assert.ok(firstTsOfSecond !== undefined);
      assert.ok(extractPhysical(firstTsOfSecond) > BigInt(pd.wallMs(second)), 'the new leader started above the saved bound, not at its own (behind) clock');
      for (let i = 0; i < 10; i++) {
        for (const id of pd.members.keys()) pd.serveTso(id, 2);
        await pd.step();
      }
      pd.openGate(first); // the stalled write lands late; the old leader must not serve from it
      for (let i = 0; i < 30; i++) {
        for (const id of pd.members.keys()) pd.serveTso(id);
        await pd.step();
      }
      assert.ok(pd.history.servingPeriods().length >= 2, 'a failover happened');
      assertHistoryOk(pd, 'stalled TSO window then failover to a behind clock');
    } finally {
      await pd.close();
      await Promise.allSettled(pendingIds);
    }
  });

  it('IDs: an allocator that loses and regains leadership while another leader handed out ids hands out none twice', async () => {
    const pending: Promise<unknown>[] = [];
    const pd = await startProbed({ idBatch: 4n, seed: 12 }, (p, to) => {
      pending.push(p.serveIds(to, 1));
    });
    try {
      pd.member(1).live!.node.campaign();
      let leader = await pd.waitForServingLeader();
      let regained = false;
      const leadersSeen: number[] = [leader];
      for (let round = 0; round < 12 && !regained; round++) {
        for (let i = 0; i < 3; i++) {
          for (const id of pd.members.keys()) pending.push(pd.serveIds(id, 1 + (i % 3)));
          await pd.step();
        }
        pending.push(pd.serveIds(leader, 5)); // a reservation in flight as the leader is cut off
        pd.member(leader).faults.dropAll('both');
        const next = await pd.waitForServingLeader(400, [leader]);
        for (let i = 0; i < 3; i++) {
          pending.push(pd.serveIds(next, 3));
          await pd.step();
        }
        pd.member(leader).faults.heal();
        regained = next === 1 && leadersSeen.some((id) => id !== 1);
        leader = next;
        leadersSeen.push(next);
      }
      await pd.steps(10);
      assert.ok(regained, `member 1 regained leadership after another leader served (leaders: ${leadersSeen.join(' → ')})`);
      assert.ok(pd.history.idCount > 20, 'ids were handed out');
      assertHistoryOk(pd, 'ids across lost and regained leadership');
    } finally {
      await pd.close();
      await Promise.allSettled(pending);
    }
  });

  for (const direction of ['both', 'in', 'out'] as const satisfies readonly PeerFaultDirection[]) {
    it(`a leader cut off from its peers (${direction}) that keeps ticking stops serving TSO and IDs before a new leader serves`, async () => {
      const pending: Promise<unknown>[] = [];
      const pd = await startProbed({ idBatch: 3n, seed: 13 }, (p, to) => {
        p.serveTso(to);
        pending.push(p.serveIds(to));
      });
      try {
        pd.member(2).live!.node.campaign();
        const old = await pd.waitForServingLeader();
        for (let i = 0; i < 5; i++) await pd.step();
        pd.member(old).faults.dropAll(direction);
        let oldStopped = false;
        for (let i = 0; i < 400; i++) {
          for (const id of pd.members.keys()) {
            pd.serveTso(id);
            pending.push(pd.serveIds(id));
          }
          await pd.step();
          oldStopped ||= !pd.member(old).live!.node.canServe;
          if (pd.history.servingPeriods().some((p) => p.member !== old)) break;
        }
        for (let i = 0; i < 10; i++) {
          for (const id of pd.members.keys()) pd.serveTso(id);
          await pd.step();
        }
        const periods = pd.history.servingPeriods();
        assert.ok(periods.some((p) => p.member !== old), `another member became the serving leader (periods ${JSON.stringify(periods)})`);
        assert.ok(oldStopped, 'the cut-off leader, still ticking, stopped serving');
        const faults = pd.member(old).faults;
        assert.ok(faults.droppedIn + faults.droppedOut > 0, 'the fault took effect');
        assertHistoryOk(pd, `leader cut off (${direction})`);
      } finally {
        await pd.close();
        await Promise.allSettled(pending);
      }
    });
  }
});
