// A PD member: its RocksDB, raft group, state machine, TSO and ID allocators, operators, the PD
// gRPC service (clients and stores), the peer service (raft between members) and the HTTP
// dashboard API. start() brings all of it up; stop() takes it down in reverse, also on failure.

import { mkdir } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import {
  ChannelCache, channelCredentials, Counter, createGrpcServer, createRng, createMetricsRegistry, FlotillaError, Gauge, Histogram, INSECURE, LATENCY_BUCKETS_SECONDS, SimpleRocks, startGrpcServer,
  TaskGroup, u64FromWire, type StartedGrpcServer, grpc,
} from '../common/index.js';
import { serviceDefinition, type pdpb } from '../proto/index.js';
import { EMPTY_CONF_STATE, type ConfChange, type ConfState } from '../raft/index.js';
import { hostPort, initialClusterOf, memberIdOf, type PdConfig } from './config.js';
import { PdDashboardHttp } from './dashboard-http.js';
import { PdHttpApi } from './http-api.js';
import { KeyVisualizer, type KeyVisualizerOptions } from './key-visualizer.js';
import { PdLeaderServices } from './leader-services.js';
import { OperatorController } from './operators.js';
import { PeerFaults } from './peer-faults.js';
import { clusterMismatch, PeerTransport } from './peer-transport.js';
import { PdRaftLog } from './raft-log.js';
import { PdRaftNode } from './raft-node.js';
import { operatorEvent, regionChangeEvents, RegionEventLog, type RegionEventInput } from './region-events.js';
import { messageFromWire } from '../raft-host/index.js';
import { OPERATOR_PUSH_INTERVAL_MS, PdService, type RegionRuntime, type StoreRuntime } from './service.js';
import { PdStateMachine, type PdMember } from './state-machine.js';
import { SchedulerController } from './schedulers/index.js';
import { TSO_UPDATE_INTERVAL_MS } from './tso.js';

/** How often a member re-checks that its own record (URLs) is in the replicated member list. */
const MEMBER_SELF_CHECK_INTERVAL_MS = 1_000;

export interface PdServerOptions {
  /** Called once if the member hits an error it cannot continue from (the executable exits). */
  readonly onFatal?: (err: unknown) => void;
  /** The dashboard heatmap's bucket width and history (key-visualizer.ts defaults: 10 s × 360). */
  readonly keyVisualizer?: KeyVisualizerOptions;
}

export interface PdAddresses {
  readonly client: string;
  readonly peer: string;
  readonly http: string;
}

export class PdServer {
  readonly memberId: number;
  private readonly tasks: TaskGroup;
  private readonly timers: NodeJS.Timeout[] = [];
  private grpcClient: StartedGrpcServer | undefined;
  private grpcPeer: StartedGrpcServer | undefined;
  private http: HttpServer | undefined;
  private transport: PeerTransport | undefined;
  private channels: ChannelCache | undefined;
  private node: PdRaftNode | undefined;
  private schedulers: SchedulerController | undefined;
  private db: SimpleRocks | undefined;
  addresses: PdAddresses = { client: '', peer: '', http: '' };
  private stopping = false;
  /** Raft traffic this member drops (tests: the `pd::peer-drop` failpoint). */
  readonly faults = new PeerFaults();

  private constructor(
    private readonly config: PdConfig,
    private readonly log: Logger,
    private readonly options: PdServerOptions,
  ) {
    this.memberId = memberIdOf(config.name);
    this.tasks = new TaskGroup(log);
  }

  /** Starts a member. On any failure everything already started is stopped again. */
  static async start(config: PdConfig, log: Logger, options: PdServerOptions = {}): Promise<PdServer> {
    const server = new PdServer(config, log, options);
    try {
      await server.startAll();
      return server;
    } catch (err) {
      await server.stop().catch(() => undefined);
      throw err;
    }
  }

