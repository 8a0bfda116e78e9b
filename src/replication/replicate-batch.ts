/**
 * One batch, start to finish: read the changes that became visible since the
 * replica's position (and, while a table is being copied, one chunk of its
 * rows as of the same snapshot), and apply them and the new position in one
 * replica transaction. Reading chunk k+1 on the primary overlaps applying
 * chunk k on the replica.
 *
 * The replica commit (rows + position + copy progress) is the only point of
 * truth: the caller acknowledges on the primary afterwards, as a hint that
 * can be lost and is redone from the stored position.
 */
import type pg from 'pg';
import { type AppliedCounts, type ApplyMode, applyChanges } from '../apply/apply-changes.js';
import { applyInOneStatement } from '../apply/apply-in-one-statement.js';
import { beginApply, SESSION_SETTINGS } from '../apply/begin-apply.js';
import { type ReplicaPosition, writePosition } from '../apply/replica-position.js';
import { connectWithSession } from '../db/connect.js';
import { clearForCopy, copyChunk, estimateRows } from '../snapshot/copy-chunk.js';
import { type CopyProgress, writeCopyProgress } from '../snapshot/copy-progress.js';
import { type Change, readChanges } from '../source/read-changes.js';
import { readSmallBatch } from '../source/read-small-batch.js';
import { beginSnapshot } from '../source/take-snapshot.js';
import { faultPoint } from './fault-point.js';
import type { PreparedTables } from './prepare-tables.js';
import type { ReplicatedTable } from './replicated-table.js';

export interface BatchContext {
  primary: pg.Pool;
  replica: pg.Pool;
  chunkSize: number;
  /** Rows per initial-copy chunk. */
  copyChunkRows: number;
  /**
   * Read and apply the usual small batch in one round trip each (session
   * settings pinned per replica connection). Off behind a transaction-mode
   * pooler, where every batch takes the long way with transaction-local settings.
   */
  oneStatement: boolean;
  /** Turns a driver or server error into a ReplicatorError naming the database it came from. */
  classify: (error: unknown, role: 'primary' | 'replica') => Error;
}

