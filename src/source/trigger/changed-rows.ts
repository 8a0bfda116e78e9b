/**
 * SQL pieces shared by both ways of reading a batch from a change log.
 *
 * The log holds keys; rows are read from the table itself, in the batch's
 * snapshot. Since that snapshot is the one the batch ends at, each changed
 * key's row is exactly its state there: present (upsert it) or gone (delete
 * it). That is commit-consistent by construction, and rows are always read
 * with the columns the table has in that snapshot, whatever DDL ran while
 * changes were in flight.
 */
import { quoteIdent, quoteQualified } from '../../db/quote.js';
import { keysMatch } from '../../tables/key-comparison.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import { committedBetween } from './visibility.js';

/** The log's changes committed between the two snapshots (SQL expressions), with op and key. */
export function logChanges(table: ReplicatedTable, from: string, to: string): string {
  const keys = table.logKeyColumns.map((k) => `l.${quoteIdent(k)}`).join(', ');
  return `SELECT l.change_id, l.operation, ${keys}, l.relid, l.change_timestamp
    FROM ${quoteQualified(table.log)} AS l
    WHERE ${committedBetween('l.txid', from, to)}`;
}

/** Per-batch figures of a table's changes (`changes`: a relation of logChanges). */
export function changeStats(changes: string): string {
  return `SELECT pg_catalog.count(*) FILTER (WHERE c.operation = 'INSERT')::int AS inserts,
      pg_catalog.count(*) FILTER (WHERE c.operation = 'UPDATE')::int AS updates,
      pg_catalog.count(*) FILTER (WHERE c.operation = 'DELETE')::int AS deletes,
      pg_catalog.count(*) FILTER (WHERE c.operation = 'TRUNCATE')::int AS truncates,
      pg_catalog.max(c.change_id)::text AS last_change_id,
      (pg_catalog.date_part('epoch', pg_catalog.min(c.change_timestamp)) * 1000)::float8::text AS first_captured_at,
      pg_catalog.array_agg(DISTINCT c.relid) FILTER (WHERE c.operation = 'TRUNCATE')::int8[]::text[] AS truncated
    FROM ${changes} AS c`;
}

/** Each changed key once (equal under the key type's `=`), from a relation of logChanges. */
export function changedKeys(table: ReplicatedTable, changes: string): string {
  const keys = table.logKeyColumns.map((k) => `c.${quoteIdent(k)}`).join(', ');
  return `SELECT DISTINCT ${keys} FROM ${changes} AS c WHERE c.operation <> 'TRUNCATE'`;
}

/** Joins changed keys (alias k) to the table's current row (alias t); t's key columns are NULL when the row is gone. */
export function withRows(table: ReplicatedTable, keys: string): string {
  const match = keysMatch(table.keyColumns, table.primaryKeyOperators, 't', 'k', table.logKeyColumns);
  return `${keys} AS k LEFT JOIN ${quoteQualified(table.table)} AS t ON ${match}`;
}

/** SQL boolean over withRows: the key's row exists in the snapshot. */
export function rowPresent(table: ReplicatedTable): string {
  return `t.${quoteIdent(table.keyColumns[0] as string)} IS NOT NULL`;
}

/** The row (alias t) as the text of a record of the replica's row type (attribute order, NULL for its own columns). */
export function rowRecord(table: ReplicatedTable): string {
  return `ROW(${table.replicaRow.map((c) => (c === null ? 'NULL' : `t.${quoteIdent(c)}`)).join(', ')})::text`;
}

/** The key value of key column i, from the log (alias k). */
export function logKey(table: ReplicatedTable, i: number): string {
  return `k.${quoteIdent(table.logKeyColumns[i] as string)}`;
}
