/**
 * The SQL that writes one table's share of a batch on the replica, set-based
 * whatever the number of rows: one DELETE for keys that end deleted, one
 * INSERT ... ON CONFLICT for rows that end present. The rows come from a FROM
 * item: inline array parameters (parsed by the replica's own input functions)
 * or a staging table. Every function and operator is schema-qualified (key
 * comparisons use the key's own equality operator, found in the catalog), so
 * nothing another role creates is ever called.
 *
 * The upsert also sets the key columns: a key equal under `=` but spelled
 * differently (numeric 1.0 and 1.00, citext, -0 and 0) takes the primary's
 * spelling instead of keeping the replica's old one.
 */
import { quoteIdent, quoteQualified } from '../db/quote.js';
import { keysMatch } from '../tables/key-comparison.js';
import { fromKeyColumn, SEQUENCE_COLUMN, UNCHANGED_COLUMN, UPSERT_FLAG } from '../tables/staging-table.js';
import type { ReplicatedTable } from '../tables/table-model.js';

/** Where a statement reads its rows: `upserts` (alias r, replicated columns) and `deletes` (alias d, key columns). */
export interface RowsFrom {
  upserts: string;
  deletes: string;
}

/** Inline rows: a `<table>[]` parameter and one `<key type>[]` parameter per key column. */
export function inlineRows(table: ReplicatedTable, upsertsParam: string, deleteParams: readonly string[]): RowsFrom {
  const keys = table.keyColumns.map(quoteIdent).join(', ');
  // ROWS FROM: a qualified unnest takes one array (only a bare unnest(a, b) is zipped for you).
  const arrays = deleteParams.map((p, i) => `pg_catalog.unnest(${p}::${table.keyTypes[i]}[])`).join(', ');
  return {
    upserts: `pg_catalog.unnest(${upsertsParam}::${quoteQualified(table.table)}[]) AS r`,
    deletes: `ROWS FROM (${arrays}) AS d(${keys})`,
  };
}

/** Keys as a JSON array of key objects (verify's repair), read back with the table's own row type. */
export function jsonKeys(table: ReplicatedTable, param: string): RowsFrom {
  return {
    upserts: 'NULL',
    deletes: `pg_catalog.json_array_elements(${param}::json) AS e, pg_catalog.json_populate_record(NULL::${quoteQualified(table.table)}, e.value) AS d`,
  };
}

/**
 * Rows in a staging table (tables/staging-table.ts). Ordered staging may
 * name a key several times: each key's highest-numbered line is its final
 * state (keys grouped by their type's default equality, as on the primary).
 */
export function stagedRows(table: ReplicatedTable, relation: string, ordered = false): RowsFrom {
  const keys = table.keyColumns.map(quoteIdent).join(', ');
  const last = ordered
    ? `(SELECT DISTINCT ON (${keys}) * FROM ${relation} AS o ORDER BY ${keys}, o.${SEQUENCE_COLUMN} DESC)`
    : relation;
  return {
    upserts: `(SELECT * FROM ${last} AS s WHERE s.${UPSERT_FLAG}) AS r`,
    deletes: `(SELECT ${keys} FROM ${last} AS s WHERE NOT s.${UPSERT_FLAG}) AS d`,
  };
}

/**
 * Ordered staging: fills in each value an UPDATE left out as unchanged (a
 * TOASTed value the WAL does not repeat). Its value is the row's as it was
 * before that UPDATE: the key's (for a row whose key changed, the old key's)
 * latest earlier upsert line in the batch, else the replica's row, which
 * holds every earlier change (this batch's copy chunks and clears came
 * first). One pass fills every line whose earlier line is complete; the
 * caller repeats it until a pass fills none, so chains of such UPDATEs in
 * one batch resolve in order. Run before the rows are applied.
 *
 * With neither (`leaveOut`, repeated until it drops none, before the
 * passes, which then never look for a row that is not there), the value is nowhere on
 * the replica, and the line is dropped rather than applied with NULL (a
 * wrong row, or a NOT NULL violation refusing every batch after it): the
 * row is in a range an initial copy has not reached yet, and its chunk
 * brings the row whole; or, with no copy, the replica already lacked the row
 * (the caller reports it). A later UPDATE of the key in the batch then finds
 * no earlier line either, and is dropped by the next round.
 */
