// A deterministic, in-process store cluster for poll-loop tests: real RaftStores, peers, poll
// loops, KV write paths and raw API over in-memory engines, with raft messages going through
// their real wire encoding into a simulated network the test drives step by step (seeded drops,
// delays, partitions), and crashes that keep only what a machine crash keeps: every synced write
// and whatever prefix of the unsynced ones the seed decides (RocksDB's WAL semantics).

import { cfRange, ChannelCache, grpc, type Logger, raftLogRange, type RegionMeta, type Rng, silentLogger, type WriteOp } from '../../common/index.js';
import { messageCodec, type kvrpcpb, type raft_serverpb } from '../../proto/index.js';
import type { Message } from '../../raft/index.js';
import { messageToWire } from '../../raft-host/index.js';
import { MemoryEngine, type WriteOptions } from '../../store/engine/index.js';
import { KvRouting, type KvLimits } from '../../store/kv-routing.js';
import { KvWrites } from '../../store/kv-writes.js';
import { LatchSet } from '../../store/latch-set.js';
import type { Peer } from '../../store/peer.js';
import type { RaftSender } from '../../store/poll-loop.js';
import { RAFT_INIT_INDEX, RaftStore } from '../../store/raft-store.js';
import type { RaftLogGcOptions } from '../../store/raft-log-gc.js';
import { RawKv } from '../../store/raw-kv.js';
import { TxnKv } from '../../store/txn-kv.js';

/** A MemoryEngine that remembers its write batches, so a crash can keep only what was durable. */
export class CrashableEngine extends MemoryEngine {
  readonly history: { readonly ops: readonly WriteOp[]; readonly sync: boolean }[] = [];

  /** `latencyTurns` says how many event-loop turns a write takes (a disk is not instant). */
  constructor(private readonly latencyTurns: () => number = () => 0) {
    super();
  }

  /** Set: the next synced write fails without landing (the machine died during its fsync). */
  failNextSyncWrite = false;

  override async write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    for (let n = this.latencyTurns(); n > 0; n--) await new Promise<void>((resolve) => setImmediate(resolve));
    if (options.sync && this.failNextSyncWrite) {
      this.failNextSyncWrite = false;
      throw new Error('simulated crash during an fsync');
    }
    this.history.push({ ops, sync: options.sync });
    await super.write(ops, options);
  }

  /** The engine a machine crash leaves: every batch up to the last synced one, plus a random prefix of the rest. */
  async afterCrash(rng: Rng): Promise<CrashableEngine> {
    let lastSync = -1;
    for (let i = 0; i < this.history.length; i++) if (this.history[i]!.sync) lastSync = i;
    const unsynced = this.history.length - lastSync - 1;
    const keep = lastSync + 1 + (unsynced === 0 ? 0 : rng.nextInt(unsynced + 1));
    const next = new CrashableEngine(this.latencyTurns);
    for (const batch of this.history.slice(0, keep)) await next.write(batch.ops, { sync: batch.sync });
    return next;
  }
}

const LIMITS: KvLimits = { keyBytesMax: 8192, valueBytesMax: 1 << 20, batchKeysMax: 1000, scanLimitMax: 1000, pendingProposalsMax: 10_000 };
const batchCodec = messageCodec('flotilla.raft_serverpb.RaftMessageBatch');

interface InFlight {
  readonly deliverAt: number;
  readonly from: number;
  readonly to: number;
  readonly bytes: Buffer;
}

export interface SimNode {
  readonly storeId: number;
  engine: CrashableEngine;
  store: RaftStore | null;
  raw: RawKv | null;
  txn: TxnKv | null;
  /** The store's write path (latches → read barrier → decide → propose), for targeted tests. */
  writes: KvWrites | null;
  generation: number;
  /** Set: the next round throws between its durable log write and its apply (a crash there). */
  crashBeforeApply: boolean;
  crashedAtStep: number;
  /** The store stopped itself (a simulated crash inside a round): its disk still has to lose what a crash loses. */
  needsDiskCrash: boolean;
  /** Event-loop turns each write takes on this store's disk; null = the seeded default (0–2). */
  writeTurns: number | null;
}

export interface SimOptions {
  readonly rng: Rng;
  /** false: every read goes through ReadIndex (no lease reads). */
  readonly isLeaseReadEnabled?: boolean;
  readonly dropRate: number;
  readonly maxDelaySteps: number;
  /** Raft log GC limits of every store (default: the store's defaults, which a short run never reaches). */
  readonly raftLogGc?: RaftLogGcOptions;
}

const RAFT_LOG_GC_DEFAULT: RaftLogGcOptions = { countLimit: 10_000, hardCountLimit: 100_000, checkTicks: 10 };

