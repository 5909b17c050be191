// The store's poll loop, deterministic: three in-process stores (real RaftStore, peers, group
// commit, apply, raw write path) over crashable in-memory engines and a simulated network that
// drops, delays and partitions, with crashes anywhere — including between a round's durable log
// write and its apply. Checked after healing: every acknowledged write is readable with its value
// through the leader, and the three replicas' data are identical. Raft log GC runs with tiny
// limits the seed picks (a few entries to a few dozen): the run checks compactions happened, that
// restarts loaded truncated logs, that a down follower held the log back past the hard limit, and
// at the end that every log is bounded and no raft log key below a replica's first index is left.
// Seeds are replayable: FLOTILLA_STORE_SIM_SEED=n runs one; FLOTILLA_STORE_SIM_SEEDS=n with
// FLOTILLA_STORE_SIM_SEED_BASE=b sweeps n seeds from b (a soak; CI runs 12 from 1). Targeted
// scenarios follow: the TTL sweep, a new leader's first reads, region key counts through every
// kind of write and crash, a write command whose leader lost and regained leadership mid-command
// (P3 in planted-bugs.md), a deposed leader's pending ReadIndex reads (P10), and lease reads: a
// cut-off leader's, one behind a stalled tick timer, reads alone keeping a region awake, lease
// reads switched off.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { applyStateKey, crc32, createRng, FlotillaError, raftHardStateKey, raftLogIndexOf, raftLogRange, rawKey, type Rng } from '../../common/index.js';
import { decodeEntry, decodeHardState, encodeHardState } from '../../raft-host/index.js';
import { decodeApplyState } from '../../store/local-state.js';
import type { Peer } from '../../store/peer.js';
import { decodeCommand } from '../../store/raft-cmd.js';
import { decodeRawValue, encodeRawValue } from '../../store/raw-value.js';
import type { kvrpcpb } from '../../proto/index.js';
import type { RaftLogGcOptions } from '../../store/raft-log-gc.js';
import { countedKeys, raftLogKeysBelow, rawContents, settle, type SimNode, type SimOptions, StoreSim } from '../support/store-sim.js';
import { advanceUntil, drive, isQuiet } from '../support/store-sim-checks.js';

const STEPS = 400;
/** A sweep (a soak, not CI): FLOTILLA_STORE_SIM_SEEDS=n seeds from FLOTILLA_STORE_SIM_SEED_BASE (defaults 12 from 1). */
const SEED_COUNT = Number(process.env['FLOTILLA_STORE_SIM_SEEDS'] ?? '12');
const SEED_BASE = Number(process.env['FLOTILLA_STORE_SIM_SEED_BASE'] ?? '1');
const SEEDS = process.env['FLOTILLA_STORE_SIM_SEED'] !== undefined ? [Number(process.env['FLOTILLA_STORE_SIM_SEED'])] : Array.from({ length: SEED_COUNT }, (_, i) => SEED_BASE + i);

interface Outcome {
  readonly acked: Map<string, string>;
  readonly counters: StoreSim['counters'];
  readonly readsChecked: number;
  /** Replica reads a follower served (after acknowledgements): each saw the acknowledged value. */
  readonly replicaReadsChecked: number;
  /** Most raft log entries any replica held at any step. */
  readonly heldMax: number;
}

/** Tiny raft log GC limits, picked by the seed (VOPR-style: the seed picks the fault parameters). */
function gcOptionsOf(seed: number): RaftLogGcOptions {
  const countLimit = [4, 16, 48][seed % 3]!;
  // Half the seeds also compact what every follower holds once the log holds 512 bytes, well before the count limit.
  const thresholdBytes = Math.floor(seed / 3) % 2 === 0 ? 1 << 30 : 512;
  return { thresholdBytes, countLimit, hardCountLimit: countLimit * 3, checkTicks: 1 + (seed % 4) };
}

/** Entries a replica's log holds (after its truncated index). */
function heldEntries(node: SimNode, regionId: number): number {
  const storage = node.store?.peers.get(regionId)?.storage;
  return storage === undefined ? 0 : storage.lastIndex() - storage.truncatedIndex;
}

function putRequest(sim: StoreSim, node: SimNode, key: string, value: string): kvrpcpb.RawPutRequest {
  return { context: sim.context(node), key: Buffer.from(key), value: Buffer.from(value), ttlSeconds: '0' };
}

