// The servers run with SERVER_NODE_FLAGS (common/launch-env.ts) however they are started: the
// executables' shebangs carry the same flags, and the local launchers pass them to node.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SERVER_NODE_FLAGS } from '../../common/index.js';
import { PD_BIN, spawnNodeProcess, STORE_BIN, waitFor } from '../../deploy/index.js';

describe('server V8 flags', () => {
  it('the flotilla-store and flotilla-pd shebangs carry SERVER_NODE_FLAGS', async () => {
    for (const bin of [STORE_BIN, PD_BIN]) {
      const first = (await readFile(bin, 'utf8')).split('\n', 1)[0];
      assert.equal(first, `#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`, bin);
    }
  });

  it('a process the local launcher starts runs with them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-server-flags-'));
    try {
      const script = join(dir, 'print-flags.mjs');
      await writeFile(script, 'process.stdout.write(JSON.stringify(process.execArgv) + "\\n");\n');
      const logPath = join(dir, 'out.log');
      const proc = await spawnNodeProcess('print-flags', script, [], logPath);
      assert.equal(await proc.waitExit(), 0);
      // The log is written from the child's pipe, which may drain after the exit event.
      const line = await waitFor('the flags in the log', async () => (await readFile(logPath, 'utf8')).split('\n').find((l) => l.startsWith('[')), { timeoutMs: 10_000 });
      const execArgv = JSON.parse(line) as string[];
      for (const flag of SERVER_NODE_FLAGS) assert.ok(execArgv.includes(flag), `${flag} missing from ${execArgv.join(' ')}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
