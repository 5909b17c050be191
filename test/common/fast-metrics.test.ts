// FastHistogram and FastCounter against prom-client's own Histogram and Counter as the reference:
// any buckets, label sets and observations, fed to both through fresh or kept children, render the
// same /metrics text (Prometheus and OpenMetrics, with and without default labels) and the same
// JSON, also after resets (a kept child must still count); bad input is refused the same way.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { OpenMetricsContentType, PrometheusContentType } from 'prom-client';
import { Counter, FastCounter, FastHistogram, Histogram, Registry } from '../../common/index.js';

const RUNS = Number(process.env['FLOTILLA_PROP_RUNS'] ?? 300);

const LABEL_NAMES = ['type', 'outcome'] as const;
type LabelName = (typeof LABEL_NAMES)[number];

const bucketsArb = fc.uniqueArray(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(0, 0.001, 1, 10)), { minLength: 0, maxLength: 12 })
  .map((bs) => [...bs].sort((a, b) => a - b))
  .filter((bs) => bs.every((b, i) => i === 0 || b > bs[i - 1]!) && !bs.some((b) => Object.is(b, -0)));

const caseArb = fc.record({
  buckets: fc.option(bucketsArb, { nil: undefined }),
  labelCount: fc.integer({ min: 0, max: 2 }),
  defaultLabels: fc.boolean(),
  openMetrics: fc.boolean(),
  steps: fc.array(fc.record({
    // 'a'+'b' and 'ab'+'' join to the same string: series must be keyed by each value apart.
    labels: fc.tuple(fc.constantFrom('a', 'ab', 'kv_get', 'x"y\\z\n'), fc.constantFrom('ok', 'b', 'NotLeader', '')),
    // Values on and beside the bounds as well as anywhere.
    value: fc.oneof(fc.double({ min: -2e6, max: 2e6, noNaN: true }), fc.constantFrom(0, 0.001, 1, 10, 0.0015)),
    reset: fc.integer({ min: 0, max: 30 }).map((n) => n === 0),
    // Through a child kept from an earlier step (also across resets), or a fresh labels() call.
    isKept: fc.boolean(),
  }), { maxLength: 60 }),
});

/** Children by label values, kept across steps: what callers do (store/metrics.ts). */
function keep<C>(cache: Map<string, C>, values: readonly string[], make: () => C, isKept: boolean): C {
  if (!isKept) return make();
  const key = JSON.stringify(values);
  let c = cache.get(key);
  if (c === undefined) {
    c = make();
    cache.set(key, c);
  }
  return c;
}

type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

function registries(defaultLabels: boolean, openMetrics: boolean): [AnyRegistry, AnyRegistry] {
  const make = (): AnyRegistry => {
    let r: AnyRegistry = new Registry();
    if (openMetrics) {
      const om = new Registry<OpenMetricsContentType>();
      om.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
      r = om;
    }
    if (defaultLabels) r.setDefaultLabels({ store: '7' });
    return r;
  };
  return [make(), make()];
}

/** The JSON form without what only prom-client carries: exemplar slots (null or undefined). */
async function json(r: AnyRegistry): Promise<unknown> {
  const out = JSON.parse(JSON.stringify(await r.getMetricsAsJSON())) as { values: Record<string, unknown>[] }[];
  for (const m of out) for (const v of m.values) if (v['exemplar'] === null) delete v['exemplar'];
  return out;
}

