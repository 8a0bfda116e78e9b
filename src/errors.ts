/**
 * Every failure a user can meet has a stable code, a one-line message that
 * names the cause and the fix, and an exit code for the CLI. Anything that is
 * not a ReplicatorError is a bug and is reported as such.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { exit: 2, retryable: false },
  DATABASE_UNREACHABLE: { exit: 3, retryable: true },
  AUTH_FAILED: { exit: 3, retryable: false },
  SCHEMA_MISSING: { exit: 4, retryable: true },
  SCHEMA_MISMATCH: { exit: 4, retryable: true },
  CHANGE_REJECTED: { exit: 5, retryable: true },
  CHANGE_LOG_INVALID: { exit: 5, retryable: true },
  /** The primary's capture of a replicated table is missing, disabled or out of date. */
  CAPTURE_BROKEN: { exit: 4, retryable: true },
  /** The replicator's own objects are older than this package and this role may not upgrade them. */
  MIGRATION_REQUIRED: { exit: 4, retryable: false },
  /** The replica's stored position belongs to another primary, or another replicator holds the primary. */
  SOURCE_MISMATCH: { exit: 10, retryable: false },
  STATUS_UNAVAILABLE: { exit: 6, retryable: false },
  EMBEDDED_START_FAILED: { exit: 7, retryable: false },
  PORT_IN_USE: { exit: 8, retryable: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ReplicatorError extends Error {
  readonly code: ErrorCode;
  /** PostgreSQL SQLSTATE when the cause came from a server. */
  readonly sqlState: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; sqlState?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ReplicatorError';
    this.code = code;
    this.sqlState = options.sqlState;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

export function isReplicatorError(error: unknown): error is ReplicatorError {
  return error instanceof ReplicatorError;
}
