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
 * Every transaction not visible in `from` has an id at or above from's xmin,
 * and every one visible in `to` is below to's xmax: the txid index turns that
 * into a range scan whose cost is the batch, not the log's history. The
 * caller runs this inside its REPEATABLE READ transaction (take-snapshot.ts):
 * the first chunk is a plain query (one round trip for the usual small
 * batch); a larger batch continues through a cursor, sorted once, so memory
 * stays flat however large the batch.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/quote.js';
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

/**
 * The key as JSON text: stored by the capture (row_key), the demo log's
 * user_id, or taken from the row (key names in the text[] parameter `keyNames`).
 */
function keyExpression(table: ReplicatedTable, keyNames: string): string {
  if (table.logKey === 'row_key') return 'row_key::text';
  if (table.logKey !== null) return `json_build_array(${quoteIdent(table.logKey)})::text`;
  return `json_build_array(${table.keyColumns.map((_, i) => `row_data -> (${keyNames}::text[])[${i + 1}]`).join(', ')})::text`;
}

/**
 * The changes of one log between two snapshots (`from` may be NULL), as
 * SELECT columns id, op, row, key, captured_at; snapshot and parameter
 * references are SQL expressions so the query can stand alone or inside the
 * one-round-trip read of read-small-batch.ts.
 */
export function changesBetween(table: ReplicatedTable, from: string, to: string, keyNames: string): string {
  return `
    SELECT change_id::text AS id, operation AS op, row_data::text AS row, ${keyExpression(table, keyNames)} AS key,
           (extract(epoch FROM change_timestamp) * 1000)::float8::text AS captured_at
    FROM ${quoteQualified(table.log)}
    WHERE txid >= coalesce(pg_snapshot_xmin(${from}), '0'::xid8)
      AND txid < pg_snapshot_xmax(${to})
      AND pg_visible_in_snapshot(txid, ${to})
      AND CASE WHEN ${from} IS NULL THEN NOT processed ELSE NOT pg_visible_in_snapshot(txid, ${from}) END`;
}

function batchQuery(table: ReplicatedTable): string {
  return `${changesBetween(table, '$1::pg_snapshot', '$2::pg_snapshot', '$4')} AND change_id > $3::bigint`;
}

export interface ChangeRow {
  id: string;
  op: string;
  row: string | null;
  key: string;
  captured_at: string;
}

let cursorCount = 0;

export async function* readChanges(
  primary: pg.ClientBase,
  table: ReplicatedTable,
  range: SnapshotRange,
  chunkSize: number,
): AsyncGenerator<Change[]> {
  const sql = batchQuery(table);
  const keyParam = table.logKey === null ? [table.keyColumns] : [];
  const params = (after: string) => [range.from, range.to, after, ...keyParam];
  const keyArg = table.logKey === null ? '$5' : '$4';
  const first = await primary.query<ChangeRow>(`${sql} ORDER BY change_id LIMIT ${keyArg}`, [...params('0'), chunkSize]);
  if (first.rows.length === 0) return;
  yield first.rows.map((r) => toChange(table, r));
  if (first.rows.length < chunkSize) return;

  const cursor = quoteIdent(`replicator_batch_${++cursorCount}`);
  const after = first.rows[first.rows.length - 1]?.id ?? '0';
  await primary.query(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql} ORDER BY change_id`, params(after));
  try {
    for (;;) {
      const { rows } = await primary.query<ChangeRow>(`FETCH ${chunkSize} FROM ${cursor}`);
      if (rows.length > 0) yield rows.map((r) => toChange(table, r));
      if (rows.length < chunkSize) return;
    }
  } finally {
    await primary.query(`CLOSE ${cursor}`).catch(() => {});
  }
}

export function toChange(table: ReplicatedTable, r: ChangeRow): Change {
  if (!OPERATIONS.has(r.op) || (r.op !== 'TRUNCATE' && r.row === null)) {
    throw new ReplicatorError(
      'CHANGE_LOG_INVALID',
      `primary: change ${r.id} in ${table.log.name} has operation ${JSON.stringify(r.op)}${r.row === null ? ' and no row_data' : ''}; it was not applied. Fix or delete that row; replication resumes from it`,
    );
  }
  return { id: r.id, op: r.op as Operation, key: r.key, row: r.row, capturedAt: Number(r.captured_at) };
}
