/**
 * The usual batch in one round trip: every table's deletes and upserts and
 * the new position as data-modifying CTEs of one autocommit statement, one
 * transaction by itself. Every row CTE reads the position CTE's result, so a
 * position that did not move (another replicator, a reset) writes no row at
 * all; and the statement then fails, so nothing of it commits. Keys are
 * disjoint within a table (one final state per key), so no CTE touches a row
 * twice; a unique value freed by a delete and taken by an upsert of the same
 * batch can collide (23505), and the loop re-applies that batch the long way.
 *
 * Relies on the session's pinned settings (database.ts), so it is not used
 * behind a transaction-mode pooler.
 */
import type { Database } from '../db/database.js';
import type { Batch } from '../source/batch.js';
import type { SourceIdentity } from '../source/source-identity.js';
import { type AppliedCounts, noneApplied } from './applied-counts.js';
import { parameterList, positionMoved, positionStatement, type ReplicaPosition } from './replica-position.js';
import { deleteRows, inlineRows, upsertRows } from './table-statements.js';

export async function applyInlineBatch(
  replica: Database,
  batch: Batch,
  from: ReplicaPosition,
  source: SourceIdentity,
): Promise<AppliedCounts> {
  const { values, param } = parameterList();
  const ctes = [`moved AS (${positionStatement(from, batch.to, source, param)})`];
  const counts = noneApplied();
  batch.tables.forEach(({ table, rows }, i) => {
    if (rows?.kind !== 'inline') return;
    if (rows.deleteKeys) {
      const from = inlineRows(table, 'NULL', rows.deleteKeys.map(param));
      ctes.push(`d${i} AS (${deleteRows(table, from, ', moved')})`);
    }
    if (rows.upserts) {
      const from = inlineRows(table, param(rows.upserts), []);
      ctes.push(`u${i} AS (${upsertRows(table, from, ', moved')})`);
    }
    counts.deleted += rows.deleteCount;
    counts.upserted += rows.upsertCount;
  });
  // Division by zero when the position did not move: the statement fails, nothing commits.
  // Kept prepared: the same tables make the same text, batch after batch.
  const { rows } = await replica
    .prepared<{ moved: number }>(
      `WITH ${ctes.join(',\n')} SELECT 1 / (SELECT pg_catalog.count(*) FROM moved)::int AS moved`,
      values,
    )
    .catch((error: { sqlState?: string }) => {
      if (error.sqlState === '22012') throw positionMoved();
      throw error;
    });
  if (rows[0]?.moved !== 1) throw positionMoved();
  return counts;
}
