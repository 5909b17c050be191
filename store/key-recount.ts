// Recounting a region's keys after a split or merge changed its range (peer.ts, "Key count").
//
// start() pins a view of the engine at once — the caller calls it right after the batch that
// changed the range was written, before the next apply batch — and tells the peer a recount began
// (the peer notes its working count then). Walks run one at a time in the background, page by
// page over the pinned view, so a burst of splits costs one walk at a time and never blocks the
// poll loop; at most one walk per peer waits (each pins a view). When a walk ends the peer takes "walked + applied since the pin" as its exact count,
// unless a newer range change superseded the recount (then the result is dropped).
//
// Sampling (sample()): a store that keeps no exact counts (--region-key-count off, the default)
// would report each region's count as the last one kept — 0 for a region that never had one.
// Instead its leaders walk their regions now and then (KeySampleSchedule says when: a region
// never walked at its range, or one that took writes and was walked over KEY_SAMPLE_INTERVAL_MS
// ago) and report what the walk found, an approximate count as of the walk. Samples queue behind
// every recount, pin their view only when their walk begins, and are paced: after a sample walk of
// d ms the next waits KEY_SAMPLE_PACING × d, so sampling takes about 1/(1 + pacing) of the
// walker's time, however many regions want one.
// Failpoint: `store::key-recount-walk` before each walk (pause: recounts wait; tests race them).

import type { Logger } from 'pino';
import { failpoint, type RegionMeta } from '../common/index.js';
import type { Engine, Snapshot } from './engine/index.js';
import type { Peer } from './peer.js';
import { regionKeyPagesIn } from './split.js';

/** Keys per page of a recount walk. */
const RECOUNT_PAGE = 10_000;
/** A region that took writes is walked again for its sampled count at most this often. */
export const KEY_SAMPLE_INTERVAL_MS = 30_000;
/** After a sample walk of d ms, the next sample walk starts no sooner than this many times d later. */
export const KEY_SAMPLE_PACING = 49;
/** Pacing waits at most this long (a slow walk on a loaded machine does not stall sampling for long). */
const KEY_SAMPLE_PAUSE_MAX_MS = 10_000;

interface Recount {
  readonly peer: Peer;
  readonly gen: number;
  readonly region: RegionMeta;
  readonly view: Snapshot;
}

/** A sample walk waiting: its view is pinned when it begins. */
interface Sample {
  readonly peer: Peer;
  readonly region: RegionMeta;
}

/** Whether two regions cover the same key range. */
function isSameRange(a: RegionMeta, b: RegionMeta): boolean {
  return a.startKey.equals(b.startKey) && a.endKey.equals(b.endKey);
}

/**
 * When a leader's region is due a sample walk (file comment): never walked at its current range,
 * or written since its last walk and that walk is KEY_SAMPLE_INTERVAL_MS old. Idle regions are
 * walked once.
 */
export class KeySampleSchedule {
  private readonly walked = new Map<number, { region: RegionMeta; atMs: number; isStale: boolean }>();

  constructor(private readonly intervalMs: number = KEY_SAMPLE_INTERVAL_MS) {}

  /** `keysWritten`: keys the region took since the last call (a region heartbeat's traffic). */
  isDue(region: RegionMeta, keysWritten: number, nowMs: number): boolean {
    const last = this.walked.get(region.id);
    if (last === undefined || !isSameRange(last.region, region)) return true;
    if (keysWritten > 0) last.isStale = true;
    return last.isStale && nowMs - last.atMs >= this.intervalMs;
  }

  /** A sample of `region` was queued at `nowMs`. */
  taken(region: RegionMeta, nowMs: number): void {
    this.walked.set(region.id, { region, atMs: nowMs, isStale: false });
  }

  /** Drops the regions `keep` says no (no longer led here). */
  prune(keep: (regionId: number) => boolean): void {
    for (const id of this.walked.keys()) if (!keep(id)) this.walked.delete(id);
  }
}

export class KeyRecounter {
  private readonly queue: Recount[] = [];
  /** Sample walks waiting, in order; at most one per peer (so at most one per region led here). */
  private readonly samples: Sample[] = [];
  private readonly peersWaiting = new Set<Peer>();
  private isRunning = false;
  private isClosed = false;
  /** Pacing: no sample walk starts before this (Date.now() ms). */
  private nextSampleAtMs = 0;
  private sampleTimer: NodeJS.Timeout | null = null;
  /** Walks finished and taken by their peer since start (tests and /status). */
  settled = 0;
  /** Sample walks whose count the peer took (/status keyCountSamples). */
  sampled = 0;

  constructor(
    private readonly engine: Engine,
    private readonly log: Logger,
    /** A peer's count became exact (the owner tells PD if the peer leads). */
    private readonly onSettled: (peer: Peer) => void,
  ) {}

