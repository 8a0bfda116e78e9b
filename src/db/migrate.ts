/**
 * Applies the pending migrations of one side (migrations.ts) in one
 * transaction, under an advisory lock so two installers never interleave,
 * each exactly once: after a failure nothing of it is left, and running it
 * again applies what is missing. A pre-release layout (schema replicator
 * without replicator.migrations) is refused with the way out.
 */

import type pg from 'pg';
import { ReplicatorError } from '../errors.js';
import type { DatabaseRole } from './connect.js';
import type { Queryable } from './database.js';
import { type Migration, migrationsFor } from './migrations.js';
import { SET_LOCAL } from './session-settings.js';

/** pg_advisory_xact_lock key of the installers (any bigint of our own). */
export const MIGRATIONS_LOCK = 7_301_449_012_101;

/** The bookkeeping every install starts with (also the first lines of db/init.sql's parts). */
export const MIGRATIONS_TABLE = `CREATE SCHEMA IF NOT EXISTS replicator;
CREATE TABLE IF NOT EXISTS replicator.migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);`;

const LEGACY = `SELECT pg_catalog.to_regclass('replicator.tables') IS NOT NULL
                   AND pg_catalog.to_regclass('replicator.migrations') IS NULL AS legacy`;

/** Versions applied on this database; empty when nothing is installed. */
export async function appliedVersions(client: Queryable): Promise<number[]> {
  const { rows } = await client.query<{ versions: number[] | null }>(
    `SELECT CASE WHEN pg_catalog.to_regclass('replicator.migrations') IS NOT NULL
            THEN (SELECT pg_catalog.array_agg(m.version ORDER BY m.version) FROM replicator.migrations m) END AS versions`,
  );
  return rows[0]?.versions ?? [];
}

/** The migrations of `side` this database lacks. */
export async function pendingMigrations(client: Queryable, side: DatabaseRole): Promise<Migration[]> {
  const applied = new Set(await appliedVersions(client));
  return migrationsFor(side).filter((m) => !applied.has(m.version));
}

export async function migrate(
  client: pg.ClientBase,
  side: DatabaseRole,
  options: { lockTimeoutMs?: number } = {},
): Promise<Migration[]> {
  const lockTimeout = options.lockTimeoutMs ? `; SET LOCAL lock_timeout = ${Math.round(options.lockTimeoutMs)}` : '';
  await client.query(`BEGIN; ${SET_LOCAL}${lockTimeout}`);
  try {
    await client.query('SELECT pg_catalog.pg_advisory_xact_lock($1)', [MIGRATIONS_LOCK]);
    const { rows } = await client.query<{ legacy: boolean }>(LEGACY);
    if (rows[0]?.legacy) {
      throw new ReplicatorError(
        'MIGRATION_REQUIRED',
        `${side}: schema replicator holds a pre-release install of pg-replicator (no replicator.migrations); remove it with \`replicator uninstall\`, then run \`replicator init\` again`,
      );
    }
    await client.query(MIGRATIONS_TABLE);
    const pending = await pendingMigrations(client, side);
    for (const migration of pending) {
      await client.query(migration.sql);
      await client.query('INSERT INTO replicator.migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
    }
    await client.query('COMMIT');
    return pending;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
