// The errors the client library throws. Every one is a FlotillaError with a string `code` from the
// one registry (common/errors.ts); the subclasses let applications branch with `instanceof`:
//
//   WriteConflictError      the transaction did not commit (another one wrote first); retry is safe
//   TxnAbortedError         the transaction did not commit and will not (its locks were rolled back)
//   CommitUnknownError      the commit point's outcome is unknown: it MAY have committed
//   OutcomeUnknownError     a raw write was sent and its outcome is unknown; it was not re-sent
//   TimeoutError            the request's deadline passed before an outcome was known (reads)
//   RegionUnavailableError  no replica of a region could serve within the deadline
//   InvalidArgumentError    the call itself is wrong (empty key, oversized value, end ≤ start, …)
//
// Errors a server answers and the client cannot handle (LimitExceeded, ClusterIdMismatch, …) are
// passed through as plain FlotillaErrors with their own code.

import { FlotillaError, type FlotillaErrorOptions } from '../common/index.js';

export { FlotillaError };

export class WriteConflictError extends FlotillaError {
  override readonly name = 'WriteConflictError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('WriteConflict', message, options);
  }
}

export class TxnAbortedError extends FlotillaError {
  override readonly name = 'TxnAbortedError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('TxnAborted', message, options);
  }
}

export class CommitUnknownError extends FlotillaError {
  override readonly name = 'CommitUnknownError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('CommitUnknown', message, options);
  }
}

export class OutcomeUnknownError extends FlotillaError {
  override readonly name = 'OutcomeUnknownError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('OutcomeUnknown', message, options);
  }
}

export class TimeoutError extends FlotillaError {
  override readonly name = 'TimeoutError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('DeadlineExceeded', message, options);
  }
}

export class RegionUnavailableError extends FlotillaError {
  override readonly name = 'RegionUnavailableError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('RegionUnavailable', message, options);
  }
}

export class InvalidArgumentError extends FlotillaError {
  override readonly name = 'InvalidArgumentError';
  constructor(message: string, options?: FlotillaErrorOptions) {
    super('InvalidArgument', message, options);
  }
}

/** A server's InvalidArgument (e.g. a value over the store's limit) as the client's class. */
export function asClientError(err: FlotillaError): FlotillaError {
  if (err.code === 'InvalidArgument' && !(err instanceof InvalidArgumentError)) return new InvalidArgumentError(err.message, { details: err.details, cause: err });
  if (err.code === 'DeadlineExceeded' && !(err instanceof TimeoutError)) return new TimeoutError(err.message, { details: err.details, cause: err });
  return err;
}
