// Recounting a region's keys after a split or merge changed its range (peer.ts, "Key count").
//
// start() pins a view of the engine at once — the caller calls it right after the batch that
// changed the range was written, before the next apply batch — and tells the peer a recount began
// (the peer notes its working count then). Walks run one at a time in the background, page by
// page over the pinned view, so a burst of splits costs one walk at a time and never blocks the
// poll loop; at most one walk per peer waits (each pins a view). When a walk ends the peer takes "walked + applied since the pin" as its exact count,
// unless a newer range change superseded the recount (then the result is dropped).
// Failpoint: `store::key-recount-walk` before each walk (pause: recounts wait; tests race them).

import type { Logger } from 'pino';
import { failpoint, type RegionMeta } from '../common/index.js';
import type { Engine, Snapshot } from './engine/index.js';
import type { Peer } from './peer.js';
import { regionKeyPagesIn } from './split.js';

/** Keys per page of a recount walk. */
const RECOUNT_PAGE = 10_000;

interface Recount {
  readonly peer: Peer;
  readonly gen: number;
  readonly region: RegionMeta;
  readonly view: Snapshot;
}

export class KeyRecounter {
  private readonly queue: Recount[] = [];
  private isRunning = false;
  private isClosed = false;
  /** Walks finished and taken by their peer since start (tests and /status). */
  settled = 0;

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

  /** Walks pending and running. */
  get pending(): number {
    return this.queue.length + (this.isRunning ? 1 : 0);
  }

  /** Drops the walks not run yet and releases their views; a running walk ends at its next page. */
  async close(): Promise<void> {
    this.isClosed = true;
    const left = this.queue.splice(0);
    await Promise.all(left.map((r) => r.view.release().catch(() => undefined)));
  }

  private async drain(): Promise<void> {
    this.isRunning = true;
    try {
      for (let job = this.queue.shift(); job !== undefined; job = this.queue.shift()) {
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
    let keys = 0;
    for await (const page of regionKeyPagesIn(job.view, job.region, RECOUNT_PAGE)) {
      if (this.isClosed || !job.peer.isKeyRecountCurrent(job.gen)) return null;
      keys += page.length;
    }
    return keys;
  }
}