  private async startAll(): Promise<void> {
    const { config } = this;
    const dataDir = config.dataDir === '' ? `flotilla-pd.${config.name}` : config.dataDir;
    await mkdir(dataDir, { recursive: true });
    this.db = await SimpleRocks.open(join(dataDir, 'raft'));
    const raftLog = await PdRaftLog.open(this.db);
    const sm = new PdStateMachine();
    const initial = initialClusterOf(config);
    const isEmpty = raftLog.storage.lastIndex() === 0 && raftLog.storage.initialState().hardState.term === 0;
    if (isEmpty && config.initialClusterState === 'new') await this.bootstrapLog(raftLog, sm, initial);
    const saved = raftLog.storage.snapshot();
    if (saved !== 'unavailable' && saved.metadata.index > 0) sm.restore(saved.data);
    const applied = saved === 'unavailable' ? 0 : saved.metadata.index;

    const registry = createMetricsRegistry({ defaultLabels: { member: config.name } });
    const requests = new Counter({ name: 'flotilla_pd_requests_total', help: 'PD requests by type and outcome', labelNames: ['type', 'outcome'] as const, registers: [registry] });
    const tsoIssued = new Counter({ name: 'flotilla_pd_tso_issued_total', help: 'Timestamps issued', registers: [registry] });

    const droppedBatches = new Counter({ name: 'flotilla_pd_peer_batches_dropped_total', help: 'Raft message batches to other members dropped (unreachable or not draining; raft resends)', registers: [registry] });
    this.channels = new ChannelCache(await channelCredentials(INSECURE));
    const transport = new PeerTransport({
      selfId: this.memberId,
      clusterId: () => sm.clusterId,
      channels: this.channels,
      logger: this.log,
      // Reported after the current raft round: send() runs between ready() and advance().
      onUnreachable: (to) => queueMicrotask(() => this.node?.reportUnreachable(to)),
      onSnapshotSent: (to, outcome) => queueMicrotask(() => this.node?.reportSnapshot(to, outcome)),
      onDropped: () => droppedBatches.inc(),
      faults: this.faults,
    });
    this.transport = transport;
    for (const [name, address] of initial) if (memberIdOf(name) !== this.memberId) transport.setPeerAddress(memberIdOf(name), address);

    const leaderServices = new PdLeaderServices({ sm, node: () => this.node, nowMs: () => Date.now(), logger: this.log, tasks: this.tasks, isStopping: () => this.stopping });
    const { tso, ids } = leaderServices;
    // The region event log (dashboard markers, GET /region-events) records on the serving leader
    // only: a follower's applies, and entries replayed after a restart, are not news.
    const regionEvents = new RegionEventLog();
    const isRecording = (): boolean => this.node?.isLeaderReady === true;
    const record = (what: string, events: () => readonly RegionEventInput[]): void => {
      if (!isRecording()) return;
      try {
        for (const e of events()) regionEvents.append(e);
      } catch (err) {
        // An event is never worth failing the apply or the heartbeat that observed it.
        this.log.warn({ err, what }, 'region event not recorded');
      }
    };
    const operators = new OperatorController(
      () => Date.now(),
      (op, outcome) =>
        record('operator', () => {
          const leaderPeerId = sm.leaders.get(op.regionId);
          const leaderStoreId = sm.regions.getById(op.regionId)?.peers.find((p) => p.id === leaderPeerId)?.storeId;
          return [operatorEvent(op, outcome, Date.now(), leaderStoreId)];
        }),
    );
    sm.onRegionChanged = (change) => record('region', () => regionChangeEvents(change, Date.now()));
    const persistSeconds = new Histogram({ name: 'flotilla_pd_raft_persist_duration_seconds', help: 'Durable write of one raft ready round', labelNames: ['sync'] as const, buckets: [...LATENCY_BUCKETS_SECONDS], registers: [registry] });
    const proposals = new Counter({ name: 'flotilla_pd_raft_proposals_total', help: 'PD raft proposals by outcome', labelNames: ['outcome'] as const, registers: [registry] });
    const leaderships = new Counter({ name: 'flotilla_pd_leader_changes_total', help: 'Times this member became the serving leader', registers: [registry] });
    const node = new PdRaftNode({
      metrics: {
        observePersist: (seconds, isSynced) => persistSeconds.observe({ sync: isSynced ? 'true' : 'false' }, seconds),
        countProposal: (outcome) => proposals.inc({ outcome }),
        countLeadership: () => leaderships.inc(),
      },
      id: this.memberId,
      log: raftLog,
      sm,
      applied,
      electionTicks: config.electionTicks,
      heartbeatTicks: config.heartbeatTicks,
      tickMs: config.tickMs,
      logger: this.log,
      send: (messages) => transport.send(messages),
      onConfChange: (cc, cs) => this.onConfChange(cc, cs, sm),
      onLeadershipChange: (ready) => leaderServices.onLeadershipChange(ready),
      onFatal: (err) => this.options.onFatal?.(err),
    });
    this.node = node;
    new Gauge({ name: 'flotilla_pd_is_leader', help: '1 on the serving PD leader', registers: [registry], collect() { this.set(node.canServe ? 1 : 0); } });
    new Gauge({ name: 'flotilla_pd_raft_term', help: 'Current raft term', registers: [registry], collect() { this.set(node.raw.term); } });
    new Gauge({ name: 'flotilla_pd_raft_applied_index', help: 'Last applied raft index', registers: [registry], collect() { this.set(node.appliedIndex); } });
    new Gauge({ name: 'flotilla_pd_regions', help: 'Regions known to PD', registers: [registry], collect() { this.set(sm.regions.size); } });
    new Gauge({ name: 'flotilla_pd_region_events', help: `Region events held in memory (at most ${regionEvents.capacity})`, registers: [registry], collect() { this.set(regionEvents.size); } });
    new Gauge({ name: 'flotilla_pd_stores', help: 'Stores known to PD', registers: [registry], collect() { this.set(sm.stores.size); } });

    const memberList = (): PdMember[] => [...sm.members.values()].sort((a, b) => a.name.localeCompare(b.name));
    const storeRuntime = new Map<number, StoreRuntime>();
    const regionRuntime = new Map<number, RegionRuntime>();
    const schedulers = new SchedulerController({
      sm,
      canServe: () => node.canServe,
      operators,
      allocIds: (count) => ids.alloc(count),
      storeRuntime,
      regionRuntime,
      nowMs: () => Date.now(),
      logger: this.log,
      registry,
      // Scheduling randomness (tie-breaks, scatter) needs no replay across processes; a seed per member start.
      rng: createRng(Date.now() ^ this.memberId),
      proposeDeleteStore: (storeId) => node.proposeAndForget({ kind: 'deleteStore', storeId }),
      membershipSettleMs: config.membershipSettleMs,
      regionCooldownMs: config.regionCooldownMs,
    });
    this.schedulers = schedulers;
    sm.onRegionRemoved = (regionId) => {
      regionRuntime.delete(regionId);
      operators.removeRegion(regionId);
      schedulers.removeRegion(regionId);
    };
    const keyVisual = new KeyVisualizer(this.options.keyVisualizer);
    const ctx = { memberId: this.memberId, name: config.name, node, sm, tso, ids, operators, storeRuntime, regionRuntime, keyVisual, regionEvents, logger: this.log, requests, tsoIssued, memberList, nowMs: () => Date.now() };

    // Peer service first: the other members need it to elect a leader.
    const peerServer = createGrpcServer();
    peerServer.addService(serviceDefinition('flotilla.pdpb.PDPeer'), { Raft: (call: grpc.ServerReadableStream<pdpb.PeerMessageBatch, pdpb.PeerDone__Input>, cb: grpc.sendUnaryData<pdpb.PeerDone__Input>) => this.onPeerStream(call, cb, sm) } satisfies pdpb.PDPeerHandlers);
    const peer = hostPort(config.peerUrls[0]!, '--peer-urls');
    this.grpcPeer = await startGrpcServer(peerServer, peer.host, peer.port);

    const clientServer = createGrpcServer();
    const service = new PdService(ctx);
    clientServer.addService(serviceDefinition('flotilla.pdpb.PD'), service.handlers());
    const client = hostPort(config.clientUrls[0]!, '--client-urls');
    this.grpcClient = await startGrpcServer(clientServer, client.host, client.port);

    const httpApi = new PdHttpApi({ ...ctx, metrics: registry, schedulers, rng: createRng(Date.now() ^ (this.memberId >>> 1)), addMember: (m) => this.addMember(m, sm), removeMember: (n) => this.removeMember(n, sm) }, this.log, new PdDashboardHttp(ctx));
    const httpAddr = hostPort(config.httpUrl, '--http-url');
    this.http = httpApi.createServer();
    const http = this.http;
    const httpPort = await new Promise<number>((resolve, reject) => {
      http.once('error', (err) => reject(new FlotillaError('Unavailable', `HTTP: cannot listen on ${config.httpUrl}: ${err.message}`, { cause: err })));
      http.listen(httpAddr.port, httpAddr.host, () => {
        const a = http.address();
        resolve(typeof a === 'object' && a !== null ? a.port : httpAddr.port);
      });
    });
    this.addresses = { client: this.grpcClient.address, peer: this.grpcPeer.address, http: `${httpAddr.host}:${httpPort}` };

    this.timers.push(setInterval(() => node.tick(), config.tickMs));
    this.timers.push(
      setInterval(() => {
        if (tso.isReady) tso.update().catch((err: unknown) => this.log.warn({ err }, 'TSO window renewal failed; TSO stops until re-synced'));
      }, TSO_UPDATE_INTERVAL_MS),
    );
    this.timers.push(setInterval(() => this.selfCheck(sm, transport), MEMBER_SELF_CHECK_INTERVAL_MS));
    this.timers.push(setInterval(() => service.pushOperatorSteps(), OPERATOR_PUSH_INTERVAL_MS));
    for (const t of this.timers) t.unref();
    schedulers.start(config.scheduleIntervalMs);
    this.syncPeerAddresses(sm, transport);
    if (node.members.voters.length === 1 && node.members.voters[0] === this.memberId) node.campaign();
    this.log.info({ memberId: this.memberId, ...this.addresses, dataDir }, 'PD member started');
  }

