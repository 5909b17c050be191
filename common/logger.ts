// The process's root pino logger and its child loggers. One root per process; components take
// `child({ component })` once at construction, peers `child({ regionId, peerId })` — never per request.

import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

export type LogLevel = LevelWithSilent;
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface LoggerOptions {
  /** Minimum level written (default 'info'; FLOTILLA_LOG_LEVEL overrides when no level is given). */
  readonly level?: LogLevel;
  /** Bindings on every line (e.g. `{ process: 'pd', name: 'pd1' }`). */
  readonly base?: Readonly<Record<string, string | number>>;
  /** Where lines go (default: stdout via an async sonic-boom destination). */
  readonly destination?: DestinationStream;
}

function levelFromEnv(): LogLevel | undefined {
  const fromEnv = process.env['FLOTILLA_LOG_LEVEL'];
  return fromEnv !== undefined && (LOG_LEVELS as readonly string[]).includes(fromEnv) ? (fromEnv as LogLevel) : undefined;
}

/** Creates the root logger of a process. Errors go under `err` with pino's standard serializer. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? levelFromEnv() ?? 'info';
  const base = { pid: process.pid, ...(options.base ?? {}) };
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level,
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.err },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that writes nothing: the default for libraries and tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
