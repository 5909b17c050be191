// Ports for test clusters: below the kernel's ephemeral range (a killed store's port, if it came
// from that range, could be taken by any outgoing connection before the store restarts on it),
// never handed out twice by one process, and free when handed out.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { freePort, portFree } from '../../deploy/index.js';

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
});