  /** Recounts `peer`'s current range as of now (see the file comment). */
  start(peer: Peer): void {
    if (this.isClosed) return;
    // One queued walk per peer: a newer range change supersedes the queued one (release its view).
    const queued = this.queue.findIndex((job) => job.peer === peer);
    if (queued >= 0) void this.queue.splice(queued, 1)[0]!.view.release().catch(() => undefined);
    const view = this.engine.pinSnapshot();
    this.queue.push({ peer, gen: peer.beginKeyRecount(), region: peer.region, view });
    if (!this.isRunning) void this.drain();
  }

  /**
   * Counting off: walks `peer`'s range (after every recount, paced: file comment) and, unless the
   * range changed meanwhile, the peer takes the count found (Peer.takeSampledKeyCount).
   */
  sample(peer: Peer): void {
    if (this.isClosed || this.peersWaiting.has(peer)) return;
    this.peersWaiting.add(peer);
    this.samples.push({ peer, region: peer.region });
    if (!this.isRunning) void this.drain();
  }

  /** Recount walks pending and running (samples are not counted: they may wait on pacing). */
  get pending(): number {
    return this.queue.length + (this.isRunning ? 1 : 0);
  }

  /** Drops the walks not run yet and releases their views; a running walk ends at its next page. */
  async close(): Promise<void> {
    this.isClosed = true;
    this.samples.length = 0;
    this.peersWaiting.clear();
    if (this.sampleTimer !== null) clearTimeout(this.sampleTimer);
    this.sampleTimer = null;
    const left = this.queue.splice(0);
    await Promise.all(left.map((r) => r.view.release().catch(() => undefined)));
  }

  private async drain(): Promise<void> {
    this.isRunning = true;
    try {
      for (;;) {
        const job = this.queue.shift();
        if (job === undefined) {
          if (!(await this.runSample())) break;
          continue;
        }
        try {
          const site = failpoint('store::key-recount-walk'); // tests: pause holds every walk back
          if (site instanceof Promise) await site;
          const walked = await this.walk(job);
          const estimate = job.peer.approximateKeys;
          if (walked !== null && job.peer.endKeyRecount(job.gen, walked)) {
            this.settled++;
            this.log.info({ regionId: job.region.id, version: job.region.epoch.version, walked, estimate, keys: job.peer.approximateKeys }, 'region key recount ended');
            this.onSettled(job.peer);
          }
        } catch (err) {
          // The engine closed under the walk (the store is stopping), or a read failed: the count
          // stays unknown in the apply state, and the next load counts it.
          if (!this.isClosed) this.log.warn({ regionId: job.region.id, err }, 'recounting a region\'s keys failed; it is counted again at the next start');
        } finally {
          await job.view.release().catch(() => undefined);
        }
      }
    } finally {
      this.isRunning = false;
    }
  }

  /** The keys in the pinned view of the job's range; null when the recount no longer matters. */
  private async walk(job: Recount): Promise<number | null> {
    return this.countKeys(job.view, job.region, () => job.peer.isKeyRecountCurrent(job.gen));
  }

  private async countKeys(view: Snapshot, region: RegionMeta, isCurrent: () => boolean): Promise<number | null> {
    let keys = 0;
    for await (const page of regionKeyPagesIn(view, region, RECOUNT_PAGE)) {
      if (this.isClosed || !isCurrent()) return null;
      keys += page.length;
    }
    return keys;
  }

  /**
   * Runs the next sample walk if one waits and pacing allows; false when the walker should stop
   * (none waits, or pacing holds the next back: a timer resumes it).
   */
  private async runSample(): Promise<boolean> {
    const next = this.samples[0];
    if (next === undefined || this.isClosed) return false;
    const wait = this.nextSampleAtMs - Date.now();
    if (wait > 0) {
      this.sampleTimer ??= setTimeout(() => {
        this.sampleTimer = null;
        if (!this.isRunning) void this.drain();
      }, wait);
      this.sampleTimer.unref();
      return false;
    }
    this.samples.shift();
    this.peersWaiting.delete(next.peer);
    const { peer, region } = next;
    const isCurrent = (): boolean => isSameRange(peer.region, region) && peer.isLeader;
    if (!isCurrent()) return true;
    const startedMs = Date.now();
    let view: Snapshot | null = null;
    try {
      view = this.engine.pinSnapshot();
      const site = failpoint('store::key-recount-walk');
      if (site instanceof Promise) await site;
      const walked = await this.countKeys(view, region, isCurrent);
      if (walked !== null && peer.takeSampledKeyCount(region, walked)) {
        this.sampled++;
        this.log.debug({ regionId: region.id, version: region.epoch.version, keys: walked }, 'region keys sampled');
        this.onSettled(peer);
      }
    } catch (err) {
      if (!this.isClosed) this.log.warn({ regionId: region.id, err }, 'sampling a region\'s keys failed; it is tried again later');
    } finally {
      await view?.release().catch(() => undefined);
      const tookMs = Date.now() - startedMs;
      this.nextSampleAtMs = Date.now() + Math.min(KEY_SAMPLE_PAUSE_MAX_MS, tookMs * KEY_SAMPLE_PACING);
    }
    return true;
  }
}
