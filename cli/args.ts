// Shared positional arguments.
import { Args } from '@oclif/core';
import { usageError } from './errors.js';

/** A positive integer id (store, region), refused with a usage error otherwise. */
export function idArg(what: string) {
  return Args.string({
    description: `the ${what} id`,
    required: true,
    parse: (text: string): Promise<string> => {
      if (!/^[1-9][0-9]{0,15}$/.test(text) || !Number.isSafeInteger(Number(text))) return Promise.reject(usageError(`${what} id ${JSON.stringify(text)} is not a positive integer`));
      return Promise.resolve(text);
    },
  });
}
