/**
 * Copies one chunk of a table's existing rows from the primary to the
 * replica, streamed with COPY (no per-row round trips, memory flat).
 *
 * It runs inside a batch: the primary side in the batch's REPEATABLE READ
 * transaction, the replica side in the batch's apply transaction, after the
 * batch's changes. The chunk's rows are therefore as of the same snapshot the
 * changes run up to, and the replica moves to that snapshot in one commit:
 * writes made during the copy are neither lost nor applied twice. A change to
 * a row in a range not copied yet is applied as usual; the later chunk brings
 * the row as of its own, later, snapshot.
 *
 * Chunks follow the primary's key order, compared on the primary only (the
 * replica's collation may differ), and the last key copied is stored with the
 * chunk so a crash resumes after it.
 */
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { tableStatements } from '../apply/apply-changes.js';
import { quoteIdent, quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';
import type { CopyProgress } from './copy-progress.js';

// COPY's text format prints values with the session's settings; both ends
// pin the same ones (the replica's apply transaction pins them in beginApply).
const PIN_COPY_SETTINGS = `SELECT set_config('datestyle', 'ISO, MDY', true), set_config('intervalstyle', 'postgres', true),
  set_config('timezone', 'UTC', true), set_config('extra_float_digits', '3', true), set_config('bytea_output', 'hex', true),
  set_config('replicator.copy_after', coalesce($1, ''), true), set_config('replicator.copy_until', coalesce($2, ''), true)`;

function keyRange(table: ReplicatedTable, alias: string): { after: string; until: string; order: string; keyJson: string } {
  const keys = table.keyColumns.map(quoteIdent);
  const tuple = (prefix: string) => `(${keys.map((k) => `${prefix}.${k}`).join(', ')})`;
  // The bound is a JSON object of key values, read back with the table's own
  // row type: values are never spliced into the SQL text (COPY takes no parameters).
  const bound = (setting: string) =>
    `(SELECT ${keys.map((k) => `b.${k}`).join(', ')} FROM json_populate_record(NULL::${quoteQualified(table.table)}, nullif(current_setting('${setting}'), '')::json) AS b)`;
  return {
    after: `(current_setting('replicator.copy_after') = '' OR ${tuple(alias)} > ${bound('replicator.copy_after')})`,
    until: `(current_setting('replicator.copy_until') = '' OR ${tuple(alias)} <= ${bound('replicator.copy_until')})`,
    order: keys.map((k) => `${alias}.${k}`).join(', '),
    keyJson: `json_build_object(${table.keyColumns.map((_, i) => `($1::text[])[${i + 1}], ${alias}.${keys[i]}`).join(', ')})::text`,
  };
}

export async function estimateRows(primary: pg.ClientBase, table: ReplicatedTable): Promise<number | null> {
  const { rows } = await primary.query<{ n: string | null }>(
    `SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint::text END AS n FROM pg_class c
     WHERE c.oid = to_regclass(format('%I.%I', $1::text, $2::text))`,
    [table.table.schema, table.table.name],
  );
  return rows[0]?.n == null ? null : Number(rows[0].n);
}

export async function copyChunk(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  table: ReplicatedTable,
  progress: CopyProgress,
  chunkRows: number,
): Promise<CopyProgress> {
  const target = quoteQualified(table.table);
  const columns = table.columns.map(quoteIdent).join(', ');
  const range = keyRange(table, 't');

  // The chunk's last key, found on the primary (index order, primary collation).
  await primary.query(PIN_COPY_SETTINGS, [progress.lastKey, null]);
  const last = await primary.query<{ key: string }>(
    `SELECT ${range.keyJson} AS key FROM ${target} AS t WHERE ${range.after} ORDER BY ${range.order} OFFSET $2 LIMIT 1`,
    [table.keyColumns, chunkRows - 1],
  );
  const until = last.rows[0]?.key ?? null;
  await primary.query(PIN_COPY_SETTINGS, [progress.lastKey, until]);

  const staging = quoteIdent('replicator_copy');
  await replica.query(`CREATE TEMP TABLE ${staging} ON COMMIT DROP AS SELECT ${columns} FROM ${target} WITH NO DATA`);
  const source = primary.query(
    copyTo(
      `COPY (SELECT ${columns} FROM ${target} AS t WHERE ${range.after} AND ${range.until} ORDER BY ${range.order}) TO STDOUT`,
    ),
  );
  const sink = replica.query(copyFrom(`COPY ${staging} (${columns}) FROM STDIN`));
  await pipeline(source, sink);
  const copied = Number(sink.rowCount ?? 0);

  await replica.query(tableStatements(table).upsertFrom(staging));
  await replica.query(`DROP TABLE ${staging}`);

  return {
    ...progress,
    lastKey: until ?? progress.lastKey,
    rowsCopied: progress.rowsCopied + copied,
    done: until === null || copied < chunkRows,
  };
}

/** A new (or re-requested) copy starts from an empty replica table; see the module comment. */
export async function clearForCopy(replica: pg.ClientBase, table: ReplicatedTable): Promise<void> {
  // DELETE, not TRUNCATE: other replica tables may reference this one, and
  // under session_replication_role = replica their foreign keys do not fire.
  await replica.query(`DELETE FROM ${quoteQualified(table.table)}`);
}
