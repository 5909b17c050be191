// Driving the deterministic store simulator (store-sim.ts) from a test and judging its stores:
// advance until a condition holds, run an operation while the simulation advances, and check that
// every store's regions tile the key space, agree, and hold the same data on every replica, and
// that every replica's key count is exact.
import assert from 'node:assert/strict';
import { FlotillaError, type RegionMeta } from '../../common/index.js';
import { countedKeys, rawContents, type SimNode, type StoreSim } from './store-sim.js';

/** Advances the simulation until `done()` holds (at most `steps` steps); returns whether it did. */
export async function advanceUntil(sim: StoreSim, done: () => boolean, steps = 500): Promise<boolean> {
  for (let i = 0; i < steps && !done(); i++) await sim.advance();
  return done();
}

export interface Tracked<T> { settled: boolean; value: T | undefined; error: unknown }

export function track<T>(p: Promise<T>): Tracked<T> {
  const state: Tracked<T> = { settled: false, value: undefined, error: null };
  p.then((v) => {
    state.settled = true;
    state.value = v;
  }, (err: unknown) => {
    state.settled = true;
    state.error = err;
  });
  return state;
}

export function codeOf(err: unknown): string {
  return err instanceof FlotillaError ? err.code : err instanceof Error ? err.message : String(err);
}

/** Runs `op` while the simulation advances; its value, or it throws what it threw. */
export async function drive<T>(sim: StoreSim, p: Promise<T>, steps = 600): Promise<T> {
  const t = track(p);
  assert.ok(await advanceUntil(sim, () => t.settled, steps), 'the operation never settled');
  if (t.error !== null) throw t.error instanceof Error ? t.error : new Error(codeOf(t.error));
  return t.value as T;
}


export function initializedRegions(node: SimNode): RegionMeta[] {
  return [...node.store!.peers.values()].filter((p) => p.storage.lastIndex() > 0).map((p) => p.region).sort((x, y) => Buffer.compare(x.startKey, y.startKey));
}

export function describeRegion(r: RegionMeta): string {
  const peers = [...r.peers].sort((x, y) => x.id - y.id).map((p) => `${p.id}@${p.storeId}${p.role === 'learner' ? 'L' : ''}`).join(',');
  return `${r.id}[${r.startKey.toString('hex')},${r.endKey.toString('hex')}) v${r.epoch.version}c${r.epoch.confVer} {${peers}}`;
}

/** Every store's initialized regions tile the key space, and all stores agree on range, epoch and peers. */
export function checkTiling(sim: StoreSim, what: string): RegionMeta[] {
  let first: string[] | null = null;
  for (const node of sim.nodes) {
    const regions = initializedRegions(node);
    assert.ok(regions.length > 0, `${what}: store ${node.storeId} holds no region`);
    assert.equal(regions[0]!.startKey.length, 0, `${what}: store ${node.storeId}: the first region starts at ${regions[0]!.startKey.toString('hex')}`);
    for (let i = 1; i < regions.length; i++) {
      assert.ok(regions[i - 1]!.endKey.equals(regions[i]!.startKey), `${what}: store ${node.storeId}: gap or overlap between ${describeRegion(regions[i - 1]!)} and ${describeRegion(regions[i]!)}`);
    }
    assert.equal(regions[regions.length - 1]!.endKey.length, 0, `${what}: store ${node.storeId}: the last region ends before +∞`);
    const described = regions.map(describeRegion);
    if (first === null) first = described;
    else assert.deepEqual(described, first, `${what}: stores ${sim.nodes[0]!.storeId} and ${node.storeId} disagree about the regions`);
  }
  return initializedRegions(sim.nodes[0]!);
}

/** Every replica of every region holds the same raw data in the region's range. */
export async function checkReplicas(sim: StoreSim, what: string): Promise<void> {
  await sim.quiesce(); // every apply batch built is written (isQuiet)
  for (const region of initializedRegions(sim.nodes[0]!)) {
    const contents = await Promise.all(region.peers.map((p) => rawContents(sim.nodes[p.storeId - 1]!.engine, region)));
    for (let i = 1; i < contents.length; i++) assert.deepEqual(contents[i], contents[0], `${what}: replicas of region ${describeRegion(region)} differ (stores ${region.peers[0]!.storeId} and ${region.peers[i]!.storeId})`);
  }
}

/**
 * Once every key recount has ended (key-recount.ts), every replica's key count is exact: the
 * records it holds in the raw and latest CFs of its region.
 */
