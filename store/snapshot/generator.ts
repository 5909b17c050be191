// Region snapshots on the sending side: raft asks a region's storage for a snapshot
// (PeerStorage.snapshot, synchronous); this answers 'unavailable' and generates one in the
// background, then tells the region (onStorageReady) so raft asks again and gets it.
//
// Consistency: one pinned RocksDB snapshot gives the region state, the apply state, the term of
// the applied entry and every data key at one point in time. The poll loop writes a region's data
// and its apply state in the same write batch, so the data seen is exactly the state at the apply
// state's index — the snapshot's index — and the region state (range, peers; conf changes write it
// in the same batch too) is the membership at that index. The pinned snapshot stays open while a
// sender streams from it (reference-counted), and is released once unused and superseded or older
// than SNAPSHOT_GENERATED_TTL_MS. A held snapshot is not offered once the region's epoch has moved
// past it (a split, a merge, a conf change since): a receiver that holds a region the split
// created refuses the old, wider range (raft-store.ts), and one added by the conf change is not in
// its membership — a new one is taken instead.

import type { Logger } from 'pino';
import { applyStateKey, FlotillaError, raftLogKey, regionStateKey } from '../../common/index.js';
import type { Snapshot as RaftSnapshot } from '../../raft/index.js';
import { decodeEntry } from '../../raft-host/index.js';
import type { Engine, Snapshot as EngineSnapshot } from '../engine/index.js';
import { decodeApplyState, decodeRegionState } from '../local-state.js';
import { confStateOf } from '../peer.js';
import type { RegionMeta } from '../../common/index.js';
import { encodeSnapshotData } from './codec.js';
import { SNAPSHOT_GENERATED_TTL_MS } from './limits.js';

/** A new snapshot is not generated for a region more often than this (a stuck minIndex cannot spin). */
export const SNAPSHOT_REGENERATE_INTERVAL_MS = 1_000;

export interface GeneratedSnapshot {
  readonly regionId: number;
  readonly snapshot: RaftSnapshot;
  readonly region: RegionMeta;
  readonly engineSnapshot: EngineSnapshot;
  readonly createdMs: number;
  refs: number;
  isSuperseded: boolean;
}

interface RegionSnapshots {
  current: GeneratedSnapshot | null;
  isGenerating: boolean;
  lastStartMs: number;
}

export interface SnapshotGeneratorOptions {
  readonly engine: Engine;
  readonly logger: Logger;
  /** A snapshot of the region is ready: the owner calls RawNode.onStorageReady() and marks it dirty. */
  readonly onGenerated: (regionId: number) => void;
  readonly onError: (regionId: number, err: unknown) => void;
  readonly nowMs?: () => number;
}

export class SnapshotGenerator {
  private readonly regions = new Map<number, RegionSnapshots>();
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private isClosed = false;

  constructor(private readonly options: SnapshotGeneratorOptions) {
    this.log = options.logger.child({ component: 'snapshot-generator' });
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * raft's RaftStorage.snapshot for `regionId`: the held snapshot if it is at least `minIndex`,
   * fresh, and of the region's current `epoch` (absent: any), else 'unavailable' (and one is
   * generated, unless one was started within SNAPSHOT_REGENERATE_INTERVAL_MS).
   */
  snapshot(regionId: number, minIndex: number, epoch?: RegionMeta['epoch']): RaftSnapshot | 'unavailable' {
    let r = this.regions.get(regionId);
    if (r === undefined) {
      r = { current: null, isGenerating: false, lastStartMs: -Infinity };
      this.regions.set(regionId, r);
    }
    const now = this.nowMs();
    const cur = r.current;
    if (cur !== null && cur.snapshot.metadata.index >= minIndex && now - cur.createdMs < SNAPSHOT_GENERATED_TTL_MS && !isEpochBehind(cur.region.epoch, epoch)) return cur.snapshot;
    if (!r.isGenerating && !this.isClosed && now - r.lastStartMs >= SNAPSHOT_REGENERATE_INTERVAL_MS) {
      r.isGenerating = true;
      r.lastStartMs = now;
      const state = r;
      this.generate(regionId).then(
        (g) => {
          state.isGenerating = false;
          if (this.isClosed || this.regions.get(regionId) !== state) {
            void g.engineSnapshot.release();
            return;
          }
          this.supersede(state.current);
          state.current = g;
          this.log.info({ regionId, index: g.snapshot.metadata.index, term: g.snapshot.metadata.term }, 'generated region snapshot');
          this.options.onGenerated(regionId);
        },
        (err: unknown) => {
          state.isGenerating = false;
          this.options.onError(regionId, err);
        },
      );
    }
    return 'unavailable';
  }

