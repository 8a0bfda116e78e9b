/**
 * A REPEATABLE READ transaction that reads tables over several statements
 * locks them before its snapshot is taken, always.
 *
 * Its snapshot is taken by its first statement that needs one, but each
 * table is only locked when first read. An ALTER TABLE that rewrites the
 * table (a column's type changed, a column added with a volatile default)
 * and commits in between leaves every row stamped with its own transaction
 * id, which that older snapshot cannot see: the table reads as empty
 * (PostgreSQL documents rewrites as not MVCC-safe). For a batch that turns
 * each changed key into a delete; for a copy, a table copied as empty.
 *
 * LOCK takes no snapshot, and neither does SET LOCAL: run as the first
 * statements, they order the snapshot after any such DDL, which either
 * committed before it (so the snapshot and the catalog fingerprint both see
 * it) or waits until this transaction ends. ACCESS SHARE conflicts only with
 * ACCESS EXCLUSIVE, the lock every reader takes anyway.
 */
import { type QualifiedName, quoteQualified } from './quote.js';

/** The statement to run right after BEGIN (and SET LOCAL), before anything takes the snapshot; '' for no tables. */
export function lockBeforeSnapshot(tables: readonly QualifiedName[]): string {
  if (tables.length === 0) return '';
  return `LOCK TABLE ${tables.map(quoteQualified).join(', ')} IN ACCESS SHARE MODE`;
}
