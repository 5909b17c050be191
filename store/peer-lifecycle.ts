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
//
// Stale replicas (server.ts checkStalePeers): a replica that hears from no leader asks PD about
// its region. By id: a newer membership without it — removed while cut off (staleReplicaTombstone).
// PD knows no region with its id: asked by key (mergedAwayReplicaTombstone) — merged away while
// cut off, if PD's region at its start key is newer and nothing here can still retire it.
//
// Told by a member (raft-store.ts): a replica that gets a message from a peer its membership no
// longer has, at an older confVer (isFromRemovedPeer: that peer was removed while it could not
// hear it — peer ids are never reused), drops it and answers is_tombstone with its own epoch; the
// removed replica destroys itself at once (gcMessageTombstone), instead of waiting for the stale
// check to find it leaderless, as TiKV's stores do.

import { applyStateKey, FlotillaError, raftHardStateKey, raftLogIndexOf, raftLogRange, regionContains, type RegionMeta, regionStateKey } from '../common/index.js';
import { decodeEntry } from '../raft-host/index.js';
import type { Entry } from '../raft/index.js';
import type { StoreRaftMessage } from './raft-codec.js';
import type { Engine } from './engine/index.js';
import { encodeRegionState } from './local-state.js';
import { type DecodedCommand, decodeCommand } from './raft-cmd.js';
import { isWriteBatch } from './write-batch-cmd.js';
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

/**
 * Whether `msg`, to this store's initialized replica of its region (`local`, as applied here),
 * comes from a peer that replica's membership no longer lists, at an older confVer than its own:
 * a peer removed while it could not hear it (peer ids are never reused, so it never belongs again).
 * An uninitialized sender (confVer 0: a peer added after this replica's view, waiting for its
 * snapshot) is never judged — it may be newer than us.
 */
export function isFromRemovedPeer(local: RegionMeta, msg: StoreRaftMessage): boolean {
  if (local.epoch.confVer < 1 || msg.epoch.confVer < 1 || msg.epoch.confVer >= local.epoch.confVer) return false;
  return !local.peers.some((p) => p.id === msg.fromPeer.id);
}

/**
 * The tombstone a replica (`peerId`, its region `local` as applied here, initialized) leaves when
 * a member answers its message with is_tombstone (isFromRemovedPeer there): the member's epoch
 * must be newer in confVer — the member's membership, without us, is later than ours — and the
 * message addressed to this very peer. As staleReplicaTombstone with the member's view for PD's:
 * the earliest confVer the removal can have had. Null: not for us, or not newer — keep it.
 */
export function gcMessageTombstone(local: RegionMeta, peerId: number, msg: StoreRaftMessage): RegionMeta | null {
  if (!msg.isTombstone || msg.regionId !== local.id || msg.toPeer.id !== peerId || local.epoch.confVer < 1) return null;
  return staleReplicaTombstone(local, peerId, { ...local, epoch: msg.epoch, peers: [] });
}

/**
 * Whether an uninitialized replica (created by a leader's or candidate's message, never filled by
 * a snapshot) of a region PD knows (`known`, by id) is no member of it: PD does not list its peer
 * id. Its peer was removed before a snapshot reached it — or it was created by a stale message of
 * a membership it had already left. Then the tombstone to leave: PD's region one confVer below
 * PD's (every message to the removed peer predates its removal, which PD's confVer counts; a
 * later peer on this store, added at PD's confVer or above, is not refused). Null: keep it (PD
 * lists it: it waits for its snapshot; PD knows no such region: nothing to judge by).
 */
export function uninitializedReplicaTombstone(peerId: number, known: RegionMeta | null): RegionMeta | null {
  if (known === null || known.epoch.confVer < 1) return null;
  if (known.peers.some((p) => p.id === peerId)) return null;
  return { ...known, epoch: { ...known.epoch, confVer: known.epoch.confVer - 1 } };
}

