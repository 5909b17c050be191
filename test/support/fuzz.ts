// Shared pieces of the fuzz tests that send seeded random requests to real PD and store
// processes (test/placement-driver/pd-fuzz, test/store/kv-fuzz).
import type { Rng } from '../../common/index.js';

/** A u64 as the wire takes it (a decimal string): zero, small, the extremes, past 2^53, random. */
export function fuzzU64(rng: Rng): string {
  switch (rng.nextInt(7)) {
    case 0: return '0';
    case 1: return String(rng.nextInt(100));
    case 2: return '18446744073709551615';
    case 3: return '9007199254740993';
    case 4: return String(rng.nextU32());
    default: return String(rng.nextInt(5) + 1);
  }
}

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.nextInt(xs.length)]!;
}
