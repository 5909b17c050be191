// The PD gRPC service (pdpb.PD): parse at the gateway, check the cluster id, serve only on the
// ready leader (followers answer PD_NOT_LEADER with the leader as a structured hint — never a
// stale read), and turn every error into a typed response header. Writes go through raft; reads come from the leader's
// applied state, guarded by its lease.

import type { Logger } from 'pino';
import {
  errorToWire, extractLogical, extractPhysical, FlotillaError, type grpc, isFlotillaError, serveInOrder, u64FromWire, u64ToSafeNumber, u64ToWire, type Counter,
} from '../common/index.js';
import type { metapb, pdpb } from '../proto/index.js';
import {
  clusterConfigPatchFromWire, clusterConfigToWire, peerFromWire, peerToWire, positiveId, regionFromWire, regionToWire, storeFromWire, storeToWire,
} from './convert.js';
import type { IdAllocator } from './id-allocator.js';
import type { KeyVisualizer } from './key-visualizer.js';
import { leadershipOf, memberToWire, pdNotLeader, withLeaderHint } from './members.js';
import type { OperatorController, OperatorStep } from './operators.js';
import type { PdRaftNode } from './raft-node.js';
import type { RegionMeta } from './region-index.js';
import type { PdApplyResult, PdMember, PdStateMachine } from './state-machine.js';
import type { TsoAllocator } from './tso.js';

/** Regions one ScanRegions returns at most (also the default when the request says 0). */
export const SCAN_REGIONS_LIMIT_MAX = 1_024;
/** New regions one AskBatchSplit may ask for. */
export const BATCH_SPLIT_COUNT_MAX = 64;
/** Times a TSO request waits for the next physical tick when a millisecond's logical space is used up. */
const TSO_EXHAUSTED_RETRIES_MAX = 20;

/** What PD keeps in memory (not replicated) from store heartbeats and region heartbeats. */
export interface StoreRuntime {
  stats: pdpb.StoreStats | null;
  lastHeartbeatMs: number;
}
export interface RegionRuntime {
  approximateSizeBytes: number;
  approximateKeys: number;
  bytesWritten: number;
  bytesRead: number;
  /** The window the traffic counters cover (the heartbeat's interval), ms; 0 when not reported. */
  trafficIntervalMs: number;
  downPeers: pdpb.PeerStats[];
  pendingPeers: metapb.Peer[];
  /**
   * When this member first saw the region at its current epoch version (a split or merge bumps
   * it), Unix ms. A region first heard of counts as just changed: after a PD leader change no
   * region merges before splitMergeIntervalMs has passed, as in TiKV's PD.
   */
  versionSeenAtMs: number;
  /** Likewise for its conf version (membership): when this member first saw the current one. */
  confVerSeenAtMs: number;
}

/** The interval a heartbeat's traffic covers, ms (0 when absent or malformed). */
function trafficIntervalMsOf(interval: pdpb.TimeInterval | null): number {
  if (interval === null) return 0;
  const start = Number(interval.startTimestamp);
  const end = Number(interval.endTimestamp);
  return Number.isFinite(start) && Number.isFinite(end) && end > start ? end - start : 0;
}

export interface PdServiceContext {
  readonly memberId: number;
  /** This member's name (config), as GetMembers and error messages show it. */
  readonly name: string;
  readonly node: PdRaftNode;
  readonly sm: PdStateMachine;
  readonly tso: TsoAllocator;
  readonly ids: IdAllocator;
  readonly operators: OperatorController;
  readonly storeRuntime: Map<number, StoreRuntime>;
  readonly regionRuntime: Map<number, RegionRuntime>;
  /** Traffic per key range over time, for the dashboard's heatmap (fed by region heartbeats). */
  readonly keyVisual?: KeyVisualizer;
  readonly logger: Logger;
  readonly requests: Counter<'type' | 'outcome'>;
  readonly tsoIssued: Counter;
  memberList(): readonly PdMember[];
  nowMs(): number;
}

type WithHeader = { header: pdpb.RequestHeader | null };

function headerOk(clusterId: bigint): pdpb.ResponseHeader__Input {
  return { clusterId: u64ToWire(clusterId) };
}

/** A response header carrying `err` (a non-Flotilla error is Internal): common/wire-errors.ts. */
export function errorHeader(clusterId: bigint, err: unknown): pdpb.ResponseHeader__Input {
  return { clusterId: u64ToWire(clusterId), error: errorToWire(err) };
}

