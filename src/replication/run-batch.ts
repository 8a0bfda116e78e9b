/**
 * One batch, start to finish: the source reads it, the replica applies it
 * with its position in one commit, the source's side of it (a primary
 * transaction) ends, and the copies still to make are brought up to date.
 * The replica commit is the only point of truth: the caller tells the source
 * afterwards, as a hint that can be lost and is redone from the position.
 */
import type { AppliedCounts } from '../apply/applied-counts.js';
import { applyBatch } from '../apply/apply-batch.js';
import type { ApplyMode } from '../apply/apply-batch-in-transaction.js';
import type { Database } from '../db/database.js';
import type { Batch, ChangeCounts, CopyProgress } from '../source/batch.js';
import { positionAfter, type ReplicaPosition } from '../source/position.js';
import type { PreparedTables, Source } from '../source/source.js';
import type { ReplicatedTable } from '../tables/table-model.js';

export interface BatchResult {
  batch: Batch;
  position: ReplicaPosition;
  counts: AppliedCounts;
  /** Captured operations per table (what the application did, before keys were merged). */
  captured: Map<ReplicatedTable, ChangeCounts>;
  /** Initial-copy progress after this batch, for the tables that copied a chunk. */
  copied: CopyProgress[];
}

/** Nothing new had committed and nothing was left to copy, as of `snapshot`. */
export interface EmptyBatch {
  empty: true;
  snapshot: string;
}

export async function runBatch(
  source: Source,
  replica: Database,
  prepared: PreparedTables,
  from: ReplicaPosition,
  mode: ApplyMode,
): Promise<BatchResult | EmptyBatch | 'schema-changed'> {
  const next = await source.next(prepared, from);
  if (next === 'schema-changed' || 'empty' in next) return next;
  const { batch } = next;
  let applied: Awaited<ReturnType<typeof applyBatch>>;
  try {
    applied = await applyBatch(replica, batch, from, prepared.source, {
      mode,
      replicationRole: prepared.replicationRole,
      order: prepared.tables,
    });
  } finally {
    await next.release();
  }
  for (const progress of applied.copied) {
    const table = [...prepared.copies.keys()].find((t) => t.table === progress.table);
    if (!table) continue;
    if (progress.done) prepared.copies.delete(table);
    else prepared.copies.set(table, { progress, fresh: false });
  }
  return {
    batch,
    position: positionAfter(from, batch.to, prepared.source),
    counts: applied.counts,
    captured: new Map(batch.tables.map((t) => [t.table, t.counts])),
    copied: applied.copied,
  };
}
