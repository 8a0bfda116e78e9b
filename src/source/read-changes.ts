/**
 * Reads one batch of changes from a change log, in change-id order, as chunks.
 *
 * Invariant: a batch is exactly the changes whose transactions are visible in
 * snapshot `to` and were not visible in snapshot `from` (the PgQ technique).
 * A transaction that took its change ids early but committed late is simply
 * not visible yet and lands in a later batch; nothing is skipped, and one
 * primary transaction is never split across two batches. `from` is null only
 * before the first batch ever: then every unprocessed visible change counts.
 *
 * Chunks keep memory flat however large the batch (keyset pagination on
 * change_id, served by the partial index of unprocessed changes).
 */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

export type Operation = 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';

export interface Change {
  id: string;
  op: Operation;
  /** The row's key as JSON text; equal keys have equal text (same output functions). */
  key: string;
  /** The row image as JSON text, never parsed in JS. Null for TRUNCATE. */
  row: string | null;
  /** When the change was captured, ms since epoch (primary clock), for lag figures. */
  capturedAt: number;
}

export interface SnapshotRange {
  from: string | null;
  to: string;
}

const OPERATIONS = new Set<string>(['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);

export const TAKE_SNAPSHOT = 'SELECT pg_current_snapshot()::text AS snapshot';

function readChunkSql(table: ReplicatedTable): string {
  // Key column names are JSON field names here, passed as parameter $5.
  const key = table.keyColumns.map((_, i) => `row_data -> ($5::text[])[${i + 1}]`).join(', ');
  return `
    SELECT change_id::text AS id, operation AS op, row_data::text AS row,
           json_build_array(${key})::text AS key,
           (extract(epoch FROM change_timestamp) * 1000)::float8::text AS captured_at
    FROM ${quoteQualified(table.log)}
    WHERE NOT processed
      AND change_id > $3
      AND pg_visible_in_snapshot(txid, $2::pg_snapshot)
      AND ($1::pg_snapshot IS NULL OR NOT pg_visible_in_snapshot(txid, $1::pg_snapshot))
    ORDER BY change_id
    LIMIT $4`;
}

interface ChangeRow {
  id: string;
  op: string;
  row: string | null;
  key: string;
  captured_at: string;
}

export async function* readChanges(
  primary: pg.ClientBase | pg.Pool,
  table: ReplicatedTable,
  range: SnapshotRange,
  chunkSize: number,
): AsyncGenerator<Change[]> {
  const sql = readChunkSql(table);
  let after = '0';
  for (;;) {
    const { rows } = await primary.query<ChangeRow>(sql, [range.from, range.to, after, chunkSize, table.keyColumns]);
    if (rows.length === 0) return;
    yield rows.map((r) => toChange(table, r));
    if (rows.length < chunkSize) return;
    after = rows[rows.length - 1]?.id ?? after;
  }
}

function toChange(table: ReplicatedTable, r: ChangeRow): Change {
  if (!OPERATIONS.has(r.op) || (r.op !== 'TRUNCATE' && r.row === null)) {
    throw new ReplicatorError(
      'CHANGE_LOG_INVALID',
      `primary: change ${r.id} in ${table.log.name} has operation ${JSON.stringify(r.op)}${r.row === null ? ' and no row_data' : ''}; it was not applied. Fix or delete that row; replication resumes from it`,
    );
  }
  return { id: r.id, op: r.op as Operation, key: r.key, row: r.row, capturedAt: Number(r.captured_at) };
}
