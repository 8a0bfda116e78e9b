/**
 * Builds the table model from a registry entry and both sides' descriptions,
 * once checkReplicaTable has passed: the columns that travel, the key and how
 * each side compares it, and the replica's row type order.
 */
import type { RegistryEntry } from './registry.js';
import type { ReplicatedTable, TableDescription } from './table-model.js';

export function replicatedTable(
  entry: RegistryEntry,
  primary: TableDescription,
  replica: TableDescription,
  operators: { primary: string[]; replica: string[]; greater: string[] },
): ReplicatedTable {
  const columns = primary.columns.filter((c) => c.generatedExpr === null);
  const replicated = new Set(columns.map((c) => c.name));
  const byName = new Map(primary.columns.map((c) => [c.name, c]));
  return {
    table: entry.table,
    relid: entry.relid,
    partitioned: primary.partitioned,
    log: entry.log,
    logKeyColumns: entry.logKeyColumns,
    markProcessed: entry.markProcessed,
    keyColumns: entry.keyColumns,
    keyTypes: entry.keyColumns.map((k) => byName.get(k)?.type ?? 'text'),
    primaryKeyOperators: operators.primary,
    replicaKeyOperators: operators.replica,
    primaryKeyGreater: operators.greater,
    columns,
    updateColumns: columns
      .map((c) => c.name)
      .filter((c) => !(entry.keyColumns.includes(c) && replica.columns.find((r) => r.name === c)?.identityAlways)),
    replicaRow: replica.columns.map((c) => (replicated.has(c.name) && c.generatedExpr === null ? c.name : null)),
    copyRequestedAt: entry.copyRequestedAt,
  };
}
