/**
 * The staging table a streamed batch or a copy chunk lands in on the replica:
 * a temporary table dropped at commit, with an upsert flag and every
 * replicated column under its base type (a key-only row's NULLs must fit
 * where a NOT NULL domain would refuse them; the apply casts back on insert).
 * Always named through pg_temp, never resolved by search_path. Ordered
 * staging (the WAL source) also has each line's number and the columns its
 * UPDATE left unchanged.
 */
import { quoteIdent } from '../db/quote.js';
import type { ReplicatedTable } from './table-model.js';

/** The flag column: true for a row to upsert, false for a key to delete. */
export const UPSERT_FLAG = quoteIdent('replicator:upsert');

/** Ordered staging (StagedRows.ordered): the line's number; a key's highest counts. */
export const SEQUENCE_COLUMN = quoteIdent('replicator:seq');

/** Ordered staging: the columns an UPDATE left out as unchanged (TOAST), filled in on the replica before the apply. */
export const UNCHANGED_COLUMN = quoteIdent('replicator:unchanged');

/** Ordered staging: a row whose key an UPDATE changed names its old key here (its unchanged values are the old row's). */
export const fromKeyColumn = (key: string): string => quoteIdent(`replicator:from:${key}`);

export interface StagingTable {
  /** pg_temp.<name> */
  relation: string;
  create: string;
  /** COPY ... FROM STDIN into it, columns in the order the primary sends them. */
  copyFrom: string;
}

/** The columns a staging line has before the table's own, in line order (ordered: number, unchanged, old keys; then the flag). */
function prefixColumns(table: ReplicatedTable, ordered: boolean): string[] {
  return [...(ordered ? [SEQUENCE_COLUMN, UNCHANGED_COLUMN, ...table.keyColumns.map(fromKeyColumn)] : []), UPSERT_FLAG];
}

/** How many fields a staging line has before the table's columns. */
export function stagingPrefixFields(table: ReplicatedTable, ordered: boolean): number {
  return prefixColumns(table, ordered).length;
}

export function stagingTable(table: ReplicatedTable, name: string, ordered = false): StagingTable {
  const relation = `pg_temp.${quoteIdent(name)}`;
  const columns = table.columns.map((c) => `${quoteIdent(c.name)} ${c.baseType}`);
  const baseType = (k: string) => table.columns.find((c) => c.name === k)?.baseType ?? 'text';
  const sequence = ordered
    ? [
        `${SEQUENCE_COLUMN} int8 NOT NULL`,
        `${UNCHANGED_COLUMN} text[]`,
        ...table.keyColumns.map((k) => `${fromKeyColumn(k)} ${baseType(k)}`),
      ]
    : [];
  return {
    relation,
    create: `CREATE TEMP TABLE ${quoteIdent(name)} (${[...sequence, `${UPSERT_FLAG} boolean NOT NULL`, ...columns].join(', ')}) ON COMMIT DROP`,
    copyFrom: `COPY ${relation} (${[...prefixColumns(table, ordered), ...table.columns.map((c) => quoteIdent(c.name))].join(', ')}) FROM STDIN`,
  };
}