/**
 * A replica (`localPeerId`) that a message addressed to a newer peer of its region on this store
 * supersedes: peer ids only grow and a region has one peer per store, so the newer peer was added
 * after the older one was removed, and the older one can go (its data cleared). The
 * tombstone sits one confVer below the message's (which counts the newer peer's addition, later
 * than the removal): no message to the old peer recreates it, the newer peer's are taken. Null:
 * not superseded (an older peer id, or a message of no membership).
 */
export function supersededReplicaTombstone(localPeerId: number, msg: StoreRaftMessage): RegionMeta | null {
  if (msg.toPeer.id <= localPeerId || msg.epoch.confVer < 1) return null;
  return {
    id: msg.regionId, startKey: Buffer.from(msg.startKey), endKey: Buffer.from(msg.endKey),
    epoch: { confVer: msg.epoch.confVer - 1, version: msg.epoch.version }, peers: [],
  };
}

/**
 * The confVer of the tombstone a merged-away replica leaves (mergedAwayReplicaTombstone): above
 * every confVer, so no message of that region recreates it (isStaleForTombstone) — a region id is
 * never reused, and a region merged away has no live group left to send one.
 */
export const MERGED_AWAY_CONF_VER = Number.MAX_SAFE_INTEGER;

/** What a replica that PD knows no region of (by id) learns by key, and what this store holds. */
export interface MergedAwayEvidence {
  /** PD's region holding the replica's start key (an encoded key, as region keys are), or null when PD knows none there. */
  readonly atStartKey: RegionMeta | null;
  /**
   * The targets named by the PrepareMerge entries in the replica's log, as each PrepareMerge saw
   * them — the one it applied (its merge state) and any it holds unapplied
   * (prepareMergeTargetsInLog).
   */
  readonly mergeTargets: readonly RegionMeta[];
  /** The epoch version of this store's initialized replica (some data, a membership) of a region; null when it holds none. */
  readonly versionHere: (regionId: number) => number | null;
}

/**
 * Whether this store's replica of `local` (initialized, hearing from no leader, of a region PD
 * knows no more by id) was merged away while it could not hear it — and then the tombstone to
 * leave. Null: keep it. Destroyed only when both hold:
 *
 * 1. PD's region at the replica's start key has a higher version than the replica. A merge gives
 *    the target a version above both regions' (merge.ts mergedRegion), and every region later
 *    holding that key descends from it by splits and merges, each raising the version again; so
 *    a merged-away replica always sees a higher version there. A region PD has not heard of yet
 *    (a split's report and heartbeats not in) sees its parent there, at a LOWER version (a split
 *    raises the pieces' versions), or an equal one: kept — it is alive.
 * 2. Nothing on this store can still retire it the way a merge does (CommitMerge, which needs the
 *    source replica: raft-store.ts onCommitMerge — without it the target replica waits for ever).
 *    Only a replica of the target lagging behind CommitMerge can apply one naming this region.
 *    Merges need voters of both regions on the same stores (merge.ts mergeRefusal), and the
 *    source leader proposes CommitMerge only once every source peer's log holds PrepareMerge: so
 *    if a target replica here can apply CommitMerge of this region, this replica's log holds the
 *    PrepareMerge naming that target — `mergeTargets` has it. While this store holds an
 *    initialized replica of one of those targets that has not moved past the shape PrepareMerge
 *    saw (its version is no higher), the replica is kept (that target catches up by log and
 *    retires it, or gets a snapshot that supersedes it, or is itself found stale and destroyed —
 *    then this check runs again). A target replica here at a higher version is past the merge —
 *    it applied CommitMerge (which would have retired this replica), or took a snapshot from
 *    after it — and will never retire it (merge sim seed 430: the target here had installed a
 *    snapshot of its later shape, which no longer overlapped, and the source held its range for
 *    ever). PD's region at the key is checked likewise: the target may still be that region (TiKV
 *    likewise keeps a source while a local target lags), and a replica of it here below PD's
 *    version of it may lag behind the merge; one at PD's version does not.
 *    An uninitialized replica of any of them does not count: it can apply nothing before its
 *    snapshot, and that snapshot, overlapping this replica's range without covering it all (the
 *    merged region split since), is refused while this replica holds the range — the very trap
 *    this check exists to break (one that covers it all is refused too: raft-store.ts isRetiredBy).
 *
 * The tombstone: the replica's region at confVer MERGED_AWAY_CONF_VER — every message of the
 * region is stale for it (a merged-away region has no live membership). Should PD's view be wrong
 * (a live region PD lost track of, whose piece at this key it knows: a split's report lost and the
 * piece's heartbeat first), the replica is lost as a crash-stopped one: it never comes back with
 * an empty log under its old id, so raft's safety holds (its group has two replicas left).
 */
