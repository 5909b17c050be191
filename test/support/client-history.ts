// A checker of transactional histories against snapshot isolation, for the client tests (F6).
// Each transaction is recorded as its start ts, its operations in order with what the reads
// returned, and its outcome (committed at a commit ts / failed / unknown). The checker builds the
// serial history — committed transactions applied to a plain sorted map in commit-ts order — and
// judges every read of every transaction (committed or not) against the state at its start ts
// overlaid with its own buffered writes, checks first-committer-wins (two committed transactions
// that write a common key never overlap), and compares the final state. Transactions whose outcome
// is unknown may have committed at any ts between their start and the moment the error was seen:
// the checker searches those possibilities (bounded) and passes if one explains the history.
// Write skew (G2-item) is allowed under SI and is not flagged.

import type { KvEntry } from './client-cluster.js';

export type TxnOp =
  | { readonly kind: 'get'; readonly key: Buffer; readonly result: Buffer | null }
  | { readonly kind: 'batchGet'; readonly keys: readonly Buffer[]; readonly result: readonly (Buffer | null)[] }
  | { readonly kind: 'scan'; readonly start: Buffer; readonly end: Buffer; readonly limit?: number; readonly reverse: boolean; readonly result: readonly KvEntry[] }
  | { readonly kind: 'put'; readonly key: Buffer; readonly value: Buffer }
  | { readonly kind: 'delete'; readonly key: Buffer };

export type TxnOutcome =
  | { readonly kind: 'committed'; readonly commitTs: bigint }
  /** Did not commit (WriteConflict, TxnAborted, a read that failed, an explicit rollback). */
  | { readonly kind: 'failed'; readonly code: string }
  /** CommitUnknown: may have committed at a ts in (startTs, tsAfter). */
  | { readonly kind: 'unknown'; readonly tsAfter: bigint };

export interface TxnRecord {
  readonly id: string;
  readonly startTs: bigint;
  readonly ops: readonly TxnOp[];
  readonly outcome: TxnOutcome;
}

export interface HistoryVerdict {
  readonly ok: boolean;
  /** Why the history is not snapshot-isolated (empty when ok), from the most plausible assignment tried. */
  readonly anomalies: readonly string[];
  /** The commit ts chosen for each unknown transaction that the passing assignment committed. */
  readonly unknownCommitted: ReadonlyMap<string, bigint>;
  readonly assignmentsTried: number;
}

/** Assignments of unknown outcomes tried at most; past it the verdict is a failure (a run that proves nothing). */
const ASSIGNMENTS_MAX = 50_000;

const hex = (k: Uint8Array): string => Buffer.from(k).toString('hex');

function show(bytes: Uint8Array | null | undefined): string {
  if (bytes === null || bytes === undefined) return 'null';
  const buf = Buffer.from(bytes);
  const text = buf.every((c) => c >= 0x20 && c < 0x7f) ? JSON.stringify(buf.toString('latin1')) : `0x${buf.toString('hex')}`;
  return text.length > 60 ? `${text.slice(0, 57)}…(${buf.length} B)` : text;
}

function sameBytes(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

/** The versions of every key: (commit ts, value or null for a delete), ascending ts. Timestamps doubled (see check()). */
class VersionedModel {
  private readonly versions = new Map<string, { key: Buffer; list: { ts: bigint; value: Buffer | null }[] }>();

  constructor(initial: ReadonlyMap<string, Buffer>) {
    for (const [k, v] of initial) this.versions.set(k, { key: Buffer.from(k, 'hex'), list: [{ ts: -1n, value: v }] });
  }

  apply(writes: ReadonlyMap<string, { key: Buffer; value: Buffer | null }>, ts: bigint): void {
    for (const [k, w] of writes) {
      let entry = this.versions.get(k);
      if (entry === undefined) {
        entry = { key: w.key, list: [] };
        this.versions.set(k, entry);
      }
      entry.list.push({ ts, value: w.value });
    }
  }

  /** Value of the key at ts (versions with commit ts ≤ ts). Lists are appended in ts order. */
  valueAt(k: string, ts: bigint): Buffer | null {
    const list = this.versions.get(k)?.list;
    if (list === undefined) return null;
    let lo = 0;
    let hi = list.length; // first index with version ts > ts
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.ts <= ts) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? null : list[lo - 1]!.value;
  }

  /** Every key ever written, with its value at ts. */
  stateAt(ts: bigint): Map<string, { key: Buffer; value: Buffer }> {
    const out = new Map<string, { key: Buffer; value: Buffer }>();
    for (const [k, entry] of this.versions) {
      const v = this.valueAt(k, ts);
      if (v !== null) out.set(k, { key: entry.key, value: v });
    }
    return out;
  }
}