function applyOrThrow(result: PdApplyResult): void {
  if (result.kind === 'refused') throw new FlotillaError(result.code, result.message);
}

/** How often pending operator steps are pushed to their regions' leader stores. */
export const OPERATOR_PUSH_INTERVAL_MS = 100;
/** A step pushed and not done yet is pushed again after this (a lost or refused push). */
export const OPERATOR_RESEND_MS = 3_000;

type HeartbeatCall = grpc.ServerDuplexStream<pdpb.RegionHeartbeatRequest, pdpb.RegionHeartbeatResponse__Input>;

export class PdService {
  /** Each store's region heartbeat stream (the latest one it heartbeat on): operator steps are pushed on it. */
  private readonly heartbeatStreams = new Map<number, HeartbeatCall>();
  /** When each operator's current step ("id:step") was last sent. */
  private readonly sentSteps = new Map<string, number>();

  constructor(private readonly ctx: PdServiceContext) {}

  /**
   * Sends every pending operator step not sent lately to its region's leader store, on that
   * store's heartbeat stream, without waiting for the region's next heartbeat (a quiet region's
   * comes once per store heartbeat interval): a transfer or membership step starts within
   * OPERATOR_PUSH_INTERVAL_MS of its operator. The heartbeat that shows a step done advances it.
   */
  pushOperatorSteps(): void {
    const now = this.ctx.nowMs();
    const live = new Set<string>();
    for (const op of this.ctx.operators.list()) {
      const key = `${op.id}:${op.currentStep}`;
      live.add(key);
      if (now - (this.sentSteps.get(key) ?? -Infinity) < OPERATOR_RESEND_MS) continue;
      const step = op.steps[op.currentStep];
      const region = this.ctx.sm.regions.getById(op.regionId);
      const leaderPeerId = this.ctx.sm.leaders.get(op.regionId);
      const leader = region?.peers.find((p) => p.id === leaderPeerId);
      if (step === undefined || region === undefined || leader === undefined) continue;
      const call = this.heartbeatStreams.get(leader.storeId);
      if (call === undefined || call.destroyed) continue;
      this.sentSteps.set(key, now);
      call.write({ header: headerOk(this.clusterId), regionId: String(region.id), regionEpoch: { confVer: String(region.epoch.confVer), version: String(region.epoch.version) }, targetPeer: peerToWire(leader), ...stepToWire(step) });
    }
    for (const key of this.sentSteps.keys()) if (!live.has(key)) this.sentSteps.delete(key);
  }

  private get clusterId(): bigint {
    return this.ctx.sm.clusterId;
  }

  /** Checks the cluster id and that this member is the serving leader; throws the typed reason. */
  private admit(req: WithHeader): void {
    const sent = u64FromWire(req.header?.clusterId ?? '0', 'header.clusterId');
    if (this.clusterId === 0n) throw new FlotillaError('Unavailable', 'PD is starting: the cluster id is not known yet');
    if (sent !== this.clusterId) throw new FlotillaError('ClusterIdMismatch', `request for cluster ${sent}, this PD serves cluster ${this.clusterId}`);
    if (!this.ctx.node.canServe) throw this.notLeader();
  }

  private notLeader(): FlotillaError {
    return pdNotLeader(leadershipOf(this.ctx));
  }

  /** A response header carrying `err`, a PdNotLeader from any layer with the leader hint. */
  private errorHeader(err: unknown): pdpb.ResponseHeader__Input {
    return errorHeader(this.clusterId, withLeaderHint(err, () => leadershipOf(this.ctx)));
  }

  /**
   * Wraps a unary handler: the request is admitted first (cluster id, serving leader) unless
   * `admission` is 'any-member'; errors become a typed header; outcomes are counted.
   */
  private unary<Req extends WithHeader, Resp extends { header?: pdpb.ResponseHeader__Input | null }>(
    type: string,
    handler: (req: Req) => Promise<Omit<Resp, 'header'>>,
    admission: 'serving-leader' | 'any-member' = 'serving-leader',
  ): grpc.handleUnaryCall<Req, Resp> {
    return (call, callback) => {
      const run = async (): Promise<Omit<Resp, 'header'>> => {
        if (admission === 'serving-leader') this.admit(call.request);
        return handler(call.request);
      };
      run().then(
        (body) => {
          this.ctx.requests.inc({ type, outcome: 'ok' });
          callback(null, { ...body, header: headerOk(this.clusterId) } as Resp);
        },
        (err: unknown) => {
          const code = isFlotillaError(err) ? err.code : 'Internal';
          this.ctx.requests.inc({ type, outcome: code });
          if (code === 'Internal') this.ctx.logger.error({ err, type }, 'PD request failed');
          callback(null, { header: this.errorHeader(err) } as Resp);
        },
      );
    };
  }

