/**
 * Reads one table's description from a catalog: its columns (generated ones
 * too), types as format_type prints them under the pinned search_path (so
 * every type outside pg_catalog comes schema-qualified), and its primary key.
 * Null when the table does not exist. The same query serves both sides.
 */

import type { Queryable } from '../db/database.js';
import type { QualifiedName } from '../db/quote.js';
import type { ColumnInfo, TableDescription } from './table-model.js';

const DESCRIBE = `
  SELECT c.oid::int8 AS relid, c.relkind = 'p' AS partitioned,
         coalesce((SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.ord)
                   FROM pg_catalog.pg_index i
                   CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS primary_key,
         (SELECT pg_catalog.json_agg(pg_catalog.json_build_object(
                   'attnum', a.attnum,
                   'name', a.attname,
                   'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
                   'baseType', (WITH RECURSIVE b(oid, typmod) AS (
                                  SELECT a.atttypid, a.atttypmod
                                  UNION ALL
                                  SELECT t.typbasetype, t.typtypmod FROM b JOIN pg_catalog.pg_type t ON t.oid = b.oid
                                  WHERE t.typtype = 'd')
                                SELECT pg_catalog.format_type(b.oid, b.typmod) FROM b JOIN pg_catalog.pg_type t ON t.oid = b.oid
                                WHERE t.typtype <> 'd'),
                   'notNull', a.attnotnull,
                   'identityAlways', a.attidentity = 'a',
                   'notNullDomain', ty.typtype = 'd' AND ty.typnotnull,
                   'generatedExpr', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
                   'defaultExpr', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END,
                   'hasMissing', a.atthasmissing,
                   'missingValue', CASE WHEN a.atthasmissing THEN (a.attmissingval::text::text[])[1] END)
                 ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`;

export async function describeTable(client: Queryable, table: QualifiedName): Promise<TableDescription | null> {
  const { rows } = await client.query<{
    relid: string;
    partitioned: boolean;
    primary_key: string[];
    columns: ColumnInfo[] | null;
  }>(DESCRIBE, [table.schema, table.name]);
  const row = rows[0];
  if (!row) return null;
  return {
    table,
    relid: Number(row.relid),
    partitioned: row.partitioned,
    columns: row.columns ?? [],
    primaryKey: row.primary_key,
  };
}

/** Btree strategies: the operators a key column is ordered and compared with. */
export const STRATEGY = { equal: 3, greater: 5 } as const;

/**
 * The qualified operators of the table's unique index's operator classes for
 * `keys` (replicator.key_operator), one per key column; null where a column
 * has none.
 */
export async function keyOperators(
  client: Queryable,
  relid: number,
  keys: readonly string[],
  strategy: number = STRATEGY.equal,
): Promise<Array<string | null>> {
  const { rows } = await client.query<{ op: string | null }>(
    `SELECT replicator.key_operator($1::oid, k, $3) AS op FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS u(k, i) ORDER BY i`,
    [relid, keys, strategy],
  );
  return rows.map((r) => r.op);
}

/** Column sets of the table's unique, non-partial, plain-column indexes (its possible keys). */
export async function uniqueKeys(client: Queryable, relid: number): Promise<string[][]> {
  const { rows } = await client.query<{ key: string[] }>(
    `SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.ord) AS key
     FROM pg_catalog.pg_index i
     CROSS JOIN LATERAL pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
     JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = $1::oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
     GROUP BY i.indexrelid`,
    [relid],
  );
  return rows.map((r) => r.key);
}
