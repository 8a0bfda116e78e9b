/**
 * Holds the replica's table against the primary's: every replicated column
 * present with the same type, a unique index on exactly the key, nothing the
 * apply cannot write. A mismatch is one message naming the table, the column
 * and the fix; it pauses replication until both sides agree, never a guess.
 * Extra replica columns are allowed (they keep their defaults).
 */
import { displayName, quoteIdent, quoteQualified } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { ColumnInfo, TableDescription } from './table-model.js';

/** The primary's columns the replica lacks (for AUTO_ADD_COLUMNS), after every other check passed. */
export function checkReplicaTable(
  primary: TableDescription,
  replica: TableDescription | null,
  keyColumns: readonly string[],
  replicaUniqueKeys: readonly string[][],
): ColumnInfo[] {
  const name = displayName(primary.table);
  const target = quoteQualified(primary.table);
  if (!replica) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `replica: table ${name} does not exist; create it with the primary's columns (\`replicator add ${name}\` does)`,
    );
  }
  const onReplica = new Map(replica.columns.map((c) => [c.name, c]));
  const onPrimary = new Map(primary.columns.map((c) => [c.name, c]));
  const missing: ColumnInfo[] = [];
  for (const column of primary.columns.filter((c) => c.generatedExpr === null)) {
    const match = onReplica.get(column.name);
    if (!match) {
      missing.push(column);
      continue;
    }
    if (match.type !== column.type) {
      throw new ReplicatorError(
        'SCHEMA_MISMATCH',
        `replica: column ${name}.${column.name} is ${match.type} but ${column.type} on the primary; change the replica's column: ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} TYPE ${column.type}`,
      );
    }
    if (match.generatedExpr !== null) {
      throw new ReplicatorError(
        'SCHEMA_MISMATCH',
        `replica: column ${name}.${column.name} is generated on the replica but not on the primary, so the primary's values cannot be written; make it a plain column: ALTER TABLE ${target} ALTER COLUMN ${quoteIdent(column.name)} DROP EXPRESSION`,
      );
    }
  }
  for (const own of replica.columns.filter((c) => !onPrimary.has(c.name) && c.notNullDomain)) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `replica: column ${name}.${own.name} is not on the primary and its type ${own.type} is a NOT NULL domain, which rows from the primary cannot fill; give it a nullable type or drop it`,
    );
  }
  const sortedKey = [...keyColumns].sort().join(',');
  if (!replicaUniqueKeys.some((k) => [...k].sort().join(',') === sortedKey)) {
    const replicaKey = replica.primaryKey.join(', ') || 'none';
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `replica: table ${name} has primary key (${replicaKey}) but rows are identified by (${keyColumns.join(', ')}) on the primary; give the replica the same key (ALTER TABLE ${target} ADD PRIMARY KEY (${keyColumns.map(quoteIdent).join(', ')}), or a unique index on those columns)`,
    );
  }
  return missing;
}

/** The error for columns the replica lacks when they may not be added automatically. */
export function missingColumnsError(primary: TableDescription, replica: TableDescription, missing: ColumnInfo[]): Error {
  const name = displayName(primary.table);
  const target = quoteQualified(primary.table);
  const column = missing[0] as ColumnInfo;
  const onPrimary = new Set(primary.columns.map((c) => c.name));
  // A replica column the primary no longer has, of the same type: most likely a rename.
  const renamed = replica.columns.find((c) => !onPrimary.has(c.name) && c.type === column.type);
  const rename = renamed
    ? `; if it is ${renamed.name} renamed on the primary, rename it here: ALTER TABLE ${target} RENAME COLUMN ${quoteIdent(renamed.name)} TO ${quoteIdent(column.name)}`
    : '';
  return new ReplicatorError(
    'SCHEMA_MISMATCH',
    `replica: table ${name} has no column ${column.name} (${column.type} on the primary); add it: ALTER TABLE ${target} ADD COLUMN ${quoteIdent(column.name)} ${column.type} (or set AUTO_ADD_COLUMNS=true)${rename}`,
  );
}