async function runSeed(seed: number): Promise<Outcome> {
  const rng: Rng = createRng(seed);
  // Odd seeds read by lease where valid; even seeds send every read through ReadIndex.
  const gc = gcOptionsOf(seed);
  const sim = await StoreSim.start(3, { rng: rng.fork(), dropRate: 0.05, maxDelaySteps: 3, isLeaseReadEnabled: seed % 2 === 1, raftLogGc: gc });
  const acked = new Map<string, string>();
  let heldMax = 0;
  const readRng = rng.fork();
  const staleReads: string[] = [];
  let readsChecked = 0;
  let replicaReadsChecked = 0;
  let written = 0;
  try {
    for (let step = 0; step < STEPS; step++) {
      // Clients: a few puts per step to whichever store believes it leads (or any store).
      for (let c = 0; c < 3; c++) {
        const live = sim.nodes.filter((n) => n.raw !== null);
        const target = sim.leader() ?? live[rng.nextInt(Math.max(1, live.length))];
        if (target?.raw === null || target === undefined) continue;
        const key = `k${written++}`;
        const value = `v${seed}-${step}-${c}`;
        void target.raw.put(putRequest(sim, target, key, value)).then(
          async () => {
            acked.set(key, value);
            // A read that starts after the acknowledgement must see the write wherever it is
            // served: at any store that believes it leads (deposed, or elected and not yet ready).
            const believers = sim.believedLeaders();
            const reader = believers[readRng.nextInt(Math.max(1, believers.length))];
            if (reader?.raw === null || reader === undefined) return;
            const got = await reader.raw.get({ context: sim.context(reader), key: Buffer.from(key) }).catch(() => null);
            if (got !== null && got.value?.toString() !== value) staleReads.push(`${key}: read ${got.notFound === true ? 'nothing' : String(got.value)} after ${value} was acknowledged`);
            else if (got !== null) readsChecked++;
            // And as a replica read at any store (store/replica-read.ts): a follower serves it once
            // its leader confirmed a read index and it applied that far; a refusal is no answer.
            const up = sim.nodes.filter((n) => n.raw !== null);
            const replica = up[readRng.nextInt(Math.max(1, up.length))];
            if (replica?.raw === null || replica === undefined) return;
            const isFollower = replica.store?.peers.get(sim.region.id)?.isLeader === false;
            const seen = await replica.raw.get({ context: sim.context(replica, undefined, { replicaRead: true }), key: Buffer.from(key) }).catch(() => null);
            if (seen !== null && seen.value?.toString() !== value) staleReads.push(`${key}: replica read at store ${replica.storeId} got ${seen.notFound === true ? 'nothing' : String(seen.value)} after ${value} was acknowledged`);
            else if (seen !== null && isFollower) replicaReadsChecked++;
          },
          () => undefined, // not leader, timeout, crash: the outcome is not acknowledged
        );
      }
      // Faults (none in the last quarter: the cluster must heal and converge).
      if (step < STEPS * 0.75) {
        const roll = rng.nextFloat();
        const up = sim.nodes.filter((n) => n.store !== null);
        if (roll < 0.01 && up.length === 3) {
          await sim.crash(up[rng.nextInt(up.length)]!);
        } else if (roll < 0.02 && up.length === 3) {
          const victim = sim.leader() ?? up[rng.nextInt(up.length)]!;
          victim.crashBeforeApply = true;
        } else if (roll < 0.03 && up.length === 3) {
          up[rng.nextInt(up.length)]!.engine.failNextSyncWrite = true;
        } else if (roll < 0.05) {
          const a = 1 + rng.nextInt(3);
          const b = 1 + ((a + rng.nextInt(2)) % 3);
          sim.setCut(a, b, !sim.cut.has(`${Math.min(a, b)}-${Math.max(a, b)}`));
        }
      } else {
        sim.cut.clear();
      }
      // A crashed store comes back after a while (from what its disk kept).
      for (const node of sim.nodes) {
        if (node.store === null && node.crashedAtStep >= 0 && step - node.crashedAtStep >= 10 + rng.nextInt(30)) {
          await sim.settleCrashed(node);
          node.crashedAtStep = -1;
          await sim.restart(node);
        }
      }
      await sim.advance();
      for (const node of sim.nodes) heldMax = Math.max(heldMax, heldEntries(node, sim.region.id));
    }
    // Heal completely and let everything converge.
    sim.cut.clear();
    for (const node of sim.nodes) {
      if (node.store !== null) continue;
      await sim.settleCrashed(node);
      await sim.restart(node);
    }
    let converged = false;
    for (let i = 0; i < 2_000 && !converged; i++) {
      await sim.advance();
      const leader = sim.leader();
      if (leader === undefined || i < 50) continue;
      const applied = sim.nodes.map((n) => n.store?.peers.get(sim.region.id)?.applied ?? -1);
      const last = leader.store!.peers.get(sim.region.id)!.storage.lastIndex();
      converged = applied.every((a) => a === last);
    }
    assert.ok(converged, `seed ${seed}: replicas did not converge (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    assert.deepEqual(sim.votesLost, [], `seed ${seed}: a restart lost a term or vote its answers vouched for (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    assert.deepEqual(sim.twoLeaders, [], `seed ${seed}: two leaders in one region and term (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    assert.deepEqual(sim.staleLeaseReads, [], `seed ${seed}: a lease read possible on a replica behind its region's commit index (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    // With every follower caught up, the leader compacts and every replica applies it: each log
    // ends bounded by the limit, and holds no raft log key below its first index.
    let isBounded = false;
    for (let i = 0; i < 200 && !isBounded; i++) {
      await sim.advance();
      isBounded = sim.nodes.every((n) => heldEntries(n, sim.region.id) <= gc.countLimit);
    }
    const held = sim.nodes.map((n) => heldEntries(n, sim.region.id));
    assert.ok(isBounded, `seed ${seed}: raft logs hold ${held.join(', ')} entries, limit ${gc.countLimit} (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    for (const node of sim.nodes) {
      const peer = node.store!.peers.get(sim.region.id)!;
      const first = peer.storage.firstIndex();
      assert.equal(await raftLogKeysBelow(node.engine, sim.region.id, first), 0, `seed ${seed}: store ${node.storeId} keeps raft log keys below its first index ${first}`);
      // The key count kept at apply (and persisted across every crash) is the engine's own.
      assert.equal(peer.approximateKeys, await countedKeys(node.engine), `seed ${seed}: store ${node.storeId}'s key count`);
    }
    const leader = sim.leader()!;
    for (const [key, value] of acked) {
      const r = await leader.raw!.get({ context: sim.context(leader), key: Buffer.from(key) });
      assert.equal(r.value?.toString(), value, `seed ${seed}: acknowledged ${key}=${value} lost (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    }
    assert.deepEqual(staleReads, [], `seed ${seed}: reads missed acknowledged writes (replay: FLOTILLA_STORE_SIM_SEED=${seed})`);
    const contents = await Promise.all(sim.nodes.map((n) => rawContents(n.engine)));
    assert.deepEqual(contents[1], contents[0], `seed ${seed}: replicas 1 and 2 differ`);
    assert.deepEqual(contents[2], contents[0], `seed ${seed}: replicas 1 and 3 differ`);
    return { acked, counters: sim.counters, readsChecked, replicaReadsChecked, heldMax };
  } finally {
    await sim.stop();
  }
}

describe('store poll loop under a simulated network and crashes', () => {
  it(`keeps every acknowledged write over ${SEEDS.length} seeds`, async () => {
    const totals = {
      entryLoads: 0, acked: 0, readsChecked: 0, replicaReadsChecked: 0, crashes: 0, crashesBeforeApply: 0, restarts: 0, dropped: 0, delivered: 0,
      gcProposed: 0, gcCompactions: 0, gcCompactedEntries: 0, gcHardLimitHeldBack: 0, restartsWithTruncatedLog: 0, heldMax: 0,
    };
    for (const seed of SEEDS) {
      const out = await runSeed(seed);
      totals.acked += out.acked.size;
      totals.readsChecked += out.readsChecked;
      totals.replicaReadsChecked += out.replicaReadsChecked;
      totals.entryLoads += out.counters.entryLoads;
      totals.crashes += out.counters.crashes;
      totals.crashesBeforeApply += out.counters.crashesBeforeApply;
      totals.restarts += out.counters.restarts;
      totals.dropped += out.counters.dropped;
      totals.delivered += out.counters.delivered;
      totals.gcProposed += out.counters.gcProposed;
      totals.gcCompactions += out.counters.gcCompactions;
      totals.gcCompactedEntries += out.counters.gcCompactedEntries;
      totals.gcHardLimitHeldBack += out.counters.gcHardLimitHeldBack;
      totals.restartsWithTruncatedLog += out.counters.restartsWithTruncatedLog;
      totals.heldMax = Math.max(totals.heldMax, out.heldMax);
    }
    // The run must reach what it claims to test (a replay of one seed need not reach all of it).
    if (SEEDS.length < 12) return;
    assert.ok(totals.acked > 1_000, JSON.stringify(totals));
    assert.ok(totals.crashesBeforeApply > 0, JSON.stringify(totals));
    assert.ok(totals.readsChecked > 1_000, JSON.stringify(totals));
    assert.ok(totals.replicaReadsChecked > 200, `followers served too few replica reads: ${JSON.stringify(totals)}`);
    assert.ok(totals.entryLoads > 0, `no lagging follower was caught up from disk: ${JSON.stringify(totals)}`);
    assert.ok(totals.crashes > totals.crashesBeforeApply, JSON.stringify(totals));
    assert.ok(totals.gcCompactions > 0 && totals.gcCompactedEntries > totals.acked / 2, `raft log GC did not run: ${JSON.stringify(totals)}`);
    assert.ok(totals.restartsWithTruncatedLog > 0, `no restart loaded a truncated log: ${JSON.stringify(totals)}`);
    assert.ok(totals.gcHardLimitHeldBack > 0, `no lagging follower held a log back past the hard limit: ${JSON.stringify(totals)}`);
    console.log(`store sim: ${JSON.stringify(totals)}`);
  });
});

/** Advances a fresh sim until a leader with a raw API is elected (at most 200 steps). */
async function electedLeader(sim: StoreSim): Promise<SimNode & { readonly raw: NonNullable<SimNode['raw']> }> {
  let leader: SimNode | undefined;
  for (let i = 0; i < 200 && leader === undefined; i++) {
    await sim.advance();
    leader = sim.leader();
  }
  assert.ok(leader !== undefined && leader.raw !== null, 'no leader within 200 sim steps');
  return leader as SimNode & { readonly raw: NonNullable<SimNode['raw']> };
}

describe('raft log GC by bytes (--raft-log-gc-threshold-bytes)', () => {
  it('compacts what every replica holds once the log holds the threshold, long before the count limit, and never past a follower that is cut off', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(5), dropRate: 0, maxDelaySteps: 0, raftLogGc: { thresholdBytes: 2_000, countLimit: 1_000_000, hardCountLimit: 3_000_000, checkTicks: 1 } });
    try {
      const leader = await electedLeader(sim);
      const peerOn = (node: SimNode) => node.store!.peers.get(sim.region.id)!;
      const peer = peerOn(leader);
      const writeSome = async (prefix: string): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          const put = leader.raw.put(putRequest(sim, leader, `${prefix}${i}`, 'v'.repeat(100)));
          for (let j = 0; j < 3; j++) await sim.advance();
          await put;
        }
        for (let i = 0; i < 20; i++) await sim.advance();
      };
      const firstBefore = peer.storage.firstIndex();
      // Below the threshold (and far below the count limit) nothing is compacted.
      for (let i = 0; i < 5; i++) {
        const put = leader.raw.put(putRequest(sim, leader, `small${i}`, 'v'.repeat(100)));
        for (let j = 0; j < 3; j++) await sim.advance();
        await put;
      }
      for (let i = 0; i < 20; i++) await sim.advance();
      assert.ok(peer.storage.cachedBytes < 2_000, `the log holds ${peer.storage.cachedBytes} bytes`);
      assert.equal(peer.storage.firstIndex(), firstBefore, 'nothing compacted below the threshold');
      await writeSome('a');
      assert.ok(peer.storage.firstIndex() > firstBefore + 20, `40 puts of ~4 KB: the log is compacted (first index ${firstBefore} → ${peer.storage.firstIndex()})`);
      for (const node of sim.nodes) assert.ok(peerOn(node).storage.firstIndex() > firstBefore + 20, `store ${node.storeId} applied the compaction`);
      // A follower cut off holds the log back: it is never compacted past it (no snapshot needed).
      const follower = sim.nodes.find((n) => n.storeId !== leader.storeId)!;
      sim.isolate(follower.storeId, true);
      const held = peerOn(follower).storage.lastIndex();
      await writeSome('b');
      assert.ok(peer.storage.firstIndex() <= held + 1, `compacted past the cut-off follower: first index ${peer.storage.firstIndex()}, the follower holds up to ${held}`);
      sim.isolate(follower.storeId, false);
      for (let i = 0; i < 60; i++) await sim.advance();
      assert.equal(peerOn(follower).storage.lastIndex(), peer.storage.lastIndex(), 'the follower catches up from the log');
    } finally {
      await sim.stop();
    }
  });
});

describe('TTL sweep', () => {
  it('deletes expired raw keys through raft on every replica and leaves live and rewritten ones', async () => {
    // The raw API's clock is the test's: the short TTLs expire by moving it, not by waiting.
    let nowMs = 1_000_000;
    const sim = await StoreSim.start(3, { rng: createRng(7), dropRate: 0, maxDelaySteps: 0, rawNowMs: () => nowMs });
    try {
      const leader = await electedLeader(sim);
      const put = (key: string, ttl: string): Promise<unknown> => leader.raw.put({ ...putRequest(sim, leader, key, 'v'), ttlSeconds: ttl });
      const pending = [put('short', '1'), put('long', '3600'), put('forever', '0'), put('rewritten', '1')];
      for (let i = 0; i < 20; i++) await sim.advance();
      await Promise.all(pending);
      nowMs += 1_001;
      const peer = leader.store!.peers.get(sim.region.id)!;
      const sweep = leader.raw.sweepExpired(peer, null);
      // Rewritten (without a TTL) while the sweep runs: the sweep must re-check under the latch.
      const rewrite = put('rewritten', '0');
      for (let i = 0; i < 20; i++) await sim.advance();
      await rewrite;
      assert.deepEqual(await sweep, { next: null, sawTtl: true });
      for (let i = 0; i < 20; i++) await sim.advance();
      for (const node of sim.nodes) {
        const keys = (await rawContents(node.engine)).map((kv) => Buffer.from(kv.split('=')[0]!, 'hex').subarray(1).toString('latin1'));
        assert.equal(keys.length, 3, `store ${node.storeId} keeps ${keys.length} raw keys`);
      }
    } finally {
      await sim.stop();
    }
  });
});

/** A fresh sim's elected leader once it holds a lease: a write wakes the region (a quiet group holds none) and its acks renew it. */
async function leaseHolder(sim: StoreSim): Promise<SimNode & { readonly raw: NonNullable<SimNode['raw']> }> {
  const leader = await electedLeader(sim);
  let isWarm = false;
  void leader.raw.put(putRequest(sim, leader, 'warm', 'w')).then(() => {
    isWarm = true;
  });
  assert.ok(await advanceUntil(sim, () => isWarm), 'the first write was never answered');
  // A raft lease on a ready leader: what a lease read needs, whether lease reads are on or not.
  const peer = leader.store!.peers.get(sim.region.id)!;
  assert.ok(await advanceUntil(sim, () => peer.isLeaderReady && peer.raw.isLeaseValid(), 20), 'a leader that just committed a write holds no lease');
  return leader;
}

type LeaseBody = (sim: StoreSim, leader: Awaited<ReturnType<typeof leaseHolder>>, peerOn: (node: SimNode) => Peer) => Promise<void>;

/** Runs `body` on a 3-store sim with a lossless network and lease reads on, once its leader holds a lease; the sim stops after. */
async function withLeaseHolder(seed: number, body: LeaseBody, options: Partial<SimOptions> = {}): Promise<void> {
  const sim = await StoreSim.start(3, { rng: createRng(seed), dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled: true, ...options });
  try {
    await body(sim, await leaseHolder(sim), (node) => node.store!.peers.get(sim.region.id)!);
  } finally {
    await sim.stop();
  }
}

describe('lease reads', () => {
  it('a leader cut off from its followers stops serving lease reads before another replica can lead, and the new leader serves none until ready', async () => {
    await withLeaseHolder(91, async (sim, leader, peerOn) => {
      sim.isolate(leader.storeId, true);
      let lastReadableStep = -1;
      let electedStep = -1;
      let newLeaderReadableUnready = false;
      for (let step = 0; step < 400 && electedStep < 0; step++) {
        await sim.advance();
        if (peerOn(leader).isLeaseReadable) lastReadableStep = step;
        for (const node of sim.nodes) {
          if (node === leader) continue;
          const peer = peerOn(node);
          if (!peer.isLeader) continue;
          if (electedStep < 0) electedStep = step;
          if (peer.isLeaseReadable && !peer.isLeaderReady) newLeaderReadableUnready = true;
        }
      }
      assert.ok(electedStep >= 0, 'no other replica was elected while the leader was cut off');
      assert.ok(lastReadableStep < electedStep, `the cut-off leader could serve a lease read at step ${lastReadableStep}, and another replica led from step ${electedStep}`);
      assert.ok(lastReadableStep >= 0, 'the cut-off leader never served from its lease (the check saw nothing)');
      assert.equal(newLeaderReadableUnready, false, 'the new leader could serve a lease read before an entry of its term committed');
      sim.isolate(leader.storeId, false);
      assert.deepEqual(sim.staleLeaseReads, []);
    });
  });
});

describe('lease reads behind a late tick timer', () => {
  // Each read path delivers the owed ticks itself, so each goes first once: a transactional read
  // takes the lease its own way (KvWrites.leaseReadNow, TxnKv.readAt), a raw read through
  // KvWrites.readBarrier.
  for (const first of ['txn', 'raw'] as const) {
    it(`a cut-off leader whose timer stopped firing is owed the ticks real time passed: its next read (${first} first) ends its lease and never returns a value another leader has overwritten`, async () => {
      await withLeaseHolder(97, async (sim, old, peerOn) => {
        let isWritten = false;
        void old.raw.put(putRequest(sim, old, 'k', 'before')).then(() => {
          isWritten = true;
        });
        assert.ok(await advanceUntil(sim, () => isWritten && peerOn(old).isLeaseReadable), 'the first value was never written under a lease');
        // Its event loop stalls (no timer fires) while the others go on without it.
        old.isTickTimerLate = true;
        sim.isolate(old.storeId, true);
        let next: SimNode | undefined;
        assert.ok(await advanceUntil(sim, () => {
          next = sim.nodes.find((n) => n !== old && n.store?.peers.get(sim.region.id)?.isLeaderReady === true);
          return next !== undefined;
        }, 400), 'no other replica was elected');
        let isOverwritten = false;
        void next!.raw!.put(putRequest(sim, next!, 'k', 'after')).then(() => {
          isOverwritten = true;
        });
        assert.ok(await advanceUntil(sim, () => isOverwritten), 'the new leader never wrote');
        // Raft on the old leader has not counted the silence: without the owed ticks it would
        // still trust its lease. A read must deliver them first.
        assert.equal(peerOn(old).isLeaseReadable, true, 'the stalled leader counted time without ticks (the test sees nothing)');
        const leaseReads = old.readsByKind.get('lease') ?? 0;
        const answers: { raw?: string; txn?: string } = {};
        const reads = {
          txn: () => old.txn!.get({ context: sim.context(old), key: Buffer.from('t'), version: '1' }).then(
            (r) => { answers.txn = r.notFound === true ? 'not found' : 'value'; },
            (e: unknown) => { answers.txn = `error ${e instanceof FlotillaError ? e.code : String(e)}`; },
          ),
          raw: () => old.raw.get({ context: sim.context(old), key: Buffer.from('k') }).then(
            (r) => { answers.raw = `value ${String(r.value)}`; },
            (e: unknown) => { answers.raw = `error ${e instanceof FlotillaError ? e.code : String(e)}`; },
          ),
        };
        void reads[first]();
        void reads[first === 'txn' ? 'raw' : 'txn']();
        await sim.advance();
        assert.equal(old.readsByKind.get('lease') ?? 0, leaseReads, `the stalled leader served a lease read (raw: ${answers.raw}, txn: ${answers.txn})`);
        assert.notEqual(answers.raw, 'value before', 'a read returned the overwritten value');
        old.isTickTimerLate = false;
        sim.isolate(old.storeId, false);
        assert.ok(await advanceUntil(sim, () => answers.raw !== undefined && answers.txn !== undefined), 'a read was never answered');
        assert.notEqual(answers.raw, 'value before', 'a read returned the overwritten value');
        assert.deepEqual(sim.staleLeaseReads, []);
      });
    });
  }
});

describe('reads keep their region awake', () => {
  for (const isLeaseReadEnabled of [true, false]) {
    it(`a leader serving only reads (${isLeaseReadEnabled ? 'by lease' : 'through ReadIndex'}), for many times the quiet threshold, stays awake and serves every read the same way; left alone it goes quiet`, async () => {
      const quietAfterTicks = 20;
      await withLeaseHolder(99, async (sim, leader, peerOn) => {
        const peer = peerOn(leader);
        const before = new Map(leader.readsByKind);
        const reads = 4 * quietAfterTicks / 5;
        for (let i = 0; i < reads; i++) {
          let value: string | undefined;
          void leader.raw.get({ context: sim.context(leader), key: Buffer.from('warm') }).then((r) => {
            value = String(r.value);
          });
          assert.ok(await advanceUntil(sim, () => value !== undefined, 50), `read ${i} was never answered`);
          assert.equal(value, 'w');
          for (let s = 0; s < 4; s++) await sim.advance(); // five steps (ticks) a read
          assert.equal(peer.raw.isQuiet, false, `the region went quiet under reads (read ${i})`);
        }
        const lease = (leader.readsByKind.get('lease') ?? 0) - (before.get('lease') ?? 0);
        const readIndex = (leader.readsByKind.get('read-index') ?? 0) - (before.get('read-index') ?? 0);
        assert.deepEqual({ lease, readIndex }, isLeaseReadEnabled ? { lease: reads, readIndex: 0 } : { lease: 0, readIndex: reads }, 'every read served the same way');
        // The threshold is real: with no reads or writes the region does go quiet.
        assert.ok(await advanceUntil(sim, () => peer.raw.isQuiet, 4 * quietAfterTicks), 'the idle region never went quiet');
      }, { quietAfterTicks, isLeaseReadEnabled });
    });
  }
});

describe('lease reads switched off, and counted', () => {
  it('with lease reads on, a leader\'s reads pass the lease barrier and are counted so; with them off, a leader holding a raft lease serves every read through ReadIndex', async () => {
    for (const isLeaseReadEnabled of [true, false]) {
      const sim = await StoreSim.start(3, { rng: createRng(95), dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled });
      try {
        const leader = await electedLeader(sim);
        const peer = leader.store!.peers.get(sim.region.id)!;
        let isWarm = false;
        void leader.raw.put(putRequest(sim, leader, 'k', 'v')).then(() => {
          isWarm = true;
        });
        assert.ok(await advanceUntil(sim, () => isWarm && peer.isLeaderReady && peer.raw.isLeaseValid()), 'no ready leader with a raft lease');
        assert.equal(peer.isLeaseReadable, isLeaseReadEnabled, `lease reads ${isLeaseReadEnabled ? 'on' : 'off'}`);
        const before = new Map(leader.readsByKind);
        let value: string | undefined;
        void leader.raw.get({ context: sim.context(leader), key: Buffer.from('k') }).then((r) => {
          value = String(r.value);
        });
        assert.ok(await advanceUntil(sim, () => value !== undefined), 'the read was never answered');
        assert.equal(value, 'v');
        // A transactional read (TxnKv.readAt) takes the barrier its own way.
        let txnAnswer: kvrpcpb.GetResponse__Input | undefined;
        void leader.txn!.get({ context: sim.context(leader), key: Buffer.from('t'), version: '1' }).then((r) => {
          txnAnswer = r;
        });
        assert.ok(await advanceUntil(sim, () => txnAnswer !== undefined), 'the transactional read was never answered');
        assert.equal(txnAnswer?.notFound, true);
        const kind = isLeaseReadEnabled ? 'lease' : 'read-index';
        const other = isLeaseReadEnabled ? 'read-index' : 'lease';
        assert.equal((leader.readsByKind.get(kind) ?? 0) - (before.get(kind) ?? 0), 2, `two ${kind} reads counted`);
        assert.equal(leader.readsByKind.get(other) ?? 0, before.get(other) ?? 0, `no ${other} read counted`);
      } finally {
        await sim.stop();
      }
    }
  });
});

describe('lease reads during a leader transfer', () => {
  it('a leader stops serving lease reads the moment it hands its leadership over (the transferee may lead within a step)', async () => {
    await withLeaseHolder(93, async (sim, leader, peerOn) => {
      const target = sim.nodes.find((n) => n !== leader)!;
      assert.ok(sim.transferLeader(sim.region.id, target.storeId), 'no transfer began');
      assert.equal(peerOn(leader).isLeaseReadable, false, 'the leader still serves lease reads after handing its leadership over');
      assert.ok(await advanceUntil(sim, () => {
        assert.equal(peerOn(leader).isLeader && peerOn(leader).isLeaseReadable, false, 'the old leader served from its lease while the transfer ran');
        return sim.leader() === target;
      }), 'the transfer never completed');
      assert.deepEqual(sim.staleLeaseReads, []);
    });
  });
});

describe('blind writes refused at once', () => {
  it('a blind put refused at once does not let a later compare-and-swap read past an earlier blind put still in flight', async () => {
    // Blind puts release their latches once proposed; a reading command waits for every blind
    // write queued on its keys before it. Here the second put is refused at once (its entry is too
    // large for raft) while the first is still unapplied: the CAS must still wait for the first.
    const sim = await StoreSim.start(3, { rng: createRng(77), dropRate: 0, maxDelaySteps: 0, kvLimits: { valueBytesMax: 16 << 20 } });
    try {
      assert.ok(await advanceUntil(sim, () => sim.leader()?.store?.peers.get(sim.region.id)?.isLeaderReady === true), 'no ready leader');
      const leader = await electedLeader(sim);
      const key = Buffer.from('k');
      // A write first wakes the region (a quiet group serves no lease reads), and its acks renew
      // the lease; then the leader is cut off, so the next put cannot commit while the lease
      // still serves reads.
      let isWarm = false;
      void leader.raw.put({ context: sim.context(leader), key: Buffer.from('warm'), value: Buffer.from('w'), ttlSeconds: '0' }).then(() => {
        isWarm = true;
      });
      assert.ok(await advanceUntil(sim, () => isWarm), 'the first write was never answered');
      sim.isolate(leader.storeId, true);
      let isFirstDone = false;
      void leader.raw.put({ context: sim.context(leader), key, value: Buffer.from('v1'), ttlSeconds: '0' }).finally(() => {
        isFirstDone = true;
      }).catch(() => undefined);
      const refused = leader.raw.put({ context: sim.context(leader), key, value: Buffer.alloc(9 << 20, 1), ttlSeconds: '0' });
      await assert.rejects(refused, (e: unknown) => e instanceof FlotillaError && e.code === 'RaftEntryTooLarge');
      let answer: { succeeded: boolean; previous: string | null } | string | undefined;
      void leader.raw.compareAndSwap({ context: sim.context(leader), key, value: Buffer.from('v2'), ttlSeconds: '0', previousNotExist: false, previousValue: Buffer.from('v1') })
        .then((r) => {
          answer = { succeeded: r.succeeded === true, previous: r.previousNotExist === true ? null : String(r.previousValue) };
        }, (err: unknown) => {
          answer = `refused: ${String(err)}`;
        });
      for (let i = 0; i < 3 && answer === undefined; i++) await sim.advance();
      sim.isolate(leader.storeId, false);
      assert.ok(await advanceUntil(sim, () => answer !== undefined), 'the compare-and-swap was never answered');
      assert.ok(await advanceUntil(sim, () => isFirstDone), 'the first put was never answered');
      assert.deepEqual(answer, { succeeded: true, previous: 'v1' }, 'the CAS read the key before the put queued ahead of it applied');
    } finally {
      await sim.stop();
    }
  });
});

describe('write admission', () => {
  it('every write kind is refused ServerIsBusy exactly while the store has pendingProposalsMax proposals in flight, and taken again once they apply', async () => {
    // The rule (kv-writes.ts): a write command is admitted only while fewer than
    // pendingProposalsMax proposals are in flight on the store. Each kind — the blind raw writes
    // (put, batch put, delete, batch delete: the uncontended path runs without awaits) and a
    // reading write (compare-and-swap) — is tried with the store one below the bound and at it,
    // the in-flight writes held unapplied by cutting the leader off.
    const LIMIT = 3;
    const sim = await StoreSim.start(3, { rng: createRng(91), dropRate: 0, maxDelaySteps: 0, kvLimits: { pendingProposalsMax: LIMIT } });
    try {
      const leader = await electedLeader(sim);
      const raw = leader.raw;
      const ctx = (): kvrpcpb.Context => sim.context(leader);
      const b = (s: string): Buffer => Buffer.from(s);
      const kinds: Record<string, (key: Buffer) => Promise<unknown>> = {
        put: (key) => raw.put({ context: ctx(), key, value: b('v'), ttlSeconds: '0' }),
        batchPut: (key) => raw.batchPut({ context: ctx(), pairs: [{ key, value: b('v'), error: null }], ttlsSeconds: [] }),
        delete: (key) => raw.delete({ context: ctx(), key }),
        batchDelete: (key) => raw.batchDelete({ context: ctx(), keys: [key] }),
        compareAndSwap: (key) => raw.compareAndSwap({ context: ctx(), key, value: b('1'), previousValue: Buffer.alloc(0), previousNotExist: true, ttlSeconds: '0' }),
      };
      let n = 0;
      let cases = 0;
      for (const [kind, write] of Object.entries(kinds)) {
        for (const inFlight of [LIMIT - 1, LIMIT]) {
          // A write first wakes the region and renews the lease (the CAS reads by it while cut off).
          const warm = track(kinds['put']!(b(`warm${n}`)));
          assert.ok(await advanceUntil(sim, () => warm.settled), 'the warm-up write was never answered');
          sim.isolate(leader.storeId, true);
          const held = Array.from({ length: inFlight }, (_, i) => track(kinds['put']!(b(`held${n}-${i}`))));
          assert.equal(leader.writes!.pendingProposals, inFlight, `${kind}: proposals held in flight`);
          const probe = track(write(b(`probe${n++}`)));
          await settle();
          const what = `${kind} with ${inFlight} of ${LIMIT} proposals in flight`;
          if (inFlight >= LIMIT) {
            assert.equal(outcomeOf(probe), 'ServerIsBusy', what);
          } else {
            assert.equal(probe.settled, false, `${what}: answered ${outcomeOf(probe)} instead of being proposed`);
            assert.equal(leader.writes!.pendingProposals, LIMIT, `${what}: not proposed`);
          }
          sim.isolate(leader.storeId, false);
          assert.ok(await advanceUntil(sim, () => probe.settled && held.every((h) => h.settled)), `${what}: never answered after healing`);
          for (const h of held) assert.equal(outcomeOf(h), 'ok', `${what}: a held put`);
          if (inFlight < LIMIT) assert.equal(outcomeOf(probe), 'ok', `${what}: after healing`);
          assert.equal(leader.writes!.pendingProposals, 0);
          cases++;
        }
      }
      assert.equal(cases, 10);
    } finally {
      await sim.stop();
    }
  });
});

describe('raw scan over expired keys', () => {
  it('skips expired keys and still returns exactly limit live pairs when there are that many: a model over ranges, limits, directions and keyOnly', async () => {
    // The raw CF keeps expired keys until the sweep deletes them; a scan drops them as it reads,
    // so a page that met some reads on for the rest of its limit. Judged against a sorted map of
    // the live keys, with the raw API's clock moved past the short TTLs (no waiting).
    let nowMs = 1_000_000;
    const rng = createRng(4_701);
    const sim = await StoreSim.start(3, { rng: rng.fork(), dropRate: 0, maxDelaySteps: 0, rawNowMs: () => nowMs });
    try {
      const leader = await electedLeader(sim);
      const node: SimNode = leader;
      const raw = leader.raw;
      /** Runs a request to its answer, driving the sim meanwhile (writes and read barriers need rounds). */
      const drive = async <T>(request: Promise<T>): Promise<T> => {
        let settled = false;
        const tracked = request.finally(() => {
          settled = true;
        });
        for (let i = 0; i < 500 && !settled; i++) await sim.advance();
        assert.ok(settled, 'a request did not settle within 500 sim steps');
        return tracked;
      };
      const keyCount = 60;
      const keyOf = (i: number): string => `s${String(i).padStart(2, '0')}`;
      const live = new Map<string, string>();
      let expiredCount = 0;
      for (let i = 0; i < keyCount; i++) {
        const ttl = ['0', '1', '1', '3600'][rng.nextInt(4)]!;
        await drive(raw.put({ ...putRequest(sim, node, keyOf(i), `v${i}`), ttlSeconds: ttl }));
        if (ttl === '1') expiredCount++;
        else live.set(keyOf(i), `v${i}`);
      }
      assert.ok(expiredCount > 10 && live.size > 10, `a run that proves something needs both: ${expiredCount} expired, ${live.size} live`);
      nowMs += 2_000; // past every 1 s TTL, within the 3600 s ones
      const sortedLive = [...live.keys()].sort();
      let limitReached = 0;
      for (let run = 0; run < 200; run++) {
        const a = rng.nextInt(keyCount + 1);
        const z = a + 1 + rng.nextInt(keyCount + 1 - a);
        const startKey = a === 0 ? Buffer.alloc(0) : Buffer.from(keyOf(a));
        const endKey = z >= keyCount ? Buffer.alloc(0) : Buffer.from(keyOf(z));
        const limit = 1 + rng.nextInt(keyCount);
        const reverse = rng.nextInt(2) === 0;
        const keyOnly = rng.nextInt(2) === 0;
        const inRange = sortedLive.filter((k) => (a === 0 || k >= keyOf(a)) && (z >= keyCount || k < keyOf(z)));
        const expected = (reverse ? inRange.reverse() : inRange).slice(0, limit).map((k) => `${k}=${keyOnly ? '' : live.get(k)!}`);
        if (inRange.length >= limit) limitReached++;
        const r = await drive<kvrpcpb.RawScanResponse__Input>(raw.scan({ context: sim.context(node), startKey, endKey, limit, keyOnly, reverse }));
        const got = (r.kvs ?? []).map((p: kvrpcpb.KvPair__Input) => `${Buffer.from(p.key as Buffer).toString()}=${Buffer.from(p.value as Buffer).toString()}`);
        assert.deepEqual(got, expected, `scan [${keyOf(a)}, ${keyOf(z)}) limit ${limit}${reverse ? ' reverse' : ''}${keyOnly ? ' keyOnly' : ''}`);
      }
      assert.ok(limitReached > 20, `only ${limitReached} scans had their limit reached`);
    } finally {
      await sim.stop();
    }
  });
});

/** Steps until the first region has a ready leader (at most 300 steps). */
async function awaitLeader(sim: StoreSim, what = 'no leader'): Promise<SimNode> {
  let leader: SimNode | undefined;
  for (let i = 0; i < 300 && leader === undefined; i++) {
    await sim.advance();
    leader = sim.leader();
  }
  assert.ok(leader !== undefined, what);
  return leader;
}

describe('a saved commit index behind the apply state (a crash between the apply batch and the hard state write)', () => {
  it('is raised to the applied index at restart: the replica opens, keeps every write and the region serves', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(21), dropRate: 0, maxDelaySteps: 0 });
    try {
      const leader = await awaitLeader(sim);
      const putAcked = async (node: SimNode, key: string, value: string): Promise<void> => {
        let acked = false;
        void node.raw!.put(putRequest(sim, node, key, value)).then(() => {
          acked = true;
        });
        for (let i = 0; i < 200 && !acked; i++) await sim.advance();
        assert.ok(acked, `${key} was not acknowledged`);
      };
      for (let i = 0; i < 5; i++) await putAcked(leader, `k${i}`, `v${i}`);
      assert.ok(await advanceUntil(sim, () => isQuiet(sim), 2_000), 'did not settle');
      await sim.quiesce(); // the last apply batch is written
      const hsKey = raftHardStateKey(sim.region.id);
      const applied = decodeApplyState((await leader.engine.get(applyStateKey(sim.region.id)))!, sim.region.id).appliedIndex;
      const saved = decodeHardState((await leader.engine.get(hsKey))!);
      sim.kill(leader);
      // The poll loop writes a round's hard state and applies entries it already holds durably in
      // two batches that may land in either order: leave the disk as if the apply batch landed and
      // the commit index that allowed it did not.
      await leader.engine.write([{ kind: 'put', cf: 'local', key: hsKey, value: encodeHardState({ ...saved, commit: applied - 3 }) }], { sync: true });
      await sim.restart(leader);
      const peer = leader.store!.peers.get(sim.region.id)!;
      assert.equal(peer.applied, applied, 'the restarted replica resumes at its apply state');
      const next = await awaitLeader(sim, 'no leader after the restart');
      await putAcked(next, 'after', 'restart');
      assert.ok(await advanceUntil(sim, () => isQuiet(sim), 2_000), 'did not settle after the restart');
      await sim.quiesce();
      for (const node of sim.nodes) {
        const contents = await rawContents(node.engine, sim.region);
        assert.equal(contents.length, 6, `store ${node.storeId}: ${contents.join(' ')}`);
      }
    } finally {
      await sim.stop();
    }
  });
});

describe('a new leader serves reads only once it has applied what earlier leaders committed', () => {
  it('does not answer a read from state whose apply batch is still being written', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(11), dropRate: 0, maxDelaySteps: 0 });
    try {
      const old = await awaitLeader(sim);
      const [f, g] = sim.nodes.filter((n) => n !== old) as [SimNode, SimNode];
      // The write reaches one follower (f) only; the old leader commits and acknowledges it…
      sim.setCut(old.storeId, g.storeId, true);
      let acked = false;
      void old.raw!.put(putRequest(sim, old, 'k', 'acknowledged')).then(() => {
        acked = true;
      });
      for (let i = 0; i < 200 && !acked; i++) await sim.advance();
      assert.ok(acked, 'the write was not acknowledged');
      // …and is cut off before f learns the commit index. f's disk is slow from now on.
      sim.setCut(old.storeId, f.storeId, true);
      f.writeTurns = 40;
      const peerOf = (n: SimNode) => n.store!.peers.get(sim.region.id)!;
      assert.ok(peerOf(f).applied < peerOf(old).applied, 'f already applied the write');
      let checked = false;
      for (let i = 0; i < 2_000 && !checked; i++) {
        await sim.advance();
        for (const n of [f, g]) {
          if (!peerOf(n).isLeader) continue; // also before it is ready: the read barrier must hold it
          // The read may need a ReadIndex round: keep the simulation going until it answers.
          let got: kvrpcpb.RawGetResponse__Input | null = null;
          let failed: unknown = null;
          void n.raw!.get({ context: sim.context(n), key: Buffer.from('k') }).then((r) => {
            got = r;
          }, (err: unknown) => {
            failed = err;
          });
          for (let j = 0; j < 200 && got === null && failed === null; j++) await sim.advance();
          if (failed !== null) continue; // leadership moved on meanwhile: try again
          const answer = got as kvrpcpb.RawGetResponse__Input | null;
          assert.ok(answer !== null, 'the read never answered');
          assert.equal(answer.value?.toString(), 'acknowledged', `store ${n.storeId} led and read ${answer.notFound === true ? 'nothing' : String(answer.value)}`);
          // Keep reading at every step until a read was served by a ready leader.
          if (peerOf(n).isLeaderReady) checked = true;
        }
      }
      assert.ok(checked, 'no new leader became ready');
    } finally {
      await sim.stop();
    }
  });
});

describe('region key counts (approximateKeys) are kept at apply', () => {
  it('equal the raw and latest records of every replica through overwrites, deletes, batches, transactions, crashes and an old apply state', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(23), dropRate: 0, maxDelaySteps: 1 });
    const peerOf = (n: SimNode) => n.store!.peers.get(sim.region.id)!;
    /** Runs `op` against the current leader while the simulation advances; returns its answer. */
    const run = async <T>(op: (leader: SimNode) => Promise<T>): Promise<T> => {
      let leader: SimNode | undefined;
      for (let i = 0; i < 300 && leader === undefined; i++) {
        await sim.advance();
        leader = sim.leader();
      }
      assert.ok(leader !== undefined, 'no leader');
      let settled = false;
      const p = op(leader).finally(() => {
        settled = true;
      });
      for (let i = 0; i < 300 && !settled; i++) await sim.advance();
      return p;
    };
    /** Every replica caught up with the leader holds exactly as many keys as it counts. */
    const check = async (what: string, expected?: number): Promise<void> => {
      let isCaughtUp = false;
      for (let i = 0; i < 300 && !isCaughtUp; i++) {
        await sim.advance();
        const leader = sim.leader();
        // Applied and written: an apply batch in flight has counted keys it has not written yet.
        isCaughtUp = leader !== undefined && sim.nodes.every((n) => n.store !== null && peerOf(n).applied === peerOf(leader).applied && n.store.loop.isIdle);
      }
      assert.ok(isCaughtUp, `${what}: replicas did not catch up`);
      for (const n of sim.nodes) {
        const actual = await countedKeys(n.engine);
        assert.equal(peerOf(n).approximateKeys, actual, `${what}: store ${n.storeId} counts ${peerOf(n).approximateKeys}, holds ${actual}`);
        if (expected !== undefined) assert.equal(actual, expected, `${what}: store ${n.storeId} holds ${actual} keys`);
      }
    };
    const b = (s: string): Buffer => Buffer.from(s);
    const ctx = (n: SimNode) => sim.context(n);
    const pair = (k: string) => ({ key: b(k), value: b(`v-${k}`), error: null });
    try {
      await run((l) => l.raw!.batchPut({ context: ctx(l), pairs: Array.from({ length: 20 }, (_, i) => pair(`k${String(i).padStart(2, '0')}`)), ttlsSeconds: [] }));
      await check('20 new keys', 20);
      for (let i = 0; i < 5; i++) await run((l) => l.raw!.put({ context: ctx(l), key: b(`k0${i}`), value: b('again'), ttlSeconds: '0' }));
      await check('5 overwrites', 20);
      await run((l) => l.raw!.batchPut({ context: ctx(l), pairs: [pair('x'), pair('x'), pair('y')], ttlsSeconds: [] }));
      await check('a batch putting one new key twice', 22);
      await run((l) => l.raw!.delete({ context: ctx(l), key: b('k05') }));
      await run((l) => l.raw!.delete({ context: ctx(l), key: b('absent') }));
      await check('a delete and a delete of an absent key', 21);
      await run((l) => l.raw!.batchDelete({ context: ctx(l), keys: [b('k06'), b('k06'), b('absent2')] }));
      await check('a batch deleting one key twice and an absent one', 20);
      await run((l) => l.raw!.compareAndSwap({ context: ctx(l), key: b('c'), value: b('1'), previousValue: Buffer.alloc(0), previousNotExist: true, ttlSeconds: '0' }));
      await check('a CAS creating a key', 21);
      await run((l) => l.raw!.deleteRange({ context: ctx(l), startKey: b('k1'), endKey: b('k2') }));
      await check('a delete range over k10..k19', 11);
      // Transactions: a committed put creates a latest record; a committed delete keeps it (kind delete).
      const txn = async (startTs: bigint, mutations: { op: 'Put' | 'Del'; key: string }[]): Promise<void> => {
        const keys = mutations.map((m) => b(m.key));
        const pw = await run((l) => l.txn!.prewrite({
          context: ctx(l), mutations: mutations.map((m) => ({ op: m.op, key: b(m.key), value: b('t') })), primaryLock: keys[0]!,
          startVersion: String(startTs), lockTtl: '3000', skipConstraintCheck: false, txnSize: String(keys.length), minCommitTs: '0', maxCommitTs: '0', tryOnePc: false,
        }));
        assert.deepEqual(pw.errors ?? [], []);
        const c = await run((l) => l.txn!.commit({ context: ctx(l), keys, startVersion: String(startTs), commitVersion: String(startTs + 1n) }));
        assert.equal(c.error ?? null, null);
      };
      await txn(100n, [{ op: 'Put', key: 't1' }, { op: 'Put', key: 't2' }, { op: 'Put', key: 't3' }]);
      await check('a transaction writing three keys', 14);
      await txn(200n, [{ op: 'Put', key: 't1' }, { op: 'Del', key: 't2' }]);
      await check('a transaction overwriting one and deleting one', 14);
      // Crashes: the count is persisted with the apply state, in step with the applied index.
      for (const victim of [sim.nodes[0]!, sim.leader()!]) {
        await sim.crash(victim);
        await run((l) => l.raw!.batchPut({ context: ctx(l), pairs: [pair(`z${victim.storeId}a`), pair(`z${victim.storeId}b`)], ttlsSeconds: [] }));
        await sim.restart(victim);
        await check(`store ${victim.storeId} crashed and restarted`);
      }
      // An apply state written before it kept a key count (version 1): counted at load.
      const old = sim.nodes[2]!;
      await sim.crash(old);
      const saved = (await old.engine.get(applyStateKey(sim.region.id)))!;
      const v1 = Buffer.alloc(29);
      saved.copy(v1, 0, 0, 25);
      v1[0] = 1;
      v1.writeUInt32BE(crc32(v1, 0, 25), 25);
      await old.engine.write([{ kind: 'put', cf: 'local', key: applyStateKey(sim.region.id), value: v1 }], { sync: true });
      await sim.restart(old);
      assert.equal(peerOf(old).approximateKeys, await countedKeys(old.engine), 'counted at load');
      await run((l) => l.raw!.put({ context: ctx(l), key: b('after-v1'), value: b('1'), ttlSeconds: '0' }));
      await check('after loading a version-1 apply state');
    } finally {
      await sim.stop();
    }
  });
});

/** Advances the simulation until `done()` holds (at most `steps` steps); returns whether it did. */
/** The error code of a settled rejection, or 'pending' / 'ok'. */
function outcomeOf(state: { settled: boolean; error: unknown }): string {
  if (!state.settled) return 'pending';
  if (state.error === null) return 'ok';
  return state.error instanceof FlotillaError ? state.error.code : state.error instanceof Error ? state.error.message : 'non-Error rejection';
}

function track(p: Promise<unknown>): { settled: boolean; error: unknown } {
  const state: { settled: boolean; error: unknown } = { settled: false, error: null };
  p.then(() => {
    state.settled = true;
  }, (err: unknown) => {
    state.settled = true;
    state.error = err;
  });
  return state;
}

describe('a write command whose leader lost and regained leadership between its read and its proposal (planted bug P3)', () => {
  it('is refused (StaleCommand), so a compare-and-swap decided on the old read cannot overwrite the other leader\'s acknowledged write', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(31), dropRate: 0, maxDelaySteps: 0 });
    const peerOf = (n: SimNode) => n.store!.peers.get(sim.region.id)!;
    try {
      assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
      const a = sim.leader()!;
      const others = sim.nodes.filter((n) => n !== a);
      const key = rawKey(Buffer.from('cas'));
      // A compare-and-swap on A: "put from-A if the key is absent". It reads, then stalls (an
      // await gap: a slow engine, a long decide) with its latch held.
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let hasRead = false;
      const cas = track(a.writes!.latched(peerOf(a), [key], async () => {
        const current = await a.engine.readView().get(key);
        hasRead = true;
        await gate;
        return { ops: current === null ? [{ kind: 'put' as const, cf: 'raw' as const, key, value: encodeRawValue(Buffer.from('from-A'), 0) }] : [], result: current === null };
      }));
      assert.ok(await advanceUntil(sim, () => hasRead), 'the CAS never read');
      const termOfRead = peerOf(a).term;
      // A is cut off and deposed; another leader acknowledges a write of the key…
      for (const o of others) sim.setCut(a.storeId, o.storeId, true);
      assert.ok(await advanceUntil(sim, () => !peerOf(a).isLeader && sim.leader() !== undefined && sim.leader() !== a), 'A was not deposed');
      const b = sim.leader()!;
      const put = track(b.raw!.put({ context: sim.context(b), key: Buffer.from('cas'), value: Buffer.from('from-B'), ttlSeconds: '0' }));
      assert.ok(await advanceUntil(sim, () => put.settled), 'the write on the new leader did not settle');
      assert.equal(outcomeOf(put), 'ok');
      // …then A comes back and leads again, in a later term, before the CAS proposes.
      for (const o of others) sim.setCut(a.storeId, o.storeId, false);
      assert.ok(await advanceUntil(sim, () => peerOf(a).applied >= peerOf(b).applied), 'A did not catch up');
      peerOf(b).raw.transferLeader(peerOf(a).peerId);
      b.store!.loop.markDirty(peerOf(b));
      assert.ok(await advanceUntil(sim, () => peerOf(a).isLeaderReady), 'A did not lead again');
      assert.ok(peerOf(a).term > termOfRead);
      release();
      assert.ok(await advanceUntil(sim, () => cas.settled), 'the CAS never settled');
      assert.equal(outcomeOf(cas), 'StaleCommand', 'a command must not propose in a term other than the one it read in');
      for (let i = 0; i < 20; i++) await sim.advance();
      const got = await a.raw!.get({ context: sim.context(a), key: Buffer.from('cas') });
      assert.equal(got.value?.toString(), 'from-B', 'the acknowledged write was overwritten by a CAS decided on a stale read');
    } finally {
      await sim.stop();
    }
  });
});

describe('a deposed leader\'s pending ReadIndex reads (planted bug P10)', () => {
  it('fail at once with NotLeader when it steps down, not at their timeout', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(37), dropRate: 0, maxDelaySteps: 0, isLeaseReadEnabled: false });
    const peerOf = (n: SimNode) => n.store!.peers.get(sim.region.id)!;
    try {
      assert.ok(await advanceUntil(sim, () => sim.leader() !== undefined), 'no leader');
      const a = sim.leader()!;
      for (const o of sim.nodes) if (o !== a) sim.setCut(a.storeId, o.storeId, true);
      // Every read is a ReadIndex round here. Raft answers one from its lease while that holds
      // (the store's raft runs lease-based), so wait until the lease has run out and A still
      // leads; cut off, A cannot have the read confirmed.
      assert.ok(await advanceUntil(sim, () => !peerOf(a).raw.isLeaseValid()), 'A\'s lease never ran out');
      assert.ok(peerOf(a).isLeader, 'A stepped down before its lease ran out');
      const read = track(a.raw!.get({ context: sim.context(a), key: Buffer.from('k') }));
      for (let i = 0; i < 3; i++) await sim.advance();
      assert.equal(outcomeOf(read), 'pending', 'the read was answered without a quorum');
      assert.ok(await advanceUntil(sim, () => !peerOf(a).isLeader), 'A never stepped down (check quorum)');
      // The role change is handled in the round that reports it: a step or two, not 5 s.
      await advanceUntil(sim, () => read.settled, 3);
      assert.equal(outcomeOf(read), 'NotLeader', 'a deposed leader must fail its pending reads at once');
    } finally {
      await sim.stop();
    }
  });
});

describe('one hot key: blind writes release their latch once queued, compare-and-swaps still see them', () => {
  // Puts and compare-and-swaps of one key, many in flight over random disk and network delays.
  // The leader's raft log is the witness order: every acknowledged write is in it once; a
  // successful CAS's write directly follows a write of the value it expected (or no write, for
  // "absent"); a failed CAS reports a value that was written before it; and an operation that
  // answered before another was issued comes first. A CAS that read the key while a blind write
  // queued before it was still unapplied breaks the second rule.
  for (const seed of [1, 2, 3, 4]) {
    it(`keeps log order and CAS reads consistent (seed ${seed})`, async () => {
      const rng = createRng(1000 + seed);
      const sim = await StoreSim.start(3, {
        rng: rng.fork(), dropRate: 0, maxDelaySteps: 2, raftLogGc: { thresholdBytes: 1 << 30, countLimit: 1_000_000, hardCountLimit: 10_000_000, checkTicks: 1_000 },
      });
      try {
        assert.ok(await advanceUntil(sim, () => sim.leader()?.store?.peers.get(sim.region.id)?.isLeaderReady === true), 'no ready leader');
        const leader = sim.leader()!;
        const key = Buffer.from('hot');
        interface Op { kind: 'put' | 'cas'; value: string; expected: string | null; invokedAt: number; answeredAt: number; outcome: 'pending' | 'ok' | 'failed' | 'error'; previous: string | null }
        const ops: Op[] = [];
        const issued: string[] = [];
        let n = 0;
        for (let step = 0; step < 120; step++) {
          const count = rng.nextInt(4);
          for (let i = 0; i < count; i++) {
            const isCas = rng.chance(0.4);
            const value = `${isCas ? 'c' : 'p'}${n++}`;
            const op: Op = { kind: isCas ? 'cas' : 'put', value, expected: null, invokedAt: sim.step, answeredAt: -1, outcome: 'pending', previous: null };
            ops.push(op);
            if (!isCas) {
              leader.raw!.put({ context: sim.context(leader), key, value: Buffer.from(value), ttlSeconds: '0' }).then(() => {
                op.outcome = 'ok';
                op.answeredAt = sim.step;
              }, () => {
                op.outcome = 'error';
              });
            } else {
              // Expect the latest value issued (often still in flight), an older one, or absence.
              const roll = rng.nextFloat();
              op.expected = issued.length === 0 || roll < 0.1 ? null : roll < 0.8 ? issued[issued.length - 1]! : issued[rng.nextInt(issued.length)]!;
              leader.raw!.compareAndSwap({
                context: sim.context(leader), key, value: Buffer.from(value), ttlSeconds: '0',
                previousNotExist: op.expected === null, previousValue: op.expected === null ? Buffer.alloc(0) : Buffer.from(op.expected),
              }).then((r) => {
                op.outcome = r.succeeded ? 'ok' : 'failed';
                op.previous = r.previousNotExist ? null : String(r.previousValue);
                op.answeredAt = sim.step;
              }, () => {
                op.outcome = 'error';
              });
            }
            issued.push(value);
          }
          await sim.advance();
        }
        assert.ok(await advanceUntil(sim, () => ops.every((o) => o.outcome !== 'pending'), 2_000), 'operations never settled');
        assert.ok(ops.every((o) => o.outcome !== 'error'), `errors on a stable leader: ${ops.filter((o) => o.outcome === 'error').length}`);
        // The witness: every put of the key in the leader's log, in order.
        const order: string[] = [];
        const range = raftLogRange(sim.region.id, 0, Number.MAX_SAFE_INTEGER);
        const snap = await leader.engine.snapshot();
        try {
          for (const kv of await snap.scan(range.start, range.end, { limit: 1_000_000 })) {
            const e = decodeEntry(raftLogIndexOf(kv.key), kv.value);
            if (e.type !== 'Normal' || e.data.length === 0) continue;
            const cmd = decodeCommand(e.data, 'witness');
            if (cmd.kind !== 'write') continue;
            for (const w of cmd.ops) if (w.kind === 'put' && w.key.equals(rawKey(key))) order.push(decodeRawValue(w.value).value.toString());
          }
        } finally {
          await snap.release();
        }
        const position = new Map(order.map((v, i) => [v, i]));
        assert.equal(position.size, order.length, 'a value written twice');
        const writes = ops.filter((o) => o.outcome === 'ok');
        assert.equal(order.length, writes.length, 'the log holds other writes than the acknowledged ones');
        let checkedCas = 0;
        for (const o of ops) {
          if (o.outcome === 'ok') {
            const at = position.get(o.value);
            assert.ok(at !== undefined, `${o.value} acknowledged but not in the log`);
            if (o.kind === 'cas') {
              checkedCas++;
              assert.equal(at === 0 ? null : order[at - 1], o.expected, `CAS ${o.value} expected ${String(o.expected)} but followed ${String(order[at - 1])}`);
            }
          } else if (o.kind === 'cas') {
            assert.notEqual(o.previous, o.expected, `CAS ${o.value} failed though it read what it expected`);
            assert.ok(o.previous === null || position.has(o.previous), `CAS ${o.value} read ${o.previous}, never written`);
          }
        }
        for (const a of writes) {
          for (const b of writes) {
            if (a.answeredAt < b.invokedAt) assert.ok(position.get(a.value)! < position.get(b.value)!, `${a.value} answered before ${b.value} was issued but comes after it`);
          }
        }
        assert.ok(checkedCas > 0, 'no CAS succeeded: the check saw nothing');
        const got = await leader.raw!.get({ context: sim.context(leader), key });
        assert.equal(got.value?.toString(), order[order.length - 1]);
      } finally {
        await sim.stop();
      }
    });
  }
});

describe('a replica removed while it was cut off is told so by a member (is_tombstone)', () => {
  it('destroys itself as soon as it is heard again — no stale check, no PD — and the members keep serving', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(43), dropRate: 0, maxDelaySteps: 1 });
    try {
      const regionId = sim.region.id;
      sim.isolate(3, true);
      let leader: SimNode | undefined;
      for (let i = 0; i < 300 && leader === undefined; i++) {
        await sim.advance();
        leader = sim.leader();
      }
      assert.ok(leader !== undefined && leader.storeId !== 3, 'stores 1 and 2 elected a leader');
      const store3 = sim.nodes[2]!;
      const stale = store3.store!.peers.get(regionId)!;
      const staleConfVer = stale.region.epoch.confVer;
      // A write store 3 gets as data before it is cut off for good: it must be cleared with the replica.
      sim.isolate(3, false);
      const before = leader.raw!.put(putRequest(sim, leader, 'before', 'v'));
      assert.ok(await advanceUntil(sim, () => store3.store!.peers.get(regionId)!.applied >= leader.store!.peers.get(regionId)!.applied, 300), 'store 3 caught up');
      await before;
      sim.isolate(3, true);
      const removal = sim.changePeer(regionId, 'remove', 3);
      for (let i = 0; i < 50; i++) await sim.advance();
      assert.equal((await removal).kind, 'ok');
      assert.equal(stale.region.epoch.confVer, staleConfVer, 'store 3 did not hear its removal');
      // Healed: store 3 hears no leader (the leader no longer sends to it) and campaigns; the
      // members answer is_tombstone. No stale check runs in this test.
      sim.isolate(3, false);
      assert.ok(await advanceUntil(sim, () => !store3.store!.peers.has(regionId), 600), 'store 3 kept its removed replica');
      assert.ok(sim.counters.tombstonesSent > 0, 'the members sent is_tombstone');
      assert.equal(sim.counters.stalePeersDestroyed, 0);
      const tombstone = store3.store!.tombstones.get(regionId);
      assert.equal(tombstone?.epoch.confVer, staleConfVer + 1, 'the tombstone sits at the earliest confVer of the removal');
      for (let i = 0; i < 20; i++) await sim.advance();
      assert.deepEqual(await rawContents(store3.engine), [], 'the removed replica\'s data is cleared');
      // Its campaigns never reached raft: the members kept their leader and serve.
      const after = sim.leader()!;
      const put = after.raw!.put(putRequest(sim, after, 'after', 'v'));
      for (let i = 0; i < 50; i++) await sim.advance();
      assert.equal((await put).regionError ?? null, null, 'the members serve');
    } finally {
      await sim.stop();
    }
  });
});

describe('a leader that removes itself', () => {
  // etcd-io/etcd#10563 at the store: destroyed as it applied its removal, the leader of {1,2} left
  // a survivor that never learned the removal committed needing its vote for ever. It now leads
  // on, serving nothing, until the survivor holds the removal, and only then is destroyed.
  it('leads on, refusing requests, until the voter left holds the removal; then it is destroyed and the survivor leads alone', async () => {
    const sim = await StoreSim.start(3, { rng: createRng(47), dropRate: 0, maxDelaySteps: 1 });
    try {
      const regionId = sim.region.id;
      let leader: SimNode | undefined;
      for (let i = 0; i < 300 && leader === undefined; i++) {
        await sim.advance();
        leader = sim.leader();
      }
      assert.ok(leader !== undefined, 'a leader was elected');
      const third = sim.nodes.find((n) => n !== leader)!;
      assert.equal((await drive(sim, sim.changePeer(regionId, 'remove', third.storeId))).kind, 'ok');
      assert.ok(await advanceUntil(sim, () => third.store!.peers.get(regionId) === undefined, 300), 'the third replica left');
      const survivor = sim.nodes.find((n) => n !== leader && n !== third)!;
      const before = leader.raw!.put(putRequest(sim, leader, 'before', 'v'));
      await drive(sim, before);
      const leaving = leader.store!.peers.get(regionId)!;
      const removal = sim.changePeer(regionId, 'remove', leader.storeId);
      const removalIndex = leaving.raw.raft.raftLog.lastIndex();
      // The survivor acknowledges the removal but hears of no commit at or past it except with
      // an entry after it (only the leaver's handoff entry can be one: nothing else is proposed).
      sim.intercept = (m) => {
        if (m.from !== leader.storeId || m.to !== survivor.storeId || (m.message.type !== 'MsgApp' && m.message.type !== 'MsgHeartbeat')) return 'deliver';
        if (m.message.commit < removalIndex || m.message.entries.some((e) => e.index > removalIndex)) return 'deliver';
        return 'drop';
      };
      assert.ok(await advanceUntil(sim, () => leaving.isRemoved, 300), 'the leader applied its removal');
      assert.equal((await removal).kind, 'ok');
      const survivorPeer = survivor.store!.peers.get(regionId)!;
      assert.ok(survivorPeer.region.peers.length === 2, 'the survivor had not applied the removal');
      if (leaving.raw.role === 'Leader') {
        await assert.rejects(leader.raw!.put(putRequest(sim, leader, 'refused', 'v')), (e: unknown) => e instanceof FlotillaError && e.code === 'RegionNotFound', 'a leaving leader refuses writes');
      }
      assert.ok(await advanceUntil(sim, () => leader.store!.peers.get(regionId) === undefined, 300), 'the leaver was destroyed');
      assert.ok(leader.store!.tombstones.has(regionId), 'and left a tombstone');
      const led = await advanceUntil(sim, () => survivor.store!.peers.get(regionId)?.isLeaderReady === true, 600);
      const sp = survivor.store!.peers.get(regionId);
      assert.ok(led, `the survivor leads (${sp === undefined ? 'gone' : JSON.stringify({ role: sp.raw.role, term: sp.raw.term, commit: sp.raw.raft.raftLog.committed, last: sp.raw.raft.raftLog.lastIndex(), applied: sp.applied, removalIndex, peers: sp.region.peers })})`);
      assert.deepEqual(survivor.store!.peers.get(regionId)!.region.peers.map((p) => p.storeId), [survivor.storeId]);
      const after = drive(sim, survivor.raw!.put(putRequest(sim, survivor, 'after', 'v')));
      assert.equal((await after).regionError ?? null, null, 'the survivor serves');
      sim.intercept = null;
    } finally {
      await sim.stop();
    }
  });
});
