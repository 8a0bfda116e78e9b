/**
 * What the pipeline knows about one replicated table: where its changes are
 * logged on the primary, where they go on the replica, and which columns are
 * copied and which identify a row. Read from both catalogs, checked against
 * each other (checkReplicaTable), never guessed.
 */
import type pg from 'pg';
import type { RegisteredTable } from '../capture/replication-set.js';
import { displayName, type QualifiedName, quoteIdent, quoteQualified } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';

export interface ReplicatedTable {
  /** The table on the primary; the replica's table has the same schema and name. */
  table: QualifiedName;
  /** The change log its capture trigger writes. */
  log: QualifiedName;
  /** Columns copied to the replica (generated columns excluded: the replica computes its own). */
  columns: string[];
  keyColumns: string[];
  /**
   * Where the change log keeps each change's key, so reading a batch need not
   * parse row_data: 'row_key' (logs made by add_table), a column named like a
   * single key column (the demo's user_changes.user_id), or null (parse it).
   */
  logKey: string | null;
  /** Set while the replica needs (or is doing) a full copy; see snapshot/. */
  copyRequestedAt: string | null;
}

interface ColumnRow {
  name: string;
  type: string;
  generated: boolean;
  key: boolean;
  not_null: boolean;
  generated_expr: string | null;
}

// Columns in table order, with their declared type and whether they belong to
// the primary key; dropped and system columns left out.
const TABLE_COLUMNS = `
  SELECT a.attname AS name,
         format_type(a.atttypid, a.atttypmod) AS type,
         a.attgenerated <> '' AS generated,
         a.attnotnull AS not_null,
         coalesce(a.attnum = ANY (i.indkey), false) AS key,
         CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated_expr
  FROM pg_attribute a
  LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
    AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

async function readColumns(client: pg.ClientBase, table: QualifiedName): Promise<ColumnRow[]> {
  const { rows } = await client.query<ColumnRow>(TABLE_COLUMNS, [table.schema, table.name]);
  return rows;
}

export async function describeReplicatedTable(primary: pg.ClientBase, entry: RegisteredTable): Promise<ReplicatedTable> {
  const { table, log } = entry;
  const columns = await readColumns(primary, table);
  if (columns.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: table ${displayName(table)} is in the replication set but does not exist; recreate it, or remove it with \`replicator remove ${displayName(table)}\``,
    );
  }
  const keyColumns = entry.declaredKey ?? columns.filter((c) => c.key).map((c) => c.name);
  if (keyColumns.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: table ${displayName(table)} has no primary key; add one (ALTER TABLE ... ADD PRIMARY KEY (...)), or re-add it naming a unique, not-null key: replicator add ${displayName(table)} --key col1,col2`,
    );
  }
  const logColumns = await readColumns(primary, log);
  if (!logColumns.some((c) => c.name === 'txid')) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: change log ${displayName(log)} is missing or has no txid column; run \`replicator install-primary\``,
    );
  }
  const singleKey = keyColumns.length === 1 ? columns.find((c) => c.name === keyColumns[0]) : undefined;
  const logKey = logColumns.some((c) => c.name === 'row_key')
    ? 'row_key'
    : singleKey && logColumns.some((c) => c.name === singleKey.name && c.type === singleKey.type)
      ? singleKey.name
      : null;
  return {
    table,
    log,
    columns: columns.filter((c) => !c.generated).map((c) => c.name),
    keyColumns,
    logKey,
    copyRequestedAt: entry.copyRequestedAt,
  };
}

/**
 * The replica's table must hold every replicated column with the primary's
 * type and the same key. Extra replica columns are allowed (they keep their
 * defaults), so a replica can add audit columns of its own. With addColumns,
 * a column the primary gained (ALTER TABLE ... ADD COLUMN) is added here too.
 */
