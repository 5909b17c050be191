// The logger raft reports through. Shaped like pino's methods (object first, fixed message
// second) so a pino child logger can be passed directly; the default drops everything.

export interface RaftLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const NOOP_LOGGER: RaftLogger = Object.freeze({
  debug(): void {},
  info(): void {},
  warn(): void {},
});
