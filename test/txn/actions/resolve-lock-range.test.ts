// resolveLockOverRange (txn/commands/resolve-lock.ts) with other resolvers racing it: between a
// batch's read phase (no latches) and its latched write phase, another resolver settles some of
// the keys it found, and a newer transaction may lock a settled key again. Generated (fast-check,
// fixed seed) over the number of locks, the batch size, commit or roll back, which keys are raced
// and which relocked, with other transactions' locks interleaved in the range. Judged against what
// the contract says must hold afterwards: every lock of the transaction settled the one way,
// every other lock untouched, and resolvedCount = the locks this call resolved itself (the
// model property never races, so a count of the keys found passed it: held-back plant TA19).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Modification, resolveLockCommand, resolveLockOverRange, type Snapshot, TxnScheduler, type TxnEngine } from '../../../txn/index.js';
import { assertOk, ENGINE_KINDS, type EngineKind, k, withHarness } from '../helpers.js';

const SEED = Number(process.env['FLOTILLA_PROPERTY_SEED'] ?? '20261205');
const RUNS: Readonly<Record<EngineKind, number>> = { memory: 150, rocksdb: 40 };
const START_TS = 10n;
const COMMIT_TS = 20n;
const OTHER_TS = 11n; // another transaction's locks, interleaved in the range
const RELOCK_TS = 30n; // a transaction that locks a settled key again

/** A scheduler that lets "another resolver" settle chosen keys just before a batch is latched. */
class RacingScheduler extends TxnScheduler {
  private readonly pending: Set<string>;
  constructor(engine: TxnEngine, raced: readonly string[], private readonly commitTs: bigint, private readonly onRaced: (keys: Buffer[]) => Promise<void>) {
    super(engine, { latchSlots: 64, isSyncWrite: false });
    this.pending = new Set(raced);
  }
  override async run<T>(
    keys: readonly Buffer[],
    command: (snapshot: Snapshot) => Promise<{ readonly modifications: readonly Modification[]; readonly result: T }>,
  ): Promise<T> {
    const raced = keys.filter((key) => this.pending.delete(key.toString('latin1')));
    if (raced.length > 0) {
      const r = await super.run(raced, (s) => resolveLockCommand(s, { startTs: START_TS, commitTs: this.commitTs, keys: raced }));
      assert.ok(r.kind === 'resolved' && r.resolvedCount === raced.length, 'the racing resolver settles its keys');
      await this.onRaced(raced);
    }
    return super.run(keys, command);
  }
}

const arbCase = fc.record({
  keys: fc.array(fc.record({ isRaced: fc.boolean(), isRelocked: fc.boolean(), hasOtherBefore: fc.boolean() }), { minLength: 1, maxLength: 6 }),
  batchKeys: fc.integer({ min: 1, max: 3 }),
  isCommit: fc.boolean(),
});

for (const kind of ENGINE_KINDS) {
  describe(`resolveLockOverRange with racing resolvers (${kind})`, () => {
    it(`counts only what it resolved; settles every lock of the transaction; leaves newer locks alone (${RUNS[kind]} cases)`, async () => {
      const counts = { raced: 0, relocked: 0, allRaced: 0, noneRaced: 0 };
      await fc.assert(fc.asyncProperty(arbCase, async (c) => withHarness(kind, async (h) => {
        const name = (i: number): string => `k${i}`;
        const other = (i: number): string => `k${i}-other`;
        await h.mustPrewrite(c.keys.map((_, i) => ({ kind: 'put' as const, key: k(name(i)), value: k(`v${i}`) })), k(name(0)), START_TS);
        for (const [i, key] of c.keys.entries()) if (key.hasOtherBefore) await h.mustPrewritePut(other(i), 'o', other(i), OTHER_TS);
        const raced = c.keys.flatMap((key, i) => (key.isRaced ? [name(i)] : []));
        const relocked = c.keys.flatMap((key, i) => (key.isRaced && key.isRelocked ? [name(i)] : []));
        counts.raced += raced.length;
        counts.relocked += relocked.length;
        if (raced.length === c.keys.length) counts.allRaced++;
        if (raced.length === 0) counts.noneRaced++;
        const commitTs = c.isCommit ? COMMIT_TS : 0n;
        const scheduler = new RacingScheduler(h.engine, raced, commitTs, async (keys) => {
          for (const key of keys) if (relocked.includes(key.toString('latin1'))) await h.mustPrewritePut(key.toString('latin1'), 'new', key.toString('latin1'), RELOCK_TS);
        });
        const r = assertOk(await resolveLockOverRange(h.engine, scheduler, { startTs: START_TS, commitTs, startKey: k(''), endKey: k(''), batchKeys: c.batchKeys }), 'range resolve');
        const what = `case ${JSON.stringify(c)}`;
        assert.equal(r.resolvedCount, c.keys.length - raced.length, `${what}: resolvedCount counts the locks this call resolved`);
        for (const [i, key] of c.keys.entries()) {
          if (key.isRaced && key.isRelocked) await h.mustLocked(name(i), RELOCK_TS);
          else await h.mustUnlocked(name(i));
          if (c.isCommit) await h.mustGet(name(i), COMMIT_TS + 1n, `v${i}`);
          else await h.mustGetNone(name(i), COMMIT_TS + 1n);
          if (key.hasOtherBefore) await h.mustLocked(other(i), OTHER_TS);
        }
      })), { seed: SEED, numRuns: RUNS[kind] });
      for (const [name, count] of Object.entries(counts)) assert.ok(count > 0, `coverage: ${name} never happened`);
    });
  });
}
