// Histograms and counters for hot paths: the same exposition as prom-client's, a fraction of the
// cost per observation. prom-client's `child.observe(v)` re-validates the labels, hashes them and
// bumps a bucket in an object keyed by the bound's string form (~0.7–3 µs measured here, 2–3 % of a
// busy store's main thread at 100 regions); a series here is a Float64Array and a linear search.
//
// The metrics register in a prom-client Registry like any other and render through it (text and
// JSON, default labels, OpenMetrics counters). What they do not offer: exemplars, timers,
// `remove`/`zero`, and observing through a label object — call `labels(...)` once and keep the
// child, as every caller does. A child stays valid across Registry#resetMetrics: a reset zeroes
// and hides its series, and its next observation shows it again (as prom-client's children do).

import type { Metric, OpenMetricsContentType, PrometheusContentType, Registry } from 'prom-client';
import { FlotillaError } from './errors.js';

/** prom-client's default histogram buckets (seconds), used when none are given. */
const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface FastMetricConfig<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
  readonly registers?: readonly AnyRegistry[];
}

type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

export interface FastHistogramConfig<L extends string> extends FastMetricConfig<L> {
  /** Upper bounds, ascending and finite (+Inf is implied). */
  readonly buckets?: readonly number[];
}

/** One exported sample, in the shape prom-client's Registry renders. */
interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly sharedLabels?: Record<string, string>;
  readonly metricName?: string;
}

interface MetricSnapshot {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram' | 'counter';
  readonly aggregator: 'sum';
  readonly values: Sample[];
}

export interface FastHistogramChild {
  observe(value: number): void;
}

export interface FastCounterChild {
  inc(by?: number): void;
}

/**
 * One label set's series. Created hidden and zero; shown (exported) from its first observation;
 * a reset zeroes and hides it again. Hidden implies zero.
 */
abstract class Series {
  private isShown = false;

  constructor(readonly labels: Record<string, string>, private readonly visible: Set<Series>) {}

  /** Called by every observation: the first since creation or a reset joins the exposition. */
  protected show(): void {
    if (this.isShown) return;
    this.isShown = true;
    this.visible.add(this);
  }

  hide(): void {
    this.isShown = false;
    this.zero();
  }

  protected abstract zero(): void;
}

abstract class FastMetric<L extends string, S extends Series> {
  readonly aggregator = 'sum' as const;
  readonly name: string;
  readonly help: string;
  protected readonly labelNames: readonly L[];
  /** Every series ever made, by label values joined with \u0000: children keep theirs for good. */
  private readonly series = new Map<string, S>();
  /** The exported series, in the order they were shown (prom-client's order). */
  protected readonly visible = new Set<S>();

  protected constructor(config: FastMetricConfig<L>) {
    if (!NAME_RE.test(config.name)) throw new FlotillaError('InvalidArgument', `invalid metric name: ${config.name}`);
    for (const l of config.labelNames ?? []) {
      if (!LABEL_RE.test(l) || l === 'le') throw new FlotillaError('InvalidArgument', `metric ${config.name}: invalid label name ${l}`);
    }
    this.name = config.name;
    this.help = config.help;
    this.labelNames = [...(config.labelNames ?? [])];
  }

  /**
   * Registers in each registry. prom-client types a registered metric as one of its own classes;
   * at run time the Registry needs only name, help, type, aggregator, get() and reset(), which
   * this class has — hence the one cast.
   */
  protected register(registers: readonly AnyRegistry[] | undefined): void {
    for (const r of registers ?? []) r.registerMetric(this as unknown as Metric);
  }

  /** The series for these label values (one per label name, in order), created on first use. */
  protected seriesFor(values: readonly string[]): S {
    if (values.length !== this.labelNames.length) {
      throw new FlotillaError('InvalidArgument', `metric ${this.name}: ${values.length} label values for ${this.labelNames.length} labels`);
    }
    const key = values.join('\u0000');
    let s = this.series.get(key);
    if (s === undefined) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((n, i) => { labels[n] = String(values[i]); });
      s = this.newSeries(labels, this.visible);
      this.series.set(key, s);
    }
    return s;
  }

  protected abstract newSeries(labels: Record<string, string>, visible: Set<Series>): S;

  /** Registry#resetMetrics: every series zeroed and hidden until its next observation. */
  reset(): void {
    for (const s of this.visible) s.hide();
    this.visible.clear();
  }
}

class HistogramSeries extends Series implements FastHistogramChild {
  sum = 0;
  count = 0;
  /** Observations per bucket, not cumulative; the +Inf bucket is `count`. */
  readonly buckets: Float64Array;

