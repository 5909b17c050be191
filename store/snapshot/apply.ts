// Installs a received region snapshot crash-safely, and finishes an interrupted install at
// start-up. The steps, and what a crash after each leaves:
//
//   0. (before) the payload is a complete, CRC-checked, fsynced file (receiver.ts, files.ts); the
//      region's old state is untouched.               crash → the old state loads; the file is
//                                                     deleted at start (not named by any state);
//                                                     raft never heard an ack, the leader resends.
//   1. region state := 'applying' {index, term, payload crc32 and bytes}, fsynced.
//                                                     crash → start-up sees 'applying' and redoes
//                                                     steps 2–4 from the file (redo()), before the
//                                                     region is loaded. The old data, log and
//                                                     apply state are never loaded again.
//   2. clear the region's ranges in every data CF and its whole raft log (bounded range deletes,
//      not synced).                                    crash → as 1 (redo clears again: idempotent).
//   3. write the payload's records (batches of SNAPSHOT_APPLY_BATCH_BYTES, not synced), each key
//      checked to be a data key inside the snapshot's region (codec.ts).
//                                                     crash → as 1 (redo clears what was written).
//   4. ONE fsynced batch: region state 'normal' (the snapshot's region), apply state {applied =
//      truncated = index, truncated term = term, key count}, the hard state (commit ≥ index) and
//      any entries raft appended after the snapshot. RocksDB has one WAL: this fsync makes steps
//      2–3 durable too.                               crash → the installed state loads; the file
//                                                     is deleted at start.
//   5. delete the file.
//
// Nothing acknowledges the snapshot before step 4 is durable: raft's answer (MsgAppResp) is among
// the Ready's persistedMessages, sent only after the install (raft-store.ts). A redo has the hard
// state last saved (a Ready's newer term/vote were never sent on) with its commit raised to the
// index. If the file named by an 'applying' state is missing or damaged, the store refuses to
// start (Corruption): the region's old data is partly gone, and the store cannot vouch for what
// its raft log promised; an operator removes the peer and lets PD re-add it.

import type { Logger } from 'pino';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import {
  applyStateKey, type DataCf, failpoint, FlotillaError, type KeyRange, raftLogRange, type RegionMeta, regionStateKey, type WriteOp,
} from '../../common/index.js';
import type { Entry, HardState } from '../../raft/index.js';
import { readyPersistOps } from '../../raft-host/index.js';
import type { Engine } from '../engine/index.js';
import { encodeApplyState, encodeRegionState } from '../local-state.js';
import { regionKeyScheme } from '../peer-storage.js';
import { decodeChunk, regionDataRanges } from './codec.js';
import { readSnapshotFile, snapshotFileName } from './files.js';
import { SNAPSHOT_APPLIES_MAX, SNAPSHOT_APPLY_BATCH_BYTES, SNAPSHOT_CLEAR_KEYS_PER_CALL } from './limits.js';
import type { SnapshotMetrics } from './metrics.js';

/** Failpoint after step 1 (the 'applying' state is durable), before anything is cleared. */
export const FAILPOINT_SNAPSHOT_AFTER_APPLYING_STATE = 'store::snapshot-after-applying-state';
/**
 * Failpoint after each payload chunk's records (step 3); when armed, what was gathered is written
 * first, so a pause here (then kill -9) leaves the region half written.
 */
export const FAILPOINT_SNAPSHOT_APPLY_BATCH = 'store::snapshot-apply-batch';

export interface SnapshotInstall {
  readonly region: RegionMeta;
  readonly index: number;
  readonly term: number;
  readonly payload: { readonly path: string; readonly crc32: number; readonly bytes: number };
  /** Written in the final batch; its commit is raised to `index` if below. */
  readonly hardState: HardState;
  /** Entries raft appended after the snapshot in the same Ready (written in the final batch). */
  readonly entries: readonly Entry[];
  /** The region's range before, if the replica held data (cleared too if it differs). */
  readonly previousRegion: RegionMeta | null;
  /**
   * Settles once the install may begin (the tombstones of regions the snapshot supersedes are
   * durable, raft-store.ts); meanwhile the install counts as queued. A rejection fails the install.
   */
  readonly after?: Promise<void>;
}

export interface InstalledSnapshot {
  /** Records in the region's raw and latest CFs (its key count, peer.ts). */
  readonly approximateKeys: number;
  readonly records: number;
}

export interface SnapshotInstallerOptions {
  readonly engine: Engine;
  readonly dir: string;
  readonly logger: Logger;
  readonly metrics?: SnapshotMetrics;
}

/** Runs installs at most SNAPSHOT_APPLIES_MAX at a time (a FIFO of waiting ones). */
export class SnapshotInstaller {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly log: Logger;
  /** Regions with an install running or queued (the receiver keeps their payloads). */
  readonly installing = new Set<number>();
  private readonly pendingInstalls = new Map<number, Promise<InstalledSnapshot>>();

  constructor(private readonly options: SnapshotInstallerOptions) {
    this.log = options.logger.child({ component: 'snapshot-installer' });
  }

  /** Resolves once no install of the region is queued or running (a destroy waits for it). */
  async settled(regionId: number): Promise<void> {
    await this.pendingInstalls.get(regionId)?.catch(() => undefined);
  }

  install(s: SnapshotInstall): Promise<InstalledSnapshot> {
    const p = this.installQueued(s);
    this.pendingInstalls.set(s.region.id, p);
    const forget = (): void => {
      if (this.pendingInstalls.get(s.region.id) === p) this.pendingInstalls.delete(s.region.id);
    };
    p.then(forget, forget);
    return p;
  }

