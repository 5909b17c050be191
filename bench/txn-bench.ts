// Micro-benchmark of the transaction layer on the real RocksDB engine: Percolator prewrite+commit
// pairs per second (one key per transaction, each command through the latch scheduler: snapshot,
// reads, one write batch) and snapshot point reads per second — with and without fsync per write.
// Usage: npm run bench:txn [-- --seconds 3 --concurrency 64 --keys 100000 --value-bytes 64]

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRng, TS_MAX } from '../common/index.js';
import { RocksEngine } from '../store/index.js';
import { commitCommand, getCommand, prewriteCommand, TxnScheduler } from '../txn/index.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '64' },
    keys: { type: 'string', default: '100000' },
    'value-bytes': { type: 'string', default: '64' },
  },
});
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const KEY_COUNT = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);

let nextTs = 1n;
const tso = (): bigint => nextTs++;
const keyOf = (i: number): Buffer => Buffer.from(`bench-key-${String(i).padStart(8, '0')}`);

/** Runs `op` from `CONCURRENCY` workers until `seconds` pass; returns operations per second. */
async function measure(seconds: number, op: (worker: number, n: number) => Promise<void>): Promise<{ perSecond: number; count: number }> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, worker) => {
    for (let n = 0; performance.now() < deadline; n++) {
      await op(worker, n);
      count++;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: count / elapsed, count };
}

async function runMode(isSyncWrite: boolean): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-txn-bench-'));
  const engine = await RocksEngine.open(join(dir, 'db'));
  try {
    const scheduler = new TxnScheduler(engine, { latchSlots: 4096, isSyncWrite });
    const value = Buffer.alloc(VALUE_BYTES, 0x61);
    let keyCursor = 0;
    const pairs = await measure(SECONDS, async () => {
      const key = keyOf(keyCursor++ % KEY_COUNT);
      const startTs = tso();
      const pre = await scheduler.run([key], (s) => prewriteCommand(s, {
        mutations: [{ kind: 'put', key, value }], primary: key, startTs, lockTtlMs: 3000, txnSize: 1, minCommitTs: 0n,
      }));
      if (pre.kind !== 'prewritten') throw new Error(`bench prewrite failed: ${JSON.stringify(pre.kind)}`);
      const commitTs = tso();
      const com = await scheduler.run([key], (s) => commitCommand(s, { keys: [key], startTs, commitTs }));
      if (com.kind !== 'committed') throw new Error('bench commit failed');
    });
    const written = Math.min(keyCursor, KEY_COUNT);
    const rng = createRng(42);
    const reads = await measure(SECONDS, async () => {
      const snapshot = await engine.snapshot();
      try {
        const r = await getCommand(snapshot, keyOf(rng.nextInt(written)), TS_MAX);
        if (r.kind !== 'value' || r.value === null) throw new Error('bench read missed');
      } finally {
        await snapshot.release();
      }
    });
    const mode = isSyncWrite ? 'sync' : 'no sync';
    console.log(`txn-bench rocksdb (${mode}, concurrency ${CONCURRENCY}, ${VALUE_BYTES} B values, ${written} keys):`);
    console.log(`  prewrite+commit pairs/s: ${pairs.perSecond.toFixed(0)} (${pairs.count} in ${SECONDS} s, ${engine.stats.writeCount} write batches, ${engine.stats.syncWriteCount} synced)`);
    console.log(`  point reads/s:           ${reads.perSecond.toFixed(0)} (${reads.count} in ${SECONDS} s; snapshot + lock check + version seek + value)`);
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await runMode(false);
await runMode(true);
