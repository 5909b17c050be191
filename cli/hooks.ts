// oclif hooks (package.json `oclif.hooks`).
import type { Hook } from '@oclif/core';
import { EXIT_USAGE } from './errors.js';

/** An unknown command: one line naming it, exit 2. */
export const commandNotFound: Hook<'command_not_found'> = function (opts) {
  const typed = opts.id.split(':').join(' ');
  process.stderr.write(`flotilla: no command "${typed}" (flotilla --help lists them)\n`);
  return Promise.resolve(this.exit(EXIT_USAGE));
};
