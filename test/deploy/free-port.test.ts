// Ports for test clusters: below the kernel's ephemeral range (a killed store's port, if it came
// from that range, could be taken by any outgoing connection before the store restarts on it),
// never handed out twice by one process, free when handed out, and held against other processes
// picking ports for as long as the process that got it lives (port-reservations.ts).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort, PORT_RESERVATIONS_DIR, portFree, reservePort } from '../../deploy/index.js';

const DEPLOY_INDEX = pathToFileURL(join(import.meta.dirname, '..', '..', 'deploy', 'index.js')).href;

/** Another process that reserves `port`, says so on stdout, and lives until its stdin closes. */
async function holder(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { reservePort } = await import(${JSON.stringify(DEPLOY_INDEX)});
    console.log(String(await reservePort(${port})));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
  `], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(String(line).trim(), 'true', 'the holder got its port');
  return child;
}

describe('freePort', () => {
  it('hands out distinct free ports below the ephemeral range, and skips a port in use', async () => {
    const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
    const ephemeralLow = Number(range.trim().split(/\s+/)[0]);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const port = await freePort();
      assert.ok(port >= 10_000 && port < ephemeralLow, `port ${port} outside [10000, ${ephemeralLow})`);
      assert.ok(!seen.has(port), `port ${port} handed out twice`);
      seen.add(port);
      assert.equal(await portFree(port), true, `port ${port} is free`);
    }
    // Occupy the next few candidates: freePort passes over them.
    const probe = await freePort();
    const held = createServer();
    const next = probe + 1 < ephemeralLow ? probe + 1 : 10_000;
    await new Promise<void>((resolve, reject) => {
      held.once('error', reject);
      held.listen(next, '127.0.0.1', () => resolve());
    });
    try {
      const after = await freePort();
      assert.notEqual(after, next, 'a port in use is never handed out');
      assert.equal(await portFree(after), true);
    } finally {
      await new Promise<void>((resolve) => held.close(() => resolve()));
    }
  });

  it('passes over a port another living process holds; reclaims it once that process is killed; a holder that exits gives it back', async () => {
    const port = await freePort();
    const other = port + 1 < 32_768 ? port + 1 : port - 1;
    const killed = await holder(other);
    try {
      assert.equal(await reservePort(other), false, 'a living holder keeps its port');
    } finally {
      killed.kill('SIGKILL');
      await once(killed, 'exit');
    }
    assert.equal(await reservePort(other), true, 'a killed holder\'s port is reclaimed');
    // A holder that exits cleans up; a third port, not ours, so the file is its own.
    const third = port + 2 < 32_768 ? port + 2 : port - 2;
    const polite = await holder(third);
    assert.ok(existsSync(join(PORT_RESERVATIONS_DIR, String(third))));
    polite.stdin!.end();
    await once(polite, 'exit');
    assert.equal(existsSync(join(PORT_RESERVATIONS_DIR, String(third))), false, 'an exiting holder removes its reservation');
  });

  it('freePort never hands out a port a living process has reserved, though nothing listens on it', async () => {
    const probe = await freePort();
    const live = await holder(probe + 1);
    try {
      // The next candidates after probe are reserved by a living process (its pid in each file).
      const taken = new Set<number>();
      for (let p = probe + 1; p <= probe + 5; p++) {
        taken.add(p);
        await writeFile(join(PORT_RESERVATIONS_DIR, String(p)), String(live.pid));
      }
      const got = await freePort();
      assert.ok(!taken.has(got), `freePort handed out ${got}, reserved by process ${live.pid}`);
      assert.equal(await portFree(probe + 2), true, 'the reserved ports are not bound: only the reservation stops them');
    } finally {
      live.stdin!.end();
      await once(live, 'exit');
      for (let p = probe + 2; p <= probe + 5; p++) await unlink(join(PORT_RESERVATIONS_DIR, String(p))).catch(() => undefined);
    }
  });

  it('a reservation naming this process\'s pid, left by an earlier process that had it, is taken over', async () => {
    const probe = await freePort();
    let port = probe + 20;
    while (existsSync(join(PORT_RESERVATIONS_DIR, String(port)))) port++;
    await writeFile(join(PORT_RESERVATIONS_DIR, String(port)), String(process.pid));
    assert.equal(await reservePort(port), true, 'our own pid in the file kept the port from us');
    assert.equal((await readFile(join(PORT_RESERVATIONS_DIR, String(port)), 'utf8')).trim(), String(process.pid));
  });
});
