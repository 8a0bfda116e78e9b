/**
 * Opens the primary side of a batch: a REPEATABLE READ transaction whose
 * snapshot is the batch's upper bound. Everything the batch reads (changes,
 * and rows for an initial copy) is read as of exactly that snapshot, so the
 * replica moves from one consistent primary state to the next.
 *
 * The same statement returns a fingerprint of the replication set and of the
 * replicated tables' columns: a change (a table added, ALTER TABLE ... ADD
 * COLUMN, a resync request) makes the loop re-read both catalogs before it
 * applies anything written under the new schema.
 */
import type pg from 'pg';

/** The fingerprint of the replication set and its tables' columns, as a scalar subquery. */
export const SCHEMA_VERSION = `(SELECT
         md5(coalesce(string_agg(
           concat_ws(':', t.table_schema, t.table_name, t.log_schema, t.log_name, t.key_columns::text, t.copy_requested_at::text,
             (SELECT string_agg(concat_ws(' ', a.attname, a.atttypid, a.atttypmod, a.attgenerated, a.attnotnull), ',' ORDER BY a.attnum)
              FROM pg_attribute a
              WHERE a.attrelid = to_regclass(format('%I.%I', t.table_schema, t.table_name)) AND a.attnum > 0 AND NOT a.attisdropped)),
           ';' ORDER BY t.table_schema, t.table_name), ''))
  FROM replicator.tables t)`;

const SNAPSHOT_AND_SCHEMA = `SELECT pg_current_snapshot()::text AS snapshot, ${SCHEMA_VERSION} AS schema_version`;

export interface PrimarySnapshot {
  snapshot: string;
  schemaVersion: string;
}

export async function beginSnapshot(primary: pg.ClientBase): Promise<PrimarySnapshot> {
  // One round trip: BEGIN and the snapshot travel as one simple-protocol message.
  const results = (await primary.query(
    `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${SNAPSHOT_AND_SCHEMA}`,
  )) as unknown as pg.QueryResult[];
  const row = results[results.length - 1]?.rows[0] as { snapshot: string; schema_version: string };
  return { snapshot: row.snapshot, schemaVersion: row.schema_version };
}

/** The fingerprint alone, for start-up (prepareTables). */
export async function readSchemaVersion(primary: pg.ClientBase): Promise<string> {
  const { rows } = await primary.query<{ schema_version: string }>(SNAPSHOT_AND_SCHEMA);
  return (rows[0] as { schema_version: string }).schema_version;
}
