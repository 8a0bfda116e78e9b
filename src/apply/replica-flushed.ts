/**
 * The replica commits its batches without waiting for the WAL flush
 * (database.ts, asyncCommit), as PostgreSQL's own apply worker does. A crash
 * of the replica can then lose its last commits, rows and position together,
 * and replication re-applies them from the primary: nothing is lost as long
 * as the primary still holds those changes. So anything on the primary that
 * forgets changes (pruning the change logs) first waits here: true once every
 * commit the replica acknowledged before this call is on the replica's disk.
 *
 * Every commit made before the call ends before the WAL insert position read
 * now; the WAL writer flushes past it within three wal_writer_delay (600 ms
 * by default). Gives up (false) after `timeoutMs`: the caller tries later.
 */
import type { Database } from '../db/database.js';

const POLL_MS = 50;

export async function replicaFlushed(replica: Database, timeoutMs = 2_000): Promise<boolean> {
  const { rows } = await replica.query<{ lsn: string }>('SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn');
  const target = rows[0]?.lsn;
  if (target === undefined) return false;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows: flushed } = await replica.query<{ done: boolean }>(
      'SELECT pg_catalog.pg_current_wal_flush_lsn() OPERATOR(pg_catalog.>=) $1::pg_catalog.pg_lsn AS done',
      [target],
    );
    if (flushed[0]?.done === true) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
