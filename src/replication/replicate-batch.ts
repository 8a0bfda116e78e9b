/**
 * One batch, start to finish: read the changes that became visible since the
 * replica's position, apply them and the new position in one replica
 * transaction, then acknowledge them on the primary.
 *
 * The order is what makes it exactly-once: the replica commit (rows + position)
 * is the only point of truth; the acknowledgment after it is a hint that can
 * be lost and is redone from the stored position on the next batch.
 */
import type pg from 'pg';
import { type AppliedCounts, type ApplyMode, applyChanges } from '../apply/apply-changes.js';
import { beginApply } from '../apply/begin-apply.js';
import { type ReplicaPosition, writePosition } from '../apply/replica-position.js';
import { acknowledge } from '../source/acknowledge.js';
import { type Change, readChanges, type SnapshotRange, TAKE_SNAPSHOT } from '../source/read-changes.js';
import { faultPoint } from './fault-point.js';
import type { ReplicatedTable } from './replicated-table.js';

export interface BatchContext {
  primary: pg.Pool;
  replica: pg.Pool;
  chunkSize: number;
  /** Turns a driver or server error into a ReplicatorError naming the database it came from. */
  classify: (error: unknown, role: 'primary' | 'replica') => Error;
}

export interface BatchResult {
  position: ReplicaPosition;
  changes: number;
  counts: AppliedCounts;
  /** Capture time of the oldest change in the batch (ms, primary clock). */
  oldestCapturedAt: number;
  perTable: Map<ReplicatedTable, number>;
}

/** Returns null when nothing new has committed on the primary. */
/** What start-up learned from both catalogs (see prepareTables). */
export interface PreparedTables {
  tables: readonly ReplicatedTable[];
  /** Whether the replica session may set session_replication_role = replica. */
  replicationRole: boolean;
}

export async function replicateBatch(
  ctx: BatchContext,
  prepared: PreparedTables,
  from: ReplicaPosition,
  mode: ApplyMode,
): Promise<BatchResult | null> {
  const onPrimary = <T>(work: Promise<T>) => work.catch((e) => Promise.reject(ctx.classify(e, 'primary')));
  const onReplica = <T>(work: Promise<T>) => work.catch((e) => Promise.reject(ctx.classify(e, 'replica')));
  const { rows } = await onPrimary(ctx.primary.query<{ snapshot: string }>(TAKE_SNAPSHOT));
  const range: SnapshotRange = { from: from.snapshot, to: rows[0]?.snapshot as string };

  let replica: pg.PoolClient | undefined;
  let failed = false;
  const counts: AppliedCounts = { upserted: 0, deleted: 0, truncated: 0 };
  const perTable = new Map<ReplicatedTable, number>();
  let changes = 0;
  let lastChangeId = from.lastChangeId;
  let oldestCapturedAt = Number.POSITIVE_INFINITY;
  try {
    for (const table of prepared.tables) {
      const chunks = readChanges(ctx.primary, table, range, ctx.chunkSize);
      for (;;) {
        const next = await onPrimary(chunks.next());
        if (next.done) break;
        const chunk = next.value;
        if (!replica) {
          replica = await onReplica(ctx.replica.connect());
          await onReplica(beginApply(replica, prepared.replicationRole));
        }
        const applied = await onReplica(applyChanges(replica, table, chunk, mode));
        counts.upserted += applied.upserted;
        counts.deleted += applied.deleted;
        counts.truncated += applied.truncated;
        changes += chunk.length;
        perTable.set(table, (perTable.get(table) ?? 0) + chunk.length);
        lastChangeId = maxId(lastChangeId, chunk);
        oldestCapturedAt = Math.min(oldestCapturedAt, chunk[0]?.capturedAt ?? oldestCapturedAt);
      }
    }
    if (!replica) return null;
    await onReplica(writePosition(replica, from, { snapshot: range.to, lastChangeId, changes }));
    faultPoint('before-replica-commit');
    await onReplica(replica.query('COMMIT'));
  } catch (error) {
    failed = true;
    await replica?.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    // A connection that failed mid-batch may be broken: destroy it rather than reuse it.
    replica?.release(failed);
  }
  faultPoint('after-replica-commit');

  for (const table of prepared.tables) await onPrimary(acknowledge(ctx.primary, table, range.to));
  const position: ReplicaPosition = {
    snapshot: range.to,
    lastChangeId,
    changesApplied: (BigInt(from.changesApplied) + BigInt(changes)).toString(),
    appliedAt: new Date().toISOString(),
  };
  return { position, changes, counts, oldestCapturedAt, perTable };
}

function maxId(current: string, chunk: readonly Change[]): string {
  const last = chunk[chunk.length - 1]?.id;
  return last !== undefined && BigInt(last) > BigInt(current) ? last : current;
}
