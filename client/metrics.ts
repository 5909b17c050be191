// The client's metrics (prom-client). They live in the registry the application passes to
// Client.connect ({ metricsRegistry }), or in a private one nobody scrapes when it passes none.
// Labels are bounded: the command name, an outcome, a region error code.

import { Counter, FastCounter, FastHistogram, LATENCY_BUCKETS_SECONDS, Registry, type FastCounterChild, type FastHistogramChild } from '../common/index.js';

export type TxnOutcome = 'committed' | 'conflict' | 'aborted' | 'unknown' | 'rolled_back' | 'error';

export class ClientMetrics {
  // Per command and per transaction: the Fast kind (common/fast-metrics.ts).
  readonly requests: FastCounter<'cmd' | 'outcome'>;
  readonly latency: FastHistogram<'cmd'>;
  readonly regionErrors: Counter<'code'>;
  readonly backoffs: Counter;
  /** Transactions by outcome: one child per outcome, indexed per transaction. */
  readonly txns: Record<TxnOutcome, FastCounterChild>;
  readonly lockResolves: Counter<'status'>;

  private readonly okByCmd = new Map<string, { count: FastCounterChild; latency: FastHistogramChild }>();

  /** A successful command: the labelled children are looked up once per command name. */
  observeOk(cmd: string, seconds: number): void {
    let m = this.okByCmd.get(cmd);
    if (m === undefined) {
      m = { count: this.requests.labels(cmd, 'ok'), latency: this.latency.labels(cmd) };
      this.okByCmd.set(cmd, m);
    }
    m.count.inc();
    m.latency.observe(seconds);
  }

  constructor(readonly registry: Registry = new Registry()) {
    const registers = [registry];
    this.requests = new FastCounter({ name: 'flotilla_client_requests_total', help: 'KV commands by command and outcome (ok, unknown, timeout)', labelNames: ['cmd', 'outcome'], registers });
    this.latency = new FastHistogram({ name: 'flotilla_client_request_seconds', help: 'KV command latency, retries included', labelNames: ['cmd'], buckets: [...LATENCY_BUCKETS_SECONDS], registers });
    this.regionErrors = new Counter({ name: 'flotilla_client_region_errors_total', help: 'Region errors answered by stores, by code', labelNames: ['code'], registers });
    this.backoffs = new Counter({ name: 'flotilla_client_backoffs_total', help: 'Back-off sleeps before a retry', registers });
    this.txns = new FastCounter({ name: 'flotilla_client_txns_total', help: 'Transactions by outcome (committed, conflict, aborted, unknown, rolled_back, error)', labelNames: ['outcome'], registers })
      .childrenOf<TxnOutcome>(['committed', 'conflict', 'aborted', 'unknown', 'rolled_back', 'error']);
    this.lockResolves = new Counter({ name: 'flotilla_client_lock_resolves_total', help: 'Transactions whose locks a reader met, by what it found (committed, rolled_back, alive)', labelNames: ['status'], registers });
  }
}
