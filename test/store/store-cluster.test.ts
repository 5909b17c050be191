// The store integration harness itself (test/support/store-cluster.ts), as far as it runs without
// stores: a PD-only cluster starts and stops cleanly; a store that exits at start makes start()
// fail fast, naming the store, with every process killed and the temp dir removed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { storeArgs } from '../../deploy/index.js';
import { StoreClusterStartError, StoreTestCluster } from '../support/store-cluster.js';
import { httpJson } from '../support/pd-cluster.js';
import { processAlive } from '../support/cli.js';


async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

describe('StoreTestCluster', () => {
  it('starts PD with no stores, serves PD on pdEndpoint, and stop() kills everything and removes the dir', async () => {
    const cluster = await StoreTestCluster.start({ stores: 0, pdCount: 1 });
    const pids = [...cluster.pd.processes.values()].map((p) => p.pid);
    try {
      assert.match(cluster.pdEndpoint, /^127\.0\.0\.1:\d+$/);
      assert.equal(cluster.stores.length, 0);
      const health = await cluster.pdApi('health');
      assert.equal(health.status, 200);
      assert.ok(await exists(cluster.dir));
    } finally {
      await cluster.stop();
    }
    assert.equal(await exists(cluster.dir), false);
    for (const pid of pids) assert.equal(processAlive(pid), false, `pid ${pid} killed`);
    await cluster.stop(); // idempotent
  });

  it('fails start() fast when a store exits, and cleans up every process and the dir', async () => {
    const startedMs = Date.now();
    const err = await StoreTestCluster.start({ stores: 1, pdCount: 1, extraStoreArgs: ['--no-such-flag-for-this-test'] }).then(
      () => assert.fail('a store with an unknown flag must not start'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StoreClusterStartError, String(err));
    assert.match(err.message, /store1 exited with code/);
    assert.ok(Date.now() - startedMs < 25_000, 'failed on the exit, not the readiness deadline');
    assert.ok(err.pids.length >= 1);
    for (const pid of err.pids) assert.equal(processAlive(pid), false, `pid ${pid} killed`);
    assert.equal(await exists(err.dir), false, `${err.dir} removed`);
  });

  it('builds the store command line from store/config.ts flags', () => {
    const args = storeArgs({ name: 's1', pd: ['127.0.0.1:1', '127.0.0.1:2'], ports: { port: 10, statusPort: 11 }, dataDir: '/tmp/x/s1', labels: { zone: 'z1', host: 'h1' }, raftTickMs: 20, extraArgs: ['--log-level', 'debug'] });
    const flag = (name: string): string | undefined => args[args.indexOf(name) + 1];
    assert.equal(flag('--pd'), '127.0.0.1:1,127.0.0.1:2');
    assert.equal(flag('--addr'), '127.0.0.1:10');
    assert.equal(flag('--advertise-addr'), '127.0.0.1:10');
    assert.equal(flag('--status-addr'), '127.0.0.1:11');
    assert.equal(flag('--data-dir'), '/tmp/x/s1');
    assert.equal(flag('--labels'), 'zone=z1,host=h1');
    assert.equal(flag('--raft-tick-ms'), '20');
    assert.deepEqual(args.slice(-2), ['--log-level', 'debug'], 'extra args last, so they win');
  });

  it("passes the RocksDB settings to the store's engine (--write-buffer-bytes, in RocksDB's own OPTIONS file)", async () => {
    const cluster = await StoreTestCluster.start({ stores: 1, pdCount: 1, extraStoreArgs: ['--write-buffer-bytes', '5MiB'] });
    try {
      const db = join(cluster.stores[0]!.dataDir, 'db');
      const files = (await readdir(db)).filter((f) => f.startsWith('OPTIONS-')).sort();
      assert.ok(files.length > 0, `no OPTIONS file in ${db}`);
      const text = await readFile(join(db, files[files.length - 1]!), 'utf8');
      assert.match(text, /^\s*write_buffer_size=5242880$/m);
    } finally {
      await cluster.stop();
    }
  });

  it('reads PD regions through the leader (no region before bootstrap)', async () => {
    const cluster = await StoreTestCluster.start({ stores: 0, pdCount: 1 });
    try {
      const r = await httpJson(cluster.pd.httpUrl('pd1', 'regions'));
      assert.equal(r.status, 200);
      assert.equal((r.body as { count: number }).count, 0);
    } finally {
      await cluster.stop();
    }
  });
});
