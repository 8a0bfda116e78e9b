/**
 * Deletes acknowledged changes older than the retention, in bounded chunks so
 * no single statement holds locks or bloats WAL for long. Oldest first: the
 * primary-key order is capture order, so each chunk reads only what it deletes.
 */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

const CHUNK = 10_000;

export async function pruneChangeLog(primary: pg.Pool, table: ReplicatedTable, retentionMs: number): Promise<number> {
  const sql = `
    DELETE FROM ${quoteQualified(table.log)} WHERE change_id IN (
      SELECT change_id FROM ${quoteQualified(table.log)}
      WHERE processed AND change_timestamp < clock_timestamp() - make_interval(secs => $1::float8 / 1000)
      ORDER BY change_id LIMIT ${CHUNK})`;
  let total = 0;
  for (;;) {
    const { rowCount } = await primary.query(sql, [retentionMs]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < CHUNK) return total;
  }
}
