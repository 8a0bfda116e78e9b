/**
 * `replicator uninstall` on the primary: removes everything the replicator
 * created there (capture triggers, capture functions, change logs, the
 * grants it made, schema replicator) in one transaction, and leaves the
 * database's own tables and rows as they were. Also removes a pre-release
 * layout (no replicator.migrations). Returns what it removed, for the user.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/quote.js';
import { dropPublication, PUBLICATION } from './publication.js';

export async function uninstallPrimary(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ installed: boolean; legacy: boolean }>(
    `SELECT pg_catalog.to_regnamespace('replicator') IS NOT NULL AS installed,
            pg_catalog.to_regclass('replicator.migrations') IS NULL AND pg_catalog.to_regclass('replicator.tables') IS NOT NULL AS legacy`,
  );
  if (!rows[0]?.installed) return [];
  const removed = rows[0].legacy ? await uninstallLegacy(client) : await uninstallCurrent(client);
  if (await dropPublication(client)) removed.push(`publication ${PUBLICATION} (logical mode)`);
  await client.query('DROP SCHEMA replicator CASCADE');
  removed.push('schema replicator (registry, wakeup token, consumer, migrations)');
  return removed;
}

async function uninstallCurrent(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ removed: string }>('SELECT r AS removed FROM replicator.uninstall() AS r');
  return rows.map((r) => r.removed);
}

/** The layout before numbered migrations (0.1): fixed trigger names, the demo's log in public. */
async function uninstallLegacy(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ table_schema: string; table_name: string; log_schema: string; log_name: string }>(
    'SELECT table_schema, table_name, log_schema, log_name FROM replicator.tables',
  );
  const removed: string[] = [];
  for (const t of rows) {
    const target = quoteQualified({ schema: t.table_schema, name: t.table_name });
    const exists = await client.query('SELECT pg_catalog.to_regclass($1) IS NOT NULL AS e', [target]);
    const demo = t.log_schema === 'public' && t.log_name === 'user_changes';
    const triggers = demo
      ? ['users_change_trigger', 'users_change_trigger_update', 'users_change_trigger_delete', 'users_change_trigger_truncate']
      : ['replicator_capture_insert', 'replicator_capture_update', 'replicator_capture_delete', 'replicator_capture_truncate'];
    if (exists.rows[0]?.e)
      for (const trigger of triggers) await client.query(`DROP TRIGGER IF EXISTS ${quoteIdent(trigger)} ON ${target}`);
    await client.query(`DROP TABLE IF EXISTS ${quoteQualified({ schema: t.log_schema, name: t.log_name })}`);
    if (demo) await client.query('DROP FUNCTION IF EXISTS public.track_user_changes()');
    removed.push(`capture of ${t.table_schema}.${t.table_name} (change log ${t.log_schema}.${t.log_name})`);
  }
  return removed;
}
