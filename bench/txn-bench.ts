// Micro-benchmark of the transaction layer on the real RocksDB engine: Percolator prewrite+commit
// pairs per second (one key per transaction, each command through the latch scheduler: snapshot,
// reads, one write batch) and snapshot point reads per second — with and without fsync per write.
// Then the read path of issue F5: txn point get and batch get (10 keys) before (a snapshot per
// read, locks by iterator seek, "newest version ≤ ts" by a write-CF iterator walk) and after (the
// live read view, locks by get/getMany, the latest record by one point lookup), on keys with 1 and
// with 10 versions (lock CF compacted) and on keys read right after 5,000 lock releases.
// Then 2-key transfers (issue F5, prewrite): batchGet of both keys at start_ts, prewrite of both,
// commit of the primary, then of the secondary — with the engine calls each costs (point gets,
// getMany calls, iterators) counted through a wrapper around the read view.
// Usage: npm run bench:txn [-- --seconds 3 --concurrency 64 --keys 100000 --value-bytes 64
//        --read-seconds 2 --read-keys 2000 --only-reads | --only-writes]

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cfRange, createRng, type Rng, TS_MAX, type Ts } from '../common/index.js';
import { RocksEngine } from '../store/index.js';
import {
  batchGetCommand, commitCommand, getCommand, type KvEntry, lockBlocksRead, type Modification, MvccReader, prewriteCommand, type Snapshot,
  type SnapshotScanOptions, type TxnEngine, TxnScheduler, type WriteOptions,
} from '../txn/index.js';

const USAGE = 'usage: npm run bench:txn [-- --seconds 3 --concurrency 64 --keys 100000 --value-bytes 64 --read-seconds 2 --read-keys 2000 --only-reads | --only-writes]';

