// The argument checks every command runs first (txn/commands/validate.ts), over generated inputs
// judged by a reference rule written from the contract, through the commands themselves:
//   - key lists: empty list, too many keys, an empty or oversized key, and duplicates — among keys
//     that share long prefixes, differ only in a trailing byte or in length, so that a check that
//     looks at part of a key (a prefix, a hash) conflates two distinct keys;
//   - timestamps at every boundary: a read ts or commit's start_ts is a positive u64 (u64 max is
//     "read latest"); a prewrite's start_ts lies strictly between 0 and u64 max (nothing above it
//     could be its commit_ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { U64_MAX } from '../../common/index.js';
import { MemoryEngine } from '../../store/index.js';
import {
  batchGetCommand, commitCommand, KEY_BYTES_MAX, KEYS_PER_COMMAND_MAX, type Mutation, prewriteCommand, type Snapshot,
} from '../../txn/index.js';

type Verdict = 'ok' | 'InvalidArgument' | 'LimitExceeded';

/** The error code of a command output or a read result, or 'ok'. */
function verdictOf(outcome: unknown): string {
  const inner: unknown = typeof outcome === 'object' && outcome !== null && 'result' in outcome ? outcome.result : outcome;
  const r = inner as { kind: string; code?: string };
  return r.kind === 'error' ? (r.code ?? '?') : 'ok';
}

/** The contract for a command's key list, in the order the keys are given. */
function referenceKeys(keys: readonly Buffer[]): Verdict {
  if (keys.length === 0) return 'InvalidArgument';
  if (keys.length > KEYS_PER_COMMAND_MAX) return 'LimitExceeded';
  const seen = new Set<string>(); // every byte of every key, in hex
  for (const key of keys) {
    if (key.length === 0) return 'InvalidArgument';
    if (key.length > KEY_BYTES_MAX) return 'LimitExceeded';
    const hex = key.toString('hex');
    if (seen.has(hex)) return 'InvalidArgument';
    seen.add(hex);
  }
  return 'ok';
}

const referenceTs = (ts: bigint): Verdict => (ts > 0n && ts <= U64_MAX ? 'ok' : 'InvalidArgument');
const referenceStartTs = (ts: bigint): Verdict => (ts > 0n && ts < U64_MAX ? 'ok' : 'InvalidArgument');
const first = (...verdicts: Verdict[]): Verdict => verdicts.find((v) => v !== 'ok') ?? 'ok';

/** One long shared stem: keys are a prefix of it plus a short tail, so near neighbours abound. */
const STEM = Buffer.from(Array.from({ length: KEY_BYTES_MAX + 1 }, (_, i) => (i * 37 + 11) & 0xff));
const PREFIX_LENGTHS = [0, 1, 2, 15, 16, 17, 31, 32, 33, 64, KEY_BYTES_MAX - 1, KEY_BYTES_MAX, KEY_BYTES_MAX + 1];
const arbKey = fc.record({
  prefix: fc.constantFrom(...PREFIX_LENGTHS),
  tail: fc.array(fc.constantFrom(0, 1, 0x7f, 0xff), { maxLength: 2 }),
}).map(({ prefix, tail }) => Buffer.concat([STEM.subarray(0, prefix), Buffer.from(tail)]));
const arbKeys = fc.oneof(
  { weight: 20, arbitrary: fc.array(arbKey, { minLength: 0, maxLength: 12 }) },
  // At the count limit and one past it: distinct keys, then maybe one repeated at the end.
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(KEYS_PER_COMMAND_MAX - 1, KEYS_PER_COMMAND_MAX), fc.boolean()).map(([n, repeat]) => {
    const keys = Array.from({ length: n }, (_, i) => Buffer.concat([STEM.subarray(0, 20), Buffer.from(String(i))]));
    if (repeat) keys.push(keys[n - 1]!);
    return keys;
  }) },
);
const arbTs = fc.oneof(
  fc.constantFrom(-1n, 0n, 1n, 2n, U64_MAX - 2n, U64_MAX - 1n, U64_MAX, U64_MAX + 1n, 1n << 65n),
  fc.bigInt({ min: -2n, max: U64_MAX + 2n }),
);