export async function checkKeyCounts(sim: StoreSim, what: string): Promise<number> {
  const recountsDone = await advanceUntil(sim, () => sim.nodes.every((n) => (n.store?.keyRecounter.pending ?? 0) === 0), 2_000);
  assert.ok(recountsDone, `${what}: key recounts still pending`);
  let counted = 0;
  for (const region of initializedRegions(sim.nodes[0]!)) {
    for (const p of region.peers) {
      const node = sim.nodes[p.storeId - 1]!;
      const peer = node.store!.peers.get(region.id)!;
      assert.equal(peer.isKeyCountPending, false, `${what}: region ${describeRegion(region)} on store ${node.storeId}: recount still pending`);
      assert.equal(peer.approximateKeys, await countedKeys(node.engine, region), `${what}: region ${describeRegion(region)} key count on store ${node.storeId}`);
      counted++;
    }
  }
  return counted;
}

/**
 * Steps a sim's conf change may stay unanswered before the run gives up on it, as PD's operator
 * step times out: a proposal whose leader lost leadership while the region then went idle is
 * undecided (its index not reached by the new leader's log) until the store's proposal timeout,
 * real time the sim does not pass (merge seed 574, split seed 2361 waited for ever).
 */
export const CONF_CHANGE_STEPS_MAX = 300;

/** Errors of routing and leadership a test's setup retries (the thing judged is elsewhere). */
const ROUTING_RETRYABLE = ['NotLeader', 'EpochNotMatch', 'StaleCommand', 'KeyNotInRegion', 'RegionNotFound', 'ServerIsBusy'];

/** Puts a raw key through the leader of its region, retrying routing errors (a step later each time). */
export async function putThroughLeader(sim: StoreSim, key: string, value: string): Promise<void> {
  await throughLeader(sim, key, (l) => l.node.raw!.put({ context: sim.context(l.node, l.peer), key: Buffer.from(key), value: Buffer.from(value), ttlSeconds: '0' }));
}

/** Reads a raw key through the leader of its region (null: absent), retrying routing errors. */
export async function getThroughLeader(sim: StoreSim, key: string): Promise<string | null> {
  const r = await throughLeader(sim, key, (l) => l.node.raw!.get({ context: sim.context(l.node, l.peer), key: Buffer.from(key) }));
  return r.notFound === true ? null : String(r.value);
}

async function throughLeader<T>(sim: StoreSim, key: string, call: (l: NonNullable<ReturnType<StoreSim['leaderFor']>>) => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 30; attempt++) {
    await advanceUntil(sim, () => sim.leaderFor(Buffer.from(key)) !== undefined);
    const l = sim.leaderFor(Buffer.from(key));
    assert.ok(l !== undefined, `no leader for ${key}`);
    try {
      return await drive(sim, call(l));
    } catch (err) {
      if (!ROUTING_RETRYABLE.includes(codeOf(err))) throw err;
      await sim.advance();
    }
  }
  return assert.fail(`${key}: kept failing through its leader`);
}

/**
 * Nothing left to do: every store runs with no destroy pending; every peer is initialized, holds
 * its region's newest shape and is neither merging nor holding entries; every region has a leader
 * and every member applied the leader's last index. A peer's applied index moves when its apply
 * batch is built, before it is written: checks that read the engines quiesce first (checkReplicas).
 * (Not waited for here: how many event-loop turns a write takes is not part of a seed's replay.)
 */
export function isQuiet(sim: StoreSim): boolean {
  if (sim.nodes.some((n) => n.store === null || n.store.pendingDestroys > 0)) return false;
  const regions = sim.newestRegions();
  for (const node of sim.nodes) {
    for (const peer of node.store!.peers.values()) {
      if (peer.storage.lastIndex() === 0 || peer.mergeState !== null || peer.hasHeldEntries) return false;
      const known = regions.get(peer.regionId);
      if (known === undefined || describeRegion(known) !== describeRegion(peer.region)) return false;
    }
  }
  for (const region of regions.values()) {
    const leader = sim.leader(region.id);
    if (leader === undefined) return false;
    const last = leader.store!.peers.get(region.id)!.storage.lastIndex();
    for (const p of region.peers) {
      const peer = sim.nodes[p.storeId - 1]!.store!.peers.get(region.id);
      if (peer === undefined || peer.peerId !== p.id || peer.applied !== last) return false;
    }
  }
  return true;
}

