// A seeded, deterministic pseudo-random generator (xoshiro128**, seeded through splitmix32).
// Every randomized decision in Flotilla — election timeouts, back-off jitter, simulation faults —
// takes an injected Rng so a seed replays it exactly. Never use Math.random in raft/, txn/ or tests.

import { invariant } from './invariant.js';

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform integer in [0, maxExclusive). Precondition: 0 < maxExclusive <= 2^32. */
  nextInt(maxExclusive: number): number;
  /** Uniform integer in [min, max] inclusive. */
  nextRange(min: number, max: number): number;
  /** Uniform float in [0, 1). */
  nextFloat(): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** A new generator whose stream is independent of (but determined by) this one. */
  fork(): Rng;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

class Xoshiro128 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const sm = splitmix32(seed);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    return result;
  }

  nextInt(maxExclusive: number): number {
    invariant(Number.isInteger(maxExclusive) && maxExclusive > 0 && maxExclusive <= 0x1_0000_0000, () => `nextInt: bad bound ${maxExclusive}`);
    // Rejection sampling keeps the distribution exactly uniform.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % maxExclusive);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % maxExclusive;
    }
  }

  nextRange(min: number, max: number): number {
    invariant(max >= min, () => `nextRange: max ${max} < min ${min}`);
    return min + this.nextInt(max - min + 1);
  }

  nextFloat(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  chance(p: number): boolean {
    return this.nextFloat() < p;
  }

  fork(): Rng {
    return new Xoshiro128(this.nextU32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A deterministic generator for `seed` (any safe integer; only its low 32 bits and high bits mixed). */
export function createRng(seed: number): Rng {
  invariant(Number.isSafeInteger(seed), () => `createRng: seed must be a safe integer, got ${seed}`);
  const mixed = (seed ^ Math.floor(seed / 0x1_0000_0000)) >>> 0;
  return new Xoshiro128(mixed);
}
