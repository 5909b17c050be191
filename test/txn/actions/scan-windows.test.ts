// A scan over the live read view (TxnEngine.readView, what the store serves a read with after its
// read barrier) while deletes commit under it. A delete whose lock was prewritten before the read
// began may commit at a ts at or below the read's while the scan runs — between a window's probe
// and its lock read. The window then gives fewer pairs than the probe promised, and the scan must
// continue with another window: forward and reverse, from open and bounded ends, over short and
// long values and keys whose newest version is newer than the read. Judged against a model.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_KINDS, type EngineKind, k, assertOk, TxnHarness, openTestEngine } from '../helpers.js';
import { type KvEntry, type Mutation, scanCommand, SHORT_VALUE_BYTES_MAX, type Snapshot, type SnapshotScanOptions } from '../../../txn/index.js';
import { CF_PREFIX, createRng, type Rng, type Ts } from '../../../common/index.js';

const READ_TS: Ts = 100n;

/**
 * The live view, running the next scripted step just before each window's lock read: the first
 * lock-CF scan after a scan of another CF (a window reads its locks in one run of lock-CF scans,
 * after its probe of the latest and write CFs).
 */
class ScriptedView implements Snapshot {
  private lastCf: number | undefined;
  stepsRun = 0;

  constructor(private readonly inner: Snapshot, private readonly steps: readonly (() => Promise<void>)[]) {}

  get(key: Buffer): Promise<Buffer | null> {
    return this.inner.get(key);
  }

  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    return this.inner.multiGet(keys);
  }

  async scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    const cf = start[0];
    if (cf === CF_PREFIX.lock && this.lastCf !== CF_PREFIX.lock) {
      const step = this.steps[this.stepsRun];
      if (step !== undefined) {
        this.stepsRun++;
        await step();
      }
    }
    this.lastCf = cf;
    return this.inner.scan(start, end, options);
  }

  release(): Promise<void> {
    return this.inner.release();
  }
}

interface Scenario {
  readonly keys: readonly string[];
  /** The value each key has at READ_TS before the deletes (absent: not visible). */
  readonly visible: ReadonlyMap<string, string>;
  readonly rewrittenAfterRead: ReadonlySet<string>;
  readonly isReverse: boolean;
  readonly startKey: string;
  readonly endKey: string;
  readonly limit: number;
  /** Group i is deleted (committed at or below READ_TS) just before window i reads its locks. */
  readonly groups: readonly (readonly string[])[];
}

const keyName = (i: number): string => `k${String(i).padStart(3, '0')}`;

function valueOf(rng: Rng, key: string, tag: string): string {
  const short = `${key}${tag}`;
  return rng.chance(0.15) ? short.padEnd(SHORT_VALUE_BYTES_MAX + 1 + rng.nextInt(64), tag) : short;
}

/**
 * Keys committed at 11, some deleted at 31 (invisible at the read), some rewritten at 151 (their
 * visible version is found in the write CF). The windows are planned as the scan documents them:
 * each probe finds the next `limit − found` visible keys, and the group deleted under window i is
 * a random part of what its probe found — all of it, sometimes, so a window yields nothing.
 */
function plan(rng: Rng, isReverse: boolean, openStart: boolean, openEnd: boolean): Scenario {
  const n = 4 + rng.nextInt(30);
  const keys = Array.from({ length: n }, (_, i) => keyName(i));
  const visible = new Map<string, string>();
  const rewrittenAfterRead = new Set<string>();
  for (const key of keys) {
    if (rng.chance(0.2)) continue;
    visible.set(key, valueOf(rng, key, 'a'));
    if (rng.chance(0.2)) rewrittenAfterRead.add(key);
  }
  const from = openStart ? 0 : rng.nextInt(Math.ceil(n / 2));
  const to = openEnd ? n : n - rng.nextInt(Math.ceil((n - from) / 2));
  const inRange = keys.slice(from, to).filter((key) => visible.has(key));
  const order = isReverse ? [...inRange].reverse() : inRange;
  const limit = 1 + rng.nextInt(order.length + 2);
  const groups: string[][] = [];
  let position = 0;
  let found = 0;
  const maxWindows = 2 + rng.nextInt(4);
  for (;;) {
    const want = limit - found;
    const probe = order.slice(position, position + want);
    const deletable = probe.filter((key) => !rewrittenAfterRead.has(key));
    const group = groups.length === maxWindows - 1 ? [] : rng.chance(0.3) ? deletable : deletable.filter(() => rng.chance(0.6));
    groups.push(group);
    found += probe.length - group.length;
    position += probe.length;
    if (probe.length < want || found >= limit) break; // the probe ran out, or the limit is met
  }
  return {
    keys, visible, rewrittenAfterRead, isReverse, limit, groups,
    startKey: openStart ? '' : keyName(from),
    endKey: openEnd ? '' : keyName(to),
  };
}

