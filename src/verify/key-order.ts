/**
 * Whether both servers order a table's key the same way. Ranges are cut on
 * one server and the same bound values are compared on both, so a text key
 * must sort the same on both sides for a range to hold the same rows there.
 *
 * The assumption is checked, not made: each text-like key column's collation
 * (the database default resolved to the database's locale) is compared
 * between the servers: provider, locale, ICU rules, determinism and recorded
 * version. Byte-order collations (C, POSIX, the builtin provider) agree with
 * each other. A key column whose collation differs is compared with
 * COLLATE "C" on both servers: correct whatever the collations, but the key's
 * index (in the column's own collation) no longer serves the ranges, so such
 * a table verifies more slowly.
 *
 * Correctness does not rest on this alone: every difference a range turns up
 * is confirmed by looking its key up by equality on both servers.
 */
import type pg from 'pg';
import type { ReplicatedTable } from '../tables/table-model.js';

type CatalogRow = Record<string, unknown>;

export interface ColumnCollation {
  /** Orders by bytes (or code points): C, POSIX, the builtin provider. */
  bytewise: boolean;
  /** Everything that decides the order, for comparing two servers. */
  fingerprint: string;
}

/** A column's effective collation from its pg_collation row (null: not collatable) and the database's pg_database row. */
export function columnCollation(collation: CatalogRow | null, database: CatalogRow): ColumnCollation | null {
  if (!collation) return null;
  const isDefault = collation.collprovider === 'd';
  const source = isDefault
    ? {
        provider: database.datlocprovider ?? 'c',
        collate: database.datcollate ?? null,
        locale: database.datlocale ?? database.daticulocale ?? null,
        rules: database.daticurules ?? null,
        version: database.datcollversion ?? null,
        deterministic: true,
      }
    : {
        provider: collation.collprovider ?? 'c',
        collate: collation.collcollate ?? null,
        locale: collation.colllocale ?? collation.colliculocale ?? null,
        rules: collation.collicurules ?? null,
        version: collation.collversion ?? null,
        deterministic: collation.collisdeterministic ?? true,
      };
  const bytewise = source.provider === 'b' || (source.provider === 'c' && (source.collate === 'C' || source.collate === 'POSIX'));
  return {
    bytewise,
    fingerprint: JSON.stringify([
      source.provider,
      source.collate,
      source.locale,
      source.rules,
      source.version,
      source.deterministic,
    ]),
  };
}

export function sameOrder(primary: ColumnCollation | null, replica: ColumnCollation | null): boolean {
  if (primary === null || replica === null) return primary === replica;
  return (primary.bytewise && replica.bytewise) || primary.fingerprint === replica.fingerprint;
}

const KEY_COLLATIONS = `
  SELECT a.attname AS name, to_jsonb(c) AS collation, to_jsonb(d) AS database
  FROM pg_attribute a
  LEFT JOIN pg_collation c ON c.oid = a.attcollation
  JOIN pg_database d ON d.datname = current_database()
  WHERE a.attrelid = to_regclass(format('%I.%I', $1::text, $2::text)) AND a.attname = ANY ($3::text[])
    AND a.attnum > 0 AND NOT a.attisdropped`;

async function keyCollations(client: pg.ClientBase, table: ReplicatedTable): Promise<Map<string, ColumnCollation | null>> {
  const { rows } = await client.query<{ name: string; collation: CatalogRow | null; database: CatalogRow }>(KEY_COLLATIONS, [
    table.table.schema,
    table.table.name,
    table.keyColumns,
  ]);
  return new Map(rows.map((r) => [r.name, columnCollation(r.collation, r.database)]));
}

/** The key columns to compare with COLLATE "C": those the two servers may order differently. */
export async function keyColumnsToCollateC(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  table: ReplicatedTable,
): Promise<Set<string>> {
  const [onPrimary, onReplica] = await Promise.all([keyCollations(primary, table), keyCollations(replica, table)]);
  return new Set(table.keyColumns.filter((k) => !sameOrder(onPrimary.get(k) ?? null, onReplica.get(k) ?? null)));
}
