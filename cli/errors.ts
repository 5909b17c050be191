// The CLI's error line: every failure prints one line `flotilla: <what failed>` on stderr and
// exits non-zero — 2 for a bad invocation (flag, argument, key encoding), 1 for everything else.

import { FlotillaError, isFlotillaError } from '../common/pure.js';

/** Exit code of a bad invocation (usage), as most Unix tools use. */
export const EXIT_USAGE = 2;
/** Exit code of an operation that failed. */
export const EXIT_FAILURE = 1;

/** A failure the CLI itself detects, with the exit code it ends with. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    /** The server's or library's code when there is one (PD's HTTP `code`, a FlotillaError code). */
    readonly code: string = exitCode === EXIT_USAGE ? 'Usage' : 'Failed',
  ) {
    super(message);
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE, 'Usage');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** The one line and exit code for an error thrown by a command. */
export function describeError(err: unknown): { line: string; exitCode: number } {
  if (err instanceof CliError) return { line: oneLine(err.message), exitCode: err.exitCode };
  if (isFlotillaError(err)) {
    const exitCode = err.code === 'InvalidArgument' || err.code === 'ConfigInvalid' ? EXIT_USAGE : EXIT_FAILURE;
    return { line: oneLine(`${err.message} [${err.code}]`), exitCode };
  }
  if (err instanceof FlotillaError) return { line: oneLine(err.message), exitCode: EXIT_FAILURE };
  if (err instanceof Error) return { line: oneLine(err.message), exitCode: EXIT_FAILURE };
  return { line: oneLine(String(err)), exitCode: EXIT_FAILURE };
}
