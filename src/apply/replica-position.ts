/**
 * ReplicaPosition: where replication has reached, stored on the replica and
 * written in the same transaction as the rows it covers. "The replica holds
 * every change visible in `snapshot`" is true after every commit, so a crash
 * anywhere neither loses a change nor applies one twice.
 */
import type pg from 'pg';
import { ReplicatorError } from '../errors.js';

export interface ReplicaPosition {
  /** pg_snapshot (text) of the primary that the replica is equal to; null before the first batch. */
  snapshot: string | null;
  /** The snapshot before it: the last batch was the changes between the two. */
  previousSnapshot: string | null;
  lastChangeId: string;
  changesApplied: string;
  appliedAt: string | null;
}

export const POSITION_NAME = 'default';

export const EMPTY_POSITION: ReplicaPosition = {
  snapshot: null,
  previousSnapshot: null,
  lastChangeId: '0',
  changesApplied: '0',
  appliedAt: null,
};

export async function readPosition(replica: pg.ClientBase | pg.Pool): Promise<ReplicaPosition> {
  const { rows } = await replica.query<{
    snapshot: string;
    previous_snapshot: string | null;
    last_change_id: string;
    changes_applied: string;
    applied_at: string;
  }>(
    `SELECT snapshot, previous_snapshot, last_change_id::text, changes_applied::text,
            to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS applied_at
     FROM replicator.position WHERE name = $1`,
    [POSITION_NAME],
  );
  const row = rows[0];
  if (!row) return EMPTY_POSITION;
  return {
    snapshot: row.snapshot,
    previousSnapshot: row.previous_snapshot,
    lastChangeId: row.last_change_id,
    changesApplied: row.changes_applied,
    appliedAt: row.applied_at,
  };
}

/**
 * The statement that moves the position, with its values as parameters named
 * by `param` (so it can also stand as a CTE of a larger statement). It moves
 * the position only from the one the batch started at: if another replicator
 * (or a restore) moved it meanwhile, it changes nothing and the batch is
 * rolled back instead of applying changes twice. RETURNING 1 on success.
 */
export function positionStatement(
  from: ReplicaPosition,
  to: { snapshot: string; lastChangeId: string; changes: number },
  param: (value: unknown) => string,
): string {
  if (from.snapshot === null) {
    return `INSERT INTO replicator.position (name, snapshot, last_change_id, changes_applied)
      VALUES (${param(POSITION_NAME)}, ${param(to.snapshot)}, ${param(to.lastChangeId)}::bigint, ${param(to.changes)}::bigint)
      ON CONFLICT (name) DO NOTHING RETURNING 1`;
  }
  return `UPDATE replicator.position
    SET snapshot = ${param(to.snapshot)}, previous_snapshot = snapshot,
        last_change_id = greatest(last_change_id, ${param(to.lastChangeId)}::bigint),
        changes_applied = changes_applied + ${param(to.changes)}::bigint, applied_at = now()
    WHERE name = ${param(POSITION_NAME)} AND snapshot = ${param(from.snapshot)} RETURNING 1`;
}

export function positionMoved(): ReplicatorError {
  return new ReplicatorError(
    'CHANGE_REJECTED',
    'replica: replicator.position moved while this batch was applied (another replicator running against the same replica?); the batch was rolled back and will be read again',
  );
}

/** Collects query parameters and names them $1, $2, ... in order. */
export function parameterList(): { values: unknown[]; param: (value: unknown) => string } {
  const values: unknown[] = [];
  return { values, param: (value) => `$${values.push(value)}` };
}

export async function writePosition(
  replica: pg.ClientBase,
  from: ReplicaPosition,
  to: { snapshot: string; lastChangeId: string; changes: number },
): Promise<void> {
  const { values, param } = parameterList();
  const result = await replica.query(positionStatement(from, to, param), values);
  if (result.rowCount !== 1) throw positionMoved();
}
