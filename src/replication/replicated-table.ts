/**
 * What the pipeline knows about one replicated table: where its changes are
 * logged on the primary, where they go on the replica, and which columns are
 * copied and which identify a row. Read from both catalogs at start, checked
 * against each other (checkReplicaTable), never guessed.
 */
import type pg from 'pg';
import { displayName, type QualifiedName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';

export interface ReplicatedTable {
  /** The table on the primary; the replica's table has the same schema and name. */
  table: QualifiedName;
  /** The change log its capture trigger writes. */
  log: QualifiedName;
  /** Columns copied to the replica (generated columns excluded: the replica computes its own). */
  columns: string[];
  keyColumns: string[];
}

interface ColumnRow {
  name: string;
  type: string;
  generated: boolean;
  key: boolean;
}

// Columns in table order, with their declared type and whether they belong to
// the primary key; dropped and system columns left out.
const TABLE_COLUMNS = `
  SELECT a.attname AS name,
         format_type(a.atttypid, a.atttypmod) AS type,
         a.attgenerated <> '' AS generated,
         coalesce(a.attnum = ANY (i.indkey), false) AS key
  FROM pg_attribute a
  LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
  WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text))
    AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

async function readColumns(client: pg.ClientBase, table: QualifiedName): Promise<ColumnRow[]> {
  const { rows } = await client.query<ColumnRow>(TABLE_COLUMNS, [table.schema, table.name]);
  return rows;
}

export async function describeReplicatedTable(
  primary: pg.ClientBase,
  table: QualifiedName,
  log: QualifiedName,
): Promise<ReplicatedTable> {
  const columns = await readColumns(primary, table);
  if (columns.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: table ${displayName(table)} does not exist; run \`replicator install-primary\` (or PART 1 of db/init.sql)`,
    );
  }
  const keyColumns = columns.filter((c) => c.key).map((c) => c.name);
  if (keyColumns.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: table ${displayName(table)} has no primary key; add one (ALTER TABLE ... ADD PRIMARY KEY (...)) so updates and deletes can find their row`,
    );
  }
  const logColumns = await readColumns(primary, log);
  if (!logColumns.some((c) => c.name === 'txid')) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: change log ${displayName(log)} is missing or has no txid column; run \`replicator install-primary\``,
    );
  }
  return { table, log, columns: columns.filter((c) => !c.generated).map((c) => c.name), keyColumns };
}

/**
 * The replica's table must hold every replicated column with the primary's
 * type and the same primary key. Extra replica columns are allowed (they keep
 * their defaults), so a replica can add audit columns of its own.
 */
export async function checkReplicaTable(primary: pg.ClientBase, replica: pg.ClientBase, table: ReplicatedTable): Promise<void> {
  const [primaryColumns, replicaColumns] = await Promise.all([
    readColumns(primary, table.table),
    readColumns(replica, table.table),
  ]);
  const name = displayName(table.table);
  if (replicaColumns.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `replica: table ${name} does not exist; run \`replicator install-replica\` (or PART 2 of db/init.sql), or create it with the primary's columns`,
    );
  }
  const onReplica = new Map(replicaColumns.map((c) => [c.name, c]));
  for (const column of primaryColumns.filter((c) => table.columns.includes(c.name))) {
    const match = onReplica.get(column.name);
    if (!match) {
      throw new ReplicatorError(
        'SCHEMA_MISMATCH',
        `replica: table ${name} has no column ${column.name} (${column.type} on the primary); add it: ALTER TABLE ${name} ADD COLUMN ${column.name} ${column.type}`,
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
  if (replicaKey.join(',') !== table.keyColumns.join(',')) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `replica: table ${name} has primary key (${replicaKey.join(', ') || 'none'}) but the primary has (${table.keyColumns.join(', ')}); give the replica the same primary key`,
    );
  }
}
