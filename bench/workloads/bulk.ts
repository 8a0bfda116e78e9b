/**
 * bulk: one transaction inserts N rows; how fast does the replica hold them
 * after the commit? Both methods make the rows visible on the replica in one
 * transaction, so the last id arriving means all N have.
 */
import { now, round, waitUntil } from '../measure.js';
import type { BenchContext, PerMethod } from '../workload.js';
import { forEachMethod } from '../workload.js';
import { haveIds, insertRange } from './statements.js';

export interface BulkFigures {
  insertMs: number;
  /** Commit acknowledged to the last row visible on the replica. */
  catchUpMs: number;
  /** N / catchUpMs: the spec's "rows/s from commit to replica caught up". */
  rowsPerSec: number;
  /** N / (insert + catch-up): what an application waits for in total. */
  endToEndRowsPerSec: number;
}

export async function measureBulk(ctx: BenchContext, rows: number): Promise<BulkFigures> {
  const { primary, replica } = ctx.servers;
  const start = now();
  await primary.query(insertRange(1, rows));
  const committed = now();
  const caughtUp = await waitUntil('bulk: replica holds every row', () => haveIds(replica, [rows]), ctx.sizes.timeoutMs);
  const catchUpMs = caughtUp - committed;
  return {
    insertMs: round(committed - start),
    catchUpMs: round(catchUpMs),
    rowsPerSec: Math.round(rows / (catchUpMs / 1000)),
    endToEndRowsPerSec: Math.round(rows / ((caughtUp - start) / 1000)),
  };
}

export function runBulk(ctx: BenchContext): Promise<PerMethod<BulkFigures & { rows: number }>> {
  return forEachMethod(ctx, `bulk ${ctx.sizes.bulkRows} rows`, () => measureBulk(ctx, ctx.sizes.bulkRows));
}
