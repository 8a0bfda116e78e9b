/**
 * Initial-copy progress per table, kept on the replica and written in the
 * same transaction as each copied chunk (and the replication position), so a
 * crash resumes after the last finished chunk, never in the middle of one.
 */

import type pg from 'pg';
import type { Queryable } from '../db/database.js';
import type { QualifiedName } from '../db/quote.js';
import type { CopyProgress } from '../source/batch.js';

export type { CopyProgress } from '../source/batch.js';

export async function readCopyProgress(replica: Queryable, table: QualifiedName): Promise<CopyProgress | null> {
  const { rows } = await replica.query(
    `SELECT to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS requested_at,
            last_key, rows_copied::text, rows_estimated::text, done
     FROM replicator.copy_progress WHERE table_schema = $1 AND table_name = $2`,
    [table.schema, table.name],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    table,
    requestedAt: row.requested_at,
    lastKey: row.last_key,
    rowsCopied: Number(row.rows_copied),
    rowsEstimated: row.rows_estimated === null ? null : Number(row.rows_estimated),
    done: row.done,
  };
}

export async function writeCopyProgress(replica: pg.ClientBase, progress: CopyProgress): Promise<void> {
  await replica.query(
    `INSERT INTO replicator.copy_progress AS p (table_schema, table_name, requested_at, last_key, rows_copied, rows_estimated, done, updated_at)
     VALUES ($1, $2, $3::timestamptz, $4, $5, $6, $7, now())
     ON CONFLICT (table_schema, table_name) DO UPDATE SET requested_at = EXCLUDED.requested_at, last_key = EXCLUDED.last_key,
       rows_copied = EXCLUDED.rows_copied, rows_estimated = EXCLUDED.rows_estimated, done = EXCLUDED.done, updated_at = now()`,
    [
      progress.table.schema,
      progress.table.name,
      progress.requestedAt,
      progress.lastKey,
      progress.rowsCopied,
      progress.rowsEstimated,
      progress.done,
    ],
  );
}
