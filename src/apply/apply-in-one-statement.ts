/**
 * The usual batch in one round trip on the replica: every table's deletes
 * and upserts and the new position as data-modifying CTEs of one statement,
 * which is one transaction by itself. Keys are disjoint within a table (one
 * final state per key), so the CTEs never touch a row twice. A unique value
 * freed by a delete and taken by an upsert in the same batch may collide; the
 * loop then re-applies the batch the long way, in 'replace' mode.
 *
 * Needs the session settings pinned once per connection (see connect.ts), so
 * it is not used behind a transaction-mode pooler.
 */
import type pg from 'pg';
import type { ReplicatedTable } from '../replication/replicated-table.js';
import type { Change } from '../source/read-changes.js';
import { type AppliedCounts, asJsonArray, finalState, tableStatements } from './apply-changes.js';
import { parameterList, positionMoved, positionStatement, type ReplicaPosition } from './replica-position.js';

export async function applyInOneStatement(
  replica: pg.ClientBase,
  changes: Map<ReplicatedTable, Change[]>,
  from: ReplicaPosition,
  to: { snapshot: string; lastChangeId: string; changes: number },
): Promise<AppliedCounts> {
  const { values, param } = parameterList();
  const ctes = [`moved_position AS (${positionStatement(from, to, param)})`];
  const counts: AppliedCounts = { upserted: 0, deleted: 0, truncated: 0 };
  let i = 0;
  for (const [table, run] of changes) {
    const sql = tableStatements(table);
    const { deletes, upserts } = finalState(run);
    if (deletes.length > 0) ctes.push(`d${i} AS (${sql.deleteRows(param(asJsonArray(deletes)))})`);
    if (upserts.length > 0) ctes.push(`u${i} AS (${sql.upsertRows(param(asJsonArray(upserts)))})`);
    counts.deleted += deletes.length;
    counts.upserted += upserts.length;
    i++;
  }
  const { rows } = await replica.query<{ moved: number }>(
    `WITH ${ctes.join(',\n')} SELECT (SELECT count(*) FROM moved_position)::int AS moved`,
    values,
  );
  if (rows[0]?.moved !== 1) throw positionMoved();
  return counts;
}
