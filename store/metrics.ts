// The store's prom-client instruments (DESIGN.md §9): group-commit writes (fsync latency and batch
// sizes), apply, propose → apply latency, proposals by outcome, elections, raft message traffic,
// KV requests by type and outcome, queue depths, region and leader counts, reads by kind, raft log
// GC (entries held, compactions, hard-limit hold-backs). Every
// metric is created once here; observing one allocates nothing after its label child is cached.
// Label values are bounded: fixed unions, and at most KV_LABEL_VALUES_MAX distinct request types
// and outcomes (anything past it is counted as 'other', so a bug cannot explode the series count).

import { Counter, FastCounter, FastHistogram, Gauge, LATENCY_BUCKETS_SECONDS, type FastCounterChild, type FastHistogramChild, type Registry } from '../common/index.js';
import type { RowCacheStats } from './engine/index.js';
import type { HelperThreadsState } from './helper-threads.js';

/**
 * Distinct values each of the KV `type` and `outcome` labels may take. The KV service has ~22
 * request types and the error registry ~32 codes; 64 leaves room and still bounds the series
 * (64 × 64 at worst) if a caller passes something unbounded by mistake.
 */
export const KV_LABEL_VALUES_MAX = 64;

/** Items per write batch, entries per apply batch, regions per batch: 1 to 16 Ki in powers of 2. */
const COUNT_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 2_048, 4_096, 8_192, 16_384];
/** Bytes per write batch: 64 B to 64 MiB in powers of 4. */
const BYTES_BUCKETS: readonly number[] = [64, 256, 1_024, 4_096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864];

export type ProposalOutcome = 'applied' | 'stale' | 'refused' | 'timeout' | 'failed' | 'busy';
export type RaftMessageDirection = 'sent' | 'received' | 'dropped';
export const RAFT_MESSAGE_DIRECTIONS: readonly RaftMessageDirection[] = ['sent', 'received', 'dropped'];
export type RaftBatchDirection = 'sent' | 'received';
const RAFT_BATCH_DIRECTIONS: readonly RaftBatchDirection[] = ['sent', 'received'];
export type StoreQueue = 'proposals' | 'inbound' | 'apply' | 'transport';
export type ReadKind = 'lease' | 'read-index' | 'replica';
export type RaftLogGcEvent = 'proposed' | 'compacted' | 'heldBack';
/** A try_one_pc prewrite: committed at once, prewritten instead (leader not synced), or found committed by an earlier attempt. */
export type OnePcOutcome = 'committed' | 'prewritten' | 'alreadyCommitted';

interface RequestSeries {
  readonly count: FastCounterChild;
  readonly latency: FastHistogramChild;
}

export class StoreMetrics {
  // The metrics observed per request, proposal, round or batch are the Fast kind (common/fast-metrics.ts).
  private readonly raftWriteSeconds: { readonly synced: FastHistogramChild; readonly unsynced: FastHistogramChild };
  private readonly raftWriteOps: FastHistogram;
  private readonly raftWriteBytes: FastHistogram;
  private readonly raftWriteRegions: FastHistogram;
  private readonly applySeconds: FastHistogram;
  private readonly applyEntries: FastHistogram;
  private readonly commitSeconds: FastHistogram;
  private readonly proposals: Record<ProposalOutcome, FastCounterChild>;
  private readonly elections: Counter;
  private readonly splits: Counter;
  /** Raft messages by direction: plain numbers on the per-message path, read at each scrape. */
  private readonly raftMessageCounts: Record<RaftMessageDirection, number> = { sent: 0, received: 0, dropped: 0 };
  private readonly raftBatchCounts: Record<RaftBatchDirection, number> = { sent: 0, received: 0 };
  private readonly requests: FastCounter<'type' | 'outcome'>;
  private readonly requestSeconds: FastHistogram<'type' | 'outcome'>;
  private readonly queueDepth: Gauge<'queue'>;
  private readonly regions: Gauge;
  private readonly leaders: Gauge;
  private readonly quietRegions: Gauge;
  private readonly reads: Record<ReadKind, FastCounterChild>;
  private readonly onePc: Record<OnePcOutcome, FastCounterChild>;
  private readonly raftLogEntries: Gauge;
  private readonly helperThreads: Gauge;
  private readonly raftLogGc: Counter<'event'>;
  private readonly raftLogCompactedEntries: Counter;
  private readonly regionSizeChecks: Counter;
  private readonly catchUpBeats: Counter;
  private readonly uninitializedPeerGcs: Counter;
  /** Label children by type, then outcome: no string building or object per observation. */
  private readonly requestSeries = new Map<string, Map<string, RequestSeries>>();
  private readonly outcomesSeen = new Set<string>();

