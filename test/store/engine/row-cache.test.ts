// The row cache in front of RocksDB (store/engine/row-cache.ts), judged against a model of the
// writes on real RocksDB with writes and reads in flight together. Every read must return, for all
// its keys at once, the state after some set S of writes with
//   (completed before the read was issued) ⊆ S ⊆ (submitted before it completed),
// and reads must be monotonic: per key never older than what a read that completed before it was
// issued saw (txn/ reads a key's lock, then its records, and relies on both). Caches as small as a
// few rows force evictions between reads' snapshots and their fills; range deletes invalidate.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, type Rng } from '../../../common/index.js';
import { dataKey, deleteOp, putOp, type WriteOp } from '../../../common/pure.js';
import { RocksEngine, RowCache } from '../../../store/index.js';

/** Keys of the cached CFs and of one that is not (raw), so that reads and writes mix both. */
const USER_KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const KEYS: readonly Buffer[] = [
  ...USER_KEYS.map((k) => dataKey('lock', Buffer.from(k))),
  ...USER_KEYS.map((k) => dataKey('latest', Buffer.from(k))),
  ...USER_KEYS.slice(0, 3).map((k) => dataKey('raw', Buffer.from(k))),
];
const cfOf = (key: Buffer): 'lock' | 'latest' | 'raw' => (key[0] === dataKey('lock', Buffer.from('x'))[0] ? 'lock' : key[0] === dataKey('latest', Buffer.from('x'))[0] ? 'latest' : 'raw');

/** One engine write or range delete: what it sets per key (null: deleted). */
interface ModelWrite {
  readonly index: number;
  readonly effects: Map<number, string | null>;
  isDone: boolean;
}

interface PendingRead {
  readonly keys: number[];
  /** Writes completed when the read was issued. */
  readonly doneAtIssue: Set<number>;
  /** Per key, the newest write a read that completed before this one was issued had seen. */
  readonly floor: number[];
  readonly promise: Promise<void>;
}

