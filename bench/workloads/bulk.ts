/**
 * bulk: one transaction inserts N rows; how fast does the replica hold them
 * after the commit, and after the insert began? Every method makes the rows
 * visible on the replica in one transaction, so the last id arriving means
 * all N have.
 */
import { now, round, waitUntil } from '../measure.js';
import type { PerMethod } from '../methods.js';
import type { RunDatabases } from '../servers.js';
import type { BenchContext, Checked } from '../workload.js';
import { forEachMethod } from '../workload.js';
import { haveIds, insertRange, itemsSetup } from './statements.js';

export interface BulkFigures {
  rows: number;
  insertMs: number;
  /** Commit acknowledged to the last row visible on the replica. */
  catchUpMs: number;
  /** N / catchUpMs: the spec's "rows/s from commit to replica caught up". */
  rowsPerSec: number;
  /** N / (insert + catch-up): what an application waits for in total, the capture's cost on the insert included. */
  endToEndRowsPerSec: number;
}

export async function measureBulk(db: RunDatabases, rows: number, timeoutMs: number): Promise<BulkFigures> {
  const start = now();
  await db.primary.query(insertRange(1, rows));
  const committed = now();
  const caughtUp = await waitUntil('bulk: replica holds every row', () => haveIds(db.replica, [rows]), timeoutMs);
  const catchUpMs = caughtUp - committed;
  return {
    rows,
    insertMs: round(committed - start),
    catchUpMs: round(catchUpMs),
    rowsPerSec: Math.round(rows / (catchUpMs / 1000)),
    endToEndRowsPerSec: Math.round(rows / ((caughtUp - start) / 1000)),
  };
}

export function runBulk(ctx: BenchContext): Promise<PerMethod<BulkFigures & Checked>> {
  const n = ctx.sizes.bulkRows;
  return forEachMethod(ctx, `bulk ${n} rows`, itemsSetup(), (db) => measureBulk(db, n, ctx.sizes.timeoutMs));
}