async function withSnapshot<T>(fn: (s: Snapshot) => Promise<T>): Promise<T> {
  const engine = new MemoryEngine();
  try {
    return await fn(await engine.snapshot());
  } finally {
    await engine.close();
  }
}

describe('txn argument checks against the contract (generated keys and timestamps)', () => {
  it('batch get: the key list, then a positive u64 read ts', () => withSnapshot(async (s) => {
    await fc.assert(fc.asyncProperty(arbKeys, arbTs, async (keys, readTs) => {
      const want = first(referenceKeys(keys), referenceTs(readTs));
      assert.equal(verdictOf(await batchGetCommand(s, keys, readTs)), want);
    }), { numRuns: 600 });
  }));

  it('prewrite: the mutations\' keys, the primary, a start_ts strictly inside (0, u64 max), then a min_commit_ts ≥ 0', () => withSnapshot(async (s) => {
    const arbMinCommitTs = fc.oneof({ weight: 4, arbitrary: fc.constant(0n) }, { weight: 1, arbitrary: fc.constantFrom(-(1n << 64n), -1n, 1n, U64_MAX) });
    await fc.assert(fc.asyncProperty(arbKeys, arbTs, arbMinCommitTs, async (keys, startTs, minCommitTs) => {
      const mutations: Mutation[] = keys.map((key) => ({ kind: 'put', key, value: Buffer.from('v') }));
      const primary = keys[0] ?? Buffer.from('p');
      const want = first(referenceKeys(keys), referenceKeys([primary]), referenceStartTs(startTs), minCommitTs < 0n ? 'InvalidArgument' : 'ok');
      const got = await prewriteCommand(s, { mutations, primary, startTs, lockTtlMs: 1000, txnSize: mutations.length, minCommitTs });
      assert.equal(verdictOf(got), want);
      if (want !== 'ok') assert.equal(got.modifications.length, 0, 'a refused prewrite writes nothing');
    }), { numRuns: 600 });
  }));

  it('commit: the key list, then start_ts and commit_ts positive u64s', () => withSnapshot(async (s) => {
    await fc.assert(fc.asyncProperty(arbKeys, arbTs, arbTs, async (keys, startTs, commitTs) => {
      const want = first(referenceKeys(keys), referenceTs(startTs), referenceTs(commitTs));
      const got = verdictOf(await commitCommand(s, { keys, startTs, commitTs }));
      // Past the checks, a commit of keys nobody locked fails for that reason (or for an inverted
      // pair of timestamps), never with a limit.
      if (want === 'ok') assert.ok(got !== 'LimitExceeded' && (got !== 'InvalidArgument' || commitTs <= startTs), `commit answered ${got}`);
      else assert.equal(got, want);
    }), { numRuns: 600 });
  }));

  it('fixed cases: keys alike in their first 16 bytes or up to a last byte are distinct', () => withSnapshot(async (s) => {
    const a = Buffer.concat([STEM.subarray(0, 16), Buffer.from([1])]);
    const b = Buffer.concat([STEM.subarray(0, 16), Buffer.from([2])]);
    assert.equal(verdictOf(await batchGetCommand(s, [a, b], 5n)), 'ok');
    assert.equal(verdictOf(await batchGetCommand(s, [STEM.subarray(0, 16), a], 5n)), 'ok');
    assert.equal(verdictOf(await batchGetCommand(s, [a, b, a], 5n)), 'InvalidArgument');
    const put = (key: Buffer): Mutation => ({ kind: 'put', key, value: Buffer.from('v') });
    const prewrite = (startTs: bigint) => prewriteCommand(s, { mutations: [put(a)], primary: a, startTs, lockTtlMs: 1000, txnSize: 1, minCommitTs: 0n });
    assert.equal(verdictOf(await prewrite(U64_MAX - 1n)), 'ok');
    assert.equal(verdictOf(await prewrite(U64_MAX)), 'InvalidArgument');
  }));
});