async function runOnce(seed: number, rowCacheBytes: number, steps: number): Promise<{ reads: number; hits: number; evictions: number }> {
  const rng: Rng = createRng(seed);
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-row-cache-'));
  const engine = await RocksEngine.open(join(dir, 'db'), { blockCacheBytes: 1024 * 1024, writeBufferBytes: 1024 * 1024, rowCacheBytes });
  const writes: ModelWrite[] = [];
  /** Per key, the newest write whose value any completed read saw (0: the initial absence). */
  const seenByKey = new Array<number>(KEYS.length).fill(0);
  const inFlight = new Set<Promise<void>>();
  let reads = 0;
  const failures: Error[] = [];

  /** Keys touched by writes in flight: a new write keeps off them (the engine's contract). */
  const busyKeys = (): Set<number> => {
    const busy = new Set<number>();
    for (const w of writes) if (!w.isDone) for (const k of w.effects.keys()) busy.add(k);
    return busy;
  };

  const track = (p: Promise<void>): void => {
    const t = p.catch((err: unknown) => {
      failures.push(err instanceof Error ? err : new Error(String(err)));
    }).finally(() => inFlight.delete(t));
    inFlight.add(t);
  };

  const submitWrite = (): void => {
    const busy = busyKeys();
    const free = KEYS.map((_, i) => i).filter((i) => !busy.has(i));
    if (free.length === 0) return;
    const index = writes.length + 1;
    const effects = new Map<number, string | null>();
    const ops: WriteOp[] = [];
    const n = 1 + rng.nextInt(Math.min(4, free.length));
    for (let j = 0; j < n; j++) {
      const k = free.splice(rng.nextInt(free.length), 1)[0]!;
      const key = KEYS[k]!;
      if (rng.nextInt(4) === 0) {
        effects.set(k, null);
        ops.push(deleteOp(cfOf(key), key));
      } else {
        const value = `w${index}k${k}`;
        effects.set(k, value);
        ops.push(putOp(cfOf(key), key, Buffer.from(value)));
      }
    }
    const w: ModelWrite = { index, effects, isDone: false };
    writes.push(w);
    // Some writes invalidate their rows instead of setting them (a follower's applies).
    track(engine.write(ops, { sync: false, cacheRows: rng.nextInt(6) === 0 ? 'invalidate' : 'set' }).then(() => {
      w.isDone = true;
    }));
  };

  /** A range delete over some consecutive keys of one CF that no write in flight touches. */
  const submitRangeDelete = (): void => {
    const busy = busyKeys();
    const from = rng.nextInt(KEYS.length);
    const to = Math.min(KEYS.length, from + 1 + rng.nextInt(3));
    const range: number[] = [];
    for (let i = from; i < to; i++) range.push(i);
    if (range.some((i) => busy.has(i))) return;
    const start = KEYS[from]!;
    const end = Buffer.concat([KEYS[to - 1]!, Buffer.from([0])]);
    // Every key of KEYS in [start, end): the CF prefixes sort, so only these lie in between.
    const inRange = KEYS.map((_, i) => i).filter((i) => Buffer.compare(KEYS[i]!, start) >= 0 && Buffer.compare(KEYS[i]!, end) < 0);
    const w: ModelWrite = { index: writes.length + 1, effects: new Map(inRange.map((i) => [i, null])), isDone: false };
    writes.push(w);
    track(engine.deleteRange(start, end, { limit: 1_000 }).then(() => {
      w.isDone = true;
    }));
  };

  const issueRead = (): void => {
    const n = 1 + rng.nextInt(4);
    const keys: number[] = [];
    for (let j = 0; j < n; j++) keys.push(rng.nextInt(KEYS.length));
    const doneAtIssue = new Set(writes.filter((w) => w.isDone).map((w) => w.index));
    const floor = keys.map((k) => seenByKey[k]!);
    const submittedAtIssue = writes.length;
    const read: PendingRead = {
      keys, doneAtIssue, floor,
      promise: (n === 1 && rng.nextInt(2) === 0 ? engine.get(KEYS[keys[0]!]!).then((v) => [v]) : engine.multiGet(keys.map((k) => KEYS[k]!))).then((values) => {
        reads++;
        check(read, values.map((v) => v?.toString() ?? null), submittedAtIssue);
      }),
    };
    track(read.promise);
  };

  /** Some S with doneAtIssue ⊆ S ⊆ submitted-by-now explains every value, each no older than its floor. */
  const check = (read: PendingRead, got: (string | null)[], submittedAtIssue: number): void => {
    const relevant = writes.filter((w) => read.keys.some((k) => w.effects.has(k)));
    const must = relevant.filter((w) => read.doneAtIssue.has(w.index));
    const may = relevant.filter((w) => !read.doneAtIssue.has(w.index));
    assert.ok(may.length <= 12, `too many uncertain writes (${may.length}) to enumerate`);
    for (let mask = 0; mask < 1 << may.length; mask++) {
      const s = [...must, ...may.filter((_, i) => (mask & (1 << i)) !== 0)].sort((x, y) => x.index - y.index);
      let isMatch = true;
      const versions: number[] = [];
      for (let j = 0; j < read.keys.length && isMatch; j++) {
        const k = read.keys[j]!;
        let value: string | null = null;
        let version = 0;
        for (const w of s) {
          if (w.effects.has(k)) {
            value = w.effects.get(k)!;
            version = w.index;
          }
        }
        versions.push(version);
        if (value !== got[j] || version < read.floor[j]!) isMatch = false;
      }
      if (isMatch) {
        for (let j = 0; j < read.keys.length; j++) seenByKey[read.keys[j]!] = Math.max(seenByKey[read.keys[j]!]!, versions[j]!);
        return;
      }
    }
    const describe = read.keys.map((k, j) => `${KEYS[k]!.toString('latin1')}=${got[j]} (floor w${read.floor[j]})`).join(', ');
    throw new Error(`seed ${seed}: read of [${describe}] (issued after ${submittedAtIssue} writes, ${read.doneAtIssue.size} done) matches no set of writes`);
  };

  try {
    for (let step = 0; step < steps && failures.length === 0; step++) {
      const action = rng.nextInt(10);
      if (action < 3) submitWrite();
      else if (action === 3) submitRangeDelete();
      else if (action < 8) issueRead();
      else if (inFlight.size > 0) await Promise.race(inFlight);
      else await new Promise<void>((resolve) => setImmediate(resolve));
      if (rng.nextInt(3) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await Promise.all(inFlight);
    if (failures.length > 0) throw failures[0]!;
    // Quiet: every key reads as the model's last write says.
    const values = await engine.multiGet([...KEYS]);
    KEYS.forEach((_, k) => {
      let expected: string | null = null;
      for (const w of writes) if (w.effects.has(k)) expected = w.effects.get(k)!;
      assert.equal(values[k]?.toString() ?? null, expected, `seed ${seed}: key ${KEYS[k]!.toString('latin1')} at rest`);
    });
    const stats = engine.rowCacheStats;
    return { reads, hits: stats?.hits ?? 0, evictions: stats?.evictions ?? 0 };
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe('row cache (real RocksDB, writes and reads in flight together)', () => {
  it('every read is one consistent, monotonic state between what had landed and what was submitted', async () => {
    let reads = 0;
    let hits = 0;
    let evictions = 0;
    // Tiny caches (a few rows: evictions between snapshots and fills), a middling one, and one
    // that holds everything.
    const sizes = [300, 600, 1_500, 1 << 20];
    for (let seed = 1; seed <= 24; seed++) {
      const r = await runOnce(seed, sizes[seed % sizes.length]!, 400);
      reads += r.reads;
      hits += r.hits;
      evictions += r.evictions;
    }
    // The runs reached what they are for: reads answered by the cache, and evictions.
    assert.ok(reads > 2_000, `reads ${reads}`);
    // (~11 %: most caches here hold a few rows, and invalidating writes block fills.)
    assert.ok(hits > reads / 20, `hits ${hits} of ${reads}`);
    assert.ok(evictions > 100, `evictions ${evictions}`);
  });

  it('a write that fails drops the rows it set; pinned rows outlive evictions', () => {
    const cache = new RowCache(400);
    const key = (s: string): Buffer => dataKey('lock', Buffer.from(s));
    const pinned = cache.beginWrite([putOp('lock', key('a'), Buffer.from('1'))]);
    // A pinned row answers no read: the write may not have landed.
    assert.equal(cache.lookupAll([key('a')]), undefined);
    // Fill far past the bound: the pinned row stays, and answers once its write landed.
    for (let i = 0; i < 20; i++) cache.fill([key(`f${i}`)], [null], cache.stamp);
    assert.ok(cache.stats.evictions > 0);
    const again = cache.beginWrite([putOp('lock', key('a'), Buffer.from('2'))]);
    cache.endWrite(pinned, true);
    assert.equal(cache.lookupAll([key('a')]), undefined, 'still pinned by the second write');
    cache.endWrite(again, true);
    assert.deepEqual(cache.lookupAll([key('a')])?.map((v) => v?.toString()), ['2']);
    cache.endWrite(cache.beginWrite([putOp('lock', key('a'), Buffer.from('3'))]), false);
    assert.equal(cache.lookupAll([key('a')]), undefined, 'a failed write leaves nothing cached');
    // A fill whose snapshot predates an eviction or a failed write does not land.
    const stamp = cache.stamp;
    cache.endWrite(cache.beginWrite([putOp('lock', key('b'), Buffer.from('2'))]), false);
    cache.fill([key('c')], [Buffer.from('old')], stamp);
    assert.equal(cache.lookupAll([key('c')]), undefined);
    // A range delete in flight: its rows are gone, and no read fills until it lands — a read whose
    // snapshot came before the delete may answer before it does (RocksDB runs both on its pool,
    // an interleaving the property test above cannot force).
    cache.endWrite(cache.beginWrite([putOp('lock', key('d'), Buffer.from('4'))]), true);
    cache.beginRangeDelete(key('c'), key('e'));
    assert.equal(cache.lookupAll([key('d')]), undefined);
    cache.fill([key('d')], [Buffer.from('4')], cache.stamp);
    assert.equal(cache.lookupAll([key('d')]), undefined, 'no fill while a range delete is in flight');
    const before = cache.stamp;
    cache.endRangeDelete();
    cache.fill([key('d')], [Buffer.from('4')], before);
    assert.equal(cache.lookupAll([key('d')]), undefined, 'nor from a snapshot taken before it landed');
    cache.fill([key('d')], [null], cache.stamp);
    assert.deepEqual(cache.lookupAll([key('d')]), [null]);
    // Keys of other CFs are never cached.
    cache.fill([dataKey('raw', Buffer.from('r'))], [Buffer.from('x')], cache.stamp);
    assert.equal(cache.lookupAll([dataKey('raw', Buffer.from('r'))]), undefined);
  });

  it('a user key\'s lock and latest rows share one entry: each is pinned, evicted and dropped on its own', () => {
    for (const cf of ['lock', 'latest'] as const) {
      const other = cf === 'lock' ? 'latest' : 'lock';
      const key = (c: 'lock' | 'latest', s: string): Buffer => dataKey(c, Buffer.from(s));
      // Pinned rows of either CF outlive evictions, beside a slot-mate that goes.
      const small = new RowCache(600);
      small.fill([key(other, 'a')], [Buffer.from('mate')], small.stamp);
      const pinned = small.beginWrite([putOp(cf, key(cf, 'a'), Buffer.from('1'))]);
      for (let i = 0; i < 20; i++) small.fill([key(i % 2 === 0 ? 'lock' : 'latest', `f${i}`)], [null], small.stamp);
      assert.ok(small.stats.evictions > 0, `${cf}: evictions`);
      small.endWrite(pinned, true);
      assert.deepEqual(small.lookupAll([key(cf, 'a')])?.map((v) => v?.toString()), ['1'], `${cf}: the pinned row outlived the evictions`);

      // Dropping one row of a key (an invalidating write) leaves its slot-mate, pinned by a write in
      // flight: a fill while that write is in flight must not replace it with an older value.
      const cache = new RowCache(1 << 20);
      cache.endWrite(cache.beginWrite([putOp(other, key(other, 'k'), Buffer.from('o1'))]), true);
      const inFlight = cache.beginWrite([putOp(cf, key(cf, 'k'), Buffer.from('new'))]);
      assert.equal(cache.stats.rows, 2);
      cache.beginInvalidate([putOp(other, key(other, 'k'), Buffer.from('o2'))]);
      cache.endInvalidate();
      assert.equal(cache.stats.rows, 1, `${cf}: only the ${other} row went`);
      cache.fill([key(cf, 'k')], [Buffer.from('old')], cache.stamp); // a read whose snapshot predates the write in flight
      cache.endWrite(inFlight, true);
      assert.deepEqual(cache.lookupAll([key(cf, 'k')])?.map((v) => v?.toString()), ['new'], `${cf}: the row of the write in flight stayed`);
      // …and the other way round: a failed write drops its row and leaves the slot-mate.
      cache.fill([key(other, 'k')], [Buffer.from('o2')], cache.stamp);
      cache.endWrite(cache.beginWrite([putOp(cf, key(cf, 'k'), Buffer.from('lost'))]), false);
      assert.equal(cache.lookupAll([key(cf, 'k')]), undefined, `${cf}: a failed write leaves nothing cached`);
      assert.deepEqual(cache.lookupAll([key(other, 'k')])?.map((v) => v?.toString()), ['o2'], `${cf}: its slot-mate stays`);
      assert.equal(cache.stats.rows, 1);
    }
  });

  it('an invalidating write drops its rows and blocks fills until it lands, as a range delete does', () => {
    const cache = new RowCache(1 << 20);
    const key = (s: string): Buffer => dataKey('latest', Buffer.from(s));
    cache.endWrite(cache.beginWrite([putOp('latest', key('a'), Buffer.from('1')), putOp('latest', key('b'), Buffer.from('1'))]), true);
    assert.deepEqual(cache.lookupAll([key('a'), key('b')])?.map((v) => v?.toString()), ['1', '1']);
    const beforeWrite = cache.stamp;
    cache.beginInvalidate([putOp('latest', key('a'), Buffer.from('2')), deleteOp('raw', dataKey('raw', Buffer.from('r')))]);
    assert.equal(cache.lookupAll([key('a')]), undefined, 'the row it writes is gone at once');
    assert.deepEqual(cache.lookupAll([key('b')])?.map((v) => v?.toString()), ['1'], 'rows it does not write stay');
    cache.fill([key('a')], [Buffer.from('1')], beforeWrite);
    cache.fill([key('c')], [Buffer.from('3')], cache.stamp);
    assert.equal(cache.lookupAll([key('a')]), undefined, 'no fill from before the write');
    assert.equal(cache.lookupAll([key('c')]), undefined, 'no fill at all while it is in flight');
    const during = cache.stamp;
    cache.endInvalidate();
    cache.fill([key('a')], [Buffer.from('1')], during);
    assert.equal(cache.lookupAll([key('a')]), undefined, 'nor from a read that began before it landed');
    cache.fill([key('a')], [Buffer.from('2')], cache.stamp);
    assert.deepEqual(cache.lookupAll([key('a')])?.map((v) => v?.toString()), ['2']);
  });

  it('copies a value that holds on to a larger buffer into one of its own, and counts it', () => {
    const cache = new RowCache(1 << 20);
    const key = dataKey('lock', Buffer.from('k'));
    // A 300-byte slice of a 64 KiB batch, and a small Buffer.from (Node's shared 8 KiB pool).
    for (const value of [Buffer.alloc(64 * 1024, 7).subarray(1000, 1300), Buffer.from('x'.repeat(300))]) {
      cache.endWrite(cache.beginWrite([putOp('lock', key, value)]), true);
      const cached = cache.lookupAll([key])![0]!;
      assert.ok(cached.equals(value));
      assert.equal(cached.buffer.byteLength, cached.length, 'a buffer of its own, not a slice of a slab');
      assert.ok(cache.stats.bytes >= key.length + value.length + 96 + 160, `bytes ${cache.stats.bytes}`);
    }
    // A value that is its own buffer is kept as it is, and its headers are counted too.
    const alone = Buffer.allocUnsafeSlow(300).fill(1);
    cache.endWrite(cache.beginWrite([putOp('lock', key, alone)]), true);
    assert.equal(cache.lookupAll([key])![0], alone);
    assert.ok(cache.stats.bytes >= key.length + alone.length + 96 + 160, `bytes ${cache.stats.bytes}`);
  });
});