  constructor(readonly registry: Registry) {
    const registers = [registry];
    const raftWriteSeconds = new FastHistogram({
      name: 'flotilla_store_raft_write_duration_seconds',
      help: 'Time to write one group-commit batch of raft state (hard states and entries of every dirty region), fsync included when sync="true"',
      labelNames: ['sync'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.raftWriteSeconds = { synced: raftWriteSeconds.labels('true'), unsynced: raftWriteSeconds.labels('false') };
    this.raftWriteOps = new FastHistogram({ name: 'flotilla_store_raft_write_batch_ops', help: 'Write operations per group-commit batch', buckets: [...COUNT_BUCKETS], registers });
    this.raftWriteBytes = new FastHistogram({ name: 'flotilla_store_raft_write_batch_bytes', help: 'Bytes per group-commit batch', buckets: [...BYTES_BUCKETS], registers });
    this.raftWriteRegions = new FastHistogram({ name: 'flotilla_store_raft_write_batch_regions', help: 'Regions whose raft state one group-commit batch carries', buckets: [...COUNT_BUCKETS], registers });
    this.applySeconds = new FastHistogram({ name: 'flotilla_store_apply_duration_seconds', help: 'Time to apply one batch of committed entries', buckets: [...LATENCY_BUCKETS_SECONDS], registers });
    this.applyEntries = new FastHistogram({ name: 'flotilla_store_apply_batch_entries', help: 'Committed entries per apply batch', buckets: [...COUNT_BUCKETS], registers });
    this.commitSeconds = new FastHistogram({ name: 'flotilla_store_propose_to_apply_duration_seconds', help: 'From a leader proposing a command to its being applied', buckets: [...LATENCY_BUCKETS_SECONDS], registers });
    this.proposals = new FastCounter({ name: 'flotilla_store_proposals_total', help: 'Proposals by outcome (applied, stale, refused, timeout, failed, busy)', labelNames: ['outcome'], registers })
      .childrenOf<ProposalOutcome>(['applied', 'stale', 'refused', 'timeout', 'failed', 'busy']);
    this.elections = new Counter({ name: 'flotilla_store_elections_won_total', help: "Times one of this store's peers became leader", registers });
    this.splits = new Counter({ name: 'flotilla_store_region_splits_total', help: 'Region splits this store led, by outcome (split, skipped, failed)', labelNames: ['outcome'], registers });
    const raftMessageCounts = this.raftMessageCounts;
    new Counter({
      name: 'flotilla_store_raft_messages_total',
      help: 'Raft messages sent, received and dropped (queue full or store unreachable)',
      labelNames: ['direction'],
      registers,
      collect(): void {
        this.reset();
        for (const direction of RAFT_MESSAGE_DIRECTIONS) this.labels(direction).inc(raftMessageCounts[direction]);
      },
    });
    const raftBatchCounts = this.raftBatchCounts;
    new Counter({
      name: 'flotilla_store_raft_batches_total',
      help: 'Raft message batches (stream messages; one per poll round and destination store) sent and received: messages per batch is batching at work',
      labelNames: ['direction'],
      registers,
      collect(): void {
        this.reset();
        for (const direction of RAFT_BATCH_DIRECTIONS) this.labels(direction).inc(raftBatchCounts[direction]);
      },
    });
    this.requests = new FastCounter({ name: 'flotilla_store_kv_requests_total', help: 'KV requests by type and outcome (ok or an error code)', labelNames: ['type', 'outcome'], registers });
    this.requestSeconds = new FastHistogram({ name: 'flotilla_store_kv_request_duration_seconds', help: 'KV request latency by type and outcome', labelNames: ['type', 'outcome'], buckets: [...LATENCY_BUCKETS_SECONDS], registers });
    this.queueDepth = new Gauge({ name: 'flotilla_store_queue_depth', help: 'Items waiting in each bounded queue of the store', labelNames: ['queue'], registers });
    this.regions = new Gauge({ name: 'flotilla_store_regions', help: 'Region peers hosted by this store', registers });
    this.leaders = new Gauge({ name: 'flotilla_store_leaders', help: "Region peers on this store that are leaders", registers });
    this.quietRegions = new Gauge({ name: 'flotilla_store_quiet_regions', help: "This store's region replicas whose raft group is quiet (hibernating: not ticked, no heartbeats)", registers });
    this.reads = new FastCounter({ name: 'flotilla_store_reads_total', help: 'Linearizable read barriers by kind (lease and read-index on a leader; replica: a follower or learner after a read index from its leader)', labelNames: ['kind'], registers })
      .childrenOf<ReadKind>(['lease', 'read-index', 'replica']);
    this.onePc = new FastCounter({
      name: 'flotilla_store_one_pc_total',
      help: 'Prewrites asking for one-phase commit, by outcome (committed at once; prewritten instead, the leader not yet synced with PD; alreadyCommitted by an earlier attempt)',
      labelNames: ['outcome'],
      registers,
    }).childrenOf<OnePcOutcome>(['committed', 'prewritten', 'alreadyCommitted']);
    this.helperThreads = new Gauge({
      name: 'flotilla_store_helper_threads_batch',
      help: "Helper threads of this store under SCHED_BATCH (--helper-threads-batch); -1 when the policy is off, unsupported, or could not be set (the store's log says why)",
      registers,
    });
    this.raftLogEntries = new Gauge({ name: 'flotilla_store_raft_log_entries', help: "Raft log entries held (after the truncated index) across this store's regions", registers });
    this.raftLogGc = new Counter({
      name: 'flotilla_store_raft_log_gc_total',
      help: 'Raft log GC: CompactLog proposed by a leader here, applied here (compacted), or held back past the hard limit by a lagging follower (heldBack)',
      labelNames: ['event'],
      registers,
    });
    this.raftLogCompactedEntries = new Counter({ name: 'flotilla_store_raft_log_compacted_entries_total', help: 'Raft log entries deleted by CompactLog on this store', registers });
    this.regionSizeChecks = new Counter({
      name: 'flotilla_store_region_size_checks_total',
      help: "Region heartbeats by how the region's approximate size was found: measured on disk, or the last measure reused (no write since)",
      labelNames: ['how'],
      registers,
    });
    for (const how of ['measured', 'reused']) this.regionSizeChecks.labels(how).inc(0);
    this.catchUpBeats = new Counter({
      name: 'flotilla_store_catch_up_heartbeats_total',
      help: 'Region heartbeats sent at once because a learner a promotion waited for caught up (PD then answers with the promotion)',
      registers,
    });
    this.uninitializedPeerGcs = new Counter({
      name: 'flotilla_store_uninitialized_peer_gc_total',
      help: 'Uninitialized replicas (never filled by a snapshot) destroyed because PD\'s region did not list them',
      registers,
    });
    // Zero series for the fixed unions, so dashboards see them before the first event.
    for (const event of ['proposed', 'compacted', 'heldBack'] satisfies RaftLogGcEvent[]) this.raftLogGc.labels(event).inc(0);
    for (const queue of ['proposals', 'inbound', 'apply', 'transport'] satisfies StoreQueue[]) this.queueDepth.labels(queue).set(0);
  }

  /**
   * Point reads the engine served and the getMany calls that carried them (reads of one event-loop
   * turn share a call): counters read from `stats` at each scrape.
   */
  watchEngineReads(stats: () => { readonly reads: number; readonly calls: number }): void {
    const registers = [this.registry];
    new Counter({
      name: 'flotilla_store_engine_point_reads_total',
      help: 'Point reads (get, multi-get) the engine served',
      registers,
      collect(): void {
        this.reset();
        this.inc(stats().reads);
      },
    });
    new Counter({
      name: 'flotilla_store_engine_read_calls_total',
      help: "RocksDB getMany calls that carried the engine's point reads (reads issued in one event-loop turn share a call)",
      registers,
      collect(): void {
        this.reset();
        this.inc(stats().calls);
      },
    });
  }

  /** The engine's row cache (engine/row-cache.ts), read at each scrape; nothing when it is off. */
  watchRowCache(stats: () => RowCacheStats | null): void {
    const registers = [this.registry];
    new Counter({
      name: 'flotilla_store_row_cache_reads_total',
      help: 'Point reads of locks and latest records by whether the row cache answered them all (hit) or RocksDB did (miss)',
      labelNames: ['result'],
      registers,
      collect(): void {
        const s = stats();
        this.reset();
        if (s === null) return;
        this.inc({ result: 'hit' }, s.hits);
        this.inc({ result: 'miss' }, s.misses);
      },
    });
    new Gauge({
      name: 'flotilla_store_row_cache_bytes',
      help: 'Bytes the row cache holds (keys, values and per-row overhead)',
      registers,
      collect(): void {
        this.set(stats()?.bytes ?? 0);
      },
    });
    new Counter({
      name: 'flotilla_store_row_cache_evictions_total',
      help: 'Rows the row cache evicted to stay within --row-cache-bytes',
      registers,
      collect(): void {
        this.reset();
        this.inc(stats()?.evictions ?? 0);
      },
    });
  }

  /** One group-commit write batch: its duration, operations, bytes, regions, and whether it fsynced. */
  observeRaftWrite(seconds: number, ops: number, bytes: number, regions: number, isSynced: boolean): void {
    (isSynced ? this.raftWriteSeconds.synced : this.raftWriteSeconds.unsynced).observe(seconds);
    this.raftWriteOps.observe(ops);
    this.raftWriteBytes.observe(bytes);
    this.raftWriteRegions.observe(regions);
  }

  observeApply(seconds: number, entries: number): void {
    this.applySeconds.observe(seconds);
    this.applyEntries.observe(entries);
  }

  /** Propose → applied, measured on the leader. */
  observeCommitLatency(seconds: number): void {
    this.commitSeconds.observe(seconds);
  }

  countProposal(outcome: ProposalOutcome, proposals = 1): void {
    this.proposals[outcome].inc(proposals);
  }

  /** A split this store's leader ran. */
  countSplit(outcome: 'split' | 'skipped' | 'failed'): void {
    this.splits.labels(outcome).inc();
  }

  /** A peer on this store became leader. */
  countElection(): void {
    this.elections.inc();
  }

  /** A region heartbeat's approximate size: measured on disk, or the last measure reused. */
  countRegionSizeCheck(how: 'measured' | 'reused'): void {
    this.regionSizeChecks.labels(how).inc();
  }

  /** An uninitialized replica destroyed because PD's region does not list it. */
  countUninitializedPeerGc(): void {
    this.uninitializedPeerGcs.inc();
  }

  countCatchUpBeat(): void {
    this.catchUpBeats.inc();
  }

  countRaftMessages(direction: RaftMessageDirection, n: number): void {
    this.raftMessageCounts[direction] += n;
  }

  /** One RaftMessageBatch (one stream message, one poll round's messages to a store) sent or received. */
  countRaftBatch(direction: RaftBatchDirection): void {
    this.raftBatchCounts[direction]++;
  }

  /** One KV request: `type` the RPC name, `outcome` 'ok' or an error code. */
  observeRequest(type: string, outcome: string, seconds: number): void {
    const series = this.seriesOf(type, outcome);
    series.count.inc();
    series.latency.observe(seconds);
  }

  setQueueDepth(queue: StoreQueue, n: number): void {
    this.queueDepth.labels(queue).set(n);
  }

  setHelperThreads(state: HelperThreadsState): void {
    this.helperThreads.set(state.kind === 'batch' ? state.threads : -1);
  }

  setRegionCounts(regions: number, leaders: number, quiet = 0): void {
    this.regions.set(regions);
    this.leaders.set(leaders);
    this.quietRegions.set(quiet);
  }

  /** One raft log GC event; `entries` is what a compaction deleted (0 for the others). */
  countRaftLogGc(event: RaftLogGcEvent, entries: number): void {
    this.raftLogGc.labels(event).inc();
    if (entries > 0) this.raftLogCompactedEntries.inc(entries);
  }

  setRaftLogEntries(n: number): void {
    this.raftLogEntries.set(n);
  }

  countReads(kind: ReadKind): void {
    this.reads[kind].inc();
  }

  countOnePc(outcome: OnePcOutcome): void {
    this.onePc[outcome].inc();
  }

  private seriesOf(type: string, outcome: string): RequestSeries {
    // Past the bound a new value is counted as 'other' (which itself is always admitted).
    const typeLabel = this.requestSeries.has(type) || this.requestSeries.size < KV_LABEL_VALUES_MAX ? type : 'other';
    const outcomeLabel = this.outcomesSeen.has(outcome) || this.outcomesSeen.size < KV_LABEL_VALUES_MAX ? outcome : 'other';
    let byOutcome = this.requestSeries.get(typeLabel);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.requestSeries.set(typeLabel, byOutcome);
    }
    let series = byOutcome.get(outcomeLabel);
    if (series === undefined) {
      this.outcomesSeen.add(outcomeLabel);
      series = { count: this.requests.labels(typeLabel, outcomeLabel), latency: this.requestSeconds.labels(typeLabel, outcomeLabel) };
      byOutcome.set(outcomeLabel, series);
    }
    return series;
  }
}
