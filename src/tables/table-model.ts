/**
 * The table model every stage shares: what the primary and the replica agree
 * a replicated table is. It is built from both catalogs (describe-table.ts,
 * match-tables.ts), never guessed, and rebuilt whenever the primary's schema
 * fingerprint changes, so rows are always read and written with the columns
 * both sides have now.
 */
import type { QualifiedName } from '../db/quote.js';

/** One column as a catalog describes it (format_type names are schema-qualified under the pinned search_path). */
export interface ColumnInfo {
  attnum: number;
  name: string;
  /** The declared type, e.g. `numeric(10,2)`, `public.ltree`. */
  type: string;
  /** The type under any domains, for staging tables that also hold key-only rows. */
  baseType: string;
  notNull: boolean;
  /** GENERATED ALWAYS AS IDENTITY: an INSERT may override it, an UPDATE may not set it. */
  identityAlways: boolean;
  /** A domain with NOT NULL: cannot hold the NULLs a key-only row carries. */
  notNullDomain: boolean;
  generatedExpr: string | null;
  defaultExpr: string | null;
  /** The value rows that predate ADD COLUMN ... DEFAULT read (PostgreSQL's "missing value"), as text. */
  missingValue: string | null;
  hasMissing: boolean;
}

/** A table on one side, from its catalog. */
export interface TableDescription {
  table: QualifiedName;
  relid: number;
  partitioned: boolean;
  /** Every column, generated ones included, in attribute order. */
  columns: ColumnInfo[];
  /** The primary key's columns, in index order; empty without one. */
  primaryKey: string[];
}

export interface ReplicatedTable {
  /** The same schema and name on both sides. */
  table: QualifiedName;
  /** The primary table's oid when it was added (a re-created table has another). */
  relid: number;
  partitioned: boolean;
  /** The change log on the primary, and its key columns (same order as keyColumns). */
  log: QualifiedName;
  logKeyColumns: string[];
  /** The log has a processed column the replicator keeps up to date (the demo's user_changes). */
  markProcessed: boolean;
  /** Columns that identify a row, and their types (as declared on the primary). */
  keyColumns: string[];
  keyTypes: string[];
  /** The equality operator of each key column, qualified for OPERATOR(...), on each side. */
  primaryKeyOperators: string[];
  replicaKeyOperators: string[];
  /** The primary's `>` operator of each key column, for copying in key ranges. */
  primaryKeyGreater: string[];
  /** Replicated columns (generated columns excluded: the replica computes its own), primary order. */
  columns: ColumnInfo[];
  /**
   * The columns an upsert sets on a row the replica already has: every
   * replicated column but a key column the replica generates ALWAYS (an
   * UPDATE may not set it; an integer key has one spelling anyway).
   */
  updateColumns: string[];
  /**
   * The replica table's attributes in order, each the replicated column it
   * holds or null (a column of the replica's own): rows travel as records of
   * the replica's row type.
   */
  replicaRow: Array<string | null>;
  /** When the current full copy was requested (see initial-copy/). */
  copyRequestedAt: string;
}
