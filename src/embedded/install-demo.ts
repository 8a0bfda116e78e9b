/**
 * The Go demo's tables on top of the replicator's objects: what db/init.sql
 * does when pasted (its parts are the migrations plus db/demo.sql), for
 * `replicator init --demo`, the embedded default and the tests.
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { initReplica } from '../apply/init-replica.js';
import { initPrimary } from '../capture/init-primary.js';
import type { DatabaseRole } from '../db/connect.js';
import { DEMO_SQL_PATH, sqlPart } from '../db/init-sql.js';
import { SET_LOCAL } from '../db/session-settings.js';

export async function installDemo(client: pg.ClientBase, side: DatabaseRole): Promise<void> {
  if (side === 'primary') await initPrimary(client);
  else await initReplica(client);
  const sql = sqlPart(readFileSync(DEMO_SQL_PATH, 'utf8'), side === 'primary' ? 1 : 2);
  try {
    await client.query(`BEGIN; ${SET_LOCAL}; ${sql}; COMMIT`);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