  constructor(labels: Record<string, string>, visible: Set<Series>, private readonly bounds: Float64Array) {
    super(labels, visible);
    this.buckets = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    this.show();
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.buckets[i]!++;
    this.sum += value;
    this.count++;
  }

  /** prom-client shows an unlabelled histogram with zero counts before its first observation. */
  showEmpty(): void {
    this.show();
  }

  protected zero(): void {
    this.sum = 0;
    this.count = 0;
    this.buckets.fill(0);
  }
}

export class FastHistogram<L extends string = never> extends FastMetric<L, HistogramSeries> {
  readonly type = 'histogram' as const;
  private readonly bounds: Float64Array;
  /** The unlabelled series (no label names), kept so that observe() does no lookup. */
  private root: HistogramSeries | null = null;

  constructor(config: FastHistogramConfig<L>) {
    super(config);
    const buckets = config.buckets ?? DEFAULT_BUCKETS;
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!;
      if (!Number.isFinite(b) || (i > 0 && b <= buckets[i - 1]!)) {
        throw new FlotillaError('InvalidArgument', `histogram ${config.name}: buckets must be finite and ascending`);
      }
    }
    this.bounds = Float64Array.from(buckets);
    if (this.labelNames.length === 0) {
      this.root = this.seriesFor([]);
      this.root.showEmpty();
    }
    this.register(config.registers);
  }

  /** The child for these label values: keep it; its observe() allocates nothing. */
  labels(...values: string[]): FastHistogramChild {
    return this.seriesFor(values);
  }

  /** Observes on the unlabelled series (a histogram without label names). */
  observe(value: number): void {
    (this.root ??= this.seriesFor([])).observe(value);
  }

  protected newSeries(labels: Record<string, string>, visible: Set<Series>): HistogramSeries {
    return new HistogramSeries(labels, visible, this.bounds);
  }

  /** What Registry#metrics() renders: bucket lines carry `le` first, then the series' labels. */
  getForPromString(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const data of this.visible) {
      const labels = data.labels;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += data.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: labels, value: acc, metricName: bucketName });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: labels, value: data.count, metricName: bucketName });
      values.push({ labels: {}, sharedLabels: labels, value: data.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: data.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** The same samples with every label in `labels` (Registry#getMetricsAsJSON). */
  async get(): Promise<MetricSnapshot> {
    const snap = await this.getForPromString();
    return { ...snap, values: snap.values.map((v) => ({ value: v.value, labels: { ...v.labels, ...v.sharedLabels }, ...(v.metricName === undefined ? {} : { metricName: v.metricName }) })) };
  }
}

class CounterSeries extends Series implements FastCounterChild {
  value = 0;

  inc(by = 1): void {
    if (!Number.isFinite(by) || by < 0) throw new Error(`It is not possible to decrease a counter, or to add a non-number: ${by}`);
    this.show();
    this.value += by;
  }

  protected zero(): void {
    this.value = 0;
  }
}

export class FastCounter<L extends string = never> extends FastMetric<L, CounterSeries> {
  readonly type = 'counter' as const;
  /** The unlabelled series (no label names), kept so that inc() does no lookup. */
  private root: CounterSeries | null = null;

  constructor(config: FastMetricConfig<L>) {
    super(config);
    if (this.labelNames.length === 0) {
      this.root = this.seriesFor([]);
      this.root.inc(0); // prom-client shows an unlabelled counter at 0 from the start
    }
    this.register(config.registers);
  }

  /** The child for these label values: keep it; its inc() allocates nothing. */
  labels(...values: string[]): FastCounterChild {
    return this.seriesFor(values);
  }

  /**
   * The children of a one-label counter for each of `values` (a fixed union), shown at 0 from
   * now on: a caller indexes them per event instead of calling labels().
   */
  childrenOf<K extends string>(values: readonly K[]): Record<K, FastCounterChild> {
    const out = {} as Record<K, FastCounterChild>;
    for (const v of values) {
      const child = this.seriesFor([v]);
      child.inc(0);
      out[v] = child;
    }
    return out;
  }

  /** Increments the unlabelled series (a counter without label names). */
  inc(by = 1): void {
    (this.root ??= this.seriesFor([])).inc(by);
  }

  /** Like prom-client: an unlabelled counter shows 0 again after a reset. */
  override reset(): void {
    super.reset();
    this.root?.inc(0);
  }

  protected newSeries(labels: Record<string, string>, visible: Set<Series>): CounterSeries {
    return new CounterSeries(labels, visible);
  }

  get(): Promise<MetricSnapshot> {
    const values: Sample[] = [];
    for (const data of this.visible) values.push({ value: data.value, labels: { ...data.labels } });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}
