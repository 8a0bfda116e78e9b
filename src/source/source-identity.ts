/**
 * Which database a position belongs to, and which replica a primary feeds.
 *
 * A position is a snapshot (or an LSN) of one particular primary: applied to
 * another (a restore, a changed URL, a failover to a node with another
 * history) it would skip or repeat changes. So the replica's position
 * records the primary's system identifier and database, and the replicator
 * refuses a mismatch, a hot standby, and a primary whose transaction ids are
 * behind the stored position (restored from a backup). The primary records
 * the replica it feeds (replicator.consumer): a second replicator for another
 * replica would have its changes pruned by the first, so it is refused.
 */

import type { Queryable } from '../db/database.js';
import { ReplicatorError } from '../errors.js';

export interface SourceIdentity {
  systemId: string;
  database: string;
  mode: 'trigger' | 'logical';
}

export interface DatabaseIdentity {
  systemId: string;
  database: string;
  inRecovery: boolean;
  /** pg_current_snapshot()'s xmax: the next transaction id. */
  nextXid: string;
}

export async function readIdentity(client: Queryable): Promise<DatabaseIdentity> {
  const { rows } = await client.query<{ system_id: string; database: string; in_recovery: boolean; next_xid: string }>(
    `SELECT (SELECT s.system_identifier::text FROM pg_catalog.pg_control_system() s) AS system_id,
            pg_catalog.current_database()::text AS database, pg_catalog.pg_is_in_recovery() AS in_recovery,
            pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot())::text AS next_xid`,
  );
  const row = rows[0] as { system_id: string; database: string; in_recovery: boolean; next_xid: string };
  return { systemId: row.system_id, database: row.database, inRecovery: row.in_recovery, nextXid: row.next_xid };
}

const RESET_HINT =
  'if the replica should follow this primary from now on, run `replicator resync --all` (it copies every table afresh)';

/** Refuses a primary the stored position does not belong to. */
export function checkSource(
  primary: DatabaseIdentity,
  stored: { source: { systemId: string; database: string } | null; snapshot: string | null },
): void {
  if (primary.inRecovery) {
    throw new ReplicatorError(
      'SOURCE_MISMATCH',
      'primary: the server is a hot standby (in recovery); point PRIMARY_DATABASE_URL at the primary itself',
    );
  }
  const source = stored.source;
  if (!source) return;
  if (source.systemId !== primary.systemId || source.database !== primary.database) {
    throw new ReplicatorError(
      'SOURCE_MISMATCH',
      `replica: its position belongs to database ${source.database} of cluster ${source.systemId}, but the primary is database ${primary.database} of cluster ${primary.systemId} (a restore, a failover or a changed URL?); ${RESET_HINT}`,
    );
  }
  const stored_xmax = stored.snapshot?.split(':')[1];
  if (stored_xmax !== undefined && BigInt(stored_xmax) > BigInt(primary.nextXid)) {
    throw new ReplicatorError(
      'SOURCE_MISMATCH',
      `replica: its position (transaction ${stored_xmax}) is ahead of the primary (next transaction ${primary.nextXid}): the primary was restored from a backup, or is another server; ${RESET_HINT}`,
    );
  }
}

/**
 * Records (once) that this primary feeds the given replica, and refuses when
 * it already feeds another. `takeOver` moves it to this replica.
 */
export async function claimPrimary(primary: Queryable, replica: DatabaseIdentity, takeOver = false): Promise<void> {
  const { rows } = await primary.query<{ replica_system_id: string; replica_database: string }>(
    `INSERT INTO replicator.consumer AS c (replica_system_id, replica_database) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET replica_system_id = EXCLUDED.replica_system_id, replica_database = EXCLUDED.replica_database,
                                    claimed_at = pg_catalog.now(), acked_snapshot = NULL, acked_at = NULL
       WHERE $3 AND (c.replica_system_id, c.replica_database) IS DISTINCT FROM (EXCLUDED.replica_system_id, EXCLUDED.replica_database)
     RETURNING c.replica_system_id, c.replica_database`,
    [replica.systemId, replica.database, takeOver],
  );
  if (rows.length > 0) return;
  const current = await primary.query<{ replica_system_id: string; replica_database: string }>(
    'SELECT c.replica_system_id, c.replica_database FROM replicator.consumer c',
  );
  const row = current.rows[0];
  if (row && (row.replica_system_id !== replica.systemId || row.replica_database !== replica.database)) {
    throw new ReplicatorError(
      'SOURCE_MISMATCH',
      `primary: it already feeds replica database ${row.replica_database} of cluster ${row.replica_system_id}; one primary feeds one replica: stop that replicator, or, if that replica is gone, run \`replicator resync --all\` against this replica to take the primary over`,
    );
  }
}
