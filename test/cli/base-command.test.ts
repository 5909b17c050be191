// What every `flotilla` command shares (cli/base-command.ts), run through oclif as a command runs
// but with stand-ins for the PD admin and the client (their `connect` replaced for the test): `--pd`
// is parsed into endpoints or refused in one line (exit 2) before anything is dialled; `--timeout`
// reaches both connections in ms; each connection opens lazily, once, and is closed when the
// command ends however it ends; a refused connection is one plain line (exit 1) only when every
// endpoint refuses; oclif's own exits pass through; every other failure is one line.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { Errors } from '@oclif/core';
import { FlotillaCommand, PD_ENDPOINT_DEFAULT } from '../../cli/base-command.js';
import { CliError } from '../../cli/errors.js';
import { PdAdmin } from '../../cli/pd-admin.js';
import { Client, type ClientOptions } from '../../client/index.js';
import { FlotillaError } from '../../common/index.js';
import { LOCAL_CLUSTER_DEFAULTS } from '../../deploy/index.js';

/** The package root (oclif reads its config from package.json there). */
const PACKAGE_ROOT = join(import.meta.dirname, '..', '..', '..');

type Flags = { pd: string; timeout: number };
type Scenario = (cmd: Probe, flags: Flags) => Promise<void>;

/** A command that does what the test's scenario says with the base class's parts. */
class Probe extends FlotillaCommand {
  static scenario: Scenario = () => Promise.resolve();

  async run(): Promise<void> {
    const { flags } = await this.parse(Probe);
    await Probe.scenario(this, flags);
  }

  openAdmin(flags: Flags): Promise<PdAdmin> {
    return this.admin(flags);
  }

  openClient(flags: Flags): Promise<Client> {
    return this.client(flags);
  }

  quit(code: number): void {
    this.exit(code);
  }
}

/** What the stand-in connections saw. */
interface Seams {
  adminConnects: { endpoints: readonly string[]; timeoutMs: number }[];
  clientConnects: ClientOptions[];
  adminCloses: number;
  clientCloses: number;
  /** When set, the next connects fail with it. */
  adminConnectError: Error | null;
  clientConnectError: Error | null;
  clientCloseError: Error | null;
}

let seams: Seams;
const realAdminConnect = PdAdmin.connect.bind(PdAdmin);
const realClientConnect = Client.connect.bind(Client);

function resetSeams(): void {
  seams = { adminConnects: [], clientConnects: [], adminCloses: 0, clientCloses: 0, adminConnectError: null, clientConnectError: null, clientCloseError: null };
}

before(() => {
  PdAdmin.connect = (endpoints: readonly string[], timeoutMs: number): Promise<PdAdmin> => {
    seams.adminConnects.push({ endpoints: [...endpoints], timeoutMs });
    if (seams.adminConnectError !== null) return Promise.reject(seams.adminConnectError);
    return Promise.resolve({ close: () => void seams.adminCloses++ } as unknown as PdAdmin);
  };
  Client.connect = (options: ClientOptions): Promise<Client> => {
    seams.clientConnects.push(options);
    if (seams.clientConnectError !== null) return Promise.reject(seams.clientConnectError);
    const close = (): Promise<void> => {
      seams.clientCloses++;
      return seams.clientCloseError === null ? Promise.resolve() : Promise.reject(seams.clientCloseError);
    };
    return Promise.resolve({ close } as unknown as Client);
  };
});

after(() => {
  PdAdmin.connect = realAdminConnect;
  Client.connect = realClientConnect;
});

/** Runs the probe command with `argv`; its exit code (0 when it returned) and what it wrote to stderr. */
async function runProbe(argv: readonly string[], scenario: Scenario = () => Promise.resolve()): Promise<{ exit: number; stderr: string }> {
  Probe.scenario = scenario;
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array): boolean => {
    stderr += String(chunk);
    return true;
  });
  try {
    await Probe.run([...argv], PACKAGE_ROOT);
    return { exit: 0, stderr };
  } catch (err) {
    if (err instanceof Errors.ExitError) return { exit: err.oclif.exit ?? -1, stderr };
    throw err;
  } finally {
    process.stderr.write = write;
  }
}

