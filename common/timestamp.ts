// Hybrid timestamps issued by PD's TSO: `physical_ms << 18 | logical`. They exceed 2^53, so they
// are always `bigint` in code and decimal strings on the wire.

import { FlotillaError } from './errors.js';
import { U64_MAX } from './u64.js';

/** A TSO timestamp (u64). */
export type Ts = bigint;

export const TS_LOGICAL_BITS = 18n;
/** Logical timestamps per physical millisecond: 262,144. */
export const TS_LOGICAL_MAX = (1n << TS_LOGICAL_BITS) - 1n;
/** The largest physical part that fits: 2^46 − 1 ms (about 2,200 years after 1970). */
export const TS_PHYSICAL_MAX = U64_MAX >> TS_LOGICAL_BITS;
/** The zero timestamp: before every issued one. */
export const TS_ZERO: Ts = 0n;
/** Greater than every timestamp: reads at TS_MAX see the latest committed data. */
export const TS_MAX: Ts = U64_MAX;

/** `physical_ms << 18 | logical`. Out-of-range parts → InvalidArgument. */
export function composeTs(physicalMs: bigint | number, logical: bigint | number): Ts {
  const physical = BigInt(physicalMs);
  const log = BigInt(logical);
  if (physical < 0n || physical > TS_PHYSICAL_MAX) {
    throw new FlotillaError('InvalidArgument', `timestamp physical part ${physical} out of range [0, ${TS_PHYSICAL_MAX}]`);
  }
  if (log < 0n || log > TS_LOGICAL_MAX) {
    throw new FlotillaError('InvalidArgument', `timestamp logical part ${log} out of range [0, ${TS_LOGICAL_MAX}]`);
  }
  return (physical << TS_LOGICAL_BITS) | log;
}

/** Milliseconds since the Unix epoch. */
export function extractPhysical(ts: Ts): bigint {
  return ts >> TS_LOGICAL_BITS;
}

export function extractLogical(ts: Ts): bigint {
  return ts & TS_LOGICAL_MAX;
}

/** The physical part as a JS number (always safe: < 2^46). */
export function physicalMsOf(ts: Ts): number {
  return Number(ts >> TS_LOGICAL_BITS);
}

/** A readable form for logs: `1732345678901.17 (446…)`. */
export function formatTs(ts: Ts): string {
  return `${extractPhysical(ts)}.${extractLogical(ts)}`;
}
