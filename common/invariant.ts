// Assertions for programmer errors (never for operating errors, which get typed errors).
// `invariant` narrows like node:assert but costs nothing to call with a lazy message.

export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** Throws InvariantError when `condition` is false. `message` may be a thunk (built only on failure). */
export function invariant(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new InvariantError(typeof message === 'function' ? message() : message);
  }
}

/** Exhaustiveness check for discriminated unions: call in a switch's `default`. */
export function assertNever(value: never, what = 'value'): never {
  throw new InvariantError(`unexpected ${what}: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
}

/**
 * Whether O(n) self-checks of O(1) work run (tests, simulation, FLOTILLA_VERIFY=1).
 * Read once at start-up; code takes it as an option where it can so tests set it explicitly.
 */
export const VERIFY_DEFAULT: boolean = typeof process !== 'undefined' && process.env['FLOTILLA_VERIFY'] === '1';
