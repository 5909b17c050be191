// The local cluster launcher's rules that hold before any server runs: options are validated at
// N and N+1; the fixed port layout (PD member i at pdClientPort + 3i, +1, +2) shares no port and
// fits the validated range; a port in use is refused before anything starts or is written; a data
// dir keeps its topology (another PD count refused, fewer stores refused, more stores accepted and
// remembered, --clean forgets it). Where a start must get past those checks, the PD members are
// given a log level flotilla-pd refuses, so each one exits while parsing its flags: no server,
// RocksDB or port is ever opened here, and LocalCluster.start must report that exit at once.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlotillaError } from '../../common/index.js';
import {
  LOCAL_CLUSTER_DEFAULTS, LOCAL_CLUSTER_PD_MAX, LOCAL_CLUSTER_STORES_MAX, LocalCluster, type LocalClusterOptions, localPdMembers, validateLocalClusterOptions,
} from '../../deploy/index.js';
import { freePortBlock } from '../support/cli.js';

/** A start that gets past every check ends here: flotilla-pd refuses this level and exits. */
const PD_REFUSED_LOG_LEVEL = 'not-a-level';

function options(overrides: Partial<LocalClusterOptions>): LocalClusterOptions {
  return { ...LOCAL_CLUSTER_DEFAULTS, portMode: 'free', logLevel: PD_REFUSED_LOG_LEVEL, ...overrides };
}

/** The error LocalCluster.start fails with; a start that succeeds is stopped and fails the test. */
async function startFailure(o: LocalClusterOptions): Promise<FlotillaError> {
  let cluster: LocalCluster;
  try {
    cluster = await LocalCluster.start(o);
  } catch (err) {
    assert.ok(err instanceof FlotillaError, `a FlotillaError, got ${String(err)}`);
    return err;
  }
  await cluster.stop();
  assert.fail(`the cluster started (${JSON.stringify(o)})`);
}

/** Got past every check: the PD members were started and an exit reported as such (any of them: they all exit). */
function assertPdExited(err: FlotillaError, dataDir: string): void {
  assert.equal(err.code, 'Unavailable', err.message);
  const m = /^pd (pd\d) exited \(log: (.*)\)$/.exec(err.message);
  assert.ok(m !== null, err.message);
  assert.equal(m[2], join(dataDir, `${m[1]!}.log`));
}

async function topologyOf(dataDir: string): Promise<unknown> {
  return JSON.parse(await readFile(join(dataDir, 'topology.json'), 'utf8')) as unknown;
}