/**
 * Every region shape (id, version, range) any live store held, with the step it was first seen
 * (note() once per step). check() asserts what PD, and a store weighing a message against a stale
 * replica, rely on to order overlapping regions: one range per (id, version); two overlapping
 * shapes of different ids differ in version; and the one seen later has the higher version (a
 * split gives every piece a version above its parent's, a merge the union one above both halves).
 */
export class EpochLog {
  private readonly shapes = new Map<string, { readonly region: RegionMeta; readonly step: number }>();

  constructor(initial?: RegionMeta) {
    if (initial !== undefined) this.add(initial, -1);
  }

  note(sim: StoreSim): void {
    for (const node of sim.nodes) {
      for (const peer of node.store?.peers.values() ?? []) {
        if (peer.storage.lastIndex() > 0) this.add(peer.region, sim.step);
      }
    }
  }

  private add(r: RegionMeta, step: number): void {
    const key = `${r.id}/${r.epoch.version}/${r.startKey.toString('hex')}/${r.endKey.toString('hex')}`;
    if (!this.shapes.has(key)) this.shapes.set(key, { region: r, step });
  }

  check(what: string): void {
    const shapes = [...this.shapes.values()];
    const rangeOf = new Map<string, string>();
    for (const { region: r } of shapes) {
      const key = `${r.id}/${r.epoch.version}`;
      const range = `${r.startKey.toString('hex')}-${r.endKey.toString('hex')}`;
      assert.ok((rangeOf.get(key) ?? range) === range, `${what}: region ${r.id} at version ${r.epoch.version} had two ranges`);
      rangeOf.set(key, range);
    }
    for (let i = 0; i < shapes.length; i++) {
      for (let j = i + 1; j < shapes.length; j++) {
        const [x, y] = [shapes[i]!, shapes[j]!];
        if (x.region.id === y.region.id || !rangesOverlap(x.region, y.region)) continue;
        assert.notEqual(x.region.epoch.version, y.region.epoch.version, `${what}: overlapping regions ${describeRegion(x.region)} and ${describeRegion(y.region)} share a version`);
        if (x.step === y.step) continue;
        const [older, newer] = x.step < y.step ? [x, y] : [y, x];
        assert.ok(newer.region.epoch.version > older.region.epoch.version, `${what}: ${describeRegion(newer.region)} (first seen at step ${newer.step}) overlaps the older ${describeRegion(older.region)} (step ${older.step}) at a lower version`);
      }
    }
  }
}

function rangesOverlap(a: RegionMeta, c: RegionMeta): boolean {
  const aEndsFirst = a.endKey.length > 0 && Buffer.compare(a.endKey, c.startKey) <= 0;
  const cEndsFirst = c.endKey.length > 0 && Buffer.compare(c.endKey, a.startKey) <= 0;
  return !aEndsFirst && !cEndsFirst;
}

/**
 * No store holds two initialized regions whose ranges overlap — at every step, also right after a
 * restart. One window is allowed: a merge source whose target replica on the same store has
 * applied CommitMerge (the target took the union at apply) and which leaves once that apply batch
 * is written — visible when a step ends mid-round (merge sim seed 151: a store restarted and
 * caught up on both logs at once). The source refuses every request meanwhile (merging). The
 * target may have split in that same batch (merge sim seed 7495), so it need not hold all of the
 * source's range: past the merge's version and overlapping it is enough (as raft-store.ts's
 * isRetiredBy judges); a source that never leaves fails the run's convergence check instead.
 */
export function checkNoOverlap(sim: StoreSim, what: string): void {
  for (const node of sim.nodes) {
    if (node.store === null) continue;
    const peers = [...node.store.peers.values()].filter((p) => p.storage.lastIndex() > 0);
    const isAbsorbed = (p: (typeof peers)[number]): boolean => {
      const merge = p.mergeState;
      if (merge === null) return false;
      const target = node.store!.peers.get(merge.target.id);
      return target !== undefined && target.region.epoch.version > merge.target.epoch.version && rangesOverlap(target.region, p.region);
    };
    const regions = peers.filter((p) => !isAbsorbed(p)).map((p) => p.region).sort((x, y) => Buffer.compare(x.startKey, y.startKey));
    for (let i = 1; i < regions.length; i++) {
      const prev = regions[i - 1]!;
      assert.ok(prev.endKey.length > 0 && Buffer.compare(prev.endKey, regions[i]!.startKey) <= 0, `${what}: store ${node.storeId} holds overlapping regions ${describeRegion(prev)} and ${describeRegion(regions[i]!)} at step ${sim.step}`);
    }
  }
}
