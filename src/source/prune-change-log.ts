/**
 * Deletes changes older than the retention that the replica holds (visible in
 * its stored snapshot, acknowledged or not), in bounded chunks so no single
 * statement holds locks or bloats WAL for long. Oldest first: change-id order
 * is capture order, so each chunk reads little more than what it deletes.
 */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

const CHUNK = 10_000;

export async function pruneChangeLog(
  primary: pg.Pool,
  table: ReplicatedTable,
  retentionMs: number,
  replicaSnapshot: string,
): Promise<number> {
  const log = quoteQualified(table.log);
  const sql = `
    DELETE FROM ${log} WHERE change_id IN (
      SELECT change_id FROM ${log}
      WHERE change_timestamp < clock_timestamp() - make_interval(secs => $1::float8 / 1000)
        AND pg_visible_in_snapshot(txid, $2::pg_snapshot)
      ORDER BY change_id LIMIT ${CHUNK})`;
  let total = 0;
  for (;;) {
    const { rowCount } = await primary.query(sql, [retentionMs, replicaSnapshot]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < CHUNK) return total;
  }
}
