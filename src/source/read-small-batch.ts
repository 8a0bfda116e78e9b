/**
 * The usual batch in one round trip: a single statement takes the snapshot,
 * the schema fingerprint and every table's changes. In READ COMMITTED one
 * statement runs on one snapshot, and pg_current_snapshot() is that snapshot,
 * so the changes returned are exactly those visible in it (the same invariant
 * as read-changes.ts). When a table has more than `limit` changes the caller
 * reads the batch the long way instead (REPEATABLE READ and cursors).
 */
import type pg from 'pg';
import type { ReplicatedTable } from '../replication/replicated-table.js';
import { type Change, type ChangeRow, changesBetween, toChange } from './read-changes.js';
import { SCHEMA_VERSION } from './take-snapshot.js';

export interface SmallBatch {
  snapshot: string;
  schemaVersion: string;
  changes: Map<ReplicatedTable, Change[]>;
  /** Some table had more than `limit` changes: read this batch with readChanges. */
  overflow: boolean;
}

export async function readSmallBatch(
  primary: pg.Pool,
  tables: readonly ReplicatedTable[],
  from: string | null,
  limit: number,
): Promise<SmallBatch> {
  const values: unknown[] = [from, limit + 1];
  const branches = tables.map((table, i) => {
    // Key names are a parameter only where the key is read from row_data.
    const keyNames = table.logKey === null ? `$${values.push(table.keyColumns)}` : 'NULL';
    return `(SELECT ${i} AS t, c.* FROM (${changesBetween(table, '$1::pg_snapshot', 's.snap', keyNames)}) c ORDER BY c.id::bigint LIMIT $2)`;
  });
  const changes =
    branches.length > 0
      ? branches.join(' UNION ALL ')
      : 'SELECT NULL::int AS t, NULL AS id, NULL AS op, NULL AS row, NULL AS key, NULL AS captured_at WHERE false';
  const sql = `
    WITH s AS MATERIALIZED (SELECT pg_current_snapshot() AS snap, ${SCHEMA_VERSION} AS version)
    SELECT s.snap::text AS snapshot, s.version AS schema_version, b.*
    FROM s LEFT JOIN LATERAL (${changes}) b ON true`;
  const { rows } = await primary.query<ChangeRow & { snapshot: string; schema_version: string; t: number | null }>(sql, values);
  const first = rows[0] as { snapshot: string; schema_version: string };
  const byTable = new Map<ReplicatedTable, Change[]>();
  let overflow = false;
  for (const row of rows) {
    if (row.t === null) continue;
    const table = tables[row.t] as ReplicatedTable;
    const list = byTable.get(table) ?? [];
    list.push(toChange(table, row));
    byTable.set(table, list);
    if (list.length > limit) overflow = true;
  }
  return { snapshot: first.snapshot, schemaVersion: first.schema_version, changes: byTable, overflow };
}
