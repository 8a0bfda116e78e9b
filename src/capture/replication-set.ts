import type { Database } from '../db/database.js';
import { type DdlOptions, ddlTransaction } from '../db/ddl-transaction.js';
import { displayName, type QualifiedName, quoteQualified } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import { createReplicaTable, grantToLogins } from '../tables/create-replica-table.js';
import { describeTable, uniqueKeys } from '../tables/describe-table.js';
import { checkReplicaTable, missingColumnsError } from '../tables/match-tables.js';
import { type RegistryEntry, readRegistry, sameTable } from '../tables/registry.js';
import { checkReplicaIdentity } from './check-replica-identity.js';
import { followPublication } from './logical-capture.js';
import { publicationExists } from './publication.js';

/**
 * Resolves a user's table name: schema.table, quoted identifiers allowed
 * (parse_ident's rules); without a schema, public. Sessions pin search_path,
 * so names are never looked up through it.
 */
export async function resolveTable(primary: Database, name: string): Promise<QualifiedName> {
  const { rows } = await primary
    .query<{ schema: string; name: string }>(
      `SELECT n.nspname AS schema, c.relname AS name
     FROM (SELECT pg_catalog.parse_ident($1) AS p) AS i
     JOIN pg_catalog.pg_namespace n ON n.nspname = CASE WHEN pg_catalog.cardinality(i.p) = 2 THEN i.p[1] ELSE 'public' END
     JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = i.p[pg_catalog.cardinality(i.p)]
     WHERE pg_catalog.cardinality(i.p) <= 2`,
      [name],
    )
    .catch(() => ({ rows: [] as Array<{ schema: string; name: string }> }));
  const found = rows[0];
  if (!found) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: table ${name} does not exist; check the name (schema.table; quote names with capitals or spaces: '"My Schema"."My Table"')`,
    );
  }
  return found;
}

export interface AddResult {
  entry: RegistryEntry;
  /** Created on the replica by this add. */
  created: boolean;
  /** Already in the set: nothing changed. */
  existed: boolean;
}

export async function addTable(
  primary: Database,
  replica: Database,
  name: string,
  declaredKey?: string[],
  ddl: DdlOptions = {},
): Promise<AddResult> {
  const table = await resolveTable(primary, name);
  const description = await describeTable(primary, table);
  if (!description) throw new ReplicatorError('SCHEMA_MISSING', `primary: ${name} is not a table`);
  const existing = (await readRegistry(primary)).find((e) => sameTable(e.table, table));
  const keys = declaredKey ?? description.primaryKey;
  if (keys.length === 0) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: table ${table.schema}.${table.name} has no primary key; add one (ALTER TABLE ${quoteQualified(table)} ADD PRIMARY KEY (...)), or name a unique, not-null column set to use as the key: replicator add ${displayName(table)} --key col1,col2`,
    );
  }
  // Where logical mode is in use, a table joins the publication only with an identity that carries its key.
  if ((!existing || existing.relid !== description.relid) && (await publicationExists(primary))) {
    await checkReplicaIdentity(primary, table, description.relid, keys);
  }
  const created = await replica.session(async (client) => {
    let replicaTable = await describeTable(client, table);
    let made = false;
    if (!replicaTable) {
      await ddlTransaction(client, () => createReplicaTable(client, description, keys), ddl);
      replicaTable = await describeTable(client, table);
      made = true;
    } else {
      await grantToLogins(client, table);
    }
    const missing = checkReplicaTable(
      description,
      replicaTable,
      keys,
      await uniqueKeys(client, (replicaTable as { relid: number }).relid),
    );
    if (missing.length > 0) throw missingColumnsError(description, replicaTable as NonNullable<typeof replicaTable>, missing);
    return made;
  });
  if (existing && existing.relid === description.relid) return { entry: existing, created, existed: true };
  await primary.session((client) =>
    ddlTransaction(
      client,
      (c) =>
        c
          .query('SELECT replicator.add_table($1::oid::regclass, $2::text[])', [description.relid, declaredKey ?? null])
          .catch((error: { code?: string; message?: string; hint?: string }) => {
            if (error.code === 'P0001') {
              throw new ReplicatorError('SCHEMA_MISMATCH', `primary: ${error.message}; ${error.hint ?? ''}`.trim());
            }
            throw error;
          }),
      ddl,
    ),
  );
  const entry = (await readRegistry(primary)).find((e) => sameTable(e.table, table));
  if (!entry) throw new Error(`add_table did not register ${displayName(table)}`);
  await followPublication(primary);
  return { entry, created, existed: false };
}

/** Drops the table's capture and pending changes; the replica keeps its rows. False when it was not in the set. */
export async function removeTable(primary: Database, table: QualifiedName, ddl: DdlOptions = {}): Promise<boolean> {
  const removed = await primary.session((client) =>
    ddlTransaction(
      client,
      async (c) => {
        const { rows } = await c.query<{ removed: boolean }>('SELECT replicator.remove_table($1, $2) AS removed', [
          table.schema,
          table.name,
        ]);
        return rows[0]?.removed === true;
      },
      ddl,
    ),
  );
  if (removed) await followPublication(primary);
  return removed;
}

/**
 * Asks the running replicator to copy the table afresh (it empties the
 * replica's table and copies it while changes keep flowing), reinstalling
 * the capture first when it is broken. Null when the table is not in the set.
 */
export async function resyncTable(primary: Database, table: QualifiedName, ddl: DdlOptions = {}): Promise<string | null> {
  const at = await primary.session((client) =>
    ddlTransaction(
      client,
      async (c) => {
        const { rows } = await c.query<{ at: string | null }>(
          `SELECT pg_catalog.to_char(replicator.resync_table($1, $2) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at`,
          [table.schema, table.name],
        );
        return rows[0]?.at ?? null;
      },
      ddl,
    ),
  );
  if (at !== null) await followPublication(primary);
  return at;
}

/** Registered tables, by schema and name (removed ones too, on request). */
export function listTables(primary: Database, options: { removed?: boolean } = {}): Promise<RegistryEntry[]> {
  return readRegistry(primary, options);
}
