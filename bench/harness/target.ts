// What a bench workload drives: one system under test, Flotilla or a peer (etcd), behind the same
// operations, so that one load generator measures both in the same run (issue F9). Workers open
// their own target from a serializable spec (they run in separate processes).

import type { ReplicaRead } from '../../client/index.js';

export type TargetSpec =
  | { readonly kind: 'flotilla'; readonly pdEndpoints: readonly string[]; readonly replicaRead?: ReplicaRead }
  | { readonly kind: 'etcd'; readonly endpoints: readonly string[]; readonly transport: EtcdTransportKind };

/** How the bench's etcd client talks gRPC (bench/peers/etcd-client.ts): bare node:http2 (default) or @grpc/grpc-js. */
export type EtcdTransportKind = 'http2' | 'grpc-js';

export type TargetKind = TargetSpec['kind'];

/** How an optimistic write ended: 'conflict' means another writer won and nothing was written (retry). */
export type TxnOutcome = 'committed' | 'conflict';

export interface BenchTarget {
  readonly kind: TargetKind;
  /** A durable, linearizable single-key write (Flotilla: raw put; etcd: Put). */
  put(key: Buffer, value: Buffer): Promise<void>;
  /** A linearizable single-key read (Flotilla: raw get; etcd: Range of one key). null: absent. */
  get(key: Buffer): Promise<Buffer | null>;
  /** Up to `limit` pairs from `start` on, in key order; resolves with how many were read. */
  scan(start: Buffer, limit: number): Promise<number>;
  /**
   * Moves `amount` from account `from` to account `to` atomically when `from` holds at least that
   * much (balances are decimal strings padded with spaces to `valueBytes`, balance.ts). Flotilla:
   * a Percolator transaction; etcd: a Txn that compares both keys' mod revisions and puts both.
   * Resolves 'committed', 'insufficient', or 'conflict' (another writer won, nothing was written:
   * the worker retries).
   */
  transfer(from: Buffer, to: Buffer, amount: number, valueBytes: number): Promise<TxnOutcome | 'insufficient'>;
  /**
   * A point read at a fresh snapshot (Flotilla: a start_ts from TSO, then a transactional get of a
   * transactional key; etcd: a linearizable Range, every etcd read being at one revision).
   */
  txnGet(key: Buffer): Promise<Buffer | null>;
  /**
   * Reads `key` and writes `modify(old)` in one transaction (Flotilla: Percolator, the write
   * conflicts if another committed after the read's start_ts; etcd: a Range, then a Txn that puts
   * only if the key's mod revision is unchanged). 'conflict': nothing written (the worker retries).
   */
  readModifyWrite(key: Buffer, modify: (old: Buffer | null) => Buffer): Promise<TxnOutcome>;
  /** Up to `limit` pairs from `start` on, all read at one snapshot; resolves with how many were read. */
  snapshotScan(start: Buffer, limit: number): Promise<number>;
  /** One timestamp from the cluster's timestamp oracle (Flotilla's TSO; etcd has none and throws). */
  timestamp(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Where a target keeps transactional keys apart from raw ones (Flotilla: txn-get, txn-rmw and
 * scan read keys written by transactions; a raw put does not reach them). A target without it
 * has one key space, and the harness loads those keys with put.
 */
export interface TxnKeyLoader {
  loadTxnKeys(keys: readonly Buffer[], value: Buffer): Promise<void>;
}

export function isTxnKeyLoader(t: BenchTarget): t is BenchTarget & TxnKeyLoader {
  return typeof (t as Partial<TxnKeyLoader>).loadTxnKeys === 'function';
}
