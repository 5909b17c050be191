// Latency histograms (hdr-histogram-js, microseconds, 3 significant digits) and their wire form
// between worker processes and the parent: compressed base64, merged by adding.

import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

/** Latencies above a minute are clamped: no bench operation's deadline is that long. */
export const LATENCY_US_MAX = 60_000_000;

export function newLatencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_US_MAX, numberOfSignificantValueDigits: 3 });
}

export function recordLatencyUs(h: Histogram, us: number): void {
  h.recordValue(Math.min(LATENCY_US_MAX, Math.max(1, Math.round(us))));
}

export function encodeHistogram(h: Histogram): string {
  return encodeIntoCompressedBase64(h);
}

export function decodeHistogram(text: string): Histogram {
  const decoded = decodeFromCompressedBase64(text);
  const h = newLatencyHistogram();
  h.add(decoded);
  return h;
}

/** One histogram holding every sample of `parts`. */
export function mergeHistograms(parts: readonly Histogram[]): Histogram {
  const merged = newLatencyHistogram();
  for (const p of parts) merged.add(p);
  return merged;
}

/** Milliseconds; max is p100 (bucket-precise like the others: merged histograms know buckets, not samples). */
export interface LatencySummaryMs {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export function latencySummaryMs(h: Histogram): LatencySummaryMs {
  const ms = (us: number): number => Math.round(us) / 1000;
  if (h.totalCount === 0) return { p50: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  return {
    p50: ms(h.getValueAtPercentile(50)), p95: ms(h.getValueAtPercentile(95)), p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.getValueAtPercentile(100)), mean: ms(h.mean),
  };
}
