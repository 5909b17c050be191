// `flotilla playground` with 3 PD members (issue F8): it serves through any member, keeps its data
// across a Ctrl-C and a restart, refuses a data dir made with another topology in one line, and
// starts empty with --clean.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { waitFor } from '../../deploy/index.js';
import { Playground, processAlive, runCli } from '../support/cli.js';

describe('flotilla playground --pd 3', { timeout: 600_000 }, () => {
  let pg: Playground | null = null;
  let dataDir = '';

  after(async () => {
    await pg?.kill();
    if (dataDir !== '') await rm(dataDir, { recursive: true, force: true });
  });

  it('serves through every PD member, keeps data across restarts, refuses another topology, --clean starts empty', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'flotilla-pg3-'));
    const ports = await Playground.allocatePorts(3, 3);
    pg = await Playground.start({ pds: 3, stores: 3, dataDir, ports });
    const info = await pg.info();
    assert.equal(info.pdMembers.length, 3);
    assert.equal(info.pdEndpoints.split(',').length, 3);

    const status = JSON.parse((await runCli(['cluster', 'status', '--json', '--pd', info.pdEndpoints])).stdout) as { healthy: boolean; pd: { leader: string | null; members: unknown[] } };
    assert.equal(status.healthy, true);
    assert.equal(status.pd.members.length, 3);
    assert.ok(status.pd.leader !== null);
    // Any single member leads a command to the leader.
    for (const member of info.pdMembers) {
      const r = await runCli(['kv', 'put', `pg3/${member.name}`, member.name, '--txn', '--pd', member.clientAddress]);
      assert.equal(r.code, 0, r.stderr);
    }
    // With pd1 gone, admin commands find the new leader's HTTP API (never the first member's).
    process.kill(info.pdMembers[0]!.pid, 'SIGKILL');
    const survivors = info.pdMembers.slice(1).map((m) => m.clientAddress).join(',');
    await waitFor('a PD leader among pd2 and pd3', async () => {
      const r = await runCli(['member', 'list', '--json', '--pd', survivors, '--timeout', '3']);
      const leader = r.code === 0 ? (JSON.parse(r.stdout) as { leader: string | null }).leader : null;
      return leader !== null && leader !== 'pd1' ? true : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const stores = await runCli(['store', 'list', '--json', '--pd', survivors]);
    assert.equal(stores.code, 0, stores.stderr);
    assert.equal((JSON.parse(stores.stdout) as { stores: unknown[] }).stores.length, 3);
    assert.equal((await runCli(['kv', 'get', 'pg3/pd1', '--txn', '--pd', survivors])).stdout, 'pd1\n');
    assert.equal(await pg.stop(), 0);
    for (const p of [...info.pdMembers, ...info.stores]) assert.equal(processAlive(p.pid), false, `${p.name} stopped`);

    pg = await Playground.start({ pds: 3, stores: 3, dataDir, ports });
    const scan = await runCli(['kv', 'scan', '--prefix', 'pg3/', '--txn', '--pd', info.pdEndpoints]);
    assert.equal(scan.code, 0, scan.stderr);
    assert.equal(scan.stdout, 'pg3/pd1\tpd1\npg3/pd2\tpd2\npg3/pd3\tpd3\n', 'data kept across the restart');
    assert.equal(await pg.stop(), 0);
    pg = null;

    const wrong = await runCli(['playground', '--pd', '1', '--data-dir', dataDir, '--pd-port', String(ports.pdPort), '--store-port', String(ports.storePort), '--status-port', String(ports.statusPort)]);
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.equal(wrong.stderr.trim().split('\n').length, 1, wrong.stderr);
    assert.match(wrong.stderr, /holds a cluster with 3 PD member\(s\), not 1: use --pd 3, another --data-dir, or --clean/);
    const even = await runCli(['playground', '--pd', '2', '--data-dir', dataDir]);
    assert.equal(even.code, 2, even.stderr);
    assert.match(even.stderr, /PD members must be 1, 3, 5 or 7/);

    pg = await Playground.start({ pds: 3, stores: 3, dataDir, ports, clean: true });
    const empty = await runCli(['kv', 'scan', '--prefix', 'pg3/', '--txn', '--pd', info.pdEndpoints]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(empty.stdout, '', '--clean starts empty');
    assert.equal(await pg.stop(), 0);
    pg = null;
  });
});
