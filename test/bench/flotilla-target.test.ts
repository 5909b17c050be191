// The Flotilla BenchTarget (bench/harness/flotilla-target.ts) on a real cluster — 1 PD + 3 stores
// as processes through deploy's LocalCluster — for the operations of the second increment:
// transactional keys loaded and read at a snapshot, snapshot scans, TSO, and read-modify-write
// driven by the worker loop with conflicts retried: the counters the committed operations left
// must add up to exactly the operations that reported success (no lost update, none counted twice,
// and an operation that gave up after its last conflict wrote nothing).

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { balanceOf, FlotillaTarget } from '../../bench/harness/flotilla-target.js';
import { keyOf } from '../../bench/harness/key-chooser.js';
import { ACCOUNT_KEY_PREFIX, TXN_KEY_PREFIX, type WorkerStart } from '../../bench/harness/protocol.js';
import { Recorder, runLoop } from '../../bench/harness/worker.js';
import { workloadNamed } from '../../bench/harness/workloads.js';
import { LocalCluster } from '../../deploy/index.js';

/** Cluster start (≈5–20 s on a loaded 2-core machine), the cases, the stop. */
const SUITE_TIMEOUT_MS = 180_000;

describe('FlotillaTarget on a real cluster', { timeout: SUITE_TIMEOUT_MS }, () => {
  let dir: string;
  let cluster: LocalCluster;
  let target: FlotillaTarget;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-target-'));
    try {
      cluster = await LocalCluster.start({
        dataDir: dir, pds: 1, stores: 3, clean: false, portMode: 'free', pdClientPort: 0, storePortBase: 0, statusPortBase: 0, logLevel: 'warn',
      });
    } catch (err) {
      // The dir (and its logs) is removed after: say what the servers said first.
      const logs = (await readdir(dir)).filter((f) => f.endsWith('.log'));
      const tails = await Promise.all(logs.map(async (f) => `${f}: ${(await readFile(join(dir, f), 'utf8')).slice(-1_500)}`));
      throw new Error(`the cluster did not start: ${err instanceof Error ? err.message : String(err)}\n${tails.join('\n')}`, { cause: err });
    }
    target = await FlotillaTarget.open(cluster.info.pdMembers.map((p) => p.clientAddress));
  });

  after(async () => {
    await target?.close();
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('transactional keys loaded with loadTxnKeys are read by txnGet and snapshotScan, not by a raw get', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => keyOf(TXN_KEY_PREFIX, i));
    await target.loadTxnKeys(keys, Buffer.from('v'));
    assert.deepEqual(await target.txnGet(keys[3]!), Buffer.from('v'));
    assert.equal(await target.txnGet(keyOf(TXN_KEY_PREFIX, 999)), null);
    assert.equal(await target.get(keys[3]!), null, 'raw and transactional keys are apart');
    assert.equal(await target.snapshotScan(keys[0]!, 100), 30, 'a limit above the keys there');
    assert.equal(await target.snapshotScan(keys[25]!, 100), 5);
    assert.equal(await target.snapshotScan(keys[0]!, 7), 7);
  });

  it('transfer moves the amount between accounts of the run\'s value size, refuses an overdraft, and the sum holds', async () => {
    const accounts = [keyOf(ACCOUNT_KEY_PREFIX, 0), keyOf(ACCOUNT_KEY_PREFIX, 1)];
    await target.loadAccounts(accounts, 100, 64);
    assert.equal((await target.txnGet(accounts[0]!))?.length, 64, 'accounts are loaded at the run\'s --value-size');
    assert.equal(await target.transfer(accounts[0]!, accounts[1]!, 30, 64), 'committed');
    assert.equal(await target.transfer(accounts[0]!, accounts[1]!, 71, 64), 'insufficient');
    const values = await Promise.all(accounts.map((k) => target.txnGet(k)));
    assert.deepEqual(values.map((v) => v?.length), [64, 64], 'a transfer writes values of the run\'s --value-size');
    assert.deepEqual(values.map((v, i) => balanceOf(v, accounts[i]!)), [70, 130]);
    assert.equal(await target.sumBalances(accounts), 200);
  });

  it('timestamp asks PD for a timestamp', async () => {
    await target.timestamp();
    await target.timestamp();
  });

  it('txn-rmw from 16 loops on 2 keys: every success incremented a counter once, conflicts were retried', async () => {
    const keys = [keyOf(TXN_KEY_PREFIX, 100), keyOf(TXN_KEY_PREFIX, 101)];
    await target.loadTxnKeys(keys, Buffer.alloc(8, 0)); // counters at 0
    const start: WorkerStart = {
      kind: 'start', index: 0, target: { kind: 'flotilla', pdEndpoints: [] }, loops: 16, mix: workloadNamed('txn-rmw')!.mix,
      keys: 2, accounts: 2, distribution: 'uniform', valueSize: 8, seed: 3, loopIntervalMs: null,
    };
    const recorder = new Recorder();
    // The loops write t…100 and t…101: keyOf(TXN_KEY_PREFIX, 0 | 1) with keys = 2 → remap by a base of 100.
    const remapped: FlotillaTarget = Object.create(target) as FlotillaTarget;
    remapped.readModifyWrite = (key, modify) => target.readModifyWrite(keyOf(TXN_KEY_PREFIX, 100 + Number(key.toString().slice(TXN_KEY_PREFIX.length))), modify);
    // Each loop runs until it has done 5 operations (a window closed by count, not by time).
    let started = 0;
    const ctx = {
      target: remapped, start, value: Buffer.alloc(8, 0), recorder, measureFromMs: 0,
      get endAtMs() {
        return started++ < 16 * 5 ? Number.POSITIVE_INFINITY : 0;
      },
    };
    await Promise.all(Array.from({ length: 16 }, (_, i) => runLoop(ctx, i)));
    const interval = recorder.flush(0, 1);
    assert.ok(interval.kind === 'interval');
    const successes = interval.ops['txnRmw'] ?? 0;
    const failures = Object.values(interval.errors).reduce((a, b) => a + b, 0);
    assert.equal(successes + failures, 16 * 5, `errors ${JSON.stringify(interval.errors)}`);
    // 16 loops on 2 keys conflict heavily: some give up after 11 attempts ('conflict'); any other error is a failure.
    assert.deepEqual(Object.keys(interval.errors).filter((e) => e !== 'conflict'), [], JSON.stringify(interval.errors));
    assert.ok(successes > 0 && (interval.retries['txnRmw'] ?? 0) > 0, `a run that proves nothing: successes ${successes}, retries ${JSON.stringify(interval.retries)}`);
    const counters = await Promise.all(keys.map(async (k) => (await target.txnGet(k))!.readUInt32BE(0)));
    assert.equal(counters[0]! + counters[1]!, successes, `counters ${counters.join(' + ')} vs ${successes} successes (retries ${JSON.stringify(interval.retries)})`);
  });
});
