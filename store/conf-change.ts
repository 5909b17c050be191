// The ChangePeer admin command (issue F7): one membership step of a region — add a learner, add
// or promote a voter, remove a peer — carried as the context of raft's ConfChangeV2 entry (a
// raft_serverpb.RaftCmdRequest whose admin request is change_peer), so raft's membership and the
// region's peer list change at the same entry. Pure: what the region becomes, or why not.
//
// Apply rules (every replica decides alike from the same region and entry):
//   - the command's epoch confVer must equal the region's: a change proposed against another
//     membership is stale (EpochNotMatch) and changes nothing — neither raft's view nor the region;
//   - addLearner: the peer's id and store are new to the region;
//   - addVoter: a learner with that id is promoted, or a new peer (id and store new) joins as voter;
//   - remove: a peer with that id is in the region;
//   - a successful change bumps confVer by one. The region state is written in the apply batch
//     with the apply state (peer.ts), so a region snapshot (store/snapshot/generator.ts) sees the
//     membership as of its index.
// A replica that applies its own removal destroys its data and leaves a tombstone (raft-store.ts).

import { FlotillaError, type PeerMeta, peerFromWire, peerToWire, type RegionEpoch, type RegionMeta, u64ToSafeNumber } from '../common/index.js';
import { messageCodec } from '../proto/index.js';
import type { ConfChange, ConfChangeSingle } from '../raft/index.js';

const codec = messageCodec('flotilla.raft_serverpb.RaftCmdRequest');

export type ChangePeerKind = 'addLearner' | 'addVoter' | 'remove';

export interface ChangePeerCommand {
  readonly regionId: number;
  /** The region's epoch when the change was proposed. */
  readonly epoch: RegionEpoch;
  readonly kind: ChangePeerKind;
  readonly peer: PeerMeta;
}

const KIND_TO_WIRE: Readonly<Record<ChangePeerKind, 'AddLearnerNode' | 'AddNode' | 'RemoveNode'>> = {
  addLearner: 'AddLearnerNode',
  addVoter: 'AddNode',
  remove: 'RemoveNode',
};

/** The raft conf change that carries `cmd` (one step, no joint state). */
export function confChangeOf(cmd: ChangePeerCommand, proposerPeerId: number): ConfChange {
  const context = codec.encode({
    header: { regionId: String(cmd.regionId), peer: { id: String(proposerPeerId) }, regionEpoch: { confVer: String(cmd.epoch.confVer), version: String(cmd.epoch.version) } },
    adminRequest: { changePeer: { changeType: KIND_TO_WIRE[cmd.kind], peer: peerToWire(cmd.peer) } },
  });
  const change: ConfChangeSingle = { type: KIND_TO_WIRE[cmd.kind], nodeId: cmd.peer.id };
  return { transition: 'auto', changes: [change], context };
}

/**
 * The ChangePeer command in a committed conf change's context; null for a context that is not one
 * (an empty one: a change proposed before ChangePeer existed). Corruption if it is malformed, or
 * if raft's change and the command disagree.
 */
export function changePeerOf(cc: ConfChange, what: string): ChangePeerCommand | null {
  if (cc.context.length === 0) return null;
  let req;
  try {
    req = codec.decode(cc.context);
  } catch (err) {
    throw new FlotillaError('Corruption', `${what}: undecodable conf change context: ${(err as Error).message}`);
  }
  const change = req.adminRequest?.changePeer;
  if (req.header === null || req.header.regionEpoch === null || change === null || change === undefined) throw new FlotillaError('Corruption', `${what}: conf change context without a ChangePeer`);
  const kind: ChangePeerKind = change.changeType === 'AddLearnerNode' ? 'addLearner' : change.changeType === 'AddNode' ? 'addVoter' : 'remove';
  const peer = peerFromWire(change.peer, `${what} changePeer.peer`);
  const single = cc.changes[0];
  if (cc.changes.length !== 1 || single === undefined || single.nodeId !== peer.id || single.type !== KIND_TO_WIRE[kind]) {
    throw new FlotillaError('Corruption', `${what}: the conf change and its ChangePeer disagree`);
  }
  return {
    regionId: u64ToSafeNumber(req.header.regionId, 'header.regionId'),
    epoch: { confVer: u64ToSafeNumber(req.header.regionEpoch.confVer, 'epoch.confVer'), version: u64ToSafeNumber(req.header.regionEpoch.version, 'epoch.version') },
    kind,
    peer: { id: peer.id, storeId: peer.storeId, role: kind === 'addLearner' ? 'learner' : 'voter' },
  };
}

export type ChangePeerDecision =
  | { readonly kind: 'ok'; readonly region: RegionMeta }
  | { readonly kind: 'error'; readonly error: FlotillaError };

function refused(region: RegionMeta, why: string, code: 'EpochNotMatch' | 'InvalidArgument' = 'InvalidArgument'): ChangePeerDecision {
  return {
    kind: 'error',
    error: new FlotillaError(code, `region ${region.id}: ${why}`, code === 'EpochNotMatch' ? { details: { currentRegions: [region] } } : undefined),
  };
}

/** What `region` becomes under `cmd` (see the file comment), or why it does not change. */
export function decideChangePeer(region: RegionMeta, cmd: ChangePeerCommand): ChangePeerDecision {
  if (cmd.regionId !== region.id) return refused(region, `a ChangePeer of region ${cmd.regionId}`);
  if (cmd.epoch.confVer !== region.epoch.confVer) {
    return refused(region, `ChangePeer proposed at confVer ${cmd.epoch.confVer}, the region is at ${region.epoch.confVer}`, 'EpochNotMatch');
  }
  const byId = region.peers.find((p) => p.id === cmd.peer.id);
  const byStore = region.peers.find((p) => p.storeId === cmd.peer.storeId);
  let peers: PeerMeta[];
  switch (cmd.kind) {
    case 'addLearner':
      if (byId !== undefined || byStore !== undefined) return refused(region, `peer ${cmd.peer.id} on store ${cmd.peer.storeId}: the region has that peer or a peer on that store`);
      peers = [...region.peers, { id: cmd.peer.id, storeId: cmd.peer.storeId, role: 'learner' }];
      break;
    case 'addVoter':
      if (byId !== undefined) {
        if (byId.role !== 'learner' || byId.storeId !== cmd.peer.storeId) return refused(region, `peer ${cmd.peer.id} is a voter already (or on another store)`);
        peers = region.peers.map((p) => (p.id === cmd.peer.id ? { ...p, role: 'voter' as const } : p));
      } else {
        if (byStore !== undefined) return refused(region, `store ${cmd.peer.storeId} holds a peer of the region already`);
        peers = [...region.peers, { id: cmd.peer.id, storeId: cmd.peer.storeId, role: 'voter' }];
      }
      break;
    case 'remove':
      if (byId === undefined) return refused(region, `peer ${cmd.peer.id} is not in the region`);
      peers = region.peers.filter((p) => p.id !== cmd.peer.id);
      if (peers.length === 0) return refused(region, 'removing the last peer');
      break;
  }
  return { kind: 'ok', region: { ...region, epoch: { confVer: region.epoch.confVer + 1, version: region.epoch.version }, peers } };
}