/** The net writes of a transaction (last write per key wins). */
export function netWrites(ops: readonly TxnOp[]): Map<string, { key: Buffer; value: Buffer | null }> {
  const out = new Map<string, { key: Buffer; value: Buffer | null }>();
  for (const op of ops) {
    if (op.kind === 'put') out.set(hex(op.key), { key: op.key, value: op.value });
    else if (op.kind === 'delete') out.set(hex(op.key), { key: op.key, value: null });
  }
  return out;
}

/** What a scan over [start, end) must return given a state (the txn's view). */
export function expectedScan(view: ReadonlyMap<string, { key: Buffer; value: Buffer }>, start: Buffer, end: Buffer, reverse: boolean, limit: number | undefined): KvEntry[] {
  const rows = [...view.values()].filter((e) => Buffer.compare(e.key, start) >= 0 && Buffer.compare(e.key, end) < 0).sort((a, b) => Buffer.compare(a.key, b.key));
  if (reverse) rows.reverse();
  return rows.slice(0, limit ?? rows.length).map((e) => ({ key: e.key, value: e.value }));
}

/** Judges one transaction's reads against the state at its start (doubled ts), overlaid with its own writes. */
function checkReads(model: VersionedModel, txn: TxnRecord, readTs: bigint, anomalies: string[]): void {
  const own = new Map<string, { key: Buffer; value: Buffer | null }>();
  const valueOf = (key: Buffer): Buffer | null => {
    const w = own.get(hex(key));
    return w !== undefined ? w.value : model.valueAt(hex(key), readTs);
  };
  txn.ops.forEach((op, i) => {
    const where = `txn ${txn.id} (start ${txn.startTs}, ${txn.outcome.kind}) op ${i} ${op.kind}`;
    switch (op.kind) {
      case 'put':
        own.set(hex(op.key), { key: op.key, value: op.value });
        return;
      case 'delete':
        own.set(hex(op.key), { key: op.key, value: null });
        return;
      case 'get': {
        const want = valueOf(op.key);
        if (!sameBytes(want, op.result)) anomalies.push(`${where} ${show(op.key)}: read ${show(op.result)}, the serial history has ${show(want)}`);
        return;
      }
      case 'batchGet': {
        if (op.result.length !== op.keys.length) {
          anomalies.push(`${where}: ${op.result.length} results for ${op.keys.length} keys`);
          return;
        }
        op.keys.forEach((k, j) => {
          const want = valueOf(k);
          if (!sameBytes(want, op.result[j])) anomalies.push(`${where} [${j}] ${show(k)}: read ${show(op.result[j])}, the serial history has ${show(want)}`);
        });
        return;
      }
      case 'scan': {
        const view = model.stateAt(readTs);
        for (const [k, w] of own) {
          if (w.value === null) view.delete(k);
          else view.set(k, { key: w.key, value: w.value });
        }
        const want = expectedScan(view, op.start, op.end, op.reverse, op.limit);
        const got = op.result;
        const same = want.length === got.length && want.every((e, j) => sameBytes(e.key, got[j]!.key) && sameBytes(e.value, got[j]!.value));
        if (!same) {
          const fmt = (rows: readonly KvEntry[]): string => rows.map((r) => `${show(r.key)}=${show(r.value)}`).join(', ');
          anomalies.push(`${where} [${show(op.start)}, ${show(op.end)}) reverse=${op.reverse} limit=${op.limit ?? '-'}: got [${fmt(got)}], the serial history has [${fmt(want)}]`);
        }
        return;
      }
    }
  });
}

