/** Creates the replicated tables and the position table on the replica: PART 2 of db/init.sql. */
import type pg from 'pg';
import { applySchemaPart } from '../db/schema-sql.js';

export async function installReplica(client: pg.ClientBase): Promise<void> {
  await applySchemaPart(client, 2);
}
