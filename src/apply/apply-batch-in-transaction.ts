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
  type StagedRows,
  type TableBatch,
} from '../source/batch.js';
import type { SourceIdentity } from '../source/source-identity.js';
import { stagingTable } from '../tables/staging-table.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import { type AppliedCounts, noneApplied } from './applied-counts.js';
import { copyNewRows, type NewRowsShare, onlyNewRows } from './copy-new-rows.js';
import { parameterList, positionMoved, positionStatement, type ReplicaPosition } from './replica-position.js';
import {
  clearAll,
  clearWhere,
  deleteRows,
  deleteTouched,
  dropTruncatedLines,
  IS_REFERENCED,
  inlineRows,
  insertRows,
  type RowsFrom,
  resolveUnchanged,
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
  order: readonly ReplicatedTable[] = [],
  foreignKeysFire = false,
): Promise<TransactionResult> {
  const { values, param } = parameterList();
  const moved = await replica.query(positionStatement(from, batch.to, source, param), values);
  if (moved.rowCount !== 1) throw positionMoved();

  const counts = noneApplied();
  let staging = 0;
  // A copy that starts now empties its replica table before this batch's
  // changes, which then rebuild what changed up to the snapshot. DELETE, not
  // TRUNCATE: other replica tables may reference this one.
  for (const chunk of batch.copies) if (chunk.fresh) await replica.query(clearAll(chunk.table, true));

  // Where the replica's foreign keys fire (no session_replication_role), the
  // order of statements matters: `order` has parents first. Then rows arrive
  // parents first (copy chunks included), and only after every arrival do
  // rows leave, children first: a child moved to a new parent arrives before
  // its old parent leaves. Otherwise deletes go first (a unique value a
  // delete frees can be taken by an upsert). Within a table, a copy chunk and
  // the changed rows are the same snapshot's state; the chunk goes first.
  const rank = (table: ReplicatedTable) => {
    const i = order.indexOf(table);
    return i === -1 ? order.length : i;
  };
  const parts = [...batch.tables].sort((a, b) => rank(a.table) - rank(b.table));
  const copied: CopyProgress[] = [];
  // Chunks older than the changes (the WAL source): in before anything else moves.
  if (batch.copiesFirst) {
    for (const chunk of [...batch.copies].sort((a, b) => rank(a.table) - rank(b.table))) {
      copied.push(await copyChunkIn(replica, chunk, staging++, counts));
    }
  }
  const sources = new Map<TableBatch, RowSource>();
  // Shares that only insert new keys are COPYed in when they arrive, unstaged (copy-new-rows.ts).
  const newRows = new Map<TableBatch, NewRowsShare>();
  const chunked = new Set(batch.copies.map((c) => c.table));
  for (const part of [...parts].reverse()) {
    await clear(replica, part, counts);
    const rows = part.rows;
    if (!rows) continue;
    if (rows.kind === 'inline') {
      sources.set(part, inlineSource(part.table, rows));
    } else if (mode === 'upsert' && !chunked.has(part.table) && onlyNewRows(part)) {
      newRows.set(part, part);
    } else {
      sources.set(part, await stageRows(replica, part.table, rows, staging++, counts));
    }
  }

  const leave = async () => {
    for (const part of [...parts].reverse()) {
      const source = sources.get(part);
      if (!part.rows || !source) continue;
      const gone =
        mode === 'replace'
          ? await run(replica, source('touched'), (from) => deleteTouched(part.table, from))
          : await run(replica, source('deletes'), (from) => deleteRows(part.table, from));
      counts.deleted += part.rows.kind === 'inline' ? part.rows.deleteCount : gone;
    }
  };
  const arrive = async () => {
    const tables = [...new Set([...parts.map((t) => t.table), ...batch.copies.map((c) => c.table)])].sort(
      (a, b) => rank(a) - rank(b),
    );
    for (const table of tables) {
      // A chunk and the changed rows are the same snapshot's state. Upserting,
      // the chunk goes first (a row it holds may be referenced by a changed
      // one) and a changed row it already wrote is not written again.
      // Replacing, the changed rows' plain inserts go first and the chunk
      // skips what they wrote.
      // (The WAL source's chunks are older than its changes: already in, see copiesFirst.)
      const chunk = batch.copiesFirst ? undefined : batch.copies.find((c) => c.table === table);
      const copyChunk = async () => {
        if (chunk) copied.push(await copyChunkIn(replica, chunk, staging++, counts));
      };
      if (mode === 'upsert') await copyChunk();
      const part = parts.find((t) => t.table === table);
      const share = part && newRows.get(part);
      if (share) {
        const inserted = await copyNewRows(replica, share);
        if (inserted !== null) {
          counts.upserted += inserted;
          continue;
        }
        sources.set(share, await stageRows(replica, share.table, share.rows, staging++, counts));
      }
      const source = part && sources.get(part);
      if (!part?.rows || !source) {
        if (mode === 'replace') await copyChunk();
        continue;
      }
      const arrived = await run(replica, source('upserts'), (from) =>
        mode === 'replace'
          ? insertRows(part.table, from)
          : upsertRows(part.table, from, '', { skipIdentical: chunk !== undefined }),
      );
      if (part.rows.kind === 'inline') counts.upserted += part.rows.upsertCount;
      else {
        counts.upserted += arrived;
        // Replace mode deleted the keys it inserts again: those were no deletes.
        if (mode === 'replace') counts.deleted = Math.max(0, counts.deleted - arrived);
      }
      if (mode === 'replace') await copyChunk();
    }
  };
  // Replace mode deletes every key it inserts: its deletes always go first.
  if (foreignKeysFire && mode === 'upsert') {
    await arrive();
    await leave();
  } else {
    await leave();
    await arrive();
  }
  return { counts, copied };
}

