/**
 * Adds tables named in configuration (TABLES) to the replication set if they
 * are not in it yet, creating the replica's table when it is missing. Safe to
 * run at every start: adding a registered table changes nothing.
 */
import type pg from 'pg';
import type { Logger } from 'pino';
import { createReplicaTable, describeReplicatedTable } from '../replication/replicated-table.js';
import { addTable, listTables, type RegisteredTable } from './replication-set.js';

export async function ensureReplicationSet(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  names: readonly string[],
  log: Logger,
): Promise<RegisteredTable[]> {
  const before = await listTables(primary);
  const added: RegisteredTable[] = [];
  for (const name of names) {
    const entry = await addTable(primary, name);
    const table = await describeReplicatedTable(primary, entry);
    if (await createReplicaTable(primary, replica, table)) log.info({ table: name }, 'created the table on the replica');
    if (!before.some((t) => t.table.schema === entry.table.schema && t.table.name === entry.table.name)) {
      log.info({ table: name, copy: entry.copyRequestedAt !== null }, 'added to the replication set');
      added.push(entry);
    }
  }
  return added;
}
