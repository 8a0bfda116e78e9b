/** Changes captured on the primary that the replica does not hold yet (same range as a batch read). */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

export async function countBacklog(primary: pg.Pool, table: ReplicatedTable, replicaSnapshot: string | null): Promise<number> {
  const { rows } = await primary.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${quoteQualified(table.log)}
     WHERE txid >= coalesce(pg_snapshot_xmin($1::pg_snapshot), '0'::xid8)
       AND CASE WHEN $1::pg_snapshot IS NULL THEN NOT processed ELSE NOT pg_visible_in_snapshot(txid, $1::pg_snapshot) END`,
    [replicaSnapshot],
  );
  return Number(rows[0]?.n ?? 0);
}
