/**
 * Marks changes processed on the primary, only ever after the replica commit
 * that holds them. The condition is "visible in the snapshot the replica is
 * at", not a list of ids: the same statement acknowledges a finished batch
 * and, after a crash, whatever the replica already holds but the primary was
 * never told about. One statement per change log.
 */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

export async function acknowledge(primary: pg.Pool, table: ReplicatedTable, replicaSnapshot: string): Promise<number> {
  const { rowCount } = await primary.query(
    `UPDATE ${quoteQualified(table.log)} SET processed = true
     WHERE NOT processed AND pg_visible_in_snapshot(txid, $1::pg_snapshot)`,
    [replicaSnapshot],
  );
  return rowCount ?? 0;
}
