/**
 * One chunk of a table's existing rows, read on the primary inside a batch's
 * REPEATABLE READ transaction and streamed with COPY (no per-row round trips,
 * memory flat) into a staging table in the same batch's replica transaction.
 * The chunk's rows are therefore as of the same snapshot the batch's changes
 * run up to, and the replica moves to that snapshot in one commit: writes
 * made during the copy are neither lost nor applied twice. A change to a row
 * in a range not copied yet is applied as usual; the later chunk brings the
 * row as of its own, later, snapshot.
 *
 * Chunks follow the primary's key order, compared on the primary only (the
 * replica's collation may differ), and the last key copied is stored with the
 * chunk so a crash resumes after it.
 */
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { quoteIdent, quoteQualified } from '../db/quote.js';
import type { CopyChunk, CopyProgress } from '../source/batch.js';
import { compareTuples } from '../tables/key-comparison.js';
import type { ReplicatedTable } from '../tables/table-model.js';

// COPY takes no parameters: the chunk's bounds travel as settings, read back
// with the table's own row type, so values are never spliced into SQL text.
const SET_BOUNDS = `SELECT pg_catalog.set_config('replicator.copy_after', coalesce($1, ''), true),
  pg_catalog.set_config('replicator.copy_until', coalesce($2, ''), true)`;

function keyRange(table: ReplicatedTable): { after: string; until: string; order: string; keyJson: string } {
  const keys = table.keyColumns.map(quoteIdent);
  const tuple = keys.map((k) => `t.${k}`);
  const bound = (setting: string) =>
    keys.map(
      (k) =>
        `(SELECT b.${k} FROM pg_catalog.json_populate_record(NULL::${quoteQualified(table.table)}, nullif(pg_catalog.current_setting('${setting}'), '')::json) AS b)`,
    );
  const greater = table.primaryKeyGreater;
  const equals = table.primaryKeyOperators;
  // Strict `>` uses the key's > operators; `<=` is built from the same ones (see compareTuples).
  return {
    after: `(pg_catalog.current_setting('replicator.copy_after') = '' OR ${compareTuples(tuple, bound('replicator.copy_after'), greater, equals, true)})`,
    until: `(pg_catalog.current_setting('replicator.copy_until') = '' OR ${compareTuples(tuple, bound('replicator.copy_until'), greater, equals, false)})`,
    order: keys.map((k) => `t.${k}`).join(', '),
    keyJson: `pg_catalog.json_build_object(${table.keyColumns.map((_, i) => `($1::text[])[${i + 1}], t.${keys[i]}`).join(', ')})::text`,
  };
}

export async function estimateRows(primary: pg.ClientBase, table: ReplicatedTable): Promise<number | null> {
  const { rows } = await primary.query<{ n: string | null }>(
    `SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples::int8::text END AS n FROM pg_catalog.pg_class c WHERE c.oid = $1::oid`,
    [table.relid],
  );
  return rows[0]?.n == null ? null : Number(rows[0].n);
}

/** Plans the next chunk after `start` (its last key found now, in the batch's snapshot); rows stream when the apply asks. */
export async function planCopyChunk(
  primary: pg.ClientBase,
  table: ReplicatedTable,
  start: CopyProgress,
  fresh: boolean,
  chunkRows: number,
): Promise<CopyChunk> {
  const range = keyRange(table);
  const target = quoteQualified(table.table);
  await primary.query(SET_BOUNDS, [start.lastKey, null]);
  const last = await primary.query<{ key: string }>(
    `SELECT ${range.keyJson} AS key FROM ${target} AS t WHERE ${range.after} ORDER BY ${range.order} OFFSET $2 LIMIT 1`,
    [table.keyColumns, chunkRows - 1],
  );
  const until = last.rows[0]?.key ?? null;
  const columns = table.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
  return {
    table,
    fresh,
    start,
    until,
    chunkRows,
    async copyInto(sink) {
      await primary.query(SET_BOUNDS, [start.lastKey, until]);
      const sql = `COPY (SELECT true, ${columns} FROM ${target} AS t WHERE ${range.after} AND ${range.until} ORDER BY ${range.order}) TO STDOUT`;
      await pipeline(primary.query(copyTo(sql)), sink);
    },
  };
}
