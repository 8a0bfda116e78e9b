/**
 * `replicator init primary`: the replicator's own objects on the primary
 * (schema replicator: registry, capture template, wakeup token, consumer),
 * by the migrations it lacks. Touches none of the database's own tables.
 */
import type pg from 'pg';
import type { DdlOptions } from '../db/ddl-transaction.js';
import { migrate } from '../db/migrate.js';
import type { Migration } from '../db/migrations.js';

export function initPrimary(client: pg.ClientBase, options: DdlOptions = {}): Promise<Migration[]> {
  return migrate(client, 'primary', { lockTimeoutMs: options.lockTimeoutMs ?? 3000 });
}