  handlers(): pdpb.PDHandlers {
    return {
      GetMembers: this.unary<pdpb.GetMembersRequest, pdpb.GetMembersResponse__Input>('GetMembers', async () => {
        const members = this.ctx.memberList().map(memberToWire);
        const leaderId = this.ctx.node.leaderId;
        const leader = this.ctx.memberList().find((m) => m.id === leaderId);
        return { members, leader: leader === undefined ? null : memberToWire(leader) };
      }, 'any-member'),
      AllocID: this.unary<pdpb.AllocIDRequest, pdpb.AllocIDResponse__Input>('AllocID', async () => {
        const [id] = await this.ctx.ids.alloc(1);
        return { id: u64ToWire(id!) };
      }),
      Bootstrap: this.unary<pdpb.BootstrapRequest, pdpb.BootstrapResponse__Input>('Bootstrap', async (req) => {
        const store = storeFromWire(req.store);
        const region = regionFromWire(req.region);
        applyOrThrow(await this.ctx.node.propose({ kind: 'bootstrap', store: { ...store, state: 'up' }, region }));
        return {};
      }),
      IsBootstrapped: this.unary<pdpb.IsBootstrappedRequest, pdpb.IsBootstrappedResponse__Input>('IsBootstrapped', async () => {
        return { bootstrapped: this.ctx.sm.bootstrapped };
      }),
      PutStore: this.unary<pdpb.PutStoreRequest, pdpb.PutStoreResponse__Input>('PutStore', async (req) => {
        const store = storeFromWire(req.store);
        // A store reports itself Up; offline is PD's own record and stays (tombstone is refused).
        const state = this.ctx.sm.stores.get(store.id)?.state === 'offline' ? 'offline' : 'up';
        applyOrThrow(await this.ctx.node.propose({ kind: 'putStore', store: { ...store, state } }));
        return {};
      }),
      GetStore: this.unary<pdpb.GetStoreRequest, pdpb.GetStoreResponse__Input>('GetStore', async (req) => {
        const id = positiveId(req.storeId, 'storeId');
        const store = this.ctx.sm.stores.get(id);
        if (store === undefined) throw new FlotillaError('StoreNotFound', `store ${id} not found`);
        const runtime = this.ctx.storeRuntime.get(id);
        return { store: storeToWire(store, runtime?.lastHeartbeatMs), stats: runtime?.stats ?? null };
      }),
      GetAllStores: this.unary<pdpb.GetAllStoresRequest, pdpb.GetAllStoresResponse__Input>('GetAllStores', async (req) => {
        const stores = [...this.ctx.sm.stores.values()].filter((s) => !req.excludeTombstoneStores || s.state !== 'tombstone');
        return { stores: stores.map((s) => storeToWire(s, this.ctx.storeRuntime.get(s.id)?.lastHeartbeatMs)) };
      }),
      StoreHeartbeat: this.unary<pdpb.StoreHeartbeatRequest, pdpb.StoreHeartbeatResponse__Input>('StoreHeartbeat', async (req) => {
        if (req.stats === null) throw new FlotillaError('InvalidArgument', 'stats: is required');
        const id = positiveId(req.stats.storeId, 'stats.storeId');
        const store = this.ctx.sm.stores.get(id);
        if (store === undefined) throw new FlotillaError('StoreNotFound', `store ${id} is not registered (PutStore first)`);
        if (store.state === 'tombstone') throw new FlotillaError('StoreTombstone', `store ${id} was removed from the cluster`);
        this.ctx.storeRuntime.set(id, { stats: req.stats, lastHeartbeatMs: this.ctx.nowMs() });
        return {};
      }),
      RegionHeartbeat: (call) => this.regionHeartbeatStream(call),
      Tso: (call) => this.tsoStream(call),
      GetRegion: this.unary<pdpb.GetRegionRequest, pdpb.GetRegionResponse__Input>('GetRegion', async (req) => {
        return this.route(this.ctx.sm.regions.getByKey(req.regionKey));
      }),
      GetPrevRegion: this.unary<pdpb.GetRegionRequest, pdpb.GetRegionResponse__Input>('GetPrevRegion', async (req) => {
        return this.route(this.ctx.sm.regions.getPrev(req.regionKey));
      }),
      GetRegionByID: this.unary<pdpb.GetRegionByIDRequest, pdpb.GetRegionResponse__Input>('GetRegionByID', async (req) => {
        const id = positiveId(req.regionId, 'regionId');
        const region = this.ctx.sm.regions.getById(id);
        if (region === undefined) throw new FlotillaError('RegionNotFound', `region ${id} not found`);
        return this.route(region);
      }),
      ScanRegions: this.unary<pdpb.ScanRegionsRequest, pdpb.ScanRegionsResponse__Input>('ScanRegions', async (req) => {
        if (req.limit > SCAN_REGIONS_LIMIT_MAX) throw new FlotillaError('LimitExceeded', `limit ${req.limit} exceeds ${SCAN_REGIONS_LIMIT_MAX}`);
        const limit = req.limit === 0 ? SCAN_REGIONS_LIMIT_MAX : req.limit;
        const regions = this.ctx.sm.regions.scan(req.startKey, req.endKey, limit);
        return { regions: regions.map((r) => this.route(r)) };
      }),
      AskBatchSplit: this.unary<pdpb.AskBatchSplitRequest, pdpb.AskBatchSplitResponse__Input>('AskBatchSplit', async (req) => {
        const region = regionFromWire(req.region);
        if (req.splitCount < 1 || req.splitCount > BATCH_SPLIT_COUNT_MAX) throw new FlotillaError('InvalidArgument', `splitCount ${req.splitCount} must be within [1, ${BATCH_SPLIT_COUNT_MAX}]`);
        const known = this.ctx.sm.regions.getById(region.id);
        if (known === undefined) throw new FlotillaError('RegionNotFound', `region ${region.id} not found`);
        if (known.epoch.version > region.epoch.version) throw new FlotillaError('EpochNotMatch', `region ${region.id}: epoch version ${region.epoch.version} is stale, current ${known.epoch.version}`);
        const per = 1 + region.peers.length;
        const ids = await this.ctx.ids.alloc(req.splitCount * per);
        const out: pdpb.SplitID__Input[] = [];
        for (let i = 0; i < req.splitCount; i++) {
          const chunk = ids.slice(i * per, (i + 1) * per);
          out.push({ newRegionId: u64ToWire(chunk[0]!), newPeerIds: chunk.slice(1).map(u64ToWire) });
        }
        return { ids: out };
      }),
      ReportBatchSplit: this.unary<pdpb.ReportBatchSplitRequest, pdpb.ReportBatchSplitResponse__Input>('ReportBatchSplit', async (req) => {
        const reported = req.regions.map((r, i) => regionFromWire(r, `regions[${i}]`));
        // Proposed together: raft carries them in one round (one fsync), applied in this order —
        // the regions PD already knows by id first (the split region, now smaller), then the new
        // ones into the room it left. The other way round, a new region (with right_derive the
        // first in key order) would displace the old one whole: PD would drop it, its operator
        // (the split's: "region gone" instead of finished) and its heartbeat stats, then add it
        // back as if new; the region event log would see the split either way (region-events.ts).
        const regions = [...reported.filter((r) => this.ctx.sm.regions.getById(r.id) !== undefined), ...reported.filter((r) => this.ctx.sm.regions.getById(r.id) === undefined)];
        const results = await Promise.all(regions.map((region) => this.ctx.node.propose({ kind: 'putRegion', region, leaderPeerId: 0 })));
        for (const result of results) applyOrThrow(result);
        return {};
      }),
      GetGCSafePoint: this.unary<pdpb.GetGCSafePointRequest, pdpb.GetGCSafePointResponse__Input>('GetGCSafePoint', async () => {
        return { safePoint: u64ToWire(this.ctx.sm.gcSafePoint) };
      }),
      UpdateGCSafePoint: this.unary<pdpb.UpdateGCSafePointRequest, pdpb.UpdateGCSafePointResponse__Input>('UpdateGCSafePoint', async (req) => {
        const safePoint = u64FromWire(req.safePoint, 'safePoint');
        applyOrThrow(await this.ctx.node.propose({ kind: 'updateGcSafePoint', safePoint }));
        return { newSafePoint: u64ToWire(this.ctx.sm.gcSafePoint) };
      }),
      GetClusterConfig: this.unary<pdpb.GetClusterConfigRequest, pdpb.GetClusterConfigResponse__Input>('GetClusterConfig', async () => {
        return { cluster: clusterConfigToWire(this.clusterId, this.ctx.sm.config) };
      }),
      PutClusterConfig: this.unary<pdpb.PutClusterConfigRequest, pdpb.PutClusterConfigResponse__Input>('PutClusterConfig', async (req) => {
        applyOrThrow(await this.ctx.node.propose({ kind: 'patchConfig', patch: clusterConfigPatchFromWire(req.cluster) }));
        return {};
      }),
    };
  }

