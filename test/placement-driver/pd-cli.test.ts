// The flotilla-pd executable: --help documents the flags; a bad flag or value stops it with one
// clear line naming the field, before anything is written.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocatePdMember, PD_BIN, startPdProcess } from '../../deploy/index.js';

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PD_BIN, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

describe('flotilla-pd command line', () => {
  it('--help lists every flag with its default and env var', async () => {
    const r = await run(['--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--name', '--data-dir', '--client-urls', '--peer-urls', '--http-url', '--initial-cluster', '--initial-cluster-state', '--tick-ms', '--election-ticks', '--config']) {
      assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
    }
    assert.match(r.stdout, /FLOTILLA_PD_DATA_DIR/);
    // Regression (F8): --data-dir showed two defaults, `(default: ./flotilla-pd.<name>) (default "")`.
    for (const line of r.stdout.split('\n').filter((l) => l.trimStart().startsWith('--'))) {
      assert.ok((line.match(/default/g) ?? []).length <= 1, `one default: ${line}`);
    }
    assert.match(r.stdout, /--data-dir <string> +data directory \(default \.\/flotilla-pd\.<name>; env FLOTILLA_PD_DATA_DIR\)/);
    assert.match(r.stdout, /node dist\/placement-driver\/bin\/flotilla-pd\.js/, 'says how to run it from a checkout');
  });

  it('rejects bad flags with one line naming the field, and writes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-pd-cli-'));
    try {
      const cases: [string[], RegExp][] = [
        [['--tick-ms', 'soon'], /--tick-ms: "soon" is not a duration/],
        [['--election-ticks', '3', '--heartbeat-ticks', '3'], /--election-ticks: must be greater than --heartbeat-ticks/],
        [['--client-urls', 'nowhere'], /--client-urls: "nowhere" is not host:port/],
        [['--initial-cluster', 'pd2=127.0.0.1:1'], /--initial-cluster: does not list this member \(pd1\)/],
        [['--initial-cluster', 'pd1=127.0.0.1:1,pd1=127.0.0.1:2'], /--initial-cluster: member pd1 is listed twice/],
        [['--initial-cluster', 'pd1=127.0.0.1:1,=127.0.0.1:2'], /--initial-cluster: "=127.0.0.1:2" is not name=peerUrl/],
        [['--bogus', '1'], /--bogus: unknown flag/],
      ];
      for (const [args, message] of cases) {
        const r = await run([...args, '--data-dir', join(dir, 'data')]);
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.stderr, message);
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
      }
      assert.equal(existsSync(join(dir, 'data')), false, 'nothing was written');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('flotilla-pd fail-stop', () => {
  it('exits non-zero with one line when a raft write fails, instead of lingering half-alive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-pd-failstop-'));
    try {
      const member = await allocatePdMember('pd1');
      const proc = await startPdProcess({ member, cluster: [member], dataDir: dir, env: { FLOTILLA_FAILPOINTS: 'pd::before-persist-ready=panic' } });
      const code = await Promise.race([proc.waitExit(), new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000).unref())]);
      if (code === 'running') await proc.kill();
      assert.equal(code, 1);
      const log = await readFile(proc.logPath, 'utf8');
      assert.match(log, /flotilla-pd: stopping: Internal: failpoint pd::before-persist-ready: panic/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
