// What a region leader does with a membership order — from PD (an operator step in a region
// heartbeat response, pd-client.ts) or an admin — decided purely from the region and the leader's
// view of its followers. PD resends a step with every heartbeat until the region shows it done,
// so an order already done, or not yet possible, is skipped (and comes again).
//
//   addPeer learner   in the region (same id) ─► skip 'done'; a peer on that store ─► skip
//                     else ─► propose addLearner
//   addPeer voter     a learner with that id: caught up (raft match ≥ the leader's truncated
//                     index, i.e. it has a snapshot and the log after it) ─► propose addVoter
//                     (promote), else skip 'catchingUp'; a voter with that id ─► skip 'done';
//                     absent ─► propose addVoter (a new voter; PD adds learners first)
//   removePeer        absent ─► skip 'done'; the leader itself ─► skip 'isLeader' (PD transfers
//                     leadership first); else ─► propose remove

import type { PeerMeta, RegionMeta } from '../common/index.js';
import type { ChangePeerKind } from './conf-change.js';

export interface MembershipOrder {
  readonly kind: 'addPeer' | 'removePeer';
  /** For addPeer, role says learner or voter. */
  readonly peer: PeerMeta;
}

export interface LeaderView {
  readonly leaderPeerId: number;
  /** Follower match indexes (peer id → index). */
  readonly match: ReadonlyMap<number, number>;
  readonly truncatedIndex: number;
}

export type OrderPlan =
  | { readonly kind: 'propose'; readonly change: ChangePeerKind; readonly peer: PeerMeta }
  | { readonly kind: 'skip'; readonly reason: 'done' | 'storeHasPeer' | 'catchingUp' | 'isLeader' };

export function planMembershipOrder(region: RegionMeta, order: MembershipOrder, view: LeaderView): OrderPlan {
  const byId = region.peers.find((p) => p.id === order.peer.id);
  if (order.kind === 'removePeer') {
    if (byId === undefined) return { kind: 'skip', reason: 'done' };
    if (byId.id === view.leaderPeerId) return { kind: 'skip', reason: 'isLeader' };
    return { kind: 'propose', change: 'remove', peer: byId };
  }
  const byStore = region.peers.find((p) => p.storeId === order.peer.storeId);
  if (order.peer.role === 'learner') {
    if (byId !== undefined && byId.storeId === order.peer.storeId) return { kind: 'skip', reason: 'done' };
    if (byId !== undefined || byStore !== undefined) return { kind: 'skip', reason: 'storeHasPeer' };
    return { kind: 'propose', change: 'addLearner', peer: order.peer };
  }
  if (byId !== undefined) {
    if (byId.role === 'voter') return { kind: 'skip', reason: 'done' };
    const match = view.match.get(byId.id) ?? 0;
    if (match === 0 || match < view.truncatedIndex) return { kind: 'skip', reason: 'catchingUp' };
    return { kind: 'propose', change: 'addVoter', peer: { ...byId, role: 'voter' } };
  }
  if (byStore !== undefined) return { kind: 'skip', reason: 'storeHasPeer' };
  return { kind: 'propose', change: 'addVoter', peer: order.peer };
}
