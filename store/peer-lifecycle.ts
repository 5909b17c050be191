// How a replica leaves a store, and how one arrives before it has data (issue F7).
//
// Destroy (a replica applied its own removal, or learnt from PD that it was removed while down):
//   1. region state := 'tombstone' (the region as of the removal), fsynced — from here on the
//      replica is never loaded again, and messages of that region at or below the tombstone's
//      confVer never recreate it;
//   2. the region's ranges in every data CF and its raft log are cleared (bounded range deletes);
//   3. its apply state and hard state are deleted, fsynced — the mark that 2 is complete.
// A crash between 1 and 3 leaves a tombstone with an apply state: start-up runs 2–3 again
// (raft-store.ts). Clearing is idempotent, and no other region can own that range before the
// store is back (nothing is created while it is down).
//
// Uninitialized peer: a leader's message (or a candidate's vote request) for a region this store
// lacks creates a replica with no data and no membership (placeholderRegion: the message's range,
// epoch 0/0, the two peers of the message), so it cannot campaign, though it may vote (its log is
// empty); the leader finds its log empty and sends a region snapshot, whose install writes the
// first region state (store/snapshot/apply.ts). Nothing is persisted for it before that but raft's
// hard state. Nothing collects one that never gets its snapshot (store/README.md, "Not yet").

import { applyStateKey, FlotillaError, raftHardStateKey, raftLogRange, type RegionMeta, regionStateKey } from '../common/index.js';
import type { StoreRaftMessage } from './raft-codec.js';
import type { Engine } from './engine/index.js';
import { encodeRegionState } from './local-state.js';
import { regionDataRanges, SNAPSHOT_CLEAR_KEYS_PER_CALL } from './snapshot/index.js';

/**
 * Steps 1–3 of a destroy (see the file comment). `hasData`: the replica held data (else only raft
 * keys). `mergedInto`: the replica was retired by a merge — its data belongs to that region and
 * stays; only its raft state goes, and the tombstone keeps saying so.
 */
export async function destroyRegionData(engine: Engine, tombstone: RegionMeta, options: { readonly hasData: boolean; readonly mergedInto?: number }): Promise<void> {
  const regionId = tombstone.id;
  const mergedInto = options.mergedInto;
  await engine.write([{ kind: 'put', cf: 'local', key: regionStateKey(regionId), value: encodeRegionState({ state: 'tombstone', region: tombstone, ...(mergedInto === undefined ? {} : { mergedInto }) }) }], { sync: true });
  const ranges = options.hasData && mergedInto === undefined ? regionDataRanges(tombstone).map((r) => r.range) : [];
  ranges.push(raftLogRange(regionId, 0, Number.MAX_SAFE_INTEGER));
  for (const range of ranges) {
    while ((await engine.deleteRange(range.start, range.end, { limit: SNAPSHOT_CLEAR_KEYS_PER_CALL })).hasMore);
  }
  await engine.write([
    { kind: 'delete', cf: 'local', key: applyStateKey(regionId) },
    { kind: 'delete', cf: 'local', key: raftHardStateKey(regionId) },
  ], { sync: true });
}

/** Whether a message of a region tombstoned here comes from a membership at or before the removal. */
export function isStaleForTombstone(msg: StoreRaftMessage, tombstone: RegionMeta): boolean {
  return !(msg.epoch.confVer > tombstone.epoch.confVer);
}

/** The region an uninitialized peer starts with (see the file comment); InvalidArgument if malformed. */
export function placeholderRegion(msg: StoreRaftMessage): RegionMeta {
  const { toPeer: to, fromPeer: from } = msg;
  if (to.id === from.id || to.storeId === from.storeId) throw new FlotillaError('InvalidArgument', 'a message between two peers of one store');
  // Copies: the keys decoded from a raft batch share its buffer, and the region outlives it.
  return { id: msg.regionId, startKey: Buffer.from(msg.startKey), endKey: Buffer.from(msg.endKey), epoch: { confVer: 0, version: 0 }, peers: [to, from] };
}

/**
 * Whether PD's view of a region (`known`, looked up by id) says this store's replica (`peerId`,
 * with the region as it applied it, `local`) was removed while it could not hear it: PD lists the
 * region at a newer confVer without that peer. Then the tombstone to leave: PD's region at the
 * earliest confVer the removal can have had (the replica's + 1) — not PD's own confVer, which may
 * already count a peer added back on this store since (its messages must not be refused).
 * Null: keep the replica.
 */
export function staleReplicaTombstone(local: RegionMeta, peerId: number, known: RegionMeta | null): RegionMeta | null {
  if (known === null || known.id !== local.id || known.epoch.confVer <= local.epoch.confVer) return null;
  if (known.peers.some((p) => p.id === peerId)) return null;
  return { ...known, epoch: { ...known.epoch, confVer: local.epoch.confVer + 1 } };
}