function checkAssignment(
  txns: readonly TxnRecord[],
  commitTsOf: ReadonlyMap<string, bigint>,
  initial: ReadonlyMap<string, Buffer>,
  finalState: ReadonlyMap<string, Buffer> | null,
): string[] {
  const anomalies: string[] = [];
  const committed = txns.filter((t) => commitTsOf.has(t.id)).sort((a, b) => (commitTsOf.get(a.id)! < commitTsOf.get(b.id)! ? -1 : 1));
  const model = new VersionedModel(initial);
  const lastWriter = new Map<string, TxnRecord>();
  for (const t of committed) {
    const commitTs = commitTsOf.get(t.id)!;
    const writes = netWrites(t.ops);
    // A read-only transaction writes nothing and needs no commit ts of its own (TiKV assigns none;
    // returning its start ts is fine): the rule binds transactions that write.
    if (writes.size > 0 && commitTs <= t.startTs * 2n) anomalies.push(`txn ${t.id}: commit ts ${commitTs / 2n} is not above its start ts ${t.startTs}`);
    for (const k of writes.keys()) {
      const prev = lastWriter.get(k);
      // First committer wins: the previous writer of k must have committed before t started.
      if (prev !== undefined && commitTsOf.get(prev.id)! >= t.startTs * 2n) {
        anomalies.push(`lost update on ${show(writes.get(k)!.key)}: txn ${prev.id} (start ${prev.startTs}, commit ${commitTsOf.get(prev.id)! / 2n}) and txn ${t.id} (start ${t.startTs}, commit ${commitTs / 2n}) both committed a write`);
      }
      lastWriter.set(k, t);
    }
    model.apply(writes, commitTs);
  }
  for (const t of txns) checkReads(model, t, t.startTs * 2n, anomalies);
  if (finalState !== null) {
    const modelFinal = model.stateAt(BigInt(Number.MAX_SAFE_INTEGER) ** 2n);
    for (const [k, e] of modelFinal) if (!sameBytes(finalState.get(k), e.value)) anomalies.push(`final state ${show(e.key)}: read ${show(finalState.get(k))}, the serial history has ${show(e.value)}`);
    for (const [k, v] of finalState) if (!modelFinal.has(k)) anomalies.push(`final state ${show(Buffer.from(k, 'hex'))}: read ${show(v)}, the serial history has null`);
  }
  return anomalies;
}

/**
 * Checks a history. `initial` is the state before every recorded transaction (hex key → value);
 * `finalState` the state read after all of them ended (null: do not check). Internally every
 * timestamp is doubled so that an unknown transaction can be placed strictly between two real ones.
 */
export function checkSnapshotIsolation(
  txns: readonly TxnRecord[],
  initial: ReadonlyMap<string, Buffer>,
  finalState: ReadonlyMap<string, Buffer> | null,
): HistoryVerdict {
  const known = new Map<string, bigint>();
  const unknown: { txn: TxnRecord; choices: (bigint | null)[] }[] = [];
  const realTs: bigint[] = [];
  for (const t of txns) {
    realTs.push(t.startTs);
    if (t.outcome.kind === 'committed') {
      known.set(t.id, t.outcome.commitTs * 2n);
      realTs.push(t.outcome.commitTs);
    }
  }
  realTs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const t of txns) {
    if (t.outcome.kind !== 'unknown') continue;
    const tsAfter = t.outcome.tsAfter;
    // Not committed, or committed just after its start or just after any real ts in its window.
    const choices: (bigint | null)[] = [null, t.startTs * 2n + 1n];
    for (const r of realTs) if (r > t.startTs && r < tsAfter) choices.push(r * 2n + 1n);
    unknown.push({ txn: t, choices });
  }
  let tried = 0;
  const first: { anomalies: string[] | null } = { anomalies: null };
  const assignment = new Map(known);
  const search = (i: number): Map<string, bigint> | null => {
    if (tried >= ASSIGNMENTS_MAX) return null;
    if (i === unknown.length) {
      tried++;
      const anomalies = checkAssignment(txns, assignment, initial, finalState);
      first.anomalies ??= anomalies;
      return anomalies.length === 0 ? new Map(assignment) : null;
    }
    const u = unknown[i]!;
    for (const choice of u.choices) {
      if (choice === null) assignment.delete(u.txn.id);
      else assignment.set(u.txn.id, choice);
      const found = search(i + 1);
      if (found !== null) return found;
    }
    assignment.delete(u.txn.id);
    return null;
  };
  const found = search(0);
  if (found !== null) {
    const unknownCommitted = new Map<string, bigint>();
    for (const u of unknown) if (found.has(u.txn.id)) unknownCommitted.set(u.txn.id, found.get(u.txn.id)! / 2n);
    return { ok: true, anomalies: [], unknownCommitted, assignmentsTried: tried };
  }
  const anomalies = [...(first.anomalies ?? [])];
  if (tried >= ASSIGNMENTS_MAX) anomalies.unshift(`gave up after ${tried} assignments of ${unknown.length} unknown outcomes: too many to check`);
  return { ok: false, anomalies, unknownCommitted: new Map(), assignmentsTried: tried };
}