  /** Takes a reference on the held snapshot at `index` (a sender streams from it); null if gone. */
  acquire(regionId: number, index: number): GeneratedSnapshot | null {
    const cur = this.regions.get(regionId)?.current ?? null;
    if (cur === null || cur.snapshot.metadata.index !== index) return null;
    cur.refs++;
    return cur;
  }

  release(g: GeneratedSnapshot): void {
    g.refs--;
    if (g.refs === 0 && g.isSuperseded) void g.engineSnapshot.release();
  }

  /** Releases held snapshots past their TTL (the owner calls it now and then). */
  sweep(): void {
    const now = this.nowMs();
    for (const r of this.regions.values()) {
      if (r.current !== null && now - r.current.createdMs >= SNAPSHOT_GENERATED_TTL_MS) {
        this.supersede(r.current);
        r.current = null;
      }
    }
  }

  /** The region left this store (or lost leadership for good): drop what is held. */
  forget(regionId: number): void {
    const r = this.regions.get(regionId);
    if (r === undefined) return;
    this.regions.delete(regionId);
    this.supersede(r.current);
  }

  close(): void {
    this.isClosed = true;
    for (const id of [...this.regions.keys()]) this.forget(id);
  }

  private supersede(g: GeneratedSnapshot | null): void {
    if (g === null) return;
    g.isSuperseded = true;
    if (g.refs === 0) void g.engineSnapshot.release();
  }

  private async generate(regionId: number): Promise<GeneratedSnapshot> {
    const what = `region ${regionId} snapshot`;
    const engineSnapshot = await this.options.engine.snapshot();
    try {
      const regionBytes = await engineSnapshot.get(regionStateKey(regionId));
      const applyBytes = await engineSnapshot.get(applyStateKey(regionId));
      if (regionBytes === null || applyBytes === null) throw new FlotillaError('Internal', `${what}: no region or apply state`);
      const state = decodeRegionState(regionBytes, regionId);
      if (state.state !== 'normal') throw new FlotillaError('Internal', `${what}: the region state is ${state.state}`);
      const apply = decodeApplyState(applyBytes, regionId);
      const index = apply.appliedIndex;
      let term = apply.truncatedTerm;
      if (index !== apply.truncatedIndex) {
        // Applied entries are durable before they apply (poll-loop.ts), and compaction never
        // passes the applied index: the entry is in this same view.
        const entry = await engineSnapshot.get(raftLogKey(regionId, index));
        if (entry === null) throw new FlotillaError('Corruption', `${what}: applied entry ${index} is not in the log`);
        term = decodeEntry(index, entry, what).term;
      }
      const snapshot: RaftSnapshot = {
        metadata: { index, term, confState: confStateOf(state.region) },
        data: encodeSnapshotData(state.region),
      };
      return { regionId, snapshot, region: state.region, engineSnapshot, createdMs: this.nowMs(), refs: 0, isSuperseded: false };
    } catch (err) {
      await engineSnapshot.release();
      throw err;
    }
  }
}

/** Whether a snapshot's region epoch is older than the region's `current` one in either part. */
function isEpochBehind(held: RegionMeta['epoch'], current: RegionMeta['epoch'] | undefined): boolean {
  return current !== undefined && (held.version < current.version || held.confVer < current.confVer);
}
