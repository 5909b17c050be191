// Decimal fast paths for the 64-bit integer class protobufjs uses (the `long` package). Every
// uint64 on our wire — ids, epochs, timestamps, terms — is a decimal string in our objects
// (`longs: String`, load.ts), so each one crossing gRPC is converted by Long#toString (decode) or
// Long.fromString / Long.fromValue (encode). The library does both with emulated 64-bit division
// and multiplication in loops (`Math.pow` included): a profile of a store serving transactions put
// those conversions at ~4 % of its main thread. Here a value below 2^53 goes through a JS number,
// a larger one through a BigInt — both exact; everything else (other radixes, signs, malformed
// text) keeps the library's own code, so results are bit for bit the library's
// (test/proto/long-decimal.test.ts compares them over the whole 64-bit range).

import { loaderProtobuf } from './loader-protobuf.js';

/** The part of `long`'s Long class this module touches. */
export interface LongValue {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
}

/** The statics are plain functions in the library (no `this`); toString reads its receiver. */
export interface LongClass {
  prototype: { toString: (this: LongValue, radix?: number) => string };
  fromString: (this: void, str: string, unsigned?: boolean | number, radix?: number) => LongValue;
  fromValue: (this: void, val: unknown, unsigned?: boolean) => LongValue;
  fromBits: (this: void, low: number, high: number, unsigned?: boolean) => LongValue;
}

const TWO_32 = 4294967296;
/** Values whose high word is below this are below 2^53: exact as a JS number. */
const SAFE_HIGH_LIMIT = 0x200000;
/** Decimal digits that always fit a JS number exactly (10^15 < 2^53). */
const SAFE_DIGITS = 15;
/** Decimal digits of 2^64 − 1; a longer string overflows and is left to the library. */
const U64_DIGITS = 20;
const DIGITS = /^[0-9]+$/;

/** The Long class of the protobufjs instance @grpc/proto-loader loads (not a copy of our own). */
export function protobufLongClass(): LongClass {
  const Long = loaderProtobuf<{ util: { Long: LongClass | null } }>().util.Long;
  if (Long === null) throw new Error('protobufjs has no Long class: uint64 fields would lose precision');
  return Long;
}

const installed = new WeakSet<LongClass>();

/** Installs the fast paths on `Long` (once per class; later calls do nothing). */
export function installLongDecimalFastPaths(Long: LongClass): void {
  if (installed.has(Long)) return;
  installed.add(Long);
  const slowToString = Long.prototype.toString;
  const slowFromString = Long.fromString;
  const slowFromValue = Long.fromValue;

  Long.prototype.toString = function toString(this: LongValue, radix?: number): string {
    if ((radix === undefined || radix === 10) && (this.unsigned || this.high >= 0)) {
      const high = this.high >>> 0;
      if (high < SAFE_HIGH_LIMIT) return String(high * TWO_32 + (this.low >>> 0));
      return ((BigInt(high) << 32n) | BigInt(this.low >>> 0)).toString();
    }
    return slowToString.call(this, radix);
  };

  const fromDecimal = (str: string, unsigned: boolean): LongValue | null => {
    if (str.length === 0 || str.length > U64_DIGITS || !DIGITS.test(str)) return null;
    if (str.length <= SAFE_DIGITS) {
      const n = Number(str);
      return Long.fromBits(n % TWO_32 | 0, Math.floor(n / TWO_32) | 0, unsigned);
    }
    const b = BigInt(str);
    if (b >= 1n << 64n) return null; // the library wraps; leave that to it
    return Long.fromBits(Number(b & 0xffffffffn) | 0, Number(b >> 32n) | 0, unsigned);
  };

  Long.fromString = (str: string, unsigned?: boolean | number, radix?: number): LongValue => {
    if (typeof unsigned !== 'number' && (radix === undefined || radix === 10)) {
      const fast = fromDecimal(str, unsigned === true);
      if (fast !== null) return fast;
    }
    return slowFromString(str, unsigned, radix);
  };

  Long.fromValue = (val: unknown, unsigned?: boolean): LongValue => {
    if (typeof val === 'string') {
      const fast = fromDecimal(val, unsigned === true);
      if (fast !== null) return fast;
    }
    return slowFromValue(val, unsigned);
  };
}