  private route(region: RegionMeta | undefined): Omit<pdpb.GetRegionResponse__Input, 'header'> {
    if (region === undefined) return { region: null, leader: null };
    const leaderPeerId = this.ctx.sm.leaders.get(region.id);
    const leader = region.peers.find((p) => p.id === leaderPeerId);
    const runtime = this.ctx.regionRuntime.get(region.id);
    return { region: regionToWire(region), leader: leader === undefined ? null : peerToWire(leader), downPeers: runtime?.downPeers ?? [], pendingPeers: runtime?.pendingPeers ?? [] };
  }

  /** TSO stream: one response per request, in order (see serveInOrder for back-pressure). */
  private tsoStream(call: grpc.ServerDuplexStream<pdpb.TsoRequest, pdpb.TsoResponse__Input>): void {
    serveInOrder(call, (req: pdpb.TsoRequest) => this.answerTso(req));
  }

  private async answerTso(req: pdpb.TsoRequest): Promise<pdpb.TsoResponse__Input> {
    try {
      this.admit(req);
      if (req.count === 0) throw new FlotillaError('InvalidArgument', 'count must be at least 1');
      let result = this.ctx.tso.allocate(req.count);
      for (let i = 0; result.kind === 'exhausted' && i < TSO_EXHAUSTED_RETRIES_MAX; i++) {
        await this.ctx.tso.update();
        result = this.ctx.tso.allocate(req.count);
      }
      if (result.kind === 'not-ready') throw this.notLeader();
      if (result.kind === 'exhausted') throw new FlotillaError('ServerIsBusy', 'TSO logical space exhausted; retry', { details: { backoffMs: 1 } });
      this.ctx.tsoIssued.inc(result.count);
      this.ctx.requests.inc({ type: 'Tso', outcome: 'ok' });
      return {
        header: headerOk(this.clusterId),
        count: result.count,
        timestamp: { physical: u64ToWire(extractPhysical(result.lastTs)), logical: Number(extractLogical(result.lastTs)) },
      };
    } catch (err) {
      this.ctx.requests.inc({ type: 'Tso', outcome: isFlotillaError(err) ? err.code : 'Internal' });
      return { header: this.errorHeader(err), count: 0 };
    }
  }