export async function checkReplicaTable(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  table: ReplicatedTable,
  options: { addColumns?: boolean } = {},
): Promise<string[]> {
  const [primaryColumns, replicaColumns] = await Promise.all([
    readColumns(primary, table.table),
    readColumns(replica, table.table),
  ]);
  const name = displayName(table.table);
  const added: string[] = [];
  if (replicaColumns.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `replica: table ${name} does not exist; create it with the primary's columns (\`replicator add ${name}\` does), or run \`replicator install-replica\` for the demo table`,
    );
  }
  const onReplica = new Map(replicaColumns.map((c) => [c.name, c]));
  for (const column of primaryColumns.filter((c) => table.columns.includes(c.name))) {
    const match = onReplica.get(column.name);
    if (!match && options.addColumns) {
      await replica.query(
        `ALTER TABLE ${quoteQualified(table.table)} ADD COLUMN IF NOT EXISTS ${quoteIdent(column.name)} ${column.type}`,
      );
      added.push(column.name);
      continue;
    }
    if (!match) {
      throw new ReplicatorError(
        'SCHEMA_MISMATCH',
        `replica: table ${name} has no column ${column.name} (${column.type} on the primary); add it: ALTER TABLE ${quoteQualified(table.table)} ADD COLUMN ${quoteIdent(column.name)} ${column.type} (or set AUTO_ADD_COLUMNS=true)`,
      );
    }
    if (match.type !== column.type) {
      throw new ReplicatorError(
        'SCHEMA_MISMATCH',
        `replica: column ${name}.${column.name} is ${match.type} but ${column.type} on the primary; change the replica's column to ${column.type}`,
      );
    }
  }
  const replicaKey = replicaColumns.filter((c) => c.key).map((c) => c.name);
  const sameKey = [...replicaKey].sort().join(',') === [...table.keyColumns].sort().join(',');
  if (!sameKey && !(await hasUniqueIndexOn(replica, table))) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `replica: table ${name} has primary key (${replicaKey.join(', ') || 'none'}) but rows are identified by (${table.keyColumns.join(', ')}) on the primary; give the replica the same primary key`,
    );
  }
  return added;
}

async function hasUniqueIndexOn(replica: pg.ClientBase, table: ReplicatedTable): Promise<boolean> {
  const { rows } = await replica.query(
    `SELECT 1 FROM pg_index i
     WHERE i.indrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND i.indisunique AND i.indpred IS NULL
       AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
            WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)) = (SELECT array_agg(k ORDER BY k) FROM unnest($3::text[]) k)`,
    [table.table.schema, table.table.name, table.keyColumns],
  );
  return rows.length > 0;
}

/**
 * Creates the replica's table from the primary's definition when it is
 * missing: same schema, name, columns, types, NOT NULLs and key. Types of
 * their own (enums, composites, domains) must exist on the replica first.
 */
export async function createReplicaTable(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  table: ReplicatedTable,
): Promise<boolean> {
  if ((await readColumns(replica, table.table)).length > 0) return false;
  const columns = await readColumns(primary, table.table);
  // Generated columns keep their expression: the replica computes them itself.
  const definition = [
    ...columns.map(
      (c) =>
        `${quoteIdent(c.name)} ${c.type}${c.not_null ? ' NOT NULL' : ''}${c.generated_expr ? ` GENERATED ALWAYS AS (${c.generated_expr}) STORED` : ''}`,
    ),
    `PRIMARY KEY (${table.keyColumns.map(quoteIdent).join(', ')})`,
  ].join(', ');
  try {
    await replica.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(table.table.schema)}`);
    await replica.query(`CREATE TABLE ${quoteQualified(table.table)} (${definition})`);
    // The replicator's login (any role allowed to use schema replicator) may write it.
    const grants = await replica.query<{ sql: string }>(
      `SELECT unnest(ARRAY[format('GRANT USAGE ON SCHEMA %I TO %I', $1::text, r.rolname),
                           format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %I.%I TO %I', $1::text, $2::text, r.rolname)]) AS sql
       FROM pg_roles r
       WHERE has_schema_privilege(r.oid, 'replicator', 'USAGE') AND NOT r.rolsuper AND r.rolname <> current_user`,
      [table.table.schema, table.table.name],
    );
    for (const { sql } of grants.rows) await replica.query(sql);
  } catch (error) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `replica: could not create table ${displayName(table.table)} (${(error as Error).message}); create it yourself with the primary's columns, then run the command again`,
      { cause: error },
    );
  }
  return true;
}
