/**
 * AUTO_ADD_COLUMNS: a column the primary gained is added to the replica's
 * table with the value the primary's existing rows hold. Rows that predate
 * ADD COLUMN ... DEFAULT <constant> read PostgreSQL's stored "missing value":
 * the replica's column is added with that same value. A column added to a
 * table with a volatile default (each existing row got its own value) cannot
 * be reproduced that way: then the table is copied afresh.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/quote.js';
import type { ColumnInfo, TableDescription } from './table-model.js';

export interface AddedColumns {
  added: string[];
  /** Existing rows' values of some column are unknown on the replica: copy the table. */
  needsCopy: boolean;
}

export async function addMissingColumns(
  replica: pg.ClientBase,
  primary: TableDescription,
  missing: readonly ColumnInfo[],
): Promise<AddedColumns> {
  const target = quoteQualified(primary.table);
  let needsCopy = false;
  for (const column of missing) {
    const name = quoteIdent(column.name);
    if (column.hasMissing && column.missingValue !== null) {
      await replica.query(
        `ALTER TABLE ${target} ADD COLUMN ${name} ${column.type} DEFAULT ${literal(column.missingValue)}::${column.type}`,
      );
      await replica.query(`ALTER TABLE ${target} ALTER COLUMN ${name} DROP DEFAULT`);
    } else {
      await replica.query(`ALTER TABLE ${target} ADD COLUMN ${name} ${column.type}`);
      // No missing value but a default: added with a volatile default (a rewrite), or set later.
      if (column.defaultExpr !== null) needsCopy = true;
    }
  }
  return { added: missing.map((c) => c.name), needsCopy };
}

const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
