// The prewrite command: validate, fetch every key's lock and latest record in one engine call, run
// the prewrite rule per mutation. All-or-nothing: any error means no modification is applied (KeyIsLocked
// errors are all collected so the client can resolve every lock at once).
//
// One-phase commit (`onePcCommitTs`, TiKV's 1PC): the mutations are the whole transaction, and the
// caller picked a commit_ts (store: above every ts it has read at, txn-kv.ts). The same checks,
// then every key's commit record at that ts instead of a lock — one write, nothing left for anyone
// to resolve. A retry of a one-phase commit that already happened must say so, not fail: a key
// whose check fails (another transaction wrote or locked it since) is searched for our own commit
// record first. A lock of ours already there (an earlier attempt prewrote instead) turns the whole
// command into an ordinary prewrite: the caller then commits as usual.

import { invariant, type Ts } from '../../common/pure.js';
import { invalidArgument, type TxnError } from '../errors.js';
import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type LatestRecord } from '../records/latest.js';
import { type Lock } from '../records/lock.js';
import { type Mutation, prewrite, type PrewriteOutcome, type TxnProps } from '../actions/prewrite.js';
import { checkKey, checkKeys, checkStartTs, checkTtl, checkValue, type CommandOutput, failed, firstError } from './validate.js';

export interface PrewriteArgs extends TxnProps {
  readonly mutations: readonly Mutation[];
  /**
   * Commit at once at this ts (> start_ts, ≥ min_commit_ts) instead of locking: the mutations
   * must be the whole transaction (txn_size = their count, the primary among them).
   */
  readonly onePcCommitTs?: Ts;
  /**
   * One-phase only: whether a key that fails the checks is searched for our own commit record
   * (an earlier attempt may have committed). Default true; false when the caller knows no
   * earlier attempt can have run (the request is not a retry) — the search walks the key's
   * versions, and a contended key fails often.
   */
  readonly searchesOwnCommit?: boolean;
}

export type PrewriteResult =
  /** `committedAt` non-null: committed at that ts by one-phase commit (now, or by an earlier attempt). */
  | { readonly kind: 'prewritten'; readonly outcomes: readonly PrewriteOutcome[]; readonly committedAt: Ts | null }
  | { readonly kind: 'locked'; readonly errors: readonly TxnError[] };

export function validatePrewrite(args: PrewriteArgs): TxnError | null {
  const bad = firstError(
    checkKeys(args.mutations.map((m) => m.key)), checkKey(args.primary, 'primary'),
    checkStartTs(args.startTs), checkTtl(args.lockTtlMs),
  );
  if (bad !== null) return bad;
  if (!Number.isSafeInteger(args.txnSize) || args.txnSize < 0 || args.txnSize > 0xffffffff) return invalidArgument(`txn size ${args.txnSize}`);
  if (args.minCommitTs < 0n) return invalidArgument('min_commit_ts is negative');
  for (const m of args.mutations) {
    if (m.kind === 'put' || m.kind === 'insert') {
      const badValue = checkValue(m.value);
      if (badValue !== null) return badValue;
    }
  }
  const c = args.onePcCommitTs;
  if (c !== undefined) {
    if (c <= args.startTs || c < args.minCommitTs) return invalidArgument(`one-phase commit_ts ${c} must exceed start_ts ${args.startTs} and reach min_commit_ts ${args.minCommitTs}`);
    if (args.txnSize !== args.mutations.length) return invalidArgument(`one-phase commit of ${args.mutations.length} mutations of a transaction of ${args.txnSize} keys`);
    if (!args.mutations.some((m) => m.key.equals(args.primary))) return invalidArgument('one-phase commit without its primary key');
  }
  return null;
}

export async function prewriteCommand(snapshot: Snapshot, args: PrewriteArgs): Promise<CommandOutput<PrewriteResult>> {
  const bad = validatePrewrite(args);
  if (bad !== null) return failed(bad);
  const reader = new MvccReader(snapshot);
  const buf = new MvccWriteBuffer();
  // One multiGet of every key's lock and latest record, for either form.
  const { locks, latests } = await reader.loadLocksAndLatests(args.mutations.map((m) => m.key));
  // One phase unless a lock of ours is on ANY key (an earlier attempt prewrote: prewrite as usual).
  // Decided before any key is checked — in key order, an error on an earlier key (our own rollback
  // there) was answered before the lock was reached: the reference model found it (case 801624250).
  if (args.onePcCommitTs !== undefined && !locks.some((l) => l?.startTs === args.startTs)) {
    return onePc(reader, buf, args, args.onePcCommitTs, locks, latests);
  }
  const outcomes: PrewriteOutcome[] = [];
  const lockErrors: TxnError[] = [];
  for (let i = 0; i < args.mutations.length; i++) {
    const outcome = await prewrite(buf, reader, args, args.mutations[i]!, locks[i] ?? null, latests[i] ?? null);
    if (outcome.kind === 'error') {
      if (outcome.code !== 'KeyIsLocked') return failed(outcome);
      lockErrors.push(outcome);
      continue;
    }
    outcomes.push(outcome);
  }
  if (lockErrors.length > 0) return { modifications: [], result: { kind: 'locked', errors: lockErrors } };
  return { modifications: buf.modifications, result: { kind: 'prewritten', outcomes, committedAt: null } };
}

/** The one-phase form of the command (no lock of ours on any key), over the locks and latest records loaded. */
async function onePc(
  reader: MvccReader, buf: MvccWriteBuffer, args: PrewriteArgs, commitTs: Ts,
  locks: readonly (Lock | null)[], latests: readonly (LatestRecord | null)[],
): Promise<CommandOutput<PrewriteResult>> {
  const outcomes: PrewriteOutcome[] = [];
  const lockErrors: TxnError[] = [];
  let committedBefore: Ts | null = null;
  let written = 0;
  for (let i = 0; i < args.mutations.length; i++) {
    const m = args.mutations[i]!;
    const latest = latests[i] ?? null;
    let outcome = await prewrite(buf, reader, args, m, locks[i] ?? null, latest, { kind: 'onePc', commitTs });
    invariant(outcome.kind !== 'alreadyLocked', () => `one-phase prewrite of start_ts ${args.startTs}: a lock of ours was checked for first`);
    if (outcome.kind === 'error' && m.kind !== 'checkNotExists' && args.searchesOwnCommit !== false) {
      // Another transaction may have written or locked the key after our earlier attempt committed.
      const own = await reader.findTxnCommitRecord(m.key, args.startTs, latest);
      if (own.kind === 'committed') outcome = { kind: 'alreadyCommitted', commitTs: own.commitTs };
    }
    if (outcome.kind === 'error') {
      if (outcome.code !== 'KeyIsLocked') return failed(outcome);
      lockErrors.push(outcome);
      continue;
    }
    if (outcome.kind === 'alreadyCommitted') committedBefore = outcome.commitTs;
    if (outcome.kind === 'prewritten') written++;
    outcomes.push(outcome);
  }
  if (lockErrors.length > 0) return { modifications: [], result: { kind: 'locked', errors: lockErrors } };
  if (committedBefore !== null) {
    // An earlier attempt committed every key in one batch; a key written now as well would mean
    // the transaction committed only in part — never produced here, refused rather than hidden.
    if (written > 0) return failed(invalidArgument(`one-phase commit of start_ts ${args.startTs}: some keys committed at ${committedBefore}, others not`));
    return { modifications: [], result: { kind: 'prewritten', outcomes, committedAt: committedBefore } };
  }
  return { modifications: buf.modifications, result: { kind: 'prewritten', outcomes, committedAt: commitTs } };
}