/** Exactly one line on stderr, `flotilla: …`, matching `pattern`. */
function oneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line, got: ${JSON.stringify(stderr)}`);
  assert.match(lines[0]!, /^flotilla: /);
  assert.match(lines[0]!, pattern);
}

const openBoth: Scenario = async (cmd, flags) => {
  await cmd.openAdmin(flags);
  await cmd.openClient(flags);
};

/**
 * A port on 127.0.0.1 where a dial neither connects nor is refused: a child process listens with a
 * backlog of 1 and is stopped (SIGSTOP), two connections fill its accept queue, and Linux then
 * drops further SYNs. close() kills the child by pid and ends the held connections.
 */
async function silentListener(): Promise<{ port: number; close: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', `const s = require('node:net').createServer(() => {});
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => console.log(s.address().port));`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const held: Socket[] = [];
  const close = async (): Promise<void> => {
    for (const socket of held) socket.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  };
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(String(line).trim());
    assert.ok(port > 0, `the listener said ${String(line)}`);
    child.kill('SIGSTOP');
    for (let i = 0; i < 2; i++) {
      const socket = connect({ host: '127.0.0.1', port });
      held.push(socket);
      await once(socket, 'connect');
    }
    return { port, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A port on 127.0.0.1 that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('FlotillaCommand (what every command shares)', () => {
  const savedPdEnv = process.env['FLOTILLA_PD'];
  let listening: Server;
  let listeningPort = 0;

  before(async () => {
    delete process.env['FLOTILLA_PD'];
    listening = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    listeningPort = (listening.address() as { port: number }).port;
  });
  after(async () => {
    if (savedPdEnv !== undefined) process.env['FLOTILLA_PD'] = savedPdEnv;
    await new Promise<void>((resolve) => listening.close(() => resolve()));
  });
  afterEach(() => {
    delete process.env['FLOTILLA_PD'];
    process.exitCode = undefined;
  });

  it('--pd: host:port endpoints, comma-separated, reach both connections as given; --timeout reaches them in ms', async () => {
    const cases: [string, string[]][] = [
      ['127.0.0.1:2379', ['127.0.0.1:2379']],
      ['a:1,b:65535', ['a:1', 'b:65535']],
      [' pd1:2379 , ,pd2:2382,', ['pd1:2379', 'pd2:2382']],
      ['http://pd:1/,https://pd.example:2', ['http://pd:1/', 'https://pd.example:2']],
    ];
    for (const [pd, endpoints] of cases) {
      resetSeams();
      const r = await runProbe(['--pd', pd], openBoth);
      assert.equal(r.exit, 0, `${pd}: ${r.stderr}`);
      assert.deepEqual(seams.adminConnects, [{ endpoints, timeoutMs: 10_000 }], pd);
      assert.deepEqual(seams.clientConnects, [{ pdEndpoints: endpoints, requestTimeoutMs: 10_000 }], pd);
    }
    resetSeams();
    assert.equal((await runProbe(['--pd', 'h:1', '--timeout', '3'], openBoth)).exit, 0);
    assert.deepEqual(seams.adminConnects, [{ endpoints: ['h:1'], timeoutMs: 3_000 }]);
    assert.deepEqual(seams.clientConnects, [{ pdEndpoints: ['h:1'], requestTimeoutMs: 3_000 }]);
  });

  it('--pd: anything but host:port is a usage error in one line (exit 2), and nothing is dialled', async () => {
    for (const pd of ['', ',', ' , ']) {
      resetSeams();
      const r = await runProbe(['--pd', pd], openBoth);
      assert.equal(r.exit, 2, JSON.stringify(pd));
      oneLine(r.stderr, /--pd: no endpoint given/);
    }
    const bad = ['pd', 'pd:', ':2379', 'pd:123456', 'pd:1/x', 'pd:1:2', 'pd:-1', 'pd 1:2', 'ftp://pd:1', 'http:/pd:1', 'pd:2379//', 'a:1,b'];
    for (const pd of bad) {
      resetSeams();
      const r = await runProbe(['--pd', pd], openBoth);
      assert.equal(r.exit, 2, `${pd}: ${r.stderr}`);
      const wrong = pd.split(',').map((e) => e.trim()).find((e) => !/^[ab]:1$/.test(e))!;
      oneLine(r.stderr, new RegExp(`--pd: ${JSON.stringify(wrong).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not host:port`));
      assert.deepEqual([seams.adminConnects.length, seams.clientConnects.length], [0, 0], `${pd} was dialled`);
    }
  });

  it('without --pd, the playground\'s endpoint (what `npm start` listens on); FLOTILLA_PD overrides it', async () => {
    assert.equal(PD_ENDPOINT_DEFAULT, `127.0.0.1:${LOCAL_CLUSTER_DEFAULTS.pdClientPort}`);
    resetSeams();
    assert.equal((await runProbe([], openBoth)).exit, 0);
    assert.deepEqual(seams.adminConnects, [{ endpoints: ['127.0.0.1:2379'], timeoutMs: 10_000 }]);
    process.env['FLOTILLA_PD'] = 'from-env:7';
    resetSeams();
    assert.equal((await runProbe([], openBoth)).exit, 0);
    assert.deepEqual(seams.clientConnects, [{ pdEndpoints: ['from-env:7'], requestTimeoutMs: 10_000 }]);
  });

  it('connections open on first use, once per command, and are closed when it ends however it ends', async () => {
    resetSeams();
    assert.equal((await runProbe([])).exit, 0);
    assert.deepEqual([seams.adminConnects.length, seams.clientConnects.length], [0, 0], 'nothing used, nothing opened');

    resetSeams();
    const r = await runProbe([], async (cmd, flags) => {
      const a1 = await cmd.openAdmin(flags);
      const c1 = await cmd.openClient(flags);
      assert.equal(await cmd.openAdmin(flags), a1);
      assert.equal(await cmd.openClient(flags), c1);
      assert.deepEqual([seams.adminCloses, seams.clientCloses], [0, 0], 'closed while the command runs');
    });
    assert.equal(r.exit, 0, r.stderr);
    assert.deepEqual([seams.adminConnects.length, seams.clientConnects.length], [1, 1]);
    assert.deepEqual([seams.adminCloses, seams.clientCloses], [1, 1]);

    resetSeams();
    const failed = await runProbe([], async (cmd, flags) => {
      await openBoth(cmd, flags);
      throw new FlotillaError('Unavailable', 'the region\nhas no leader');
    });
    assert.equal(failed.exit, 1);
    oneLine(failed.stderr, /^flotilla: the region has no leader \[Unavailable\]$/);
    assert.deepEqual([seams.adminCloses, seams.clientCloses], [1, 1], 'closed after a failure');

    // The client's close failing changes neither the outcome nor the admin's close.
    resetSeams();
    seams.clientCloseError = new Error('close failed');
    const closeFailed = await runProbe([], openBoth);
    assert.deepEqual([closeFailed.exit, closeFailed.stderr], [0, '']);
    assert.deepEqual([seams.adminCloses, seams.clientCloses], [1, 1]);

    // The admin failing to connect after the client opened: the client is still closed.
    resetSeams();
    seams.adminConnectError = new Error('14 UNAVAILABLE: No connection established');
    const adminFailed = await runProbe(['--pd', '127.0.0.1:1'], async (cmd, flags) => {
      await cmd.openClient(flags);
      await cmd.openAdmin(flags);
    });
    assert.equal(adminFailed.exit, 1);
    assert.deepEqual([seams.adminCloses, seams.clientCloses], [0, 1]);
  });

  it('a refused connection is one plain line (exit 1), for the admin and the client alike', async () => {
    const port = await closedPort();
    for (const which of ['admin', 'client'] as const) {
      // gRPC's own words for a refusal.
      resetSeams();
      seams.adminConnectError = seams.clientConnectError = new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9');
      let r = await runProbe(['--pd', `127.0.0.1:${listeningPort}`], (cmd, flags) => (which === 'admin' ? cmd.openAdmin(flags) : cmd.openClient(flags)).then(() => undefined));
      assert.equal(r.exit, 1, which);
      oneLine(r.stderr, new RegExp(`cannot reach PD at 127\\.0\\.0\\.1:${listeningPort} \\(connection refused\\): is the cluster running\\?`));
      // A deadline while gRPC waited to reconnect: a dial to every endpoint decides.
      resetSeams();
      seams.adminConnectError = seams.clientConnectError = new Error('4 DEADLINE_EXCEEDED: Waiting for LB pick');
      r = await runProbe(['--pd', `127.0.0.1:${port},http://localhost:${port}/`], (cmd, flags) => (which === 'admin' ? cmd.openAdmin(flags) : cmd.openClient(flags)).then(() => undefined));
      assert.equal(r.exit, 1, which);
      oneLine(r.stderr, new RegExp(`cannot reach PD at 127\\.0\\.0\\.1:${port}, http://localhost:${port}/ \\(connection refused\\)`));
    }
  });

  it('a connect error is kept as it is unless every endpoint refuses a dial (one that listens, or does not answer, is not "refused")', async () => {
    const port = await closedPort();
    const lists = [
      [`127.0.0.1:${listeningPort}`],
      [`127.0.0.1:${port}`, `127.0.0.1:${listeningPort}`],
      [`127.0.0.1:${listeningPort}`, `127.0.0.1:${port}`],
    ];
    // A dial that times out is not "refused" either: a frozen listener whose accept queue is full
    // (this machine answers a dial to an unrouted address, TEST-NET-1, with a refusal at once).
    const silent = await silentListener();
    lists.push([`127.0.0.1:${silent.port}`]);
    try {
      for (const endpoints of lists) {
        for (const which of ['admin', 'client'] as const) {
          resetSeams();
          seams.adminConnectError = seams.clientConnectError = new Error('4 DEADLINE_EXCEEDED: Waiting for LB pick');
          const r = await runProbe(['--pd', endpoints.join(',')], (cmd, flags) => (which === 'admin' ? cmd.openAdmin(flags) : cmd.openClient(flags)).then(() => undefined));
          assert.equal(r.exit, 1, `${which} ${endpoints.join(',')}`);
          oneLine(r.stderr, /^flotilla: 4 DEADLINE_EXCEEDED: Waiting for LB pick$/);
        }
      }
    } finally {
      await silent.close();
    }
  });

  it('oclif\'s parse errors are one line ending "(see --help)", exit 2; other errors one line with their exit code; this.exit passes through silently', async () => {
    resetSeams();
    let r = await runProbe(['--bogus']);
    assert.equal(r.exit, 2);
    oneLine(r.stderr, /--bogus.* \(see --help\)$/);
    assert.doesNotMatch(r.stderr, /See more help/);
    for (const timeout of ['0', '3601', 'soon']) {
      r = await runProbe(['--timeout', timeout]);
      assert.equal(r.exit, 2, `--timeout ${timeout}`);
      oneLine(r.stderr, /timeout.*\(see --help\)$/i);
    }
    r = await runProbe([], () => Promise.reject(new FlotillaError('InvalidArgument', 'key too\nlarge')));
    assert.equal(r.exit, 2);
    oneLine(r.stderr, /^flotilla: key too large \[InvalidArgument\]$/);
    r = await runProbe([], () => Promise.reject(new CliError('PD: gone [HTTP404]', 1, 'HTTP404')));
    assert.equal(r.exit, 1);
    oneLine(r.stderr, /^flotilla: PD: gone \[HTTP404\]$/);
    r = await runProbe([], () => Promise.reject(new Error('plain')));
    assert.equal(r.exit, 1);
    oneLine(r.stderr, /^flotilla: plain$/);
    for (const code of [0, 3]) {
      resetSeams();
      r = await runProbe([], async (cmd, flags) => {
        await openBoth(cmd, flags);
        cmd.quit(code);
      });
      assert.deepEqual([r.exit, r.stderr], [code, ''], `this.exit(${code})`);
      assert.deepEqual([seams.adminCloses, seams.clientCloses], [1, 1], `closed after this.exit(${code})`);
    }
  });
});