describe('local cluster: options, port layout, topology', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-local-cluster-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('validates PD members (1, 3, 5, 7), stores within [1, 16] and fixed ports that leave room for 7 members', () => {
    const fixed = { ...LOCAL_CLUSTER_DEFAULTS, portMode: 'fixed' as const };
    const isValid = (o: LocalClusterOptions): boolean => {
      try {
        validateLocalClusterOptions(o);
        return true;
      } catch (err) {
        assert.ok(err instanceof FlotillaError && err.code === 'ConfigInvalid', String(err));
        return false;
      }
    };
    assert.equal(LOCAL_CLUSTER_PD_MAX, 7);
    for (let pds = -1; pds <= LOCAL_CLUSTER_PD_MAX + 2; pds++) assert.equal(isValid({ ...fixed, pds }), pds >= 1 && pds <= 7 && pds % 2 === 1, `pds ${pds}`);
    assert.equal(isValid({ ...fixed, pds: 1.5 }), false);
    for (const stores of [0, 1, LOCAL_CLUSTER_STORES_MAX, LOCAL_CLUSTER_STORES_MAX + 1, 2.5]) {
      assert.equal(isValid({ ...fixed, stores }), stores >= 1 && stores <= 16 && Number.isInteger(stores), `stores ${stores}`);
    }
    // The highest usable port leaves 3 ports for each of 7 members (and 16 stores) below 65536.
    const highest = 65_535 - 3 * LOCAL_CLUSTER_PD_MAX;
    for (const field of ['pdClientPort', 'storePortBase', 'statusPortBase'] as const) {
      for (const port of [0, 1, highest, highest + 1, 65_535, 1.5]) {
        assert.equal(isValid({ ...fixed, [field]: port }), port >= 1 && port <= highest && Number.isInteger(port), `${field} ${port}`);
      }
    }
    const top = localPdMembers({ pds: LOCAL_CLUSTER_PD_MAX, pdClientPort: highest }).flatMap((m) => [m.clientPort, m.peerPort, m.httpPort]);
    assert.ok(Math.max(...top) <= 65_535, `a member port ${Math.max(...top)} past 65535`);
    assert.ok(highest + LOCAL_CLUSTER_STORES_MAX - 1 <= 65_535);
    // 'free' ports: the port fields are not looked at.
    assert.equal(isValid({ ...fixed, portMode: 'free', pdClientPort: Number.NaN, storePortBase: -1, statusPortBase: 70_000 }), true);
  });

  it('PD member i listens on pdClientPort + 3i (client), +1 (raft), +2 (HTTP); no port is shared, with the defaults\' store ports either', () => {
    for (let pds = 1; pds <= LOCAL_CLUSTER_PD_MAX; pds += 2) {
      const members = localPdMembers({ pds, pdClientPort: 12_000 });
      assert.deepEqual(members, Array.from({ length: pds }, (_, i) => ({ name: `pd${i + 1}`, clientPort: 12_000 + 3 * i, peerPort: 12_001 + 3 * i, httpPort: 12_002 + 3 * i })));
    }
    const d = LOCAL_CLUSTER_DEFAULTS;
    assert.deepEqual([d.pds, d.stores, d.pdClientPort, d.storePortBase, d.statusPortBase, d.clean, d.dataDir], [1, 3, 2379, 20160, 20180, false, './data/playground']);
    const ports = [
      ...localPdMembers({ pds: LOCAL_CLUSTER_PD_MAX, pdClientPort: d.pdClientPort }).flatMap((m) => [m.clientPort, m.peerPort, m.httpPort]),
      ...Array.from({ length: LOCAL_CLUSTER_STORES_MAX }, (_, i) => [d.storePortBase + i, d.statusPortBase + i]).flat(),
    ];
    assert.equal(new Set(ports).size, ports.length, 'the default layout shares a port at the largest cluster');
  });

  it('a port in use is one line, before anything starts or is written; every port of the layout is checked', async () => {
    const pds = 3;
    const stores = 3;
    const base = await freePortBlock(3 * pds + 2 * stores);
    const layout = { pdClientPort: base, storePortBase: base + 3 * pds, statusPortBase: base + 3 * pds + stores };
    // The last member's HTTP port, the last store's gRPC and status ports.
    for (const taken of [base + 3 * pds - 1, layout.storePortBase + stores - 1, layout.statusPortBase + stores - 1]) {
      const dataDir = join(root, `ports-${taken}`);
      const holder: Server = createServer();
      await new Promise<void>((resolve, reject) => {
        holder.once('error', reject);
        holder.listen(taken, '127.0.0.1', () => resolve());
      });
      try {
        const err = await startFailure(options({ dataDir, pds, stores, ...layout, portMode: 'fixed' }));
        assert.equal(err.code, 'Unavailable');
        assert.match(err.message, new RegExp(`^port ${taken} on 127\\.0\\.0\\.1 is already in use`));
        assert.equal(existsSync(dataDir), false, 'the data dir was created');
      } finally {
        await new Promise<void>((resolve) => holder.close(() => resolve()));
      }
    }
  });

  // A member that exits is reported at once: waiting out the ready timeout (60 s) fails here.
  it('a data dir keeps its topology: another PD count and fewer stores are refused, more stores are remembered, --clean forgets it', { timeout: 30_000 }, async () => {
    const dataDir = join(root, 'topology');
    assertPdExited(await startFailure(options({ dataDir, pds: 1, stores: 3 })), dataDir);
    assert.deepEqual(await topologyOf(dataDir), { pds: 1, stores: 3 });

    let err = await startFailure(options({ dataDir, pds: 3, stores: 3 }));
    assert.equal(err.code, 'ConfigInvalid');
    assert.match(err.message, /holds a cluster with 1 PD member\(s\), not 3: use --pd 1, another --data-dir, or --clean$/);
    assert.equal(existsSync(join(dataDir, 'pd2.log')), false, 'a refused start started a member');

    err = await startFailure(options({ dataDir, pds: 1, stores: 2 }));
    assert.equal(err.code, 'ConfigInvalid');
    assert.match(err.message, /holds a cluster with 3 stores; starting only 2 would leave regions without quorum: use --stores 3 or --clean$/);

    // The same topology, and a larger one (remembered: fewer than it is refused after).
    assertPdExited(await startFailure(options({ dataDir, pds: 1, stores: 3 })), dataDir);
    assertPdExited(await startFailure(options({ dataDir, pds: 1, stores: 5 })), dataDir);
    assert.deepEqual(await topologyOf(dataDir), { pds: 1, stores: 5 });
    err = await startFailure(options({ dataDir, pds: 1, stores: 4 }));
    assert.match(err.message, /holds a cluster with 5 stores; starting only 4/);

    // --clean: the old data goes, any topology starts and is the new one.
    await writeFile(join(dataDir, 'old-data'), 'x');
    assertPdExited(await startFailure(options({ dataDir, pds: 3, stores: 1, clean: true })), dataDir);
    assert.deepEqual(await topologyOf(dataDir), { pds: 3, stores: 1 });
    assert.equal(existsSync(join(dataDir, 'old-data')), false, '--clean kept the old data');

    await writeFile(join(dataDir, 'topology.json'), '{"pds": 3,');
    err = await startFailure(options({ dataDir, pds: 3, stores: 1 }));
    assert.equal(err.code, 'ConfigInvalid');
    assert.match(err.message, /topology\.json is not valid JSON: remove it or start with --clean$/);
  });
});