/** Streams a table's rows into a staging table and prepares them (partition TRUNCATEs, unchanged values). */
async function stageRows(
  replica: pg.ClientBase,
  table: ReplicatedTable,
  rows: StagedRows,
  n: number,
  counts: AppliedCounts,
): Promise<RowSource> {
  const stage = stagingTable(table, `replicator_batch_${n}`, rows.ordered === true);
  await replica.query(stage.create);
  await rows.copyInto(replica.query(copyFrom(stage.copyFrom)));
  for (const { seq, condition } of rows.truncatedBefore ?? []) {
    await replica.query(dropTruncatedLines(stage.relation, condition), [seq]);
  }
  if (rows.ordered && rows.unchanged) {
    const resolve = resolveUnchanged(table, stage.relation);
    for (const sql of resolve.index) await replica.query(sql);
    // Lines left out first, until none is (a later line of the key may then have no earlier one either).
    let leftOut = 0;
    for (;;) {
      const dropped = (await replica.query(resolve.leaveOut)).rowCount ?? 0;
      if (dropped === 0) break;
      leftOut += dropped;
    }
    while (((await replica.query(resolve.pass)).rowCount ?? 0) > 0);
    if (leftOut > 0) {
      counts.leftOut ??= new Map();
      counts.leftOut.set(table, leftOut);
    }
  }
  const from = stagedRows(table, stage.relation, rows.ordered === true && rows.distinctKeys !== true);
  return () => ({ from, values: [] });
}

/** A table's rows of this batch as a FROM item, with the parameters a statement over it needs. */
type RowSource = (use: 'deletes' | 'upserts' | 'touched') => { from: RowsFrom; values: unknown[] };

/** Inline rows: a statement binds exactly the parameters it names (the upserts, the deleted keys, or both). */
function inlineSource(table: ReplicatedTable, rows: InlineRows): RowSource {
  const keys = table.keyColumns.map((_, i) => rows.deleteKeys?.[i] ?? '{}');
  const upserts = rows.upserts ?? '{}';
  return (use) => {
    if (use === 'deletes')
      return {
        from: inlineRows(
          table,
          'NULL',
          keys.map((_, i) => `$${i + 1}`),
        ),
        values: keys,
      };
    if (use === 'upserts') return { from: inlineRows(table, '$1', []), values: [upserts] };
    return {
      from: inlineRows(
        table,
        '$1',
        keys.map((_, i) => `$${i + 2}`),
      ),
      values: [upserts, ...keys],
    };
  };
}

async function run(
  replica: pg.ClientBase,
  { from, values }: { from: RowsFrom; values: unknown[] },
  statement: (from: RowsFrom) => string,
): Promise<number> {
  return (await replica.query(statement(from), values)).rowCount ?? 0;
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
