/**
 * `replicator init replica`: the replicator's own objects on the replica
 * (schema replicator: position, copy progress, grant bookkeeping), by the
 * migrations it lacks. Touches none of the database's own tables.
 */
import type pg from 'pg';
import { migrate } from '../db/migrate.js';
import type { Migration } from '../db/migrations.js';

export function initReplica(client: pg.ClientBase): Promise<Migration[]> {
  return migrate(client, 'replica', { lockTimeoutMs: 3000 });
}
