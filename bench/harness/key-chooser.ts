// Key choice for bench workloads: a seeded PRNG (so a run's key sequence can be replayed) and two
// distributions over [0, n): uniform, and zipfian (YCSB's default, θ = 0.99) sampled exactly by
// inverse CDF over a precomputed cumulative table — P(rank i) = (1/(i+1)^θ) / ζ(n, θ), rank 0 the
// hottest. The table costs 8 bytes per key (KEYS_MAX below bounds it).

import assert from 'node:assert/strict';

/** Keys a zipfian chooser may cover: 10 M keys is an 80 MB cumulative table per worker. */
export const ZIPFIAN_KEYS_MAX = 10_000_000;
/** YCSB's zipfian constant. */
export const ZIPFIAN_THETA_DEFAULT = 0.99;

export type Distribution = 'zipfian' | 'uniform';
export const DISTRIBUTIONS: readonly Distribution[] = ['zipfian', 'uniform'];

/** mulberry32: a small, fast, seeded 32-bit PRNG; next() in [0, 1). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

export interface KeyChooser {
  /** An index in [0, n). */
  next(): number;
}

export class UniformChooser implements KeyChooser {
  constructor(private readonly n: number, private readonly rng: Rng) {
    assert.ok(Number.isSafeInteger(n) && n > 0, `uniform chooser: n must be a positive integer, got ${n}`);
  }

  next(): number {
    return this.rng.below(this.n);
  }
}

/** ζ(n, θ) = Σ_{i=1..n} 1/i^θ, the zipfian normalizer. */
export function zeta(n: number, theta: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 1 / i ** theta;
  return sum;
}

/** The probability of rank `i` (0-based) among n under zipfian θ. */
export function zipfianProbability(i: number, n: number, theta: number, zetaN = zeta(n, theta)): number {
  return 1 / (i + 1) ** theta / zetaN;
}

export class ZipfianChooser implements KeyChooser {
  /** cumulative[i] = P(rank ≤ i); the last entry is 1. */
  private readonly cumulative: Float64Array;

  constructor(private readonly n: number, private readonly rng: Rng, theta = ZIPFIAN_THETA_DEFAULT) {
    assert.ok(Number.isSafeInteger(n) && n > 0 && n <= ZIPFIAN_KEYS_MAX, `zipfian chooser: n must be within [1, ${ZIPFIAN_KEYS_MAX}], got ${n}`);
    assert.ok(theta > 0 && theta < 1, `zipfian chooser: θ must be within (0, 1), got ${theta}`);
    this.cumulative = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      sum += 1 / (i + 1) ** theta;
      this.cumulative[i] = sum;
    }
    for (let i = 0; i < n; i++) this.cumulative[i]! /= sum;
    this.cumulative[n - 1] = 1;
  }

  /** The smallest rank whose cumulative probability exceeds a uniform draw (binary search). */
  next(): number {
    const u = this.rng.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

export function makeKeyChooser(distribution: Distribution, n: number, rng: Rng): KeyChooser {
  switch (distribution) {
    case 'zipfian': return new ZipfianChooser(n, rng);
    case 'uniform': return new UniformChooser(n, rng);
  }
}

/** Fixed-width key names sort like their indexes: `${prefix}${index padded to 10 digits}`. */
export function keyOf(prefix: string, index: number): Buffer {
  return Buffer.from(`${prefix}${String(index).padStart(10, '0')}`);
}