export function mergedAwayReplicaTombstone(local: RegionMeta, evidence: MergedAwayEvidence): RegionMeta | null {
  const known = evidence.atStartKey;
  if (known === null || known.id === local.id || !regionContains(known, local.startKey)) return null;
  if (known.epoch.version <= local.epoch.version) return null;
  // A replica here of PD's region that lags behind PD's shape of it may still be our target.
  const knownHere = evidence.versionHere(known.id);
  if (knownHere !== null && knownHere < known.epoch.version) return null;
  for (const target of evidence.mergeTargets) {
    if (target.id === local.id) continue;
    const here = evidence.versionHere(target.id);
    if (here !== null && here <= target.epoch.version) return null;
  }
  return { ...local, epoch: { version: local.epoch.version, confVer: MERGED_AWAY_CONF_VER } };
}

/**
 * The admin commands among `entries` — a replica's unapplied log, held in memory (PeerStorage
 * keeps every entry above the applied index); writes and empty entries are skipped without a
 * decode. `isUnreadable`: an entry did not decode (Corruption surfaces when it is applied; each
 * caller decides what an unknown entry means for it).
 */
export function adminCommandsIn(regionId: number, entries: readonly Entry[]): { readonly commands: DecodedCommand[]; readonly isUnreadable: boolean } {
  const commands: DecodedCommand[] = [];
  let isUnreadable = false;
  for (const e of entries) {
    if (e.type !== 'Normal' || e.data.length === 0 || isWriteBatch(e.data)) continue;
    try {
      commands.push(decodeCommand(e.data, `region ${regionId} entry ${e.index}`));
    } catch {
      isUnreadable = true;
    }
  }
  return { commands, isUnreadable };
}

/**
 * The merge targets (as PrepareMerge saw them) named by PrepareMerge entries among `entries` (a
 * replica's unapplied log). An entry that does not decode names none: this only ever widens what
 * may retire a replica, so an unreadable entry must not.
 */
export function prepareMergeTargetsIn(regionId: number, entries: readonly Entry[]): RegionMeta[] {
  const targets: RegionMeta[] = [];
  for (const cmd of adminCommandsIn(regionId, entries).commands) if (cmd.kind === 'prepareMerge') targets.push(cmd.target);
  return targets;
}

/**
 * The targets named by PrepareMerge entries in a replica's raft log from index `from` through
 * `last` (its unapplied entries), read from the engine (not the entry cache: nothing raft reads
 * is disturbed). Corruption if an entry is malformed.
 */
export async function prepareMergeTargetsInLog(engine: Engine, regionId: number, from: number, last: number): Promise<RegionMeta[]> {
  if (last < from) return [];
  const range = raftLogRange(regionId, from, last + 1);
  const snap = await engine.snapshot();
  try {
    const targets: RegionMeta[] = [];
    for (const kv of await snap.scan(range.start, range.end, { limit: last + 1 - from })) {
      const e = decodeEntry(raftLogIndexOf(kv.key), kv.value, `region ${regionId} raft log`);
      if (e.type !== 'Normal' || e.data.length === 0 || isWriteBatch(e.data)) continue;
      const cmd = decodeCommand(e.data, `region ${regionId} entry ${e.index}`);
      if (cmd.kind === 'prepareMerge') targets.push(cmd.target);
    }
    return targets;
  } finally {
    await snap.release();
  }
}
