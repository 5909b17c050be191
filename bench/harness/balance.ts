// How an account of the transfer workload holds its balance: the decimal digits, then spaces up
// to the run's value size (--value-size), so that a transfer writes values as large as the raw
// workloads' puts (issue F5 compares them at 256 bytes). Both targets use it; a value with fewer
// bytes than its digits is just the digits.

/** A balance has at most this many digits (it stays a safe integer). */
const BALANCE_DIGITS_MAX = 15;
const SPACE = 0x20;

/** `balance` as an account value of `valueBytes` bytes (or of its digits, if longer). */
export function encodeBalance(balance: number, valueBytes: number): Buffer {
  if (!Number.isSafeInteger(balance) || balance < 0) throw new RangeError(`balance ${balance} is not a non-negative safe integer`);
  if (!Number.isSafeInteger(valueBytes) || valueBytes < 0) throw new RangeError(`value size ${valueBytes} is not a non-negative integer`);
  const digits = String(balance);
  const value = Buffer.alloc(Math.max(digits.length, valueBytes), SPACE);
  value.write(digits, 0, 'latin1');
  return value;
}

/** The balance an account value holds; null when it is not digits followed by spaces only. */
export function decodeBalance(value: Buffer): number | null {
  let end = value.length;
  while (end > 0 && value[end - 1] === SPACE) end--;
  if (end === 0 || end > BALANCE_DIGITS_MAX) return null;
  let n = 0;
  for (let i = 0; i < end; i++) {
    const d = value[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    n = n * 10 + d;
  }
  return n;
}
