/**
 * `replicator uninstall` on the replica: revokes the grants the replicator
 * made on the replicated tables and drops schema replicator (position, copy
 * progress). The replicated tables and their rows stay: they are the user's.
 */
import type pg from 'pg';

export async function uninstallReplica(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ installed: boolean; grants: boolean }>(
    `SELECT pg_catalog.to_regnamespace('replicator') IS NOT NULL AS installed,
            pg_catalog.to_regclass('replicator.grants') IS NOT NULL AS grants`,
  );
  if (!rows[0]?.installed) return [];
  const removed: string[] = [];
  if (rows[0].grants) {
    const { rows: revoked } = await client.query<{ n: number }>('SELECT replicator.revoke_grants() AS n');
    if ((revoked[0]?.n ?? 0) > 0) removed.push("grants to the replicator's logins");
  }
  await client.query('DROP SCHEMA replicator CASCADE');
  removed.push('schema replicator (position, copy progress, migrations)');
  return removed;
}
