/** Changes captured on the primary that the replica does not hold yet. */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

export async function countBacklog(primary: pg.Pool, table: ReplicatedTable, replicaSnapshot: string | null): Promise<number> {
  const { rows } = await primary.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${quoteQualified(table.log)}
     WHERE NOT processed AND ($1::pg_snapshot IS NULL OR NOT pg_visible_in_snapshot(txid, $1::pg_snapshot))`,
    [replicaSnapshot],
  );
  return Number(rows[0]?.n ?? 0);
}
