/**
 * Whether a table's keys may be grouped by their text: true only when every
 * key column's type (under any domain) prints each value one way and two
 * values are equal under its `=` exactly when their texts are equal. Integers,
 * uuid and boolean are; numeric (1.0 = 1.00), floats (-0 = 0), citext, and
 * text under a collation that may be nondeterministic are not, and such a
 * table's keys are only ever grouped on the replica by the type's own `=`.
 */
import type { ReplicatedTable } from './table-model.js';

/** Base types as format_type names them. */
const CANONICAL = new Set(['smallint', 'integer', 'bigint', 'uuid', 'boolean']);

export function keyTextIsCanonical(table: ReplicatedTable): boolean {
  return table.keyColumns.every((key) => {
    const column = table.columns.find((c) => c.name === key);
    return column !== undefined && CANONICAL.has(column.baseType);
  });
}
