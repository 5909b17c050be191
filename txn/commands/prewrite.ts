// The prewrite command: validate, fetch every key's lock and latest record in one engine call, run
// the prewrite rule per mutation. All-or-nothing: any error means no modification is applied (KeyIsLocked
// errors are all collected so the client can resolve every lock at once).

import { invalidArgument, type TxnError } from '../errors.js';
import { MvccReader } from '../mvcc/reader.js';
import { type Snapshot } from '../mvcc/snapshot.js';
import { MvccWriteBuffer } from '../mvcc/write-buffer.js';
import { type Mutation, prewrite, type PrewriteOutcome, type TxnProps } from '../actions/prewrite.js';
import { checkKey, checkKeys, checkTs, checkTtl, checkValue, type CommandOutput, failed, firstError } from './validate.js';

export interface PrewriteArgs extends TxnProps {
  readonly mutations: readonly Mutation[];
}

export type PrewriteResult =
  | { readonly kind: 'prewritten'; readonly outcomes: readonly PrewriteOutcome[] }
  | { readonly kind: 'locked'; readonly errors: readonly TxnError[] };

export function validatePrewrite(args: PrewriteArgs): TxnError | null {
  const bad = firstError(
    checkKeys(args.mutations.map((m) => m.key)), checkKey(args.primary, 'primary'),
    checkTs(args.startTs, 'start_ts'), checkTtl(args.lockTtlMs),
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
  return null;
}

export async function prewriteCommand(snapshot: Snapshot, args: PrewriteArgs): Promise<CommandOutput<PrewriteResult>> {
  const bad = validatePrewrite(args);
  if (bad !== null) return failed(bad);
  const reader = new MvccReader(snapshot);
  const buf = new MvccWriteBuffer();
  const { locks, latests } = await reader.loadLocksAndLatests(args.mutations.map((m) => m.key));
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
  return { modifications: buf.modifications, result: { kind: 'prewritten', outcomes } };
}
