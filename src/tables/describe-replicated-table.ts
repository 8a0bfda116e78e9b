/**
 * The table model of one registered table, from both catalogs: the replica's
 * table checked against the primary's (match-tables.ts), then the key's
 * operators looked up on each side. Shared by the replication loop and
 * verify, so both hold the same tables to the same rules.
 */

import type { Queryable } from '../db/database.js';
import { displayName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import { describeTable, keyOperators, STRATEGY, uniqueKeys } from './describe-table.js';
import { checkReplicaTable, missingColumnsError } from './match-tables.js';
import type { RegistryEntry } from './registry.js';
import { replicatedTable } from './replicated-table.js';
import type { ColumnInfo, ReplicatedTable, TableDescription } from './table-model.js';

export interface BothSides {
  primary: TableDescription;
  replica: TableDescription | null;
  /** Replicated columns the replica lacks. */
  missing: ColumnInfo[];
}

/** Both descriptions, checked; throws on any mismatch but missing columns (the caller decides about those). */
export async function describeBothSides(primary: Queryable, replica: Queryable, entry: RegistryEntry): Promise<BothSides | null> {
  const primaryTable = await describeTable(primary, entry.table);
  if (!primaryTable) return null;
  const replicaTable = await describeTable(replica, entry.table);
  const keys = replicaTable ? await uniqueKeys(replica, replicaTable.relid) : [];
  const missing = checkReplicaTable(primaryTable, replicaTable, entry.keyColumns, keys);
  return { primary: primaryTable, replica: replicaTable, missing };
}

/** The model, once both sides agree (no missing columns). */
export async function describeReplicatedTable(
  primary: Queryable,
  replica: Queryable,
  entry: RegistryEntry,
  sides: BothSides,
): Promise<ReplicatedTable> {
  const replicaTable = sides.replica as TableDescription;
  if (sides.missing.length > 0) throw missingColumnsError(sides.primary, replicaTable, sides.missing);
  const [equal, greater, replicaEqual] = await Promise.all([
    keyOperators(primary, entry.relid, entry.keyColumns),
    keyOperators(primary, entry.relid, entry.keyColumns, STRATEGY.greater),
    keyOperators(replica, replicaTable.relid, entry.keyColumns),
  ]);
  if ([...equal, ...greater, ...replicaEqual].some((op) => op === null)) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `table ${displayName(entry.table)}: no btree operator class compares its key (${entry.keyColumns.join(', ')}) on one side; give the key a unique btree index on both`,
    );
  }
  return replicatedTable(entry, sides.primary, replicaTable, {
    primary: equal as string[],
    greater: greater as string[],
    replica: replicaEqual as string[],
  });
}
