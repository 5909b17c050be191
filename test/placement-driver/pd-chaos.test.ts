// Issue H1 (placement driver): a seeded randomized run of three in-process PD members (real raft
// node, RocksDB, TSO and ID allocators; one simulated clock; PeerFaults between members). The seed
// picks the schedule: partitions (two-way, one-way in, one-way out, between a pair), heals, kills
// and restarts from disk, wall clocks ahead / behind / stepping back per member, stalled disks,
// forced campaigns; requests at every member every step and in the middle of raft rounds. Then a
// liveness phase: everything healed, a leader must serve again. The checker judges the whole
// history (test/support/pd-history.ts); coverage counters summed over the seeds must be non-zero.
//
// The seed fixes the schedule; RocksDB's real I/O timing may still vary the interleaving.
// Replay one seed: FLOTILLA_PD_CHAOS_SEED=<seed> node --test dist/test/placement-driver/pd-chaos.test.js
// More seeds on demand: FLOTILLA_PD_CHAOS_SEEDS=1-500 (a range; coverage is checked as in CI).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRng, type Rng } from '../../common/index.js';
import { checkPdHistory } from '../support/pd-history.js';
import { InProcessPd } from '../support/pd-inprocess.js';

/** CI's seeds: under a second each on an idle 2-core machine, several seconds when it is loaded. */
const SEEDS_DEFAULT = Array.from({ length: 16 }, (_, i) => i + 1);
/** Steps per seed: every planted bug the suite catches was caught within the first 200. */
const STEPS = 300;

interface Coverage {
  failovers: number;
  failoversToBehindClock: number;
  partitionsTwoWay: number;
  partitionsOneWayIn: number;
  partitionsOneWayOut: number;
  partitionsPair: number;
  partitionsMidRound: number;
  heals: number;
  clockAhead: number;
  clockBehind: number;
  clockStepBack: number;
  restarts: number;
  slowPersists: number;
  campaigns: number;
  tsoServed: number;
  idsServed: number;
  proposalsAcked: number;
}

function emptyCoverage(): Coverage {
  return {
    failovers: 0, failoversToBehindClock: 0, partitionsTwoWay: 0, partitionsOneWayIn: 0, partitionsOneWayOut: 0, partitionsPair: 0, partitionsMidRound: 0, heals: 0,
    clockAhead: 0, clockBehind: 0, clockStepBack: 0, restarts: 0, slowPersists: 0, campaigns: 0, tsoServed: 0, idsServed: 0, proposalsAcked: 0,
  };
}

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

/** Runs one seed; returns its coverage, or throws with the seed and a replay command. */
async function runSeed(seed: number): Promise<Coverage> {
  const rng = createRng(seed);
  // Probes run when messages arrive, which real I/O timing decides: their own stream keeps the
  // fault schedule (drawn from rng, once per step) fixed by the seed.
  const probeRng = rng.fork();
  const cov = emptyCoverage();
  const pending: Promise<unknown>[] = [];
  const ref: { pd?: InProcessPd } = {};
  const idBatch = pick(rng, [1n, 3n, 10n, 1_000n]);
  const tsoSaveWindowMs = pick(rng, [800, 1_500, 3_000]);
  const pd = await InProcessPd.start({
    seed,
    idBatch,
    tsoSaveWindowMs,
    tsoRenewMarginMs: Math.floor(tsoSaveWindowMs / 3),
    probesPerStep: 3,
    onDeliver: (to) => {
      const p = ref.pd;
      if (p === undefined) return;
      // Mid-round: the leader is cut off right after a message (often an append ack that lets it
      // commit), so it may commit entries no follower hears committed before the next election.
      if (probeRng.chance(0.004) && p.servingMembers().includes(to)) {
        p.member(to).faults.dropAll('out');
        cov.partitionsMidRound++;
      }
      if (probeRng.chance(0.5)) p.serveTso(to, 1 + probeRng.nextInt(5));
      else if (probeRng.chance(0.8)) pending.push(p.serveIds(to, 1 + probeRng.nextInt(3)));
      else pending.push(p.proposeMarker(to));
    },
  });
  ref.pd = pd;
  const ids = [...pd.members.keys()];
  const restartAt = new Map<number, number>();
  const gateOpenAt = new Map<number, number>();
  let failure: unknown = null;
  try {
    for (let step = 0; step < STEPS; step++) {
      await chaosAction(pd, rng, step, ids, restartAt, gateOpenAt, cov);
      for (const id of ids) if (pd.serveTso(id, 1 + rng.nextInt(100)) !== undefined) cov.tsoServed++;
      pending.push(pd.serveIds(pick(rng, ids), 1 + rng.nextInt(4)));
      if (rng.chance(0.3)) pending.push(pd.proposeMarker(pick(rng, ids)));
      await pd.step();
    }
    // Liveness: heal everything; a leader must serve again, above everything served before.
    for (const id of ids) {
      pd.member(id).faults.heal();
      pd.openGate(id);
      if (pd.member(id).live === null) await pd.restart(id);
    }
    const leader = await pd.waitForServingLeader(600);
    assert.ok(pd.serveTso(leader) !== undefined, 'the healed cluster serves a timestamp');
    assert.ok((await pd.stepUntil(pd.serveIds(leader, 2))) !== undefined, 'the healed cluster serves ids');
  } catch (err) {
    failure = err;
  } finally {
    await pd.close();
    await Promise.allSettled(pending);
  }
  const errors = checkPdHistory(pd.history);
  const periods = pd.history.servingPeriods();
  cov.failovers = periods.length - 1;
  cov.idsServed = pd.history.idCount;
  cov.proposalsAcked = pd.markersAcked;
  for (const id of ids) cov.slowPersists += pd.member(id).gate.blockedRounds;
  if (failure !== null || errors.length > 0) {
    const reason = failure !== null ? (failure instanceof Error ? (failure.stack ?? failure.message) : JSON.stringify(failure)) : errors.join('\n');
    throw new Error(`PD chaos seed ${seed} failed (idBatch ${idBatch}, TSO window ${tsoSaveWindowMs} ms):\n${reason}\n` +
      `serving periods: ${JSON.stringify(periods)}\nreplay: FLOTILLA_PD_CHAOS_SEED=${seed} node --test dist/test/placement-driver/pd-chaos.test.js`);
  }
  return cov;
}

