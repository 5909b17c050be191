// Where a cluster's replicas and leaders are, from PD's HTTP API (GET /pd/api/v1/regions): for
// launchers, benches and tests that watch a cluster rebalance.

/** A region as PD's HTTP API shows it (the fields placement needs). */
export interface PdRegionPlacement {
  readonly id: number;
  readonly peers: readonly { readonly id: number; readonly storeId: number; readonly role: string }[];
  readonly leaderPeerId: number;
}

/** Replicas and leaders per store (every store of `storeIds`, zero when it holds none). */
export function replicasAndLeaders(regions: readonly PdRegionPlacement[], storeIds: readonly number[]): { replicas: Map<number, number>; leaders: Map<number, number> } {
  const replicas = new Map(storeIds.map((id) => [id, 0]));
  const leaders = new Map(storeIds.map((id) => [id, 0]));
  for (const r of regions) {
    for (const p of r.peers) replicas.set(p.storeId, (replicas.get(p.storeId) ?? 0) + 1);
    const leader = r.peers.find((p) => p.id === r.leaderPeerId);
    if (leader !== undefined) leaders.set(leader.storeId, (leaders.get(leader.storeId) ?? 0) + 1);
  }
  return { replicas, leaders };
}
