// Reads on the live read view (TxnEngine.readView) are correct only because every read looks at
// a key's lock before its latest/write/default records (argument in txn/mvcc/snapshot.ts). This
// test puts a commit with commit_ts ≤ the read ts into every gap between the engine calls of a
// point get, a batch get and a scan (both directions): the read must answer KeyIsLocked (it saw
// the lock) or the committed value — never the value from before the commit. (get and batchGet
// read locks and latest records in one multiGet, so their lock-first is within that call.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type KvEntry, SHORT_VALUE_BYTES_MAX, type Snapshot, type SnapshotScanOptions, batchGetCommand, commitCommand, getCommand, scanCommand } from '../../../txn/index.js';
import { ENGINE_KINDS, k, type TxnHarness, withHarness } from '../helpers.js';

/** Runs `inject` (once) just before engine call number `gapAt` of the wrapped view. */
class GapInjector implements Snapshot {
  calls = 0;
  constructor(private readonly inner: Snapshot, private readonly gapAt: number, private readonly inject: () => Promise<void>) {}
  private async around<T>(op: () => Promise<T>): Promise<T> {
    if (this.calls++ === this.gapAt) await this.inject();
    return op();
  }
  get(key: Buffer): Promise<Buffer | null> {
    return this.around(() => this.inner.get(key));
  }
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.around(() => this.inner.multiGet(keys));
  }
  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    return this.around(() => this.inner.scan(start, end, options));
  }
  release(): Promise<void> {
    return this.inner.release();
  }
}

type ReadKind = 'get' | 'batchGet' | 'scan' | 'reverseScan';
const READ_TS = 30n;

/** The answer as a string: 'locked' or the value of key a (`none` when a is absent). */
async function readA(view: Snapshot, kind: ReadKind): Promise<string> {
  const result = kind === 'get' ? await getCommand(view, k('a'), READ_TS)
    : kind === 'batchGet' ? await batchGetCommand(view, [k('b'), k('a')], READ_TS)
      : await scanCommand(view, { startKey: k(''), endKey: k(''), readTs: READ_TS, limit: 10, isReverse: kind === 'reverseScan' });
  if (result.kind === 'error') {
    assert.equal(result.code, 'KeyIsLocked');
    return 'locked';
  }
  if (result.kind === 'value') return result.value?.toString() ?? 'none';
  return result.pairs.find((p) => p.key.equals(k('a')))?.value.toString() ?? 'none';
}

async function setUp(h: TxnHarness, newValue: string): Promise<void> {
  await h.mustPrewritePut('a', 'old', 'a', 10n);
  await h.mustCommit('a', 10n, 11n);
  await h.mustPrewritePut('b', 'b', 'b', 10n);
  await h.mustCommit('b', 10n, 11n);
  await h.mustPrewritePut('a', newValue, 'a', 20n); // T: start 20, will commit at 25 ≤ READ_TS
}

for (const kind of ENGINE_KINDS) {
  describe(`read view: lock before records (${kind})`, () => {
    for (const read of ['get', 'batchGet', 'scan', 'reverseScan'] as const) {
      for (const valueKind of ['short', 'long'] as const) {
        it(`${read} (${valueKind} value): a commit at ≤ read ts in any gap never yields the pre-commit value`, async () => {
          const newValue = valueKind === 'short' ? 'new' : 'n'.repeat(SHORT_VALUE_BYTES_MAX + 1);
          let calls = 1;
          for (let gapAt = 0; gapAt <= calls; gapAt++) {
            await withHarness(kind, async (h) => {
              await setUp(h, newValue);
              let isInjected = false;
              const view = new GapInjector(h.engine.readView(), gapAt, async () => {
                isInjected = true;
                const done = await h.run([k('a')], (s) => commitCommand(s, { keys: [k('a')], startTs: 20n, commitTs: 25n }));
                assert.equal(done.kind, 'committed');
              });
              const answer = await readA(view, read);
              assert.ok(answer === 'locked' || answer === newValue, `commit injected before engine call ${gapAt} (${isInjected ? 'ran' : 'after the read'}): ${read} answered ${answer.slice(0, 10)}`);
              if (gapAt === 0) calls = view.calls; // the clean read's engine calls: every gap in between is tried
            });
          }
          // get and batchGet read locks and latest records in one multiGet (lock first within it,
          // mvcc/reader.ts): with a short value that is their only call; scans make several.
          const isPointRead = read === 'get' || read === 'batchGet';
          assert.ok(calls >= (isPointRead && valueKind === 'short' ? 1 : 2), `${read} makes ${calls} engine calls`);
        });
      }
    }
  });
}
