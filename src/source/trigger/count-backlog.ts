/** Captured changes the replica does not hold yet (the same visibility as a batch read). */
import type pg from 'pg';
import { Database } from '../../db/database.js';
import { quoteQualified } from '../../db/quote.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import { notYetHeld } from './visibility.js';

export async function countBacklog(
  primary: Database | pg.Pool,
  table: ReplicatedTable,
  replicaSnapshot: string | null,
): Promise<number> {
  const pool = primary instanceof Database ? primary.pool : primary;
  const { rows } = await pool.query<{ n: string }>(
    `SELECT pg_catalog.count(*)::text AS n FROM ${quoteQualified(table.log)} AS l WHERE ${notYetHeld('l.txid', '$1::pg_snapshot')}`,
    [replicaSnapshot],
  );
  return Number(rows[0]?.n ?? 0);
}