export interface BatchResult {
  position: ReplicaPosition;
  changes: number;
  counts: AppliedCounts;
  /** Capture time of the oldest change in the batch (ms, primary clock); Infinity when none. */
  oldestCapturedAt: number;
  perTable: Map<ReplicatedTable, number>;
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

/** Wraps work on one database so its failure names that database (see BatchContext.classify). */
export function on(ctx: BatchContext, role: 'primary' | 'replica'): <T>(work: Promise<T>) => Promise<T> {
  return (work) => work.catch((e) => Promise.reject(ctx.classify(e, role)));
}

/** 'schema-changed' when the tables must be prepared again. */
export async function replicateBatch(
  ctx: BatchContext,
  prepared: PreparedTables,
  from: ReplicaPosition,
  mode: ApplyMode,
): Promise<BatchResult | EmptyBatch | 'schema-changed'> {
  const onPrimary = on(ctx, 'primary');
  const onReplica = on(ctx, 'replica');

  if (ctx.oneStatement && prepared.copies.size === 0 && mode === 'upsert') {
    const small = await onPrimary(readSmallBatch(ctx.primary, prepared.tables, from.snapshot, ctx.chunkSize));
    if (small.schemaVersion !== prepared.schemaVersion) return 'schema-changed';
    const truncates = [...small.changes.values()].some((run) => run.some((c) => c.op === 'TRUNCATE'));
    if (small.changes.size === 0) return { empty: true, snapshot: small.snapshot };
    if (!small.overflow && !truncates) {
      let changes = 0;
      let lastChangeId = from.lastChangeId;
      let oldestCapturedAt = Number.POSITIVE_INFINITY;
      const perTable = new Map<ReplicatedTable, number>();
      for (const [table, run] of small.changes) {
        changes += run.length;
        perTable.set(table, run.length);
        lastChangeId = maxId(lastChangeId, run);
        oldestCapturedAt = Math.min(oldestCapturedAt, run[0]?.capturedAt ?? oldestCapturedAt);
      }
      faultPoint('before-replica-commit');
      const client = await onReplica(connectWithSession(ctx.replica, SESSION_SETTINGS));
      let counts: AppliedCounts;
      try {
        counts = await onReplica(
          applyInOneStatement(client, small.changes, from, { snapshot: small.snapshot, lastChangeId, changes }),
        );
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
      faultPoint('after-replica-commit');
      const position: ReplicaPosition = {
        snapshot: small.snapshot,
        previousSnapshot: from.snapshot,
        lastChangeId,
        changesApplied: (BigInt(from.changesApplied) + BigInt(changes)).toString(),
        appliedAt: new Date().toISOString(),
      };
      return {
        position,
        changes,
        counts,
        oldestCapturedAt,
        perTable,
        copied: [],
        range: { from: from.snapshot, to: small.snapshot },
      };
    }
  }

  const primary = await onPrimary(ctx.primary.connect());
  let replica: pg.PoolClient | undefined;
  let failed = false;
  const counts: AppliedCounts = { upserted: 0, deleted: 0, truncated: 0 };
  const perTable = new Map<ReplicatedTable, number>();
  const copied: CopyProgress[] = [];
  let changes = 0;
  let lastChangeId = from.lastChangeId;
  let oldestCapturedAt = Number.POSITIVE_INFINITY;
  let snapshot: string;
  const openReplica = async (): Promise<pg.PoolClient> => {
    if (!replica) {
      replica = await onReplica(ctx.replica.connect());
      await onReplica(beginApply(replica, prepared.replicationRole));
    }
    return replica;
  };
  try {
    const primarySnapshot = await onPrimary(beginSnapshot(primary));
    if (primarySnapshot.schemaVersion !== prepared.schemaVersion) return 'schema-changed';
    snapshot = primarySnapshot.snapshot;

    // A copy that starts now empties its replica table before this batch's
    // changes, which then rebuild what changed up to the snapshot.
    for (const [table, copy] of prepared.copies) {
      if (!copy.fresh) continue;
      await onReplica(clearForCopy(await openReplica(), table));
    }

    for (const table of prepared.tables) {
      const chunks = readChanges(primary, table, { from: from.snapshot, to: snapshot }, ctx.chunkSize);
      let next = onPrimary(chunks.next());
      for (;;) {
        const current = await next;
        if (current.done) break;
        const chunk = current.value;
        next = onPrimary(chunks.next());
        // The next chunk is read while this one is applied; a failed read is
        // reported once the apply is done (or failed) rather than left unhandled.
        next.catch(() => {});
        const applied = await onReplica(applyChanges(await openReplica(), table, chunk, mode));
        counts.upserted += applied.upserted;
        counts.deleted += applied.deleted;
        counts.truncated += applied.truncated;
        changes += chunk.length;
        perTable.set(table, (perTable.get(table) ?? 0) + chunk.length);
        lastChangeId = maxId(lastChangeId, chunk);
        oldestCapturedAt = Math.min(oldestCapturedAt, chunk[0]?.capturedAt ?? oldestCapturedAt);
      }
    }

    for (const [table, copy] of prepared.copies) {
      const target = await openReplica();
      const start = copy.fresh
        ? { ...copy.progress, rowsEstimated: await onPrimary(estimateRows(primary, table)) }
        : copy.progress;
      const progress = await copyChunk(primary, target, table, start, ctx.copyChunkRows).catch((e) =>
        Promise.reject(ctx.classify(e, 'replica')),
      );
      await onReplica(writeCopyProgress(target, progress));
      copied.push(progress);
    }

    if (!replica) return { empty: true, snapshot };
    await onReplica(writePosition(replica, from, { snapshot, lastChangeId, changes }));
    faultPoint('before-replica-commit');
    await onReplica(replica.query('COMMIT'));
  } catch (error) {
    failed = true;
    await replica?.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    // A connection that failed mid-batch may be broken: destroy it rather than reuse it.
    replica?.release(failed);
    await primary.query('COMMIT').catch(() => {});
    primary.release(failed);
  }
  faultPoint('after-replica-commit');

  for (const table of [...prepared.copies.keys()]) {
    const progress = copied.find((p) => p.table === table.table);
    if (!progress) continue;
    if (progress.done) prepared.copies.delete(table);
    else prepared.copies.set(table, { progress, fresh: false });
  }
  const position: ReplicaPosition = {
    snapshot,
    previousSnapshot: from.snapshot,
    lastChangeId,
    changesApplied: (BigInt(from.changesApplied) + BigInt(changes)).toString(),
    appliedAt: new Date().toISOString(),
  };
  return { position, changes, counts, oldestCapturedAt, perTable, copied, range: { from: from.snapshot, to: snapshot } };
}

function maxId(current: string, chunk: readonly Change[]): string {
  const last = chunk[chunk.length - 1]?.id;
  return last !== undefined && BigInt(last) > BigInt(current) ? last : current;
}
