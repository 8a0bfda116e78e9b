/**
 * TABLES: adds the named tables to the replication set at start if they are
 * not in it, creating the replica's table when missing. A table a user
 * removed (`replicator remove`) stays removed: TABLES names it, but only
 * `replicator add` brings it back, with a fresh copy.
 */
import type { Logger } from 'pino';
import type { Database } from '../db/database.js';
import { displayName } from '../db/quote.js';
import { readRegistry, sameTable } from '../tables/registry.js';
import { addTable, resolveTable } from './replication-set.js';

export async function ensureReplicationSet(
  primary: Database,
  replica: Database,
  names: readonly string[],
  log: Logger,
): Promise<void> {
  const registry = await readRegistry(primary, { removed: true });
  for (const name of names) {
    const table = await resolveTable(primary, name);
    const entry = registry.find((e) => sameTable(e.table, table));
    if (entry?.removedAt) {
      log.warn(
        { table: displayName(table) },
        `TABLES names ${displayName(table)}, which was removed from the replication set at ${entry.removedAt}; it stays out (add it back with \`replicator add ${displayName(table)}\`)`,
      );
      continue;
    }
    const result = await addTable(primary, replica, name);
    if (result.created) log.info({ table: displayName(table) }, 'created the table on the replica');
    if (!result.existed) log.info({ table: displayName(table) }, 'added to the replication set; its rows will be copied');
  }
}