async function writeScenario(h: TxnHarness, rng: Rng, s: Scenario): Promise<void> {
  const commitAll = async (mutations: Mutation[], startTs: Ts): Promise<void> => {
    if (mutations.length === 0) return;
    await h.mustPrewrite(mutations, mutations[0]!.key, startTs);
    await h.mustCommit(mutations.map((m) => m.key.toString()), startTs, startTs + 1n);
  };
  const deletedAt31 = s.keys.filter((key) => !s.visible.has(key));
  await commitAll(s.keys.map((key) => ({ kind: 'put', key: k(key), value: k(s.visible.get(key) ?? `${key}gone`) })), 10n);
  await commitAll(deletedAt31.map((key) => ({ kind: 'delete', key: k(key) })), 30n);
  await commitAll([...s.rewrittenAfterRead].map((key) => ({ kind: 'put', key: k(key), value: k(valueOf(rng, key, 'c')) })), 150n);
  // The deletes: prewritten before the read begins (their locks block it until they commit).
  for (const [i, group] of s.groups.entries()) {
    if (group.length > 0) await h.mustPrewrite(group.map((key) => ({ kind: 'delete', key: k(key) })), k(group[0]!), 40n + 2n * BigInt(i));
  }
  // Locks newer than the read, which never block it, on some keys no delete locks.
  const locked = new Set(s.groups.flat());
  const newer = s.keys.filter((key) => !locked.has(key) && rng.chance(0.2));
  if (newer.length > 0) await h.mustPrewrite(newer.map((key) => ({ kind: 'put', key: k(key), value: k(`${key}d`) })), k(newer[0]!), 200n);
}

function describeScenario(s: Scenario): string {
  return `${s.isReverse ? 'reverse' : 'forward'} ['${s.startKey}', '${s.endKey}') limit ${s.limit}, ` +
    `visible ${[...s.visible.keys()].join(',')}, rewritten ${[...s.rewrittenAfterRead].join(',')}, groups ${JSON.stringify(s.groups)}`;
}

/** Runs one scenario on a fresh engine; returns how many windows the scan read. */
async function runScenario(kind: EngineKind, seed: number, isReverse: boolean, openStart: boolean, openEnd: boolean): Promise<number> {
  const rng = createRng(seed);
  const s = plan(rng, isReverse, openStart, openEnd);
  const { engine, cleanup } = await openTestEngine(kind);
  try {
    const h = new TxnHarness(engine);
    await writeScenario(h, rng, s);
    const steps = s.groups.map((group, i) => async (): Promise<void> => {
      if (group.length > 0) await h.mustCommit(group, 40n + 2n * BigInt(i), 41n + 2n * BigInt(i));
    });
    const view = new ScriptedView(engine.readView(), steps);
    const what = `seed ${seed}: ${describeScenario(s)}`;
    const result = assertOk(await scanCommand(view, {
      startKey: k(s.startKey), endKey: k(s.endKey), readTs: READ_TS, limit: s.limit, isReverse: s.isReverse,
    }), what);
    const deleted = new Set(s.groups.flat());
    const inRange = s.keys.filter((key) => key >= s.startKey && (s.endKey === '' || key < s.endKey) && s.visible.has(key) && !deleted.has(key));
    const expected = (s.isReverse ? inRange.reverse() : inRange).slice(0, s.limit).map((key) => `${key}=${s.visible.get(key)}`);
    assert.deepEqual(result.pairs.map((p) => `${p.key.toString()}=${p.value.toString()}`), expected, what);
    assert.equal(view.stepsRun, s.groups.length, `${what}: the scan read its locks in as many windows as planned`);
    return s.groups.length;
  } finally {
    await cleanup();
  }
}

const SEEDS: Readonly<Record<EngineKind, number>> = { memory: 60, rocksdb: 12 };

for (const kind of ENGINE_KINDS) {
  describe(`scan windows under concurrent deletes (${kind}, live read view)`, () => {
    for (const isReverse of [false, true]) {
      for (const openStart of [false, true]) {
        for (const openEnd of [false, true]) {
          const name = `${isReverse ? 'reverse' : 'forward'}, ${openStart ? 'open' : 'bounded'} start, ${openEnd ? 'open' : 'bounded'} end`;
          it(`${name}: keys deleted between a window's probe and its read are skipped, and the scan goes on to the limit`, async () => {
            let scansOfManyWindows = 0;
            for (let seed = 1; seed <= SEEDS[kind]; seed++) {
              const windows = await runScenario(kind, seed * 8 + (isReverse ? 4 : 0) + (openStart ? 2 : 0) + (openEnd ? 1 : 0), isReverse, openStart, openEnd);
              if (windows >= 2) scansOfManyWindows++;
            }
            // Coverage: the path under test (a window short of its probe, then another) was taken.
            assert.ok(scansOfManyWindows >= Math.ceil(SEEDS[kind] / 4), `only ${scansOfManyWindows} scans took a second window`);
          });
        }
      }
    }
  });
}