/** One step's fault, drawn from the seed. */
async function chaosAction(pd: InProcessPd, rng: Rng, step: number, ids: readonly number[], restartAt: Map<number, number>, gateOpenAt: Map<number, number>, cov: Coverage): Promise<void> {
  for (const [id, at] of restartAt) {
    if (at <= step) {
      restartAt.delete(id);
      await pd.restart(id);
      cov.restarts++;
    }
  }
  for (const [id, at] of gateOpenAt) {
    if (at <= step) {
      gateOpenAt.delete(id);
      pd.openGate(id);
    }
  }
  const servingBefore = pd.servingMembers();
  const target = rng.chance(0.6) && servingBefore.length > 0 ? servingBefore[0]! : pick(rng, ids);
  const member = pd.member(target);
  const roll = rng.nextFloat();
  if (roll < 0.025) {
    member.faults.dropAll('both');
    cov.partitionsTwoWay++;
  } else if (roll < 0.04) {
    member.faults.dropAll('in');
    cov.partitionsOneWayIn++;
  } else if (roll < 0.055) {
    member.faults.dropAll('out');
    cov.partitionsOneWayOut++;
  } else if (roll < 0.065) {
    const other = pick(rng, ids.filter((id) => id !== target));
    member.faults.drop(other, 'both');
    pd.member(other).faults.drop(target, 'both');
    cov.partitionsPair++;
  } else if (roll < 0.11) {
    for (const id of ids) pd.member(id).faults.heal();
    cov.heals++;
  } else if (roll < 0.125) {
    if (member.live !== null && !restartAt.has(target)) {
      await pd.kill(target);
      restartAt.set(target, step + 3 + rng.nextInt(30));
    }
  } else if (roll < 0.15) {
    const kind = rng.nextInt(3);
    if (kind === 0) {
      member.wallOffsetMs += 1 + rng.nextInt(5_000);
      cov.clockAhead++;
    } else if (kind === 1) {
      member.wallOffsetMs -= 1 + rng.nextInt(30_000);
      cov.clockBehind++;
    } else {
      member.wallOffsetMs -= 1 + rng.nextInt(1_000); // the wall clock of a running member steps back
      cov.clockStepBack++;
    }
  } else if (roll < 0.17) {
    if (!gateOpenAt.has(target)) {
      pd.closeGate(target);
      gateOpenAt.set(target, step + 2 + rng.nextInt(15));
    }
  } else if (roll < 0.18) {
    // A campaign on command. Raft refuses it while this member may have acked a leader's lease
    // (an early version of this test saw two serving leaders at seed 9 before that rule).
    member.live?.node.campaign();
    cov.campaigns++;
  }
  // A failover to a member whose wall clock is behind the previous serving leader's.
  const periods = pd.history.servingPeriods();
  const last = periods[periods.length - 1];
  const previous = periods[periods.length - 2];
  if (last !== undefined && previous !== undefined && last.firstMs === pd.clock.monoMs && pd.member(last.member).wallOffsetMs < pd.member(previous.member).wallOffsetMs) {
    cov.failoversToBehindClock++;
  }
}

describe('PD chaos (seeded, in-process)', () => {
  it('TSO monotonic and durable, ids unique, one serving leader at a time, under a seeded fault schedule', async () => {
    const replay = process.env.FLOTILLA_PD_CHAOS_SEED;
    const range = /^([0-9]+)-([0-9]+)$/.exec(process.env.FLOTILLA_PD_CHAOS_SEEDS ?? '');
    const seeds = replay !== undefined && replay !== '' ? [Number(replay)]
      : range !== null ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i)
      : SEEDS_DEFAULT;
    const total = emptyCoverage();
    for (const seed of seeds) {
      const cov = await runSeed(seed);
      for (const k of Object.keys(total) as (keyof Coverage)[]) total[k] += cov[k];
    }
    console.log(`PD chaos coverage over ${seeds.length} seeds (${seeds[0]}..${seeds[seeds.length - 1]}): ${JSON.stringify(total)}`);
    if (replay === undefined || replay === '') {
      const zero = (Object.keys(total) as (keyof Coverage)[]).filter((k) => total[k] === 0);
      assert.deepEqual(zero, [], `coverage counters at zero (blind spots): ${zero.join(', ')}`);
    }
  });
});