  /** A brand-new cluster: every initial member writes the same first snapshot (index 1, term 1). */
  private async bootstrapLog(raftLog: PdRaftLog, sm: PdStateMachine, initial: ReadonlyMap<string, string>): Promise<void> {
    for (const [name, address] of initial) {
      const self = memberIdOf(name) === this.memberId;
      sm.apply({ kind: 'putMember', member: { id: memberIdOf(name), name, peerUrls: [address], clientUrls: self ? [...this.config.clientUrls] : [] } });
    }
    // Only the peer URLs are identical on every member; client URLs are filled in by each member later.
    const common = new PdStateMachine();
    for (const [name, address] of initial) common.apply({ kind: 'putMember', member: { id: memberIdOf(name), name, peerUrls: [address], clientUrls: [] } });
    const voters = [...initial.keys()].map(memberIdOf).sort((a, b) => a - b);
    const confState: ConfState = { ...EMPTY_CONF_STATE, voters };
    await raftLog.persist({
      snapshot: { metadata: { index: 1, term: 1, confState }, data: common.snapshot() },
      hardState: { term: 1, vote: 0, commit: 1 },
      entries: [],
      mustSync: true,
    });
    sm.restore(common.snapshot());
    this.log.info({ voters }, 'bootstrapped a new PD cluster log');
  }

