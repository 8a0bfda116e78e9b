/**
 * One batch, start to finish, by one of two paths:
 *
 * - inline: one primary statement reads it, one replica statement applies it
 *   with the position (the usual small batch, outside a transaction-mode
 *   pooler);
 * - staged: a REPEATABLE READ transaction on the primary streams changed rows
 *   and initial-copy chunks into one replica transaction (large batches,
 *   TRUNCATEs, copies, poolers, re-applying a batch whose unique values moved).
 *
 * Either way the replica commit (rows + position + copy progress) is the only
 * point of truth: the caller acknowledges on the primary afterwards, as a hint
 * that can be lost and is redone from the stored position.
 */
import type { AppliedCounts } from '../apply/applied-counts.js';
import { type ApplyMode, applyBatchInTransaction, beginApply } from '../apply/apply-batch-in-transaction.js';
import { applyInlineBatch } from '../apply/apply-inline-batch.js';
import { positionAfter, type ReplicaPosition } from '../apply/replica-position.js';
import type { Database } from '../db/database.js';
import { estimateRows, planCopyChunk } from '../initial-copy/copy-chunk.js';
import type { Batch, ChangeCounts, CopyProgress } from '../source/batch.js';
import { type BatchLimits, readInlineBatch } from '../source/trigger/read-inline-batch.js';
import { beginStagedBatch, readStagedBatch } from '../source/trigger/read-staged-batch.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import { faultPoint } from './fault-point.js';
import type { PreparedTables } from './prepare-tables.js';

export interface BatchContext {
  primary: Database;
  replica: Database;
  limits: BatchLimits;
  /** Rows per initial-copy chunk. */
  copyChunkRows: number;
}

export interface BatchResult {
  position: ReplicaPosition;
  changes: number;
  counts: AppliedCounts;
  /** Captured operations per table (what the capture saw, before keys were merged). */
  captured: Map<ReplicatedTable, ChangeCounts>;
  /** Capture time of the oldest change in the batch (ms, primary clock); Infinity when none. */
  oldestCapturedAt: number;
  /** Initial-copy progress after this batch, for the tables that copied a chunk. */
  copied: CopyProgress[];
  /** The snapshots the batch ran between (what the caller acknowledges). */
  range: { from: string | null; to: string };
}

/** Nothing new had committed and nothing was left to copy, as of `snapshot`. */
export interface EmptyBatch {
  empty: true;
  snapshot: string;
}

export type BatchOutcome = BatchResult | EmptyBatch | 'schema-changed';

/** Whether this batch may take the one-statement path. */
export function canRunInline(ctx: BatchContext, prepared: PreparedTables, from: ReplicaPosition, mode: ApplyMode): boolean {
  return !ctx.replica.pooler && !ctx.primary.pooler && prepared.copies.size === 0 && mode === 'upsert' && from.snapshot !== null;
}

/** The inline path; 'overflow' when the batch is too large (or has a TRUNCATE) and must be staged. */
export async function runInlineBatch(
  ctx: BatchContext,
  prepared: PreparedTables,
  from: ReplicaPosition & { snapshot: string },
): Promise<BatchOutcome | 'overflow'> {
  const read = await readInlineBatch(ctx.primary, prepared.tables, from, ctx.limits);
  if (read.fingerprint !== prepared.fingerprint) return 'schema-changed';
  if (read.overflow) return 'overflow';
  if (!read.batch) return { empty: true, snapshot: read.snapshot };
  const batch = read.batch;
  faultPoint('before-replica-commit');
  const counts = await applyInlineBatch(ctx.replica, batch, from, prepared.source);
  faultPoint('after-replica-commit');
  return result(batch, from, prepared, counts, []);
}

/** The staged path. */
export async function runStagedBatch(
  ctx: BatchContext,
  prepared: PreparedTables,
  from: ReplicaPosition,
  mode: ApplyMode,
): Promise<BatchOutcome> {
  return ctx.primary.session(async (primary) => {
    try {
      const start = await beginStagedBatch(primary, from);
      if (start.fingerprint !== prepared.fingerprint) return 'schema-changed';
      const copies = [];
      for (const [table, copy] of prepared.copies) {
        const progress = copy.fresh ? { ...copy.progress, rowsEstimated: await estimateRows(primary, table) } : copy.progress;
        copies.push(await planCopyChunk(primary, table, progress, copy.fresh, ctx.copyChunkRows));
      }
      const read = await readStagedBatch(primary, prepared.tables, from, start, copies);
      if (read.resync.length > 0) {
        // A truncated hash partition: its rows cannot be told apart on the replica; copy the table afresh.
        for (const table of read.resync) {
          await primary.query('SELECT replicator.request_copy($1, $2)', [table.table.schema, table.table.name]);
        }
        return 'schema-changed';
      }
      const batch = read.batch;
      // A position is written even with nothing else: the first batch of a replica records where it starts.
      if (batch.tables.length === 0 && batch.copies.length === 0 && from.exists) return { empty: true, snapshot: start.snapshot };
      const { counts, copied } = await ctx.replica.session(async (replica) => {
        await beginApply(replica, prepared.replicationRole);
        try {
          const applied = await applyBatchInTransaction(replica, batch, from, prepared.source, mode);
          faultPoint('before-replica-commit');
          await replica.query('COMMIT');
          return applied;
        } catch (error) {
          await replica.query('ROLLBACK').catch(() => {});
          throw error;
        }
      });
      faultPoint('after-replica-commit');
      return result(batch, from, prepared, counts, copied);
    } finally {
      await primary.query('COMMIT').catch(() => {});
    }
  });
}

function result(
  batch: Batch,
  from: ReplicaPosition,
  prepared: PreparedTables,
  counts: AppliedCounts,
  copied: CopyProgress[],
): BatchResult {
  for (const progress of copied) {
    const table = [...prepared.copies.keys()].find((t) => t.table === progress.table);
    if (!table) continue;
    if (progress.done) prepared.copies.delete(table);
    else prepared.copies.set(table, { progress, fresh: false });
  }
  return {
    position: positionAfter(from, batch.to, prepared.source),
    changes: batch.changes,
    counts,
    captured: new Map(batch.tables.map((t) => [t.table, t.counts])),
    oldestCapturedAt: batch.oldestCapturedAt,
    copied,
    range: { from: from.snapshot, to: batch.to.snapshot as string },
  };
}
