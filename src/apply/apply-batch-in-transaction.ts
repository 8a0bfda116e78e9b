/**
 * A batch the long way, in one explicit replica transaction: the position
 * moves first (nothing else is written unless it moved from where the batch
 * started, and its row lock keeps a second replicator out until commit);
 * then each table is cleared where the primary truncated it, its rows are
 * applied (inline, or streamed from the primary into a staging table), and
 * each initial-copy chunk is streamed in with its progress. Used for large
 * batches, TRUNCATEs, copies, behind transaction-mode poolers, and to
 * re-apply a batch whose unique values moved between rows ('replace').
 */
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { quoteQualified } from '../db/quote.js';
import { REPLICATION_ROLE, SET_LOCAL } from '../db/session-settings.js';
import { writeCopyProgress } from '../initial-copy/copy-progress.js';
import {
  type Batch,
  type CopyChunk,
  type CopyProgress,
  type InlineRows,
  progressAfter,
  type TableBatch,
} from '../source/batch.js';
import type { SourceIdentity } from '../source/source-identity.js';
import { stagingTable } from '../tables/staging-table.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import { type AppliedCounts, noneApplied } from './applied-counts.js';
import { parameterList, positionMoved, positionStatement, type ReplicaPosition } from './replica-position.js';
import {
  clearAll,
  clearWhere,
  deleteRows,
  deleteTouched,
  IS_REFERENCED,
  inlineRows,
  insertRows,
  stagedRows,
  upsertRows,
} from './table-statements.js';

export type ApplyMode = 'upsert' | 'replace';

export interface TransactionResult {
  counts: AppliedCounts;
  /** Initial-copy progress after this batch, for each chunk it carried. */
  copied: CopyProgress[];
}

/** Opens the transaction: pinned settings, and replica triggers and foreign keys kept quiet where the role may. */
export async function beginApply(replica: pg.ClientBase, replicationRole: boolean): Promise<void> {
  await replica.query(`BEGIN; ${SET_LOCAL}${replicationRole ? `; SET LOCAL ${REPLICATION_ROLE} = replica` : ''}`);
}

/** Runs inside a transaction opened with beginApply; the caller commits. */
export async function applyBatchInTransaction(
  replica: pg.ClientBase,
  batch: Batch,
  from: ReplicaPosition,
  source: SourceIdentity,
  mode: ApplyMode,
): Promise<TransactionResult> {
  const { values, param } = parameterList();
  const moved = await replica.query(positionStatement(from, batch.to, source, param), values);
  if (moved.rowCount !== 1) throw positionMoved();

  const counts = noneApplied();
  // A copy that starts now empties its replica table before this batch's
  // changes, which then rebuild what changed up to the snapshot. DELETE, not
  // TRUNCATE: other replica tables may reference this one.
  for (const chunk of batch.copies) if (chunk.fresh) await replica.query(clearAll(chunk.table, true));
  let staging = 0;
  for (const part of batch.tables) {
    await clear(replica, part, counts);
    const rows = part.rows;
    if (!rows) continue;
    if (rows.kind === 'inline') {
      await applyInline(replica, part.table, rows, mode, counts);
      continue;
    }
    const stage = stagingTable(part.table, `replicator_batch_${staging++}`);
    await replica.query(stage.create);
    await rows.copyInto(replica.query(copyFrom(stage.copyFrom)));
    const relation = stagedRows(part.table, stage.relation);
    if (mode === 'replace') {
      const deleted = await replica.query(deleteTouched(part.table, relation));
      const inserted = await replica.query(insertRows(part.table, relation));
      counts.upserted += inserted.rowCount ?? 0;
      counts.deleted += Math.max(0, (deleted.rowCount ?? 0) - (inserted.rowCount ?? 0));
    } else {
      counts.deleted += (await replica.query(deleteRows(part.table, relation))).rowCount ?? 0;
      counts.upserted += (await replica.query(upsertRows(part.table, relation))).rowCount ?? 0;
    }
  }

  const copied: CopyProgress[] = [];
  for (const chunk of batch.copies) copied.push(await copyChunkIn(replica, chunk, staging++, counts));
  return { counts, copied };
}

async function applyInline(
  replica: pg.ClientBase,
  table: ReplicatedTable,
  rows: InlineRows,
  mode: ApplyMode,
  counts: AppliedCounts,
): Promise<void> {
  const upserts = rows.upserts ?? '{}';
  const keys = table.keyColumns.map((_, i) => rows.deleteKeys?.[i] ?? '{}');
  const keyParams = keys.map((_, i) => `$${i + 2}`);
  if (mode === 'replace') {
    await replica.query(deleteTouched(table, inlineRows(table, '$1', keyParams)), [upserts, ...keys]);
    await replica.query(insertRows(table, inlineRows(table, '$1', [])), [upserts]);
  } else {
    if (rows.deleteKeys) {
      const params = keys.map((_, i) => `$${i + 1}`);
      await replica.query(deleteRows(table, inlineRows(table, 'NULL', params)), keys);
    }
    if (rows.upserts) await replica.query(upsertRows(table, inlineRows(table, '$1', [])), [upserts]);
  }
  counts.deleted += rows.deleteCount;
  counts.upserted += rows.upsertCount;
}

async function clear(replica: pg.ClientBase, part: TableBatch, counts: AppliedCounts): Promise<void> {
  if (part.clear === null) return;
  if (part.clear === 'all') {
    const { rows } = await replica.query<{ referenced: boolean }>(IS_REFERENCED, [quoteQualified(part.table.table)]);
    await replica.query(clearAll(part.table, rows[0]?.referenced === true));
  } else {
    await replica.query(clearWhere(part.table, part.clear));
  }
  counts.truncated++;
}

async function copyChunkIn(replica: pg.ClientBase, chunk: CopyChunk, n: number, counts: AppliedCounts): Promise<CopyProgress> {
  const stage = stagingTable(chunk.table, `replicator_copy_${n}`);
  await replica.query(stage.create);
  const sink = replica.query(copyFrom(stage.copyFrom));
  await chunk.copyInto(sink);
  const copied = Number(sink.rowCount ?? 0);
  const upserted = await replica.query(
    upsertRows(chunk.table, stagedRows(chunk.table, stage.relation), '', { skipIdentical: true }),
  );
  counts.upserted += upserted.rowCount ?? 0;
  const progress = progressAfter(chunk, copied);
  await writeCopyProgress(replica, progress);
  return progress;
}
