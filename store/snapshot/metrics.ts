// The snapshot instruments (prom-client), registered on the store's registry once:
// snapshots sent and received/applied by outcome, and their payload bytes.

import { Counter, type Registry } from '../../common/index.js';

export type SnapshotEvent = 'sent' | 'sendFailed' | 'received' | 'receiveFailed' | 'applied' | 'redone';

export class SnapshotMetrics {
  private readonly events: Counter<'event'>;
  private readonly bytes: Counter<'direction'>;

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
  }

  count(event: SnapshotEvent): void {
    this.events.labels(event).inc();
  }

  addBytes(direction: 'sent' | 'received', bytes: number): void {
    if (bytes > 0) this.bytes.labels(direction).inc(bytes);
  }
}