  private async installQueued(s: SnapshotInstall): Promise<InstalledSnapshot> {
    this.installing.add(s.region.id);
    try {
      if (s.after !== undefined) await s.after;
      if (this.running >= SNAPSHOT_APPLIES_MAX) await new Promise<void>((resolve) => this.waiting.push(resolve));
      this.running++;
      try {
        return await this.installNow(s);
      } finally {
        this.running--;
        this.waiting.shift()?.();
      }
    } finally {
      this.installing.delete(s.region.id);
    }
  }

  private async installNow(s: SnapshotInstall): Promise<InstalledSnapshot> {
    const { engine } = this.options;
    const regionId = s.region.id;
    const startedAt = performance.now();
    // Verify the whole payload before touching the engine (the receiver checked it; the disk may not have kept it).
    await readSnapshotFile(s.payload.path, s.payload, async () => {});
    await engine.write([{
      kind: 'put', cf: 'local', key: regionStateKey(regionId),
      value: encodeRegionState({ state: 'applying', region: s.region, applying: { index: s.index, term: s.term, crc32: s.payload.crc32, bytes: s.payload.bytes } }),
    }], { sync: true });
    const gate = failpoint(FAILPOINT_SNAPSHOT_AFTER_APPLYING_STATE);
    if (gate !== undefined && typeof gate !== 'string') await gate;
    const result = await this.clearAndWrite(s);
    this.options.metrics?.count('applied');
    const seconds = (performance.now() - startedAt) / 1000;
    this.options.metrics?.observeStage('apply', seconds);
    this.log.info({ regionId, index: s.index, term: s.term, records: result.records, bytes: s.payload.bytes, seconds }, 'installed region snapshot');
    return result;
  }

  /** Steps 2–5 (shared by an install and a redo at start-up). */
  private async clearAndWrite(s: SnapshotInstall): Promise<InstalledSnapshot> {
    const { engine } = this.options;
    const regionId = s.region.id;
    const ranges = regionDataRanges(s.region);
    const clear: KeyRange[] = ranges.map((r) => r.range);
    if (s.previousRegion !== null && (!s.previousRegion.startKey.equals(s.region.startKey) || !s.previousRegion.endKey.equals(s.region.endKey))) {
      for (const r of regionDataRanges(s.previousRegion)) clear.push(r.range);
    }
    clear.push(raftLogRange(regionId, 0, Number.MAX_SAFE_INTEGER));
    for (const range of clear) {
      while ((await engine.deleteRange(range.start, range.end, { limit: SNAPSHOT_CLEAR_KEYS_PER_CALL })).hasMore);
    }
    const byCf = new Map<DataCf, KeyRange>(ranges.map((r) => [r.cf, r.range]));
    let batch: WriteOp[] = [];
    let batchBytes = 0;
    let records = 0;
    let keys = 0;
    const what = `region ${regionId} snapshot ${s.index}`;
    await readSnapshotFile(s.payload.path, s.payload, async (chunk) => {
      for (const r of decodeChunk(chunk, byCf, what)) {
        batch.push({ kind: 'put', cf: r.cf, key: Buffer.from(r.key), value: Buffer.from(r.value) });
        batchBytes += r.key.length + r.value.length;
        records++;
        if (r.cf === 'raw' || r.cf === 'latest') keys++;
      }
      const gate = failpoint(FAILPOINT_SNAPSHOT_APPLY_BATCH);
      if (batchBytes >= SNAPSHOT_APPLY_BATCH_BYTES || gate !== undefined) {
        await engine.write(batch, { sync: false });
        batch = [];
        batchBytes = 0;
      }
      if (gate !== undefined && typeof gate !== 'string') await gate;
    });
    const hardState = { ...s.hardState, commit: Math.max(s.hardState.commit, s.index) };
    batch.push(
      { kind: 'put', cf: 'local', key: regionStateKey(regionId), value: encodeRegionState({ state: 'normal', region: s.region }) },
      { kind: 'put', cf: 'local', key: applyStateKey(regionId), value: encodeApplyState({ appliedIndex: s.index, truncatedIndex: s.index, truncatedTerm: s.term, approximateKeys: keys }) },
    );
    readyPersistOps(regionKeyScheme(regionId), { hardState, entries: s.entries, snapshot: undefined, previousLastIndex: s.index }, batch);
    await engine.write(batch, { sync: true });
    await rm(s.payload.path, { force: true });
    return { approximateKeys: keys, records };
  }

  /**
   * Start-up: finishes the install an 'applying' region state names (steps 2–5 again). Corruption
   * when its payload file is missing or damaged (see the file comment).
   */
  async redo(region: RegionMeta, applying: { readonly index: number; readonly term: number; readonly crc32: number; readonly bytes: number }, savedHardState: HardState): Promise<InstalledSnapshot> {
    const path = join(this.options.dir, snapshotFileName(region.id, applying.index, applying.term));
    try {
      await readSnapshotFile(path, applying, async () => {});
    } catch (err) {
      throw new FlotillaError('Corruption', `region ${region.id}: an interrupted snapshot install (index ${applying.index}) cannot be finished: its payload ${path} is missing or damaged; remove this peer and let PD re-add it`, { cause: err });
    }
    const result = await this.clearAndWrite({
      region, index: applying.index, term: applying.term, payload: { path, crc32: applying.crc32, bytes: applying.bytes },
      hardState: savedHardState, entries: [], previousRegion: null,
    });
    this.options.metrics?.count('redone');
    this.log.info({ regionId: region.id, index: applying.index, records: result.records }, 'finished an interrupted region snapshot install');
    return result;
  }
}
