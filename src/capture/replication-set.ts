/**
 * The replication set: which tables the primary captures. The registry
 * (replicator.tables) and the capture itself are created by SQL functions
 * in db/init.sql, so the CLI and a user in a SQL editor do exactly the same.
 */
import type pg from 'pg';
import { displayName, type QualifiedName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';

export interface RegisteredTable {
  table: QualifiedName;
  log: QualifiedName;
  /** A declared key for a table without a primary key; null: its primary key. */
  declaredKey: string[] | null;
  /** When the replica was asked for a full copy (rows that predate capture, or a resync). */
  copyRequestedAt: string | null;
}

export const READ_REGISTRY = `
  SELECT table_schema, table_name, log_schema, log_name, key_columns,
         to_char(copy_requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS copy_requested_at
  FROM replicator.tables ORDER BY table_schema, table_name`;

interface RegistryRow {
  table_schema: string;
  table_name: string;
  log_schema: string;
  log_name: string;
  key_columns: string[] | null;
  copy_requested_at: string | null;
}

export async function listTables(primary: pg.ClientBase | pg.Pool): Promise<RegisteredTable[]> {
  const { rows } = await primary.query<RegistryRow>(READ_REGISTRY);
  return rows.map((r) => ({
    table: { schema: r.table_schema, name: r.table_name },
    log: { schema: r.log_schema, name: r.log_name },
    declaredKey: r.key_columns,
    copyRequestedAt: r.copy_requested_at,
  }));
}

/** Resolves a user's table name (schema.table, quoted identifiers allowed) the way PostgreSQL does. */
export async function resolveTable(primary: pg.ClientBase, name: string): Promise<QualifiedName> {
  const { rows } = await primary.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass($1)`,
    [name],
  );
  const found = rows[0];
  if (!found) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: table ${name} does not exist; check the name (schema.table; quote names with capitals or spaces: '"My Schema"."My Table"')`,
    );
  }
  return found;
}

export async function addTable(primary: pg.ClientBase, name: string, declaredKey?: string[]): Promise<RegisteredTable> {
  const table = await resolveTable(primary, name);
  try {
    await primary.query('SELECT replicator.add_table(format($1, $2::text, $3::text)::regclass, $4::text[])', [
      '%I.%I',
      table.schema,
      table.name,
      declaredKey ?? null,
    ]);
  } catch (error) {
    const e = error as { code?: string; message?: string; hint?: string };
    if (e.code === 'P0001') {
      throw new ReplicatorError('SCHEMA_MISMATCH', `primary: ${e.message}; ${e.hint ?? ''}`.trim(), { cause: error });
    }
    if (e.code === '3F000' || e.code === '42883') {
      throw new ReplicatorError(
        'SCHEMA_MISSING',
        'primary: the replicator schema is not installed; run `replicator install-primary` first',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  const entry = (await listTables(primary)).find((t) => t.table.schema === table.schema && t.table.name === table.name);
  if (!entry) throw new Error(`add_table did not register ${displayName(table)}`);
  return entry;
}

export async function removeTable(primary: pg.ClientBase, table: QualifiedName): Promise<boolean> {
  const { rows } = await primary.query<{ removed: boolean }>('SELECT replicator.remove_table($1, $2) AS removed', [
    table.schema,
    table.name,
  ]);
  return rows[0]?.removed === true;
}

/** Asks the running replicator to copy the table afresh (it notices at its next batch); null when not in the set. */
export async function requestResync(primary: pg.ClientBase, table: QualifiedName): Promise<string | null> {
  const { rows } = await primary.query<{ at: string }>(
    `UPDATE replicator.tables SET copy_requested_at = clock_timestamp() WHERE table_schema = $1 AND table_name = $2
     RETURNING to_char(copy_requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
    [table.schema, table.name],
  );
  return rows[0]?.at ?? null;
}
