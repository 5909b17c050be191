// When a region leader last heard each member of its group (TiKV's peer_heartbeats): the down
// peers its region heartbeat reports to PD. PD replaces a replica reported down long enough
// (placement-driver/schedulers/replica-checker.ts) — the only way a replica lost on a store that
// is itself alive (its data gone, a tombstone where it was) comes back: the store's own checks see
// nothing wrong with it, and PD, hearing from the store, takes the store for healthy.
//
// A member counts as heard when a raft message from it is stepped, and as just heard when this
// peer starts tracking it: at the first check of a leadership term (what it heard as a follower,
// or in an earlier term, says nothing of the followers), or when it joins the membership. A quiet group
// says nothing on purpose — raft lets a group go quiet only with every follower caught up — so
// while the group is quiet every member counts as heard; silence counts once it wakes.

import type { PeerMeta } from '../common/index.js';

export interface DownPeer {
  readonly peer: PeerMeta;
  /** Whole seconds since the leader last heard it. */
  readonly downSeconds: number;
}

export class PeerLiveness {
  private readonly heardMs = new Map<number, number>();
  /** The leader term of the last check; 0 before the first. */
  private term = 0;

  /** A raft message from `peerId` was stepped at `nowMs`. */
  heard(peerId: number, nowMs: number): void {
    this.heardMs.set(peerId, nowMs);
  }

  /**
   * The members other than `selfId` not heard for at least `downAfterMs`, in membership order, as
   * the leader of `term`. A member seen here for the first time in this term counts as heard now;
   * members that left are forgotten. `isQuiet`: the group sleeps — everyone counts as heard now,
   * none is down.
   */
  downPeers(members: readonly PeerMeta[], selfId: number, term: number, nowMs: number, downAfterMs: number, isQuiet: boolean): DownPeer[] {
    if (term !== this.term) {
      this.term = term;
      this.heardMs.clear();
    }
    for (const id of this.heardMs.keys()) if (!members.some((p) => p.id === id)) this.heardMs.delete(id);
    const down: DownPeer[] = [];
    for (const peer of members) {
      if (peer.id === selfId) continue;
      const heard = this.heardMs.get(peer.id);
      if (heard === undefined || isQuiet) {
        this.heardMs.set(peer.id, nowMs);
        continue;
      }
      const silentMs = nowMs - heard;
      if (silentMs >= downAfterMs) down.push({ peer, downSeconds: Math.floor(silentMs / 1000) });
    }
    return down;
  }
}