function parseTxnBenchArgs(): ReturnType<typeof parseTxnBenchArgsUnchecked> {
  try {
    return parseTxnBenchArgsUnchecked();
  } catch (err) {
    process.stderr.write(`bench:txn: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}

function parseTxnBenchArgsUnchecked() {
  return parseArgs({
    options: {
      seconds: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '64' },
      keys: { type: 'string', default: '100000' },
      'value-bytes': { type: 'string', default: '64' },
      'read-seconds': { type: 'string', default: '2' },
      'read-keys': { type: 'string', default: '2000' },
      'only-reads': { type: 'boolean', default: false },
      'only-writes': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
}

const { values: args } = parseTxnBenchArgs();
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const READ_SECONDS = Number(args['read-seconds']);
const READ_KEYS = Number(args['read-keys']);
const RELEASED_LOCKS = 5000;
const BATCH_KEYS = 10;
const SECONDS = Number(args.seconds);
const CONCURRENCY = Number(args.concurrency);
const KEY_COUNT = Number(args.keys);
const VALUE_BYTES = Number(args['value-bytes']);

let nextTs = 1n;
const tso = (): bigint => nextTs++;
const keyOf = (i: number): Buffer => Buffer.from(`bench-key-${String(i).padStart(8, '0')}`);

/** Runs `op` from `CONCURRENCY` workers until `seconds` pass; returns operations per second. */
async function measure(seconds: number, op: (worker: number, n: number) => Promise<void>): Promise<{ perSecond: number; count: number; cpuUsPerOp: number }> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, worker) => {
    for (let n = 0; performance.now() < deadline; n++) {
      await op(worker, n);
      count++;
    }
  }));
  const elapsed = (performance.now() - started) / 1000;
  // Process CPU (JS thread and RocksDB's worker threads) per operation: steadier than ops/s on a
  // shared machine.
  const cpu = process.cpuUsage(cpuStarted);
  return { perSecond: count / elapsed, count, cpuUsPerOp: (cpu.user + cpu.system) / Math.max(count, 1) };
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
    console.log(`  prewrite+commit pairs/s: ${pairs.perSecond.toFixed(0)} (${pairs.count} in ${SECONDS} s, ${engine.stats.writeCount} write batches, ${engine.stats.syncWriteCount} synced; ${pairs.cpuUsPerOp.toFixed(0)} µs CPU per pair)`);
    console.log(`  point reads/s:           ${reads.perSecond.toFixed(0)} (${reads.count} in ${SECONDS} s; snapshot + lock check + version seek + value)`);
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- the read path: before (snapshot + iterators) vs after (read view + latest record) ----------

const NO_BYPASS = new Set<Ts>();

/** The pre-F5 point get: lock by a snapshot seek, newest version ≤ ts by a write-CF walk. */
async function getBefore(snapshot: Snapshot, key: Buffer, readTs: Ts): Promise<Buffer | null> {
  const reader = new MvccReader(snapshot);
  const lock = await reader.loadLock(key);
  if (lock !== null && lockBlocksRead(lock, readTs, NO_BYPASS)) throw new Error('bench: locked');
  const found = await reader.scanWrite(key, readTs);
  return found === null || found.write.kind === 'delete' ? null : reader.loadValue(key, found.write);
}

/** The pre-F5 batch get: locks by seeks (one multiGet on the snapshot), then a walk per key. */
async function batchGetBefore(snapshot: Snapshot, keys: readonly Buffer[], readTs: Ts): Promise<number> {
  const reader = new MvccReader(snapshot);
  const locks = await reader.loadLocks(keys);
  if (locks.some((l) => l !== null && lockBlocksRead(l, readTs, NO_BYPASS))) throw new Error('bench: locked');
  const values = await Promise.all(keys.map(async (key) => {
    const found = await reader.scanWrite(key, readTs);
    return found === null || found.write.kind === 'delete' ? null : reader.loadValue(key, found.write);
  }));
  return values.filter((v) => v !== null).length;
}

async function loadVersions(scheduler: TxnScheduler, keys: readonly Buffer[], versions: number, value: Buffer): Promise<void> {
  const workers = 32;
  let cursor = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let i = cursor++; i < keys.length; i = cursor++) {
      const key = keys[i]!;
      for (let v = 0; v < versions; v++) {
        const startTs = tso();
        const pre = await scheduler.run([key], (s) => prewriteCommand(s, {
          mutations: [{ kind: 'put', key, value }], primary: key, startTs, lockTtlMs: 3000, txnSize: 1, minCommitTs: 0n,
        }));
        if (pre.kind !== 'prewritten') throw new Error('bench load: prewrite failed');
        const com = await scheduler.run([key], (s) => commitCommand(s, { keys: [key], startTs, commitTs: tso() }));
        if (com.kind !== 'committed') throw new Error('bench load: commit failed');
      }
    }
  }));
}

function pickKeys(rng: Rng, keys: readonly Buffer[], n: number): Buffer[] {
  const out = new Set<Buffer>();
  while (out.size < n) out.add(keys[rng.nextInt(keys.length)]!);
  return [...out];
}

async function measureReads(engine: RocksEngine, label: string, keys: readonly Buffer[]): Promise<void> {
  const rng = createRng(7);
  const row: string[] = [];
  const point = async (path: 'before' | 'after'): Promise<number> => (await measure(READ_SECONDS, async () => {
    const key = keys[rng.nextInt(keys.length)]!;
    if (path === 'after') {
      const r = await getCommand(engine.readView(), key, TS_MAX);
      if (r.kind !== 'value' || r.value === null) throw new Error('bench read missed');
      return;
    }
    const snapshot = await engine.snapshot();
    try {
      if ((await getBefore(snapshot, key, TS_MAX)) === null) throw new Error('bench read missed');
    } finally {
      await snapshot.release();
    }
  })).perSecond;
  const batch = async (path: 'before' | 'after'): Promise<number> => (await measure(READ_SECONDS, async () => {
    const batchKeys = pickKeys(rng, keys, BATCH_KEYS);
    if (path === 'after') {
      const r = await batchGetCommand(engine.readView(), batchKeys, TS_MAX);
      if (r.kind !== 'pairs' || r.pairs.length !== BATCH_KEYS) throw new Error('bench batch read missed');
      return;
    }
    const snapshot = await engine.snapshot();
    try {
      if ((await batchGetBefore(snapshot, batchKeys, TS_MAX)) !== BATCH_KEYS) throw new Error('bench batch read missed');
    } finally {
      await snapshot.release();
    }
  })).perSecond;
  const pb = await point('before');
  const pa = await point('after');
  const bb = await batch('before');
  const ba = await batch('after');
  row.push(`point get/s ${pb.toFixed(0)} → ${pa.toFixed(0)} (×${(pa / pb).toFixed(1)})`);
  row.push(`batch get (${BATCH_KEYS} keys)/s ${bb.toFixed(0)} → ${ba.toFixed(0)} (×${(ba / bb).toFixed(1)}; keys/s ${(bb * BATCH_KEYS).toFixed(0)} → ${(ba * BATCH_KEYS).toFixed(0)})`);
  console.log(`  ${label}: ${row.join('; ')}`);
}

async function runReadPath(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-txn-bench-'));
  const engine = await RocksEngine.open(join(dir, 'db'));
  try {
    const scheduler = new TxnScheduler(engine, { latchSlots: 4096, isSyncWrite: false });
    const value = Buffer.alloc(VALUE_BYTES, 0x61);
    const named = (prefix: string, n: number): Buffer[] => Array.from({ length: n }, (_, i) => Buffer.from(`${prefix}-${String(i).padStart(8, '0')}`));
    const oneVersion = named('v1', READ_KEYS);
    const tenVersions = named('v10', READ_KEYS);
    await loadVersions(scheduler, oneVersion, 1, value);
    await loadVersions(scheduler, tenVersions, 10, value);
    // Drop the lock tombstones these loads left (what a store's lock-range compaction does).
    const all = { start: cfRange('local').start, end: Buffer.from([0xff]) };
    await engine.compactRange(all.start, all.end);
    console.log(`txn read path, rocksdb (before: snapshot + iterator seeks/walks → after: readView + get/getMany + latest record; concurrency ${CONCURRENCY}, ${VALUE_BYTES} B values, reads at TS_MAX):`);
    await measureReads(engine, `${READ_KEYS} keys × 1 version  `, oneVersion);
    await measureReads(engine, `${READ_KEYS} keys × 10 versions`, tenVersions);
    // Keys read right after their own 5,000 lock releases (tombstones in the lock CF, not compacted).
    const released = named('rel', RELEASED_LOCKS);
    await loadVersions(scheduler, released, 1, value);
    await measureReads(engine, `after ${RELEASED_LOCKS} lock releases`, released);
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- 2-key transfers, with engine calls counted ---------------------------------------------------

/** Engine calls by kind: point gets, getMany calls (and the keys they carry), iterators (scans). */
class CallCounts {
  gets = 0;
  getManys = 0;
  getManyKeys = 0;
  scans = 0;
}

/** The read view with every call counted (write commands run on it, as in the store). */
class CountingView implements Snapshot {
  constructor(private readonly inner: Snapshot, private readonly counts: CallCounts) {}
  get(key: Buffer): Promise<Buffer | null> {
    this.counts.gets++;
    return this.inner.get(key);
  }
  multiGet(keys: readonly Buffer[]): Promise<(Buffer | null)[]> {
    this.counts.getManys++;
    this.counts.getManyKeys += keys.length;
    return this.inner.multiGet(keys);
  }
  scan(start: Buffer, end: Buffer, options: SnapshotScanOptions): Promise<KvEntry[]> {
    this.counts.scans++;
    return this.inner.scan(start, end, options);
  }
  release(): Promise<void> {
    return this.inner.release();
  }
}

class CountingEngine implements TxnEngine {
  constructor(private readonly inner: RocksEngine, readonly counts: CallCounts) {}
  snapshot(): Promise<Snapshot> {
    return this.inner.snapshot();
  }
  readView(): Snapshot {
    return new CountingView(this.inner.readView(), this.counts);
  }
  write(modifications: readonly Modification[], options: WriteOptions): Promise<void> {
    return this.inner.write(modifications, options);
  }
}

/**
 * Transfers between two random accounts of KEY_COUNT (pre-loaded with one version each): batchGet
 * at start_ts, prewrite both, commit the primary, commit the secondary — the client's sequence.
 * Write conflicts between concurrent transfers are counted and rolled back by nobody (a conflict
 * writes nothing). Prints transfers/s and engine calls per transfer by phase.
 */
async function runTransfers(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-txn-bench-'));
  const engine = await RocksEngine.open(join(dir, 'db'));
  try {
    const value = Buffer.alloc(VALUE_BYTES, 0x61);
    const accounts = Array.from({ length: Math.min(KEY_COUNT, 20_000) }, (_, i) => keyOf(i));
    await loadVersions(new TxnScheduler(engine, { latchSlots: 4096, isSyncWrite: false }), accounts, 1, value);
    await engine.compactRange(cfRange('local').start, Buffer.from([0xff]));
    const counts = { read: new CallCounts(), prewrite: new CallCounts(), commit: new CallCounts() };
    const engines = { read: new CountingEngine(engine, counts.read), prewrite: new CountingEngine(engine, counts.prewrite), commit: new CountingEngine(engine, counts.commit) };
    const scheduler = { prewrite: new TxnScheduler(engines.prewrite, { latchSlots: 4096, isSyncWrite: false }), commit: new TxnScheduler(engines.commit, { latchSlots: 4096, isSyncWrite: false }) };
    const rng = createRng(11);
    let conflicts = 0;
    let done = 0;
    const result = await measure(SECONDS, async () => {
      const [from, to] = pickKeys(rng, accounts, 2) as [Buffer, Buffer];
      const startTs = tso();
      const read = await batchGetCommand(engines.read.readView(), [from, to], startTs);
      if (read.kind !== 'pairs') return; // locked by a concurrent transfer: the client would back off
      const mutations = [{ kind: 'put' as const, key: from, value }, { kind: 'put' as const, key: to, value }];
      const pre = await scheduler.prewrite.run([from, to], (s) => prewriteCommand(s, { mutations, primary: from, startTs, lockTtlMs: 3000, txnSize: 2, minCommitTs: 0n }));
      if (pre.kind !== 'prewritten') {
        conflicts++;
        return;
      }
      const commitTs = tso();
      for (const key of [from, to]) {
        const com = await scheduler.commit.run([key], (s) => commitCommand(s, { keys: [key], startTs, commitTs }));
        if (com.kind !== 'committed') throw new Error('bench transfer: commit failed');
      }
      done++;
    });
    const per = (c: CallCounts, n: number): string => `${(c.gets / n).toFixed(2)} get, ${(c.getManys / n).toFixed(2)} getMany (${(c.getManyKeys / n).toFixed(1)} keys), ${(c.scans / n).toFixed(2)} iterators`;
    console.log(`txn 2-key transfers, rocksdb (no sync, concurrency ${CONCURRENCY}, ${accounts.length} accounts, ${VALUE_BYTES} B values):`);
    console.log(`  transfers/s: ${(done / SECONDS).toFixed(0)} (${done} committed, ${conflicts} prewrite conflicts, ${result.count} attempts in ${SECONDS} s; ${result.cpuUsPerOp.toFixed(0)} µs CPU per attempt)`);
    console.log(`  per attempt — batchGet: ${per(counts.read, result.count)}`);
    console.log(`  per prewrite — ${per(counts.prewrite, done + conflicts)}`);
    console.log(`  per transfer — commits (2): ${per(counts.commit, done)}`);
  } finally {
    await engine.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (args['only-reads'] !== true) {
  await runMode(false);
  await runMode(true);
  await runTransfers();
}
if (args['only-writes'] !== true) await runReadPath();
