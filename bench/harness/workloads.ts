// The workloads the harness runs, as data: what each preloads and its operation mix. A new
// workload is a row here plus, for a new operation kind, one case in the worker's operation
// switch (worker.ts) — nothing else changes.

import assert from 'node:assert/strict';
import type { TargetKind } from './target.js';
import type { Distribution, Rng } from './key-chooser.js';

/** One operation a worker loop issues. */
export type OpKind =
  | 'read' | 'update' | 'transfer' | 'scan' | 'rmw' | 'insert'
  /** YCSB D's read: a key chosen by recency, the latest inserted the likeliest. */
  | 'readLatest'
  | 'txnGet' | 'txnRmw' | 'snapshotScan' | 'tso';

/** Longest scan of YCSB E: a scan reads a uniform 1 … this many pairs (YCSB's maxscanlength). */
export const SCAN_LENGTH_MAX = 100;
/** Pairs one snapshot scan of the `scan` workload reads (issue F9: "snapshot scans of 100 keys"). */
export const SNAPSHOT_SCAN_LENGTH = 100;
/**
 * What the parent loads before the measured run: raw keys, transactional accounts, transactional
 * keys (`--keys` of them, `--value-size` bytes; Flotilla writes them in transactions, etcd puts
 * them), or nothing.
 */
export type Preload = 'keys' | 'accounts' | 'txnKeys' | 'none';

export interface OpWeight {
  readonly op: OpKind;
  /** A share of the mix; the shares of a workload sum to 1. */
  readonly share: number;
}

export interface WorkloadSpec {
  readonly name: string;
  readonly description: string;
  readonly preload: Preload;
  readonly mix: readonly OpWeight[];
  /** Key choice unless --distribution says otherwise: YCSB's zipfian for YCSB, uniform (as bench:store) for the rest. */
  readonly distributionDefault: Distribution;
  /** The targets that implement every operation of the mix. */
  readonly targets: readonly TargetKind[];
}

const BOTH: readonly TargetKind[] = ['flotilla', 'etcd'];

export const WORKLOADS: readonly WorkloadSpec[] = [
  { name: 'raw-put', description: 'single-key puts over --keys keys (overwrites)', preload: 'none', mix: [{ op: 'update', share: 1 }], distributionDefault: 'uniform', targets: BOTH },
  { name: 'raw-get', description: 'single-key linearizable gets of preloaded keys', preload: 'keys', mix: [{ op: 'read', share: 1 }], distributionDefault: 'uniform', targets: BOTH },
  { name: 'txn-transfer', description: 'transfer between two accounts (Flotilla: a Percolator txn; etcd: a Txn); balances conserved', preload: 'accounts', mix: [{ op: 'transfer', share: 1 }], distributionDefault: 'uniform', targets: BOTH },
  { name: 'ycsb-a', description: 'YCSB A: 50% read, 50% update', preload: 'keys', mix: [{ op: 'read', share: 0.5 }, { op: 'update', share: 0.5 }], distributionDefault: 'zipfian', targets: BOTH },
  { name: 'ycsb-b', description: 'YCSB B: 95% read, 5% update', preload: 'keys', mix: [{ op: 'read', share: 0.95 }, { op: 'update', share: 0.05 }], distributionDefault: 'zipfian', targets: BOTH },
  { name: 'ycsb-c', description: 'YCSB C: 100% read', preload: 'keys', mix: [{ op: 'read', share: 1 }], distributionDefault: 'zipfian', targets: BOTH },
  { name: 'ycsb-d', description: 'YCSB D: 95% read of a recent key (latest inserted likeliest), 5% insert of a new key', preload: 'keys', mix: [{ op: 'readLatest', share: 0.95 }, { op: 'insert', share: 0.05 }], distributionDefault: 'zipfian', targets: BOTH },
  { name: 'ycsb-e', description: `YCSB E: 95% scan of 1…${SCAN_LENGTH_MAX} pairs from a chosen key, 5% insert of a new key`, preload: 'keys', mix: [{ op: 'scan', share: 0.95 }, { op: 'insert', share: 0.05 }], distributionDefault: 'zipfian', targets: BOTH },
  { name: 'ycsb-f', description: 'YCSB F: 50% read, 50% read-modify-write (a get, then a put of the same key)', preload: 'keys', mix: [{ op: 'read', share: 0.5 }, { op: 'rmw', share: 0.5 }], distributionDefault: 'zipfian', targets: BOTH },
  { name: 'txn-get', description: 'a point get at a fresh snapshot (Flotilla: start_ts from TSO + txn get; etcd: a Range)', preload: 'txnKeys', mix: [{ op: 'txnGet', share: 1 }], distributionDefault: 'uniform', targets: BOTH },
  { name: 'txn-rmw', description: 'read-modify-write of one key in a transaction, conflicts retried (etcd: Range + Txn compare-and-put)', preload: 'txnKeys', mix: [{ op: 'txnRmw', share: 1 }], distributionDefault: 'uniform', targets: BOTH },
  { name: 'scan', description: `a read-only snapshot scan of ${SNAPSHOT_SCAN_LENGTH} pairs from a chosen key (etcd: a Range with a limit)`, preload: 'txnKeys', mix: [{ op: 'snapshotScan', share: 1 }], distributionDefault: 'uniform', targets: BOTH },
  { name: 'tso', description: 'timestamps from the TSO alone (Flotilla only)', preload: 'none', mix: [{ op: 'tso', share: 1 }], distributionDefault: 'uniform', targets: ['flotilla'] },
];

export function workloadNamed(name: string): WorkloadSpec | undefined {
  return WORKLOADS.find((w) => w.name === name);
}

/** Picks operations by their shares: a cumulative table and one uniform draw per pick. */
export class OpPicker {
  private readonly cumulative: number[] = [];
  private readonly ops: OpKind[] = [];

  constructor(mix: readonly OpWeight[], private readonly rng: Rng) {
    assert.ok(mix.length > 0, 'an operation mix needs at least one operation');
    let sum = 0;
    for (const w of mix) {
      assert.ok(w.share > 0, `operation ${w.op}: share must be positive, got ${w.share}`);
      sum += w.share;
      this.cumulative.push(sum);
      this.ops.push(w.op);
    }
    assert.ok(Math.abs(sum - 1) < 1e-9, `operation shares must sum to 1, got ${sum}`);
  }

  next(): OpKind {
    const u = this.rng.next();
    for (let i = 0; i < this.cumulative.length; i++) if (u < this.cumulative[i]!) return this.ops[i]!;
    return this.ops[this.ops.length - 1]!;
  }
}
