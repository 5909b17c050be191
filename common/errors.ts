// The one registry of Flotilla's error codes. Codes are the names of proto `errorpb.ErrorCode`
// (PascalCase here, SCREAMING_SNAKE on the wire); a test checks registry and proto both ways.
// I/O layers throw FlotillaError; pure layers (raft/, txn/) return unions carrying these codes.

export type ErrorCategory = 'region' | 'key' | 'pd' | 'general';

interface ErrorSpec {
  readonly category: ErrorCategory;
  /** Whether the same request may succeed if retried (after refreshing routing or backing off). */
  readonly retryable: boolean;
  /** What the code means, for docs and logs. */
  readonly summary: string;
}

export const ERROR_REGISTRY = {
  // Region errors: the request reached the wrong place or the wrong time; the client refreshes and retries.
  NotLeader: { category: 'region', retryable: true, summary: 'the peer is not the region leader (the known leader is attached)' },
  EpochNotMatch: { category: 'region', retryable: true, summary: 'the request was routed with a stale region epoch (current regions attached)' },
  RegionNotFound: { category: 'region', retryable: true, summary: 'the store has no peer of the region' },
  KeyNotInRegion: { category: 'region', retryable: true, summary: 'a key lies outside the region the request names' },
  ServerIsBusy: { category: 'region', retryable: true, summary: 'a bounded queue is full; back off for the hinted time' },
  StaleCommand: { category: 'region', retryable: true, summary: 'the proposal was superseded by a leader change before it applied' },
  StoreNotMatch: { category: 'region', retryable: true, summary: 'the request was sent to a different store than it names' },
  RaftEntryTooLarge: { category: 'region', retryable: false, summary: 'the proposal exceeds the raft entry size limit' },
  // Key (transaction) errors: per-key outcomes of Percolator actions.
  KeyIsLocked: { category: 'key', retryable: true, summary: "another transaction's lock blocks the key (lock attached; resolve it, then retry)" },
  WriteConflict: { category: 'key', retryable: true, summary: 'a write committed at or after the start ts (restart the transaction)' },
  TxnLockNotFound: { category: 'key', retryable: false, summary: 'the lock to commit is gone and the transaction was not committed' },
  AlreadyCommitted: { category: 'key', retryable: false, summary: 'the transaction is already committed (commit ts attached)' },
  AlreadyRolledBack: { category: 'key', retryable: false, summary: 'the transaction is already rolled back' },
  CommitTsExpired: { category: 'key', retryable: true, summary: "the commit ts is below the lock's min_commit_ts (pick a newer one)" },
  KeyAlreadyExists: { category: 'key', retryable: false, summary: 'an insert found the key present' },
  TxnNotFound: { category: 'key', retryable: false, summary: 'neither a lock nor a commit record of the transaction exists' },
  // Placement driver errors.
  ClusterIdMismatch: { category: 'pd', retryable: false, summary: 'the request names a different cluster id' },
  NotBootstrapped: { category: 'pd', retryable: true, summary: 'the cluster has not been bootstrapped yet' },
  AlreadyBootstrapped: { category: 'pd', retryable: false, summary: 'the cluster is already bootstrapped' },
  PdNotLeader: { category: 'pd', retryable: true, summary: 'this PD member is not the leader (the leader is attached when known)' },
  StoreNotFound: { category: 'pd', retryable: false, summary: 'no store has that id' },
  StoreTombstone: { category: 'pd', retryable: false, summary: 'the store was removed from the cluster' },
  GcSafePointBackwards: { category: 'pd', retryable: false, summary: 'the GC safe point may never move backwards' },
  // General errors.
  InvalidArgument: { category: 'general', retryable: false, summary: 'a malformed or out-of-range request field' },
  MessageTooLarge: { category: 'general', retryable: false, summary: 'a message exceeds its size limit' },
  LimitExceeded: { category: 'general', retryable: false, summary: 'a named limit (keys per batch, scan size, …) was exceeded' },
  DeadlineExceeded: { category: 'general', retryable: true, summary: 'the deadline passed before an outcome was known' },
  Unavailable: { category: 'general', retryable: true, summary: 'the server cannot serve now (starting, stopping, no quorum)' },
  ConfigInvalid: { category: 'general', retryable: false, summary: 'a configuration value is invalid' },
  EngineError: { category: 'general', retryable: false, summary: 'the storage engine failed' },
  Corruption: { category: 'general', retryable: false, summary: 'persisted data failed a checksum or decode' },
  Internal: { category: 'general', retryable: false, summary: 'a bug: an invariant did not hold' },
  // Client-side outcomes: the client library raises these; servers never send them.
  TxnAborted: { category: 'general', retryable: true, summary: 'the transaction did not commit and will not (rolled back or resolved away); retrying it anew is safe' },
  CommitUnknown: { category: 'general', retryable: false, summary: "the transaction's commit point has an unknown outcome: it may have committed" },
  OutcomeUnknown: { category: 'general', retryable: false, summary: 'a non-idempotent write was sent and its outcome is unknown; it was not re-sent' },
  RegionUnavailable: { category: 'general', retryable: true, summary: 'no replica of the region could serve within the deadline' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_REGISTRY;

export const ERROR_CODES: readonly ErrorCode[] = Object.keys(ERROR_REGISTRY) as ErrorCode[];

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_REGISTRY, value);
}

/** `NotLeader` → `NOT_LEADER` (the proto enum's spelling). */
export function errorCodeToWire(code: ErrorCode): string {
  return code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** `NOT_LEADER` → `NotLeader`; null for an unknown or unspecified code. */
export function errorCodeFromWire(wire: string): ErrorCode | null {
  const pascal = wire
    .toLowerCase()
    .split('_')
    .map((w) => (w.length === 0 ? w : w[0]!.toUpperCase() + w.slice(1)))
    .join('');
  return isErrorCode(pascal) && errorCodeToWire(pascal) === wire ? pascal : null;
}

export interface FlotillaErrorOptions {
  /** Structured, code-specific context (the leader for NotLeader, the field for ConfigInvalid, …). */
  readonly details?: Readonly<Record<string, unknown>>;
  readonly cause?: unknown;
}

/** The base of every error Flotilla throws: a registered code, whether retrying may help, details. */
export class FlotillaError extends Error {
  override readonly name: string = 'FlotillaError';
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly category: ErrorCategory;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec: ErrorSpec = ERROR_REGISTRY[code];
    this.code = code;
    this.retryable = spec.retryable;
    this.category = spec.category;
    this.details = options.details ?? {};
  }
}

export function isFlotillaError(err: unknown, code?: ErrorCode): err is FlotillaError {
  return err instanceof FlotillaError && (code === undefined || err.code === code);
}

/** Config was rejected at start-up: `field` names the bad setting, the message says why. */
export class ConfigError extends FlotillaError {
  override readonly name = 'ConfigError';
  readonly field: string;
  constructor(field: string, reason: string) {
    super('ConfigInvalid', `invalid config: ${field}: ${reason}`, { details: { field } });
    this.field = field;
  }
}
