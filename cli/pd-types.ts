// The shapes of PD's HTTP answers the CLI reads (see placement-driver/README.md for the API).
// Fields the CLI does not print are left out; unknown fields pass through to --json untouched.

export interface StoreStatsJson {
  readonly capacity?: string;
  readonly available?: string;
  readonly usedSize?: string;
  readonly regionCount?: number;
  readonly leaderCount?: number;
}

export interface StoreJson {
  readonly id: number;
  readonly address: string;
  readonly statusAddress?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly state: string;
  readonly version?: string;
  readonly startTimestampMs?: number;
  readonly regionCount: number;
  readonly leaderCount: number;
  readonly lastHeartbeatMs: number;
  readonly stats: StoreStatsJson | null;
}

export interface PeerJson {
  readonly id: number;
  readonly storeId: number;
  readonly role?: string;
}

export interface RegionJson {
  readonly id: number;
  /** Raw user key, hex ('' = the start or end of the key space). */
  readonly startKey: string;
  readonly endKey: string;
  readonly epoch: { readonly confVer: number; readonly version: number };
  readonly peers: readonly PeerJson[];
  readonly leaderPeerId: number;
  readonly approximateSizeBytes: number;
  readonly approximateKeys: number;
  /** As the region's leader last reported: members it has not heard from, with how long. */
  readonly downPeers?: readonly { readonly peerId: number; readonly storeId: number; readonly downSeconds: number }[];
  /** Members behind the leader's compacted log (waiting for a snapshot). */
  readonly pendingPeerIds?: readonly number[];
}

export interface RegionsPageJson {
  readonly count: number;
  readonly regions: readonly RegionJson[];
  readonly nextStartKey: string | null;
}

export interface OperatorJson {
  readonly regionId: number;
  readonly kind?: string;
  readonly steps: readonly unknown[];
  readonly createdAtMs?: number;
  readonly [field: string]: unknown;
}

/** A store is "up" while its heartbeats arrive; PD's state says whether it is in service. */
export const STORE_HEARTBEAT_STALE_MS = 30_000;

export function storeLiveness(store: StoreJson, nowMs: number = Date.now()): 'up' | 'down' {
  return store.lastHeartbeatMs > 0 && nowMs - store.lastHeartbeatMs <= STORE_HEARTBEAT_STALE_MS ? 'up' : 'down';
}

export interface SchedulerJson {
  readonly name: string;
  readonly isEnabled: boolean;
  readonly kind: string;
  readonly summary?: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly limit: number;
  readonly inFlight: number;
  readonly runs?: number;
  readonly operatorsCreated: number;
}

/** An operator as POST /operators answers it (201), or a scatter with nothing to move (200, no id). */
export interface CreatedOperatorJson {
  readonly id?: number;
  readonly regionId: number;
  readonly kind: string;
  readonly description?: string;
  readonly steps: readonly Readonly<Record<string, unknown>>[];
  readonly message?: string;
}
