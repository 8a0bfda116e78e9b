/**
 * Maps driver and server failures to ReplicatorErrors whose message names the
 * database (password removed) and the fix. Decides nothing about retrying:
 * the loop retries every error and reports it.
 */
import { redactUrl } from '../config/redact-url.js';
import { ReplicatorError } from '../errors.js';
import type { DatabaseRole } from './connect.js';

interface PgLikeError {
  code?: string;
  message?: string;
  detail?: string;
  table?: string;
  column?: string;
  constraint?: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH']);
// SQLSTATEs meaning "the server went away or is not accepting work yet".
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300']);

export function isConnectionFailure(error: unknown): boolean {
  const e = error as PgLikeError;
  if (typeof e?.code === 'string' && (NETWORK_CODES.has(e.code) || UNAVAILABLE_STATES.has(e.code))) return true;
  const message = String(e?.message ?? '');
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|timeout exceeded when trying to connect/i.test(
    message,
  );
}

export function classifyDatabaseError(error: unknown, role: DatabaseRole, url: string): ReplicatorError {
  if (error instanceof ReplicatorError) return error;
  const e = error as PgLikeError;
  const where = `${role} database ${redactUrl(url)}`;
  const reason = String(e?.message ?? error)
    .split(url)
    .join(redactUrl(url));
  if (e?.code === '28P01' || e?.code === '28000') {
    return new ReplicatorError(
      'AUTH_FAILED',
      `${where}: authentication failed (${reason}); check the user and password in the URL`,
      {
        cause: error,
        sqlState: e.code,
        database: role,
      },
    );
  }
  if (e?.code === '3D000') {
    return new ReplicatorError('DATABASE_UNREACHABLE', `${where}: ${reason}; create it or fix the database name in the URL`, {
      cause: error,
      sqlState: e.code,
      database: role,
    });
  }
  if (
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(String(e?.code)) ||
    /does not support SSL|certificate/i.test(reason)
  ) {
    return new ReplicatorError(
      'DATABASE_UNREACHABLE',
      `${where}: the TLS connection was refused (${reason || e?.code}); check sslmode and sslrootcert in the URL (verify-full needs the CA that signed the server's certificate)`,
      { cause: error, sqlState: e?.code, database: role },
    );
  }
  if (isConnectionFailure(error)) {
    return new ReplicatorError(
      'DATABASE_UNREACHABLE',
      `${where} is unreachable (${reason || e?.code}); check that it is running and the host and port are right`,
      {
        cause: error,
        sqlState: e?.code,
        database: role,
      },
    );
  }
  if (e?.code === '42P01' || e?.code === '42703') {
    return new ReplicatorError('SCHEMA_MISSING', `${where}: ${reason}; run \`replicator init ${role}\` or fix the table`, {
      cause: error,
      sqlState: e.code,
      database: role,
    });
  }
  return new ReplicatorError('CHANGE_REJECTED', `${where}: ${reason}${e?.detail ? ` (${e.detail})` : ''}`, {
    cause: error,
    sqlState: e?.code,
    database: role,
  });
}
