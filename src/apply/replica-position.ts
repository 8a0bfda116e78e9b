/**
 * ReplicaPosition: where replication has reached, stored on the replica and
 * written in the same transaction as the rows it covers, before them. "The
 * replica holds every change of this source visible in `snapshot` (or up to
 * `lsn`)" is true after every commit, so a crash anywhere neither loses a
 * change nor applies one twice. The position names its source; a position
 * of another primary is refused (source-identity.ts), never trusted.
 */

import type { Queryable } from '../db/database.js';
import { ReplicatorError } from '../errors.js';
import { EMPTY_POSITION, type PositionUpdate, type ReplicaPosition } from '../source/position.js';
import type { SourceIdentity } from '../source/source-identity.js';

export { EMPTY_POSITION, type PositionUpdate, positionAfter, type ReplicaPosition } from '../source/position.js';

export const POSITION_NAME = 'default';

export async function readPosition(replica: Queryable): Promise<ReplicaPosition> {
  const { rows } = await replica.query<{
    source_system_id: string;
    source_database: string;
    mode: string;
    snapshot: string | null;
    previous_snapshot: string | null;
    lsn: string | null;
    last_change_id: string;
    changes_applied: string;
    applied_at: string;
  }>(
    `SELECT p.source_system_id, p.source_database, p.mode, p.snapshot, p.previous_snapshot, p.lsn::text,
            p.last_change_id::text, p.changes_applied::text,
            pg_catalog.to_char(p.applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS applied_at
     FROM replicator.position p WHERE p.name = $1`,
    [POSITION_NAME],
  );
  const row = rows[0];
  if (!row) return EMPTY_POSITION;
  return {
    exists: true,
    source: { systemId: row.source_system_id, database: row.source_database, mode: row.mode as SourceIdentity['mode'] },
    snapshot: row.snapshot,
    previousSnapshot: row.previous_snapshot,
    lsn: row.lsn,
    lastChangeId: row.last_change_id,
    changesApplied: row.changes_applied,
    appliedAt: row.applied_at,
  };
}

/**
 * The statement that moves the position, values as parameters named by
 * `param` (so it can stand as a CTE of a larger statement): it moves the
 * position only from the one the batch started at and only for the same
 * source, and returns a row only then. Callers write no row unless it did:
 * another replicator (or a reset) that moved the position meanwhile makes
 * the batch write nothing and roll back.
 */
export function positionStatement(
  from: ReplicaPosition,
  to: PositionUpdate,
  source: SourceIdentity,
  param: (value: unknown) => string,
): string {
  if (!from.exists) {
    return `INSERT INTO replicator.position (name, source_system_id, source_database, mode, snapshot, lsn, last_change_id, changes_applied)
      VALUES (${param(POSITION_NAME)}, ${param(source.systemId)}, ${param(source.database)}, ${param(source.mode)},
              ${param(to.snapshot)}, ${param(to.lsn)}::pg_lsn, ${param(to.lastChangeId)}::int8, ${param(to.changes)}::int8)
      ON CONFLICT (name) DO NOTHING RETURNING 1`;
  }
  return `UPDATE replicator.position
    SET snapshot = ${param(to.snapshot)}, previous_snapshot = snapshot, lsn = ${param(to.lsn)}::pg_lsn, mode = ${param(source.mode)},
        last_change_id = greatest(last_change_id, ${param(to.lastChangeId)}::int8),
        changes_applied = changes_applied + ${param(to.changes)}::int8, applied_at = pg_catalog.now()
    WHERE name = ${param(POSITION_NAME)} AND source_system_id = ${param(source.systemId)}
      AND source_database = ${param(source.database)}
      AND snapshot IS NOT DISTINCT FROM ${param(from.snapshot)} AND lsn IS NOT DISTINCT FROM ${param(from.lsn)}::pg_lsn
    RETURNING 1`;
}

export function positionMoved(): ReplicatorError {
  return new ReplicatorError(
    'CHANGE_REJECTED',
    'replica: replicator.position moved while this batch was applied (another replicator running against the same replica?); nothing of the batch was written; it will be read again',
  );
}

/** Collects query parameters and names them $1, $2, ... in order. */
export function parameterList(): { values: unknown[]; param: (value: unknown) => string } {
  const values: unknown[] = [];
  return { values, param: (value) => `$${values.push(value)}` };
}
