// A server started by a local launcher stops once the launcher is gone (common/process.ts,
// FLOTILLA_PARENT_PID): a launcher killed with SIGKILL — no handler of its own runs — leaves no
// PD behind. The launcher is a separate node process started here; it starts a real PD member
// through deploy's startPdProcess, prints the PD's pid, and is then killed. Polled with a
// deadline: the PD checks its parent every second and stops as on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { waitFor } from '../../deploy/index.js';
import { processAlive } from '../support/cli.js';

const DEPLOY = pathToFileURL(join(import.meta.dirname, '..', '..', 'deploy', 'index.js')).href;


describe('servers outlive no launcher', () => {
  it('a PD whose launcher was killed -9 stops by itself', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-parent-watch-'));
    let pdPid = 0;
    try {
      const script = join(dir, 'launcher.mjs');
      await writeFile(script, `
        import { allocatePdMember, startPdProcess } from ${JSON.stringify(DEPLOY)};
        const member = await allocatePdMember('pd1');
        const pd = await startPdProcess({ member, cluster: [member], dataDir: ${JSON.stringify(join(dir, 'pd1'))}, logLevel: 'info' });
        process.stdout.write(String(pd.pid) + '\\n');
        setInterval(() => {}, 1000);
      `);
      const launcher = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
      pdPid = await new Promise<number>((resolve, reject) => {
        let out = '';
        launcher.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(Number(out.trim()));
        });
        launcher.once('exit', (code) => reject(new Error(`the launcher exited (${String(code)}) before starting PD`)));
      });
      assert.ok(pdPid > 0 && processAlive(pdPid), `PD ${pdPid} is running`);
      launcher.kill('SIGKILL');
      await waitFor('the PD to stop after its launcher was killed', () => (processAlive(pdPid) ? undefined : true), { timeoutMs: 30_000, intervalMs: 100 });
    } finally {
      if (pdPid > 0 && processAlive(pdPid)) process.kill(pdPid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });
});
