// SimpleRocks (common/rocksdb.ts; PD's metadata DB) on a real RocksDB in a temp dir, judged
// against a sorted map: random batches of puts and deletes, range deletes with and without a
// limit, scans with limits at and around the number of keys, point gets of present and absent
// keys, and a close and reopen between rounds (a synced write survives it). A bad write (an empty
// batch is fine; a non-buffer key is not) is an EngineError, and the DB still works after it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng, deleteOp, FlotillaError, putOp, type Rng, SimpleRocks, type WriteOp } from '../../common/index.js';

const key = (n: number): Buffer => Buffer.from(`k${String(n).padStart(3, '0')}`);

function modelScan(model: Map<string, Buffer>, gte: Buffer, lt: Buffer, limit: number): [string, string][] {
  return [...model.entries()]
    .filter(([k]) => Buffer.compare(Buffer.from(k, 'latin1'), gte) >= 0 && Buffer.compare(Buffer.from(k, 'latin1'), lt) < 0)
    .sort(([a], [b]) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')))
    .slice(0, limit)
    .map(([k, v]) => [k, v.toString('hex')]);
}

describe('SimpleRocks against a model', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-simple-rocks-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('batches, range deletes, scans with limits and gets match a sorted map, across reopens', async () => {
    const rng: Rng = createRng(41);
    const model = new Map<string, Buffer>();
    const location = join(dir, 'db');
    let db = await SimpleRocks.open(location);
    try {
      for (let round = 0; round < 8; round++) {
        for (let step = 0; step < 40; step++) {
          const roll = rng.nextInt(10);
          if (roll < 6) {
            const ops: WriteOp[] = [];
            for (let i = 0; i < rng.nextInt(6); i++) {
              const k = key(rng.nextInt(60));
              if (rng.chance(0.7)) {
                const v = Buffer.alloc(rng.nextInt(20), rng.nextInt(256));
                ops.push(putOp('local', k, v));
              } else ops.push(deleteOp('local', k));
            }
            await db.write(ops, { sync: rng.chance(0.5) });
            for (const op of ops) {
              if (op.kind === 'put') model.set(op.key.toString('latin1'), op.value);
              else model.delete(op.key.toString('latin1'));
            }
          } else if (roll < 8) {
            const a = rng.nextInt(60);
            const b = a + rng.nextInt(20);
            const limit = rng.chance(0.5) ? -1 : rng.nextInt(5);
            await db.deleteRange(key(a), key(b), limit);
            const doomed = modelScan(model, key(a), key(b), limit < 0 ? Number.MAX_SAFE_INTEGER : limit);
            for (const [k] of doomed) model.delete(k);
          } else {
            const a = rng.nextInt(60);
            const b = a + rng.nextInt(30);
            const present = modelScan(model, key(a), key(b), Number.MAX_SAFE_INTEGER).length;
            const limit = [undefined, 0, 1, present - 1, present, present + 1, 2 ** 31][rng.nextInt(7)];
            const got = (await db.scan(key(a), key(b), limit === undefined || limit < 0 ? undefined : limit)).map(([k, v]): [string, string] => [k.toString('latin1'), v.toString('hex')]);
            assert.deepEqual(got, modelScan(model, key(a), key(b), limit === undefined || limit < 0 ? Number.MAX_SAFE_INTEGER : limit), `round ${round} step ${step}: scan [${a}, ${b}) limit ${String(limit)}`);
          }
          const probe = rng.nextInt(60);
          const value = await db.get(key(probe));
          assert.equal(value?.toString('hex'), model.get(key(probe).toString('latin1'))?.toString('hex'), `get ${probe}`);
        }
        // Every write above has returned: a close and reopen keeps them all.
        await db.close();
        db = await SimpleRocks.open(location);
        assert.deepEqual((await db.scan(Buffer.alloc(0), Buffer.from([0xff]))).map(([k, v]) => [k.toString('latin1'), v.toString('hex')]), modelScan(model, Buffer.alloc(0), Buffer.from([0xff]), Number.MAX_SAFE_INTEGER), `after reopen ${round}`);
      }
      await db.write([], { sync: true });
      await assert.rejects(db.write([{ kind: 'put', cf: 'local', key: null as unknown as Buffer, value: Buffer.alloc(1) }, putOp('local', key(999), Buffer.from('x'))], { sync: true }), (e: unknown) => e instanceof FlotillaError && e.code === 'EngineError');
      assert.equal(await db.get(key(999)), undefined, 'a refused batch wrote nothing');
      await db.write([putOp('local', key(998), Buffer.from('y'))], { sync: true });
      assert.equal(String(await db.get(key(998))), 'y');
    } finally {
      await db.close();
    }
    await db.close(); // twice: a no-op
    // Closed: every call is an EngineError (the binding would crash the process on some), never
    // an absent key or an empty scan.
    const isEngineError = (e: unknown): boolean => e instanceof FlotillaError && e.code === 'EngineError' && /is closed/.test(e.message);
    await assert.rejects(db.get(key(998)), isEngineError);
    await assert.rejects(db.write([putOp('local', key(997), Buffer.from('z'))], { sync: true }), isEngineError);
    await assert.rejects(db.scan(key(0), key(999)), isEngineError);
    await assert.rejects(db.deleteRange(key(0), key(999)), isEngineError);
  });

  it('close with scans in flight: every scan settles (whole, or EngineError) and close resolves', async () => {
    // Regression: db.close() ends the iterators still open, and the scan's own end() on one of
    // those never called back, so a scan running at close never settled. The binding reads up to
    // 1000 entries per call: 3000 keys take several, so close lands in the middle of a scan.
    const location = join(dir, 'close-while-scanning');
    let db = await SimpleRocks.open(location);
    const ops: WriteOp[] = [];
    for (let i = 0; i < 3000; i++) ops.push(putOp('local', Buffer.from(`s${String(i).padStart(5, '0')}`), Buffer.alloc(100, i)));
    await db.write(ops, { sync: false });
    for (let turns = 0; turns < 6; turns++) {
      if (turns > 0) db = await SimpleRocks.open(location);
      const outcomes: string[] = [];
      const scans = [db.scan(Buffer.from('s'), Buffer.from('t')), db.scan(Buffer.from('s'), Buffer.from('t'), 2000)].map((p) => p.then(
        (kvs) => outcomes.push(`${kvs.length} entries`),
        (e: unknown) => outcomes.push(e instanceof FlotillaError && e.code === 'EngineError' ? 'EngineError' : `unexpected ${String(e)}`),
      ));
      for (let t = 0; t < turns; t++) await new Promise<void>((resolve) => setImmediate(resolve)); // close at a different point of the scans
      const closing = db.close();
      // A second close while the first waits for the scans resolves only once the DB is closed
      // too: reopening the same path right after it must find the lock released.
      const again = db.close();
      // Once close() has begun (it waits for the scans), every call is refused, as after it.
      const isClosingError = (e: unknown): boolean => e instanceof FlotillaError && e.code === 'EngineError' && /is closing/.test(e.message);
      await assert.rejects(db.scan(Buffer.from('s'), Buffer.from('t')), isClosingError);
      await assert.rejects(db.get(Buffer.from('s00001')), isClosingError);
      await assert.rejects(db.write([putOp('local', Buffer.from('s99999'), Buffer.from('late'))], { sync: false }), isClosingError);
      await assert.rejects(db.deleteRange(Buffer.from('s'), Buffer.from('t')), isClosingError);
      await again;
      await (await SimpleRocks.open(location)).close();
      await closing;
      await Promise.all(scans); // before the fix: never settled (the test ended with a pending promise)
      assert.equal(outcomes.length, 2);
      for (const o of outcomes) assert.ok(['3000 entries', '2000 entries', 'EngineError'].includes(o), `turn ${turns}: ${o}`);
      await db.close(); // twice: a no-op
    }
  });
});
