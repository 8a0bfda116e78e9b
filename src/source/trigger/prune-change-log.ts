/**
 * Deletes changes older than the retention whose transactions ended before
 * the replica's snapshot (so the replica holds them, or they aborted), in
 * bounded chunks so no single statement holds locks or bloats WAL for long.
 * A txid range of the log's only index: each chunk reads little more than
 * what it deletes.
 */
import type { Database } from '../../db/database.js';
import { quoteQualified } from '../../db/quote.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import { endedBefore } from './visibility.js';

const CHUNK = 10_000;

export async function pruneChangeLog(
  primary: Database,
  table: ReplicatedTable,
  retentionMs: number,
  replicaSnapshot: string,
): Promise<number> {
  const log = quoteQualified(table.log);
  const sql = `
    DELETE FROM ${log} WHERE ctid = ANY (ARRAY(
      SELECT l.ctid FROM ${log} AS l
      WHERE ${endedBefore('l.txid', '$2::pg_snapshot')}
        AND l.change_timestamp < pg_catalog.clock_timestamp() - pg_catalog.make_interval(secs => $1::float8 / 1000)
      LIMIT ${CHUNK}))`;
  let total = 0;
  for (;;) {
    const { rowCount } = await primary.query(sql, [retentionMs, replicaSnapshot]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < CHUNK) return total;
  }
}