export class StoreSim {
  readonly nodes: SimNode[] = [];
  step = 0;
  private network: InFlight[] = [];
  /** Pairs "a-b" that cannot talk (both ways). */
  readonly cut = new Set<string>();
  private readonly channels = new ChannelCache(grpc.credentials.createInsecure());
  private readonly log: Logger = silentLogger();
  readonly counters = {
    sent: 0, delivered: 0, dropped: 0, crashes: 0, crashesBeforeApply: 0, restarts: 0, entryLoads: 0,
    gcProposed: 0, gcCompactions: 0, gcCompactedEntries: 0, gcHardLimitHeldBack: 0, restartsWithTruncatedLog: 0,
  };

  constructor(readonly region: RegionMeta, private readonly options: SimOptions) {}

  static async start(storeCount: number, options: SimOptions): Promise<StoreSim> {
    const peers = Array.from({ length: storeCount }, (_, i) => ({ id: 100 + i, storeId: i + 1, role: 'voter' as const }));
    const region: RegionMeta = { id: 7, startKey: Buffer.alloc(0), endKey: Buffer.alloc(0), epoch: { confVer: 1, version: 1 }, peers };
    const sim = new StoreSim(region, options);
    for (let i = 0; i < storeCount; i++) {
      const diskRng = options.rng.fork();
      const node: SimNode = { storeId: i + 1, engine: new CrashableEngine(), store: null, raw: null, txn: null, writes: null, generation: 0, crashBeforeApply: false, crashedAtStep: -1, needsDiskCrash: false, writeTurns: null };
      node.engine = new CrashableEngine(() => node.writeTurns ?? diskRng.nextInt(3));
      sim.nodes.push(node);
      await sim.open(node);
      await node.store!.createBootstrapPeer(region);
    }
    return sim;
  }

  private async open(node: SimNode): Promise<void> {
    const generation = ++node.generation;
    const sender: RaftSender = {
      send: (peer: Peer, messages: readonly Message[]) => this.enqueue(node, generation, peer, messages),
      flush: () => undefined,
    };
    const store = await RaftStore.open({
      storeId: node.storeId,
      clusterId: 1n,
      engine: node.engine,
      raft: { electionTicks: 10, heartbeatTicks: 2 },
      raftLogGc: this.options.raftLogGc ?? RAFT_LOG_GC_DEFAULT,
      countKeys: true,
      tickMs: 100,
      entryCacheBytes: 8 * 1024, // small: lagging followers are caught up from disk, as on a busy store
      inboundMessagesMax: 100_000,
      channels: this.channels,
      resolveAddress: () => Promise.reject(new Error('simulated: no addresses')),
      logger: this.log,
      onFatal: () => {
        if (node.generation !== generation) return;
        node.needsDiskCrash = true;
        this.markCrashed(node);
      },
      afterPersist: () => {
        if (!node.crashBeforeApply || node.generation !== generation) return undefined;
        node.crashBeforeApply = false;
        this.counters.crashesBeforeApply++;
        return Promise.reject(new Error('simulated crash between the durable log write and the apply'));
      },
      simulated: { sender, isLeaseReadEnabled: this.options.isLeaseReadEnabled !== false },
    });
    node.store = store;
    if ((store.peers.get(this.region.id)?.storage.truncatedIndex ?? 0) > RAFT_INIT_INDEX) this.counters.restartsWithTruncatedLog++;
    const writes = new KvWrites(node.engine, store.loop, new LatchSet(256), LIMITS);
    const routing = new KvRouting(node.storeId, store.peers, LIMITS);
    node.writes = writes;
    node.raw = new RawKv(routing, writes);
    node.txn = new TxnKv(routing, writes);
  }

  private enqueue(node: SimNode, generation: number, peer: Peer, messages: readonly Message[]): void {
    if (node.generation !== generation || node.store === null) return;
    for (const m of messages) {
      const to = peer.peerById(m.to);
      const from = peer.peerById(peer.peerId);
      if (to === undefined || from === undefined) continue;
      this.counters.sent++;
      const bytes = batchCodec.encode({
        msgs: [{
          regionId: String(peer.regionId), fromPeer: { id: String(from.id), storeId: String(from.storeId) }, toPeer: { id: String(to.id), storeId: String(to.storeId) },
          message: messageToWire(m), regionEpoch: { confVer: '1', version: '1' },
        }],
      });
      const delay = this.options.rng.nextInt(this.options.maxDelaySteps + 1);
      this.network.push({ deliverAt: this.step + delay, from: node.storeId, to: to.storeId, bytes });
    }
  }

  private isCut(a: number, b: number): boolean {
    return this.cut.has(`${Math.min(a, b)}-${Math.max(a, b)}`);
  }

  /** Cuts (or heals) the link between two stores. */
  setCut(a: number, b: number, isCut: boolean): void {
    const key = `${Math.min(a, b)}-${Math.max(a, b)}`;
    if (isCut) this.cut.add(key);
    else this.cut.delete(key);
  }