  private onConfChange(cc: ConfChange, cs: ConfState, sm: PdStateMachine): void {
    if (this.transport !== undefined) this.syncPeerAddresses(sm, this.transport);
    const members = new Set([...cs.voters, ...cs.learners]);
    if (!members.has(this.memberId) && cc.changes.some((c) => c.nodeId === this.memberId && c.type === 'RemoveNode')) {
      this.log.warn('this PD member was removed from the cluster; it keeps running but no longer votes or serves');
    }
  }

  /** Peer addresses come from the replicated member list (plus --initial-cluster before it is known). */
  private syncPeerAddresses(sm: PdStateMachine, transport: PeerTransport): void {
    for (const m of sm.members.values()) {
      const address = m.peerUrls[0];
      if (m.id !== this.memberId && address !== undefined) transport.setPeerAddress(m.id, hostPort(address, 'peerUrls').address);
    }
  }

  private selfCheck(sm: PdStateMachine, transport: PeerTransport): void {
    const node = this.node;
    if (node === undefined || this.stopping) return;
    this.syncPeerAddresses(sm, transport);
    const self = sm.members.get(this.memberId);
    const { client, peer, http } = this.addresses;
    const isCurrent =
      self !== undefined && self.clientUrls.length === 1 && self.clientUrls[0] === client && self.peerUrls.length === 1 && self.peerUrls[0] === peer && self.statusAddress === http;
    if (node.leaderId !== 0 && self !== undefined && !isCurrent) {
      node.proposeAndForget({ kind: 'updateMember', member: { ...self, clientUrls: [client], peerUrls: [peer], statusAddress: http } });
    }
  }