const LINE = quoteIdent('replicator:line');
const PREVIOUS = quoteIdent('replicator:previous');

export function resolveUnchanged(table: ReplicatedTable, relation: string): { index: string[]; leaveOut: string; pass: string } {
  const keys = table.keyColumns.map(quoteIdent);
  const source = table.keyColumns.map(
    (k) =>
      `CASE WHEN q.${fromKeyColumn(table.keyColumns[0] as string)} IS NULL THEN q.${quoteIdent(k)} ELSE q.${fromKeyColumn(k)} END AS ${quoteIdent(k)}`,
  );
  const previous = `(SELECT p.${SEQUENCE_COLUMN} FROM ${relation} AS p
      WHERE ${keyMatch(table, 'p', 'src')} AND p.${SEQUENCE_COLUMN} < q.${SEQUENCE_COLUMN} AND p.${UPSERT_FLAG}
      ORDER BY p.${SEQUENCE_COLUMN} DESC LIMIT 1)`;
  const set = table.columns
    .filter((c) => !table.keyColumns.includes(c.name))
    .map((c) => {
      const column = quoteIdent(c.name);
      const name = `'${c.name.replace(/'/g, "''")}'`;
      const before = `CASE WHEN x.${PREVIOUS} IS NULL
          THEN (SELECT t.${column}::${c.baseType} FROM ${quoteQualified(table.table)} AS t WHERE ${keyMatch(table, 't', 'x')})
          ELSE (SELECT p.${column} FROM ${relation} AS p WHERE p.${SEQUENCE_COLUMN} OPERATOR(pg_catalog.=) x.${PREVIOUS}) END`;
      return `${column} = CASE WHEN ${name} OPERATOR(pg_catalog.=) ANY (s.${UNCHANGED_COLUMN}) THEN ${before} ELSE s.${column} END`;
    });
  const lines = `(SELECT q.${SEQUENCE_COLUMN} AS ${LINE}, src.*, ${previous} AS ${PREVIOUS}
            FROM ${relation} AS q, LATERAL (SELECT ${source.join(', ')}) AS src
            WHERE q.${UNCHANGED_COLUMN} IS NOT NULL) AS x`;
  return {
    index: [
      `CREATE INDEX ON ${relation} (${keys.join(', ')}, ${SEQUENCE_COLUMN})`,
      `CREATE INDEX ON ${relation} (${SEQUENCE_COLUMN})`,
    ],
    leaveOut: `DELETE FROM ${relation} AS s USING ${lines}
      WHERE s.${SEQUENCE_COLUMN} OPERATOR(pg_catalog.=) x.${LINE} AND x.${PREVIOUS} IS NULL
        AND NOT EXISTS (SELECT FROM ${quoteQualified(table.table)} AS t WHERE ${keyMatch(table, 't', 'x')})`,
    pass: `UPDATE ${relation} AS s SET ${[...set, `${UNCHANGED_COLUMN} = NULL`].join(', ')}
      FROM ${lines}
      WHERE s.${SEQUENCE_COLUMN} OPERATOR(pg_catalog.=) x.${LINE}
        AND (x.${PREVIOUS} IS NULL
             OR (SELECT p.${UNCHANGED_COLUMN} IS NULL FROM ${relation} AS p WHERE p.${SEQUENCE_COLUMN} OPERATOR(pg_catalog.=) x.${PREVIOUS}))`,
  };
}

const keyMatch = (table: ReplicatedTable, left: string, right: string) =>
  keysMatch(table.keyColumns, table.replicaKeyOperators, left, right);

/** `also`: further FROM items (e.g. the moved position, so nothing is written unless it moved). */
export function deleteRows(table: ReplicatedTable, from: RowsFrom, also = ''): string {
  return `DELETE FROM ${quoteQualified(table.table)} AS t USING ${from.deletes}${also} WHERE ${keyMatch(table, 't', 'd')}`;
}