  /** One step: ticks every live store, delivers what is due, lets every round run. */
  async advance(): Promise<void> {
    this.step++;
    for (const node of this.nodes) node.store?.loop.tick(1);
    const due = this.network.filter((f) => f.deliverAt <= this.step);
    this.network = this.network.filter((f) => f.deliverAt > this.step);
    for (const f of due) {
      const target = this.nodes[f.to - 1]!;
      if (target.store === null || this.isCut(f.from, f.to) || this.options.rng.chance(this.options.dropRate)) {
        this.counters.dropped++;
        continue;
      }
      this.counters.delivered++;
      for (const msg of batchCodec.decode(f.bytes).msgs) target.store.onRaftMessage(msg);
    }
    await settle();
  }

  private markCrashed(node: SimNode): void {
    if (node.store === null) return;
    const store = node.store;
    this.addStoreCounters(store);
    node.store = null;
    node.raw = null;
    node.txn = null;
    node.writes = null;
    node.generation++;
    node.crashedAtStep = this.step;
    this.counters.crashes++;
    void store.stop().catch(() => undefined);
  }

  /** kill -9 and a machine crash at once: only durable writes survive. */
  async crash(node: SimNode): Promise<void> {
    this.markCrashed(node);
    node.engine = await node.engine.afterCrash(this.options.rng);
  }

  /** After a crash inside a round (the store stopped itself): the engine as a machine crash leaves it. */
  async settleCrashed(node: SimNode): Promise<void> {
    if (!node.needsDiskCrash) return;
    node.needsDiskCrash = false;
    node.engine = await node.engine.afterCrash(this.options.rng);
  }

  async restart(node: SimNode): Promise<void> {
    this.counters.restarts++;
    await this.open(node);
  }

  leader(): SimNode | undefined {
    return this.nodes.find((n) => n.store?.peers.get(this.region.id)?.isLeaderReady === true);
  }

  /** Every store whose peer believes it leads (a deposed leader, a new one not yet ready…). */
  believedLeaders(): SimNode[] {
    return this.nodes.filter((n) => n.store?.peers.get(this.region.id)?.isLeader === true);
  }

  context(node: SimNode): kvrpcpb.Context {
    const peer = this.region.peers.find((p) => p.storeId === node.storeId)!;
    return {
      regionId: String(this.region.id), regionEpoch: { confVer: '1', version: '1' }, peer: { id: String(peer.id), storeId: String(node.storeId), role: 'Voter' },
      term: '0', priority: 'Normal', isolationLevel: 'SI', notFillCache: false, syncLog: false, replicaRead: false, staleRead: false,
      maxExecutionDurationMs: '0', requestSource: '', resolvedLocks: [],
    };
  }

  private addStoreCounters(store: RaftStore): void {
    this.counters.entryLoads += store.entryLoads;
    this.counters.gcProposed += store.raftLogGc.proposed;
    this.counters.gcCompactions += store.raftLogGc.compactions;
    this.counters.gcCompactedEntries += store.raftLogGc.compactedEntries;
    this.counters.gcHardLimitHeldBack += store.raftLogGc.hardLimitHeldBack;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) if (node.store !== null) this.addStoreCounters(node.store);
    for (const node of this.nodes) await node.store?.stop();
    this.channels.close();
  }
}

/** Lets every pending round, write and callback run (a few macrotask turns). */
export async function settle(turns = 4): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** How many raft log keys of `regionId` an engine holds below `index` (log GC must leave none below the first index). */
export async function raftLogKeysBelow(engine: MemoryEngine, regionId: number, index: number): Promise<number> {
  const range = raftLogRange(regionId, 0, index);
  const snap = await engine.snapshot();
  try {
    return (await snap.scan(range.start, range.end, { limit: 1_000_000 })).length;
  } finally {
    await snap.release();
  }
}

/** Records in the raw and latest CFs of an engine: what a region's key count must equal. */
export async function countedKeys(engine: MemoryEngine): Promise<number> {
  const snap = await engine.snapshot();
  try {
    let n = 0;
    for (const cf of ['raw', 'latest'] as const) {
      const range = cfRange(cf);
      n += (await snap.scan(range.start, range.end, { limit: 1_000_000 })).length;
    }
    return n;
  } finally {
    await snap.release();
  }
}

/** Keys of the raw CF of an engine with their stored bytes, for replica comparison. */
export async function rawContents(engine: MemoryEngine): Promise<string[]> {
  const snap = await engine.snapshot();
  try {
    const kvs = await snap.scan(Buffer.from([0x72]), Buffer.from([0x73]), { limit: 1_000_000 });
    return kvs.map((kv) => `${kv.key.toString('hex')}=${kv.value.toString('hex')}`);
  } finally {
    await snap.release();
  }
}

export type { raft_serverpb };