  private onPeerStream(call: grpc.ServerReadableStream<pdpb.PeerMessageBatch, pdpb.PeerDone__Input>, cb: grpc.sendUnaryData<pdpb.PeerDone__Input>, sm: PdStateMachine): void {
    let refused = false;
    call.on('data', (batch: pdpb.PeerMessageBatch) => {
      if (refused) return;
      const theirs = u64FromWire(batch.header?.clusterId ?? '0', 'header.clusterId');
      if (theirs !== 0n && sm.clusterId !== 0n && theirs !== sm.clusterId) {
        refused = true;
        this.log.warn({ theirs: theirs.toString(), ours: sm.clusterId.toString() }, 'refusing raft stream from another cluster');
        cb({ code: grpc.status.FAILED_PRECONDITION, details: clusterMismatch(sm.clusterId, theirs).message });
        return;
      }
      for (const wire of batch.msgs) {
        try {
          const m = messageFromWire(wire);
          if (m.to !== this.memberId || !this.faults.allowsIn(m.from)) continue;
          this.node?.step(m);
        } catch (err) {
          this.log.warn({ err }, 'dropping a malformed raft message');
        }
      }
    });
    call.on('end', () => {
      if (!refused) cb(null, {});
    });
    call.on('error', () => {
      /* the peer went away; it re-dials */
    });
  }

  private async addMember(m: { name: string; peerUrls: string[]; clientUrls: string[] }, sm: PdStateMachine): Promise<PdMember> {
    const node = this.node!;
    const id = memberIdOf(m.name);
    if (node.members.voters.includes(id) || node.members.learners.includes(id)) throw new FlotillaError('InvalidArgument', `member ${m.name} is already in the cluster`);
    for (const u of m.peerUrls) hostPort(u, 'peerUrls');
    const member: PdMember = { id, name: m.name, peerUrls: m.peerUrls.map((u) => hostPort(u, 'peerUrls').address), clientUrls: m.clientUrls.map((u) => hostPort(u, 'clientUrls').address) };
    await node.propose({ kind: 'putMember', member });
    this.syncPeerAddresses(sm, this.transport!);
    await node.proposeConfChange({ transition: 'auto', changes: [{ type: 'AddNode', nodeId: id }], context: new Uint8Array(0) });
    return member;
  }

  private async removeMember(name: string, sm: PdStateMachine): Promise<void> {
    const node = this.node!;
    const member = [...sm.members.values()].find((m) => m.name === name);
    if (member === undefined) throw new FlotillaError('InvalidArgument', `no member named ${name}`);
    // Applying the conf change also drops the member from the replicated member list (raft-node).
    await node.proposeConfChange({ transition: 'auto', changes: [{ type: 'RemoveNode', nodeId: member.id }], context: new Uint8Array(0) });
    this.transport?.removePeer(member.id);
  }

  /** Stops serving and releases every resource; safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.schedulers?.stop();
    await Promise.all([this.grpcClient?.stop(500), this.grpcPeer?.stop(500)]);
    if (this.http !== undefined) {
      const http = this.http;
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
    await this.node?.stop();
    await this.tasks.close();
    this.transport?.close();
    this.channels?.close();
    await this.db?.close();
    this.log.info('PD member stopped');
  }
}
