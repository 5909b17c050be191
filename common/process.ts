// Process lifecycle for servers: one clear line on a fatal error, graceful shutdown on signals.

import type { Logger } from 'pino';
import { ConfigError, FlotillaError } from './errors.js';

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
