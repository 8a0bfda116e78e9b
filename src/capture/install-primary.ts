/** Installs the capture (change log, triggers) on the primary: PART 1 of db/init.sql. */
import type pg from 'pg';
import { applySchemaPart } from '../db/schema-sql.js';
import { ReplicatorError } from '../errors.js';

// The Go demo's user_changes has one column per users field and no txid; our
// trigger cannot write into it, and CREATE TABLE IF NOT EXISTS would keep it.
const DEMO_LAYOUT_CHECK = `
  SELECT EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass('user_changes') AND attname = 'txid' AND NOT attisdropped) AS has_txid,
         to_regclass('user_changes') IS NOT NULL AS exists`;

export async function installPrimary(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ has_txid: boolean; exists: boolean }>(DEMO_LAYOUT_CHECK);
  if (rows[0]?.exists && !rows[0].has_txid) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      "primary: table user_changes exists with the Go demo's layout (no txid column); let the demo replicator finish, then DROP TABLE user_changes and install again",
    );
  }
  await applySchemaPart(client, 1);
}
