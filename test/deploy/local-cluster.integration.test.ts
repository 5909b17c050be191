// LocalCluster.start with real processes (run under /tmp/flotilla-cluster.lock): a cluster that
// comes up writes cluster.json with the fixed port layout, and stop() ends the stores before PD
// and leaves no process and no port behind; a start that fails after PD is up (a store that
// cannot open its data dir) names the store and stops the PD member it had started.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FlotillaError } from '../../common/index.js';
import { type LocalClusterInfo, LocalCluster, portFree, waitFor } from '../../deploy/index.js';
import { Playground } from '../support/cli.js';

/** Pids of the processes whose command line names `dataDir` (the servers a launcher started there). */
function pidsUsing(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dataDir)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked: nothing of it to find.
    }
  }
  return pids;
}

/** Kills (-9) whatever still runs from `dataDir` and removes it: cleanup when a test failed midway. */
async function cleanUp(dataDir: string): Promise<void> {
  for (const pid of pidsUsing(dataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await waitFor(`the processes of ${dataDir} to end`, () => (pidsUsing(dataDir).length === 0 ? true : undefined), { timeoutMs: 30_000 });
  await rm(dataDir, { recursive: true, force: true });
}

describe('LocalCluster with real processes', { timeout: 300_000 }, () => {
  it('comes up on the fixed layout, writes cluster.json, and stop() ends the stores before PD, leaving nothing behind', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flotilla-local-cluster-up-'));
    const ports = await Playground.allocatePorts(1, 2);
    let cluster: LocalCluster | null = null;
    try {
      cluster = await LocalCluster.start({
        dataDir, pds: 1, stores: 2, clean: false, logLevel: 'warn',
        pdClientPort: ports.pdPort, storePortBase: ports.storePort, statusPortBase: ports.statusPort,
      });
      const info = JSON.parse(await readFile(join(dataDir, 'cluster.json'), 'utf8')) as LocalClusterInfo;
      assert.deepEqual(info, cluster.info);
      assert.equal(info.pdEndpoints, `127.0.0.1:${ports.pdPort}`);
      assert.deepEqual(info.pdMembers.map((m) => [m.name, m.clientAddress, m.peerAddress, m.httpUrl]), [['pd1', `127.0.0.1:${ports.pdPort}`, `127.0.0.1:${ports.pdPort + 1}`, `http://127.0.0.1:${ports.pdPort + 2}`]]);
      assert.deepEqual(info.stores.map((s) => [s.name, s.address, s.statusUrl]), [0, 1].map((i) => [`store${i + 1}`, `127.0.0.1:${ports.storePort + i}`, `http://127.0.0.1:${ports.statusPort + i}/status`]));
      const processes = cluster.allProcesses;
      assert.deepEqual(processes.map((p) => p.name), ['pd pd1', 'store1', 'store2']);
      const order: string[] = [];
      for (const p of processes) {
        const stop = p.stop.bind(p);
        p.stop = async (graceMs?: number): Promise<void> => {
          order.push(`${p.name} stopping, ${processes.filter((q) => q.isRunning).length} running`);
          await stop(graceMs);
        };
      }
      await cluster.stop();
      assert.deepEqual(order, ['store2 stopping, 3 running', 'store1 stopping, 2 running', 'pd pd1 stopping, 1 running']);
      for (const p of processes) assert.equal(p.isRunning, false, `${p.name} still runs`);
      await cluster.stop();
      assert.equal(order.length, 3, 'a second stop() stops nothing again');
      for (const port of [ports.pdPort, ports.pdPort + 1, ports.pdPort + 2, ports.storePort, ports.storePort + 1, ports.statusPort, ports.statusPort + 1]) {
        assert.equal(await portFree(port), true, `port ${port} still bound`);
      }
      assert.deepEqual(pidsUsing(dataDir), []);
    } finally {
      await cluster?.stop();
      await cleanUp(dataDir);
    }
  });

  it('a store that cannot start fails the start naming it, and the PD member already started is stopped', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'flotilla-local-cluster-fail-'));
    const ports = await Playground.allocatePorts(1, 1);
    try {
      // store1's data dir is a file: the store cannot create it and exits.
      await writeFile(join(dataDir, 'store1'), 'not a directory');
      let err: unknown = null;
      try {
        const cluster = await LocalCluster.start({
          dataDir, pds: 1, stores: 1, clean: false, logLevel: 'warn',
          pdClientPort: ports.pdPort, storePortBase: ports.storePort, statusPortBase: ports.statusPort,
        });
        await cluster.stop();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof FlotillaError, `the start failed: ${String(err)}`);
      assert.match(err.message, /^store1 /);
      assert.deepEqual(pidsUsing(dataDir), [], 'a process the failed start began still runs');
      for (const port of [ports.pdPort, ports.pdPort + 1, ports.pdPort + 2]) assert.equal(await portFree(port), true, `PD's port ${port} still bound`);
    } finally {
      await cleanUp(dataDir);
    }
  });
});
