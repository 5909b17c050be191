// The snapshot instruments (prom-client), registered on the store's registry once:
// snapshots sent and received/applied by outcome, their payload bytes, and how long each stage
// of a successful one took.

import { Counter, Histogram, type Registry } from '../../common/index.js';

export type SnapshotEvent = 'sent' | 'sendFailed' | 'received' | 'receiveFailed' | 'applied' | 'redone';
/** send: the sender's stream, the region's data read from the pinned view included; receive: the receiver's stream into its file; apply: the install (queue wait excluded). */
export type SnapshotStage = 'send' | 'receive' | 'apply';

/** A snapshot of a 96 MiB region takes seconds; one of a few keys, milliseconds. */
const STAGE_BUCKETS_SECONDS = [0.005, 0.02, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

export class SnapshotMetrics {
  private readonly events: Counter<'event'>;
  private readonly bytes: Counter<'direction'>;
  private readonly stages: Histogram<'stage'>;

  constructor(registry: Registry) {
    this.events = new Counter({
      name: 'flotilla_store_snapshots_total',
      help: 'Region snapshots by event: sent, sendFailed, received, receiveFailed, applied, redone (an interrupted install finished at start-up)',
      labelNames: ['event'],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'flotilla_store_snapshot_bytes_total',
      help: 'Region snapshot payload bytes, by direction (sent, received)',
      labelNames: ['direction'],
      registers: [registry],
    });
    this.stages = new Histogram({
      name: 'flotilla_store_snapshot_stage_duration_seconds',
      help: 'How long a successful region snapshot took, by stage: send (read and stream), receive (stream to file), apply (install)',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS_SECONDS,
      registers: [registry],
    });
  }

  observeStage(stage: SnapshotStage, seconds: number): void {
    this.stages.labels(stage).observe(seconds);
  }

  count(event: SnapshotEvent): void {
    this.events.labels(event).inc();
  }

  addBytes(direction: 'sent' | 'received', bytes: number): void {
    if (bytes > 0) this.bytes.labels(direction).inc(bytes);
  }
}