  /**
   * Region heartbeats: record changed region metadata through raft (epoch or leader changed),
   * keep sizes and traffic in memory, and answer with the region's pending operator step.
   */
  private regionHeartbeatStream(call: HeartbeatCall): void {
    const forget = (): void => {
      for (const [storeId, c] of this.heartbeatStreams) if (c === call) this.heartbeatStreams.delete(storeId);
    };
    call.on('close', forget);
    call.on('error', forget);
    serveInOrder(call, (req: pdpb.RegionHeartbeatRequest) => this.onRegionHeartbeat(req, call));
  }

  /** Answers with the region's pending operator step, an error header, or nothing. */
  private async onRegionHeartbeat(req: pdpb.RegionHeartbeatRequest, call: HeartbeatCall): Promise<pdpb.RegionHeartbeatResponse__Input | undefined> {
    try {
      this.admit(req);
      const region = regionFromWire(req.region);
      const leader = peerFromWire(req.leader, 'leader');
      if (!region.peers.some((p) => p.id === leader.id)) throw new FlotillaError('InvalidArgument', `leader peer ${leader.id} is not a peer of region ${region.id}`);
      for (const stats of req.downPeers) {
        peerFromWire(stats.peer, 'downPeers.peer');
        u64ToSafeNumber(stats.downSeconds, 'downPeers.downSeconds');
      }
      for (const peer of req.pendingPeers) peerFromWire(peer, 'pendingPeers');
      if (this.heartbeatStreams.get(leader.storeId) !== call) this.heartbeatStreams.set(leader.storeId, call);
      const before = this.ctx.regionRuntime.get(region.id);
      const knownBefore = this.ctx.sm.regions.getById(region.id);
      const isSameVersion = before !== undefined && knownBefore !== undefined && knownBefore.epoch.version === region.epoch.version;
      const isSameConfVer = before !== undefined && knownBefore !== undefined && knownBefore.epoch.confVer === region.epoch.confVer;
      this.ctx.regionRuntime.set(region.id, {
        approximateSizeBytes: u64ToSafeNumber(req.approximateSize, 'approximateSize'),
        approximateKeys: u64ToSafeNumber(req.approximateKeys, 'approximateKeys'),
        bytesWritten: u64ToSafeNumber(req.bytesWritten, 'bytesWritten'),
        bytesRead: u64ToSafeNumber(req.bytesRead, 'bytesRead'),
        trafficIntervalMs: trafficIntervalMsOf(req.interval),
        downPeers: req.downPeers,
        pendingPeers: req.pendingPeers,
        versionSeenAtMs: isSameVersion ? before.versionSeenAtMs : this.ctx.nowMs(),
        confVerSeenAtMs: isSameConfVer ? before.confVerSeenAtMs : this.ctx.nowMs(),
      });
      this.ctx.keyVisual?.recordHeartbeat(this.ctx.nowMs(), region, req);
      const known = this.ctx.sm.regions.getById(region.id);
      const changed =
        known === undefined ||
        known.epoch.version !== region.epoch.version ||
        known.epoch.confVer !== region.epoch.confVer ||
        this.ctx.sm.leaders.get(region.id) !== leader.id;
      if (changed) {
        const result = await this.ctx.node.propose({ kind: 'putRegion', region, leaderPeerId: leader.id });
        if (result.kind === 'staleRegion') {
          // The reporter is behind (e.g. a deposed leader that has not heard yet): ignored, as in
          // TiKV's PD; it learns the current epoch from its own region's peers.
          this.ctx.requests.inc({ type: 'RegionHeartbeat', outcome: 'EpochNotMatch' });
          return undefined;
        }
        applyOrThrow(result);
      }
      this.ctx.requests.inc({ type: 'RegionHeartbeat', outcome: 'ok' });
      const step = this.ctx.operators.onHeartbeat(region, leader.id);
      if (step === undefined) return undefined;
      return { header: headerOk(this.clusterId), regionId: String(region.id), regionEpoch: { confVer: String(region.epoch.confVer), version: String(region.epoch.version) }, targetPeer: peerToWire(leader), ...stepToWire(step) };
    } catch (err) {
      const code = isFlotillaError(err) ? err.code : 'Internal';
      this.ctx.requests.inc({ type: 'RegionHeartbeat', outcome: code });
      if (code === 'Internal') this.ctx.logger.error({ err }, 'region heartbeat failed');
      // Errors on the heartbeat stream are reported in a response header so the store can react
      // (e.g. find the new PD leader) without the stream being torn down.
      return { header: this.errorHeader(err), regionId: req.region?.id ?? '0' };
    }
  }
}

function stepToWire(step: OperatorStep): Partial<pdpb.RegionHeartbeatResponse__Input> {
  switch (step.kind) {
    case 'addPeer':
      return { changePeer: { peer: peerToWire(step.peer), changeType: step.peer.role === 'learner' ? 'AddLearnerNode' : 'AddNode' } };
    case 'promoteLearner':
      return { changePeer: { peer: peerToWire({ ...step.peer, role: 'voter' }), changeType: 'AddNode' } };
    case 'removePeer':
      return { changePeer: { peer: peerToWire(step.peer), changeType: 'RemoveNode' } };
    case 'transferLeader':
      return { transferLeader: { peer: peerToWire(step.toPeer), peers: [] } };
    case 'split':
      return { splitRegion: { policy: step.keys.length === 0 ? 'Approximate' : 'UseKey', keys: [...step.keys] } };
    case 'merge':
      return { merge: { target: { id: String(step.targetRegionId) } } };
  }
}
