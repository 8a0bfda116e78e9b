/**
 * Opens the replica transaction a batch is applied in. Settings are pinned
 * with set_config(..., true) (transaction-local), which also works through a
 * transaction-mode pooler where session settings would leak or be lost.
 *
 * session_replication_role = replica is what PostgreSQL's own apply uses: the
 * replica's ordinary triggers and foreign keys do not fire, so a replica
 * trigger cannot rewrite the primary's values and a batch is not rejected for
 * the order its rows arrive in. It needs superuser or (PostgreSQL 15+)
 * GRANT SET ON PARAMETER session_replication_role; without it the replicator
 * runs anyway and warns once at start.
 */
import type pg from 'pg';

/**
 * The same settings for a whole session, for the one-statement apply (outside
 * a transaction-mode pooler, where they would not stay with the session).
 * Separate statements: a role that may not set session_replication_role
 * still gets the others.
 */
export const SESSION_SETTINGS = [
  "SET datestyle = 'ISO, MDY'; SET intervalstyle = 'postgres'; SET timezone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex'",
  'SET session_replication_role = replica',
] as const;

const PINNED_SETTINGS = `SELECT set_config('datestyle', 'ISO, MDY', true), set_config('intervalstyle', 'postgres', true),
  set_config('timezone', 'UTC', true), set_config('extra_float_digits', '3', true), set_config('bytea_output', 'hex', true)`;

export async function beginApply(replica: pg.ClientBase, replicationRole: boolean): Promise<void> {
  const role = replicationRole ? `; SET LOCAL session_replication_role = replica` : '';
  await replica.query(`BEGIN; ${PINNED_SETTINGS}${role}`);
}

/** Whether this replica session may set session_replication_role (checked once at start). */
export async function mayUseReplicationRole(replica: pg.ClientBase): Promise<boolean> {
  try {
    await replica.query('BEGIN; SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await replica.query('ROLLBACK').catch(() => {});
  }
}
