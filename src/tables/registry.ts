/**
 * The replication set as the primary's registry (replicator.tables) holds it:
 * what every stage starts from. Removed entries are kept (so TABLES does not
 * add a table back that a user removed) and listed only on request.
 */

import type { Queryable } from '../db/database.js';
import type { QualifiedName } from '../db/quote.js';

export interface RegistryEntry {
  table: QualifiedName;
  relid: number;
  log: QualifiedName;
  logKeyColumns: string[];
  keyColumns: string[];
  /** Named at add (--key) rather than the primary key. */
  declaredKey: boolean;
  markProcessed: boolean;
  triggerName: string;
  captureVersion: number;
  copyRequestedAt: string;
  removedAt: string | null;
}

const TIMESTAMP = (column: string) => `pg_catalog.to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const READ_REGISTRY = `
  SELECT t.table_schema, t.table_name, t.relid::int8 AS relid, t.log_schema, t.log_name, t.log_key_columns, t.key_columns,
         t.declared_key, t.mark_processed, t.trigger_name, t.capture_version,
         ${TIMESTAMP('t.copy_requested_at')} AS copy_requested_at, ${TIMESTAMP('t.removed_at')} AS removed_at
  FROM replicator.tables t
  ORDER BY t.table_schema, t.table_name`;

interface RegistryRow {
  table_schema: string;
  table_name: string;
  relid: string;
  log_schema: string;
  log_name: string;
  log_key_columns: string[];
  key_columns: string[];
  declared_key: boolean;
  mark_processed: boolean;
  trigger_name: string;
  capture_version: number;
  copy_requested_at: string;
  removed_at: string | null;
}

export async function readRegistry(primary: Queryable, options: { removed?: boolean } = {}): Promise<RegistryEntry[]> {
  const { rows } = await primary.query<RegistryRow>(READ_REGISTRY);
  return rows
    .map((r) => ({
      table: { schema: r.table_schema, name: r.table_name },
      relid: Number(r.relid),
      log: { schema: r.log_schema, name: r.log_name },
      logKeyColumns: r.log_key_columns,
      keyColumns: r.key_columns,
      declaredKey: r.declared_key,
      markProcessed: r.mark_processed,
      triggerName: r.trigger_name,
      captureVersion: r.capture_version,
      copyRequestedAt: r.copy_requested_at,
      removedAt: r.removed_at,
    }))
    .filter((e) => options.removed === true || e.removedAt === null);
}

export const sameTable = (a: QualifiedName, b: QualifiedName): boolean => a.schema === b.schema && a.name === b.name;