function insertFrom(table: ReplicatedTable, relation: string): string {
  const columns = table.columns.map((c) => quoteIdent(c.name));
  // OVERRIDING SYSTEM VALUE: a replica column GENERATED ALWAYS AS IDENTITY still takes the primary's value.
  return `INSERT INTO ${quoteQualified(table.table)} AS t (${columns.join(', ')}) OVERRIDING SYSTEM VALUE
    SELECT ${columns.map((c) => `r.${c}`).join(', ')} FROM ${relation}`;
}

/** COPY straight into the replica table, the columns in staging order (identity columns take the given values, as OVERRIDING SYSTEM VALUE). */
export function copyIntoTable(table: ReplicatedTable): string {
  return `COPY ${quoteQualified(table.table)} (${table.columns.map((c) => quoteIdent(c.name)).join(', ')}) FROM STDIN`;
}

/**
 * `skipIdentical`: a row the replica already holds, byte for byte, is left
 * alone (an initial copy meets many rows the change stream already brought;
 * rewriting them would only churn the replica and fire its ALWAYS triggers).
 */
export function upsertRows(table: ReplicatedTable, from: RowsFrom, also = '', options: { skipIdentical?: boolean } = {}): string {
  const keys = table.keyColumns.map(quoteIdent).join(', ');
  const columns = table.columns.map((c) => quoteIdent(c.name));
  const set = table.updateColumns.map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`).join(', ');
  const changed = options.skipIdentical
    ? ` WHERE ROW(${columns.map((c) => `t.${c}`).join(', ')})::text IS DISTINCT FROM ROW(${columns.map((c) => `EXCLUDED.${c}`).join(', ')})::text`
    : '';
  return `${insertFrom(table, `${from.upserts}${also}`)} ON CONFLICT (${keys}) DO UPDATE SET ${set}${changed}`;
}

/**
 * For a unique value moved between rows inside one primary transaction: upserts
 * row by row would collide on the intermediate state, so every touched key is
 * deleted first (deleteTouched), then the final rows inserted (insertRows).
 */
export function deleteTouched(table: ReplicatedTable, from: RowsFrom): string {
  const keys = table.keyColumns.map(quoteIdent).join(', ');
  const touched = `(SELECT ${table.keyColumns.map((k) => `r.${quoteIdent(k)}`).join(', ')} FROM ${from.upserts}
    UNION ALL SELECT ${keys} FROM ${from.deletes}) AS d`;
  return deleteRows(table, { ...from, deletes: touched });
}

export function insertRows(table: ReplicatedTable, from: RowsFrom): string {
  return insertFrom(table, from.upserts);
}

/**
 * Empties the replica's table for a TRUNCATE: TRUNCATE ignores
 * session_replication_role, so a table other tables reference is emptied
 * with DELETE instead (their foreign keys do not fire under it).
 */
export function clearAll(table: ReplicatedTable, referenced: boolean): string {
  return referenced ? `DELETE FROM ${quoteQualified(table.table)}` : `TRUNCATE ${quoteQualified(table.table)}`;
}

/** Rows of truncated partitions: their partition constraints, over the table's columns. */
export function clearWhere(table: ReplicatedTable, conditions: readonly string[]): string {
  return `DELETE FROM ${quoteQualified(table.table)} WHERE ${conditions.map((c) => `(${c})`).join(' OR ')}`;
}

/**
 * Ordered staging: the lines a TRUNCATE of a partition removed (numbered
 * before it, their row in the partition: its constraint over the staged
 * columns, which carry the table's names). Parameter $1: the TRUNCATE's number.
 */
export function dropTruncatedLines(relation: string, condition: string): string {
  return `DELETE FROM ${relation} WHERE ${SEQUENCE_COLUMN} OPERATOR(pg_catalog.<) $1::int8 AND (${condition})`;
}

/** Whether foreign keys of other tables reference it (then TRUNCATE would fail). */
export const IS_REFERENCED = `SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint c
  WHERE c.confrelid = pg_catalog.to_regclass($1) AND c.contype = 'f' AND c.conrelid <> c.confrelid) AS referenced`;