describe('FastHistogram', () => {
  it('renders what prom-client\'s Histogram renders for the same observations', async () => {
    await fc.assert(fc.asyncProperty(caseArb, async (c) => {
      const [ref, fast] = registries(c.defaultLabels, c.openMetrics);
      const labelNames: LabelName[] = LABEL_NAMES.slice(0, c.labelCount);
      const common = { name: 'flotilla_test_seconds', help: 'a test histogram', labelNames, ...(c.buckets === undefined ? {} : { buckets: c.buckets }) };
      const h = new Histogram({ ...common, registers: [ref] });
      const f = new FastHistogram<LabelName>({ ...common, registers: [fast] });
      const refKept = new Map<string, { observe(v: number): void }>();
      const fastKept = new Map<string, { observe(v: number): void }>();
      for (const s of c.steps) {
        if (s.reset) {
          ref.resetMetrics();
          fast.resetMetrics();
          continue;
        }
        const values = s.labels.slice(0, c.labelCount);
        if (values.length === 0) {
          h.observe(s.value);
          f.observe(s.value);
        } else {
          keep(refKept, values, () => h.labels(...values), s.isKept).observe(s.value);
          keep(fastKept, values, () => f.labels(...values), s.isKept).observe(s.value);
        }
      }
      assert.equal(await fast.metrics(), await ref.metrics());
      assert.deepEqual(await json(fast), await json(ref));
    }), { numRuns: RUNS });
  });

  it('refuses what prom-client refuses: a non-finite value, the wrong number of labels, bad names and buckets', () => {
    const r = new Registry();
    const f = new FastHistogram<'type'>({ name: 'flotilla_a', help: 'h', labelNames: ['type'], registers: [r] });
    assert.throws(() => f.labels('x').observe(Number.NaN), TypeError);
    assert.throws(() => f.labels('x').observe(Number.POSITIVE_INFINITY), TypeError);
    assert.throws(() => f.labels('x', 'y'), /label values/);
    assert.throws(() => f.labels(), /label values/);
    assert.throws(() => new FastHistogram({ name: 'bad name', help: 'h' }), /invalid metric name/);
    assert.throws(() => new FastHistogram({ name: 'flotilla_b', help: 'h', labelNames: ['le'] }), /invalid label name/);
    assert.throws(() => new FastHistogram({ name: 'flotilla_c', help: 'h', buckets: [1, 1] }), /ascending/);
    assert.throws(() => new FastHistogram({ name: 'flotilla_d', help: 'h', buckets: [1, Number.POSITIVE_INFINITY] }), /finite/);
    // The same name twice in one registry is refused by the registry, as for prom-client's own.
    assert.throws(() => new FastHistogram({ name: 'flotilla_a', help: 'h', registers: [r] }), /already been registered/);
  });
});

describe('FastCounter', () => {
  it('renders what prom-client\'s Counter renders for the same increments', async () => {
    const stepsArb = fc.array(fc.record({
      labels: fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.constantFrom('ok', 'err')),
      by: fc.oneof(fc.constant(undefined), fc.double({ min: 0, max: 1e9, noNaN: true })),
      reset: fc.integer({ min: 0, max: 30 }).map((n) => n === 0),
      isKept: fc.boolean(),
    }), { maxLength: 60 });
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.boolean(), stepsArb, async (labelCount, defaults, openMetrics, steps) => {
      const [ref, fast] = registries(defaults, openMetrics);
      const labelNames: LabelName[] = LABEL_NAMES.slice(0, labelCount);
      const common = { name: 'flotilla_test_total', help: 'a test counter', labelNames };
      const c = new Counter({ ...common, registers: [ref] });
      const f = new FastCounter<LabelName>({ ...common, registers: [fast] });
      const refKept = new Map<string, { inc(by?: number): void }>();
      const fastKept = new Map<string, { inc(by?: number): void }>();
      for (const s of steps) {
        if (s.reset) {
          ref.resetMetrics();
          fast.resetMetrics();
          continue;
        }
        const values = s.labels.slice(0, labelCount);
        if (values.length === 0) {
          c.inc(s.by);
          f.inc(s.by);
        } else {
          keep(refKept, values, () => c.labels(...values), s.isKept).inc(s.by);
          keep(fastKept, values, () => f.labels(...values), s.isKept).inc(s.by);
        }
      }
      assert.equal(await fast.metrics(), await ref.metrics());
      assert.deepEqual(await json(fast), await json(ref));
    }), { numRuns: RUNS });
  });

  it('childrenOf: one child per value, shown at 0 at once, counting like labels(value)', async () => {
    const r = new Registry();
    const f = new FastCounter<'outcome'>({ name: 'flotilla_f_total', help: 'h', labelNames: ['outcome'], registers: [r] });
    const by = f.childrenOf(['ok', 'busy']);
    assert.equal(await r.metrics(), '# HELP flotilla_f_total h\n# TYPE flotilla_f_total counter\nflotilla_f_total{outcome="ok"} 0\nflotilla_f_total{outcome="busy"} 0\n');
    by.busy.inc(2);
    f.labels('busy').inc();
    r.resetMetrics();
    by.ok.inc();
    assert.equal(await r.metrics(), '# HELP flotilla_f_total h\n# TYPE flotilla_f_total counter\nflotilla_f_total{outcome="ok"} 1\n');
  });

  it('refuses a negative or non-finite increment', () => {
    const f = new FastCounter({ name: 'flotilla_e', help: 'h' });
    assert.throws(() => f.inc(-1), /decrease/);
    assert.throws(() => f.inc(Number.NaN), /decrease/);
    f.inc(2);
    f.inc();
  });
});
