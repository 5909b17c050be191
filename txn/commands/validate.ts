// Argument checks every command runs before touching the snapshot: limits of txn/limits.ts and
// timestamp relations. Failures are InvalidArgument / LimitExceeded values.

import { type Ts, U64_MAX } from '../../common/pure.js';
import { invalidArgument, limitExceeded, type TxnError } from '../errors.js';
import { KEY_BYTES_MAX, KEYS_PER_COMMAND_MAX, LOCK_TTL_MS_MAX, SCAN_LIMIT_MAX, VALUE_BYTES_MAX } from '../limits.js';
import { type MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type Modification } from '../mvcc/snapshot.js';

/** What a command hands back: the modifications to apply (under its latches) and its answer. */
export interface CommandOutput<T> {
  readonly modifications: readonly Modification[];
  readonly result: T | TxnError;
}

export function output<T>(buf: MvccWriteBuffer | null, result: T | TxnError): CommandOutput<T> {
  const failed = typeof result === 'object' && result !== null && (result as { kind?: unknown }).kind === 'error';
  return { modifications: buf === null || failed ? [] : buf.modifications, result };
}

export function failed<T>(error: TxnError): CommandOutput<T> {
  return { modifications: [], result: error };
}

export function checkKey(key: Buffer, what = 'key'): TxnError | null {
  if (key.length === 0) return invalidArgument(`${what} is empty`);
  if (key.length > KEY_BYTES_MAX) return limitExceeded(`${what} has ${key.length} bytes, limit ${KEY_BYTES_MAX}`);
  return null;
}

/** Up to this many keys, duplicates are found by comparing every pair. */
const PAIRWISE_KEYS_MAX = 8;

export function checkKeys(keys: readonly Buffer[]): TxnError | null {
  if (keys.length === 0) return invalidArgument('no keys');
  if (keys.length > KEYS_PER_COMMAND_MAX) return limitExceeded(`${keys.length} keys, limit ${KEYS_PER_COMMAND_MAX}`);
  // Key by key, in order: the first key that is bad or repeats an earlier one decides the error.
  // A short list compares pairs (no strings, no set); a long one keeps a set.
  const seen = keys.length > PAIRWISE_KEYS_MAX ? new Set<string>() : null;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const bad = checkKey(key);
    if (bad !== null) return bad;
    let isDuplicate = false;
    if (seen === null) {
      for (let j = 0; j < i && !isDuplicate; j++) isDuplicate = key.equals(keys[j]!);
    } else {
      const id = key.toString('latin1');
      isDuplicate = seen.has(id);
      seen.add(id);
    }
    if (isDuplicate) return invalidArgument(`duplicate key ${key.subarray(0, 16).toString('hex')}`);
  }
  return null;
}

export function checkValue(value: Buffer): TxnError | null {
  if (value.length > VALUE_BYTES_MAX) return limitExceeded(`value has ${value.length} bytes, limit ${VALUE_BYTES_MAX}`);
  return null;
}

export function checkTs(ts: Ts, what: string): TxnError | null {
  if (ts <= 0n || ts > U64_MAX) return invalidArgument(`${what} ${ts} is not a positive u64`);
  return null;
}

/**
 * A writing transaction's start_ts: a positive u64 below u64 max, which is the read-latest
 * timestamp and leaves no room for a commit_ts or min_commit_ts above it.
 */
export function checkStartTs(ts: Ts, what = 'start_ts'): TxnError | null {
  if (ts <= 0n || ts >= U64_MAX) return invalidArgument(`${what} ${ts} is not a u64 between 0 and u64 max (both excluded)`);
  return null;
}

export function checkTtl(ttlMs: number): TxnError | null {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) return invalidArgument(`lock TTL ${ttlMs} ms is not a non-negative integer`);
  if (ttlMs > LOCK_TTL_MS_MAX) return limitExceeded(`lock TTL ${ttlMs} ms, limit ${LOCK_TTL_MS_MAX}`);
  return null;
}

export function checkScanLimit(limit: number, max = SCAN_LIMIT_MAX): TxnError | null {
  if (!Number.isSafeInteger(limit) || limit < 1) return invalidArgument(`scan limit ${limit} is not a positive integer`);
  if (limit > max) return limitExceeded(`scan limit ${limit}, limit ${max}`);
  return null;
}

export function checkRange(startKey: Buffer, endKey: Buffer): TxnError | null {
  if (startKey.length > KEY_BYTES_MAX || endKey.length > KEY_BYTES_MAX) return limitExceeded(`range key longer than ${KEY_BYTES_MAX} bytes`);
  if (endKey.length > 0 && Buffer.compare(startKey, endKey) > 0) return invalidArgument('range start is after its end');
  return null;
}

/** The first non-null check result. */
export function firstError(...checks: (TxnError | null)[]): TxnError | null {
  for (const check of checks) if (check !== null) return check;
  return null;
}
