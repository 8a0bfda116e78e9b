/**
 * Creates the replica's table from the primary's description when it is
 * missing: same schema, name, columns, types, NOT NULLs and key; generated
 * columns keep their expression (the replica computes them). A partitioned
 * primary table becomes one plain table. Types of the user's own (enums,
 * composites, domains, extensions) must exist on the replica first. The
 * replicator's logins (replicator.logins) may write it; no other role.
 */
import type pg from 'pg';
import { displayName, quoteIdent, quoteQualified } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { TableDescription } from './table-model.js';

export async function createReplicaTable(
  replica: pg.ClientBase,
  primary: TableDescription,
  keyColumns: readonly string[],
): Promise<void> {
  const definition = [
    ...primary.columns.map(
      (c) =>
        `${quoteIdent(c.name)} ${c.type}${c.notNull ? ' NOT NULL' : ''}${c.generatedExpr ? ` GENERATED ALWAYS AS (${c.generatedExpr}) STORED` : ''}`,
    ),
    `PRIMARY KEY (${keyColumns.map(quoteIdent).join(', ')})`,
  ].join(', ');
  try {
    await replica.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(primary.table.schema)}`);
    await replica.query(`CREATE TABLE ${quoteQualified(primary.table)} (${definition})`);
    await grantToLogins(replica, primary.table);
  } catch (error) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `replica: could not create table ${displayName(primary.table)} (${(error as Error).message}); create it yourself with the primary's columns, then run the command again`,
      { cause: error },
    );
  }
}

/** Grants the replicator's logins on the replica what they need on one table (recorded for uninstall). */
export async function grantToLogins(replica: pg.ClientBase, table: { schema: string; name: string }): Promise<void> {
  await replica.query('SELECT replicator.grant_table($1, $2, l.role_name) FROM replicator.logins l', [table.schema, table.name]);
}
