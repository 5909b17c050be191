// Process lifecycle for servers: one clear line on a fatal error, graceful shutdown on signals.

import type { Logger } from 'pino';
import { ConfigError, FlotillaError } from './errors.js';
import { armFailpointsFromSpec } from './failpoints.js';
import { PARENT_PID_ENV } from './launch-env.js';

/** One line naming why the process cannot go on: for stderr before a logger exists. */
export function describeFatal(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  if (err instanceof FlotillaError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

/**
 * Runs `shutdown` once on SIGINT/SIGTERM, then exits 0 (1 if shutdown failed). Uncaught errors
 * and rejections are logged as one fatal line and exit 1: a server in an unknown state must stop.
 */
export function installProcessHandlers(log: Logger, shutdown: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    shutdown().then(
      () => {
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.fatal({ err }, 'shutdown failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const die = (kind: string) => (err: unknown) => {
    log.fatal({ err }, `${kind}: ${describeFatal(err)}`);
    log.flush();
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled rejection'));
}

export interface ServerMainSpec<C> {
  /** The executable's name, prefixing every stderr line ("flotilla-pd"). */
  readonly name: string;
  /** The full `--help` text. */
  readonly usage: string;
  loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<C>;
  createLogger(config: C): Logger;
  /** Starts the server; `onFatal` is for failures after start (the process then exits 1). */
  start(config: C, log: Logger, onFatal: (err: unknown) => void): Promise<{ stop(): Promise<void> }>;
}

/**
 * The `main` every Flotilla server executable shares: `--help`; config (a bad value → one line,
 * exit 2); failpoints from FLOTILLA_FAILPOINTS (fault tests only); start (a failure → one line,
 * exit 1); a fatal error after start → one line, exit 1; signals → graceful stop.
 */
export async function runServerMain<C>(spec: ServerMainSpec<C>): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${spec.usage}\n`);
    return;
  }
  let config: C;
  try {
    config = await spec.loadConfig(argv, process.env);
    armFailpointsFromSpec(process.env['FLOTILLA_FAILPOINTS']); // fault tests only; unset in production
  } catch (err) {
    process.stderr.write(`${spec.name}: ${describeFatal(err)}\n`);
    process.exit(2);
  }
  const log = spec.createLogger(config);
  const fail = (what: string) => (err: unknown): never => {
    log.fatal({ err }, `${what}: ${describeFatal(err)}`);
    log.flush();
    process.stderr.write(`${spec.name}: ${what}: ${describeFatal(err)}\n`);
    process.exit(1);
  };
  let server: { stop(): Promise<void> };
  try {
    // Raft's view and the disk may disagree after a fatal error: stop, and let a supervisor restart from disk.
    server = await spec.start(config, log, fail('stopping'));
  } catch (err) {
    fail('cannot start')(err);
  }
  installProcessHandlers(log, () => server.stop());
  watchParent(log, process.env[PARENT_PID_ENV]);
}

/** How often a server started by a local launcher checks that the launcher is still there. */
export const PARENT_CHECK_MS = 1_000;

function watchParent(log: Logger, parentPid: string | undefined): void {
  if (parentPid === undefined || parentPid === '') return;
  const expected = Number(parentPid);
  if (!Number.isSafeInteger(expected) || expected <= 0) return;
  const timer = setInterval(() => {
    if (process.ppid === expected) return;
    clearInterval(timer);
    log.warn({ parentPid: expected, ppid: process.ppid }, 'the process that started this server is gone; stopping');
    process.kill(process.pid, 'SIGTERM');
  }, PARENT_CHECK_MS);
  timer.unref();
}
