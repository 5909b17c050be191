// What every `flotilla` command shares: `--pd` (PD client endpoints, default the playground's),
// `--timeout`, `--json` where a command prints data; lazily opened PD admin and client
// connections, closed when the command ends; and one clear error line on failure.

import { Command, Errors, Flags } from '@oclif/core';
import type { Client } from '../client/index.js';
import { toJson } from './output.js';
import { CliError, describeError, EXIT_USAGE, usageError } from './errors.js';
import type { PdAdmin } from './pd-admin.js';

/** PD's client endpoint of the playground (`flotilla playground`, `npm start`). */
export const PD_ENDPOINT_DEFAULT = '127.0.0.1:2379';

/** Commands that print only their own output and errors: the playground, which has its own `--pd`. */
export abstract class BareCommand extends Command {
  /** Prints `flotilla: <one line>` and exits 2 (usage) or 1 (failure); --help and exit pass through. */
  protected override async catch(err: Error & { oclif?: { exit?: number }; code?: unknown }): Promise<never> {
    // oclif's own exits (this.exit(), --help, --version) carry no message to print.
    if (err instanceof Errors.ExitError) throw err;
    let line: string;
    let exitCode: number;
    if (typeof err.oclif?.exit === 'number' && !(err instanceof CliError)) {
      // A parse error from oclif: its lines, but the pointer to --help, say what was wrong.
      const what = err.message.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('See more help')).join(' ');
      line = `${what.replace(/\s+/g, ' ')} (see --help)`;
      exitCode = err.oclif.exit === 0 ? EXIT_USAGE : err.oclif.exit;
    } else {
      ({ line, exitCode } = describeError(err));
    }
    process.stderr.write(`flotilla: ${line}\n`);
    return this.exit(exitCode);
  }
}

export abstract class FlotillaCommand extends BareCommand {
  static override baseFlags = {
    pd: Flags.string({
      description: 'PD client endpoints, host:port, comma-separated',
      default: PD_ENDPOINT_DEFAULT,
      env: 'FLOTILLA_PD',
      helpGroup: 'GLOBAL',
    }),
    timeout: Flags.integer({ description: 'seconds to wait for PD and the stores', default: 10, min: 1, max: 3600, helpGroup: 'GLOBAL' }),
  };

  private adminConnection: PdAdmin | null = null;
  private clientConnection: Client | null = null;

  protected endpoints(flags: { pd: string }): string[] {
    const endpoints = flags.pd.split(',').map((e) => e.trim()).filter((e) => e.length > 0);
    if (endpoints.length === 0) throw usageError('--pd: no endpoint given');
    for (const e of endpoints) {
      if (!/^(https?:\/\/)?[^\s/:]+:\d{1,5}\/?$/.test(e)) throw usageError(`--pd: ${JSON.stringify(e)} is not host:port`);
    }
    return endpoints;
  }

  /** PD's admin API (opened on first use). */
  protected async admin(flags: { pd: string; timeout: number }): Promise<PdAdmin> {
    const endpoints = this.endpoints(flags);
    const { PdAdmin } = await import('./pd-admin.js');
    this.adminConnection ??= await PdAdmin.connect(endpoints, flags.timeout * 1000).catch(async (err: unknown) => {
      throw await pdConnectError(err, endpoints);
    });
    return this.adminConnection;
  }

  /** A client of the cluster (opened on first use). */
  protected async client(flags: { pd: string; timeout: number }): Promise<Client> {
    const endpoints = this.endpoints(flags);
    // Loaded on first use: the client (gRPC, protobufs) is most of a command's start-up time.
    const { Client } = await import('../client/index.js');
    this.clientConnection ??= await Client.connect({ pdEndpoints: endpoints, requestTimeoutMs: flags.timeout * 1000 }).catch(async (err: unknown) => {
      throw await pdConnectError(err, endpoints);
    });
    return this.clientConnection;
  }

  protected printJson(value: unknown): void {
    this.log(toJson(value));
  }

  protected override async finally(err: Error | undefined): Promise<void> {
    this.adminConnection?.close();
    this.adminConnection = null;
    const client = this.clientConnection;
    this.clientConnection = null;
    if (client !== null) await client.close().catch(() => undefined);
    await super.finally(err);
  }
}

/**
 * Connecting failed: "nothing listens there" gets one plain line; other errors keep theirs.
 * gRPC does not always say "refused": when the deadline passes while its channel waits to
 * reconnect, the error is a deadline ("Waiting for LB pick"). Then a plain TCP dial to every
 * endpoint decides: if each one refuses, nothing listens there.
 */
async function pdConnectError(err: unknown, endpoints: readonly string[]): Promise<Error> {
  const refusedByGrpc = err instanceof Error && /ECONNREFUSED|No connection established/.test(err.message);
  if (refusedByGrpc || (await everyDialRefused(endpoints))) {
    return new CliError(`cannot reach PD at ${endpoints.join(', ')} (connection refused): is the cluster running? \`npm start\` starts one; --pd names another`, 1, 'Unavailable');
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** True when a TCP connection to every endpoint is refused (a timeout or another error is not "refused"). */
async function everyDialRefused(endpoints: readonly string[]): Promise<boolean> {
  const { connect } = await import('node:net');
  const refused = (endpoint: string): Promise<boolean> => new Promise((resolve) => {
    const m = /^(?:https?:\/\/)?([^\s/:]+):(\d{1,5})\/?$/.exec(endpoint);
    if (m === null) return resolve(false);
    const socket = connect({ host: m[1], port: Number(m[2]), timeout: 1_000 });
    const done = (answer: boolean): void => { socket.destroy(); resolve(answer); };
    socket.once('connect', () => done(false));
    socket.once('timeout', () => done(false));
    socket.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED'));
  });
  const answers = await Promise.all(endpoints.map(refused));
  return answers.every((a) => a);
}

/** `--json` for commands that print data. */
export const jsonFlag = { json: Flags.boolean({ description: 'print JSON instead of a table', default: false }) };
