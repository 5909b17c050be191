// LocalProcess and waitFor on small stand-in scripts (no server): stop() is graceful also for a
// paused process (SIGCONT before SIGTERM), kills after the grace period a process that ignores
// SIGTERM, and is idempotent; kill() is -9; waitFor returns the first value, ends at once on a
// fatal error, and names what it waited for and the last error at its deadline.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlotillaError } from '../../common/index.js';
import { type LocalProcess, spawnNodeProcess, waitFor } from '../../deploy/index.js';

describe('LocalProcess', () => {
  let dir = '';
  const started: LocalProcess[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-local-process-'));
  });
  after(async () => {
    for (const p of started) await p.kill();
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts a script that prints "ready" once its SIGTERM handler is installed. */
  async function startScript(name: string, onSigterm: string): Promise<LocalProcess> {
    const script = join(dir, `${name}.mjs`);
    await writeFile(script, `process.on('SIGTERM', () => { ${onSigterm} });\nconsole.log('ready');\nsetInterval(() => undefined, 60_000);\n`);
    const logPath = join(dir, `${name}.log`);
    const proc = await spawnNodeProcess(name, script, [], logPath);
    started.push(proc);
    await waitFor(`${name} to be ready`, async () => ((await readFile(logPath, 'utf8')).includes('ready') ? true : undefined), { timeoutMs: 30_000 });
    return proc;
  }

  it('stop() resumes a paused process before SIGTERM, so it shuts down gracefully; twice is once', async () => {
    const proc = await startScript('paused', 'process.exit(7)');
    proc.pause();
    // A long grace: a process left stopped would be SIGKILLed only after it (exit -1, not 7).
    await proc.stop(60_000);
    assert.equal(proc.isRunning, false);
    assert.equal(await proc.waitExit(), 7, 'the SIGTERM handler ran');
    await proc.stop();
  });

  it('stop() kills a process that ignores SIGTERM once the grace period ends; kill() is -9', async () => {
    const stubborn = await startScript('stubborn', '/* ignored */');
    await stubborn.stop(100);
    assert.equal(await stubborn.waitExit(), -1, 'ended by a signal');
    const killed = await startScript('killed', 'process.exit(0)');
    await killed.kill();
    assert.equal(await killed.waitExit(), -1);
    assert.equal(killed.isRunning, false);
    await killed.kill();
  });
});

describe('waitFor', () => {
  it('returns the first value that is not undefined, null and false included', async () => {
    let calls = 0;
    assert.equal(await waitFor('three calls', () => (++calls < 3 ? undefined : 'done'), { intervalMs: 1 }), 'done');
    assert.equal(calls, 3);
    assert.equal(await waitFor('null', () => null), null);
    assert.equal(await waitFor('false', () => Promise.resolve(false)), false);
  });

  it('a fatal error ends the wait at once; others are retried and the last one named at the deadline', async () => {
    let calls = 0;
    const fatal = new FlotillaError('Unavailable', 'gone');
    await assert.rejects(waitFor('x', () => {
      calls++;
      throw fatal;
    }, { timeoutMs: 60_000, intervalMs: 1, isFatal: (err) => err === fatal }), (err) => err === fatal);
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(waitFor('the thing', () => {
      calls++;
      throw new Error(`attempt ${calls}`);
    }, { timeoutMs: 50, intervalMs: 1 }), (err: unknown) => {
      assert.ok(err instanceof FlotillaError && err.code === 'DeadlineExceeded', String(err));
      assert.equal(err.message, `timed out waiting for the thing: attempt ${calls}`);
      return true;
    });
    assert.ok(calls >= 2, 'retried');
  });
});
