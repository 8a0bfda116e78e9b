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

// Moves the position only from the one this batch started at: if another
// replicator (or a restore) moved it meanwhile, zero rows change and the batch
// rolls back instead of applying changes twice.
const ADVANCE_POSITION = `
  UPDATE replicator.position
  SET snapshot = $2, previous_snapshot = snapshot, last_change_id = greatest(last_change_id, $3::bigint),
      changes_applied = changes_applied + $4::bigint, applied_at = now()
  WHERE name = $1 AND snapshot = $5`;

const FIRST_POSITION = `
  INSERT INTO replicator.position (name, snapshot, last_change_id, changes_applied)
  VALUES ($1, $2, $3::bigint, $4::bigint)
  ON CONFLICT (name) DO NOTHING`;

export async function writePosition(
  replica: pg.ClientBase,
  from: ReplicaPosition,
  to: { snapshot: string; lastChangeId: string; changes: number },
): Promise<void> {
  const result =
    from.snapshot === null
      ? await replica.query(FIRST_POSITION, [POSITION_NAME, to.snapshot, to.lastChangeId, to.changes])
      : await replica.query(ADVANCE_POSITION, [POSITION_NAME, to.snapshot, to.lastChangeId, to.changes, from.snapshot]);
  if (result.rowCount !== 1) {
    throw new ReplicatorError(
      'CHANGE_REJECTED',
      'replica: replicator.position moved while this batch was applied (another replicator running against the same replica?); the batch was rolled back and will be read again',
    );
  }
}
