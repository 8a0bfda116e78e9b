/**
 * Connection pools for the two roles. URLs follow libpq's sslmode meaning
 * (require = encrypted, verify-full = encrypted and verified), so a URL that
 * works with psql works here.
 */
import type pg from 'pg';
import { parse } from 'pg-connection-string';

export type DatabaseRole = 'primary' | 'replica';

/** What a connection is for, shown in application_name: the service's own, or a CLI command's. */
export type ConnectionPurpose = string;

export function connectionConfig(url: string, role: DatabaseRole, purpose = 'run'): pg.ClientConfig {
  const parsed = parse(url, { useLibpqCompat: true }) as unknown as pg.ClientConfig;
  return {
    ...parsed,
    application_name: purpose === 'run' ? `pg-replicator (${role})` : `pg-replicator ${purpose} (${role})`,
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  };
}
